"""Classifiers and regressors with leakage-safe cross-validation.

``classify`` / ``regress`` take an AnnData; ``cross_validate_model`` is the object-free
kernel (samples × features matrix, labels).  Every fold refits the whole pipeline
(prevalence filter → transform → [scaler] → model), so test samples never inform it.

Model defaults follow the microbiome ML benchmarks: random forest with 500 trees on
relative abundances (Pasolli et al. 2016 PLoS Comput Biol 12:e1004977,
doi:10.1371/journal.pcbi.1004977); L1 logistic regression on log abundances with the
penalty tuned inside each training fold (Wirbel et al. 2021 Genome Biol 22:93,
doi:10.1186/s13059-021-02306-1).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.stats import rankdata
from sklearn.calibration import calibration_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .._core import get_matrix, get_unit, record
from .._errors import DataValueError, UnitError
from ..pp._filter import ADDITIVE_UNITS as _ADDITIVE
from ._cv import bootstrap_ci, default_jobs, fast_auc, iter_splits, oof_predictions
from ._scoring import decision_auroc
from ._transformers import (
    CLRTransformer,
    LogRelative,
    PresenceAbsence,
    PrevalenceFilter,
    RelativeAbundance,
)

__all__ = [
    "CLASSIFIERS",
    "REGRESSORS",
    "CVResult",
    "classify",
    "cross_validate_model",
    "make_pipeline",
    "regress",
]

CLASSIFIERS = ("l1", "enet", "rf", "gb")
REGRESSORS = ("enet", "rf", "gb")
TRANSFORMS = ("relative", "clr", "log", "presence")
_DEFAULT_TRANSFORM = {"l1": "log", "enet": "log", "rf": "relative", "gb": "relative"}
#: Inverse penalties tried by the inner CV of the L1/elastic-net logistic models (standardised
#: features): 10⁻³ … 1.52 in steps of 10^(5/11).  Until December 2026 the grid went on to 100;
#: its four weakest penalties (C = 4.3 … 100) keep ≥ 97 % of the features, so they select
#: nothing, and they were ≈ 85 % of the classifier's time (liblinear converges slowly as the
#: penalty vanishes).  On American Gut 2014 (MIGRAINE, 1,495 faecal samples) every fold chose
#: C ≤ 0.53 with either grid (docs/performance.md, "gutbrain run on American Gut").
LOGISTIC_CS: np.ndarray = np.logspace(-3, 2, 12)[:8]


def _logistic_cv(l1_ratio: float, random_state: int) -> Any:
    from sklearn.linear_model import LogisticRegressionCV

    kw: dict[str, Any] = {
        "Cs": LOGISTIC_CS,
        "cv": 3,
        # the "roc_auc" scorer's numbers without its per-call validation (_scoring.py)
        "scoring": decision_auroc,
        "max_iter": 5000,
        "random_state": random_state,
    }
    params = inspect.signature(LogisticRegressionCV).parameters
    if "use_legacy_attributes" in params:
        kw["use_legacy_attributes"] = False
    if l1_ratio == 1.0:
        kw["solver"] = "liblinear"
    else:
        kw["solver"] = "saga"
    if "l1_ratios" in params and params["penalty"].default == "deprecated":
        kw["l1_ratios"] = (l1_ratio,)
    else:  # older scikit-learn
        kw["penalty"] = "l1" if l1_ratio == 1.0 else "elasticnet"
        if l1_ratio != 1.0:
            kw["l1_ratios"] = (l1_ratio,)
    return LogisticRegressionCV(**kw)


def _estimator(model: str, task: str, random_state: int, n_jobs: int | None) -> Any:
    if task == "classification":
        if model == "l1":
            return _logistic_cv(1.0, random_state)
        if model == "enet":
            return _logistic_cv(0.5, random_state)
        if model == "rf":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(
                n_estimators=500, max_features="sqrt", n_jobs=n_jobs, random_state=random_state
            )
        if model == "gb":
            from sklearn.ensemble import GradientBoostingClassifier

            return GradientBoostingClassifier(
                n_estimators=200, learning_rate=0.05, max_depth=3, subsample=0.8,
                random_state=random_state,
            )
        raise DataValueError(f"unknown classifier {model!r}", fix=f"use one of {', '.join(CLASSIFIERS)}")
    if model in ("enet", "l1"):
        from sklearn.linear_model import ElasticNetCV

        return ElasticNetCV(
            l1_ratio=1.0 if model == "l1" else 0.5, cv=3, n_alphas=30, max_iter=10000,
            random_state=random_state,
        ) if "n_alphas" in inspect.signature(ElasticNetCV).parameters else ElasticNetCV(
            l1_ratio=1.0 if model == "l1" else 0.5, cv=3, alphas=30, max_iter=10000,
            random_state=random_state,
        )
    if model == "rf":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=500, max_features=0.33, n_jobs=n_jobs, random_state=random_state
        )
    if model == "gb":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(
            n_estimators=200, learning_rate=0.05, max_depth=3, subsample=0.8,
            random_state=random_state,
        )
    raise DataValueError(f"unknown regressor {model!r}", fix=f"use one of {', '.join(REGRESSORS)}")


def make_pipeline(
    model: str = "rf",
    *,
    task: str = "classification",
    transform: str | None = None,
    min_prevalence: float = 0.1,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> Pipeline:
    """Build the leakage-safe pipeline ``filter → transform → [scale] → model``.

    Parameters
    ----------
    model
        ``"l1"`` (L1 logistic, penalty tuned by inner 3-fold CV), ``"enet"`` (elastic net),
        ``"rf"`` (random forest, 500 trees) or ``"gb"`` (gradient boosting).
    task
        ``"classification"`` or ``"regression"``.
    transform
        ``"relative"``, ``"clr"`` (pseudocount: half the smallest non-zero value per
        sample), ``"log"`` (log10 proportions, floor 1e-5) or ``"presence"``; default
        ``log`` for linear models and ``relative`` for trees.
    min_prevalence
        Prevalence filter fitted on each training fold.
    random_state
        Seed of the model.
    n_jobs
        Parallel jobs of random forests.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``filter``, ``transform``, [``scale``], ``model``.
    """
    if task not in ("classification", "regression"):
        raise DataValueError(f"unknown task {task!r}", fix="use 'classification' or 'regression'")
    transform = transform or _DEFAULT_TRANSFORM.get(model, "relative")
    tr = {
        "relative": RelativeAbundance(),
        "clr": CLRTransformer(pseudocount="auto", closure=True),
        "log": LogRelative(),
        "presence": PresenceAbsence(),
    }.get(transform)
    if tr is None:
        raise DataValueError(f"unknown transform {transform!r}", fix=f"use one of {', '.join(TRANSFORMS)}")
    steps: list[tuple[str, Any]] = [
        ("filter", PrevalenceFilter(min_prevalence=min_prevalence)),
        ("transform", tr),
    ]
    if model in ("l1", "enet"):
        steps.append(("scale", StandardScaler()))
    steps.append(("model", _estimator(model, task, random_state, n_jobs)))
    return Pipeline(steps)


@dataclass
class CVResult:
    """Cross-validated performance of one model.

    Attributes
    ----------
    metrics
        One row per metric: ``metric, value, ci_low, ci_high`` (95 % bootstrap CIs).
    predictions
        Out-of-fold predictions: ``sample, y_true, y_score`` (mean over repeats),
        ``group`` and one column ``repeat_<r>`` per repeat.
    importances
        ``feature, importance, sd, selected_fraction`` (coefficients of standardised
        features for linear models, impurity importances for trees), sorted.
    calibration
        ``mean_predicted, fraction_positive, n`` per quantile bin (classification).
    per_group
        Per held-out group (leave-one-study-out): ``group, n, n_positive, auroc``.
    """

    task: str
    model: str
    scheme: str
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    importances: pd.DataFrame
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_group: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> float:
        """Return one metric's point value."""
        row = self.metrics.loc[self.metrics["metric"] == name, "value"]
        if row.empty:
            raise KeyError(name)
        return float(row.iloc[0])


def _importance_of(est: Pipeline, n_features: int) -> np.ndarray:
    support = est.named_steps["filter"].get_support()
    final = est.named_steps["model"]
    if hasattr(final, "feature_importances_"):
        imp = np.asarray(final.feature_importances_, dtype=np.float64)
    else:
        imp = np.asarray(final.coef_, dtype=np.float64).ravel()
    out = np.zeros(n_features)
    out[support] = imp
    return out


def _spearman_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    ry = rankdata(y, axis=-1)
    rs = rankdata(s, axis=-1)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    rs = rs - rs.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ry * rs).sum(-1) / np.sqrt((ry**2).sum(-1) * (rs**2).sum(-1))


def _r2_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    sse = ((y - s) ** 2).sum(-1)
    sst = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / sst


#: Folds run in worker processes (``n_jobs=None``) when samples × features × fits reach
#: this: smaller jobs finish before forking the workers would pay off.
_PARALLEL_FOLDS_MIN_SIZE = 2_000_000


def _fold_jobs(model: str, custom: bool, n_jobs: int | None, size: int) -> int:
    """Worker processes for the folds: 1 for random forests (their trees use ``n_jobs``
    threads) and custom pipelines; else ``n_jobs`` (negative: all cores but ``-n_jobs - 1``),
    or, for ``None``, every core when the job is large enough."""
    if custom or model == "rf":
        return 1
    if n_jobs is None:
        return default_jobs() if size >= _PARALLEL_FOLDS_MIN_SIZE else 1
    n_jobs = int(n_jobs)
    return max(1, default_jobs() + 1 + n_jobs if n_jobs < 0 else n_jobs)


def _perm_stat(
    pipe: Pipeline, X: np.ndarray, y: np.ndarray, splits: list, classification: bool, n_jobs: int
) -> float:
    pred = oof_predictions(pipe, X, y, splits, classification=classification, n_jobs=n_jobs)[0]
    if classification:
        return float(fast_auc(y, pred[None, :])[0])
    return float(_r2_rows(y, pred))


def cross_validate_model(
    X: np.ndarray,
    y: np.ndarray,
    *,
    model: str = "rf",
    task: str = "classification",
    cv: str = "repeated",
    groups: np.ndarray | None = None,
    n_splits: int = 5,
    n_repeats: int = 5,
    transform: str | None = None,
    min_prevalence: float = 0.1,
    n_permutations: int = 0,
    n_boot: int = 1000,
    random_state: int = 0,
    n_jobs: int | None = None,
    feature_names: list[str] | None = None,
    sample_names: list[str] | None = None,
    pipeline: Pipeline | None = None,
) -> CVResult:
    """Cross-validate a pipeline on a samples × features abundance matrix.

    Parameters
    ----------
    X
        Non-negative abundances (counts or proportions), samples × features.
    y
        0/1 labels (classification) or numbers (regression).
    model, task, transform, min_prevalence
        See :func:`make_pipeline`.
    cv
        ``"repeated"`` (repeated stratified K-fold), ``"group"`` (stratified group K-fold
        over ``groups``, e.g. subject or household) or ``"loso"`` (leave one ``groups``
        level, e.g. study, out).
    groups
        Group labels for ``"group"``/``"loso"``.
    n_splits, n_repeats
        Folds and repeats (``"loso"`` has one repeat).
    n_permutations
        Label permutations for a permutation p-value (each reruns the first repeat's
        splits; the statistic is that repeat's AUROC or R²).
    n_boot
        Bootstrap resamples of the out-of-fold predictions for the CIs.
    random_state
        Seed of splits, models and bootstrap.
    n_jobs
        Parallel jobs: the random forest's threads; for the other models, worker processes
        fitting the folds side by side (``None``: every core when samples × features × fits
        reach 2 million, else one).  The results do not depend on it.
    feature_names, sample_names
        Labels for the result tables.
    pipeline
        Use this (unfitted) pipeline instead of :func:`make_pipeline`; it must expose
        ``predict_proba`` for classification.

    Returns
    -------
    CVResult
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    classification = task == "classification"
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise DataValueError(f"X has shape {X.shape} but y has {y.shape[0]} values", fix="align samples")
    if not np.isfinite(X).all() or (X < 0).any():
        raise DataValueError("X must hold finite non-negative abundances", fix="give raw counts or proportions")
    if classification:
        if set(np.unique(y)) - {0, 1} or len(np.unique(y)) != 2:
            raise DataValueError("labels must be 0/1 with both classes present", fix="check the label column")
        y = y.astype(np.int64)
    else:
        y = y.astype(np.float64)
    n, p = X.shape
    feature_names = feature_names or [f"x{j}" for j in range(p)]
    sample_names = sample_names or [f"s{i}" for i in range(n)]
    pipe = pipeline if pipeline is not None else make_pipeline(
        model, task=task, transform=transform, min_prevalence=min_prevalence,
        random_state=random_state, n_jobs=n_jobs,
    )
    splits = list(iter_splits(
        y, scheme=cv, groups=groups, n_splits=n_splits, n_repeats=n_repeats,
        classification=classification, random_state=random_state,
    ))
    fold_jobs = _fold_jobs(model, pipeline is not None, n_jobs, X.size * len(splits))
    imps: list[np.ndarray] = []
    pred = oof_predictions(
        pipe, X, y, splits, classification=classification, n_jobs=fold_jobs,
        on_fit=lambda est, r, f: imps.append(_importance_of(est, p)) if pipeline is None else None,
    )
    n_rep = pred.shape[0]
    tested = np.isfinite(pred).all(axis=0)
    mean_pred = np.nanmean(pred, axis=0)
    rng = np.random.default_rng(random_state)
    rows: list[tuple[str, float, float, float]] = []
    per_group = pd.DataFrame()
    calib = pd.DataFrame()
    yt = y[tested]
    if classification:
        strata = yt
        idx = np.empty((n_boot, yt.size), dtype=np.int64)
        pos = 0
        for lev in (0, 1):
            m = np.flatnonzero(strata == lev)
            idx[:, pos : pos + m.size] = m[rng.integers(0, m.size, (n_boot, m.size))]
            pos += m.size
        P = pred[:, tested]
        per_rep = fast_auc(yt, P)
        boot = np.mean([fast_auc(yt[idx], P[r][idx]) for r in range(n_rep)], axis=0)
        lo, hi = np.nanquantile(boot, [0.025, 0.975])
        rows.append(("auroc", float(per_rep.mean()), float(lo), float(hi)))
        rows.append(("auroc_sd_repeats", float(per_rep.std(ddof=1)) if n_rep > 1 else 0.0, np.nan, np.nan))
        v, lo, hi = bootstrap_ci(yt, mean_pred[tested], "auprc", n_boot=min(n_boot, 500),
                                 random_state=random_state, strata=yt)
        rows.append(("auprc", v, lo, hi))
        rows.append(("auprc_baseline", float(yt.mean()), np.nan, np.nan))
        brier = float(np.mean((mean_pred[tested] - yt) ** 2))
        rows.append(("brier", brier, np.nan, np.nan))
        hard = (mean_pred[tested] >= 0.5).astype(int)
        sens = float((hard[yt == 1] == 1).mean())
        spec = float((hard[yt == 0] == 0).mean())
        rows.append(("balanced_accuracy", (sens + spec) / 2, np.nan, np.nan))
        nb = max(2, min(10, int(yt.size // 10)))
        frac, mp = calibration_curve(yt, mean_pred[tested], n_bins=nb, strategy="quantile")
        calib = pd.DataFrame({"mean_predicted": mp, "fraction_positive": frac})
        if cv == "loso" and groups is not None:
            g = np.asarray(groups)[tested]
            recs = []
            for lev in pd.unique(g):
                m = g == lev
                auc = float(fast_auc(yt[m], mean_pred[tested][m][None, :])[0]) if len(np.unique(yt[m])) == 2 else np.nan
                acc = float(((mean_pred[tested][m] >= 0.5).astype(int) == yt[m]).mean())
                recs.append({"group": lev, "n": int(m.sum()), "n_positive": int(yt[m].sum()),
                             "auroc": auc, "accuracy": acc})
            per_group = pd.DataFrame(recs)
    else:
        idx = rng.integers(0, yt.size, (n_boot, yt.size))
        P = pred[:, tested]
        r2 = _r2_rows(yt[None, :], P)
        rho = _spearman_rows(np.broadcast_to(yt, P.shape), P)
        b_r2 = np.mean([_r2_rows(yt[idx], P[r][idx]) for r in range(n_rep)], axis=0)
        b_rho = np.mean([_spearman_rows(yt[idx], P[r][idx]) for r in range(n_rep)], axis=0)
        rows.append(("r2", float(r2.mean()), *map(float, np.nanquantile(b_r2, [0.025, 0.975]))))
        rows.append(("spearman", float(rho.mean()), *map(float, np.nanquantile(b_rho, [0.025, 0.975]))))
        rows.append(("mae", float(np.abs(mean_pred[tested] - yt).mean()), np.nan, np.nan))
        rows.append(("rmse", float(np.sqrt(((mean_pred[tested] - yt) ** 2).mean())), np.nan, np.nan))
    if n_permutations:
        first = [s for s in splits if s[0] == 0]
        obs = float(fast_auc(y, pred[0][None, :])[0]) if classification else float(_r2_rows(y, pred[0]))
        perm_rng = np.random.default_rng(random_state + 1)
        null = np.array([
            _perm_stat(pipe, X, perm_rng.permutation(y), first, classification, fold_jobs)
            for _ in range(n_permutations)
        ])
        pval = (1.0 + np.sum(null >= obs)) / (1.0 + n_permutations)
        rows.append(("permutation_pvalue", float(pval), np.nan, np.nan))
        rows.append(("permutation_null_mean", float(np.mean(null)), np.nan, np.nan))
    metrics = pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"])
    preds = pd.DataFrame({"sample": sample_names, "y_true": y, "y_score": mean_pred})
    if groups is not None:
        preds["group"] = np.asarray(groups)
    for r in range(n_rep):
        preds[f"repeat_{r}"] = pred[r]
    if imps:
        imp = np.vstack(imps)
        importances = pd.DataFrame({
            "feature": feature_names,
            "importance": imp.mean(axis=0),
            "sd": imp.std(axis=0, ddof=1) if imp.shape[0] > 1 else 0.0,
            "selected_fraction": (imp != 0).mean(axis=0),
        })
        importances = importances.reindex(
            importances["importance"].abs().sort_values(ascending=False).index
        ).reset_index(drop=True)
    else:
        importances = pd.DataFrame(columns=["feature", "importance", "sd", "selected_fraction"])
    params = {
        "model": model, "task": task, "cv": cv, "n_splits": n_splits,
        "n_repeats": n_rep, "transform": transform or _DEFAULT_TRANSFORM.get(model, "relative"),
        "min_prevalence": min_prevalence, "n_permutations": n_permutations, "n_boot": n_boot,
        "n_samples": int(n), "n_features": int(p),
    }
    return CVResult(task=task, model=model, scheme=cv, metrics=metrics, predictions=preds,
                    importances=importances, calibration=calib, per_group=per_group, params=params)


def _features(adata: AnnData, *, rank: str | None, layer: str | None) -> tuple[np.ndarray, list[str]]:
    unit = get_unit(adata, layer)
    if unit not in _ADDITIVE:
        raise UnitError(
            f"classification needs non-negative abundances, but the matrix holds {unit}",
            fix="pass the untransformed table (counts or proportions); transforms run inside the folds",
        )
    if rank is not None:
        from ..pp import collapse

        if layer is not None:
            raise DataValueError("rank= and layer= cannot be combined", fix="collapse first, then pass layer=")
        adata = collapse(adata, rank, unassigned="keep")
    return get_matrix(adata, layer), [str(v) for v in adata.var_names]


def _label_vector(adata: AnnData, label: str, positive: str | None) -> tuple[np.ndarray, np.ndarray, str, str]:
    if label not in adata.obs.columns:
        raise DataValueError(f"no obs column {label!r}; columns are {list(adata.obs.columns)}",
                             fix="give a metadata column as label")
    col = adata.obs[label]
    keep = col.notna().to_numpy()
    vals = col.astype(str).to_numpy()
    levels = [lv for lv in (col.cat.categories if hasattr(col, "cat") else pd.unique(col[keep].astype(str)))
              if str(lv) in set(vals[keep])]
    levels = [str(lv) for lv in levels]
    if len(levels) != 2:
        raise DataValueError(f"label {label!r} has {len(levels)} levels ({levels[:6]}); need exactly 2",
                             fix="subset the samples or pick a binary column")
    if positive is None:
        positive = levels[1]
    if positive not in levels:
        raise DataValueError(f"positive={positive!r} is not a level of {label!r} ({levels})",
                             fix="pass one of the levels")
    negative = next(lv for lv in levels if lv != positive)
    y = (vals == positive).astype(np.int64)
    return y, keep, positive, negative


def _cross_validate_obs(
    adata: AnnData,
    X: np.ndarray,
    y: np.ndarray,
    keep: np.ndarray,
    names: list[str],
    *,
    cv: str,
    group_by: str | None,
    **kw: Any,
) -> CVResult:
    """:func:`cross_validate_model` on the ``keep`` samples, grouped by ``obs[group_by]``.

    With ``cv="repeated"`` and ``group_by`` given, the scheme becomes ``"group"``.
    """
    groups = None
    if group_by is not None:
        if group_by not in adata.obs.columns:
            raise DataValueError(f"no obs column {group_by!r}", fix="give a metadata column as group_by")
        groups = adata.obs[group_by].astype(str).to_numpy()[keep]
        if cv == "repeated":
            cv = "group"
    return cross_validate_model(
        X[keep], y[keep], cv=cv, groups=groups, feature_names=names,
        sample_names=[str(s) for s in adata.obs_names[keep]], **kw,
    )


def _store(adata: AnnData, key: str, res: CVResult, extra: dict[str, Any], random_state: int) -> None:
    record(
        adata, key, params={**res.params, **extra}, random_state=random_state,
        references=("doi:10.1371/journal.pcbi.1004977", "doi:10.1186/s13059-021-02306-1"),
        metrics=res.metrics, predictions=res.predictions.astype({"sample": str}),
        importances=res.importances, calibration=res.calibration, per_group=res.per_group,
    )


def classify(
    adata: AnnData,
    *,
    label: str,
    positive: str | None = None,
    model: str = "rf",
    cv: str = "repeated",
    group_by: str | None = None,
    n_splits: int = 5,
    n_repeats: int = 5,
    rank: str | None = None,
    layer: str | None = None,
    transform: str | None = None,
    min_prevalence: float = 0.1,
    n_permutations: int = 0,
    n_boot: int = 1000,
    random_state: int = 0,
    n_jobs: int | None = None,
    key_added: str = "classify",
) -> CVResult:
    """Cross-validated binary classification of samples from their microbiome.

    Parameters
    ----------
    adata
        Samples × features, untransformed (counts or proportions).
    label
        Binary ``obs`` column; samples with a missing label are dropped.
    positive
        The positive level (default: the second category, or the second level seen).
    model
        ``"l1"``, ``"enet"``, ``"rf"`` or ``"gb"`` (see :func:`make_pipeline`).
    cv
        ``"repeated"``, ``"group"`` (needs ``group_by``, e.g. subject) or ``"loso"``
        (leave each ``group_by`` level, e.g. study, out).
    group_by
        ``obs`` column of groups.  With ``cv="repeated"`` and ``group_by`` given, the
        scheme becomes ``"group"`` so repeated samples of a subject never leak.
    n_splits, n_repeats, transform, min_prevalence, n_permutations, n_boot, random_state, n_jobs
        See :func:`cross_validate_model`.
    rank
        Collapse features to this rank first (e.g. ``"genus"``).
    layer
        Use ``layers[layer]`` instead of ``X``.
    key_added
        ``uns`` key of the results.

    Returns
    -------
    CVResult
        Also stored in ``uns[key_added]`` (``params``, ``metrics``, ``predictions``,
        ``importances``, ``calibration``, ``per_group``).

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params", "metrics", "predictions", "importances", "calibration", "per_group"}``
        (the tables of :class:`CVResult`).

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> res = gb.ml.classify(ad, label="group", model="l1", n_repeats=1, n_boot=100)
    >>> 0.0 <= res.metric("auroc") <= 1.0
    True
    """
    y, keep, pos, neg = _label_vector(adata, label, positive)
    X, names = _features(adata, rank=rank, layer=layer)
    res = _cross_validate_obs(
        adata, X, y, keep, names, model=model, task="classification", cv=cv, group_by=group_by,
        n_splits=n_splits, n_repeats=n_repeats, transform=transform, min_prevalence=min_prevalence,
        n_permutations=n_permutations, n_boot=n_boot, random_state=random_state, n_jobs=n_jobs,
    )
    _store(adata, key_added, res, {"label": label, "positive": pos, "negative": neg,
                                    "group_by": group_by, "rank": rank, "layer": layer}, random_state)
    return res


def regress(
    adata: AnnData,
    *,
    target: str,
    model: str = "enet",
    cv: str = "repeated",
    group_by: str | None = None,
    n_splits: int = 5,
    n_repeats: int = 5,
    rank: str | None = None,
    layer: str | None = None,
    transform: str | None = None,
    min_prevalence: float = 0.1,
    n_permutations: int = 0,
    n_boot: int = 1000,
    random_state: int = 0,
    n_jobs: int | None = None,
    key_added: str = "regress",
) -> CVResult:
    """Cross-validated regression of a continuous outcome (e.g. a 0–10 pain score).

    Parameters are those of :func:`classify`, with ``target`` a numeric ``obs`` column
    (missing values dropped) and ``model`` one of ``"enet"``, ``"l1"`` (lasso), ``"rf"``,
    ``"gb"``.  Metrics: out-of-fold R² and Spearman ρ (bootstrap CIs), MAE, RMSE.

    Returns
    -------
    CVResult
        Also stored in ``uns[key_added]``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params", "metrics", "predictions", "importances", "calibration", "per_group"}``
        (the tables of :class:`CVResult`).

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> res = gb.ml.regress(ad, target="pain_score", n_repeats=1, n_boot=100)
    >>> sorted(set(res.metrics["metric"]) & {"r2", "spearman"})
    ['r2', 'spearman']
    """
    if target not in adata.obs.columns:
        raise DataValueError(f"no obs column {target!r}", fix="give a numeric metadata column")
    yv = pd.to_numeric(adata.obs[target], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(yv)
    if keep.sum() < 2 * n_splits:
        raise DataValueError(f"only {int(keep.sum())} samples have a numeric {target!r}",
                             fix="use a numeric column with more values")
    X, names = _features(adata, rank=rank, layer=layer)
    res = _cross_validate_obs(
        adata, X, yv, keep, names, model=model, task="regression", cv=cv, group_by=group_by,
        n_splits=n_splits, n_repeats=n_repeats, transform=transform, min_prevalence=min_prevalence,
        n_permutations=n_permutations, n_boot=n_boot, random_state=random_state, n_jobs=n_jobs,
    )
    _store(adata, key_added, res, {"target": target, "group_by": group_by, "rank": rank,
                                    "layer": layer}, random_state)
    return res
