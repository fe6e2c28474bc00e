"""gutbrain.ml: classifiers, regressors and a health index with leakage-safe cross-validation.

``classify``             cross-validated binary classification (L1/elastic-net logistic, RF, GB)
``regress``              cross-validated regression of continuous outcomes (pain scores)
``cross_validate_model`` the object-free kernel (matrix + labels)
``make_pipeline``        filter → transform → [scale] → model, refitted inside every fold
``CLRTransformer``, ``LogRelative``, ``PresenceAbsence``, ``PrevalenceFilter``,
``RelativeAbundance``    scikit-learn transformers for compositional tables
``health_index``         gutbrain's sparse species-presence health index (value > 0: classed healthy)
``health_index_coefficients``, ``health_index_model``   the shipped model (species, log-odds, threshold)
``health_index_validation``, ``health_index_calibration``   stored out-of-study figures of gutbrain's
                         index, GMHI and GMWI2 (leave-one-study-out; written by benchmarks/health_index.py)
``predict_metabolite``   out-of-fold prediction of a metabolite (e.g. butyrate) under grouped,
                         nested CV (ridge / elastic net on CLR, random forest, MelonnPan-style)
"""

from __future__ import annotations

from ._classify import CVResult, classify, cross_validate_model, make_pipeline, regress
from ._cv import bootstrap_ci, fast_auc, iter_splits
from ._health_index import (
    HealthIndexModel,
    health_index,
    health_index_coefficients,
    health_index_model,
)
from ._predict import MetabolitePrediction, predict_metabolite
from ._transformers import (
    CLRTransformer,
    LogRelative,
    PresenceAbsence,
    PrevalenceFilter,
    RelativeAbundance,
)
from ._validation import health_index_calibration, health_index_validation

__all__: list[str] = [
    "CLRTransformer",
    "CVResult",
    "HealthIndexModel",
    "LogRelative",
    "MetabolitePrediction",
    "PresenceAbsence",
    "PrevalenceFilter",
    "RelativeAbundance",
    "bootstrap_ci",
    "classify",
    "cross_validate_model",
    "fast_auc",
    "health_index",
    "health_index_calibration",
    "health_index_coefficients",
    "health_index_model",
    "health_index_validation",
    "iter_splits",
    "make_pipeline",
    "predict_metabolite",
    "regress",
]
