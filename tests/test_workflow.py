"""``gutbrain.workflow.run``: end to end from a file or an AnnData to report, tables, h5ad."""

from __future__ import annotations

import json

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import gutbrain as gb
from gutbrain import _registry, workflow
from gutbrain._utils import sha256_file

STAMP = "2024-01-01T00:00:00+00:00"
CORE = ("qc", "composition", "provenance")


@pytest.fixture
def core_only(monkeypatch):
    """Only the core steps and sections (keeps these tests fast and independent)."""
    from gutbrain.report import _build

    monkeypatch.setattr(workflow, "STEPS", {k: v for k, v in _registry.STEPS.items() if k in CORE})
    monkeypatch.setattr(_build, "SECTIONS", {k: v for k, v in _registry.SECTIONS.items() if k in CORE})


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


@pytest.fixture(scope="module")
def small():
    return gb.datasets.demo_cohort(seed=2, n_samples=40, n_genera=80)


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    """A BIOM table and a metadata TSV written from the small demo cohort."""
    d = tmp_path_factory.mktemp("inputs")
    table = gb.io.write_biom(small, d / "table.biom")
    meta = small.obs[["group", "age", "sex", "pain_score"]].copy()
    meta.index.name = "sample-id"
    meta_path = d / "metadata.tsv"
    meta.to_csv(meta_path, sep="\t")
    return table, meta_path


@pytest.fixture(scope="module")
def run_from_files(files, tmp_path_factory):
    table, meta = files
    out = tmp_path_factory.mktemp("run") / "out"
    adata = workflow.run(table, metadata=meta, group="group", out=out, seed=0,
                         progress=False, generated_at=STAMP)
    return adata, out


def test_outputs_written_with_provenance(run_from_files, files, small):
    adata, out = run_from_files
    table, meta = files
    assert (out / "report.html").is_file()
    assert (out / "gutbrain.h5ad").is_file()
    # the h5ad is the full record: counts as read, metadata and results
    back = anndata.read_h5ad(out / "gutbrain.h5ad")
    back = back[small.obs_names.intersection(back.obs_names)]
    np.testing.assert_array_equal(
        _dense(back.X), _dense(small[back.obs_names, back.var_names].X)
    )
    assert "qc" in back.uns and "composition" in back.uns and "workflow" in back.uns
    inputs = adata.uns["gutbrain"]["inputs"]
    assert inputs["table"]["sha256"] == sha256_file(table)
    assert inputs["metadata"]["sha256"] == sha256_file(meta)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert sha256_file(table) in html and sha256_file(meta) in html
    # every section table is a TSV, listed with its sha256 in the sidecar
    side = json.loads((out / "tables" / "provenance.json").read_text())
    assert side["generated_at"] == STAMP
    tsvs = sorted(p.name for p in (out / "tables").glob("*.tsv"))
    assert sorted(side["tables"]) == tsvs
    for name, digest in side["tables"].items():
        assert sha256_file(out / "tables" / name) == digest
    assert {"qc_summary.tsv", "qc_samples.tsv", "composition_top_taxa.tsv"} <= set(tsvs)
    # the per-sample QC table holds every sample (the HTML shows 25)
    qc = pd.read_csv(out / "tables" / "qc_samples.tsv", sep="\t")
    assert len(qc) == adata.n_obs
    X = _dense(adata.X)
    depth = pd.Series(X.sum(1), index=adata.obs_names)
    np.testing.assert_allclose(qc.set_index("sample")["depth"].loc[depth.index], depth.to_numpy())
    # no temporary files left behind
    assert not list(out.rglob("*.tmp"))


def test_steps_ran_in_order(run_from_files):
    adata, _ = run_from_files
    steps = list(adata.uns["workflow"]["steps"])
    expected = [k for k, _ in sorted(_registry.STEPS.items(), key=lambda kv: (kv[1][0], kv[0]))]
    assert steps == [k for k in expected if k in steps]
    assert steps[:2] == ["qc", "composition"]
    assert dict(adata.uns["workflow"]["step_errors"]) == {}


def test_run_on_anndata_is_deterministic(small, tmp_path, core_only):
    a = workflow.run(small, group="group", out=tmp_path / "a", progress=False, generated_at=STAMP)
    workflow.run(small, group="group", out=tmp_path / "b", progress=False, generated_at=STAMP)
    assert (tmp_path / "a" / "report.html").read_bytes() == (tmp_path / "b" / "report.html").read_bytes()
    assert "SYNTHETIC DATA" in (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    side = json.loads((tmp_path / "a" / "tables" / "provenance.json").read_text())
    assert side["synthetic"] is True and "SYNTHETIC" in side["note"]
    assert small.uns.get("qc") is None  # the input object is not modified
    assert a.uns["composition"]["params"]["groupby"] == "group"


def test_unknown_group_names_metadata_and_columns(files, tmp_path):
    table, meta = files
    out = tmp_path / "out"
    with pytest.raises(gb.MetadataMismatchError) as err:
        workflow.run(table, metadata=meta, group="diagnosis", out=out, progress=False)
    msg = str(err.value)
    assert str(meta) in msg and "diagnosis" in msg
    cols = msg.split("columns are:")[1]
    assert all(c in cols for c in ("group", "age", "sex", "pain_score"))
    assert not out.exists()


def test_metadata_ids_not_matching(files, tmp_path):
    table, _ = files
    bad = tmp_path / "bad.tsv"
    bad.write_text("sample-id\tgroup\nX1\ta\nX2\tb\n", encoding="utf-8")
    with pytest.raises(gb.MetadataMismatchError):
        workflow.run(table, metadata=bad, group="group", out=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_missing_table(tmp_path):
    with pytest.raises(gb.GutbrainError, match="not found"):
        workflow.run(tmp_path / "nope.biom", out=tmp_path / "o", progress=False)


def test_gutbrain_error_in_step_stops_run(small, tmp_path, monkeypatch, core_only):
    def bad_step(adata, config):
        raise gb.DataValueError("this step rejects the data", fix="do something")

    monkeypatch.setitem(workflow.STEPS, "zz_bad", (15, bad_step))
    with pytest.raises(gb.DataValueError, match="rejects"):
        workflow.run(small, out=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_crashing_step_is_reported_not_fatal(small, tmp_path, monkeypatch, core_only):
    def crash(adata, config):
        raise ZeroDivisionError("oops")

    monkeypatch.setitem(workflow.STEPS, "zz_crash", (15, crash))
    with pytest.warns(RuntimeWarning, match="zz_crash"):
        adata = workflow.run(small, out=tmp_path / "o", progress=False, generated_at=STAMP)
    assert "zz_crash" in dict(adata.uns["workflow"]["step_errors"])
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "Analysis step “zz_crash” failed" in html
    assert "composition" in list(adata.uns["workflow"]["steps"])
