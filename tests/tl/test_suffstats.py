"""Sufficient statistics merged over chunks of samples give the per-feature least-squares fits.

Reference: the in-process QR solution (:func:`gutbrain.tl._da_lm.ols`) and, for masks and
weights, statsmodels WLS per feature. Tolerance rtol=1e-9: the normal equations and the QR
solution differ in rounding only.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gutbrain import DataValueError
from gutbrain.tl._da_lm import ols
from gutbrain.tl._suffstats import Moments, merge_all, ols_from_moments


def _data(seed, n=300, p=4, F=12, offset=0.0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    Y = X @ rng.normal(size=(p, F)) + rng.normal(size=(n, F)) * rng.uniform(0.5, 2.0, F) + offset
    return X, Y


def _cuts(n, k, seed):
    inner = np.sort(np.random.default_rng(seed).choice(np.arange(1, n), size=k - 1, replace=False))
    edges = np.concatenate([[0], inner, [n]])
    return list(itertools.pairwise(edges))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(1, 9))
def test_merged_chunks_equal_qr_fit(seed, k):
    X, Y = _data(seed, offset=-15.0)  # log-abundance-like offset: centring keeps the RSS accurate
    ref = ols(X, Y)
    res = ols_from_moments(merge_all([Moments.from_chunk(X[a:b], Y[a:b]) for a, b in _cuts(len(X), k, seed)]))
    for key in ("coef", "stderr", "t", "pval", "df", "sigma2"):
        np.testing.assert_allclose(res[key], ref[key], rtol=1e-9, atol=0, err_msg=key)


def test_chunk_order_and_empty_chunks_do_not_matter():
    X, Y = _data(1)
    parts = [Moments.from_chunk(X[a:b], Y[a:b]) for a, b in [(0, 0), (0, 50), (50, 50), (50, 300)]]
    one = ols_from_moments(Moments.from_chunk(X, Y))
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        res = ols_from_moments(merge_all([parts[i] for i in order]))
        np.testing.assert_allclose(res["coef"], one["coef"], rtol=1e-12)
        np.testing.assert_allclose(res["rss"], one["rss"], rtol=1e-12)


def test_masked_and_weighted_statistics_equal_per_feature_wls():
    import statsmodels.api as sm

    X, Y = _data(2)
    rng = np.random.default_rng(3)
    M = (rng.random(Y.shape) < 0.6).astype(float)  # MaAsLin 3: each feature on its own samples
    Wt = rng.uniform(0.1, 2.0, Y.shape) * M  # IRLS-like weights (0 off the mask)
    for W in (M, Wt):
        res = ols_from_moments(merge_all([Moments.from_chunk(X[a:b], Y[a:b], W[a:b]) for a, b in _cuts(300, 5, 0)]))
        assert res["coef"].shape == (4, 12)
        for f in range(Y.shape[1]):
            keep = W[:, f] > 0
            fit = sm.WLS(Y[keep, f], X[keep], weights=W[keep, f]).fit()
            np.testing.assert_allclose(res["coef"][:, f], fit.params, rtol=1e-9)
            np.testing.assert_allclose(res["stderr"][:, f], fit.bse, rtol=1e-9)
            np.testing.assert_allclose(res["pval"][:, f], fit.pvalues, rtol=1e-8)
            assert res["df"][0, f] == keep.sum() - 4  # samples, not the sum of weights


def test_select_and_rank_deficiency():
    X, Y = _data(4)
    m = Moments.from_chunk(X, Y)
    sub = ols_from_moments(m.select(np.array([2, 5])))
    np.testing.assert_allclose(sub["coef"], ols(X, Y[:, [2, 5]])["coef"], rtol=1e-9)
    X2 = np.column_stack([X, X[:, 1]])
    with pytest.raises(DataValueError, match="rank deficient"):
        ols_from_moments(Moments.from_chunk(X2, Y))
