"""Cross-validation schemes, out-of-fold predictions and bootstrap confidence intervals.

Every fold refits the *whole* pipeline (filter, transform, model) on its training samples,
so nothing learnt from test samples reaches the model (Wirbel et al. 2021,
doi:10.1186/s13059-021-02306-1; Kapoor & Narayanan 2023 Patterns 4:100804,
doi:10.1016/j.patter.2023.100804 on leakage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import (
    GroupKFold,
    LeaveOneGroupOut,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
)

from .._errors import DataValueError

__all__ = [
    "CV_SCHEMES",
    "bootstrap_ci",
    "fast_auc",
    "iter_splits",
    "oof_predictions",
]

#: Cross-validation schemes understood by :func:`iter_splits`.
CV_SCHEMES = ("repeated", "group", "loso")


def iter_splits(
    y: np.ndarray,
    *,
    scheme: str = "repeated",
    groups: np.ndarray | None = None,
    n_splits: int = 5,
    n_repeats: int = 5,
    classification: bool = True,
    random_state: int = 0,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(repeat, fold, train_idx, test_idx)``.

    ``"repeated"``: repeated (stratified) K-fold; ``"group"``: (stratified) group K-fold,
    repeated with shuffled group order, so samples of one subject/household never sit on
    both sides; ``"loso"``: leave one group (study) out, one repeat.
    """
    n = len(y)
    if scheme not in CV_SCHEMES:
        raise DataValueError(f"unknown cv scheme {scheme!r}", fix=f"use one of {', '.join(CV_SCHEMES)}")
    if scheme in ("group", "loso") and groups is None:
        raise DataValueError(f"cv={scheme!r} needs groups", fix="pass group_by= (a metadata column)")
    X0 = np.zeros((n, 1))
    if scheme == "repeated":
        cls = RepeatedStratifiedKFold if classification else RepeatedKFold
        cv = cls(n_splits=n_splits, n_repeats=n_repeats, random_state=random_state)
        for k, (tr, te) in enumerate(cv.split(X0, y)):
            yield k // n_splits, k % n_splits, tr, te
        return
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if scheme == "loso":
        if n_groups < 2:
            raise DataValueError("leave-one-group-out needs at least 2 groups", fix="check group_by")
        for k, (tr, te) in enumerate(LeaveOneGroupOut().split(X0, y, groups)):
            yield 0, k, tr, te
        return
    k_splits = min(n_splits, n_groups)
    if k_splits < 2:
        raise DataValueError("group cross-validation needs at least 2 groups", fix="check group_by")
    for r in range(n_repeats):
        if classification:
            cv: Any = StratifiedGroupKFold(n_splits=k_splits, shuffle=True, random_state=random_state + r)
            split = cv.split(X0, y, groups)
        else:
            # GroupKFold has no shuffle before sklearn 1.6: relabel groups at random instead
            rng = np.random.default_rng(random_state + r)
            uniq, inv = np.unique(groups, return_inverse=True)
            perm = rng.permutation(len(uniq))
            split = GroupKFold(n_splits=k_splits).split(X0, y, perm[inv])
        for f, (tr, te) in enumerate(split):
            yield r, f, tr, te


def oof_predictions(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[int, int, np.ndarray, np.ndarray]],
    *,
    classification: bool = True,
    on_fit: Callable[[Any, int, int], None] | None = None,
) -> np.ndarray:
    """Out-of-fold predictions, shape ``(n_repeats, n_samples)`` (NaN where not tested).

    Classifiers give the probability of the positive class (``y == 1``).
    """
    n_rep = 1 + max(s[0] for s in splits)
    out = np.full((n_rep, len(y)), np.nan)
    for r, f, tr, te in splits:
        if classification and len(np.unique(y[tr])) < 2:
            raise DataValueError(
                "a training fold holds only one class", fix="use fewer folds or another cv scheme"
            )
        est = clone(estimator).fit(X[tr], y[tr])
        if classification:
            out[r, te] = est.predict_proba(X[te])[:, 1]
        else:
            out[r, te] = est.predict(X[te])
        if on_fit is not None:
            on_fit(est, r, f)
    return out


def fast_auc(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUROC of each row of ``scores`` (2-D) against binary ``y`` (rank formula, ties averaged).

    ``y`` may be 2-D (one label vector per row, e.g. bootstrap resamples).
    """
    from scipy.stats import rankdata

    scores = np.atleast_2d(scores)
    y = np.broadcast_to(np.asarray(y, dtype=bool), scores.shape)
    ranks = rankdata(scores, axis=1)
    n1 = y.sum(axis=1)
    n0 = y.shape[1] - n1
    s1 = np.where(y, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s1 - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def bootstrap_ci(
    y: np.ndarray,
    score: np.ndarray,
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
    strata: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI of a metric over samples.

    Resampling is stratified by class for classification metrics (``strata=y``), so every
    resample holds both classes.  AUROC is computed for all resamples at once.
    """
    y = np.asarray(y)
    score = np.asarray(score, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    n = len(y)
    if strata is None:
        idx = rng.integers(0, n, size=(n_boot, n))
    else:
        idx = np.empty((n_boot, n), dtype=np.int64)
        pos = 0
        for level_ in np.unique(strata):
            members = np.flatnonzero(strata == level_)
            idx[:, pos : pos + members.size] = members[rng.integers(0, members.size, (n_boot, members.size))]
            pos += members.size
    alpha = (1.0 - level) / 2.0
    if metric == "auroc":
        point = float(fast_auc(y, score[None, :])[0])
        boots = fast_auc(y[idx], score[idx])
    else:
        fn = {"auprc": average_precision_score, "auroc_sk": roc_auc_score}.get(metric, metric)  # type: ignore[arg-type]
        point = float(fn(y, score))  # type: ignore[operator]
        boots = np.array([fn(y[i], score[i]) for i in idx])  # type: ignore[operator]
    boots = boots[np.isfinite(boots)]
    lo, hi = np.quantile(boots, [alpha, 1 - alpha]) if boots.size else (np.nan, np.nan)
    return point, float(lo), float(hi)
