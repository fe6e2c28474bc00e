"""scikit-learn conformance and numbers of gutbrain's compositional transformers."""

from __future__ import annotations

import numpy as np
import pytest
from skbio.stats.composition import clr as skbio_clr
from sklearn.utils.estimator_checks import parametrize_with_checks

from gutbrain.ml import (
    CLRTransformer,
    LogRelative,
    PresenceAbsence,
    PrevalenceFilter,
    RelativeAbundance,
)

ESTIMATORS = [RelativeAbundance(), CLRTransformer(), CLRTransformer(pseudocount="auto", closure=True),
              LogRelative(), PresenceAbsence(), PrevalenceFilter(min_prevalence=0.0)]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_conventions(estimator, check):
    check(estimator)


def test_clr_matches_scikit_bio():
    rng = np.random.default_rng(0)
    X = rng.poisson(5.0, size=(20, 8)).astype(float)
    ours = CLRTransformer(pseudocount=0.5).fit_transform(X)
    np.testing.assert_allclose(ours, skbio_clr(X + 0.5), atol=1e-12)


def test_auto_pseudocount_is_per_sample():
    X = np.array([[0.0, 2.0, 4.0], [0.0, 10.0, 30.0]])
    out = CLRTransformer(pseudocount="auto").fit_transform(X)
    row0 = np.log(np.array([0, 2, 4]) + 1.0)
    np.testing.assert_allclose(out[0], row0 - row0.mean())
    row1 = np.log(np.array([0, 10, 30]) + 5.0)
    np.testing.assert_allclose(out[1], row1 - row1.mean())


def test_prevalence_filter_learns_from_training_rows_only():
    train = np.array([[1, 0, 0, 5], [2, 0, 1, 5], [3, 0, 0, 5], [1, 0, 0, 5]], dtype=float)
    f = PrevalenceFilter(min_prevalence=0.5).fit(train)
    np.testing.assert_array_equal(f.prevalence_, [1.0, 0.0, 0.25, 1.0])
    np.testing.assert_array_equal(f.get_support(), [True, False, False, True])
    test = np.array([[0, 9, 9, 1]], dtype=float)
    np.testing.assert_array_equal(f.transform(test), [[0, 1]])


def test_log_relative_and_presence():
    X = np.array([[1.0, 0.0, 99999.0]])
    np.testing.assert_allclose(LogRelative(floor=1e-4).fit_transform(X), np.log10([[1e-4, 1e-4, 0.99999]]))
    np.testing.assert_array_equal(PresenceAbsence(threshold=1e-4).fit_transform(X), [[0.0, 0.0, 1.0]])


def test_negative_input_rejected():
    with pytest.raises(ValueError):
        CLRTransformer().fit(np.array([[1.0, -1.0]]))
