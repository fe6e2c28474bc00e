"""scikit-learn transformers for compositional microbiome tables.

Every learnable step (which features are kept, which pseudocount) is a transformer so
that it can sit inside a :class:`sklearn.pipeline.Pipeline` and be fitted *inside* each
cross-validation fold, on the training samples only.  Row-wise transforms (closure,
CLR, log, presence) hold no state; :class:`PrevalenceFilter` learns its feature mask.

References: Aitchison J (1986) The Statistical Analysis of Compositional Data (CLR);
Wirbel J et al. (2021) Genome Biol 22:93, doi:10.1186/s13059-021-02306-1 (preprocessing
inside folds, SIAMCAT).
"""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "CLRTransformer",
    "LogRelative",
    "PresenceAbsence",
    "PrevalenceFilter",
    "RelativeAbundance",
]


def _closure(X: np.ndarray) -> np.ndarray:
    tot = X.sum(axis=1, keepdims=True)
    return X / np.where(tot > 0, tot, 1.0)


class _RowTransformer(TransformerMixin, BaseEstimator):
    """Stateless row-wise transform of non-negative abundances."""

    def fit(self, X, y=None):
        self._validate_params()
        validate_data(self, X, reset=True, ensure_non_negative=True, dtype=np.float64)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, reset=False, ensure_non_negative=True, dtype=np.float64)
        return self._transform(np.array(X, dtype=np.float64, copy=True))

    def _transform(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.requires_fit = True
        return tags

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)


class RelativeAbundance(_RowTransformer):
    """Close each sample to proportions (rows sum to 1; all-zero rows stay 0).

    Examples
    --------
    >>> RelativeAbundance().fit_transform([[1.0, 3.0], [0.0, 0.0]]).tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """

    _parameter_constraints: ClassVar[dict] = {}

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return _closure(X)


class CLRTransformer(_RowTransformer):
    """Centred log-ratio of each sample after a pseudocount.

    ``clr(x)_j = log(x_j + c) - mean_k log(x_k + c)``.  With ``pseudocount="auto"`` the
    pseudocount is half the smallest non-zero value *of that sample*, so nothing is learnt
    from other samples (no leakage across folds).

    Parameters
    ----------
    pseudocount
        A positive number added to every entry, or ``"auto"``.
    closure
        Close rows to proportions before adding the pseudocount.
    """

    _parameter_constraints: ClassVar[dict] = {
        "pseudocount": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "closure": ["boolean"],
    }

    def __init__(self, pseudocount: float | str = 0.5, closure: bool = False) -> None:
        self.pseudocount = pseudocount
        self.closure = closure

    def _transform(self, X: np.ndarray) -> np.ndarray:
        if self.closure:
            X = _closure(X)
        if self.pseudocount == "auto":
            pos = np.where(X > 0, X, np.inf).min(axis=1, keepdims=True)
            c = np.where(np.isfinite(pos), pos / 2.0, 1.0)
        else:
            c = float(self.pseudocount)
        L = np.log(X + c)
        return L - L.mean(axis=1, keepdims=True)


class LogRelative(_RowTransformer):
    """``log10(max(p, floor))`` of proportions ``p`` (closure inside).

    Parameters
    ----------
    floor
        Detection floor; proportions below it are set to it (1e-5 as in GMHI,
        Gupta 2020 doi:10.1038/s41467-020-18476-8).
    """

    _parameter_constraints: ClassVar[dict] = {"floor": [Interval(Real, 0, 1, closed="neither")]}

    def __init__(self, floor: float = 1e-5) -> None:
        self.floor = floor

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return np.log10(np.maximum(_closure(X), float(self.floor)))


class PresenceAbsence(_RowTransformer):
    """1 where the proportion exceeds ``threshold``, else 0."""

    _parameter_constraints: ClassVar[dict] = {"threshold": [Interval(Real, 0, 1, closed="left")]}

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return (_closure(X) > float(self.threshold)).astype(np.float64)


class PrevalenceFilter(SelectorMixin, BaseEstimator):
    """Keep features present (proportion > ``min_abundance``) in ≥ ``min_prevalence`` of
    the *training* samples.

    Fitted inside each fold so that the test samples never influence which features
    the model sees.  At least one feature (the most prevalent) is always kept.

    Parameters
    ----------
    min_prevalence
        Minimum fraction of training samples in which a feature is present.
    min_abundance
        Proportion above which a feature counts as present.

    Attributes
    ----------
    prevalence_ : ndarray of shape (n_features,)
        Fraction of training samples with the feature present.
    support_ : ndarray of bool
        Kept features.
    """

    _parameter_constraints: ClassVar[dict] = {
        "min_prevalence": [Interval(Real, 0, 1, closed="both")],
        "min_abundance": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, min_prevalence: float = 0.1, min_abundance: float = 0.0) -> None:
        self.min_prevalence = min_prevalence
        self.min_abundance = min_abundance

    def fit(self, X, y=None):
        self._validate_params()
        X = validate_data(self, X, reset=True, ensure_non_negative=True, dtype=np.float64)
        P = _closure(np.asarray(X, dtype=np.float64))
        self.prevalence_ = (P > float(self.min_abundance)).mean(axis=0)
        support = self.prevalence_ >= float(self.min_prevalence)
        if not support.any():
            support[int(np.argmax(self.prevalence_))] = True
        self.support_ = support
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags
