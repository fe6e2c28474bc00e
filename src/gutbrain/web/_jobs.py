"""Job operations shared by the API and the pages: look-up, delete, zip, wait, start-up."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from .._utils import atomic_path
from .._version import __version__
from ._settings import Settings

__all__ = ["ZIP_NAME", "cleanup", "delete_job", "get_job", "wait_for", "zip_outputs"]

#: The cached zip of a finished job's outputs, beside (not inside) ``out/``.
ZIP_NAME = "outputs.zip"


def get_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """The job's record, or HTTP 404."""
    job = settings.store.get(job_id) if settings.job_root(job_id) is not None else None
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}. Fix: see /jobs for "
                            "the job history")
    return job


def delete_job(settings: Settings, job_id: str) -> None:
    """Cancel the job if it runs, then remove its record and folder."""
    get_job(settings, job_id)
    settings.pool.cancel(job_id, "cancelled: the job was deleted")
    settings.store.delete(job_id)
    root = settings.job_root(job_id)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def zip_outputs(settings: Settings, job: dict[str, Any]) -> Path:
    """Zip of ``out/`` plus ``job.json`` (parameters, input checksums); built once, cached."""
    if job["status"] != "done":
        raise HTTPException(status_code=409, detail=f"job {job['id']} is {job['status']}; its "
                            "outputs can be downloaded when it is done")
    root = settings.jobs_dir / job["id"]
    target = root / ZIP_NAME
    if target.is_file():
        return target
    out = root / "out"
    if not out.is_dir():
        raise HTTPException(status_code=410, detail=f"the outputs of job {job['id']} were removed")
    prefix = f"gutbrain-{job['id'][:8]}"
    record = {k: job.get(k) for k in ("id", "kind", "status", "params", "inputs", "created",
                                      "started", "finished", "summary", "files")}
    record["gutbrain_version"] = __version__
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{prefix}/job.json", json.dumps(record, indent=2, default=str) + "\n")
        for rel in job.get("files", []):
            path = out / rel
            if path.is_file():
                zf.write(path, f"{prefix}/{rel}")
    return target


def wait_for(settings: Settings, job_id: str, seconds: float) -> dict[str, Any]:
    """Poll the store until the job is done or failed, or ``seconds`` pass."""
    deadline = time.monotonic() + max(0.0, seconds)
    job = get_job(settings, job_id)
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = get_job(settings, job_id)
    return job


def cleanup(settings: Settings) -> dict[str, list[str]]:
    """Start-up housekeeping: fail jobs a dead server left running, remove stale files.

    * ``running`` jobs become ``failed`` ("interrupted"); their partial ``work/`` is removed;
    * ``tmp/`` (uploads being received when the server stopped) is emptied;
    * job folders without a record (a crash between folder and record) are removed.

    Returns the ids per action (for the log and the tests).
    """
    interrupted = settings.store.recover()
    for job_id in interrupted:
        shutil.rmtree(settings.jobs_dir / job_id / "work", ignore_errors=True)
    stale = []
    if settings.tmp_dir.is_dir():
        for p in settings.tmp_dir.iterdir():
            stale.append(p.name)
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    known = settings.store.ids()
    orphans = []
    for p in settings.jobs_dir.iterdir():
        if p.is_dir() and p.name not in known:
            orphans.append(p.name)
            shutil.rmtree(p, ignore_errors=True)
    for p in settings.jobs_dir.glob("*/work"):  # done/failed jobs never keep a work folder
        shutil.rmtree(p, ignore_errors=True)
    return {"interrupted": interrupted, "stale_uploads": stale, "orphan_folders": orphans}
