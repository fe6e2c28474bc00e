"""Taxon × metabolite associations: parity with statsmodels/scipy, mixed models, planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import gutbrain as gb
from gutbrain import DataValueError
from gutbrain.tl._da import bh_adjust
from gutbrain.tl._da_lm import lmm_reml
from gutbrain.tl._metabolites import associate_kernel, taxa_log_ratios
from tests.conftest import shared_path


def _cohort(n=80, T=12, seed=0, effect=0.8, subjects=None):
    """Counts with a planted association: ln(metabolite 'M0') rises with the CLR of taxon 3."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, size=(n, T))
    counts = rng.poisson(np.exp(base + 3)).astype(float)
    clr = taxa_log_ratios(counts, unit="counts")
    y0 = 2.0 + effect * clr[:, 3] + rng.normal(0, 0.4, n)
    y1 = rng.normal(1.0, 0.5, n)
    if subjects is not None:
        u = rng.normal(0, 0.8, subjects.max() + 1)
        y0 = y0 + u[subjects]
        y1 = y1 + u[subjects]
    names = [f"d__Bacteria;g__Genus{j}" for j in range(T)]
    ad = gb._core.new_adata(counts, obs_names=[f"s{i}" for i in range(n)], var_names=names,
                            unit="counts", reader="test")
    ad.var["genus"] = [f"Genus{j}" for j in range(T)]
    ad.obs["age"] = rng.normal(50, 10, n)
    if subjects is not None:
        ad.obs["subject"] = pd.Categorical([f"p{s}" for s in subjects])
    mtb = pd.DataFrame({"M0": np.exp(y0), "M1": np.exp(y1)}, index=ad.obs_names)
    mtb.iloc[:5, 1] = np.nan  # a second missingness pattern
    return gb.io.attach_metabolites(ad, mtb), clr


def test_fixed_effects_equal_statsmodels_per_pair():
    rng = np.random.default_rng(1)
    n, T, M = 60, 5, 4
    X = rng.normal(size=(n, T))
    Y = rng.normal(size=(n, M)) + 0.3 * X[:, [0]]
    Y[rng.random((n, M)) < 0.15] = np.nan
    cov = rng.normal(size=(n, 2))
    C = np.column_stack([np.ones(n), cov])
    fit = associate_kernel(X, Y, C=C)
    for t in range(T):
        for m in range(M):
            ok = np.isfinite(Y[:, m])
            ref = sm.OLS(Y[ok, m], np.column_stack([C[ok], X[ok, t]])).fit()
            np.testing.assert_allclose(fit["coef"][t, m], ref.params[-1], rtol=1e-9)
            np.testing.assert_allclose(fit["stderr"][t, m], ref.bse[-1], rtol=1e-9)
            np.testing.assert_allclose(fit["pval"][t, m], ref.pvalues[-1], rtol=1e-8)
            assert fit["N"][t, m] == ok.sum()


def test_spearman_equals_scipy_and_rho_formula():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    Y = np.exp(rng.normal(size=(40, 2)) + X[:, :2])
    fit = associate_kernel(X, Y, method="spearman", proportionality=True)
    for t in range(3):
        for m in range(2):
            r, p = stats.spearmanr(X[:, t], Y[:, m])
            np.testing.assert_allclose(fit["r"][t, m], r, rtol=1e-10)
            np.testing.assert_allclose(fit["pval"][t, m], p, rtol=1e-8)
            a, b = X[:, t], Y[:, m]
            rho = 1 - np.var(a - b, ddof=1) / (np.var(a, ddof=1) + np.var(b, ddof=1))
            np.testing.assert_allclose(fit["rho"][t, m], rho, rtol=1e-10)


def test_mixed_approximate_tracks_exact_reml():
    subjects = np.repeat(np.arange(20), 4)
    ad, _clr = _cohort(n=80, subjects=subjects, seed=3)
    approx = gb.tl.metabolite_associations(ad, groups="subject", key_added="a")
    exact = gb.tl.metabolite_associations(ad, groups="subject", mixed="exact", key_added="e")
    key = ["taxon", "metabolite"]
    m = approx.merge(exact, on=key, suffixes=("_a", "_e"))
    # the null-model variance ratio is exact when a taxon explains little variance
    np.testing.assert_allclose(m["coef_a"], m["coef_e"], atol=0.02)
    assert np.corrcoef(m["t_a"], m["t_e"])[0, 1] > 0.99
    top = approx.iloc[0]
    assert (top["taxon"], top["metabolite"]) == ("Genus3", "M0") and top["qval"] < 1e-6
    assert approx["method"].iloc[0] == "lm+approximate" and exact["method"].iloc[0] == "lm+exact"


def test_exact_equals_lmm_reml_directly():
    subjects = np.repeat(np.arange(10), 3)
    ad, _ = _cohort(n=30, T=6, subjects=subjects, seed=4)
    res = gb.tl.metabolite_associations(ad, groups="subject", mixed="exact", metabolites=["M0"],
                                        min_prevalence=0.0)
    counts = gb._core.get_matrix(ad)
    Z = taxa_log_ratios(counts, unit="counts")
    y = np.log(ad.obsm["metabolites"]["M0"].to_numpy())
    g = pd.factorize(ad.obs["subject"].astype(str), sort=True)[0]
    fit = lmm_reml(np.column_stack([np.ones(30), Z[:, 2]]), y[:, None], [g])
    row = res[res["taxon"] == "Genus2"].iloc[0]
    np.testing.assert_allclose(row["coef"], fit["coef"][1, 0], rtol=1e-9)
    np.testing.assert_allclose(row["pval"], fit["pval"][1, 0], rtol=1e-7)


def test_whitening_is_the_inverse_square_root_of_the_random_intercept_covariance():
    from gutbrain.tl._metabolites import _whiten

    rng = np.random.default_rng(5)
    codes = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    M = rng.normal(size=(10, 3))
    theta = 0.9
    Z = np.eye(4)[codes]
    V = np.eye(10) + theta**2 * Z @ Z.T
    w, U = np.linalg.eigh(V)
    Vm12 = U @ np.diag(w**-0.5) @ U.T
    sizes = np.bincount(codes).astype(float)
    c = 1.0 - 1.0 / np.sqrt(1.0 + theta**2 * sizes)
    np.testing.assert_allclose(_whiten(M, codes, sizes, c), Vm12 @ M, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_whiten(M, codes, sizes, np.zeros(4)), M)  # theta = 0: OLS


def test_planted_association_covariates_and_bh_over_all_pairs():
    ad, _ = _cohort(n=100, seed=6)
    res = gb.tl.metabolite_associations(ad, formula="~ age", proportionality=True)
    top = res.iloc[0]
    assert (top["taxon"], top["metabolite"]) == ("Genus3", "M0")
    assert top["coef"] == pytest.approx(0.8, abs=0.15) and top["qval"] < 1e-10
    np.testing.assert_allclose(res["qval"], bh_adjust(res["pval"].to_numpy()), rtol=1e-12)
    assert len(res) == 12 * 2 and set(res.columns) >= {"rho", "N.not.0", "metabolite_name", "class"}
    assert res.loc[res["metabolite"] == "M1", "N"].eq(95).all()  # 5 unmeasured samples left out
    prm = ad.uns["metabolite_associations"]["params"]
    assert prm["covariates"] == ["age"] and prm["metabolite_transform"] == "log"
    null = res[res["metabolite"] == "M1"]
    assert (null["qval"] < 0.05).sum() == 0


def test_alr_drops_the_reference_and_spearman_refuses_covariates():
    ad, _ = _cohort(n=60, seed=7)
    res = gb.tl.metabolite_associations(ad, taxa_transform="alr", reference="Genus0")
    assert "Genus0" not in set(res["taxon"].astype(str)) and len(res) == 11 * 2
    assert ad.uns["metabolite_associations"]["params"]["reference"] == "Genus0"
    with pytest.raises(DataValueError, match="spearman"):
        gb.tl.metabolite_associations(ad, method="spearman", formula="~ age")
    with pytest.raises(DataValueError, match="min_prevalence"):
        gb.tl.metabolite_associations(ad, min_prevalence=2.0)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 1e4), st.integers(0, 2**31 - 1))
def test_clr_is_scale_invariant_and_centred(scale, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(6, 0.7), size=5)
    P[0, 0] = 0.0
    a = taxa_log_ratios(P, unit="relative")
    b = taxa_log_ratios(P * scale, unit="relative")
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.sum(axis=1), 0.0, atol=1e-9)


@pytest.mark.shared
@pytest.mark.validation(quantity="Roseburia CLR vs faecal NMR butyrate, subject random intercept: coefficient", source="Mars et al. 2020 (data); Roseburia a butyrate producer (Louis & Flint 2009)", doi="10.1016/j.cell.2020.08.007", tolerance="coef > 0 and q < 1e-6")
def test_mars_roseburia_tracks_butyrate_within_subjects(validation):
    d = shared_path("data", "mars2020_ibs_longitudinal")
    ad = gb.io.read(d / "genera.counts.tsv.gz")
    ad = gb.io.attach_metadata(ad, gb.io.read_metadata(d / "metadata.tsv", id_column="Sample"))
    ad = gb.io.attach_metabolites(ad, d / "mtb.tsv", map=d / "mtb.map.tsv")
    res = gb.tl.metabolite_associations(ad, groups="Subject", metabolites=["Butyrate", "Acetate"])
    row = res[(res["taxon"] == "Roseburia") & (res["metabolite"] == "NMR_Butyrate")].iloc[0]
    validation.record(row["coef"], "> 0", note=f"q = {row['qval']:.2g}")
    # Roseburia is a cited butyrate producer (Louis & Flint 2009); positive after subject effects
    assert row["coef"] > 0 and row["qval"] < 1e-6
    assert ad.uns["metabolite_associations"]["params"]["n_taxa"] > 500


def test_all_pairs_gls_equals_whitening_each_metabolite():
    from gutbrain.tl._metabolites import _fe_stats, _gls_stats, _residualise, _whiten

    rng = np.random.default_rng(8)
    n, T, M = 45, 6, 4
    codes = np.repeat(np.arange(15), 3)
    X = rng.normal(size=(n, T))
    Y = rng.normal(size=(n, M)) + rng.normal(size=15)[codes][:, None]
    C = np.column_stack([np.ones(n), rng.normal(size=n)])
    theta = np.array([0.0, 0.4, 1.1, 3.0])
    fast = _gls_stats(X, Y, C, codes, theta, n - 3.0)
    sizes = np.bincount(codes).astype(float)
    for k in range(M):
        c = 1.0 - 1.0 / np.sqrt(1.0 + theta[k] ** 2 * sizes)
        Xr, yr = _residualise(_whiten(C, codes, sizes, c), _whiten(X, codes, sizes, c),
                              _whiten(Y[:, [k]], codes, sizes, c))
        ref = _fe_stats(Xr, yr, n - 3.0)
        for key in ("coef", "stderr", "t", "r"):
            np.testing.assert_allclose(fast[key][:, k], ref[key][:, 0], rtol=1e-9)
