"""One exception family for every user-facing failure.

Every error gutbrain raises because of *input* (a malformed table, mismatched
identifiers, values of the wrong kind) is a :class:`GutbrainError`.  Its string
form is a single line that names the file, the line/column where known, what was
expected, and how to fix it.  The CLI prints that line and exits with code 2.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "DataValueError",
    "DataWarning",
    "GutbrainError",
    "GutbrainWarning",
    "InputFormatError",
    "LimitError",
    "MetadataMismatchError",
    "StepFailedWarning",
    "UnitError",
]


#: The longest error line of ``str(error)``; the CLI prints at most 300 characters.
MAX_MESSAGE = 600


def _shorten(text: str | None, n: int) -> str:
    """Collapse whitespace to single spaces and cut ``text`` to ``n`` characters in the middle."""
    text = " ".join(str(text or "").split())
    if len(text) <= n:
        return text
    keep = n - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3 :]


class GutbrainError(ValueError):
    """Base class of gutbrain's input errors.

    Parameters
    ----------
    message
        What went wrong, in one sentence.
    path
        The file concerned, if any.
    line
        1-based line number in ``path``, if known.
    column
        1-based column number or column name, if known.
    fix
        How to fix it, in one short imperative sentence.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        line: int | None = None,
        column: int | str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message.strip().rstrip(".")
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.fix = None if fix is None else fix.strip().rstrip(".")
        super().__init__(self.one_line())

    def location(self) -> str:
        """Return ``path:line:column`` with the parts that are known."""
        parts: list[str] = []
        if self.path is not None:
            parts.append(self.path)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            col = self.column
            parts.append(f"column {col}" if isinstance(col, int) else f"column '{col}'")
        return ", ".join(parts)

    def one_line(self, limit: int = MAX_MESSAGE) -> str:
        """Return the error as one line: location, message and fix, at most ``limit`` characters.

        Long parts (a path, a value quoted from the file, a list of choices) are shortened
        in the middle with "…", so a hostile file can never produce a huge error message.
        The CLI prints ``one_line(300)``.
        """
        loc = _shorten(self.location(), max(limit * 2 // 5, 60))
        fix = _shorten(self.fix, max(limit // 2, 60)) if self.fix else ""
        budget = limit - len(loc) - len(fix) - 9
        if budget < limit // 6 and fix:  # keep room for what went wrong
            fix = _shorten(fix, max(len(fix) - (limit // 6 - budget), 40))
            budget = limit - len(loc) - len(fix) - 9
        text = _shorten(self.message, max(budget, 40))
        if loc:
            text = f"{loc}: {text}"
        if fix:
            text += f". Fix: {fix}"
        return _shorten(text, limit)

    def __str__(self) -> str:
        return self.one_line()


class InputFormatError(GutbrainError):
    """A file is not in the format it claims to be, or cannot be parsed."""


class LimitError(InputFormatError):
    """An input exceeds a documented limit (size, compression ratio, depth, columns, …).

    The message names the limit and the environment variable that raises it
    (see :mod:`gutbrain.io` ``Limits``).
    """


class DataValueError(GutbrainError):
    """Values are of the wrong kind: negative or NaN counts, non-numeric cells, empty tables."""


class MetadataMismatchError(GutbrainError):
    """Sample identifiers of a table and its metadata (or taxonomy) do not match."""


class UnitError(GutbrainError):
    """A function needs values of another kind (e.g. counts) than the data hold (e.g. percent)."""


class GutbrainWarning(UserWarning):
    """Base class of every warning gutbrain issues (the test suite turns these into errors)."""


class DataWarning(GutbrainWarning):
    """The input is usable but something was dropped or assumed (e.g. samples without metadata)."""


class StepFailedWarning(GutbrainWarning, RuntimeWarning):
    """An analysis step or report section failed; the run continues without its results."""
