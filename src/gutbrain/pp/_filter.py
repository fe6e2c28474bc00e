"""Sample and feature filters, and the helpers every shape-changing ``pp`` tool shares.

Shape-changing tools (:func:`filter_samples`, :func:`filter_features`, ``rarefy``,
``collapse``) return a **new** AnnData.  It keeps ``obs`` and ``var`` rows that survive,
``uns["gutbrain"]`` (deep-copied) with the step appended to ``uns["gutbrain"]["steps"]``
(``{"000_filter_features": {"step": ..., "params": ..., "n_obs_before": ...}, ...}``,
keys sort in the order the steps ran), and the tool's own ``uns[<tool>]`` record.
Results derived from the old shape (``obsm``, ``obsp``, ``varm``, ``varp`` and other
``uns`` keys) are dropped because they no longer describe the new object; measured sample
data kept beside the table (``obsm["metabolites"]`` with ``uns["metabolites"]``) follow the
kept samples.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import clean_uns, get_unit, provenance, record, require_unit
from .._errors import DataValueError, UnitError

__all__ = ["filter_features", "filter_samples"]

#: Units whose values add up across features (sums, shares and subsets keep their meaning).
ADDITIVE_UNITS: tuple[str, ...] = ("counts", "relative", "percent", "cpm", "rpk", "abundance")


# ----------------------------------------------------------------------------- shared helpers
def _check_adata(adata: Any, what: str) -> None:
    if not isinstance(adata, AnnData):
        msg = f"{what} needs an AnnData (samples × features), got {type(adata).__name__}"
        raise TypeError(msg)


def _matrix(adata: AnnData, layer: str | None) -> Any:
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise DataValueError(
            f"layer {layer!r} not found; available layers: {sorted(adata.layers) or 'none'}",
            fix="pass layer=None to use X, or one of the listed layers",
        )
    return adata.layers[layer]


def _where(layer: str | None) -> str:
    return "X" if layer is None else f"layers[{layer!r}]"


def _abundance_matrix(
    adata: AnnData, layer: str | None, *, what: str, fix: str, units: tuple[str, ...] = ADDITIVE_UNITS
) -> tuple[Any, str]:
    """``X`` or ``layers[layer]`` and its unit, checked to be one of ``units`` with finite values ≥ 0."""
    M = _matrix(adata, layer)
    unit = get_unit(adata, layer)
    if unit not in units:
        raise UnitError(f"{what} needs non-negative abundances, but {_where(layer)} holds {unit}", fix=fix)
    _check_values(M, what=what, layer=layer)
    return M, unit


def _check_values(M: Any, *, what: str, layer: str | None) -> None:
    """Raise DataValueError for NaN, infinite or negative entries (one line, first bad sample)."""
    data = M.data if sp.issparse(M) else np.asarray(M)
    if data.size == 0:
        return
    bad = ~np.isfinite(data) | (data < 0)
    if not bad.any():
        return
    if sp.issparse(M):
        coo = sp.coo_matrix(M)
        cb = ~np.isfinite(coo.data) | (coo.data < 0)
        i, j = int(coo.row[cb][0]), int(coo.col[cb][0])
        value = coo.data[cb][0]
    else:
        i, j = (int(v) for v in np.argwhere(bad)[0])
        value = data[i, j]
    raise DataValueError(
        f"{what} needs finite non-negative values, but {_where(layer)} holds {value!r} "
        f"(sample row {i + 1}, feature column {j + 1}) and {int(bad.sum())} such entries in all",
        fix="remove or correct negative/NaN entries before calling " + what,
    )


def _row_sums(M: Any) -> np.ndarray:
    return np.asarray(M.sum(axis=1), dtype=np.float64).ravel()


def _is_integer(M: Any) -> bool:
    data = M.data if sp.issparse(M) else np.asarray(M)
    return bool(np.all(data == np.floor(data)))


def _take(M: Any, rows: Any, cols: Any) -> Any:
    if sp.issparse(M):
        M = sp.csr_matrix(M)
        return M[rows][:, cols]
    M = np.asarray(M)
    return M[np.ix_(np.arange(M.shape[0])[rows], np.arange(M.shape[1])[cols])]


def _derive(
    adata: AnnData,
    X: Any,
    *,
    obs: pd.DataFrame,
    var: pd.DataFrame,
    layers: Mapping[str, Any] | None = None,
) -> AnnData:
    """A new AnnData with ``uns["gutbrain"]`` deep-copied from ``adata``."""
    new = AnnData(X=X, obs=obs, var=var)
    prov = copy.deepcopy(dict(adata.uns.get("gutbrain", {})))
    units = dict(prov.get("layer_units", {}))
    kept_units = {}
    for name, values in (layers or {}).items():
        new.layers[name] = values
        if name in units:
            kept_units[name] = units[name]
    if prov:
        prov["layer_units"] = kept_units
    new.uns["gutbrain"] = prov
    # measured sample data (not derived results) follow the kept samples: metabolite tables
    if isinstance(adata.obsm.get("metabolites"), pd.DataFrame) and new.obs_names.isin(adata.obs_names).all():
        new.obsm["metabolites"] = adata.obsm["metabolites"].reindex(new.obs_names)
        if "metabolites" in adata.uns:
            new.uns["metabolites"] = copy.deepcopy(adata.uns["metabolites"])
    provenance(new)
    return new


def _subset(
    adata: AnnData, *, obs_keep: np.ndarray | None = None, var_keep: np.ndarray | None = None,
    keep_layers: str = "all",
) -> tuple[AnnData, list[str]]:
    """Rows/columns ``obs_keep``/``var_keep`` (boolean masks) of X, obs, var and layers.

    ``keep_layers="all"`` keeps every layer; ``"additive"`` keeps layers whose unit is
    additive (:data:`ADDITIVE_UNITS`) and drops transforms such as CLR, which depend on
    the features removed.  Returns the new object and the names of dropped layers.
    """
    rows = slice(None) if obs_keep is None else np.flatnonzero(obs_keep)
    cols = slice(None) if var_keep is None else np.flatnonzero(var_keep)
    layers: dict[str, Any] = {}
    dropped: list[str] = []
    for name in adata.layers:
        unit = get_unit(adata, name)
        if keep_layers == "all" or unit in (*ADDITIVE_UNITS, "presence"):
            layers[name] = _take(adata.layers[name], rows, cols)
        else:
            dropped.append(name)
    new = _derive(
        adata,
        _take(adata.X, rows, cols),
        obs=adata.obs.iloc[rows].copy(),
        var=adata.var.iloc[cols].copy(),
        layers=layers,
    )
    return new, dropped


def _append_step(
    new: AnnData, step: str, params: Mapping[str, Any], before: tuple[int, int]
) -> None:
    """Append ``step`` to ``uns["gutbrain"]["steps"]`` of ``new``."""
    prov = provenance(new)
    steps = dict(prov.get("steps", {}))
    key = f"{len(steps):03d}_{step}"
    steps[key] = clean_uns(
        {
            "step": step,
            "params": dict(params),
            "n_obs_before": int(before[0]),
            "n_vars_before": int(before[1]),
            "n_obs": int(new.n_obs),
            "n_vars": int(new.n_vars),
        }
    )
    prov["steps"] = steps


def _proportions(M: Any, unit: str) -> Any:
    """Per-sample proportions for prevalence: closure for counts-like units (zeros stay zero)."""
    if unit in ("relative", "presence"):
        return M
    if unit == "percent":
        return M / 100.0
    sums = _row_sums(M)
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    if sp.issparse(M):
        return sp.diags(inv) @ sp.csr_matrix(M)
    return np.asarray(M) * inv[:, None]


def _names(index: Iterable[Any], mask: np.ndarray) -> list[str]:
    return [str(s) for s, m in zip(index, mask) if m]


# ----------------------------------------------------------------------------- public API
def filter_samples(
    adata: AnnData,
    *,
    min_depth: float = 0,
    max_zero_fraction: float | None = None,
    layer: str | None = None,
) -> AnnData:
    """Keep samples with enough reads and not too many zero features.

    Parameters
    ----------
    adata
        Samples × features.
    min_depth
        Keep samples whose total (row sum of ``X`` or ``layer``) is ``>= min_depth``.
        A depth above 1 is a read count, so ``X`` must hold ``counts``; relative data
        are refused with :class:`~gutbrain.UnitError`.
    max_zero_fraction
        Keep samples whose fraction of zero-valued features is ``<= max_zero_fraction``
        (``None``: no limit).
    layer
        Matrix to test (``None``: ``X``).  The returned object keeps every layer.

    Returns
    -------
    AnnData
        The kept samples; ``uns["filter_samples"]`` holds the params, ``removed`` (sample
        ids) and ``depth_removed`` (their totals).  The step is appended to
        ``uns["gutbrain"]["steps"]``.  Filtering is idempotent.

    Notes
    -----
    Sets the following fields of the **returned** AnnData (``adata`` is not modified):

    ``uns["filter_samples"]``
        ``{"params", "removed", "depth_removed", "n_removed"}``.
    ``uns["gutbrain"]["steps"]``
        The step appended (shape before and after).

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0)
    >>> kept = gb.pp.filter_samples(adata, min_depth=1000)
    >>> adata.n_obs, kept.n_obs, kept.uns["filter_samples"]["removed"]
    (200, 198, ['DEMO0001', 'DEMO0103'])

    """
    _check_adata(adata, "filter_samples")
    if min_depth < 0:
        raise DataValueError(f"min_depth must be >= 0, got {min_depth}", fix="pass min_depth >= 0")
    if max_zero_fraction is not None and not 0 <= max_zero_fraction <= 1:
        raise DataValueError(
            f"max_zero_fraction must lie in [0, 1], got {max_zero_fraction}",
            fix="pass a fraction such as 0.95, or None",
        )
    M = _matrix(adata, layer)
    unit = get_unit(adata, layer)
    if min_depth > 1:
        require_unit(adata, ["counts"], what=f"filter_samples(min_depth={min_depth})", layer=layer)
    elif unit in ("clr", "transformed"):
        raise UnitError(
            f"filter_samples needs non-negative abundances, but {_where(layer)} holds {unit}",
            fix="filter the untransformed table (X or layers['counts'])",
        )
    _check_values(M, what="filter_samples", layer=layer)
    depth = _row_sums(M)
    keep = depth >= min_depth
    if max_zero_fraction is not None and adata.n_vars:
        nnz = (
            np.diff(sp.csr_matrix(M).indptr) if sp.issparse(M) else np.count_nonzero(M, axis=1)
        )
        zero_frac = 1.0 - nnz / adata.n_vars
        keep &= zero_frac <= max_zero_fraction + 1e-12
    before = adata.shape
    new, _ = _subset(adata, obs_keep=keep, keep_layers="all")
    params = {"min_depth": min_depth, "max_zero_fraction": max_zero_fraction, "layer": layer}
    record(
        new,
        "filter_samples",
        params=params,
        removed=_names(adata.obs_names, ~keep),
        depth_removed=[float(d) for d in depth[~keep]],
        n_removed=int((~keep).sum()),
    )
    _append_step(new, "filter_samples", params, before)
    return new


def filter_features(
    adata: AnnData,
    *,
    min_prevalence: float = 0.0,
    min_abundance: float = 0.0,
    min_total: float = 0,
    layer: str | None = None,
) -> AnnData:
    """Keep features that are prevalent, abundant enough, or have enough reads.

    Semantics follow MaAsLin2's ``min_abundance``/``min_prevalence`` filter
    (Mallick et al. 2021, doi:10.1371/journal.pcbi.1009442): a feature's *prevalence*
    is the fraction of samples in which its value is **strictly greater** than
    ``min_abundance``.  Unlike MaAsLin2, which compares raw input values, gutbrain
    compares **proportions**: counts, cpm, rpk and abundance tables are closed per
    sample first (share of the sample's total over all features present at the call),
    percent is divided by 100, relative is used as is.  A feature is kept when
    ``prevalence >= min_prevalence`` (inclusive; MaAsLin2 uses ``>``) **and** its total over
    samples (in the matrix's own unit) is ``>= min_total``.  The defaults keep everything.

    Filtering is idempotent: removing features can only raise the remaining features'
    proportions, so a second call removes nothing.

    Parameters
    ----------
    adata
        Samples × features.
    min_prevalence
        Minimum fraction of samples (0–1).
    min_abundance
        Proportion a value must exceed to count as present (0–1).
    min_total
        Minimum sum over samples, in the matrix's unit (e.g. reads).
    layer
        Matrix to test (``None``: ``X``).

    Returns
    -------
    AnnData
        Kept features.  Layers with additive units are subset too; transformed layers
        (CLR …) are dropped because they depend on the removed features (listed in
        ``uns["filter_features"]["dropped_layers"]``).  ``uns["filter_features"]`` also
        holds ``removed`` (feature ids) and ``n_removed``.

    Notes
    -----
    Sets the following fields of the **returned** AnnData (``adata`` is not modified):

    ``uns["filter_features"]``
        ``{"params", "removed", "n_removed", "dropped_layers"}``.
    ``uns["gutbrain"]["steps"]``
        The step appended (shape before and after).
    """
    _check_adata(adata, "filter_features")
    if not 0 <= min_prevalence <= 1:
        raise DataValueError(
            f"min_prevalence must lie in [0, 1], got {min_prevalence}",
            fix="pass a fraction of samples, e.g. 0.1 for 10%",
        )
    if not 0 <= min_abundance < 1:
        raise DataValueError(
            f"min_abundance must lie in [0, 1) (a proportion), got {min_abundance}",
            fix="pass a proportion, e.g. 0.0001 for 0.01%",
        )
    M, unit = _abundance_matrix(
        adata, layer, what="filter_features", units=(*ADDITIVE_UNITS, "presence"),
        fix="filter the untransformed table (X or layers['counts']) and transform afterwards",
    )
    n = adata.n_obs
    P = _proportions(M, unit)
    if sp.issparse(P):
        P = sp.csr_matrix(P)
        present = np.asarray((P > min_abundance).sum(axis=0)).ravel()
    else:
        present = (np.asarray(P) > min_abundance).sum(axis=0)
    prevalence = present / n if n else np.zeros(adata.n_vars)
    totals = np.asarray(M.sum(axis=0), dtype=np.float64).ravel()
    keep = (prevalence >= min_prevalence - 1e-12) & (totals >= min_total)
    before = adata.shape
    new, dropped = _subset(adata, var_keep=keep, keep_layers="additive")
    params = {
        "min_prevalence": min_prevalence,
        "min_abundance": min_abundance,
        "min_total": min_total,
        "layer": layer,
        "prevalence_on": "relative" if unit not in ("relative", "presence") else unit,
    }
    record(
        new,
        "filter_features",
        params=params,
        references=["doi:10.1371/journal.pcbi.1009442"],
        removed=_names(adata.var_names, ~keep),
        n_removed=int((~keep).sum()),
        dropped_layers=dropped,
    )
    _append_step(new, "filter_features", params, before)
    return new
