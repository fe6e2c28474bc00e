"""Writers (h5ad, BIOM 2.1 HDF5, TSV, parquet) and the h5ad / parquet readers.

Every file is written to a temporary file beside the target and renamed onto it when
complete (:func:`gutbrain._utils.atomic_path`), so nothing is ever left half-written.

Formats
-------
``.h5ad``
    The complete record (all slots and ``uns["gutbrain"]`` provenance).
``.biom``
    BIOM 2.1 HDF5 (features × samples).  Taxonomy is observation metadata ``taxonomy``, a
    list of rank-prefixed names (``d__``/``k__``, ``p__`` … ``s__``, ``t__``); sample
    metadata (``obs``) is stored as strings (missing → empty string).
``.tsv`` / ``.txt``
    Tab-separated, one feature per row::

        feature_id<TAB>taxonomy<TAB><sample 1><TAB><sample 2> ...

    The ``taxonomy`` column is present only when the features have a taxonomy; it holds a
    lineage string that parses back (:func:`gutbrain._taxonomy.parse_lineage`) to exactly the
    ``var`` rank columns.  Values are written as integers when all are integral, otherwise
    in shortest round-trip float form, so reading back is lossless.
``.parquet``
    The same columns as the TSV (``feature_id``, optional ``taxonomy``, one column per
    sample), int64 or float64; the provenance JSON is also kept in the schema metadata
    under the key ``gutbrain``.  :func:`read_parquet` reads it back.

TSV, parquet and BIOM cannot hold ``uns``: each is accompanied by a sidecar
``<path>.provenance.json`` (gutbrain version, inputs with sha256, parameters, unit).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import RANKS, UNITS, get_unit, new_adata, provenance
from .._errors import DataValueError, GutbrainError, InputFormatError
from .._utils import atomic_path, atomic_write, escape_formula
from .._version import __version__
from ..taxonomy._keys import lineage_frame
from . import _guard
from ._biom_parse import infer_unit
from ._h5ad_write import write_h5ad_file

__all__ = [
    "WRITERS",
    "read_h5ad",
    "read_parquet",
    "write",
    "write_biom",
    "write_h5ad",
    "write_parquet",
    "write_tsv",
]

_PREFIX = {
    "domain": "d__",
    "phylum": "p__",
    "class": "c__",
    "order": "o__",
    "family": "f__",
    "genus": "g__",
    "species": "s__",
    "strain": "t__",
}
_RESERVED = ("feature_id", "taxonomy")
_CHUNK_CELLS = 4_000_000  # cells densified at a time when writing TSV/parquet


# --------------------------------------------------------------------------- helpers
def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="list")
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _provenance_record(adata: AnnData, path: Path, fmt: str, layer: str | None) -> dict[str, Any]:
    prov = provenance(adata)
    return {
        "gutbrain_version": __version__,
        "file": path.name,
        "format": fmt,
        "layer": layer,
        "unit": get_unit(adata, layer),
        "n_samples": int(adata.n_obs),
        "n_features": int(adata.n_vars),
        "provenance": _jsonable(dict(prov)),
    }


def _write_sidecar(record: dict[str, Any], path: Path) -> Path:
    side = path.with_name(path.name + ".provenance.json")
    with atomic_write(side) as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return side


def _matrix(adata: AnnData, layer: str | None) -> Any:
    if layer is not None and layer not in adata.layers:
        raise GutbrainError(
            f"no layer {layer!r}; layers are {list(adata.layers)}",
            fix="pass one of the listed layers or layer=None for X",
        )
    M = adata.X if layer is None else adata.layers[layer]
    if sp.issparse(M):
        return sp.csr_matrix(M, dtype=np.float64)
    return np.asarray(M, dtype=np.float64)


def _is_integral(M: Any) -> bool:
    data = M.data if sp.issparse(M) else M
    return bool(np.all(np.isfinite(data)) and np.all(data == np.round(data)))


def _has_taxonomy(var: pd.DataFrame) -> bool:
    rank_cols = [r for r in RANKS if r in var.columns]
    if rank_cols and (var[rank_cols].astype(str) != "").to_numpy().any():
        return True
    return "taxonomy" in var.columns and bool((var["taxonomy"].astype(str) != "").any())


def _rank_frame(var: pd.DataFrame) -> pd.DataFrame:
    cols = {}
    for r in RANKS:
        if r in var.columns:
            cols[r] = var[r].astype(object).where(var[r].notna(), "").astype(str).to_numpy()
        else:
            cols[r] = np.full(len(var), "", dtype=object)
    return pd.DataFrame(cols, index=var.index)


def _lineages(var: pd.DataFrame) -> list[str]:
    """One lineage string per feature that parses back to exactly the ``var`` ranks.

    The original ``taxonomy`` string is kept when it parses to the current ranks; otherwise
    (ranks edited after reading, or no original string) a prefixed lineage is built.
    """
    ranks = _rank_frame(var)
    if "taxonomy" not in var.columns:
        return _built_lineages(ranks)
    orig = var["taxonomy"].astype(object).where(var["taxonomy"].notna(), "").astype(str).tolist()
    parsed = lineage_frame(orig, index=var.index)
    same = (parsed[list(RANKS)].to_numpy() == ranks.to_numpy()).all(axis=1)
    if same.all():
        return orig
    out = list(orig)
    redo = np.flatnonzero(~same)
    for i, text in zip(redo, _built_lineages(ranks.iloc[redo])):
        out[i] = text
    return out


def _built_lineages(ranks: pd.DataFrame) -> list[str]:
    values = ranks.to_numpy()
    out = []
    for row in values:
        nonempty = [i for i, v in enumerate(row) if v]
        if not nonempty:
            out.append("")
            continue
        last = nonempty[-1]
        out.append("; ".join(f"{_PREFIX[RANKS[i]]}{row[i]}" for i in range(last + 1)))
    return out


def _check_ids(adata: AnnData) -> None:
    clash = [s for s in adata.obs_names if s in _RESERVED]
    if clash:
        raise GutbrainError(
            f"sample id {clash[0]!r} clashes with a reserved column name of the table layout",
            fix="rename the sample (adata.obs_names) before writing a TSV/parquet table",
        )


def _table_columns(
    adata: AnnData, layer: str | None
) -> tuple[Any, bool, list[str] | None, list[str], list[str]]:
    """What a TSV/parquet table is built from.

    Returns the matrix, whether every value is integral, the lineage strings (``None``
    when the features have no taxonomy), the feature ids and the sample ids.
    """
    _check_ids(adata)
    M = _matrix(adata, layer)
    lineages = _lineages(adata.var) if _has_taxonomy(adata.var) else None
    return M, _is_integral(M), lineages, [str(f) for f in adata.var_names], [str(s) for s in adata.obs_names]


def _feature_blocks(M: Any, integral: bool) -> Any:
    """Yield (start, dense features × samples block) chunks."""
    Mt = M.T.tocsr() if sp.issparse(M) else np.ascontiguousarray(M.T)
    n_feat, n_samp = Mt.shape
    step = max(1, _CHUNK_CELLS // max(1, n_samp))
    for start in range(0, n_feat, step):
        block = Mt[start : start + step]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        yield start, block.astype(np.int64) if integral else block


# --------------------------------------------------------------------------- h5ad
def write_h5ad(
    adata: AnnData, path: str | os.PathLike[str], *, compression: str | None = "gzip"
) -> Path:
    """Write the complete AnnData (all slots, provenance) to ``.h5ad`` atomically.

    Parameters
    ----------
    adata
        The object to write.
    path
        Target ``.h5ad`` path.
    compression
        HDF5 compression (``"gzip"``, ``"lzf"`` or ``None``), applied to the arrays where
        it pays: arrays under 64 KiB and numeric arrays that barely shrink (a probe
        deflated at level 1 keeps > 90 %) are stored unfiltered
        (:mod:`gutbrain.io._h5ad_write`); the content read back is the same.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = Path(path)
    provenance(adata)
    with atomic_path(target) as tmp:
        write_h5ad_file(adata, tmp, compression=compression)
    return target


def read_h5ad(path: str | os.PathLike[str]) -> AnnData:
    """Read an ``.h5ad`` file, checking or creating ``uns["gutbrain"]``.

    Files written by gutbrain keep their provenance; other h5ad files get a fresh record
    (unit inferred from ``X``, the file recorded as input ``table``).

    Parameters
    ----------
    path
        The ``.h5ad`` file.

    Returns
    -------
    AnnData
        With a complete ``uns["gutbrain"]`` record.

    Raises
    ------
    InputFormatError
        When the file is missing or is not an h5ad file.
    """
    import anndata as ad

    p = Path(path)
    if not p.is_file():
        raise InputFormatError("file not found", path=p, fix="check the path of the .h5ad file")
    _guard.check_h5ad(p)  # limits, X numeric, sparse index bounds: before AnnData reads it
    try:
        adata = ad.read_h5ad(p)
    except GutbrainError:
        raise
    except Exception as exc:  # h5py/anndata raise OSError, KeyError, ...
        raise InputFormatError(
            f"not a readable .h5ad file ({type(exc).__name__}: {exc})",
            path=p,
            fix="pass a file written by AnnData.write_h5ad / gutbrain.io.write_h5ad",
        ) from None
    prov = adata.uns.get("gutbrain")
    unit = prov.get("X_unit") if isinstance(prov, Mapping) else None
    _guard.check_matrix_values(
        adata.X, label=p, counts=unit == "counts" or (unit is None and infer_unit(adata.X) == "counts")
    )
    prov = adata.uns.get("gutbrain")
    if not isinstance(prov, Mapping) or "X_unit" not in prov:
        X = adata.X
        fresh = new_adata(
            X if X is not None else np.zeros(adata.shape),
            obs_names=adata.obs_names,
            var_names=adata.var_names,
            unit=infer_unit(X) if X is not None else "abundance",
            reader="read_h5ad",
            inputs={"table": (p, "h5ad")},
            params={"path": os.fspath(p)},
            sparse=sp.issparse(X),  # only the provenance is kept: never densify a large X
        )
        prov = dict(fresh.uns["gutbrain"])
    else:
        prov = dict(prov)
        for key in ("layer_units", "inputs", "params"):
            prov[key] = dict(prov.get(key) or {})
        prov["synthetic"] = bool(prov.get("synthetic", False))
        prov.setdefault("version", __version__)
        prov.setdefault("reader", "unknown")
    adata.uns["gutbrain"] = prov
    if "feature_id" not in adata.var.columns:
        adata.var.insert(0, "feature_id", list(adata.var_names))
    return adata


# --------------------------------------------------------------------------- TSV / parquet
def write_tsv(adata: AnnData, path: str | os.PathLike[str], *, layer: str | None = None) -> Path:
    """Write a features × samples TSV (``feature_id``, ``taxonomy``?, samples) atomically.

    Parameters
    ----------
    adata
        The table.
    path
        Target file; a sidecar ``<path>.provenance.json`` is written too.
    layer
        Matrix to write (default ``X``).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = Path(path)
    M, integral, lineages, ids, samples = _table_columns(adata, layer)
    # ids and names from the input are escaped for spreadsheets (OWASP CSV injection)
    feature_ids = np.asarray([escape_formula(i) for i in ids], dtype=object)
    if lineages is not None:
        lineages = [escape_formula(t) for t in lineages]
    header = ["feature_id", *(["taxonomy"] if lineages is not None else []),
              *(escape_formula(s) for s in samples)]
    with atomic_write(target) as fh:
        fh.write("\t".join(header) + "\n")
        for start, block in _feature_blocks(M, integral):
            stop = start + block.shape[0]
            frame = pd.DataFrame(block, columns=samples)
            frame.insert(0, "feature_id", feature_ids[start:stop])
            if lineages is not None:
                frame.insert(1, "taxonomy", lineages[start:stop])
            frame.to_csv(fh, sep="\t", header=False, index=False, lineterminator="\n")
    _write_sidecar(_provenance_record(adata, target, "tsv", layer), target)
    return target


def write_parquet(
    adata: AnnData, path: str | os.PathLike[str], *, layer: str | None = None
) -> Path:
    """Write a features × samples parquet table (same columns as :func:`write_tsv`).

    Parameters
    ----------
    adata
        The table.
    path
        Target file; a sidecar ``<path>.provenance.json`` is written too.
    layer
        Matrix to write (default ``X``).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    M, integral, lineages, feature_ids, samples = _table_columns(adata, layer)
    vtype = pa.int64() if integral else pa.float64()
    fields = [pa.field("feature_id", pa.string())]
    if lineages is not None:
        fields.append(pa.field("taxonomy", pa.string()))
    fields += [pa.field(s, vtype) for s in samples]
    record = _provenance_record(adata, target, "parquet", layer)
    schema = pa.schema(fields, metadata={b"gutbrain": json.dumps(record).encode("utf-8")})
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start, block in _feature_blocks(M, integral):
            stop = start + block.shape[0]
            arrays = [pa.array(feature_ids[start:stop], type=pa.string())]
            if lineages is not None:
                arrays.append(pa.array(lineages[start:stop], type=pa.string()))
            arrays += [pa.array(block[:, j], type=vtype) for j in range(block.shape[1])]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    _write_sidecar(record, target)
    return target


def read_parquet(path: str | os.PathLike[str]) -> AnnData:
    """Read a table written by :func:`write_parquet` (features as rows) back into AnnData.

    The unit is taken from the provenance kept in the file's schema metadata (else
    inferred); the original provenance is kept under ``params["source"]``.

    Parameters
    ----------
    path
        The ``.parquet`` file.

    Returns
    -------
    AnnData
        Samples × features (CSR when sparse), ``var`` ranks from the ``taxonomy`` column.

    Raises
    ------
    InputFormatError
        Not a parquet file, or no ``feature_id`` column.
    DataValueError
        Non-numeric, negative or NaN values, empty table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ._biom_parse import _BiomParts, parts_to_adata

    p = Path(path)
    if not p.is_file():
        raise InputFormatError("file not found", path=p, fix="check the path of the table")
    try:
        meta_pq = pq.ParquetFile(p).metadata  # footer only: sizes checked before any data
        _guard.check_cells(meta_pq.num_rows, meta_pq.num_columns, label=p)
        logical = sum(meta_pq.row_group(i).total_byte_size for i in range(meta_pq.num_row_groups))
        if logical > _guard.get_limits().max_decompressed_bytes:
            raise _guard.refuse(p, "the parquet data is too large when decompressed",
                                "max_decompressed_bytes", _guard.get_limits().max_decompressed_bytes)
        table = pq.read_table(p)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, GutbrainError):
            raise

        raise InputFormatError(
            f"not a readable parquet file ({exc})",
            path=p,
            fix="pass a file written by gutbrain.io.write_parquet",
        ) from None
    names = table.column_names
    if "feature_id" not in names:
        raise InputFormatError(
            f"no 'feature_id' column (columns: {names[:5]})",
            path=p,
            fix="pass a features × samples table whose first column is feature_id",
        )
    samples = [n for n in names if n not in _RESERVED]
    bad = [n for n in samples if not pa.types.is_integer(table.schema.field(n).type)
           and not pa.types.is_floating(table.schema.field(n).type)]
    if bad:
        raise DataValueError(
            f"sample column {bad[0]!r} is not numeric ({table.schema.field(bad[0]).type})",
            path=p,
            column=bad[0],
            fix="every column other than feature_id/taxonomy must hold numbers",
        )
    record: dict[str, Any] = {}
    meta = table.schema.metadata or {}
    if b"gutbrain" in meta:
        try:
            record = json.loads(meta[b"gutbrain"])
        except (ValueError, RecursionError):
            record = {}
        if not isinstance(record, dict):
            record = {}
    if samples:
        dense = np.column_stack(
            [table.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in samples]
        )
    else:
        dense = np.zeros((table.num_rows, 0))
    parts = _BiomParts(
        X=sp.csr_matrix(dense.T),  # NaN entries are kept (NaN != 0) and rejected
        sample_ids=samples,
        feature_ids=[str(f) for f in table.column("feature_id").to_pylist()],
        fmt="parquet",
        obs_md=(
            {"taxonomy": table.column("taxonomy").to_pylist()} if "taxonomy" in names else {}
        ),
    )
    unit = record.get("unit")
    return parts_to_adata(
        parts,
        label=str(p),
        reader="read_parquet",
        inputs={"table": (p, "parquet")},
        params={"path": os.fspath(p), "source": record.get("provenance", {})},
        unit=unit if unit in UNITS else None,
    )


# --------------------------------------------------------------------------- BIOM
def _split_lineage(text: str) -> list[str]:
    if not text:
        return []
    sep = "|" if "|" in text else ";"
    return [p.strip() for p in text.split(sep) if p.strip()]


def write_biom(adata: AnnData, path: str | os.PathLike[str], *, layer: str | None = None) -> Path:
    """Write a BIOM 2.1 HDF5 table (features × samples) atomically.

    Parameters
    ----------
    adata
        The table.
    path
        Target ``.biom`` file; a sidecar ``<path>.provenance.json`` is written too.
    layer
        Matrix to write (default ``X``).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import biom
    import h5py

    target = Path(path)
    M = _matrix(adata, layer)
    data = sp.csr_matrix(M.T) if not sp.issparse(M) else M.T.tocsr()
    obs_md = None
    if _has_taxonomy(adata.var):
        cache: dict[str, list[str]] = {}
        obs_md = []
        for t in _lineages(adata.var):
            parts = cache.get(t)
            if parts is None:
                parts = cache[t] = _split_lineage(t)
            obs_md.append({"taxonomy": parts})
    sample_md = None
    if adata.obs.shape[1]:
        cols = {}
        for col in adata.obs.columns:
            s = adata.obs[col]
            cols[str(col)] = ["" if pd.isna(v) else str(v) for v in s.astype(object).tolist()]
        sample_md = [{c: cols[c][i] for c in cols} for i in range(adata.n_obs)]
    unit = get_unit(adata, layer)
    table = biom.Table(
        data,
        observation_ids=[str(f) for f in adata.var_names],
        sample_ids=[str(s) for s in adata.obs_names],
        observation_metadata=obs_md,
        sample_metadata=sample_md,
        type="OTU table" if unit == "counts" else "Taxon table",
    )
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as fh:
        table.to_hdf5(fh, f"gutbrain {__version__}")
    _write_sidecar(_provenance_record(adata, target, "biom-2.1-hdf5", layer), target)
    return target


# --------------------------------------------------------------------------- dispatch
#: Suffix → writer used by :func:`write`.
WRITERS: dict[str, Callable[..., Path]] = {
    ".biom": write_biom,
    ".h5ad": write_h5ad,
    ".tsv": write_tsv,
    ".txt": write_tsv,
    ".parquet": write_parquet,
}


def write(adata: AnnData, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write ``adata`` in the format named by the suffix of ``path``.

    ``.biom`` → :func:`write_biom`, ``.h5ad`` → :func:`write_h5ad`, ``.tsv``/``.txt`` →
    :func:`write_tsv`, ``.parquet`` → :func:`write_parquet`.

    Parameters
    ----------
    adata
        The table.
    path
        Target file; its suffix picks the format.
    **kwargs
        Passed to the writer (e.g. ``layer=``).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    GutbrainError
        For any other suffix (the message lists the supported ones).
    """
    target = Path(path)
    writer = WRITERS.get(target.suffix.lower())
    if writer is None:
        raise GutbrainError(
            f"cannot tell the output format from the suffix {target.suffix!r}",
            path=target,
            fix=f"use one of {', '.join(WRITERS)}",
        )
    return writer(adata, target, **kwargs)
