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

import numpy as np
from scipy import special

__all__ = [
    "alias_mask",
    "cross",
    "gram",
    "logit_irls",
    "logit_pass",
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


def gram(X: np.ndarray, W: np.ndarray, XX: np.ndarray | None = None) -> np.ndarray:
    """Per-feature weighted Gram matrices ``G[f] = Σ_i W[i,f] x_i x_iᵀ`` (``F × p × p``)."""
    p = X.shape[1]
    XX = outer_rows(X) if XX is None else XX
    return (W.T @ XX).reshape(W.shape[1], p, p)


def cross(X: np.ndarray, WZ: np.ndarray) -> np.ndarray:
    """Per-feature weighted cross-products ``b[f] = Σ_i WZ[i,f] x_i`` (``F × p``)."""
    return WZ.T @ X


# ----------------------------------------------------------------------------------
# solving
# ----------------------------------------------------------------------------------


def alias_mask(G: np.ndarray, tol: float) -> np.ndarray:
    """Columns R's pivoted QR would drop, per feature (``F × p`` boolean).

    Column ``j`` is aliased when the squared norm of its part orthogonal to the kept
    columns before it (the Schur complement of ``G``) is below ``tol² ×`` its squared
    norm (a zero column is always aliased), as LINPACK ``dqrdc2`` decides.
    """
    F, p, _ = G.shape
    A = np.array(G, dtype=np.float64, copy=True)
    norm2 = np.diagonal(G, axis1=1, axis2=2).copy()
    norm2[norm2 == 0] = 1.0
    alias = np.zeros((F, p), dtype=bool)
    for j in range(p):
        d = A[:, j, j]
        al = ~(d >= tol * tol * norm2[:, j])  # NaN counts as aliased
        alias[:, j] = al
        piv = np.sqrt(np.where(al, 1.0, d))
        col = A[:, j + 1 :, j] / piv[:, None]
        col[al] = 0.0
        if j + 1 < p:
            A[:, j + 1 :, j + 1 :] -= col[:, :, None] * col[:, None, :]
    return alias


def solve_wls(
    G: np.ndarray, b: np.ndarray, alias: np.ndarray, *, inverse: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Solve ``G β = b`` per feature without the aliased columns.

    Returns ``β`` (``F × p``; aliased entries 0) and, if ``inverse``, ``G⁻¹`` restricted
    to the kept columns (``F × p × p``; aliased rows/columns 0).
    """
    Gm = np.where(alias[:, :, None] | alias[:, None, :], 0.0, G)
    idx = np.arange(G.shape[1])
    Gm[:, idx, idx] = np.where(alias, 1.0, Gm[:, idx, idx])
    bm = np.where(alias, 0.0, b)
    try:
        beta = np.linalg.solve(Gm, bm[:, :, None])[:, :, 0]
        Ginv = np.linalg.inv(Gm) if inverse else None
    except np.linalg.LinAlgError:  # a numerically singular system the alias test let through
        pinv = np.linalg.pinv(Gm)
        beta = np.einsum("fij,fj->fi", pinv, bm)
        Ginv = pinv if inverse else None
    beta = np.where(alias, 0.0, beta)
    if Ginv is not None:
        Ginv = np.where(alias[:, :, None] | alias[:, None, :], 0.0, Ginv)
    return beta, Ginv


def wls_masked(X: np.ndarray, Y: np.ndarray, M: np.ndarray, *, tol: float = 1e-7) -> dict[str, np.ndarray]:
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

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``t``, ``pval`` (``F × p``, NaN where aliased),
        ``df`` (residual degrees of freedom), ``nobs``, ``rank``, ``sigma2`` (``F``)
        and ``aliased`` (``F × p``).

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
    M = np.asarray(M, dtype=bool)
    W = M.astype(np.float64)
    Y0 = np.where(M, np.asarray(Y, dtype=np.float64), 0.0)
    G = gram(X, W)
    b = cross(X, Y0)
    alias = alias_mask(G, tol)
    beta, Ginv = solve_wls(G, b, alias)
    assert Ginv is not None
    nobs = W.sum(axis=0)
    rank = (~alias).sum(axis=1)
    df = nobs - rank
    # RSS from the sufficient statistics; explicit residuals where that cancels badly
    yy = np.einsum("ij,ij->j", Y0, Y0)
    rss = yy - np.einsum("fi,fi->f", b, beta)
    bad = rss <= 1e-7 * yy
    if np.any(bad):
        resid = (Y0[:, bad] - X @ beta[bad].T) * W[:, bad]
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
    }


# ----------------------------------------------------------------------------------
# logistic regression (R glm.fit, binomial / logit), with MaAsLin 3's augmentation
# ----------------------------------------------------------------------------------


def _linkinv(eta: np.ndarray) -> np.ndarray:
    tmp = np.where(eta < -_THRESH, _DBL_EPS, np.where(eta > _THRESH, _INVEPS, np.exp(np.clip(eta, -_THRESH, _THRESH))))
    return tmp / (1.0 + tmp)


def _mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    opexp = 1.0 + e
    return np.where((eta > _THRESH) | (eta < -_THRESH), _DBL_EPS, e / (opexp * opexp))


def _nlog(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -np.log(x)


_LOG_INV_EPS = 36.04365338911715  # log(1 / DBL_EPSILON): R's logit clamp for |η| > 30


def logit_pass(
    X: np.ndarray,
    Y: np.ndarray,
    B: np.ndarray,
    augment_weight: float = 0.0,
    *,
    block: int = 64,
    XX: np.ndarray | None = None,
    Yat: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sufficient statistics of one logistic IRLS step at coefficients ``B`` (``F × p``).

    Returns ``(G, b, deviance, max|η|)``: the weighted Gram matrices
    ``G_f = (1 + 2a)·Σ_i μ(1−μ) x_i x_iᵀ`` and right-hand sides
    ``b_f = Σ_i [(1 + 2a)·μ(1−μ)·η + y + a − (1 + 2a)·μ] x_i`` of the next weighted
    least-squares step, and the augmented binomial deviance
    ``2·[(1 + 2a)·Σ log(1 + e^η) − Σ η·(y + a)]`` at ``B`` (R's clamp of the logit link,
    ``|η| > 30`` → ``e^η = ε`` or ``1/ε``, is kept).  All are sums over samples
    (``max|η|`` a maximum), so a sample-chunked backend can compute them chunk by chunk
    and add them up.  Features are processed in cache-sized blocks: SIMD ufuncs for the
    weights, two BLAS products for the sums.  ``Yat`` may pass ``Y.T + a``
    precomputed (``F × n``, C-contiguous).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    n, p = X.shape
    m = B.shape[0]
    a = float(augment_weight)
    wsum = 1.0 + 2.0 * a
    if Yat is None:
        Yat = np.ascontiguousarray(np.asarray(Y, dtype=np.float64).T) + a
    XX = outer_rows(X) if XX is None else XX
    XT = np.ascontiguousarray(X.T)
    G = np.empty((m, p * p))
    b = np.empty((m, p))
    lsum = np.empty(m)
    ey = np.empty(m)
    mx = np.empty(m)
    bs = max(1, min(block, m))
    E = np.empty((bs, n))
    T = np.empty((bs, n))
    U = np.empty((bs, n))
    for s0 in range(0, m, bs):
        s1 = min(s0 + bs, m)
        k = s1 - s0
        Eb, Tb, Ub = E[:k], T[:k], U[:k]
        ya = Yat[s0:s1]
        np.matmul(B[s0:s1], XT, out=Eb)  # η
        mx[s0:s1] = np.maximum(Eb.max(axis=1), -Eb.min(axis=1))
        np.clip(Eb, -30.0, 30.0, out=Tb)  # log e^η with R's clamp
        big = mx[s0:s1] > 30.0
        if big.any():
            rows = np.flatnonzero(big)
            Tb[rows] = np.where(np.abs(Eb[rows]) > 30.0, np.sign(Eb[rows]) * _LOG_INV_EPS, Tb[rows])
        ey[s0:s1] = np.einsum("ij,ij->i", Tb, ya)
        np.exp(Tb, out=Tb)
        Tb += 1.0  # 1 + e^η
        np.log(Tb, out=Ub)
        lsum[s0:s1] = Ub.sum(axis=1)
        np.reciprocal(Tb, out=Tb)  # 1 − μ
        np.subtract(1.0, Tb, out=Ub)  # μ
        Tb *= Ub  # μ(1 − μ)
        np.matmul(Tb, XX, out=G[s0:s1])
        Eb *= Tb
        Eb *= wsum  # (1 + 2a) μ(1 − μ) η
        Ub *= -wsum
        Ub += ya
        Ub += Eb
        np.matmul(Ub, X, out=b[s0:s1])
    G *= wsum
    dev = 2.0 * (wsum * lsum - ey)
    return G.reshape(m, p, p), b, dev, mx


def logit_irls(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    augment_weight: float = 0.0,
    maxit: int = 25,
    epsilon: float = 1e-8,
    tol: float = 1e-11,
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
        ``n × F`` outcomes in {0, 1}.
    augment_weight
        Weight of each pseudo-observation (0: ordinary logistic regression).
    maxit, epsilon
        ``glm.control`` (R defaults 25 and 1e-8).
    tol
        Aliasing tolerance of the weighted least squares (R: 1e-11).

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
    Y = np.asarray(Y, dtype=np.float64)
    n, p = X.shape
    F = Y.shape[1]
    a = float(augment_weight)
    # --- iteration 1 from glm.fit's starting values (block-specific: closed form per y)
    def block(ms: float, y: float, w: float) -> tuple[float, float, float]:
        eta = np.log(ms / (1.0 - ms))
        mu = float(_linkinv(np.array(eta)))
        me = float(_mu_eta(np.array(eta)))
        var = mu * (1.0 - mu)
        w2 = w * me * me / var
        z = eta + (y - mu) / me
        dev = 2.0 * w * (-np.log(mu) if y > 0 else -np.log(1.0 - mu))
        return w2, w2 * z, dev

    w1, wz1, d1 = block(0.75, 1.0, 1.0)  # (1·y + 0.5) / 2 for y = 1
    w0, wz0, d0 = block(0.25, 0.0, 1.0)
    cw = cz = cd = 0.0
    if a > 0:
        for ms, y in (((a + 0.5) / (a + 1.0), 1.0), (0.5 / (a + 1.0), 0.0)):
            wb, wzb, db = block(ms, y, a)
            cw, cz, cd = cw + wb, cz + wzb, cd + db
    XX = outer_rows(X)
    # G = Σ_i (w0 + cw + (w1 − w0) y_i) x_i x_iᵀ, b likewise: one product with Y each
    G = np.broadcast_to(((w0 + cw) * (X.T @ X))[None], (F, p, p)).copy()
    if w1 != w0:
        G += (w1 - w0) * gram(X, Y, XX)
    b = (wz0 + cz) * X.sum(axis=0)[None, :] + (wz1 - wz0) * cross(X, Y)
    ny = Y.sum(axis=0)
    Yat = np.ascontiguousarray(Y.T) + a
    devold = ny * d1 + (n - ny) * d0 + n * cd
    coef = np.zeros((F, p))
    Gused = np.zeros((F, p, p))
    alias_used = np.zeros((F, p), dtype=bool)
    dev_final = np.zeros(F)
    maxeta = np.zeros(F)
    converged = np.zeros(F, dtype=bool)
    iterations = np.zeros(F, dtype=np.int64)
    active = np.arange(F)
    for it in range(1, maxit + 1):
        Ga, ba = G[active], b[active]
        alias = alias_mask(Ga, tol)
        beta, _ = solve_wls(Ga, ba, alias, inverse=False)
        coef[active] = beta
        Gused[active] = Ga
        alias_used[active] = alias
        iterations[active] = it
        ya = Yat if active.size == F else Yat[active]
        Gn, bn, dev, mx = logit_pass(X, Y, beta, a, XX=XX, Yat=ya)
        dev_final[active] = dev
        maxeta[active] = mx
        conv = np.abs(dev - devold[active]) / (np.abs(dev) + 0.1) < epsilon
        converged[active[conv]] = True
        devold[active] = dev
        G[active] = Gn
        b[active] = bn
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
