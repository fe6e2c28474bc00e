"""The gutbrain local web app: server-rendered pages and a JSON API over the library.

Every route is a thin client (STYLE B7): parse the request, call the library
(:func:`gutbrain.workflow.run`, :func:`gutbrain.kb.query`, :func:`gutbrain.sim.simulate`
…), show or return what it produced.  No analysis code lives in this module.

Jobs
    Each run (cohort analysis, demo, LPS simulation) gets its own folder
    ``<data_dir>/jobs/<uuid4 hex>/`` with ``inputs/<role>/<sanitised name>`` (uploads),
    ``out/`` (what the library wrote, atomically) and ``job.json``.  Only files under
    ``out/`` are served.  A failed run removes its folder.

Concurrency
    Endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool and a
    long analysis (seconds to minutes) does not block other pages.  Library runs are
    serialised with one lock per app (matplotlib's pyplot is not thread-safe); this is a
    single-user local app, not a job queue.

Errors
    A :class:`gutbrain.GutbrainError` (unparseable table, metadata not matching, unknown
    group column, bad dose …) becomes HTTP 400 with its one-line message (JSON
    ``{"error": ...}`` under ``/api``, an HTML page elsewhere); request bodies above
    ``max_upload_bytes`` get 413; request validation errors 422.  No traceback is ever
    sent to the client.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._errors import DataValueError, GutbrainError
from .._utils import atomic_path, atomic_write, write_delimited
from .._version import __version__
from . import DEFAULT_MAX_UPLOAD_BYTES
from ._names import JOB_ID, SAFE_PART, safe_filename

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_ROLES = ("table", "taxonomy", "metadata")
_LPS_OUTPUTS = ["TNF", "IL6", "IL8", "IL10", "PPT_pct"]
_LPS_UNITS = {"time_h": "h", "TNF": "pg/mL", "IL6": "pg/mL", "IL8": "pg/mL", "IL10": "pg/mL",
              "PPT": "% of baseline"}
_EVIDENCE_FIELDS = ("obs_id", "taxon", "rank", "match", "condition", "direction", "host",
                    "host_class", "evidence_level", "verification", "doi", "pmid", "citation",
                    "comparison", "disputed", "dispute_reason", "same_study")
_MAX_LPS_HOURS = 720.0  # resource bound for one request (30 days at 20 points/h)
_MEDIA = {".html": "text/html; charset=utf-8", ".tsv": "text/tab-separated-values; charset=utf-8",
          ".svg": "image/svg+xml", ".json": "application/json", ".h5ad": "application/octet-stream",
          ".png": "image/png"}
# Reports and plots are self-contained (inline CSS, data: images, no scripts): forbid the rest.
_REPORT_CSP = ("default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; "
               "font-src data:; frame-ancestors 'self'")
DISCLAIMER = "Research software, not medical advice."


# --------------------------------------------------------------------------- settings / jobs
@dataclass
class _Settings:
    data_dir: Path
    max_upload_bytes: int
    kb_dir: Path | None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


@dataclass(frozen=True)
class _Job:
    id: str
    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"


def _new_job(settings: _Settings) -> _Job:
    job_id = uuid.uuid4().hex
    root = settings.jobs_dir / job_id
    root.mkdir(parents=True, exist_ok=False)
    return _Job(job_id, root)


def _get_job(settings: _Settings, job_id: str) -> tuple[_Job, dict[str, Any]]:
    if not JOB_ID.match(job_id):
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}")
    job = _Job(job_id, settings.jobs_dir / job_id)
    try:
        meta = json.loads((job.root / "job.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        raise HTTPException(status_code=404, detail=f"no job {job_id!r}") from None
    return job, meta


def _job_files(job: _Job) -> list[str]:
    """Files under ``out/`` as POSIX relative paths: report first, then data, then tables."""
    if not job.out.is_dir():
        return []
    files = [p.relative_to(job.out).as_posix() for p in job.out.rglob("*")
             if p.is_file() and not p.name.startswith(".")]
    order = {"report.html": 0, "gutbrain.h5ad": 1}
    return sorted(files, key=lambda f: (order.get(f, 2), "/" in f, f))


def _finish_job(job: _Job, meta: dict[str, Any]) -> dict[str, Any]:
    meta = {"id": job.id, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "gutbrain_version": __version__, **meta, "files": _job_files(job)}
    with atomic_write(job.root / "job.json") as fh:
        json.dump(meta, fh, indent=2, default=str)
        fh.write("\n")
    return meta


def _job_json(meta: dict[str, Any], root: str) -> dict[str, Any]:
    base = f"{root}/jobs/{meta['id']}"
    out = dict(meta)
    out["page_url"] = base
    out["file_urls"] = {f: f"{base}/{f}" for f in meta.get("files", [])}
    if "report.html" in meta.get("files", []):
        out["report_url"] = f"{base}/report.html"
    return out


def _save_upload(settings: _Settings, job: _Job, role: str, upload: UploadFile) -> Path:
    """Copy an upload into ``inputs/<role>/<safe name>`` (atomic, size-checked)."""
    dest = job.inputs / role / safe_filename(upload.filename, default=role)
    limit = settings.max_upload_bytes
    written = 0
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise HTTPException(status_code=413, detail=_too_large(limit))
            fh.write(chunk)
    return dest


def _save_uploads(settings: _Settings, job: _Job,
                  uploads: dict[str, UploadFile | None]) -> dict[str, Path]:
    """Save every non-empty upload of a job; a feature table is required."""
    paths = {role: _save_upload(settings, job, role, up)
             for role, up in uploads.items() if _present(up)}
    if "table" not in paths:
        raise GutbrainError("no feature table uploaded", fix="choose a table file to upload")
    return paths


def _too_large(limit: int) -> str:
    return (f"upload larger than the limit of {limit / 2**20:.0f} MiB. Fix: start the app with "
            "a larger limit (gutbrain serve --max-upload-mb N) or subset the table")


def _present(upload: UploadFile | None) -> bool:
    return upload is not None and bool(upload.filename)


# --------------------------------------------------------------------------- library calls
def _run_cohort(settings: _Settings, *, uploads: dict[str, UploadFile | None],
                group: str | None, seed: int, rank: str) -> dict[str, Any]:
    """Save the uploads in a new job folder and run :func:`gutbrain.workflow.run` on them."""
    from .._core import RANKS
    from ..workflow import run

    if rank not in RANKS:
        raise DataValueError(f"unknown rank {rank!r}", fix=f"use one of {', '.join(RANKS)}")
    job = _new_job(settings)
    try:
        paths = _save_uploads(settings, job, uploads)
        with settings.lock:
            adata = run(paths["table"], taxonomy=paths.get("taxonomy"),
                        metadata=paths.get("metadata"), group=group or None, out=job.out,
                        seed=seed, rank=rank, progress=False)
    except BaseException:
        shutil.rmtree(job.root, ignore_errors=True)
        raise
    return _finish_job(job, {"kind": "run", **_run_meta(adata, group or None, seed, rank),
                             "inputs": {r: p.name for r, p in paths.items()}})


def _run_demo(settings: _Settings, *, seed: int) -> dict[str, Any]:
    """Run :func:`gutbrain.workflow.run` on :func:`gutbrain.datasets.demo_cohort` (SYNTHETIC)."""
    from ..datasets import demo_cohort
    from ..workflow import run

    job = _new_job(settings)
    try:
        with settings.lock:
            adata = run(demo_cohort(seed), group="group", out=job.out, seed=seed, progress=False)
    except BaseException:
        shutil.rmtree(job.root, ignore_errors=True)
        raise
    return _finish_job(job, {"kind": "demo", **_run_meta(adata, "group", seed, "genus"),
                             "inputs": {"table": "gutbrain.datasets.demo_cohort"}})


def _run_meta(adata: Any, group: str | None, seed: int, rank: str) -> dict[str, Any]:
    from .._core import provenance

    prov = provenance(adata)
    levels: dict[str, int] = {}
    if group is not None and group in adata.obs.columns:
        levels = {str(k): int(v) for k, v in adata.obs[group].astype(str).value_counts().items()}
    return {
        "samples": int(adata.n_obs), "features": int(adata.n_vars),
        "value_kind": str(prov.get("X_unit", "abundance")),
        "synthetic": bool(prov.get("synthetic", False)),
        "group": group, "group_sizes": levels, "seed": int(seed), "rank": rank,
        "steps": list(adata.uns.get("workflow", {}).get("steps", [])),
        "step_errors": {str(k): str(v) for k, v in
                        dict(adata.uns.get("workflow", {}).get("step_errors", {})).items()},
    }


def _inspect(settings: _Settings, uploads: dict[str, UploadFile | None]) -> dict[str, Any]:
    """What ``gutbrain inspect --json`` reports, for uploaded files (nothing kept)."""
    from ..io import summary
    from ..workflow import load

    job = _new_job(settings)
    try:
        paths = _save_uploads(settings, job, uploads)
        info = summary(load(paths["table"], taxonomy=paths.get("taxonomy"),
                            metadata=paths.get("metadata")))
    finally:
        shutil.rmtree(job.root, ignore_errors=True)
    names = {str(p): p.name for p in paths.values()}
    info["file"] = paths["table"].name
    info["inputs"] = {k: {a: names.get(str(b), b) if a == "path" else b for a, b in v.items()}
                      for k, v in info.get("inputs", {}).items()}
    return info


def _evidence(settings: _Settings, taxon: str, condition: str | None,
              host: str | None) -> dict[str, Any]:
    """Rows of :func:`gutbrain.kb.query` plus :func:`gutbrain.kb.consistency`, JSON-able."""
    from .. import kb as gkb

    taxon = taxon.strip()
    if not taxon:
        raise GutbrainError("empty taxon name", fix="type a taxon, e.g. Faecalibacterium")
    host = host or None
    if host and host not in ("human", "animal", "none") and " " not in host:
        raise GutbrainError(f"unknown host {host!r}", fix="use human, animal, none or a binomial")
    base = gkb.load(settings.kb_dir)
    rows = gkb.query(taxon, condition=condition or None, host=host, kb=base)
    records = [{k: _clean(r.get(k)) for k in _EVIDENCE_FIELDS} for r in rows.to_dict("records")]
    for rec in records:
        if rec["pmid"] is not None:
            rec["pmid"] = int(rec["pmid"])
        rec["animal_finding"] = rec["host_class"] != "human"
    summary = gkb.consistency(rows) if len(rows) else None
    cons = ([] if summary is None else
            [{k: _clean(v) for k, v in r.items()} for r in summary.to_dict("records")])
    known = True
    if not records:
        known = bool(gkb.reconcile([taxon], kb=base).iloc[0]["taxon_id"])
    return {"taxon": taxon, "condition": condition or None, "host": host,
            "known_taxon": known, "n": len(records), "rows": records, "consistency": cons}


def _clean(v: Any) -> Any:
    import math

    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _simulate_lps(settings: _Settings, *, dose: float, hours: float) -> dict[str, Any]:
    """LPS bolus in the human-calibrated core (as ``gutbrain simulate lps``), in a job folder."""
    import matplotlib.pyplot as plt

    from .. import sim
    from ..pl import sim_lps_validation

    if not (0 < hours <= _MAX_LPS_HOURS):
        raise DataValueError(f"hours must be in (0, {_MAX_LPS_HOURS:g}], got {hours}",
                             fix=f"simulate at most {_MAX_LPS_HOURS:g} h per request")
    with settings.lock:
        exp = sim.lps_challenge(dose, hours)
        traj = sim.simulate("dobreva2021", exp, outputs=_LPS_OUTPUTS)
        table = traj.rename(columns={"time": "time_h", "PPT_pct": "PPT"})
        job = _new_job(settings)
        try:
            write_delimited(table, job.out / "trajectory.tsv", float_format="%.6g")
            fig = sim_lps_validation(table, dose=dose)
            with atomic_path(job.out / "trajectory.svg") as tmp:
                fig.savefig(tmp, format="svg", bbox_inches="tight")
            plt.close(fig)
            prov = {"gutbrain_version": __version__, "command": "web: simulate lps",
                    "model": "dobreva2021", "evidence": "calibrated_human",
                    "experiment": exp.to_dict(), "parameters": sim.load_model("dobreva2021").values,
                    "units": _LPS_UNITS, "references": ["doi:10.1113/JP280883"],
                    "disclaimer": sim.DISCLAIMER}
            with atomic_write(job.out / "provenance.json") as fh:
                json.dump(prov, fh, indent=2, default=str)
                fh.write("\n")
        except BaseException:
            shutil.rmtree(job.root, ignore_errors=True)
            raise
    peak = int(table["TNF"].to_numpy().argmax())
    meta = _finish_job(job, {
        "kind": "lps", "dose_ng_per_kg": float(dose), "hours": float(hours), "model": "dobreva2021",
        "tnf_peak_pg_ml": float(table["TNF"].iloc[peak]),
        "tnf_peak_time_h": float(table["time_h"].iloc[peak]),
        "ppt_min_pct_baseline": float(table["PPT"].min()),
        "units": _LPS_UNITS, "disclaimer": sim.DISCLAIMER,
    })
    return {"meta": meta, "trajectory": {c: [float(x) for x in table[c]] for c in table.columns}}


# --------------------------------------------------------------------------- HTML rendering
def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.globals.update(version=__version__, disclaimer=DISCLAIMER)
    return env


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _api_path(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path.startswith("/api/") or (bool(root) and path.startswith(f"{root}/api/"))


def _is_api(request: Request) -> bool:
    return _api_path(request.url.path, _root(request))


# --------------------------------------------------------------------------- size limit
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _LimitBody:
    """ASGI middleware: request bodies above ``max_bytes`` → HTTP 413.

    Rejects at once on a too-large ``Content-Length``; otherwise counts bytes as they
    arrive (chunked uploads) and aborts the request when the limit is passed.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            message = _too_large(self.max_bytes)
            response: Response
            if _api_path(str(scope.get("path", "")), str(scope.get("root_path", ""))):
                response = JSONResponse({"error": message, "status": 413}, status_code=413)
            else:
                response = HTMLResponse(f"<!doctype html><title>Upload too large</title>"
                                        f"<h1>Upload too large</h1><p>{html.escape(message)}</p>"
                                        f"<p><a href=\"javascript:history.back()\">Back</a></p>",
                                        status_code=413)
            await response(scope, receive, send)
            return
        seen = 0
        limit = self.max_bytes

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(status_code=413, detail=_too_large(limit))
            return message

        await self.app(scope, counting, send)


# --------------------------------------------------------------------------- request models
class DemoRequest(BaseModel):
    """Body of ``POST /api/demo``."""

    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the synthetic cohort and analysis.")


class LpsRequest(BaseModel):
    """Body of ``POST /api/simulate/lps``."""

    dose: float = Field(2.0, description="LPS bolus, ng/kg i.v. (the model is calibrated at 2).")
    hours: float = Field(24.0, description=f"Simulated hours after the bolus (max {_MAX_LPS_HOURS:g}).")


# --------------------------------------------------------------------------- the app
def create_app(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    kb_dir: str | os.PathLike[str] | None = None,
) -> FastAPI:
    """Build the gutbrain web app (pages plus JSON API under ``/api``).

    Parameters
    ----------
    data_dir
        Folder holding one sub-folder per job (``jobs/<id>/``); created if needed.
        Default: a new temporary directory, removed when the app shuts down (pass a
        folder to keep the results).
    max_upload_bytes
        Largest accepted request body; larger uploads get HTTP 413 (default 500 MiB).
    kb_dir
        User evidence directory for :func:`gutbrain.kb.load` (default ``$GUTBRAIN_KB_DIR``
        or the user cache).

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (``gutbrain serve`` binds ``127.0.0.1`` by default).  OpenAPI
        schema at ``/openapi.json`` and a route list at ``/api``; the CDN-backed Swagger/ReDoc
        pages are disabled so everything works offline.
    """
    if int(max_upload_bytes) <= 0:
        raise DataValueError(f"max_upload_bytes must be > 0, got {max_upload_bytes}",
                             fix="pass a positive size in bytes")
    temporary = data_dir is None
    ddir = Path(tempfile.mkdtemp(prefix="gutbrain-web-")) if temporary else Path(data_dir)  # type: ignore[arg-type]
    ddir.mkdir(parents=True, exist_ok=True)
    settings = _Settings(ddir.resolve(), int(max_upload_bytes),
                         None if kb_dir is None else Path(kb_dir))
    settings.jobs_dir.mkdir(exist_ok=True)
    env = _templates()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if temporary:  # a temporary data folder goes with the app
            shutil.rmtree(settings.data_dir, ignore_errors=True)

    app = FastAPI(
        lifespan=lifespan,
        title="gutbrain",
        version=__version__,
        description=("Microbiota–gut–brain analysis for chronic pain research: the JSON API of the "
                     "local gutbrain web app. " + DISCLAIMER),
        # FastAPI's Swagger/ReDoc pages load their assets from a CDN; the app must work offline,
        # so they are off: /api lists the routes and /openapi.json has the schema.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(_LimitBody, max_bytes=settings.max_upload_bytes)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    def page(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(root=_root(request), **ctx)
        return HTMLResponse(html, status_code=status_code)

    # -- error handling: one line, never a traceback -----------------------------------------
    path_res = [re.compile(re.escape(str(p)) + r"[/\\][0-9a-f]{32}[/\\](?:inputs[/\\](?:table|taxonomy|metadata)[/\\]|out[/\\])?")
                for p in {settings.jobs_dir, settings.jobs_dir.resolve()}]

    def tidy(message: str) -> str:
        for rx in path_res:  # server paths of uploads → the uploaded file's name
            message = rx.sub("", message)
        return " ".join(message.split())

    def error(request: Request, status: int, message: str, **extra: Any) -> Response:
        message = tidy(message)
        if _is_api(request):
            return JSONResponse({"error": message, "status": status, **extra}, status_code=status)
        return page(request, "error.html.j2", status_code=status, status=status, message=message)

    @app.exception_handler(GutbrainError)
    async def _gutbrain_error(request: Request, exc: GutbrainError) -> Response:
        return error(request, 400, str(exc), type=type(exc).__name__)

    @app.exception_handler(FileNotFoundError)
    async def _missing(request: Request, exc: FileNotFoundError) -> Response:
        return error(request, 400, f"{exc.filename}: file not found. Fix: check the path")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body')}: {e.get('msg', '')}"
                 for e in errs[:3]]
        msg = "invalid request: " + "; ".join(parts) + ". Fix: see /api and /openapi.json for the expected fields"
        if _is_api(request):
            detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                       "type": str(e.get("type", ""))} for e in errs]
            return JSONResponse({"error": tidy(msg), "status": 422, "detail": detail},
                                status_code=422)
        return error(request, 422, msg)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        first = (str(exc).splitlines() or [""])[0][:300]
        return error(request, 500, f"internal error ({type(exc).__name__}: {first}). "
                     "This is a gutbrain bug; please report it with the input that caused it")

    # -- pages -----------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return page(request, "home.html.j2")

    @app.get("/analyse", response_class=HTMLResponse, include_in_schema=False)
    def analyse_form(request: Request) -> HTMLResponse:
        from .._core import RANKS

        return page(request, "analyse.html.j2", ranks=RANKS)

    @app.post("/analyse", include_in_schema=False)
    def analyse_submit(
        request: Request,
        table: Annotated[UploadFile, File()],
        taxonomy: Annotated[UploadFile | None, File()] = None,
        metadata: Annotated[UploadFile | None, File()] = None,
        group: Annotated[str, Form()] = "",
        seed: Annotated[int, Form(ge=0)] = 0,
        rank: Annotated[str, Form()] = "genus",
    ) -> Response:
        meta = _run_cohort(settings, uploads={"table": table, "taxonomy": taxonomy,
                                              "metadata": metadata},
                           group=group.strip() or None, seed=seed, rank=rank)
        return RedirectResponse(f"{_root(request)}/jobs/{meta['id']}", status_code=303)

    @app.get("/demo", response_class=HTMLResponse, include_in_schema=False)
    def demo_form(request: Request) -> HTMLResponse:
        return page(request, "demo.html.j2")

    @app.post("/demo", include_in_schema=False)
    def demo_submit(request: Request, seed: Annotated[int, Form(ge=0)] = 0) -> Response:
        meta = _run_demo(settings, seed=seed)
        return RedirectResponse(f"{_root(request)}/jobs/{meta['id']}", status_code=303)

    @app.get("/evidence", response_class=HTMLResponse, include_in_schema=False)
    def evidence_page(request: Request, taxon: str = "", condition: str = "",
                      host: str = "") -> HTMLResponse:
        result = _evidence(settings, taxon, condition, host) if taxon.strip() else None
        return page(request, "evidence.html.j2", result=result, taxon=taxon,
                    condition=condition, host=host)

    @app.get("/simulate", response_class=HTMLResponse, include_in_schema=False)
    def simulate_form(request: Request) -> HTMLResponse:
        from .. import sim

        return page(request, "simulate.html.j2", sim_disclaimer=sim.DISCLAIMER,
                    max_hours=_MAX_LPS_HOURS)

    @app.post("/simulate", include_in_schema=False)
    def simulate_submit(request: Request, dose: Annotated[float, Form()] = 2.0,
                        hours: Annotated[float, Form()] = 24.0) -> Response:
        res = _simulate_lps(settings, dose=dose, hours=hours)
        return RedirectResponse(f"{_root(request)}/jobs/{res['meta']['id']}", status_code=303)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def job_page(request: Request, job_id: str) -> HTMLResponse:
        _, meta = _get_job(settings, job_id)
        return page(request, "job.html.j2", job=meta)

    @app.get("/jobs/{job_id}/{path:path}", include_in_schema=False)
    def job_file(job_id: str, path: str) -> Response:
        job, meta = _get_job(settings, job_id)
        parts = path.split("/")
        if not all(SAFE_PART.match(p) for p in parts) or path not in meta.get("files", []):
            raise HTTPException(status_code=404, detail=f"no file {path!r} in job {job_id}")
        target = (job.out / Path(*parts)).resolve()
        if not target.is_relative_to(job.out.resolve()) or not target.is_file():
            raise HTTPException(status_code=404, detail=f"no file {path!r} in job {job_id}")
        suffix = target.suffix.lower()
        headers = {"X-Content-Type-Options": "nosniff"}
        if suffix in (".html", ".svg"):
            headers["Content-Security-Policy"] = _REPORT_CSP
        inline = suffix in (".html", ".svg", ".tsv", ".json", ".png")
        return FileResponse(target, media_type=_MEDIA.get(suffix, "application/octet-stream"),
                            filename=None if inline else target.name, headers=headers)

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    def api_page(request: Request) -> HTMLResponse:
        routes = []
        for p, ops in app.openapi().get("paths", {}).items():
            for method, op in ops.items():
                routes.append({"method": method.upper(), "path": p,
                               "summary": op.get("summary", ""),
                               "description": (op.get("description") or "").split("\n\n")[0]
                               .replace("``", "")})
        return page(request, "api.html.j2", routes=routes)

    # -- JSON API --------------------------------------------------------------------------------
    @app.get("/api/health", tags=["meta"])
    def api_health() -> dict[str, Any]:
        """Version and the disclaimer."""
        return {"status": "ok", "gutbrain_version": __version__, "disclaimer": DISCLAIMER}

    @app.post("/api/run", tags=["analysis"])
    def api_run(
        request: Request,
        table: Annotated[UploadFile, File(description="Feature table (any format gutbrain reads).")],
        taxonomy: Annotated[UploadFile | None, File(description="Optional taxonomy table.")] = None,
        metadata: Annotated[UploadFile | None, File(description="Optional sample metadata.")] = None,
        group: Annotated[str | None, Form(description="Metadata column with the groups.")] = None,
        seed: Annotated[int, Form(ge=0)] = 0,
        rank: Annotated[str, Form(description="Rank for composition summaries.")] = "genus",
    ) -> dict[str, Any]:
        """Analyse an uploaded cohort with ``gutbrain.workflow.run`` (as ``gutbrain run``).

        Returns the job: sample/feature counts, the report URL and download URLs of
        ``tables/*.tsv`` and ``gutbrain.h5ad``.  Runs synchronously (seconds to minutes).
        """
        meta = _run_cohort(settings, uploads={"table": table, "taxonomy": taxonomy,
                                              "metadata": metadata},
                           group=(group or "").strip() or None, seed=seed, rank=rank)
        return _job_json(meta, _root(request))

    @app.post("/api/demo", tags=["analysis"])
    def api_demo(request: Request, body: DemoRequest | None = None) -> dict[str, Any]:
        """Run the analysis on the SYNTHETIC demo cohort (as ``gutbrain demo``)."""
        meta = _run_demo(settings, seed=(body or DemoRequest()).seed)
        return _job_json(meta, _root(request))

    @app.post("/api/inspect", tags=["analysis"])
    def api_inspect(
        table: Annotated[UploadFile, File()],
        taxonomy: Annotated[UploadFile | None, File()] = None,
        metadata: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        """What gutbrain reads from a table (as ``gutbrain inspect --json``); nothing is kept."""
        return _inspect(settings, {"table": table, "taxonomy": taxonomy, "metadata": metadata})

    @app.get("/api/jobs/{job_id}", tags=["analysis"])
    def api_job(request: Request, job_id: str) -> dict[str, Any]:
        """A finished job's record and file URLs."""
        return _job_json(_get_job(settings, job_id)[1], _root(request))

    @app.get("/api/evidence", tags=["evidence"])
    def api_evidence(
        taxon: Annotated[str, Query(min_length=1, description="Taxon name, lineage or NCBI taxid.")],
        condition: Annotated[str | None, Query(description="Keep rows for this condition.")] = None,
        host: Annotated[str | None, Query(description="human, animal, none or a binomial.")] = None,
    ) -> dict[str, Any]:
        """Evidence rows for a taxon (as ``gutbrain evidence TAXON --json``).

        ``animal_finding`` marks rows from animal models: they are not human facts.
        """
        return _evidence(settings, taxon, condition, host)

    @app.post("/api/simulate/lps", tags=["simulation"])
    def api_simulate_lps(request: Request, body: LpsRequest | None = None) -> dict[str, Any]:
        """LPS bolus in the human-calibrated Dobreva 2021 core (as ``gutbrain simulate lps``).

        Returns the trajectory (``time_h``, ``TNF``, ``IL6``, ``IL8``, ``IL10`` in pg/mL,
        ``PPT`` in % of baseline), its TNF peak and the URLs of ``trajectory.tsv``/``.svg``.
        """
        b = body or LpsRequest()
        res = _simulate_lps(settings, dose=b.dose, hours=b.hours)
        return {**_job_json(res["meta"], _root(request)), "trajectory": res["trajectory"]}

    return app
