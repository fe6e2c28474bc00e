from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import gutbrain as gb
from gutbrain import DataValueError, UnitError
from gutbrain._core import new_adata
from gutbrain.testing.strategies import count_adatas

FAST = settings(max_examples=40, deadline=None)


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M)


@FAST
@given(count_adatas(), st.integers(0, 3000), st.sampled_from([None, 0.3, 0.8, 1.0]))
def test_filter_samples_matches_numpy_and_is_idempotent(ad, min_depth, max_zero):
    out = gb.pp.filter_samples(ad, min_depth=min_depth, max_zero_fraction=max_zero)
    X = _dense(ad.X)
    keep = X.sum(axis=1) >= min_depth
    if max_zero is not None:
        keep &= (X == 0).mean(axis=1) <= max_zero
    assert out.obs_names.tolist() == ad.obs_names[keep].tolist()
    np.testing.assert_array_equal(_dense(out.X), X[keep])
    assert out.uns["filter_samples"]["removed"] == ad.obs_names[~keep].tolist()
    again = gb.pp.filter_samples(out, min_depth=min_depth, max_zero_fraction=max_zero)
    assert again.shape == out.shape
    assert again.uns["filter_samples"]["n_removed"] == 0


def _prevalence_peer(X, min_abundance):
    tot = X.sum(axis=1, keepdims=True)
    rel = np.divide(X, tot, out=np.zeros_like(X, dtype=float), where=tot > 0)
    return (rel > min_abundance).mean(axis=0)


@FAST
@given(count_adatas(min_samples=2), st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]),
       st.sampled_from([0.0, 0.001, 0.05, 0.2]), st.sampled_from([0, 1, 500]))
def test_filter_features_matches_numpy_and_is_idempotent(ad, prev, abund, total):
    out = gb.pp.filter_features(ad, min_prevalence=prev, min_abundance=abund, min_total=total)
    X = _dense(ad.X).astype(float)
    keep = (_prevalence_peer(X, abund) >= prev) & (X.sum(axis=0) >= total)
    assert out.var_names.tolist() == ad.var_names[keep].tolist()
    np.testing.assert_array_equal(_dense(out.X), X[:, keep])
    assert out.var["genus"].tolist() == ad.var["genus"][keep].tolist()
    again = gb.pp.filter_features(out, min_prevalence=prev, min_abundance=abund, min_total=total)
    assert again.n_vars == out.n_vars


def test_filter_features_units_and_layers(tmp_path):
    X = np.array([[90, 10, 0, 0], [50, 0, 50, 0], [99, 1, 0, 0]], dtype=float)
    ad = new_adata(X, obs_names=["a", "b", "c"], var_names=list("wxyz"), unit="counts", reader="t")
    gb.pp.relative(ad)
    gb.pp.clr(ad)
    # prevalence at > 5%: w 3/3, x 1/3 (only 10%), y 1/3, z 0
    out = gb.pp.filter_features(ad, min_prevalence=0.3, min_abundance=0.05)
    assert out.var_names.tolist() == ["w", "x", "y"]
    out = gb.pp.filter_features(ad, min_prevalence=0.5, min_abundance=0.0)
    assert out.var_names.tolist() == ["w", "x"]
    assert "relative" in out.layers and "clr" not in out.layers
    assert out.uns["filter_features"]["dropped_layers"] == ["clr"]
    assert out.uns["filter_features"]["removed"] == ["y", "z"]
    # percent input: same decisions as on the counts
    pct = new_adata(X / X.sum(axis=1, keepdims=True) * 100, obs_names=["a", "b", "c"],
                    var_names=list("wxyz"), unit="percent", reader="t")
    assert gb.pp.filter_features(pct, min_prevalence=0.3, min_abundance=0.05
                                 ).var_names.tolist() == ["w", "x", "y"]
    with pytest.raises(UnitError, match="holds clr"):
        gb.pp.filter_features(ad, layer="clr")
    with pytest.raises(DataValueError, match=r"min_prevalence must lie in \[0, 1\]"):
        gb.pp.filter_features(ad, min_prevalence=10)
    # provenance chain and h5ad round trip
    two = gb.pp.filter_features(gb.pp.filter_samples(ad, min_depth=1), min_prevalence=0.5)
    assert list(two.uns["gutbrain"]["steps"]) == ["000_filter_samples", "001_filter_features"]
    p = tmp_path / "f.h5ad"
    two.write_h5ad(p)
    back = anndata.read_h5ad(p)
    assert list(back.uns["gutbrain"]["steps"]) == ["000_filter_samples", "001_filter_features"]
    assert back.uns["filter_features"]["params"]["min_prevalence"] == 0.5
    np.testing.assert_array_equal(_dense(back.X), _dense(two.X))


def test_filter_samples_refuses_relative_depth_and_keeps_layers(tmp_path):
    X = np.array([[5, 5], [500, 500], [0, 2000]], dtype=float)
    ad = new_adata(X, obs_names=["low", "mid", "high"], var_names=["x", "y"], unit="counts",
                   reader="t")
    gb.pp.relative(ad)
    out = gb.pp.filter_samples(ad, min_depth=100)
    assert out.obs_names.tolist() == ["mid", "high"]
    assert out.uns["filter_samples"]["removed"] == ["low"]
    assert out.uns["filter_samples"]["depth_removed"] == [10.0]
    np.testing.assert_allclose(_dense(out.layers["relative"]), [[0.5, 0.5], [0.0, 1.0]])
    out2 = gb.pp.filter_samples(ad, max_zero_fraction=0.0)
    assert out2.obs_names.tolist() == ["low", "mid"]
    rel = new_adata(X / X.sum(1, keepdims=True), obs_names=["a", "b", "c"], var_names=["x", "y"],
                    unit="relative", reader="t")
    with pytest.raises(UnitError) as err:
        gb.pp.filter_samples(rel, min_depth=1000)
    msg = str(err.value)
    assert "\n" not in msg and "needs counts" in msg and "Fix:" in msg
    assert gb.pp.filter_samples(rel, min_depth=0.5).n_obs == 3  # a fraction is fine
    bad = new_adata(np.array([[1.0, -1.0]]), obs_names=["s"], var_names=["x", "y"],
                    unit="counts", reader="t")
    with pytest.raises(DataValueError, match="non-negative"):
        gb.pp.filter_samples(bad, min_depth=1)
    p = tmp_path / "s.h5ad"
    out.write_h5ad(p)
    assert anndata.read_h5ad(p).uns["filter_samples"]["removed"].tolist() == ["low"]


def test_filter_keeps_obs_metadata_and_var_taxonomy():
    ad = new_adata(np.array([[1, 0], [0, 0], [3, 4]], dtype=float), obs_names=list("abc"),
                   var_names=["x", "y"], unit="counts", reader="t",
                   obs=pd.DataFrame({"group": pd.Categorical(["u", "v", "u"])}),
                   var=pd.DataFrame({"genus": ["Roseburia", "Blautia"]}))
    out = gb.pp.filter_samples(ad, min_depth=1)
    assert out.obs["group"].tolist() == ["u", "u"]
    assert out.var["genus"].tolist() == ["Roseburia", "Blautia"]
    assert out.uns["gutbrain"]["reader"] == "t"
    assert "steps" not in ad.uns["gutbrain"]  # the input object is untouched
