"""CLI: gutbrain index list|NAME and gutbrain modules (CliRunner)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from gutbrain.cli import app
from tests.conftest import shared_path

runner = CliRunner()


def test_index_list_names_all_indices():
    res = runner.invoke(app, ["index", "list"])
    assert res.exit_code == 0
    names = [ln.split("\t")[0] for ln in res.output.strip().splitlines()]
    assert {"gmhi", "gmwi2", "endotoxin_potential", "pain_marker_panel"} <= set(names)


def test_index_gmwi2_on_metaphlan_profile(tmp_path):
    src = shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    out = tmp_path / "gmwi2.tsv"
    res = runner.invoke(app, ["index", "gmwi2", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns[:3]) == ["sample", "value", "coverage"]
    assert df["value"].iloc[0] == pytest.approx(1.4017773651306447, abs=1e-9)
    assert df["n_model_features"].iloc[0] == 95


def test_index_on_16s_table_with_taxonomy(tmp_path):
    table = tmp_path / "t.tsv"
    taxo = tmp_path / "tax.tsv"
    table.write_text("#OTU ID\tA\tB\nf1\t10\t0\nf2\t30\t5\n")
    taxo.write_text("Feature ID\tTaxon\n"
                    "f1\tk__Bacteria;p__Proteobacteria;c__Gammaproteobacteria;o__Enterobacteriales;f__Enterobacteriaceae;g__Escherichia;s__\n"
                    "f2\tk__Bacteria;p__Firmicutes;c__Clostridia;o__Clostridiales;f__Ruminococcaceae;g__Faecalibacterium;s__\n")
    out = tmp_path / "o.tsv"
    res = runner.invoke(app, ["index", "endotoxin_potential", str(table), "--taxonomy", str(taxo),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, sep="\t").set_index("sample")
    assert df.loc["A", "value"] == pytest.approx(0.25)
    assert df.loc["B", "value"] == pytest.approx(0.0)
    assert df["coverage"].tolist() == pytest.approx([1.0, 1.0])


def test_index_errors_exit_2_without_writing(tmp_path):
    out = tmp_path / "x.tsv"
    res = runner.invoke(app, ["index", "nope", "t.tsv", "--out", str(out)])
    assert res.exit_code == 2 and "unknown index" in res.output
    res = runner.invoke(app, ["index", "gmhi", str(tmp_path / "missing.tsv"), "--out", str(out)])
    assert res.exit_code == 2 and "not found" in res.output
    assert not out.exists()


def test_modules_command(tmp_path):
    d = shared_path("data", "gut_modules_gbm_gmm")
    out = tmp_path / "m.tsv"
    res = runner.invoke(app, ["modules", str(d / "omixer_test_matrix.tsv"), "--definitions",
                              str(d / "GMMs.v1.07.txt"), "--coverage", "0.66",
                              "--normalize-by-length", "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out, sep="\t").set_index("module")
    assert df.loc["MF0004", "S1"] == pytest.approx(708.5907183, abs=5e-7)
    assert df.loc["MF0004", "name"] == "pectine degradation II"
    bad = tmp_path / "bad.tsv"
    bad.write_text("entry\tS1\nK00001\tx\n")
    res = runner.invoke(app, ["modules", str(bad), "--definitions", str(d / "GMMs.v1.07.txt"),
                              "--out", str(tmp_path / "n.tsv")])
    assert res.exit_code == 2 and "non-numeric" in res.output
    assert not (tmp_path / "n.tsv").exists()
