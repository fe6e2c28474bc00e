"""Writing the outputs of ``gutbrain run`` so that no half-written directory looks finished.

Everything is written into a temporary sibling directory (``.<name>.<pid>-….gutbrain-tmp``)
which replaces ``out`` only when complete (two renames).  If anything fails, the temporary
directory is removed and ``out`` keeps its previous complete contents; a marker file
(:data:`STALE_NAME`) is written into it then, so the earlier report does not look like the
result of the failed run.

``output_directory`` is :func:`gutbrain._utils.atomic_directory` (which also writes the
manifest, ``gutbrain-manifest.json``, last).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anndata import AnnData

from .._core import provenance
from .._utils import STALE_NAME, atomic_directory, atomic_write, sha256_file
from .._version import __version__

__all__ = ["STALE_NAME", "output_directory", "write_outputs"]



@contextlib.contextmanager
def output_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the body succeeds.

    :func:`gutbrain._utils.atomic_directory`: a manifest is written last; on failure ``path``
    keeps its previous complete contents and is marked stale (:data:`STALE_NAME`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "results"
    >>> with output_directory(out) as tmp:
    ...     _ = (tmp / "a.tsv").write_text("x\\n")
    >>> sorted(p.name for p in out.iterdir())
    ['a.tsv', 'gutbrain-manifest.json']
    """
    with atomic_directory(path, label="gutbrain run") as tmp:
        yield Path(tmp)


def _sidecar(adata: AnnData, tables: list[Path], stamp: str,
             timings: dict[str, float] | None = None) -> dict[str, Any]:
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
        **({"timings_seconds": {k: round(v, 3) for k, v in timings.items()}} if timings else {}),
    }


def write_outputs(directory: Path, adata: AnnData, built: list[Any], html: str, stamp: str,
                  timings: dict[str, float] | None = None) -> list[Path]:
    """Write ``gutbrain.h5ad``, ``tables/*.tsv`` (+ ``provenance.json``) and ``report.html``.

    ``timings`` (phase → wall seconds) goes into ``provenance.json`` as ``timings_seconds``,
    with ``write`` (the h5ad and the tables) added and ``total`` their sum.
    """
    from ..io import write_h5ad
    from ..report import write_tables

    t0 = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    write_h5ad(adata, directory / "gutbrain.h5ad")
    paths = write_tables(built, directory / "tables")
    if timings is not None:
        timings = {**timings, "write": time.perf_counter() - t0}
        timings["total"] = sum(timings.values())
    with atomic_write(directory / "tables" / "provenance.json") as fh:
        json.dump(_sidecar(adata, paths, stamp, timings), fh, indent=2, sort_keys=True)
        fh.write("\n")
    with atomic_write(directory / "report.html") as fh:
        fh.write(html)
    return paths
