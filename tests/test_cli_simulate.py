"""``gutbrain simulate`` commands (CliRunner)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from gutbrain.cli import app

runner = CliRunner()


def test_simulate_lps_writes_trajectory_plot_and_provenance(tmp_path):
    out = tmp_path / "lps"
    r = runner.invoke(app, ["simulate", "lps", "--dose", "2", "--hours", "12", "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "trajectory.tsv", sep="\t")
    assert list(df.columns) == ["time_h", "TNF", "IL6", "IL8", "IL10", "PPT"]
    # Copeland et al. 2005 (mean ± SEM at 2 h): TNF 220 ± 33, IL-6 882 ± 138 pg/mL
    row = df[np.isclose(df["time_h"], 2.0)].iloc[0]
    assert abs(row["TNF"] - 220) <= 66 and abs(row["IL6"] - 882) <= 276
    # de Goeij et al. 2013: PPT -20 ± 4 % at 2 h
    assert abs((100 - row["PPT"]) - 20) <= 8
    assert df["time_h"].iloc[-1] == 12
    assert (out / "trajectory.svg").stat().st_size > 1000
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["gutbrain_version"] and prov["validation_within_ranges"] is True
    assert prov["parameters"]["k_PE"] == 1.0819


def test_simulate_lps_rejects_negative_dose(tmp_path):
    r = runner.invoke(app, ["simulate", "lps", "--dose", "-1", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "dose" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x" / "trajectory.tsv").exists()


def test_simulate_scenario_with_sample_table(tmp_path):
    table = pd.DataFrame({
        "sample": [f"s{i}" for i in range(6)],
        "gbi_butyrate_capacity": [0.1, 0.2, 0.3, 0.6, 0.7, 0.8],
        "gbi_endotoxin_potential": [5.0, 4, 3, 2, 1, 0.5],
        "group": ["a", "a", "a", "b", "b", "b"],
    })
    path = tmp_path / "samples.tsv"
    table.to_csv(path, sep="\t", index=False)
    out = tmp_path / "sc"
    r = runner.invoke(app, ["simulate", "scenario", "baseline", "--sample-table", str(path),
                            "--group", "group", "--ensemble", "8", "--jobs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    end = pd.read_csv(out / "endpoint.tsv", sep="\t")
    assert set(end["label"]) == {"a", "b"}
    fold = end[end.output == "LPS_fold"].set_index("label")["q50"]
    assert fold["a"] > fold["b"]
    assert end["evidence"].str.contains("hypothesis").all()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["random_state"] == 0 and "disclaimer" in prov
    assert (out / "bands.svg").exists() and (out / "parameter_draws.tsv").exists()


def test_simulate_scenario_unknown_name(tmp_path):
    r = runner.invoke(app, ["simulate", "scenario", "nosuch", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown scenario" in r.output


def test_simulate_sobol_small(tmp_path):
    out = tmp_path / "sobol"
    r = runner.invoke(app, ["simulate", "sobol", "--scenario", "lps", "--n", "8", "--jobs", "1",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = pd.read_csv(out / "sobol.tsv", sep="\t")
    assert {"metric", "parameter", "evidence", "S1", "ST"} <= set(s.columns)
    # IL-8 decay cannot influence peak TNF: total index exactly 0
    v = s[(s.metric == "TNF_peak") & (s.parameter == "k_8")]["ST"].iloc[0]
    assert abs(v) < 1e-12
    r = runner.invoke(app, ["simulate", "sobol", "--n", "100", "--out", str(out)])
    assert r.exit_code == 2 and "power of 2" in r.output


def test_export_sbml(tmp_path):
    import libsbml
    import roadrunner

    out = tmp_path / "core.xml"
    r = runner.invoke(app, ["simulate", "export-sbml", "dobreva2021", str(out)])
    assert r.exit_code == 0, r.output
    doc = libsbml.readSBMLFromFile(str(out))
    doc.checkConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    assert errors == []
    rr = roadrunner.RoadRunner(str(out))
    rr["PE"] = 2.0
    res = rr.simulate(0, 1.72, 173, selections=["time", "TNF"])
    assert abs(res[-1, 1] - 257) < 3  # REFERENCE §3: TNF 257 pg/mL at 1.72 h
    r = runner.invoke(app, ["simulate", "export-sbml", "nosuch", str(tmp_path / "n.xml")])
    assert r.exit_code == 2 and not (tmp_path / "n.xml").exists()
