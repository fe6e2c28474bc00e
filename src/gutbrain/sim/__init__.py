"""gutbrain.sim: mechanistic gut–brain models (Antimony/SBML, libRoadRunner, SciPy reference)."""

from __future__ import annotations

from ._engine import Event, Experiment, ensemble, lps_challenge, simulate
from ._model import MODELS, Model, list_models, load_model, to_sbml, validate_sbml
from ._params import EVIDENCE, read_parameter_table, sample_parameters

__all__ = [
    "EVIDENCE",
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
