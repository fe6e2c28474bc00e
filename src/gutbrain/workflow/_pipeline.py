"""What ``gutbrain run`` does, top to bottom.  Start reading here.

1. **Options** → :class:`RunConfig` (``RunConfig.create`` checks them on their own).
2. **Read** the table, taxonomy and metadata (the metadata's sample-id column is found by
   matching the table's sample ids) and the tree → one AnnData (:func:`load`).
3. **Choose the samples**: ``--where``, then the group plan (samples with a missing group
   are left out and counted; reference level; colours), the subject (``RunConfig.resolve``).
4. **Run the steps** in the order of :data:`STEPS`.  Each is ``step(adata, config)`` and
   leaves its results in documented AnnData slots (:mod:`gutbrain.workflow._steps`).  A step
   that does not apply says why (it is listed as skipped); a step that crashes is listed as
   failed and the others still run; bad input (:class:`gutbrain.GutbrainError`) stops the run.
   Warnings raised inside a step become plain-language notes in the report.
5. **Render the report**: the sections of :data:`gutbrain.report.SECTIONS` only read slots.
6. **Write** ``report.html``, ``tables/*.tsv`` (+ ``provenance.json``) and ``gutbrain.h5ad``
   into a temporary directory that replaces ``out`` only when complete.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from anndata import AnnData

from .._core import add_input, record
from .._errors import DataValueError, GutbrainError
from . import _steps as steps
from ._config import RunConfig
from ._inputs import load, load_tree
from ._output import output_directory, write_outputs

__all__ = ["STEPS", "Step", "run"]

PathLike = str | os.PathLike[str]


class Step(NamedTuple):
    """One analysis step: key, function, title, and the libraries that compute its numbers."""

    key: str
    fn: Callable[[AnnData, RunConfig], None]
    title: str
    libraries: tuple[str, ...] = ("numpy", "scipy", "pandas")


#: The analysis, in order.  To add a step: write ``fn(adata, config)`` in ``_steps.py``
#: (results into AnnData slots) and a section in ``gutbrain/report`` that renders them.
STEPS: tuple[Step, ...] = (
    Step("qc", steps.qc, "Quality control"),
    Step("composition", steps.composition, "Composition"),
    Step("alpha_diversity", steps.alpha_diversity, "Alpha diversity", ("numpy", "scipy", "scikit-bio")),
    Step("beta_diversity", steps.beta_diversity, "Beta diversity, PCoA, PERMANOVA",
         ("numpy", "scipy", "numba")),
    Step("design_check", steps.design_check, "Design check", ("numpy", "scipy", "pandas")),
    Step("gut_brain_indices", steps.gut_brain_indices, "Gut–brain indices"),
    Step("health_indices", steps.health_indices, "GMHI and GMWI2"),
    Step("gutbrain_health_index", steps.gutbrain_health_index, "gutbrain's health index"),
    Step("diff_abundance", steps.diff_abundance, "Differential abundance (MaAsLin 3 first, and a consensus)",
         ("numpy", "scipy", "pandas", "scikit-bio")),
    Step("planted_truth", steps.planted_truth, "Planted truth of a simulated cohort"),
    Step("classifier", steps.classifier, "Classifier", ("numpy", "scikit-learn")),
    Step("metabolites", steps.metabolites, "Metabolites", ("numpy", "scipy", "scikit-learn")),
    Step("evidence", steps.evidence, "Evidence for the group's hits", ("pandas",)),
    Step("resemblance", steps.resemblance, "Published conditions the cohort resembles", ("numpy", "pandas")),
    Step("simulation", steps.simulation, "Mechanistic simulation", ("numpy", "scipy", "libroadrunner")),
)

#: Libraries every run uses (reading, the data object, figures).
_ALWAYS = ("numpy", "pandas", "anndata", "h5py", "matplotlib")
_READERS = {"biom": "biom-format", "qiime2": "biom-format"}


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def _software(ran: list[Step], reader: str, tree: bool = False) -> pd.DataFrame:
    """Versions of the libraries that computed the numbers of the steps that ran."""
    import platform

    from .._version import __version__

    used: dict[str, list[str]] = {}
    for lib in _ALWAYS:
        used.setdefault(lib, []).append("every run")
    for key, lib in _READERS.items():
        if key in reader.lower():
            used.setdefault(lib, []).append("reading the table")
    if tree:
        used.setdefault("scikit-bio", []).append("the phylogeny (UniFrac, Faith PD)")
    for step in ran:
        for lib in step.libraries:
            used.setdefault(lib, []).append(step.key)
    rows = [("gutbrain", __version__, "every step"), ("python", platform.python_version(), "every step")]
    rows += [(lib, _version(lib), ", ".join(dict.fromkeys(u))) for lib, u in sorted(used.items())]
    return pd.DataFrame(rows, columns=["package", "version", "used by"])


def _plain(step: Step, caught: list[warnings.WarningMessage]) -> list[str]:
    """Warnings raised inside a step as plain-language notes (one per distinct message)."""
    notes: dict[str, int] = {}
    for w in caught:
        msg = " ".join(str(w.message).split())
        kind = w.category.__name__
        if kind == "ConvergenceWarning":
            text = (f"{step.title}: an optimiser stopped before full convergence in some fits "
                    "(results may be slightly imprecise).")
        elif kind in ("RuntimeWarning",) and ("divide" in msg or "invalid value" in msg):
            text = f"{step.title}: some values were undefined (division by zero) and are left blank."
        else:
            text = f"{step.title}: {msg.rstrip('.')}."
        notes[text] = notes.get(text, 0) + 1
    return [t if n == 1 else f"{t} ({n} times)" for t, n in notes.items()]


def _run_steps(adata: AnnData, config: RunConfig, report: Callable[[str, float], None]) -> list[Step]:
    """Run :data:`STEPS` in order; record status, reason and seconds of each."""
    status: list[dict[str, Any]] = []
    ran: list[Step] = []
    for i, step in enumerate(STEPS):
        report(step.key, i / (len(STEPS) + 1))
        t0 = time.perf_counter()
        row = {"step": step.key, "title": step.title, "status": "ran", "reason": ""}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                step.fn(adata, config)
            except steps.StepSkipped as exc:
                row.update(status="skipped", reason=str(exc))
            except GutbrainError:
                raise
            except Exception as exc:  # a broken step must not lose the other results
                row.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        for note in _plain(step, [w for w in caught if not issubclass(w.category, DeprecationWarning)]):
            steps.add_note(adata, note)
        if row["status"] == "failed":
            steps.add_note(adata, f"The step “{step.title}” failed and its results are missing "
                           f"({row['reason']}). Please report this with the input that caused it.")
        if row["status"] == "ran":
            ran.append(step)
        row["seconds"] = time.perf_counter() - t0
        status.append(row)
    adata.uns.setdefault("workflow", {})["step_status"] = pd.DataFrame(status)
    return ran


def _timings(read_seconds: float, status: pd.DataFrame) -> pd.DataFrame:
    """Wall seconds of reading the inputs and of each step (``uns["workflow"]["timings"]``)."""
    rows = [("read", "Loading libraries, reading the inputs and metadata, choosing the samples", "ran",
             read_seconds)]
    rows += [(str(r.step), str(r.title), str(r.status), float(r.seconds)) for r in status.itertuples()]
    return pd.DataFrame(rows, columns=["phase", "title", "status", "seconds"])


def _progress_bar(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    # no refresh thread (redrawn at each step instead): the classifier's folds and the report's
    # figures fork worker processes only while no other Python thread runs
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=console, transient=True, auto_refresh=False,
                    disable=not (enabled and console.is_terminal))


def run(
    table: PathLike | AnnData,
    *,
    taxonomy: PathLike | None = None,
    metadata: PathLike | None = None,
    group: str | None = None,
    out: PathLike,
    reference: Any = None,
    covariates: Any = None,
    formula: str | None = None,
    subject: str | None = None,
    where: str | None = None,
    id_column: str | None = None,
    seed: int = 0,
    tree: PathLike | None = None,
    rank: str = "genus",
    min_depth: float | None = None,
    metabolites: PathLike | Sequence[PathLike] | None = None,
    metabolite_map: PathLike | None = None,
    progress: bool = True,
    on_progress: Callable[[str, float], None] | None = None,
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
        Metadata column with the groups compared (e.g. ``"diagnosis"``).
    out
        Output directory (replaced only when the run completes).
    reference
        Reference levels: ``"COL,LEVEL"`` strings or ``(column, level)`` pairs.
    covariates
        Adjustment columns (list or comma-separated text); or give ``formula``.
    formula
        ``"~ group + age + sex"``; ``(1|subject)`` terms name the subject.
    subject
        Column of subjects with repeated samples: random intercepts in DA, grouped CV,
        PERMANOVA permutations restricted by subject.
    where
        Row filter on the metadata, e.g. ``"BODY_SITE == 'UBERON:feces'"``.
    id_column
        Metadata column of the sample ids (default: found by matching the table's ids).
    seed
        Random seed of every step (permutations, cross-validation, splits).
    tree
        Rooted phylogeny (QIIME 2 ``Phylogeny[Rooted]`` ``.qza`` or Newick).
    rank
        Rank of composition, differential abundance and the classifier.
    min_depth
        QC depth threshold (default 1,000 reads).
    metabolites, metabolite_map
        Metabolite table(s) measured on the same samples, and their map (compound id → name,
        HMDB/KEGG/ChEBI, class): attached with :func:`gutbrain.io.attach_metabolites`, they add
        the metabolite step (associations with the group's hits, SCFA by group, prediction).
        Without them, metadata columns named like metabolites (``butyrate``) are used.
    progress
        Show a progress bar (only on a terminal).
    on_progress
        Called with ``(step name, fraction done)`` as each step starts and ``("done", 1.0)``.
    generated_at
        Timestamp written into the report (pin it for byte-identical output).

    Returns
    -------
    AnnData
        The analysed samples (also written to ``out/gutbrain.h5ad``).

    Raises
    ------
    GutbrainError
        For bad input (unreadable table, metadata not matching, unknown column, a filter or
        group leaving too few samples, a step that rejects the data); ``out`` is then left
        as it was.

    Examples
    --------
    >>> import gutbrain as gb, tempfile  # doctest: +SKIP
    >>> ad = gb.workflow.run(gb.datasets.demo_cohort(), group="group", covariates=["ppi"],
    ...                      out=tempfile.mkdtemp())  # doctest: +SKIP
    """
    t_start = time.perf_counter()  # "read" includes loading the report's libraries
    from ..report import SECTIONS, collect_sections, render
    from ..report._build import _generated_at

    report = on_progress or (lambda name, frac: None)
    # everything, from reading the inputs on, happens inside the output directory's
    # transaction: bad input leaves an earlier output intact and marks it stale
    with output_directory(out) as tmp:
        config = RunConfig.create(group=group, reference=reference, covariates=covariates, formula=formula,
                                  subject=subject, where=where, id_column=id_column, seed=seed, rank=rank,
                                  min_depth=min_depth, tree=tree)
        adata = load(table, taxonomy=taxonomy, metadata=metadata, id_column=id_column)
        if metabolites is not None:
            from ..io import attach_metabolites

            adata = attach_metabolites(adata, metabolites, map=metabolite_map)
        elif metabolite_map is not None:
            raise DataValueError("a metabolite map was given without a metabolite table",
                                 fix="add --metabolites TABLE, or drop --metabolite-map")
        adata, config = config.resolve(adata, metadata_path=metadata)
        if tree is not None:
            config = replace(config, phylogeny=load_tree(tree))
            add_input(adata, "tree", tree, "tree")
        stamp = _generated_at(generated_at)
        read_seconds = time.perf_counter() - t_start
        record(adata, "workflow", params=config.as_dict(), random_state=config.seed,
               group=config.plan.as_dict() if config.plan else {}, notes=[], generated_at=stamp,
               metadata_columns=[str(c) for c in adata.obs.columns])
        with _progress_bar(progress) as bar:
            task = bar.add_task("gutbrain run", total=len(STEPS) + 1)

            def tick(name: str, frac: float) -> None:
                bar.update(task, description=f"step: {name}", completed=frac * (len(STEPS) + 1), refresh=True)
                report(name, frac)

            ran = _run_steps(adata, config, tick)
            wf = adata.uns["workflow"]
            wf["timings"] = _timings(read_seconds, wf["step_status"])
            wf["steps"] = [s.key for s in ran]
            status = wf["step_status"]
            wf["step_errors"] = {r.step: r.reason for r in status.itertuples() if r.status == "failed"}
            wf["software"] = _software(ran, str(adata.uns.get("gutbrain", {}).get("reader", "")),
                                       tree=config.phylogeny is not None)
            tick("report", len(STEPS) / (len(STEPS) + 1))
            t_report = time.perf_counter()
            # wall times differ between runs: a pinned timestamp asks for byte-identical output
            context = {"generated_at": stamp, "tables_dir": "tables", "timings": generated_at is None}
            built = collect_sections(adata, context, SECTIONS)
            html = render(adata, built, generated_at=stamp, tables_dir="tables")
            timings = {str(k): float(v) for k, v in zip(wf["timings"]["phase"], wf["timings"]["seconds"],
                                                        strict=True)}
            timings["report"] = time.perf_counter() - t_report
            write_outputs(Path(tmp), adata, built, html, stamp, timings=timings)
    report("done", 1.0)
    return adata
