"""Loading the evidence base into SQLite: packaged TSVs + the user overlay + corrections.

Three layers, read in this order:

1. the curated base, TSV files shipped in ``gutbrain/kb/data`` (read-only);
2. the user overlay, ``<kb_dir>/overlay.sqlite``, filled by the importers
   (``gutbrain evidence import …``);
3. local corrections, ``<kb_dir>/corrections.tsv`` (``gutbrain evidence flag``).

``kb_dir`` is ``$GUTBRAIN_KB_DIR`` when set, else ``<user cache dir>/gutbrain/kb``.
Nothing is ever written inside the installed package.  Everything is loaded into
an in-memory SQLite database (stdlib :mod:`sqlite3`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import DataValueError, GutbrainError, InputFormatError
from .._utils import atomic_path
from ._schema import (
    LEVELS_BY_HOST,
    TABLES,
    _data_path,
    _read_tsv,
    check_rows,
    host_class,
    schema,
)

__all__ = ["KnowledgeBase", "kb_dir", "load", "overlay_connection"]

ENV_VAR = "GUTBRAIN_KB_DIR"
OVERLAY_NAME = "overlay.sqlite"
FLAGS_NAME = "corrections.tsv"
FLAG_COLUMNS = ("row_id", "table", "reason", "user", "when_utc")

_SQL_TYPES = {"int": "INTEGER", "bool": "INTEGER", "float": "REAL"}
#: Extra overlay tables for signatures (GMT / BugSigDB).
_SIGNATURE_DDL = (
    "CREATE TABLE IF NOT EXISTS signature (sig_id TEXT PRIMARY KEY, source_id TEXT, "
    "pub_id TEXT, study TEXT, condition TEXT, contrast TEXT, host_species TEXT, "
    "direction TEXT, name TEXT)",
    "CREATE TABLE IF NOT EXISTS signature_member (sig_id TEXT, ncbi_taxid INTEGER)",
)


def kb_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the user evidence directory (not created).

    Parameters
    ----------
    path
        Explicit directory; default ``$GUTBRAIN_KB_DIR``, else the user cache
        directory (``$XDG_CACHE_HOME`` or ``~/.cache``, ``%LOCALAPPDATA%`` on
        Windows) + ``gutbrain/kb``.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gutbrain" / "kb"


def _ddl(table: str) -> str:
    cols = []
    for c in schema().columns[table]:
        typ = _SQL_TYPES.get(c.type, "TEXT")
        extra = " PRIMARY KEY" if c.check == "unique" else ""
        cols.append(f'"{c.name}" {typ}{extra}')
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})"


def create_tables(con: sqlite3.Connection, *, signatures: bool = True) -> None:
    """Create every evidence table (and the signature tables) if missing."""
    for t in TABLES:
        con.execute(_ddl(t))
    if signatures:
        for stmt in _SIGNATURE_DDL:
            con.execute(stmt)


@contextlib.contextmanager
def overlay_connection(directory: str | os.PathLike[str] | None = None) -> Iterator[sqlite3.Connection]:
    """Open a writable copy of the overlay; it replaces the overlay atomically on success."""
    target = kb_dir(directory) / OVERLAY_NAME
    with atomic_path(target) as tmp:
        if target.exists():
            shutil.copyfile(target, tmp)
        con = sqlite3.connect(tmp)
        try:
            create_tables(con)
            yield con
            con.commit()
        finally:
            con.close()


def _insert(con: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    names = [c.name for c in schema().columns[table]]
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    con.executemany(sql, [tuple(r.get(n) for n in names) for r in rows])


def _cross_checks(tables: dict[str, list[dict[str, Any]]], paths: dict[str, str]) -> None:
    """Foreign keys and the rules that span tables (host vs level, DOI/PMID …)."""
    sch = schema()
    ids = {t: {r[sch.id_column(t)]: r for r in rows} for t, rows in tables.items()}
    for t, rows in tables.items():
        fks = [c for c in sch.columns[t] if c.type == "fk"]
        for r in rows:
            for c in fks:
                v = r.get(c.name)
                if v is not None and v not in ids[c.check]:
                    raise DataValueError(
                        f"{t}.{c.name} {v!r} does not resolve to a {c.check} row",
                        path=paths[t],
                        line=r["_line"],
                        column=c.name,
                        fix=f"add {v!r} to {c.check}.tsv or correct the id",
                    )
    pubs = ids["publication"]
    conds = ids["condition"]
    for t in ("observation", "taxon_function", "intervention_effect"):
        for r in tables[t]:
            pub = pubs[r["pub_id"]]
            where = {"path": paths[t], "line": r["_line"]}
            if not (pub.get("doi") or pub.get("pmid")):
                raise DataValueError(
                    f"{t} row {r[sch.id_column(t)]!r} cites {r['pub_id']!r}, which has no DOI or PMID",
                    column="pub_id",
                    fix="cite a publication with a DOI or PMID",
                    **where,
                )
            hc = host_class(r["host_species"])
            if r["evidence_level"] not in LEVELS_BY_HOST[hc]:
                raise DataValueError(
                    f"evidence level {r['evidence_level']!r} is not possible for host "
                    f"{r['host_species']!r} ({hc})",
                    column="evidence_level",
                    fix=f"use one of {sorted(LEVELS_BY_HOST[hc])} or correct the host",
                    **where,
                )
            if pub["design"] in ("review", "web_page") and r["evidence_level"] != "review":
                raise DataValueError(
                    f"{r['pub_id']!r} is a {pub['design']} but the row claims {r['evidence_level']!r}",
                    column="evidence_level",
                    fix="use evidence level 'review' or cite the primary study",
                    **where,
                )
            cid = r.get("condition_id")
            if cid is not None and conds[cid]["animal_model"] == 1 and hc == "human":
                raise DataValueError(
                    f"condition {cid!r} is an animal model but the host is Homo sapiens",
                    column="host_species",
                    fix="correct the host species or the condition",
                    **where,
                )
    for r in tables["condition"]:
        if (r["category"] == "animal_model") != bool(r["animal_model"]):
            raise DataValueError(
                "condition.animal_model must be 1 exactly when category is animal_model",
                path=paths["condition"],
                line=r["_line"],
                column="animal_model",
                fix="make category and animal_model agree",
            )
    for r in tables["intervention"]:
        for comp in (r.get("components") or "").split("|"):
            if comp and comp not in ids["intervention"]:
                raise DataValueError(
                    f"mixture component {comp!r} is not an intervention id",
                    path=paths["intervention"],
                    line=r["_line"],
                    column="components",
                    fix="add the component strain as its own intervention row",
                )
    for r in tables["intervention_effect"]:
        est, lo, hi = r.get("estimate"), r.get("ci_low"), r.get("ci_high")
        where = {"path": paths["intervention_effect"], "line": r["_line"]}
        if est is None or lo is None or hi is None:
            continue
        if not lo <= est <= hi:
            raise DataValueError(
                f"estimate {est} lies outside its CI ({lo}, {hi})", column="estimate",
                fix="check the numbers against the paper", **where,
            )
        d = r["direction"]
        ok = (
            (d == "increased" and lo >= 0)
            or (d == "decreased" and hi <= 0)
            or (d == "no_change" and lo < 0 < hi)
            or d in ("changed", "mixed")
        )
        if not ok:
            raise DataValueError(
                f"direction {d!r} disagrees with the CI ({lo}, {hi})", column="direction",
                fix="a CI crossing zero is no_change; otherwise the sign gives the direction",
                **where,
            )


def _read_base() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    paths: dict[str, str] = {}
    for t in TABLES:
        p = _data_path(f"{t}.tsv")
        paths[t] = str(p)
        try:
            raw = _read_tsv(p)
        except csv.Error as exc:
            raise InputFormatError(f"cannot parse TSV: {exc}", path=p) from None
        tables[t] = check_rows(t, raw, path=str(p))
    _cross_checks(tables, paths)
    return tables, paths


class KnowledgeBase:
    """The evidence base loaded into an in-memory SQLite database.

    Use :func:`load` to get one.  Tables: ``publication``, ``source``, ``taxon``,
    ``condition``, ``observation``, ``taxon_function``, ``intervention``,
    ``intervention_effect`` (+ ``signature``, ``signature_member`` from imports).

    Attributes
    ----------
    con
        The SQLite connection.
    directory
        The user evidence directory (overlay and corrections).
    flags
        Local corrections: ``row_id, table, reason, user, when_utc`` (latest per row).
    """

    def __init__(self, con: sqlite3.Connection, directory: Path, flags: pd.DataFrame) -> None:
        self.con = con
        self.directory = directory
        self.flags = flags

    def sql(self, query: str, params: Any = ()) -> pd.DataFrame:
        """Run a read-only SQL query and return a DataFrame."""
        return pd.read_sql_query(query, self.con, params=params)

    def table(self, name: str) -> pd.DataFrame:
        """Return one table as a DataFrame."""
        if name not in (*TABLES, "signature", "signature_member"):
            raise GutbrainError(f"unknown evidence table {name!r}", fix=f"use one of {TABLES}")
        return self.sql(f"SELECT * FROM {name}")

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        out = {}
        for t in (*TABLES, "signature", "signature_member"):
            out[t] = int(self.con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
        return out

    def row_table(self, row_id: str) -> str | None:
        """Return the table holding ``row_id`` (any table's id column), or None."""
        sch = schema()
        for t in TABLES:
            idc = sch.id_column(t)
            if self.con.execute(f"SELECT 1 FROM {t} WHERE {idc}=?", (row_id,)).fetchone():
                return t
        return None

    def disputed(self) -> dict[str, str]:
        """``{row_id: reason}`` of rows flagged in the local corrections."""
        if self.flags.empty:
            return {}
        return dict(zip(self.flags["row_id"], self.flags["reason"], strict=False))

    def __repr__(self) -> str:
        c = self.counts()
        parts = ", ".join(f"{k}={v}" for k, v in c.items() if v)
        return f"KnowledgeBase({parts}; dir={self.directory})"


def read_flags(directory: Path) -> pd.DataFrame:
    """Read ``corrections.tsv`` (latest flag per row id)."""
    path = directory / FLAGS_NAME
    if not path.exists():
        return pd.DataFrame(columns=list(FLAG_COLUMNS))
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in FLAG_COLUMNS if c not in df.columns]
    if missing:
        raise InputFormatError(
            f"corrections file lacks columns {missing}", path=path, line=1,
            fix="restore the header 'row_id, table, reason, user, when_utc' or delete the file",
        )
    return df.drop_duplicates("row_id", keep="last").reset_index(drop=True)


_CACHE: dict[tuple[Any, ...], KnowledgeBase] = {}


def _mtime(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def load(directory: str | os.PathLike[str] | None = None, *, overlay: bool = True) -> KnowledgeBase:
    """Load and validate the evidence base.

    Parameters
    ----------
    directory
        User evidence directory (overlay + corrections); see :func:`kb_dir`.
    overlay
        Include imported rows from ``overlay.sqlite``.

    Returns
    -------
    KnowledgeBase

    Raises
    ------
    DataValueError
        When a row breaks the schema: unknown vocabulary term, duplicate id, an
        unresolved foreign key, an observation without a DOI/PMID publication, or a
        host that contradicts the evidence level (an animal host with a human level).
    """
    d = kb_dir(directory)
    ov = d / OVERLAY_NAME
    key = (str(d.resolve()), overlay, _mtime(ov), _mtime(d / FLAGS_NAME))
    if key in _CACHE:
        return _CACHE[key]
    tables, _ = _read_base()
    con = sqlite3.connect(":memory:", check_same_thread=False)
    create_tables(con)
    for t in TABLES:
        _insert(con, t, tables[t])
    if overlay and ov.exists():
        _attach_overlay(con, ov)
    con.execute("CREATE INDEX IF NOT EXISTS obs_taxon ON observation(taxon_id)")
    con.execute("CREATE INDEX IF NOT EXISTS sigm ON signature_member(sig_id)")
    con.commit()
    kb = KnowledgeBase(con, d, read_flags(d))
    _CACHE.clear()
    _CACHE[key] = kb
    return kb


def _attach_overlay(con: sqlite3.Connection, path: Path) -> None:
    con.execute("ATTACH DATABASE ? AS ov", (str(path),))
    try:
        present = {r[0] for r in con.execute("SELECT name FROM ov.sqlite_master WHERE type='table'")}
        for t in (*TABLES, "signature", "signature_member"):
            if t not in present:
                continue
            cols = [r[1] for r in con.execute(f"PRAGMA main.table_info({t})")]
            ovcols = {r[1] for r in con.execute(f"PRAGMA ov.table_info({t})")}
            sel = ", ".join(c if c in ovcols else "NULL" for c in cols)
            try:
                con.execute(f"INSERT OR IGNORE INTO main.{t} ({', '.join(cols)}) SELECT {sel} FROM ov.{t}")
            except sqlite3.DatabaseError as exc:
                raise InputFormatError(
                    f"cannot read table {t} of the evidence overlay: {exc}", path=path,
                    fix="delete the overlay and import again",
                ) from None
        con.commit()
    except sqlite3.DatabaseError as exc:
        raise InputFormatError(
            f"not a readable evidence overlay: {exc}", path=path,
            fix="delete the file and import again",
        ) from None
    finally:
        con.execute("DETACH DATABASE ov")
    # foreign keys of imported rows
    sch = schema()
    for t in TABLES:
        for c in sch.columns[t]:
            if c.type != "fk":
                continue
            idc = sch.id_column(c.check)
            bad = con.execute(
                f"SELECT {sch.id_column(t)}, {c.name} FROM {t} WHERE {c.name} IS NOT NULL AND "
                f"{c.name} NOT IN (SELECT {idc} FROM {c.check}) LIMIT 1"
            ).fetchone()
            if bad:
                raise DataValueError(
                    f"imported {t} row {bad[0]!r}: {c.name} {bad[1]!r} does not resolve",
                    path=path, fix="import the file again (the overlay is inconsistent)",
                )
