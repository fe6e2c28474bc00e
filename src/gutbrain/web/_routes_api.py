"""The JSON API under ``/api`` (documented in ``/openapi.json``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from .._errors import DataValueError
from .._version import __version__
from ._jobs import delete_job, get_job, wait_for, zip_outputs
from ._library import evidence, inspect_upload
from ._options import FILE_ROLES, KIND_OPTIONS
from ._render import DISCLAIMER, root_of
from ._settings import Settings, job_json
from ._store import STATUSES
from ._submit import create_job, metadata_columns, read_form

__all__ = ["router"]

router = APIRouter(prefix="/api")
_MAX_WAIT = 600.0


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _jobs_body_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "kind": {"type": "string", "enum": list(KIND_OPTIONS), "default": "run",
                 "description": "run (cohort analysis of the uploads), demo (SYNTHETIC cohort), "
                                "simulate (LPS challenge) or sample (per-sample profile)"},
    }
    for role in FILE_ROLES:
        props[role] = {"type": "string", "format": "binary",
                       "description": f"{role} file (run jobs){'; required' if role == 'table' else ''}"}
    seen = set(props)
    for kind, opts in KIND_OPTIONS.items():
        for o in opts():
            if o.name in seen:
                continue
            seen.add(o.name)
            typ = {"int": "integer", "float": "number", "list": "array"}.get(o.type, "string")
            schema: dict[str, Any] = {"type": typ, "description": f"{o.help} ({kind} jobs)"}
            if typ == "array":
                schema["items"] = {"type": "string"}
            if o.choices:
                schema["enum"] = list(o.choices)
            if o.default is not None:
                schema["default"] = o.default
            props[o.name] = schema
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": props}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": props}},
    }}}


@router.get("/health", tags=["meta"])
def api_health(request: Request) -> dict[str, Any]:
    """Version, job counts per status, workers (configured and ready), and the disclaimer."""
    s = _settings(request)
    return {"status": "ok", "gutbrain_version": __version__, "disclaimer": DISCLAIMER,
            "jobs": s.store.counts(), "workers": s.pool.n, "workers_ready": s.pool.ready()}


@router.post("/jobs", tags=["jobs"], status_code=202, openapi_extra=_jobs_body_schema())
async def api_submit(
    request: Request,
    wait: Annotated[float, Query(ge=0, le=_MAX_WAIT,
                                 description="Seconds to wait for the job to finish before answering.")] = 0.0,
) -> JSONResponse:
    """Queue a job and return it at once (HTTP 202): ``{"id", "status", "links", ...}``.

    Multipart form: ``kind`` (default ``run``); for a run the files ``table`` (required),
    ``taxonomy``, ``metadata``, ``tree`` and the fields of ``gutbrain run`` (``group``,
    ``covariates``, ``subject``, ``reference``, ``formula``, ``where``, ``rank``, ``seed`` … as
    far as this gutbrain's workflow takes them).  Bad input is HTTP 400 with
    ``{"error": "one line"}`` and nothing is kept.  Poll ``GET /api/jobs/{id}``.
    """
    s = _settings(request)
    fields, files = await read_form(request, s)
    kind = (fields.pop("kind", None) or ["run"])[-1].strip() or "run"
    job = await run_in_threadpool(create_job, s, kind, fields, files)
    if wait > 0:
        job = await run_in_threadpool(wait_for, s, job["id"], wait)
    root = root_of(request)
    return JSONResponse(job_json(job, root), status_code=202,
                        headers={"location": f"{root}/api/jobs/{job['id']}"})


@router.get("/jobs", tags=["jobs"])
def api_history(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: Annotated[str | None, Query(description="queued, running, done or failed")] = None,
) -> dict[str, Any]:
    """Job history, newest first, with the number of jobs per status."""
    s = _settings(request)
    if status is not None and status not in STATUSES:
        raise DataValueError(f"unknown status {status!r}", fix=f"use one of {', '.join(STATUSES)}")
    root = root_of(request)
    counts = s.store.counts()
    return {"jobs": [job_json(j, root) for j in s.store.history(limit=limit, offset=offset, status=status)],
            "counts": counts, "total": sum(counts.values()) if status is None else counts[status],
            "limit": limit, "offset": offset}


@router.get("/jobs/{job_id}", tags=["jobs"])
def api_job(request: Request, job_id: str) -> dict[str, Any]:
    """One job: ``{"id", "status", "progress", "step", "error", "links", ...}``."""
    return job_json(get_job(_settings(request), job_id), root_of(request))


@router.get("/jobs/{job_id}/download", tags=["jobs"], response_class=FileResponse)
def api_download(request: Request, job_id: str) -> FileResponse:
    """Zip of every output of a finished job, with ``job.json`` (parameters, input checksums)."""
    s = _settings(request)
    path = zip_outputs(s, get_job(s, job_id))
    return FileResponse(path, media_type="application/zip",
                        filename=f"gutbrain-{job_id[:8]}.zip")


@router.delete("/jobs/{job_id}", tags=["jobs"])
def api_delete(request: Request, job_id: str) -> dict[str, Any]:
    """Delete a job (a running job is cancelled first) with its files."""
    delete_job(_settings(request), job_id)
    return {"id": job_id, "deleted": True}


@router.post("/metadata/columns", tags=["analysis"])
async def api_metadata_columns(request: Request) -> dict[str, Any]:
    """Columns of an uploaded metadata file (multipart ``metadata``, optional ``id_column``).

    Each column: ``name``, ``type`` (categorical/numeric), ``n_levels``, ``levels`` (value →
    number of samples, categorical), ``min``/``max`` (numeric), ``n_missing``, ``groupable``.
    Read as ``gutbrain run`` reads it (QIIME 2 ``#q2:types`` respected); nothing is kept.
    """
    s = _settings(request)
    fields, files = await read_form(request, s)
    if set(files) != {"metadata"}:
        raise DataValueError("send exactly one file, as the field 'metadata'",
                             fix="choose a metadata file")
    id_column = (fields.get("id_column") or [""])[-1].strip() or None
    return await run_in_threadpool(metadata_columns, s, files["metadata"], id_column)


@router.post("/inspect", tags=["analysis"])
async def api_inspect(request: Request) -> dict[str, Any]:
    """What gutbrain reads from a table (as ``gutbrain inspect --json``); nothing is kept.

    Multipart: ``table`` (required), ``taxonomy``, ``metadata``.
    """
    s = _settings(request)
    _, files = await read_form(request, s)
    return await run_in_threadpool(inspect_upload, s, files)


@router.get("/evidence", tags=["evidence"])
def api_evidence(
    request: Request,
    taxon: Annotated[str, Query(min_length=1, description="Taxon name, lineage or NCBI taxid.")],
    condition: Annotated[str | None, Query(description="Keep rows for this condition.")] = None,
    host: Annotated[str | None, Query(description="human, animal, none or a binomial.")] = None,
) -> dict[str, Any]:
    """Evidence rows for a taxon (as ``gutbrain evidence TAXON --json``).

    ``animal_finding`` marks rows not from humans: they are not human facts.
    """
    return evidence(_settings(request).kb_dir, taxon, condition, host)
