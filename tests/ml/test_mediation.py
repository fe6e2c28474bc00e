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
    from gutbrain.io import attach_metadata, read, read_metadata

    d = shared / "data" / "giloteaux2016_mecfs_16s"
    ad = read(d / "feature_table.tsv", taxonomy=d / "taxonomy_table_features.tsv")
    ad = attach_metadata(ad, read_metadata(d / "sample-metadata.tsv"))
    tab = mediation(ad, exposure="Subject", mediator="LPSpgml", outcome="Pain", n_boot=300)
    t = tab.set_index("effect")
    assert ad.uns["mediation"]["n"] >= 40
    assert np.isfinite(t["estimate"]).all()
    assert t.loc["total", "estimate"] == pytest.approx(t.loc["direct", "estimate"] + t.loc["indirect", "estimate"])
    assert isinstance(tab, pd.DataFrame)
