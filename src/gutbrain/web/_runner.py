"""What a worker process does: take a job from the dispatcher, call the library, record it.

Runs in a ``spawn``-ed process (see :mod:`gutbrain.web._pool`), never in the server: the
analysis stack (matplotlib in particular) is not thread-safe, and a crash here must not
take the server down.  Each job kind is one function from a :class:`JobContext` to a small
JSON-able summary; the library writes into ``jobs/<id>/work/``, which is renamed to
``out/`` only when the job succeeded, so ``out/`` never holds a half-written result.

Progress: :func:`gutbrain.workflow.run` reports ``(step, fraction)`` through its
``on_progress`` keyword when it has one; older versions report only through their
terminal progress bar, which is adapted here; otherwise a job shows queued → running → done.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import DataValueError, GutbrainError
from .._utils import atomic_path, atomic_write, write_delimited
from .._version import __version__
from ._names import tidy_message
from ._store import JobStore

__all__ = ["KINDS", "JobContext", "execute", "list_files", "run_keywords", "worker_main"]

Progress = Callable[[str, float], None]
LPS_OUTPUTS = ["TNF", "IL6", "IL8", "IL10", "PPT_pct"]
LPS_UNITS = {"time_h": "h", "TNF": "pg/mL", "IL6": "pg/mL", "IL8": "pg/mL", "IL10": "pg/mL",
             "PPT": "% of baseline"}
#: Longest LPS simulation one job may ask for (30 days at 20 points per hour).
MAX_LPS_HOURS = 720.0


@dataclass
class JobContext:
    """One job as its kind function sees it."""

    job: dict[str, Any]
    root: Path
    work: Path
    data_dir: Path
    report: Progress

    def input_path(self, role: str) -> Path | None:
        """Path of the uploaded file for ``role`` (``table``, ``metadata`` …), if any."""
        info = self.job["inputs"].get(role)
        if not info or "name" not in info:
            return None
        return self.root / "inputs" / role / str(info["name"])


# ------------------------------------------------------------------------ workflow.run glue
def run_keywords() -> set[str]:
    """Keyword names :func:`gutbrain.workflow.run` accepts in this installation."""
    from .. import workflow

    return set(inspect.signature(workflow.run).parameters)


class _BarAdapter:
    """Stands in for the terminal progress bar of a ``workflow.run`` without ``on_progress``."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.total = 1.0
        self.done = 0.0
        self.step = "starting"

    def __enter__(self) -> _BarAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        self.total = float(total or 1.0)
        return 0

    def update(self, task: int, *, description: str | None = None, **_: Any) -> None:
        if description:
            self.step = description.removeprefix("step: ").strip() or self.step
            self.report(self.step, self.done / self.total)

    def advance(self, task: int, advance: float = 1.0) -> None:
        self.done += float(advance)
        self.report(self.step, self.done / self.total)


@contextlib.contextmanager
def _bar_progress(report: Progress) -> Iterator[None]:
    from .. import workflow

    original = getattr(workflow, "_progress", None)
    if original is None:
        yield
        return
    workflow._progress = lambda enabled: _BarAdapter(report)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        workflow._progress = original  # type: ignore[attr-defined]


def call_run(table: Any, kwargs: dict[str, Any], report: Progress) -> Any:
    """Call :func:`gutbrain.workflow.run` with the keywords it accepts, reporting progress."""
    from .. import workflow

    accepted = run_keywords()
    unknown = sorted(k for k, v in kwargs.items() if k not in accepted and v not in (None, [], ""))
    if unknown:
        raise DataValueError(f"this gutbrain's workflow does not accept {', '.join(unknown)}",
                             fix="leave those fields empty or update gutbrain")
    kw = {k: v for k, v in kwargs.items() if k in accepted}
    if "progress" in accepted:
        kw["progress"] = False
    if "on_progress" in accepted:
        return workflow.run(table, **kw, on_progress=report)
    with _bar_progress(report):
        return workflow.run(table, **kw)


def _run_summary(adata: Any, group: str | None) -> dict[str, Any]:
    from .._core import provenance

    prov = provenance(adata)
    levels: dict[str, int] = {}
    if group and group in adata.obs.columns:
        levels = {str(k): int(v) for k, v in adata.obs[group].astype(str).value_counts().items()}
    wf = dict(adata.uns.get("workflow", {}))
    return {
        "samples": int(adata.n_obs), "features": int(adata.n_vars),
        "value_kind": str(prov.get("X_unit", "abundance")),
        "synthetic": bool(prov.get("synthetic", False)),
        "group": group, "group_sizes": levels,
        "steps": [str(s) for s in wf.get("steps", [])],
        "step_errors": {str(k): str(v) for k, v in dict(wf.get("step_errors", {})).items()},
    }


# ------------------------------------------------------------------------------ job kinds
def _kind_run(ctx: JobContext) -> dict[str, Any]:
    """A cohort analysis of uploaded files (``gutbrain run``)."""
    params = dict(ctx.job["params"])
    table = ctx.input_path("table")
    if table is None:
        raise GutbrainError("the job has no feature table", fix="submit it again with a table")
    kwargs = {"taxonomy": ctx.input_path("taxonomy"), "metadata": ctx.input_path("metadata"),
              "tree": ctx.input_path("tree"), "out": ctx.work, **params}
    adata = call_run(table, kwargs, ctx.report)
    return _run_summary(adata, params.get("group"))


def _kind_demo(ctx: JobContext) -> dict[str, Any]:
    """The analysis on the SYNTHETIC demo cohort (``gutbrain demo``)."""
    from ..datasets import demo_cohort

    seed = int(ctx.job["params"].get("seed", 0))
    ctx.report("simulating the demo cohort", 0.0)
    adata = call_run(demo_cohort(seed), {"group": "group", "out": ctx.work, "seed": seed},
                     ctx.report)
    return _run_summary(adata, "group")


def _kind_simulate(ctx: JobContext) -> dict[str, Any]:
    """An LPS bolus in the human-calibrated core (``gutbrain simulate lps``)."""
    import matplotlib.pyplot as plt

    from .. import sim
    from ..pl import sim_lps_validation

    p = ctx.job["params"]
    dose, hours = float(p.get("dose", 2.0)), float(p.get("hours", 24.0))
    ctx.report("solving the model", 0.1)
    exp = sim.lps_challenge(dose, hours)
    traj = sim.simulate("dobreva2021", exp, outputs=LPS_OUTPUTS)
    table = traj.rename(columns={"time": "time_h", "PPT_pct": "PPT"})
    ctx.report("writing the trajectory", 0.6)
    write_delimited(table, ctx.work / "trajectory.tsv", float_format="%.6g")
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "gutbrain"}):
        fig = sim_lps_validation(table, dose=dose)
        for ax in fig.axes:  # the whole simulated window, not the plot's default first 12 h
            ax.set_xlim(0, hours)
        with atomic_path(ctx.work / "trajectory.svg") as tmp:
            fig.savefig(tmp, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
    prov = {"gutbrain_version": __version__, "command": "web: simulate lps",
            "model": "dobreva2021", "evidence": "calibrated_human",
            "experiment": exp.to_dict(), "parameters": sim.load_model("dobreva2021").values,
            "units": LPS_UNITS, "references": ["doi:10.1113/JP280883"],
            "disclaimer": sim.DISCLAIMER}
    with atomic_write(ctx.work / "provenance.json") as fh:
        json.dump(prov, fh, indent=2, default=str)
        fh.write("\n")
    peak = int(table["TNF"].to_numpy().argmax())
    return {"dose_ng_per_kg": dose, "hours": hours, "model": "dobreva2021",
            "n_points": len(table), "t_end_h": float(table["time_h"].iloc[-1]),
            "tnf_peak_pg_ml": float(table["TNF"].iloc[peak]),
            "tnf_peak_time_h": float(table["time_h"].iloc[peak]),
            "ppt_min_pct_baseline": float(table["PPT"].min()),
            "units": LPS_UNITS, "disclaimer": sim.DISCLAIMER}


def sample_profile_function() -> Callable[..., Any] | None:
    """The per-sample profile writer (issue 14), when this gutbrain has one."""
    from .. import report

    fn = getattr(report, "sample_profile", None)
    return fn if callable(fn) else None


def _kind_sample(ctx: JobContext) -> dict[str, Any]:
    """One sample's profile page (``gutbrain sample``) from a finished cohort job's inputs."""
    fn = sample_profile_function()
    if fn is None:
        raise GutbrainError("per-sample profiles need gutbrain.report.sample_profile, which this "
                            "gutbrain does not have", fix="update gutbrain")
    p = ctx.job["params"]
    source = ctx.data_dir / "jobs" / str(p["source"]) / "inputs"
    paths = {role: next((source / role).iterdir(), None) if (source / role).is_dir() else None
             for role in ("table", "taxonomy", "metadata")}
    if paths["table"] is None:
        raise GutbrainError(f"job {p['source']} has no uploaded table",
                            fix="make profiles from a cohort job that has its inputs")
    ctx.report(f"profiling sample {p['sample']}", 0.1)
    prof = fn(paths["table"], str(p["sample"]), taxonomy=paths["taxonomy"],
              metadata=paths["metadata"])
    ctx.report("writing the sample page", 0.9)
    prof.write(ctx.work)
    return {"sample": str(prof.sample), "source": str(p["source"])}


#: Job kind → the function a worker runs for it.
KINDS: dict[str, Callable[[JobContext], dict[str, Any]]] = {
    "run": _kind_run, "demo": _kind_demo, "simulate": _kind_simulate, "sample": _kind_sample,
}


# ---------------------------------------------------------------------------- execution
def list_files(out: Path) -> list[str]:
    """Files under ``out/`` as POSIX relative paths: report first, then data, then tables."""
    if not out.is_dir():
        return []
    files = [p.relative_to(out).as_posix() for p in out.rglob("*")
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)]
    order = {"report.html": 0, "gutbrain.h5ad": 1}
    return sorted(files, key=lambda f: (order.get(f, 2), "/" in f, f))


class _Reporter:
    """Write progress to the store, at most every ``interval`` s unless the step changes."""

    def __init__(self, store: JobStore, job_id: str, claim: str, interval: float = 0.25) -> None:
        self.store, self.job_id, self.claim, self.interval = store, job_id, claim, interval
        self.step, self.last = "", 0.0

    def __call__(self, step: str, fraction: float) -> None:
        t = time.monotonic()
        if step == self.step and t - self.last < self.interval:
            return
        self.step, self.last = step, t
        with contextlib.suppress(Exception):  # progress is best effort, never fails a job
            self.store.progress(self.job_id, self.claim, step, min(float(fraction), 0.99))


def execute(store: JobStore, data_dir: Path, job_id: str, claim: str) -> None:
    """Run one claimed job to ``done`` or ``failed``; never raises."""
    job = store.get(job_id)
    if job is None:
        return
    root = data_dir / "jobs" / job_id
    work = root / "work"
    try:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(mode=0o700, parents=True)
        kind = KINDS.get(job["kind"])
        if kind is None:
            raise GutbrainError(f"unknown job kind {job['kind']!r}", fix=f"use one of {', '.join(KINDS)}")
        summary = kind(JobContext(job, root, work, data_dir, _Reporter(store, job_id, claim)))
        out = root / "out"
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
        if not store.finish(job_id, claim, files=list_files(out), summary=summary):
            shutil.rmtree(out, ignore_errors=True)  # no longer ours (cancelled, or server restarted)
    except GutbrainError as exc:
        store.fail(job_id, tidy_message(str(exc), data_dir), claim=claim)
    except Exception as exc:  # a bug: the client gets one line, the log the traceback
        with contextlib.suppress(OSError), open(root / "error.log", "a", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        first = (str(exc).splitlines() or [""])[0][:300]
        store.fail(job_id, tidy_message(
            f"internal error ({type(exc).__name__}: {first}). This is a gutbrain bug; please "
            "report it with the input that caused it", data_dir), claim=claim)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _close_figures()


def _close_figures() -> None:
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def _watch_parent(parent_pid: int) -> None:
    """End this worker when the server is gone (``kill -9``): its jobs are then failed."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.25)


def worker_main(conn: Any, db_path: str, data_dir: str, parent_pid: int) -> None:
    """Entry point of a worker process: warm up, then run jobs sent through ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.umask(0o077)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    from .. import report, workflow  # noqa: F401

    store = JobStore(db_path)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if not msg or msg[0] != "job":
            return
        _, job_id, claim = msg
        execute(store, Path(data_dir), job_id, claim)
        try:
            conn.send(("done", job_id))
        except (OSError, BrokenPipeError):
            return
