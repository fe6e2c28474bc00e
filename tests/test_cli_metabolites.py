"""CLI: gutbrain metabolites associate / predict (files, columns, numbers, bad input → exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain.cli import app
from tests.conftest import shared_path

runner = CliRunner()


def _files(tmp_path, n=60):
    ad = gb.datasets.demo_cohort(seed=0, n_samples=n, n_genera=40)
    X = np.asarray(ad.X.toarray() if hasattr(ad.X, "toarray") else ad.X)
    table = pd.DataFrame(X.T.astype(int), index=ad.var["taxonomy"].astype(str), columns=ad.obs_names)
    table.index.name = "#OTU ID"
    tpath = tmp_path / "table.tsv"
    table.to_csv(tpath, sep="\t")
    meta = ad.obs[["group", "subject", "age"]].copy()
    meta.index.name = "sample-id"
    mpath = tmp_path / "meta.tsv"
    meta.to_csv(mpath, sep="\t")
    rng = np.random.default_rng(0)
    P = X / X.sum(axis=1, keepdims=True)
    rose = P[:, list(ad.var["genus"]).index("Roseburia")] if "Roseburia" in set(ad.var["genus"]) else P[:, 0]
    mtb = pd.DataFrame({"Butyrate": np.exp(3 + 8 * rose + rng.normal(0, 0.2, n)),
                        "Acetate": rng.lognormal(4, 0.3, n)}, index=ad.obs_names).T  # metabolites as rows
    mtb.index.name = "Compound"
    bpath = tmp_path / "mtb.tsv"
    mtb.to_csv(bpath, sep="\t")
    return tpath, mpath, bpath


def test_associate_writes_tidy_table_heatmap_and_provenance(tmp_path):
    tpath, mpath, bpath = _files(tmp_path)
    out = tmp_path / "assoc"
    r = runner.invoke(app, ["metabolites", "associate", str(tpath), "--metabolites", str(bpath),
                            "--metadata", str(mpath), "--formula", "~ age", "--rho", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out / "associations.tsv", sep="\t")
    assert list(res.columns[:4]) == ["taxon", "metabolite", "metabolite_name", "class"]
    assert {"coef", "pval", "qval", "rho"} <= set(res.columns)
    assert (out / "heatmap.svg").read_text().startswith("<svg")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["metabolites"]["orientation"] == "metabolites-as-rows"
    assert prov["gutbrain"]["inputs"]["metabolites"]["sha256"]
    assert prov["metabolite_associations"]["formula"] == "~ age"
    assert "pairs" in r.output


def test_predict_writes_the_contract_outputs(tmp_path):
    tpath, mpath, bpath = _files(tmp_path)
    out = tmp_path / "pred"
    r = runner.invoke(app, ["metabolites", "predict", str(tpath), "--metabolites", str(bpath), "--target",
                            "butyrate", "--metadata", str(mpath), "--groups", "subject", "--models", "ridge",
                            "--n-boot", "100", "--out", str(out)])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert list(pred.columns[:4]) == ["sample", "observed", "predicted", "fold"]
    assert pred.groupby("group")["fold"].nunique().max() == 1
    m = pd.read_csv(out / "metrics.tsv", sep="\t").set_index("metric")
    assert {"spearman", "r2", "mae"} <= set(m.index)
    rho = pred[["observed", "predicted"]].corr(method="spearman").iloc[0, 1]
    assert m.at["spearman", "value"] == pytest.approx(rho, abs=1e-4)  # metrics are those of the file
    for f in ("baselines.tsv", "top_taxa.tsv", "model_selection.tsv", "observed_vs_predicted.svg"):
        assert (out / f).exists()
    assert "Spearman" in r.output and "grouped nested CV" in r.output


def test_bad_input_is_one_line_exit_2(tmp_path):
    tpath, mpath, bpath = _files(tmp_path)
    bad = tmp_path / "bad.tsv"
    bad.write_text(bpath.read_text().replace("\t", "\t-", 1).replace("Compound\t-", "Compound\t"))
    neg = tmp_path / "neg.tsv"
    lines = bpath.read_text().splitlines()
    cells = lines[1].split("\t")
    cells[1] = "-3"
    neg.write_text("\n".join([lines[0], "\t".join(cells), *lines[2:]]) + "\n")
    r = runner.invoke(app, ["metabolites", "predict", str(tpath), "--metabolites", str(neg), "--target",
                            "Butyrate", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "negative concentration -3" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["metabolites", "predict", str(tpath), "--metabolites", str(bpath), "--target",
                            "Serotonin", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no metabolite 'Serotonin'" in r.output
    r = runner.invoke(app, ["metabolites", "predict", str(tpath), "--metabolites", str(bpath), "--target",
                            "Butyrate", "--metadata", str(mpath), "--groups", "group", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "a fold would be empty" in r.output
    r = runner.invoke(app, ["metabolites", "associate", str(tpath), "--metabolites", str(tmp_path / "nope.tsv"),
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "file not found" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.shared
def test_dnbs_rodent_scfa_via_where(tmp_path):
    d = shared_path("data", "dnbs_fmt_visceral_pain_rodent")
    out = tmp_path / "dnbs"
    r = runner.invoke(app, ["metabolites", "associate", str(d / "genus_table_from_dada2.csv"),
                            "--metabolites", str(d / "Pathological_FMT.csv"),
                            "--metabolites", str(d / "Therapeutic_FMT.csv"),
                            "--metadata", str(d / "metadata_DNBS.csv"), "--where", "Timepoint=D32,D42",
                            "--lineage-sep", "_", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "on 31 samples" in r.output
    res = pd.read_csv(out / "associations.tsv", sep="\t")
    assert "Roseburia" in set(res["taxon"]) and set(res["N"]) <= {31}
