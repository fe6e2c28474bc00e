"""Helpers shared by CLI command modules."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from .._errors import GutbrainError

__all__ = ["fail", "guarded"]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    """Print one error line on stderr and exit with code 2."""
    typer.echo(f"gutbrain: error: {message}", err=True)
    raise typer.Exit(code=2)


def guarded(fn: F) -> F:
    """Decorate a command: GutbrainError / missing files → one line on stderr, exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GutbrainError as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"{exc.filename}: file not found. Fix: check the path")
        except IsADirectoryError as exc:
            fail(f"{exc.filename}: is a directory, expected a file. Fix: give a file path")
        return None

    return wrapper  # type: ignore[return-value]
