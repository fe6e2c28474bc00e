"""``gutbrain run`` steps and report sections for indices (50), health indices (55), modules (60).

Steps compute into ``adata``; sections only read the stored results.  Every statement in a
section names its sources and their host (rodent findings are labelled as such).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from anndata import AnnData

from .._errors import GutbrainError
from .._registry import Figure, Section, register_section, register_step

__all__: list[str] = []


def _species_fraction(adata: AnnData) -> float:
    from ._match import feature_lineages

    lin = feature_lineages(adata)
    return float((lin["species"].astype(str) != "").mean()) if adata.n_vars else 0.0


def _is_metaphlan(adata: AnnData) -> bool:
    prov = adata.uns.get("gutbrain", {})
    reader = str(prov.get("reader", "")).lower()
    fmt = " ".join(str(v.get("format", "")) for v in dict(prov.get("inputs", {})).values()
                   if isinstance(v, dict)).lower()
    return "metaphlan" in reader or "metaphlan" in fmt or "clade_rank" in adata.var.columns


@register_step("gut_brain_indices", 50)
def indices_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Compute all gut–brain indices when the table carries a taxonomy."""
    from ._indices import gut_brain_indices

    try:
        gut_brain_indices(adata)
    except GutbrainError as exc:
        adata.uns["gut_brain_indices_note"] = f"skipped: {exc}"


@register_step("health_indices", 55)
def health_step(adata: AnnData, config: dict[str, Any]) -> None:
    """GMHI and GMWI2 on species-level (shotgun) tables."""
    from ._gmhi import gmhi
    from ._gmwi2 import gmwi2

    notes = []
    shotgun = _is_metaphlan(adata) or _species_fraction(adata) >= 0.5
    if not shotgun:
        adata.uns["health_indices_note"] = (
            "GMHI and GMWI2 were not computed: they are defined on shotgun (MetaPhlAn) species "
            "profiles and this table is not species-resolved"
        )
        return
    for fn in (gmhi, gmwi2):
        try:
            fn(adata)
        except GutbrainError as exc:
            notes.append(f"{fn.__name__} skipped: {exc}")
    if notes:
        adata.uns["health_indices_note"] = "; ".join(notes)


def _svg(fig: Any) -> str:
    from ..pl._style import fig_to_svg

    return fig_to_svg(fig)


@register_section("gut_brain_indices", 50)
def indices_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Per-group index summaries, the dashboard, and the cited membership rows."""
    info = adata.uns.get("gut_brain_indices")
    if info is None:
        note = adata.uns.get("gut_brain_indices_note")
        if note:
            return Section(key="gut_brain_indices", title="Gut–brain indices", order=50,
                           paragraphs=[str(note)])
        return None
    names = list(info["params"]["indices"])
    group = context.get("config", {}).get("group")
    sec = Section(key="gut_brain_indices", title="Gut–brain indices", order=50)
    obs = adata.obs
    cols = [c for n in names for c in (f"gbi_{n}", f"gbi_{n}_coverage")]
    if group and group in obs.columns:
        summ = obs[cols].groupby(obs[group].astype(str), observed=True).median().T
        summ.index.name = "index"
        sec.tables.append((f"Median index value and coverage by {group}", summ.reset_index()))
    else:
        summ = obs[cols].median().rename("median").reset_index(names="index")
        sec.tables.append(("Median index value and coverage across samples", summ))
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
    try:
        from ..pl._indices import index_dashboard

        fig = index_dashboard(adata, groupby=group if group in obs.columns else None)
        sec.figures.append(Figure(caption="Gut–brain indices: value distributions and top "
                                  "contributing taxa (hatched = rodent-derived marker).",
                                  svg=_svg(fig), name="gut_brain_indices"))
    except Exception as exc:  # a figure must never stop the report
        sec.paragraphs.append(f"(dashboard not drawn: {exc})")
    table = cites[["index", "taxon", "rank", "role", "weight", "host", "citation", "doi", "status"]]
    sec.tables.append(("Membership rows used, with host and source", table))
    sec.citations += sorted({f"{c} doi:{d}" if d else c for c, d in zip(cites["citation"], cites["doi"],
                                                                        strict=True) if c})
    return sec


@register_section("health_indices", 55)
def health_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """GMHI / GMWI2 summaries with how many model species/clades were matched."""
    g1, g2 = adata.uns.get("gmhi"), adata.uns.get("gmwi2")
    note = adata.uns.get("health_indices_note")
    if g1 is None and g2 is None:
        if note:
            return Section(key="health_indices", title="Health indices (GMHI, GMWI2)", order=55,
                           paragraphs=[str(note)])
        return None
    sec = Section(key="health_indices", title="Health indices (GMHI, GMWI2)", order=55)
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
    if note:
        sec.paragraphs.append(str(note))
    group = context.get("config", {}).get("group")
    obs = adata.obs
    if group and group in obs.columns:
        summ = obs[cols].groupby(obs[group].astype(str), observed=True).agg(["median", "mean", "count"])
        summ.columns = [f"{a} {b}" for a, b in summ.columns]
        sec.tables.append((f"Health indices by {group}", summ.reset_index(names=group)))
    else:
        sec.tables.append(("Health indices per sample", obs[cols].reset_index(names="sample")))
    return sec


@register_section("modules", 60)
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
    sec.tables.append(("Modules with the highest mean abundance", top.rename("mean").reset_index()))
    try:
        from ..pl._indices import module_heatmap

        sec.figures.append(Figure(caption="Module abundance heatmap (log10(1 + abundance)).",
                                  svg=_svg(module_heatmap(ab)), name="modules"))
    except Exception as exc:
        sec.paragraphs.append(f"(heatmap not drawn: {exc})")
    sec.citations.append("Darzi Y et al. 2016 ISME J 10:1025 doi:10.1038/ismej.2015.188")
    return sec

