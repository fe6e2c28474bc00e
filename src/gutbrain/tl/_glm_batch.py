"""Batched weighted least squares and logistic IRLS: one model per feature, all at once.

MaAsLin 3 fits, for every feature, a linear model on the feature's *own* samples (its
non-zero values) and a logistic model of its presence.  The designs therefore differ
between features only through per-sample weights ``W[i, f]`` (0/1 masks for the
abundance model, IRLS weights for the logistic one), and every fit reduces to the
per-feature **sufficient statistics**

    G_f = Σ_i W[i,f] x_i x_iᵀ   (p × p)        b_f = Σ_i W[i,f] z[i,f] x_i   (p)

which are sums over samples.  They are computed for all features with one matrix
product each (:func:`gram`, :func:`cross`), so the cost is ``O(n·p²·F)`` BLAS work and
a batched ``p × p`` solve — no per-feature Python loop.  Because they are sums over
samples, a sample-chunked (map–reduce) backend can compute them chunk by chunk and
add them up; :func:`solve_wls` and the IRLS update then run on the totals.

R's numerical conventions are kept where they change results:

* **aliased columns** (R's pivoted QR, LINPACK ``dqrdc2``): a column whose part
  orthogonal to the earlier kept columns has norm below ``tol`` × its own norm is
  dropped (coefficient NaN), the others are fitted without it — ``lm`` uses
  ``tol = 1e-7``, ``glm.fit`` ``min(1e-7, epsilon/1000) = 1e-11``;
* **logistic IRLS** follows ``glm.fit``: binomial ``mustart = (w·y + 0.5)/(w + 1)``,
  the logit link with R's clamping (``|η| > 30``), stopping when
  ``|dev − dev_old| / (|dev| + 0.1) < 1e-8`` (at most 25 iterations), standard errors
  from the weights of the last iteration (``summary.glm`` uses the last QR).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import special

__all__ = [
    "alias_mask",
    "cross",
    "gram",
    "logit_irls",
    "logit_pass",
    "mask_sums",
    "outer_rows",
    "solve_wls",
    "wls_masked",
]

_DBL_EPS = np.finfo(np.float64).eps
_THRESH = 30.0
_INVEPS = 1.0 / _DBL_EPS


# ----------------------------------------------------------------------------------
# sufficient statistics (sums over samples: separable over sample chunks)
# ----------------------------------------------------------------------------------


def outer_rows(X: np.ndarray) -> np.ndarray:
    """Row-wise outer products ``x_i x_iᵀ`` flattened: ``n × p²``."""
    n, p = X.shape
    return (X[:, :, None] * X[:, None, :]).reshape(n, p * p)


def _pairs_t(X: np.ndarray) -> np.ndarray:
    """Products ``x_ij x_il`` for ``j ≤ l`` as rows: ``p(p+1)/2 × n`` (C order)."""
    iu, ju = np.triu_indices(X.shape[1])
    return np.ascontiguousarray((X[:, iu] * X[:, ju]).T)


@njit(cache=True, nogil=True)
def _unpack_kernel(Gp, G):  # pragma: no cover - compiled
    F, p, _ = G.shape
    for f in range(F):
        c = 0
        for j in range(p):
            for k in range(j, p):
                v = Gp[c, f]
                G[f, j, k] = v
                G[f, k, j] = v
                c += 1


def _unpack(Gp: np.ndarray, p: int) -> np.ndarray:
    """``p(p+1)/2 × F`` upper-triangle sums (row-major pairs) → symmetric ``F × p × p``."""
    G = np.empty((Gp.shape[1], p, p))
    _unpack_kernel(np.ascontiguousarray(Gp), G)
    return G


def gram(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Per-feature weighted Gram matrices ``G[f] = Σ_i W[i,f] x_i x_iᵀ`` (``F × p × p``).

    One matrix product of the ``p(p+1)/2`` column products with ``W`` (samples ×
    features, used as stored: no transpose copy).
    """
    X = np.asarray(X, dtype=np.float64)
    return _unpack(_pairs_t(X) @ np.asarray(W, dtype=np.float64), X.shape[1])


def mask_sums(X: np.ndarray, W: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature sums over the samples where ``W`` is 1 (or weighted by ``W``).

    ``gram`` = ``Σ_i W[i,f] x_ij x_il`` for ``j ≤ l`` (packed, ``p(p+1)/2 × F``), ``xsum`` =
    ``Σ_i W[i,f] x_i`` (``p × F``) and ``count`` = ``Σ_i W[i,f]`` (``F``): the masked
    Gram matrices of the abundance model and the statistics of the first logistic
    iteration (for a 0/1 outcome ``y = W``), from one matrix product.  Rows of
    ``[x_ij x_il; x_ij; 1]`` that are equal (an intercept makes ``x_0j x_ij = x_ij``; a 0/1
    column ``x_ij² = x_ij``) are multiplied once.
    """
    U, inv = _sum_rows(X)
    return _split_sums((U @ np.asarray(W, dtype=np.float64))[inv], X.shape[1])


def _sum_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows ``U`` of ``[x_ij x_il (j ≤ l); x_ij; 1]`` and each row's index in ``U``."""
    X = np.asarray(X, dtype=np.float64)
    R = np.vstack([_pairs_t(X), X.T, np.ones((1, X.shape[0]))])
    first: dict[bytes, int] = {}
    inv = np.array([first.setdefault(r.tobytes(), len(first)) for r in R])  # equal rows: one index
    keep = np.unique(inv, return_index=True)[1]
    return np.ascontiguousarray(R[keep]), inv


def _split_sums(S: np.ndarray, p: int) -> dict[str, np.ndarray]:
    npair = p * (p + 1) // 2
    return {"gram": S[:npair], "xsum": S[npair : npair + p], "count": S[-1]}


def cross(X: np.ndarray, WZ: np.ndarray) -> np.ndarray:
    """Per-feature weighted cross-products ``b[f] = Σ_i WZ[i,f] x_i`` (``F × p``)."""
    return (np.ascontiguousarray(np.asarray(X, dtype=np.float64).T) @ WZ).T


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def _masked_values(M, Y, i0, W, Y0, yy, cnt):  # pragma: no cover - compiled
    """Rows ``i0 … i0 + r`` (``r`` = rows of ``W``) in one pass over the mask:
    ``W = M`` as 0/1, ``Y0 = Y`` where ``M`` else 0 (NaN outside the mask allowed); adds
    ``Σ Y0²`` to ``yy`` and ``Σ M`` to ``cnt`` per column."""
    r, k = W.shape
    for i in range(r):
        mr = M[i0 + i]
        yr = Y[i0 + i]
        wr = W[i]
        zr = Y0[i]
        for f in range(k):
            m = mr[f]
            v = yr[f] if m else 0.0
            w = 1.0 if m else 0.0
            wr[f] = w
            zr[f] = v
            yy[f] += v * v
            cnt[f] += w


# ----------------------------------------------------------------------------------
# solving
# ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _alias_kernel(G, tol2, alias):  # pragma: no cover - compiled
    F, p, _ = G.shape
    A = np.empty((p, p))
    col = np.empty(p)
    for f in range(F):
        for i in range(p):
            for j in range(p):
                A[i, j] = G[f, i, j]
        for j in range(p):
            nj = G[f, j, j]
            if nj == 0.0:
                nj = 1.0
            d = A[j, j]
            al = not (d >= tol2 * nj)  # NaN counts as aliased
            alias[f, j] = al
            if al:
                continue
            piv = np.sqrt(d)
            for r in range(j + 1, p):
                col[r] = A[r, j] / piv
            for r in range(j + 1, p):
                for q in range(j + 1, p):
                    A[r, q] -= col[r] * col[q]


def alias_mask(G: np.ndarray, tol: float) -> np.ndarray:
    """Columns R's pivoted QR would drop, per feature (``F × p`` boolean).

    Column ``j`` is aliased when the squared norm of its part orthogonal to the kept
    columns before it (the Schur complement of ``G``) is below ``tol² ×`` its squared
    norm (a zero column is always aliased), as LINPACK ``dqrdc2`` decides.
    """
    G = np.ascontiguousarray(G, dtype=np.float64)
    alias = np.zeros(G.shape[:2], dtype=bool)
    _alias_kernel(G, float(tol) * float(tol), alias)
    return alias


@njit(cache=True, nogil=True, error_model="numpy")
def _chol_solve(G, b, alias, beta, Ginv, want_inv, ok):  # pragma: no cover - compiled
    """Per feature: Cholesky of ``G`` without the aliased rows/columns, ``β``, ``G⁻¹``."""
    F, p, _ = G.shape
    L = np.empty((p, p))
    z = np.empty(p)
    for f in range(F):
        good = True
        for i in range(p):
            for j in range(i + 1):
                if alias[f, i] or alias[f, j]:
                    v = 1.0 if i == j else 0.0
                else:
                    v = G[f, i, j]
                for k in range(j):
                    v -= L[i, k] * L[j, k]
                if i == j:
                    if not (v > 0.0) or not np.isfinite(v):
                        good = False
                        break
                    L[i, i] = np.sqrt(v)
                else:
                    L[i, j] = v / L[j, j]
            if not good:
                break
        ok[f] = good
        if not good:
            continue
        for i in range(p):  # L z = b
            v = 0.0 if alias[f, i] else b[f, i]
            for k in range(i):
                v -= L[i, k] * z[k]
            z[i] = v / L[i, i]
        for i in range(p - 1, -1, -1):  # Lᵀ β = z
            v = z[i]
            for k in range(i + 1, p):
                v -= L[k, i] * beta[f, k]
            beta[f, i] = v / L[i, i]
        for i in range(p):
            if alias[f, i]:
                beta[f, i] = 0.0
        if want_inv:
            for c in range(p):  # column c of G⁻¹
                for i in range(p):
                    v = 1.0 if i == c else 0.0
                    for k in range(i):
                        v -= L[i, k] * z[k]
                    z[i] = v / L[i, i]
                for i in range(p - 1, -1, -1):
                    v = z[i]
                    for k in range(i + 1, p):
                        v -= L[k, i] * Ginv[f, k, c]
                    Ginv[f, i, c] = v / L[i, i]
            for i in range(p):
                for j in range(p):
                    if alias[f, i] or alias[f, j]:
                        Ginv[f, i, j] = 0.0


def solve_wls(
    G: np.ndarray, b: np.ndarray, alias: np.ndarray, *, inverse: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Solve ``G β = b`` per feature without the aliased columns.

    Returns ``β`` (``F × p``; aliased entries 0) and, if ``inverse``, ``G⁻¹`` restricted
    to the kept columns (``F × p × p``; aliased rows/columns 0).  A compiled Cholesky
    per feature (``p`` is small); a feature whose reduced ``G`` is not numerically
    positive definite is solved by LU, or by the pseudo-inverse if that fails.
    """
    G = np.ascontiguousarray(G, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    alias = np.ascontiguousarray(alias, dtype=bool)
    F, p = b.shape
    beta = np.zeros((F, p))
    Ginv = np.zeros((F, p, p)) if inverse else np.zeros((1, p, p))
    ok = np.ones(F, dtype=bool)
    _chol_solve(G, b, alias, beta, Ginv, inverse, ok)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        al = alias[bad]
        Gm = np.where(al[:, :, None] | al[:, None, :], 0.0, G[bad])
        idx = np.arange(p)
        Gm[:, idx, idx] = np.where(al, 1.0, Gm[:, idx, idx])
        bm = np.where(al, 0.0, b[bad])
        try:
            bb = np.linalg.solve(Gm, bm[:, :, None])[:, :, 0]
            gi = np.linalg.inv(Gm) if inverse else None
        except np.linalg.LinAlgError:  # a numerically singular system the alias test let through
            pinv = np.linalg.pinv(Gm)
            bb = np.einsum("fij,fj->fi", pinv, bm)
            gi = pinv if inverse else None
        beta[bad] = np.where(al, 0.0, bb)
        if gi is not None:
            Ginv[bad] = np.where(al[:, :, None] | al[:, None, :], 0.0, gi)
    return beta, (Ginv if inverse else None)


def wls_masked(
    X: np.ndarray, Y: np.ndarray, M: np.ndarray, *, tol: float = 1e-7, block_bytes: int = 1 << 19
) -> dict[str, np.ndarray]:
    """Ordinary least squares of each column of ``Y`` on the rows of ``X`` where ``M`` is true.

    Equals R's ``lm(y ~ X, subset = M[, f])`` for every feature ``f`` (aliased
    columns dropped as in R).

    Parameters
    ----------
    X
        ``n × p`` design (intercept included).
    Y
        ``n × F`` responses (values outside the mask are ignored; may be NaN).
    M
        ``n × F`` boolean mask of the rows each feature is fitted on.
    tol
        Aliasing tolerance (R's ``lm``: 1e-7).
    block_bytes
        Cache budget of a sample chunk (its 0/1 weights and masked values).

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``t``, ``pval`` (``F × p``, NaN where aliased),
        ``df`` (residual degrees of freedom), ``nobs``, ``rank``, ``sigma2`` (``F``),
        ``aliased`` (``F × p``), ``cov_unscaled`` (``F × p × p``) and ``mask_sums``
        (:func:`mask_sums` of ``M``: with ``y_sums=`` they spare :func:`logit_irls` its
        first product when its outcomes are ``M``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(50), rng.normal(size=50)])
    >>> Y = X @ np.array([[1.0, 2.0], [0.5, -1.0]]) + rng.normal(size=(50, 2))
    >>> M = np.ones((50, 2), dtype=bool); M[:10, 1] = False
    >>> fit = wls_masked(X, Y, M)
    >>> fit["nobs"].tolist()
    [50, 40]
    """
    X = np.asarray(X, dtype=np.float64)
    M = np.ascontiguousarray(M, dtype=bool)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    n, F = M.shape
    U, inv = _sum_rows(X)
    XT = np.ascontiguousarray(X.T)
    S = np.zeros((U.shape[0], F))
    bT = np.zeros((X.shape[1], F))
    yy = np.zeros(F)
    nobs = np.zeros(F)
    # sample chunks whose 0/1 weights and masked values (2 × rows × F) stay in cache;
    # the sums over samples are added up chunk by chunk
    rb = int(min(n, max(32, block_bytes // (16 * max(F, 1)))))
    W = np.empty((rb, F))
    Y0 = np.empty((rb, F))
    for i0 in range(0, n, rb):
        i1 = min(i0 + rb, n)
        Wb, Zb = W[: i1 - i0], Y0[: i1 - i0]
        _masked_values(M, Y, i0, Wb, Zb, yy, nobs)
        S += U[:, i0:i1] @ Wb
        bT += XT[:, i0:i1] @ Zb
    sums = _split_sums(S[inv], X.shape[1])
    G = _unpack(sums["gram"], X.shape[1])
    b = np.ascontiguousarray(bT.T)
    alias = alias_mask(G, tol)
    beta, Ginv = solve_wls(G, b, alias)
    assert Ginv is not None
    rank = (~alias).sum(axis=1)
    df = nobs - rank
    # RSS from the sufficient statistics; explicit residuals where that cancels badly
    rss = yy - np.einsum("fi,fi->f", b, beta)
    bad = rss <= 1e-7 * yy
    if np.any(bad):
        Mb = M[:, bad]
        resid = np.where(Mb, Y[:, bad] - X @ beta[bad].T, 0.0)
        rss[bad] = np.einsum("ij,ij->j", resid, resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = np.where(df > 0, rss / df, np.nan)
        se = np.sqrt(np.diagonal(Ginv, axis1=1, axis2=2) * sigma2[:, None])
        coef = np.where(alias, np.nan, beta)
        se = np.where(alias, np.nan, se)
        t = coef / se
    pval = 2.0 * special.stdtr(df[:, None], -np.abs(t))
    return {
        "coef": coef,
        "stderr": se,
        "t": t,
        "pval": pval,
        "df": df,
        "nobs": nobs.astype(np.int64),
        "rank": rank,
        "sigma2": sigma2,
        "aliased": alias,
        "cov_unscaled": Ginv,
        "mask_sums": sums,
    }


# ----------------------------------------------------------------------------------
# logistic regression (R glm.fit, binomial / logit), with MaAsLin 3's augmentation
# ----------------------------------------------------------------------------------


_LOG_INV_EPS = 36.04365338911715  # log(1 / DBL_EPSILON): R's logit clamp for |η| > 30


@njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def _logit_weights(ETA, EX, Y, i0, f0, a, c, ey, mx, LP):  # pragma: no cover - compiled
    """One block (samples × features) of a logistic IRLS pass, in place.

    On entry ``ETA = η`` and ``EX = exp(η)`` (any value where ``|η| > 30``); on exit
    ``EX = μ(1−μ)`` and ``ETA = (y + a − cμ) + c·μ(1−μ)·η`` (the right-hand-side
    weights), for the outcomes ``Y[i0 + i, f0 + f]``.  Adds to ``ey`` per feature
    ``Σ t·(y + a)`` (``t`` = η with R's clamp), raises ``mx`` to ``max |η|``, and writes
    the products of ``1 + e^t`` over each run of 16 samples to the rows of ``LP`` (each
    factor is at most ``1 + 1/ε``, so a product of 16 cannot overflow): ``Σ log(1 + e^t)``
    then takes one (SIMD) logarithm per 16 samples.  The inner loop runs over features
    (contiguous) and vectorises; its accumulators are local (no aliasing checks).
    """
    m, k = ETA.shape
    lprod = np.ones(k)
    ey_ = np.zeros(k)
    mx_ = np.zeros(k)
    for i in range(m):
        er = ETA[i]
        xr = EX[i]
        yr = Y[i0 + i, f0 : f0 + k]
        for f in range(k):
            eta = er[f]
            hi = eta > _THRESH
            lo = eta < -_THRESH
            e = _INVEPS if hi else (_DBL_EPS if lo else xr[f])
            t = _LOG_INV_EPS if hi else (-_LOG_INV_EPS if lo else eta)
            s1 = 1.0 + e
            r = 1.0 / s1  # 1 − μ
            mu = 1.0 - r
            w = r * mu
            ya = yr[f] + a
            ey_[f] += t * ya
            lprod[f] *= s1
            ae = abs(eta)
            mx_[f] = ae if ae > mx_[f] else mx_[f]
            xr[f] = w
            er[f] = (ya - c * mu) + eta * w * c
        if (i & 15) == 15 or i == m - 1:
            row = LP[i >> 4]
            for f in range(k):
                row[f] = lprod[f]
                lprod[f] = 1.0
    for f in range(k):
        ey[f] += ey_[f]
        mx[f] = mx_[f] if mx_[f] > mx[f] else mx[f]


def _logit_pass_packed(
    X: np.ndarray, PT: np.ndarray, Y: np.ndarray, B: np.ndarray, a: float, block: int, chunk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`logit_pass` with ``G`` packed (``p(p+1)/2 × m``) and ``b`` transposed (``p × m``)."""
    n, p = X.shape
    m = B.shape[0]
    c = 1.0 + 2.0 * a
    Gp = np.zeros((PT.shape[0], m))
    bT = np.zeros((p, m))
    lsum = np.zeros(m)
    ey = np.zeros(m)
    mx = np.zeros(m)
    kb = max(1, min(block, m))
    ib = max(16, min(-(-chunk // 16) * 16, -(-n // 16) * 16))  # a multiple of 16 samples
    buf1 = np.empty(ib * kb)
    buf2 = np.empty(ib * kb)
    buf3 = np.empty(((n + 15) // 16) * kb)  # the products of 16 samples, for the whole block
    with np.errstate(over="ignore"):
        for f0 in range(0, m, kb):
            f1 = min(f0 + kb, m)
            k = f1 - f0
            Bt = np.ascontiguousarray(B[f0:f1].T)
            LPall = buf3[: ((n + 15) // 16) * k].reshape(-1, k)
            for i0 in range(0, n, ib):
                i1 = min(i0 + ib, n)
                r = i1 - i0
                E = buf1[: r * k].reshape(r, k)
                V = buf2[: r * k].reshape(r, k)
                np.matmul(X[i0:i1], Bt, out=E)  # η
                np.exp(E, out=V)
                LP = LPall[i0 // 16 : (i1 + 15) // 16]
                _logit_weights(E, V, Y, i0, f0, a, c, ey[f0:f1], mx[f0:f1], LP)
                Gp[:, f0:f1] += PT[:, i0:i1] @ V
                bT[:, f0:f1] += X[i0:i1].T @ E
            lsum[f0:f1] = np.log(LPall).sum(axis=0)
    Gp *= c
    return Gp, bT, 2.0 * (c * lsum - ey), mx


def logit_pass(
    X: np.ndarray,
    Y: np.ndarray,
    B: np.ndarray,
    augment_weight: float = 0.0,
    *,
    block: int = 512,
    chunk: int = 128,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sufficient statistics of one logistic IRLS step at coefficients ``B`` (``F × p``).

    Returns ``(G, b, deviance, max|η|)``: the weighted Gram matrices
    ``G_f = (1 + 2a)·Σ_i μ(1−μ) x_i x_iᵀ`` and right-hand sides
    ``b_f = Σ_i [(1 + 2a)·μ(1−μ)·η + y + a − (1 + 2a)·μ] x_i`` of the next weighted
    least-squares step, and the augmented binomial deviance
    ``2·[(1 + 2a)·Σ log(1 + e^η) − Σ η·(y + a)]`` at ``B`` (R's clamp of the logit link,
    ``|η| > 30`` → ``e^η = ε`` or ``1/ε``, is kept).  All are sums over samples
    (``max|η|`` a maximum), so a sample-chunked backend can compute them chunk by chunk
    and add them up.  The work runs on blocks of ``chunk`` samples × ``block``
    features that stay in cache: ``η`` and the weights by one matrix product, NumPy's
    SIMD ``exp`` and a compiled loop vectorised over features; the sums by two matrix
    products per block.  ``Y`` is samples × features (``n × F``).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    p = X.shape[1]
    Gp, bT, dev, mx = _logit_pass_packed(X, _pairs_t(X), Y, B, float(augment_weight), block, chunk)
    return _unpack(Gp, p), np.ascontiguousarray(bT.T), dev, mx


def logit_irls(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    augment_weight: float = 0.0,
    maxit: int = 25,
    epsilon: float = 1e-8,
    tol: float = 1e-11,
    block: int = 512,
    chunk: int = 128,
    y_sums: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Logistic regression of every 0/1 column of ``Y`` on ``X``, as R's ``glm.fit``.

    With ``augment_weight = a > 0`` each sample is accompanied by two
    pseudo-observations of weight ``a`` — one with outcome 1, one with outcome 0
    (MaAsLin 3's ``augment_data``: ``a = (p − 1) / (2 n)``) — which keeps the
    estimates finite under separation.  The fit equals ``glm(y ~ X, binomial,
    weights = c(1, a, a))`` on the tripled data; the pseudo-observations share the
    samples' design rows, so the three blocks are summed per sample and nothing is
    tripled (the first iteration, whose starting values differ between blocks, is
    computed block by block as ``glm.fit`` does).  Each later iteration is one
    pass over samples × features (:func:`logit_pass`) and a batched ``p × p`` solve.

    Parameters
    ----------
    X
        ``n × p`` design (intercept included).
    Y
        ``n × F`` outcomes in {0, 1} (boolean or numeric).
    augment_weight
        Weight of each pseudo-observation (0: ordinary logistic regression).
    maxit, epsilon
        ``glm.control`` (R defaults 25 and 1e-8).
    tol
        Aliasing tolerance of the weighted least squares (R: 1e-11).
    block, chunk
        Features × samples per cache block of a pass (:func:`logit_pass`).
    y_sums
        :func:`mask_sums` of ``Y`` if already computed (e.g. ``wls_masked(X, T, Y)["mask_sums"]``
        when the abundance model's mask is the presence matrix): the first iteration
        then needs no pass over ``Y``.

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``z``, ``pval`` (``F × p``; NaN where aliased), ``cov``
        (``F × p × p``), ``deviance``, ``converged``, ``iterations``, ``fitted_01``
        (R's warning "fitted probabilities numerically 0 or 1 occurred") and
        ``aliased``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = np.column_stack([np.ones(200), rng.normal(size=200)])
    >>> Y = (rng.random((200, 3)) < special.expit(X @ [[0.0, 1.0, -1.0], [1.0, 0.5, 0.0]])).astype(float)
    >>> fit = logit_irls(X, Y)
    >>> bool(fit["converged"].all())
    True
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.asarray(Y)
    if Y.dtype == bool:  # outcomes as read by the passes: one byte each (cheap to gather)
        Yk = np.ascontiguousarray(Y).view(np.uint8)
    else:
        Y = np.ascontiguousarray(Y, dtype=np.float64)
        Yk = Y.astype(np.uint8) if np.array_equal(Y, Y != 0) else Y
    n, p = X.shape
    F = Y.shape[1]
    a = float(augment_weight)
    # --- iteration 1 from glm.fit's starting values (block-specific: closed form per y)
    def start(ms: float, y: float, w: float) -> tuple[float, float, float]:
        eta = math.log(ms / (1.0 - ms))  # |η| < 30: R's clamps do not apply
        e = math.exp(eta)
        mu = e / (1.0 + e)
        me = e / ((1.0 + e) * (1.0 + e))
        var = mu * (1.0 - mu)
        w2 = w * me * me / var
        z = eta + (y - mu) / me
        dev = 2.0 * w * (-math.log(mu) if y > 0 else -math.log(1.0 - mu))
        return w2, w2 * z, dev

    w1, wz1, d1 = start(0.75, 1.0, 1.0)  # (1·y + 0.5) / 2 for y = 1
    w0, wz0, d0 = start(0.25, 0.0, 1.0)
    cw = cz = cd = 0.0
    if a > 0:
        for ms, y in (((a + 0.5) / (a + 1.0), 1.0), (0.5 / (a + 1.0), 0.0)):
            wb, wzb, db = start(ms, y, a)
            cw, cz, cd = cw + wb, cz + wzb, cd + db
    PT = _pairs_t(X)
    # equal product rows (a 0/1 column: x_ij² = x_0j x_ij) are multiplied once in the passes
    first: dict[bytes, int] = {}
    pinv = np.array([first.setdefault(r.tobytes(), len(first)) for r in PT])
    PTu = np.ascontiguousarray(PT[np.unique(pinv, return_index=True)[1]])
    # G = Σ_i (w0 + cw + (w1 − w0) y_i) x_i x_iᵀ, b likewise, Σ y: one matrix product with Y
    if y_sums is None:
        y_sums = mask_sums(X, Y)
    Gp = ((w0 + cw) * PT.sum(axis=1))[:, None] + (w1 - w0) * y_sums["gram"]
    G = _unpack(Gp, p)
    b = (wz0 + cz) * X.sum(axis=0)[None, :] + (wz1 - wz0) * y_sums["xsum"].T
    ny = y_sums["count"]
    devold = ny * d1 + (n - ny) * d0 + n * cd
    coef = np.zeros((F, p))
    Gused = np.zeros((F, p, p))
    alias_used = np.zeros((F, p), dtype=bool)
    dev_final = np.zeros(F)
    maxeta = np.zeros(F)
    converged = np.zeros(F, dtype=bool)
    iterations = np.zeros(F, dtype=np.int64)
    active = np.arange(F)
    # rows of X: max Σ_j |x_ij| bounds how far η moves with the coefficients
    xnorm = float(np.abs(X).sum(axis=1).max()) if n else 0.0
    cur, Ycur = active, Yk
    for it in range(1, maxit + 1):
        Ga, ba = G[active], b[active]
        alias = alias_mask(Ga, tol)
        beta, _ = solve_wls(Ga, ba, alias, inverse=False)
        if it > 1:
            # glm.fit stops at the first iteration whose deviance changed by less than
            # epsilon·(|dev| + 0.1).  Near the optimum IRLS is Newton's method and the
            # change is the Newton decrement ΔᵀGΔ (cubic error); where it is below 1e-3
            # of that bound R's check passes for certain, and the pass at β that would
            # only confirm it is skipped (deviance = dev − ΔᵀGΔ, |η| bounded below).
            d = beta - coef[active]
            dec = np.einsum("mi,mij,mj->m", d, Ga, d)
            sure = dec < 1e-3 * epsilon * (np.abs(devold[active]) + 0.1)
            move = xnorm * np.abs(d).max(axis=1)
            sure &= np.abs(maxeta[active] - _THRESH) > move
        else:
            sure = np.zeros(active.size, dtype=bool)
        coef[active] = beta
        Gused[active] = Ga
        alias_used[active] = alias
        iterations[active] = it
        if sure.any():
            done = active[sure]
            converged[done] = True
            dev_final[done] = devold[done] - dec[sure]
            active = active[~sure]
            if active.size == 0:
                break
        # the pass runs over `cur` ⊇ active (outcome columns Ycur); they are gathered
        # anew when at least 1/16 of them are done (a gather costs far less than a pass)
        if active.size <= 0.9375 * cur.size:
            cur = active
            Ycur = np.take(Yk, cur, axis=1)
        Gp, bT, dev, mx = _logit_pass_packed(X, PTu, Ycur, coef[cur], a, block, chunk)
        Gp = Gp[pinv]
        if cur.size != active.size:
            sel = np.searchsorted(cur, active)
            Gp, bT, dev, mx = Gp[:, sel], bT[:, sel], dev[sel], mx[sel]
        dev_final[active] = dev
        maxeta[active] = mx
        conv = np.abs(dev - devold[active]) / (np.abs(dev) + 0.1) < epsilon
        converged[active[conv]] = True
        devold[active] = dev
        G[active] = _unpack(Gp, p)
        b[active] = bT.T
        active = active[~conv]
        if active.size == 0:
            break
    _, Ginv = solve_wls(Gused, np.zeros((F, p)), alias_used)
    assert Ginv is not None
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.diagonal(Ginv, axis1=1, axis2=2))
        c = np.where(alias_used, np.nan, coef)
        se = np.where(alias_used, np.nan, se)
        z = c / se
    pval = 2.0 * special.ndtr(-np.abs(z))
    return {
        "coef": c,
        "stderr": se,
        "z": z,
        "pval": pval,
        "converged": converged,
        "iterations": iterations,
        "fitted_01": maxeta > 30.0,
        "aliased": alias_used,
        "cov": Ginv,
        "deviance": dev_final,
    }
