"""One exception family for every user-facing failure.

Every error gutbrain raises because of *input* (a malformed table, mismatched
identifiers, values of the wrong kind) is a :class:`GutbrainError`.  Its string
form is a single line that names the file, the line/column where known, what was
expected, and how to fix it.  The CLI prints that line and exits with code 2.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "ClusterError",
    "DataValueError",
    "GutbrainError",
    "InputFormatError",
    "MetadataMismatchError",
    "UnitError",
]


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

    def one_line(self) -> str:
        """Return the error as one line: location, message and fix."""
        loc = self.location()
        text = f"{loc}: {self.message}" if loc else self.message
        if self.fix:
            text += f". Fix: {self.fix}"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class InputFormatError(GutbrainError):
    """A file is not in the format it claims to be, or cannot be parsed."""


class DataValueError(GutbrainError):
    """Values are of the wrong kind: negative or NaN counts, non-numeric cells, empty tables."""


class MetadataMismatchError(GutbrainError):
    """Sample identifiers of a table and its metadata (or taxonomy) do not match."""


class UnitError(GutbrainError):
    """A function needs values of another kind (e.g. counts) than the data hold (e.g. percent)."""


class ClusterError(GutbrainError):
    """A Dask scheduler does not answer, or the cluster lost the work (workers died too often)."""
