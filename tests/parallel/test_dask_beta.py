"""Beta diversity in row-block Dask tasks equals the in-process kernels (and SciPy)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist

import gutbrain as gb
import gutbrain.parallel as gp
from gutbrain import DataValueError, UnitError
from gutbrain.testing import assert_allclose_reordered

EXACT = ("braycurtis", "jaccard")  # exact integer arithmetic: bit for bit


@pytest.fixture(scope="module")
def cohort():
    return gb.datasets.demo_cohort(seed=0)


def _in_process(X, metric):
    return getattr(gb.tl, metric)(X)


def _assert_same(d, ref, metric):
    assert d.shape == ref.shape
    if metric in EXACT:
        assert np.array_equal(d, ref, equal_nan=True)
    else:
        assert_allclose_reordered(d, ref, err_msg=metric)


@given(n=st.integers(0, 400), nb=st.integers(1, 64))
@settings(max_examples=200, deadline=None)
def test_row_blocks_cover_rows_with_balanced_pairs(n, nb):
    blocks = gp.row_blocks(n, nb)
    if n < 2:
        assert blocks == []
        return
    assert blocks[0][0] == 0 and blocks[-1][1] == n - 1
    assert all(a < b for a, b in blocks)
    assert all(b0[1] == b1[0] for b0, b1 in itertools.pairwise(blocks))
    assert len(blocks) <= min(nb, n - 1)
    pairs = [sum(n - 1 - i for i in range(a, b)) for a, b in blocks]
    assert sum(pairs) == n * (n - 1) // 2
    # each block is within one row (≤ n - 1 pairs) of the even share
    assert max(pairs) <= n * (n - 1) / 2 / len(blocks) + (n - 1)


@pytest.mark.parametrize("metric", gp.DASK_BETA_METRICS)
@pytest.mark.parametrize("n_blocks", [1, 7, None])
def test_beta_dask_equals_in_process_sparse(cohort, client, metric, n_blocks):
    X = cohort.X  # CSR counts, 200 × 300
    assert sp.issparse(X)
    d = gp.beta_dask(X, metric, client=client, n_blocks=n_blocks)
    _assert_same(d, _in_process(X, metric), metric)


@pytest.mark.parametrize("metric", gp.DASK_BETA_METRICS)
def test_beta_dask_equals_in_process_dense_with_empty_rows(client, metric):
    rng = np.random.default_rng(3)
    X = rng.poisson(rng.gamma(0.3, 20, size=(57, 41))).astype(np.float64)
    X[[4, 30, 56]] = 0.0  # empty samples (one last): Bray–Curtis NaN, Jaccard 0 between them
    d = gp.beta_dask(X, metric, client=client, n_blocks=5)
    _assert_same(d, _in_process(X, metric), metric)


def test_braycurtis_and_jaccard_match_scipy_bit_for_bit(cohort, client):
    X = cohort.X.toarray()
    assert np.array_equal(gp.beta_dask(X, "braycurtis", client=client), pdist(X, "braycurtis"))
    assert np.array_equal(gp.beta_dask(X, "jaccard", client=client), pdist(X > 0, "jaccard"))


def test_braycurtis_non_integer_data(cohort, client):
    X = cohort.X.toarray()
    P = X / X.sum(axis=1, keepdims=True)
    P[[3, 9]] = 0.0  # two empty samples: NaN between them
    for M in (P, sp.csr_matrix(P)):
        d = gp.beta_dask(M, "braycurtis", client=client, n_blocks=6)
        assert np.isnan(d).sum() == 1
        assert_allclose_reordered(d, gb.tl.braycurtis(P))
        assert_allclose_reordered(d, pdist(P, "braycurtis"))


def test_aitchison_pseudocount_rule(cohort, client):
    X = cohort.X.toarray()  # integer counts with zeros: pseudocount 1 by default
    assert_allclose_reordered(
        gp.beta_dask(X, "aitchison", client=client), gb.tl.aitchison(X, pseudocount=1.0)
    )
    assert_allclose_reordered(
        gp.beta_dask(X, "aitchison", pseudocount=0.5, client=client),
        gb.tl.aitchison(X, pseudocount=0.5),
    )
    with pytest.raises(DataValueError, match="pseudocount"):
        gp.beta_dask(X / 7.0, "aitchison", client=client)


@pytest.mark.parametrize("metric", ["braycurtis", "aitchison"])
def test_beta_diversity_dask_writes_the_same_obsp(cohort, client, metric):
    a_ref = cohort.copy()
    gb.tl.beta_diversity(a_ref, metric=metric)
    a = cohort.copy()
    gp.beta_diversity_dask(a, metric=metric, client=client, key_added="bd")
    D = a.obsp["bd"]
    assert D.shape == (a.n_obs, a.n_obs)
    assert np.all(np.diag(D) == 0) and np.array_equal(D, D.T)
    assert_allclose_reordered(D, a_ref.obsp[metric])
    params = a.uns["beta_diversity"]["bd"]["params"]
    assert params["backend"] == "dask" and params["metric"] == metric
    ref_params = a_ref.uns["beta_diversity"][metric]["params"]
    assert params.get("pseudocount") == ref_params.get("pseudocount")


def test_client_as_address_and_as_current(cohort, client, dask_cluster):
    X = cohort.X[:40]
    ref = gb.tl.braycurtis(X)
    assert np.array_equal(gp.beta_dask(X, client=dask_cluster.scheduler_address), ref)
    with client.as_current():
        assert np.array_equal(gp.beta_dask(X), ref)


def test_errors(cohort, client, monkeypatch):
    monkeypatch.delenv(gp.SCHEDULER_ENV, raising=False)
    with pytest.raises(DataValueError, match="no Dask client"):
        gp.beta_dask(cohort.X[:10])
    with pytest.raises(DataValueError, match="not distributed"):
        gp.beta_dask(cohort.X, "unweighted_unifrac", client=client)
    with pytest.raises(DataValueError, match="non-negative"):
        gp.beta_dask(-np.ones((4, 3)), client=client)
    with pytest.raises(DataValueError, match="client must be"):
        gp.beta_dask(cohort.X[:10], client=3)
    a = cohort.copy()
    a.uns["gutbrain"]["X_unit"] = "clr"
    with pytest.raises(UnitError):
        gp.beta_diversity_dask(a, client=client)


def test_tiny_inputs(client):
    assert gp.beta_dask(np.ones((1, 3)), client=client).shape == (0,)
    d = gp.beta_dask(np.array([[1.0, 0.0], [0.0, 1.0]]), client=client)
    assert np.array_equal(d, [1.0])
