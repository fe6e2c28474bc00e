"""Differential-abundance methods behind :func:`gutbrain.tl.diff_abundance`.

Kernels (object-free, vectorised over features) and per-method runners that return
the tidy MaAsLin2-style table.

* ``maaslin2`` — MaAsLin2's LM (Mallick et al. 2021, doi:10.1371/journal.pcbi.1009442).
* ``linda`` — LinDA (Zhou et al. 2022, Genome Biol 23:95, doi:10.1186/s13059-022-02655-5):
  counts winsorised at each feature's 97 % quantile of proportions, zeros handled by a
  0.5 pseudo-count (or, when a covariate correlates with log library size above 0.1,
  by library-size-proportional imputation), log2 centred log-ratios, one linear model
  per feature (OLS, or REML random intercepts), then each term's coefficients are
  shifted by the mode of their distribution over features (Gaussian kernel density with
  R's ``bw.nrd0`` bandwidth on a 512-point grid) — the compositional bias.  Standard
  errors are the model's: LinDA shows the mode estimate's error is of smaller order.
* ``prevalence`` — logistic regression of presence (value > 0) on the design, as
  MaAsLin3's prevalence model (Nickols et al. 2024, bioRxiv
  doi:10.1101/2024.12.13.628459); vectorised IRLS across features, Wald z-tests.
  Features whose fit separates (|coef| > 15 or no convergence) get NaN p-values.
* ``wilcoxon`` — Mann–Whitney U (two levels) or Kruskal–Wallis (more levels) on
  relative abundances for the *first* term of the formula, unadjusted for the others;
  a numeric first term gets Spearman's rank correlation.  ``coef`` is the rank-biserial
  correlation (positive: higher in the non-reference level) or Spearman's rho.
* ``ancombc`` — scikit-bio's ANCOM-BC (Lin & Peddada 2020, Nat Commun 11:3514,
  doi:10.1038/s41467-020-17041-7) on counts + 1; ``qval`` is ANCOM-BC's own per-term
  adjustment.
* ``consensus`` — several methods on the first term; calls, direction agreement and a
  seeded split-half replicability score (Nearing et al. 2022, Nat Commun 13:342,
  doi:10.1038/s41467-022-28034-z; Pelto et al. 2024, doi:10.1038/s41522-024-00599-1
  for why consensus and replication are advised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import special, stats

from .._errors import DataValueError
from ._da_common import (
    _input_matrix,
    _prepare,
    _sort,
    _tidy,
    bh_adjust,
    normalize_features,
    transform_features,
)
from ._da_lm import lmm_reml, ols, t_pvalues
from ._formula import Design

__all__ = [
    "REFERENCES",
    "density_mode",
    "linda_kernel",
    "logistic_irls",
    "maaslin3_calls",
    "run_ancombc",
    "run_consensus",
    "run_linda",
    "run_maaslin2",
    "run_maaslin3_calls",
    "run_prevalence",
    "run_wilcoxon",
]

REFERENCES: dict[str, list[str]] = {
    "maaslin2": ["doi:10.1371/journal.pcbi.1009442", "doi:10.18637/jss.v067.i01",
                 "doi:10.18637/jss.v082.i13"],
    "linda": ["doi:10.1186/s13059-022-02655-5"],
    "prevalence": ["doi:10.1101/2024.12.13.628459"],
    "wilcoxon": ["doi:10.1214/aoms/1177730491"],
    "ancombc": ["doi:10.1038/s41467-020-17041-7"],
    "maaslin3": ["doi:10.1101/2024.12.13.628459"],
    "consensus": ["doi:10.1038/s41467-022-28034-z", "doi:10.1038/s41522-024-00599-1"],
}


# ----------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------


def _fit(X: np.ndarray, Y: np.ndarray, groups: list[np.ndarray]) -> dict[str, np.ndarray]:
    return lmm_reml(X, Y, groups) if groups else ols(X, Y)


def density_mode(values: np.ndarray, n_grid: int = 512) -> float:
    """Mode of a Gaussian kernel density estimate (R ``density`` defaults: bw.nrd0, cut=3)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan
    if x.size == 1:
        return float(x[0])
    sd = x.std(ddof=1)
    iqr = np.subtract(*np.percentile(x, [75, 25]))
    lo = min(sd, iqr / 1.34)
    if lo <= 0:
        lo = sd or abs(x[0]) or 1.0
    bw = 0.9 * lo * x.size ** (-0.2)
    grid = np.linspace(x.min() - 3 * bw, x.max() + 3 * bw, n_grid)
    dens = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / bw) ** 2).sum(axis=1)
    return float(grid[np.argmax(dens)])


def linda_kernel(
    counts: np.ndarray,
    X: np.ndarray,
    groups: list[np.ndarray] | None = None,
    *,
    is_count: bool = True,
    winsor_quantile: float | None = 0.97,
    pseudo_count: float = 0.5,
    corr_cut: float = 0.1,
    adaptive: bool = True,
) -> dict[str, np.ndarray]:
    """LinDA on a samples × features matrix (see module docstring).

    Returns the fit dict of :func:`~gutbrain.tl._da_lm.ols` with bias-corrected
    ``coef``, ``t`` and ``pval`` plus ``bias`` (per term) and ``coef_raw``.
    """
    Y = np.asarray(counts, dtype=np.float64).copy()
    groups = groups or []
    lib = Y.sum(axis=1)
    if np.any(lib <= 0):
        raise DataValueError("a sample has no reads among the kept features", fix="drop empty samples")
    if winsor_quantile is not None:
        P = Y / lib[:, None]
        cut = np.quantile(P, winsor_quantile, axis=0)
        P = np.minimum(P, cut[None, :])
        Y = P * lib[:, None]
        if is_count:
            Y = np.round(Y)
    if np.any(Y == 0):
        if is_count:
            loglib = np.log(np.maximum(Y.sum(axis=1), 1e-300))
            impute = False
            if adaptive and X.shape[1] > 1:
                Xc = X[:, 1:] - X[:, 1:].mean(axis=0)
                lc = loglib - loglib.mean()
                den = np.sqrt((Xc**2).sum(axis=0) * (lc**2).sum())
                with np.errstate(divide="ignore", invalid="ignore"):
                    r = np.abs(Xc.T @ lc) / den
                impute = bool(np.any(np.nan_to_num(r) > corr_cut))
            if impute:
                N = Y.sum(axis=1)
                Nm = np.where(Y > 0, 0.0, N[:, None])  # samples × features
                tmp = Nm.max(axis=0)
                Y = Y + np.where(tmp[None, :] > 0, Nm / np.where(tmp > 0, tmp, 1.0)[None, :], 0.0)
            else:
                Y = Y + pseudo_count
        else:
            Y = np.where(Y == 0, Y[Y > 0].min() / 2.0, Y)
    L = np.log2(Y)
    W = L - L.mean(axis=1, keepdims=True)
    fit = _fit(X, W, groups)
    p = X.shape[1]
    bias = np.array([density_mode(fit["coef"][j]) if j else 0.0 for j in range(p)])
    coef = fit["coef"] - bias[:, None]
    t = coef / fit["stderr"]
    out = dict(fit)
    out.update(coef=coef, t=t, pval=t_pvalues(t, fit["df"]), bias=bias, coef_raw=fit["coef"])
    return out


def logistic_irls(
    X: np.ndarray, Y: np.ndarray, *, max_iter: int = 50, tol: float = 1e-10, max_coef: float = 15.0
) -> dict[str, np.ndarray]:
    """Logistic regression of each 0/1 column of ``Y`` on ``X`` (vectorised IRLS).

    Returns ``coef``, ``stderr``, ``t`` (Wald z), ``pval`` (``p × F``) and ``converged``.
    Columns that are constant, do not converge or separate (|coef| > ``max_coef``) get NaN
    standard errors and p-values.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    _n, p = X.shape
    F = Y.shape[1]
    beta = np.zeros((p, F))
    prev = np.clip(Y.mean(axis=0), 1e-6, 1 - 1e-6)
    beta[0] = np.log(prev / (1 - prev))
    dev_old = np.full(F, np.inf)
    converged = np.zeros(F, dtype=bool)
    info = np.zeros((F, p, p))
    for _ in range(max_iter):
        eta = X @ beta
        mu = special.expit(eta)
        w = np.clip(mu * (1 - mu), 1e-12, None)
        info = np.matmul(X.T[None, :, :] * w.T[:, None, :], X)
        score = X.T @ (Y - mu)  # p × F
        try:
            step = np.linalg.solve(info, score.T[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            step = np.einsum("fij,jf->if", np.linalg.pinv(info), score)
        beta = beta + np.where(converged[None, :], 0.0, step)
        mu = special.expit(X @ beta)
        ll = Y * np.log(np.clip(mu, 1e-300, None)) + (1 - Y) * np.log(np.clip(1 - mu, 1e-300, None))
        dev = -2 * ll.sum(axis=0)
        converged |= np.abs(dev - dev_old) < tol * (np.abs(dev) + 0.1)
        dev_old = dev
        if converged.all():
            break
    mu = special.expit(X @ beta)
    w = np.clip(mu * (1 - mu), 1e-12, None)
    info = np.matmul(X.T[None, :, :] * w.T[:, None, :], X)
    with np.errstate(invalid="ignore"):
        cov = np.linalg.pinv(info)
        se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)).T
    ym = Y.mean(axis=0)
    bad = (~converged) | (ym == 0) | (ym == 1) | np.any(np.abs(beta) > max_coef, axis=0)
    se[:, bad] = np.nan
    z = beta / se
    pval = 2 * stats.norm.sf(np.abs(z))
    return {"coef": beta, "stderr": se, "t": z, "pval": pval, "converged": converged & ~bad}


# ----------------------------------------------------------------------------------
# runners
# ----------------------------------------------------------------------------------


def run_maaslin2(
    adata: AnnData, *, normalization: str = "TSS", transform: str = "LOG", correction: str = "BH",
    **kw: Any,
) -> pd.DataFrame:
    """MaAsLin2 LM: filter → normalise → transform → OLS / REML per feature."""
    Yf, _, design, names = _prepare(adata, **kw)
    Yt = transform_features(normalize_features(Yf, normalization), transform)
    fit = _fit(design.X, Yt[design.keep], design.groups)
    return _tidy(
        fit, design, names, n=Yf.shape[0], nnz=(Yf > 0).sum(axis=0), method="maaslin2",
        correction=correction,
    )


def _is_count(adata: AnnData, Y: np.ndarray, layer: str | None) -> bool:
    from .._core import get_unit

    return get_unit(adata, layer) == "counts" or bool(np.all(Y == np.round(Y)))


def run_linda(adata: AnnData, *, correction: str = "BH", **kw: Any) -> pd.DataFrame:
    """LinDA-style bias-corrected CLR linear model."""
    Yf, _, design, names = _prepare(adata, **kw)
    Yk = Yf[design.keep]
    keep_s = Yk.sum(axis=1) > 0
    if not keep_s.all():
        raise DataValueError(
            f"{int((~keep_s).sum())} samples have no reads among the kept features",
            fix="drop empty samples (gb.pp.filter_samples) first",
        )
    fit = linda_kernel(Yk, design.X, design.groups, is_count=_is_count(adata, Yf, kw.get("layer")))
    return _tidy(
        fit, design, names, n=Yf.shape[0], nnz=(Yf > 0).sum(axis=0), method="linda",
        correction=correction,
    )


def run_prevalence(adata: AnnData, *, correction: str = "BH", **kw: Any) -> pd.DataFrame:
    """Logistic model of presence/absence per feature (MaAsLin3-style prevalence)."""
    Yf, _, design, names = _prepare(adata, **kw)
    if design.groups:
        raise DataValueError(
            "the prevalence model does not support random effects",
            fix="drop the (1|...) terms or use method='maaslin2'",
        )
    pres = (Yf[design.keep] > 0).astype(np.float64)
    fit = logistic_irls(design.X, pres)
    return _tidy(
        fit, design, names, n=Yf.shape[0], nnz=(Yf > 0).sum(axis=0), method="prevalence",
        correction=correction,
    )


def _first_term(design: Design) -> tuple[str, list[int]]:
    term = design.metadata[1]
    cols = [i for i, m in enumerate(design.metadata) if m == term]
    return term, cols


def run_wilcoxon(adata: AnnData, *, correction: str = "BH", **kw: Any) -> pd.DataFrame:
    """Rank tests of the first formula term on relative abundances."""
    Yf, mask, design, names = _prepare(adata, **kw)
    from ._da_common import _input_matrix

    Yall = _input_matrix(adata, kw.get("layer"))
    tot = np.maximum(Yall.sum(axis=1, keepdims=True), np.finfo(float).eps)
    R = (Yall / tot)[:, mask][design.keep]
    term, cols = _first_term(design)
    n = Yf.shape[0]
    nnz = (Yf > 0).sum(axis=0)
    F = R.shape[1]
    if len(cols) == 1 and design.value[cols[0]] == term:  # numeric → Spearman
        x = design.X[:, cols[0]]
        rx = stats.rankdata(x)
        ry = stats.rankdata(R, axis=0)
        rxc = rx - rx.mean()
        ryc = ry - ry.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = (rxc @ ryc) / np.sqrt((rxc**2).sum() * (ryc**2).sum(axis=0))
            m = R.shape[0]
            tt = rho * np.sqrt((m - 2) / (1 - rho**2))
        pval = t_pvalues(tt, m - 2)
        coef, values = rho, [term] * F
    elif len(cols) == 1:
        g = design.X[:, cols[0]] > 0.5
        res = stats.mannwhitneyu(R[g], R[~g], axis=0, alternative="two-sided", method="asymptotic")
        n1, n0 = g.sum(), (~g).sum()
        coef = 2 * res.statistic / (n1 * n0) - 1
        pval = res.pvalue
        values = [design.value[cols[0]]] * F
    else:
        Xg = design.X[:, cols]
        ref = Xg.sum(axis=1) == 0
        samples = [R[ref]] + [R[Xg[:, j] > 0.5] for j in range(len(cols))]
        res = stats.kruskal(*samples, axis=0)
        coef = np.full(F, np.nan)
        pval = np.asarray(res.pvalue, dtype=np.float64)
        values = ["(all levels)"] * F
    pval = np.where(np.isfinite(pval), pval, np.nan)
    df = pd.DataFrame(
        {
            "feature": names,
            "metadata": term,
            "value": values,
            "coef": coef,
            "stderr": np.nan,
            "N": n,
            "N.not.0": nnz,
            "pval": pval,
        }
    )
    df["qval"] = bh_adjust(df["pval"].to_numpy(), correction)
    df["method"] = "wilcoxon"
    return _sort(df)


def run_ancombc(adata: AnnData, *, correction: str = "BH", alpha: float = 0.05, **kw: Any) -> pd.DataFrame:
    """ANCOM-BC through :func:`skbio.stats.composition.ancombc` on counts + 1."""
    from skbio.stats.composition import ancombc

    Yf, _, design, names = _prepare(adata, **kw)
    if design.groups:
        raise DataValueError(
            "ANCOM-BC (scikit-bio) does not support random effects",
            fix="drop the (1|...) terms or use method='maaslin2'",
        )
    if np.any(Yf < 0):
        raise DataValueError("ANCOM-BC needs non-negative abundances", fix="provide counts")
    keep = design.keep
    table = pd.DataFrame(Yf[keep] + 1.0, index=np.asarray(adata.obs_names)[keep], columns=names)
    fixed = list(dict.fromkeys(m for m in design.metadata[1:]))
    meta = adata.obs.loc[table.index, fixed].copy()
    for c in fixed:
        if c in design.levels:
            meta[c] = pd.Categorical(meta[c].astype(str), categories=design.levels[c])
        else:
            meta[c] = meta[c].astype(np.float64)
    adj = {"bh": "fdr_bh", "holm": "holm", "bonferroni": "bonferroni", "by": "fdr_by"}[correction.lower()]
    res = ancombc(table, meta, " + ".join(fixed), alpha=alpha, p_adjust=adj).result
    res = res.reset_index()
    res = res[res["Covariate"] != "Intercept"]
    md, val = [], []
    for cov in res["Covariate"]:
        if "[T." in cov:
            a, b = cov.split("[T.", 1)
            md.append(a)
            val.append(b.rstrip("]"))
        else:
            md.append(cov)
            val.append(cov)
    nnz = dict(zip(names, (Yf > 0).sum(axis=0), strict=True))
    df = pd.DataFrame(
        {
            "feature": res["FeatureID"].to_numpy(),
            "metadata": md,
            "value": val,
            "coef": res["Log(FC)"].to_numpy(),
            "stderr": res["SE"].to_numpy(),
            "N": Yf.shape[0],
            "N.not.0": [nnz[f] for f in res["FeatureID"]],
            "pval": res["pvalue"].to_numpy(),
            "qval": res["qvalue"].to_numpy(),
            "method": "ancombc",
        }
    )
    return _sort(df)


def run_maaslin3_calls(adata: AnnData, *, correction: str = "BH", **kw: Any) -> pd.DataFrame:
    """MaAsLin 3 as one row per feature × term (for the consensus).

    ``coef`` is the abundance coefficient (the prevalence one when the abundance model
    has none), ``pval`` / ``qval`` the joint p- and q-values (abundance or prevalence).
    """
    from ._maaslin3 import maaslin3_table

    res, _ = maaslin3_table(
        _input_matrix(adata, kw.pop("layer", None)), adata.obs, [str(v) for v in adata.var_names],
        correction=correction, **kw,
    )
    return maaslin3_calls(res)


def maaslin3_calls(res: pd.DataFrame) -> pd.DataFrame:
    """A MaAsLin 3 table (:data:`gutbrain.tl._maaslin3.MAASLIN3_COLUMNS`) as consensus calls.

    One row per feature × term: ``coef`` the abundance coefficient (the prevalence one
    when the abundance model has none), ``pval`` / ``qval`` the joint values.
    """
    ab = res[res["model"] == "abundance"].set_index(["feature", "name"])
    pr = res[res["model"] == "prevalence"].set_index(["feature", "name"])
    pr = pr.reindex(ab.index)
    coef = ab["coef"].where(ab["coef"].notna(), pr["coef"])
    se = ab["stderr"].where(ab["coef"].notna(), pr["stderr"])
    df = pd.DataFrame(
        {
            "feature": ab.index.get_level_values(0),
            "metadata": ab["metadata"].to_numpy(),
            "value": ab["value"].to_numpy(),
            "coef": coef.to_numpy(),
            "stderr": se.to_numpy(),
            "N": ab["N"].to_numpy(),
            "N.not.0": ab["N_not_zero"].to_numpy(),
            "pval": ab["pval_joint"].to_numpy(),
            "qval": ab["qval_joint"].to_numpy(),
            "method": "maaslin3",
        }
    )
    return _sort(df)


_RUNNERS = {
    "maaslin2": run_maaslin2,
    "maaslin3": run_maaslin3_calls,
    "linda": run_linda,
    "prevalence": run_prevalence,
    "wilcoxon": run_wilcoxon,
    "ancombc": run_ancombc,
}


def split_half_replicability(
    Y: np.ndarray,
    design: Design,
    *,
    column: int,
    n_splits: int = 20,
    alpha: float = 0.05,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of seeded split-halves in which each feature replicates.

    The samples (stratified by the tested term when it is categorical) are split into
    two random halves; the fixed-effects linear model is fitted in each half.  A
    feature *replicates* in a split when both halves give the full-data direction and
    ``p < alpha``.  Returns (replicability, sign stability) per feature.
    """
    rng = np.random.default_rng(random_state)
    X = design.X
    n = X.shape[0]
    full = ols(X, Y)["coef"][column]
    sign = np.sign(full)
    strata = X[:, column] if np.all(np.isin(X[:, column], (0.0, 1.0))) else np.zeros(n)
    rep = np.zeros(Y.shape[1])
    stab = np.zeros(Y.shape[1])
    used = 0
    for _ in range(n_splits):
        half = np.zeros(n, dtype=bool)
        for s in np.unique(strata):
            idx = np.flatnonzero(strata == s)
            rng.shuffle(idx)
            half[idx[: idx.size // 2]] = True
        try:
            a = ols(X[half], Y[half])
            b = ols(X[~half], Y[~half])
        except (DataValueError, np.linalg.LinAlgError):
            continue
        if np.linalg.matrix_rank(X[half]) < X.shape[1] or np.linalg.matrix_rank(X[~half]) < X.shape[1]:
            continue
        used += 1
        same = (np.sign(a["coef"][column]) == sign) & (np.sign(b["coef"][column]) == sign)
        stab += same
        rep += same & (a["pval"][column] < alpha) & (b["pval"][column] < alpha)
    if used == 0:
        return np.full(Y.shape[1], np.nan), np.full(Y.shape[1], np.nan)
    return rep / used, stab / used


def run_consensus(
    adata: AnnData,
    *,
    normalization: str = "TSS",
    transform: str = "LOG",
    methods: Sequence[str] = ("maaslin2", "linda", "wilcoxon"),
    alpha: float = 0.05,
    n_splits: int = 20,
    random_state: int = 0,
    correction: str = "BH",
    tables: Mapping[str, pd.DataFrame] | None = None,
    **kw: Any,
) -> pd.DataFrame:
    """Combine methods on the first formula term: calls, direction, replicability.

    ``tables`` may hold results already computed with the same options (per method, in
    the layout of :func:`run_maaslin2` / :func:`maaslin3_calls`); those methods are not rerun.
    """
    methods = [m.lower() for m in methods]
    bad = [m for m in methods if m not in _RUNNERS]
    if not methods or bad:
        raise DataValueError(
            f"consensus methods {bad or methods} are not available",
            fix=f"choose from {', '.join(_RUNNERS)}",
        )
    Yf, _, design, names = _prepare(adata, **kw)
    term, cols = _first_term(design)
    given = {str(k).lower(): v for k, v in dict(tables or {}).items()}
    per_method: dict[str, pd.DataFrame] = {}
    for m in methods:
        extra: Mapping[str, Any] = (
            {"normalization": normalization, "transform": transform} if m == "maaslin2" else {}
        )
        t = given[m] if m in given else _RUNNERS[m](adata, correction=correction, **extra, **kw)
        per_method[m] = t[t["metadata"] == term]
    Yt = transform_features(normalize_features(Yf, normalization), transform)
    parts = []
    for col in cols:  # one contrast per non-reference level of the first term
        level = design.value[col]
        per = {}
        for m, t in per_method.items():
            sub = t if len(cols) == 1 and level == term else t[(t["value"] == level) | (t["value"] == "(all levels)")]
            per[m] = sub.set_index("feature")
        parts.append(_combine_calls(per, methods, names, Yf, Yt, design, term=term, level=level, col=col,
                                    alpha=alpha, n_splits=n_splits, random_state=random_state))
    return _sort(pd.concat(parts, ignore_index=True))


def _combine_calls(
    tables: Mapping[str, pd.DataFrame],
    methods: Sequence[str],
    names: Sequence[str],
    Yf: np.ndarray,
    Yt: np.ndarray,
    design: Design,
    *,
    term: str,
    level: str,
    col: int,
    alpha: float,
    n_splits: int,
    random_state: int,
) -> pd.DataFrame:
    """The consensus table of one contrast (``term`` = ``level`` vs the reference)."""
    F = len(names)
    coef = np.full((len(methods), F), np.nan)
    qv = np.full((len(methods), F), np.nan)
    pv = np.full((len(methods), F), np.nan)
    for i, m in enumerate(methods):
        t = tables[m].reindex(names)
        coef[i], qv[i], pv[i] = t["coef"], t["qval"], t["pval"]
    called = qv <= alpha
    signs = np.sign(coef)
    called_signs = np.where(called, signs, 0.0)
    pos = (called_signs > 0).sum(axis=0)
    neg = (called_signs < 0).sum(axis=0)
    n_called = called.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = np.isfinite(signs) & (signs != 0)
        majority = np.sign(np.nansum(np.where(valid, signs, 0.0), axis=0))
        agree = np.where(valid, signs == majority[None, :], False).sum(axis=0) / np.maximum(
            valid.sum(axis=0), 1
        )
    rep, stab = split_half_replicability(
        Yt[design.keep], design, column=col, n_splits=n_splits, alpha=alpha, random_state=random_state
    )
    need = int(np.ceil(len(methods) / 2))
    consensus = (n_called >= need) & ((pos == 0) | (neg == 0))
    called_by = [",".join(m for i, m in enumerate(methods) if called[i, f]) for f in range(F)]
    first = methods[0]
    df = pd.DataFrame(
        {
            "feature": names,
            "metadata": term,
            "value": level,
            "coef": tables[first].reindex(names)["coef"].to_numpy(),
            "stderr": tables[first].reindex(names)["stderr"].to_numpy(),
            "N": Yf.shape[0],
            "N.not.0": (Yf > 0).sum(axis=0),
            "pval": np.nanmax(pv, axis=0),
            "qval": np.nanmax(qv, axis=0),
            "method": "consensus",
            "n_methods": len(methods),
            "n_called": n_called,
            "called_by": called_by,
            "direction_agreement": agree,
            "replicability": rep,
            "sign_stability": stab,
            "consensus": consensus,
        }
    )
    for i, m in enumerate(methods):
        df[f"coef_{m}"] = coef[i]
        df[f"qval_{m}"] = qv[i]
    return df

