"""MaAsLin 3: abundance and prevalence models, vectorised across features.

Reproduces R MaAsLin 3 (Nickols et al., biobakery/maaslin3, MIT; algorithm read from
``R/maaslin3.R``, ``R/fit.R`` and ``R/utility_scripts.R``) one step at a time:

1. **normalise** (TSS, CLR, NONE): values ``≤ zero_threshold`` become missing; TSS divides
   by the sample total over all features, CLR is the natural-log ratio to the geometric
   mean of the sample's present values;
2. **filter** the normalised table: keep features with more than ``n·min_prevalence``
   (and at most ``n·max_prevalence``) samples above ``min_abundance``, then features
   whose variance over their present values exceeds ``min_variance`` (a feature with
   one present value has no variance and is dropped);
3. **transform** (LOG = log₂ of the present values, PLOG, NONE);
4. **abundance model**: for every feature, a linear model on its present samples only
   (zeros are missing, not imputed) — OLS, or REML with random intercepts and
   Satterthwaite degrees of freedom;
5. **prevalence model**: a logistic regression of presence on every sample, *augmented*
   with two weighted pseudo-observations per sample (outcome 1 and 0, weight
   ``(p − 1)/(2n)`` with ``p`` design columns) so that separation cannot make estimates
   infinite; with random intercepts a Laplace-approximated GLMM;
6. **median comparison** (abundance by default): compositional shifts move every
   feature's coefficient by the same amount, so each coefficient is tested against the
   median coefficient of its term instead of 0; the median's sampling covariance with
   each coefficient is estimated by Monte Carlo (10,000 draws, R's random stream —
   :mod:`gutbrain.tl._r_rng` — so ``random_state=k`` gives R's numbers after
   ``set.seed(k)``);
7. **flags**: prevalence rows with extreme estimates on rare (< 5 %) or ubiquitous
   (> 95 %) features, and prevalence associations that a stronger abundance association
   in the same direction probably induced (``warn_prevalence``);
8. **q-values**: Benjamini–Hochberg over all abundance and prevalence p-values together
   (rows with an ``error`` excluded, as R's ``p.adjust`` with NA);
   ``pval_joint = pbeta(min(p_abundance, p_prevalence), 1, 2) = 1 − (1 − p)²``
   (the other model's p-value alone when one of them failed), BH over features × terms.

All fits are batched across features (:mod:`gutbrain.tl._glm_batch`,
:mod:`gutbrain.tl._mixed_batch`); per-feature work is array arithmetic, never a Python
loop over model objects.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import special
from threadpoolctl import threadpool_limits

from .._errors import DataValueError, DataWarning
from ._da_common import bh_adjust
from ._formula import parse_reference
from ._glm_batch import logit_irls, wls_masked
from ._maaslin3_design import Design3, build_design3, parse_formula3
from ._r_rng import RStream, median_mc_cov

__all__ = [
    "MAASLIN3_COLUMNS",
    "MAASLIN3_REFERENCES",
    "maaslin3",
    "maaslin3_filter",
    "maaslin3_normalize",
    "maaslin3_table",
    "maaslin3_transform",
]

MAASLIN3_COLUMNS = [
    "feature", "metadata", "value", "name", "coef", "stderr", "pval_individual", "qval_individual",
    "pval_joint", "qval_joint", "model", "N", "N_not_zero", "error",
]  # fmt: skip
MAASLIN3_REFERENCES = ["doi:10.1101/2024.12.13.628459", "doi:10.18637/jss.v067.i01",
                       "doi:10.18637/jss.v082.i13"]  # fmt: skip

NORMALIZATIONS3 = ("TSS", "CLR", "NONE")
TRANSFORMS3 = ("LOG", "PLOG", "NONE")
CORRECTIONS3 = ("BH", "holm", "bonferroni", "BY")

E_LINEAR_SAME = "All linear values are the same"
E_LOGISTIC_SAME = "All logistic values are the same"
E_BASELINE = "No data points have the baseline factor level"
E_CONTRASTS = "contrasts can be applied only to factors with 2 or more levels"
E_FIT = "Fitting error (NA p-value returned from fitting procedure)"
E_MEDIAN_NA = "P-value became NA in median comparison, try rerunning without the median comparison"
E_RARE = (
    "A large coefficient (>15 in absolute value) or small p-value (< 10^-10) was obtained from a "
    "feature present in <5% of samples. Check this is intended."
)
E_UBIQ = (
    "A large coefficient (>15 in absolute value) or small p-value (< 10^-10) was obtained from a "
    "feature present in >95% of samples. Check this is intended."
)
E_INDUCED = "Prevalence association possibly induced by stronger abundance association"
E_SMALL_RE = (
    "<4 average observations per random effect group often inflates coefficients and deflates "
    "p-values: consider setting small_random_effects=TRUE and see tutorial"
)
E_GLM_NOCONV = "glm.fit: algorithm did not converge"
E_GLM_01 = "glm.fit: fitted probabilities numerically 0 or 1 occurred"
N_SIMS = 10_000


# ----------------------------------------------------------------------------------
# preprocessing
# ----------------------------------------------------------------------------------


def maaslin3_normalize(Y: np.ndarray, normalization: str = "TSS", zero_threshold: float = 0.0) -> np.ndarray:
    """Normalise a samples × features table as R MaAsLin 3 (absent values → NaN).

    Examples
    --------
    >>> maaslin3_normalize(np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 4.0]]))
    array([[0.25, 0.75,  nan],
           [0.25, 0.25, 0.5 ]])
    """
    Y = np.asarray(Y, dtype=np.float64)
    present = Y > zero_threshold
    norm = normalization.upper()
    if norm == "TSS":
        if np.any(Y < 0):
            raise DataValueError("TSS normalisation needs non-negative values", fix="use normalization NONE")
        tot = np.maximum(np.finfo(float).eps, np.nansum(Y, axis=1, keepdims=True))
        out = Y / tot
    elif norm == "CLR":
        with np.errstate(divide="ignore", invalid="ignore"):
            L = np.log(np.where(present, Y, np.nan))
            g = np.nanmean(L, axis=1, keepdims=True)
            out = L - g
    elif norm == "NONE":
        out = Y.copy()
    else:
        raise DataValueError(f"unknown normalization {normalization!r}", fix=f"use one of {NORMALIZATIONS3}")
    return np.where(present, out, np.nan)


def maaslin3_filter(
    N: np.ndarray,
    *,
    min_abundance: float = 0.0,
    min_prevalence: float = 0.0,
    max_prevalence: float = 1.0,
    zero_threshold: float = 0.0,
    min_variance: float = 0.0,
) -> np.ndarray:
    """R MaAsLin 3's feature filter on the normalised table; a boolean mask of features."""
    n = N.shape[0]
    Z = np.where(np.isnan(N), min(min_abundance, zero_threshold) - 1.0, N)
    Z = Z * (Z > zero_threshold)
    count = (Z > min_abundance).sum(axis=0)
    keep = (count > n * min_prevalence) & (count <= n * max_prevalence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.nanvar(N, axis=0, ddof=1)
    var[np.sum(~np.isnan(N), axis=0) < 2] = np.nan
    return keep & (var > min_variance)


def maaslin3_transform(N: np.ndarray, transform: str = "LOG") -> np.ndarray:
    """Transform the normalised table (absent values stay NaN; PLOG fills them with half the minimum)."""
    tr = transform.upper()
    if tr == "LOG":
        if np.any(N[~np.isnan(N)] <= 0):
            raise DataValueError(
                "LOG transformation is only valid for values above 0",
                fix="use normalization TSS or NONE on non-negative data, or transform NONE",
            )
        return np.log2(N)
    if tr == "PLOG":
        if np.any(N[~np.isnan(N)] < 0):
            raise DataValueError("PLOG transformation needs values ≥ 0", fix="use transform NONE")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pos = np.where(N > 0, N, np.nan)
            half = np.nanmin(pos, axis=0) / 2.0
        out = np.where(N == 0, half[None, :], N)
        with np.errstate(divide="ignore"):
            return np.log2(out)
    if tr == "NONE":
        return N.copy()
    raise DataValueError(f"unknown transform {transform!r}", fix=f"use one of {TRANSFORMS3}")


# ----------------------------------------------------------------------------------
# per-model parameter tables
# ----------------------------------------------------------------------------------


@dataclass
class _Para:
    """Reported rows of one model: ``F × R`` arrays (R rows per feature)."""

    names: list[str]
    metadata: list[str]
    value: list[str]
    coef: np.ndarray
    stderr: np.ndarray
    pval: np.ndarray
    error: np.ndarray  # object, None = no error
    df: np.ndarray  # residual / Satterthwaite df of each row's test (inf: z test)
    is_group: np.ndarray  # R-length bool
    binary: np.ndarray  # R-length: design column is 0/1 (median-comparison threshold)
    col_sd: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # F × R
    # fixed-effects abundance fits: (fitted features, mask_sums of their presence)
    presence_sums: tuple[np.ndarray, dict[str, np.ndarray]] | None = None


def _glht_p(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p of a single-hypothesis ``multcomp::glht`` test as R computes it.

    ``1 − (F(|t|) − F(−|t|))`` with F the t (or, for ``df = ∞``, normal) distribution,
    in R's floating-point order (small p-values carry R's absolute rounding of ~1e-16).
    """
    at = np.abs(t)
    dfb = np.broadcast_to(df, at.shape)
    with np.errstate(invalid="ignore"):
        tail = np.where(np.isinf(dfb), special.ndtr(-at), special.stdtr(np.where(np.isinf(dfb), 1.0, dfb), -at))
        up = np.where(np.isinf(dfb), 1.0 - tail, (0.5 - tail) + 0.5)
        return 1.0 - (up - tail)


def _t_p(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p of a t (``df`` finite) or z (``df = ∞``) statistic."""
    at = np.abs(t)
    dfb = np.broadcast_to(df, at.shape)
    with np.errstate(invalid="ignore"):
        return np.where(
            np.isinf(dfb), 2.0 * special.ndtr(-at), 2.0 * special.stdtr(np.where(np.isinf(dfb), 1.0, dfb), -at)
        )


def _row_layout(design: Design3) -> tuple[list[str], list[str], list[str], list[tuple[str, Any]]]:
    """Reported rows: ordinary columns, then group variables, then ordered levels (R's order)."""
    names, meta, value, spec = [], [], [], []
    for j in design.report:
        names.append(design.names[j])
        meta.append(design.metadata[j])
        value.append(design.value[j])
        spec.append(("col", j))
    for v in design.group:
        names.append(v)
        meta.append(v)
        value.append(v)
        spec.append(("group", v))
    for v, cols in design.ordered.items():
        for k, j in enumerate(cols):
            names.append(design.names[j])
            meta.append(design.metadata[j])
            value.append(design.value[j])
            spec.append(("ordered", (v, k)))
    return names, meta, value, spec


def _feature_checks(
    design: Design3, present_all: np.ndarray, values_all: np.ndarray | None, model: str
) -> np.ndarray:
    """Feature-level errors R raises before fitting (object array, None = fit it)."""
    F = present_all.shape[1]
    err = np.full(F, None, dtype=object)
    if model == "linear":
        assert values_all is not None
        nn = present_all.sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            same = np.nanmax(values_all, axis=0) == np.nanmin(values_all, axis=0)
        has_na = nn < present_all.shape[0]
        uniq_lt2 = (nn == 0) | (~has_na & same)
        err[uniq_lt2] = E_LINEAR_SAME
    else:
        prev = present_all.mean(axis=0)
        err[(prev == 0) | (prev == 1)] = E_LOGISTIC_SAME
    P = present_all.astype(np.float64)
    keep = design.keep
    rows_all = P[keep] if model == "linear" else np.ones((int(keep.sum()), F))
    for _v, (_levels, codes) in design.factors.items():
        # baseline level: any sample with a value (expr not NA) at the first level?
        base = (codes == 0).astype(np.float64) @ P if model == "linear" else np.full(F, float((codes == 0).sum()))
        err[(base == 0) & np.equal(err, None)] = E_BASELINE
    # lme4 checks the grouping factors (lFormula) before the fixed-effects contrasts
    for g_codes, g_name in zip(design.random, design.random_names):
        ind = np.zeros((g_codes.size, int(g_codes.max()) + 1))
        ind[np.arange(g_codes.size), g_codes] = 1.0
        n_lv = ((ind.T @ rows_all) > 0).sum(axis=0)
        nobs = rows_all.sum(axis=0)
        ok = np.equal(err, None)
        err[ok & (n_lv >= nobs)] = (
            "number of levels of each grouping factor must be < number of observations "
            f"(problems: {g_name})"
        )
        ok = np.equal(err, None)
        err[ok & (n_lv < 2)] = "grouping factors must have > 1 sampled level"
    for _v, (levels, codes) in design.factors.items():
        ind = np.stack([(codes[keep] == k) for k in range(len(levels))], axis=1).astype(np.float64)
        n_lv = ((ind.T @ rows_all) > 0).sum(axis=0)
        err[(n_lv < 2) & np.equal(err, None)] = E_CONTRASTS
    return err


def _assemble(
    design: Design3,
    fit: Mapping[str, np.ndarray],
    fit_idx: np.ndarray,
    feat_err: np.ndarray,
    warn: np.ndarray,
    group_p: Mapping[str, np.ndarray],
    M: np.ndarray | None,
) -> _Para:
    """Turn batched fits (design columns) into MaAsLin 3's reported rows."""
    names, meta, value, spec = _row_layout(design)
    F = feat_err.size
    R = len(names)
    coef = np.full((F, R), np.nan)
    se = np.full((F, R), np.nan)
    pv = np.full((F, R), np.nan)
    df = np.full((F, R), np.inf)
    binary = np.zeros(R, dtype=bool)
    is_group = np.zeros(R, dtype=bool)
    col_sd = np.full((F, R), np.nan)
    X = design.X
    fc, fse, fcov, fdf = fit["coef"], fit["stderr"], fit["cov"], fit["df"]
    for r, (kind, arg) in enumerate(spec):
        if kind == "col":
            j = arg
            coef[fit_idx, r] = fc[:, j]
            se[fit_idx, r] = fse[:, j]
            df[fit_idx, r] = fdf[:, j]
            pv[fit_idx, r] = _t_p(fc[:, j] / fse[:, j], fdf[:, j])
            binary[r] = bool(np.all(np.isin(X[:, j], (0.0, 1.0))))
        elif kind == "group":
            is_group[r] = True
            if arg in group_p:
                pv[fit_idx, r] = group_p[arg]
        else:
            v, k = arg
            cols = design.ordered[v]
            L = np.zeros(X.shape[1])
            L[cols[k]] = 1.0
            if k > 0:
                L[cols[k - 1]] = -1.0
            bad = np.any(np.isnan(fc[:, cols]), axis=1)
            if "contrast" in fit:
                est, s, d = fit["contrast"](L)
            else:
                est = np.nan_to_num(fc) @ L
                with np.errstate(invalid="ignore"):
                    s = np.sqrt(np.einsum("i,fij,j->f", L, np.nan_to_num(fcov), L))
                d = fdf[:, cols[k]].copy()
            est[bad] = np.nan
            s[bad] = np.nan
            coef[fit_idx, r] = est
            se[fit_idx, r] = s
            df[fit_idx, r] = d
            pv[fit_idx, r] = _glht_p(est / s, d)
            binary[r] = True
        if kind != "group":
            j = arg if kind == "col" else design.ordered[arg[0]][arg[1]]
            if not binary[r]:
                x = X[:, j]
                if M is None:
                    col_sd[fit_idx, r] = x.std(ddof=1)
                else:
                    if "mask_sums" in fit:  # Σ x, Σ x² over each feature's samples: already summed
                        ms = fit["mask_sums"]
                        cnt, sx = ms["count"], ms["xsum"][j]
                        sxx = ms["gram"][j * X.shape[1] - j * (j - 1) // 2]  # packed (j, j)
                    else:
                        m = M.astype(np.float64)
                        cnt, sx, sxx = m.sum(axis=0), x @ m, (x**2) @ m
                    mu = sx / cnt
                    with np.errstate(invalid="ignore", divide="ignore"):
                        col_sd[fit_idx, r] = np.sqrt(np.maximum(sxx - cnt * mu**2, 0.0) / (cnt - 1))
    err = np.full((F, R), None, dtype=object)
    for f in range(F):
        if feat_err[f] is not None:
            err[f, :] = feat_err[f]
    wrow = np.full(F, None, dtype=object)
    wrow[fit_idx] = warn
    for f in fit_idx:
        if wrow[f] is not None:
            err[f, :] = wrow[f]
    fail = np.equal(err, None) & np.isnan(pv)
    err[fail] = E_FIT
    return _Para(names, meta, value, coef, se, pv, err, df, is_group, binary, col_sd)


# ----------------------------------------------------------------------------------
# model fits
# ----------------------------------------------------------------------------------


def _linear_fits(design: Design3, T: np.ndarray, present_all: np.ndarray) -> _Para:
    """Abundance model: per-feature linear (mixed) model on the present samples."""
    keep = design.keep
    feat_err = _feature_checks(design, present_all, T, "linear")
    fit_idx = np.flatnonzero(np.equal(feat_err, None))
    X = design.X
    M = present_all[keep][:, fit_idx]
    Y = T[keep][:, fit_idx]
    group_p: dict[str, np.ndarray] = {}
    if design.random:
        from ._mixed_batch import lmm_masked

        fit = lmm_masked(X, Y, M, design.random)
        warn = fit["warning"]
        for v, cols in design.group.items():
            group_p[v] = fit["wald_f"](cols)
    else:
        fit = wls_masked(X, Y, M)
        fit["cov"] = fit["cov_unscaled"] * fit["sigma2"][:, None, None]
        fit["df"] = np.broadcast_to(fit["df"][:, None], fit["coef"].shape).astype(np.float64)
        warn = np.full(fit_idx.size, None, dtype=object)
        for v, cols in design.group.items():
            group_p[v] = _partial_f(fit, cols)
    para = _assemble(design, fit, fit_idx, feat_err, warn, group_p, M)
    if "mask_sums" in fit:
        para.presence_sums = (fit_idx, fit["mask_sums"])
    return para


def _partial_f(fit: Mapping[str, np.ndarray], cols: Sequence[int]) -> np.ndarray:
    """F test that the coefficients ``cols`` are all 0 (R's ``anova`` of the last term)."""
    b = fit["coef"][:, cols]
    V = fit["cov"][:, cols][:, :, cols]
    ok = ~np.isnan(b)
    out = np.full(b.shape[0], np.nan)
    for f in range(b.shape[0]):  # small per-feature solves of ≤ levels−1 columns
        k = ok[f]
        q = int(k.sum())
        if q == 0 or not np.isfinite(fit["df"][f, 0]):
            continue
        bb = b[f, k]
        stat = float(bb @ np.linalg.solve(V[f][np.ix_(k, k)], bb)) / q
        out[f] = special.fdtrc(q, fit["df"][f, 0], stat)
    return out


def _logistic_fits(
    design: Design3,
    present_all: np.ndarray,
    augment: bool,
    presence_sums: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> _Para:
    """Prevalence model: augmented logistic (mixed) model of presence on every sample.

    ``presence_sums`` (the abundance fits' :func:`~gutbrain.tl._glm_batch.mask_sums` of
    the same presence matrix) spare the first logistic iteration its pass over the data.
    """
    keep = design.keep
    feat_err = _feature_checks(design, present_all, None, "logistic")
    fit_idx = np.flatnonzero(np.equal(feat_err, None))
    X = design.X
    Yp = present_all[keep][:, fit_idx]
    p_aug = X.shape[1] - 1
    a = p_aug / (2.0 * design.n_total) if augment else 0.0
    group_p: dict[str, np.ndarray] = {}
    if design.random:
        from ._mixed_batch import glmm_laplace

        Yb = Yp.astype(np.float64)
        fit = glmm_laplace(X, Yb, design.random, augment_weight=a)
        warn = fit["warning"]
        for v, cols in design.group.items():
            red = [j for j in range(X.shape[1]) if j not in cols]
            fit0 = glmm_laplace(X[:, red], Yb, design.random, augment_weight=a)
            dfq = (~np.isnan(fit["coef"][:, cols])).sum(axis=1)
            lrt = np.maximum(fit0["deviance"] - fit["deviance"], 0.0)
            # deviances of different objectives (one fit fell back) do not compare: no test
            same = fit["objective"] == fit0["objective"]
            group_p[v] = np.where((dfq > 0) & same, special.chdtrc(np.maximum(dfq, 1), lrt), np.nan)
    else:
        y_sums = None
        if presence_sums is not None:
            lin_idx, sums = presence_sums
            pos = np.searchsorted(lin_idx, fit_idx)
            if np.all(pos < lin_idx.size) and np.array_equal(lin_idx[np.minimum(pos, lin_idx.size - 1)], fit_idx):
                y_sums = {k: v[..., pos] for k, v in sums.items()}
        fit = logit_irls(X, Yp, augment_weight=a, y_sums=y_sums)
        fit["df"] = np.full(fit["coef"].shape, np.inf)
        warn = np.full(fit_idx.size, None, dtype=object)
        warn[~fit["converged"]] = E_GLM_NOCONV
        warn[fit["fitted_01"]] = E_GLM_01
        for v, cols in design.group.items():
            red = [j for j in range(X.shape[1]) if j not in cols]
            fit0 = logit_irls(X[:, red], Yp, augment_weight=a)
            dfq = (~np.isnan(fit["coef"][:, cols])).sum(axis=1)
            lrt = np.maximum(fit0["deviance"] - fit["deviance"], 0.0)
            group_p[v] = np.where(dfq > 0, special.chdtrc(np.maximum(dfq, 1), lrt), np.nan)
    return _assemble(design, fit, fit_idx, feat_err, warn, group_p, None)


# ----------------------------------------------------------------------------------
# median comparison
# ----------------------------------------------------------------------------------


def _median_comparison(
    para: _Para, *, threshold: float, subtract_median: bool, rng: RStream, mixed: bool, linear: bool
) -> None:
    """Replace p-values (and optionally coefficients) by tests against each term's median.

    For term ``k`` the median ``m`` of the coefficients with p < 0.95 is the null value;
    its sampling variance is ``(π/2)·var(coefs)/n`` (the asymptotic variance of a
    median) and its covariance with each coefficient is estimated from 10,000 draws of
    ``N(coef, se²)`` for every feature (R's stream).  Coefficient ``i`` is then tested
    at the offset ``|m − cᵢ|·sqrt(sᵢ² / (sᵢ² + s_m² − 2 cov_i)) + cᵢ`` — a Wald test of
    ``cᵢ − m`` with the variance of the difference.  Rows with an error or of a group
    term keep p = NaN / their own test.
    """
    F, R = para.coef.shape
    ok = np.equal(para.error, None) & ~para.is_group[None, :]
    # R iterates over unique(names) in order of first appearance among the usable rows
    order: list[int] = []
    for f in range(F):
        for r in range(R):
            if ok[f, r] and r not in order:
                order.append(r)
    for r in order:
        rows = np.flatnonzero(ok[:, r])
        coefs = para.coef[rows, r]
        sig = para.stderr[rows, r]
        p0 = para.pval[rows, r]
        use = ~np.isnan(p0) & (p0 < 0.95)
        new_p = np.full(rows.size, np.nan)
        new_c = coefs.copy()
        if use.any():
            med = float(np.median(coefs[use]))
            var_c = float(np.var(coefs[use], ddof=1)) if use.sum() > 1 else np.nan
            sd_med = np.sqrt(0.25 * 2 * np.pi * var_c / use.sum())
            cov = median_mc_cov(rng, coefs, sig, use, N_SIMS)
            with np.errstate(invalid="ignore", divide="ignore"):
                offset = np.abs(med - coefs) * np.sqrt(sig**2 / (sig**2 + sd_med**2 - 2 * cov)) + coefs
                t = (coefs - offset) / sig
            thr = np.full(rows.size, threshold)
            if threshold > 0 and not para.binary[r]:
                thr = threshold / para.col_sd[rows, r]
            df = para.df[rows, r]
            if linear and mixed:
                with np.errstate(invalid="ignore"):
                    p_test = special.fdtrc(1.0, df, t * t)
            else:
                p_test = _glht_p(t, df)
            new_p = np.where(np.isnan(coefs), np.nan, np.where(np.abs(coefs - med) < thr, 1.0, p_test))
            if subtract_median:
                new_c = coefs - med
        became_na = np.isnan(new_p) & ~np.isnan(p0)
        para.error[rows[became_na], r] = E_MEDIAN_NA
        para.pval[rows, r] = new_p
        para.coef[rows, r] = new_c


# ----------------------------------------------------------------------------------
# the whole call
# ----------------------------------------------------------------------------------


def _long(para: _Para, features: Sequence[str], model: str) -> pd.DataFrame:
    F, R = para.coef.shape
    fi = np.repeat(np.arange(F), R)
    ri = np.tile(np.arange(R), F)
    return pd.DataFrame(
        {
            "feature": np.asarray(features, dtype=object)[fi],
            "metadata": np.asarray(para.metadata, dtype=object)[ri],
            "value": np.asarray(para.value, dtype=object)[ri],
            "name": np.asarray(para.names, dtype=object)[ri],
            "coef": para.coef.ravel(),
            "stderr": para.stderr.ravel(),
            "pval": para.pval.ravel(),
            "error": para.error.ravel(),
            "model": model,
        }
    )


def maaslin3_table(
    Y: np.ndarray,
    obs: pd.DataFrame,
    features: Sequence[str],
    *,
    formula: str,
    normalization: str = "TSS",
    transform: str = "LOG",
    reference: str | Mapping[str, str] | None = None,
    min_abundance: float = 0.0,
    min_prevalence: float = 0.0,
    max_prevalence: float = 1.0,
    zero_threshold: float = 0.0,
    min_variance: float = 0.0,
    max_significance: float = 0.1,
    standardize: bool = True,
    augment: bool = True,
    median_comparison_abundance: bool = True,
    median_comparison_prevalence: bool = False,
    median_comparison_abundance_threshold: float = 0.0,
    median_comparison_prevalence_threshold: float = 0.0,
    subtract_median: bool = False,
    warn_prevalence: bool = True,
    correction: str = "BH",
    random_state: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run MaAsLin 3 on a samples × features array; returns (results table, run info).

    See :func:`gutbrain.tl.diff_abundance` (``method="maaslin3"``) for the parameters.
    The table has :data:`MAASLIN3_COLUMNS`, one row per feature × term × model, sorted
    by ``qval_individual`` with errored rows last (R's ``all_results.tsv``).
    """
    norm = normalization.upper()
    tr = transform.upper()
    if norm not in NORMALIZATIONS3:
        raise DataValueError(f"unknown normalization {normalization!r}", fix=f"use one of {', '.join(NORMALIZATIONS3)}")
    if tr not in TRANSFORMS3:
        raise DataValueError(f"unknown transform {transform!r}", fix=f"use one of {', '.join(TRANSFORMS3)}")
    if correction.lower() not in {c.lower() for c in CORRECTIONS3}:
        raise DataValueError(f"unknown correction {correction!r}", fix=f"use one of {', '.join(CORRECTIONS3)}")
    if norm == "CLR" and tr != "NONE":
        raise DataValueError("normalization CLR can only be used with transform NONE", fix="pass transform='NONE'")
    if warn_prevalence and norm == "CLR":
        raise DataValueError(
            "normalization CLR cannot be used with warn_prevalence", fix="pass warn_prevalence=False"
        )
    if tr == "PLOG" and zero_threshold >= 0:
        raise DataValueError(
            "transform PLOG needs zero_threshold < 0 (every value counted as present)",
            fix="pass zero_threshold=-1",
        )
    if not (0.0 <= min_prevalence <= 1.0):
        raise DataValueError(f"min_prevalence={min_prevalence} is outside [0, 1]", fix="use e.g. 0.1")
    Y = np.asarray(Y, dtype=np.float64)
    if not np.all(np.isfinite(Y)):
        raise DataValueError("the table holds NaN or infinite values", fix="replace missing abundances by 0")
    # the batched products are skinny (n × p²) and memory-bound: one BLAS thread is as
    # fast, does not oversubscribe shared machines, and fixes the summation order
    with threadpool_limits(limits=1, user_api="blas"):
        return _maaslin3_table(
            Y, obs, features, formula=formula, norm=norm, tr=tr, reference=reference,
            min_abundance=min_abundance, min_prevalence=min_prevalence, max_prevalence=max_prevalence,
            zero_threshold=zero_threshold, min_variance=min_variance, max_significance=max_significance,
            standardize=standardize, augment=augment, median_comparison_abundance=median_comparison_abundance,
            median_comparison_prevalence=median_comparison_prevalence,
            median_comparison_abundance_threshold=median_comparison_abundance_threshold,
            median_comparison_prevalence_threshold=median_comparison_prevalence_threshold,
            subtract_median=subtract_median, warn_prevalence=warn_prevalence, correction=correction,
            random_state=random_state,
        )


def _maaslin3_table(
    Y: np.ndarray,
    obs: pd.DataFrame,
    features: Sequence[str],
    *,
    formula: str,
    norm: str,
    tr: str,
    reference: str | Mapping[str, str] | None,
    min_abundance: float,
    min_prevalence: float,
    max_prevalence: float,
    zero_threshold: float,
    min_variance: float,
    max_significance: float,
    standardize: bool,
    augment: bool,
    median_comparison_abundance: bool,
    median_comparison_prevalence: bool,
    median_comparison_abundance_threshold: float,
    median_comparison_prevalence_threshold: float,
    subtract_median: bool,
    warn_prevalence: bool,
    correction: str,
    random_state: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    f = parse_formula3(formula)
    design = build_design3(obs, f, reference=reference, standardize=standardize)
    Nn = maaslin3_normalize(Y, norm, zero_threshold)
    mask = maaslin3_filter(
        Nn, min_abundance=min_abundance, min_prevalence=min_prevalence, max_prevalence=max_prevalence,
        zero_threshold=zero_threshold, min_variance=min_variance,
    )
    if not mask.any():
        raise DataValueError(
            f"no feature passes the filters (min_prevalence={min_prevalence}, min_abundance={min_abundance}, "
            f"min_variance={min_variance}) with {Y.shape[0]} samples",
            fix="lower the filter thresholds",
        )
    feats = [str(x) for x in np.asarray(features)[mask]]
    Nf = Nn[:, mask]
    T = maaslin3_transform(Nf, tr)
    present = ~np.isnan(Nf)
    n_total = Y.shape[0]
    n_nz = present.sum(axis=0)
    rng = RStream(random_state)
    mixed = bool(design.random)

    lin = _linear_fits(design, T, present)
    lin_plain_coef = lin.coef.copy()
    if median_comparison_abundance:
        lin_plain_p = lin.pval.copy()
        lin_plain_err = lin.error.copy()
        _median_comparison(
            lin, threshold=median_comparison_abundance_threshold, subtract_median=subtract_median, rng=rng,
            mixed=mixed, linear=True,
        )
    else:
        lin_plain_p, lin_plain_err = lin.pval, lin.error
    log = _logistic_fits(design, present, augment, lin.presence_sums)
    if median_comparison_prevalence:
        _median_comparison(
            log, threshold=median_comparison_prevalence_threshold, subtract_median=subtract_median, rng=rng,
            mixed=mixed, linear=False,
        )
    # extreme estimates on rare / ubiquitous features (prevalence rows)
    nz = n_nz[:, None].astype(np.float64)
    extreme = (np.abs(np.nan_to_num(log.coef)) > 15) | (np.nan_to_num(log.pval, nan=1.0) < 1e-10)
    free = np.equal(log.error, None)
    rare = (nz < 50) & (nz / n_total < 0.05) & extreme & free
    log.error[rare] = E_RARE
    free = np.equal(log.error, None)
    ubiq = ((n_total - nz) < 50) & (nz / n_total > 0.95) & extreme & free
    log.error[ubiq] = E_UBIQ

    ab = _long(lin, feats, "abundance")
    pr = _long(log, feats, "prevalence")
    # q-values over both models (rows with errors excluded)
    p_all = np.concatenate(
        [np.where(pd.isna(ab["error"]), ab["pval"], np.nan), np.where(pd.isna(pr["error"]), pr["pval"], np.nan)]
    )
    q_all = bh_adjust(p_all, correction)
    ab["qval"] = q_all[: len(ab)]
    pr["qval"] = q_all[len(ab) :]

    if warn_prevalence:
        if norm == "TSS" and tr == "LOG":  # the TSS/LOG refit is the abundance fit itself
            new_p, new_err, new_coef = lin_plain_p, lin_plain_err, lin_plain_coef
        else:
            Tn = maaslin3_transform(maaslin3_normalize(Y, "TSS", zero_threshold)[:, mask], "LOG")
            new = _linear_fits(design, Tn, present)
            new_p, new_err, new_coef = new.pval, new.error, new.coef
        newp = np.where(np.equal(new_err, None), new_p, np.nan).ravel()
        q2 = bh_adjust(np.concatenate([newp, p_all[len(ab) :]]), correction)[: newp.size]
        lc, _lp = new_coef.ravel(), newp
        gc, gp = pr["coef"].to_numpy(), pr["pval"].to_numpy()
        with np.errstate(invalid="ignore"):
            flag = (
                ~np.isnan(gc) & ~np.isnan(lc) & ~np.isnan(gp) & ~np.isnan(new_p.ravel())
                & pd.isna(pr["error"]).to_numpy() & np.equal(new_err.ravel(), None)
                & (q2 < max_significance) & (np.sign(gc) == np.sign(lc)) & (np.abs(lc) > np.abs(gc))
            )
        err = pr["error"].to_numpy(dtype=object).copy()
        err[flag] = E_INDUCED
        pr["error"] = err
    # joint p-values per feature × term
    pl = ab["pval"].to_numpy()
    pg = pr["pval"].to_numpy()
    l_bad = np.isnan(pl) | ~pd.isna(ab["error"]).to_numpy()
    g_bad = np.isnan(pg) | ~pd.isna(pr["error"]).to_numpy()
    with np.errstate(invalid="ignore"):
        mn = np.fmin(pl, pg)
        joint = mn * (2.0 - mn)  # pbeta(mn, 1, 2) = 1 - (1 - mn)^2, without cancellation
    joint = np.where(l_bad, pg, joint)
    joint = np.where(g_bad, pl, joint)
    joint = np.where(l_bad & g_bad, np.nan, joint)
    qj = bh_adjust(joint, correction)
    for t in (ab, pr):
        t["pval_joint"] = joint
        t["qval_joint"] = qj
    if mixed:
        for g in design.random:
            counts = np.bincount(g)
            if counts[counts > 0].mean() < 4:
                e = pr["error"].to_numpy(dtype=object).copy()
                e[pd.isna(pr["error"]).to_numpy()] = E_SMALL_RE
                pr["error"] = e
    out = pd.concat([ab, pr], ignore_index=True)
    out = out.rename(columns={"pval": "pval_individual", "qval": "qval_individual"})
    out["N"] = n_total
    out["N_not_zero"] = np.concatenate([np.repeat(n_nz, len(lin.names)), np.repeat(n_nz, len(log.names))])
    # drop rows of dropped terms? (none exist); add explanatory rows for dropped terms
    if design.dropped:
        extra = []
        for term, reason in design.dropped:
            for model in ("abundance", "prevalence"):
                for ft, nn in zip(feats, n_nz):
                    extra.append(
                        {"feature": ft, "metadata": term, "value": term, "name": term, "model": model,
                         "N": n_total, "N_not_zero": int(nn), "error": f"term dropped from the model: {reason}"}
                    )
        out = pd.concat([out, pd.DataFrame(extra)], ignore_index=True)
    out["error"] = out["error"].where(out["error"].notna(), None)
    small = out["error"].eq(E_SMALL_RE)
    has_err = out["error"].notna() & ~small
    qkey = out["qval_individual"].to_numpy(dtype=np.float64)
    order = np.lexsort((np.where(np.isnan(qkey), np.inf, qkey), has_err.to_numpy()))
    out = out.iloc[order].reset_index(drop=True)[MAASLIN3_COLUMNS]
    info = {
        "features_tested": feats,
        "n_filtered": int((~mask).sum()),
        "levels": design.levels,
        "dropped_terms": [t for t, _ in design.dropped],
        "dropped_reasons": [r for _, r in design.dropped],
        "n_samples_fitted": int(design.keep.sum()),
    }
    return out, info


# ----------------------------------------------------------------------------------
# the AnnData tool
# ----------------------------------------------------------------------------------


def maaslin3(
    adata: AnnData,
    *,
    formula: str,
    normalization: str = "TSS",
    transform: str = "LOG",
    reference: str | Mapping[str, str] | None = None,
    min_abundance: float = 0.0,
    min_prevalence: float = 0.0,
    max_prevalence: float = 1.0,
    zero_threshold: float = 0.0,
    min_variance: float = 0.0,
    max_significance: float = 0.1,
    standardize: bool = True,
    augment: bool = True,
    median_comparison_abundance: bool = True,
    median_comparison_prevalence: bool = False,
    median_comparison_abundance_threshold: float = 0.0,
    median_comparison_prevalence_threshold: float = 0.0,
    subtract_median: bool = False,
    warn_prevalence: bool = True,
    correction: str = "BH",
    layer: str | None = None,
    random_state: int = 0,
    key_added: str = "maaslin3",
) -> pd.DataFrame:
    """MaAsLin 3: abundance and prevalence associations of every feature with ``formula``.

    Reproduces R MaAsLin 3 (Nickols et al. 2024, bioRxiv doi:10.1101/2024.12.13.628459;
    defaults as in ``maaslin3()``): a linear model of the log relative abundance on the
    samples where the feature is present (*abundance*), an augmented logistic model of
    presence (*prevalence*), tests of abundance coefficients against the median
    coefficient (compositional shifts), flags, BH q-values over both models and joint
    p-values.  Every step is batched across features (see :mod:`gutbrain.tl._maaslin3`).

    Parameters
    ----------
    adata
        Samples × features (counts or relative abundances); ``obs`` holds the metadata.
    formula
        ``"~ diagnosis + age"``; interactions ``a:b`` / ``a*b``, ``ordered(x)``,
        ``group(x)`` and one random intercept ``(1|subject)``.
    normalization, transform
        ``TSS`` / ``CLR`` / ``NONE`` and ``LOG`` / ``PLOG`` / ``NONE``.
    reference
        Reference levels, ``{"column": "level"}`` or ``"column,level;column2,level2"``
        (default: the first level — a pandas ``Categorical``'s first category, otherwise
        the alphabetically first value).
    min_abundance, min_prevalence, max_prevalence, zero_threshold, min_variance
        Feature filter on the normalised table (R's ``maaslin_filter``); values
        ``≤ zero_threshold`` count as absent.
    max_significance
        q-value threshold of the ``warn_prevalence`` flag (R's default 0.1).
    standardize
        Z-score numeric metadata.
    augment
        Augment the logistic fits with weighted pseudo-observations (prevents separation).
    median_comparison_abundance, median_comparison_prevalence
        Test coefficients against the median of their term instead of 0.
    median_comparison_abundance_threshold, median_comparison_prevalence_threshold
        Coefficients closer than this to the median get p = 1.
    subtract_median
        Report coefficients minus the median.
    warn_prevalence
        Flag prevalence associations probably induced by a stronger abundance one.
    correction
        ``BH`` (default), ``holm``, ``bonferroni`` or ``BY``.
    layer
        Use ``layers[layer]`` instead of ``X``.
    random_state
        Seed of the median comparison's Monte Carlo, on R's stream: ``random_state=k``
        gives R's numbers after ``set.seed(k)``.
    key_added
        Results go to ``uns[key_added]``.

    Returns
    -------
    pandas.DataFrame
        One row per feature × term × model with columns
        ``feature, metadata, value, name, coef, stderr, pval_individual, qval_individual,
        pval_joint, qval_joint, model, N, N_not_zero, error`` (``model`` is
        ``abundance`` or ``prevalence``; ``error`` is None or why the row has no valid
        result), sorted by ``qval_individual`` with errored rows last.  Also stored as
        ``uns[key_added]["results"]`` with ``params``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params": {formula, method="maaslin3", normalization, transform, reference,
        filters, standardize, augment, median-comparison switches and thresholds,
        correction, layer, unit, levels, dropped_terms, n_features_filtered,
        n_samples_fitted, median_comparison_draws, rng, random_state, gutbrain_version,
        references}, "results": <the returned table>}``.

    ``X``, ``obs`` and ``var`` are not modified.

    Examples
    --------
    >>> import anndata as ad
    >>> rng = np.random.default_rng(0)
    >>> obs = pd.DataFrame({"group": rng.choice(["a", "b"], 60)}, index=[f"s{i}" for i in range(60)])
    >>> counts = rng.poisson(20, (60, 8)) * (rng.random((60, 8)) < 0.7)
    >>> res = maaslin3(ad.AnnData(counts.astype(float), obs=obs), formula="~ group")
    >>> sorted(res["model"].unique())
    ['abundance', 'prevalence']
    """
    from .._core import get_matrix, get_unit, record

    if not isinstance(adata, AnnData):
        raise DataValueError("maaslin3 needs an AnnData (samples × features)", fix="read the table with gb.io.read")
    Y = get_matrix(adata, layer)
    res, info = maaslin3_table(
        Y, adata.obs, [str(v) for v in adata.var_names], formula=formula, normalization=normalization,
        transform=transform, reference=reference, min_abundance=min_abundance, min_prevalence=min_prevalence,
        max_prevalence=max_prevalence, zero_threshold=zero_threshold, min_variance=min_variance,
        max_significance=max_significance, standardize=standardize, augment=augment,
        median_comparison_abundance=median_comparison_abundance,
        median_comparison_prevalence=median_comparison_prevalence,
        median_comparison_abundance_threshold=median_comparison_abundance_threshold,
        median_comparison_prevalence_threshold=median_comparison_prevalence_threshold,
        subtract_median=subtract_median, warn_prevalence=warn_prevalence, correction=correction,
        random_state=random_state,
    )
    for term, reason in zip(info["dropped_terms"], info["dropped_reasons"]):
        warnings.warn(f"maaslin3: term {term!r} dropped from the model: {reason}", DataWarning, stacklevel=2)
    params = dict(
        formula=formula, method="maaslin3", normalization=normalization, transform=transform,
        reference=";".join(f"{k},{v}" for k, v in parse_reference(reference).items()) or None,
        min_abundance=min_abundance, min_prevalence=min_prevalence, max_prevalence=max_prevalence,
        zero_threshold=zero_threshold, min_variance=min_variance, max_significance=max_significance,
        standardize=standardize, augment=augment, median_comparison_abundance=median_comparison_abundance,
        median_comparison_prevalence=median_comparison_prevalence,
        median_comparison_abundance_threshold=median_comparison_abundance_threshold,
        median_comparison_prevalence_threshold=median_comparison_prevalence_threshold,
        subtract_median=subtract_median, warn_prevalence=warn_prevalence, correction=correction, layer=layer,
        unit=get_unit(adata, layer), levels={k: list(v) for k, v in info["levels"].items()},
        dropped_terms=info["dropped_terms"], n_features_filtered=info["n_filtered"],
        n_samples_fitted=info["n_samples_fitted"], median_comparison_draws=N_SIMS,
        rng="R Mersenne-Twister/Inversion (set.seed(random_state))",
    )
    record(adata, key_added, params=params, random_state=random_state, references=MAASLIN3_REFERENCES,
           results=res)
    return res
