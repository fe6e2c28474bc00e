"""Experiments and engines: libRoadRunner (SBML) and a SciPy reference, plus parallel ensembles.

The experiment (SED-ML idea) is separate from the model: an :class:`Experiment` holds the time
span, output grid, parameter overrides, an optional warm-up (run to the pre-intervention state
before ``t = 0``) and :class:`Event` s (doses and interventions).  Integration is piecewise
between event times; at an event a state or parameter is set, incremented or multiplied.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError
from ._model import Model, load_model

__all__ = [
    "Event",
    "Experiment",
    "ensemble",
    "lps_challenge",
    "simulate",
]

_OPS = ("set", "add", "mul")


@dataclass(frozen=True)
class Event:
    """Change ``target`` at ``time``: ``op`` is ``set``, ``add`` (a dose) or ``mul``."""

    time: float
    target: str
    value: float
    op: str = "set"

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise DataValueError(
                f"unknown event op {self.op!r}", fix=f"use one of {', '.join(_OPS)}"
            )
        if not math.isfinite(self.time) or self.time < 0:
            raise DataValueError(f"event time must be >= 0, got {self.time}")


@dataclass(frozen=True)
class Experiment:
    """A simulation experiment: what is done to a model, and when.

    Attributes
    ----------
    t_end
        End time in the model's time unit (the run starts at 0).
    n_points
        Number of equally spaced output times in ``[0, t_end]``.
    events
        Doses and interventions.
    warmup
        Time run before ``t = 0`` (with ``parameters`` applied, without events) to reach the
        pre-intervention state.
    parameters
        Parameter overrides applied from the start (e.g. a sample's inputs).
    name
        Label.
    """

    t_end: float
    n_points: int = 241
    events: tuple[Event, ...] = ()
    warmup: float = 0.0
    parameters: Mapping[str, float] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.t_end) and self.t_end > 0):
            raise DataValueError(f"t_end must be > 0, got {self.t_end}", fix="pass a positive end time")
        if self.n_points < 2:
            raise DataValueError(f"n_points must be >= 2, got {self.n_points}")
        if self.warmup < 0:
            raise DataValueError(f"warmup must be >= 0, got {self.warmup}")
        for ev in self.events:
            if ev.time > self.t_end:
                raise DataValueError(
                    f"event on {ev.target!r} at {ev.time} is after t_end {self.t_end}",
                    fix="move the event or extend t_end",
                )

    @property
    def times(self) -> np.ndarray:
        """Output times."""
        return np.linspace(0.0, float(self.t_end), int(self.n_points))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for provenance files)."""
        d = asdict(self)
        d["parameters"] = dict(self.parameters)
        d["events"] = [asdict(e) for e in self.events]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Experiment:
        """Build from plain data (inverse of :meth:`to_dict`)."""
        events = tuple(Event(**e) for e in d.get("events", ()))
        return cls(
            t_end=float(d["t_end"]),
            n_points=int(d.get("n_points", 241)),
            events=events,
            warmup=float(d.get("warmup", 0.0)),
            parameters={k: float(v) for k, v in dict(d.get("parameters", {})).items()},
            name=str(d.get("name", "")),
        )


def lps_challenge(dose: float = 2.0, hours: float = 24.0, *, n_points: int | None = None,
                  at: float = 0.0, warmup: float = 0.0) -> Experiment:
    """Intravenous endotoxin bolus of ``dose`` ng/kg at time ``at`` (hours).

    The Dobreva model's endotoxin state is in dose units: 2 ng/kg sets ``PE`` to 2.0.
    """
    if not (math.isfinite(dose) and dose >= 0):
        raise DataValueError(f"LPS dose must be >= 0 ng/kg, got {dose}", fix="pass --dose >= 0")
    if not (math.isfinite(hours) and hours > 0):
        raise DataValueError(f"hours must be > 0, got {hours}", fix="pass --hours > 0")
    n = n_points if n_points is not None else round(hours * 20) + 1
    return Experiment(
        t_end=float(hours), n_points=max(n, 2),
        events=(Event(float(at), "PE", float(dose), "add"),),
        warmup=warmup, name=f"LPS {dose:g} ng/kg",
    )


def _segments(exp: Experiment) -> list[tuple[float, float, list[Event]]]:
    """Split [0, t_end] at event times: (start, end, events applied at start)."""
    times = sorted({e.time for e in exp.events} | {0.0})
    segs = []
    for i, ta in enumerate(times):
        tb = times[i + 1] if i + 1 < len(times) else float(exp.t_end)
        evs = [e for e in exp.events if e.time == ta]
        if ta < exp.t_end or evs:
            segs.append((ta, max(tb, ta), evs))
    return segs


def _apply(current: float, ev: Event) -> float:
    if ev.op == "add":
        return current + ev.value
    if ev.op == "mul":
        return current * ev.value
    return ev.value


# --------------------------------------------------------------------------- roadrunner
class _RoadRunnerRun:
    """One compiled roadrunner instance for one model (reused across runs)."""

    def __init__(self, model: Model, sbml: str | None = None, *, rtol: float = 1e-8,
                 atol: float = 1e-10) -> None:
        import roadrunner

        self.model = model
        self.rr = roadrunner.RoadRunner(sbml if sbml is not None else model.to_sbml())
        integ = self.rr.integrator
        integ.relative_tolerance = rtol
        integ.absolute_tolerance = atol
        integ.maximum_num_steps = 200000
        self.defaults = {k: v for k, v in model.values.items() if k not in model.rules}
        self.init_exprs = _initial_expressions(model)
        self._sel: tuple[str, ...] = ()

    def run(self, exp: Experiment, values: Mapping[str, float], outputs: Sequence[str]) -> np.ndarray:
        rr = self.rr
        rr.resetAll()
        vals = dict(exp.parameters)
        vals.update(values)
        # Setting init(...) values makes libRoadRunner regenerate the model (~0.5 s), so
        # current values are set instead and the initial state is recomputed here from the
        # model's initial-assignment lines (state = number | parameter).
        for k, v in vals.items():
            rr.setValue(k, float(v))
        if vals:
            p = {**self.defaults, **vals}
            for state, expr in self.init_exprs:
                rr.setValue(state, p[expr] if expr in p else float(expr))
        sel = ("time", *outputs)
        if sel != self._sel:
            rr.timeCourseSelections = list(sel)
            self._sel = sel
        if exp.warmup > 0:
            rr.simulate(0.0, float(exp.warmup), 2)
        grid = exp.times
        out = np.full((len(grid), len(outputs)), np.nan)
        for ta, tb, evs in _segments(exp):
            for ev in evs:
                rr.setValue(ev.target, _apply(rr.getValue(ev.target), ev))
            inside = grid[(grid > ta) & (grid < tb)]
            ts = np.unique(np.concatenate([[ta], inside, [tb]]))
            if tb > ta:
                res = np.asarray(rr.simulate(times=ts))
            else:
                res = np.asarray([[ta, *[rr.getValue(o) for o in outputs]]])
            for row in res[:-1] if tb < exp.t_end else res:
                idx = np.searchsorted(grid, row[0])
                if idx < len(grid) and abs(grid[idx] - row[0]) <= 1e-9 * max(1.0, exp.t_end):
                    out[idx] = row[1:]
        return out


def _initial_expressions(model: Model) -> list[tuple[str, str]]:
    """``(state, expression)`` of each state's initial value (a number or a parameter)."""
    import re

    states = set(model.states)
    out = []
    for m in re.finditer(r"^\s*([A-Za-z_]\w*)\s*=\s*([A-Za-z_]\w*|[-+0-9.eE]+)\s*$",
                         model.body, re.M):
        if m.group(1) in states:
            out.append((m.group(1), m.group(2)))
    return out


_RR_CACHE: dict[tuple[str, int], _RoadRunnerRun] = {}


def _runner(model: Model) -> _RoadRunnerRun:
    key = (model.name, hash(model.antimony()))
    run = _RR_CACHE.get(key)
    if run is None:
        run = _RoadRunnerRun(model)
        _RR_CACHE[key] = run
    return run


# --------------------------------------------------------------------------- scipy
def _scipy_run(model: Model, exp: Experiment, values: Mapping[str, float],
               outputs: Sequence[str], *, rtol: float = 1e-10, atol: float = 1e-12,
               method: str = "LSODA") -> np.ndarray:
    from scipy.integrate import solve_ivp

    from ._reference import reference_model

    ref = reference_model(model.name)
    p = model.values
    p.update(exp.parameters)
    p.update(values)
    y = ref.initial(p)
    idx = {s: i for i, s in enumerate(ref.states)}

    def fun(t: float, yy: np.ndarray) -> np.ndarray:
        return ref.rhs(t, yy, p)

    if exp.warmup > 0:
        sol = solve_ivp(fun, (0.0, exp.warmup), y, method=method, rtol=rtol, atol=atol)
        y = sol.y[:, -1]
    grid = exp.times
    Y = np.full((len(grid), len(y)), np.nan)
    for ta, tb, evs in _segments(exp):
        for ev in evs:
            if ev.target in idx:
                y[idx[ev.target]] = _apply(y[idx[ev.target]], ev)
            else:
                p[ev.target] = _apply(p[ev.target], ev)
        mask = (grid >= ta) & ((grid < tb) if tb < exp.t_end else (grid <= tb))
        if tb > ta:
            t_eval = np.unique(np.concatenate([grid[mask], [tb]]))
            sol = solve_ivp(fun, (ta, tb), y, method=method, rtol=rtol, atol=atol, t_eval=t_eval)
            if not sol.success:
                raise RuntimeError(f"solve_ivp failed: {sol.message}")
            pos = np.searchsorted(t_eval, grid[mask])
            Y[mask] = sol.y.T[pos]
            y = sol.y[:, -1].copy()
        elif mask.any():
            Y[mask] = y
    obs = ref.observe(Y, p)
    return np.column_stack([obs[o] for o in outputs])


# --------------------------------------------------------------------------- public
def simulate(
    model: str | Model,
    experiment: Experiment,
    *,
    parameters: Mapping[str, float] | None = None,
    outputs: Sequence[str] | None = None,
    backend: str = "roadrunner",
    rtol: float | None = None,
    atol: float | None = None,
) -> pd.DataFrame:
    """Simulate one experiment on one model.

    Parameters
    ----------
    model
        A shipped model name or a :class:`Model`.
    experiment
        Time span, doses, interventions, overrides.
    parameters
        Extra parameter values (applied on top of the experiment's overrides).
    outputs
        Variables to return; default: the model's outputs.
    backend
        ``"roadrunner"`` (SBML via libRoadRunner, CVODE) or ``"scipy"`` (the hand-written
        reference right-hand side, ``solve_ivp`` LSODA).  Explicit, never automatic.
    rtol, atol
        Integrator tolerances (defaults: 1e-8/1e-10 roadrunner, 1e-10/1e-12 scipy).

    Returns
    -------
    pandas.DataFrame
        Column ``time`` plus one column per output.
    """
    model = load_model(model)
    outputs = list(outputs) if outputs is not None else list(model.outputs)
    values = dict(parameters or {})
    _check_names(model, {**experiment.parameters, **values}, outputs, experiment)
    if backend == "roadrunner":
        if rtol is None and atol is None:
            run = _runner(model)
        else:
            run = _RoadRunnerRun(model, rtol=rtol or 1e-8, atol=atol or 1e-10)
        Y = run.run(experiment, values, outputs)
    elif backend == "scipy":
        Y = _scipy_run(model, experiment, values, outputs, rtol=rtol or 1e-10, atol=atol or 1e-12)
    else:
        raise DataValueError(f"unknown backend {backend!r}", fix="use 'roadrunner' or 'scipy'")
    df = pd.DataFrame(Y, columns=outputs)
    df.insert(0, "time", experiment.times)
    return df


def _check_names(model: Model, values: Mapping[str, float], outputs: Sequence[str],
                 exp: Experiment) -> None:
    known = set(model.parameters.index)
    bad = [k for k in values if k not in known]
    if bad:
        raise DataValueError(
            f"model {model.name!r} has no parameter(s) {bad}",
            fix="use names from the model's parameter table",
        )
    variables = known | set(model.states) | set(model.rules)
    bad = [o for o in outputs if o not in variables]
    if bad:
        raise DataValueError(
            f"model {model.name!r} has no variable(s) {bad}",
            fix=f"choose outputs among {', '.join(model.outputs)}",
        )
    bad = [e.target for e in exp.events if e.target not in set(model.states) | known]
    if bad:
        raise DataValueError(
            f"event target(s) {bad} are not states or parameters of {model.name!r}",
            fix="target a state (e.g. PE for an LPS dose) or an input parameter",
        )


# ensembles ------------------------------------------------------------------
_WORKER: dict[str, Any] = {}
#: Per-thread compiled instances for executor tasks: ``{hash(sbml): _RoadRunnerRun}``.
_LOCAL = threading.local()
#: libRoadRunner's LLVM compilation is serialised within a process.
_COMPILE_LOCK = threading.Lock()


def _worker_init(model: Model, sbml: str) -> None:
    _WORKER["run"] = _RoadRunnerRun(model, sbml)


def _run_rows(run: _RoadRunnerRun, exp: Experiment, names: list[str], X: np.ndarray,
              outputs: list[str]) -> np.ndarray:
    out = np.empty((X.shape[0], int(exp.n_points), len(outputs)))
    for i in range(X.shape[0]):  # one ODE integration per parameter set
        try:
            out[i] = run.run(exp, dict(zip(names, X[i])), outputs)
        except RuntimeError:  # integrator failure for an extreme draw
            out[i] = np.nan
    return out


def _worker_chunk(args: tuple[Experiment, list[str], np.ndarray, list[str]]) -> np.ndarray:
    exp, names, X, outputs = args
    return _run_rows(_WORKER["run"], exp, names, X, outputs)


def _thread_runner(model: Model, sbml: str) -> _RoadRunnerRun:
    """This thread's compiled instance for ``sbml`` (compiled once per thread and kept)."""
    cache: dict[int, _RoadRunnerRun] | None = getattr(_LOCAL, "runs", None)
    if cache is None:
        cache = _LOCAL.runs = {}
    key = hash(sbml)
    run = cache.get(key)
    if run is None:
        with _COMPILE_LOCK:
            run = _RoadRunnerRun(model, sbml)
        cache[key] = run
    return run


def _executor_chunk(model: Model, sbml: str, exp: Experiment, names: list[str],
                    outputs: list[str], X: np.ndarray) -> np.ndarray:
    """One executor task: a chunk of parameter sets on this thread's compiled model.

    Module-level (picklable) so that process pools and Dask workers can run it.
    """
    return _run_rows(_thread_runner(model, sbml), exp, names, X, outputs)


def _default_jobs() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1), 8))


def _n_chunks(n_rows: int, executor: Any, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return -(-n_rows // int(chunk_size))
    workers = getattr(executor, "_max_workers", None)
    workers = int(workers) if isinstance(workers, int) and workers > 0 else _default_jobs()
    return min(n_rows, 4 * workers)


def _on_executor(executor: Executor, model: Model, experiment: Experiment, names: list[str],
                 X: np.ndarray, outputs: list[str], chunk_size: int | None) -> np.ndarray:
    """Chunks of ``X`` as tasks of ``executor``; results concatenated in row order."""
    sbml = model.to_sbml()  # on the caller's thread: Antimony is not thread-safe
    chunks = np.array_split(X, _n_chunks(X.shape[0], executor, chunk_size))
    futures = [executor.submit(_executor_chunk, model, sbml, experiment, names, outputs,
                               np.ascontiguousarray(c)) for c in chunks]
    try:
        parts = [f.result() for f in futures]
    finally:
        for f in futures:  # after a failure, do not leave the other chunks running
            f.cancel()
    return np.concatenate(parts, axis=0)


def ensemble(
    model: str | Model,
    experiment: Experiment,
    samples: pd.DataFrame,
    *,
    outputs: Sequence[str] | None = None,
    n_jobs: int | None = 1,
    executor: Executor | None = None,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Run one experiment for every parameter set (row) of ``samples``.

    Without ``executor``, runs are spread over ``n_jobs`` worker processes, each holding
    its own compiled libRoadRunner instance (``n_jobs=None`` uses every available core).
    With ``executor`` (any :class:`concurrent.futures.Executor`: a ``ThreadPoolExecutor``,
    a ``ProcessPoolExecutor``, or a Dask ``Client.get_executor()``), the parameter sets
    are cut into chunks submitted to it; each worker thread compiles the model once and
    keeps it.  Every run resets the model and applies its parameters, so the result is
    the serial one whatever the executor or the chunking.

    Parameters
    ----------
    model
        A shipped model name or a :class:`Model`.
    experiment
        The experiment run for every parameter set.
    samples
        One parameter set per row, columns named after model parameters.
    outputs
        Variables to return (default: the model's outputs).
    n_jobs
        Worker processes when no ``executor`` is given (``None``: all cores, at most 8).
    executor
        Where to run the chunks (``n_jobs`` is then ignored).  The SBML is generated on
        the calling thread and shipped with every task.
    chunk_size
        Parameter sets per executor task (default: about 4 tasks per worker, from the
        executor's ``_max_workers`` when it has one, else the number of cores).

    Returns
    -------
    numpy.ndarray
        ``(n_samples, n_times, n_outputs)``; a failed integration gives NaN rows.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> import gutbrain as gb
    >>> m = gb.sim.load_model("gut_brain")
    >>> draws = gb.sim.sample_parameters(m.parameters, 4, random_state=0)
    >>> with ThreadPoolExecutor(2) as ex:
    ...     Y = gb.sim.ensemble(m, gb.sim.lps_challenge(), draws, executor=ex)
    >>> Y.shape  # draws × time points × outputs
    (4, 481, 13)

    """
    model = load_model(model)
    outputs = list(outputs) if outputs is not None else list(model.outputs)
    names = [str(c) for c in samples.columns]
    _check_names(model, {**experiment.parameters, **dict.fromkeys(names, 0.0)}, outputs,
                 experiment)
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise DataValueError(f"chunk_size={chunk_size} must be >= 1",
                             fix="pass a positive number of parameter sets per task")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise DataValueError(
            f"executor must be a concurrent.futures.Executor, not {type(executor).__name__}",
            fix="pass e.g. concurrent.futures.ThreadPoolExecutor(4) or a Dask client's "
            "get_executor()",
        )
    X = samples.to_numpy(dtype=np.float64)
    if X.shape[0] == 0:
        return np.empty((0, int(experiment.n_points), len(outputs)))
    if executor is not None:
        return _on_executor(executor, model, experiment, names, X, outputs, chunk_size)
    n_jobs = _default_jobs() if n_jobs is None else max(1, int(n_jobs))
    if n_jobs == 1 or X.shape[0] < 2 * n_jobs:
        run = _runner(model)
        _WORKER["run"] = run
        return _worker_chunk((experiment, names, X, outputs))
    import multiprocessing as mp

    sbml = model.to_sbml()
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    chunks = np.array_split(X, min(X.shape[0], n_jobs * 4))
    with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context(method),
                             initializer=_worker_init, initargs=(model, sbml)) as pool:
        parts = list(pool.map(_worker_chunk, [(experiment, names, c, outputs) for c in chunks]))
    return np.concatenate(parts, axis=0)
