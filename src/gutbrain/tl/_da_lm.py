"""Vectorised linear models across features: OLS and REML random-intercept models.

Every feature shares the design (and, for mixed models, the grouping), so the work
that depends only on the design is done once:

* **OLS** — one QR factorisation of ``X`` serves all features:
  ``B = R⁻¹ Qᵀ Y``, residual sums of squares from ``‖y‖² − ‖Qᵀy‖²`` (recomputed
  from explicit residuals where that difference loses precision), t-tests with
  ``n − p`` degrees of freedom.  Same numbers as R's ``lm``/``glm(gaussian)`` and
  statsmodels ``OLS`` (MaAsLin2's fixed-effects model).

* **Linear mixed models with random intercepts** ``y = Xβ + Σₖ Zₖ uₖ + ε``,
  ``uₖ ~ N(0, θₖ² σ² I)``, fitted by REML as lme4 does (Bates et al. 2015,
  J Stat Softw 67(1), doi:10.18637/jss.v067.i01).  All design cross-products
  (``XᵀX, ZᵀZ, ZᵀX``) and the per-feature sufficient statistics (``XᵀY, ZᵀY, ‖y‖²``)
  are computed once; the profiled REML criterion is then evaluated for all features
  together from these small matrices (Woodbury identity; the largest grouping factor
  gives a diagonal block, the others a small Schur complement).  The variance ratios
  θ are found per feature by a vectorised grid search followed by damped projected
  Newton steps (θ ≥ 0), all features at once — no per-feature model objects.
  Fixed-effect p-values use Satterthwaite degrees of freedom computed as lmerTest
  does (Kuznetsova et al. 2017, J Stat Softw 82(13), doi:10.18637/jss.v082.i13):
  ``df = 2 (cᵀCc)² / (gᵀ A g)`` with ``A = 2 H⁻¹`` (H the Hessian of the REML
  deviance in (θ, σ)) and ``g`` the gradient of the coefficient variance.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import special

from .._errors import DataValueError

__all__ = ["lmm_reml", "ols", "t_pvalues"]


def t_pvalues(t: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    """Two-sided p-values of t statistics."""
    return 2.0 * special.stdtr(df, -np.abs(t))


def ols(X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """Least squares of every column of ``Y`` on the shared design ``X``.

    Parameters
    ----------
    X
        ``n × p`` design (full column rank).
    Y
        ``n × F`` responses.

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``t``, ``pval`` (each ``p × F``), ``df`` (scalar) and
        ``sigma2`` (``F``).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, p = X.shape
    if Y.ndim == 1:
        Y = Y[:, None]
    Q, R = np.linalg.qr(X)
    if np.min(np.abs(np.diag(R))) <= 1e-10 * np.max(np.abs(np.diag(R))):
        raise DataValueError("the design matrix is rank deficient", fix="drop collinear terms")
    QtY = (Y.T @ Q).T  # (F × n)(n × p): the fast GEMM layout for C-ordered Y
    coef = np.linalg.solve(R, QtY)
    yy = np.einsum("ij,ij->j", Y, Y)
    rss = yy - np.einsum("ij,ij->j", QtY, QtY)
    # where the subtraction cancels badly, use explicit residuals
    bad = rss <= 1e-6 * yy
    if np.any(bad):
        resid = Y[:, bad] - Q @ QtY[:, bad]
        rss[bad] = np.einsum("ij,ij->j", resid, resid)
    dfres = n - p
    sigma2 = rss / dfres
    Rinv = np.linalg.solve(R, np.eye(p))
    xtx_inv_diag = np.einsum("ij,ij->i", Rinv, Rinv)
    stderr = np.sqrt(np.outer(xtx_inv_diag, sigma2))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / stderr
    return {
        "coef": coef,
        "stderr": stderr,
        "t": t,
        "pval": t_pvalues(t, dfres),
        "df": np.full(coef.shape, float(dfres)),
        "sigma2": sigma2,
    }


# ----------------------------------------------------------------------------------
# mixed models
# ----------------------------------------------------------------------------------


class _Stats:
    """Design cross-products and per-feature sufficient statistics of a mixed model."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, groups: list[np.ndarray]) -> None:
        n, p = X.shape
        self.n, self.p = n, p
        self.F = Y.shape[1]
        # order factors: the one with the most levels gets the diagonal block
        sizes = [int(g.max()) + 1 for g in groups]
        order = np.argsort(sizes, kind="stable")[::-1]
        self.order = order
        self.k = len(groups)
        Zs = [
            sp.csr_matrix((np.ones(n), (np.arange(n), groups[i])), shape=(n, sizes[i]))
            for i in order
        ]
        self.q1 = sizes[order[0]]
        self.qs_sizes = [sizes[i] for i in order[1:]]
        self.qs = int(sum(self.qs_sizes))
        W = np.column_stack([X, Y])  # n × (p + F)
        Z1 = Zs[0]
        self.n1 = np.asarray(Z1.sum(axis=0)).ravel()  # Z1ᵀZ1 diagonal
        self.Z1W = np.asarray(Z1.T @ W)  # q1 × (p+F)
        if self.qs:
            Zsm = sp.hstack(Zs[1:]).tocsr()
            self.Z1Zs = np.asarray((Z1.T @ Zsm).todense())  # q1 × qs
            self.ZsZs = np.asarray((Zsm.T @ Zsm).todense())  # qs × qs
            self.ZsW = np.asarray(Zsm.T @ W)  # qs × (p+F)
            # which factor (position in the θ vector, original order) owns each column
            self.s_owner = np.concatenate(
                [np.full(sz, order[j + 1]) for j, sz in enumerate(self.qs_sizes)]
            )
        self.owner1 = order[0]
        self.XtX = X.T @ X
        self.XtY = X.T @ Y
        self.yy = np.einsum("ij,ij->j", Y, Y)

    def evaluate(self, theta: np.ndarray, idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Quantities of the REML criterion for features ``idx`` at ``theta`` (``len(idx) × k``)."""
        p = self.p
        if idx is None:
            idx = np.arange(self.F)
        m = len(idx)
        lam1 = theta[:, self.owner1]  # m
        d1 = lam1[:, None] ** 2 * self.n1[None, :] + 1.0  # m × q1
        # right-hand sides b = Λ Zᵀ [X y]
        Z1X = self.Z1W[:, :p]  # q1 × p
        Z1y = self.Z1W[:, p + idx].T  # m × q1
        b1 = np.concatenate(
            [np.broadcast_to(Z1X, (m, *Z1X.shape)), Z1y[:, :, None]], axis=2
        ) * lam1[:, None, None]  # m × q1 × (p+1)
        w1 = b1 / d1[:, :, None]  # D⁻¹ b1
        logdet = np.log(d1).sum(axis=1)
        # bᵀ M⁻¹ b, (p+1)×(p+1) per feature
        quad = np.matmul(b1.transpose(0, 2, 1), w1)
        if self.qs:
            lams = theta[:, self.s_owner]  # m × qs
            M12 = self.Z1Zs[None, :, :] * lam1[:, None, None] * lams[:, None, :]  # m×q1×qs
            M22 = self.ZsZs[None, :, :] * lams[:, :, None] * lams[:, None, :]
            M22 = M22 + np.eye(self.qs)[None]
            D1M12 = M12 / d1[:, :, None]
            S = M22 - np.matmul(M12.transpose(0, 2, 1), D1M12)
            ZsX = self.ZsW[:, :p]
            Zsy = self.ZsW[:, p + idx].T
            bs = np.concatenate(
                [np.broadcast_to(ZsX, (m, *ZsX.shape)), Zsy[:, :, None]], axis=2
            ) * lams[:, :, None]  # m × qs × (p+1)
            # block elimination: r = bs - M12ᵀ D⁻¹ b1
            r = bs - np.matmul(D1M12.transpose(0, 2, 1), b1)
            Lc = np.linalg.cholesky(S)
            logdet = logdet + 2.0 * np.log(np.diagonal(Lc, axis1=1, axis2=2)).sum(axis=1)
            y_ = np.linalg.solve(Lc, r)  # L⁻¹ r
            quad = quad + np.matmul(y_.transpose(0, 2, 1), y_)
        # G = [X y]ᵀ V⁻¹ [X y]
        A = self.XtX[None] - quad[:, :p, :p]
        c = self.XtY[:, idx].T - quad[:, :p, p]
        yVy = self.yy[idx] - quad[:, p, p]
        La = np.linalg.cholesky(A)
        logdetA = 2.0 * np.log(np.diagonal(La, axis1=1, axis2=2)).sum(axis=1)
        beta = np.linalg.solve(A, c[:, :, None])[:, :, 0]
        r2 = yVy - np.einsum("mi,mi->m", c, beta)
        return {"logdetM": logdet, "logdetA": logdetA, "r2": r2, "beta": beta, "A": A}

    def profiled(self, theta: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Profiled REML deviance (σ optimised out), as lme4's ``devfun``."""
        e = self.evaluate(theta, idx)
        nmp = self.n - self.p
        r2 = np.maximum(e["r2"], 1e-300)
        return e["logdetM"] + e["logdetA"] + nmp * (1.0 + np.log(2.0 * np.pi * r2 / nmp))

    def deviance_vp(self, vp: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """REML deviance as a function of (θ, σ) (lmerTest ``devfun_vp``)."""
        theta, sigma = vp[:, :-1], vp[:, -1]
        e = self.evaluate(theta, idx)
        s2 = sigma**2
        nmp = self.n - self.p
        return e["logdetM"] + e["logdetA"] + e["r2"] / s2 + nmp * np.log(2.0 * np.pi * s2)

    def covbeta_diag(self, vp: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Diagonal of Var(β̂) = σ² A(θ)⁻¹ as a function of (θ, σ)."""
        theta, sigma = vp[:, :-1], vp[:, -1]
        A = self.evaluate(theta, idx)["A"]
        Ainv = np.linalg.inv(A)
        return sigma[:, None] ** 2 * np.diagonal(Ainv, axis1=1, axis2=2)


def _fd_grad_hess(
    fun, x: np.ndarray, h: np.ndarray, *, hessian: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Central-difference gradient (and Hessian) of ``fun`` (batched over rows of ``x``)."""
    m, d = x.shape
    f0 = fun(x)
    g = np.empty((m, d))
    H = np.empty((m, d, d)) if hessian else None
    fp = np.empty((m, d))
    fm = np.empty((m, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = 1.0
        xp = x + h[:, i : i + 1] * e
        xm = x - h[:, i : i + 1] * e
        fp[:, i] = fun(xp)
        fm[:, i] = fun(xm)
        g[:, i] = (fp[:, i] - fm[:, i]) / (2 * h[:, i])
        if hessian:
            H[:, i, i] = (fp[:, i] - 2 * f0 + fm[:, i]) / h[:, i] ** 2
    if hessian:
        for i in range(d):
            for j in range(i + 1, d):
                ei = np.zeros(d)
                ej = np.zeros(d)
                ei[i] = 1.0
                ej[j] = 1.0
                hi = h[:, i : i + 1]
                hj = h[:, j : j + 1]
                fpp = fun(x + hi * ei + hj * ej)
                fpm = fun(x + hi * ei - hj * ej)
                fmp = fun(x - hi * ei + hj * ej)
                fmm = fun(x - hi * ei - hj * ej)
                H[:, i, j] = H[:, j, i] = (fpp - fpm - fmp + fmm) / (4 * h[:, i] * h[:, j])
    return g, H


def _richardson_grad(fun, x: np.ndarray, h0: np.ndarray, levels: int = 3) -> np.ndarray:
    """Gradient by central differences with Richardson extrapolation (as numDeriv)."""
    _m, d = x.shape
    est = []
    for lev in range(levels):
        h = h0 / 2**lev
        cols = []
        for i in range(d):
            e = np.zeros(d)
            e[i] = 1.0
            diff = fun(x + h[:, i : i + 1] * e) - fun(x - h[:, i : i + 1] * e)
            cols.append(diff / (2 * h[:, i, None]))
        g = np.stack(cols, axis=1)  # m × d × ...
        est.append(g)
    # Richardson: eliminate h² and h⁴ terms
    for k in range(1, levels):
        four = 4.0**k
        est = [(four * est[i + 1] - est[i]) / (four - 1) for i in range(len(est) - 1)]
    return est[0]


def _richardson_hess(fun, x: np.ndarray, h0: np.ndarray, levels: int = 3) -> np.ndarray:
    est = []
    for lev in range(levels):
        _, H = _fd_grad_hess(fun, x, h0 / 2**lev, hessian=True)
        est.append(H)
    for k in range(1, levels):
        four = 4.0**k
        est = [(four * est[i + 1] - est[i]) / (four - 1) for i in range(len(est) - 1)]
    return est[0]


def _optimise_theta(st: _Stats, *, max_iter: int = 100, tol: float = 1e-12) -> np.ndarray:
    """Minimise the profiled REML deviance over θ for all features together.

    The criterion is even in every θₖ (only θₖ² enters V), so it is minimised over
    all of ℝᵏ without bounds and |θ| is returned: an optimum on lme4's boundary
    (θₖ = 0) is then an ordinary interior minimum.  Start: best point of a log grid
    (0 replaced by a small value so that saddles at 0 can be left); then saddle-free
    Newton steps (|eigenvalues| of the finite-difference Hessian) with backtracking.
    """
    k, F = st.k, st.F
    grid1 = np.concatenate([[0.0], np.geomspace(0.02, 20.0, 24 if k == 1 else 12)])
    mesh = np.array(np.meshgrid(*([grid1] * k), indexing="ij")).reshape(k, -1).T  # G × k
    best = np.full(F, np.inf)
    theta = np.zeros((F, k))
    for row in mesh:
        val = st.profiled(np.broadcast_to(row, (F, k)).copy())
        better = val < best
        best[better] = val[better]
        theta[better] = row
    theta = np.where(theta == 0.0, 0.01, theta)
    fval = st.profiled(theta)
    active = np.ones(F, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        th = theta[idx]
        h = np.maximum(1e-4 * np.abs(th), 1e-6)
        fun = lambda t, _i=idx: st.profiled(t, _i)  # noqa: E731
        g, H = _fd_grad_hess(fun, th, h)
        w, V = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-6)
        step = -np.einsum("mij,mj->mi", V, np.einsum("mji,mj->mi", V, g) / w)
        # cap long steps (θ is a ratio of SDs; steps beyond 5 are never useful)
        scale = np.minimum(1.0, 5.0 / np.maximum(np.max(np.abs(step), axis=1), 1e-300))
        step *= scale[:, None]
        alpha = np.ones(idx.size)
        f_old = fval[idx]
        new_theta = th.copy()
        new_f = f_old.copy()
        accepted = np.zeros(idx.size, dtype=bool)
        for _bt in range(40):
            todo = ~accepted
            if not np.any(todo):
                break
            trial = th[todo] + alpha[todo, None] * step[todo]
            ft = st.profiled(trial, idx[todo])
            ok = ft <= f_old[todo]
            sel = np.flatnonzero(todo)[ok]
            new_theta[sel] = trial[ok]
            new_f[sel] = ft[ok]
            accepted[sel] = True
            alpha[np.flatnonzero(todo)[~ok]] *= 0.5
        theta[idx] = new_theta
        fval[idx] = new_f
        change = np.max(np.abs(new_theta - th), axis=1)
        done = (change < 1e-10) | (np.abs(f_old - new_f) <= tol * (1.0 + np.abs(f_old)))
        done |= ~accepted
        active[idx[done]] = False
    return np.abs(theta)


def lmm_reml(
    X: np.ndarray, Y: np.ndarray, groups: list[np.ndarray], *, satterthwaite: bool = True
) -> dict[str, np.ndarray]:
    """REML random-intercept models of every column of ``Y`` (vectorised over features).

    Parameters
    ----------
    X
        ``n × p`` fixed-effects design.
    Y
        ``n × F`` responses.
    groups
        One integer code array (``0..q-1``, length ``n``) per random intercept.
    satterthwaite
        Compute Satterthwaite degrees of freedom (lmerTest); otherwise ``n − p``.

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``t``, ``pval``, ``df`` (each ``p × F``), ``theta``
        (``F × k``, random-effect SD / residual SD, in the order of ``groups``) and
        ``sigma`` (``F``).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if not groups:
        raise DataValueError("lmm_reml needs at least one grouping", fix="use ols() instead")
    st = _Stats(X, Y, [np.asarray(g, dtype=np.int64) for g in groups])
    n, p = X.shape
    theta = _optimise_theta(st)
    allidx = np.arange(st.F)
    e = st.evaluate(theta, allidx)
    sigma2 = e["r2"] / (n - p)
    sigma = np.sqrt(sigma2)
    Ainv = np.linalg.inv(e["A"])
    var = sigma2[:, None] * np.diagonal(Ainv, axis1=1, axis2=2)  # F × p
    stderr = np.sqrt(var)
    coef = e["beta"]
    t = coef / stderr
    if satterthwaite:
        vp = np.column_stack([theta, sigma])
        h0 = np.maximum(1e-4 * np.abs(vp), 1e-4)
        H = _richardson_hess(lambda v: st.deviance_vp(v, allidx), vp, h0 * 8, levels=3)
        w, V = np.linalg.eigh(H)
        pos = w > 1e-8
        winv = np.where(pos, 1.0 / np.where(pos, w, 1.0), 0.0)
        Avp = 2.0 * np.einsum("mik,mk,mjk->mij", V, winv, V)
        J = _richardson_grad(lambda v: st.covbeta_diag(v, allidx), vp, h0 * 8, levels=3)
        # J: F × d × p  → gradient of each coefficient variance
        denom = np.einsum("mdp,mde,mep->mp", J, Avp, J)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = 2.0 * var**2 / denom
    else:
        df = np.full(var.shape, float(n - p))
    pval = t_pvalues(t, df)
    return {
        "coef": coef.T,
        "stderr": stderr.T,
        "t": t.T,
        "pval": pval.T,
        "df": df.T,
        "theta": theta,
        "sigma": sigma,
    }
