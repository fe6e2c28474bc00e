"""PERMANOVA / ANOSIM / PERMDISP vs skbio.stats.distance (same permutations), alpha group tests vs SciPy."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform

import gutbrain as gb
import gutbrain.tl as tl
from gutbrain import DataValueError, MetadataMismatchError
from gutbrain._core import new_adata


def _giloteaux(shared):
    d = shared / "data" / "giloteaux2016_mecfs_16s"
    ft = pd.read_csv(d / "feature_table.tsv", sep="\t", skiprows=1, index_col=0).T
    meta = pd.read_csv(d / "sample-metadata.tsv", sep="\t", index_col=0).loc[ft.index]
    return squareform(pdist(ft.to_numpy(float), "braycurtis")), meta["Subject"].to_numpy()


def _sk(fn, D, labels, **kw):
    from skbio import DistanceMatrix

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(DistanceMatrix(D), labels, **kw)


@pytest.mark.shared
def test_permanova_anosim_equal_skbio_on_giloteaux(shared):
    from skbio.stats.distance import anosim, permanova

    D, labels = _giloteaux(shared)
    for ours_fn, ref_fn in ((tl.permanova_kernel, permanova), (tl.anosim_kernel, anosim)):
        ours = ours_fn(D, labels, permutations=199, random_state=7)
        kw = {"engine": "cython"} if ref_fn is permanova else {}  # skip skbio's numba JIT (slow first call)
        ref = _sk(ref_fn, D, labels, permutations=199, seed=7, **kw)
        assert ours["test statistic"] == pytest.approx(ref["test statistic"], rel=1e-10)
        assert ours["p-value"] == ref["p-value"]  # same permutations → same p-value


@pytest.mark.shared
@pytest.mark.parametrize("test,rtol", [("centroid", 1e-10), ("median", 1e-10)])  # same Weiszfeld rule as skbio
def test_permdisp_equals_skbio(shared, test, rtol):
    from skbio.stats.distance import permdisp

    D, labels = _giloteaux(shared)
    ours = tl.permdisp_kernel(D, labels, test=test, permutations=99, random_state=3)
    ref = _sk(permdisp, D, labels, test=test, permutations=99, seed=3, engine="cython")
    assert ours["test statistic"] == pytest.approx(ref["test statistic"], rel=rtol)
    assert ours["p-value"] == ref["p-value"]


def test_three_groups_random_data_equal_skbio():
    from skbio.stats.distance import anosim, permanova

    rng = np.random.default_rng(5)
    D = squareform(pdist(rng.normal(size=(40, 4))))
    labels = rng.choice(["x", "y", "z"], 40)
    for ours_fn, ref_fn in ((tl.permanova_kernel, permanova), (tl.anosim_kernel, anosim)):
        ours = ours_fn(D, labels, permutations=300, random_state=11)
        kw = {"engine": "cython"} if ref_fn is permanova else {}
        ref = _sk(ref_fn, D, labels, permutations=300, seed=11, **kw)
        assert ours["test statistic"] == pytest.approx(ref["test statistic"], rel=1e-10)
        assert ours["p-value"] == ref["p-value"]
        assert ours["number of groups"] == 3


def test_many_row_blocks_equal_skbio():
    """n ≥ 512: the product runs in several row blocks on the worker threads, 3 groups, 2 batches."""
    from skbio.stats.distance import permanova

    rng = np.random.default_rng(8)
    n = 700
    D = squareform(pdist(rng.normal(size=(n, 5))))
    labels = rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2])
    ours = tl.permanova_kernel(D, labels, permutations=299, random_state=4)
    ref = _sk(permanova, D, labels, permutations=299, seed=4, engine="cython")
    assert ours["test statistic"] == pytest.approx(ref["test statistic"], rel=1e-10)
    assert ours["p-value"] == ref["p-value"]


def test_compiled_draws_are_numpys_permutations():
    """The compiled Fisher–Yates draws exactly what ``rng.permutation`` draws, and leaves the
    generator in the same state (a user's Generator continues identically)."""
    from gutbrain.tl._stats import _labellings

    codes = np.random.default_rng(1).integers(0, 3, 301)
    for make in (lambda: np.random.default_rng(9), lambda: np.random.Generator(np.random.MT19937(9))):
        ours_rng, ref_rng = make(), make()
        ours = np.concatenate(list(_labellings(codes, 300, ours_rng, batch=128)))
        ref = np.array([codes] + [ref_rng.permutation(codes) for _ in range(300)])
        np.testing.assert_array_equal(ours, ref)
        assert ours_rng.random() == ref_rng.random()


def test_non_finite_distances_refused():
    D = squareform(pdist(np.random.default_rng(3).normal(size=(12, 3))))
    D[2, 5] = D[5, 2] = np.nan
    with pytest.raises(DataValueError, match="NaN or infinite"):
        tl.permanova_kernel(D, ["a", "b"] * 6, permutations=9)


def _adata():
    rng = np.random.default_rng(2)
    X = rng.poisson(np.r_[np.full(10, 2.0), np.full(10, 6.0)][:, None] * rng.gamma(1, 1, 15), size=(20, 15)) + 1
    obs = pd.DataFrame({"g": ["a"] * 10 + ["b"] * 10, "one": ["x"] * 20})
    return new_adata(X.astype(float), obs_names=[f"s{i}" for i in range(20)],
                     var_names=[f"f{i}" for i in range(15)], unit="counts", reader="test", obs=obs)


def test_wrappers_store_results_and_validate():
    ad = _adata()
    res = tl.permanova(ad, distance="braycurtis", groupby="g", n_permutations=99)
    stored = ad.uns["permanova"]["braycurtis"]
    assert stored["statistic"] == res["test statistic"] and stored["permutations"] == 99
    ref = tl.permanova_kernel(ad.obsp["braycurtis"], ad.obs["g"].to_numpy(), permutations=99, random_state=0)
    assert res["p-value"] == ref["p-value"]
    tl.permdisp(ad, groupby="g", n_permutations=19)
    tl.anosim(ad, groupby="g", n_permutations=19)
    assert {"permdisp", "anosim"} <= set(ad.uns)
    with pytest.raises(MetadataMismatchError):
        tl.permanova(ad, groupby="missing")
    with pytest.raises(DataValueError, match="fewer than two groups"):
        tl.permanova(ad, groupby="one")


def test_alpha_group_test_equals_scipy():
    from scipy.stats import kruskal, mannwhitneyu
    from statsmodels.stats.multitest import multipletests

    ad = _adata()
    ad.obs["g3"] = (["a"] * 7 + ["b"] * 7 + ["c"] * 6)
    df = tl.alpha_group_test(ad, metric="shannon", groupby="g3")
    vals = ad.obs["shannon"].to_numpy()
    groups = {k: vals[ad.obs["g3"].to_numpy() == k] for k in "abc"}
    assert df.loc["all", "p_value"] == pytest.approx(kruskal(*groups.values()).pvalue, rel=1e-12)
    pairs = [("a", "b"), ("a", "c"), ("b", "c")]
    ps = [mannwhitneyu(groups[a], groups[b], alternative="two-sided").pvalue for a, b in pairs]
    qs = multipletests(ps, method="fdr_bh")[1]
    for (a, b), p, q in zip(pairs, ps, qs):
        assert df.loc[f"{a} vs {b}", "p_value"] == pytest.approx(p, rel=1e-12)
        assert df.loc[f"{a} vs {b}", "q_value"] == pytest.approx(q, rel=1e-12)
    assert "shannon" in ad.uns["alpha_group_test"]


def test_run_steps_and_sections_on_demo():
    from gutbrain.report import SECTIONS
    from gutbrain.workflow import RunConfig
    from gutbrain.workflow import _steps as steps

    ad = gb.datasets.demo_cohort(0, n_samples=60, n_genera=80)
    ad, cfg = RunConfig.create(group="group").resolve(ad)
    ad.uns["workflow"] = {"group": cfg.plan.as_dict()}
    steps.alpha_diversity(ad, cfg)
    steps.beta_diversity(ad, cfg)
    assert {"shannon", "chao1", "pielou_e"} <= set(ad.obs.columns)
    assert ad.obsm["X_pcoa"].shape[0] == 60 and "aitchison" in ad.uns["permanova"]
    a = dict(SECTIONS)["alpha_diversity"](ad, {})
    b = dict(SECTIONS)["beta_diversity"](ad, {})
    assert a.order == 30 and b.order == 40
    assert a.figures and a.figures[0].svg.startswith("<svg") and b.figures
    perm = b.tables[0][1]
    assert set(perm["test"]) == {"PERMANOVA", "PERMDISP"}
    assert perm.loc[perm["distance"].eq("braycurtis") & perm["test"].eq("PERMANOVA"), "value"].iloc[0] == \
        pytest.approx(ad.uns["permanova"]["braycurtis"]["statistic"])
