"""CLI: gutbrain classify, index health, power (files written, numbers consistent, bad input exit 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain.cli import app

runner = CliRunner()


def _write_demo(tmp_path, n=80, n_genera=40):
    ad = gb.datasets.demo_cohort(seed=0, n_samples=n, n_genera=n_genera)
    X = np.asarray(ad.X.toarray() if hasattr(ad.X, "toarray") else ad.X)
    lineage = ad.var["taxonomy"].astype(str).tolist()
    table = pd.DataFrame(X.T.astype(int), index=lineage, columns=ad.obs_names)
    table.index.name = "#OTU ID"
    tpath = tmp_path / "table.tsv"
    table.to_csv(tpath, sep="\t")
    meta = ad.obs[["group", "age", "pain_score"]].copy()
    meta.index.name = "sample-id"
    mpath = tmp_path / "meta.tsv"
    meta.to_csv(mpath, sep="\t")
    return ad, tpath, mpath


def test_classify_writes_results(tmp_path):
    _, tpath, mpath = _write_demo(tmp_path)
    out = tmp_path / "clf"
    r = runner.invoke(app, ["classify", str(tpath), "--metadata", str(mpath), "--label", "group",
                            "--model", "l1", "--repeats", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = pd.read_csv(out / "metrics.tsv", sep="\t").set_index("metric")
    pred = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert len(pred) == 80
    # the reported AUROC is that of the written out-of-fold predictions (scores rounded to 6 digits)
    recomputed = gb.ml.fast_auc(pred.y_true, pred.y_score.to_numpy()[None])[0]
    assert abs(m.loc["auroc", "value"] - recomputed) < 0.01
    assert m.loc["auroc", "ci_low"] < m.loc["auroc", "value"] < m.loc["auroc", "ci_high"]
    assert (out / "roc.svg").read_text().lstrip().startswith("<svg")


def test_classify_bad_label_exits_2(tmp_path):
    _, tpath, mpath = _write_demo(tmp_path, n=30, n_genera=20)
    r = runner.invoke(app, ["classify", str(tpath), "--metadata", str(mpath), "--label", "nope",
                            "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "nope" in r.output and "Fix:" in r.output
    assert not (tmp_path / "x").exists()


def test_health_index_cli(tmp_path):
    from tests.conftest import shared_path

    src = shared_path("data", "gmhi2020_health_index", "species_relative_abundances.csv")
    out = tmp_path / "health.tsv"
    r = runner.invoke(app, ["index", "health", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out, sep="\t", keep_default_na=False, na_values=[""])
    assert list(res.columns[:5]) == ["sample", "value", "probability", "threshold", "class"]
    assert {"coverage", "n_species_detected", "note"} <= set(res.columns)
    m = gb.ml.health_index_model()
    assert (res["threshold"] == m.threshold).all()
    ok = res["value"].notna()
    assert ((res.loc[ok, "value"] > 0) == (res.loc[ok, "class"] == "healthy")).all()
    assert ((res.loc[ok, "probability"] > m.threshold) == (res.loc[ok, "value"] > 0)).all()
    # value = logit(probability) - logit(threshold)
    lp = np.log(res.loc[ok, "probability"] / (1 - res.loc[ok, "probability"]))
    np.testing.assert_allclose(res.loc[ok, "value"], lp - np.log(m.threshold / (1 - m.threshold)), atol=1e-9)
    assert (res.loc[~ok, "note"].str.len() > 0).all() and (res.loc[ok, "note"].fillna("") == "").all()


def test_health_index_cli_on_a_16s_table_gives_nan(tmp_path):
    _, tpath, _ = _write_demo(tmp_path, n=12, n_genera=30)
    out = tmp_path / "health.tsv"
    r = runner.invoke(app, ["index", "health", str(tpath), "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out, sep="\t")
    assert res["value"].isna().all() and res["note"].str.contains("16S genus table").all()


def test_power_cli(tmp_path):
    _, tpath, _ = _write_demo(tmp_path, n=60, n_genera=60)
    out = tmp_path / "power"
    r = runner.invoke(app, ["power", str(tpath), "--effect", "2.0", "--n", "30,60", "--replicates", "2",
                            "--n-changed", "4", "--methods", "wilcoxon,linda", "--out", str(out)])
    assert r.exit_code == 0, r.output
    summ = pd.read_csv(out / "power.tsv", sep="\t")
    assert set(summ["method"]) == {"wilcoxon", "linda", "consensus"}
    assert set(summ["n"]) == {30, 60}
    assert summ["power"].between(0, 1).all() and summ["fdr"].between(0, 1).all()
    assert (out / "template.tsv").exists() and (out / "power.svg").exists()
    bad = runner.invoke(app, ["power", str(tpath), "--n", "a,b", "--out", str(tmp_path / "p2")])
    assert bad.exit_code == 2
