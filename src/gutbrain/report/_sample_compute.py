"""Per-sample values of every index and taxon the sample profile shows (one implementation).

:func:`sample_values` is called both by the sample profile and by
``tools/build_sample_reference.py`` when it builds the healthy reference, so a sample and
its reference are computed by the same code, which in turn calls the functions of a cohort
run (``gb.tl.alpha_diversity``, ``gb.tl.gmhi``, ``gb.tl.gmwi2``, ``gb.ml.health_index``,
``gb.tl.gut_brain_indices``, ``gb.pp.collapse``).

What each index needs, and what happens when the input does not have it:

=======================  =====================================  =================================
index                    needs                                  otherwise
=======================  =====================================  =================================
Shannon, richness        any abundance table                    computed at the table's level
                                                                (species rows of MetaPhlAn)
GMHI                     a shotgun species profile              "not computable" (reason given)
GMWI2                    a shotgun species profile (MetaPhlAn   "not computable": 68 of its 95
                         clades of every rank)                  coefficients are species
gutbrain health index    a shotgun species profile              "not computable"
guild indices            genus or species names                 "not computable" without names
=======================  =====================================  =================================

A *shotgun species profile* is a MetaPhlAn table (``var["clade_rank"]``, as written by
``gb.io.read_metaphlan`` and MetAML's loader) or a table whose features are all named
species.  A 16S table that assigns species to some ASVs is not one: its species-level
indices would miss most of the community and give a wrong number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_matrix, provenance
from .._errors import DataValueError

__all__ = ["INDEX_INFO", "InputKind", "SampleValues", "input_kind", "sample_values", "taxon_abundances"]

#: Index key → (label, unit, citation, DOI).  Keys are the columns of :func:`sample_values`.
INDEX_INFO: dict[str, dict[str, str]] = {
    "shannon": {"label": "Shannon diversity", "unit": "nats",
                "citation": "Shannon CE 1948 Bell Syst Tech J 27:379",
                "doi": "10.1002/j.1538-7305.1948.tb01338.x"},
    "richness": {"label": "Richness", "unit": "taxa",
                 "citation": "Whittaker RH 1972 Taxon 21:213", "doi": "10.2307/1218190"},
    "gmhi": {"label": "Gut Microbiome Health Index (GMHI)", "unit": "log10 ratio",
             "citation": "Gupta VK et al. 2020 Nat Commun 11:4635",
             "doi": "10.1038/s41467-020-18476-8"},
    "gmwi2": {"label": "Gut Microbiome Wellness Index 2 (GMWI2)", "unit": "sum of coefficients",
              "citation": "Chang D et al. 2024 Nat Commun 15:7447",
              "doi": "10.1038/s41467-024-51651-9"},
    "health_index": {"label": "gutbrain health index", "unit": "log-odds",
                     "citation": "Pasolli E et al. 2016 PLoS Comput Biol 12:e1004977 (training data); "
                                 "Tibshirani R et al. 2002 PNAS 99:6567 (method)",
                     "doi": "10.1371/journal.pcbi.1004977"},
    "gbi_butyrate_capacity": {"label": "Butyrate producers", "unit": "share of the profile"},
    "gbi_scfa_capacity": {"label": "Short-chain fatty acid producers (butyrate + propionate)",
                          "unit": "share of the profile"},
    "gbi_endotoxin_potential": {"label": "LPS-bearing (Gram-negative) load, potency-weighted",
                                "unit": "weighted share of the profile"},
    "gbi_mucin_degrader_load": {"label": "Mucin degraders", "unit": "share of the profile"},
    "gbi_gaba_balance": {"label": "GABA producers minus GABA consumers", "unit": "share of the profile"},
    "gbi_tryptophan_metabolisers": {"label": "Tryptophan / indole metabolisers",
                                    "unit": "share of the profile"},
    "gbi_pain_marker_panel": {"label": "Pain-associated taxa panel (direction-weighted)",
                              "unit": "weighted share of the profile"},
}

_SPECIES_INDICES = ("gmhi", "gmwi2", "health_index")


@dataclass(frozen=True)
class InputKind:
    """What kind of profile a table is, and so which indices and references apply.

    Attributes
    ----------
    profiler
        ``"metaphlan"`` (MetaPhlAn clade table) or ``"other"``.
    leaf_rank
        The rank diversity and dominant taxa are computed at (``species`` for MetaPhlAn).
    species_profile
        True for a shotgun species profile (species-level indices are computable).
    description
        One sentence for the page.
    """

    profiler: str
    leaf_rank: str
    species_profile: bool
    description: str
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class SampleValues:
    """Output of :func:`sample_values`.

    Attributes
    ----------
    table
        One row per sample, one column per index value (see :func:`sample_values`).
    reasons
        Index key → why it is not computable from this input (NaN in ``table``).
    uns
        The ``uns`` entries the index functions recorded (matching tables, contributions).
    kind
        The :class:`InputKind` the values were computed for.
    """

    table: pd.DataFrame
    reasons: dict[str, str]
    uns: dict[str, Any]
    kind: InputKind


def _leaf_rank(adata: AnnData) -> str:
    from ..tl._match import feature_lineages, leaf_rank

    lin = feature_lineages(adata)
    ranks = lin["taxon_rank"].astype(str).to_numpy()
    return leaf_rank(ranks) or "feature"


def input_kind(adata: AnnData) -> InputKind:
    """Classify a table as a MetaPhlAn/shotgun species profile or another table.

    Parameters
    ----------
    adata
        Samples × features as read by :func:`gutbrain.io.read`.

    Returns
    -------
    InputKind

    Examples
    --------
    >>> import gutbrain as gb
    >>> k = input_kind(gb.datasets.demo_cohort(seed=0, n_samples=4))
    >>> k.profiler, k.leaf_rank, k.species_profile
    ('other', 'genus', False)
    """
    from ..tl._match import feature_lineages

    if "clade_rank" in adata.var.columns:
        return InputKind("metaphlan", "species", True,
                         "MetaPhlAn clade profile (shotgun metagenome): diversity and taxa at species level")
    lin = feature_lineages(adata)
    ranks = lin["taxon_rank"].astype(str).to_numpy()
    leaf = _leaf_rank(adata)
    species_share = float(np.mean(ranks == "species")) if len(ranks) else 0.0
    if species_share >= 0.95:
        return InputKind("other", "species", True,
                         "species-level table (not MetaPhlAn): species indices computed; "
                         "percentiles need a MetaPhlAn profile")
    why = (f"this table's features are {leaf}-level ({species_share:.0%} named species): "
           "a 16S/amplicon or genus table, not a shotgun species profile")
    reasons = {
        "gmhi": f"GMHI is defined on 50 MetaPhlAn species (Gupta 2020); {why}",
        "gmwi2": "GMWI2 sums coefficients of MetaPhlAn3 clades of every rank, 68 of its 95 at species "
                 f"level (Chang 2024); {why}",
        "health_index": f"gutbrain's health index scores the presence of MetaPhlAn species; {why}",
    }
    return InputKind("other", leaf, False, f"{leaf}-level table (e.g. 16S amplicon)", reasons)


def _species_rows(adata: AnnData) -> AnnData:
    """The species rows of a MetaPhlAn clade table (what ``read_metaphlan(rank="species")`` keeps)."""
    if "clade_rank" not in adata.var.columns:
        return adata
    keep = (adata.var["clade_rank"].astype(str) == "species").to_numpy()
    if not keep.any():
        raise DataValueError("the MetaPhlAn table has no species rows",
                             fix="give a MetaPhlAn profile with s__ rows (rank 'all' or 'species')")
    return adata[:, keep].copy()


def check_abundances(adata: AnnData, *, path: Any = None) -> None:
    """Raise a one-line :class:`DataValueError` for non-finite, negative or all-zero samples."""
    X = get_matrix(adata)
    if not np.isfinite(X).all():
        r, c = np.argwhere(~np.isfinite(X))[0]
        raise DataValueError(
            f"sample {adata.obs_names[r]!r}, feature {adata.var_names[c]!r} is not a number",
            path=path, fix="give numeric abundances (counts or relative abundances) in every cell")
    if (X < 0).any():
        r, c = np.argwhere(X < 0)[0]
        raise DataValueError(
            f"sample {adata.obs_names[r]!r}, feature {adata.var_names[c]!r} is negative",
            path=path, fix="give counts or relative abundances, not transformed (CLR/log) values")
    unit = provenance(adata).get("X_unit")
    if unit in {"clr", "transformed"}:
        raise DataValueError(f"the table holds {unit} values", path=path,
                             fix="give counts or relative abundances")
    tot = X.sum(axis=1)
    if "clade_rank" in adata.var.columns:
        sp = (adata.var["clade_rank"].astype(str) == "species").to_numpy()
        if sp.any():
            tot = X[:, sp].sum(axis=1)
    zero = np.flatnonzero(~(tot > 0))
    if zero.size:
        raise DataValueError(
            f"sample {adata.obs_names[zero[0]]!r} has zero reads (all abundances are 0)",
            path=path, fix="drop the empty sample or check the sample column")


def sample_values(adata: AnnData, *, kind: InputKind | None = None) -> SampleValues:
    """Every index of the sample profile, one row per sample.

    Parameters
    ----------
    adata
        Samples × features (MetaPhlAn clade table read with ``rank="all"``, a species
        profile, or a 16S genus/ASV table with a taxonomy).  Not modified.
    kind
        :func:`input_kind` of ``adata`` (computed when omitted).

    Returns
    -------
    SampleValues
        ``table`` columns: ``shannon, richness, gmhi, gmhi_coverage, gmwi2,
        gmwi2_coverage, health_index, health_index_probability, health_index_coverage,
        health_index_note`` and ``gbi_<index>`` / ``gbi_<index>_coverage`` (+
        ``gbi_gaba_balance_producers`` …).  Species-level indices are NaN for a table that
        is not a shotgun species profile; ``reasons`` says why for each such index.

    Examples
    --------
    >>> import gutbrain as gb
    >>> v = sample_values(gb.datasets.demo_cohort(seed=0, n_samples=4))
    >>> bool(v.table["shannon"].gt(0).all()), bool(v.table["gmhi"].isna().all()), "gmhi" in v.reasons
    (True, True, True)
    """
    from ..ml import health_index
    from ..tl import alpha_diversity, gut_brain_indices
    from ..tl._gmhi import gmhi
    from ..tl._gmwi2 import gmwi2

    kind = input_kind(adata) if kind is None else kind
    ad = adata.copy()
    out = pd.DataFrame(index=ad.obs_names.copy())
    reasons: dict[str, str] = dict(kind.reasons)
    uns: dict[str, Any] = {}

    div = _species_rows(ad) if kind.profiler == "metaphlan" else ad.copy()
    alpha_diversity(div, metrics=["observed_features", "shannon"])
    out["shannon"] = div.obs["shannon"].to_numpy()
    out["richness"] = div.obs["observed_features"].to_numpy()

    if kind.species_profile:
        out["gmhi"] = gmhi(ad).to_numpy()
        out["gmhi_coverage"] = ad.obs["gmhi_coverage"].to_numpy()
        out["gmwi2"] = gmwi2(ad).to_numpy()
        out["gmwi2_coverage"] = ad.obs["gmwi2_coverage"].to_numpy()
        out["health_index"] = health_index(ad).to_numpy()
        out["health_index_probability"] = ad.obs["health_index_probability"].to_numpy()
        out["health_index_coverage"] = ad.obs["health_index_coverage"].to_numpy()
        out["health_index_note"] = ad.obs["health_index_note"].astype(str).to_numpy()
        for key in ("gmhi", "gmwi2", "health_index"):
            uns[key] = ad.uns.get(key)
    else:
        for key in _SPECIES_INDICES:
            out[key] = np.nan
            out[f"{key}_coverage"] = np.nan
        out["health_index_probability"] = np.nan
        out["health_index_note"] = reasons.get("health_index", "")
    try:
        # MetaPhlAn: the species rows, as a cohort run reads them (read_metaphlan's default rank)
        wide = gut_brain_indices(div)
    except DataValueError as exc:
        from ..tl._indices import INDEX_NAMES

        for name in INDEX_NAMES:
            out[f"gbi_{name}"] = np.nan
            out[f"gbi_{name}_coverage"] = np.nan
            reasons[f"gbi_{name}"] = f"needs genus or species names ({exc.message})"
    else:
        for col in wide.columns:
            out[col] = wide[col].to_numpy()
        uns["gut_brain_indices"] = div.uns.get("gut_brain_indices")
    return SampleValues(out, reasons, uns, kind)


def taxon_abundances(adata: AnnData, rank: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Relative abundance (percent of the sample at ``rank``) of every taxon at ``rank``.

    Parameters
    ----------
    adata
        As for :func:`sample_values`.
    rank
        ``"species"`` or ``"genus"`` (or any rank in ``var``).

    Returns
    -------
    (abundance, lineages) or None
        ``abundance``: samples × taxa in percent of the sample's total at ``rank`` (rows sum
        to 100); ``lineages``: per taxon the rank columns, ``taxonomy``, ``taxon_name``,
        ``taxon_key`` (from :func:`gutbrain.pp.collapse`, which uses MetaPhlAn's own rows at
        ``rank``).  ``None`` when the table has no names at ``rank``.
    """
    from ..pp import collapse

    if rank not in adata.var.columns or not (adata.var[rank].astype(str) != "").any():
        return None
    col = collapse(adata, rank, unassigned="keep")
    X = get_matrix(col)
    tot = X.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(tot > 0, 100.0 * X / np.where(tot > 0, tot, 1.0), 0.0)
    ab = pd.DataFrame(P, index=col.obs_names.copy(), columns=col.var_names.copy())
    return ab, col.var.copy()
