"""The classifier's speed-ups change no number: folds, scores, penalties and predictions equal
scikit-learn's and the serial run's, bit for bit (``gutbrain run``'s classifier step, issue 18)."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

import gutbrain as gb
from gutbrain.ml import _classify, _cv, cross_validate_model, iter_splits, make_pipeline
from gutbrain.ml._cv import bootstrap_ci, default_jobs, oof_predictions, stratified_group_kfold
from gutbrain.ml._scoring import average_precision, decision_auroc, roc_auc_trapezoid

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    n=st.integers(8, 250),
    n_groups=st.integers(2, 120),
    n_classes=st.integers(2, 3),
    n_splits=st.integers(2, 10),
    seed=st.integers(0, 2**31 - 1),
    data_seed=st.integers(0, 2**32 - 1),
    string_groups=st.booleans(),
)
def test_stratified_group_kfold_equals_sklearn(n, n_groups, n_classes, n_splits, seed, data_seed,
                                               string_groups):
    rng = np.random.default_rng(data_seed)
    groups = rng.integers(0, n_groups, n)
    y = rng.integers(0, n_classes, n) if data_seed % 2 else (rng.random(n) < 0.15).astype(int)
    if string_groups:
        groups = np.array([f"subject-{g}" for g in groups])
    if len(np.unique(groups)) < n_splits or len(np.unique(y)) < 2 or np.all(n_splits > np.bincount(y)):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few members in a class: both warn
        ref = list(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(
            np.zeros(n), y, groups))
        ours = list(stratified_group_kfold(y, groups, n_splits=n_splits, random_state=seed))
    assert len(ours) == len(ref)
    for (tr_ref, te_ref), (tr, te) in zip(ref, ours, strict=True):
        np.testing.assert_array_equal(tr, tr_ref)
        np.testing.assert_array_equal(te, te_ref)
        assert tr.dtype == tr_ref.dtype and te.dtype == te_ref.dtype


def test_stratified_group_kfold_bad_input_and_iter_splits():
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(gb.DataValueError, match="groups"):
        list(stratified_group_kfold(y, np.array([1, 1, 2, 2, 2, 2]), n_splits=3))
    with pytest.raises(gb.DataValueError, match="every class"):
        list(stratified_group_kfold(y, np.arange(6), n_splits=4))
    with pytest.warns(UserWarning, match="least populated class"):
        list(stratified_group_kfold(np.array([0, 0, 0, 0, 1, 1]), np.arange(6), n_splits=3))
    # iter_splits("group") gives scikit-learn's StratifiedGroupKFold folds, repeat r seeded seed + r
    rng = np.random.default_rng(5)
    yy, gg = rng.integers(0, 2, 200), rng.integers(0, 60, 200)
    ours = list(iter_splits(yy, scheme="group", groups=gg, n_splits=5, n_repeats=3, random_state=7))
    for r in range(3):
        ref = StratifiedGroupKFold(5, shuffle=True, random_state=7 + r).split(np.zeros(200), yy, gg)
        for f, (tr, te) in enumerate(ref):
            _, _, tr2, te2 = ours[5 * r + f]
            np.testing.assert_array_equal(tr2, tr)
            np.testing.assert_array_equal(te2, te)


@FAST
@given(n=st.integers(2, 300), decimals=st.integers(0, 3), p_pos=st.floats(0.02, 0.98),
       data_seed=st.integers(0, 2**32 - 1))
def test_auroc_and_average_precision_equal_sklearn_bit_for_bit(n, decimals, p_pos, data_seed):
    rng = np.random.default_rng(data_seed)
    y = (rng.random(n) < p_pos).astype(int)
    s = np.round(rng.normal(size=n), decimals)  # ties at every rounding
    if data_seed % 11 == 0:
        s[:] = 0.25  # one threshold only
    if 0 < y.sum() < n:
        assert roc_auc_trapezoid(y == 1, s) == roc_auc_score(y, s)
        assert average_precision(y == 1, s) == average_precision_score(y, s)
    else:
        assert np.isnan(roc_auc_trapezoid(y == 1, s))


def test_decision_auroc_selects_the_same_penalty_as_roc_auc():
    """LogisticRegressionCV with gutbrain's scorer: every inner score, the chosen C and the
    coefficients equal those with ``scoring="roc_auc"`` (the workflow's L1 grid)."""
    rng = np.random.default_rng(0)
    for seed in range(8):
        n, p = int(rng.integers(40, 160)), int(rng.integers(3, 40))
        X = rng.normal(size=(n, p))
        y = (X[:, 0] + 2.0 * rng.normal(size=n) > 0.3).astype(int)
        kw = {"Cs": _classify.LOGISTIC_CS, "cv": 3, "solver": "liblinear", "l1_ratios": (1.0,),
              "max_iter": 5000, "random_state": seed, "use_legacy_attributes": False}
        ref = LogisticRegressionCV(scoring="roc_auc", **kw).fit(X, y)
        ours = LogisticRegressionCV(scoring=decision_auroc, **kw).fit(X, y)
        np.testing.assert_array_equal(ours.scores_, ref.scores_)
        np.testing.assert_array_equal(ours.C_, ref.C_)
        np.testing.assert_array_equal(ours.coef_, ref.coef_)
        np.testing.assert_array_equal(ours.intercept_, ref.intercept_)


def test_bootstrap_auprc_equals_sklearn_loop():
    rng = np.random.default_rng(2)
    y = (rng.random(150) < 0.2).astype(int)
    s = np.round(y * 0.5 + rng.normal(size=150), 1)
    v, lo, hi = bootstrap_ci(y, s, "auprc", n_boot=200, random_state=3, strata=y)
    w, lo2, hi2 = bootstrap_ci(y, s, average_precision_score, n_boot=200, random_state=3, strata=y)
    assert (v, lo, hi) == (w, lo2, hi2)


def _counts(n=90, p=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(0.6, 15.0, size=p), size=(n, p)).astype(float)
    y = (X[:, 0] / (X.sum(1) + 1) + 0.02 * rng.normal(size=n) > np.median(X[:, 0] / (X.sum(1) + 1))).astype(int)
    return X, y


@pytest.fixture
def forked(monkeypatch):
    """Counts the fold fits that ran in forked workers (so a test cannot pass serially)."""
    calls = []
    real = _cv._fit_folds_forked

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(len(out))
        return out

    monkeypatch.setattr(_cv, "_fit_folds_forked", spy)
    return calls


def test_forked_folds_equal_serial_folds_and_reraise_warnings(forked):
    X, y = _counts()
    groups = np.repeat(np.arange(30), 3)
    splits = list(iter_splits(y, scheme="group", groups=groups, n_splits=3, n_repeats=2, random_state=1))
    pipe = make_pipeline("l1", transform="clr")
    pipe.set_params(model__max_iter=2)  # liblinear stops early: a ConvergenceWarning per fit
    runs = {}
    for jobs in (1, 2):
        fitted = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pred = oof_predictions(pipe, X, y, splits, n_jobs=jobs,
                                   on_fit=lambda est, r, f, out=fitted: out.append((r, f, est)))
        conv = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        runs[jobs] = (pred, fitted, conv)
    (p1, f1, w1), (p2, f2, w2) = runs[1], runs[2]
    np.testing.assert_array_equal(p2, p1)
    assert [(r, f) for r, f, _ in f2] == [(r, f) for r, f, _ in f1]  # fold order kept
    for (_, _, a), (_, _, b) in zip(f1, f2, strict=True):
        np.testing.assert_array_equal(b.named_steps["model"].coef_, a.named_steps["model"].coef_)
        assert b.named_steps["model"].C_ == a.named_steps["model"].C_
    assert w1 and w2 == w1  # the workers' warnings reach the caller, as many and in order
    assert forked == [len(splits)]


def test_cross_validate_model_identical_whatever_n_jobs(forked):
    X, y = _counts(n=80, p=50, seed=4)
    kw = {"model": "l1", "transform": "clr", "n_splits": 4, "n_repeats": 2, "n_boot": 100}
    a = cross_validate_model(X, y, n_jobs=1, **kw)
    b = cross_validate_model(X, y, n_jobs=2, **kw)
    for name in ("metrics", "predictions", "importances", "calibration"):
        assert getattr(a, name).equals(getattr(b, name)), name
    assert forked == [8]


def test_folds_run_serially_when_other_threads_run(monkeypatch):
    """A second Python thread (a web server's, Dask's) could hold a lock at fork time: serial."""
    X, y = _counts(n=40, p=10)
    splits = list(iter_splits(y, n_splits=2, n_repeats=1))

    def no_fork(*args, **kwargs):
        raise AssertionError("forked although another thread runs")

    monkeypatch.setattr(_cv, "_fit_folds_forked", no_fork)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        pred = oof_predictions(make_pipeline("l1"), X, y, splits, n_jobs=2)
    finally:
        stop.set()
        t.join()
    assert np.isfinite(pred).all()


def test_fold_jobs_rule():
    big = _classify._PARALLEL_FOLDS_MIN_SIZE
    assert _classify._fold_jobs("rf", False, None, big) == 1  # forests use n_jobs threads themselves
    assert _classify._fold_jobs("l1", True, 4, big) == 1  # a custom pipeline: serial
    assert _classify._fold_jobs("l1", False, None, big - 1) == 1  # too small to pay for forking
    assert _classify._fold_jobs("l1", False, None, big) == default_jobs()
    assert _classify._fold_jobs("l1", False, -1, 10) == default_jobs()
    assert _classify._fold_jobs("enet", False, 3, 10) == 3


def test_a_dead_worker_falls_back_to_serial_fits(monkeypatch):
    """A worker killed mid-run (out of memory, a signal): the folds are refitted here, same result."""
    import os

    X, y = _counts(n=60, p=20, seed=2)
    splits = list(iter_splits(y, n_splits=3, n_repeats=1))
    serial = oof_predictions(make_pipeline("l1"), X, y, splits, n_jobs=1)
    parent = os.getpid()
    real = _cv._fit_fold

    def dies_in_a_worker(*args):
        if os.getpid() != parent:
            os._exit(1)
        return real(*args)

    broken = []
    real_forked = _cv._fit_folds_forked

    def forked(*args):
        try:
            return real_forked(*args)
        except Exception as exc:
            broken.append(type(exc).__name__)
            raise

    monkeypatch.setattr(_cv, "_fit_fold", dies_in_a_worker)
    monkeypatch.setattr(_cv, "_fit_folds_forked", forked)
    np.testing.assert_array_equal(oof_predictions(make_pipeline("l1"), X, y, splits, n_jobs=2), serial)
    assert broken == ["BrokenProcessPool"]
