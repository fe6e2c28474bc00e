"""Restarts, crashes and cancels: nothing finished is lost, nothing stays ``running``."""

from __future__ import annotations

import os
import signal

import pytest
from fastapi.testclient import TestClient

from gutbrain.web import create_app
from gutbrain.web._store import JobStore, JobStoreError
from tests.web.conftest import BASE, wait_job


def _ids(n):
    return [f"{i:032x}" for i in range(1, n + 1)]


def test_restart_fails_interrupted_jobs_and_cleans_up(tmp_path, capsys):
    """The state a ``kill -9`` leaves behind, then a start of the app on that folder."""
    data = tmp_path / "data"
    store = JobStore(data / "jobs.sqlite")
    done, running, queued = _ids(3)
    for jid in (done, running, queued):
        (data / "jobs" / jid / "inputs").mkdir(parents=True)
        store.create(jid, "simulate", params={"hours": 1.0}, inputs={})
    _, t_done = store.claim()
    _, _t_running = store.claim()
    out = data / "jobs" / done / "out"
    out.mkdir()
    (out / "trajectory.tsv").write_text("time_h\tTNF\n0\t1\n")
    store.finish(done, t_done, files=["trajectory.tsv"], summary={"t_end_h": 1.0})
    (data / "jobs" / running / "work").mkdir()
    (data / "jobs" / running / "work" / "half.tsv").write_text("partial")
    orphan = data / "jobs" / ("f" * 32)  # folder made, record not (killed in between)
    orphan.mkdir()
    staging = data / "tmp" / ("e" * 32)  # an upload being received
    staging.mkdir(parents=True)
    (staging / "big.tsv").write_text("x")

    with TestClient(create_app(data_dir=data, workers=0), base_url=BASE) as client:
        jobs = {j["id"]: j for j in client.get("/api/jobs").json()["jobs"]}
        assert set(jobs) == {done, running, queued}
        assert jobs[running]["status"] == "failed" and "interrupted" in jobs[running]["error"]
        assert jobs[done]["status"] == "done" and jobs[queued]["status"] == "queued"
        assert client.get(f"/jobs/{done}/trajectory.tsv").text.startswith("time_h")
        assert client.get(f"/api/jobs/{done}/download").status_code == 200
        assert not (data / "jobs" / running / "work").exists()
        assert not orphan.exists() and not list((data / "tmp").iterdir())
        assert "interrupted" in client.get("/jobs").text
    assert "1 job(s) were running" in capsys.readouterr().err


def test_one_server_per_data_folder(tmp_path):
    first = TestClient(create_app(data_dir=tmp_path, workers=0), base_url=BASE)
    with first:
        second = TestClient(create_app(data_dir=tmp_path, workers=0), base_url=BASE)
        with pytest.raises(JobStoreError, match="another gutbrain server"), second:
            pass
        assert first.get("/api/health").status_code == 200
    with TestClient(create_app(data_dir=tmp_path, workers=0), base_url=BASE) as again:
        assert again.get("/api/health").status_code == 200  # released on shutdown


def test_corrupt_store_is_reported_on_open(tmp_path):
    (tmp_path / "jobs.sqlite").write_bytes(b"not a database at all" * 200)
    with pytest.raises(JobStoreError, match=r"jobs\.sqlite: the job store cannot be read") as err:
        create_app(data_dir=tmp_path, workers=0)
    assert "mv " in str(err.value)


@pytest.mark.slow
def test_crashed_or_cancelled_job_leaves_the_server_serving(tmp_path):
    """A worker killed mid-job fails only that job; a running job can be cancelled."""
    app = create_app(data_dir=tmp_path, workers=1)
    pool = app.state.settings.pool
    with TestClient(app, base_url=BASE) as client:
        a = client.post("/api/jobs", data={"kind": "demo"}).json()["id"]
        wait_job(client, a, until=("running", "done", "failed"))
        os.kill(pool.running()[a], signal.SIGKILL)
        job = wait_job(client, a, timeout=30)
        assert job["status"] == "failed" and "stopped unexpectedly (signal 9" in job["error"]
        assert not (tmp_path / "jobs" / a / "out").exists()
        b = client.post("/api/jobs", data={"kind": "demo"}).json()["id"]
        wait_job(client, b, until=("running", "done", "failed"))
        pid = pool.running()[b]
        assert client.delete(f"/api/jobs/{b}").status_code == 200
        assert client.get(f"/api/jobs/{b}").status_code == 404 and not (tmp_path / "jobs" / b).exists()
        c = client.post("/api/jobs?wait=240", data={"kind": "simulate", "hours": "1"}).json()
        assert c["status"] == "done", c["error"]
        assert pid not in pool.running().values()
        counts = client.get("/api/health").json()["jobs"]
        assert counts == {"queued": 0, "running": 0, "done": 1, "failed": 1}
