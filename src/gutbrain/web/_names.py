"""File-name, job-id and message hygiene for the web app (no third-party imports)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

__all__ = ["JOB_ID", "SAFE_PART", "safe_filename", "tidy_message"]

#: Job ids are uuid4 hex strings.
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
#: One path component served from a job folder: no leading dot, no separators, no "..".
SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_LEN = 120


def safe_filename(name: str | None, default: str = "upload") -> str:
    """Reduce an uploaded file name to a safe base name.

    Directory parts (``/`` or ``\\``) are dropped, characters outside ``[A-Za-z0-9._-]``
    become ``_``, leading dots/dashes are removed (no hidden files, no ``..``) and long
    names are cut from the left so the suffix (the format hint) survives.

    Parameters
    ----------
    name
        The client-supplied file name (untrusted).
    default
        Name used when nothing safe is left.

    Returns
    -------
    str
        A name matching :data:`SAFE_PART`.

    Examples
    --------
    >>> safe_filename("../../etc/passwd")
    'passwd'
    >>> safe_filename("C:\\\\data\\\\my table (1).tsv")
    'my_table_1_.tsv'
    >>> safe_filename("..")
    'upload'
    """
    raw = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    cleaned = _UNSAFE.sub("_", raw).lstrip("._-")
    if len(cleaned) > _MAX_LEN:
        cleaned = cleaned[-_MAX_LEN:].lstrip("._-")
    if not cleaned or not SAFE_PART.match(cleaned):
        return default
    return cleaned


def tidy_message(message: str, data_dir: str | Path) -> str:
    """Make an error message fit for the client: one line, no server paths.

    A path inside a job folder (``<data_dir>/jobs/<id>/inputs/<role>/name.tsv``, or the
    staging folder ``<data_dir>/tmp/<id>/...``) becomes the uploaded file's name.

    Parameters
    ----------
    message
        The message (e.g. ``str(GutbrainError)``).
    data_dir
        The app's data folder.

    Returns
    -------
    str

    Examples
    --------
    >>> tidy_message("/srv/d/jobs/" + "a" * 32 + "/inputs/table/t.tsv: bad\\nline", "/srv/d")
    't.tsv: bad line'
    """
    roots = {str(Path(data_dir)), str(Path(data_dir).resolve())}
    for root in sorted(roots, key=len, reverse=True):
        rx = re.compile(re.escape(root) + r"[/\\](?:jobs|tmp)[/\\][0-9a-f]{32}[/\\]"
                        r"(?:inputs[/\\][a-z_]+[/\\]|work[/\\]|out[/\\])?")
        message = rx.sub("", message)
        message = message.replace(root, "<data-dir>")
    return " ".join(message.split())
