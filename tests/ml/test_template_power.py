"""Template fitting recovers simulator parameters; power/FDR bookkeeping on planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu
from statsmodels.stats.multitest import multipletests

import gutbrain as gb
from gutbrain.datasets import fit_template, healthy_gut_template, simulate_cohort
from gutbrain.tl import power_analysis


@pytest.mark.parametrize("theta", [10.0, 60.0])
def test_fit_template_recovers_precision_and_depth(theta):
    tpl = healthy_gut_template(120)
    ad = simulate_cohort(tpl, n_samples=250, precision=theta, depth_median=15000, depth_sigma=0.3, seed=4)
    fit = fit_template(ad, rank=None)
    assert fit.attrs["precision"] == pytest.approx(theta, rel=0.15)
    assert fit.attrs["depth_median"] == pytest.approx(15000, rel=0.05)
    assert fit.attrs["depth_sigma"] == pytest.approx(0.3, rel=0.15)
    assert fit["mean_relative_abundance"].sum() == pytest.approx(1.0)
    m = tpl.set_index("genus").loc[fit["genus"], "mean_relative_abundance"].to_numpy()
    assert np.corrcoef(np.log(m), np.log(fit["mean_relative_abundance"]))[0, 1] > 0.9
    # round trip: tables simulated from the fit reproduce the observed prevalences
    ad2 = simulate_cohort(fit, n_samples=250, case_fraction=0.5, seed=5)
    fit2 = fit_template(ad2, rank=None).set_index("genus")
    diff = fit2["observed_prevalence"].reindex(fit["genus"]).fillna(0).to_numpy() - fit["observed_prevalence"].to_numpy()
    assert np.abs(diff).max() < 0.15


def test_fit_template_needs_counts():
    ad = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=30)
    ad.uns["gutbrain"]["X_unit"] = "relative"
    with pytest.raises(gb.UnitError):
        fit_template(ad, rank=None)


def test_simulate_cohort_dict_effects_record_truth_and_shift_taxon():
    tpl = healthy_gut_template(80)
    ad = simulate_cohort(tpl, n_samples=400, effects={"Faecalibacterium": -2.0},
                         confounders={"abx": {"prevalence": (0.1, 0.6), "effects": {"Bacteroides": -1.0}}}, seed=1,
                         key_added="simulation")
    truth = ad.uns["simulation"]["truth"]
    assert set(truth["taxon"]) == {"Faecalibacterium", "Bacteroides"}
    X = np.asarray(ad.X.toarray() if hasattr(ad.X, "toarray") else ad.X)
    P = X / X.sum(1, keepdims=True)
    j = list(ad.var_names).index("Faecalibacterium")
    case = (ad.obs["group"] == "case").to_numpy()
    lfc = np.log2(P[case, j].mean() / P[~case, j].mean())
    assert -2.6 < lfc < -1.0  # planted −2 on the Dirichlet parameter, attenuated by closure
    abx = ad.obs["abx"].to_numpy()
    assert abx[case].mean() > abx[~case].mean() + 0.3


def _wilcoxon(adata):
    X = np.asarray(adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X, dtype=float)
    P = X / X.sum(1, keepdims=True)
    case = (adata.obs["group"] == "case").to_numpy()
    keep = (X > 0).mean(0) >= 0.1
    p = mannwhitneyu(P[case][:, keep], P[~case][:, keep], axis=0).pvalue
    q = multipletests(p, method="fdr_bh")[1]
    coef = P[case][:, keep].mean(0) - P[~case][:, keep].mean(0)
    return pd.DataFrame({"feature": adata.var_names[keep], "coef": coef, "qval": q})


def test_power_grows_with_n_and_fdr_is_scored():
    tpl = healthy_gut_template(80)
    summ, reps = power_analysis(tpl, effect=2.0, n=(30, 120), n_replicates=3, n_changed=6,
                                methods=[_wilcoxon], method_names=["wilcoxon_scipy"], consensus=False)
    s = summ.set_index("n")
    assert s.loc[120, "power"] > s.loc[30, "power"]
    assert ((reps["tp"] + reps["fp"]) == reps["n_calls"]).all()
    assert np.allclose(reps["power"], reps["tp"] / 6)
    assert (summ["fdr"] <= 0.3).all()


def test_power_with_diff_abundance_methods_and_consensus():
    tpl = healthy_gut_template(60)
    summ, _ = power_analysis(tpl, effect=3.0, n=(80,), n_replicates=2, n_changed=4,
                             methods=("maaslin2", "wilcoxon"), seed=1)
    assert set(summ["method"]) == {"maaslin2", "wilcoxon", "consensus"}
    s = summ.set_index("method")
    assert s.loc["consensus", "mean_calls"] <= max(s.loc["maaslin2", "mean_calls"], s.loc["wilcoxon", "mean_calls"])
    assert s.loc["maaslin2", "power"] > 0.25


def test_power_plants_only_testable_taxa_and_reports_them():
    tpl = healthy_gut_template(80).copy()
    rare = tpl["prevalence"] < 0.3
    summ, reps = power_analysis(tpl, effect=2.0, n=(60,), n_replicates=3, n_changed=6,
                                methods=[_wilcoxon], method_names=["w"], consensus=False,
                                min_template_prevalence=0.0, min_prevalence=0.3)
    planted = {p.split(":")[0] for text in reps["planted"] for p in text.split(";")}
    assert len(planted) >= 6 and not planted & set(tpl.loc[rare, "genus"])  # filter floor applies
    assert reps["planted"].str.count(":").eq(6).all()
    assert reps["n_planted_tested"].between(0, 6).all()
    assert summ["planted_tested"].between(0, 1).all()
    assert summ["planted_tested"].iloc[0] == reps["n_planted_tested"].mean() / 6


def _two_dispersion_template(k=40, seed=0):
    rng = np.random.default_rng(seed)
    w = np.exp(rng.normal(0, 1, k))
    rho = np.where(np.arange(k) % 2 == 0, 0.01, 0.15)
    return pd.DataFrame({"genus": [f"t{i}" for i in range(k)], "mean_relative_abundance": w / w.sum(),
                         "prevalence": 1.0, "dispersion": rho}), rho


def test_per_taxon_dispersion_is_simulated_and_recovered():
    tpl, rho = _two_dispersion_template()
    kw = dict(n_samples=300, depth_median=50000, depth_sigma=0.3, precision=30.0, seed=2)
    fit = fit_template(simulate_cohort(tpl, **kw), rank=None).set_index("genus").loc[tpl["genus"]]
    r = fit["dispersion"].to_numpy()
    # method-of-moments estimates of each taxon's ρ_j (Mosimann 1962) recover the planted values
    assert np.median(r[rho == 0.01]) == pytest.approx(0.01, rel=0.4)
    assert np.median(r[rho == 0.15]) == pytest.approx(0.15, rel=0.4)
    assert (r[rho == 0.15].min() > r[rho == 0.01].max())
    # switched off: one Dirichlet precision θ = 30 → every ρ_j ≈ 1/(1 + θ)
    flat = fit_template(simulate_cohort(tpl, per_taxon_dispersion=False, **kw), rank=None)["dispersion"]
    assert np.median(flat) == pytest.approx(1 / 31, rel=0.2)
    assert flat.max() / flat.min() < 2.0


def test_fit_template_is_directly_a_simulate_cohort_template():
    tpl, _ = _two_dispersion_template()
    real = simulate_cohort(tpl, n_samples=200, depth_median=20000, depth_sigma=0.4, precision=30.0, seed=3)
    fit = fit_template(real, rank=None)
    cols = list(healthy_gut_template(50).columns)
    assert list(fit.columns[: len(cols)]) == cols
    assert not fit["synthetic_name"].any() and fit["source"].str.contains("200 samples").all()
    sim = simulate_cohort(fit, n_samples=200, effects={"t0": 1.5}, seed=4)
    p = sim.uns["gutbrain"]["params"]
    # the fitted precision and library sizes are picked up from attrs without template_params
    assert p["precision"] == pytest.approx(fit.attrs["precision"])
    assert p["depth_median"] == pytest.approx(fit.attrs["depth_median"])
    assert sim.uns["cohort_simulation"]["params"]["per_taxon_dispersion"] is True
    assert np.median(sim.obs["true_depth"]) == pytest.approx(fit.attrs["depth_median"], rel=0.1)
    # round trip: the refit keeps the taxa's dispersion ranking
    refit = fit_template(sim[sim.obs["group"] == "control"].copy(), rank=None).set_index("genus")
    a = fit.set_index("genus")["dispersion"]
    b = refit["dispersion"].reindex(a.index)
    ok = a.notna() & b.notna()
    assert pd.Series(a[ok]).corr(pd.Series(b[ok]), method="spearman") > 0.6
