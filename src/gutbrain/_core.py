"""The AnnData contract: value kinds, provenance and result slots.

gutbrain keeps every dataset in one :class:`anndata.AnnData`, samples × features.

``uns["gutbrain"]`` (written by every reader, checked by every tool)::

    {
      "version": "0.1.0",            # gutbrain version that created the object
      "X_unit": "counts",            # what X holds: one of UNITS
      "layer_units": {"clr": "clr"}, # unit of each layer written by gutbrain
      "inputs": {"table": {"path": ..., "sha256": ..., "format": ...}, ...},
      "reader": "read_biom",         # function that built the object
      "params": {...},               # reader parameters
      "synthetic": False,            # True for simulated data (labelled in every output)
    }

Per-tool results go to ``uns[key]`` with ``uns[key]["params"]`` holding the
parameters, the gutbrain version and the random seed (:func:`record`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from ._errors import UnitError
from ._utils import sha256_file
from ._version import __version__

__all__ = [
    "RANKS",
    "SPARSE_DENSITY",
    "UNITS",
    "add_input",
    "clean_uns",
    "get_matrix",
    "get_unit",
    "new_adata",
    "provenance",
    "record",
    "require_unit",
    "set_layer",
]

#: Taxonomic ranks held as ``var`` columns, in order.  ``strain`` holds strain or SGB ids.
RANKS: tuple[str, ...] = (
    "domain",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
    "strain",
)

#: What a matrix can hold.
UNITS: dict[str, str] = {
    "counts": "non-negative integer read counts",
    "relative": "proportions; each sample sums to 1 (or less when rows were removed)",
    "percent": "percentages; each sample sums to 100 (MetaPhlAn)",
    "cpm": "copies per million (HUMAnN relab/cpm)",
    "rpk": "reads per kilobase (HUMAnN gene families / pathways)",
    "abundance": "non-negative abundances of unknown scale",
    "clr": "centred log-ratio transformed values",
    "presence": "0/1 presence-absence",
    "transformed": "another transformation (see the layer's params)",
}

#: Matrices with at most this fraction of non-zero entries are stored sparse (CSR).
SPARSE_DENSITY = 0.3


def _as_matrix(X: Any, sparse: bool | str) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        density = X.nnz / max(1, X.shape[0] * X.shape[1])
        if sparse is False or (sparse == "auto" and density > SPARSE_DENSITY):
            return X.toarray()
        return X
    arr = np.asarray(X, dtype=np.float64)
    if sparse is True:
        return sp.csr_matrix(arr)
    if sparse == "auto" and arr.size:
        density = np.count_nonzero(arr) / arr.size
        if density <= SPARSE_DENSITY:
            return sp.csr_matrix(arr)
    return arr


def clean_uns(value: Any) -> Any:
    """Make a value storable in ``uns`` and writable to h5ad.

    ``None`` entries of mappings are dropped, tuples become lists, paths become
    strings and NumPy scalars become Python scalars.
    """
    if isinstance(value, Mapping):
        return {str(k): clean_uns(v) for k, v in value.items() if v is not None}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        items = [clean_uns(v) for v in value if v is not None]
        if items and all(isinstance(v, str) for v in items):
            return items
        if items and all(isinstance(v, (bool, int, float, np.number)) for v in items):
            return list(items)
        return {str(i): v for i, v in enumerate(items)} if items else []
    if isinstance(value, np.generic):
        return value.item()
    return value


def new_adata(
    X: Any,
    *,
    obs_names: Iterable[str],
    var_names: Iterable[str],
    unit: str,
    reader: str,
    var: pd.DataFrame | None = None,
    obs: pd.DataFrame | None = None,
    inputs: Mapping[str, tuple[str | os.PathLike[str], str]] | None = None,
    params: Mapping[str, Any] | None = None,
    synthetic: bool = False,
    sparse: bool | str = "auto",
) -> AnnData:
    """Build a gutbrain AnnData (samples × features) with its provenance.

    Parameters
    ----------
    X
        Samples × features values (dense or sparse).
    obs_names, var_names
        Sample and feature identifiers (must be unique).
    unit
        What ``X`` holds, one of :data:`UNITS`.
    reader
        Name of the function that built the object.
    var, obs
        Feature and sample annotations (index is replaced by the names).
    inputs
        ``{role: (path, format)}`` for each input file; each file is hashed.
    params
        Reader parameters, recorded verbatim.
    synthetic
        Whether the data are simulated.
    sparse
        ``"auto"`` stores CSR when at most :data:`SPARSE_DENSITY` of entries are non-zero.

    Returns
    -------
    AnnData
        With ``var["feature_id"]`` and ``uns["gutbrain"]`` filled in.
    """
    if unit not in UNITS:
        msg = f"unknown unit {unit!r}; expected one of {sorted(UNITS)}"
        raise ValueError(msg)
    obs_names = pd.Index([str(s) for s in obs_names])
    var_names = pd.Index([str(s) for s in var_names])
    matrix = _as_matrix(X, sparse)
    var_df = pd.DataFrame(index=var_names) if var is None else var.copy()
    var_df.index = var_names
    if "feature_id" not in var_df.columns:
        var_df.insert(0, "feature_id", list(var_names))
    obs_df = pd.DataFrame(index=obs_names) if obs is None else obs.copy()
    obs_df.index = obs_names
    adata = AnnData(X=matrix, obs=obs_df, var=var_df)
    adata.uns["gutbrain"] = {
        "version": __version__,
        "X_unit": unit,
        "layer_units": {},
        "inputs": {},
        "reader": reader,
        "params": clean_uns(dict(params or {})),
        "synthetic": bool(synthetic),
    }
    for role, (path, fmt) in (inputs or {}).items():
        add_input(adata, role, path, fmt)
    return adata


def provenance(adata: AnnData) -> dict[str, Any]:
    """Return ``adata.uns["gutbrain"]``, creating a minimal record if absent."""
    prov = adata.uns.get("gutbrain")
    if prov is None:
        prov = {
            "version": __version__,
            "X_unit": "abundance",
            "layer_units": {},
            "inputs": {},
            "reader": "unknown",
            "params": {},
            "synthetic": False,
        }
        adata.uns["gutbrain"] = prov
    return prov


def add_input(adata: AnnData, role: str, path: str | os.PathLike[str], fmt: str) -> None:
    """Record an input file (path, sha256, format) under ``uns["gutbrain"]["inputs"][role]``."""
    prov = provenance(adata)
    inputs = dict(prov.get("inputs", {}))
    p = os.fspath(path)
    inputs[role] = {
        "path": os.path.abspath(p),
        "sha256": sha256_file(p) if os.path.isfile(p) else "",
        "format": fmt,
    }
    prov["inputs"] = inputs


def get_unit(adata: AnnData, layer: str | None = None) -> str:
    """Return what ``X`` (or ``layers[layer]``) holds."""
    prov = provenance(adata)
    if layer is None:
        return str(prov.get("X_unit", "abundance"))
    return str(dict(prov.get("layer_units", {})).get(layer, "transformed"))


def set_layer(adata: AnnData, layer: str, values: Any, unit: str) -> None:
    """Store ``values`` as ``layers[layer]`` and record its unit."""
    if unit not in UNITS:
        msg = f"unknown unit {unit!r}; expected one of {sorted(UNITS)}"
        raise ValueError(msg)
    adata.layers[layer] = values
    prov = provenance(adata)
    units = dict(prov.get("layer_units", {}))
    units[layer] = unit
    prov["layer_units"] = units


def require_unit(
    adata: AnnData, allowed: Iterable[str], *, what: str, layer: str | None = None
) -> str:
    """Raise :class:`UnitError` unless the matrix holds one of ``allowed`` units.

    Returns the unit found.
    """
    allowed = tuple(allowed)
    unit = get_unit(adata, layer)
    if unit not in allowed:
        where = "X" if layer is None else f"layers[{layer!r}]"
        hint = (
            "provide a count table (e.g. the BIOM/QIIME 2 table before normalisation)"
            if "counts" in allowed
            else f"convert the data to one of {', '.join(allowed)} first"
        )
        raise UnitError(
            f"{what} needs {' or '.join(allowed)} values, but {where} holds {unit} "
            f"(uns['gutbrain']['X_unit'])",
            fix=hint,
        )
    return unit


def get_matrix(adata: AnnData, layer: str | None = None, *, dense: bool = True) -> Any:
    """Return ``X`` or ``layers[layer]`` as float64 (dense by default)."""
    M = adata.X if layer is None else adata.layers[layer]
    if dense:
        return M.toarray().astype(np.float64, copy=False) if sp.issparse(M) else np.asarray(
            M, dtype=np.float64
        )
    return M


def record(
    adata: AnnData,
    key: str,
    *,
    params: Mapping[str, Any],
    random_state: Any = None,
    references: Iterable[str] = (),
    **results: Any,
) -> dict[str, Any]:
    """Write ``uns[key] = {"params": {...}, **results}`` with version, seed and references."""
    p = dict(params)
    p["gutbrain_version"] = __version__
    if random_state is not None and not isinstance(random_state, np.random.Generator):
        p["random_state"] = random_state
    refs = list(references)
    if refs:
        p["references"] = refs
    entry: dict[str, Any] = {"params": clean_uns(p)}
    entry.update(results)
    adata.uns[key] = entry
    return entry
