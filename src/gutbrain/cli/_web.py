"""``gutbrain serve``: start the local web app (needs the ``[web]`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import fail, guarded

__all__ = ["register"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command."""

    @app.command("serve")
    @guarded
    def serve_cmd(
        host: Annotated[
            str, typer.Option("--host", help="Interface to bind. Keep 127.0.0.1 (this computer only).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8765,
        open_browser: Annotated[
            bool, typer.Option("--open/--no-open", help="Open the app in the default web browser.")
        ] = False,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Folder for job outputs (default: a new temporary folder)."),
        ] = None,
        max_upload_mb: Annotated[
            int, typer.Option("--max-upload-mb", help="Largest accepted upload, MiB.", min=1)
        ] = 500,
    ) -> None:
        """Start the local web app: analyse a cohort, run the demo, look up evidence, simulate.

        Pages at http://HOST:PORT/, JSON API under /api (schema at /openapi.json). Research software; not medical advice.
        """
        try:
            import matplotlib
            import uvicorn

            from ..web import create_app
        except ModuleNotFoundError as exc:
            fail(f"the web app needs {exc.name!r} from the optional [web] extra. "
                 "Fix: pip install 'gutbrain[web]'")
            return
        matplotlib.use("Agg")  # plots are rendered in worker threads: no GUI backend
        web = create_app(data_dir=data_dir, max_upload_bytes=max_upload_mb * 1024 * 1024)
        if host not in _LOOPBACK:
            typer.echo(f"warning: binding {host} exposes the app (no login) to your network", err=True)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/"
        where = web.state.settings.data_dir
        keep = " (temporary: removed on exit; use --data-dir to keep results)" if data_dir is None else ""
        typer.echo(f"gutbrain web app on {url}; jobs in {where}{keep}. Ctrl+C stops it")
        if open_browser:
            import threading
            import webbrowser

            threading.Timer(1.0, webbrowser.open, args=(url,)).start()
        uvicorn.run(web, host=host, port=port, log_level="warning")
