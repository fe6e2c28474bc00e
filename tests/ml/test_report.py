"""``gutbrain run`` integration of gb.ml: the health-index (56) and classifier (75) steps and sections.

The step/section numbers are compared with direct calls of ``gb.ml.classify`` /
``gb.ml.health_index`` on a copy of the same data, never with hard-coded values.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain.report import SECTIONS
from gutbrain.report import _sections_ml as R
from gutbrain.workflow import RunConfig, _pipeline
from gutbrain.workflow import _steps as steps

CFG = {"group": "group", "seed": 3, "rank": "genus"}


def _cfg(ad, **kw):
    """The run's resolved (data, config), with the group plan stored as ``gutbrain run`` does."""
    ad, cfg = RunConfig.create(**kw).resolve(ad)
    if cfg.plan is not None:
        ad.uns["workflow"] = {"group": cfg.plan.as_dict()}
    return ad, cfg


@pytest.fixture(scope="module")
def demo_run():
    ad = gb.datasets.demo_cohort(seed=0)
    raw = ad.copy()
    ad, cfg = _cfg(ad, **CFG)
    steps.classifier(ad, cfg)
    steps.gutbrain_health_index(ad, cfg)
    return ad, raw


@pytest.fixture(scope="module")
def direct(demo_run):
    _, raw = demo_run
    ad = raw.copy()
    res = gb.ml.classify(ad, label="group", positive="chronic_pain", model="l1", transform="clr",
                         cv="repeated", n_splits=5, n_repeats=2, n_boot=steps.N_BOOT, rank="genus",
                         random_state=CFG["seed"])
    return res


def test_listed_in_run_and_report_order():
    keys = [s.key for s in _pipeline.STEPS]
    assert keys.index("gutbrain_health_index") < keys.index("diff_abundance") < keys.index("classifier")
    assert dict((s.key, s.fn) for s in _pipeline.STEPS)["classifier"] is steps.classifier
    sections = dict(SECTIONS)
    assert sections["classifier"] is R.classifier_section
    assert sections["gutbrain_health_index"] is R.health_index_section


def test_classifier_step_equals_direct_call(demo_run, direct):
    ad, _ = demo_run
    info = ad.uns["classifier"]
    pd.testing.assert_frame_equal(pd.DataFrame(info["metrics"]), direct.metrics)
    pd.testing.assert_frame_equal(pd.DataFrame(info["importances"]), direct.importances)
    np.testing.assert_array_equal(pd.DataFrame(info["predictions"])["y_score"], direct.predictions["y_score"])
    p = info["params"]
    assert (p["model"], p["transform"], p["n_repeats"], p["n_splits"]) == ("l1", "clr", 2, 5)
    assert p["random_state"] == CFG["seed"] and p["positive"] == "chronic_pain"
    # the planted demo effects make the groups separable above chance
    assert direct.metric("auroc") > 0.55


def test_classifier_section_reports_the_stored_numbers(demo_run, direct):
    ad, _ = demo_run
    sec = R.classifier_section(ad, {})
    assert sec.key == "classifier" and sec.order == 75
    text = " ".join(sec.paragraphs)
    m = direct.metrics.set_index("metric")
    for name in ("auroc", "auprc"):
        row = m.loc[name]
        assert f"{row['value']:.3f} (95 % CI {row['ci_low']:.3f}–{row['ci_high']:.3f}" in text
    assert "leakage-safe" in text and "inside every training fold" in text
    perf = dict(sec.tables)["Cross-validated performance"].set_index("metric")
    assert perf.loc["auroc", "value"] == m.loc["auroc", "value"]
    assert perf.loc["auprc", "ci_low"] == m.loc["auprc", "ci_low"]
    _caption, top = next(t for t in sec.tables if t[0].startswith("Top"))
    exp = direct.importances.head(R.N_TOP)
    assert top["feature"].tolist() == exp["feature"].tolist()
    np.testing.assert_array_equal(top["mean_coefficient"], exp["importance"])
    assert (top["direction"].str.startswith("higher") == (exp["importance"] > 0)).all()
    assert len(sec.figures) == 1 and sec.figures[0].svg and "<svg" in sec.figures[0].svg


def test_health_index_step_and_section_equal_direct_call(demo_run):
    ad, raw = demo_run
    ref = raw.copy()
    direct = gb.ml.health_index(ref)
    np.testing.assert_array_equal(ad.obs["health_index"].to_numpy(), direct.to_numpy())
    sec = R.health_index_section(ad, {})
    assert sec.order == 56
    text = " ".join(sec.paragraphs)
    # the demo is a genus (16S-like) table: no values, and the section says why
    assert direct.isna().all() and "not a species-level profile" in text
    # every index is shown with its stored out-of-study figures
    v = gb.ml.health_index_validation().set_index("index")
    for name in ("GMHI", "GMWI2", "gutbrain"):
        r = v.loc[name]
        assert f"{name}: AUROC {r['auroc']:.3f} (95 % CI {r['auroc_low']:.3f}–{r['auroc_high']:.3f})" in text
        assert f"balanced accuracy {r['balanced_accuracy']:.3f} (95 % CI {r['ba_low']:.3f}" in text
    tab = sec.tables[0][1]
    assert list(tab["status"]) == list(gb.ml.health_index_validation()["status"])
    cal = gb.ml.health_index_calibration()
    assert f"Brier score {float(cal.attrs['brier']):.3f}" in text
    assert len(sec.figures) == 1 and "<svg" in sec.figures[0].svg


def test_health_index_section_on_species_profiles(shared):
    ad = gb.io.read(shared / "data" / "gmhi2020_health_index" / "species_relative_abundances.csv")
    ad.obs["group"] = np.where(np.arange(ad.n_obs) < 12, "a", "b")
    ad, cfg = _cfg(ad, group="group")
    steps.gutbrain_health_index(ad, cfg)
    sec = R.health_index_section(ad, {})
    by = next(t for c, t in sec.tables if c.startswith("gutbrain's health index by")).set_index("group")
    v = ad.obs["health_index"]
    for lev in ("a", "b"):
        m = (ad.obs["group"] == lev).to_numpy()
        assert by.loc[lev, "n_scored"] == int(v[m].notna().sum())
        assert by.loc[lev, "median_value"] == pytest.approx(float(v[m].median()), rel=1e-12)
        assert by.loc[lev, "classed_healthy"] == pytest.approx(float((v[m].dropna() > 0).mean()))
    text = " ".join(sec.paragraphs)
    assert f"{int(v.notna().sum())} of {ad.n_obs} samples scored" in text
    if v.isna().any():
        assert "have no value" in text


def test_section_leads_with_gmhi_when_gutbrain_loses(monkeypatch):
    from gutbrain.ml import _validation as V

    tab, meta = V._loso_cached()
    worse = tab.copy()
    worse.loc[(worse["index"] == "gutbrain") & (worse["study"] == "pooled"), "auroc"] = 0.6
    monkeypatch.setattr(V, "_loso_cached", lambda: (worse, meta))
    ad = gb.datasets.demo_cohort(seed=1, n_samples=10, n_genera=20)
    sec = R.health_index_section(ad, {})
    assert "experimental" in sec.title
    assert sec.paragraphs[0].startswith("Use GMHI and GMWI2 first") and "EXPERIMENTAL" in sec.paragraphs[0]
    assert list(sec.tables[0][1]["index"])[-1] == "gutbrain health index"


def test_classifier_skips_with_a_reason():
    ad = gb.datasets.demo_cohort(seed=1, n_samples=40, n_genera=40)
    # no group: skipped, and the section is absent
    with pytest.raises(steps.StepSkipped, match="no --group"):
        steps.classifier(*_cfg(ad.copy()))
    assert "classifier" not in ad.uns and R.classifier_section(ad, {}) is None
    # three levels
    ad.obs["arm"] = pd.Categorical(np.array(["a", "b", "c", "a"] * 10))
    with pytest.raises(steps.StepSkipped, match="two groups; arm has 3"):
        steps.classifier(*_cfg(ad.copy(), group="arm"))
    # two levels but fewer than 10 samples in one
    ad.obs["rare"] = np.where(np.arange(40) < 9, "pain", "control")
    with pytest.raises(steps.StepSkipped, match=f"at least {steps.MIN_PER_CLASS} samples per group"):
        steps.classifier(*_cfg(ad.copy(), group="rare"))
    # a plain string column: the non-control level is the positive class
    ad.obs["status"] = np.where(np.arange(40) % 2 == 0, "pain", "Control")
    _sub, cfg = _cfg(ad.copy(), group="status", seed=5)
    assert cfg.plan.case == "pain" and cfg.plan.reference == "Control"


def test_sections_render_in_the_report(demo_run, tmp_path):
    ad, _ = demo_run
    html = gb.report.build(ad, tmp_path / "r.html", generated_at="2024-01-01T00:00:00+00:00",
                           context={}).read_text(encoding="utf-8")
    for key in ("classifier", "gutbrain_health_index"):
        assert re.search(rf"<!-- section:{key} -->.*?<!-- /section:{key} -->", html, flags=re.S)
    assert html.index("<!-- section:gutbrain_health_index -->") < html.index("<!-- section:classifier -->")
