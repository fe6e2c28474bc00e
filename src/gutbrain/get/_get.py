"""Tidy pandas tables out of a gutbrain AnnData."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_matrix
from .._core import provenance as _provenance
from .._errors import DataValueError

__all__ = ["obs_df", "provenance", "results", "table"]


def table(adata: AnnData, *, layer: str | None = None) -> pd.DataFrame:
    """Return ``X`` (or ``layers[layer]``) as a dense samples × features DataFrame.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(n_samples=10, n_genera=50)
    >>> gb.get.table(adata).shape
    (10, 50)
    """
    if layer is not None and layer not in adata.layers:
        raise DataValueError(
            f"no layer {layer!r}; layers are {list(adata.layers)}",
            fix="pass one of the listed layers, or layer=None for X",
        )
    return pd.DataFrame(
        get_matrix(adata, layer), index=adata.obs_names.copy(), columns=adata.var_names.copy()
    )


def obs_df(adata: AnnData, keys: str | Iterable[str], *, layer: str | None = None) -> pd.DataFrame:
    """Return ``obs`` columns and/or feature values (from ``X`` or ``layer``) per sample.

    Parameters
    ----------
    adata
        The data.
    keys
        ``obs`` column names and/or feature names (``var_names``).
    layer
        Matrix for feature values.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in adata.obs.columns and k not in adata.var_names]
    if missing:
        raise DataValueError(
            f"keys {missing} are neither obs columns nor features",
            fix=f"use obs columns {list(adata.obs.columns)[:10]} or feature names",
        )
    out = pd.DataFrame(index=adata.obs_names.copy())
    feats = [k for k in keys if k not in adata.obs.columns]
    if feats:
        idx = adata.var_names.get_indexer(feats)
        M = adata.X if layer is None else adata.layers[layer]
        sub = M[:, idx]
        sub = sub.toarray() if hasattr(sub, "toarray") else np.asarray(sub)
        fvals = dict(zip(feats, np.asarray(sub, dtype=np.float64).T))
    for k in keys:
        out[k] = adata.obs[k].to_numpy() if k in adata.obs.columns else fvals[k]
        if k in adata.obs.columns and isinstance(adata.obs[k].dtype, pd.CategoricalDtype):
            out[k] = adata.obs[k].values
    return out


def results(adata: AnnData, key: str) -> pd.DataFrame:
    """Return the results stored under ``uns[key]`` as a tidy DataFrame.

    ``uns[key]["results"]`` (DataFrame, or a mapping of equal-length columns) is returned
    as is; otherwise the single DataFrame entry of ``uns[key]``; otherwise the scalar
    entries as a ``name, value`` frame.
    """
    if key not in adata.uns:
        avail = sorted(k for k in adata.uns if k != "gutbrain")
        raise DataValueError(f"no results under uns[{key!r}]; available: {avail}",
                             fix="run the tool first or pass one of the listed keys")
    entry = adata.uns[key]
    if isinstance(entry, pd.DataFrame):
        return entry.copy()
    if not isinstance(entry, dict):
        return pd.DataFrame({"name": [key], "value": [entry]})
    res = entry.get("results")
    if isinstance(res, pd.DataFrame):
        return res.copy()
    if isinstance(res, dict):
        try:
            return pd.DataFrame(res)
        except ValueError:
            return pd.DataFrame({"name": list(res), "value": list(res.values())})
    frames = [v for k, v in entry.items() if isinstance(v, pd.DataFrame)]
    if len(frames) == 1:
        return frames[0].copy()
    scalars = {
        k: (v.item() if isinstance(v, np.generic) else v)
        for k, v in entry.items()
        if k != "params" and isinstance(v, (str, int, float, bool, np.generic))
    }
    return pd.DataFrame({"name": list(scalars), "value": list(scalars.values())})


def provenance(adata: AnnData) -> dict[str, Any]:
    """Return a copy of the provenance: ``uns["gutbrain"]`` plus each result's ``params``.

    Returns
    -------
    dict
        ``uns["gutbrain"]`` keys (version, X_unit, inputs with sha256, reader, params,
        synthetic …) and ``"results"``: ``{uns key: params}``.
    """
    out = copy.deepcopy(dict(_provenance(adata)))
    out["results"] = {
        str(k): copy.deepcopy(dict(v["params"]))
        for k, v in adata.uns.items()
        if k != "gutbrain" and isinstance(v, dict) and isinstance(v.get("params"), dict)
    }
    return out
