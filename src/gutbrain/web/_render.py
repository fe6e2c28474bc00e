"""Pages and error responses: Jinja templates (autoescaped) and the one-line error rule."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .._version import __version__

__all__ = ["DISCLAIMER", "error_response", "is_api_path", "page", "root_of", "templates"]

DISCLAIMER = "Research software, not medical advice."
_HERE = Path(__file__).parent


@functools.cache
def templates() -> Any:
    """The app's Jinja environment (autoescape on for every template)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.globals.update(version=__version__, disclaimer=DISCLAIMER)
    return env


def root_of(scope_or_request: Any) -> str:
    """The app's mount prefix (``root_path``) without a trailing slash."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return str(scope.get("root_path", "")).rstrip("/")


def is_api_path(scope_or_request: Any) -> bool:
    """Whether a request addresses the JSON API (``/api/...``)."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    path = str(scope.get("path", ""))
    root = root_of(scope)
    local = path[len(root):] if root and path.startswith(root) else path
    return local.startswith("/api/") or local == "/api.json"


def page(request: Request | dict[str, Any], name: str, status_code: int = 200,
         **ctx: Any) -> HTMLResponse:
    """Render template ``name`` with the app's root and the given context."""
    html = templates().get_template(name).render(root=root_of(request), **ctx)
    return HTMLResponse(html, status_code=status_code)


def error_response(scope_or_request: Any, status: int, message: str, **extra: Any) -> Response:
    """``{"error": message}`` JSON under ``/api``, else the error page; never a traceback."""
    message = " ".join(str(message).split())
    if is_api_path(scope_or_request):
        return JSONResponse({"error": message, "status": status, **extra}, status_code=status)
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return page(scope, "error.html.j2", status_code=status, status=status, message=message)
