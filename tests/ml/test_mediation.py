"""Mediation: coefficients against statsmodels OLS, decomposition identity, CI coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import gutbrain as gb
from gutbrain.tl import mediation, mediation_kernel


def _data(n=300, a=0.6, b=0.8, c=0.3, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(50, 10, n)
    x = rng.normal(size=n)
    m = a * x + 0.02 * age + rng.normal(size=n)
    y = c * x + b * m - 0.01 * age + rng.normal(size=n)
    return x, m, y, age


def test_matches_statsmodels_and_decomposes():
    x, m, y, age = _data()
    tab, extra = mediation_kernel(x, m, y, age[:, None], n_boot=400, ci="bca")
    t = tab.set_index("effect")
    fm = sm.OLS(m, sm.add_constant(np.column_stack([x, age]))).fit()
    fy = sm.OLS(y, sm.add_constant(np.column_stack([x, m, age]))).fit()
    ft = sm.OLS(y, sm.add_constant(np.column_stack([x, age]))).fit()
    assert t.loc["a", "estimate"] == pytest.approx(fm.params[1], rel=1e-10)
    assert t.loc["a", "stderr"] == pytest.approx(fm.bse[1], rel=1e-8)
    assert t.loc["a", "pval"] == pytest.approx(fm.pvalues[1], rel=1e-6, abs=1e-300)
    assert t.loc["b", "estimate"] == pytest.approx(fy.params[2], rel=1e-10)
    assert t.loc["direct", "estimate"] == pytest.approx(fy.params[1], rel=1e-10)
    assert t.loc["total", "estimate"] == pytest.approx(ft.params[1], rel=1e-10)
    # OLS identity: total = direct + a*b
    assert t.loc["total", "estimate"] == pytest.approx(t.loc["direct", "estimate"] + t.loc["indirect", "estimate"],
                                                       rel=1e-10)
    assert t.loc["indirect", "ci_low"] < 0.48 < t.loc["indirect", "ci_high"]
    assert extra["sobel_pval"] < 1e-10


def test_ci_coverage_of_true_indirect_effect():
    hits = 0
    for seed in range(40):
        x, m, y, _ = _data(n=120, a=0.4, b=0.5, seed=100 + seed)
        tab, _ = mediation_kernel(x, m, y, n_boot=300, ci="percentile", random_state=seed)
        t = tab.set_index("effect").loc["indirect"]
        hits += t.ci_low <= 0.2 <= t.ci_high
    assert hits >= 33  # nominal 95 %: ≥ 33/40 has probability > 0.99


def test_anndata_wrapper_taxon_exposure_and_categorical_covariate():
    ad = gb.datasets.demo_cohort(seed=0, n_samples=120, n_genera=60)
    tab = mediation(ad, exposure="Faecalibacterium", mediator="severity", outcome="pain_score",
                    covariates=["age", "sex"], rank="genus", n_boot=200)
    assert list(tab["effect"]) == ["a", "b", "indirect", "direct", "total", "proportion_mediated"]
    entry = ad.uns["mediation"]
    assert entry["covariate_terms"] == ["age", "sex[male]"]
    assert "CLR of Faecalibacterium" in entry["exposure_desc"]
    with pytest.raises(gb.DataValueError, match="not an obs column nor a feature"):
        mediation(ad, exposure="Nonexistentia", mediator="severity", outcome="pain_score", n_boot=10)


def test_giloteaux_lps_pain(shared):
    """ME/CFS (Giloteaux 2016): every number equals an independent statsmodels computation.

    The peer reads the metadata with pandas (not gutbrain's readers), codes Patient = 1,
    drops incomplete samples and fits the three OLS models of the product-of-coefficients
    method; the Sobel z is computed by hand from the a and b fits.
    """
    from gutbrain.io import attach_metadata, read, read_metadata

    d = shared / "data" / "giloteaux2016_mecfs_16s"
    ad = read(d / "feature_table.tsv", taxonomy=d / "taxonomy_table_features.tsv")
    ad = attach_metadata(ad, read_metadata(d / "sample-metadata.tsv"))
    tab = mediation(ad, exposure="Subject", mediator="LPSpgml", outcome="Pain", n_boot=300)
    t = tab.set_index("effect")
    entry = ad.uns["mediation"]

    md = pd.read_csv(d / "sample-metadata.tsv", sep="\t", index_col=0)
    ids = pd.read_csv(d / "feature_table.tsv", sep="\t", skiprows=1, index_col=0, nrows=0).columns
    peer = md.loc[md.index.intersection(ids), ["Subject", "LPSpgml", "Pain"]].dropna()
    assert entry["n"] == len(peer) == 46  # 41 patients + 5 controls with LPS and SF-36 pain
    assert sorted(entry["samples"]) == sorted(peer.index)
    assert entry["exposure_desc"] == "obs['Subject'] (Patient = 1 vs Control)"
    x = (peer["Subject"] == "Patient").to_numpy(float)
    m, y = peer["LPSpgml"].to_numpy(float), peer["Pain"].to_numpy(float)
    fm = sm.OLS(m, sm.add_constant(x)).fit()
    fy = sm.OLS(y, sm.add_constant(np.column_stack([x, m]))).fit()
    ft = sm.OLS(y, sm.add_constant(x)).fit()
    a, b = fm.params[1], fy.params[2]
    expected = {"a": a, "b": b, "indirect": a * b, "direct": fy.params[1], "total": ft.params[1],
                "proportion_mediated": a * b / ft.params[1]}
    for effect, value in expected.items():
        assert t.loc[effect, "estimate"] == pytest.approx(value, rel=1e-9), effect
    for effect, fit, j in (("a", fm, 1), ("b", fy, 2), ("direct", fy, 1), ("total", ft, 1)):
        assert t.loc[effect, "stderr"] == pytest.approx(fit.bse[j], rel=1e-9), effect
        assert t.loc[effect, "pval"] == pytest.approx(fit.pvalues[j], rel=1e-7), effect
    sobel = a * b / np.hypot(a * fy.bse[2], b * fm.bse[1])
    assert entry["sobel_z"] == pytest.approx(sobel, rel=1e-9)
    # the sign and size of the effects as in the data: patients have higher LPS and lower
    # SF-36 pain scores (a lower score is more pain), a total effect of about −44 points
    assert a > 0 and ft.params[1] == pytest.approx(38.804878 - 82.6, rel=1e-6)
    assert t.loc["indirect", "ci_low"] <= t.loc["indirect", "estimate"] <= t.loc["indirect", "ci_high"]
