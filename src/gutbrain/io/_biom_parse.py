"""BIOM decoding: file bytes → ``_BiomParts`` → a samples × features AnnData.

The format work behind :func:`gutbrain.io.read_biom` (see :mod:`gutbrain.io._biom` for the
layout notes and the spec).  It imports no other reader, so :mod:`gutbrain.io._qiime2`
(BIOM inside a ``.qza``) and :mod:`gutbrain.io._write` use it without an import cycle through
``read_biom``'s ``taxonomy=`` option (which needs :mod:`gutbrain.io._tables`).
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import SPARSE_DENSITY, new_adata
from .._errors import DataValueError, GutbrainError, InputFormatError
from ..taxonomy._keys import lineage_frame
from . import _guard
from ._metadata import type_columns

#: Observation-metadata keys holding a lineage (a list of ranks or a string).
TAXONOMY_KEYS: tuple[str, ...] = ("taxonomy", "Taxonomy", "taxon", "Taxon", "lineage")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class _BiomParts:
    """A parsed BIOM table, already samples × features."""

    X: sp.csr_matrix
    sample_ids: list[str]
    feature_ids: list[str]
    fmt: str
    table_type: str = ""
    obs_md: dict[str, list[Any]] = field(default_factory=dict)  # per feature
    sample_md: dict[str, list[Any]] = field(default_factory=dict)  # per sample


# --------------------------------------------------------------------------- helpers
def infer_unit(X: Any) -> str:
    """Guess what a samples × features matrix holds (:func:`gutbrain.io._values.guess_unit`)."""
    from ._values import guess_unit

    return guess_unit(X)[0]


def _decode(values: Any) -> list[Any]:
    out = []
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif isinstance(v, np.generic):
            v = v.item()
        out.append(v)
    return out


def _lineage_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return "; ".join([p.strip() for p in value if p and not p.isspace()])
    try:
        parts = [p.decode("utf-8") if isinstance(p, bytes) else str(p) for p in value]
    except TypeError:
        return str(value)
    return "; ".join(p.strip() for p in parts if p is not None and str(p).strip() != "")


def _lineage_texts(values: list[Any]) -> list[str]:
    """:func:`_lineage_text` of each value; a lineage list repeated across features is joined once."""
    cache: dict[Any, str] = {}
    out: list[str] = []
    for v in values:
        key: Any = v
        if type(v) is list:
            try:
                "".join(v)  # a list of str only (TypeError otherwise): tuple equality is then exact
            except TypeError:
                out.append(_lineage_text(v))
                continue
            key = tuple(v)
        elif type(v) is not str:
            out.append(_lineage_text(v))
            continue
        text = cache.get(key)
        if text is None:
            text = cache[key] = _lineage_text(v)
        out.append(text)
    return out


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (list, tuple, np.ndarray)):
        return _lineage_text(value)
    if isinstance(value, float) and np.isnan(value):
        return ""
    return str(value)


def _check_ids(ids: list[str], what: str, label: str) -> None:
    idx = pd.Index(ids)
    if idx.has_duplicates:
        dups = idx[idx.duplicated()].unique()
        raise InputFormatError(
            f"duplicate {what} id {dups[0]!r} ({len(dups)} duplicated {what} ids)",
            path=label,
            fix=f"make every {what} id unique (e.g. biom's merge/collapse or re-export the table)",
        )


def _validate(parts: _BiomParts, label: str) -> None:
    X = parts.X
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataValueError(
            f"the table is empty ({X.shape[1]} features × {X.shape[0]} samples)",
            path=label,
            fix="export the table again; it must hold at least one sample and one feature",
        )
    _check_ids(parts.sample_ids, "sample", label)
    _check_ids(parts.feature_ids, "feature", label)
    data = X.data
    bad_nan = ~np.isfinite(data)
    bad_neg = data < 0
    for bad, what in ((bad_nan, "NaN or infinite"), (bad_neg, "negative")):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(X.indptr, k, side="right") - 1)
            col = int(X.indices[k])
            raise DataValueError(
                f"{int(bad.sum())} {what} value(s), first {data[k]!r} for sample "
                f"{parts.sample_ids[row]!r}, feature {parts.feature_ids[col]!r}",
                path=label,
                fix="abundance tables must hold non-negative numbers; fix or remove those entries",
            )
    _guard.check_matrix_values(X, label=label)
    if X.nnz > SPARSE_DENSITY * X.shape[0] * X.shape[1]:  # will be stored dense
        _guard.check_cells(*X.shape, label=label)
    if X.nnz == 0 or not np.any(data):
        raise DataValueError(
            f"the table holds no non-zero value ({X.shape[0]} samples × {X.shape[1]} features)",
            path=label,
            fix="check that the right table was exported",
        )


# --------------------------------------------------------------------------- parsers
_DATA_START = re.compile(rb'"data"\s*:\s*(\[)\s*\[')
_DATA_END = re.compile(rb"\]\s*\]")
_BRACKETS = bytes.maketrans(b"[]", b"  ")


_INT_TEXT = b"0123456789.,[] \t\r\n"
_AFTER_FRACTION = np.frombuffer(b",] \t\r\n", dtype=np.uint8)


def _integral_values(region: bytes) -> np.ndarray | None:
    """The numbers of a ``data`` region when all are plain integers (``7`` or ``7.0``), else None.

    Counts tables are written as ``[row, column, 7.0]``: with every ``.`` between a digit
    and a single ``0`` that ends the number, and no sign or exponent, dropping the ``.0``
    leaves integers that NumPy parses about twice as fast as floats, exactly (the values are
    below 2**53, so the float64 values equal what a float parser gives).
    """
    if region.translate(None, _INT_TEXT) or not any(d in region for d in b"0123456789"):
        return None
    bare = region.translate(None, b"[] \t\r\n")
    if b",," in bare or bare.startswith(b",") or bare.endswith(b","):  # an empty number
        return None
    if b"." in region:
        a = np.frombuffer(region, dtype=np.uint8)
        dots = np.flatnonzero(a == ord("."))
        if dots[0] == 0 or dots[-1] + 2 >= a.size:
            return None
        before = a[dots - 1]
        if not (((before >= ord("0")) & (before <= ord("9"))).all() and (a[dots + 1] == ord("0")).all()
                and np.isin(a[dots + 2], _AFTER_FRACTION).all()):
            return None
        region = region.replace(b".0", b"")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ints = np.fromstring(region.translate(_BRACKETS).decode("ascii"), dtype=np.int64, sep=",")
    except (DeprecationWarning, ValueError):
        return None
    if ints.size and int(ints.max()) >= 2**53:  # too large to be exact (or clamped on overflow)
        return None
    return ints.astype(np.float64)


def _split_json_data(raw: bytes) -> tuple[bytes, np.ndarray] | None:
    """Cut the numeric ``"data"`` array out of BIOM JSON and parse it in C.

    The ``data`` array holds only numbers, commas and one level of nested brackets, so
    its text runs from ``"data": [[`` to the first ``]]``.  The rest of the document
    (ids and metadata) is small and goes through :func:`json.loads`.  Returns ``None``
    when the shortcut does not apply (the caller then parses the whole document).
    """
    m = _DATA_START.search(raw)
    if m is None:
        return None
    start = m.start(1)
    e = _DATA_END.search(raw, m.end())
    if e is None:
        return None
    rest = raw[:start] + b"[]" + raw[e.end() :]
    flat = _integral_values(raw[start : e.end()])
    if flat is not None:
        return rest, flat
    region = raw[start : e.end()].translate(_BRACKETS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            flat = np.fromstring(region.decode("ascii"), sep=",")
    except (DeprecationWarning, ValueError, UnicodeDecodeError):
        return None
    return rest, flat


def _parse_json(raw: bytes, label: str) -> _BiomParts:
    flat: np.ndarray | None = None
    fast = _split_json_data(raw)
    _guard.check_json_depth(raw if fast is None else fast[0], label=label)
    try:
        if fast is not None:
            try:
                doc = json.loads(fast[0])
            except json.JSONDecodeError:
                doc = None
            if isinstance(doc, dict) and doc.get("data") == []:
                flat = fast[1]
            else:  # the shortcut cut something else: parse everything
                doc = json.loads(raw)
        else:
            doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputFormatError(
            f"invalid or truncated BIOM JSON ({exc.msg})",
            path=label,
            line=exc.lineno,
            column=exc.colno,
            fix="re-download or re-export the table (e.g. `biom convert --to-hdf5`)",
        ) from None
    except RecursionError:
        raise InputFormatError(
            "JSON nested too deeply to parse", path=label, fix="pass a BIOM 1.0 JSON table"
        ) from None
    except UnicodeDecodeError:
        raise InputFormatError(
            "not a BIOM file (not text, not HDF5)",
            path=label,
            fix="pass a BIOM 1.0 JSON or BIOM 2.1 HDF5 file",
        ) from None
    if not isinstance(doc, dict) or not {"rows", "columns", "data"} <= set(doc):
        raise InputFormatError(
            "JSON file is not a BIOM table (needs 'rows', 'columns' and 'data')",
            path=label,
            fix="pass a BIOM 1.0 JSON table",
        )
    try:
        rows = doc["rows"]
        cols = doc["columns"]
        feature_ids = [str(r["id"]) for r in rows]
        sample_ids = [str(c["id"]) for c in cols]
        n_obs, n_samp = len(feature_ids), len(sample_ids)
        shape = doc.get("shape", [n_obs, n_samp])
        if [int(shape[0]), int(shape[1])] != [n_obs, n_samp]:
            raise InputFormatError(
                f"'shape' {shape} disagrees with {n_obs} rows and {n_samp} columns",
                path=label,
                fix="re-export the table",
            )
        if doc.get("matrix_type", "sparse") == "dense":
            _guard.check_cells(n_samp, n_obs, label=label)
            values = doc["data"] if flat is None else flat
            dense = np.asarray(values, dtype=np.float64).reshape(n_obs, n_samp)
            X = sp.csr_matrix(dense.T)
        else:
            if flat is None:
                data = doc["data"]
                flat = np.fromiter(chain.from_iterable(data), dtype=np.float64, count=3 * len(data))
            if flat.size % 3:
                raise ValueError("sparse 'data' entries must be [row, column, value] triplets")
            trip = flat.reshape(-1, 3)
            n = trip.shape[0]
            r = trip[:, 0].astype(np.int64)
            c = trip[:, 1].astype(np.int64)
            if n and (r.min() < 0 or c.min() < 0 or r.max() >= n_obs or c.max() >= n_samp):
                raise InputFormatError(
                    "a [row, column, value] entry points outside the table's shape",
                    path=label,
                    fix="re-export the table",
                )
            X = sp.coo_matrix((trip[:, 2], (c, r)), shape=(n_samp, n_obs)).tocsr()
    except InputFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputFormatError(
            f"malformed BIOM JSON ({type(exc).__name__}: {exc})",
            path=label,
            fix="re-export the table with biom-format",
        ) from None
    obs_md = _collect_md([r.get("metadata") for r in rows])
    sample_md = _collect_md([c.get("metadata") for c in cols])
    return _BiomParts(
        X=X,
        sample_ids=sample_ids,
        feature_ids=feature_ids,
        fmt="biom-1.0-json",
        table_type=str(doc.get("type") or ""),
        obs_md=obs_md,
        sample_md=sample_md,
    )


def _collect_md(entries: list[Any]) -> dict[str, list[Any]]:
    keys: list[str] = []
    for md in entries:
        if isinstance(md, dict):
            for k in md:
                if k not in keys:
                    keys.append(k)
    return {k: [md.get(k) if isinstance(md, dict) else None for md in entries] for k in keys}


def _h5_strings(ds: Any) -> list[Any]:
    if ds.dtype.kind in ("S", "O", "U"):
        try:
            return ds.asstr()[()].tolist()  # 2-D (taxonomy) → list of lists of str
        except (TypeError, ValueError, UnicodeDecodeError):
            if ds.ndim == 2:
                return [_decode(row) for row in ds[()]]
            return _decode(ds[()])
    return list(np.asarray(ds[()]).tolist())


def _parse_hdf5(source: str | os.PathLike[str] | IO[bytes], label: str) -> _BiomParts:
    import h5py

    # libhdf5 can crash on corrupt metadata: walk the file in a child process first
    _guard.preflight_hdf5(source.getvalue() if isinstance(source, io.BytesIO) else source,
                          label=label)
    try:
        fh = h5py.File(source, "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputFormatError(
            f"cannot open the HDF5 file ({exc})",
            path=label,
            fix="re-download the file; it may be truncated",
        ) from None
    with fh:
        _guard.check_hdf5(fh, label=label)
        if not {"observation", "sample"} <= set(fh.keys()):
            raise InputFormatError(
                f"HDF5 file is not a BIOM table (groups {sorted(fh.keys())[:5]}, "
                "expected 'observation' and 'sample')",
                path=label,
                fix="pass a BIOM 2.1 HDF5 table (e.g. from `biom convert --to-hdf5`)",
            )
        try:
            version = fh.attrs.get("format-version")
            read = partial(_guard.read_dataset, label=label)
            feature_ids = [str(v) for v in _decode(read(fh["observation/ids"]))]
            sample_ids = [str(v) for v in _decode(read(fh["sample/ids"]))]
            n_obs, n_samp = len(feature_ids), len(sample_ids)
            if "sample/matrix" in fh and "indptr" in fh["sample/matrix"]:
                g, layout = fh["sample/matrix"], "csr"
            else:
                g, layout = fh["observation/matrix"], "csc"
            # index bounds are checked in NumPy before SciPy's compiled code sees them
            arrays = _guard.check_sparse_parts(
                read(g["data"]), read(g["indices"]), read(g["indptr"]), (n_samp, n_obs),
                label=label, layout=layout,
            )
            matrix = sp.csr_matrix if layout == "csr" else sp.csc_matrix
            X = matrix(arrays, shape=(n_samp, n_obs)).tocsr()
            obs_md: dict[str, list[Any]] = {}
            sample_md: dict[str, list[Any]] = {}
            for axis, target in (("observation", obs_md), ("sample", sample_md)):
                grp = fh.get(f"{axis}/metadata")
                if grp is None:
                    continue
                for name in grp:
                    target[name.replace("@@SLASH@@", "/")] = _h5_strings(grp[name])
            table_type = _decode([fh.attrs.get("type", b"")])[0]
        except GutbrainError:
            raise
        except (KeyError, ValueError, TypeError, OSError, RuntimeError, AttributeError) as exc:
            raise InputFormatError(
                f"malformed BIOM HDF5 table ({type(exc).__name__}: {exc})",
                path=label,
                fix="re-export the table with biom-format (BIOM 2.1)",
            ) from None
    X.sort_indices()
    try:
        vtxt = ".".join(str(int(v)) for v in version) if version is not None else "2.1"
    except (TypeError, ValueError):
        vtxt = "2.1"
    return _BiomParts(
        X=X,
        sample_ids=sample_ids,
        feature_ids=feature_ids,
        fmt=f"biom-{vtxt}-hdf5",
        table_type=str(table_type or ""),
        obs_md=obs_md,
        sample_md=sample_md,
    )


def _parse_tsv(path: Path, label: str) -> _BiomParts:
    import biom

    try:
        table = biom.load_table(str(path))
    except Exception as exc:  # biom raises TypeError/ValueError/... on junk
        raise InputFormatError(
            f"not a BIOM table ({type(exc).__name__}: {exc})",
            path=label,
            fix="pass a BIOM 1.0 JSON, BIOM 2.1 HDF5 or classic BIOM TSV file",
        ) from None
    X = sp.csr_matrix(table.matrix_data.T, dtype=np.float64)
    obs_md: dict[str, list[Any]] = {}
    md = table.metadata(axis="observation")
    if md is not None:
        obs_md = _collect_md([dict(m) if m is not None else None for m in md])
    return _BiomParts(
        X=X,
        sample_ids=[str(s) for s in table.ids("sample")],
        feature_ids=[str(s) for s in table.ids("observation")],
        fmt="biom-tsv",
        table_type=str(table.type or ""),
        obs_md=obs_md,
    )


def _parse_bytes(raw: bytes, label: str) -> _BiomParts:
    """Parse BIOM content held in memory (used for files inside QIIME 2 archives)."""
    raw = _guard.decompress_bytes(raw, label=label)
    if raw[:8] == _HDF5_MAGIC:
        return _parse_hdf5(io.BytesIO(raw), label)
    return _parse_json(raw, label)


def parse_biom_file(path: str | os.PathLike[str]) -> _BiomParts:
    """Parse a BIOM file of any supported flavour into samples × features parts."""
    p = Path(path)
    label = str(path)
    if not p.is_file():
        raise InputFormatError("file not found", path=label, fix="check the path of the table")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head[:8] == _HDF5_MAGIC:
        return _parse_hdf5(p, label)
    raw = _guard.read_bytes(p, label=label)  # decompressed (gzip/bz2/xz) within the limits
    if raw[:8] == _HDF5_MAGIC:
        return _parse_hdf5(io.BytesIO(raw), label)
    stripped = raw.lstrip()
    if not stripped:
        raise DataValueError("the file is empty", path=label, fix="export the table again")
    if stripped[:1] in (b"{", b"["):
        return _parse_json(raw, label)
    return _parse_tsv(p, label)


# --------------------------------------------------------------------------- to AnnData
def parts_to_adata(
    parts: _BiomParts,
    *,
    label: str,
    reader: str,
    inputs: dict[str, tuple[str | os.PathLike[str], str]],
    params: dict[str, Any],
    unit: str | None = None,
) -> AnnData:
    """Validate parsed BIOM parts and build the gutbrain AnnData."""
    parts.X.eliminate_zeros()
    parts.X.sort_indices()
    _validate(parts, label)
    var = pd.DataFrame(index=pd.Index(parts.feature_ids))
    var.insert(0, "feature_id", parts.feature_ids)
    obs_md = dict(parts.obs_md)
    tax_key = next((k for k in TAXONOMY_KEYS if k in obs_md), None)
    if tax_key is not None:
        lineages = _lineage_texts(obs_md.pop(tax_key))
        ranks = lineage_frame(lineages, index=parts.feature_ids)
        for col in ranks.columns:
            var[col] = ranks[col].to_numpy()
    extra_var = _typed_md(obs_md, parts.feature_ids, exclude=set(var.columns))
    for col in extra_var.columns:
        var[col] = (
            extra_var[col].to_numpy()
            if not isinstance(extra_var[col].dtype, pd.CategoricalDtype)
            else extra_var[col].array
        )
    obs = _typed_md(parts.sample_md, parts.sample_ids, exclude=set())
    p = dict(params)
    if parts.fmt.startswith("biom"):
        p["biom_format"] = parts.fmt
    if parts.table_type:
        p["biom_type"] = parts.table_type
    return new_adata(
        parts.X,
        obs_names=parts.sample_ids,
        var_names=parts.feature_ids,
        unit=unit or infer_unit(parts.X),
        reader=reader,
        var=var,
        obs=obs,
        inputs=inputs,
        params=p,
    )


def _typed_md(md: dict[str, list[Any]], ids: list[str], *, exclude: set[str]) -> pd.DataFrame:
    cols = {k: [_cell_text(v) for v in vals] for k, vals in md.items() if k not in exclude}
    if not cols:
        return pd.DataFrame(index=pd.Index(ids))
    cells = pd.DataFrame(cols, index=pd.Index(ids), dtype=object)
    return type_columns(cells)
