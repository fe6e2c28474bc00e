"""What was read: a JSON-able summary of a feature table (``gutbrain inspect``, the web app)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import RANKS, UNITS, provenance
from .._errors import DataValueError

__all__ = ["metadata_summary", "summary"]


def _num(v: Any) -> str:
    from .._format import format_number

    return format_number(float(v))


def metadata_summary(obs: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """One row per metadata column: type, missing values and a short summary.

    Parameters
    ----------
    obs
        Sample metadata (``adata.obs``).
    columns
        Columns to describe (default: all); names not in ``obs`` are skipped.

    Returns
    -------
    pandas.DataFrame
        Columns ``column``, ``type`` (boolean, integer, numeric, categorical, text),
        ``missing`` (count) and ``summary`` (range for numbers, the most frequent levels
        otherwise).
    """
    rows = []
    for col in columns if columns is not None else list(obs.columns):
        if col not in obs.columns:
            continue
        s = obs[col]
        missing = int(s.isna().sum())
        if pd.api.types.is_bool_dtype(s):
            kind = "boolean"
            summ = f"true: {int(s.fillna(False).astype(bool).sum())} of {len(s)}"
        elif pd.api.types.is_numeric_dtype(s):
            kind = "integer" if pd.api.types.is_integer_dtype(s) else "numeric"
            v = pd.to_numeric(s, errors="coerce")
            summ = (
                f"min {_num(v.min())}, median {_num(v.median())}, max {_num(v.max())}"
                if v.notna().any()
                else "all missing"
            )
        else:
            counts = s.astype("object").dropna().astype(str).value_counts()
            counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
            kind = "categorical" if isinstance(s.dtype, pd.CategoricalDtype) else "text"
            head = ", ".join(f"{k} ({v})" for k, v in counts.iloc[:4].items())
            more = f", … {len(counts) - 4} more" if len(counts) > 4 else ""
            summ = f"{len(counts)} levels: {head}{more}"
        rows.append({"column": str(col), "type": kind, "missing": missing, "summary": summ})
    return pd.DataFrame(rows, columns=["column", "type", "missing", "summary"])


def summary(adata: AnnData) -> dict[str, Any]:
    """Summarise a read table: format, value kind, size, sparsity, depth, ranks, metadata.

    This is what ``gutbrain inspect --json`` prints and what the web app's inspect page
    shows.

    Parameters
    ----------
    adata
        Samples × features, as returned by :func:`gutbrain.io.read` (with its
        ``uns["gutbrain"]`` provenance).

    Returns
    -------
    dict
        JSON-able (with ``default=str``): ``file``, ``format``, ``reader``, ``value_kind``
        (unit of ``X``) and its ``value_kind_description``, ``synthetic``, ``samples``,
        ``features``, ``sparsity`` (fraction of zero entries), ``storage`` (sparse/dense),
        ``depth`` (``min``/``median``/``max`` of the per-sample totals of ``X``), ``ranks``
        (``{rank: features with a non-empty name}`` for the rank columns of ``var``),
        ``metadata`` (records of :func:`metadata_summary`) and ``inputs`` (provenance).

    Raises
    ------
    DataValueError
        When ``adata`` is not an AnnData.

    Examples
    --------
    >>> import gutbrain as gb
    >>> info = gb.io.summary(gb.datasets.demo_cohort(n_samples=20, n_genera=60))
    >>> info["samples"], info["features"], info["value_kind"]
    (20, 60, 'counts')
    """
    if not isinstance(adata, AnnData):
        raise DataValueError(
            f"expected an AnnData, got {type(adata).__name__}",
            fix="pass the object returned by gutbrain.io.read",
        )
    prov = provenance(adata)
    X = adata.X
    n_obs, n_var = adata.shape
    if sp.issparse(X):
        nnz = int((X != 0).sum())
        depth = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    else:
        arr = np.asarray(X, dtype=np.float64)
        nnz = int(np.count_nonzero(arr))
        depth = arr.sum(axis=1)
    inputs = {str(k): dict(v) for k, v in dict(prov.get("inputs", {})).items()}
    table_in = inputs.get("table", {})
    unit = str(prov.get("X_unit", "abundance"))
    ranks = {
        r: int((adata.var[r].astype(str).str.strip() != "").sum())
        for r in RANKS
        if r in adata.var.columns
    }
    meta = metadata_summary(adata.obs)
    return {
        "file": str(table_in.get("path", "")),
        "format": str(table_in.get("format", prov.get("reader", "unknown"))),
        "reader": str(prov.get("reader", "unknown")),
        "value_kind": unit,
        "value_kind_description": UNITS.get(unit, ""),
        "synthetic": bool(prov.get("synthetic", False)),
        "samples": int(n_obs),
        "features": int(n_var),
        "sparsity": float(1.0 - nnz / max(1, n_obs * n_var)),
        "storage": "sparse" if sp.issparse(X) else "dense",
        "depth": {
            "min": float(depth.min()) if n_obs else 0.0,
            "median": float(np.median(depth)) if n_obs else 0.0,
            "max": float(depth.max()) if n_obs else 0.0,
        },
        "ranks": ranks,
        "metadata": meta.to_dict(orient="records"),
        "inputs": inputs,
    }
