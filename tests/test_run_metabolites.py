"""``gutbrain run --metabolites``: a metabolite table beside the microbiome adds the metabolite step."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain import report
from gutbrain.cli import app
from gutbrain.workflow import _pipeline

KEYS = ("qc", "diff_abundance", "metabolites")


def _only(monkeypatch):
    monkeypatch.setattr(_pipeline, "STEPS", tuple(s for s in _pipeline.STEPS if s.key in KEYS))
    monkeypatch.setattr(report, "SECTIONS", tuple(s for s in report.SECTIONS
                                                  if s[0] in (*KEYS, "design", "provenance")))


def _files(tmp_path, n=60):
    ad = gb.datasets.demo_cohort(seed=1, n_samples=n, n_genera=40)
    X = np.asarray(ad.X.toarray() if hasattr(ad.X, "toarray") else ad.X, dtype=float)
    P = X / X.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    mtb = pd.DataFrame({
        "C1": np.exp(3 + 10 * P[:, 0] + rng.normal(0, 0.2, n)),  # butyrate, follows the first genus
        "C2": rng.lognormal(4, 0.3, n),
        "C3": rng.lognormal(3, 0.3, n),
    }, index=pd.Index(ad.obs_names, name="Sample"))
    mtb_path, map_path = tmp_path / "mtb.tsv", tmp_path / "mtb.map.tsv"
    mtb.to_csv(mtb_path, sep="\t")
    pd.DataFrame({"Compound": ["C1", "C2", "C3"], "Compound.Name": ["Butyrate", "Acetate", "Propionate"],
                  "HMDB": ["HMDB0000039", "HMDB0000042", "HMDB0000237"]}).to_csv(map_path, sep="\t", index=False)
    return ad, mtb, mtb_path, map_path


def test_run_attaches_metabolites_and_reports_them(tmp_path, monkeypatch):
    _only(monkeypatch)
    ad, mtb, mtb_path, map_path = _files(tmp_path)
    out = gb.workflow.run(ad, group="group", out=tmp_path / "o", metabolites=mtb_path,
                          metabolite_map=map_path, progress=False)
    got = out.obsm["metabolites"]
    assert got.shape == (ad.n_obs, 3)
    np.testing.assert_allclose(got.loc[ad.obs_names].to_numpy(), mtb.loc[ad.obs_names].to_numpy(), rtol=1e-12)
    assert list(out.uns["metabolites"]["map"]["name"]) == ["Butyrate", "Acetate", "Propionate"]
    assert out.uns["metabolite_report"]["params"]["origin"] != "metadata"
    inputs = out.uns["gutbrain"]["inputs"]
    assert any(v.get("sha256") == hashlib.sha256(mtb_path.read_bytes()).hexdigest() for v in inputs.values())
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert 'id="metabolites"' in html or "Metabolites" in html
    assert "Butyrate" in html


def test_cli_run_metabolite_map_without_table_is_a_clean_error(tmp_path):
    ad, _, _, map_path = _files(tmp_path, n=20)
    table = tmp_path / "t.h5ad"
    gb.io.write(ad, table)
    r = CliRunner().invoke(app, ["run", str(table), "--group", "group", "--metabolite-map", str(map_path),
                                 "--out", str(tmp_path / "o"), "--no-progress"])
    assert r.exit_code == 2, r.output
    assert "metabolite map was given without a metabolite table" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o" / "report.html").exists()
