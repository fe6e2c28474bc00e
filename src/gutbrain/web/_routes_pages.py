"""Server-rendered pages.  Forms post here (or, with JavaScript, to ``/api/jobs``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .._errors import GutbrainError
from ._jobs import delete_job, get_job
from ._library import evidence
from ._names import SAFE_PART, tidy_message
from ._options import FILE_ROLES, offered
from ._render import page, root_of
from ._runner import sample_profile_function
from ._security import SESSION_COOKIE, session_value, token_ok
from ._settings import Settings, job_json
from ._submit import create_job, read_form, sample_ids

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_MEDIA = {".html": "text/html; charset=utf-8", ".tsv": "text/tab-separated-values; charset=utf-8",
          ".svg": "image/svg+xml", ".json": "application/json", ".h5ad": "application/octet-stream",
          ".png": "image/png", ".pdf": "application/pdf", ".csv": "text/csv; charset=utf-8"}
# Reports and plots are self-contained (inline CSS, data: images, no scripts): forbid the rest.
REPORT_CSP = ("default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; "
              "font-src data:; frame-ancestors 'self'")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _to_job(request: Request, job: dict[str, Any]) -> RedirectResponse:
    return RedirectResponse(f"{root_of(request)}/jobs/{job['id']}", status_code=303)


async def _submit_form(request: Request, kind: str, template: str, **ctx: Any) -> Response:
    """Queue a job from an HTML form; on bad input re-render the form with the choices kept."""
    s = _settings(request)
    fields, files = await read_form(request, s)
    try:
        job = await run_in_threadpool(create_job, s, kind, fields, files)
    except GutbrainError as exc:
        values = {k: v[-1] for k, v in fields.items() if v}
        return page(request, template, status_code=400, values=values,
                    form_error=tidy_message(str(exc), s.data_dir),
                    files_sent=sorted(files), **ctx)
    return _to_job(request, job)


# ---------------------------------------------------------------------------- simple pages
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Landing page."""
    return page(request, "home.html.j2")


def _analyse_ctx() -> dict[str, Any]:
    return {"options": {o.name: o for o in offered("run")}, "roles": FILE_ROLES}


@router.get("/analyse", response_class=HTMLResponse)
def analyse_form(request: Request) -> HTMLResponse:
    """The cohort-analysis form."""
    return page(request, "analyse.html.j2", values={}, **_analyse_ctx())


@router.post("/analyse")
async def analyse_submit(request: Request) -> Response:
    """Form post without JavaScript: queue the job, or show the form again with the error."""
    return await _submit_form(request, "run", "analyse.html.j2", **_analyse_ctx())


@router.get("/demo", response_class=HTMLResponse)
def demo_form(request: Request) -> HTMLResponse:
    """The demo page."""
    return page(request, "demo.html.j2", values={})


@router.post("/demo")
async def demo_submit(request: Request) -> Response:
    """Queue a demo job."""
    return await _submit_form(request, "demo", "demo.html.j2")


def _sim_ctx() -> dict[str, Any]:
    from .. import sim

    return {"options": {o.name: o for o in offered("simulate")}, "sim_disclaimer": sim.DISCLAIMER}


@router.get("/simulate", response_class=HTMLResponse)
def simulate_form(request: Request) -> HTMLResponse:
    """The LPS-challenge form."""
    return page(request, "simulate.html.j2", values={}, **_sim_ctx())


@router.post("/simulate")
async def simulate_submit(request: Request) -> Response:
    """Queue an LPS simulation with every field of the form."""
    return await _submit_form(request, "simulate", "simulate.html.j2", **_sim_ctx())


@router.get("/evidence", response_class=HTMLResponse)
def evidence_page(request: Request, taxon: str = "", condition: str = "",
                  host: str = "") -> HTMLResponse:
    """Evidence look-up for a taxon."""
    result = evidence(_settings(request).kb_dir, taxon, condition, host) if taxon.strip() else None
    return page(request, "evidence.html.j2", result=result, taxon=taxon, condition=condition,
                host=host)


@router.get("/api", response_class=HTMLResponse)
def api_page(request: Request) -> HTMLResponse:
    """A self-contained, offline description of the JSON API (from the OpenAPI schema)."""
    routes = []
    for p, ops in request.app.openapi().get("paths", {}).items():
        for method, op in ops.items():
            desc = (op.get("description") or "").split("\n\n")[0].replace("``", "")
            routes.append({"method": method.upper(), "path": p, "summary": op.get("summary", ""),
                           "description": " ".join(desc.split())})
    return page(request, "api.html.j2", routes=routes)


# --------------------------------------------------------------------------------- jobs
@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, offset: int = 0) -> HTMLResponse:
    """Job history, newest first."""
    s = _settings(request)
    offset = max(0, int(offset))
    root = root_of(request)
    jobs = [job_json(j, root) for j in s.store.history(limit=100, offset=offset)]
    counts = s.store.counts()
    return page(request, "jobs.html.j2", jobs=jobs, counts=counts, offset=offset,
                total=sum(counts.values()))


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> HTMLResponse:
    """One job: status and progress (kept current by job.js), then its results."""
    s = _settings(request)
    job = job_json(get_job(s, job_id), root_of(request))
    return page(request, "job.html.j2", job=job)


@router.post("/jobs/{job_id}/delete")
def job_delete(request: Request, job_id: str) -> RedirectResponse:
    """Delete a job from its page or the history."""
    delete_job(_settings(request), job_id)
    return RedirectResponse(f"{root_of(request)}/jobs", status_code=303)


@router.get("/jobs/{job_id}/samples", response_class=HTMLResponse)
def samples_page(request: Request, job_id: str) -> HTMLResponse:
    """Per-sample profiles of a cohort job: pages it already has, and a form for more."""
    s = _settings(request)
    job = job_json(get_job(s, job_id), root_of(request))
    ids = sample_ids(s, job_id) if job["status"] == "done" else []
    profiles = [j for j in (job_json(x, root_of(request)) for x in s.store.history(limit=1000))
                if j["kind"] == "sample" and j["params"].get("source") == job_id]
    return page(request, "samples.html.j2", job=job, sample_ids=ids, profiles=profiles,
                available=sample_profile_function() is not None and job["kind"] == "run")


@router.post("/jobs/{job_id}/samples")
async def samples_submit(request: Request, job_id: str) -> Response:
    """Queue a per-sample profile of one sample of this job."""
    s = _settings(request)
    fields, files = await read_form(request, s)
    fields["source"] = [job_id]
    job = await run_in_threadpool(create_job, s, "sample", fields, files)
    return _to_job(request, job)


@router.get("/jobs/{job_id}/{path:path}")
def job_file(request: Request, job_id: str, path: str) -> Response:
    """One output file of a finished job (only files listed in its record)."""
    s = _settings(request)
    job = get_job(s, job_id)
    parts = path.split("/")
    if not all(SAFE_PART.match(p) for p in parts) or path not in job.get("files", []):
        raise HTTPException(status_code=404, detail=f"no file {path!r} in job {job_id}")
    out = (s.jobs_dir / job_id / "out").resolve()
    target = (out / Path(*parts)).resolve()
    if not target.is_relative_to(out) or not target.is_file():
        raise HTTPException(status_code=404, detail=f"no file {path!r} in job {job_id}")
    suffix = target.suffix.lower()
    headers = {}
    if suffix in (".html", ".svg"):
        headers["Content-Security-Policy"] = REPORT_CSP
    inline = suffix in (".html", ".svg", ".tsv", ".json", ".png", ".pdf", ".csv")
    return FileResponse(target, media_type=_MEDIA.get(suffix, "application/octet-stream"),
                        filename=None if inline else target.name, headers=headers)


# -------------------------------------------------------------------------------- login
def _next_url(request: Request, raw: str | None) -> str:
    root = root_of(request)
    nxt = raw or "/"
    parts = urlsplit(nxt)
    if parts.scheme or parts.netloc or not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"  # only local paths: no open redirect
    return root + nxt


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """Token login page (only used when the server has a token)."""
    return page(request, "login.html.j2", next=next, failed=False,
                needed=_settings(request).token is not None)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """Check the token; set the session cookie (HttpOnly, SameSite=Strict)."""
    s = _settings(request)
    fields, _ = await read_form(request, s)
    given = (fields.get("token") or [""])[-1].strip()
    nxt = (fields.get("next") or ["/"])[-1]
    if s.token is None:
        return RedirectResponse(_next_url(request, nxt), status_code=303)
    if not token_ok(s.token, given):
        await asyncio.sleep(0.5)  # slows guessing
        return page(request, "login.html.j2", status_code=401, next=nxt, failed=True, needed=True)
    response = RedirectResponse(_next_url(request, nxt), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(s.token), httponly=True, samesite="strict",
                        path=root_of(request) or "/")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Forget the session cookie."""
    response = RedirectResponse(f"{root_of(request)}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=root_of(request) or "/")
    return response
