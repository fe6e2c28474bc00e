from __future__ import annotations

import anndata
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from skbio.stats import subsample_counts
from skbio.stats.composition import closure as sk_closure

import gutbrain as gb
from gutbrain import DataValueError, UnitError
from gutbrain._core import new_adata
from gutbrain.testing.strategies import count_adatas

FAST = settings(max_examples=40, deadline=None)


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M)


# ----------------------------------------------------------------------------- relative
@FAST
@given(count_adatas())
def test_relative_rows_sum_to_one_and_match_skbio(ad):
    gb.pp.relative(ad)
    R = _dense(ad.layers["relative"])
    X = _dense(ad.X)
    tot = X.sum(axis=1)
    np.testing.assert_allclose(R.sum(axis=1)[tot > 0], 1.0, atol=1e-12)
    assert (R[tot == 0] == 0).all()  # documented: all-zero samples stay zero
    if (tot > 0).any():
        np.testing.assert_allclose(R[tot > 0], sk_closure(X[tot > 0]), atol=1e-14)
    assert sp.issparse(ad.layers["relative"]) == sp.issparse(ad.X)
    assert ad.uns["gutbrain"]["layer_units"]["relative"] == "relative"
    assert ad.uns["relative"]["zero_samples"] == ad.obs_names[tot == 0].tolist()


def test_relative_refuses_transformed_and_h5ad_round_trip(tmp_path):
    ad = new_adata(np.array([[1.0, 3.0], [0.0, 0.0]]), obs_names="ab", var_names="xy",
                   unit="percent", reader="t")
    gb.pp.relative(ad, key_added="rel")
    np.testing.assert_allclose(_dense(ad.layers["rel"]), [[0.25, 0.75], [0, 0]])
    p = tmp_path / "r.h5ad"
    ad.write_h5ad(p)
    back = anndata.read_h5ad(p)
    np.testing.assert_allclose(_dense(back.layers["rel"]), [[0.25, 0.75], [0, 0]])
    assert back.uns["gutbrain"]["layer_units"]["rel"] == "relative"
    ad.uns["gutbrain"]["X_unit"] = "clr"
    with pytest.raises(UnitError, match="holds clr"):
        gb.pp.relative(ad)
    with pytest.raises(DataValueError, match="layer 'nope' not found"):
        gb.pp.relative(ad, layer="nope")


# ----------------------------------------------------------------------------- rarefy
@FAST
@given(count_adatas(max_count=200), st.integers(1, 400), st.booleans(), st.integers(0, 2**31))
def test_rarefy_rows_sum_to_depth_and_never_increase(ad, depth, replace, seed):
    X = _dense(ad.X)
    out = gb.pp.rarefy(ad, depth=depth, random_state=seed, replace=replace)
    R = _dense(out.X)
    keep = X.sum(axis=1) >= depth
    assert out.obs_names.tolist() == ad.obs_names[keep].tolist()
    assert out.uns["rarefy"]["dropped"] == ad.obs_names[~keep].tolist()
    np.testing.assert_array_equal(R.sum(axis=1), np.full(keep.sum(), depth))
    assert (R >= 0).all() and (R == np.round(R)).all()
    if not replace:
        assert (R <= X[keep]).all()
    else:
        assert ((R > 0) <= (X[keep] > 0)).all()  # only observed features are drawn
    again = gb.pp.rarefy(ad, depth=depth, random_state=seed, replace=replace)
    np.testing.assert_array_equal(_dense(again.X), R)  # seeded: reproducible


def _moments(draws):
    return draws.mean(axis=0), draws.var(axis=0)


def test_rarefy_distribution_matches_skbio_subsample_counts():
    """Means and variances of 3000 draws vs skbio and the hypergeometric formulas."""
    counts = np.array([500, 250, 120, 80, 40, 8, 2, 0], dtype=np.int64)
    N, n, reps = counts.sum(), 300, 3000
    ad = new_adata(np.tile(counts, (reps, 1)), obs_names=[f"s{i}" for i in range(reps)],
                   var_names=[f"f{j}" for j in range(counts.size)], unit="counts", reader="t")
    ours = _dense(gb.pp.rarefy(ad, depth=n, random_state=1).X)
    theirs = np.array([subsample_counts(counts, n, seed=i) for i in range(reps)])
    p = counts / N
    mean_theory = n * p
    var_theory = n * p * (1 - p) * (N - n) / (N - 1)  # hypergeometric
    for draws in (ours, theirs):
        m, v = _moments(draws)
        se = np.sqrt(var_theory / reps)
        assert (np.abs(m - mean_theory) <= 5 * se + 1e-12).all()
        np.testing.assert_allclose(v, var_theory, rtol=0.15, atol=0.05)
    # and against each other (two-sample z on the means)
    se2 = np.sqrt(2 * var_theory / reps) + 1e-12
    assert (np.abs(ours.mean(0) - theirs.mean(0)) <= 5 * se2).all()
    # with replacement: multinomial variance n p (1 - p)
    wr = _dense(gb.pp.rarefy(ad, depth=n, random_state=2, replace=True).X)
    np.testing.assert_allclose(wr.var(axis=0), n * p * (1 - p), rtol=0.15, atol=0.05)


def test_rarefy_bad_input_is_one_line_with_fix(tmp_path):
    rel = new_adata(np.array([[0.5, 0.5]]), obs_names=["s"], var_names=["x", "y"],
                    unit="relative", reader="t")
    with pytest.raises(UnitError) as err:
        gb.pp.rarefy(rel, depth=10)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("rarefy needs counts values, but X holds relative")
    assert "Fix: provide a count table" in msg
    frac = new_adata(np.array([[1.5, 2.0]]), obs_names=["s"], var_names=["x", "y"],
                     unit="counts", reader="t")
    with pytest.raises(DataValueError, match="integer counts"):
        gb.pp.rarefy(frac, depth=1)
    ok = new_adata(np.array([[10, 5], [1, 0]]), obs_names=["a", "b"], var_names=["x", "y"],
                   unit="counts", reader="t", sparse=True)
    for bad_depth in (0, 2.5, -1):
        with pytest.raises(DataValueError, match="positive integer"):
            gb.pp.rarefy(ok, depth=bad_depth)
    gb.pp.relative(ok)
    out = gb.pp.rarefy(ok, depth=5)
    assert out.obs_names.tolist() == ["a"]
    assert "relative" not in out.layers
    assert out.uns["rarefy"]["params"]["random_state"] == 0
    assert list(out.uns["gutbrain"]["steps"]) == ["000_rarefy"]
    p = tmp_path / "rf.h5ad"
    out.write_h5ad(p)
    back = anndata.read_h5ad(p)
    assert back.uns["rarefy"]["dropped"].tolist() == ["b"]
    assert _dense(back.X).sum() == 5
