"""Helpers shared by the differential-abundance driver and its methods.

The MaAsLin2 kernels (filter, normalise, transform), Benjamini–Hochberg and the tidy
result table.  :mod:`gutbrain.tl._da` (the ``diff_abundance`` driver) and
:mod:`gutbrain.tl._da_methods` / :mod:`gutbrain.tl._maaslin3` (the methods) both import
from here, so neither imports the other at module level and there is no import cycle.
See :mod:`gutbrain.tl._da` for the pipeline and its references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_matrix, get_unit
from .._errors import DataValueError
from ._formula import Design, Formula, build_design, parse_formula, parse_reference

DA_COLUMNS = ["feature", "metadata", "value", "coef", "stderr", "N", "N.not.0", "pval", "qval", "method"]
METHODS = ("maaslin2", "maaslin3", "linda", "prevalence", "wilcoxon", "ancombc", "consensus")
NORMALIZATIONS = ("TSS", "CLR", "CSS", "TMM", "NONE")
TRANSFORMS = ("LOG", "LOGIT", "AST", "NONE")
CORRECTIONS = ("BH", "holm", "bonferroni", "BY")


# ----------------------------------------------------------------------------------
# kernels (object-free)
# ----------------------------------------------------------------------------------


def bh_adjust(p: np.ndarray, method: str = "BH") -> np.ndarray:
    """Adjust p-values like R's ``p.adjust`` (NaN entries are ignored and kept NaN)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    method_l = method.lower()
    if method_l in ("bh", "fdr", "by"):
        order = np.argsort(q)[::-1]
        ranks = np.arange(m, 0, -1)
        cm = 1.0 if method_l != "by" else np.sum(1.0 / np.arange(1, m + 1))
        adj = np.minimum.accumulate(cm * m / ranks * q[order])
        res = np.empty(m)
        res[order] = np.minimum(adj, 1.0)
    elif method_l == "holm":
        order = np.argsort(q)
        adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
        res = np.empty(m)
        res[order] = np.minimum(adj, 1.0)
    elif method_l in ("bonferroni", "bonf"):
        res = np.minimum(q * m, 1.0)
    else:
        raise DataValueError(f"unknown correction {method!r}", fix=f"use one of {CORRECTIONS}")
    out[ok] = res
    return out


def maaslin_filter(
    Y: np.ndarray, *, min_prevalence: float = 0.1, min_abundance: float = 0.0, min_variance: float = 0.0
) -> np.ndarray:
    """MaAsLin2's feature filter on the input values; returns a boolean mask of features."""
    n = Y.shape[0]
    prev = np.count_nonzero(Y > min_abundance, axis=0) > n * min_prevalence  # NaN counts as 0
    if n < 2:
        return prev & False
    if min_variance <= 0:  # sd > 0 ⇔ not constant (cheaper than the variance)
        return prev & (np.nanmax(Y, axis=0) > np.nanmin(Y, axis=0))
    sd = np.nanstd(Y, axis=0, ddof=1)
    return prev & (np.nan_to_num(sd, nan=0.0) > min_variance)


def _tmm_factors(X: np.ndarray) -> np.ndarray:
    """edgeR TMM normalisation factors (samples in rows), as MaAsLin2's TMMnorm."""
    counts = X.T  # features × samples
    lib = counts.sum(axis=0)
    keep = (counts > 0).sum(axis=1) > 0
    x = counts[keep]
    nS = x.shape[1]
    f75 = np.quantile(x, 0.75, axis=0) / lib
    if np.median(f75) < 1e-20:
        ref = int(np.argmax(np.sqrt(x).sum(axis=0)))
    else:
        ref = int(np.argmin(np.abs(f75 - f75.mean())))
    f = np.ones(nS)
    for i in range(nS):  # n_samples loop of vectorised feature work (edgeR does the same)
        obs, rf = x[:, i], x[:, ref]
        nO, nR = lib[i], lib[ref]
        with np.errstate(divide="ignore", invalid="ignore"):
            logR = np.log2((obs / nO) / (rf / nR))
            absE = (np.log2(obs / nO) + np.log2(rf / nR)) / 2
            v = (nO - obs) / nO / obs + (nR - rf) / nR / rf
        fin = np.isfinite(logR) & np.isfinite(absE) & (absE > -1e10)
        logR, absE, v = logR[fin], absE[fin], v[fin]
        if logR.size == 0 or np.max(np.abs(logR)) < 1e-6:
            continue
        n = logR.size
        loL, hiL = np.floor(n * 0.3) + 1, n + 1 - (np.floor(n * 0.3) + 1)
        loS, hiS = np.floor(n * 0.05) + 1, n + 1 - (np.floor(n * 0.05) + 1)
        from scipy.stats import rankdata

        rl, ra = rankdata(logR), rankdata(absE)
        k = (rl >= loL) & (rl <= hiL) & (ra >= loS) & (ra <= hiS)
        fi = np.nansum(logR[k] / v[k]) / np.nansum(1 / v[k])
        f[i] = 2 ** (0.0 if np.isnan(fi) else fi)
    return f / np.exp(np.mean(np.log(f)))


def normalize_features(Y: np.ndarray, normalization: str = "TSS") -> np.ndarray:
    """Normalise a samples × features matrix as MaAsLin2's ``normalizeFeatures``."""
    norm = normalization.upper()
    if norm == "TSS":
        tot = np.maximum(np.nansum(Y, axis=1, keepdims=True), np.finfo(float).eps)
        return Y / tot
    if norm == "CLR":
        L = np.log(Y + 1.0)
        return L - L.mean(axis=1, keepdims=True)
    if norm == "CSS":
        Xt = Y.T  # features × samples (metagenomeSeq orientation)
        xx = np.where(Xt == 0, np.nan, Xt)
        p = _css_stat(Xt)
        qs = np.nanquantile(xx, p, axis=0)
        shifted = Xt - np.finfo(float).eps
        nf = np.where(shifted <= qs[None, :], shifted, 0.0).sum(axis=0)
        return (Xt / (nf / 1000.0)[None, :]).T
    if norm == "TMM":
        f = _tmm_factors(Y)
        eff = Y.sum(axis=1) * f
        return Y / eff[:, None] * eff.mean()
    if norm == "NONE":
        return Y
    raise DataValueError(f"unknown normalization {normalization!r}", fix=f"use one of {NORMALIZATIONS}")


def _css_stat(mat: np.ndarray, rel: float = 0.1) -> float:
    """metagenomeSeq ``cumNormStat`` (features × samples)."""
    smat = np.sort(mat, axis=0)
    ref = smat.mean(axis=1)
    refS = np.sort(ref)
    k = int(np.argmax(refS > 0))
    lo = refS.size - k
    yy = np.where(mat == 0, np.nan, mat)
    probs = np.linspace(0, 1, lo)
    qtl = np.nanquantile(yy, probs, axis=0)  # lo × samples
    diffr = refS[k:, None] - qtl
    diffr2 = np.nanmedian(np.abs(diffr), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rd = np.abs(np.diff(diffr2)) / diffr2[1:]
    hits = np.flatnonzero(rd > rel)
    x = (hits[0] + 1) / diffr2.size if hits.size else 0.5
    return 0.5 if x <= 0.5 else float(x)


def transform_features(Y: np.ndarray, transform: str = "LOG") -> np.ndarray:
    """Transform each feature (column) as MaAsLin2's ``transformFeatures``."""
    return apply_transform(Y, transform, transform_params(transform_stats(Y, transform), transform))


# The transforms need per-feature statistics of the whole column (LOG: the smallest positive
# value; LOGIT: whether it holds percents).  They are split into statistics that merge
# across chunks of samples (minima and maxima), parameters derived from them, and the
# element-wise transform, so that a sample-chunked run (gutbrain.parallel) applies exactly
# the single-process arithmetic.


def transform_stats(Y: np.ndarray, transform: str) -> dict[str, np.ndarray]:
    """Per-feature statistics the transform needs (merge chunks with :func:`merge_transform_stats`)."""
    tr = transform.upper()
    if tr == "LOG":
        big = np.finfo(np.float64).max
        out = np.multiply(Y == 0, big)  # zeros → huge, so the column minimum is the smallest positive
        out += Y
        return {"min": Y.min(axis=0, initial=np.inf), "minpos": out.min(axis=0, initial=np.inf)}
    if tr == "LOGIT":
        return {"max": np.nanmax(Y, axis=0, initial=-np.inf), "min": np.nanmin(Y, axis=0, initial=np.inf)}
    if tr == "AST":
        return {"maxabs": np.abs(Y).max(axis=0, initial=0.0)}
    if tr == "NONE":
        return {}
    raise DataValueError(f"unknown transform {transform!r}", fix=f"use one of {TRANSFORMS}")


def merge_transform_stats(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Statistics of the union of two chunks of samples."""
    return {k: (np.maximum if k.startswith("max") else np.minimum)(a[k], b[k]) for k in a}


def transform_params(stats: dict[str, np.ndarray], transform: str) -> dict[str, np.ndarray]:
    """Parameters of the transform from whole-column statistics (raises on invalid data)."""
    tr = transform.upper()
    if tr == "LOG":
        if stats["min"].size and stats["min"].min() < 0:
            raise DataValueError(
                "LOG transform needs non-negative values", fix="use normalization TSS or transform NONE"
            )
        big = np.finfo(np.float64).max
        half_min = stats["minpos"] / 2.0
        if np.any(half_min >= big / 2):
            raise DataValueError(
                "LOG transform: a feature has no positive value", fix="filter features first"
            )
        return {"half_min": half_min}
    if tr == "LOGIT":
        if np.any(stats["min"] < 0) or np.any(stats["max"] > 100):
            raise DataValueError(
                "LOGIT transform needs proportions (0–1) or percents (0–100)",
                fix="use normalization TSS",
            )
        return {"percent": stats["max"] > 1}
    if tr == "AST":
        if np.any(stats["maxabs"] > 1):
            raise DataValueError(
                "AST transform is only valid for values between -1 and 1",
                fix="use normalization TSS (or provide proportions)",
            )
        return {}
    return {}


def apply_transform(Y: np.ndarray, transform: str, params: dict[str, np.ndarray]) -> np.ndarray:
    """The element-wise transform with whole-column parameters (:func:`transform_params`)."""
    tr = transform.upper()
    if tr == "LOG":
        out = np.multiply(Y == 0, params["half_min"][None, :])
        out += Y
        return np.log2(out, out=out)
    if tr == "LOGIT":
        P = np.where(params["percent"][None, :], Y / 100.0, Y)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(P / (1.0 - P))
        out[~np.isfinite(out)] = 0.0
        return out
    if tr == "AST":
        return np.sign(Y) * np.arcsin(np.sqrt(np.abs(Y)))
    return Y


def _tidy(
    fit: Mapping[str, np.ndarray],
    design: Design,
    features: Sequence[str],
    *,
    n: int,
    nnz: np.ndarray,
    method: str,
    correction: str = "BH",
    extra: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Turn ``p × F`` fit arrays into MaAsLin2's long table (intercept dropped)."""
    p, F = fit["coef"].shape
    terms = np.arange(1, p)
    # feature-major order, like MaAsLin2's rbind over features
    fi = np.repeat(np.arange(F), len(terms))
    ti = np.tile(terms, F)
    df = pd.DataFrame(
        {
            "feature": np.asarray(features, dtype=object)[fi],
            "metadata": np.asarray(design.metadata, dtype=object)[ti],
            "value": np.asarray(design.value, dtype=object)[ti],
            "coef": fit["coef"][ti, fi],
            "stderr": fit["stderr"][ti, fi],
            "N": np.full(fi.size, n, dtype=np.int64),
            "N.not.0": np.asarray(nnz, dtype=np.int64)[fi],
            "pval": fit["pval"][ti, fi],
        }
    )
    df["qval"] = bh_adjust(df["pval"].to_numpy(), correction)
    df["method"] = method
    for k, v in (extra or {}).items():
        df[k] = v[ti, fi] if np.ndim(v) == 2 else np.asarray(v)[fi]
    return _sort(df)


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    order = np.argsort(df["qval"].fillna(np.inf).to_numpy(), kind="stable")
    return df.iloc[order].reset_index(drop=True)


# ----------------------------------------------------------------------------------
# the AnnData tool
# ----------------------------------------------------------------------------------


def _input_matrix(adata: AnnData, layer: str | None) -> np.ndarray:
    Y = get_matrix(adata, layer)
    if not np.all(np.isfinite(Y)):
        raise DataValueError(
            f"{'X' if layer is None else f'layers[{layer!r}]'} holds NaN or infinite values",
            fix="replace missing abundances by 0 or drop those samples",
        )
    return Y


def _prepare(
    adata: AnnData,
    *,
    formula: str | Formula,
    reference: Any,
    layer: str | None,
    min_prevalence: float,
    min_abundance: float,
    min_variance: float,
    standardize: bool,
) -> tuple[np.ndarray, np.ndarray, Design, list[str]]:
    f = parse_formula(formula) if isinstance(formula, str) else formula
    design = build_design(adata.obs, f, reference=reference, standardize=standardize)
    Y = _input_matrix(adata, layer)
    mask = maaslin_filter(
        Y, min_prevalence=min_prevalence, min_abundance=min_abundance, min_variance=min_variance
    )
    if not mask.any():
        raise DataValueError(
            f"no feature passes min_prevalence={min_prevalence} and min_abundance={min_abundance} "
            f"(with {Y.shape[0]} samples)",
            fix="lower min_prevalence / min_abundance",
        )
    names = [str(v) for v in adata.var_names[mask]]
    return Y[:, mask], mask, design, names


def _check_options(*, normalization: str, transform: str, min_prevalence: float, correction: str) -> None:
    """Raise a :class:`DataValueError` for an unknown MaAsLin2 option or a bad prevalence."""
    if normalization.upper() not in NORMALIZATIONS:
        raise DataValueError(
            f"unknown normalization {normalization!r}", fix=f"use one of {', '.join(NORMALIZATIONS)}"
        )
    if transform.upper() not in TRANSFORMS:
        raise DataValueError(f"unknown transform {transform!r}", fix=f"use one of {', '.join(TRANSFORMS)}")
    if not 0.0 <= min_prevalence <= 1.0:
        raise DataValueError(f"min_prevalence={min_prevalence} is outside [0, 1]", fix="use e.g. 0.1")
    if correction.lower() not in {c.lower() for c in CORRECTIONS}:
        raise DataValueError(f"unknown correction {correction!r}", fix=f"use one of {CORRECTIONS}")


def _params(
    adata: AnnData,
    *,
    formula: str,
    method: str,
    normalization: str,
    transform: str,
    reference: str | Mapping[str, str] | None,
    min_prevalence: float,
    min_abundance: float,
    min_variance: float,
    standardize: bool,
    correction: str,
    layer: str | None,
) -> dict[str, Any]:
    """The parameters :func:`diff_abundance` records in ``uns[key_added]["params"]``."""
    return dict(
        formula=formula,
        method=method,
        normalization=normalization,
        transform=transform,
        reference=";".join(f"{k},{v}" for k, v in parse_reference(reference).items()) or None,
        min_prevalence=min_prevalence,
        min_abundance=min_abundance,
        min_variance=min_variance,
        standardize=standardize,
        correction=correction,
        layer=layer,
        unit=get_unit(adata, layer),
    )
