"""Scenarios (interventions) and profile-driven ensembles: bands, never point predictions.

A :class:`Scenario` pairs a model with an :class:`~gutbrain.sim.Experiment` and says which
evidence levels are sampled from their priors in an ensemble.  :func:`run_scenario` runs the
ensemble (optionally once per sample or group of a profile table, with common random numbers
across them) and returns quantile bands.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError, InputFormatError
from .._version import __version__
from ._engine import Event, Experiment, ensemble, lps_challenge, simulate
from ._model import load_model
from ._params import read_parameter_table, sample_parameters, uncertain_parameters

__all__ = [
    "DISCLAIMER",
    "SCENARIOS",
    "Scenario",
    "ScenarioResult",
    "get_scenario",
    "profile_inputs",
    "read_scenario",
    "run_scenario",
]

#: Shown with every simulation output.
DISCLAIMER = (
    "Mechanistic simulation for research. Only the LPS -> cytokine -> pain-threshold core is "
    "calibrated in humans (Dobreva et al. 2021); gut-community parameters come from mice (Stein "
    "et al. 2013) and the barrier, endotoxin-influx, tolerance, microglia and sensitisation links "
    "are HYPOTHESES with wide priors. Bands show what the hypotheses allow, not predictions for "
    "any person. Not medical or treatment advice."
)

_DAY = 24.0
_CHRONIC_OUT = ("but_mM", "Perm", "LPS_fold", "TNF", "IL6", "IL10", "MG", "PPT_pct")
_ACUTE_OUT = ("TNF", "IL6", "IL8", "IL10", "PPT_pct", "Tol", "MG", "LPS_fold")


@dataclass(frozen=True)
class Scenario:
    """An intervention scenario.

    Attributes
    ----------
    name, description
        Label and one-line description.
    model
        Shipped model name.
    experiment
        Time span, doses and interventions.
    outputs
        Variables reported.
    vary
        Evidence levels whose uncertain parameters are sampled in ensembles.
    antibiotic
        ``{"start": day, "days": n}``: a clindamycin course run in the Stein 2013 gLV (mouse);
        the Lachnospiraceae fold-change versus an untreated run sets ``but_capacity`` daily.
    """

    name: str
    model: str
    experiment: Experiment
    description: str = ""
    outputs: tuple[str, ...] = _CHRONIC_OUT
    vary: tuple[str, ...] = ("hypothesis",)
    antibiotic: Mapping[str, float] | None = None
    time_unit: str = "hour"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "name": self.name, "model": self.model, "description": self.description,
            "outputs": list(self.outputs), "vary": list(self.vary),
            "antibiotic": dict(self.antibiotic) if self.antibiotic else None,
            **self.experiment.to_dict(),
        }


def _chronic(name: str, desc: str, events: Sequence[Event] = (), days: float = 28,
             antibiotic: Mapping[str, float] | None = None) -> Scenario:
    exp = Experiment(t_end=days * _DAY, n_points=int(days) * 2 + 1, events=tuple(events),
                     warmup=21 * _DAY, name=name)
    return Scenario(name, "gut_brain", exp, desc, _CHRONIC_OUT, antibiotic=antibiotic)


#: Built-in scenarios.
SCENARIOS: dict[str, Scenario] = {
    "lps": Scenario(
        "lps", "dobreva2021", lps_challenge(2.0, 24.0),
        "2 ng/kg LPS bolus in the human-calibrated core (band: calibrated parameters x0.8-x1.25)",
        ("TNF", "IL6", "IL8", "IL10", "PPT_pct"), vary=("calibrated_human",),
    ),
    "lps_chain": Scenario(
        "lps_chain", "gut_brain", lps_challenge(2.0, 48.0, warmup=21 * _DAY),
        "2 ng/kg LPS bolus on the full chain at its steady state (tolerance, microglia: hypotheses)",
        _ACUTE_OUT,
    ),
    "repeated_lps": Scenario(
        "repeated_lps", "gut_brain",
        Experiment(t_end=24.0, n_points=241, warmup=21 * _DAY, name="repeated_lps",
                   events=(Event(0.0, "PE", 2.0, "add"), Event(6.0, "PE", 2.0, "add"))),
        "two 2 ng/kg boluses 6 h apart: endotoxin tolerance (Day 2006 structure; hypothesis)",
        _ACUTE_OUT,
    ),
    "baseline": _chronic("baseline", "reference gut state, no intervention"),
    "probiotic": _chronic(
        "probiotic", "daily probiotic from day 0 (effect priors: Milajerdi 2020 SMDs)",
        [Event(0.0, "probiotic", 1.0)],
    ),
    "fibre": _chronic("fibre", "fibre intake +50 % from day 0", [Event(0.0, "fibre_mult", 1.5)]),
    "antibiotic": _chronic(
        "antibiotic", "1-day clindamycin course at day 0 (community response from mouse gLV)",
        antibiotic={"start": 0.0, "days": 1.0},
    ),
    "dysbiosis": _chronic(
        "dysbiosis", "butyrate capacity halved and luminal endotoxin +50 % from day 0",
        [Event(0.0, "but_capacity", 0.5), Event(0.0, "E_lumen", 1.5)],
    ),
}


def get_scenario(name: str | Scenario) -> Scenario:
    """A built-in scenario by name, a scenario file path, or a :class:`Scenario`."""
    if isinstance(name, Scenario):
        return name
    if name in SCENARIOS:
        return SCENARIOS[name]
    if os.path.isfile(name):
        return read_scenario(name)
    raise DataValueError(
        f"unknown scenario {name!r}",
        fix=f"use one of {', '.join(SCENARIOS)} or a YAML/JSON scenario file",
    )


def read_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario file (YAML or JSON).

    Keys: ``name``, ``model`` (default ``gut_brain``), ``t_end`` (model time unit),
    ``n_points``, ``warmup``, ``parameters`` (overrides), ``events`` (list of
    ``{time, target, value, op}``), ``outputs``, ``vary``, ``antibiotic``.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        if path.endswith(".json"):
            d = json.loads(text)
        else:
            import yaml

            d = yaml.safe_load(text)
    except Exception as exc:
        raise InputFormatError(f"cannot parse scenario file: {exc}".splitlines()[0], path=path,
                               fix="write valid YAML or JSON") from None
    if not isinstance(d, dict) or "t_end" not in d:
        raise InputFormatError("scenario file needs a mapping with at least 't_end'",
                               path=path, column="t_end", fix="add t_end (model time units)")
    model_name = str(d.get("model", "gut_brain"))
    model = load_model(model_name)
    try:
        exp = Experiment.from_dict({**d, "name": d.get("name", os.path.basename(path))})
    except (TypeError, KeyError, ValueError) as exc:
        raise InputFormatError(f"invalid experiment in scenario file: {exc}", path=path,
                               fix="events need time, target, value and optional op") from None
    outputs = tuple(d.get("outputs", model.outputs))
    vary = tuple(d.get("vary", ("hypothesis",)))
    return Scenario(str(d.get("name", os.path.basename(path))), model_name, exp,
                    str(d.get("description", "")), outputs, vary, d.get("antibiotic"),
                    time_unit=model.time_unit)


# --------------------------------------------------------------------------- antibiotic
@lru_cache(maxsize=16)
def _antibiotic_capacity(start: float, days: float, t_end_days: float) -> tuple[tuple[float, float], ...]:
    """Daily Lachnospiraceae fold-change (treated / untreated) in the Stein 2013 gLV (mouse)."""
    n = math.ceil(t_end_days) + 1
    ctrl = simulate("stein2013_glv", Experiment(t_end=float(n - 1), n_points=n),
                    outputs=["lachno"])["lachno"].to_numpy()
    ev = (Event(float(start), "u", 1.0), Event(float(start + days), "u", 0.0))
    abx = simulate("stein2013_glv", Experiment(t_end=float(n - 1), n_points=n, events=ev),
                   outputs=["lachno"])["lachno"].to_numpy()
    ratio = np.clip(abx / np.maximum(ctrl, 1e-12), 0.05, 1.5)
    return tuple((float(d), float(r)) for d, r in enumerate(ratio))


def _with_antibiotic(sc: Scenario) -> Experiment:
    exp = sc.experiment
    if not sc.antibiotic:
        return exp
    scale = _DAY if sc.time_unit == "hour" or load_model(sc.model).time_unit == "hour" else 1.0
    caps = _antibiotic_capacity(float(sc.antibiotic.get("start", 0.0)),
                                float(sc.antibiotic.get("days", 1.0)), exp.t_end / scale)
    evs = [Event(d * scale, "but_capacity", r) for d, r in caps if d * scale <= exp.t_end]
    return Experiment(exp.t_end, exp.n_points, (*exp.events, *evs), exp.warmup,
                      exp.parameters, exp.name)


# --------------------------------------------------------------------------- profiles
def profile_inputs(
    table: pd.DataFrame,
    *,
    butyrate: str = "gbi_butyrate_capacity",
    endotoxin: str = "gbi_endotoxin_potential",
    groupby: str | None = None,
) -> pd.DataFrame:
    """Standardise a sample table's indices into model-input scores.

    Each index is centred on the cohort median and scaled by 1.4826·MAD (z, clipped to
    [−3, 3]); a missing column gives z = 0.  With ``groupby`` the group medians of z are returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``z_butyrate`` and ``z_endotoxin``, one row per sample (or group).
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise DataValueError("profile table is empty", fix="pass a table with one row per sample")
    out = pd.DataFrame(index=table.index.astype(str))
    found = 0
    for col, key in ((butyrate, "z_butyrate"), (endotoxin, "z_endotoxin")):
        if col in table.columns:
            x = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
            if np.all(np.isnan(x)):
                raise DataValueError(f"column {col!r} has no numeric values",
                                     column=col, fix="provide numeric index values")
            med = np.nanmedian(x)
            mad = 1.4826 * np.nanmedian(np.abs(x - med))
            if not mad > 0:
                mad = np.nanstd(x) or 1.0
            z = np.clip((x - med) / mad, -3, 3)
            out[key] = np.nan_to_num(z, nan=0.0)
            found += 1
        else:
            out[key] = 0.0
    if found == 0:
        raise DataValueError(
            f"profile table has neither {butyrate!r} nor {endotoxin!r}",
            fix="pass a table with index columns (e.g. from gb.tl.gut_brain_indices) or name "
                "the columns to use",
        )
    if groupby is not None:
        if groupby not in table.columns:
            raise DataValueError(f"no column {groupby!r} to group by", column=groupby)
        out = out.groupby(table[groupby].astype(str).to_numpy()).median()
    return out


# --------------------------------------------------------------------------- results
@dataclass
class ScenarioResult:
    """Ensemble result: draws, quantile bands and provenance."""

    scenario: Scenario
    times: np.ndarray
    outputs: list[str]
    draws: dict[str, np.ndarray]
    samples: pd.DataFrame
    provenance: dict[str, Any]
    quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)

    def bands(self) -> pd.DataFrame:
        """Long table: label, time, output, one column per quantile, evidence note."""
        rows = []
        qs = np.asarray(self.quantiles)
        for label, arr in self.draws.items():
            q = np.nanquantile(arr, qs, axis=0)  # (Q, T, O)
            for j, out in enumerate(self.outputs):
                df = pd.DataFrame(q[:, :, j].T, columns=[f"q{round(x * 100):02d}" for x in qs])
                df.insert(0, "output", out)
                df.insert(0, "time", self.times)
                df.insert(0, "label", label)
                rows.append(df)
        out = pd.concat(rows, ignore_index=True)
        out["evidence"] = self.provenance["evidence_note"]
        return out

    def endpoint(self) -> pd.DataFrame:
        """Quantile bands at the final time point."""
        b = self.bands()
        return b[b["time"] == b["time"].max()].drop(columns="time").reset_index(drop=True)


def run_scenario(
    scenario: str | Scenario,
    *,
    n: int = 200,
    profiles: pd.DataFrame | None = None,
    random_state: int = 0,
    n_jobs: int | None = 1,
    parameters: Mapping[str, float] | None = None,
) -> ScenarioResult:
    """Run a scenario as an ensemble over its uncertain parameters.

    Parameters
    ----------
    scenario
        Built-in name, scenario file, or :class:`Scenario`.
    n
        Ensemble size (parameter draws, Latin hypercube over the priors).
    profiles
        Optional output of :func:`profile_inputs` (rows = samples or groups): each row is run
        with the same draws, its z-scores mapped to ``but_capacity`` and ``E_lumen`` through
        slopes sampled from ``profile.tsv`` (hypotheses).
    random_state
        Seed of the draws.
    n_jobs
        Worker processes (``None`` = all cores).
    parameters
        Fixed overrides applied to every run.

    Returns
    -------
    ScenarioResult
    """
    sc = get_scenario(scenario)
    model = load_model(sc.model)
    exp = _with_antibiotic(sc)
    if parameters:
        exp = Experiment(exp.t_end, exp.n_points, exp.events, exp.warmup,
                         {**exp.parameters, **parameters}, exp.name)
    names = [p for p in uncertain_parameters(model.parameters, sc.vary)
             if p not in (parameters or {})]
    samples = (sample_parameters(model.parameters, n, names=names, random_state=random_state)
               if names else pd.DataFrame(index=range(n)))
    draws: dict[str, np.ndarray] = {}
    if profiles is None:
        if samples.shape[1] == 0:
            one = simulate(model, exp, outputs=sc.outputs).drop(columns="time").to_numpy()
            draws[sc.name] = one[None, :, :]
        else:
            draws[sc.name] = ensemble(model, exp, samples, outputs=sc.outputs, n_jobs=n_jobs)
    else:
        if "but_capacity" not in model.parameters.index:
            raise DataValueError(f"model {sc.model!r} has no gut inputs for a profile",
                                 fix="use a gut_brain scenario (e.g. 'baseline')")
        ptable = read_parameter_table(resources.files("gutbrain.sim").joinpath("models", "profile.tsv"))
        slopes = sample_parameters(ptable, n, names=["slope_butyrate", "slope_endotoxin"],
                                   random_state=random_state + 1)
        for label, row in profiles.iterrows():
            s = samples.copy()
            s["but_capacity"] = np.exp(slopes["slope_butyrate"].to_numpy() * row["z_butyrate"])
            s["E_lumen"] = np.exp(slopes["slope_endotoxin"].to_numpy() * row["z_endotoxin"])
            draws[str(label)] = ensemble(model, exp, s, outputs=sc.outputs, n_jobs=n_jobs)
        samples = pd.concat([samples, slopes], axis=1)
    levels = sorted(set(model.parameters.loc[names, "evidence"])) if names else []
    prov = {
        "gutbrain_version": __version__,
        "scenario": sc.to_dict(),
        "experiment": exp.to_dict(),
        "model": model.name,
        "model_references": list(model.references),
        "n": int(n),
        "random_state": int(random_state),
        "varied_parameters": names,
        "varied_evidence": levels,
        "parameters": model.values,
        "evidence_note": (
            "hypothesis links included; bands are not predictions"
            if sc.model == "gut_brain" else "calibrated_human core"
        ),
        "disclaimer": DISCLAIMER,
    }
    return ScenarioResult(sc, exp.times, list(sc.outputs), draws, samples, prov)
