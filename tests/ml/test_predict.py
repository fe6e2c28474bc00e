"""predict_metabolite: grouped nested CV, no leakage, metrics, MelonnPan-style tuning, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import ElasticNetCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import KFold

import gutbrain as gb
from gutbrain import DataValueError
from gutbrain.ml._predict import ElasticNet1SE, regression_metrics
from gutbrain.tl._metabolites import taxa_log_ratios
from tests.conftest import shared_path


def _cohort(n=90, T=25, seed=0, signal=True, n_subjects=30):
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), n // n_subjects)
    person = rng.normal(0, 1, size=(n_subjects, T))
    counts = rng.poisson(np.exp(3 + person[subj] + 0.3 * rng.normal(size=(n, T)))).astype(float)
    clr = taxa_log_ratios(counts, unit="counts")
    y = 3 + (0.6 * clr[:, 0] - 0.4 * clr[:, 1] if signal else 0) + rng.normal(0, 0.3, n)
    names = [f"d__Bacteria;g__Genus{j}" for j in range(T)]
    ad = gb._core.new_adata(counts, obs_names=[f"s{i}" for i in range(n)], var_names=names, unit="counts",
                            reader="test")
    ad.var["genus"] = [f"Genus{j}" for j in range(T)]
    ad.obs["subject"] = pd.Categorical([f"p{s}" for s in subj])
    mtb = pd.DataFrame({"Butyrate": np.exp(y)}, index=ad.obs_names)
    mtb.iloc[:3, 0] = np.nan
    return gb.io.attach_metabolites(ad, mtb)


def test_grouped_nested_cv_predicts_planted_signal_out_of_fold():
    ad = _cohort()
    res = gb.ml.predict_metabolite(ad, target="butyrate", groups="subject", models=("ridge", "enet"),
                                   n_boot=200, evidence=False)
    p = res.predictions
    assert list(p.columns[:4]) == ["sample", "observed", "predicted", "fold"]
    assert len(p) == 87 and p["sample"].is_unique  # 3 unmeasured samples left out, none imputed
    assert res.params["n_missing_target"] == 3 and res.params["bootstrap"] == "groups"
    # grouped: every subject sits in exactly one outer fold
    assert p.groupby("group")["fold"].nunique().max() == 1
    assert res.metric("spearman") > 0.6 and res.metric("r2") > 0.3
    m = res.metrics.set_index("metric")
    assert m.at["spearman", "ci_low"] < m.at["spearman", "value"] < m.at["spearman", "ci_high"]
    assert set(res.selection["model"]) <= {"ridge", "enet"} and len(res.selection) == 5
    top = res.importances.head(2)
    assert set(top["taxon"]) == {"Genus0", "Genus1"}
    assert dict(zip(top["taxon"], top["direction"])) == {"Genus0": "+", "Genus1": "-"}
    assert "predict_metabolite" in ad.uns and ad.uns["predict_metabolite"]["params"]["target"] == "Butyrate"


def test_no_signal_no_skill():
    ad = _cohort(signal=False, seed=3)
    res = gb.ml.predict_metabolite(ad, target="Butyrate", groups="subject", models=("ridge",), n_boot=100,
                                   evidence=False)
    assert res.metric("spearman") < 0.35 and res.metric("r2") < 0.1


def test_metrics_equal_scipy_and_sklearn_and_cluster_bootstrap():
    rng = np.random.default_rng(4)
    y = rng.normal(size=50)
    p = y + rng.normal(size=50)
    g = np.repeat(np.arange(10), 5)
    m = regression_metrics(y, p, groups=g, n_boot=300).set_index("metric")
    assert m.at["spearman", "value"] == pytest.approx(stats.spearmanr(y, p)[0], rel=1e-12)
    assert m.at["r2", "value"] == pytest.approx(r2_score(y, p), rel=1e-12)
    assert m.at["mae", "value"] == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    m2 = regression_metrics(y, p, groups=g, n_boot=300).set_index("metric")
    pd.testing.assert_frame_equal(m, m2)  # seeded


def test_elastic_net_one_standard_error_rule():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 15))
    y = X[:, 0] - 0.5 * X[:, 1] + rng.normal(0, 0.5, 80)
    est = ElasticNet1SE(l1_ratios=(0.5,), n_alphas=30, cv=5, random_state=1).fit(X, y)
    kw = {"n_alphas": 30} if "n_alphas" in ElasticNetCV.__init__.__code__.co_varnames else {"alphas": 30}
    cv = ElasticNetCV(l1_ratio=[0.5], cv=KFold(5, shuffle=True, random_state=1), max_iter=1000, eps=1e-4,
                      **kw).fit(X, y)  # glmnet lambda.min.ratio for n > p
    mse = cv.mse_path_.reshape(30, 5)
    mean, se = mse.mean(axis=1), mse.std(axis=1, ddof=1) / np.sqrt(5)
    k = int(np.argmin(mean))
    alphas = cv.alphas_.ravel()
    expect = alphas[mean <= mean[k] + se[k]].max()
    assert est.alpha_ == pytest.approx(expect, rel=1e-12)
    assert est.alpha_ >= cv.alpha_  # the 1-SE choice is never less regularised than the minimum
    assert np.abs(est.predict(X) - y).mean() < 1.0


def test_bad_input_messages():
    ad = _cohort(n=30, n_subjects=3)
    with pytest.raises(DataValueError, match=r"3 groups in 'subject' for 5 folds: a fold would be empty"):
        gb.ml.predict_metabolite(ad, target="Butyrate", groups="subject", models=("ridge",), evidence=False)
    small = _cohort(n=30, n_subjects=30)
    small.obsm["metabolites"].iloc[:12, 0] = np.nan
    with pytest.raises(DataValueError, match=r"18 measured values; prediction needs at least 20"):
        gb.ml.predict_metabolite(small, target="Butyrate", models=("ridge",), evidence=False)
    ad2 = _cohort()
    ad2.obs["subject"] = ad2.obs["subject"].cat.add_categories([]).astype(object)
    ad2.obs.iloc[10, ad2.obs.columns.get_loc("subject")] = np.nan
    with pytest.raises(DataValueError, match="group column 'subject' is empty for 1 measured samples"):
        gb.ml.predict_metabolite(ad2, target="Butyrate", groups="subject", models=("ridge",), evidence=False)
    with pytest.raises(DataValueError, match="unknown model"):
        gb.ml.predict_metabolite(ad2, target="Butyrate", models=("svm",))


def test_rank_inverse_normal_matches_training_ranks_and_places_new_values():
    from scipy.special import ndtri

    from gutbrain.ml._predict import RankInverseNormal

    X = np.array([[3.0], [1.0], [2.0], [2.0]])
    t = RankInverseNormal().fit(X)
    ranks = stats.rankdata(X[:, 0])
    np.testing.assert_allclose(t.transform(X)[:, 0], ndtri((ranks - 0.5) / 4), rtol=1e-12)
    new = t.transform(np.array([[1.5], [10.0]]))[:, 0]
    assert ndtri(0.5 / 4) < new[0] < ndtri(1.5 / 4) and new[1] == pytest.approx(ndtri(3.5 / 4))


def test_melonnpan_style_runs_inside_the_same_folds(monkeypatch):
    import gutbrain.ml._predict as mod

    monkeypatch.setattr(mod, "MELONNPAN_L1_RATIOS", (0.2, 0.5, 0.8))  # published grid: 0.05…0.95
    monkeypatch.setattr(mod, "MELONNPAN_N_ALPHAS", 25)
    ad = _cohort(n=60, T=12, seed=6)
    res = gb.ml.predict_metabolite(ad, target="Butyrate", groups="subject", models=("melonnpan",),
                                   n_boot=50, evidence=False)
    assert set(res.selection["model"]) == {"melonnpan"}
    assert res.selection["params"].str.contains("l1_ratio").all()
    assert res.metric("spearman") > 0.5


@pytest.mark.shared
@pytest.mark.slow
def test_mars_butyrate_model_beats_the_literature_index_out_of_fold():
    """Mars 2020: 440 NMR butyrate values of 75 adults; subject-grouped nested CV."""
    d = shared_path("data", "mars2020_ibs_longitudinal")
    ad = gb.io.read(d / "genera.counts.tsv.gz")
    ad = gb.io.attach_metadata(ad, gb.io.read_metadata(d / "metadata.tsv", id_column="Sample"))
    ad = gb.io.attach_metabolites(ad, d / "mtb.tsv", map=d / "mtb.map.tsv")
    res = gb.ml.predict_metabolite(ad, target="Butyrate", groups="Subject", models=("ridge",), n_boot=200,
                                   inner_splits=3, evidence=True)
    rho = res.metric("spearman")
    base = res.baselines
    lit = float(base.loc[(base["model"].str.startswith("butyrate_capacity")) & (base["metric"] == "spearman"),
                         "value"].iloc[0])
    assert res.params["n_samples"] == 440 and res.params["n_groups"] == 75
    assert lit == pytest.approx(0.3975, abs=1e-3)  # shipped validation table, same samples
    assert rho > 0.45 and rho > lit + 0.05
    assert "guilds" in res.importances.columns
