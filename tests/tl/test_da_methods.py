"""Differential-abundance driver and methods against peers (statsmodels, scipy, R ANCOM-BC)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from gutbrain._core import new_adata
from gutbrain._errors import DataValueError, MetadataMismatchError
from gutbrain.tl._da import (
    bh_adjust,
    diff_abundance,
    maaslin_filter,
    normalize_features,
    transform_features,
)
from gutbrain.tl._da_methods import density_mode, linda_kernel, logistic_irls
from gutbrain.tl._formula import build_design, parse_formula
from tests.conftest import shared_path


def _cohort(n: int = 90, F: int = 30, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {
            "group": rng.choice(["control", "pain"], n),
            "site": rng.choice(["a", "b", "c"], n),
            "age": rng.normal(50, 10, n).round(),
            "pain_score": rng.integers(0, 11, n).astype(float),
        },
        index=[f"s{i}" for i in range(n)],
    )
    mu = rng.lognormal(3, 1, F)
    eff = np.ones(F)
    eff[:3] = 4.0  # planted: higher in pain
    lam = mu[None, :] * np.where(obs["group"].to_numpy()[:, None] == "pain", eff[None, :], 1.0)
    counts = rng.poisson(lam * rng.gamma(0.7, 1 / 0.7, (n, F)))
    counts[:, -1] = 0
    counts[:2, -1] = 5  # too rare: filtered at min_prevalence 0.1
    adata = new_adata(counts, obs_names=obs.index, var_names=[f"t{j}" for j in range(F)],
                      unit="counts", reader="test", obs=obs, sparse=False)
    return adata, counts, obs


# --- MaAsLin2 building blocks -----------------------------------------------------


def test_transforms_follow_maaslin2_rules() -> None:
    Y = np.array([[0.0, 0.5], [0.2, 0.0], [0.4, 0.25]])
    L = transform_features(Y, "LOG")
    # zeros → half the feature's smallest non-zero value, then log2
    np.testing.assert_allclose(L[:, 0], np.log2([0.1, 0.2, 0.4]))
    np.testing.assert_allclose(L[:, 1], np.log2([0.5, 0.125, 0.25]))
    np.testing.assert_allclose(transform_features(Y, "AST"), np.arcsin(np.sqrt(Y)))
    lg = transform_features(Y, "LOGIT")
    assert lg[0, 0] == 0.0  # log(0) is non-finite → 0
    np.testing.assert_allclose(lg[2, 0], np.log(0.4 / 0.6))
    np.testing.assert_allclose(transform_features(Y * 100, "LOGIT"), lg)  # percents detected
    with pytest.raises(DataValueError, match="AST"):
        transform_features(Y * 3, "AST")


def test_normalizations() -> None:
    Y = np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 4.0]])
    np.testing.assert_allclose(normalize_features(Y, "TSS").sum(axis=1), 1.0)
    C = normalize_features(Y, "CLR")
    np.testing.assert_allclose(C, np.log(Y + 1) - np.log(Y + 1).mean(axis=1, keepdims=True))
    np.testing.assert_allclose(normalize_features(np.zeros((1, 2)), "TSS"), 0.0)


def test_filter_is_strict_like_maaslin2() -> None:
    Y = np.zeros((10, 3))
    Y[:1, 0] = 1  # 1 of 10 samples: not > 10 * 0.1
    Y[:2, 1] = 1  # 2 of 10: kept
    Y[:, 2] = 1  # prevalent but zero variance: dropped by the variance filter
    np.testing.assert_array_equal(maaslin_filter(Y, min_prevalence=0.1), [False, True, False])


def test_bh_matches_statsmodels() -> None:
    p = np.random.default_rng(2).uniform(size=200) ** 3
    np.testing.assert_allclose(bh_adjust(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    np.testing.assert_allclose(bh_adjust(p, "holm"), multipletests(p, method="holm")[1], rtol=1e-12)
    q = bh_adjust(np.array([0.01, np.nan, 0.04]))
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02)


def test_formula_and_reference() -> None:
    f = parse_formula("~ group + age + (1|subject)")
    assert f.fixed == ("group", "age") and f.random == ("subject",)
    for bad in ["group + age", "y ~ group", "~ group * age", "~ "]:
        with pytest.raises(DataValueError):
            parse_formula(bad)
    obs = pd.DataFrame({"d": ["UC", "CD", "nonIBD", "CD", "UC", "nonIBD"],
                        "x": [1.0, 2.0, 3.0, np.nan, 5.0, 7.0]})
    des = build_design(obs, "~ d + x", reference="d,nonIBD")
    assert des.columns == ["(Intercept)", "dCD", "dUC", "x"]
    assert des.keep.tolist() == [True, True, True, False, True, True]
    with pytest.raises(MetadataMismatchError):
        build_design(obs, "~ nosuch")
    with pytest.raises(DataValueError, match="reference level"):
        build_design(obs, "~ d", reference="d,healthy")


# --- methods --------------------------------------------------------------------


def test_maaslin2_fixed_effects_equal_statsmodels_ols() -> None:
    adata, counts, obs = _cohort()
    res = diff_abundance(adata, formula="~ group + site + age", reference="site,b", standardize=True)
    keep = maaslin_filter(counts.astype(float))
    Y = counts[:, keep].astype(float)
    Y = Y / Y.sum(axis=1, keepdims=True)
    Y = np.log2(np.where(Y == 0, np.where(Y > 0, Y, np.inf).min(axis=0) / 2, Y))
    df = obs.copy()
    df["age"] = (df["age"] - df["age"].mean()) / df["age"].std(ddof=1)
    df["site"] = pd.Categorical(df["site"], categories=["b", "a", "c"])
    names = np.array(adata.var_names)[keep]
    assert set(res["feature"]) == set(names) and "t29" not in set(res["feature"])
    for j, name in enumerate(names):
        df["y"] = Y[:, j]
        r = smf.ols("y ~ group + site + age", data=df).fit()
        sub = res[res["feature"] == name].set_index("value")
        for term, level in [("group[T.pain]", "pain"), ("site[T.a]", "a"), ("site[T.c]", "c"), ("age", "age")]:
            assert sub.loc[level, "coef"] == pytest.approx(r.params[term], rel=1e-8, abs=1e-12)
            assert sub.loc[level, "stderr"] == pytest.approx(r.bse[term], rel=1e-8)
            assert sub.loc[level, "pval"] == pytest.approx(r.pvalues[term], rel=1e-8)
    assert (res["N"] == 90).all()
    assert res["qval"].is_monotonic_increasing
    np.testing.assert_allclose(np.sort(res["qval"]), np.sort(multipletests(res["pval"], method="fdr_bh")[1]))
    assert set(res.head(3)["feature"]) == {"t0", "t1", "t2"}
    assert adata.uns["diff_abundance"]["params"]["formula"] == "~ group + site + age"


def test_pain_score_as_continuous_outcome() -> None:
    adata, _, _ = _cohort()
    res = diff_abundance(adata, formula="~ pain_score + age", standardize=False)
    assert set(res["metadata"]) == {"pain_score", "age"}
    assert (res.loc[res["metadata"] == "pain_score", "value"] == "pain_score").all()


def test_density_mode_and_linda_bias_correction() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(1.0, 0.05, 400), rng.normal(5, 1, 40)])
    assert density_mode(x) == pytest.approx(1.0, abs=0.05)
    # compositional shift: 5 taxa up 8x in group 1 → all others look down in CLR
    n, F = 80, 60
    g = np.repeat([0.0, 1.0], n // 2)
    X = np.column_stack([np.ones(n), g])
    base = rng.lognormal(4, 1, F)
    lam = base[None, :] * np.where((g[:, None] == 1) & (np.arange(F)[None, :] < 5), 8.0, 1.0)
    Y = rng.poisson(lam)
    fit = linda_kernel(Y, X)
    np.testing.assert_allclose(fit["coef"], fit["coef_raw"] - fit["bias"][:, None])
    assert fit["bias"][1] < -0.05  # raw null taxa biased downwards
    null = fit["coef"][1, 5:]
    assert abs(np.median(null)) < 0.05
    assert np.all(fit["coef"][1, :5] > 2.0)


def test_prevalence_matches_statsmodels_logit() -> None:
    rng = np.random.default_rng(4)
    n = 150
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    eta = X @ rng.normal(size=(3, 8)) * 0.8
    P = (rng.uniform(size=eta.shape) < 1 / (1 + np.exp(-eta))).astype(float)
    P[:, 7] = 1.0  # always present: not estimable
    fit = logistic_irls(X, P)
    for j in range(7):
        r = sm.Logit(P[:, j], X).fit(disp=0)
        np.testing.assert_allclose(fit["coef"][:, j], r.params, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(fit["stderr"][:, j], r.bse, rtol=1e-6)
        np.testing.assert_allclose(fit["pval"][:, j], r.pvalues, rtol=1e-5)
    assert np.all(np.isnan(fit["pval"][:, 7]))


def test_wilcoxon_and_kruskal_match_scipy() -> None:
    adata, counts, obs = _cohort()
    res = diff_abundance(adata, formula="~ group + age", method="wilcoxon").set_index("feature")
    rel = counts / counts.sum(axis=1, keepdims=True)
    pain = (obs["group"] == "pain").to_numpy()
    for j in (0, 5, 10):
        u = stats.mannwhitneyu(rel[pain, j], rel[~pain, j], method="asymptotic")
        assert res.loc[f"t{j}", "pval"] == pytest.approx(u.pvalue, rel=1e-10)
        assert res.loc[f"t{j}", "coef"] == pytest.approx(2 * u.statistic / (pain.sum() * (~pain).sum()) - 1)
    kw = diff_abundance(adata, formula="~ site", method="wilcoxon").set_index("feature")
    site = obs["site"].to_numpy()
    h = stats.kruskal(*[rel[site == s, 4] for s in ("a", "b", "c")])
    assert kw.loc["t4", "pval"] == pytest.approx(h.pvalue, rel=1e-10)
    sp = diff_abundance(adata, formula="~ pain_score", method="wilcoxon").set_index("feature")
    rho = stats.spearmanr(obs["pain_score"], rel[:, 2])
    assert sp.loc["t2", "coef"] == pytest.approx(rho.statistic, rel=1e-10)
    assert sp.loc["t2", "pval"] == pytest.approx(rho.pvalue, rel=1e-8)


def test_consensus_table() -> None:
    adata, _, _ = _cohort(n=120)
    res = diff_abundance(adata, formula="~ group + age", method="consensus", n_splits=10, random_state=3)
    for col in ("n_called", "called_by", "direction_agreement", "replicability", "consensus"):
        assert col in res.columns
    assert res["replicability"].between(0, 1).all()
    hits = res[res["consensus"]]
    assert len({"t0", "t1", "t2"} & set(hits["feature"])) >= 2
    assert (hits["n_called"] >= 2).all() and (hits["direction_agreement"] == 1).all()
    again = diff_abundance(adata, formula="~ group + age", method="consensus", n_splits=10, random_state=3)
    pd.testing.assert_frame_equal(res, again)
    assert adata.uns["diff_abundance"]["params"]["random_state"] == 3


@pytest.mark.validation(quantity="ANCOM-BC significance calls, HITChip subset (agreeing calls)", source="R ANCOMBC output (scikit-bio test data)", doi="10.1038/s41467-020-17041-7", tolerance="all calls agree")
def test_ancombc_agrees_with_r_reference(validation) -> None:
    """ANCOM-BC via scikit-bio vs R ANCOMBC (HITChip Atlas subset), as scikit-bio's own test."""
    d = shared_path("reference", "ancombc_R")
    table = pd.read_csv(d / "pseq_feature_table_subset.csv.gz", index_col=0)
    meta = pd.read_csv(d / "pseq_meta_data_subset.csv.gz", index_col=0).dropna(axis=1, how="any")
    adata = new_adata(table.to_numpy(), obs_names=table.index, var_names=table.columns,
                      unit="counts", reader="test", obs=meta, sparse=False)
    adata.obs["bmi"] = pd.Categorical(adata.obs["bmi"], categories=["obese", "overweight", "lean"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = diff_abundance(adata, formula="~ age + region + bmi", method="ancombc",
                             correction="holm", min_prevalence=0.0)
    exp = pd.read_csv(d / "pseq_subset_out_res_diff_abn.csv", index_col="taxon").drop(columns="Unnamed: 0")
    agree = total = 0
    for col in exp.columns:
        if col == "(Intercept)":
            continue
        sub = res[(res["metadata"] + res["value"]).str.replace("ageage", "age") == col]
        ours = sub.set_index("feature")["qval"].reindex(exp.index) < 0.05
        agree += int((ours == exp[col]).sum())
        total += len(exp)
    assert total == 6 * len(exp)
    assert agree == total  # 100 % of the significance calls, as in scikit-bio's test
    validation.record(agree, total)
