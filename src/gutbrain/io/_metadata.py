"""Sample metadata: QIIME 2 metadata TSV, plain CSV/TSV and Excel sheets.

The reader follows the QIIME 2 metadata format
(https://docs.qiime2.org/2024.10/tutorials/metadata/):

* the first non-empty, non-comment line is the header; its first column holds the
  identifiers and is named one of :data:`ID_HEADERS` (case-insensitive), e.g. ``sample-id``,
  ``#SampleID`` or ``feature id``;
* an optional ``#q2:types`` directive row right after the header declares each column
  ``categorical`` or ``numeric``;
* other lines starting with ``#`` are comments and empty lines are skipped.

Plain CSV/TSV files (delimiter sniffed) and ``.xlsx`` sheets are read by the same rules;
when their first header is not a known id name, the first column is used when its values
are unique (or pass ``id_column=``).

Typing: a column whose non-missing values all parse as numbers becomes numeric (``int64``
when every cell is written as an integer, e.g. ``42``, and none is missing, else ``float64``); any other column
becomes a pandas ``category``.  Missing-value tokens (:data:`NA_TOKENS`, plus the INSDC
``missing: ...`` vocabulary) become NaN in every column; ``unknown`` and ``none`` are treated as missing
only in columns that are otherwise numeric (they stay levels of categorical columns).
A header with one name fewer than every data row (R's ``write.table`` with row names) has
its unnamed first column read as the sample ids.
A ``#q2:types`` row overrides the inference.
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import add_input, provenance
from .._errors import (
    DataValueError,
    DataWarning,
    GutbrainError,
    InputFormatError,
    MetadataMismatchError,
)
from . import _guard
from ._values import NA_TOKENS, NUMERIC_ONLY_NA

__all__ = ["ID_HEADERS", "NA_TOKENS", "attach_metadata", "read_metadata"]

#: Identifier column names accepted by QIIME 2 (compared case-insensitively), plus
#: common names used by other tools (``sample_name`` in Qiita, ``Sample``).
ID_HEADERS: frozenset[str] = frozenset(
    {
        "id",
        "sampleid",
        "sample id",
        "sample-id",
        "featureid",
        "feature id",
        "feature-id",
        "#sampleid",
        "#sample id",
        "#otuid",
        "#otu id",
        "sample_name",
        "sample_id",
        "sample",
        "samplename",
        "sample name",
        "#sample_id",
        "#id",
        "feature_id",
        "run",
        "run_accession",
    }
)

#: Missing-value tokens: the one set of gutbrain (:mod:`gutbrain.io._values`).
_NUMERIC_ONLY_NA = NUMERIC_ONLY_NA
_MISSING_RE = re.compile(r"^missing:\s*", re.IGNORECASE)
_Q2_TYPES = {"categorical", "numeric"}
_INT_RE = r"[+-]?\d+"
_INT_FULL = re.compile(_INT_RE)


# --------------------------------------------------------------------------- helpers
def _gunzip(raw: bytes, label: str | os.PathLike[str]) -> bytes:
    """Decompress gzip bytes within the input limits (:mod:`._guard`).

    A truncated or corrupt stream is an :class:`InputFormatError`; a bomb a ``LimitError``.
    """
    return _guard.decompress_bytes(raw, label=label)


def _is_na(token: str) -> bool:
    t = token.strip().lower()
    return t in NA_TOKENS or bool(_MISSING_RE.match(t))


def _read_text(path: Path) -> str:
    """Return the text of a (possibly gzipped) file, with a clear error when unreadable."""
    try:
        raw = _guard.read_bytes(path, text_lines=True, field="max_metadata_bytes")
    except FileNotFoundError:
        raise InputFormatError(
            "file not found", path=path, fix="check the path of the metadata file"
        ) from None
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputFormatError(
        "cannot decode text", path=path, fix="save it as UTF-8"
    )  # pragma: no cover


def _sniff_delimiter(header_line: str, path: Path) -> str:
    suffix = "".join(path.suffixes).lower()
    if ".csv" in suffix:
        return ","
    if "\t" in header_line:
        return "\t"
    counts = {d: header_line.count(d) for d in (",", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else "\t"


def type_columns(
    cells: pd.DataFrame,
    *,
    declared: dict[str, str] | None = None,
    path: str | os.PathLike[str] | None = None,
    line_of_row: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Type a frame of string cells: numeric columns → int/float, others → category.

    Parameters
    ----------
    cells
        Strings (or ``None``); the index is kept.
    declared
        ``{column: "numeric" | "categorical"}`` (a ``#q2:types`` row); overrides inference.
    path, line_of_row
        Used in error messages when a declared-numeric cell is not a number.

    Returns
    -------
    pandas.DataFrame
        Typed columns.
    """
    declared = declared or {}
    out: dict[str, Any] = {}
    for j, col in enumerate(cells.columns):
        out[col] = _type_column(cells.iloc[:, j], col, declared.get(col), path, line_of_row)
    frame = pd.DataFrame(out, index=cells.index)
    frame.columns = list(cells.columns)
    return frame


def _distinct_text(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Row codes into the column's distinct stripped texts (missing cells → ``""``).

    Typing is decided on the distinct values only (a metadata column holds far fewer
    distinct values than rows), then mapped back to the rows by the codes.
    """
    vals = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(vals, skipna=True) not in {"string", "empty"}:
        # numbers, bytes, lists...: their text, as str() writes it (1 and 1.0 differ)
        na = pd.isna(vals) if vals.size else np.zeros(0, dtype=bool)
        vals = np.array([None if m else str(v) for v, m in zip(vals, na)], dtype=object)
    codes, uniques = pd.factorize(vals, use_na_sentinel=True)
    texts = [str(u).strip() for u in uniques]
    if codes.size and codes.min() < 0:  # None/NaN cells are empty text
        codes = np.where(codes < 0, len(texts), codes)
        texts.append("")
    # distinct raw values may strip to the same text: merge them
    merged, remap = pd.factorize(np.array(texts, dtype=object))
    return merged[codes], [str(t) for t in remap]


def _type_column(
    column: pd.Series,
    col: Any,
    want: str | None,
    path: str | os.PathLike[str] | None,
    line_of_row: Sequence[int] | None,
) -> Any:
    codes, texts = _distinct_text(column)
    lower = [t.lower() for t in texts]
    na = np.array([t in NA_TOKENS or bool(_MISSING_RE.match(t)) for t in lower], dtype=bool)
    values = np.array(texts, dtype=object)
    values[na] = np.nan
    num = pd.to_numeric(values, errors="coerce")
    num_na = pd.isna(num)
    bad = ~na & num_na
    # "unknown"-like tokens are missing only in an otherwise numeric column
    soft = np.array([t in _NUMERIC_ONLY_NA for t in lower], dtype=bool) & bad
    if want == "categorical":
        is_num = False
    elif want == "numeric":
        hard = bad & ~soft
        if hard.any():
            i = int(np.flatnonzero(hard[codes])[0])
            line = None if line_of_row is None else int(line_of_row[i])
            raise DataValueError(
                f"column {col!r} is declared numeric by '#q2:types' but holds "
                f"{values[codes[i]]!r}",
                path=path,
                line=line,
                column=str(col),
                fix="correct the value, leave the cell empty, or declare the column categorical",
            )
        is_num = True
    else:
        is_num = bool((~na).any()) and not bool((bad & ~soft).any())
    if not is_num:
        return pd.Categorical(values[codes])
    vals = np.asarray(num, dtype=np.float64).copy()
    vals[soft] = np.nan
    if (
        want != "numeric"
        and codes.size > 0
        and all(_INT_FULL.fullmatch(t) for t in texts)
        and bool((np.abs(vals) < 2**53).all())
    ):
        return vals.astype(np.int64)[codes]
    return vals[codes]


def _unique_or_error(ids: list[str], lines: list[int], path: Path, id_name: str) -> None:
    seen: dict[str, int] = {}
    dups: list[tuple[str, int, int]] = []
    for sid, ln in zip(ids, lines):
        if sid in seen:
            dups.append((sid, seen[sid], ln))
        else:
            seen[sid] = ln
    if dups:
        sid, first, second = dups[0]
        more = f" (and {len(dups) - 1} more duplicates)" if len(dups) > 1 else ""
        raise InputFormatError(
            f"duplicate sample id {sid!r} on lines {first} and {second}{more} "
            f"in column {id_name!r}",
            path=path,
            line=second,
            fix="make every sample id unique (each row is one sample)",
        )


# --------------------------------------------------------------------------- reader
def read_metadata(
    path: str | os.PathLike[str], *, id_column: str | None = None, sheet: str | int | None = None
) -> pd.DataFrame:
    """Read sample metadata (QIIME 2 metadata TSV, CSV/TSV, ``.xlsx``) into a typed frame.

    Parameters
    ----------
    path
        The metadata file (``.tsv``, ``.txt``, ``.csv``, optionally gzipped, or ``.xlsx``).
    id_column
        Column holding the sample ids; by default the first column (QIIME 2 rule).
    sheet
        Excel sheet name or number (default: the first sheet).

    Returns
    -------
    pandas.DataFrame
        Index = sample id (whitespace-stripped, named ``sample_id``); columns typed as
        described in the module docstring.  ``attrs`` holds ``path``, ``id_column`` and
        the declared ``q2_types``.

    Raises
    ------
    DataValueError
        Empty file, or a ``#q2:types``-numeric column holding text.
    InputFormatError
        Duplicate ids, missing id column, ragged rows, unreadable file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gutbrain as gb
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sample-metadata.tsv"
    >>> _ = path.write_text("sample-id\\tPain\\n#q2:types\\tnumeric\\nS1\\t3\\nS2\\t7\\n")
    >>> md = gb.io.read_metadata(path)
    >>> md["Pain"].dtype, list(md.index)
    (dtype('float64'), ['S1', 'S2'])

    """
    p = Path(path)
    rows, lines = _read_rows(p, sheet)
    return _rows_to_frame(rows, lines, p, id_column)


def _read_rows(p: Path, sheet: str | int | None = None) -> tuple[list[list[str]], list[int]]:
    """The file's rows as text cells and their line numbers (Excel sheet or delimited text)."""
    if not p.is_file():
        raise InputFormatError(
            "file not found" if not p.exists() else "not a file",
            path=p,
            fix="check the path of the metadata file",
        )
    if p.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        return _excel_rows(p, sheet)
    return _text_rows(p)


def _excel_rows(path: Path, sheet: str | int | None) -> tuple[list[list[str]], list[int]]:
    _guard.check_xlsx(path)
    try:
        df = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None, dtype=str)
    except Exception as exc:  # openpyxl raises many types
        raise InputFormatError(
            f"cannot read the Excel file ({type(exc).__name__}: {exc})",
            path=path,
            fix="save the sheet as .xlsx or export it as TSV",
        ) from None
    df = df.fillna("")
    rows = [[str(c) for c in r] for r in df.to_numpy().tolist()]
    return rows, list(range(1, len(rows) + 1))


def _text_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    text = _read_text(path)
    # the delimiter is sniffed from the first line that is neither empty nor a plain comment
    raw_lines = text.splitlines()
    header_line = ""
    for line in raw_lines:
        if not line.strip():
            continue
        if line.startswith("#"):
            first = re.split(r"[\t,;]", line, maxsplit=1)[0].strip().lower()
            if first not in ID_HEADERS:
                continue
        header_line = line
        break
    delim = _sniff_delimiter(header_line, path)
    reader = csv.reader(io.StringIO(text), delimiter=delim, quotechar='"')
    rows: list[list[str]] = []
    lines: list[int] = []
    max_columns = _guard.get_limits().max_columns
    try:
        for row in reader:
            if len(row) > max_columns:
                _guard.check_columns(len(row), label=path, line=reader.line_num)
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputFormatError(
            f"cannot parse the file ({exc})",
            path=path,
            line=reader.line_num,
            fix="check for an unclosed double quote",
        ) from None
    return rows, lines


def _rows_to_frame(
    rows: list[list[str]], lines: list[int], path: Path, id_column: str | None
) -> pd.DataFrame:
    header: list[str] | None = None
    header_line = 0
    declared_raw: list[str] | None = None
    body: list[list[str]] = []
    body_lines: list[int] = []
    for row, ln in zip(rows, lines):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        first = cells[0]
        if header is None:
            if first.startswith("#") and first.lower() not in ID_HEADERS:
                continue  # comment before the header
            header = cells
            header_line = ln
            continue
        if first.lower() == "#q2:types":
            declared_raw = cells[1:]
            continue
        if first.startswith("#"):
            continue  # comment or other directive (#q2:columns)
        body.append(cells)
        body_lines.append(ln)
    if header is None:
        raise DataValueError(
            "the metadata file is empty (no header line)",
            path=path,
            fix="provide a table whose first line names the id column and the metadata columns",
        )
    # trailing empty header cells (Excel exports) are dropped
    while len(header) > 1 and header[-1] == "":
        header.pop()
    if body and all(len(c) == len(header) + 1 for c in body) and any(c[-1] for c in body):
        # R-style header (write.table with row names): one name fewer than cells,
        # the unnamed first column holds the sample ids
        header = ["", *header]
    ncol = len(header)
    if len(set(header)) != ncol:
        dup = next(h for h in header if header.count(h) > 1)
        raise InputFormatError(
            f"duplicate column name {dup!r}",
            path=path,
            line=header_line,
            fix="give every metadata column a unique name",
        )
    for cells, ln in zip(body, body_lines):
        if len(cells) > ncol:
            if any(cells[ncol:]):
                raise InputFormatError(
                    f"row has {len(cells)} cells but the header has {ncol}",
                    path=path,
                    line=ln,
                    fix="check the delimiter and that every row has one cell per column",
                )
            del cells[ncol:]
        elif len(cells) < ncol:
            cells.extend([""] * (ncol - len(cells)))
    if not body:
        raise DataValueError(
            "the metadata file has a header but no sample rows",
            path=path,
            line=header_line,
            fix="add one row per sample below the header",
        )
    frame = pd.DataFrame(body, columns=header, dtype=object)
    # the id column
    if id_column is not None:
        if id_column not in header:
            raise InputFormatError(
                f"no column named {id_column!r}; columns are {header[:8]}",
                path=path,
                line=header_line,
                fix="pass one of the listed column names as id_column",
            )
        id_name = id_column
    elif header[0].lower() in ID_HEADERS or header[0] == "":
        id_name = header[0]
    else:
        ids0 = frame[header[0]].tolist()
        if all(ids0) and len(set(ids0)) == len(ids0):
            id_name = header[0]
        else:
            known = sorted(ID_HEADERS)
            raise InputFormatError(
                f"no sample id column: the first column {header[0]!r} is not an id name "
                "and its values are not unique",
                path=path,
                line=header_line,
                fix=f"name the first column one of {', '.join(known[:8])}, ... "
                "(QIIME 2 rule) or pass id_column=",
            )
    ids = frame[id_name].tolist()
    missing = [i for i, v in enumerate(ids) if v == ""]
    if missing:
        raise InputFormatError(
            f"empty sample id in column {id_name!r}",
            path=path,
            line=body_lines[missing[0]],
            fix="give every row a sample id or delete the row",
        )
    _unique_or_error(ids, body_lines, path, id_name)
    declared: dict[str, str] = {}
    if declared_raw is not None:
        for col, t in zip(header[1:], declared_raw):
            t = t.strip().lower()
            if t == "":
                continue
            if t not in _Q2_TYPES:
                raise InputFormatError(
                    f"unknown column type {t!r} for column {col!r} in the '#q2:types' row",
                    path=path,
                    column=col,
                    fix="use 'categorical' or 'numeric'",
                )
            declared[col] = t
        if id_column is not None and id_name != header[0]:
            declared.pop(id_name, None)
    value_cols = [c for c in header if c != id_name]
    cells = frame[value_cols]
    cells.index = pd.Index(ids, name="sample_id")
    typed = type_columns(cells, declared=declared, path=path, line_of_row=body_lines)
    typed.index.name = "sample_id"
    typed.attrs = {"path": str(path), "id_column": id_name, "q2_types": declared}
    return typed


# --------------------------------------------------------------------------- attach
def _examples(ids: Sequence[str], n: int = 3) -> str:
    return ", ".join(repr(str(i)) for i in list(ids)[:n])


def _mismatch_hint(table_ids: pd.Index, var_ids: pd.Index, meta: pd.DataFrame) -> str:
    meta_ids = set(meta.index.astype(str))
    if meta_ids & set(var_ids.astype(str)):
        return (
            "the table may be transposed (the metadata ids match the table's feature ids); "
            "read it with the samples as columns, e.g. gb.io.read_table(..., orientation=...)"
        )
    tset = set(table_ids)
    for col in meta.columns:
        vals = set(meta[col].dropna().astype(str).str.strip())
        if vals & tset:
            return (
                f"the metadata column {col!r} holds the table's sample ids; "
                f"read the metadata with id_column={col!r} or make it the first column"
            )
    low = {str(i).lower() for i in meta_ids}
    if {t.lower() for t in tset} & low:
        return "the ids differ only in upper/lower case; make them identical"
    return (
        "make the first column of the metadata hold the table's sample ids "
        "(or pass the metadata that belongs to this table)"
    )


def attach_metadata(
    adata: AnnData,
    metadata: pd.DataFrame | str | os.PathLike[str],
    *,
    path: str | os.PathLike[str] | None = None,
    how: str = "inner",
) -> AnnData:
    """Join sample metadata onto ``adata.obs`` by sample id.

    Parameters
    ----------
    adata
        Samples × features table.
    metadata
        A frame indexed by sample id (:func:`read_metadata`) or the path of a metadata file.
    path
        The metadata file (for messages and provenance) when ``metadata`` is a frame.
    how
        ``"inner"`` keeps the table samples found in the metadata (the count dropped is
        recorded in ``uns["gutbrain"]["params"]``); ``"left"`` keeps every table sample
        (missing metadata become NaN).

    Returns
    -------
    AnnData
        A new object (fewer samples with ``how="inner"``); metadata columns replace
        existing ``obs`` columns of the same name.

    Raises
    ------
    MetadataMismatchError
        When no table sample is found in the metadata; the message shows example ids
        from both sides and the likely fix (e.g. a transposed table).
    """
    if how not in {"inner", "left"}:
        raise GutbrainError(f"how must be 'inner' or 'left', not {how!r}", fix="pass how='inner'")
    if isinstance(metadata, pd.DataFrame):
        meta = metadata.copy()
        if path is None and meta.attrs.get("path"):
            path = meta.attrs["path"]
    else:
        path = metadata if path is None else path
        meta = read_metadata(metadata)
    label = "the metadata" if path is None else os.fspath(path)
    meta.index = pd.Index([str(i).strip() for i in meta.index], name=meta.index.name)
    if meta.index.has_duplicates:
        dup = meta.index[meta.index.duplicated()][0]
        raise MetadataMismatchError(
            f"duplicate sample id {dup!r} in the metadata",
            path=path,
            fix="make every sample id unique",
        )
    table_ids = pd.Index([str(i).strip() for i in adata.obs_names])
    present = table_ids.isin(meta.index)
    n_found = int(present.sum())
    if n_found == 0:
        raise MetadataMismatchError(
            f"none of the table's {len(table_ids)} sample ids is in {label}'s "
            f"{len(meta)} ids (table: {_examples(table_ids)}; metadata: {_examples(meta.index)})",
            path=path,
            fix=_mismatch_hint(table_ids, pd.Index(adata.var_names), meta),
        )
    n_dropped = len(table_ids) - n_found
    n_unused = int((~meta.index.isin(table_ids)).sum())
    if n_dropped:
        warnings.warn(
            f"{label}: {n_dropped} of {len(table_ids)} table samples have no metadata"
            + (" and are dropped (how='inner')" if how == "inner" else " (kept, how='left')"),
            DataWarning,
            stacklevel=2,
        )
    out = adata[present].copy() if how == "inner" else adata.copy()
    ids = table_ids[present] if how == "inner" else table_ids
    joined = meta.reindex(ids)
    obs = out.obs.copy()
    obs.index = ids
    for col in joined.columns:
        obs[col] = (
            joined[col].to_numpy()
            if not isinstance(joined[col].dtype, pd.CategoricalDtype)
            else joined[col].array
        )
    obs.index = out.obs_names
    out.obs = obs
    prov = provenance(out)
    params = dict(prov.get("params", {}))
    params.update(
        {
            "metadata_how": how,
            "metadata_samples_dropped": n_dropped if how == "inner" else 0,
            "metadata_samples_without_metadata": n_dropped,
            "metadata_rows_unused": n_unused,
        }
    )
    prov["params"] = params
    if path is not None:
        add_input(out, "metadata", path, "metadata-tsv")
    return out
