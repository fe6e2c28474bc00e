"""What a worker does, run in this process: progress, outcomes, error hygiene."""

from __future__ import annotations

import pytest

from gutbrain import DataValueError
from gutbrain.web import _runner
from gutbrain.web._runner import call_run, execute
from gutbrain.web._store import JobStore


def test_run_reports_progress_step_by_step(tmp_path, cohort):
    from gutbrain.workflow import load

    _, table, meta = cohort
    (tmp_path / "t.tsv").write_bytes(table)
    (tmp_path / "m.tsv").write_bytes(meta)
    seen: list[tuple[str, float]] = []
    adata = call_run(tmp_path / "t.tsv", {"metadata": tmp_path / "m.tsv", "group": "diagnosis",
                                          "out": tmp_path / "out"}, lambda s, f: seen.append((s, f)))
    assert adata.n_obs == 12 and (tmp_path / "out" / "report.html").is_file()
    steps = list(dict.fromkeys(s for s, _ in seen))
    assert len(steps) >= 5, seen
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert fractions[-1] >= 0.9
    assert load(tmp_path / "t.tsv").n_obs == 12


def test_call_run_refuses_keywords_the_workflow_lacks(tmp_path):
    with pytest.raises(DataValueError, match="does not accept no_such_option"):
        call_run(tmp_path / "t.tsv", {"out": tmp_path, "no_such_option": "x"}, lambda s, f: None)


def _claimed(tmp_path, kind, params, inputs=None):
    store = JobStore(tmp_path / "jobs.sqlite")
    jid = "ab" * 16
    (tmp_path / "jobs" / jid).mkdir(parents=True)
    store.create(jid, kind, params=params, inputs=inputs or {})
    _, token = store.claim()
    return store, jid, token


def test_execute_simulation_to_done(tmp_path):
    store, jid, token = _claimed(tmp_path, "simulate", {"dose": 2.0, "hours": 3.0})
    execute(store, tmp_path, jid, token)
    job = store.get(jid)
    assert job["status"] == "done", job["error"]
    assert job["files"] == ["provenance.json", "trajectory.svg", "trajectory.tsv"]
    assert job["summary"]["t_end_h"] == 3.0 and job["summary"]["n_points"] == 61
    root = tmp_path / "jobs" / jid
    assert (root / "out" / "trajectory.tsv").is_file() and not (root / "work").exists()


def test_execute_failures_are_one_line_without_paths(tmp_path, monkeypatch):
    store, jid, token = _claimed(tmp_path, "run", {}, {"table": {"name": "bad.tsv"}})
    inputs = tmp_path / "jobs" / jid / "inputs" / "table"
    inputs.mkdir(parents=True)
    (inputs / "bad.tsv").write_bytes(b"\x00\x01 nothing")
    execute(store, tmp_path, jid, token)
    job = store.get(jid)
    assert job["status"] == "failed" and job["error"].startswith("bad.tsv: ")
    assert str(tmp_path) not in job["error"] and not (tmp_path / "jobs" / jid / "out").exists()

    def broken(ctx):
        raise RuntimeError(f"kaputt in {ctx.root}\nsecond line")

    monkeypatch.setitem(_runner.KINDS, "simulate", broken)
    store2, jid2, token2 = _claimed(tmp_path / "b", "simulate", {})
    execute(store2, tmp_path / "b", jid2, token2)
    err = store2.get(jid2)["error"]
    assert err.startswith("internal error (RuntimeError: kaputt in") and "second line" not in err
    assert str(tmp_path) not in err and "gutbrain bug" in err
    assert "Traceback" in (tmp_path / "b" / "jobs" / jid2 / "error.log").read_text()


def test_execute_ignores_a_job_it_no_longer_holds(tmp_path):
    """A job failed meanwhile (server restarted) keeps its record when the old worker ends."""
    store, jid, token = _claimed(tmp_path, "simulate", {"hours": 1.0})
    store.recover()
    execute(store, tmp_path, jid, token)
    job = store.get(jid)
    assert job["status"] == "failed" and "interrupted" in job["error"]
    assert not (tmp_path / "jobs" / jid / "out").exists()
