"""Principal coordinate analysis (PCoA, classical multidimensional scaling).

Gower centring ``B = -½ J D∘D J`` then the leading eigenpairs of ``B``
(Gower 1966, doi:10.1093/biomet/53.3-4.325; Legendre & Legendre 2012, *Numerical
Ecology*, 3rd ed., §9.3). Conventions follow ``skbio.stats.ordination.pcoa``
(0.7.4): eigenvalues within ``np.isclose`` of 0 become 0, axes with negative
eigenvalues are returned as zeros, coordinates are ``eigenvector × √eigenvalue``,
and the proportion explained is ``eigenvalue / trace(B)`` when fewer than ``n``
axes are computed (``/ Σ eigenvalues`` otherwise). Signs of axes are arbitrary.

Centring
    One compiled pass for the row means of ``D∘D`` (which also finds NaN/inf) and one
    that writes ``B``: two reads of ``D`` and one write, in parallel over rows.

``method="eigh"`` (exact)
    All axes: LAPACK ``syevd``. The top ``k`` axes of a small matrix (``n ≤ 1,000``,
    or ``k`` not small against ``n``): LAPACK ``syevr`` restricted to those indices.
    Otherwise a block Krylov (block Lanczos) solver with full reorthogonalisation,
    Rayleigh–Ritz extraction and thick restarts: every step is one matrix product
    ``B V`` with a block of ``2k`` (at least ``k + 10``) vectors — a BLAS-3 call,
    where LAPACK's tridiagonal reduction costs ``4/3 n³`` mostly in BLAS-2. It stops
    when every wanted Ritz pair has ``‖B v − θ v‖ ≤ 10⁻¹¹ · |θ₁|``, so each eigenvalue
    is within that bound of a true one and each axis within that bound divided by its
    spectral gap (Parlett 1998, *The Symmetric Eigenvalue Problem*, §11.5, and the
    Davis–Kahan sin θ theorem); if that has not happened after 100 products it falls
    back to LAPACK. The start block is seeded (0), so the result is reproducible.

``method="fsvd"`` (randomised, approximate)
    The same solver limited to four products with a block of ``k + 10`` vectors
    (Halko et al. 2011, doi:10.1137/100804139, with Rayleigh–Ritz rather than an SVD
    of ``B Q``, so negative eigenvalues are not folded onto positive ones): as many
    passes over ``B`` as scikit-bio's FSVD (four products with ``k + 2`` and
    ``2(k + 2)`` vectors), stopping earlier when the pairs already meet
    ``10⁻⁶ · |θ₁|``. Typically 10–100× closer to the exact eigenvalues than
    scikit-bio's FSVD (``tests/tl/test_ordination.py``); use ``"eigh"`` when the axes
    must be exact — it is fast for large ``n`` too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from .. import _core
from .._errors import DataValueError
from .._utils import check_random_state

__all__ = ["gower_center", "pcoa", "pcoa_kernel"]

#: Largest ``n`` for which the top axes always come from LAPACK (``syevr``).
LAPACK_MAX_N = 1000
#: Residual tolerance (relative to the largest Ritz value) of the exact solver.
EXACT_TOL = 1e-11
#: Products ``B V`` after which the exact solver falls back to LAPACK.
EXACT_MAX_PRODUCTS = 100
#: Residual tolerance at which the randomised solver stops early.
FSVD_TOL = 1e-6
#: Products ``B V`` of the randomised solver.
FSVD_PRODUCTS = 4


def _gower(D: np.ndarray) -> tuple[np.ndarray, bool]:
    """``-½ J (D∘D) J`` and whether every value of ``D`` was finite."""
    from ._stats_kernels import gower_fill, row_sq_means

    D = np.ascontiguousarray(D, dtype=np.float64)
    r = row_sq_means(D)
    finite = bool(np.all(np.isfinite(r)))
    B = np.empty_like(D)
    if finite:
        gower_fill(D, r, float(r.mean()), B)
    return B, finite


def gower_center(D: np.ndarray) -> np.ndarray:
    """Return ``-½ J (D∘D) J`` (a new float64 array)."""
    return _gower(D)[0]


def _orthonormal_block(W: np.ndarray, Q: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Orthonormal basis of ``W`` with the span of ``Q`` removed (classical Gram–Schmidt, twice).

    Columns that vanish (the Krylov space is exhausted: ``B`` has low rank) are
    replaced by random directions, so the basis keeps growing.
    """
    norm0 = np.linalg.norm(W, axis=0)
    for _ in range(2):
        if Q is not None:
            W = W - Q @ (Q.T @ W)
    small = np.linalg.norm(W, axis=0) <= 1e-10 * max(float(norm0.max(initial=0.0)), 1e-300)
    if np.any(small):
        R = rng.standard_normal((W.shape[0], int(small.sum())))
        for _ in range(2):
            if Q is not None:
                R = R - Q @ (Q.T @ R)
        W = W.copy()
        W[:, small] = R
    V, _ = np.linalg.qr(W)
    if Q is not None:  # one more pass: QR of nearly dependent columns can reintroduce Q
        V = V - Q @ (Q.T @ V)
        V, _ = np.linalg.qr(V)
    return V


def _block_krylov_eigh(
    B: np.ndarray,
    k: int,
    *,
    block: int,
    tol: float,
    max_products: int,
    rng: np.random.Generator,
    max_blocks: int = 6,
    info: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Top-``k`` eigenpairs of symmetric ``B`` by block Lanczos with thick restarts.

    Returns eigenvalues (descending), eigenvectors (``n × k``) and whether every pair
    met ``‖B v − θ v‖ ≤ tol · |θ₁|``. The products ``B V`` run on row blocks in worker
    threads, everything else single-threaded (:mod:`gutbrain.tl._blocks`). ``info``
    (optional) receives ``products`` (number of ``B V``) and ``residual`` (largest
    relative residual).
    """
    from ._blocks import blas_blocks

    with blas_blocks(B.shape[0] >= 512) as blocks:
        return _block_krylov(B, k, blocks.matmul, block=block, tol=tol, max_products=max_products,
                             rng=rng, max_blocks=max_blocks, info=info)


def _block_krylov(
    B: np.ndarray,
    k: int,
    matmul: Any,
    *,
    block: int,
    tol: float,
    max_products: int,
    rng: np.random.Generator,
    max_blocks: int,
    info: dict[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    n = B.shape[0]
    b = min(block, n)
    Q = _orthonormal_block(rng.standard_normal((n, b)), None, rng)
    AQ = matmul(B, Q)
    products = 1
    while True:
        T = Q.T @ AQ
        theta, Y = np.linalg.eigh((T + T.T) * 0.5)
        theta, Y = theta[::-1], Y[:, ::-1]
        Xk = Q @ Y[:, :k]
        R = AQ @ Y[:, :k] - Xk * theta[:k]
        res = np.linalg.norm(R, axis=0)
        scale = max(abs(float(theta[0])), abs(float(theta[-1])), 1e-300)
        converged = bool(np.all(res <= tol * scale))
        if converged or products >= max_products or Q.shape[1] + b > n:
            if info is not None:
                info.update(products=products, residual=float(res.max() / scale))
            return theta[:k], Xk, converged
        if Q.shape[1] + b > max_blocks * b:  # thick restart on the best Ritz vectors
            keep = min(Q.shape[1], max(k, (max_blocks // 2) * b))
            W = AQ @ Y[:, :b] - (Q @ Y[:, :b]) * theta[:b]  # residuals continue the space
            Q, AQ = Q @ Y[:, :keep], AQ @ Y[:, :keep]
        else:
            W = AQ[:, -b:]
        V = _orthonormal_block(W, Q, rng)
        Q = np.hstack([Q, V])
        AQ = np.hstack([AQ, matmul(B, V)])
        products += 1


def _top_eigh(B: np.ndarray, k: int, method: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = B.shape[0]
    if method == "fsvd":
        w, V, _ = _block_krylov_eigh(
            B, k, block=min(n, k + 10), tol=FSVD_TOL, max_products=FSVD_PRODUCTS, rng=rng,
            max_blocks=FSVD_PRODUCTS + 1,
        )
        return w, V
    if k >= n:
        return np.linalg.eigh(B)
    block = max(2 * k, k + 10)
    if n > LAPACK_MAX_N and 4 * block <= n:
        w, V, ok = _block_krylov_eigh(
            B, k, block=block, tol=EXACT_TOL, max_products=EXACT_MAX_PRODUCTS,
            rng=np.random.default_rng(0),
        )
        if ok:
            return w, V
    from scipy.linalg import eigh

    return eigh(B, subset_by_index=[n - k, n - 1])


def pcoa_kernel(
    D: np.ndarray,
    n_components: int = 10,
    *,
    method: str = "eigh",
    random_state: Any = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCoA of a square distance matrix.

    Parameters
    ----------
    D
        Square symmetric distance matrix.
    n_components
        Number of axes (``0`` = all).
    method
        ``"eigh"`` (exact: LAPACK, or a block Krylov solver run to a residual of
        1e-11 for a few axes of a large matrix; see the module notes) or ``"fsvd"``
        (randomised, four matrix products).
    random_state
        Seed of ``"fsvd"``.

    Returns
    -------
    coordinates, eigenvalues, proportion_explained
        ``n × k`` coordinates and the ``k`` eigenvalues / proportions (descending).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import pdist, squareform
    >>> Y = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    >>> coords, w, prop = pcoa_kernel(squareform(pdist(Y)), 2)
    >>> np.round(w, 6).tolist(), np.round(prop, 6).tolist()
    ([9.0, 1.0], [0.9, 0.1])
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise DataValueError("PCoA needs a square distance matrix", fix="pass an n × n matrix")
    n = D.shape[0]
    k = n if n_components in (0, None) else int(n_components)
    if not 1 <= k <= n:
        raise DataValueError(
            f"n_components={n_components} is outside 1..{n}", fix="ask for fewer axes"
        )
    if method not in ("eigh", "fsvd"):
        raise DataValueError(f"unknown PCoA method {method!r}", fix="use 'eigh' or 'fsvd'")
    B, finite = _gower(D)
    if not finite:
        raise DataValueError(
            "the distance matrix has NaN or infinite values (e.g. two empty samples)",
            fix="remove samples with no reads before computing distances",
        )
    w, V = _top_eigh(B, k, method, check_random_state(random_state))
    w = np.where(np.isclose(w, 0.0), 0.0, w)
    order = np.argsort(w)[::-1]
    w, V = w[order][:k], V[:, order][:, :k]
    positive = w >= 0
    w = np.where(positive, w, 0.0)
    V = V * positive
    total = np.trace(B) if (k < n or method == "fsvd") else w.sum()
    prop = w / total
    return V * np.sqrt(w), w, prop


def pcoa(
    adata: AnnData,
    *,
    distance: str = "braycurtis",
    n_components: int = 10,
    method: str = "eigh",
    random_state: Any = 0,
    key_added: str = "pcoa",
) -> None:
    """PCoA of ``obsp[distance]`` into ``obsm``.

    Parameters
    ----------
    adata
        AnnData with a distance matrix in ``obsp[distance]`` (see
        :func:`gutbrain.tl.beta_diversity`; computed here with the default
        metric of that name when absent).
    distance
        Key of ``obsp``.
    n_components
        Number of axes (capped at the number of samples).
    method
        ``"eigh"`` (exact) or ``"fsvd"`` (randomised, for large n).
    random_state
        Seed of ``"fsvd"``.
    key_added
        ``obsm["X_" + key_added]`` and ``uns[key_added]``.

    Notes
    -----
    Sets the following fields:

    ``adata.obsm["X_" + key_added]``
        n × k coordinates (default key ``X_pcoa``).
    ``adata.uns[key_added]``
        ``{"params", "eigenvalues", "proportion_explained"}``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=30, n_genera=40)
    >>> gb.tl.pcoa(adata, distance="braycurtis", n_components=3)
    >>> adata.obsm["X_pcoa"].shape
    (30, 3)
    """
    from ._beta import _ensure_distance

    _ensure_distance(adata, distance)
    n = adata.n_obs
    k = min(int(n_components), n)
    coords, w, prop = pcoa_kernel(
        np.asarray(adata.obsp[distance]), k, method=method, random_state=random_state
    )
    adata.obsm[f"X_{key_added}"] = coords
    _core.record(
        adata,
        key_added,
        params={"distance": distance, "n_components": k, "method": method},
        random_state=random_state if method == "fsvd" else None,
        references=["Gower 1966 doi:10.1093/biomet/53.3-4.325"],
        eigenvalues=w,
        proportion_explained=prop,
    )
