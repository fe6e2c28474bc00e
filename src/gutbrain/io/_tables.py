"""Generic feature tables (TSV/CSV/xlsx, DADA2, biom-convert, QIIME 1, curated tables) and taxonomy.

Public functions: :func:`read_table`, :func:`read_taxonomy`, :func:`attach_taxonomy`.
Private helpers shared with the MetaPhlAn/HUMAnN readers live here too (file opening with
compression detected from magic bytes, unit detection, typed metadata, label classifiers).
"""

from __future__ import annotations

import csv
import io
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, add_input, new_adata, provenance
from .._errors import DataValueError, GutbrainError, InputFormatError, MetadataMismatchError
from .._taxonomy import _EMPTY, clean_name
from ..taxonomy._keys import lineage_frame
from . import _guard
from ._guard import MAGIC_HDF5, MAGIC_ZIP  # MAGIC_HDF5 is used by _read
from ._values import NA_TOKENS as _NA_SET
from ._values import NUMERIC_ONLY_NA
from ._values import guess_unit as _guess_unit

__all__ = ["attach_taxonomy", "read_table", "read_taxonomy"]

PathLike = str | os.PathLike[str]

# --------------------------------------------------------------------------------------
# opening files
# --------------------------------------------------------------------------------------


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputFormatError("file not found", path=p, fix="check the path and file name")
    if p.is_dir():
        raise InputFormatError(
            "is a directory, not a table file", path=p, fix="pass the path of the table file"
        )
    if p.stat().st_size == 0:
        raise DataValueError("the file is empty", path=p, fix="pass a non-empty table file")
    return p


def _magic(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _open_binary(path: Path) -> IO[bytes]:
    """Open a (possibly gzip/bz2/xz-compressed) file through the guarded input layer."""
    return _guard.open_binary(path)


def _open_text(path: Path) -> IO[str]:
    """Open a (possibly gzip/bz2/xz-compressed) text file; a UTF-8 BOM is skipped.

    The stream enforces the byte, compression-ratio and line-length limits (:mod:`._guard`).
    """
    raw = _guard.open_binary(path, text_lines=True)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


_DECOMPRESS_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


def _truncated_error(path: Path, exc: BaseException) -> InputFormatError:
    return InputFormatError(
        f"the file is truncated or its compression is corrupt ({type(exc).__name__}: {exc})",
        path=path,
        fix="re-download or re-export the file and check it decompresses completely",
    )


class _PrefixedReader:
    """A read-only text stream: ``prefix`` first, then the rest of ``handle``.

    Lets a reader sniff lines with ``readline`` and hand the same stream to pandas'
    C parser without reading the file twice.
    """

    def __init__(self, prefix: str, handle: IO[str]) -> None:
        self._prefix = prefix
        self._handle = handle

    def read(self, n: int = -1) -> str:
        if self._prefix:
            if n is None or n < 0:
                out = self._prefix + self._handle.read()
                self._prefix = ""
                return out
            out = self._prefix[:n]
            self._prefix = self._prefix[n:]
            if len(out) < n:
                out += self._handle.read(n - len(out))
            return out
        return self._handle.read(n)

    def readline(self) -> str:
        if self._prefix:
            i = self._prefix.find("\n")
            if i >= 0:
                out = self._prefix[: i + 1]
                self._prefix = self._prefix[i + 1 :]
                return out
            out = self._prefix
            self._prefix = ""
            return out + self._handle.readline()
        return self._handle.readline()

    def __iter__(self) -> _PrefixedReader:
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


_PARSER_LINE_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_error(
    path: Path, exc: Exception, line_offset: int, sep: str, line_map: Sequence[int] | None = None
) -> GutbrainError:
    m = _PARSER_LINE_RE.search(str(exc))
    if m:
        expected, line, saw = (int(g) for g in m.groups())
        if line_map is not None and 0 < line <= len(line_map):
            line = int(line_map[line - 1]) - line_offset
        return InputFormatError(
            f"expected {expected} fields but found {saw} (separator {sep!r})",
            path=path,
            line=line + line_offset,
            fix="make every row have one cell per header column (check for stray "
            "separators or a missing header cell)",
        )
    return InputFormatError(
        f"cannot parse the table ({exc})",
        path=path,
        fix="check the separator (pass sep=...) and quoting",
    )


# --------------------------------------------------------------------------------------
# label classifiers
# --------------------------------------------------------------------------------------

_LINEAGE_START = re.compile(r"^\s*(?:[kdpcofgst]__|D_\d+__)")
#: ``Bacteria_Firmicutes_…_Roseburia``: a lineage joined by "_" that starts at the domain
#: (phyloseq/DADA2 exports of SILVA genus tables)
_DOMAIN_JOINED = re.compile(r"^(?:Bacteria|Archaea|Eukaryota|Eukarya|Unknown|Unassigned)_\S")
#: species names as MetaPhlAn writes them (``Faecalibacterium_prausnitzii``,
#: ``Prevotella_copri_clade_A``, ``Candidatus_X_y``) and MetaPhlAn 4 SGB/GGB names
_TAXON_NAME_RE = re.compile(
    r"^(?:(?:Candidatus[_ ])?\[?[A-Z][a-z]+\]?[_ ][a-z][\w.-]*|(?:GGB\d+_)?SGB\d+(?:_group)?|"
    r"[A-Z][a-z]+_SGB\d+(?:_group)?|GGB\d+)$"
)
_DNA_RE = re.compile(r"^[ACGTacgt]{50,}$")
_FEATURE_ID_RE = re.compile(
    r"^(?:K\d{5}|COG\d{4}|ENOG\w+|MF\d{4}|MGB\d{3}|UniRef(?:50|90|100)_\S+|"
    r"(?:PWY|PWY0|PWY1|PWY66)-\S+|EC[:\s]?\d\S*|\d+\.\d+\.\d+\.[\d-]+|"
    r"(?:OTU|ASV|otu|asv|Otu|Asv|SV|sOTU|zOTU|Zotu)[_\-.]?\d+|[0-9a-f]{32}|"
    r"New\.(?:Reference|CleanUp)OTU\d+|UNMAPPED|UNINTEGRATED)(?:[:|].*)?$"
)
SAMPLE_HEADER_NAMES = {
    "sample",
    "samples",
    "sampleid",
    "sample_id",
    "sample-id",
    "sample id",
    "#sampleid",
    "#sample id",
    "sample_name",
    "samplename",
}
FEATURE_HEADER_NAMES = {
    "#otu id",
    "otu id",
    "#otuid",
    "otuid",
    "otu",
    "otus",
    "asv",
    "asv_id",
    "feature id",
    "feature-id",
    "featureid",
    "feature",
    "taxon",
    "taxa",
    "taxonomy",
    "clade_name",
    "#clade_name",
    "function",
    "# gene family",
    "# pathway",
    "gene family",
    "pathway",
    "ko",
    "genus",
    "species",
    "lineage",
    "genus_taxonomy",
    "species_taxonomy",
}
TAXONOMY_COLUMN_NAMES = {"taxonomy", "taxon", "consensus lineage", "consensuslineage", "lineage"}


def _is_lineage(label: str, lineage_sep: str | None = None) -> bool:
    s = str(label)
    if lineage_sep is not None:
        return lineage_sep in s
    if _LINEAGE_START.match(s) or _DOMAIN_JOINED.match(s):
        return True
    for sep in (";", "|"):
        if sep in s:
            parts = [p for p in s.split(sep) if p.strip()]
            if len(parts) >= 2 and all(re.match(r"^\s*[A-Za-z\[]", p) for p in parts[:2]):
                return True
    return False


def _label_fraction(labels: Sequence[str], kind: str, lineage_sep: str | None = None) -> float:
    """Fraction of ``labels`` of a given kind: "lineage", "sequence", "feature" (any id class)."""
    if len(labels) == 0:
        return 0.0
    idx = pd.Index([str(x) for x in labels])
    if kind == "sequence":
        hits = idx.str.match(_DNA_RE.pattern)
    elif kind == "lineage":
        hits = np.fromiter((_is_lineage(x, lineage_sep) for x in idx), bool, len(idx))
    else:
        hits = (
            idx.str.match(_DNA_RE.pattern)
            | idx.str.match(_FEATURE_ID_RE.pattern)
            | idx.str.match(_TAXON_NAME_RE.pattern)
            | np.fromiter((_is_lineage(x, lineage_sep) for x in idx), bool, len(idx))
        )
    return float(np.mean(hits))


FEATURE_LIKE = 0.8


def _decide_orientation(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    first_header: str,
    has_taxonomy_column: bool,
    lineage_sep: str | None,
) -> tuple[str, str]:
    """Return ``(orientation, rule)`` following the documented auto rule."""
    rows_feat = _label_fraction(row_labels, "feature", lineage_sep) >= FEATURE_LIKE
    cols_feat = _label_fraction(col_labels, "feature", lineage_sep) >= FEATURE_LIKE
    if cols_feat and not rows_feat:
        return "samples-as-rows", "feature-like column labels"
    if rows_feat and not cols_feat:
        return "features-as-rows", "feature-like row labels"
    if has_taxonomy_column:
        return "features-as-rows", "taxonomy column"
    head = first_header.strip().lower()
    if head in SAMPLE_HEADER_NAMES:
        return "samples-as-rows", f"first header cell {first_header!r}"
    if head in FEATURE_HEADER_NAMES:
        return "features-as-rows", f"first header cell {first_header!r}"
    rows_strict = max(
        _label_fraction(row_labels, "lineage", lineage_sep),
        _label_fraction(row_labels, "sequence"),
    )
    cols_strict = max(
        _label_fraction(col_labels, "lineage", lineage_sep),
        _label_fraction(col_labels, "sequence"),
    )
    if cols_strict > rows_strict:
        return "samples-as-rows", "lineage/sequence column labels"
    if rows_strict > cols_strict:
        return "features-as-rows", "lineage/sequence row labels"
    return "features-as-rows", "default (features as rows, the QIIME/BIOM convention)"


# --------------------------------------------------------------------------------------
# values: unit detection, typed metadata
# --------------------------------------------------------------------------------------


#: Missing-value tokens of typed table metadata: the one set (:mod:`gutbrain.io._values`); in a
#: table block "missing"/"unknown" are missing too.
NA_TOKENS = _NA_SET | NUMERIC_ONLY_NA
_NA_VARIANTS = (
    NA_TOKENS
    | {t.upper() for t in NA_TOKENS}
    | {t.title() for t in NA_TOKENS}
    | {
        "NaN",
        "N/a",
    }
)


def _type_obs(frame: pd.DataFrame) -> pd.DataFrame:
    """Type string metadata columns: numeric → int/float, others → categorical.

    Missing-value tokens (:data:`NA_TOKENS`, case-insensitive) become NaN.  Vectorised over
    the whole block (one lower-casing pass), then one ``to_numeric`` per column.
    """
    if frame.shape[1] == 0:
        return pd.DataFrame(index=frame.index)
    block = frame.to_numpy(dtype=object)
    flat = pd.Series(block.ravel(order="F"), dtype=object)
    text = flat.where(flat.notna(), "").astype(str).str.strip()
    na = text.isin(_NA_VARIANTS).to_numpy().reshape(block.shape, order="F")
    text_block = text.to_numpy(dtype=object).reshape(block.shape, order="F")
    out: dict[str, Any] = {}
    for j, col in enumerate(frame.columns):
        vals = np.where(na[:, j], None, text_block[:, j])
        num = pd.to_numeric(pd.Series(vals, dtype=object), errors="coerce").to_numpy(np.float64)
        bad = ~na[:, j] & np.isnan(num)
        if (~na[:, j]).any() and not bad.any():
            if (
                not np.isnan(num).any()
                and np.all(num == np.round(num))
                and np.abs(num).max() < 2**53
            ):
                out[str(col)] = num.astype(np.int64)
            else:
                out[str(col)] = num
        else:
            out[str(col)] = pd.Categorical(vals)
    return pd.DataFrame(out, index=frame.index)


def _zero_sample_params(X: Any, names: Sequence[str]) -> dict[str, Any]:
    sums = np.asarray(X.sum(axis=1)).ravel()
    zero = [str(names[i]) for i in np.flatnonzero(sums == 0)]
    return {"n_all_zero_samples": len(zero), "all_zero_samples": zero[:100]}


# --------------------------------------------------------------------------------------
# lineages split by a custom separator
# --------------------------------------------------------------------------------------

_GLUE_RE = re.compile(
    r"^(?:unclassified|noname|unknown|incertae|sedis|sensu|stricto|group|"
    r"[ivxlcdm]+|[IVXLCDM]+|\d+|UCG-?\d+)$",
    re.IGNORECASE,
)


def _split_names(
    names: Sequence[str], lineage_sep: str, ranks: Sequence[str] | None
) -> pd.DataFrame:
    """Split unprefixed lineages joined by ``lineage_sep`` into rank columns, positionally.

    When a name has more parts than ranks (``ranks``, else the usual number of parts),
    tokens such as ``unclassified``, ``Incertae``/``Sedis``, Roman numerals or numbers are
    glued to the token before them (``Family_XIII_Incertae_Sedis`` stays one name).  When a
    name still has more parts than ``ranks``, the leading parts are joined into the first rank.
    Without ``ranks`` the parts fill :data:`RANKS` from the domain.
    """
    rank_list = list(ranks) if ranks is not None else None
    if rank_list is not None:
        unknown = [r for r in rank_list if r not in RANKS]
        if unknown:
            raise GutbrainError(
                f"unknown rank(s) {unknown} in ranks=", fix=f"use names from {list(RANKS)}"
            )
    rows = []
    counts = [len(str(n).split(lineage_sep)) for n in names]
    usual = min(pd.Series(counts).mode().max(), 7) if counts else 7
    n_target = len(rank_list) if rank_list is not None else usual
    for name in names:
        if _LINEAGE_START.match(str(name)):
            rows.append(lineage_frame([name], sep=lineage_sep).iloc[0, : len(RANKS)].to_dict())
            continue
        raw = str(name).split(lineage_sep)
        excess = len(raw) - n_target
        tokens: list[str] = []
        for tok in raw:
            # glue only what does not fit: "Family_XIII_Incertae_Sedis" in a family_genus
            # name, but not the SILVA genus "UCG-009" of a full six-rank lineage
            if tokens and excess > 0 and _GLUE_RE.match(tok.strip()):
                tokens[-1] = f"{tokens[-1]}{lineage_sep}{tok}"
                excess -= 1
            else:
                tokens.append(tok)
        target = rank_list if rank_list is not None else list(RANKS[: min(len(tokens), 7)])
        if len(tokens) > len(target):
            extra = len(tokens) - len(target) + 1
            tokens = [lineage_sep.join(tokens[:extra]), *tokens[extra:]]
        row = dict.fromkeys(RANKS, "")
        for rank, tok in zip(target, tokens):
            parts = [t.strip().lower() for t in tok.split(lineage_sep)]
            row[rank] = "" if all(t in _EMPTY for t in parts) else clean_name(tok, rank=rank)
        if row["species"] and row["genus"] and " " not in row["species"]:
            row["species"] = f"{row['genus']} {row['species']}"
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(RANKS))
    df["taxonomy"] = [str(n) for n in names]
    from ..taxonomy._keys import _with_columns, taxon_columns

    return _with_columns(df, taxon_columns(df))


# --------------------------------------------------------------------------------------
# reading the raw grid
# --------------------------------------------------------------------------------------


def _choose_sep(header_line: str, path: Path) -> str:
    if "\t" in header_line:
        return "\t"
    if "," in header_line:
        return ","
    if ";" in header_line and not _LINEAGE_START.match(header_line):
        return ";"
    return "\t" if path.suffix.lower() not in {".csv"} else ","


def _split_header(line: str, sep: str) -> list[str]:
    row = next(csv.reader([line.rstrip("\r\n")], delimiter=sep, quotechar='"'), [])
    return [c.strip() for c in row]


class _Grid:
    """A parsed table before orientation: ids (first column), labelled value columns."""

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        first_header: str,
        first_data_line: int,
        line_of_row: np.ndarray | None,
        sep: str | None,
        source: str,
    ) -> None:
        self.frame = frame  # index = first-column ids; columns = other header cells
        self.first_header = first_header
        self.first_data_line = first_data_line
        self.line_of_row = line_of_row
        self.sep = sep
        self.source = source

    def line(self, i: int) -> int:
        if self.line_of_row is not None:
            return int(self.line_of_row[i])
        return self.first_data_line + i


def _sniff_header(fh: IO[str], path: Path, sep: str | None) -> tuple[str, str, int, list[str]]:
    """Consume comment lines and the header; return (header_line, first_data_line, header_lineno, comments)."""
    lineno = 0

    def nextline() -> str:
        nonlocal lineno
        lineno += 1
        return fh.readline()

    line = nextline()
    while line and line.strip() == "":
        line = nextline()
    comments: list[str] = []
    while line.startswith("#"):
        nxt = nextline()
        if nxt.startswith("#"):
            comments.append(line)
            line = nxt
            continue
        test_sep = sep or _choose_sep(line, path)
        fields = _split_header(line, test_sep)
        next_fields = _split_header(nxt, test_sep) if nxt.strip() else []
        if len(next_fields) < 2 or len(fields) >= len(next_fields) - 1 >= 1:
            # the last comment line is the header (e.g. "#OTU ID<TAB>S1<TAB>S2")
            return line, nxt, lineno - 1, comments
        comments.append(line)
        line = nxt
        break
    header_lineno = lineno
    first = nextline()
    return line, first, header_lineno, comments


def _read_text_grid(path: Path, sep: str | None) -> _Grid:
    try:
        fh = _open_text(path)
        with fh:
            header_line, first, header_lineno, _ = _sniff_header(fh, path, sep)
            if not header_line.strip():
                raise DataValueError(
                    "the table has no header or data rows",
                    path=path,
                    fix="pass a table with a header row and one row per sample or feature",
                )
            used_sep = sep or _choose_sep(header_line, path)
            header = _split_header(header_line, used_sep)
            _guard.check_columns(len(header), label=path, line=header_lineno)
            data_fields = _split_header(first, used_sep) if first.strip() else []
            if data_fields and len(data_fields) == len(header) + 1:
                header = ["", *header]  # R write.table without the row-name header cell
            if len(header) < 2:
                fix = "pass the right separator with sep="
                for cand, label in ((",", "','"), (";", "';'"), ("\t", "'\\t'"), ("|", "'|'")):
                    if cand != used_sep and cand in header_line:
                        fix = f"the header contains {label}: pass sep={label}"
                        break
                raise InputFormatError(
                    f"only one column found with separator {used_sep!r}",
                    path=path,
                    line=header_lineno,
                    column=1,
                    fix=fix,
                )
            _check_unique(header[1:], path=path, line=header_lineno, what="column")
            names = ["__id__", *[h if h else f"column_{i + 2}" for i, h in enumerate(header[1:])]]
            try:
                frame = pd.read_csv(
                    _PrefixedReader(first, fh),
                    sep=used_sep,
                    header=None,
                    names=names,
                    dtype={"__id__": str},
                    engine="c",
                    float_precision="round_trip",
                    low_memory=False,
                    skip_blank_lines=True,
                    quotechar='"',
                )
            except pd.errors.EmptyDataError:
                frame = pd.DataFrame(columns=names)
            except pd.errors.ParserError as exc:
                raise _parser_error(path, exc, header_lineno, used_sep) from exc
    except _DECOMPRESS_ERRORS as exc:
        raise _truncated_error(path, exc) from exc
    ids = frame.pop("__id__")
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputFormatError(
            "empty identifier in the first column",
            path=path,
            line=header_lineno + 1 + i,
            column=1,
            fix="give every row an identifier in the first column",
        )
    frame.index = pd.Index(ids.astype(str).str.strip())
    return _Grid(
        frame,
        first_header=header[0],
        first_data_line=header_lineno + 1,
        line_of_row=None,
        sep=used_sep,
        source="text",
    )


def _excel_grid(path: Path, sheet: str | int | None) -> _Grid:
    _guard.check_xlsx(path)
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # openpyxl raises several types for broken files
        raise InputFormatError(
            f"cannot open the spreadsheet ({exc})", path=path, fix="save it again as .xlsx"
        ) from exc
    with book:
        names = book.sheet_names
        if sheet is None:
            sheet = 0
        if isinstance(sheet, str) and sheet not in names:
            raise InputFormatError(
                f"sheet {sheet!r} not found; the workbook has {names}",
                path=path,
                fix=f"pass sheet= one of {names}",
            )
        if isinstance(sheet, int) and not 0 <= sheet < len(names):
            raise InputFormatError(
                f"sheet index {sheet} out of range; the workbook has {names}",
                path=path,
                fix="pass sheet=0 for the first sheet",
            )
        raw = book.parse(sheet_name=sheet, header=None, dtype=object)
    keep_rows = ~raw.isna().all(axis=1).to_numpy()
    excel_rows = np.arange(1, raw.shape[0] + 1)[keep_rows]
    raw = raw.loc[keep_rows, ~raw.isna().all(axis=0).to_numpy()]
    if raw.shape[0] == 0:
        raise DataValueError("the sheet is empty", path=path, fix="pass a sheet holding the table")
    header = ["" if pd.isna(v) else str(v).strip() for v in raw.iloc[0]]
    _check_unique(header[1:], path=path, line=int(excel_rows[0]), what="column")
    body = raw.iloc[1:]
    ids = body.iloc[:, 0]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputFormatError(
            "empty identifier in the first column",
            path=path,
            line=int(excel_rows[1 + i]),
            column=1,
            fix="give every row an identifier in the first column",
        )
    frame = body.iloc[:, 1:].copy()
    frame.columns = [h if h else f"column_{i + 2}" for i, h in enumerate(header[1:])]
    frame.index = pd.Index([_excel_id(v) for v in ids])
    frame = frame.infer_objects()
    return _Grid(
        frame,
        first_header=header[0],
        first_data_line=int(excel_rows[1]) if len(excel_rows) > 1 else 2,
        line_of_row=excel_rows[1:],
        sep=None,
        source="xlsx",
    )


def _excel_id(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _check_unique(labels: Sequence[str], *, path: Path, line: int | None, what: str) -> None:
    idx = pd.Index([str(x) for x in labels])
    if idx.has_duplicates:
        dup = str(idx[idx.duplicated()][0])
        pos = [i for i, x in enumerate(idx) if x == dup]
        if what == "column":
            raise InputFormatError(
                f"duplicate column label {dup!r} (columns {pos[0] + 2} and {pos[1] + 2})",
                path=path,
                line=line,
                column=pos[1] + 2,
                fix="make every sample/feature label in the header unique",
            )
        raise InputFormatError(
            f"duplicate row identifier {dup!r}",
            path=path,
            line=line,
            column=1,
            fix="make every identifier in the first column unique (or sum the duplicates)",
        )


def _is_excel(path: Path) -> bool:
    if not _magic(path, 4).startswith(MAGIC_ZIP):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.startswith("xl/") for n in zf.namelist())
    except zipfile.BadZipFile:
        return False


# --------------------------------------------------------------------------------------
# grid → numeric block
# --------------------------------------------------------------------------------------


def _numeric_block(grid: _Grid, path: Path) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Split the grid into numeric value columns and annotation columns.

    A column in which no cell is a number is an annotation (e.g. QIIME 1 ``taxonomy``);
    a column mixing numbers and text is an error naming the first bad cell.
    """
    frame = grid.frame
    numeric: list[str] = []
    annot: list[str] = []
    converted: dict[str, np.ndarray] = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            annot.append(col)
            continue
        if pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
            continue
        num = pd.to_numeric(s, errors="coerce")
        present = s.notna()
        if isinstance(s.dtype, pd.StringDtype) or s.dtype == object:
            text = s.astype(str).str.strip()
            present &= text != ""
        bad = present & num.isna()
        if not bad.any():
            numeric.append(col)
            converted[col] = num.to_numpy(np.float64)
        elif bad.sum() == present.sum() or str(col).strip().lower() in TAXONOMY_COLUMN_NAMES:
            annot.append(col)
        else:
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataValueError(
                f"non-numeric value {str(s.iloc[i])!r} in column {col!r}, row {frame.index[i]!r}",
                path=path,
                line=grid.line(i),
                column=str(col),
                fix="replace it with a number (0 for absent) or remove the column",
            )
    if frame.shape[0] == 0:
        raise DataValueError(
            "the table has a header but no data rows",
            path=path,
            fix="pass a table with one row per sample or feature",
        )
    if not numeric:
        raise DataValueError(
            "the table has no numeric columns",
            path=path,
            line=grid.first_data_line - 1,
            fix="pass a table of counts or abundances (check the separator with sep=...)",
        )
    X = np.empty((frame.shape[0], len(numeric)), dtype=np.float64)
    for j, col in enumerate(numeric):
        X[:, j] = converted[col] if col in converted else frame[col].to_numpy(np.float64)
    bad_nan = ~np.isfinite(X)
    if bad_nan.any():
        i, j = (int(v) for v in np.argwhere(bad_nan)[0])
        raw = frame[numeric[j]].iloc[i]
        what = "empty or NA" if pd.isna(raw) else f"non-finite ({raw!r})"
        raise DataValueError(
            f"{what} cell in column {numeric[j]!r}, row {frame.index[i]!r}"
            + (" (the row may be truncated)" if np.isnan(X[i, j:]).all() else ""),
            path=path,
            line=grid.line(i),
            column=str(numeric[j]),
            fix="fill the cell with a number (0 for absent)",
        )
    neg = X < 0
    if neg.any():
        i, j = (int(v) for v in np.argwhere(neg)[0])
        raise DataValueError(
            f"negative value {X[i, j]:g} in column {numeric[j]!r}, row {frame.index[i]!r}",
            path=path,
            line=grid.line(i),
            column=str(numeric[j]),
            fix="counts and abundances must be ≥ 0; pass the untransformed table",
        )
    _guard.check_matrix_values(X, label=path)
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()][0]
        i = int(np.flatnonzero(frame.index == dup)[1])
        _check_unique(list(frame.index), path=path, line=grid.line(i), what="row")
    return X, numeric, frame[annot]


# --------------------------------------------------------------------------------------
# read_table
# --------------------------------------------------------------------------------------

ORIENTATIONS = ("auto", "samples-as-rows", "features-as-rows")
_UNIT_CHOICES = ("auto", "counts", "relative", "percent", "cpm", "rpk", "abundance", "presence")


def read_table(
    path: PathLike,
    *,
    orientation: str = "auto",
    unit: str = "auto",
    sheet: str | int | None = None,
    sep: str | None = None,
    lineage_sep: str | None = None,
    ranks: Sequence[str] | None = None,
) -> AnnData:
    """Read a generic feature table (TSV/CSV/xlsx, optionally .gz/.bz2/.xz) into AnnData.

    Handles DADA2 ``seqtab`` exports (samples as rows, ASV sequences as columns),
    ``biom convert --to-tsv`` output (``# Constructed from biom file`` then ``#OTU ID``),
    QIIME 1 OTU tables with a trailing ``taxonomy`` column, curated tables whose first
    column is ``Sample`` and whose column names are lineages, taxa × samples tables
    (``mlrepo``), R ``write.csv`` output (empty first header cell), PICRUSt2/KEGG tables
    (``K00001`` rows) and spreadsheets (first sheet unless ``sheet`` is given).

    **Which axis holds the samples** (``orientation="auto"``), first rule that applies:

    1. An explicit ``orientation="samples-as-rows"`` or ``"features-as-rows"`` wins.
    2. Labels: if at least 80 % of the column labels look like feature identifiers —
       taxon lineages (``k__``/``d__``/``D_0__`` prefixes or ``;``/``|``-joined names, or
       names containing ``lineage_sep`` when given), DNA sequences (≥ 50 nt of ACGT),
       KEGG/COG/UniRef/MetaCyc/EC ids, ``OTU_1``/``ASV_1`` ids or QIIME 2 MD5 feature ids —
       and the row labels do not, samples are rows; and vice versa.
    3. A column named ``taxonomy``/``Taxon``/``Consensus Lineage`` marks features as rows;
       a first header cell such as ``Sample``/``SampleID`` marks samples as rows, and
       ``#OTU ID``/``Feature ID``/``taxon``/``function``/``clade_name`` features as rows.
    4. Otherwise the axis whose labels parse as lineages or DNA sequences is the feature axis.
    5. Otherwise features are rows (the QIIME/BIOM convention).

    The rule that decided is stored in ``uns["gutbrain"]["params"]["orientation_rule"]``.

    **Units** (``unit="auto"``): all values integer → ``counts``; sample sums at most 1
    (largest ≥ 0.99) → ``relative``; at most 100 (largest ≥ 99) → ``percent``; otherwise
    ``abundance``.  Samples whose values are all zero are kept and listed in
    ``params["all_zero_samples"]``.

    Parameters
    ----------
    path
        Table file.
    orientation
        ``"auto"``, ``"samples-as-rows"`` or ``"features-as-rows"``.
    unit
        ``"auto"`` or one of the units of :data:`gutbrain._core.UNITS`.
    sheet
        Spreadsheet sheet name or 0-based index (xlsx only).
    sep
        Column separator; by default tab, else comma, else semicolon, from the header line.
    lineage_sep
        Separator of unprefixed lineage feature names, e.g. ``"_"`` for
        ``Bacteria_Firmicutes_…_Roseburia``; names are then read positionally into ``ranks``.
    ranks
        Rank of each part of a ``lineage_sep``-joined name (default: from the domain),
        e.g. ``("family", "genus")`` for ``Lachnospiraceae_Roseburia``.

    Returns
    -------
    AnnData
        Samples × features; ``var`` holds rank columns and ``taxonomy`` when the feature
        names (or a taxonomy column) are lineages; non-numeric columns become ``obs``/``var``
        annotations.

    Raises
    ------
    InputFormatError
        Wrong separator, duplicate identifiers, malformed rows, truncated files.
    DataValueError
        Empty tables, non-numeric, empty/NA or negative cells (message names the row,
        column and 1-based line).
    """
    p = _check_file(path)
    if orientation not in ORIENTATIONS:
        raise GutbrainError(
            f"orientation must be one of {ORIENTATIONS}, not {orientation!r}",
            fix="pass orientation='auto'",
        )
    if unit not in _UNIT_CHOICES:
        raise GutbrainError(
            f"unit must be one of {_UNIT_CHOICES}, not {unit!r}", fix="pass unit='auto'"
        )
    if _is_excel(p):
        grid = _excel_grid(p, sheet)
        fmt = "xlsx"
    else:
        if _magic(p, 4).startswith(MAGIC_ZIP) or _magic(p, 8).startswith(MAGIC_HDF5):
            raise InputFormatError(
                "this is a binary file (zip or HDF5), not a text table",
                path=p,
                fix="use gb.io.read(path) to detect BIOM/QIIME 2/h5ad files",
            )
        grid = _read_text_grid(p, sep)
        fmt = "table"
    return _grid_to_adata(
        grid,
        p,
        orientation=orientation,
        unit=unit,
        lineage_sep=lineage_sep,
        ranks=ranks,
        fmt=fmt,
        params={"sheet": sheet, "sep": grid.sep, "lineage_sep": lineage_sep, "ranks": ranks},
    )


def _grid_to_adata(
    grid: _Grid,
    path: Path,
    *,
    orientation: str,
    unit: str,
    lineage_sep: str | None,
    ranks: Sequence[str] | None,
    fmt: str,
    params: dict[str, Any],
    reader: str = "read_table",
) -> AnnData:
    values, numeric_cols, annot = _numeric_block(grid, path)
    tax_cols = [c for c in annot.columns if str(c).strip().lower() in TAXONOMY_COLUMN_NAMES]
    row_labels = list(grid.frame.index)
    if orientation == "auto":
        orientation, rule = _decide_orientation(
            row_labels,
            numeric_cols,
            first_header=grid.first_header,
            has_taxonomy_column=bool(tax_cols),
            lineage_sep=lineage_sep,
        )
    else:
        rule = "explicit"
    if orientation == "samples-as-rows":
        X = values
        samples, features = row_labels, [str(c) for c in numeric_cols]
        obs = _type_obs(annot) if annot.shape[1] else None
        var_annot = None
    else:
        X = values.T
        samples, features = [str(c) for c in numeric_cols], row_labels
        obs = None
        var_annot = annot
    var = _feature_frame(features, var_annot, tax_cols, lineage_sep=lineage_sep, ranks=ranks)
    if unit == "auto":
        unit, unit_rule = _guess_unit(X)
    else:
        unit_rule = "explicit"
    p = dict(params)
    p.update(
        {
            "format": fmt,
            "orientation": orientation,
            "orientation_rule": rule,
            "unit_rule": unit_rule,
            **_zero_sample_params(X, samples),
        }
    )
    return new_adata(
        X,
        obs_names=samples,
        var_names=features,
        unit=unit,
        reader=reader,
        var=var,
        obs=obs,
        inputs={"table": (path, fmt)},
        params=p,
    )


def _feature_frame(
    features: Sequence[str],
    annot: pd.DataFrame | None,
    tax_cols: Sequence[str],
    *,
    lineage_sep: str | None,
    ranks: Sequence[str] | None,
) -> pd.DataFrame | None:
    index = pd.Index([str(f) for f in features])
    var: pd.DataFrame | None = None
    if tax_cols and annot is not None:
        var = lineage_frame(annot[tax_cols[0]].fillna("").astype(str), index=index)
    elif lineage_sep is not None:
        var = _split_names(list(index), lineage_sep, ranks)
        var.index = index
    elif len(index) and np.mean([bool(_DOMAIN_JOINED.match(f)) for f in index]) >= FEATURE_LIKE:
        var = _split_names(list(index), "_", ranks)  # Bacteria_Firmicutes_…_Roseburia
        var.index = index
    elif _label_fraction(list(index), "lineage") >= FEATURE_LIKE:
        var = lineage_frame(list(index), index=index)
    elif len(index) and np.mean(index.str.match(_TAXON_NAME_RE.pattern)) >= FEATURE_LIKE:
        # MetaPhlAn species names as features (MaAsLin tables): read as s__ names
        var = lineage_frame([f"s__{f}" for f in index], index=index)
    if annot is not None:
        rest = [c for c in annot.columns if c not in tax_cols[:1]]
        if rest:
            extra = annot[rest].copy()
            extra.index = index
            extra = extra.astype(object).where(extra.notna(), "").astype(str)
            var = extra if var is None else var.join(extra, rsuffix="_annotation")
    return var


# --------------------------------------------------------------------------------------
# taxonomy tables
# --------------------------------------------------------------------------------------

_RANK_ALIASES = {
    "kingdom": "domain",
    "domain": "domain",
    "superkingdom": "domain",
    "phylum": "phylum",
    "class": "class",
    "order": "order",
    "family": "family",
    "genus": "genus",
    "species": "species",
    "strain": "strain",
}
_ID_NAMES = {
    "feature id",
    "feature-id",
    "featureid",
    "#otu id",
    "#otuid",
    "otu id",
    "otuid",
    "otu",
    "asv",
    "id",
    "sequence",
    "taxon",
    "",
}
_LINEAGE_NAMES = {"taxon", "taxonomy", "consensus lineage", "lineage", "consensuslineage"}
_CONF_NAMES = {"confidence", "consensus", "bootstrap"}
SUPPORTED_TAXONOMY = (
    "QIIME 2 taxonomy TSV (Feature ID, Taxon[, Confidence]); headerless id<TAB>lineage "
    "(Greengenes k__, SILVA D_0__, GTDB d__); DADA2/R rank columns (Kingdom…Genus[, Species]); "
    "a lineage column plus rank columns (taxon, Kingdom…Species)"
)


def read_taxonomy(path: PathLike) -> pd.DataFrame:
    """Read a feature taxonomy table.

    Supported layouts: QIIME 2 ``taxonomy.tsv`` (``Feature ID``, ``Taxon``, ``Confidence``);
    headerless ``id<TAB>lineage`` files (Greengenes ``k__…; p__…``, SILVA 132 ``D_0__…``,
    GTDB ``d__…``); QIIME 1 / biom observation metadata (``#OTU ID``, ``taxonomy``); DADA2
    ``assignTaxonomy``/``addSpecies`` output written from R (sequence, then ``Kingdom`` …
    ``Genus`` [``Species`` as an epithet], ``NA`` for unassigned); and tables with a lineage
    column plus prefixed rank columns (``taxon``, ``Kingdom`` … ``Species``).

    Parameters
    ----------
    path
        Taxonomy file (TSV/CSV, optionally compressed).

    Returns
    -------
    pandas.DataFrame
        Index = feature id; columns :data:`gutbrain._core.RANKS`, ``taxonomy`` (the lineage
        string) and ``confidence`` when the file has one.

    Raises
    ------
    InputFormatError
        Unknown layout (the message names the columns found and the supported layouts) or
        duplicate feature ids.
    """
    p = _check_file(path)
    with _open_text(p) as fh:
        try:
            text_head = fh.readline()
        except _DECOMPRESS_ERRORS as exc:
            raise _truncated_error(p, exc) from exc
    sep = _choose_sep(text_head, p)
    first = _split_header(text_head, sep)
    headerless = len(first) >= 2 and _is_lineage(first[1]) and first[0].lower() not in _ID_NAMES
    try:
        with _open_text(p) as fh:
            raw = pd.read_csv(
                fh,
                sep=sep,
                header=None if headerless else 0,
                dtype=str,
                keep_default_na=False,
                comment=None,
                engine="c",
                quotechar='"',
            )
    except pd.errors.ParserError as exc:
        raise _parser_error(p, exc, 1, sep) from exc
    except _DECOMPRESS_ERRORS as exc:
        raise _truncated_error(p, exc) from exc
    header_offset = 1 if headerless else 2
    if raw.shape[0] == 0:
        raise DataValueError("the taxonomy table has no rows", path=p, fix="pass a non-empty file")
    if headerless:
        raw.columns = ["Feature ID", "Taxon", *[f"column_{i}" for i in range(3, raw.shape[1] + 1)]]
    cols = [str(c) for c in raw.columns]
    lower = [c.strip().lower() for c in cols]
    rank_cols = {c: _RANK_ALIASES[lc] for c, lc in zip(cols, lower) if lc in _RANK_ALIASES}
    lineage_col = next(
        (c for c, lc in zip(cols, lower) if lc in _LINEAGE_NAMES and c != cols[0]), None
    )
    if lineage_col is None and lower[0] in _LINEAGE_NAMES and len(rank_cols) >= 2:
        lineage_col = cols[0]  # ferreiro-style: "taxon" holds the lineage and the id
    conf_col = next((c for c, lc in zip(cols, lower) if lc in _CONF_NAMES), None)
    ids = raw.iloc[:, 0].astype(str).str.strip()
    if cols[0] in rank_cols and lineage_col != cols[0]:
        raise InputFormatError(
            f"no feature-id column: the first column is the rank {cols[0]!r}; "
            f"columns found: {cols}",
            path=p,
            line=1,
            fix="put the feature ids (sequences or OTU/ASV ids) in the first column",
        )
    if lineage_col is not None and (lineage_col != cols[0] or not rank_cols):
        lineages = raw[lineage_col].astype(str)
        tax = lineage_frame(lineages.tolist(), index=ids)
    elif rank_cols:
        tax = _rank_columns_frame(raw, rank_cols, ids)
        if lineage_col == cols[0]:
            tax["taxonomy"] = raw[cols[0]].astype(str).to_numpy()
    else:
        raise InputFormatError(
            f"unrecognised taxonomy layout; columns found: {cols}",
            path=p,
            line=1,
            fix=f"use one of the supported layouts: {SUPPORTED_TAXONOMY}",
        )
    if tax.index.has_duplicates:
        dup = tax.index[tax.index.duplicated()][0]
        i = int(np.flatnonzero(tax.index == dup)[1])
        raise InputFormatError(
            f"duplicate feature id {dup!r} in the taxonomy",
            path=p,
            line=i + header_offset,
            column=1,
            fix="keep one taxonomy row per feature id",
        )
    if conf_col is not None:
        conf = pd.to_numeric(raw[conf_col].replace({"": np.nan, "NA": np.nan}), errors="coerce")
        tax["confidence"] = conf.to_numpy(np.float64)
    tax.index.name = None
    tax.attrs["path"] = os.fspath(p)
    return tax


def _rank_columns_frame(
    raw: pd.DataFrame, rank_cols: dict[str, str], ids: pd.Series
) -> pd.DataFrame:
    """Build rank columns from DADA2/R-style per-rank columns (values may carry prefixes)."""
    prefix = {
        "domain": "k",
        "phylum": "p",
        "class": "c",
        "order": "o",
        "family": "f",
        "genus": "g",
        "species": "s",
        "strain": "t",
    }
    parts = []
    for col, rank in rank_cols.items():
        vals = raw[col].fillna("").astype(str).str.strip()
        vals = vals.where(~vals.str.upper().isin({"NA", "NAN", "NONE"}), "")
        has_prefix = vals.str.match(r"^[kdpcofgst]__")
        vals = vals.where(has_prefix, f"{prefix[rank]}__" + vals)
        parts.append(vals)
    lineages = parts[0].str.cat(parts[1:], sep=";") if len(parts) > 1 else parts[0]
    return lineage_frame(lineages.tolist(), index=ids.tolist(), sep=";")


def attach_taxonomy(
    adata: AnnData,
    taxonomy: pd.DataFrame | PathLike,
    *,
    path: PathLike | None = None,
) -> AnnData:
    """Join a taxonomy onto ``adata.var`` by feature id.

    Parameters
    ----------
    adata
        Samples × features table.
    taxonomy
        A frame from :func:`read_taxonomy` (index = feature id) or the path of a taxonomy
        file (``.qza`` ``FeatureData[Taxonomy]`` artefacts are read with ``read_qza``).
    path
        The taxonomy file (for messages and provenance) when ``taxonomy`` is a frame.

    Returns
    -------
    AnnData
        A new object whose ``var`` holds the rank columns, ``taxonomy`` (and ``confidence``);
        features without a taxonomy row get empty ranks and are counted in
        ``uns["gutbrain"]["params"]["taxonomy_missing"]``.  The taxonomy file is recorded as
        input ``"taxonomy"``.

    Raises
    ------
    MetadataMismatchError
        When no feature id of the table is in the taxonomy.
    """
    if isinstance(taxonomy, pd.DataFrame):
        tax = taxonomy
        if path is None and tax.attrs.get("path"):
            path = tax.attrs["path"]
    else:
        path = taxonomy if path is None else path
        tp = _check_file(taxonomy)
        if _magic(tp, 4).startswith(MAGIC_ZIP) and not _is_excel(tp):
            from ._qiime2 import read_qza

            tax = read_qza(tp)
            if not isinstance(tax, pd.DataFrame):
                raise InputFormatError(
                    "this QIIME 2 artefact is not a FeatureData[Taxonomy]",
                    path=tp,
                    fix="pass the taxonomy.qza made by feature-classifier",
                )
        else:
            tax = read_taxonomy(tp)
    label = "the taxonomy" if path is None else os.fspath(path)
    tax = tax.copy()
    if not any(r in tax.columns for r in RANKS):
        lin = next((c for c in tax.columns if str(c).strip().lower() in _LINEAGE_NAMES), None)
        if lin is None:
            raise InputFormatError(
                f"the taxonomy frame has no rank or lineage column; columns: {list(tax.columns)}",
                path=path,
                fix="pass the frame returned by gb.io.read_taxonomy (or a 'Taxon' column)",
            )
        conf = next((c for c in tax.columns if str(c).strip().lower() in _CONF_NAMES), None)
        parsed = lineage_frame(tax[lin].fillna("").astype(str).tolist(), index=tax.index)
        if conf is not None:
            parsed["confidence"] = pd.to_numeric(tax[conf], errors="coerce").to_numpy(np.float64)
        tax = parsed
    tax.index = pd.Index([str(i).strip() for i in tax.index])
    if tax.index.has_duplicates:
        raise MetadataMismatchError(
            f"duplicate feature id {tax.index[tax.index.duplicated()][0]!r} in {label}",
            path=path,
            fix="keep one taxonomy row per feature id",
        )
    if "feature_id" in adata.var.columns:
        ids = pd.Index(adata.var["feature_id"].astype(str).str.strip())
    else:
        ids = pd.Index([str(v) for v in adata.var_names])
    present = ids.isin(tax.index)
    n_found = int(present.sum())
    if n_found == 0:
        raise MetadataMismatchError(
            f"none of the table's {len(ids)} feature ids is in {label}'s {len(tax)} ids "
            f"(table: {', '.join(map(repr, ids[:3]))}; taxonomy: {', '.join(map(repr, tax.index[:3]))})",
            path=path,
            fix="pass the taxonomy made for this table (same feature ids: ASV sequences, "
            "MD5 hashes or OTU ids)",
        )
    cols = [c for c in (*RANKS, "taxonomy", "confidence") if c in tax.columns]
    joined = tax[cols].reindex(ids)
    out = adata.copy()
    var = out.var.copy()
    for c in cols:
        if c == "confidence":
            var[c] = joined[c].to_numpy(np.float64)
        else:
            var[c] = joined[c].fillna("").astype(str).to_numpy()
    out.var = var
    from ..taxonomy._keys import annotate

    annotate(out)
    prov = provenance(out)
    params = dict(prov.get("params", {}))
    params["taxonomy_missing"] = len(ids) - n_found
    params["taxonomy_missing_features"] = [str(i) for i in ids[~present][:20]]
    params["taxonomy_unused"] = int((~tax.index.isin(ids)).sum())
    prov["params"] = params
    if path is not None:
        add_input(out, "taxonomy", path, "taxonomy")
    return out
