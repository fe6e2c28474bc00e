"""Report sections: gut–brain indices, GMHI / GMWI2, and module abundances.

Every statement names its sources and their host (rodent findings are labelled as such).
They render ``obs["gbi_*"]``, ``uns["gut_brain_indices"]``, ``uns["gmhi"]``, ``uns["gmwi2"]``
and ``uns["modules"]``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from anndata import AnnData

from .._registry import Figure, Section
from ._common import group_of, named, skip_reason, svg

__all__ = ["health_section", "indices_section", "modules_section"]


def indices_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Per-group index summaries, the dashboard, and the cited membership rows."""
    info = adata.uns.get("gut_brain_indices")
    if info is None:
        reason = skip_reason(adata, "gut_brain_indices")
        return Section(key="gut_brain_indices", title="Gut–brain indices", order=50,
                       paragraphs=[f"Not computed: {reason}."]) if reason else None
    names = list(info["params"]["indices"])
    group = group_of(adata)
    sec = Section(key="gut_brain_indices", title="Gut–brain indices", order=50)
    obs = adata.obs
    cols = [c for n in names for c in (f"gbi_{n}", f"gbi_{n}_coverage")]
    if group:
        summ = obs[cols].groupby(obs[group], observed=True).median().T
        summ.columns = [str(c) for c in summ.columns]
        summ.index.name = "index"
        sec.tables.append((f"Median index value and coverage by {group}",
                           named(summ.reset_index(), "gut_brain_indices_by_group")))
    else:
        summ = obs[cols].median().rename("median").reset_index(names="index")
        sec.tables.append(("Median index value and coverage across samples",
                           named(summ, "gut_brain_indices_summary")))
    sec.paragraphs.append(
        "Each index is a weighted sum of relative abundances over a cited membership list "
        "(gutbrain/tl/data/guilds.tsv). Values are shares of the whole sample. "
        + str(info["coverage_definition"])
    )
    cites = info["citations"]
    rodent = sorted(set(cites.loc[cites["rodent"].astype(bool), "taxon"]))
    if rodent:
        sec.paragraphs.append(
            "Rodent-derived entries (findings in rats or mice, not established in humans): "
            + ", ".join(rodent)
            + ". The pain marker panel's markers from Chen et al. 2021 come from rats with chronic "
            "constriction injury (doi:10.1186/s13041-021-00765-y); gbi_pain_marker_panel_human uses "
            "the human-derived markers only."
        )
    sec.paragraphs.append(
        "Endotoxin potential weights: Enterobacteriaceae and Pseudomonadota 1 (hexa-acylated, strongly "
        "TLR4-stimulating LPS; Munford 2006 doi:10.1371/journal.ppat.0020067, Lin 2020 "
        "doi:10.3389/fphar.2020.00554; human cells), Bacteroidales −0.1 (under-acylated, TLR4-silencing "
        "LPS; d'Hennezel 2017 doi:10.1128/mSystems.00046-17, Vatanen 2016 doi:10.1016/j.cell.2016.04.007; "
        "human cells in vitro; the magnitude is a modelling choice), Gram-positive phyla 0."
    )
    from ..pl._indices import index_dashboard

    fig = index_dashboard(adata, groupby=group)
    sec.figures.append(Figure(caption="Gut–brain indices: value distributions and top contributing taxa "
                              "(hatched = rodent-derived marker).", svg=svg(fig), name="gut_brain_indices"))
    table = cites[["index", "taxon", "rank", "role", "weight", "host", "citation", "doi", "status"]]
    sec.tables.append(("Index members used, with host and source", named(table.copy(), "gut_brain_index_members")))
    sec.citations += sorted({f"{c} doi:{d}" if d else c
                             for c, d in zip(cites["citation"], cites["doi"], strict=True) if c})
    return sec


def health_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """GMHI / GMWI2 summaries with how many model species/clades were matched."""
    g1, g2 = adata.uns.get("gmhi"), adata.uns.get("gmwi2")
    title = "Health indices (GMHI, GMWI2)"
    if g1 is None and g2 is None:
        reason = skip_reason(adata, "health_indices")
        return Section(key="health_indices", title=title, order=55,
                       paragraphs=[f"Not computed: {reason}."]) if reason else None
    sec = Section(key="health_indices", title=title, order=55)
    cols = []
    if g1 is not None:
        cols.append("gmhi")
        sec.paragraphs.append(
            f"GMHI (Gupta et al. 2020, human stool metagenomes, 34 studies) matched "
            f"{int(g1['n_matched_mh'])} of 7 health-prevalent and {int(g1['n_matched_mn'])} of 43 "
            "health-scarce species by name (with renamings); GMHI > 0 is classed healthy. "
            "doi:10.1038/s41467-020-18476-8."
        )
        sec.citations.append("Gupta VK et al. 2020 Nat Commun 11:4635 doi:10.1038/s41467-020-18476-8")
    if g2 is not None:
        cols.append("gmwi2")
        sec.paragraphs.append(
            f"GMWI2 (Chang et al. 2024, 8,069 human stool metagenomes) matched "
            f"{int(g2['n_features_matched'])} of its {int(g2['n_model_features'])} non-zero-coefficient "
            "clades in this table (a clade absent from the table counts as absent); GMWI2 > 0 is "
            "classed healthy. doi:10.1038/s41467-024-51651-9."
        )
        sec.citations.append("Chang D et al. 2024 Nat Commun 15:7447 doi:10.1038/s41467-024-51651-9")
    group = group_of(adata)
    obs = adata.obs
    if group:
        summ = obs[cols].groupby(obs[group], observed=True).agg(["median", "mean", "count"])
        summ.columns = [f"{a} {b}" for a, b in summ.columns]
        summ.index = summ.index.astype(str)
        sec.tables.append((f"Health indices by {group}", named(summ.reset_index(names=group), "health_indices_by_group")))
    else:
        sec.tables.append(("Health indices per sample",
                           named(obs[cols].reset_index(names="sample"), "health_indices_per_sample")))
    return sec


def modules_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Module abundances, present only when a KO table was mapped (``uns["modules"]``)."""
    info = adata.uns.get("modules")
    if info is None:
        return None
    ab = info.get("abundance")
    if not isinstance(ab, pd.DataFrame) or ab.empty:
        return None
    sec = Section(key="modules", title="Gut–brain and gut metabolic modules", order=60)
    params = info.get("params", {})
    sec.paragraphs.append(
        f"{ab.shape[0]} modules passed the coverage cut-off {params.get('coverage_cutoff', '')} "
        f"(Omixer-RPM algorithm re-implemented; score {params.get('score', 'median')}). Definitions "
        "were supplied by the user."
    )
    top = ab.mean(axis=1).sort_values(ascending=False).head(20)
    sec.tables.append(("Modules with the highest mean abundance",
                       named(top.rename("mean").reset_index(), "modules_top")))
    from ..pl._indices import module_heatmap

    sec.figures.append(Figure(caption="Module abundance heatmap (log10(1 + abundance)).",
                              svg=svg(module_heatmap(ab)), name="modules"))
    sec.citations.append("Darzi Y et al. 2016 ISME J 10:1025 doi:10.1038/ismej.2015.188")
    return sec
