"""``gutbrain serve``: start the local web app (needs the ``[web]`` extra)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from ._common import fail, guarded

__all__ = ["default_data_dir", "register"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def default_data_dir() -> Path:
    """Where ``gutbrain serve`` keeps jobs by default: ``$XDG_DATA_HOME/gutbrain/web``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gutbrain" / "web"


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command."""

    @app.command("serve")
    @guarded
    def serve_cmd(
        host: Annotated[
            str, typer.Option("--host", help="Interface to bind. Keep 127.0.0.1 (this computer only).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8765,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Folder of the job history and results "
                         "[default: $XDG_DATA_HOME/gutbrain/web, i.e. ~/.local/share/gutbrain/web]."),
        ] = None,
        workers: Annotated[
            int, typer.Option("--workers", help="Jobs run at once, each in its own process.", min=1, max=64)
        ] = 2,
        token: Annotated[
            str | None,
            typer.Option("--token", envvar="GUTBRAIN_TOKEN", show_envvar=True,
                         help="Require this access token on every request (log in once per "
                         "browser). Binding beyond this computer without one makes a random token."),
        ] = None,
        allow_host: Annotated[
            list[str] | None,
            typer.Option("--allow-host", help="Also accept requests addressed to this host name "
                         "(repeatable; '*' accepts any: only behind a trusted proxy)."),
        ] = None,
        open_browser: Annotated[
            bool, typer.Option("--open/--no-open", help="Open the app in the default web browser.")
        ] = False,
        max_upload_mb: Annotated[
            int, typer.Option("--max-upload-mb", help="Largest accepted upload, MiB.", min=1)
        ] = 500,
        temporary: Annotated[
            bool, typer.Option("--temporary", help="Keep jobs in a new temporary folder, removed on exit.")
        ] = False,
    ) -> None:
        """Start the local web app: analyse cohorts as queued jobs, demo, evidence, simulate.

        Pages at http://HOST:PORT/, JSON API under /api (schema at /openapi.json). Jobs and
        their history persist in --data-dir. Research software; not medical advice.
        """
        try:
            import uvicorn

            from ..web import create_app
        except ModuleNotFoundError as exc:
            fail(f"the web app needs {exc.name!r} from the optional [web] extra. "
                 "Fix: pip install 'gutbrain[web]'")
            return
        exposed = host not in _LOOPBACK
        made_token = False
        if exposed and not token:
            token, made_token = secrets.token_urlsafe(24), True
        where = None if temporary else (data_dir or default_data_dir())
        web = create_app(data_dir=where, max_upload_bytes=max_upload_mb * 1024 * 1024,
                         workers=workers, token=token, host=host, allow_hosts=allow_host or ())
        if exposed:
            typer.echo(f"warning: binding {host} exposes the app to your network; anyone who "
                       "can reach it and has the token can run jobs and read results", err=True)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/"
        data = web.state.settings.data_dir
        keep = " (temporary: removed on exit)" if temporary else ""
        typer.echo(f"gutbrain web app on {url}; jobs in {data}{keep}; {workers} worker(s). "
                   "Ctrl+C stops it")
        if token:
            typer.echo(f"access token required{' (generated)' if made_token else ''}: "
                       f"open {url}?token={token}")
        if open_browser:
            import threading
            import webbrowser

            target = f"{url}?token={token}" if token else url
            threading.Timer(1.0, webbrowser.open, args=(target,)).start()
        uvicorn.run(web, host=host, port=port, log_level="warning")
