"""gutbrain.tl: tools — diversity, ordination and group tests, gut–brain and health indices, modules, differential abundance, mediation, power."""

from __future__ import annotations

# --- diversity (helper DIV): AnnData tools + object-free kernels (condensed distances)
from ._alpha import alpha, alpha_diversity, chao1, observed_features, pielou_e, shannon, simpson
from ._beta import aitchison, beta, beta_diversity, braycurtis, jaccard, robust_aitchison

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

__all__: list[str] = [
    "INDEX_NAMES",
    "aitchison",
    "alpha",
    "alpha_diversity",
    "alpha_group_test",
    "anosim",
    "anosim_kernel",
    "beta",
    "beta_diversity",
    "braycurtis",
    "butyrate_capacity",
    "chao1",
    "endotoxin_potential",
    "faith_pd",
    "gaba_balance",
    "gmhi",
    "gmwi2",
    "gut_brain_indices",
    "jaccard",
    "module_abundance",
    "mucin_degrader_load",
    "observed_features",
    "pain_marker_panel",
    "pcoa",
    "pcoa_kernel",
    "permanova",
    "permanova_kernel",
    "permdisp",
    "permdisp_kernel",
    "pielou_e",
    "read_module_definitions",
    "read_module_names",
    "robust_aitchison",
    "scfa_capacity",
    "shannon",
    "simpson",
    "tryptophan_metabolisers",
    "unweighted_unifrac",
    "weighted_unifrac",
]

# --- differential abundance + medication confounders (helper DA)
from ._confounders import check_confounding, declare_medications, medication_classes
from ._da import diff_abundance

__all__ += ["check_confounding", "declare_medications", "diff_abundance", "medication_classes"]

# --- MaAsLin 3 (helper i12)
from ._maaslin3 import maaslin3  # noqa: E402

__all__ += ["maaslin3"]

# --- mediation and DA power on planted-truth cohorts (helper ML)
from ._mediation import mediation, mediation_kernel  # noqa: E402
from ._power import power_analysis  # noqa: E402

__all__ += ["mediation", "mediation_kernel", "power_analysis"]

# --- summaries behind the report, and the design check of gutbrain run (issue 13)
from ._design import design_check  # noqa: E402
from ._summary import composition_summary, qc_metrics  # noqa: E402

__all__ += ["composition_summary", "design_check", "qc_metrics"]

# --- metabolomics: taxon × metabolite associations (helper i16)
from ._butyrate import (  # noqa: E402
    butyrate_index_validation,
    butyrate_potential,
    validate_butyrate_indices,
)
from ._metabolites import metabolite_associations  # noqa: E402

__all__ += [
    "butyrate_index_validation",
    "butyrate_potential",
    "metabolite_associations",
    "validate_butyrate_indices",
]
