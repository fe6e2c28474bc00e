"""Report section: the mechanistic simulation (hypothesis-labelled), from ``uns["simulation"]``."""

from __future__ import annotations

from typing import Any

from anndata import AnnData

from .._registry import Section
from ..sim._report import CHAIN_LINKS, frame_from_uns
from ..sim._scenarios import DISCLAIMER
from ._common import add_figure, group_of, named

__all__ = ["simulation_section"]


def simulation_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Chain diagram with evidence levels, LPS validation, profile-driven bands, disclaimer."""
    sim = adata.uns.get("simulation")
    if not sim:
        return None
    from ..pl._sim import sim_chain, sim_endpoints, sim_lps_validation
    from ..pl._style import group_colors

    sec = Section(key="simulation", title="Mechanistic simulation (hypothesis-labelled)", order=90)
    sec.paragraphs.append(str(sim.get("disclaimer", DISCLAIMER)))
    traj = frame_from_uns(sim["lps"])
    add_figure(sec, sim_chain, "Chain diagram: each link coloured by its evidence level.", "sim_chain")
    add_figure(sec, lambda: sim_lps_validation(traj),
               "2 ng/kg LPS bolus: human-calibrated core (Dobreva 2021) against Copeland 2005, Janum 2016 and "
               "de Goeij 2013.", "sim_lps")
    comp = frame_from_uns(sim["validation"])
    sec.tables.append(("Core model vs published human LPS data (acceptance ranges documented in "
                       "gutbrain.sim._validation)", named(comp, "simulation_lps_validation")))
    sec.tables.append(("Links of the gut–brain chain and the evidence behind each",
                       named(CHAIN_LINKS.copy(), "simulation_chain_links")))
    if "profile" in sim:
        end = frame_from_uns(sim["profile"])
        group = group_of(adata)
        colours = group_colors(adata, group) if group else None
        sec.paragraphs.append(
            "Profile-driven ensembles: each group's median butyrate-capacity and endotoxin-potential "
            "indices set the gut inputs; 32 draws over the hypothesis priors give the bands after 28 days "
            "(box: 25–75 %, whiskers: 5–95 %, dot: median). These bands show what the hypotheses allow, not "
            "predictions.")
        add_figure(sec, lambda: sim_endpoints(end, colors=colours),
                   "Profile-driven ensemble after 28 days, per group (hypothesis links).", "sim_profile")
        sec.tables.append(("Profile-driven ensemble quantiles after 28 days (hypothesis links)",
                           named(end, "simulation_profile_quantiles")))
    else:
        sec.paragraphs.append(
            "No gbi_butyrate_capacity / gbi_endotoxin_potential indices were found in the sample "
            "table, so no profile-driven scenario was run.")
    sec.citations.extend([
        "Dobreva A et al. (2021) J Physiol 599:1459. doi:10.1113/JP280883",
        "Stein RR et al. (2013) PLoS Comput Biol 9:e1003388. doi:10.1371/journal.pcbi.1003388",
        "Kettle H et al. (2015) Environ Microbiol 17:1615 (microPop)",
        "Copeland S et al. (2005) Clin Diagn Lab Immunol 12:60. doi:10.1128/CDLI.12.1.60-67.2005",
        "Janum S et al. (2016) Innate Immun 22:546",
        "de Goeij M et al. (2013) PLoS ONE 8:e84159. doi:10.1371/journal.pone.0084159",
        "Milajerdi A et al. (2020) Eur J Nutr 59:633. doi:10.1007/s00394-019-01931-8",
    ])
    return sec
