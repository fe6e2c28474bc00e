from __future__ import annotations

import anndata
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from skbio.stats.composition import clr as sk_clr
from skbio.stats.composition import multi_replace

import gutbrain as gb
from gutbrain import DataValueError, UnitError
from gutbrain._core import new_adata
from gutbrain.pp import _transform
from gutbrain.testing.strategies import compositions, count_adatas

FAST = settings(max_examples=40, deadline=None)


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M)


def _adata(X, unit="counts", sparse=False):
    X = np.asarray(X, dtype=float)
    return new_adata(X, obs_names=[f"s{i}" for i in range(X.shape[0])],
                     var_names=[f"f{j}" for j in range(X.shape[1])], unit=unit, reader="t",
                     sparse=sparse)


@FAST
@given(count_adatas(min_features=2, zero_rows=False))
def test_clr_pseudocount_matches_skbio_and_rows_sum_to_zero(ad):
    gb.pp.clr(ad)
    Z = ad.layers["clr"]
    assert isinstance(Z, np.ndarray)
    expected = np.atleast_2d(sk_clr(_dense(ad.X) + 0.5))
    np.testing.assert_allclose(Z, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Z.sum(axis=1), 0.0, atol=1e-9)
    assert ad.uns["gutbrain"]["layer_units"]["clr"] == "clr"
    assert ad.uns["clr"]["params"]["pseudocount"] == 0.5


@FAST
@given(count_adatas(min_features=2, zero_rows=False))
def test_clr_multiplicative_equals_skbio_multi_replace_then_clr(ad):
    gb.pp.clr(ad, method="multiplicative", key_added="mclr")
    expected = np.atleast_2d(sk_clr(multi_replace(_dense(ad.X))))
    np.testing.assert_allclose(ad.layers["mclr"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ad.layers["mclr"].sum(axis=1), 0.0, atol=1e-9)
    assert ad.uns["mclr"]["params"]["delta"] == pytest.approx(1 / ad.n_vars**2)


@FAST
@given(compositions(zeros=False), st.floats(1e-3, 1e6))
def test_clr_is_scale_invariant_for_positive_data(P, c):
    a = _adata(P, unit="abundance")
    b = _adata(P * c, unit="abundance")
    for ad in (a, b):
        gb.pp.clr(ad, pseudocount=0)
    np.testing.assert_allclose(a.layers["clr"], b.layers["clr"], atol=1e-9)
    m = _adata(P * c, unit="abundance")
    gb.pp.clr(m, method="multiplicative")  # no zeros: plain CLR
    np.testing.assert_allclose(m.layers["clr"], a.layers["clr"], atol=1e-9)


def test_clr_explicit_delta_matches_skbio():
    X = np.array([[10, 0, 5, 5], [0, 0, 1, 3], [7, 7, 7, 7]], dtype=float)
    ad = _adata(X)
    gb.pp.clr(ad, method="multiplicative", delta=1e-3)
    np.testing.assert_allclose(ad.layers["clr"], sk_clr(multi_replace(X, delta=1e-3)), atol=1e-12)
    with pytest.raises(DataValueError, match="negative"):
        gb.pp.clr(ad, method="multiplicative", delta=0.5)


def test_clr_sparse_blocks_equal_dense(monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.poisson(0.4, size=(57, 40)).astype(float)
    X[:, 0] += 1
    dense = _adata(X)
    sparse = _adata(X, sparse=True)
    assert sp.issparse(sparse.X)
    monkeypatch.setattr(_transform, "_BLOCK_CELLS", 40 * 8)  # 8 rows per block
    for method in ("pseudocount", "multiplicative"):
        gb.pp.clr(dense, method=method)
        gb.pp.clr(sparse, method=method)
        np.testing.assert_allclose(sparse.layers["clr"], dense.layers["clr"], atol=1e-13)
        assert not sp.issparse(sparse.layers["clr"])


def test_clr_bad_inputs(tmp_path):
    ad = _adata([[1, 2, 3], [0, 0, 0], [4, 0, 1], [0, 0, 0]])
    with pytest.raises(DataValueError) as err:
        gb.pp.clr(ad)
    msg = str(err.value)
    assert "s1, s3" in msg and "filter_samples" in msg and "\n" not in msg
    ok = _adata([[1, 2, 3], [4, 0, 1]])
    with pytest.raises(DataValueError, match="pseudocount=0 needs data without zeros"):
        gb.pp.clr(ok, pseudocount=0)
    rel = _adata([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]], unit="relative")
    with pytest.raises(DataValueError, match="not smaller than the smallest non-zero"):
        gb.pp.clr(rel)  # 0.5 added to proportions would swamp them
    gb.pp.clr(rel, pseudocount=1e-4)
    expected = sk_clr(np.array([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]]) + 1e-4)
    np.testing.assert_allclose(rel.layers["clr"], expected, atol=1e-12)
    with pytest.raises(UnitError, match="holds clr"):
        gb.pp.clr(rel, layer="clr")
    with pytest.raises(DataValueError, match="method must be"):
        gb.pp.clr(ok, method="ilr")
    neg = _adata([[1, -2, 3]])
    with pytest.raises(DataValueError, match="non-negative"):
        gb.pp.clr(neg)
    gb.pp.clr(ok, method="multiplicative")
    p = tmp_path / "c.h5ad"
    ok.write_h5ad(p)
    back = anndata.read_h5ad(p)
    np.testing.assert_allclose(back.layers["clr"], ok.layers["clr"])
    assert back.uns["clr"]["params"]["method"] == "multiplicative"
    assert "doi:10.1023/A:1023866030544" in list(back.uns["clr"]["params"]["references"])
