"""gutbrain.pl: plots of the results stored in an AnnData, returning matplotlib Axes (or a Figure for multi-panel plots)."""

from __future__ import annotations

from ._composition import taxa_barplot
from ._diversity import alpha, pcoa
from ._indices import index_dashboard, module_heatmap
from ._sim import sim_bands, sim_chain, sim_lps_validation

__all__: list[str] = ["alpha", "index_dashboard", "module_heatmap", "pcoa", "sim_bands", "sim_chain", "sim_lps_validation", "taxa_barplot"]

# --- differential abundance (helper DA)
from ._da import consensus_heatmap, da_forest, da_volcano, planted_recovery

__all__ += ["consensus_heatmap", "da_forest", "da_volcano", "planted_recovery"]

# --- classifiers and mediation (helper ML)
from ._ml import mediation_diagram, pr_curve, roc_curve  # noqa: E402

__all__ += ["mediation_diagram", "pr_curve", "roc_curve"]

# --- metabolomics (helper i16)
from ._metabolites import (  # noqa: E402
    butyrate_validation,
    metabolite_boxplot,
    metabolite_heatmap,
    predicted_vs_observed,
)

__all__ += ["butyrate_validation", "metabolite_boxplot", "metabolite_heatmap", "predicted_vs_observed"]
