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
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    GroupKFold,
    LeaveOneGroupOut,
    RepeatedKFold,
    RepeatedStratifiedKFold,
)

from .._errors import DataValueError
from .._forking import fork_safe, reraise_warnings, warning_records

__all__ = [
    "CV_SCHEMES",
    "bootstrap_ci",
    "default_jobs",
    "fast_auc",
    "iter_splits",
    "oof_predictions",
    "stratified_group_kfold",
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
            split: Any = stratified_group_kfold(y, groups, n_splits=k_splits, random_state=random_state + r)
        else:
            # GroupKFold has no shuffle before sklearn 1.6: relabel groups at random instead
            rng = np.random.default_rng(random_state + r)
            uniq, inv = np.unique(groups, return_inverse=True)
            perm = rng.permutation(len(uniq))
            split = GroupKFold(n_splits=k_splits).split(X0, y, perm[inv])
        for f, (tr, te) in enumerate(split):
            yield r, f, tr, te


def _stratified_group_assignment(
    y_counts_per_group: np.ndarray, y_cnt: np.ndarray, n_splits: int
) -> np.ndarray:
    """Greedy fold of each group (rows of ``y_counts_per_group``, visited in the given order).

    Each group goes to the fold that, with it added, has the smallest mean (over classes) of
    the standard deviation across folds of the class proportions; near-ties
    (``numpy.isclose``) go to the fold with fewer samples, then to the lower fold number.
    The candidate placements of one group are evaluated for all folds at once, with the
    same floating-point operations, in the same order, as scikit-learn's
    ``StratifiedGroupKFold``, so the choices are identical.
    """
    n_groups, n_classes = y_counts_per_group.shape
    fold_counts = np.zeros((n_splits, n_classes))
    assignment = np.empty(n_groups, dtype=np.int64)
    eye = np.eye(n_splits)[:, :, None]
    scale = y_cnt.reshape(1, 1, -1)
    order = np.argsort(-np.std(y_counts_per_group, axis=1), kind="stable")
    rtol, atol = 1e-05, 1e-08  # numpy.isclose's defaults, as scikit-learn uses them
    for g in order:
        counts = y_counts_per_group[g]
        # candidate i: fold i holds the group; adding 0.0 leaves the other folds' counts exact
        cand = fold_counts[None, :, :] + eye * counts[None, None, :]
        evals = np.mean(np.std(cand / scale, axis=1), axis=1).tolist()
        sizes = fold_counts.sum(axis=1).tolist()
        best, min_eval, min_size = 0, np.inf, np.inf
        for i in range(n_splits):
            e = evals[i]
            if e < min_eval or (abs(e - min_eval) <= atol + rtol * abs(min_eval) and sizes[i] < min_size):
                best, min_eval, min_size = i, e, sizes[i]
        fold_counts[best] += counts
        assignment[g] = best
    return assignment


def stratified_group_kfold(
    y: np.ndarray, groups: np.ndarray, *, n_splits: int = 5, random_state: int | None = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stratified group K-fold with shuffled groups: yield ``(train_idx, test_idx)``.

    The same folds as ``sklearn.model_selection.StratifiedGroupKFold(n_splits,
    shuffle=True, random_state=random_state)`` (the same greedy assignment and the same
    random shuffle of the groups), computed without scikit-learn's per-group and
    per-sample Python loops.

    Parameters
    ----------
    y
        Class labels.
    groups
        Group of each sample (e.g. subject); a group never straddles train and test.
    n_splits
        Number of folds (at most the number of groups).
    random_state
        Seed of the shuffle of the groups (a ``numpy.random.RandomState`` seed).
    """
    import warnings

    y = np.asarray(y)
    _, y_inv, y_cnt = np.unique(y, return_inverse=True, return_counts=True)
    y_inv = y_inv.ravel()
    if np.all(n_splits > y_cnt):
        raise DataValueError(
            f"{n_splits} folds but every class has fewer members", fix="use fewer folds"
        )
    if n_splits > y_cnt.min():
        warnings.warn(
            f"The least populated class in y has only {int(y_cnt.min())} members, which is less "
            f"than n_splits={n_splits}.", UserWarning, stacklevel=2,
        )
    _, groups_inv, groups_cnt = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    groups_inv = groups_inv.ravel()
    n_groups = groups_cnt.size
    if n_splits > n_groups:
        raise DataValueError(f"{n_splits} folds but only {n_groups} groups", fix="use fewer folds")
    y_counts_per_group = np.zeros((n_groups, y_cnt.size))
    np.add.at(y_counts_per_group, (groups_inv, y_inv), 1.0)
    perm = np.arange(n_groups)
    np.random.RandomState(random_state).shuffle(perm)
    inv_perm = np.empty_like(perm)
    inv_perm[perm] = np.arange(n_groups)
    fold_of_group = _stratified_group_assignment(y_counts_per_group[perm], y_cnt, n_splits)
    fold = fold_of_group[inv_perm[groups_inv]]
    for i in range(n_splits):
        test = fold == i
        yield np.flatnonzero(~test), np.flatnonzero(test)


def default_jobs() -> int:
    """Cores this process may use: joblib's count (CPU affinity, cgroup CPU quotas of
    containers, and ``LOKY_MAX_CPU_COUNT`` when set)."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def _fit_fold(
    estimator: Any, X: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, classification: bool
) -> tuple[Any, np.ndarray]:
    est = clone(estimator).fit(X[tr], y[tr])
    pred = est.predict_proba(X[te])[:, 1] if classification else est.predict(X[te])
    return est, pred


#: The job of the forked fold workers: set before the pool forks, so the children inherit
#: the data instead of receiving a pickled copy per fold.
_FORK_JOB: dict[str, Any] = {}


def _forked_fold(k: int) -> tuple[Any, np.ndarray, list[tuple[Any, ...]]]:
    """Fit fold ``k`` of :data:`_FORK_JOB` in a worker; return its warnings for the parent."""
    import warnings

    estimator, X, y, splits, classification = _FORK_JOB["job"]
    _, _, tr, te = splits[k]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est, pred = _fit_fold(estimator, X, y, tr, te, classification)
    return est, pred, warning_records(caught)


def _fit_folds_forked(
    estimator: Any, X: np.ndarray, y: np.ndarray, splits: list, classification: bool, n_workers: int
) -> list[tuple[Any, np.ndarray]]:
    import gc
    import multiprocessing as mp
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    _FORK_JOB["job"] = (estimator, X, y, splits, classification)
    gc.freeze()  # the children's garbage collector then leaves the parent's objects (and pages) alone
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about fork() when BLAS threads exist; OpenBLAS and OpenMP
            # re-initialise their pools in the child (pthread_atfork), and no Python thread
            # runs (checked by fork_safe)
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) as pool:
                futures = [pool.submit(_forked_fold, k) for k in range(len(splits))]
                try:
                    done = [f.result() for f in futures]
                finally:
                    for f in futures:  # after a failure, do not start the remaining folds
                        f.cancel()
    finally:
        gc.unfreeze()
        _FORK_JOB.clear()
    out = []
    for est, pred, records in done:  # fold order: warnings and results as a serial run gives them
        reraise_warnings(records)
        out.append((est, pred))
    return out


def oof_predictions(
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[int, int, np.ndarray, np.ndarray]],
    *,
    classification: bool = True,
    on_fit: Callable[[Any, int, int], None] | None = None,
    n_jobs: int = 1,
) -> np.ndarray:
    """Out-of-fold predictions, shape ``(n_repeats, n_samples)`` (NaN where not tested).

    Classifiers give the probability of the positive class (``y == 1``).  With
    ``n_jobs > 1`` the folds are fitted in up to ``n_jobs`` forked worker processes (Linux,
    from a process without other threads; serially otherwise) and gathered in fold order,
    so predictions, fitted estimators (``on_fit``) and warnings are those of a serial run
    (if a worker dies, every fold is refitted serially).
    Processes, not threads: liblinear draws its coordinate order from one process-wide
    random generator, so concurrent fits in threads are not reproducible (scikit-learn
    issue #31883).
    """
    n_rep = 1 + max(s[0] for s in splits)
    out = np.full((n_rep, len(y)), np.nan)
    if classification:
        for _r, _f, tr, _te in splits:
            if len(np.unique(y[tr])) < 2:
                raise DataValueError(
                    "a training fold holds only one class", fix="use fewer folds or another cv scheme"
                )
    n_workers = min(int(n_jobs), len(splits))
    fits: Iterator[tuple[Any, np.ndarray]] | None = None
    if n_workers > 1 and fork_safe():
        from concurrent.futures.process import BrokenProcessPool

        try:
            fits = iter(_fit_folds_forked(estimator, X, y, splits, classification, n_workers))
        except BrokenProcessPool:  # a worker died (killed, out of memory): refit every fold here
            fits = None
    if fits is None:
        fits = (_fit_fold(estimator, X, y, tr, te, classification) for _r, _f, tr, te in splits)
    for (r, f, _tr, te), (est, pred) in zip(splits, fits, strict=True):
        out[r, te] = pred
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


def _auprc(y: np.ndarray, score: np.ndarray) -> float:
    """``sklearn.metrics.average_precision_score`` (positive label 1), bit for bit."""
    from ._scoring import average_precision

    return average_precision(np.asarray(y) == 1, score)


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
        fn = {"auprc": _auprc, "auroc_sk": roc_auc_score}.get(metric, metric)  # type: ignore[arg-type]
        point = float(fn(y, score))  # type: ignore[operator]
        boots = np.array([fn(y[i], score[i]) for i in idx])  # type: ignore[operator]
    boots = boots[np.isfinite(boots)]
    lo, hi = np.quantile(boots, [alpha, 1 - alpha]) if boots.size else (np.nan, np.nan)
    return point, float(lo), float(hi)
