"""The ``gutbrain`` command line: thin commands over the library.

Each feature adds its commands in a private module ``cli/_<feature>.py`` that
defines ``register(app: typer.Typer) -> None``; the module is listed in
``_COMMAND_MODULES`` below.  Input errors (:class:`gutbrain.GutbrainError`) are
printed as one line (≤ 300 characters) on stderr and the process exits with code 2, no
traceback (``--debug`` prints it); the exit codes are listed in ``cli/_common.py`` and
``docs/errors.md``.
"""

from __future__ import annotations

import importlib
import sys

import typer

from .._errors import GutbrainError

__all__ = ["app", "main"]

app = typer.Typer(
    name="gutbrain",
    help=(
        "gutbrain: microbiota–gut–brain analysis for chronic pain and neuroinflammation "
        "research. Research software; not medical advice."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines register(app). Keep one line per feature.
_COMMAND_MODULES: list[str] = [
    "gutbrain.cli._core",
    "gutbrain.cli._diversity",
    "gutbrain.cli._evidence",
    "gutbrain.cli._indices",
    "gutbrain.cli._da",
    "gutbrain.cli._simulate",
    "gutbrain.cli._ml",
    "gutbrain.cli._web",
    "gutbrain.cli._metabolites",
    "gutbrain.cli._sample",
]


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_load_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning gutbrain errors into one line and exit code 2.

    Usage errors (unknown command, bad option) are handled by Typer: a short message and
    exit code 2.  Commands are also decorated with :func:`gutbrain.cli._common.guarded`;
    this outer guard catches what escapes them.
    """
    from ._common import EXIT_INPUT, MAX_LINE, error_line

    try:
        app(args=argv)
    except GutbrainError as exc:
        typer.echo(error_line(exc.one_line(MAX_LINE)), err=True)
        sys.exit(EXIT_INPUT)
    except FileNotFoundError as exc:
        typer.echo(error_line(f"{exc.filename}: file not found. Fix: check the path"), err=True)
        sys.exit(EXIT_INPUT)
