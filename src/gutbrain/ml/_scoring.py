"""AUROC scorer for the inner cross-validation of the penalised logistic models.

``LogisticRegressionCV(scoring="roc_auc")`` scores every penalty of every inner fold
(8 × 3 per outer fold) through scikit-learn's generic scorer, whose input validation
(target-type detection, array checks, parameter validation) costs ~20× the arithmetic on
a few hundred samples.  :func:`decision_auroc` computes the same number with the same
floating-point operations — the decision function ``X @ coef.T + intercept``, the ROC
points at the distinct scores with collinear points dropped, rates as counts divided by
the totals, then the trapezoidal area from :func:`scipy.integrate.trapezoid` — so every
score, and therefore the penalty each fold selects, is identical bit for bit
(``tests/ml/test_cv_parity.py`` checks the scores and the fits against ``"roc_auc"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["average_precision", "decision_auroc", "roc_auc_trapezoid"]


def _threshold_counts(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True- and false-positive counts at each distinct score, highest score first."""
    order = np.argsort(score, kind="stable")[::-1]  # descending; the order inside ties is irrelevant
    s = score[order]
    last = np.concatenate([np.flatnonzero(np.diff(s)), [s.size - 1]])  # last index of each tie block
    tps = np.cumsum(positive[order], dtype=np.float64)[last]  # exact integer counts
    return tps, 1.0 + last.astype(np.float64) - tps


def average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """Average precision (uninterpolated area under the precision–recall curve).

    ``Σₖ (Rₖ − Rₖ₋₁) Pₖ`` over the distinct scores, with the operations of
    ``sklearn.metrics.average_precision_score``, whose value it equals bit for bit,
    without its per-call validation (the bootstrap CI calls it hundreds of times).

    Parameters
    ----------
    positive
        ``True`` for the positive samples.
    score
        Finite scores (higher: more likely positive).

    Returns
    -------
    float
    """
    positive = np.asarray(positive, dtype=bool).ravel()
    tps, fps = _threshold_counts(positive, np.asarray(score).ravel())
    precision = tps / (tps + fps)  # tps + fps >= 1 at every threshold
    if tps[-1] == 0:
        import warnings

        warnings.warn("No positive class found in y_true, recall is set to one for all thresholds.",
                      UserWarning, stacklevel=2)
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    precision = np.concatenate([precision[::-1], [1.0]])
    recall = np.concatenate([recall[::-1], [0.0]])
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def roc_auc_trapezoid(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the boolean labels ``positive``.

    Ties share one ROC point; the area is the trapezoidal rule over the points that are
    not collinear with their neighbours.  NaN when one class is absent.

    Parameters
    ----------
    positive
        ``True`` for the positive samples.
    score
        Finite scores (higher: more likely positive).

    Returns
    -------
    float
    """
    from scipy.integrate import trapezoid

    positive = np.asarray(positive, dtype=bool).ravel()
    score = np.asarray(score).ravel()
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0 or n_pos == positive.size:
        return float("nan")
    tps, fps = _threshold_counts(positive, score)
    if fps.size > 2:
        keep = np.concatenate([[True], (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), [True]])
        fps, tps = fps[keep], tps[keep]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    return float(trapezoid(tps / tps[-1], fps / fps[-1]))


def decision_auroc(estimator: Any, X: Any, y: np.ndarray) -> float:
    """Scorer ``(estimator, X, y) → AUROC`` of a fitted binary linear classifier.

    The positive class is ``estimator.classes_[-1]``, the score its decision function,
    as with scikit-learn's ``"roc_auc"`` scorer; usable as ``scoring=`` of
    ``LogisticRegressionCV``.

    Parameters
    ----------
    estimator
        Fitted linear classifier (``coef_``, ``intercept_``, ``classes_``).
    X
        Samples × features.
    y
        True labels.

    Returns
    -------
    float
    """
    from sklearn.utils.extmath import safe_sparse_dot

    score = safe_sparse_dot(X, estimator.coef_.T, dense_output=True) + estimator.intercept_
    if score.ndim > 1 and score.shape[1] == 1:
        score = score.reshape(-1)
    if score.ndim != 1:
        from .._errors import DataValueError

        raise DataValueError(f"the AUROC scorer needs two classes, not {score.shape[1]}",
                             fix="give binary labels (0/1)")
    return roc_auc_trapezoid(np.asarray(y) == estimator.classes_[-1], score)
