"""Gut–brain indices: transparent, cited summaries of a taxon table.

Each index is a weighted sum of relative abundances over a *membership list* of taxa held as
data (``tl/data/guilds.tsv``: one row per taxon × guild with rank, weight, host, DOI and how
the row was verified):

``butyrate_capacity``       butyrate producers
``scfa_capacity``           butyrate + propionate producers
``endotoxin_potential``     LPS-bearing taxa weighted by LPS potency (Enterobacteriaceae /
                            Pseudomonadota 1, Bacillota/Actinomycetota 0 (no LPS),
                            Bacteroidales −0.1: under-acylated, TLR4-antagonistic LPS)
``mucin_degrader_load``     mucin degraders
``gaba_balance``            GABA producers − GABA consumers
``tryptophan_metabolisers`` tryptophan/indole metabolisers
``pain_marker_panel``       taxa reported changed in pain (+1 increased, −1 decreased in pain;
                            rodent-derived markers labelled; ``*_human`` uses human markers only)

Definitions (per sample *s*, feature *f*, proportion ``p_sf``; proportions of the whole sample):

* **membership**: a feature's lineage is searched from its deepest rank upwards; the first
  rank whose name (or a synonym/alias) has an entry in the index gives the feature that
  entry's weight.  An entry with an empty weight marks a taxon as explicitly unclassified
  (e.g. LPS-bearing Negativicutes of unknown potency).
* **value** = ``sum_f w_f p_sf`` (a share of the whole sample, not renormalised).
* **coverage** = the fraction of the sample's abundance the index could classify:
  ``sum_f p_sf`` over features that either matched an entry with a weight, or are
  *assigned at the closed-world rank* (genus; ``rank=``) without matching, and so count as
  known non-members of the list.  Features unassigned at that rank (``g__`` empty, e.g. an ASV
  known only to family Lachnospiraceae) and explicitly unclassified taxa are not covered.
  ``endotoxin_potential`` classifies only through its entries (phylum-level entries cover most
  of a gut community), with no closed-world rule.

Works on 16S genus tables and on shotgun species tables (MetaPhlAn 2/3/4): species names
give their genus, and names are matched by :func:`gutbrain.taxonomy.match_taxa` (match
keys: synonyms such as *Lactobacillus fermentum* / *Limosilactobacillus fermentum* meet,
Greengenes ``[Ruminococcus]`` is not *Ruminococcus*, and a member genus named in two
families of the table is reported in ``uns[key]["notes"]`` instead of guessed).  MetaPhlAn
clade tables (all ranks) are scored on their species rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import RANKS, record
from .._errors import DataValueError
from .._taxonomy import is_placeholder
from ..taxonomy._match import _FeatureIndex, match_taxa
from ._match import divide_rows, feature_lineages, leaf_rank, read_data_table, relative_matrix

__all__ = [
    "INDEX_NAMES",
    "butyrate_capacity",
    "endotoxin_potential",
    "gaba_balance",
    "guild_table",
    "gut_brain_indices",
    "mucin_degrader_load",
    "pain_marker_panel",
    "scfa_capacity",
    "tryptophan_metabolisers",
]

_MATCH_RANKS = ("species", "genus", "family", "order", "class", "phylum", "domain")


@dataclass(frozen=True)
class _IndexSpec:
    name: str
    guilds: tuple[str, ...]
    description: str
    closed_world: bool = True
    signs: tuple[float, ...] = ()  # per guild multiplier (default +1)


_SPECS: dict[str, _IndexSpec] = {
    s.name: s
    for s in (
        _IndexSpec("butyrate_capacity", ("butyrate_producer",),
                   "relative abundance of butyrate-producing taxa"),
        _IndexSpec("scfa_capacity", ("butyrate_producer", "propionate_producer"),
                   "relative abundance of butyrate- or propionate-producing taxa"),
        _IndexSpec("endotoxin_potential", ("lps_potency",),
                   "LPS-potency-weighted relative abundance of LPS-bearing taxa", closed_world=False),
        _IndexSpec("mucin_degrader_load", ("mucin_degrader",),
                   "relative abundance of mucin-degrading taxa"),
        _IndexSpec("gaba_balance", ("gaba_producer", "gaba_consumer"),
                   "GABA producers minus GABA consumers (relative abundance)", signs=(1.0, -1.0)),
        _IndexSpec("tryptophan_metabolisers", ("tryptophan_metaboliser",),
                   "relative abundance of tryptophan/indole-metabolising taxa"),
        _IndexSpec("pain_marker_panel", ("pain_marker",),
                   "direction-weighted relative abundance of pain-associated taxa "
                   "(+ increased, - decreased in pain)"),
    )
}

#: Names accepted by :func:`gut_brain_indices` and ``gutbrain index``.
INDEX_NAMES: tuple[str, ...] = tuple(_SPECS)

# Data-weighted complement (tl/data/butyrate_potential.tsv, see gutbrain.tl._butyrate); computed on
# request (gut_brain_indices(indices=["butyrate_potential"])), not part of the default INDEX_NAMES.
_SPECS["butyrate_potential"] = _IndexSpec(
    "butyrate_potential", ("butyrate_potential",),
    "relative abundance of butyrate producers weighted by their fit to measured faecal butyrate")
_EXTRA_TABLES: tuple[str, ...] = ("butyrate_potential.tsv",)

COVERAGE_DEFINITION = (
    "coverage = fraction of the sample's abundance whose membership is known: features that matched "
    "an entry of the index, plus features assigned at the closed-world rank (genus by default) that "
    "matched no entry (known non-members); features unassigned at that rank and taxa listed as "
    "unclassified are not covered. endotoxin_potential classifies through its (mostly phylum-level) "
    "entries only."
)


def guild_table(*, include_unverified: bool = False) -> pd.DataFrame:
    """Return the membership table ``tl/data/guilds.tsv`` (weights as floats, NaN = unclassified)."""
    df = pd.concat([read_data_table("guilds.tsv"), *(read_data_table(f) for f in _EXTRA_TABLES)],
                   ignore_index=True).fillna("")
    df["weight"] = pd.to_numeric(df["weight"].replace("", np.nan))
    if not include_unverified:
        df = df[df["status"] != "unverified"]
    df["rodent"] = df["host"].str.contains("Rattus|Mus musculus|rat faeces", case=False, regex=True)
    return df.reset_index(drop=True)


def _leaf_mask(lin: pd.DataFrame, clade_table: bool) -> np.ndarray:
    """Features to score: for MetaPhlAn tables of every rank, the species rows only."""
    ranks = lin["taxon_rank"].astype(str).to_numpy()
    distinct = {r for r in ranks if r in RANKS}
    if not clade_table or len(distinct) <= 1:
        return np.ones(len(lin), dtype=bool)
    target = "species" if "species" in distinct else leaf_rank(ranks)
    return ranks == target


def _entries(spec: _IndexSpec, table: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for i, g in enumerate(spec.guilds):
        sub = table[table["guild"] == g].copy()
        sign = spec.signs[i] if spec.signs else 1.0
        sub["weight"] = sub["weight"] * sign
        parts.append(sub)
    return pd.concat(parts, ignore_index=True)


def _resolve(lin: pd.DataFrame, entries: pd.DataFrame, *, closed_rank: str | None,
             max_rank: str, index: _FeatureIndex | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per feature: matched entry index (-1 none), whether its membership is known, notes.

    Entries (and their aliases) are matched by :func:`gutbrain.taxonomy.match_taxa`; a
    feature within several entries takes the deepest one (a species entry over its genus).
    ``index`` is the features' match index built once for all indices (the same matches,
    without rebuilding the keys of 19,000 OTUs per index).
    """
    allowed = {r for r in _MATCH_RANKS if RANKS.index(r) <= RANKS.index(max_rank)}
    ref: list[dict[str, str]] = []
    owner: list[int] = []
    for i, (taxon, rank, aliases) in enumerate(
        zip(entries["taxon"], entries["rank"], entries["aliases"], strict=True)
    ):
        if rank not in allowed:
            continue
        for n in [taxon, *[a for a in str(aliases).split("|") if a]]:
            ref.append({"name": n, "rank": rank})
            owner.append(i)
    n = len(lin)
    best = np.full(n, -1)
    best_depth = np.full(n, -1)
    notes: list[str] = []
    if ref:
        m = match_taxa(index if index is not None else lin[list(RANKS)], pd.DataFrame(ref))
        notes = list(m.attrs["notes"])
        ranks = entries["rank"].to_numpy()
        for j, ix in enumerate(m["feature_index"]):
            e = owner[j]
            d = RANKS.index(ranks[e])
            for f in ix:
                if d > best_depth[f] or (d == best_depth[f] and e < best[f]):
                    best[f], best_depth[f] = e, d
    weights = entries["weight"].to_numpy(dtype=float)
    known = np.zeros(n, dtype=bool)
    hit = best >= 0
    known[hit] = np.isfinite(weights[best[hit]])
    if closed_rank is not None and closed_rank in lin.columns:
        names = lin[closed_rank].astype(str).to_numpy()
        named = np.array([bool(v) and not is_placeholder(v) for v in names], dtype=bool)
        known[~hit] = named[~hit]
    return best, known, notes


def _compute(adata: AnnData, names: Sequence[str], *, rank: str, layer: str | None,
             include_unverified: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    unknown = [n for n in names if n not in _SPECS]
    if unknown:
        raise DataValueError(f"unknown index {unknown[0]!r}",
                             fix=f"use one of {', '.join(INDEX_NAMES)}")
    if rank not in {"auto", "genus", "species", "family"}:
        raise DataValueError(f"unsupported rank {rank!r}", fix="use 'auto', 'genus', 'species' or 'family'")
    lin_all = feature_lineages(adata)
    leaf = _leaf_mask(lin_all, "clade_rank" in adata.var.columns)
    P = relative_matrix(adata, layer=layer)[:, leaf]
    if not leaf.all():  # clade table: shares of the species rows, not of the sum over every rank
        P = divide_rows(P, P.sum(axis=1))
    lin = lin_all.iloc[np.flatnonzero(leaf)]
    has_species = (lin["species"].astype(str) != "").any()
    has_genus = (lin["genus"].astype(str) != "").any()
    if not has_genus and not has_species:
        raise DataValueError(
            "no genus or species names found in the table's taxonomy",
            fix="attach a taxonomy (--taxonomy) or give a table whose features are taxa",
        )
    if rank == "auto":
        closed_rank = "genus" if has_genus else "species"
        max_rank = "species"
    else:
        closed_rank = rank
        max_rank = "species" if rank == "species" else "genus" if rank == "genus" else "family"
    table = guild_table(include_unverified=include_unverified)
    samples = np.asarray(adata.obs_names)
    wide: dict[str, np.ndarray] = {}
    contrib_parts: list[pd.DataFrame] = []
    cite_parts: list[pd.DataFrame] = []
    notes: list[str] = []
    index = _FeatureIndex.build(lin[list(RANKS)])
    for name in names:
        spec = _SPECS[name]
        entries = _entries(spec, table)
        entry, known, found = _resolve(lin, entries,
                                       closed_rank=closed_rank if spec.closed_world else None,
                                       max_rank=max_rank, index=index)
        notes.extend(f"{name}: {t}" for t in found)
        w = entries["weight"].to_numpy(dtype=float)
        m = entry >= 0
        E = sp.csr_matrix((np.ones(m.sum()), (np.flatnonzero(m), entry[m])),
                          shape=(P.shape[1], len(entries)))
        shares = np.asarray(E.T.dot(P.T).T)  # samples × entries
        wz = np.nan_to_num(w, nan=0.0)
        value = shares @ wz
        coverage = P @ known.astype(float)
        wide[f"gbi_{name}"] = value
        wide[f"gbi_{name}_coverage"] = coverage
        if name == "gaba_balance":
            g = entries["guild"].to_numpy()
            wide["gbi_gaba_balance_producers"] = shares[:, g == "gaba_producer"].sum(axis=1)
            wide["gbi_gaba_balance_consumers"] = shares[:, g == "gaba_consumer"].sum(axis=1)
        if name == "pain_marker_panel":
            human = ~entries["rodent"].to_numpy()
            wide["gbi_pain_marker_panel_human"] = shares[:, human] @ wz[human]
            wide["gbi_pain_marker_panel_rodent"] = shares[:, ~human] @ wz[~human]
        s_i, e_i = np.nonzero(shares > 0)
        contrib_parts.append(pd.DataFrame({
            "sample": samples[s_i],
            "index": name,
            "taxon": entries["taxon"].to_numpy()[e_i],
            "rank": entries["rank"].to_numpy()[e_i],
            "share": shares[s_i, e_i],
            "weight": w[e_i],
            "contribution": shares[s_i, e_i] * wz[e_i],
            "host": entries["host"].to_numpy()[e_i],
            "rodent_derived": entries["rodent"].to_numpy()[e_i],
            "doi": entries["doi"].to_numpy()[e_i],
        }))
        used = entries.copy()
        used.insert(0, "index", name)
        cite_parts.append(used[["index", "guild", "taxon", "rank", "role", "weight", "host",
                                "rodent", "citation", "doi", "status", "verification"]])
    wide_df = pd.DataFrame(wide, index=adata.obs_names)
    contrib = pd.concat(contrib_parts, ignore_index=True) if contrib_parts else pd.DataFrame()
    cites = pd.concat(cite_parts, ignore_index=True)
    cites.attrs["notes"] = notes
    return wide_df, contrib, cites


def gut_brain_indices(
    adata: AnnData,
    *,
    indices: Iterable[str] | None = None,
    rank: str = "auto",
    layer: str | None = None,
    include_unverified: bool = False,
    key_added: str = "gut_brain_indices",
) -> pd.DataFrame:
    """Compute gut–brain indices per sample (value, coverage, contributing taxa, citations).

    Parameters
    ----------
    adata
        Samples × taxa (counts, proportions or percentages) with lineage columns in ``var``
        (16S genus/ASV tables with a taxonomy, or MetaPhlAn species / clade tables).
    indices
        Names from :data:`INDEX_NAMES`; all by default.
    rank
        Closed-world rank (see module docstring): ``"auto"`` (genus when genus names exist),
        ``"genus"``, ``"species"`` or ``"family"``; entries deeper than it are ignored.
    layer
        Use ``layers[layer]`` instead of ``X``.
    include_unverified
        Also use membership rows whose status is ``unverified`` (none are shipped by default).
    key_added
        ``uns`` key for the tables.

    Returns
    -------
    pandas.DataFrame
        Samples × ``gbi_<index>``, ``gbi_<index>_coverage`` (+ index-specific columns).

    Notes
    -----
    Sets the following fields:

    ``adata.obs["gbi_<index>"]``, ``adata.obs["gbi_<index>_coverage"]``
        Every column of the returned frame (``gaba_balance`` adds ``_producers`` and
        ``_consumers``; ``pain_marker_panel`` adds ``_human`` and ``_rodent``).
    ``adata.uns[key_added]``
        ``{"params", "contributions" (long: sample, index, taxon, rank, share, weight,
        contribution, host, rodent_derived, doi), "citations" (membership rows used, with
        host, DOI and verification), "coverage_definition", "notes"}`` (``notes``: homonyms
        and GTDB-suffixed genera the matching left out).

    Rodent-derived rows are flagged in ``contributions`` and ``citations``; they are
    findings in rats or mice, not human facts.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=60)
    >>> wide = gb.tl.gut_brain_indices(adata, indices=["butyrate_capacity"])
    >>> list(wide.columns)
    ['gbi_butyrate_capacity', 'gbi_butyrate_capacity_coverage']
    >>> bool((adata.obs["gbi_butyrate_capacity"] >= 0).all())
    True
    """
    names = list(INDEX_NAMES if indices is None else indices)
    wide, contrib, cites = _compute(adata, names, rank=rank, layer=layer,
                                    include_unverified=include_unverified)
    for col in wide.columns:
        adata.obs[col] = wide[col].to_numpy()
    record(
        adata,
        key_added,
        params={"indices": names, "rank": rank, "layer": layer,
                "include_unverified": include_unverified},
        references=sorted({d for d in cites["doi"] if d}),
        contributions=contrib,
        citations=cites,
        coverage_definition=COVERAGE_DEFINITION,
        notes=list(cites.attrs.get("notes", [])),
    )
    return wide


def _single(name: str):
    def fn(adata: AnnData, *, rank: str = "auto", layer: str | None = None,
           key_added: str | None = None) -> pd.DataFrame:
        wide = gut_brain_indices(adata, indices=[name], rank=rank, layer=layer,
                                 key_added=key_added or f"gbi_{name}")
        out = wide.rename(columns={f"gbi_{name}": "value", f"gbi_{name}_coverage": "coverage"})
        out.columns = [c.replace(f"gbi_{name}_", "") for c in out.columns]
        entry = adata.uns[key_added or f"gbi_{name}"]
        out.attrs["contributions"] = entry["contributions"]
        out.attrs["citations"] = entry["citations"]
        return out

    spec = _SPECS[name]
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"""{spec.description.capitalize()} per sample (gut–brain index ``{name}``).

    Parameters
    ----------
    adata
        Samples × taxa with lineage columns in ``var`` (see :func:`gut_brain_indices`).
    rank
        Closed-world rank (``"auto"``, ``"genus"``, ``"species"``, ``"family"``).
    layer
        Use ``layers[layer]`` instead of ``X``.
    key_added
        ``uns`` key (default ``"gbi_{name}"``).

    Returns
    -------
    pandas.DataFrame
        Per sample ``value`` and ``coverage`` (+ index-specific columns); ``attrs`` hold
        ``contributions`` (contributing taxa and shares) and ``citations``.

    Notes
    -----
    Sets the following fields:

    ``adata.obs["gbi_{name}"]``, ``adata.obs["gbi_{name}_coverage"]``
        Value and coverage per sample (+ index-specific columns).
    ``adata.uns["gbi_{name}"]``
        (or ``uns[key_added]``) As :func:`gut_brain_indices`: ``params``, ``contributions``, ``citations``,
        ``coverage_definition``.
    """
    return fn


butyrate_capacity = _single("butyrate_capacity")
scfa_capacity = _single("scfa_capacity")
endotoxin_potential = _single("endotoxin_potential")
mucin_degrader_load = _single("mucin_degrader_load")
gaba_balance = _single("gaba_balance")
tryptophan_metabolisers = _single("tryptophan_metabolisers")
pain_marker_panel = _single("pain_marker_panel")
