"""Alpha diversity: one number per sample, vectorised across samples.

Kernels take a samples × features matrix (dense or CSR; a 1-D vector is one
sample) and return one float64 value per sample. Definitions and edge cases follow
scikit-bio 0.7.4 (``skbio.diversity.alpha``):

=====================  ===================================================  ==========
metric                 definition                                           empty sample
=====================  ===================================================  ==========
``observed_features``  number of features > 0                               0
``shannon``            ``-Σ p ln p`` (natural log, scikit-bio's default
                       since 0.6.1; ``base=2`` gives bits)                  NaN
``simpson``            Gini–Simpson ``1 - Σ p²``                            NaN
``chao1``              bias-corrected ``S + F1(F1-1) / (2(F2+1))``
                       (Chao 1987, doi:10.2307/2531532; needs counts)       0
``pielou_e``           ``H / ln S`` (1 when S = 1)                          NaN
``faith_pd``           sum of branch lengths spanned (needs a tree)         0
=====================  ===================================================  ==========

Shannon 1948 (doi:10.1002/j.1538-7305.1948.tb01338.x); Simpson 1949
(doi:10.1038/163688a0); Pielou 1966 (doi:10.1016/0022-5193(66)90013-0);
Faith 1992 (doi:10.1016/0006-3207(92)91201-3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import _core
from .._errors import DataValueError, UnitError
from ..pp._filter import ADDITIVE_UNITS as _ABUNDANCE_UNITS
from ._abundance_checks import _check_abundance

__all__ = [
    "ALPHA_METRICS",
    "alpha",
    "alpha_diversity",
    "chao1",
    "observed_features",
    "pielou_e",
    "shannon",
    "simpson",
]

#: Metric → what it needs ("abundance": any non-negative abundance; "counts": integer counts).
ALPHA_METRICS: dict[str, str] = {
    "observed_features": "abundance",
    "shannon": "abundance",
    "simpson": "abundance",
    "chao1": "counts",
    "pielou_e": "abundance",
    "faith_pd": "abundance",
}


def _matrix(X: Any) -> Any:
    """Validate and return a float64 2-D dense array or CSR matrix."""
    if sp.issparse(X):
        M = sp.csr_matrix(X, dtype=np.float64)
        M.eliminate_zeros()
        data = M.data
    else:
        M = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if M.ndim != 2:
            raise DataValueError("expected a samples × features matrix", fix="pass a 2-D table")
        data = M
    _check_abundance(data)
    return M


def _row_sum(M: Any) -> np.ndarray:
    return np.asarray(M.sum(axis=1), dtype=np.float64).ravel()


def _proportions(M: Any) -> tuple[Any, np.ndarray]:
    """Row proportions (same sparsity) and row totals."""
    tot = _row_sum(M)
    safe = np.where(tot > 0, tot, 1.0)
    if sp.issparse(M):
        P = M.copy()
        P.data = P.data / np.repeat(safe, np.diff(P.indptr))
        return P, tot
    return M / safe[:, None], tot


def observed_features(X: Any) -> np.ndarray:
    """Number of features with a value > 0 in each sample."""
    M = _matrix(X)
    if sp.issparse(M):
        return np.diff(M.indptr).astype(np.float64)
    return np.count_nonzero(M, axis=1).astype(np.float64)


def _plogp_sum(P: Any) -> np.ndarray:
    if sp.issparse(P):
        Q = P.copy()
        Q.data = Q.data * np.log(Q.data)
        return _row_sum(Q)
    out = np.zeros_like(P)
    np.log(P, out=out, where=P > 0)
    out *= P
    return out.sum(axis=1)


def shannon(X: Any, *, base: float | None = None) -> np.ndarray:
    """Shannon entropy ``-Σ p log p`` of each sample.

    Parameters
    ----------
    X
        Samples × features non-negative abundances.
    base
        Logarithm base; ``None`` (default) is the natural log, as scikit-bio ≥ 0.6.1.

    Returns
    -------
    numpy.ndarray
        One value per sample; NaN for an all-zero sample.
    """
    M = _matrix(X)
    P, tot = _proportions(M)
    H = 0.0 - _plogp_sum(P)  # 0.0 - x avoids -0.0 for single-feature samples
    if base is not None:
        H = H / np.log(base)
    H[tot == 0] = np.nan
    return H


def simpson(X: Any) -> np.ndarray:
    """Gini–Simpson index ``1 - Σ p²`` of each sample (NaN when empty)."""
    M = _matrix(X)
    P, tot = _proportions(M)
    D = _row_sum(P.multiply(P)) if sp.issparse(P) else np.einsum("ij,ij->i", P, P)
    out = 1.0 - D
    out[tot == 0] = np.nan
    return out


def chao1(X: Any, *, bias_corrected: bool = True) -> np.ndarray:
    """Chao1 richness estimate of each sample (integer counts).

    ``S_obs + F1(F1-1) / (2(F2+1))`` (bias-corrected, default); with
    ``bias_corrected=False`` and both singletons and doubletons present,
    ``S_obs + F1² / (2 F2)`` — the rules of ``skbio.diversity.alpha.chao1``.
    """
    M = _matrix(X)
    data = M.data if sp.issparse(M) else M
    if data.size and not np.all(data == np.round(data)):
        raise UnitError(
            "chao1 needs integer counts (singletons and doubletons)",
            fix="pass the count table, not proportions",
        )
    if sp.issparse(M):
        o = np.diff(M.indptr).astype(np.float64)
        rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
        s = np.bincount(rows, weights=(M.data == 1), minlength=M.shape[0])
        d = np.bincount(rows, weights=(M.data == 2), minlength=M.shape[0])
    else:
        o = np.count_nonzero(M, axis=1).astype(np.float64)
        s = (M == 1).sum(axis=1).astype(np.float64)
        d = (M == 2).sum(axis=1).astype(np.float64)
    corrected = o + s * (s - 1) / (2 * (d + 1))
    if bias_corrected:
        return corrected
    with np.errstate(divide="ignore", invalid="ignore"):
        plain = o + s**2 / (2 * d)
    return np.where((s > 0) & (d > 0), plain, corrected)


def pielou_e(X: Any, *, base: float | None = None) -> np.ndarray:
    """Pielou's evenness ``H / ln S`` (1 for one feature, NaN when empty).

    ``base`` cancels in the ratio; it is accepted for symmetry with :func:`shannon`.
    """
    H = shannon(X, base=None)
    S = observed_features(X)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = H / np.log(S)
    out[S == 1] = 1.0
    out[S == 0] = np.nan
    return out


def alpha(
    X: Any,
    metric: str,
    *,
    taxa: Sequence[str] | None = None,
    tree: Any = None,
    base: float | None = None,
) -> np.ndarray:
    """Compute one of :data:`ALPHA_METRICS` for every sample of a matrix."""
    if metric == "observed_features":
        return observed_features(X)
    if metric == "shannon":
        return shannon(X, base=base)
    if metric == "simpson":
        return simpson(X)
    if metric == "chao1":
        return chao1(X)
    if metric == "pielou_e":
        return pielou_e(X)
    if metric == "faith_pd":
        from ._unifrac import faith_pd

        if tree is None or taxa is None:
            raise DataValueError(
                "faith_pd needs a phylogenetic tree", fix="pass tree= (Newick file or skbio.TreeNode)"
            )
        return faith_pd(X, taxa, tree)
    raise DataValueError(
        f"unknown alpha diversity metric {metric!r}", fix=f"use one of {', '.join(ALPHA_METRICS)}"
    )


def alpha_diversity(
    adata: AnnData,
    *,
    metrics: Sequence[str] | str = ("observed_features", "shannon"),
    tree: Any = None,
    layer: str | None = None,
    base: float | None = None,
) -> None:
    """Alpha diversity of every sample into ``obs``.

    Parameters
    ----------
    adata
        Samples × features AnnData of non-negative abundances.
    metrics
        Names from :data:`ALPHA_METRICS`. ``chao1`` needs counts (it raises
        :class:`gutbrain.UnitError` otherwise); ``faith_pd`` needs ``tree``.
    tree
        Newick path or :class:`skbio.TreeNode` whose tips are ``var_names``.
    layer
        Use ``layers[layer]`` instead of ``X``.
    base
        Logarithm base of Shannon (``None`` = natural log, as scikit-bio).

    Notes
    -----
    Sets the following fields:

    ``adata.obs[metric]``
        float64 value per sample for each metric.
    ``adata.uns["alpha_diversity"]``
        ``{"params": {"metrics", "layer", "base", "tree"}, "metrics": [...]}``.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in ALPHA_METRICS]
    if unknown:
        raise DataValueError(
            f"unknown alpha diversity metric(s) {', '.join(map(repr, unknown))}",
            fix=f"use any of {', '.join(ALPHA_METRICS)}",
        )
    for m in metrics:
        if ALPHA_METRICS[m] == "counts":
            _core.require_unit(adata, ("counts",), what=m, layer=layer)
        else:
            allowed = (*_ABUNDANCE_UNITS, "presence") if m in ("observed_features", "faith_pd") else _ABUNDANCE_UNITS
            _core.require_unit(adata, allowed, what=m, layer=layer)
    M = _core.get_matrix(adata, layer, dense=False)
    taxa = list(adata.var_names)
    for m in metrics:
        adata.obs[m] = pd.Series(
            alpha(M, m, taxa=taxa, tree=tree, base=base), index=adata.obs_names, dtype=np.float64
        )
    _core.record(
        adata,
        "alpha_diversity",
        params={
            "metrics": metrics,
            "layer": layer,
            "base": "e" if base is None else base,
            "tree": tree if isinstance(tree, str) else (None if tree is None else "TreeNode"),
        },
        references=[
            "Shannon 1948 doi:10.1002/j.1538-7305.1948.tb01338.x",
            "Simpson 1949 doi:10.1038/163688a0",
            "Chao 1987 doi:10.2307/2531532",
            "Faith 1992 doi:10.1016/0006-3207(92)91201-3",
        ],
        metrics=metrics,
    )
