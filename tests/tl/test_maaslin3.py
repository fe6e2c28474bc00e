"""MaAsLin 3: R parity on its own fixtures, batched kernels against statsmodels, bad input."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special

import gutbrain as gb
from gutbrain._errors import DataValueError, DataWarning
from gutbrain.tl._glm_batch import logit_irls, logit_pass, wls_masked
from gutbrain.tl._maaslin3 import MAASLIN3_COLUMNS, maaslin3_table
from gutbrain.tl._maaslin3_design import build_design3, parse_formula3
from gutbrain.tl._mixed_batch import _LaplaceGLMM, glmm_laplace
from gutbrain.tl._r_rng import RStream, median_mc_cov, qnorm
from tests.conftest import shared_path

HMP2_FORMULA = "~ diagnosis + dysbiosis_state + antibiotics + age + reads"
HMP2_LEVELS = {
    "diagnosis": ["nonIBD", "UC", "CD"],
    "dysbiosis_state": ["none", "dysbiosis_UC", "dysbiosis_CD"],
    "antibiotics": ["No", "Yes"],
}


# ----------------------------------------------------------------------------------
# R's random stream
# ----------------------------------------------------------------------------------


def test_r_stream_equals_r_set_seed() -> None:
    """Values printed by R 4.x: set.seed(1); runif(3) / rnorm(3); set.seed(42); rnorm(2)."""
    np.testing.assert_allclose(RStream(1).runif(3), [0.2655086631, 0.3721238996, 0.5728533633], atol=5e-11)
    np.testing.assert_allclose(RStream(1).rnorm(3), [-0.6264538107, 0.1836433242, -0.8356286124], atol=5e-11)
    np.testing.assert_allclose(RStream(42).rnorm(2), [1.3709584471, -0.5646981714], atol=5e-11)


def test_as241_matches_scipy_ndtri() -> None:
    p = np.concatenate([np.random.default_rng(0).random(20_000), 10.0 ** -np.linspace(1, 15, 50)])
    np.testing.assert_allclose(qnorm(p), special.ndtri(p), rtol=1e-14, atol=1e-15)


def test_median_mc_cov_equals_explicit_replicate() -> None:
    """The streaming Monte Carlo equals R's replicate(); rnorm with sd 0 draws nothing."""
    rng = np.random.default_rng(3)
    mean = rng.normal(size=9)
    sd = rng.uniform(0.1, 1.0, 9)
    sd[4] = 0.0
    use = np.ones(9, dtype=bool)
    use[[1, 7]] = False
    cov = median_mc_cov(RStream(5), mean, sd, use, 300, chunk=70)
    sims = RStream(5).rnorm_rows(300, mean, sd)
    med = np.median(sims[:, use], axis=1)
    ref = ((sims - sims.mean(axis=0)) * (med - med.mean())[:, None]).sum(axis=0) / 299
    np.testing.assert_allclose(cov, ref, rtol=1e-9, atol=1e-15)


# ----------------------------------------------------------------------------------
# batched kernels
# ----------------------------------------------------------------------------------


def _design(n: int, rng: np.random.Generator) -> np.ndarray:
    g = rng.integers(0, 3, n)
    return np.column_stack([np.ones(n), g == 1, g == 2, rng.normal(size=n)]).astype(float)


def test_masked_ols_matches_statsmodels_and_drops_aliased_columns() -> None:
    rng = np.random.default_rng(1)
    X = _design(150, rng)
    Y = X @ rng.normal(size=(4, 6)) + rng.normal(size=(150, 6))
    M = rng.random((150, 6)) < 0.6
    M[X[:, 2] == 1, 5] = False  # level absent in feature 5: its column is aliased (R: NA)
    fit = wls_masked(X, Y, M)
    for f in range(6):
        m = M[:, f]
        keep = [0, 1, 3] if f == 5 else [0, 1, 2, 3]
        r = sm.OLS(Y[m, f], X[m][:, keep]).fit()
        np.testing.assert_allclose(fit["coef"][f, keep], r.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit["pval"][f, keep], r.pvalues, rtol=1e-8, atol=1e-300)
        assert fit["df"][f] == r.df_resid
    assert np.isnan(fit["coef"][5, 2]) and fit["aliased"][5, 2]


def test_masked_ols_in_sample_chunks_and_shared_presence_sums() -> None:
    """Chunked sums (here 32-sample chunks, the last one short) equal one statsmodels fit per
    feature; the presence sums they return give the logistic fit the same result as its own."""
    rng = np.random.default_rng(5)
    n = 203
    X = _design(n, rng)
    Y = np.where(rng.random((n, 9)) < 0.55, X @ rng.normal(size=(4, 9)) + rng.normal(size=(n, 9)), np.nan)
    M = ~np.isnan(Y)
    fit = wls_masked(X, Y, M, block_bytes=1)  # the smallest chunk: 32 samples
    for f in range(9):
        m = M[:, f]
        r = sm.OLS(Y[m, f], X[m]).fit()
        np.testing.assert_allclose(fit["coef"][f], r.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit["stderr"][f], r.bse, rtol=1e-9)
    sums = fit["mask_sums"]
    np.testing.assert_array_equal(sums["count"], M.sum(axis=0))
    np.testing.assert_allclose(sums["xsum"], X.T @ M, rtol=1e-12)
    a = 3 / (2 * n)
    own = logit_irls(X, M, augment_weight=a)
    shared = logit_irls(X, M, augment_weight=a, y_sums=sums)
    np.testing.assert_allclose(shared["coef"], own["coef"], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(shared["iterations"], own["iterations"])


def test_augmented_logistic_equals_glm_on_tripled_data() -> None:
    """MaAsLin 3's augmentation = a binomial GLM on the data plus weighted 1/0 copies."""
    rng = np.random.default_rng(2)
    n = 200
    X = _design(n, rng)
    Y = (rng.random((n, 5)) < special.expit(X @ rng.normal(size=(4, 5)))).astype(float)
    Y[:, 4] = (X[:, 3] > 0).astype(float)  # perfectly separated by the covariate
    a = (X.shape[1] - 1) / (2 * n)
    fit = logit_irls(X, Y, augment_weight=a)
    Xa = np.vstack([X, X, X])
    w = np.r_[np.ones(n), np.full(2 * n, a)]
    for f in range(5):
        ya = np.r_[Y[:, f], np.ones(n), np.zeros(n)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = sm.GLM(ya, Xa, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-13)
        np.testing.assert_allclose(fit["coef"][f], r.params, rtol=1e-6, atol=1e-7)
        # R's summary.glm uses the weights of the last IRLS iteration (statsmodels: of the
        # final estimate); they differ at the 1e-5 level (exact R parity: the HMP2 test)
        np.testing.assert_allclose(fit["stderr"][f], r.bse, rtol=1e-4)
        np.testing.assert_allclose(fit["deviance"][f], r.deviance, rtol=1e-9)
    assert np.all(np.isfinite(fit["coef"][4])) and fit["converged"].all()


def test_logit_pass_is_a_sum_over_sample_chunks() -> None:
    """The IRLS sufficient statistics of two sample chunks add up to those of all samples."""
    rng = np.random.default_rng(4)
    X = _design(300, rng)
    Y = (rng.random((300, 7)) < 0.4).astype(float)
    B = rng.normal(scale=0.3, size=(7, 4))
    G, b, dev, mx = logit_pass(X, Y, B, 0.01)
    parts = [logit_pass(X[s], Y[s], B, 0.01) for s in (slice(0, 120), slice(120, 300))]
    np.testing.assert_allclose(G, parts[0][0] + parts[1][0], rtol=1e-9)
    np.testing.assert_allclose(b, parts[0][1] + parts[1][1], rtol=1e-9)
    np.testing.assert_allclose(dev, parts[0][2] + parts[1][2], rtol=1e-9)
    np.testing.assert_allclose(mx, np.maximum(parts[0][3], parts[1][3]))


def test_glmm_gradient_and_optimum() -> None:
    """The analytic Laplace gradient equals finite differences; the fit is a minimum."""
    rng = np.random.default_rng(5)
    n, q = 240, 30
    g = rng.integers(0, q, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    eta = X @ [-0.3, 0.8, -0.5] + 1.2 * rng.normal(size=q)[g]
    Y = (rng.random((n, 3)) < special.expit(eta)[:, None]).astype(float)
    md = _LaplaceGLMM(X, Y, g, 0.004)
    idx = np.arange(3)
    par = np.column_stack([np.full(3, 1.1), rng.normal(scale=0.3, size=(3, 3))])
    grad, _ = md.gradient(par[:, 0], par[:, 1:], idx)
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (md.deviance((par + e)[:, 0], (par + e)[:, 1:], idx)[0]
              - md.deviance((par - e)[:, 0], (par - e)[:, 1:], idx)[0]) / (2 * h)
        np.testing.assert_allclose(grad[:, i], fd, rtol=1e-5, atol=1e-5)
    fit = glmm_laplace(X, Y, [g], augment_weight=0.004)
    assert fit["converged"].all()
    best = fit["deviance"]
    for _ in range(10):
        d = rng.normal(scale=0.02, size=(3, 4))
        th = fit["theta"] + d[:, 0]
        assert np.all(md.deviance(th, fit["coef"] + d[:, 1:], idx)[0] >= best - 1e-9)


def test_glmm_objective_is_lme4s_rounded_weight_likelihood() -> None:
    """lme4's binomial ``aic`` rounds prior weights: pseudo-observations of weight < 0.5 drop
    out of the likelihood term (not of the modes); from 0.5 on they count with their weight."""
    rng = np.random.default_rng(8)
    n, q = 120, 20
    g = rng.permutation(np.arange(n) % q)  # every group sampled: modes indexed by code
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = (rng.random((n, 2)) < 0.4).astype(float)
    theta, beta, idx = np.array([0.8, 1.3]), np.array([[-0.3, 0.5], [0.2, -0.4]]), np.arange(2)
    for a in (0.004, 0.3):
        proper = _LaplaceGLMM(X, Y, g, a, likelihood_pseudo=True)
        lme4 = _LaplaceGLMM(X, Y, g, a)
        d_p, U = proper.deviance(theta, beta, idx)
        d_l, U2 = lme4.deviance(theta, beta, idx)
        np.testing.assert_array_equal(U, U2)  # the same conditional modes
        eta = beta @ X.T + theta[:, None] * U[:, g]
        pseudo = 2 * a * (2 * np.logaddexp(0, eta) - eta).sum(axis=1)  # weight a, outcomes 1 and 0
        np.testing.assert_allclose(d_p - d_l, pseudo, rtol=1e-9)
    assert _LaplaceGLMM(X, Y, g, 0.5).drop == 0.0  # round(0.5) = 1 in lme4 (C++ std::round)


# ----------------------------------------------------------------------------------
# formulas
# ----------------------------------------------------------------------------------


def test_formula_terms_follow_r() -> None:
    f = parse_formula3("~ b:a + a*c + ordered(s) + group(t) + (1|subject)")
    assert f.terms == (("a",), ("c",), ("b", "a"), ("a", "c"))
    assert f.ordered == ("s",) and f.group == ("t",) and f.random == ("subject",)
    with pytest.raises(DataValueError, match="strata"):
        parse_formula3("~ a + strata(s)")


def test_interaction_design_equals_patsy_coding() -> None:
    """R's model.matrix coding of a*x (treatment contrasts) gives the patsy/statsmodels fit."""
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(6)
    n = 90
    obs = pd.DataFrame({"a": rng.choice(["p", "q", "r"], n), "x": rng.normal(size=n)})
    y = rng.normal(size=n) + (obs["a"] == "q") * obs["x"]
    d = build_design3(obs, "~ a*x", standardize=False)
    assert d.names == ["(Intercept)", "aq", "ar", "x", "aq:x", "ar:x"]
    assert d.metadata[4] == "a" and d.value[4] == "q:x"
    ours = wls_masked(d.X, y.to_numpy()[:, None], np.ones((n, 1), dtype=bool))["coef"][0]
    r = smf.ols("y ~ C(a) * x", data=obs.assign(y=y)).fit()
    np.testing.assert_allclose(ours, r.params.to_numpy(), rtol=1e-10, atol=1e-12)


def test_ordered_and_group_terms_match_statsmodels_tests() -> None:
    rng = np.random.default_rng(7)
    n, F = 160, 4
    stage = pd.Categorical(rng.choice(["low", "mid", "high"], n), categories=["low", "mid", "high"])
    site = rng.choice(["s1", "s2", "s3"], n)
    obs = pd.DataFrame({"stage": stage, "site": site, "age": rng.normal(size=n)}, index=[f"S{i}" for i in range(n)])
    counts = rng.poisson(50, (n, F)).astype(float) + 1.0
    counts[:, 0] *= np.where(obs["stage"] == "high", 1.3, 1.0)
    res, _ = maaslin3_table(counts, obs, [f"f{j}" for j in range(F)], formula="~ age + ordered(stage) + group(site)",
                            median_comparison_abundance=False, warn_prevalence=False)
    ab = res[res["model"] == "abundance"].set_index(["feature", "name"])
    T = np.log2(counts / counts.sum(axis=1, keepdims=True))
    X = pd.get_dummies(obs[["age", "stage", "site"]], drop_first=True, dtype=float)
    X = sm.add_constant(X)
    for j in range(F):
        r = sm.OLS(T[:, j], X).fit()
        c = r.t_test("stage_high - stage_mid = 0")
        row = ab.loc[(f"f{j}", "stagehigh")]
        np.testing.assert_allclose(row["coef"], float(np.squeeze(c.effect)), rtol=1e-9)
        # multcomp::glht computes 1 - (F(|t|) - F(-|t|)): absolute precision ~1e-16
        np.testing.assert_allclose(row["pval_individual"], float(np.squeeze(c.pvalue)), rtol=1e-7, atol=1e-15)
        ftest = r.f_test("site_s2 = 0, site_s3 = 0")
        grow = ab.loc[(f"f{j}", "site")]
        assert np.isnan(grow["coef"])
        np.testing.assert_allclose(grow["pval_individual"], float(np.squeeze(ftest.pvalue)), rtol=1e-7)


# ----------------------------------------------------------------------------------
# R parity on MaAsLin 3's own fixtures
# ----------------------------------------------------------------------------------


def _hmp2() -> tuple[pd.DataFrame, pd.DataFrame]:
    d = shared_path("reference", "maaslin3_hmp2")
    tax = pd.read_csv(d / "HMP2_taxonomy.tsv", sep="\t", index_col=0)
    meta = gb.io.read_metadata(d / "HMP2_metadata.tsv").loc[tax.index]
    for col, levels in HMP2_LEVELS.items():  # the factor levels of the R test
        meta[col] = pd.Categorical(meta[col].astype(str), categories=levels)
    return tax, meta


def _compare(R: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
    R = R.copy()
    R["error"] = R["error"].str.replace(r"\s+", " ", regex=True)
    m = R.merge(res, on=["feature", "name", "model"], suffixes=("_R", ""), how="outer", indicator=True)
    assert (m["_merge"] == "both").all(), "the same feature × term × model rows"
    return m


@pytest.mark.validation(quantity="MaAsLin 3 HMP2 fixture, all 2,114 rows: coefficients", source="R MaAsLin 3 all_results.tsv (Nickols et al., MaAsLin 3)", tolerance="|Δcoef| < 1e-5; p within 0.1 % on the log scale")
def test_hmp2_fixture_every_row_as_r(validation) -> None:
    """All 2,114 rows of R's all_results.tsv (maaslin3_hmp2, set.seed(1)): errors, coefficients
    to 1e-5 and individual / joint p-values to 0.1 % on the log scale."""
    tax, meta = _hmp2()
    res, _ = maaslin3_table(tax.to_numpy(), meta, tax.columns, formula=HMP2_FORMULA, random_state=1)
    assert list(res.columns) == MAASLIN3_COLUMNS
    R = pd.read_csv(shared_path("reference", "maaslin3_hmp2", "R_all_results.tsv"), sep="\t")
    m = _compare(R, res)
    assert len(m) == 2114
    assert (m["error_R"].fillna("NA") == m["error"].fillna("NA")).all()
    validation.record(m["coef"], m["coef_R"])
    validation.record(m["pval_joint"], m["pval_joint_R"], quantity="MaAsLin 3 HMP2 fixture: joint p-values")
    for col in ("N", "N_not_zero"):
        assert (m[f"{col}_R"] == m[col]).all()
    for col in ("coef", "stderr"):
        a, b = m[f"{col}_R"].to_numpy(float), m[col].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b)) < 1e-5
    for col in ("pval_individual", "qval_individual", "pval_joint", "qval_joint"):
        a, b = m[f"{col}_R"].to_numpy(float), m[col].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        ok = ~np.isnan(a)
        assert np.max(np.abs(np.log(a[ok]) - np.log(b[ok])) / np.maximum(1.0, np.abs(np.log(a[ok])))) < 1e-3, col
    # MaAsLin 3's own test: the first 50 significant rows (expected_results_run1.tsv)
    exp = pd.read_csv(shared_path("reference", "maaslin3_hmp2", "expected_results_run1.tsv"), sep="\t").head(50)
    e = exp.merge(res, on=["feature", "metadata", "value", "model"], suffixes=("_R", ""))
    assert len(e) == 50
    np.testing.assert_allclose(e["pval_individual"], e["pval_individual_R"], rtol=1e-6, atol=1e-300)


@pytest.mark.validation(quantity="MaAsLin 3 synthetic fixture: coefficients", source="R MaAsLin 3 all_results.tsv and the fixture README (Nickols et al., MaAsLin 3)", tolerance="|Δcoef| < 1e-8; 19 calls at q ≤ 0.1, 18 spiked")
def test_synthetic_fixture_truth_and_r_rows(validation) -> None:
    d = shared_path("reference", "maaslin3_synthetic")
    counts = pd.read_csv(d / "synthetic_abundance.tsv", sep="\t", index_col=0).T
    meta = gb.io.read_metadata(d / "synthetic_metadata.tsv").loc[counts.index]
    res, _ = maaslin3_table(counts.to_numpy(float), meta, counts.columns,
                            formula="~ Metadata_1 + Metadata_2 + Metadata_3 + Metadata_4 + Metadata_5", random_state=1)
    m = _compare(pd.read_csv(d / "R_all_results.tsv", sep="\t"), res)
    assert (m["error_R"].fillna("NA") == m["error"].fillna("NA")).all()
    assert np.nanmax(np.abs(m["coef_R"] - m["coef"])) < 1e-8
    ok = m["pval_individual_R"].notna()
    assert np.max(np.abs(np.log(m.loc[ok, "pval_individual_R"]) - np.log(m.loc[ok, "pval_individual"]))) < 1e-6
    truth = pd.read_csv(d / "synthetic_truth.tsv", sep="\t")
    spiked = set(zip(truth["metadata_datum"], truth["feature_spiked"], truth["associated_property"]))
    calls = res[res["qval_individual"] <= 0.1]
    called = set(zip(calls["metadata"], calls["feature"], calls["model"]))
    # README: 19 calls at q <= 0.1, 18 of them spiked; all 13 calls at q <= 0.05 are spiked
    assert len(called) == 19 and len(called & spiked) == 18
    validation.record(m["coef"], m["coef_R"])
    validation.record(len(called & spiked), 18, quantity="MaAsLin 3 synthetic: spiked calls at q ≤ 0.1 (of 19)")
    strict = res[res["qval_individual"] <= 0.05]
    assert set(zip(strict["metadata"], strict["feature"], strict["model"])) <= spiked


@pytest.mark.slow
@pytest.mark.validation(quantity="MaAsLin 3 HMP2 + (1|participant_id): abundance coefficients (lmer)", source="R MaAsLin 3 all_results.tsv with a random intercept (lme4/glmer; Nickols et al., MaAsLin 3)", tolerance="abundance: median |Δcoef| < 1e-6, max < 1e-4; q ≤ 0.1 sets overlap ≥ 90 %")
def test_hmp2_random_intercept_against_lme4(validation) -> None:
    """``+ (1|participant_id)``: R's lmer/glmer rows (R_all_results_random_intercept.tsv)."""
    tax, meta = _hmp2()
    res, _ = maaslin3_table(tax.to_numpy(), meta, tax.columns, formula=HMP2_FORMULA + " + (1|participant_id)",
                            random_state=1)
    m = _compare(pd.read_csv(shared_path("reference", "maaslin3_hmp2", "R_all_results_random_intercept.tsv"),
                             sep="\t"), res)
    structural = ("No data points", "contrasts can", "number of levels", "Fitting error")
    for key in structural:  # R's structural failures are ours, with the same reason
        rows = m["error_R"].fillna("").str.startswith(key)
        assert rows.any() and (m.loc[rows, "error"] == m.loc[rows, "error_R"]).all(), key
    fitted = m["error_R"].isna()
    ab = m[fitted & (m["model"] == "abundance")]
    assert np.median(np.abs(ab["coef_R"] - ab["coef"])) < 1e-6
    assert np.max(np.abs(ab["coef_R"] - ab["coef"])) < 1e-4
    validation.record(ab["coef"], ab["coef_R"])
    assert np.median(np.abs(np.log(ab["pval_individual_R"]) - np.log(ab["pval_individual"]))) < 1e-5
    pr = m[fitted & (m["model"] == "prevalence")]
    # lme4's objective (the binomial aic rounds the pseudo-observations' weights to 0):
    # median |Δcoef| 3e-4 (issue target 1e-2); rows where a covariate separates presence have
    # no finite optimum and R's optimiser stops anywhere on the slope (docs/maaslin3.md)
    assert np.median(np.abs(pr["coef_R"] - pr["coef"])) < 1e-2
    assert (pr["error"].notna()).sum() <= 0.02 * len(pr)  # R fitted them; so do we
    sig_r = set(map(tuple, m.loc[fitted & (m["qval_individual_R"] <= 0.1), ["feature", "name", "model"]].values))
    sig_g = set(map(tuple, m.loc[fitted & (m["qval_individual"] <= 0.1), ["feature", "name", "model"]].values))
    validation.record(len(sig_r & sig_g) / len(sig_r | sig_g), ">= 0.9",
                      quantity="MaAsLin 3 HMP2 + (1|participant_id): overlap of the q ≤ 0.1 sets (Jaccard)")
    assert len(sig_r & sig_g) / len(sig_r | sig_g) >= 0.9


# ----------------------------------------------------------------------------------
# AnnData tool, consensus, bad input
# ----------------------------------------------------------------------------------


def _cohort(n: int = 100, F: int = 20, seed: int = 0, per_subject: int = 2) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {"group": rng.choice(["control", "case"], n), "age": rng.normal(50, 10, n),
         "subject": [f"p{i // per_subject}" for i in range(n)]},
        index=[f"S{i}" for i in range(n)],
    )
    lam = rng.lognormal(3, 1, F)[None, :] * np.where((obs["group"] == "case").to_numpy()[:, None]
                                                      & (np.arange(F) == 0)[None, :], 8.0, 1.0)
    counts = rng.poisson(lam * rng.gamma(2.0, 0.5, (n, F))).astype(float)
    return ad.AnnData(counts, obs=obs, var=pd.DataFrame(index=[f"t{j}" for j in range(F)]))


def test_diff_abundance_maaslin3_records_and_consensus() -> None:
    adata = _cohort()
    res = gb.tl.diff_abundance(adata, formula="~ group + age", method="maaslin3", reference="group,control",
                               key_added="m3")
    assert list(res.columns) == MAASLIN3_COLUMNS
    assert adata.uns["m3"]["params"]["method"] == "maaslin3"
    assert adata.uns["m3"]["params"]["min_prevalence"] == 0.0
    top = res[(res["feature"] == "t0") & (res["name"] == "groupcase") & (res["model"] == "abundance")].iloc[0]
    assert top["coef"] > 2 and top["qval_individual"] < 0.01
    cons = gb.tl.diff_abundance(adata, formula="~ group + age", method="consensus", reference="group,control",
                                methods=("maaslin3", "maaslin2"), n_splits=4)
    row = cons.set_index("feature").loc["t0"]
    assert row["called_by"].startswith("maaslin3") and row["coef_maaslin3"] > 0


def test_bad_input_is_reported_per_term_and_feature() -> None:
    adata = _cohort()
    adata.obs["const"] = "same"
    adata.obs["empty"] = np.nan
    adata.X[:, 3] = adata.X[:, 3] + 5  # present in every sample: prevalence model undefined
    adata.X[:, 4] = np.where(adata.obs["group"] == "case", 20.0, 0.0)  # perfect separation by group
    with pytest.warns(DataWarning, match="dropped from the model") as caught:
        res = gb.tl.maaslin3(adata, formula="~ group + age + const + empty", reference="group,control")
    assert sorted(str(w.message).split("'")[1] for w in caught) == ["const", "empty"]
    dropped = res[res["metadata"].isin(["const", "empty"])]
    assert len(dropped) == 2 * 2 * adata.n_vars and dropped["error"].str.contains("dropped").all()
    assert dropped["error"].str.contains("single level").any() and dropped["error"].str.contains("no non-missing").any()
    ubiq = res[(res["feature"] == "t3") & (res["model"] == "prevalence") & (res["metadata"] == "group")]
    assert (ubiq["error"] == "All logistic values are the same").all() and ubiq["pval_individual"].isna().all()
    sep = res[(res["feature"] == "t4") & (res["model"] == "prevalence") & (res["name"] == "groupcase")].iloc[0]
    assert np.isfinite(sep["coef"]) and 2 < sep["coef"] < 15  # augmentation keeps it finite
    fitted = res[res["error"].isna()]
    assert fitted["pval_individual"].notna().all() and not fitted.empty
    # a random effect with one level per sample: lme4's error, per feature, never a crash
    adata.obs["sid"] = adata.obs_names
    res2 = gb.tl.maaslin3(adata, formula="~ group + (1|sid)", reference="group,control")
    assert res2["error"].notna().all()
    lme4_msg = res2["error"].str.startswith("number of levels of each grouping factor")
    # features present everywhere / only with cases keep their earlier errors (R's order of checks)
    earlier = res2["error"].isin(["All logistic values are the same", "No data points have the baseline factor level"])
    assert (lme4_msg | earlier).all() and lme4_msg.sum() > len(res2) / 2
    with pytest.raises(DataValueError, match="one random intercept"):
        gb.tl.maaslin3(adata, formula="~ group + (1|sid) + (1|subject)")


def test_random_intercept_runs_on_a_small_cohort() -> None:
    adata = _cohort(n=72, F=8, seed=2, per_subject=6)
    adata.X[adata.X < 8] = 0  # some absences, so that prevalence models exist
    res = gb.tl.maaslin3(adata, formula="~ group + (1|subject)", reference="group,control")
    ok = res[res["error"].isna()]
    assert set(ok["model"]) == {"abundance", "prevalence"}
    assert ok["pval_individual"].between(0, 1).all()
    small = gb.tl.maaslin3(_cohort(n=40, F=6, seed=2), formula="~ group + (1|subject)", reference="group,control")
    assert small.loc[small["model"] == "prevalence", "error"].str.startswith("<4 average observations").any()
