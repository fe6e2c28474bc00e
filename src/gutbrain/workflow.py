"""The standard cohort analysis as one function: ``gutbrain run`` and ``gutbrain demo``.

``run`` reads a table (or takes an AnnData), attaches taxonomy and metadata, runs every
registered analysis step (:data:`gutbrain._registry.STEPS`) in order, and writes

* ``out/report.html``: one self-contained report (:mod:`gutbrain.report`);
* ``out/tables/<name>.tsv``: every table of every section, plus ``tables/provenance.json``;
* ``out/gutbrain.h5ad``: the full record (results and provenance);
* ``out/gutbrain-manifest.json``: every file's sha256, written last.

The directory is built in a temporary sibling and moved into place complete
(:func:`gutbrain._utils.atomic_directory`), so nothing is left half-written and a failed
re-run leaves the previous output intact, marked stale.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from anndata import AnnData

from ._core import add_input, provenance, record
from ._errors import GutbrainError, InputFormatError, MetadataMismatchError, StepFailedWarning
from ._registry import STEPS
from ._utils import atomic_directory, atomic_write, sha256_file
from ._version import __version__

__all__ = ["load", "run"]

PathLike = str | os.PathLike[str]


def _existing(path: PathLike, role: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputFormatError(f"{role} file not found", path=p, fix="check the path")
    if p.is_dir() and not p.suffix == ".zarr":
        raise InputFormatError(
            f"{role} path is a directory, expected a file", path=p, fix="give a file path"
        )
    return p


def _read_taxonomy(path: Path) -> Any:
    from . import io

    if path.suffix.lower() == ".qza":
        return io.read_qza(path)
    return io.read_taxonomy(path)


def load(
    table: PathLike | AnnData,
    *,
    taxonomy: PathLike | None = None,
    metadata: PathLike | None = None,
) -> AnnData:
    """Read a table (any format :func:`gutbrain.io.read` sniffs) and attach taxonomy/metadata.

    Parameters
    ----------
    table
        Path of the feature table, or an AnnData (copied).
    taxonomy
        Taxonomy table (TSV/CSV or QIIME 2 ``FeatureData[Taxonomy]`` ``.qza``).
    metadata
        Sample metadata (QIIME 2 metadata TSV, CSV/TSV, xlsx).

    Returns
    -------
    AnnData
    """
    from . import io

    if isinstance(table, AnnData):
        adata = table.copy()
    else:
        path = _existing(table, "table")
        adata = io.read(path)  # records the input (path, sha256, detected format)
    if taxonomy is not None:
        tpath = _existing(taxonomy, "taxonomy")
        adata = io.attach_taxonomy(adata, _read_taxonomy(tpath), path=tpath)
    if metadata is not None:
        mpath = _existing(metadata, "metadata")
        adata = io.attach_metadata(adata, io.read_metadata(mpath), path=mpath)
    return adata


def _check_group(adata: AnnData, group: str | None, metadata: PathLike | None) -> None:
    if group is None:
        return
    if group not in adata.obs.columns:
        cols = [str(c) for c in adata.obs.columns]
        where = "this metadata file" if metadata is not None else "the sample metadata"
        raise MetadataMismatchError(
            f"group column {group!r} is not in {where}; columns are: "
            + (", ".join(cols) if cols else "(none)"),
            path=None if metadata is None else metadata,
            fix="pass --group with one of the listed columns (names are case-sensitive)"
            if cols
            else "pass --metadata with a sample metadata file",
        )
    levels = adata.obs[group].dropna().astype(str).unique()
    if len(levels) < 2:
        raise MetadataMismatchError(
            f"group column {group!r} has {len(levels)} distinct value(s); group comparisons need 2 or more",
            path=None if metadata is None else metadata,
            fix="choose a column that splits the samples into groups",
        )


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


def run(
    table: PathLike | AnnData,
    *,
    taxonomy: PathLike | None = None,
    metadata: PathLike | None = None,
    group: str | None = None,
    out: PathLike,
    seed: int = 0,
    tree: PathLike | None = None,
    rank: str = "genus",
    min_depth: float | None = None,
    progress: bool = True,
    generated_at: str | datetime | None = None,
) -> AnnData:
    """Run the cohort analysis and write report, tables and h5ad to ``out``.

    Parameters
    ----------
    table
        Feature table path (format sniffed by :func:`gutbrain.io.read`) or an AnnData.
    taxonomy, metadata
        Optional taxonomy and sample-metadata files.
    group
        Metadata column that defines the groups compared (e.g. ``"diagnosis"``).
    out
        Output directory (created).
    seed
        Random seed passed to every step (permutations, rarefaction …).
    tree
        Rooted phylogeny (``.qza``/Newick) for phylogenetic metrics, if any.
    rank
        Rank for composition summaries.
    min_depth
        QC depth threshold (default :data:`gutbrain.report._sections_core.DEFAULT_MIN_DEPTH`).
    progress
        Show a progress bar (only on a terminal).
    generated_at
        Timestamp written into the report (pin it for byte-identical output).

    Returns
    -------
    AnnData
        The analysed object (also written to ``out/gutbrain.h5ad``).

    Raises
    ------
    GutbrainError
        For bad input (unreadable table, metadata not matching, unknown group column) or a
        step that rejects the data; nothing is written then.
    """
    outdir = Path(out)
    if outdir.exists() and not outdir.is_dir():
        raise InputFormatError("output path exists and is not a directory", path=outdir,
                               fix="pass a directory for --out")
    # the outputs are built in a temporary sibling and moved into place complete (with a
    # manifest written last); a failure leaves the previous output intact and marked stale
    with atomic_directory(outdir) as tmpdir:
        return _run(table, taxonomy, metadata, group, outdir, tmpdir, seed, tree, rank,
                    min_depth, progress, generated_at)


def _run(table: Any, taxonomy: Any, metadata: Any, group: str | None, outdir: Path, tmpdir: Path,
         seed: int, tree: Any, rank: str, min_depth: float | None, progress: bool,
         generated_at: str | None) -> AnnData:
    from . import report  # noqa: F401  (registers the core steps and sections)
    from .report._build import _generated_at, collect_sections, render, write_tables
    from .report._sections_core import DEFAULT_MIN_DEPTH

    if tree is not None:
        tree = _existing(tree, "tree")
    adata = load(table, taxonomy=taxonomy, metadata=metadata)
    _check_group(adata, group, metadata)
    stamp = _generated_at(generated_at)
    config: dict[str, Any] = {
        "group": group,
        "seed": int(seed),
        "tree": None if tree is None else Path(tree),
        "out": outdir,
        "rank": rank,
        "min_depth": float(DEFAULT_MIN_DEPTH if min_depth is None else min_depth),
    }
    if tree is not None:
        add_input(adata, "tree", tree, "tree")
    steps = sorted(STEPS.items(), key=lambda kv: (kv[1][0], kv[0]))
    done: list[str] = []
    errors: dict[str, str] = {}
    with _progress(progress) as bar:
        task = bar.add_task("gutbrain run", total=len(steps) + 2)
        for key, (_, fn) in steps:
            bar.update(task, description=f"step: {key}")
            try:
                fn(adata, config)
            except GutbrainError:
                raise
            except Exception as exc:  # a broken step must not lose the other results
                errors[key] = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"gutbrain run: step {key!r} failed: {exc!r}", StepFailedWarning,
                              stacklevel=2)
            else:
                done.append(key)
            bar.advance(task)
        record(
            adata,
            "workflow",
            params={
                "group": group,
                "seed": int(seed),
                "rank": rank,
                "min_depth": config["min_depth"],
                "tree": None if tree is None else os.path.abspath(tree),
            },
            random_state=int(seed),
            steps=done,
            step_errors=errors,
            generated_at=stamp,
        )
        bar.update(task, description="report")
        context = {"config": config, "generated_at": stamp, "tables_dir": "tables"}
        built = collect_sections(adata, context)
        warn_lines = [f"Analysis step “{k}” failed and its results are missing: {v}" for k, v in errors.items()]
        warn_lines += [f"Report section “{b.key}” failed: {b.error}" for b in built if b.error]
        html = render(adata, built, generated_at=stamp, tables_dir="tables", warnings_=warn_lines)
        bar.advance(task)
        bar.update(task, description="writing outputs")
        from .io import write_h5ad

        write_h5ad(adata, tmpdir / "gutbrain.h5ad")
        paths = write_tables(built, tmpdir / "tables")
        _write_sidecar(adata, tmpdir, paths, stamp)
        with atomic_write(tmpdir / "report.html") as fh:
            fh.write(html)
        bar.advance(task)
    return adata


def _write_sidecar(adata: AnnData, outdir: Path, tables: list[Path], stamp: str) -> None:
    prov = provenance(adata)
    synthetic = bool(prov.get("synthetic", False))
    inputs = {
        str(k): {str(a): str(b) for a, b in dict(v).items()} for k, v in dict(prov.get("inputs", {})).items()
    }
    doc = {
        "generated_by": f"gutbrain {__version__}",
        "generated_at": stamp,
        "synthetic": synthetic,
        "note": (
            "SYNTHETIC DATA simulated by gutbrain; not measurements from people. "
            if synthetic
            else ""
        )
        + "Research software; not medical advice.",
        "reader": str(prov.get("reader", "unknown")),
        "inputs": inputs,
        "tables": {p.name: sha256_file(p) for p in tables},
    }
    with atomic_write(outdir / "tables" / "provenance.json") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")

