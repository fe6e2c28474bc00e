"""The evidence-base schema: tables, columns, vocabularies and row rules.

The schema is data: ``kb/data/schema.tsv`` lists every column (type, whether it is
required, its vocabulary or foreign key) and ``kb/data/vocabulary.tsv`` lists the
controlled terms.  This module reads both and validates rows against them, naming
file, line and column in every error.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .._errors import DataValueError, InputFormatError

__all__ = [
    "ANIMAL_COMMON",
    "EVIDENCE_CLASS",
    "EVIDENCE_LEVELS",
    "HOST_NOT_RECORDED",
    "LEVELS_BY_HOST",
    "PRIMARY_LEVELS",
    "TABLES",
    "Column",
    "check_rows",
    "host_class",
    "host_label",
    "normalize_doi",
    "schema",
    "vocabulary",
]

#: Tables of the evidence base, in load order (foreign keys point backwards).
TABLES: tuple[str, ...] = (
    "source",
    "publication",
    "taxon",
    "condition",
    "observation",
    "taxon_function",
    "intervention",
    "intervention_effect",
)

#: Evidence levels, strongest first.
EVIDENCE_LEVELS: tuple[str, ...] = (
    "human_meta_analysis",
    "human_rct",
    "human_observational",
    "animal_model",
    "in_vitro",
    "genome_inference",
    "association_host_not_recorded",
    "review",
)
#: Host value of rows whose source does not record the host (BugSigDB GMT).
HOST_NOT_RECORDED = "not recorded"

#: Coarse evidence class of each level, as shown to readers.
EVIDENCE_CLASS: dict[str, str] = {
    "human_meta_analysis": "human association",
    "human_observational": "human association",
    "human_rct": "intervention",
    "animal_model": "animal association",
    "in_vitro": "mechanism",
    "genome_inference": "mechanism",
    "association_host_not_recorded": "association, host not recorded",
    "review": "review",
}
#: Levels that can back a report statement (everything but reviews / web pages).
PRIMARY_LEVELS: frozenset[str] = frozenset(EVIDENCE_LEVELS) - {"review"}

#: Which evidence levels each host class admits.
LEVELS_BY_HOST: dict[str, frozenset[str]] = {
    "human": frozenset(
        {"human_meta_analysis", "human_rct", "human_observational", "genome_inference", "review"}
    ),
    "animal": frozenset({"animal_model", "in_vitro", "genome_inference", "review"}),
    "none": frozenset({"in_vitro", "genome_inference", "review"}),
    "unknown": frozenset({"association_host_not_recorded"}),
}

#: Plural common names used in report sentences.
ANIMAL_COMMON: dict[str, str] = {
    "Rattus norvegicus": "rats",
    "Mus musculus": "mice",
    "Sus scrofa": "pigs",
    "Macaca mulatta": "rhesus macaques",
    "Macaca fascicularis": "cynomolgus macaques",
    "Gallus gallus": "chickens",
    "Danio rerio": "zebrafish",
    "Canis lupus": "dogs",
    "Canis familiaris": "dogs",
    "Felis catus": "cats",
    "Bos taurus": "cattle",
    "Ovis aries": "sheep",
    "Drosophila melanogaster": "fruit flies",
}

_HOST_RE = re.compile(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)*$")
_DOI_PREFIX = re.compile(r"^(https?://)?(dx\.)?(doi\.org/)|^doi:\s*", re.IGNORECASE)


def host_class(host: str | None) -> str:
    """Return ``"human"``, ``"animal"``, ``"none"`` or ``"unknown"`` (not recorded) for a host."""
    h = (host or "").strip()
    if h in ("", "none", "NA"):
        return "none"
    if h == HOST_NOT_RECORDED:
        return "unknown"
    if h == "Homo sapiens":
        return "human"
    return "animal"


def host_label(host: str | None) -> str:
    """Return the plural common name of a host (``"rats"``), or the binomial."""
    h = (host or "").strip()
    if h == "Homo sapiens":
        return "humans"
    if host_class(h) == "unknown":
        return "hosts not recorded"
    if host_class(h) == "none":
        return "in vitro"
    return ANIMAL_COMMON.get(h, ANIMAL_COMMON.get(" ".join(h.split()[:2]), h))


def normalize_doi(value: str | None) -> str:
    """Strip URL prefixes from a DOI and lower-case it; ``""`` when absent."""
    if value is None:
        return ""
    s = str(value).strip()
    if s.upper() in ("", "NA", "NAN", "NONE"):
        return ""
    s = _DOI_PREFIX.sub("", s).strip()
    return s.lower()


@dataclass(frozen=True)
class Column:
    """One column of a table as declared in ``schema.tsv``."""

    table: str
    name: str
    type: str
    required: bool
    check: str
    description: str


@dataclass
class Schema:
    """Columns per table plus the controlled vocabularies."""

    columns: dict[str, list[Column]] = field(default_factory=dict)
    vocab: dict[str, dict[str, str]] = field(default_factory=dict)

    def id_column(self, table: str) -> str:
        """Name of the unique id column of ``table``."""
        return next(c.name for c in self.columns[table] if c.check == "unique")


def _data_path(name: str) -> Path:
    return Path(str(resources.files("gutbrain.kb").joinpath("data", name)))


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@cache
def schema() -> Schema:
    """Return the schema declared in ``kb/data/schema.tsv`` and ``vocabulary.tsv``."""
    sch = Schema()
    for row in _read_tsv(_data_path("vocabulary.tsv")):
        sch.vocab.setdefault(row["vocabulary"], {})[row["term"]] = row["description"]
    for row in _read_tsv(_data_path("schema.tsv")):
        col = Column(
            table=row["table"],
            name=row["column"],
            type=row["type"],
            required=row["required"] == "yes",
            check=row["check"],
            description=row["description"],
        )
        sch.columns.setdefault(col.table, []).append(col)
    return sch


def vocabulary(name: str) -> dict[str, str]:
    """Return ``{term: description}`` of a controlled vocabulary."""
    return dict(schema().vocab[name])


def _convert(col: Column, raw: str, *, path: str, line: int) -> Any:
    """Convert one cell; raise DataValueError naming the cell when it is invalid."""

    def bad(problem: str, fix: str) -> DataValueError:
        return DataValueError(
            f"{col.table}.{col.name} {problem}", path=path, line=line, column=col.name, fix=fix
        )

    s = "" if raw is None else str(raw).strip()
    if s == "":
        if col.required:
            raise bad("is required but empty", f"fill in {col.description.lower()}")
        return None
    t = col.type
    try:
        if t == "int":
            return int(float(s))
        if t == "float":
            return float(s)
        if t == "bool":
            if s not in ("0", "1"):
                raise ValueError(s)
            return int(s)
    except ValueError:
        raise bad(f"must be {t}, got {s!r}", f"write a {t} value") from None
    if t == "vocab":
        terms = schema().vocab[col.check]
        if s not in terms:
            raise bad(f"{s!r} is not in vocabulary {col.check!r}", f"use one of {', '.join(sorted(terms))}")
    elif t == "doi":
        s = normalize_doi(s)
        if not s.startswith("10."):
            raise bad(f"{raw!r} is not a DOI", "write the DOI as 10.xxxx/yyyy")
    elif t == "host":
        if s not in ("none", HOST_NOT_RECORDED) and not _HOST_RE.match(s):
            raise bad(
                f"{s!r} is not a host binomial",
                "write a species binomial such as 'Rattus norvegicus', 'none' or 'not recorded'",
            )
    return s


def check_rows(
    table: str, rows: Iterable[Mapping[str, Any]], *, path: str, first_line: int = 2
) -> list[dict[str, Any]]:
    """Validate and convert raw rows of ``table`` (types, vocabularies, unique ids).

    Parameters
    ----------
    table
        Table name (one of :data:`TABLES`).
    rows
        Mappings of column name to raw string.
    path
        File the rows came from (named in errors).
    first_line
        Line number of the first row (header is line 1).

    Returns
    -------
    list of dict
        Converted rows with every schema column present.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    fast = _check_rows_fast(table, rows, first_line)
    if fast is not None:
        return fast
    # some row is invalid: the row-by-row pass names the first bad cell
    cols = schema().columns[table]
    names = [c.name for c in cols]
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    idcol = schema().id_column(table)
    for i, raw in enumerate(rows):
        line = first_line + i
        unknown = [k for k in raw if k not in names and k is not None]
        if unknown:
            raise InputFormatError(
                f"unknown column(s) {unknown} in table {table}",
                path=path,
                line=1,
                fix=f"use only the columns {names}",
            )
        row = {c.name: _convert(c, raw.get(c.name, ""), path=path, line=line) for c in cols}
        key = row[idcol]
        if key in seen:
            raise DataValueError(
                f"duplicate {table}.{idcol} {key!r} (first on line {seen[key]})",
                path=path,
                line=line,
                column=idcol,
                fix="give every row a unique id",
            )
        seen[key] = line
        row["_line"] = line
        out.append(row)
    return out


def _column_values(col: Column, raw: list[Any]) -> list[Any] | None:
    """Converted values of one column (as :func:`_convert`), or None if a cell is invalid."""
    strs = ["" if v is None else str(v).strip() for v in raw]
    if col.required and "" in strs:
        return None
    t = col.type
    try:
        if t == "int":
            return [int(float(x)) if x else None for x in strs]
        if t == "float":
            return [float(x) if x else None for x in strs]
    except ValueError:
        return None
    present = set(strs)
    present.discard("")
    if t == "bool":
        return [int(x) if x else None for x in strs] if present <= {"0", "1"} else None
    if t == "vocab":
        return [x or None for x in strs] if present <= schema().vocab[col.check].keys() else None
    if t == "doi":
        norm = {x: normalize_doi(x) for x in present}
        if not all(v.startswith("10.") for v in norm.values()):
            return None
        return [norm[x] if x else None for x in strs]
    if t == "host":
        if any(x not in ("none", HOST_NOT_RECORDED) and not _HOST_RE.match(x) for x in present):
            return None
        return [x or None for x in strs]
    return [x or None for x in strs]


def _check_rows_fast(table: str, rows: list[Mapping[str, Any]], first_line: int) -> list[dict[str, Any]] | None:
    """:func:`check_rows` column by column; None when any row breaks a rule."""
    cols = schema().columns[table]
    names = [c.name for c in cols]
    allowed = {*names, None}
    if not all(allowed.issuperset(r) for r in rows):
        return None
    values = []
    for c in cols:
        v = _column_values(c, [r.get(c.name, "") for r in rows])
        if v is None:
            return None
        values.append(v)
    ids = values[names.index(schema().id_column(table))]
    if len(set(ids)) != len(ids):
        return None
    out = [dict(zip(names, vals, strict=True)) for vals in zip(*values, strict=True)] if rows else []
    for i, row in enumerate(out):
        row["_line"] = first_line + i
    return out
