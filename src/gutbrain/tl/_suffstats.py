"""Sufficient statistics of per-feature linear models, summed over chunks of samples.

Every per-feature (weighted) least-squares fit of ``y_f`` on a shared design ``X`` (first
column the intercept) needs only sums over samples. They are kept in *centred* form —
the response centred on its (weighted) mean, merged between chunks with the pairwise
update of Chan, Golub & LeVeque (1983, *Am Stat* 37:242, doi:10.1080/00031305.1983.10483115)
— so that the residual sum of squares is a difference of centred quantities and does not
cancel the way ``yᵀy − bᵀβ`` does when the response has a large mean (log abundances):

====================  ==========================================  =====================
field                 definition over the samples so far           shape
====================  ==========================================  =====================
``n``                 samples with ``w_i > 0`` (residual df + p)   ``F``
``w``                 ``Σ w_i``                                    ``F``
``ybar``              ``Σ w_i y_i / Σ w_i``                        ``F``
``xty``               ``Σ w_i x_i (y_i − ȳ)``                      ``p × F``
``syy``               ``Σ w_i (y_i − ȳ)²``                         ``F``
``xsum``              ``Σ w_i x_i``                                ``p`` or ``F × p``
``xtx``               ``Σ w_i x_i x_iᵀ``                           ``p × p`` or ``F × p × p``
====================  ==========================================  =====================

Without weights (``w_i = 1``: MaAsLin2's linear model) the design statistics are shared
by all features. With per-feature weights ``W[i, f]`` they are per feature: a 0/1 mask
gives MaAsLin 3's abundance model (each feature fitted on its non-zero samples), IRLS
weights one step of a logistic fit, so the same merge serves both.

Merging two parts ``a`` and ``b`` with ``δ_a = ȳ_a − ȳ``::

    ȳ    = (w_a ȳ_a + w_b ȳ_b) / (w_a + w_b)
    xty  = xty_a + xty_b + xsum_a δ_a + xsum_b δ_b
    syy  = syy_a + syy_b + w_a δ_a² + w_b δ_b²

(all other fields add). The residual degrees of freedom are ``n − p`` (samples, not the
sum of weights, as in weighted least squares). The merge is associative up to rounding, so a fixed reduction
tree gives the same numbers on every run, whatever the scheduling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import DataValueError

__all__ = ["Moments", "merge_all", "ols_from_moments"]


@dataclass
class Moments:
    """Centred sufficient statistics of per-feature least squares (see the module notes)."""

    n: np.ndarray
    w: np.ndarray
    ybar: np.ndarray
    xty: np.ndarray
    syy: np.ndarray
    xsum: np.ndarray
    xtx: np.ndarray

    @property
    def masked(self) -> bool:
        """Whether the design statistics are per feature (weights per feature)."""
        return self.xtx.ndim == 3

    @classmethod
    def from_chunk(cls, X: np.ndarray, Y: np.ndarray, W: np.ndarray | None = None) -> Moments:
        """Statistics of one chunk of samples.

        Parameters
        ----------
        X
            ``n × p`` design rows.
        Y
            ``n × F`` responses.
        W
            Optional ``n × F`` non-negative weights (0/1 masks or IRLS weights); ``None``
            weighs every sample 1 for every feature.
        """
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        n, p = X.shape
        F = Y.shape[1]
        if W is None:
            ybar = Y.mean(axis=0) if n else np.zeros(F)
            Yc = Y - ybar
            return cls(
                n=np.full(F, float(n)),
                w=np.full(F, float(n)),
                ybar=ybar,
                xty=X.T @ Yc,
                syy=np.einsum("ij,ij->j", Yc, Yc),
                xsum=X.sum(axis=0),
                xtx=X.T @ X,
            )
        W = np.asarray(W, dtype=np.float64)
        w = W.sum(axis=0)
        ybar = np.divide(np.einsum("ij,ij->j", W, Y), w, out=np.zeros(F), where=w > 0)
        Yc = Y - ybar
        WYc = W * Yc
        outer = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)
        return cls(
            n=np.count_nonzero(W > 0, axis=0).astype(np.float64),
            w=w,
            ybar=ybar,
            xty=X.T @ WYc,
            syy=np.einsum("ij,ij->j", WYc, Yc),
            xsum=W.T @ X,
            xtx=(W.T @ outer).reshape(F, p, p),
        )

    def merge(self, other: Moments) -> Moments:
        """The statistics of the union of two disjoint sets of samples."""
        w = self.w + other.w
        ybar = np.divide(self.w * self.ybar + other.w * other.ybar, w, out=self.ybar.copy(), where=w > 0)
        da = self.ybar - ybar
        db = other.ybar - ybar
        if self.masked:
            shift = self.xsum.T * da + other.xsum.T * db  # p × F
        else:
            shift = np.outer(self.xsum, da) + np.outer(other.xsum, db)
        return Moments(
            n=self.n + other.n,
            w=w,
            ybar=ybar,
            xty=self.xty + other.xty + shift,
            syy=self.syy + other.syy + self.w * da * da + other.w * db * db,
            xsum=self.xsum + other.xsum,
            xtx=self.xtx + other.xtx,
        )

    def select(self, features: np.ndarray) -> Moments:
        """The statistics of a subset of features (index or boolean mask)."""
        return Moments(
            n=self.n[features],
            w=self.w[features],
            ybar=self.ybar[features],
            xty=self.xty[:, features],
            syy=self.syy[features],
            xsum=self.xsum[features] if self.masked else self.xsum,
            xtx=self.xtx[features] if self.masked else self.xtx,
        )


def merge_all(parts: list[Moments]) -> Moments:
    """Merge a list of parts pairwise (a balanced tree, the same order every time)."""
    if not parts:
        raise DataValueError("no chunk of samples to merge", fix="pass a non-empty table")
    while len(parts) > 1:
        parts = [parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def ols_from_moments(m: Moments) -> dict[str, np.ndarray]:
    """Per-feature least squares from its sufficient statistics (first design column = intercept).

    Returns the fields of :func:`gutbrain.tl._da_lm.ols`: ``coef``, ``stderr``, ``t``,
    ``pval``, ``df`` (each ``p × F``) and ``sigma2`` (``F``); ``rss`` (``F``) as well.
    Memory is ``O(F·p²)``.
    """
    from ._da_lm import t_pvalues

    p, F = m.xty.shape
    # the Cholesky factor of XᵀX is the R of X's QR, known to about √ε relative: a pivot
    # below 1e-7 of the largest means X is (numerically) rank deficient
    try:
        d = np.abs(np.diagonal(np.linalg.cholesky(m.xtx), axis1=-2, axis2=-1))
    except np.linalg.LinAlgError:
        d = np.zeros((1, p))
    if np.any(d.min(axis=-1) <= 1e-7 * d.max(axis=-1)):
        raise DataValueError(
            "the design matrix is rank deficient (for some feature's samples)", fix="drop collinear terms"
        )
    if m.masked:
        beta_c = np.linalg.solve(m.xtx, m.xty.T[:, :, None])[:, :, 0].T
        diag = np.diagonal(np.linalg.inv(m.xtx), axis1=1, axis2=2).T  # p × F
    else:
        beta_c = np.linalg.solve(m.xtx, m.xty)
        diag = np.repeat(np.diagonal(np.linalg.inv(m.xtx))[:, None], F, axis=1)
    rss = m.syy - np.einsum("jf,jf->f", m.xty, beta_c)
    rss = np.maximum(rss, 0.0)
    coef = beta_c.copy()
    coef[0] += m.ybar  # the response was centred: only the intercept moves
    dfres = m.n - p
    sigma2 = rss / dfres
    stderr = np.sqrt(diag * sigma2[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / stderr
    return {
        "coef": coef,
        "stderr": stderr,
        "t": t,
        "pval": t_pvalues(t, dfres[None, :]),
        "df": np.broadcast_to(dfres[None, :], coef.shape).copy(),
        "sigma2": sigma2,
        "rss": rss,
    }
