"""The app's settings and the JSON form of a job (shared by the API and the pages)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._names import JOB_ID
from ._pool import WorkerPool
from ._store import JobStore

__all__ = ["Settings", "job_json", "make_private_dir"]


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: job files are the user's alone."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@dataclass
class Settings:
    """Everything a request handler needs, at ``app.state.settings``."""

    data_dir: Path
    store: JobStore
    pool: WorkerPool
    max_upload_bytes: int
    max_files: int
    kb_dir: Path | None
    token: str | None
    allowed_hosts: frozenset[str] | None  # None: any Host header
    temporary: bool

    @property
    def jobs_dir(self) -> Path:
        """``<data_dir>/jobs``: one folder per job."""
        return self.data_dir / "jobs"

    @property
    def tmp_dir(self) -> Path:
        """``<data_dir>/tmp``: uploads being received (emptied at every start)."""
        return self.data_dir / "tmp"

    def job_root(self, job_id: str) -> Path | None:
        """The folder of a job id (None for a malformed id)."""
        return self.jobs_dir / job_id if JOB_ID.match(job_id) else None


def job_json(job: dict[str, Any], root: str) -> dict[str, Any]:
    """A job record as the API returns it: status, progress, step, error and links."""
    jid = job["id"]
    base = f"{root}/jobs/{jid}"
    links: dict[str, Any] = {"self": f"{root}/api/jobs/{jid}", "page": base}
    files = list(job.get("files", []))
    if job["status"] == "done":
        links["download"] = f"{root}/api/jobs/{jid}/download"
        links["files"] = {f: f"{base}/{f}" for f in files}
        if "report.html" in files:
            links["report"] = f"{base}/report.html"
        if job["kind"] == "sample":
            page = next((f for f in files if f.endswith(".html")), None)
            if page:
                links["report"] = f"{base}/{page}"
        links["samples"] = [f"{base}/{f}" for f in files
                            if f.startswith("samples/") and f.endswith(".html")]
        if job["kind"] in ("run", "demo"):
            links["samples_page"] = f"{base}/samples"
    return {
        "id": jid, "kind": job["kind"], "status": job["status"],
        "progress": round(float(job.get("progress") or 0.0), 4), "step": job.get("step") or "",
        "error": job.get("error"), "links": links,
        "created": job.get("created"), "started": job.get("started"),
        "finished": job.get("finished"), "params": job.get("params", {}),
        "inputs": job.get("inputs", {}), "summary": job.get("summary", {}), "files": files,
    }
