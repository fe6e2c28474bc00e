"""The sections of the ``gutbrain run`` report, in the order they appear.

Each entry is ``(key, fn)`` with ``fn(adata, context) -> Section | None``; a section only
renders results stored in the AnnData and returns ``None`` when they are absent.  To add a
section, write its function in a ``_sections_<topic>.py`` module and list it here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anndata import AnnData

from .._registry import Section
from ._sections_core import composition_section, provenance_section, qc_section
from ._sections_da import da_section, planted_truth_section
from ._sections_design import design_section
from ._sections_diversity import alpha_section, beta_section
from ._sections_evidence import evidence_section, resemblance_section
from ._sections_indices import health_section, indices_section, modules_section
from ._sections_metabolites import metabolites_section
from ._sections_ml import classifier_section, health_index_section
from ._sections_sim import simulation_section

__all__ = ["SECTIONS", "SectionFn"]

SectionFn = Callable[[AnnData, dict[str, Any]], "Section | None"]

#: The report, top to bottom.
SECTIONS: tuple[tuple[str, SectionFn], ...] = (
    ("design", design_section),
    ("qc", qc_section),
    ("composition", composition_section),
    ("alpha_diversity", alpha_section),
    ("beta_diversity", beta_section),
    ("gut_brain_indices", indices_section),
    ("health_indices", health_section),
    ("gutbrain_health_index", health_index_section),
    ("modules", modules_section),
    ("diff_abundance", da_section),
    ("planted_truth", planted_truth_section),
    ("classifier", classifier_section),
    ("metabolites", metabolites_section),
    ("evidence", evidence_section),
    ("resemblance", resemblance_section),
    ("simulation", simulation_section),
    ("provenance", provenance_section),
)
