"""Helpers shared by CLI command modules: one-line errors and exit codes.

Exit codes (documented in ``docs/errors.md``)::

    0    success
    1    internal error: a bug in gutbrain (one line; ``--debug`` shows the traceback)
    2    bad input or usage: a GutbrainError (unreadable/hostile file, limit exceeded,
         mismatched ids, …), a missing or unwritable path, an unknown option
    3    out of memory or disk space
    130  interrupted (Ctrl-C)

Every error is one line on stderr of at most :data:`MAX_LINE` characters, starting with
``gutbrain: error:``.  ``gutbrain --debug …`` (or ``GUTBRAIN_DEBUG=1``) also prints the
traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
import typer

from .._errors import GutbrainError, _shorten

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RESOURCES",
    "MAX_LINE",
    "fail",
    "guarded",
    "set_debug",
]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_RESOURCES = 3
EXIT_INTERRUPTED = 130

#: The longest error line the CLI prints (prefix included).
MAX_LINE = 300
_PREFIX = "gutbrain: error: "

_STATE = {"debug": False}

#: Bad paths: bad input (exit 2), one message each.
_PATH_ERRORS: tuple[tuple[type[OSError], str], ...] = (
    (FileNotFoundError, "file not found. Fix: check the path"),
    (IsADirectoryError, "is a directory, expected a file. Fix: give a file path"),
    (NotADirectoryError, "a parent of this path is not a directory. Fix: check the path"),
    (PermissionError, "permission denied. Fix: choose a path you may read/write"),
)


def set_debug(flag: bool) -> None:
    """Turn traceback printing on or off (the ``--debug`` option)."""
    _STATE["debug"] = bool(flag)


def debug_enabled() -> bool:
    """``--debug`` was given or ``GUTBRAIN_DEBUG`` is set to a non-zero value."""
    return _STATE["debug"] or os.environ.get("GUTBRAIN_DEBUG", "") not in ("", "0")


def error_line(message: str) -> str:
    """Return ``gutbrain: error: <message>`` as one line of at most :data:`MAX_LINE` characters."""
    return _PREFIX + _shorten(message, MAX_LINE - len(_PREFIX))


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """Print one error line on stderr and exit with ``code`` (default 2, bad input)."""
    typer.echo(error_line(message), err=True)
    raise typer.Exit(code=code)


def _traceback() -> None:
    if debug_enabled():
        traceback.print_exc(file=sys.stderr)


def guarded(fn: F) -> F:
    """Decorate a command: every failure becomes one line on stderr and an exit code.

    GutbrainError and bad paths → 2; MemoryError / disk full → 3; Ctrl-C → 130; any
    other exception is a bug → 1, with a hint to re-run with ``--debug``.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except GutbrainError as exc:
            _traceback()
            fail(exc.one_line(MAX_LINE - len(_PREFIX)))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            _traceback()
            text = next(t for kind, t in _PATH_ERRORS if isinstance(exc, kind))
            fail(f"{exc.filename}: {text}")
        except KeyboardInterrupt:
            fail("interrupted", code=EXIT_INTERRUPTED)
        except MemoryError:
            _traceback()
            fail("out of memory. Fix: use a machine with more memory or a smaller input "
                 "(see docs/errors.md for the input limits)", code=EXIT_RESOURCES)
        except OSError as exc:
            _traceback()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                fail(f"{exc.filename or ''}: no space left on the device. Fix: free disk space",
                     code=EXIT_RESOURCES)
            fail(f"{exc.filename or ''}: {exc.strerror or exc}. Fix: check the path and the disk")
        except Exception as exc:
            _traceback()
            fail(
                f"internal error ({type(exc).__name__}: {_shorten(str(exc), 120)}). "
                "Fix: re-run with --debug for the traceback and report it",
                code=EXIT_INTERNAL,
            )
        return None

    return wrapper  # type: ignore[return-value]
