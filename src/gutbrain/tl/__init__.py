"""gutbrain.tl."""

from __future__ import annotations

# --- diversity (helper DIV): AnnData tools + object-free kernels (condensed distances)
from ._alpha import alpha, alpha_diversity, chao1, observed_features, pielou_e, shannon, simpson
from ._beta import aitchison, beta, beta_diversity, braycurtis, jaccard, robust_aitchison
from ._ordination import pcoa, pcoa_kernel
from ._stats import (
    alpha_group_test,
    anosim,
    anosim_kernel,
    permanova,
    permanova_kernel,
    permdisp,
    permdisp_kernel,
)
from ._unifrac import faith_pd, unweighted_unifrac, weighted_unifrac
from . import _diversity_report  # noqa: F401  (registers run steps + report sections)

# --- gut-brain indices, health indices, modules (helper IDX)
from ._gmhi import gmhi
from ._gmwi2 import gmwi2
from ._indices import (
    INDEX_NAMES,
    butyrate_capacity,
    endotoxin_potential,
    gaba_balance,
    gut_brain_indices,
    mucin_degrader_load,
    pain_marker_panel,
    scfa_capacity,
    tryptophan_metabolisers,
)
from ._modules import module_abundance, read_module_definitions, read_module_names
from . import _indices_report  # noqa: F401  (registers index steps + report sections)

__all__: list[str] = [
    "INDEX_NAMES",
    "butyrate_capacity",
    "endotoxin_potential",
    "gaba_balance",
    "gmhi",
    "gmwi2",
    "gut_brain_indices",
    "module_abundance",
    "mucin_degrader_load",
    "pain_marker_panel",
    "read_module_definitions",
    "read_module_names",
    "scfa_capacity",
    "tryptophan_metabolisers",
    "aitchison",
    "alpha",
    "alpha_diversity",
    "alpha_group_test",
    "anosim",
    "anosim_kernel",
    "beta",
    "beta_diversity",
    "braycurtis",
    "chao1",
    "faith_pd",
    "jaccard",
    "observed_features",
    "pcoa",
    "pcoa_kernel",
    "permanova",
    "permanova_kernel",
    "permdisp",
    "permdisp_kernel",
    "pielou_e",
    "robust_aitchison",
    "shannon",
    "simpson",
    "unweighted_unifrac",
    "weighted_unifrac",
]
