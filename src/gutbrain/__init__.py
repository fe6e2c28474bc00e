"""gutbrain: the microbiota–gut–brain axis in chronic pain and neuroinflammation.

One :class:`anndata.AnnData` (samples × features) flows through the namespaces:

``io``        read and write every common microbiome table format
``taxonomy``  one organism, one name: lineages, display names, match keys, NCBI ids
``pp``        taxonomy, filters, normalisation, transforms
``tl``        diversity, indices, statistics
``ml``        classifiers and regressors with leakage-safe cross-validation
``kb``        the evidence base (claims with host, direction, evidence level, DOI)
``sim``       mechanistic gut–brain models
``pl``        plots
``parallel``  the heavy paths on a Dask cluster (``gutbrain[dask]``)
``get``       tidy tables out of an AnnData
``report``    self-contained HTML reports
``datasets``  embedded synthetic data (no downloads)

Research software: it does not give medical or treatment advice.
"""

from __future__ import annotations

from . import datasets, get, io, kb, ml, parallel, pl, pp, report, sim, taxonomy, tl, workflow
from ._errors import (
    DataValueError,
    DataWarning,
    GutbrainError,
    GutbrainWarning,
    InputFormatError,
    LimitError,
    MetadataMismatchError,
    StepFailedWarning,
    UnitError,
)
from ._version import __version__

__all__ = [
    "DataValueError",
    "DataWarning",
    "GutbrainError",
    "GutbrainWarning",
    "InputFormatError",
    "LimitError",
    "MetadataMismatchError",
    "StepFailedWarning",
    "UnitError",
    "__version__",
    "datasets",
    "get",
    "io",
    "kb",
    "ml",
    "parallel",
    "pl",
    "pp",
    "report",
    "sim",
    "taxonomy",
    "tl",
    "workflow",
]
