"""Random-intercept models for MaAsLin 3, batched across features with per-feature rows.

MaAsLin 3 fits ``lmer`` (abundance, on each feature's present samples) and ``glmer``
(prevalence, augmented logistic) with a random intercept per level of a grouping
column, one feature at a time.  Here every feature is fitted at once from per-feature,
per-group sufficient statistics (sums over the samples of each group).

**Linear mixed model** (:func:`lmm_masked`), ``y = Xβ + θσ·u[g] + ε`` on the rows where
the feature is present, fitted by REML as lme4 does (Bates et al. 2015, J Stat Softw
67(1), doi:10.18637/jss.v067.i01).  With one grouping factor, ``V = σ²(I + θ²ZZᵀ)``
is block diagonal and every quantity of the profiled REML criterion follows from the
group counts ``n_j``, group sums ``Σ x``, ``Σ y`` and the totals ``XᵀX, Xᵀy, yᵀy``
(Woodbury identity).  θ is optimised for all features together
(:func:`gutbrain.tl._da_lm._optimise_theta`), and fixed-effect tests use Satterthwaite
degrees of freedom as lmerTest (Kuznetsova et al. 2017, J Stat Softw 82(13),
doi:10.18637/jss.v082.i13): ``df = 2 (LᵀCL)² / (gᵀ A g)`` with ``A`` twice the inverse
Hessian of the REML deviance in (θ, σ) and ``g`` the gradient of ``LᵀCL``; joint tests
of several contrasts use lmerTest's ``contestMD`` rule.

**Logistic mixed model** (:func:`glmm_laplace`), ``logit μ = Xβ + θ·u[g]``,
``u ~ N(0, 1)``, with MaAsLin 3's augmentation weights, by the Laplace approximation
(lme4 ``glmer``, ``nAGQ = 1``): for given (θ, β) the group modes ``u`` solve
independent one-dimensional penalised problems (Newton per group, all features and
groups at once); the Laplace deviance
``Σ dev.resid + ‖u‖² + Σ_j log(1 + θ² Σ_{i∈j} w_i)`` is minimised first over θ with β
from penalised IRLS (lme4's first stage, ``nAGQ = 0``), then over (θ, β) jointly by
Newton steps with finite-difference derivatives (lme4's second stage).  The
fixed-effect covariance is the (β, β) block of twice the inverse finite-difference
Hessian of the deviance in (θ, β) — lme4's ``vcov(..., use.hessian = TRUE)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy import special

from .._errors import DataValueError
from ._da_lm import _optimise_theta, _richardson_hess
from ._glm_batch import alias_mask, gram

__all__ = ["glmm_laplace", "lmm_masked"]


def _one_grouping(groups: Sequence[np.ndarray]) -> np.ndarray:
    if len(groups) != 1:
        raise DataValueError(
            f"MaAsLin 3 in gutbrain fits one random intercept; the formula has {len(groups)}",
            fix="keep one (1|group) term (e.g. the subject) or combine groupings into one column",
        )
    return np.asarray(groups[0], dtype=np.int64)


def _indicator(g: np.ndarray) -> sp.csr_matrix:
    n = g.size
    return sp.csr_matrix((np.ones(n), (np.arange(n), g)), shape=(n, int(g.max()) + 1))


# ----------------------------------------------------------------------------------
# linear mixed model (REML), rows per feature
# ----------------------------------------------------------------------------------


class _MaskedLMM:
    """Per-feature, per-group sufficient statistics of a random-intercept LMM."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, M: np.ndarray, g: np.ndarray) -> None:
        _n, p = X.shape
        self.p = p
        W = M.astype(np.float64)
        Y0 = np.where(M, np.nan_to_num(Y), 0.0)
        self.F = Y.shape[1]
        self.k = 1
        Z = _indicator(g)
        self.q = Z.shape[1]
        self.n1 = np.asarray((Z.T @ W).T)  # F × q
        # Σ_{i∈j} m_i x_i : F × q × p
        self.Z1X = np.stack([np.asarray((Z.T @ (W * X[:, [k]])).T) for k in range(p)], axis=2)
        self.Z1y = np.asarray((Z.T @ (W * Y0)).T)  # F × q
        self.XtX = gram(X, W)
        self.Xty = (W * Y0).T @ X
        self.yy = np.einsum("ij,ij->j", Y0, Y0)
        self.nobs = W.sum(axis=0)
        self.alias = alias_mask(self.XtX, 1e-7)
        self.rank = (~self.alias).sum(axis=1)
        # aliased columns leave the model (lme4 drops them): identity rows, zero sums
        al = self.alias
        idx = np.arange(p)
        self.XtX = np.where(al[:, :, None] | al[:, None, :], 0.0, self.XtX)
        self.XtX[:, idx, idx] = np.where(al, 1.0, self.XtX[:, idx, idx])
        self.Xty = np.where(al, 0.0, self.Xty)
        self.Z1X = np.where(al[:, None, :], 0.0, self.Z1X)

    def evaluate(self, theta: np.ndarray, idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
        if idx is None:
            idx = np.arange(self.F)
        lam2 = theta[:, 0] ** 2
        n1 = self.n1[idx]
        d1 = lam2[:, None] * n1 + 1.0
        wgt = lam2[:, None] / d1  # m × q
        zx = self.Z1X[idx]
        zy = self.Z1y[idx]
        A = self.XtX[idx] - np.einsum("mq,mqk,mql->mkl", wgt, zx, zx)
        c = self.Xty[idx] - np.einsum("mq,mqk,mq->mk", wgt, zx, zy)
        yVy = self.yy[idx] - np.einsum("mq,mq->m", wgt, zy * zy)
        La = np.linalg.cholesky(A)
        logdetA = 2.0 * np.log(np.diagonal(La, axis1=1, axis2=2)).sum(axis=1)
        beta = np.linalg.solve(A, c[:, :, None])[:, :, 0]
        r2 = yVy - np.einsum("mi,mi->m", c, beta)
        return {"logdetM": np.log(d1).sum(axis=1), "logdetA": logdetA, "r2": r2, "beta": beta, "A": A}

    def nmp(self, idx: np.ndarray) -> np.ndarray:
        return self.nobs[idx] - self.rank[idx]

    def profiled(self, theta: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        if idx is None:
            idx = np.arange(self.F)
        e = self.evaluate(theta, idx)
        nmp = self.nmp(idx)
        r2 = np.maximum(e["r2"], 1e-300)
        return e["logdetM"] + e["logdetA"] + nmp * (1.0 + np.log(2.0 * np.pi * r2 / nmp))

    def deviance_vp(self, vp: np.ndarray, idx: np.ndarray) -> np.ndarray:
        theta, sigma = vp[:, :-1], vp[:, -1]
        e = self.evaluate(theta, idx)
        s2 = sigma**2
        return e["logdetM"] + e["logdetA"] + e["r2"] / s2 + self.nmp(idx) * np.log(2.0 * np.pi * s2)

    def cov_beta(self, vp: np.ndarray, idx: np.ndarray) -> np.ndarray:
        theta, sigma = vp[:, :-1], vp[:, -1]
        Ainv = np.linalg.inv(self.evaluate(theta, idx)["A"])
        return sigma[:, None, None] ** 2 * Ainv


def _richardson_jac(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h0: np.ndarray, levels: int = 3) -> np.ndarray:
    """Jacobian ``∂fun/∂x`` (``m × d × ...``) by central differences with Richardson extrapolation."""
    _m, d = x.shape
    est = []
    for lev in range(levels):
        h = h0 / 2**lev
        cols = []
        for i in range(d):
            e = np.zeros(d)
            e[i] = 1.0
            diff = fun(x + h[:, i : i + 1] * e) - fun(x - h[:, i : i + 1] * e)
            scale = (2 * h[:, i]).reshape((-1,) + (1,) * (diff.ndim - 1))
            cols.append(diff / scale)
        est.append(np.stack(cols, axis=1))
    for k in range(1, levels):
        four = 4.0**k
        est = [(four * est[i + 1] - est[i]) / (four - 1) for i in range(len(est) - 1)]
    return est[0]


def lmm_masked(X: np.ndarray, Y: np.ndarray, M: np.ndarray, groups: Sequence[np.ndarray]) -> dict:
    """REML random-intercept model of each feature on its own rows (lmer + lmerTest).

    Parameters
    ----------
    X
        ``n × p`` fixed-effects design.
    Y
        ``n × F`` responses (ignored outside the mask).
    M
        ``n × F`` boolean mask: the rows each feature is fitted on.
    groups
        One integer code array (length ``n``) — the random-intercept grouping.

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``df`` (Satterthwaite), ``pval`` (``F × p``), ``cov``
        (``F × p × p``), ``theta``, ``sigma``, ``warning`` (``F``, None = fine),
        ``contrast(L) -> (estimate, se, df)`` and ``wald_f(cols) -> p`` (joint test).
    """
    g = _one_grouping(groups)
    X = np.asarray(X, dtype=np.float64)
    st = _MaskedLMM(X, np.asarray(Y, dtype=np.float64), np.asarray(M, dtype=bool), g)
    F, p = st.F, st.p
    allidx = np.arange(F)
    theta = _optimise_theta(st)
    e = st.evaluate(theta, allidx)
    nmp = st.nmp(allidx)
    sigma2 = e["r2"] / nmp
    sigma = np.sqrt(sigma2)
    Ainv = np.linalg.inv(e["A"])
    C = sigma2[:, None, None] * Ainv
    al = st.alias
    C = np.where(al[:, :, None] | al[:, None, :], np.nan, C)
    coef = np.where(al, np.nan, e["beta"])
    vp = np.column_stack([theta, sigma])
    h0 = np.maximum(1e-4 * np.abs(vp), 1e-4) * 8
    H = _richardson_hess(lambda v: st.deviance_vp(v, allidx), vp, h0, levels=3)
    w, V = np.linalg.eigh(H)
    pos = w > 1e-8
    winv = np.where(pos, 1.0 / np.where(pos, w, 1.0), 0.0)
    Avp = 2.0 * np.einsum("mik,mk,mjk->mij", V, winv, V)
    J = _richardson_jac(lambda v: st.cov_beta(v, allidx), vp, h0, levels=3)  # F × d × p × p

    def contrast(L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        L = np.asarray(L, dtype=np.float64)
        bad = np.any(al & (L != 0)[None, :], axis=1)
        est = np.nan_to_num(coef) @ L
        var = np.einsum("i,fij,j->f", L, np.nan_to_num(C), L)
        gvec = np.einsum("i,fdij,j->fd", L, J, L)
        den = np.einsum("fd,fde,fe->f", gvec, Avp, gvec)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = 2.0 * var**2 / den
            se = np.sqrt(var)
        est[bad] = np.nan
        se[bad] = np.nan
        return est, se, df

    se = np.full((F, p), np.nan)
    df = np.full((F, p), np.nan)
    for j in range(p):
        L = np.zeros(p)
        L[j] = 1.0
        _, se[:, j], df[:, j] = contrast(L)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = coef / se
        pval = 2.0 * special.stdtr(df, -np.abs(t))

    def wald_f(cols: Sequence[int]) -> np.ndarray:
        """lmerTest ``contestMD``: joint F test of ``cols`` with Satterthwaite-type ddf."""
        out = np.full(F, np.nan)
        for f in range(F):
            keep = [c for c in cols if not al[f, c]]
            qd = len(keep)
            if qd == 0:
                continue
            Lm = np.zeros((qd, p))
            Lm[np.arange(qd), keep] = 1.0
            VL = Lm @ C[f] @ Lm.T
            ev, P = np.linalg.eigh(VL)
            if np.any(ev <= 0):
                continue
            tv = (P.T @ (Lm @ coef[f])) / np.sqrt(ev)
            Fst = float(np.sum(tv**2) / qd)
            nus = []
            for m_ in range(qd):
                lv = P[:, m_] @ Lm
                gv = np.einsum("i,dij,j->d", lv, J[f], lv)
                nus.append(2.0 * (lv @ C[f] @ lv) ** 2 / float(gv @ Avp[f] @ gv))
            nus_a = np.asarray(nus)
            Ev = np.sum(np.where(nus_a > 2, nus_a / (nus_a - 2), 0.0))
            ddf = 2 * Ev / (Ev - qd) if Ev > qd else 2.0
            out[f] = special.fdtrc(qd, ddf, Fst)
        return out

    return {
        "coef": coef,
        "stderr": se,
        "df": df,
        "pval": pval,
        "cov": C,
        "theta": theta[:, 0],
        "sigma": sigma,
        "warning": np.full(F, None, dtype=object),
        "contrast": contrast,
        "wald_f": wald_f,
    }


# ----------------------------------------------------------------------------------
# logistic mixed model (Laplace), all samples
# ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _glmm_modes(off, Yw, starts, counts, theta, c, U, tol, maxit):  # pragma: no cover - compiled
    """Conditional modes per feature and group (in place in ``U``, used as start).

    Solves ``u = θ·Σ_{i∈j}(Yw_i − c·μ_i)`` with ``μ = expit(off + θu)`` by Newton steps
    kept inside the bracket ``θ·[Σ(Yw − c), Σ Yw]`` (bisection when a step leaves it).
    """
    F, _n = off.shape
    q = starts.size
    for f in range(F):
        th = theta[f]
        for j in range(q):
            i0 = starts[j]
            i1 = i0 + counts[j]
            a1 = 0.0
            a2 = 0.0
            for i in range(i0, i1):
                a1 += Yw[f, i] - c
                a2 += Yw[f, i]
            lo = min(th * a1, th * a2)
            hi = max(th * a1, th * a2)
            u = min(max(U[f, j], lo), hi)
            for _ in range(maxit):
                gs = 0.0
                hs = 0.0
                for i in range(i0, i1):
                    mu = 1.0 / (1.0 + np.exp(-(off[f, i] + th * u)))
                    gs += Yw[f, i] - c * mu
                    hs += c * mu * (1.0 - mu)
                grad = th * gs - u
                hess = th * th * hs + 1.0
                if grad > 0:
                    lo = u
                elif grad < 0:
                    hi = u
                else:
                    break
                new = u + grad / hess
                if new < lo or new > hi:
                    new = 0.5 * (lo + hi)
                step = abs(new - u)
                u = new
                if step <= tol * (1.0 + abs(u)):
                    break
            U[f, j] = u


@njit(cache=True, nogil=True)
def _glmm_stats(off, Yw, X, starts, counts, theta, c, U, full, dev, S, T, Rg, s, t, rX):  # pragma: no cover - compiled
    """One pass at the modes: deviance pieces and per-group sums of the Laplace gradient."""
    F, _n = off.shape
    q = starts.size
    p = X.shape[1]
    for f in range(F):
        th = theta[f]
        d = 0.0
        for k in range(p):
            rX[f, k] = 0.0
        for j in range(q):
            uj = U[f, j]
            sj = 0.0
            tj = 0.0
            rj = 0.0
            if full:
                for k in range(p):
                    s[f, j, k] = 0.0
                    t[f, j, k] = 0.0
            for i in range(starts[j], starts[j] + counts[j]):
                eta = off[f, i] + th * uj
                if eta > 0:
                    sp_ = eta + np.log1p(np.exp(-eta))
                else:
                    sp_ = np.log1p(np.exp(eta))
                mu = 1.0 / (1.0 + np.exp(-eta))
                y = Yw[f, i]
                d += c * sp_ - y * eta
                w = c * mu * (1.0 - mu)
                sj += w
                r = y - c * mu
                rj += r
                if full:
                    w1 = w * (1.0 - 2.0 * mu)
                    tj += w1
                    for k in range(p):
                        xk = X[i, k]
                        s[f, j, k] += w * xk
                        t[f, j, k] += w1 * xk
                        rX[f, k] += r * xk
            S[f, j] = sj
            T[f, j] = tj
            Rg[f, j] = rj
        dev[f] = 2.0 * d


class _LaplaceGLMM:
    """Laplace deviance of a random-intercept logistic model with augmentation weights.

    Per sample the three augmented rows (data, pseudo 1, pseudo 0) share the design row
    and the group, so they enter as total weight ``c = 1 + 2a`` and "successes"
    ``y + a``.  Samples are sorted by group so that per-group sums are contiguous
    reductions.
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, g: np.ndarray, a: float) -> None:
        order = np.argsort(g, kind="stable")
        gs = g[order]
        self.X = np.ascontiguousarray(X[order])
        self.XT = np.ascontiguousarray(self.X.T)
        self.Yw = np.ascontiguousarray((Y[order] + a).T)  # F × n
        self.c = 1.0 + 2.0 * a
        self.starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        self.counts = np.diff(np.r_[self.starts, gs.size])
        self.q = self.starts.size
        self.F = Y.shape[1]
        self.n, self.p = X.shape

    def modes(
        self, theta: np.ndarray, beta: np.ndarray, idx: np.ndarray, u0: np.ndarray | None = None,
        tol: float = 1e-13, maxit: int = 200,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Conditional modes ``u`` (m × q) at (θ, β); returns (u, offsets ``Xβ``)."""
        off = np.ascontiguousarray(beta @ self.XT)
        U = np.zeros((idx.size, self.q)) if u0 is None else np.array(u0, dtype=np.float64, order="C")
        _glmm_modes(off, self.Yw[idx], self.starts, self.counts, np.ascontiguousarray(theta, dtype=np.float64),
                     self.c, U, tol, maxit)
        return U, off

    def _stats(self, theta, beta, idx, u0, full):
        U, off = self.modes(theta, beta, idx, u0)
        m = idx.size
        q, p = self.q, self.p
        dev = np.empty(m)
        S = np.empty((m, q))
        T = np.empty((m, q))
        Rg = np.empty((m, q))
        s = np.empty((m, q, p) if full else (1, 1, 1))
        t = np.empty((m, q, p) if full else (1, 1, 1))
        rX = np.empty((m, p))
        _glmm_stats(off, self.Yw[idx], self.X, self.starts, self.counts,
                    np.ascontiguousarray(theta, dtype=np.float64), self.c, U, full, dev, S, T, Rg, s, t, rX)
        return U, dev, S, T, Rg, s, t, rX

    def deviance(
        self, theta: np.ndarray, beta: np.ndarray, idx: np.ndarray, u0: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Laplace deviance at (θ, β) for features ``idx``; returns (deviance, modes)."""
        U, dev, S, _T, _R, _s, _t, _rX = self._stats(theta, beta, idx, u0, False)
        ld = np.log1p(theta[:, None] ** 2 * S).sum(axis=1)
        return dev + (U**2).sum(axis=1) + ld, U

    def gradient(
        self, theta: np.ndarray, beta: np.ndarray, idx: np.ndarray, u0: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Analytic gradient of the Laplace deviance in (θ, β) (modes profiled out).

        By the envelope theorem the penalised deviance contributes ``−2 Xᵀr`` and
        ``−2 Σ_j R_j u_j``; the log-determinant ``Σ_j log(1 + θ² S_j)`` contributes
        through ``S_j`` and the modes' derivatives ``∂u_j/∂β = −θ s_j / D_j``,
        ``∂u_j/∂θ = (R_j − θ S_j u_j) / D_j`` (``D_j = 1 + θ² S_j``).
        """
        U, _dev, S, T, Rg, s, t, rX = self._stats(theta, beta, idx, u0, True)
        th = theta[:, None]
        D = 1.0 + th**2 * S
        g_beta = -2.0 * rX + np.einsum("mq,mqk->mk", th**2 / D, t - (th**2 * T / D)[:, :, None] * s)
        du_dth = (Rg - th * S * U) / D
        dS_dth = T * (U + th * du_dth)
        g_th = -2.0 * (Rg * U).sum(axis=1) + ((2.0 * th * S + th**2 * dS_dth) / D).sum(axis=1)
        return np.column_stack([g_th, g_beta]), U


def _fd_jacobian(grad, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of a batched gradient (symmetrised): the Hessian."""
    m, d = x.shape
    H = np.empty((m, d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = 1.0
        gp = grad(x + h[:, i : i + 1] * e)
        gm = grad(x - h[:, i : i + 1] * e)
        H[:, :, i] = (gp - gm) / (2 * h[:, i : i + 1])
    return (H + np.transpose(H, (0, 2, 1))) / 2.0


def _newton_step(H: np.ndarray, g: np.ndarray, cap: float = 3.0) -> np.ndarray:
    """Saddle-free Newton step ``−|H|⁻¹ g`` (absolute eigenvalues), length-capped."""
    w_, V_ = np.linalg.eigh(H)
    w_ = np.maximum(np.abs(w_), 1e-6)
    step = -np.einsum("mij,mj->mi", V_, np.einsum("mji,mj->mi", V_, g) / w_)
    big = np.max(np.abs(step), axis=1)
    return step * np.minimum(1.0, cap / np.maximum(big, 1e-300))[:, None]


def glmm_laplace(X: np.ndarray, Y: np.ndarray, groups: Sequence[np.ndarray], *, augment_weight: float = 0.0) -> dict:
    """Random-intercept logistic model of each 0/1 column of ``Y`` (glmer, Laplace).

    The Laplace deviance is minimised over (θ, β) for all features together by Newton
    steps with its analytic gradient (conditional modes profiled out) and a
    forward-difference Hessian of that gradient; each step is backtracked until the
    deviance does not increase.  The search starts from the best of a few θ values (β from the
    fixed-effects fit) and treats θ as unconstrained (the deviance is even in θ),
    reporting ``|θ|``.  The covariance of β̂ is the (β, β) block of ``2 H⁻¹`` with ``H``
    the central-difference Hessian at the optimum (lme4's ``use.hessian = TRUE``).

    Parameters
    ----------
    X
        ``n × p`` fixed-effects design.
    Y
        ``n × F`` outcomes in {0, 1}.
    groups
        One integer code array (length ``n``).
    augment_weight
        MaAsLin 3's pseudo-observation weight (0: none).

    Returns
    -------
    dict
        ``coef``, ``stderr``, ``pval``, ``df`` (∞: Wald z), ``cov`` (``F × p × p``),
        ``theta``, ``deviance``, ``converged`` and ``warning`` (``F``; None = fine).
    """
    from ._glm_batch import logit_irls

    g = _one_grouping(groups)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    _n, p = X.shape
    F = Y.shape[1]
    md = _LaplaceGLMM(X, Y, g, float(augment_weight))
    allidx = np.arange(F)
    fe = logit_irls(X, Y, augment_weight=augment_weight)
    beta0 = np.nan_to_num(fe["coef"])
    best = np.full(F, np.inf)
    par = np.column_stack([np.ones(F), beta0])
    for th in (0.5, 1.0, 2.0, 4.0):
        d_, _ = md.deviance(np.full(F, th), beta0, allidx)
        better = d_ < best
        best[better] = d_[better]
        par[better, 0] = th
    U = md.modes(par[:, 0], par[:, 1:], allidx)[0]
    fval = md.deviance(par[:, 0], par[:, 1:], allidx, U)[0]
    active = allidx.copy()
    converged = np.zeros(F, dtype=bool)
    for _ in range(100):
        if active.size == 0:
            break
        pa = par[active]
        gr, ua = md.gradient(pa[:, 0], pa[:, 1:], active, U[active])
        U[active] = ua
        h = 1e-6 * (1.0 + np.abs(pa))
        H = np.empty((active.size, p + 1, p + 1))
        for i in range(p + 1):  # forward differences of the analytic gradient
            pt = pa.copy()
            pt[:, i] += h[:, i]
            gt, _ = md.gradient(pt[:, 0], pt[:, 1:], active, ua)
            H[:, :, i] = (gt - gr) / h[:, i : i + 1]
        H = (H + np.transpose(H, (0, 2, 1))) / 2.0
        step = _newton_step(H, gr)
        alpha = np.ones(active.size)
        done = np.zeros(active.size, dtype=bool)
        new = pa.copy()
        f_old = fval[active]
        newf = f_old.copy()
        for _bt in range(40):
            todo = np.flatnonzero(~done)
            if todo.size == 0:
                break
            trial = pa[todo] + alpha[todo, None] * step[todo]
            ft, ut = md.deviance(trial[:, 0], trial[:, 1:], active[todo], U[active[todo]])
            ok = ft <= f_old[todo] + 1e-11 * np.abs(f_old[todo])
            new[todo[ok]] = trial[ok]
            newf[todo[ok]] = ft[ok]
            U[active[todo[ok]]] = ut[ok]
            done[todo[ok]] = True
            alpha[todo[~ok]] /= 2.0
        par[active] = new
        fval[active] = newf
        small = np.max(np.abs(new - pa), axis=1) < 1e-9 * (1.0 + np.max(np.abs(pa), axis=1))
        # no decrease found along a step whose predicted decrease is at rounding level: optimum
        flat = ~done & (np.abs(np.einsum("mi,mi->m", gr, step)) < 1e-9 * (1.0 + np.abs(f_old)))
        converged[active[(small & done) | flat]] = True
        active = active[~(small | ~done)]
    par[:, 0] = np.abs(par[:, 0])
    U = md.modes(par[:, 0], par[:, 1:], allidx)[0]
    h = 1e-4 * (1.0 + np.abs(par))
    H = _fd_jacobian(lambda x: md.gradient(x[:, 0], x[:, 1:], allidx, U)[0], par, h)
    warn = np.full(F, None, dtype=object)
    cov = np.full((F, p, p), np.nan)
    singular = "Hessian is numerically singular: parameters are not uniquely determined"
    for f in range(F):
        try:
            Hinv = np.linalg.inv(H[f])
        except np.linalg.LinAlgError:
            warn[f] = singular
            continue
        if not np.all(np.isfinite(Hinv)):
            warn[f] = singular
            continue
        cov[f] = Hinv[1:, 1:] + Hinv[1:, 1:].T
    coef = par[:, 1:].copy()
    with np.errstate(invalid="ignore"):
        var = np.diagonal(cov, axis1=1, axis2=2)
        se = np.sqrt(var)
        z = coef / se
    neg = np.any(~(var > 0), axis=1) & np.equal(warn, None)
    warn[neg] = "Model failed to converge: degenerate Hessian"
    warn[~converged & np.equal(warn, None)] = "Model failed to converge (Laplace deviance not minimised)"
    pval = 2.0 * special.ndtr(-np.abs(z))
    return {
        "coef": coef,
        "stderr": se,
        "pval": pval,
        "df": np.full((F, p), np.inf),
        "cov": cov,
        "theta": par[:, 0],
        "deviance": md.deviance(par[:, 0], par[:, 1:], allidx, U)[0],
        "converged": converged,
        "warning": warn,
    }
