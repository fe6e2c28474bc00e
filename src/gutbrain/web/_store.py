"""The web app's job store: one SQLite file (WAL mode) in the data folder, no broker.

Every job is one row of ``jobs``.  Status moves ``queued → running → done | failed`` and only
through the methods below, each one transaction:

* :meth:`JobStore.create` inserts a ``queued`` row (after its folder is complete);
* :meth:`JobStore.claim` takes the oldest queued job for a worker and gives it a random
  *claim* token; progress, success and failure updates from a worker name that token, so a
  worker orphaned by a killed server cannot touch a job the restarted server has re-labelled;
* :meth:`JobStore.recover` (server start) turns jobs left ``running`` by a dead server into
  ``failed`` with an "interrupted" message.  They are not re-queued: a job that brought the
  server down (memory, a crash in a native library) would do it again.  ``queued`` jobs stay
  queued and run after the restart.

The file is opened with ``journal_mode=WAL`` (readers never block the writer, so polling job
pages stay fast while workers write progress) and ``synchronous=FULL`` (a finished job
survives a power cut).  A damaged file is detected on open (``PRAGMA quick_check``) and
reported as :class:`JobStoreError` with the recovery steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._errors import GutbrainError

__all__ = ["STATUSES", "JobStore", "JobStoreError", "now"]

#: Job states, in the order a job moves through them.
STATUSES = ("queued", "running", "done", "failed")
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    step TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    params TEXT NOT NULL DEFAULT '{}',
    inputs TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    error TEXT,
    files TEXT NOT NULL DEFAULT '[]',
    summary TEXT NOT NULL DEFAULT '{}',
    claim TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created);
"""
_COLUMNS = ("id", "kind", "status", "step", "progress", "params", "inputs", "created", "started",
            "finished", "error", "files", "summary", "claim")
_JSON = {"params": dict, "inputs": dict, "files": list, "summary": dict}
INTERRUPTED = ("interrupted: the server stopped while this job was running. "
               "Fix: submit the job again")


class JobStoreError(GutbrainError):
    """The job store file is damaged, of a newer format, or cannot be opened."""


def now() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds (sortable text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobStore:
    """Jobs of one data folder, persisted in ``<data_dir>/jobs.sqlite``.

    Safe to use from many threads and processes at once: every call opens its own short
    connection, and writes run in ``BEGIN IMMEDIATE`` transactions.

    Parameters
    ----------
    path
        The SQLite file (created with its parent folder, mode 0600, if missing).

    Raises
    ------
    JobStoreError
        The file is not a SQLite database, fails its integrity check, or was written by a
        newer gutbrain.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._open_checked()

    # ------------------------------------------------------------------ connection handling
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA synchronous = FULL")
        return con

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def _fix(self) -> str:
        bad = self.path.with_name(self.path.name + ".bad")
        return (f"stop the server, move the file aside (mv {self.path} {bad}) and start it again: "
                "a new, empty job history is created; finished results stay in "
                f"{self.path.parent / 'jobs'}/<id>/out")

    def _open_checked(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            with self._read() as con:
                check = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
                if check != ["ok"]:
                    raise JobStoreError(f"the job store is corrupt ({'; '.join(check[:3])})",
                                        path=self.path, fix=self._fix())
                version = int(con.execute("PRAGMA user_version").fetchone()[0])
                if version > _SCHEMA_VERSION:
                    raise JobStoreError(
                        f"the job store was written by a newer gutbrain (format {version}, "
                        f"this version reads {_SCHEMA_VERSION})", path=self.path,
                        fix="upgrade gutbrain, or start the server with another --data-dir")
                con.execute("PRAGMA journal_mode = WAL")
                con.executescript(_SCHEMA)
                con.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                cols = {r[1] for r in con.execute("PRAGMA table_info(jobs)").fetchall()}
        except sqlite3.DatabaseError as exc:
            raise JobStoreError(f"the job store cannot be read ({exc})", path=self.path,
                                fix=self._fix()) from None
        if not set(_COLUMNS) <= cols:
            raise JobStoreError(f"the job store lacks columns {sorted(set(_COLUMNS) - cols)}",
                                path=self.path, fix=self._fix())

    # ------------------------------------------------------------------------ row helpers
    @staticmethod
    def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        out = dict(row)
        for key, typ in _JSON.items():
            try:
                value = json.loads(out[key]) if out[key] else typ()
            except json.JSONDecodeError:
                value = typ()
            out[key] = value if isinstance(value, typ) else typ()
        out.pop("claim", None)
        return out

    # ---------------------------------------------------------------------------- writers
    def create(self, job_id: str, kind: str, *, params: dict[str, Any],
               inputs: dict[str, Any]) -> dict[str, Any]:
        """Insert a ``queued`` job and return its record."""
        with self._write() as con:
            con.execute(
                "INSERT INTO jobs (id, kind, status, step, progress, params, inputs, created) "
                "VALUES (?, ?, 'queued', 'queued', 0, ?, ?, ?)",
                (job_id, kind, json.dumps(params, default=str), json.dumps(inputs, default=str),
                 now()))
        job = self.get(job_id)
        assert job is not None
        return job

    def claim(self) -> tuple[dict[str, Any], str] | None:
        """Mark the oldest queued job ``running``; return it with its claim token (or None)."""
        token = secrets.token_hex(16)
        with self._write() as con:
            row = con.execute("SELECT id FROM jobs WHERE status = 'queued' "
                              "ORDER BY created, rowid LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute("UPDATE jobs SET status = 'running', started = ?, step = 'starting', "
                        "progress = 0, claim = ? WHERE id = ?", (now(), token, row["id"]))
        job = self.get(row["id"])
        assert job is not None
        return job, token

    def progress(self, job_id: str, claim: str, step: str, fraction: float) -> bool:
        """Record a running job's current step and fraction done (0..1)."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        with self._write() as con:
            cur = con.execute("UPDATE jobs SET step = ?, progress = ? WHERE id = ? AND claim = ? "
                              "AND status = 'running'", (str(step)[:200], fraction, job_id, claim))
            return cur.rowcount == 1

    def finish(self, job_id: str, claim: str, *, files: list[str],
               summary: dict[str, Any]) -> bool:
        """Mark a running job ``done`` with its output files and summary."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE jobs SET status = 'done', step = 'done', progress = 1, finished = ?, "
                "files = ?, summary = ? WHERE id = ? AND claim = ? AND status = 'running'",
                (now(), json.dumps(files), json.dumps(summary, default=str), job_id, claim))
            return cur.rowcount == 1

    def fail(self, job_id: str, error: str, *, claim: str | None = None) -> bool:
        """Mark a queued or running job ``failed`` (only the claim holder when ``claim``)."""
        sql = ("UPDATE jobs SET status = 'failed', finished = ?, error = ? WHERE id = ? "
               "AND status IN ('queued', 'running')")
        args: tuple[Any, ...] = (now(), str(error)[:2000], job_id)
        if claim is not None:
            sql += " AND claim = ?"
            args = (*args, claim)
        with self._write() as con:
            return con.execute(sql, args).rowcount == 1

    def delete(self, job_id: str) -> bool:
        """Remove a job's record (its folder is the caller's business)."""
        with self._write() as con:
            return con.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 1

    def recover(self) -> list[str]:
        """Turn jobs left ``running`` (server killed) into ``failed``; return their ids."""
        with self._write() as con:
            ids = [r["id"] for r in con.execute("SELECT id FROM jobs WHERE status = 'running'")]
            con.execute("UPDATE jobs SET status = 'failed', finished = ?, error = ? "
                        "WHERE status = 'running'", (now(), INTERRUPTED))
        return ids

    # ---------------------------------------------------------------------------- readers
    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's record (JSON fields decoded), or None."""
        with self._read() as con:
            return self._row(con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def history(self, *, limit: int = 100, offset: int = 0,
             status: str | None = None) -> list[dict[str, Any]]:
        """Jobs, newest first."""
        sql = "SELECT * FROM jobs"
        args: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        sql += " ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?"
        with self._read() as con:
            rows = con.execute(sql, (*args, int(limit), int(offset))).fetchall()
        return [r for r in (self._row(x) for x in rows) if r is not None]

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (every status present, zeros included)."""
        with self._read() as con:
            got = dict(con.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        return {s: int(got.get(s, 0)) for s in STATUSES}

    def ids(self) -> set[str]:
        """Every job id in the store."""
        with self._read() as con:
            return {r[0] for r in con.execute("SELECT id FROM jobs")}
