"""The synthetic demo cohort and its simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import entropy, spearmanr
from skbio.diversity.alpha import shannon as skbio_shannon

import gutbrain as gb
from gutbrain.datasets import healthy_gut_template, simulate_cohort


def _dense(adata):
    X = adata.X
    return X.toarray() if sp.issparse(X) else np.asarray(X)


@pytest.fixture(scope="module")
def demo():
    return gb.datasets.demo_cohort(seed=0)


@pytest.fixture(scope="module")
def big():
    # a large cohort for effect recovery (simulation is vectorised: ~0.2 s)
    return gb.datasets.demo_cohort(seed=1, n_samples=1600)


def test_shape_units_and_labels(demo):
    assert demo.shape == (200, 300)
    prov = demo.uns["gutbrain"]
    assert prov["X_unit"] == "counts"
    assert prov["synthetic"] is True
    assert prov["reader"] == "demo_cohort"
    assert prov["params"]["seed"] == 0
    X = _dense(demo)
    assert (X >= 0).all() and np.array_equal(X, np.rint(X))
    # library sizes are the multinomial totals
    np.testing.assert_array_equal(X.sum(axis=1), demo.obs["true_depth"].to_numpy())
    assert "SYNTHETIC" in demo.uns["demo"]["description"]


def test_same_seed_identical_different_seed_differs(demo):
    again = gb.datasets.demo_cohort(seed=0)
    np.testing.assert_array_equal(_dense(again), _dense(demo))
    pd.testing.assert_frame_equal(again.obs, demo.obs)
    pd.testing.assert_frame_equal(again.var, demo.var)
    pd.testing.assert_frame_equal(
        again.uns["demo"]["planted_effects"], demo.uns["demo"]["planted_effects"]
    )
    other = gb.datasets.demo_cohort(seed=1)
    assert not np.array_equal(_dense(other), _dense(demo))
    assert not other.obs["age"].equals(demo.obs["age"])


def test_sparsity_and_depth_realistic(demo):
    X = _dense(demo)
    zeros = float((X == 0).mean())
    assert 0.60 <= zeros <= 0.85
    depth = X.sum(axis=1)
    # log-normal, median 30,000 reads (σ = 0.5): the sample median of 200 is within ±15 %
    assert 25_500 <= np.median(depth) <= 34_500
    # log-depth SD close to σ = 0.5 once the two planted failed libraries are removed
    ok = depth >= 1000
    assert (~ok).sum() == 2
    assert 0.4 <= np.std(np.log(depth[ok])) <= 0.6


def test_covariates(demo):
    obs = demo.obs
    assert list(obs["group"].cat.categories) == ["control", "chronic_pain"]
    assert (obs["group"] == "chronic_pain").sum() == 100
    for med in ("opioid", "nsaid", "antidepressant", "gabapentinoid", "ppi", "antibiotic_3mo"):
        assert obs[med].dtype == bool
    assert obs["pain_score"].between(0, 10).all()
    assert pd.api.types.is_integer_dtype(obs["pain_score"])
    case = obs["group"] == "chronic_pain"
    assert obs.loc[case, "pain_score"].mean() - obs.loc[~case, "pain_score"].mean() > 3.0
    assert obs.loc[case, "opioid"].mean() > obs.loc[~case, "opioid"].mean()
    assert obs["subject"].is_unique
    assert obs["age"].between(18, 85).all() and obs["bmi"].between(16, 50).all()


def test_template_cites_sources_and_sums_to_one():
    t = healthy_gut_template(300)
    assert len(t) == 300
    assert abs(t["mean_relative_abundance"].sum() - 1.0) < 1e-12
    named = t[~t["synthetic_name"]]
    assert len(named) >= 30
    assert named["source"].str.startswith("doi:10.").all()
    assert t["genus"].iloc[0] == "Bacteroides"  # the most abundant genus in the cited cohorts
    assert t.loc[t["synthetic_name"], "genus"].str.startswith("Synthetic_genus_").all()
    # the synthetic tail is capped (0.25 %) so the top of the ranking is the named genera
    tail = t.loc[t["synthetic_name"], "mean_relative_abundance"]
    assert tail.max() <= 0.0025 * 1.0001
    top30 = t.sort_values("mean_relative_abundance", ascending=False, kind="stable")["genus"]
    assert not top30.iloc[:30].str.startswith("Synthetic_").any()
    assert tail.is_monotonic_decreasing
    # the Methanobrevibacter row is archaeal
    assert t.set_index("genus").loc["Methanobrevibacter", "domain"] == "Archaea"


def _log2_ratio(adata, genus, mask):
    X = _dense(adata)
    rel = X / X.sum(axis=1, keepdims=True)
    j = list(adata.var_names).index(genus)
    return float(np.log2(rel[mask, j].mean() / rel[~mask, j].mean()))


def test_planted_case_effects_are_recovered(big):
    case = (big.obs["group"] == "chronic_pain").to_numpy()
    eff = big.uns["demo"]["planted_effects"].set_index("genus")
    for genus, tsv in (("Faecalibacterium", -1.0), ("Roseburia", -1.5)):  # datasets/data/demo_effects.tsv
        planted = float(eff.loc[genus, "log2_fold_change"])
        assert planted == tsv
        # var["planted_log2fc"]: the truth per feature, the planted value averaged over cases
        assert abs(float(big.var.loc[big.var["genus"] == genus, "planted_log2fc"].iloc[0]) - planted) < 0.1
        # attenuated by closure and by the per-case severity scaling (see _demo docstring)
        assert planted - 0.1 < _log2_ratio(big, genus, case) < planted + 0.5, genus
    assert _log2_ratio(big, "Eggerthella", case) > 0.5
    # Lachnospiraceae (named genera of the family) lower in cases
    X = _dense(big)
    rel = X / X.sum(axis=1, keepdims=True)
    lachno = (big.var["family"] == "Lachnospiraceae").to_numpy() & ~big.var["synthetic_name"].to_numpy()
    assert rel[case][:, lachno].sum(1).mean() < rel[~case][:, lachno].sum(1).mean()
    # PPI users carry more Streptococcus and Veillonella (Imhann 2016)
    ppi = big.obs["ppi"].to_numpy()
    assert _log2_ratio(big, "Streptococcus", ppi) > 0.7
    assert _log2_ratio(big, "Veillonella", ppi) > 0.4
    # an unaffected genus moves only through closure (freed tail mass), less than planted ones
    assert abs(_log2_ratio(big, "Bacteroides", case)) < 0.5


def test_shannon_lower_in_cases_against_scipy_and_skbio(big):
    X = _dense(big)
    H = entropy(X, axis=1)  # natural log
    sk = np.array([skbio_shannon(row.astype(int), base=np.e) for row in X[:50]])
    np.testing.assert_allclose(H[:50], sk, rtol=1e-10)
    case = (big.obs["group"] == "chronic_pain").to_numpy()
    diff = H[case].mean() - H[~case].mean()
    assert diff < 0
    # standardised mean difference of a plausible size (meta-analysis SMD −0.27; demo stronger)
    smd = diff / H.std(ddof=1)
    assert -1.5 < smd < -0.2
    # genus-level Shannon of healthy adults is typically 2–4 nats
    assert 2.0 < np.median(H[~case]) < 4.0


def test_pain_score_relates_weakly_to_planted_taxa(big):
    case = (big.obs["group"] == "chronic_pain").to_numpy()
    obs = big.obs[case]
    rho_sev = spearmanr(obs["severity"], obs["pain_score"]).statistic
    assert rho_sev > 0.5
    X = _dense(big)[case]
    rel = X / X.sum(axis=1, keepdims=True)
    j = list(big.var_names).index("Faecalibacterium")
    rho = spearmanr(rel[:, j], obs["pain_score"]).statistic
    assert -0.5 < rho < 0


def test_simulate_cohort_general_use():
    t = healthy_gut_template(60)
    cov = pd.DataFrame({"arm": ["a", "b"] * 50}, index=[f"s{i}" for i in range(100)])
    eff = pd.DataFrame(
        {"genus": ["Akkermansia"], "log2_fold_change": [3.0], "factor": ["arm"], "level": ["b"]}
    )
    ad = simulate_cohort(t, effects=eff, covariates=cov, seed=5, depth_median=5000)
    assert ad.shape == (100, 60)
    assert ad.uns["gutbrain"]["synthetic"] is True
    assert ad.uns["gutbrain"]["params"]["seed"] == 5
    b = (cov["arm"] == "b").to_numpy()
    assert _log2_ratio(ad, "Akkermansia", b) > 1.5
    with pytest.raises(gb.GutbrainError, match="not in the template"):
        simulate_cohort(t, effects=eff.assign(genus="Nonexistium"), covariates=cov)
    with pytest.raises(gb.GutbrainError, match="covariate"):
        simulate_cohort(t, effects=eff.assign(factor="nope"), covariates=cov)


def test_dict_effects_on_a_named_factor_and_the_table_form_agree():
    t = healthy_gut_template(60)
    cov = pd.DataFrame({"ppi": [False, True] * 150}, index=[f"s{i}" for i in range(300)])
    # dict form: level defaults to True for a boolean factor
    a = simulate_cohort(t, effects={"Streptococcus": 2.0}, factor="ppi", covariates=cov, seed=8)
    tab = pd.DataFrame({"genus": ["Streptococcus"], "log2_fold_change": [2.0], "factor": ["ppi"],
                        "level": ["True"]})
    b = simulate_cohort(t, effects=tab, covariates=cov, seed=8)
    np.testing.assert_array_equal(_dense(a), _dense(b))
    assert _log2_ratio(a, "Streptococcus", cov["ppi"].to_numpy()) > 1.0
    truth = a.uns["cohort_simulation"]["truth"]
    assert truth[["taxon", "factor", "level"]].values.tolist() == [["Streptococcus", "ppi", "True"]]
    with pytest.raises(gb.GutbrainError, match="not among"):
        simulate_cohort(t, effects={"Streptococcus": 2.0}, factor="nope", covariates=cov)
    with pytest.raises(gb.GutbrainError, match="case level"):
        simulate_cohort(t, effects={"Streptococcus": 2.0}, factor="arm",
                        covariates=cov.assign(arm=["x", "y", "z"] * 100))


def test_confounders_are_associated_with_group_and_shift_taxa():
    t = healthy_gut_template(60)
    ad = simulate_cohort(
        t, n_samples=800, effects={"Roseburia": -1.5}, seed=3,
        confounders={
            "opioid": {"prevalence": (0.05, 0.5), "effects": {"Bacteroides": -1.5}},
            "bmi": {"mean": (25.0, 29.0), "sd": 4.0, "effects": {"Akkermansia": 1.0}},
        },
    )
    obs = ad.obs
    case = (obs["group"] == "case").to_numpy()
    assert case.sum() == 400 and list(obs["group"].cat.categories) == ["control", "case"]
    assert not any(c.startswith("_z_") for c in obs.columns)  # helper columns are dropped
    # association with the group: opioid prevalence and BMI means as specified (binomial / normal SE)
    assert obs["opioid"][case].mean() == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / 400))
    assert obs["opioid"][~case].mean() == pytest.approx(0.05, abs=4 * np.sqrt(0.05 * 0.95 / 400))
    assert obs["bmi"][case].mean() - obs["bmi"][~case].mean() == pytest.approx(4.0, abs=4 * 4 * np.sqrt(2 / 400))
    # the confounders shift their taxa within controls, where the group effect is absent
    opi = obs["opioid"].to_numpy()
    assert _log2_ratio(ad[~case], "Bacteroides", opi[~case]) < -0.7
    rel = _dense(ad) / _dense(ad).sum(1, keepdims=True)
    j = list(ad.var_names).index("Akkermansia")
    present = ~case & (rel[:, j] > 0)
    assert spearmanr(obs["bmi"].to_numpy()[present], rel[present, j]).statistic > 0.4
    # so a naive case/control contrast picks up the confounded taxon
    assert _log2_ratio(ad, "Bacteroides", case) < -0.3
    truth = ad.uns["cohort_simulation"]["truth"].set_index("taxon")
    assert truth.loc["Roseburia", ["factor", "level"]].tolist() == ["group", "case"]
    assert truth.loc["Bacteroides", ["factor", "level"]].tolist() == ["opioid", "True"]
    assert truth.loc["Akkermansia", ["factor", "level", "scale_by"]].tolist() == ["bmi", "*", "bmi (per SD)"]
    with pytest.raises(gb.GutbrainError, match="already a covariate"):
        simulate_cohort(t, covariates=obs[["group", "bmi"]], confounders={"bmi": {"mean": (0, 1)}})


def test_demo_cohort_is_one_simulate_cohort_call(monkeypatch):
    from gutbrain.datasets import _demo

    calls = []
    real = _demo.simulate_cohort

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(_demo, "simulate_cohort", spy)
    ad = gb.datasets.demo_cohort(seed=2, n_samples=40, n_genera=50)
    assert len(calls) == 1 and calls[0]["reader"] == "demo_cohort"
    assert "cohort_simulation" not in ad.uns  # truth lives in uns["demo"]
    np.testing.assert_array_equal(_dense(ad), _dense(gb.datasets.demo_cohort(seed=2, n_samples=40, n_genera=50)))


def test_h5ad_round_trip(demo, tmp_path):
    path = tmp_path / "demo.h5ad"
    demo.write_h5ad(path)
    import anndata

    back = anndata.read_h5ad(path)
    np.testing.assert_array_equal(_dense(back), _dense(demo))
    assert bool(back.uns["gutbrain"]["synthetic"])
    pd.testing.assert_frame_equal(
        back.uns["demo"]["planted_effects"].reset_index(drop=True),
        demo.uns["demo"]["planted_effects"].reset_index(drop=True),
        check_dtype=False,
    )
