"""Leakage-safe cross-validation: numbers against scikit-learn and a planted leak."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

import gutbrain as gb
from gutbrain._core import new_adata
from gutbrain.ml import (
    LogRelative,
    PrevalenceFilter,
    bootstrap_ci,
    cross_validate_model,
    fast_auc,
    iter_splits,
)


def _noise(n=80, p=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(0.5, 20.0, size=p), size=(n, p)).astype(float) + 1.0
    y = np.zeros(n, dtype=int)
    y[rng.permutation(n)[: n // 2]] = 1
    return X, y


def test_fast_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.normal(size=(3, 60)), 1)  # many ties
    ours = fast_auc(y, s)
    ref = [roc_auc_score(y, row) for row in s]
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_no_leakage_on_pure_noise():
    """Selecting features on all samples before CV (a leak) inflates AUROC; inside the folds it does not."""
    leaky_auc, safe_auc = [], []
    for seed in range(5):  # five independent pure-noise data sets
        X, y = _noise(seed=seed)
        sel = SelectKBest(f_classif, k=10).fit(LogRelative().fit_transform(X), y)  # leak: sees all labels
        leaky = cross_validate_model(
            X[:, sel.get_support()], y, n_splits=5, n_repeats=1, n_boot=50, random_state=seed,
            pipeline=Pipeline([("t", LogRelative()), ("m", LogisticRegression(C=10.0, max_iter=2000))]))
        safe_pipe = Pipeline([("filter", PrevalenceFilter(0.0)), ("t", LogRelative()),
                              ("sel", SelectKBest(f_classif, k=10)), ("m", LogisticRegression(C=10.0, max_iter=2000))])
        safe = cross_validate_model(X, y, n_splits=5, n_repeats=1, n_boot=50, random_state=seed, pipeline=safe_pipe)
        leaky_auc.append(leaky.metric("auroc"))
        safe_auc.append(safe.metric("auroc"))
    assert min(leaky_auc) > 0.75
    assert 0.4 < np.mean(safe_auc) < 0.6
    # gutbrain's own L1 pipeline (penalty tuned inside each training fold): CI includes 0.5
    aucs = []
    for seed in range(4):
        X, y = _noise(seed=seed)
        ours = cross_validate_model(X, y, model="l1", n_splits=5, n_repeats=1, n_boot=300, random_state=seed)
        row = ours.metrics.set_index("metric").loc["auroc"]
        assert row.ci_low < 0.5 < row.ci_high
        aucs.append(row.value)
    assert 0.4 < np.mean(aucs) < 0.6


def test_group_cv_never_splits_a_group():
    y = np.tile([0, 1], 30)
    groups = np.repeat(np.arange(20), 3)
    for _, _, tr, te in iter_splits(y, scheme="group", groups=groups, n_splits=4, n_repeats=2):
        assert not set(groups[tr]) & set(groups[te])
    loso = list(iter_splits(y, scheme="loso", groups=groups % 3))
    assert len(loso) == 3
    assert all(len(set((groups % 3)[te])) == 1 for *_, te in loso)


def test_classify_finds_planted_signal_and_stores_results():
    ad = gb.datasets.demo_cohort(seed=0, n_samples=120, n_genera=40)
    X = np.asarray(ad.X.toarray() if hasattr(ad.X, "toarray") else ad.X, dtype=float)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, ad.n_obs)
    j = int(np.argmax((X > 0).mean(axis=0) * X.mean(axis=0)))
    X[:, j] = X[:, j] * np.where(y == 1, 8.0, 1.0)  # strong planted shift on one abundant genus
    ad2 = new_adata(X, obs_names=ad.obs_names, var_names=ad.var_names, unit="counts", reader="test",
                    obs=ad.obs.assign(lab=np.where(y == 1, "case", "ctrl")))
    res = gb.ml.classify(ad2, label="lab", positive="case", model="l1", n_repeats=1, n_boot=200,
                         n_permutations=4)
    assert res.metric("auroc") > 0.85
    assert res.importances.loc[0, "feature"] == ad.var_names[j]
    assert res.metric("permutation_pvalue") == pytest.approx(0.2)  # 1/(1+4): no permuted run beats it
    assert "classify" in ad2.uns and len(ad2.uns["classify"]["predictions"]) == ad2.n_obs
    # AUPRC point value equals scikit-learn's on the stored out-of-fold predictions
    from sklearn.metrics import average_precision_score

    p = res.predictions
    assert res.metric("auprc") == pytest.approx(average_precision_score(p.y_true, p.y_score))


def test_regression_and_loso():
    rng = np.random.default_rng(3)
    n, p = 90, 40
    X = rng.poisson(50, size=(n, p)).astype(float) + 1
    score = np.log(X[:, 0] / X.sum(1))
    y = 3 * (score - score.mean()) / score.std() + rng.normal(0, 0.5, n)
    res = cross_validate_model(X, y, model="enet", task="regression", n_repeats=1, n_boot=200)
    assert res.metric("r2") > 0.5 and res.metric("spearman") > 0.7
    yc = (y > np.median(y)).astype(int)
    study = np.repeat(["A", "B", "C"], 30)
    res = cross_validate_model(X, yc, model="l1", cv="loso", groups=study, n_boot=100)
    assert list(res.per_group["group"]) == ["A", "B", "C"]
    assert (res.per_group["auroc"] > 0.7).all()


def test_bootstrap_ci_brackets_point_and_bad_input():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    s = y + rng.normal(0, 1, 100)
    v, lo, hi = bootstrap_ci(y, s, "auroc", n_boot=500, strata=y)
    assert lo < v < hi and v == pytest.approx(roc_auc_score(y, s))
    with pytest.raises(gb.DataValueError):
        cross_validate_model(-np.ones((10, 3)), np.repeat([0, 1], 5))
    with pytest.raises(gb.DataValueError, match="group_by"):
        list(iter_splits(y, scheme="loso"))


def test_prevalence_filter_is_fitted_within_folds_a_test_only_feature_is_never_selected():
    """A taxon seen only in one subject group, where it marks the cases perfectly, is informative only
    when that group is the test fold: the filter (fitted on the training fold) must drop it there,
    so the held-out predictions cannot depend on it (the workflow's pipeline: filter → CLR → scale → L1;
    prevalence threshold 8 % so that a filter fitted on all samples would keep it)."""
    from gutbrain.ml import make_pipeline
    from gutbrain.ml._cv import oof_predictions

    X, y = _noise(n=120, p=40, seed=3)
    groups = np.repeat(np.arange(12), 10)  # 12 subjects, 10 samples each
    only = groups == 0  # the leaky taxon: abundant in subject 0's cases, rare in its controls, absent elsewhere
    y[only] = np.tile([0, 1], 5)
    X = np.column_stack([X, np.where(only, np.where(y == 1, 500.0, 1.0), 0.0)])
    leak = X.shape[1] - 1
    splits = list(iter_splits(y, scheme="group", groups=groups, n_splits=4, n_repeats=2, random_state=0))
    fitted = {}
    # 10 of 120 samples carry it: a filter fitted on *all* samples (a leak) would keep it at 8 %
    assert PrevalenceFilter(0.08).fit(X).get_support()[leak]
    pred = oof_predictions(make_pipeline("l1", transform="clr", min_prevalence=0.08), X, y, splits,
                           on_fit=lambda est, r, f: fitted.__setitem__((r, f), est))
    held = [(r, f, te) for r, f, tr, te in splits if only[te].any()]
    assert len(held) == 2  # subject 0 is held out once per repeat
    for r, f, te in held:
        est = fitted[(r, f)]
        assert not est.named_steps["filter"].get_support()[leak]  # absent from training: never selected
        X2 = X[te].copy()
        X2[:, leak] = 0.0  # removing the leaky taxon from the held-out samples changes nothing
        np.testing.assert_allclose(est.predict_proba(X2)[:, 1], pred[r, te], rtol=1e-12)
    # with subject 0 in training (10 of 90 samples ≥ 10 %) the taxon is kept: the check above can fail
    kept = [fitted[(r, f)].named_steps["filter"].get_support()[leak] for r, f, tr, te in splits if only[tr].any()]
    assert len(kept) == len(splits) - 2 and all(kept)
