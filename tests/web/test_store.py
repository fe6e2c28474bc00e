"""The job store (SQLite, WAL): transitions, claim tokens, recovery, corruption, concurrency."""

from __future__ import annotations

import sqlite3
import stat
import threading

import pytest

from gutbrain import GutbrainError
from gutbrain.web._store import INTERRUPTED, JobStore, JobStoreError


def _ids(n):
    return [f"{i:032x}" for i in range(1, n + 1)]


def test_life_cycle_and_claim_token(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    a, b = _ids(2)
    store.create(a, "run", params={"group": "Subject"}, inputs={"table": {"name": "t.tsv"}})
    store.create(b, "simulate", params={"hours": 48.0}, inputs={})
    assert store.get(a)["status"] == "queued" and store.get(a)["params"] == {"group": "Subject"}
    assert store.counts() == {"queued": 2, "running": 0, "done": 0, "failed": 0}
    job, token = store.claim()
    assert job["id"] == a and job["status"] == "running" and job["started"]  # oldest first
    assert "claim" not in job  # the token never leaves the store
    assert store.progress(a, token, "beta_diversity", 0.4)
    assert not store.progress(a, "forged", "x", 0.9)  # only the claim holder writes
    got = store.get(a)
    assert (got["step"], got["progress"]) == ("beta_diversity", 0.4)
    assert store.progress(a, token, "x", 7.0) and store.get(a)["progress"] == 1.0  # clamped
    assert store.finish(a, token, files=["report.html"], summary={"samples": 87})
    assert not store.finish(a, token, files=[], summary={})  # done is final
    assert not store.fail(a, "late", claim=token)
    done = store.get(a)
    assert done["status"] == "done" and done["files"] == ["report.html"] and done["finished"]
    job, token_b = store.claim()
    assert job["id"] == b and store.claim() is None
    assert store.fail(b, "boom", claim=token_b) and store.get(b)["error"] == "boom"
    assert [j["id"] for j in store.history()] == [b, a]  # newest first
    assert [j["id"] for j in store.history(status="done")] == [a]
    assert store.delete(a) and store.get(a) is None and not store.delete(a)


def test_recover_fails_running_jobs_only(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    q, r, d = _ids(3)
    for i in (q, r, d):
        store.create(i, "run", params={}, inputs={})
    # claim in creation order: q first, then r, then d
    _, tq = store.claim()
    _, tr = store.claim()
    _, td = store.claim()
    store.finish(d, td, files=["x"], summary={})
    store.fail(q, "its own error", claim=tq)
    again = JobStore(tmp_path / "jobs.sqlite")  # a restarted server
    assert again.recover() == [r]
    assert again.get(r)["status"] == "failed" and again.get(r)["error"] == INTERRUPTED
    assert "interrupted" in INTERRUPTED and again.get(q)["error"] == "its own error"
    assert again.get(d)["status"] == "done" and again.get(d)["files"] == ["x"]
    # the orphaned worker of the dead server can no longer write
    assert not again.progress(r, tr, "late", 0.5) and not again.finish(r, tr, files=[], summary={})


def test_file_is_private_and_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "jobs.sqlite"
    JobStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA user_version").fetchone()[0] == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "newer"])
def test_damaged_store_is_detected_with_a_fix(tmp_path, damage):
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    for i in _ids(40):
        store.create(i, "run", params={"pad": "x" * 500}, inputs={})
    with sqlite3.connect(path) as con:  # fold the WAL into the main file
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        path.write_bytes(raw[:4096 + 100])
    else:
        with sqlite3.connect(path) as con:
            con.execute("PRAGMA user_version = 99")
    with pytest.raises(JobStoreError) as err:
        JobStore(path)
    msg = str(err.value)
    assert isinstance(err.value, GutbrainError) and str(path) in msg and "Fix:" in msg
    if damage == "newer":
        assert "newer gutbrain" in msg
    else:
        assert "mv " in msg and ".bad" in msg  # the recovery hint


def test_concurrent_claims_never_share_a_job(tmp_path):
    """8 threads (each its own connection) claim 60 jobs: each job exactly once."""
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = _ids(60)
    for i in ids:
        store.create(i, "run", params={}, inputs={})
    got: list[str] = []
    lock = threading.Lock()

    def worker():
        while (c := store.claim()) is not None:
            with lock:
                got.append(c[0]["id"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == ids
    assert store.counts()["running"] == 60
