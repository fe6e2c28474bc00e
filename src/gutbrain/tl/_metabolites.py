"""Taxon × metabolite associations that respect compositionality.

``metabolite_associations(adata)`` tests every taxon against every metabolite of
``obsm["metabolites"]`` (:func:`gutbrain.io.attach_metabolites`) and returns one tidy table,
BH-adjusted over **all** taxon × metabolite pairs.

Model (``method="lm"``, the default), for taxon *t* and metabolite *m*::

    g(y_m) = β₀ + β · x_t + γᵀ covariates [+ u_subject] + ε

* ``x_t`` is the taxon's **centred log-ratio** (``taxa_transform="clr"``: log of the taxon
  over the geometric mean of the kept taxa of the sample) or its **additive log-ratio** to a
  reference taxon (``"alr"``); proportions and CLR are computed on the taxa that pass the
  prevalence filter.  Zeros: counts get a pseudocount of 0.5 reads; other units the
  multiplicative replacement (``δ = 1/D²``, Martín-Fernández et al. 2003) as
  :func:`gutbrain.pp.clr` does.
* ``g(y_m)`` is the natural log of the concentration (zeros replaced by half the metabolite's
  smallest positive value) unless the table is already log-transformed or scaled.
* Covariates and random intercepts come from a one-sided ``formula`` (``"~ age + sex +
  (1|subject)"``) parsed by the differential-abundance machinery
  (:mod:`gutbrain.tl._formula`).  Samples with a missing covariate are dropped; samples
  without a value of metabolite *m* are left out of *m*'s models only (never imputed).
* ``β`` is the change in ``ln(metabolite)`` per unit of the taxon's log-ratio (per e-fold
  increase of the taxon relative to the others).  ``r`` is the partial correlation.

**Fixed effects** are fitted for all pairs at once: by the Frisch–Waugh–Lovell theorem the
slope, its standard error and t statistic of ``y ~ x + C`` follow from the residuals of ``x``
and ``y`` on ``C``, so one QR of the covariate design and one matrix product per missingness
pattern of the metabolites give every pair (same numbers as ``statsmodels.OLS`` per pair,
residual df ``n − p``).

**Random intercepts** (``(1|subject)``): with ``mixed="approximate"`` (default) the variance
ratio θ of each metabolite is estimated once by REML under its null model (covariates +
random intercept, :func:`gutbrain.tl._da_lm.lmm_reml`), then every taxon is tested by
generalised least squares with θ held fixed — the P3D/EMMAX strategy of genome-wide mixed
models (Zhang et al. 2010 doi:10.1038/ng.546; Kang et al. 2010 doi:10.1038/ng.548), exact
when a taxon explains a small share of the variance.  ``mixed="exact"`` refits the full REML
model for every pair with Satterthwaite degrees of freedom (lmerTest), taxon by taxon, which
is much slower.

``method="spearman"`` gives rank correlations (no covariates; p-values from the t
approximation as ``scipy.stats.spearmanr``).  ``proportionality=True`` adds
``rho = 2 cov(a, b) / (var a + var b)`` between the taxon's CLR ``a`` and ``ln`` of the
metabolite ``b`` (Lovell et al. 2015 doi:10.1371/journal.pcbi.1004075; Erb & Notredame 2016
doi:10.1007/s12064-015-0220-8), for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import special

from .._core import get_matrix, get_unit, record
from .._errors import DataValueError, UnitError
from ..io._metabolites import METABOLITE_KEY, metabolite_frame, resolve_metabolite
from ..pp._filter import ADDITIVE_UNITS
from ..pp._transform import multiplicative_replacement
from ._da_common import bh_adjust
from ._formula import build_design, parse_formula

__all__ = [
    "ASSOCIATION_COLUMNS",
    "associate_kernel",
    "metabolite_associations",
    "taxa_log_ratios",
]

#: Columns of the association table.
ASSOCIATION_COLUMNS = [
    "taxon", "metabolite", "metabolite_name", "class", "coef", "stderr", "t", "r", "N",
    "N.not.0", "pval", "qval", "method",
]
REFERENCES = (
    "doi:10.1111/j.2517-6161.1982.tb01195.x",  # Aitchison 1982 (log-ratios)
    "doi:10.1038/ng.546",  # Zhang 2010 (P3D)
    "doi:10.1038/ng.548",  # Kang 2010 (EMMAX)
    "doi:10.18637/jss.v067.i01",  # lme4 REML
)


# ----------------------------------------------------------------------------- taxa
def taxa_matrix(
    adata: AnnData, *, rank: str | None = "genus", layer: str | None = None
) -> tuple[np.ndarray, list[str], str]:
    """Non-negative abundances (samples × taxa), collapsed to ``rank`` when ``var`` has it."""
    unit = get_unit(adata, layer)
    if unit not in ADDITIVE_UNITS:
        raise UnitError(
            f"metabolite models need untransformed abundances, but the table holds {unit}",
            fix="pass counts or proportions; log-ratios are computed inside",
        )
    work = adata
    if rank is not None and rank in adata.var.columns and (adata.var[rank].astype(str) != "").any():
        from ..pp import collapse

        if layer is not None:
            tmp = AnnData(X=get_matrix(adata, layer), obs=pd.DataFrame(index=adata.obs_names),
                          var=adata.var.copy())
            tmp.uns["gutbrain"] = {"X_unit": unit, "layer_units": {}}
            work = collapse(tmp, rank)
            layer = None
        else:
            work = collapse(adata, rank)
    X = get_matrix(work, layer)
    if not np.isfinite(X).all() or (X < 0).any():
        raise DataValueError(
            "the taxa table holds negative or non-finite values",
            fix="pass raw counts or proportions",
        )
    return X, [str(v) for v in work.var_names], unit


def taxa_log_ratios(
    X: np.ndarray,
    *,
    unit: str = "counts",
    transform: str = "clr",
    reference: int | None = None,
) -> np.ndarray:
    """CLR (or ALR to column ``reference``) of a samples × taxa abundance matrix.

    Counts get a pseudocount of 0.5; other units the multiplicative replacement of zeros
    (``δ = 1/D²``).  Samples whose total is zero give NaN rows.

    Examples
    --------
    >>> Z = taxa_log_ratios(np.array([[1.0, 3.0, 0.0]]), unit="counts")
    >>> bool(np.isclose(Z.sum(), 0.0))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    tot = X.sum(axis=1)
    out = np.full(X.shape, np.nan)
    ok = tot > 0
    if not ok.any():
        return out
    if unit == "counts":
        L = np.log(X[ok] + 0.5)
    else:
        L = np.log(multiplicative_replacement(X[ok]))
    if transform == "clr":
        out[ok] = L - L.mean(axis=1, keepdims=True)
    elif transform == "alr":
        if reference is None:
            raise DataValueError("alr needs a reference taxon", fix="pass reference=")
        out[ok] = L - L[:, [reference]]
    else:
        raise DataValueError(f"unknown taxa transform {transform!r}", fix="use 'clr' or 'alr'")
    return out


def _alr_reference(Z: np.ndarray, X: np.ndarray) -> int:
    """Reference taxon for ALR: present in most samples, then the least variable log-ratio."""
    prev = (X > 0).mean(axis=0)
    cand = np.flatnonzero(prev >= prev.max() - 1e-12)
    var = np.nanvar(Z[:, cand], axis=0)
    return int(cand[int(np.argmin(var))])


# ----------------------------------------------------------------------------- kernel
def _patterns(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group metabolite columns by their measured-sample mask: ``[(rows, cols), ...]``."""
    packed = np.packbits(mask, axis=0)
    keys: dict[bytes, list[int]] = {}
    for j in range(mask.shape[1]):
        keys.setdefault(packed[:, j].tobytes(), []).append(j)
    return [(np.flatnonzero(mask[:, cols[0]]), np.asarray(cols)) for cols in keys.values()]


def _residualise(C: np.ndarray, *mats: np.ndarray) -> list[np.ndarray]:
    Q, _ = np.linalg.qr(C)
    return [M - Q @ (Q.T @ M) for M in mats]


def _fe_stats(Xr: np.ndarray, Yr: np.ndarray, df: float) -> dict[str, np.ndarray]:
    """Slope, SE, t, partial r of each column of ``Yr`` on each column of ``Xr`` (residuals)."""
    sxx = np.einsum("ij,ij->j", Xr, Xr)
    syy = np.einsum("ij,ij->j", Yr, Yr)
    sxy = Xr.T @ Yr
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = sxy / sxx[:, None]
        rss = np.maximum(syy[None, :] - sxy * beta, 0.0)
        se = np.sqrt(rss / df / sxx[:, None])
        t = beta / se
        r = sxy / np.sqrt(np.outer(sxx, syy))
    tiny = sxx <= 1e-12 * max(float(np.max(sxx, initial=0.0)), 1e-300)
    for a in (beta, se, t, r):
        a[tiny, :] = np.nan
    return {"coef": beta, "stderr": se, "t": t, "r": r}


def _pvals(t: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    return 2.0 * special.stdtr(df, -np.abs(t))


def _whiten(M: np.ndarray, codes: np.ndarray, sizes: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``V^{-1/2} M`` for ``V = I + θ² Z Zᵀ`` (one random intercept): subtract ``c_g`` × group mean."""
    sums = np.zeros((sizes.size, M.shape[1]))
    np.add.at(sums, codes, M)
    means = sums / sizes[:, None]
    return M - (c[codes])[:, None] * means[codes]


def associate_kernel(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    C: np.ndarray | None = None,
    groups: Sequence[np.ndarray] = (),
    method: str = "lm",
    mixed: str = "approximate",
    proportionality: bool = False,
) -> dict[str, np.ndarray]:
    """All taxon × metabolite statistics (object-free kernel).

    Parameters
    ----------
    X
        ``n × T`` taxon log-ratios (finite).
    Y
        ``n × M`` (transformed) metabolite values; NaN = not measured.
    C
        ``n × q`` covariate design including the intercept column (default: intercept only).
    groups
        Integer codes of random-intercept groupings (``lm`` only).
    method
        ``"lm"`` or ``"spearman"``.
    mixed
        ``"approximate"`` (variance ratio from the null model) or ``"exact"`` (REML per pair).
    proportionality
        Also compute ``rho`` (CLR/log proportionality).

    Returns
    -------
    dict
        ``T × M`` arrays ``coef, stderr, t, r, pval, df, N`` (+ ``rho``); ``theta`` (``M``)
        for mixed models.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n, T = X.shape
    M = Y.shape[1]
    if C is None:
        C = np.ones((n, 1))
    out = {k: np.full((T, M), np.nan) for k in ("coef", "stderr", "t", "r", "pval", "df")}
    out["N"] = np.zeros((T, M), dtype=np.int64)
    if proportionality:
        out["rho"] = np.full((T, M), np.nan)
    if groups:
        out["theta"] = np.full(M, np.nan)
    mask = np.isfinite(Y)
    for rows, cols in _patterns(mask):
        nS = rows.size
        q = C.shape[1]
        if nS < q + 3:
            continue
        Xs, Ys, Cs = X[rows], Y[np.ix_(rows, cols)], C[rows]
        out["N"][:, cols] = nS
        if proportionality:
            a = Xs - Xs.mean(axis=0)
            b = Ys - Ys.mean(axis=0)
            cov = a.T @ b / (nS - 1)
            va = np.einsum("ij,ij->j", a, a) / (nS - 1)
            vb = np.einsum("ij,ij->j", b, b) / (nS - 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["rho"][:, cols] = 2.0 * cov / (va[:, None] + vb[None, :])
        if method == "spearman":
            from scipy.stats import rankdata

            Rx = rankdata(Xs, axis=0)
            Ry = rankdata(Ys, axis=0)
            Xr, Yr = _residualise(np.ones((nS, 1)), Rx, Ry)
            st = _fe_stats(Xr, Yr, nS - 2)
            rs = st["r"]
            with np.errstate(divide="ignore", invalid="ignore"):
                tt = rs * np.sqrt((nS - 2) / np.maximum(1.0 - rs**2, 1e-300))
            out["r"][:, cols] = rs
            out["coef"][:, cols] = rs
            out["t"][:, cols] = tt
            out["df"][:, cols] = nS - 2
            out["pval"][:, cols] = _pvals(tt, nS - 2)
            continue
        df = float(nS - q - 1)
        if not groups:
            Xr, Yr = _residualise(Cs, Xs, Ys)
            st = _fe_stats(Xr, Yr, df)
            for k, v in st.items():
                out[k][:, cols] = v
            out["df"][:, cols] = df
            out["pval"][:, cols] = _pvals(st["t"], df)
            continue
        gs = [np.unique(np.asarray(g)[rows], return_inverse=True)[1] for g in groups]
        if mixed == "exact":
            _exact(Xs, Ys, Cs, gs, cols, out)
            continue
        if len(gs) != 1:
            raise DataValueError(
                "mixed='approximate' supports one random intercept",
                fix="use a single (1|group) term, or mixed='exact'",
            )
        from ._da_lm import lmm_reml

        null = lmm_reml(Cs, Ys, gs, satterthwaite=False)
        theta = null["theta"][:, 0]
        out["theta"][cols] = theta
        st = _gls_stats(Xs, Ys, Cs, gs[0], theta, df)
        for key, v in st.items():
            out[key][:, cols] = v
        out["df"][:, cols] = df
        out["pval"][:, cols] = _pvals(st["t"], df)
    return out


def _gls_stats(Xs: np.ndarray, Ys: np.ndarray, Cs: np.ndarray, codes: np.ndarray, theta: np.ndarray,
               df: float) -> dict[str, np.ndarray]:
    """GLS statistics of every taxon × metabolite with ``V_m = I + θ_m² Z Zᵀ``, all pairs at once.

    Whitening by ``V^{-1/2}`` subtracts ``c_g`` times the group mean (:func:`_whiten`), so every
    cross-product of whitened data is the raw cross-product minus a group-mean correction
    weighted by ``w_g = (2 c_g − c_g²) n_g``:  ``Σ x̃ ỹ = Σ x y − Σ_g w_g x̄_g ȳ_g``.  The
    corrections for all metabolites are matrix products over the G groups, and the covariates
    are partialled out from the small ``q × q`` systems (Frisch–Waugh–Lovell), so nothing of
    size ``n × T`` is formed per metabolite.
    """
    import scipy.sparse as sp

    n = Xs.shape[0]
    G = int(codes.max()) + 1
    ng = np.bincount(codes, minlength=G).astype(np.float64)
    Zg = sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(G, n))
    mX = np.asarray(Zg @ Xs) / ng[:, None]  # G × T
    mY = np.asarray(Zg @ Ys) / ng[:, None]  # G × M
    mC = np.asarray(Zg @ Cs) / ng[:, None]  # G × q
    c = 1.0 - 1.0 / np.sqrt(1.0 + theta[None, :] ** 2 * ng[:, None])  # G × M
    W = (2.0 * c - c**2) * ng[:, None]
    sxy = Xs.T @ Ys - mX.T @ (W * mY)  # T × M
    sxx = np.einsum("ij,ij->j", Xs, Xs)[:, None] - (mX**2).T @ W
    syy = np.einsum("ij,ij->j", Ys, Ys) - np.einsum("gk,gk->k", W, mY**2)
    q = Cs.shape[1]
    B = np.stack([(Cs[:, i] @ Xs)[:, None] - mX.T @ (W * mC[:, [i]]) for i in range(q)])  # q × T × M
    b = Cs.T @ Ys - np.einsum("gi,gk->ik", mC, W * mY)  # q × M
    A = (Cs.T @ Cs)[None] - np.einsum("gi,gj,gk->kij", mC, mC, W)  # M × q × q
    Ainv = np.linalg.inv(A)
    AinvB = np.einsum("kij,jtk->itk", Ainv, B)
    Ainvb = np.einsum("kij,jk->ik", Ainv, b)
    sxx = sxx - np.einsum("itk,itk->tk", B, AinvB)
    sxy = sxy - np.einsum("itk,ik->tk", B, Ainvb)
    syy = syy - np.einsum("ik,ik->k", b, Ainvb)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = sxy / sxx
        rss = np.maximum(syy[None, :] - sxy * beta, 0.0)
        se = np.sqrt(rss / df / sxx)
        t = beta / se
        r = sxy / np.sqrt(sxx * syy[None, :])
    scale = np.max(np.abs(sxx), initial=0.0)
    tiny = sxx <= 1e-12 * max(float(scale), 1e-300)
    for a in (beta, se, t, r):
        a[tiny] = np.nan
    return {"coef": beta, "stderr": se, "t": t, "r": r}


def _exact(Xs: np.ndarray, Ys: np.ndarray, Cs: np.ndarray, gs: list[np.ndarray],
           cols: np.ndarray, out: dict[str, np.ndarray]) -> None:
    """Full REML fit (Satterthwaite df) of every taxon against the metabolites of one pattern."""
    from ._da_lm import lmm_reml

    q = Cs.shape[1]
    for t in range(Xs.shape[1]):
        x = Xs[:, t]
        if np.ptp(x) <= 1e-12:
            continue
        fit = lmm_reml(np.column_stack([Cs, x]), Ys, gs, satterthwaite=True)
        out["coef"][t, cols] = fit["coef"][q]
        out["stderr"][t, cols] = fit["stderr"][q]
        out["t"][t, cols] = fit["t"][q]
        out["df"][t, cols] = fit["df"][q]
        out["pval"][t, cols] = fit["pval"][q]


# ----------------------------------------------------------------------------- the tool
def _metabolite_values(
    frame: pd.DataFrame, params: dict[str, Any], how: str
) -> tuple[np.ndarray, str]:
    Y = frame.to_numpy(dtype=np.float64)
    table_tr = str(params.get("transform", "none"))
    if how == "auto":
        how = "log" if table_tr == "none" else "none"
    if how == "log":
        if table_tr != "none":
            raise DataValueError(
                f"the metabolite table is already {table_tr}-transformed",
                fix="pass metabolite_transform='none'",
            )
        pos = np.where(Y > 0, Y, np.inf)
        half = np.min(pos, axis=0) / 2.0
        half = np.where(np.isfinite(half), half, 1.0)
        Y = np.where(Y > 0, Y, np.where(np.isfinite(Y), half[None, :], np.nan))
        return np.log(Y), "log"
    if how == "none":
        return Y, "none"
    raise DataValueError(f"unknown metabolite_transform {how!r}", fix="use 'auto', 'log' or 'none'")


def metabolite_associations(
    adata: AnnData,
    *,
    metabolites: Sequence[str] | None = None,
    formula: str | None = None,
    groups: str | None = None,
    method: str = "lm",
    mixed: str = "approximate",
    rank: str | None = "genus",
    taxa_transform: str = "clr",
    reference: str | None = None,
    metabolite_transform: str = "auto",
    min_prevalence: float = 0.1,
    min_measured: int = 10,
    proportionality: bool = False,
    correction: str = "BH",
    layer: str | None = None,
    key: str = METABOLITE_KEY,
    key_added: str = "metabolite_associations",
) -> pd.DataFrame:
    """Test every taxon against every metabolite (compositional, vectorised, one BH over all pairs).

    Parameters
    ----------
    adata
        Samples × taxa (counts or proportions) with ``obsm[key]`` from
        :func:`gutbrain.io.attach_metabolites`.
    metabolites
        Metabolite ids or names to test (default: all with at least ``min_measured`` values).
    formula
        Covariates and random intercepts, e.g. ``"~ age + sex + (1|subject)"`` (one-sided;
        the taxon is added as the tested term).
    groups
        ``obs`` column of a random intercept without covariates (same as ``"(1|groups)"``).
    method
        ``"lm"`` (linear model on log-ratios, see the module docstring) or ``"spearman"``.
    mixed
        With random intercepts: ``"approximate"`` (null-model variance ratio) or ``"exact"``.
    rank
        Collapse taxa to this rank first (``None``: features as they are).
    taxa_transform
        ``"clr"`` or ``"alr"`` (log-ratio to ``reference``).
    reference
        ALR reference taxon (default: the most prevalent taxon with the least variable
        log-ratio).
    metabolite_transform
        ``"auto"`` (natural log unless the table is already transformed), ``"log"``, ``"none"``.
    min_prevalence
        Keep taxa present in at least this fraction of samples.
    min_measured
        Skip metabolites measured in fewer samples.
    proportionality
        Add the ``rho`` column.
    correction
        Multiple-testing correction over all pairs (``"BH"``, ``"holm"``, ``"bonferroni"``,
        ``"BY"``).
    layer
        Use ``layers[layer]`` as abundances.
    key
        ``obsm`` key of the metabolite table.
    key_added
        Results go to ``uns[key_added]`` (``params``, ``results``).

    Returns
    -------
    pandas.DataFrame
        One row per taxon × metabolite: ``taxon, metabolite, metabolite_name, class, coef,
        stderr, t, r, N, N.not.0, pval, qval, method`` (+ ``rho``), sorted by ``qval``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params": {...}, "results": <the returned table>}``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=30)
    >>> rng = np.random.default_rng(0)
    >>> mtb = pd.DataFrame({"Butyrate": rng.lognormal(3, 0.5, ad.n_obs)}, index=ad.obs_names)
    >>> ad = gb.io.attach_metabolites(ad, mtb)
    >>> res = gb.tl.metabolite_associations(ad)
    >>> sorted(res.columns[:4])
    ['class', 'metabolite', 'metabolite_name', 'taxon']
    """
    method = method.lower()
    if method not in ("lm", "spearman"):
        raise DataValueError(f"unknown method {method!r}", fix="use 'lm' or 'spearman'")
    if mixed not in ("approximate", "exact"):
        raise DataValueError(f"unknown mixed {mixed!r}", fix="use 'approximate' or 'exact'")
    if taxa_transform not in ("clr", "alr"):
        raise DataValueError(f"unknown taxa_transform {taxa_transform!r}", fix="use 'clr' or 'alr'")
    if not 0.0 <= min_prevalence <= 1.0:
        raise DataValueError(f"min_prevalence={min_prevalence} is outside [0, 1]", fix="use e.g. 0.1")
    frame, mp, mparams = metabolite_frame(adata, key)
    if metabolites is not None:
        cols = [resolve_metabolite(adata, m, key) for m in metabolites]
        frame, mp = frame[cols], mp.loc[cols]
    Xraw, names, unit = taxa_matrix(adata, rank=rank, layer=layer)
    # covariates and random intercepts (full-length arrays, then the kept rows)
    n = adata.n_obs
    keep = np.ones(n, dtype=bool)
    C_full = np.ones((n, 1))
    G_full: list[np.ndarray] = []
    fparams: dict[str, Any] = {}
    if formula is not None or groups is not None:
        if method == "spearman":
            raise DataValueError(
                "method='spearman' takes no covariates or random effects",
                fix="use method='lm' with the formula",
            )
    if formula is not None:
        design = build_design(adata.obs, parse_formula(formula), standardize=True)
        keep = design.keep.copy()
        C_full = np.zeros((n, design.X.shape[1]))
        C_full[keep] = design.X
        for codes in design.groups:
            full = np.full(n, -1, dtype=np.int64)
            full[keep] = codes
            G_full.append(full)
        fparams = {"covariates": design.columns[1:], "random": list(design.group_names)}
    if groups is not None:
        if groups not in adata.obs.columns:
            raise DataValueError(f"no obs column {groups!r}", fix="pass a metadata column as groups")
        gcol = adata.obs[groups]
        ok = gcol.notna().to_numpy()
        keep &= ok
        full = np.full(n, -1, dtype=np.int64)
        full[ok] = pd.factorize(gcol[ok].astype(str), sort=True)[0]
        G_full.append(full)
        fparams["random"] = [*fparams.get("random", []), groups]
    Xk = Xraw[keep]
    tot = Xk.sum(axis=1)
    keep_idx = np.flatnonzero(keep)[tot > 0]
    n_empty = int((tot <= 0).sum())
    C = C_full[keep_idx]
    rgroups = [g[keep_idx] for g in G_full]
    Xk = Xk[tot > 0]
    prev = (Xk > 0).mean(axis=0)
    tmask = prev >= min_prevalence
    if tmask.sum() < 2:
        raise DataValueError(
            f"fewer than 2 taxa are present in at least {min_prevalence:.0%} of samples",
            fix="lower min_prevalence",
        )
    Xk = Xk[:, tmask]
    tnames = [n for n, k in zip(names, tmask) if k]
    ref_name = None
    if taxa_transform == "alr":
        Z0 = taxa_log_ratios(Xk, unit=unit, transform="clr")
        if reference is None:
            ref = _alr_reference(Z0, Xk)
        elif reference in tnames:
            ref = tnames.index(reference)
        else:
            raise DataValueError(
                f"ALR reference {reference!r} is not among the kept taxa",
                fix="pass a taxon present in at least min_prevalence of the samples",
            )
        Z = taxa_log_ratios(Xk, unit=unit, transform="alr", reference=ref)
        ref_name = tnames[ref]
        Z = np.delete(Z, ref, axis=1)
        nz = np.delete(Xk > 0, ref, axis=1)
        tnames = [n for i, n in enumerate(tnames) if i != ref]
    else:
        Z = taxa_log_ratios(Xk, unit=unit, transform="clr")
        nz = Xk > 0
    Y, mtr = _metabolite_values(frame, mparams, metabolite_transform)
    Y = Y[keep_idx]
    n_meas = np.isfinite(Y).sum(axis=0)
    mkeep = n_meas >= min_measured
    if not mkeep.any():
        raise DataValueError(
            f"no metabolite is measured in at least {min_measured} samples with taxa and covariates",
            fix="lower min_measured or check that the metabolite ids match the samples",
        )
    Y = Y[:, mkeep]
    mcols = [c for c, k in zip(frame.columns, mkeep) if k]
    fit = associate_kernel(Z, Y, C=C, groups=rgroups, method=method, mixed=mixed,
                           proportionality=proportionality)
    T, M = Z.shape[1], Y.shape[1]
    ti = np.repeat(np.arange(T), M)
    mi = np.tile(np.arange(M), T)
    nnz = (nz.astype(np.int64).T @ np.isfinite(Y).astype(np.int64))  # T × M
    label = method if not rgroups else f"lm+{mixed}"
    tcat = pd.Index(tnames)
    if not tcat.is_unique:
        tcat = pd.Index([f"{n} [{i}]" for i, n in enumerate(tnames)])
    mnames = mp.loc[mcols, "name"].astype(str)
    res = pd.DataFrame({
        "taxon": pd.Categorical.from_codes(ti, categories=tcat),
        "metabolite": pd.Categorical.from_codes(mi, categories=pd.Index(mcols)),
        "metabolite_name": (pd.Categorical.from_codes(mi, categories=pd.Index(mnames))
                            if mnames.is_unique else mnames.to_numpy()[mi]),
        "class": mp.loc[mcols, "class"].astype(str).to_numpy()[mi],
        "coef": fit["coef"].ravel(),
        "stderr": fit["stderr"].ravel(),
        "t": fit["t"].ravel(),
        "r": fit["r"].ravel(),
        "N": fit["N"].ravel(),
        "N.not.0": nnz.ravel(),
        "pval": fit["pval"].ravel(),
    })
    res["qval"] = bh_adjust(res["pval"].to_numpy(), correction)
    res["method"] = label
    if proportionality:
        res["rho"] = fit["rho"].ravel()
    order = np.argsort(res["qval"].fillna(np.inf).to_numpy(), kind="stable")
    res = res.iloc[order].reset_index(drop=True)
    params = {
        "method": method,
        "mixed": mixed if rgroups else None,
        "formula": formula,
        "groups": groups,
        "rank": rank,
        "taxa_transform": taxa_transform,
        "reference": ref_name,
        "zero_handling": "pseudocount 0.5" if unit == "counts" else "multiplicative replacement 1/D^2",
        "metabolite_transform": mtr,
        "min_prevalence": min_prevalence,
        "min_measured": min_measured,
        "correction": correction,
        "n_taxa": int(T),
        "n_metabolites": int(M),
        "n_pairs": int(T * M),
        "n_samples": len(keep_idx),
        "n_samples_dropped_covariates": int((~keep).sum()),
        "n_samples_empty": n_empty,
        "metabolites_skipped": [str(c) for c, k in zip(frame.columns, mkeep) if not k],
        "unit": unit,
        "key": key,
        **fparams,
    }
    if rgroups and mixed == "approximate":
        params["theta_median"] = float(np.nanmedian(fit["theta"]))
    record(adata, key_added, params=params, references=REFERENCES, results=res)
    return res
