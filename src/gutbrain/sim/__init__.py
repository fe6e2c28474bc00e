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

__all__ = [
    "DISCLAIMER",
    "EVIDENCE",
    "METRICS",
    "MODELS",
    "SCENARIOS",
    "VALIDATION",
    "CalibrationResult",
    "Event",
    "Experiment",
    "Model",
    "Scenario",
    "ScenarioResult",
    "calibrate",
    "ensemble",
    "get_scenario",
    "list_models",
    "load_model",
    "lps_challenge",
    "profile_inputs",
    "read_parameter_table",
    "read_scenario",
    "run_scenario",
    "sample_parameters",
    "simulate",
    "sobol",
    "to_sbml",
    "validate_sbml",
    "validation_table",
]
