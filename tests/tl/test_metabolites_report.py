"""Metabolite step + section (rendered from stored slots), listed in the run and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd

import gutbrain as gb
from gutbrain.report import SECTIONS
from gutbrain.report._sections_metabolites import metabolites_section
from gutbrain.tl._metabolites_report import metabolites_step
from gutbrain.workflow import STEPS


def _cohort(n=60):
    ad = gb.datasets.demo_cohort(seed=1, n_samples=n, n_genera=40)
    rng = np.random.default_rng(0)
    P = np.asarray(ad.X.toarray() if hasattr(ad.X, "toarray") else ad.X, dtype=float)
    P = P / P.sum(axis=1, keepdims=True)
    ad.obs["fecal_butyrate"] = np.exp(3 + 10 * P[:, 0] + rng.normal(0, 0.2, n))
    ad.obs["acetate"] = rng.lognormal(4, 0.3, n)
    ad.obs["propionate"] = rng.lognormal(3, 0.3, n)
    return ad


def test_step_reads_scfa_from_metadata_and_section_renders():
    ad = _cohort()
    cfg = {"group": "group", "seed": 0}
    metabolites_step(ad, cfg)
    info = ad.uns["metabolite_report"]
    assert info["params"]["origin"] == "metadata"
    assert set(ad.obsm["metabolites"].columns) == {"fecal_butyrate", "acetate", "propionate"}
    sbg = info["scfa_by_group"]
    assert list(sbg["metabolite"]) == ["Acetate", "Propionate", "Butyrate"]
    assert sbg["test"].isin(["Mann–Whitney U", "Kruskal–Wallis"]).all() and sbg["qval"].between(0, 1).all()
    pm = info["prediction_metrics"]
    assert {"ridge on CLR genera (out of fold)", "butyrate_capacity (literature index)"} <= set(pm["model"])
    assert len(info["index_validation"]) == 2
    sec = metabolites_section(ad, {"config": cfg})
    names = [f.name for f in sec.figures]
    assert {"metabolite_heatmap", "scfa_by_group", "predicted_butyrate", "butyrate_index_validation"} <= set(names)
    assert any("Measured faecal butyrate" in p for p in sec.paragraphs)
    assert all(f.svg.startswith("<svg") for f in sec.figures)
    # listed in gutbrain run: the step after the classifier, the section after the classifier's
    keys = [s.key for s in STEPS]
    assert keys.index("diff_abundance") < keys.index("metabolites")
    assert dict(SECTIONS)["metabolites"] is metabolites_section


def test_no_metabolites_no_section():
    ad = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=20)
    ad.obs = ad.obs[[c for c in ad.obs.columns if c not in ("pain_score",)]]
    metabolites_step(ad, {})
    assert "metabolite_report" not in ad.uns
    assert metabolites_section(ad, {}) is None


def test_section_survives_h5ad(tmp_path):
    ad = _cohort(40)
    metabolites_step(ad, {"group": "group"})
    gb.io.write_h5ad(ad, tmp_path / "a.h5ad")
    back = gb.io.read_h5ad(tmp_path / "a.h5ad")
    sec = metabolites_section(back, {"config": {"group": "group"}})
    assert sec is not None and len(sec.tables) >= 3
    assert isinstance(back.uns["metabolite_report"]["prediction_metrics"], pd.DataFrame)
