"""Writing the outputs of ``gutbrain run`` so that no half-written directory looks finished.

Everything is written into a temporary sibling directory (``.<name>.<pid>-….gutbrain-tmp``)
which replaces ``out`` only when complete (two renames).  If anything fails, the temporary
directory is removed and ``out`` keeps its previous complete contents; a marker file
(:data:`STALE_NAME`) is written into it then, so the earlier report does not look like the
result of the failed run.

``output_directory`` is the one place to switch to :func:`gutbrain._utils.atomic_directory`
when that shared helper is available.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anndata import AnnData

from .._core import provenance
from .._errors import InputFormatError
from .._utils import atomic_write, sha256_file
from .._version import __version__

__all__ = ["STALE_NAME", "output_directory", "write_outputs"]

#: Written into an earlier output directory when a later run into it failed.
STALE_NAME = "STALE-previous-run-failed.txt"


@contextlib.contextmanager
def output_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the body succeeds.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
    >>> with output_directory(out) as tmp:
    ...     _ = (tmp / "a.tsv").write_text("x\\n")
    >>> sorted(p.name for p in out.iterdir())
    ['a.tsv']
    """
    from .. import _utils

    shared = getattr(_utils, "atomic_directory", None)
    if shared is not None:  # the shared helper (manifest, recovery of killed runs)
        with shared(path, label="gutbrain run") as tmp:
            yield Path(tmp)
        return
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputFormatError("output path exists and is not a directory", path=target,
                               fix="pass a directory for --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".gutbrain-tmp",
                                dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.{os.getpid()}.gutbrain-old"
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.is_dir() and any(target.iterdir()):
            with contextlib.suppress(OSError), atomic_write(target / STALE_NAME) as fh:
                fh.write(f"A later gutbrain run into this directory failed at "
                         f"{datetime.now(UTC).replace(microsecond=0).isoformat()}:\n"
                         f"  {type(exc).__name__}: {' '.join(str(exc).split())[:500]}\n"
                         "The files here are from an earlier run; they do not reflect the failed run.\n")
        raise


def _sidecar(adata: AnnData, tables: list[Path], stamp: str) -> dict[str, Any]:
    prov = provenance(adata)
    synthetic = bool(prov.get("synthetic", False))
    inputs = {str(k): {str(a): str(b) for a, b in dict(v).items()}
              for k, v in dict(prov.get("inputs", {})).items()}
    return {
        "generated_by": f"gutbrain {__version__}",
        "generated_at": stamp,
        "synthetic": synthetic,
        "note": ("SYNTHETIC DATA simulated by gutbrain; not measurements from people. " if synthetic else "")
        + "Research software; not medical advice.",
        "reader": str(prov.get("reader", "unknown")),
        "inputs": inputs,
        "tables": {p.name: sha256_file(p) for p in tables},
    }


def write_outputs(directory: Path, adata: AnnData, built: list[Any], html: str, stamp: str) -> list[Path]:
    """Write ``gutbrain.h5ad``, ``tables/*.tsv`` (+ ``provenance.json``) and ``report.html``."""
    from ..io import write_h5ad
    from ..report import write_tables

    directory.mkdir(parents=True, exist_ok=True)
    write_h5ad(adata, directory / "gutbrain.h5ad")
    paths = write_tables(built, directory / "tables")
    with atomic_write(directory / "tables" / "provenance.json") as fh:
        json.dump(_sidecar(adata, paths, stamp), fh, indent=2, sort_keys=True)
        fh.write("\n")
    with atomic_write(directory / "report.html") as fh:
        fh.write(html)
    return paths
