"""gutbrain.web: the local web app (optional extra ``pip install 'gutbrain[web]'``).

A thin FastAPI client over the same library calls as the ``gutbrain`` CLI.  Analyses run
as *jobs*: queued in a SQLite store in the data folder, run by worker processes, shown
with their progress, kept in a history with their outputs (report, tables, h5ad, a zip).
Start it with ``gutbrain serve`` (binds ``127.0.0.1:8765``) or build the ASGI app
yourself::

    from gutbrain.web import create_app
    app = create_app(data_dir="gutbrain-web", workers=2)   # serve with uvicorn

See ``docs/web.md`` for the API, the job life cycle and what the app protects against.
Research software; not medical advice.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "create_app", "safe_filename"]

#: Default largest accepted request body (500 MiB); larger uploads get HTTP 413.
DEFAULT_MAX_UPLOAD_BYTES = 500 * 1024 * 1024


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Build the gutbrain web app (see :func:`gutbrain.web._app.create_app`).

    Parameters
    ----------
    *args, **kwargs
        Passed on: ``data_dir``, ``max_upload_bytes``, ``kb_dir``, ``workers``, ``token``,
        ``host``, ``allow_hosts``, ``max_files``.

    Returns
    -------
    fastapi.FastAPI
        The ASGI app.
    """
    try:
        from ._app import create_app as _create
    except ModuleNotFoundError as exc:  # fastapi / python-multipart missing
        if exc.name and exc.name.split(".")[0] in {"fastapi", "starlette", "multipart", "python_multipart"}:
            raise ModuleNotFoundError(
                f"the gutbrain web app needs {exc.name!r} from the optional [web] extra; "
                "install it with: pip install 'gutbrain[web]'",
                name=exc.name,
            ) from None
        raise
    return _create(*args, **kwargs)


def safe_filename(name: str | None, default: str = "upload") -> str:
    """Reduce an uploaded file name to a safe base name (see :func:`gutbrain.web._names.safe_filename`).

    Parameters
    ----------
    name
        The client-supplied file name (untrusted).
    default
        Name used when nothing safe is left.

    Returns
    -------
    str

    Examples
    --------
    >>> safe_filename("../../etc/passwd")
    'passwd'
    """
    from ._names import safe_filename as _safe

    return _safe(name, default)
