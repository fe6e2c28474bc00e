"""``gutbrain.workflow.run``: options, sample choice, steps, outputs; bad input; the demo's truth."""

from __future__ import annotations

import json

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import gutbrain as gb
from gutbrain import report, workflow
from gutbrain._utils import sha256_file
from gutbrain.workflow import _pipeline
from gutbrain.workflow._output import STALE_NAME

STAMP = "2024-01-01T00:00:00+00:00"
CORE = ("qc", "composition")


@pytest.fixture
def core_only(monkeypatch):
    """Only the QC and composition steps and their sections (fast, independent tests)."""
    monkeypatch.setattr(_pipeline, "STEPS", tuple(s for s in _pipeline.STEPS if s.key in CORE))
    monkeypatch.setattr(report, "SECTIONS", tuple(s for s in report.SECTIONS
                                                  if s[0] in (*CORE, "design", "provenance")))


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


@pytest.fixture(scope="module")
def small():
    return gb.datasets.demo_cohort(seed=2, n_samples=40, n_genera=80)


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    """A BIOM table and a metadata TSV (ids in the second column, as Mars et al. keep them)."""
    d = tmp_path_factory.mktemp("inputs")
    table = gb.io.write_biom(small, d / "table.biom")
    meta = small.obs[["group", "age", "sex", "pain_score", "subject"]].copy()
    meta.insert(0, "Dataset", "DEMO")
    meta.insert(1, "Sample", meta.index)
    meta["group"] = meta["group"].astype(str)
    meta.iloc[[0, 5], meta.columns.get_loc("group")] = "NA"  # two samples without a group
    meta_path = d / "metadata.tsv"
    meta.to_csv(meta_path, sep="\t", index=False)
    return table, meta_path


@pytest.fixture(scope="module")
def full_run(files, tmp_path_factory):
    table, meta = files
    out = tmp_path_factory.mktemp("run") / "out"
    seen: list[tuple[str, float]] = []
    adata = workflow.run(table, metadata=meta, group="group", covariates=["age"], out=out, seed=0,
                         progress=False, generated_at=STAMP, on_progress=lambda s, f: seen.append((s, f)))
    return adata, out, seen


def test_outputs_written_with_provenance(full_run, files, small):
    adata, out, _ = full_run
    table, meta = files
    assert (out / "report.html").is_file() and (out / "gutbrain.h5ad").is_file()
    back = anndata.read_h5ad(out / "gutbrain.h5ad")
    np.testing.assert_array_equal(_dense(back.X), _dense(small[back.obs_names, back.var_names].X))
    inputs = adata.uns["gutbrain"]["inputs"]
    assert inputs["table"]["sha256"] == sha256_file(table)
    assert inputs["metadata"]["sha256"] == sha256_file(meta)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert sha256_file(table) in html and sha256_file(meta) in html
    side = json.loads((out / "tables" / "provenance.json").read_text())
    assert side["generated_at"] == STAMP
    tsvs = sorted(p.name for p in (out / "tables").glob("*.tsv"))
    assert sorted(side["tables"]) == tsvs
    for name, digest in side["tables"].items():
        assert sha256_file(out / "tables" / name) == digest
    assert {"design_check.tsv", "qc_per_sample.tsv", "da_consensus.tsv", "provenance_steps.tsv"} <= set(tsvs)
    qc = pd.read_csv(out / "tables" / "qc_per_sample.tsv", sep="\t")
    depth = pd.Series(_dense(adata.X).sum(1), index=adata.obs_names)
    np.testing.assert_allclose(qc.set_index("sample")["depth"].loc[depth.index], depth.to_numpy())
    assert not [p for p in out.parent.iterdir() if "gutbrain-tmp" in p.name]


def test_metadata_ids_found_in_second_column_and_missing_groups_left_out(full_run, small):
    adata, out, _ = full_run
    params = adata.uns["gutbrain"]["params"]
    assert params["metadata_id_column"] == "Sample" and params["metadata_samples_matched"] == small.n_obs
    plan = adata.uns["workflow"]["group"]
    assert plan["n_missing"] == 2 and adata.n_obs == small.n_obs - 2
    assert list(adata.obs["group"].cat.categories) == ["control", "chronic_pain"]
    assert plan["reference"] == "control" and plan["reference_rule"] == "control label"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "joined by the column “Sample”" in html and "2 samples have no group value" in html
    assert ">nan<" not in html and ">None<" not in html and ">NA<" not in html
    # one colour per group level in every figure of the run
    assert list(adata.uns["group_colors"]) == ["#0072B2", "#D55E00"]


def test_every_step_listed_with_status_in_order(full_run):
    adata, out, seen = full_run
    status = adata.uns["workflow"]["step_status"]
    assert list(status["step"]) == [s.key for s in _pipeline.STEPS]
    assert set(status["status"]) <= {"ran", "skipped"}
    skipped = status[status["status"] == "skipped"]
    assert (skipped["reason"].str.len() > 10).all()  # a reason in words
    assert list(adata.uns["workflow"]["steps"]) == list(status.loc[status["status"] == "ran", "step"])
    steps = pd.read_csv(out / "tables" / "provenance_steps.tsv", sep="\t")
    assert "skipped" in set(steps["status"])
    # progress: every step as it starts, then done
    names = [s for s, _ in seen]
    assert names[: len(_pipeline.STEPS)] == [s.key for s in _pipeline.STEPS] and seen[-1] == ("done", 1.0)
    fracs = [f for _, f in seen]
    assert fracs == sorted(fracs) and 0 <= fracs[0] < 1


def test_model_formula_and_provenance_versions(full_run):
    adata, out, _ = full_run
    da = adata.uns["diff_abundance"]["params"]
    assert da["formula"] == "~ group + age" and da["reference"] == "control"
    soft = pd.read_csv(out / "tables" / "provenance_software.tsv", sep="\t").set_index("package")
    for lib in ("numpy", "scipy", "pandas", "anndata", "scikit-learn"):
        assert soft.loc[lib, "version"] not in ("", "not installed"), lib
    assert "classifier" in soft.loc["scikit-learn", "used by"]


def test_subject_like_column_gives_grouped_cv(full_run):
    adata, _, _ = full_run
    # demo subjects are unique per sample: not subject-like; nothing detected
    assert adata.uns["workflow"]["params"]["cv_groups"] == ""


def test_run_on_anndata_is_deterministic(small, tmp_path, core_only):
    a = workflow.run(small, group="group", out=tmp_path / "a", progress=False, generated_at=STAMP)
    workflow.run(small, group="group", out=tmp_path / "b", progress=False, generated_at=STAMP)
    assert (tmp_path / "a" / "report.html").read_bytes() == (tmp_path / "b" / "report.html").read_bytes()
    assert "SYNTHETIC DATA" in (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    side = json.loads((tmp_path / "a" / "tables" / "provenance.json").read_text())
    assert side["synthetic"] is True and "SYNTHETIC" in side["note"]
    assert small.uns.get("qc") is None  # the input object is not modified
    assert a.uns["composition"]["params"]["groupby"] == "group"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"group": "diagnosis"}, ["--group", "'diagnosis'", "columns are:", "group", "age"]),
        ({"group": "group", "where": "site == 'x'"}, ["--where", "'site'", "columns are:", "pain_score"]),
        ({"group": "group", "formula": "~ group + weight"}, ["--formula", "'weight'", "columns are:"]),
        ({"group": "group", "reference": ["group,healthy"]}, ["reference level 'healthy'", "control (", "chronic_pain ("]),
        ({"group": "group", "where": "age > 200"}, ["keeps none"]),
        ({"group": "group", "where": "age > 60"}, ["fewer than 3 samples", "--where"]),
        ({"group": "group", "subject": "subject"}, ["every sample is its own subject"]),
        ({"group": "group", "covariates": ["age"], "formula": "~ group + age"}, ["not both"]),
        ({"covariates": ["age"]}, ["--covariates needs --group"]),
        ({"group": "group", "where": "age >"}, ["not a valid expression"]),
        ({"group": "group", "where": "__import__('os')"}, ["not allowed"]),
    ],
)
def test_bad_options_one_line_error_nothing_written(files, tmp_path, options, words):
    table, meta = files
    out = tmp_path / "out"
    with pytest.raises(gb.GutbrainError) as err:
        workflow.run(table, metadata=meta, out=out, progress=False, **options)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if "gutbrain-tmp" in p.name]


def test_where_filter_keeps_matching_samples(files, tmp_path, core_only):
    table, meta = files
    ad = workflow.run(table, metadata=meta, group="group", where="age >= 30 and sex == 'female'",
                      out=tmp_path / "o", progress=False)
    assert (ad.obs["age"] >= 30).all() and (ad.obs["sex"].astype(str) == "female").all()
    params = ad.uns["workflow"]["params"]
    assert params["n_filtered_out"] > 0 and params["n_before_filter"] == 40


def test_missing_table(tmp_path):
    with pytest.raises(gb.GutbrainError, match="not found"):
        workflow.run(tmp_path / "nope.biom", out=tmp_path / "o", progress=False)


def test_gutbrain_error_in_step_stops_run_and_keeps_previous_output(small, tmp_path, monkeypatch, core_only):
    out = tmp_path / "o"
    workflow.run(small, out=out, progress=False, generated_at=STAMP)
    before = (out / "report.html").read_bytes()

    def bad_step(adata, config):
        raise gb.DataValueError("this step rejects the data", fix="do something")

    monkeypatch.setattr(_pipeline, "STEPS", (*_pipeline.STEPS, _pipeline.Step("zz_bad", bad_step, "Bad")))
    with pytest.raises(gb.DataValueError, match="rejects"):
        workflow.run(small, out=out, progress=False)
    assert (out / "report.html").read_bytes() == before
    assert (out / STALE_NAME).is_file() or (out / "gutbrain-stale.txt").exists() or any(
        "stale" in p.name.lower() for p in out.iterdir())
    assert not [p for p in tmp_path.iterdir() if "gutbrain-tmp" in p.name]


def test_crashing_step_is_a_plain_note_not_fatal(small, tmp_path, monkeypatch, core_only):
    def crash(adata, config):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(_pipeline, "STEPS", (*_pipeline.STEPS, _pipeline.Step("zz_crash", crash, "Crashing step")))
    adata = workflow.run(small, out=tmp_path / "o", progress=False, generated_at=STAMP)
    assert "zz_crash" in dict(adata.uns["workflow"]["step_errors"])
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "The step “Crashing step” failed and its results are missing" in html
    assert "UserWarning" not in html and "RuntimeWarning" not in html


def test_warnings_inside_steps_become_notes(small, tmp_path, monkeypatch, core_only):
    import warnings

    def noisy(adata, config):
        warnings.warn("the optimiser is unhappy", UserWarning, stacklevel=1)

    monkeypatch.setattr(_pipeline, "STEPS", (*_pipeline.STEPS, _pipeline.Step("noisy", noisy, "Noisy step")))
    adata = workflow.run(small, out=tmp_path / "o", progress=False)
    assert "Noisy step: the optimiser is unhappy." in list(adata.uns["workflow"]["notes"])


def test_runconfig_validates_once():
    cfg = workflow.RunConfig.create(formula="~ dx + age + (1|patient)")
    assert (cfg.group, cfg.covariates, cfg.subject) == ("dx", ("age",), "patient")
    assert cfg.model_formula() == "~ dx + age + (1|patient)"
    with pytest.raises(gb.GutbrainError, match="does not contain the group"):
        workflow.RunConfig.create(group="sex", formula="~ dx + age")
    with pytest.raises(gb.GutbrainError, match="COLUMN,LEVEL"):
        workflow.RunConfig.create(group="dx", reference=["dx"])
    with pytest.raises(gb.GutbrainError, match="also a model term"):
        workflow.RunConfig.create(group="dx", subject="dx")


def test_demo_recovers_its_planted_truth():
    """Issue 13: the demo's consensus recovers ≥ 8 of 10 planted effects, ≤ 20 % unplanted calls."""
    from gutbrain.workflow import _steps as steps

    ad = gb.datasets.demo_cohort(seed=0)
    truth = ad.var.groupby("genus")["planted_log2fc"].agg(lambda v: v.abs().max())
    assert (truth != 0).sum() == 10
    ad, cfg = workflow.RunConfig.create(**gb.datasets.DEMO_RUN).resolve(ad)
    steps.diff_abundance(ad, cfg)
    steps.planted_truth(ad, cfg)
    pt = ad.uns["planted_truth"]
    assert pt["n_planted"] == 10 and pt["table"]["tested"].all()  # planted on testable taxa
    assert pt["n_recovered"] >= 8
    assert pt["unplanted_share"] <= 0.2
    da = ad.uns["diff_abundance"]
    assert da["params"]["primary"] == "maaslin3" and da["params"]["formula"] == "~ group + ppi"
    assert {"abundance", "prevalence"} == set(da["maaslin3"]["model"])
    # the group's hits are exactly the consensus calls on the group term
    cons = da["consensus"]
    assert set(da["group_hits"]["feature"]) == set(cons.loc[cons["consensus"].astype(bool), "feature"])


def test_subject_gives_random_intercepts_and_leaves_wilcoxon_out():
    from gutbrain.workflow import _steps as steps

    ad = gb.datasets.demo_cohort(seed=1, n_samples=60, n_genera=40)
    ad.obs["person"] = [f"p{i // 2}" for i in range(ad.n_obs)]  # two samples per person
    ad.obs["group"] = ad.obs["group"].astype(str)
    first = ad.obs.groupby("person")["group"].transform("first")
    ad.obs["group"] = pd.Categorical(first, categories=["control", "chronic_pain"])
    ad, cfg = workflow.RunConfig.create(group="group", subject="person").resolve(ad)
    assert cfg.cv_groups == "person"
    steps.diff_abundance(ad, cfg)
    p = ad.uns["diff_abundance"]["params"]
    assert p["formula"] == "~ group + (1|person)"
    assert list(p["methods"]) == ["maaslin3", "maaslin2", "linda"]
    assert set(p["left_out"]) == {"ancombc", "wilcoxon"}
    assert any("cannot model repeated samples" in n for n in ad.uns["workflow"]["notes"])


def test_step_durations_recorded_in_provenance_and_report(small, tmp_path, monkeypatch):
    """Every phase's wall time is recorded (h5ad, provenance.json, report table): a property, not a speed."""
    import time as _time

    def slow(adata, config):
        _time.sleep(0.05)

    keep = tuple(s for s in _pipeline.STEPS if s.key in CORE)
    monkeypatch.setattr(_pipeline, "STEPS", (*keep, _pipeline.Step("slow", slow, "A slow step")))
    monkeypatch.setattr(report, "SECTIONS", tuple(s for s in report.SECTIONS
                                                  if s[0] in (*CORE, "design", "provenance")))
    out = tmp_path / "o"
    ad = workflow.run(small, group="group", out=out, progress=False)
    tab = ad.uns["workflow"]["timings"]
    assert list(tab["phase"]) == ["read", *CORE, "slow"]
    assert np.isfinite(tab["seconds"]).all() and (tab["seconds"] >= 0).all()
    assert float(tab.set_index("phase").loc["slow", "seconds"]) >= 0.05  # a lower bound: sleep is at least that
    back = anndata.read_h5ad(out / "gutbrain.h5ad")
    pd.testing.assert_frame_equal(back.uns["workflow"]["timings"].reset_index(drop=True),
                                  tab.reset_index(drop=True), check_dtype=False)
    side = json.loads((out / "tables" / "provenance.json").read_text())["timings_seconds"]
    assert set(side) == {"read", *CORE, "slow", "report", "write", "total"}
    parts = sum(v for k, v in side.items() if k != "total")
    assert side["total"] == pytest.approx(parts, abs=5e-3)  # each value rounded to 1 ms
    html = (out / "report.html").read_text(encoding="utf-8")
    prov = html[html.find("<section id=\"sec-provenance\">"):]
    longest = tab.loc[tab["seconds"].idxmax(), "title"]
    assert "Where the time went" in prov and f"the longest being {longest} (" in prov
    shown = pd.read_csv(out / "tables" / "provenance_timings.tsv", sep="\t")
    assert list(shown["step"])[-1] == "A slow step"
    assert shown["share (%)"].sum() == pytest.approx(100.0, abs=0.5)


def test_pinned_timestamp_leaves_wall_times_out_of_the_report(full_run):
    adata, out, _ = full_run
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Where the time went" not in html and "timestamp was pinned" in html
    assert not (out / "tables" / "provenance_timings.tsv").exists()
    assert {"read", "qc", "classifier"} <= set(adata.uns["workflow"]["timings"]["phase"])


def test_progress_bar_on_a_terminal_starts_no_thread():
    """The bar redraws at each step, without rich's refresh thread: the classifier's folds and the
    report's figures fork worker processes only while the run is the only Python thread."""
    import threading
    from unittest import mock

    import rich.console

    from gutbrain.workflow._pipeline import _progress_bar

    with mock.patch.object(rich.console.Console, "is_terminal", new=property(lambda self: True)):
        bar = _progress_bar(True)
        assert not bar.disable
        before = threading.active_count()
        with bar:
            task = bar.add_task("gutbrain run", total=2)
            bar.update(task, completed=1, refresh=True)
            assert threading.active_count() == before
