"""Table summaries behind the report's first sections: QC metrics and composition.

:func:`qc_metrics` sets
    ``obs["qc_depth"]`` (sum of ``X`` per sample: reads for counts),
    ``obs["qc_n_features"]`` (features > 0), ``obs["qc_low_depth"]`` (bool; counts only),
    ``var["qc_prevalence"]`` (fraction of samples with the feature > 0) and
    ``uns["qc"]`` (``params``, ``summary`` dict, ``low_depth_samples``, ``metadata_columns``).
:func:`composition_summary` sets
    ``uns["composition"]`` (``params``, ``rank_used``, ``top_taxa``, ``summary``: DataFrame of
    mean relative abundance and prevalence per taxon, overall and per group; ``per_sample``:
    samples × top taxa (+ "Other") relative abundances, for the report's bar charts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import RANKS, get_matrix, get_unit, record, require_unit

__all__ = [
    "DEFAULT_MIN_DEPTH",
    "OTHER",
    "UNASSIGNED",
    "composition_summary",
    "qc_metrics",
    "relative_by_taxon",
    "top_taxa",
    "with_other",
]

#: Samples with fewer reads are flagged by QC.  About a thousand reads is a common lower bound
#: for 16S amplicon samples (the American Gut Project kept samples with at least 1,250 reads:
#: McDonald et al. 2018, mSystems 3:e00031-18, doi:10.1128/mSystems.00031-18).
DEFAULT_MIN_DEPTH = 1000
_TOP = 15
_NONNEG_UNITS = ("counts", "relative", "percent", "cpm", "rpk", "abundance", "presence")
UNASSIGNED = "Unassigned"
OTHER = "Other"


def qc_metrics(adata: AnnData, *, min_depth: float = DEFAULT_MIN_DEPTH) -> dict[str, Any]:
    """Compute per-sample depth/richness and per-feature prevalence into ``adata``.

    Parameters
    ----------
    adata
        Samples × features (``X`` as read).
    min_depth
        Count samples with a smaller total are flagged (only when ``X`` holds counts).

    Returns
    -------
    dict
        The ``uns["qc"]`` entry (also written).

    Notes
    -----
    Sets the following fields:

    ``adata.obs["qc_depth"]``, ``adata.obs["qc_n_features"]``, ``adata.obs["qc_low_depth"]``
        Per-sample depth, observed features and low-depth flag.
    ``adata.var["qc_prevalence"]``
        Fraction of samples in which each feature is non-zero.
    ``adata.uns["qc"]``
        ``{"params", "summary", "low_depth_samples", "metadata_columns"}``: the QC summary.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(n_samples=20, n_genera=40)
    >>> gb.tl.qc_metrics(ad)["summary"]["n_samples"]
    20
    """
    X = adata.X if sp.issparse(adata.X) else np.asarray(adata.X, dtype=np.float64)
    n_obs, n_var = adata.shape
    if sp.issparse(X):
        depth = np.asarray(X.sum(axis=1)).ravel()
        nz = X.getnnz(axis=1) if hasattr(X, "getnnz") else np.asarray((X != 0).sum(axis=1)).ravel()
        nnz_total = int((X != 0).sum())
        prev = np.asarray((X != 0).sum(axis=0)).ravel() / max(1, n_obs)
    else:
        nzmask = X != 0
        depth = X.sum(axis=1)
        nz = nzmask.sum(axis=1)
        nnz_total = int(nzmask.sum())
        prev = nzmask.sum(axis=0) / max(1, n_obs)
    unit = get_unit(adata)
    is_counts = unit == "counts"
    low = (depth < min_depth) if is_counts else np.zeros(n_obs, dtype=bool)
    metadata_columns = [c for c in adata.obs.columns if not str(c).startswith("qc_")]
    adata.obs["qc_depth"] = depth.astype(np.float64)
    adata.obs["qc_n_features"] = np.asarray(nz, dtype=np.int64)
    adata.obs["qc_low_depth"] = low
    adata.var["qc_prevalence"] = np.asarray(prev, dtype=np.float64)
    size = max(1, n_obs * n_var)
    summary = {
        "n_samples": int(n_obs),
        "n_features": int(n_var),
        "unit": unit,
        "sparsity": float(1.0 - nnz_total / size),
        "depth_min": float(depth.min()) if n_obs else 0.0,
        "depth_median": float(np.median(depth)) if n_obs else 0.0,
        "depth_max": float(depth.max()) if n_obs else 0.0,
        "n_low_depth": int(low.sum()),
        "features_prevalence_ge_10pct": int((prev >= 0.1).sum()),
        "features_never_observed": int((prev == 0).sum()),
    }
    return record(
        adata,
        "qc",
        params={"min_depth": float(min_depth), "unit": unit},
        summary=summary,
        low_depth_samples=[str(s) for s in adata.obs_names[low]],
        metadata_columns=[str(c) for c in metadata_columns],
    )


def _taxon_labels(adata: AnnData, rank: str | None) -> tuple[pd.Index, str]:
    """Label of each feature at ``rank`` (falls back to feature ids when the rank is absent)."""
    if rank is not None and rank in adata.var.columns and rank in RANKS:
        labels = adata.var[rank].astype(str).str.strip()
        if (labels != "").any():
            return pd.Index(labels.where(labels != "", UNASSIGNED)), rank
    return pd.Index(adata.var_names.astype(str)), "feature"


def _sum_by_label(adata: AnnData, labels: pd.Index, layer: str | None) -> pd.DataFrame:
    codes, uniques = pd.factorize(labels, sort=True)
    M = get_matrix(adata, layer, dense=False)
    indicator = sp.csr_matrix(
        (np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), len(uniques))
    )
    agg = M @ indicator
    agg = agg.toarray() if sp.issparse(agg) else np.asarray(agg, dtype=np.float64)
    totals = agg.sum(axis=1, keepdims=True)
    rel = np.divide(agg, totals, out=np.zeros_like(agg), where=totals > 0)
    return pd.DataFrame(rel, index=adata.obs_names.copy(), columns=pd.Index(uniques))


def relative_by_taxon(
    adata: AnnData, *, rank: str | None = "genus", layer: str | None = None
) -> tuple[pd.DataFrame, str, str]:
    """Samples × taxa relative abundances, features summed to ``rank``.

    Features are summed with :func:`gutbrain.pp.collapse` (unassigned features grouped by
    their deepest assigned rank) when ``var`` has the rank; gutbrain's indicator-matrix sum
    is the fallback (and is used for layers).  Without a usable rank column the features
    themselves are used.

    Returns
    -------
    (DataFrame, str, str)
        Relative abundances (rows sum to 1; all-zero samples stay 0), the rank used
        (``"feature"`` when none) and a description of the method.
    """
    require_unit(adata, _NONNEG_UNITS, what="a composition summary", layer=layer)
    labels, used = _taxon_labels(adata, rank)
    if used == "feature":
        return _sum_by_label(adata, labels, layer), used, "features as read"
    if layer is None:
        from .. import pp

        collapsed = pp.collapse(adata, used)
        rel = _sum_by_label(collapsed, pd.Index(collapsed.var_names.astype(str)), None)
        return rel, used, f"features summed to {used} with gutbrain.pp.collapse"
    return _sum_by_label(adata, labels, layer), used, f"features summed to {used}"


def top_taxa(rel: pd.DataFrame, top: int) -> list[str]:
    """Names of the ``top`` taxa by mean relative abundance (ties broken by name)."""
    means = rel.mean(axis=0)
    order = sorted(means.index, key=lambda t: (-float(means[t]), str(t)))
    return [str(t) for t in order[: max(0, int(top))]]


def with_other(rel: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """Keep the columns ``keep`` and sum the rest into ``"Other"``."""
    out = rel.loc[:, keep].copy()
    rest = rel.drop(columns=keep)
    if rest.shape[1]:
        out[OTHER] = rest.sum(axis=1)
    return out


def composition_summary(
    adata: AnnData, *, rank: str = "genus", groupby: str | None = None, top: int = _TOP
) -> dict[str, Any]:
    """Mean relative abundance and prevalence of the top taxa, overall and per group.

    Features are summed to ``rank`` (:func:`relative_by_taxon`); otherwise the features
    themselves are used.

    Parameters
    ----------
    adata
        Samples × features (abundances).
    rank
        Taxonomic rank to sum features to (``var`` column); the features when absent.
    groupby
        ``obs`` column: means per group as well.
    top
        Number of taxa kept.

    Returns
    -------
    dict
        The ``uns["composition"]`` entry.

    Notes
    -----
    Sets the following fields:

    ``adata.uns["composition"]``
        ``{"params", "rank_used", "top_taxa", "summary", "per_sample"}``: the top taxa overall and
        per group, and each sample's shares of them.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(n_samples=20, n_genera=40)
    >>> entry = gb.tl.composition_summary(ad, groupby="group", top=5)
    >>> len(entry["top_taxa"]), entry["rank_used"]
    (5, 'genus')
    """
    rel, used, method = relative_by_taxon(adata, rank=rank)
    keep = top_taxa(rel, top)
    data = with_other(rel, keep)
    summary = pd.DataFrame(index=pd.Index([str(c) for c in data.columns], name="taxon"))
    summary["mean_relative_abundance"] = data.mean(axis=0).to_numpy()
    summary["prevalence"] = (data > 0).mean(axis=0).to_numpy()
    if groupby is not None:
        groups = adata.obs[groupby]
        levels = (
            list(groups.cat.categories)
            if isinstance(groups.dtype, pd.CategoricalDtype)
            else sorted(groups.dropna().astype(str).unique())
        )
        gvals = groups.astype(str).to_numpy()
        for level in levels:
            mask = gvals == str(level)
            if mask.any():
                summary[f"mean_{level}"] = data.loc[mask].mean(axis=0).to_numpy()
    return record(
        adata,
        "composition",
        params={"rank": rank, "groupby": groupby, "top": int(top), "method": method},
        rank_used=used,
        top_taxa=keep,
        summary=summary,
        per_sample=data.astype(np.float64),
    )
