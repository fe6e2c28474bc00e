"""Global sensitivity (Sobol, SALib) and calibration to time-course data (least squares)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError
from .._version import __version__
from ._engine import Experiment, ensemble, simulate
from ._model import Model, load_model
from ._params import uncertain_parameters, unit_to_values
from ._scenarios import _with_antibiotic, get_scenario

__all__ = ["METRICS", "CalibrationResult", "calibrate", "sobol"]

#: Scalar summaries of a trajectory used as Sobol outputs: name -> (variable, reducer).
METRICS: dict[str, tuple[str, str]] = {
    "TNF_peak": ("TNF", "max"),
    "IL6_peak": ("IL6", "max"),
    "IL10_peak": ("IL10", "max"),
    "PPT_min": ("PPT_pct", "min"),
    "MG_peak": ("MG", "max"),
    "TNF_baseline": ("TNF", "first"),
    "LPS_fold_baseline": ("LPS_fold", "first"),
}
_REDUCE = {
    "max": lambda a: np.nanmax(a, axis=1),
    "min": lambda a: np.nanmin(a, axis=1),
    "first": lambda a: a[:, 0],
    "last": lambda a: a[:, -1],
}


def sobol(
    scenario: str = "lps_chain",
    *,
    n: int = 1024,
    parameters: Sequence[str] | None = None,
    metrics: Mapping[str, tuple[str, str]] | None = None,
    n_jobs: int | None = None,
    random_state: int = 0,
    executor: Executor | None = None,
    chunk_size: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sobol first-order and total indices (Saltelli sampling, SALib) of scenario metrics.

    Parameters
    ----------
    scenario
        Scenario whose experiment is run (default: LPS bolus on the full chain).
    n
        Base sample size (a power of 2); the model is run ``n (d + 2)`` times.
    parameters
        Parameters to vary; default: every uncertain parameter of the model (all evidence
        levels), each over its prior mapped from the unit cube.
    metrics
        ``{name: (variable, reducer)}`` with reducer ``max|min|first|last``; default
        :data:`METRICS` restricted to the model's variables.
    n_jobs
        Worker processes (``None`` = all cores) when no ``executor`` is given.
    random_state
        Seed of the Sobol sequence scramble.
    executor
        A :class:`concurrent.futures.Executor` (thread or process pool, a Dask
        ``Client.get_executor()`` …) that runs the model in chunks; see
        :func:`gutbrain.sim.ensemble`.  The indices do not depend on it.
    chunk_size
        Parameter sets per executor task (default: about 4 tasks per worker).

    Returns
    -------
    (pandas.DataFrame, dict)
        Long table (metric, parameter, evidence, S1, S1_conf, ST, ST_conf) and provenance.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if n < 2 or (n & (n - 1)) != 0:
        raise DataValueError(f"Sobol base sample size must be a power of 2, got {n}",
                             fix="use --n 64, 256, 1024 …")
    sc = get_scenario(scenario)
    model = load_model(sc.model)
    names = list(parameters) if parameters is not None else uncertain_parameters(model.parameters)
    unknown = [p for p in names if p not in model.parameters.index]
    if unknown:
        raise DataValueError(f"unknown parameter(s) {', '.join(unknown)} for model {model.name}",
                             fix="name parameters from the model's parameter table")
    if len(names) < 2:
        raise DataValueError("Sobol analysis needs at least 2 uncertain parameters")
    variables = set(model.states) | set(model.rules)
    metrics = dict(metrics) if metrics is not None else {
        k: v for k, v in METRICS.items() if v[0] in variables
    }
    outputs = sorted({v for v, _ in metrics.values()})
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    U = sobol_sample.sample(problem, n, calc_second_order=False, seed=random_state)
    X = pd.DataFrame(unit_to_values(model.parameters, names, U), columns=names)
    exp = _with_antibiotic(sc)
    Y = ensemble(model, exp, X, outputs=outputs, n_jobs=n_jobs, executor=executor,
                 chunk_size=chunk_size)
    rows = []
    constant: list[str] = []
    for mname, (var, red) in metrics.items():
        y = _REDUCE[red](Y[:, :, outputs.index(var)])
        ok = np.isfinite(y)
        if not ok.all():
            y = np.where(ok, y, np.nanmedian(y))
        if not np.std(y) > 0:  # the metric does not vary (e.g. a fixed baseline)
            constant.append(mname)
            continue
        # SALib seeds its bootstrap only when ``seed`` is truthy, so 0 would leave the
        # confidence intervals unseeded: offset by one to keep every seed reproducible.
        res = sobol_analyze.analyze(problem, y, calc_second_order=False, print_to_console=False,
                                    seed=int(random_state) + 1)
        for j, p in enumerate(names):
            rows.append({
                "metric": mname, "parameter": p,
                "evidence": model.parameters.loc[p, "evidence"],
                "S1": float(res["S1"][j]), "S1_conf": float(res["S1_conf"][j]),
                "ST": float(res["ST"][j]), "ST_conf": float(res["ST_conf"][j]),
            })
    prov = {
        "gutbrain_version": __version__, "scenario": sc.name, "model": model.name,
        "n": int(n), "runs": int(X.shape[0]), "random_state": int(random_state),
        "parameters": names, "metrics": {k: list(v) for k, v in metrics.items()},
        "failed_runs": int(np.sum(~np.isfinite(Y).all(axis=(1, 2)))),
        "constant_metrics": constant,
    }
    return pd.DataFrame(rows), prov


@dataclass
class CalibrationResult:
    """Least-squares estimates with identifiability diagnostics.

    ``estimates`` holds value, standard error and 95 % interval (from the Jacobian on the
    log-parameter scale); ``correlation`` the correlation of estimates; ``identifiable`` flags
    parameters whose relative SE < 0.5 and whose absolute correlation with every other < 0.95.
    """

    estimates: pd.DataFrame
    correlation: pd.DataFrame
    condition_number: float
    rmse: float
    success: bool
    provenance: dict[str, Any]

    @property
    def identifiable(self) -> pd.Series:
        """Per-parameter identifiability flag."""
        return self.estimates["identifiable"]


def calibrate(
    model: str | Model,
    data: pd.DataFrame,
    parameters: Sequence[str],
    experiment: Experiment,
    *,
    time_column: str = "time_h",
    log_residuals: bool = True,
    max_nfev: int = 200,
) -> CalibrationResult:
    """Fit parameters to time-course data by least squares (SciPy ``least_squares``).

    Parameters
    ----------
    model
        Model name or object.
    data
        Long-by-column table: ``time_column`` plus one column per observed variable
        (NaN = not measured).
    parameters
        Parameters to estimate (on the log scale, within their table bounds widened ×10).
    experiment
        The experiment that produced the data (its grid is replaced by the data times).
    log_residuals
        Fit log(model) − log(data) (relative errors; suits cytokines spanning decades).
    max_nfev
        Maximum model evaluations.
    """
    from scipy.optimize import least_squares

    model = load_model(model)
    if time_column not in data.columns:
        raise DataValueError(f"calibration data lacks a {time_column!r} column",
                             column=time_column, fix="add the sampling times in hours")
    obs = [c for c in data.columns if c != time_column]
    variables = set(model.states) | set(model.rules)
    bad = [c for c in obs if c not in variables]
    if bad or not obs:
        raise DataValueError(f"calibration data columns {bad or obs} are not model variables",
                             fix=f"name columns after model outputs, e.g. {', '.join(model.outputs[:4])}")
    unknown = [p for p in parameters if p not in model.parameters.index]
    if unknown or not parameters:
        raise DataValueError(f"cannot estimate {unknown or 'no parameters'}",
                             fix="name parameters from the model's table")
    t = np.asarray(data[time_column], dtype=float)
    tgrid = np.unique(np.concatenate([[0.0], t]))
    # exact data times as the output grid
    step_exp = Experiment(t_end=float(tgrid.max()), n_points=2, events=experiment.events,
                          warmup=experiment.warmup, parameters=experiment.parameters)
    Yobs = data[obs].to_numpy(dtype=float)
    mask = np.isfinite(Yobs)
    p0 = np.log(model.parameters.loc[list(parameters), "value"].to_numpy(dtype=float))
    lo = np.log(model.parameters.loc[list(parameters), "lower"].clip(lower=1e-12).to_numpy(float)) - np.log(10)
    hi = np.log(model.parameters.loc[list(parameters), "upper"].to_numpy(float)) + np.log(10)
    eps = 1e-3

    def predict(logp: np.ndarray) -> np.ndarray:
        vals = dict(zip(parameters, np.exp(logp)))
        sim = _simulate_at(model, step_exp, tgrid, vals, obs)
        return sim[np.searchsorted(tgrid, t)]

    def resid(logp: np.ndarray) -> np.ndarray:
        pred = predict(logp)
        r = (np.log(np.maximum(pred, 0) + eps) - np.log(np.maximum(Yobs, 0) + eps)
             if log_residuals else pred - Yobs)
        return r[mask]

    fit = least_squares(resid, np.clip(p0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi),
                        x_scale="jac", max_nfev=max_nfev)
    J = fit.jac
    dof = max(1, mask.sum() - len(parameters))
    s2 = float(fit.fun @ fit.fun) / dof
    JTJ = J.T @ J
    cond = float(np.linalg.cond(JTJ))
    cov = np.linalg.pinv(JTJ) * s2
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    d = np.where(se > 0, se, 1.0)
    corr = cov / np.outer(d, d)
    est = np.exp(fit.x)
    off = np.abs(corr - np.eye(len(parameters)))
    table = pd.DataFrame({
        "estimate": est,
        "se_log": se,
        "ci_low": np.exp(np.clip(fit.x - 1.96 * se, -700, 700)),
        "ci_high": np.exp(np.clip(fit.x + 1.96 * se, -700, 700)),
        "initial": np.exp(p0),
        "max_abs_corr": off.max(axis=1) if len(parameters) > 1 else np.zeros(1),
    }, index=list(parameters))
    table["identifiable"] = (table["se_log"] < 0.5) & (table["max_abs_corr"] < 0.95)
    prov = {"gutbrain_version": __version__, "model": model.name, "parameters": list(parameters),
            "observables": obs, "log_residuals": log_residuals, "nfev": int(fit.nfev),
            "experiment": experiment.to_dict()}
    return CalibrationResult(
        estimates=table,
        correlation=pd.DataFrame(corr, index=list(parameters), columns=list(parameters)),
        condition_number=cond,
        rmse=float(np.sqrt(np.mean(fit.fun**2))),
        success=bool(fit.success),
        provenance=prov,
    )


def _simulate_at(model: Model, exp: Experiment, times: np.ndarray, values: Mapping[str, float],
                 outputs: Sequence[str]) -> np.ndarray:
    """Simulate on an arbitrary sorted time grid (uses a fine grid then picks the times)."""
    dt = np.diff(times)
    if len(times) > 1 and np.allclose(dt, dt[0]):
        e = Experiment(float(times[-1]), len(times), exp.events, exp.warmup, exp.parameters)
        return simulate(model, e, parameters=values, outputs=outputs).drop(columns="time").to_numpy()
    step = np.gcd.reduce(np.round(times * 1000).astype(np.int64)) / 1000 or times[-1] / 1000
    n = round(times[-1] / step) + 1
    e = Experiment(float(times[-1]), n, exp.events, exp.warmup, exp.parameters)
    full = simulate(model, e, parameters=values, outputs=outputs).drop(columns="time").to_numpy()
    idx = np.round(times / step).astype(int)
    return full[idx]
