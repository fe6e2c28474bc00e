"""The gutbrain local web app: the factory that wires store, workers, guard and routes.

Layout of the package (each file one concern):

``_store.py``
    the persisted job queue (SQLite, WAL) with recovery;
``_pool.py`` / ``_runner.py``
    worker processes and what they run (the library calls);
``_submit.py`` / ``_options.py``
    turning a form into a queued job, all or nothing; the fields of each job kind;
``_security.py``
    Host, token, Origin and size checks, security headers;
``_routes_api.py`` / ``_routes_pages.py`` / ``_render.py``
    the JSON API, the pages, templates and error responses;
``_jobs.py``
    delete, zip, wait, start-up clean-up.

Every route is a thin client (STYLE B7): parse the request, queue a job or call the
library, show what it produced.  No analysis code lives in this package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._errors import DataValueError, GutbrainError
from .._version import __version__
from . import DEFAULT_MAX_UPLOAD_BYTES
from ._jobs import cleanup
from ._names import tidy_message
from ._pool import WorkerPool
from ._render import DISCLAIMER, error_response
from ._routes_api import router as api_router
from ._routes_pages import router as page_router
from ._security import LOOPBACK, Guard, split_host
from ._settings import Settings, make_private_dir
from ._store import JobStore, JobStoreError
from ._submit import too_large

__all__ = ["DEFAULT_MAX_FILES", "create_app"]

_HERE = Path(__file__).parent
#: Default largest number of files in one request.
DEFAULT_MAX_FILES = 8


class _DataDirLock:
    """An exclusive lock on ``<data_dir>/server.lock``: one server per data folder.

    Two servers on one folder would each take the other's running jobs for interrupted
    ones.  The kernel drops the lock when the process dies, ``kill -9`` included.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "server.lock"
        self.fh: Any = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            return
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            self.fh = None
            raise JobStoreError("another gutbrain server is using this data folder",
                                path=self.path.parent,
                                fix="stop that server, or start this one with another --data-dir") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"{os.getpid()}\n")
        self.fh.flush()

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _allowed_hosts(host: str, allow_hosts: Iterable[str]) -> frozenset[str] | None:
    extra = {split_host(h) for h in allow_hosts if h.strip()}
    if "*" in extra:
        return None
    bound = split_host(host)
    names = set(LOOPBACK) | extra
    if bound not in ("0.0.0.0", "::", ""):
        names.add(bound)
    return frozenset(names)


def create_app(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    kb_dir: str | os.PathLike[str] | None = None,
    workers: int = 2,
    token: str | None = None,
    host: str = "127.0.0.1",
    allow_hosts: Iterable[str] = (),
    max_files: int = DEFAULT_MAX_FILES,
) -> FastAPI:
    """Build the gutbrain web app (pages plus JSON API under ``/api``).

    Parameters
    ----------
    data_dir
        Folder of the job store (``jobs.sqlite``) and one sub-folder per job
        (``jobs/<id>/``), all private (0700); created if needed.  Default: a new temporary
        folder, removed when the app shuts down.
    max_upload_bytes
        Largest accepted request body; larger uploads get HTTP 413 (default 500 MiB).
    kb_dir
        User evidence directory for :func:`gutbrain.kb.load`.
    workers
        Worker processes, i.e. jobs that run at once (0: jobs stay queued).
    token
        When set, required on every request (header, or cookie after ``/login``).
    host
        The address the server binds; with loopback, ``localhost`` and ``allow_hosts`` it
        makes the set of accepted ``Host`` headers.
    allow_hosts
        Further accepted ``Host`` names (``"*"``: any; only behind a trusted proxy).
    max_files
        Largest number of files in one request (HTTP 400 above it).

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (``gutbrain serve``).  Workers start, interrupted jobs are
        failed and stale uploads removed when the app starts (its lifespan).

    Raises
    ------
    JobStoreError
        The job store in ``data_dir`` is corrupt or from a newer gutbrain.
    """
    if int(max_upload_bytes) <= 0:
        raise DataValueError(f"max_upload_bytes must be > 0, got {max_upload_bytes}",
                             fix="pass a positive size in bytes")
    if int(workers) < 0 or int(max_files) < 1:
        raise DataValueError("workers must be >= 0 and max_files >= 1",
                             fix="pass --workers 1 or more")
    temporary = data_dir is None
    ddir = Path(tempfile.mkdtemp(prefix="gutbrain-web-")) if temporary else Path(data_dir)  # type: ignore[arg-type]
    ddir = make_private_dir(ddir.expanduser()).resolve()
    make_private_dir(ddir / "jobs")
    make_private_dir(ddir / "tmp")
    store = JobStore(ddir / "jobs.sqlite")
    settings = Settings(
        data_dir=ddir, store=store, pool=WorkerPool(store, ddir, int(workers)),
        max_upload_bytes=int(max_upload_bytes), max_files=int(max_files),
        kb_dir=None if kb_dir is None else Path(kb_dir), token=token or None,
        allowed_hosts=_allowed_hosts(host, allow_hosts), temporary=temporary)
    lock = _DataDirLock(ddir)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        lock.acquire()
        try:
            done = cleanup(settings)
            if done["interrupted"]:
                print(f"gutbrain: {len(done['interrupted'])} job(s) were running when the server "
                      "stopped; they are marked failed (interrupted)", file=sys.stderr)
            settings.pool.start()
            yield
        finally:
            settings.pool.stop()
            lock.release()
            if temporary:
                shutil.rmtree(settings.data_dir, ignore_errors=True)

    app = FastAPI(
        lifespan=lifespan, title="gutbrain", version=__version__,
        description=("Microbiota–gut–brain analysis for chronic pain research: the JSON API of the "
                     "local gutbrain web app. " + DISCLAIMER),
        # Swagger/ReDoc load their assets from a CDN; the app works offline, so they are off:
        # /api is a self-contained description and /openapi.json the schema.
        docs_url=None, redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(Guard, allowed_hosts=settings.allowed_hosts, token=settings.token,
                       max_bytes=settings.max_upload_bytes, respond=error_response,
                       too_large=too_large)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    app.include_router(api_router)
    app.include_router(page_router)

    def error(request: Request, status: int, message: str, **extra: Any) -> Response:
        return error_response(request, status, tidy_message(message, settings.data_dir), **extra)

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
        msg = ("invalid request: " + "; ".join(parts)
               + ". Fix: see /api and /openapi.json for the expected fields")
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in errs]
        return error(request, 422, msg, detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        first = (str(exc).splitlines() or [""])[0][:300]
        return error(request, 500, f"internal error ({type(exc).__name__}: {first}). "
                     "This is a gutbrain bug; please report it with the input that caused it")

    return app
