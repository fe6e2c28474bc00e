"""Small helpers shared by every namespace: hashing, atomic writes, random states."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = [
    "MANIFEST_NAME",
    "atomic_directory",
    "atomic_path",
    "atomic_write",
    "check_random_state",
    "escape_formula",
    "sha256_file",
    "spreadsheet_safe",
    "verify_directory",
    "write_delimited",
]


def sha256_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Nothing is left half-written: if the body raises, the temporary file is removed
    and ``path`` is untouched.  The temporary name carries the process id
    (``.<name>.<pid>.<random>.tmp``); leftovers of killed processes are removed the next
    time the same file is written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target.parent, f".{target.name}.", ".tmp")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _clean_stale(parent: Path, prefix: str, suffix: str = "") -> list[Path]:
    """Remove ``parent/<prefix><pid>.<…><suffix>`` entries whose process is gone."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and rename it onto ``path`` when closed cleanly."""
    with atomic_path(path) as tmp:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with open(tmp, mode, **kwargs) as fh:
            yield fh


def check_random_state(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy Generator from an int seed, a Generator or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- spreadsheet-safe text
#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell
#: as a formula or a DDE command: the OWASP CSV-injection list.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I | re.ASCII)  # ASCII digits only: what a spreadsheet reads as a number


def escape_formula(value: Any) -> Any:
    r"""Return ``value`` made safe for a spreadsheet cell (OWASP CSV-injection rule).

    A text cell starting with ``= + - @``, a tab or a carriage return gets a leading
    single quote, so a spreadsheet shows it as text instead of running it as a formula
    (``=HYPERLINK(...)``, ``@SUM(...)``, DDE).  Numbers are left alone, and so is text that
    is exactly a number (``"-1.5"``, ``"+3e-4"``): a spreadsheet reads those as numbers.

    Examples
    --------
    >>> escape_formula('=HYPERLINK("http://x","click")')
    '\'=HYPERLINK("http://x","click")'
    >>> escape_formula("-1.5"), escape_formula(-1.5), escape_formula("Bacteroides")
    ('-1.5', -1.5, 'Bacteroides')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame, *, index: bool = False) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells and labels cannot start a formula.

    Text in object, string and categorical columns, the column names and (``index=True``)
    the index labels go through :func:`escape_formula`; numeric columns are untouched, so
    negative numbers stay numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"sample": ["=cmd|' /C calc'!A0", "S2"], "coef": [-0.5, 1.0]})
    >>> spreadsheet_safe(df)["sample"].tolist(), spreadsheet_safe(df)["coef"].tolist()
    (["'=cmd|' /C calc'!A0", 'S2'], [-0.5, 1.0])
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.cat.rename_categories([escape_formula(c) for c in s.cat.categories])
        elif s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            out[col] = s.map(escape_formula, na_action="ignore")
    out.columns = pd.Index([escape_formula(c) for c in out.columns])
    if index:
        out.index = pd.Index([escape_formula(i) for i in out.index], name=escape_formula(out.index.name))
    return out


def write_delimited(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, sep: str = "\t", index: bool = False,
    **to_csv: Any,
) -> Path:
    r"""Write ``frame`` as TSV/CSV atomically, with every text cell spreadsheet-safe.

    The one writer of tables gutbrain hands to people (CLI outputs, report tables, evidence
    exports, the web app): :func:`spreadsheet_safe`, then ``to_csv`` into :func:`atomic_write`.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.tsv"
    >>> _ = write_delimited(pd.DataFrame({"id": ["@SUM(A1)"], "x": [-2]}), p)
    >>> p.read_text()
    "id\tx\n'@SUM(A1)\t-2\n"
    """
    target = Path(path)
    to_csv.setdefault("lineterminator", "\n")
    with atomic_write(target) as fh:
        spreadsheet_safe(frame, index=index).to_csv(fh, sep=sep, index=index, **to_csv)
    return target


# --------------------------------------------------------------------------- output directories
#: Written last into every output directory gutbrain completes: the list of its files.
MANIFEST_NAME = "gutbrain-manifest.json"
#: Written into a previous output directory when a later run into it failed.
STALE_NAME = "STALE-gutbrain-run-failed.txt"


def _directory_files(root: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST_NAME:
            files[p.relative_to(root).as_posix()] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    return files


def _is_gutbrain_output(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file() or not any(path.iterdir())


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, label: str = "gutbrain") -> Iterator[Path]:
    """Build an output directory in a temporary sibling; move it into place when complete.

    Yields the temporary directory (``.<name>.<pid>-…gutbrain-tmp``) to write into.  When the
    body returns, :data:`MANIFEST_NAME` (every file's size and sha256, gutbrain version, time)
    is written *last*, then the directory replaces ``path`` (two renames; the previous one is
    removed).  So ``path`` is either the complete previous output or the complete new one —
    never a half-written mix; a directory without a manifest is not a finished output.

    If the body raises, the temporary directory is removed, ``path`` is untouched and, when it
    holds an earlier output, :data:`STALE_NAME` is written into it saying that a later run
    failed (so the old report does not look current).  Leftovers of killed processes are
    removed at the next start.  An existing non-empty ``path`` that is not a gutbrain output
    (no manifest) is never replaced.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "a.tsv").write_text("x\\n")
    >>> sorted(p.name for p in out.iterdir())
    ['a.tsv', 'gutbrain-manifest.json']
    >>> list(json.loads((out / MANIFEST_NAME).read_text())["files"])
    ['a.tsv']
    """
    from ._errors import InputFormatError
    from ._version import __version__

    target = Path(path)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _recover(target)
    if target.exists():
        if not target.is_dir():
            raise InputFormatError("output path exists and is not a directory", path=target,
                                   fix="pass a directory for the output")
        if not _is_gutbrain_output(target):
            raise InputFormatError(
                "output directory exists, is not empty and was not written by gutbrain "
                f"(no {MANIFEST_NAME}); refusing to replace it",
                path=target, fix="choose a new output directory or empty this one",
            )
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".gutbrain-tmp", dir=parent))
    try:
        yield tmp
        manifest = {
            "generated_by": f"{label} {__version__}",
            "completed_at": _utc_now(),
            "files": _directory_files(tmp),
        }
        with atomic_write(tmp / MANIFEST_NAME) as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".gutbrain-old",
                                        dir=parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.is_dir() and (target / MANIFEST_NAME).is_file():
            with contextlib.suppress(OSError):
                with atomic_write(target / STALE_NAME) as fh:
                    fh.write(
                        f"A later run into this directory failed at {_utc_now()}:\n"
                        f"  {type(exc).__name__}: {' '.join(str(exc).split())[:500]}\n"
                        "The files here are from the earlier run recorded in "
                        f"{MANIFEST_NAME}; they do not reflect the failed run.\n"
                    )
        raise


def _recover(target: Path) -> None:
    """Clean up after killed runs writing ``target``: restore or drop their directories."""
    prefix = f".{target.name}."
    for entry in sorted(target.parent.glob(f"{glob.escape(prefix)}*-*.gutbrain-old")):
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if not target.exists():  # killed between the two renames: put the old output back
                os.rename(entry, target)
            else:
                shutil.rmtree(entry, ignore_errors=True)
    _clean_stale(target.parent, prefix, ".gutbrain-tmp")


def verify_directory(path: str | os.PathLike[str]) -> list[str]:
    """Return what is wrong with a finished output directory (empty list: complete and intact).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> verify_directory(pathlib.Path(tempfile.mkdtemp()))
    ['no gutbrain-manifest.json: not a finished gutbrain output']
    """
    root = Path(path)
    mf = root / MANIFEST_NAME
    if not mf.is_file():
        return [f"no {MANIFEST_NAME}: not a finished gutbrain output"]
    try:
        listed = json.loads(mf.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return [f"{MANIFEST_NAME} is unreadable"]
    problems = []
    actual = _directory_files(root)
    for rel, info in listed.items():
        if rel not in actual:
            problems.append(f"{rel} is missing")
        elif actual[rel]["sha256"] != info.get("sha256"):
            problems.append(f"{rel} changed since it was written")
    problems += [f"{rel} is not in the manifest" for rel in actual if rel not in listed and rel != STALE_NAME]
    if (root / STALE_NAME).exists():
        problems.append("a later run into this directory failed (see " + STALE_NAME + ")")
    return problems


def _utc_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
