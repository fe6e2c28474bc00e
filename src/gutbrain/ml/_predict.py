"""Predict a metabolite (e.g. faecal butyrate) from the microbiome, honestly.

``predict_metabolite(adata, target="Butyrate", groups="subject")`` returns out-of-fold
predictions under **grouped** cross-validation (all samples of a subject or household are
held out together) with every preprocessing step fitted inside the folds:

* outer folds: group K-fold over ``groups`` (or K-fold when no groups are given);
* inside each outer training set, a **nested** group K-fold chooses the model and its
  hyper-parameters among

  - ``ridge``: prevalence filter → CLR (pseudocount: half the smallest non-zero proportion
    of the sample) → standardise → ridge regression (``alpha`` grid);
  - ``enet``: the same preprocessing → elastic net (``alpha`` × ``l1_ratio`` grid);
  - ``rf``: prevalence filter → proportions → random forest (200 trees, leaves of at least
    3 samples, ``max_features`` √p or 20 %);
  - ``melonnpan`` (not in the default set): the published MelonnPan approach re-implemented
    (Mallick et al. 2019 Nat Commun 10:3136, doi:10.1038/s41467-019-10927-1): proportions →
    rank-based inverse normal transform of each feature (fitted on the training samples) →
    elastic net with ``l1_ratio`` in 0.05…0.95 and ``alpha`` by its own random 10-fold CV
    with the one-standard-error rule;

  the winner (lowest inner mean squared error) is refitted on the whole outer training set
  and predicts the held-out samples.
* the target is modelled on the natural-log scale (zeros replaced by half the smallest
  positive value) unless ``target_transform="none"`` or the table is already transformed.

Metrics (Spearman ρ, R², MAE on the modelled scale) carry percentile bootstrap 95 % CIs
that resample whole groups (cluster bootstrap) when groups are given.  Samples without a
measured target are left out and counted (``params["n_missing_target"]``), never imputed.
Taxa that drive the models are summarised across folds and joined to gutbrain's cited
functional guilds and, when available, the evidence base.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from anndata import AnnData
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import ElasticNet, ElasticNetCV, Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._core import record
from .._errors import DataValueError
from ..io._metabolites import METABOLITE_KEY, metabolite_frame, resolve_metabolite
from ._cv import iter_splits
from ._regression_metrics import _boot_index, _r2, _spearman, regression_metrics  # noqa: F401
from ._transformers import CLRTransformer, PrevalenceFilter, RelativeAbundance

__all__ = [
    "MODELS",
    "ElasticNet1SE",
    "MetabolitePrediction",
    "RankInverseNormal",
    "make_metabolite_search",
    "predict_metabolite",
]

#: Candidate models of the nested selection.
MODELS = ("ridge", "enet", "rf", "melonnpan")
DEFAULT_MODELS = ("ridge", "enet", "rf")
#: Minimum measured values of a target.
MIN_MEASURED = 20
#: MelonnPan's defaults: glmnet alpha (our l1_ratio) 0.05, 0.10, …, 0.95; 100 lambdas; 10 folds.
MELONNPAN_L1_RATIOS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
MELONNPAN_N_ALPHAS = 100
#: Coordinate-descent tolerance of the MelonnPan-style fits (1e-3: ~5× faster than 1e-4 on Mars
#: 2020 genera with the same alpha chosen; glmnet's own stopping rule differs from scikit-learn's).
MELONNPAN_TOL = 1e-3
REFERENCES = (
    "doi:10.1186/s13059-021-02306-1",  # Wirbel 2021 (preprocessing inside folds)
    "doi:10.1038/s41467-019-10927-1",  # Mallick 2019 (MelonnPan)
    "doi:10.1111/j.2517-6161.1982.tb01195.x",  # Aitchison 1982
)


class RankInverseNormal(TransformerMixin, BaseEstimator):
    """Rank-based inverse normal transform of each feature, learnt on the training samples.

    A value's rank among the training values of its feature (ties averaged) becomes
    ``Φ⁻¹((rank − 0.5) / n)`` — MelonnPan's ``rntransform`` on the training set; new samples
    are placed among the stored training values, so nothing is learnt from them.
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        self.sorted_ = np.sort(X, axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        from scipy.special import ndtri

        check_is_fitted(self, "sorted_")
        X = np.asarray(X, dtype=np.float64)
        n = self.sorted_.shape[0]
        out = np.empty_like(X)
        for j in range(X.shape[1]):  # features: a sorted search per column (vectorised over samples)
            col = self.sorted_[:, j]
            lo = np.searchsorted(col, X[:, j], side="left")
            hi = np.searchsorted(col, X[:, j], side="right")
            rank = (lo + hi + 1) / 2.0  # average 1-based rank; between neighbours for new values
            out[:, j] = ndtri(np.clip((rank - 0.5) / n, 0.5 / n, 1 - 0.5 / n))
        return out


class ElasticNet1SE(RegressorMixin, BaseEstimator):
    """Elastic net tuned as MelonnPan does: an ``l1_ratio`` grid, ``alpha`` by K-fold CV, 1-SE rule.

    For every ``l1_ratio`` the CV error curve over the ``alpha`` path is computed
    (:class:`sklearn.linear_model.ElasticNetCV`, path length and ``lambda.min.ratio`` as
    glmnet's defaults: 100 values down to 1e-4 × the largest when n > p, else 1e-2; at most
    1,000 coordinate-descent sweeps per ``alpha``, scikit-learn's default);
    ``alpha_1se`` is the largest ``alpha``
    whose mean error is within one standard error of the minimum (glmnet's
    ``lambda.1se``); the ``l1_ratio`` whose error at ``alpha_1se`` is lowest wins (as
    MelonnPan's ``cvar.glmnet``), and the model is refitted on all training samples.

    Parameters
    ----------
    l1_ratios
        Mixing parameters (glmnet's ``alpha``); default 0.05, 0.10, …, 0.95.
    n_alphas
        Length of each ``alpha`` path.
    cv
        Folds of the internal (random, ungrouped) CV.
    random_state
        Seed of the fold assignment.
    tol
        Coordinate-descent tolerance (scikit-learn's duality-gap criterion).
    """

    _parameter_constraints: ClassVar[dict] = {}

    def __init__(self, l1_ratios: tuple[float, ...] | None = None, n_alphas: int = 100,
                 cv: int = 10, random_state: int = 1234, tol: float = 1e-4) -> None:
        self.l1_ratios = l1_ratios
        self.n_alphas = n_alphas
        self.cv = cv
        self.random_state = random_state
        self.tol = tol

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ratios = list(self.l1_ratios) if self.l1_ratios is not None else [
            round(0.05 * k, 2) for k in range(1, 20)
        ]
        folds = KFold(n_splits=min(self.cv, len(y)), shuffle=True, random_state=self.random_state)
        # glmnet's default path: lambda.min.ratio 1e-4 when n > p, else 1e-2 (sklearn's eps)
        eps = 1e-4 if X.shape[0] > X.shape[1] else 1e-2
        kw: dict[str, Any] = {"l1_ratio": ratios, "cv": folds, "max_iter": 1000, "eps": eps, "tol": self.tol}
        if "n_alphas" in inspect.signature(ElasticNetCV).parameters:
            kw["n_alphas"] = self.n_alphas
        else:  # scikit-learn >= 1.7 spells it alphas=<int>
            kw["alphas"] = self.n_alphas
        cv = ElasticNetCV(**kw).fit(X, y)
        mse = np.asarray(cv.mse_path_)  # n_l1 × n_alphas × n_folds (no first axis for one ratio)
        if mse.ndim == 2:
            mse = mse[None]
        alphas = np.asarray(cv.alphas_).reshape(mse.shape[0], mse.shape[1])
        mean = mse.mean(axis=2)
        se = mse.std(axis=2, ddof=1) / np.sqrt(mse.shape[2])
        best_err, best = np.inf, (ratios[0], float(alphas[0, 0]))
        for i, ratio in enumerate(ratios):
            k = int(np.argmin(mean[i]))
            ok = mean[i] <= mean[i, k] + se[i, k]
            j = int(np.flatnonzero(ok)[np.argmax(alphas[i, ok])])
            if mean[i, j] < best_err:
                best_err, best = float(mean[i, j]), (float(ratio), float(alphas[i, j]))
        self.l1_ratio_, self.alpha_ = best
        self.model_ = ElasticNet(alpha=self.alpha_, l1_ratio=self.l1_ratio_, max_iter=10000,
                                 tol=self.tol).fit(X, y)
        self.coef_ = self.model_.coef_
        self.intercept_ = self.model_.intercept_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict(np.asarray(X, dtype=np.float64))


def _grid(models: tuple[str, ...], random_state: int, n_jobs: int | None) -> list[dict[str, Any]]:
    grids: list[dict[str, Any]] = []
    clr = CLRTransformer(pseudocount="auto", closure=True)
    for m in models:
        if m == "ridge":
            grids.append({"transform": [clr], "scale": [StandardScaler()], "model": [Ridge()],
                          "model__alpha": list(np.logspace(-1, 4, 11))})
        elif m == "enet":
            grids.append({"transform": [clr], "scale": [StandardScaler()],
                          "model": [ElasticNet(max_iter=5000)],
                          "model__alpha": list(np.logspace(-2.5, -0.5, 5)),
                          "model__l1_ratio": [0.2, 0.8]})
        elif m == "rf":
            grids.append({"transform": [RelativeAbundance()], "scale": ["passthrough"],
                          "model": [RandomForestRegressor(n_estimators=200, min_samples_leaf=3,
                                                          random_state=random_state, n_jobs=n_jobs)],
                          "model__max_features": ["sqrt", 0.2]})
        elif m == "melonnpan":
            grids.append({"transform": [Pipeline([("tss", RelativeAbundance()), ("rin", RankInverseNormal())])],
                "scale": ["passthrough"],
                "model": [ElasticNet1SE(l1_ratios=MELONNPAN_L1_RATIOS, n_alphas=MELONNPAN_N_ALPHAS,
                                        random_state=random_state, tol=MELONNPAN_TOL)]})
        else:
            raise DataValueError(f"unknown model {m!r}", fix=f"use some of {', '.join(MODELS)}")
    return grids


def make_metabolite_search(
    models: tuple[str, ...] = DEFAULT_MODELS,
    *,
    inner_splits: int = 4,
    min_prevalence: float = 0.1,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> GridSearchCV:
    """The nested model search: ``filter → transform → scale → model`` over the candidate grids.

    Fit it with ``search.fit(X, y, groups=groups)`` so that the inner folds are grouped.

    Parameters
    ----------
    models
        Candidates from :data:`MODELS`.
    inner_splits
        Folds of the inner (group) K-fold.
    min_prevalence
        Prevalence filter fitted on each training set.
    random_state, n_jobs
        Seed and parallel jobs of the random forest.

    Returns
    -------
    sklearn.model_selection.GridSearchCV

    Examples
    --------
    >>> s = make_metabolite_search(("ridge",), inner_splits=3)
    >>> [name for name, _ in s.estimator.steps]
    ['filter', 'transform', 'scale', 'model']
    """
    pipe = Pipeline([
        ("filter", PrevalenceFilter(min_prevalence=min_prevalence)),
        ("transform", CLRTransformer(pseudocount="auto", closure=True)),
        ("scale", StandardScaler()),
        ("model", Ridge()),
    ])
    return GridSearchCV(pipe, _grid(tuple(models), random_state, n_jobs), cv=GroupKFold(inner_splits),
                        scoring="neg_mean_squared_error", refit=True, error_score="raise")


@dataclass
class MetabolitePrediction:
    """Out-of-fold prediction of one metabolite.

    Attributes
    ----------
    predictions
        ``sample, observed, predicted, fold`` (modelled scale) plus ``repeat, group, model,
        observed_raw, predicted_raw``.
    metrics
        ``metric, value, ci_low, ci_high, scale`` for ``spearman, r2, mae`` (+ ``rmse``).
    baselines
        The same metrics for simple comparators (training mean; the butyrate indices for
        butyrate targets, with out-of-fold linear calibration for R²/MAE).
    importances
        ``taxon, importance, direction, selected_fraction`` summed over outer folds, with
        guild membership and evidence columns for the top taxa.
    selection
        Per outer fold: chosen model, its parameters and inner CV error.
    """

    target: str
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    baselines: pd.DataFrame
    importances: pd.DataFrame
    selection: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> float:
        """One metric's point value."""
        row = self.metrics.loc[self.metrics["metric"] == name, "value"]
        if row.empty:
            raise KeyError(name)
        return float(row.iloc[0])


# ----------------------------------------------------------------------------- importances
def _fold_importance(est: Pipeline, n_features: int) -> tuple[np.ndarray, bool]:
    support = est.named_steps["filter"].get_support()
    final = est.named_steps["model"]
    out = np.zeros(n_features)
    if hasattr(final, "feature_importances_"):
        out[support] = np.asarray(final.feature_importances_, dtype=np.float64)
        return out, False
    out[support] = np.asarray(final.coef_, dtype=np.float64).ravel()
    return out, True


def _evidence(taxa: pd.DataFrame) -> pd.DataFrame:
    """Guild membership (cited) and evidence-base counts for the listed taxa (best effort)."""
    out = taxa.copy()
    try:
        from ..tl._indices import guild_table
        from ..tl._match import name_keys

        g = guild_table()
        keys: dict[str, list[str]] = {}
        for guild, taxon, aliases, doi, host in zip(g["guild"], g["taxon"], g["aliases"], g["doi"], g["host"]):
            for n in [taxon, *[a for a in str(aliases).split("|") if a]]:
                for k in name_keys(n):
                    keys.setdefault(k, []).append(f"{guild} ({host}; doi:{doi})" if doi else f"{guild} ({host})")
        out["guilds"] = ["; ".join(sorted({x for k in name_keys(t) for x in keys.get(k, [])}))
                         for t in out["taxon"].astype(str)]
    except Exception as exc:  # evidence must never stop a prediction
        out["guilds"] = f"(not available: {type(exc).__name__})"
    try:
        from ..kb import annotate

        ann = annotate(out[["taxon"]].copy(), taxon_col="taxon")
        for c in ("n_studies", "n_human", "n_animal", "increased", "decreased", "dois"):
            if c in ann.columns:
                out[f"kb_{c}"] = ann[c].to_numpy()
    except Exception:  # the evidence base is optional here
        pass
    return out


# ----------------------------------------------------------------------------- the tool
def _target_values(adata: AnnData, target: str, key: str) -> tuple[str, np.ndarray, dict[str, Any]]:
    col = resolve_metabolite(adata, target, key)
    frame, _, params = metabolite_frame(adata, key)
    return col, frame[col].to_numpy(dtype=np.float64), params


def _transform_target(y: np.ndarray, how: str, table_transform: str) -> tuple[np.ndarray, str, float]:
    if how == "auto":
        how = "log" if table_transform == "none" and np.all(y >= 0) else "none"
    if how == "none":
        return y, "none", 0.0
    if how != "log":
        raise DataValueError(f"unknown target_transform {how!r}", fix="use 'auto', 'log' or 'none'")
    if table_transform != "none":
        raise DataValueError(
            f"the metabolite table is already {table_transform}-transformed",
            fix="pass target_transform='none'",
        )
    if np.any(y < 0):
        raise DataValueError("negative target values cannot be logged", fix="pass target_transform='none'")
    offset = 0.0 if np.all(y > 0) else float(np.min(y[y > 0]) / 2.0)
    return np.log(y + offset), "log", offset


def _is_butyrate(adata: AnnData, col: str, key: str) -> bool:
    from ..io._metabolites import _vocab_row, metabolite_vocabulary

    _, mp, _ = metabolite_frame(adata, key)
    v = _vocab_row(str(mp.at[col, "hmdb"]) if "hmdb" in mp.columns else "",
                   str(mp.at[col, "name"]) if "name" in mp.columns else col, col)
    return v >= 0 and metabolite_vocabulary().at[v, "name"] == "Butyrate"


def _index_baselines(
    adata: AnnData, rows: np.ndarray, y: np.ndarray, splits: list, groups: np.ndarray | None,
    n_boot: int, random_state: int, scale: str,
) -> list[pd.DataFrame]:
    from ..tl._indices import gut_brain_indices

    out = []
    sub = adata[rows].copy()
    try:
        wide = gut_brain_indices(sub, indices=["butyrate_capacity"], key_added="_tmp_index")
        scores = {"butyrate_capacity (literature index)": wide["gbi_butyrate_capacity"].to_numpy()}
    except Exception:  # no taxonomy: no index baseline
        return out
    try:
        from ..tl._butyrate import butyrate_potential

        scores["butyrate_potential (data-weighted index)"] = butyrate_potential(
            sub, key_added="_tmp_index2")["value"].to_numpy()
    except Exception:
        pass
    for name, s in scores.items():
        pred = np.full(len(y), np.nan)
        for _, _, tr, te in splits:
            A = np.column_stack([np.ones(tr.size), s[tr]])
            coef, *_ = np.linalg.lstsq(A, y[tr], rcond=None)
            pred[te] = coef[0] + coef[1] * s[te]
        m = regression_metrics(y, pred, groups=groups, n_boot=n_boot, random_state=random_state, scale=scale)
        rho = regression_metrics(y, s, groups=groups, n_boot=n_boot, random_state=random_state, scale=scale)
        m.loc[m["metric"] == "spearman", ["value", "ci_low", "ci_high"]] = rho.loc[
            rho["metric"] == "spearman", ["value", "ci_low", "ci_high"]].to_numpy()
        m.insert(0, "model", name)
        out.append(m)
    return out


def predict_metabolite(
    adata: AnnData,
    *,
    target: str,
    groups: str | None = None,
    models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
    rank: str | None = "genus",
    n_splits: int = 5,
    inner_splits: int = 4,
    n_repeats: int = 1,
    min_prevalence: float = 0.1,
    target_transform: str = "auto",
    n_boot: int = 1000,
    n_top: int = 20,
    evidence: bool = True,
    random_state: int = 0,
    n_jobs: int | None = None,
    layer: str | None = None,
    key: str = METABOLITE_KEY,
    key_added: str = "predict_metabolite",
) -> MetabolitePrediction:
    """Out-of-fold prediction of a metabolite from the microbiome under grouped, nested CV.

    Parameters
    ----------
    adata
        Samples × taxa (counts or proportions) with ``obsm[key]`` from
        :func:`gutbrain.io.attach_metabolites`.
    target
        Metabolite id or name (``"Butyrate"``, ``"NMR_Butyrate"``, ``"butyric acid"``).
    groups
        ``obs`` column of groups held out together (subject, household, cage).  Without it
        samples are treated as independent (state so when reporting repeated measures).
    models
        Candidates of the nested selection (:data:`MODELS`).
    rank
        Collapse taxa to this rank first (``None``: features as they are).
    n_splits, inner_splits
        Outer and inner folds.
    n_repeats
        Outer CV repeats (different group-to-fold assignments).
    min_prevalence
        Prevalence filter (fitted inside the folds).
    target_transform
        ``"auto"`` (log of concentrations), ``"log"`` or ``"none"``.
    n_boot
        Bootstrap resamples for the CIs (whole groups when ``groups`` is given).
    n_top
        Taxa listed with evidence.
    evidence
        Join the top taxa to guilds and the evidence base.
    random_state, n_jobs
        Seed; parallel jobs of the random forest.
    layer
        Abundances from ``layers[layer]``.
    key
        ``obsm`` key of the metabolite table.
    key_added
        Results go to ``uns[key_added]``.

    Returns
    -------
    MetabolitePrediction
        Also stored in ``uns[key_added]`` (``params``, ``predictions``, ``metrics``,
        ``baselines``, ``importances``, ``selection``).

    Raises
    ------
    DataValueError
        Fewer than 20 measured target values; fewer groups than folds (a fold would be
        empty); a group column with missing values.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``params``, out-of-fold ``predictions`` and ``metrics``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=40)
    >>> rng = np.random.default_rng(0)
    >>> y = pd.DataFrame({"Butyrate": rng.lognormal(3, 0.4, ad.n_obs)}, index=ad.obs_names)
    >>> ad = gb.io.attach_metabolites(ad, y)
    >>> res = gb.ml.predict_metabolite(ad, target="Butyrate", models=("ridge",), n_boot=50,
    ...                                evidence=False)
    >>> list(res.predictions.columns[:4])
    ['sample', 'observed', 'predicted', 'fold']
    """
    from ..tl._metabolites import taxa_matrix

    models = tuple(m.lower() for m in models)
    if not models or set(models) - set(MODELS):
        raise DataValueError(f"unknown model(s) {sorted(set(models) - set(MODELS))}",
                             fix=f"use some of {', '.join(MODELS)}")
    col, yraw, mparams = _target_values(adata, target, key)
    measured = np.isfinite(yraw)
    n_meas = int(measured.sum())
    if n_meas < MIN_MEASURED:
        raise DataValueError(
            f"target {col!r} has {n_meas} measured values; prediction needs at least {MIN_MEASURED}",
            fix="choose a metabolite measured in more samples",
        )
    X, names, unit = taxa_matrix(adata, rank=rank, layer=layer)
    nonempty = X.sum(axis=1) > 0
    rows = np.flatnonzero(measured & nonempty)
    n_empty = int((measured & ~nonempty).sum())
    g = None
    if groups is not None:
        if groups not in adata.obs.columns:
            raise DataValueError(f"no metadata column {groups!r} for groups",
                                 fix=f"use one of {', '.join(map(str, adata.obs.columns[:12]))}")
        gcol = adata.obs[groups]
        if gcol.iloc[rows].isna().any():
            k = int(gcol.iloc[rows].isna().sum())
            raise DataValueError(f"group column {groups!r} is empty for {k} measured samples",
                                 fix="fill in the group of every sample (or drop those samples)")
        g = gcol.astype(str).to_numpy()[rows]
        n_groups = len(np.unique(g))
        if n_groups < n_splits:
            raise DataValueError(
                f"{n_groups} groups in {groups!r} for {n_splits} folds: a fold would be empty",
                fix="use fewer folds (n_splits / --folds) or a finer group column",
            )
    y, scale, offset = _transform_target(yraw[rows], target_transform, str(mparams.get("transform", "none")))
    Xr = X[rows]
    sample_names = np.asarray(adata.obs_names)[rows].astype(str)
    splits = list(iter_splits(y, scheme="group" if g is not None else "repeated", groups=g,
                              n_splits=n_splits, n_repeats=n_repeats, classification=False,
                              random_state=random_state))
    search = make_metabolite_search(models, inner_splits=inner_splits, min_prevalence=min_prevalence,
                                    random_state=random_state, n_jobs=n_jobs)
    with threadpool_limits(limits=1, user_api="blas"):
        # many small fits: threaded BLAS only adds contention (parallelise with n_jobs instead)
        fits = _outer_loop(search, Xr, y, g, splits, n_repeats, inner_splits, random_state)
    pred, fold_of, model_of, sel_rows, imps, linear = fits
    # metrics on the mean out-of-fold prediction (over repeats)
    mean_pred = np.nanmean(pred, axis=0)
    metrics = regression_metrics(y, mean_pred, groups=g, n_boot=n_boot, random_state=random_state,
                                 scale=scale)
    # baselines
    base = []
    mean_base = np.full(len(y), np.nan)
    for _, _, tr, te in [s for s in splits if s[0] == 0]:
        mean_base[te] = y[tr].mean()
    mb = regression_metrics(y, mean_base, groups=g, n_boot=0, random_state=random_state, scale=scale)
    mb.loc[mb["metric"] == "spearman", "value"] = np.nan
    mb.insert(0, "model", "training mean")
    base.append(mb)
    is_but = False
    try:
        is_but = _is_butyrate(adata, col, key)
    except Exception:  # a map without names
        is_but = False
    if is_but:
        base += _index_baselines(adata, rows, y, [s for s in splits if s[0] == 0], g, n_boot,
                                 random_state, scale)
    baselines = pd.concat(base, ignore_index=True)
    # importances
    imp_mat = np.vstack(imps)
    lin = np.asarray(linear)
    share = np.abs(imp_mat) / np.maximum(np.abs(imp_mat).sum(axis=1, keepdims=True), 1e-300)
    direction = np.full(imp_mat.shape[1], "")
    if lin.any():
        mean_coef = imp_mat[lin].mean(axis=0)
        direction = np.where(mean_coef > 0, "+", np.where(mean_coef < 0, "-", ""))
    importances = pd.DataFrame({
        "taxon": names,
        "importance": share.mean(axis=0),
        "direction": direction,
        "selected_fraction": (imp_mat != 0).mean(axis=0),
    }).sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    importances = importances[importances["importance"] > 0].reset_index(drop=True)
    if evidence and len(importances):
        top = _evidence(importances.head(n_top))
        importances = pd.concat([top, importances.iloc[n_top:]], ignore_index=True)
    # tables
    preds = []
    for r in range(n_repeats):
        back = np.exp(pred[r]) - offset if scale == "log" else pred[r]
        preds.append(pd.DataFrame({
            "sample": sample_names, "observed": y, "predicted": pred[r], "fold": fold_of[r],
            "repeat": r, "group": g if g is not None else sample_names,
            "model": model_of[r].astype(str), "observed_raw": yraw[rows], "predicted_raw": back,
        }))
    predictions = pd.concat(preds, ignore_index=True)
    selection = pd.DataFrame(sel_rows)
    params = {
        "target": col, "target_requested": target, "groups": groups, "models": list(models),
        "rank": rank, "n_splits": n_splits, "inner_splits": inner_splits, "n_repeats": n_repeats,
        "min_prevalence": min_prevalence, "target_transform": scale, "target_offset": offset,
        "n_boot": n_boot, "bootstrap": "groups" if g is not None else "samples",
        "n_samples": len(y), "n_missing_target": int((~measured).sum()),
        "n_empty_samples": n_empty, "n_groups": len(np.unique(g)) if g is not None else len(y),
        "n_taxa": int(X.shape[1]), "unit": unit, "key": key,
        "scheme": "grouped nested CV" if g is not None else "nested CV (samples independent)",
    }
    record(adata, key_added, params=params, random_state=random_state, references=REFERENCES,
           predictions=predictions, metrics=metrics, baselines=baselines, importances=importances,
           selection=selection)
    return MetabolitePrediction(target=col, predictions=predictions, metrics=metrics,
                                baselines=baselines, importances=importances, selection=selection,
                                params=params)


def _outer_loop(search: GridSearchCV, Xr: np.ndarray, y: np.ndarray, g: np.ndarray | None,
                splits: list, n_repeats: int, inner_splits: int, random_state: int) -> tuple:
    """Nested search in every outer training set; out-of-fold predictions and fold records."""
    pred = np.full((n_repeats, len(y)), np.nan)
    fold_of = np.full((n_repeats, len(y)), -1)
    model_of = np.empty((n_repeats, len(y)), dtype=object)
    sel_rows = []
    imps, linear = [], []
    for r, f, tr, te in splits:
        g_tr = g[tr] if g is not None else np.arange(tr.size)
        if len(np.unique(g_tr)) < inner_splits:
            raise DataValueError(
                f"an outer training set holds {len(np.unique(g_tr))} groups for {inner_splits} inner folds",
                fix="use fewer inner folds (inner_splits) or more groups",
            )
        s = clone(search)
        if g is None:
            s.set_params(cv=KFold(inner_splits, shuffle=True, random_state=random_state + r))
        if len(ParameterGrid(s.param_grid)) == 1:
            # one candidate (e.g. MelonnPan-style, which tunes itself): nothing to choose
            only = next(iter(ParameterGrid(s.param_grid)))
            best = clone(s.estimator).set_params(**only).fit(Xr[tr], y[tr])
            s.best_params_, s.best_score_ = only, np.nan
        else:
            s.fit(Xr[tr], y[tr], **({"groups": g_tr} if g is not None else {}))
            best = s.best_estimator_
        pred[r, te] = best.predict(Xr[te])
        fold_of[r, te] = f
        mname = _model_name(s.best_params_)
        model_of[r, te] = mname
        bp = {k: v for k, v in s.best_params_.items() if k.startswith("model__")}
        final = best.named_steps["model"]
        if isinstance(final, ElasticNet1SE):
            bp = {"model__alpha": final.alpha_, "model__l1_ratio": final.l1_ratio_}
        sel_rows.append({"repeat": r, "fold": f, "n_train": int(tr.size), "n_test": int(te.size),
                         "model": mname, "params": ", ".join(f"{k[7:]}={_fmt(v)}" for k, v in bp.items()),
                         "inner_mse": float(-s.best_score_)})
        imp, lin = _fold_importance(best, Xr.shape[1])
        imps.append(imp)
        linear.append(lin)
    return pred, fold_of, model_of, sel_rows, imps, linear


def _model_name(best_params: dict[str, Any]) -> str:
    m = best_params.get("model")
    if isinstance(m, Ridge):
        return "ridge"
    if isinstance(m, ElasticNet):
        return "enet"
    if isinstance(m, RandomForestRegressor):
        return "rf"
    if isinstance(m, ElasticNet1SE):
        return "melonnpan"
    return type(m).__name__


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
