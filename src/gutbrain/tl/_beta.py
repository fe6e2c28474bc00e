"""Beta diversity: pairwise distances between samples.

Object-free kernels return the *condensed* ``n(n-1)/2`` float64 vector (SciPy's
``pdist``/``squareform`` order); memory is that vector plus one block of rows (and,
for Jaccard and Aitchison, one working copy of the input: 0/1 float32 or CLR).

=====================  ===============================================================
metric                 definition (peer it equals)
=====================  ===============================================================
``braycurtis``         ``Σ|x_i - x_j| / Σ(x_i + x_j)`` — compiled kernels: sparse
                       (non-zeros only) for integer counts with ≤ 40 % non-zeros,
                       blocked dense (``S_i + S_j − 2 Σ min``) otherwise; on
                       integer counts bit-identical to
                       ``scipy.spatial.distance.pdist(X, "braycurtis")``
``jaccard``            ``1 - |A∩B| / |A∪B|`` on presence — blocked 0/1 matrix products
                       (``pdist(X > 0, "jaccard")``, ``skbio.diversity.beta_diversity``)
``aitchison``          Euclidean distance between CLR vectors — one symmetric matrix
                       product per block (``pdist(clr(X + pseudocount), "euclidean")``)
``robust_aitchison``   Euclidean distance between robust-CLR vectors over features
                       observed in both samples (Martino et al. 2019, mSystems
                       4:e00016-19, doi:10.1128/mSystems.00016-19)
``unweighted_unifrac`` see :mod:`gutbrain.tl._unifrac`
``weighted_unifrac``   idem (``normalized=False``, as scikit-bio)
``weighted_normalized_unifrac`` idem with ``normalized=True`` (QIIME 1.9.1)
=====================  ===============================================================

Aitchison pseudocount
    The Aitchison distance needs strictly positive values (scikit-bio's ``clr`` rejects
    zeros), so gutbrain computes it on ``X + pseudocount``. Default (``None``): no
    pseudocount when every value is > 0; otherwise 1 for integer counts, as
    q2-diversity's ``beta`` action (``pseudocount=1``); non-integer data with zeros
    must give ``pseudocount`` explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .. import _core
from .._errors import DataValueError, UnitError
from .._version import __version__
from ..pp._filter import ADDITIVE_UNITS as _ABUNDANCE_UNITS
from ._abundance_checks import _check_abundance

__all__ = [
    "BETA_METRICS",
    "aitchison",
    "beta",
    "beta_diversity",
    "braycurtis",
    "jaccard",
    "robust_aitchison",
    "squareform",
]

#: Rows per block of the matrix-product metrics (block memory = block × n × 8 bytes);
#: ``None`` sizes blocks to ~32 MiB per worker thread (see ``_block_rows``).
BLOCK: int | None = None

BETA_METRICS: dict[str, str] = {
    "braycurtis": "Bray–Curtis dissimilarity",
    "jaccard": "Jaccard distance (presence/absence)",
    "aitchison": "Aitchison distance (Euclidean on CLR)",
    "robust_aitchison": "robust Aitchison distance (rCLR on observed values)",
    "unweighted_unifrac": "unweighted UniFrac",
    "weighted_unifrac": "weighted UniFrac (not normalised)",
    "weighted_normalized_unifrac": "weighted normalised UniFrac",
}
_PHYLO = {"unweighted_unifrac", "weighted_unifrac", "weighted_normalized_unifrac"}

# ---------------------------------------------------------------- helpers


def _dense(X: Any) -> np.ndarray:
    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataValueError("expected a samples × features matrix", fix="pass a 2-D table")
    return X


def squareform(d: np.ndarray) -> np.ndarray:
    """Condensed → square symmetric float64 matrix with an exact-zero diagonal."""
    from scipy.spatial.distance import squareform as _sf

    return _sf(np.asarray(d, dtype=np.float64), checks=False)


def _block_rows(n: int, block: int | None, itemsize: int = 8) -> int:
    """Rows per block: as given, or ~32 MiB blocks, at least 16 of them (64–1,024 rows).

    Sixteen or more blocks keep the worker threads evenly loaded (the first block of
    the upper triangle is the widest).
    """
    if block is not None:
        if block < 1:
            raise DataValueError("block must be ≥ 1", fix="pass a positive number of rows")
        return int(block)
    budget = (32 * 2**20) // max(1, n * itemsize)
    return int(max(64, min(1024, budget, -(-n // 16))))


#: Below this many multiply-adds (n² × features / 2) blocks run serially with threaded BLAS.
_PARALLEL_WORK = 2e9


def _run_blocks(n: int, rows: int, work: Callable[[int, int], None], flops: float) -> None:
    """Call ``work(i0, i1)`` for every row block of the upper triangle.

    Large jobs run the blocks on one worker thread per BLAS thread, each block a
    single-threaded product followed by a GIL-free kernel, handed out largest first.
    Compared with one multi-threaded product per block this also parallelises the
    scatter into the condensed result and keeps every core busy when another process
    slows one of them down (a threaded BLAS call waits for its slowest thread). BLAS is
    limited to one thread for the duration of the call (``threadpoolctl``) and
    restored afterwards. Memory: one block per worker.
    """
    from ._blocks import blas_blocks

    with blas_blocks(flops >= _PARALLEL_WORK and n > rows) as blocks:
        blocks.map(n, rows, work)


def _gram_distances(Z: np.ndarray, *, block: int | None = None) -> np.ndarray:
    """Condensed Euclidean distances via ``‖a‖² + ‖b‖² - 2a·b`` (clipped at 0).

    Only the upper triangle is multiplied (``Z[i0:i1] @ Z[i0:].T`` per row block) and
    each block goes straight into the condensed result: memory is the result plus one
    ``block × n`` float64 block per worker thread.
    """
    from ._beta_kernels import gram_block_to_condensed

    n, f = Z.shape
    sq = np.einsum("ij,ij->i", Z, Z)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)

    def work(i0: int, i1: int) -> None:
        gram_block_to_condensed(Z[i0:i1] @ Z[i0:].T, sq, i0, n, out)

    _run_blocks(n, _block_rows(n, block), work, n * n * f / 2)
    return out


# ---------------------------------------------------------------- kernels


#: Largest fraction of non-zero values for which the sparse Bray–Curtis kernel is used.
#: Its work per pair is proportional to the non-zeros of one sample, the dense kernel's
#: to the features (at a lower cost per feature): measured break-even (see
#: ``benchmarks/beta.py --density``).
BC_SPARSE_DENSITY = 0.4


def braycurtis(X: Any) -> np.ndarray:
    """Bray–Curtis dissimilarity (condensed float64, compiled kernels).

    The path is chosen by the data. Integer counts with at most
    :data:`BC_SPARSE_DENSITY` non-zero values go through a sparse kernel that only
    visits the non-zeros of one of the two samples; denser tables through a blocked
    dense kernel (``S_i + S_j - 2 Σ min``, float32 when the counts and row sums allow
    exact float32 arithmetic). Both give SciPy's numbers bit for bit on integer counts;
    non-integer data run in float64 (a few ulps from SciPy). See
    :mod:`gutbrain.tl._beta_kernels`.

    Parameters
    ----------
    X
        Samples × features non-negative abundances (dense or SciPy sparse).

    Returns
    -------
    numpy.ndarray
        ``Σ_k |x_ik - x_jk| / Σ_k (x_ik + x_jk)``; NaN for two empty samples (as SciPy).
    """
    from ._beta_kernels import (
        F32_EXACT,
        braycurtis_dense,
        braycurtis_sparse,
        dense_to_csr,
        integer_valued,
    )

    if sp.issparse(X):
        C = sp.csr_matrix(X, dtype=np.float64, copy=True)  # never touch the caller's matrix
        C.sum_duplicates()  # also sorts the indices
        _check_abundance(C.data)
        n, f = C.shape
        data = C.data
        dense = None
    else:
        dense = _dense(X)
        _check_abundance(dense)
        n, f = dense.shape
        data = None
    nnz = C.nnz if dense is None else int(np.count_nonzero(dense))
    sparse_path = nnz <= BC_SPARSE_DENSITY * n * f
    if dense is not None and sparse_path:
        indptr, indices, data = dense_to_csr(dense)
    elif dense is None:
        indptr, indices = C.indptr, C.indices
    values = data if data is not None else dense.ravel()
    integer = bool(integer_valued(values, F32_EXACT))
    if sparse_path and integer and (data.size == 0 or data.sum() < 2.0**53):
        return braycurtis_sparse(indptr, indices, data, n, f)
    if dense is None:
        dense = C.toarray()
    exact_f32 = integer and (n == 0 or float(dense.sum(axis=1).max(initial=0.0)) < F32_EXACT)
    return braycurtis_dense(dense, exact_f32=exact_f32)


def jaccard(X: Any, *, block: int | None = BLOCK) -> np.ndarray:
    """Jaccard distance on presence/absence (condensed float64).

    Intersections are blocked products of 0/1 matrices over the upper triangle
    (float32 when the number of features is below 2²⁴, so every count is exact),
    giving the same numbers as ``scipy.spatial.distance.pdist(X > 0, "jaccard")``;
    two empty samples are at 0. Memory: the result, the 0/1 matrix and one block.

    Parameters
    ----------
    X
        Samples × features abundances (only ``> 0`` matters).
    block
        Rows per block (default: ~32 MiB blocks per worker thread).

    Returns
    -------
    numpy.ndarray
        Condensed distances.
    """
    from ._beta_kernels import jaccard_block_to_condensed

    if sp.issparse(X):
        C = sp.csr_matrix(X)
        B = (C > 0).astype(np.float32 if C.shape[1] < 2**24 else np.float64).toarray()
    else:
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataValueError("expected a samples × features matrix", fix="pass a 2-D table")
        B = (X > 0).astype(np.float32 if X.shape[1] < 2**24 else np.float64)
    n = B.shape[0]
    cnt = B.sum(axis=1, dtype=np.float64)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)

    def work(i0: int, i1: int) -> None:
        jaccard_block_to_condensed(B[i0:i1] @ B[i0:].T, cnt, i0, n, out)

    _run_blocks(n, _block_rows(n, block, B.itemsize), work, n * n * B.shape[1] / 2)
    return out


def _auto_pseudocount(X: np.ndarray, pseudocount: float | None) -> float:
    if pseudocount is not None:
        if pseudocount < 0:
            raise DataValueError("pseudocount must be ≥ 0", fix="pass a positive pseudocount")
        return float(pseudocount)
    if X.size == 0 or X.min() > 0:
        return 0.0
    from ._beta_kernels import integer_valued

    if integer_valued(np.ravel(X), np.inf):
        return 1.0
    raise DataValueError(
        "the Aitchison distance needs strictly positive values and the table has zeros "
        "in non-integer data",
        fix="pass pseudocount= explicitly (or use robust_aitchison, which skips zeros)",
    )


def clr_matrix(X: np.ndarray) -> np.ndarray:
    """Row-wise centred log-ratio of a strictly positive matrix."""
    L = np.log(X)
    L -= L.mean(axis=1, keepdims=True)
    return L


def _clr_centred(X: np.ndarray, pc: float) -> np.ndarray:
    """CLR of ``X + pc`` with every column centred (one working copy of ``X``).

    Centring the columns moves all samples by the same vector, so Euclidean
    distances are unchanged, but the squared norms entering ``‖a‖² + ‖b‖² - 2a·b``
    become small, which keeps the cancellation error of the Gram form low.
    """
    L = np.add(X, pc) if pc else np.array(X, dtype=np.float64, copy=True)
    np.log(L, out=L)
    L -= L.mean(axis=1, keepdims=True)
    L -= L.mean(axis=0, keepdims=True)
    return L


def _aitchison_clr(X: np.ndarray, pseudocount: float | None) -> np.ndarray:
    """Column-centred CLR of ``X + pseudocount`` (default rule of the module notes)."""
    pc = _auto_pseudocount(X, pseudocount)
    if X.size and X.min() + pc <= 0:
        raise DataValueError(
            "the Aitchison distance needs strictly positive values",
            fix="pass a pseudocount > 0",
        )
    return _clr_centred(X, pc)


def aitchison(X: Any, *, pseudocount: float | None = None, block: int | None = BLOCK) -> np.ndarray:
    """Aitchison distance: Euclidean distance between CLR-transformed samples.

    Parameters
    ----------
    X
        Samples × features non-negative abundances.
    pseudocount
        Added to every value before the CLR (see the module notes for the default).
    block
        Rows per block of the Gram product (default: ~32 MiB blocks per worker thread).

    Returns
    -------
    numpy.ndarray
        Condensed distances, equal to
        ``pdist(skbio.stats.composition.clr(X + pseudocount), "euclidean")``.

    Notes
    -----
    CLR once (vectorised log, row means; columns then centred, which leaves distances
    unchanged), squared norms, then blocked products over the upper triangle written
    straight into the condensed result: memory is the result, one CLR copy of ``X``
    and one ``block × n`` float64 block.
    """
    X = _dense(X)
    _check_abundance(X)
    return _gram_distances(_aitchison_clr(X, pseudocount), block=block)


def rclr_matrix(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust CLR: log of non-zero values centred on their own mean; zeros stay 0.

    Returns the rCLR matrix (0 where unobserved) and the 0/1 observation mask.
    """
    M = X > 0
    L = np.zeros_like(X)
    np.log(X, out=L, where=M)
    k = M.sum(axis=1)
    mean = np.divide(L.sum(axis=1), k, out=np.zeros(X.shape[0]), where=k > 0)
    L -= mean[:, None]
    L[~M] = 0.0
    return L, M.astype(np.float64)


def robust_aitchison(X: Any, *, block: int | None = BLOCK) -> np.ndarray:
    """Robust Aitchison distance (Martino et al. 2019, doi:10.1128/mSystems.00016-19).

    Each sample is rCLR-transformed on its non-zero values only (log minus the mean
    log of that sample's observed features); the distance between two samples is
    the Euclidean distance over the features observed in *both*:
    ``d_ij² = Σ_k m_ik m_jk (r_ik - r_jk)²``, computed as three blocked products
    ``(R∘R)Mᵀ + M(R∘R)ᵀ - 2RRᵀ``. This is the distance on the observed entries;
    DEICODE/gemelli's RPCA additionally completes the matrix (OptSpace) before
    computing distances, which gutbrain does not do.

    Parameters
    ----------
    X
        Samples × features non-negative abundances.
    block
        Rows per block.

    Returns
    -------
    numpy.ndarray
        Condensed distances.
    """
    X = _dense(X)
    _check_abundance(X)
    R, M = rclr_matrix(X)
    from ._beta_kernels import sqrt_block_to_condensed

    R2 = R * R
    n = X.shape[0]
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)

    def work(i0: int, i1: int) -> None:
        G = R2[i0:i1] @ M[i0:].T
        G += M[i0:i1] @ R2[i0:].T
        G -= 2.0 * (R[i0:i1] @ R[i0:].T)
        sqrt_block_to_condensed(G, i0, n, out)

    _run_blocks(n, _block_rows(n, block), work, 3 * n * n * X.shape[1] / 2)
    return out


def beta(
    X: Any,
    metric: str = "braycurtis",
    *,
    taxa: Any = None,
    tree: Any = None,
    pseudocount: float | None = None,
) -> np.ndarray:
    """Compute any of :data:`BETA_METRICS` on a samples × features matrix (condensed).

    Parameters
    ----------
    X
        Samples × features abundances.
    metric
        Metric name (see :data:`BETA_METRICS`).
    taxa, tree
        Feature names and tree (UniFrac only).
    pseudocount
        Aitchison only.

    Returns
    -------
    numpy.ndarray
        Condensed ``n(n-1)/2`` float64 distances.
    """
    from . import _unifrac

    if metric not in BETA_METRICS:
        raise DataValueError(
            f"unknown beta diversity metric {metric!r}",
            fix=f"use one of {', '.join(BETA_METRICS)}",
        )
    if metric in _PHYLO:
        if tree is None or taxa is None:
            raise DataValueError(
                f"{metric} needs a phylogenetic tree", fix="pass tree= (Newick file or skbio.TreeNode)"
            )
        if metric == "unweighted_unifrac":
            return _unifrac.unweighted_unifrac(X, taxa, tree)
        return _unifrac.weighted_unifrac(
            X, taxa, tree, normalized=metric == "weighted_normalized_unifrac"
        )
    if metric == "braycurtis":
        return braycurtis(X)
    if metric == "jaccard":
        return jaccard(X)
    if metric == "aitchison":
        return aitchison(X, pseudocount=pseudocount)
    return robust_aitchison(X)


# ---------------------------------------------------------------- AnnData wrapper


def _input_matrix(
    adata: AnnData, *, metric: str, layer: str | None, pseudocount: float | None
) -> tuple[Any, float | None]:
    """The abundance matrix for ``metric`` (unit checked) and its Aitchison pseudocount.

    Shared by :func:`beta_diversity` and :func:`gutbrain.parallel.beta_diversity_dask`.
    """
    unit = _core.get_unit(adata, layer)
    allowed = (*_ABUNDANCE_UNITS, "presence") if metric in ("jaccard", "unweighted_unifrac") else _ABUNDANCE_UNITS
    if unit not in allowed:
        raise UnitError(
            f"{metric} needs non-negative abundances ({', '.join(allowed)}), but the data hold {unit}",
            fix="use the table before CLR or other transformations (X or a counts/relative layer)",
        )
    M = _core.get_matrix(adata, layer, dense=False)
    if metric != "aitchison":
        return M, None
    M = _dense(M)
    return M, _auto_pseudocount(M, pseudocount)


def _store_distances(adata: AnnData, key: str, d: np.ndarray, params: dict[str, Any]) -> None:
    """Condensed ``d`` → ``obsp[key]``; ``params`` (plus version) → ``uns["beta_diversity"][key]``."""
    adata.obsp[key] = squareform(d)
    store = dict(adata.uns.get("beta_diversity", {}))
    store[key] = {"params": _core.clean_uns({**params, "gutbrain_version": __version__})}
    adata.uns["beta_diversity"] = store


def beta_diversity(
    adata: AnnData,
    *,
    metric: str = "braycurtis",
    tree: Any = None,
    layer: str | None = None,
    key_added: str | None = None,
    pseudocount: float | None = None,
) -> None:
    """Pairwise distances between samples into ``obsp``.

    Parameters
    ----------
    adata
        Samples × features AnnData holding abundances (counts, relative, percent …).
    metric
        One of :data:`BETA_METRICS`.
    tree
        Newick path or :class:`skbio.TreeNode` whose tips are ``var_names`` (UniFrac).
    layer
        Use ``layers[layer]`` instead of ``X``.
    key_added
        Name of the result (default: the metric name).
    pseudocount
        Aitchison only (see module notes).

    Notes
    -----
    Sets the following fields:

    ``adata.obsp[key]``
        Square symmetric float64 distance matrix (diagonal exactly 0).
    ``adata.uns["beta_diversity"][key]``
        ``{"metric", "pseudocount", "layer", "tree"}`` plus version.
    """
    M, pc = _input_matrix(adata, metric=metric, layer=layer, pseudocount=pseudocount)
    d = beta(M, metric, taxa=list(adata.var_names), tree=tree, pseudocount=pc)
    params = {
        "metric": metric,
        "layer": layer,
        "pseudocount": pc,
        "tree": tree if isinstance(tree, str) else (None if tree is None else "TreeNode"),
    }
    _store_distances(adata, key_added or metric, d, params)


def _ensure_distance(adata: AnnData, distance: str) -> None:
    """Make sure ``obsp[distance]`` exists, computing it when ``distance`` names a metric."""
    if distance not in adata.obsp:
        if distance not in BETA_METRICS:
            raise DataValueError(
                f"no distance matrix obsp[{distance!r}]",
                fix="run gutbrain.tl.beta_diversity(adata, metric=...) first",
            )
        beta_diversity(adata, metric=distance)


def distance_frame(adata: AnnData, key: str) -> pd.DataFrame:
    """Return ``obsp[key]`` as a labelled square DataFrame."""
    return pd.DataFrame(adata.obsp[key], index=adata.obs_names, columns=adata.obs_names)
