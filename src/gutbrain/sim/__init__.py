"""gutbrain.sim: mechanistic gut–brain models (Antimony/SBML, libRoadRunner, SciPy reference)."""

from __future__ import annotations

from ._analysis import METRICS, CalibrationResult, calibrate, sobol
from ._engine import Event, Experiment, ensemble, lps_challenge, simulate
from ._model import MODELS, Model, list_models, load_model, to_sbml, validate_sbml
from ._params import EVIDENCE, read_parameter_table, sample_parameters
from ._scenarios import (
    DISCLAIMER,
    SCENARIOS,
    Scenario,
    ScenarioResult,
    get_scenario,
    profile_inputs,
    read_scenario,
    run_scenario,
)
from ._validation import VALIDATION, validation_table

from . import _report  # noqa: E402,F401  (registers the "simulation" step and section)

__all__ = [
    "DISCLAIMER",
    "EVIDENCE",
    "METRICS",
    "SCENARIOS",
    "VALIDATION",
    "CalibrationResult",
    "Scenario",
    "ScenarioResult",
    "calibrate",
    "get_scenario",
    "profile_inputs",
    "read_scenario",
    "run_scenario",
    "sobol",
    "validation_table",
    "MODELS",
    "Event",
    "Experiment",
    "Model",
    "ensemble",
    "list_models",
    "load_model",
    "lps_challenge",
    "read_parameter_table",
    "sample_parameters",
    "simulate",
    "to_sbml",
    "validate_sbml",
]
