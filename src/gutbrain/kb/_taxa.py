"""Taxonomy reconciliation: table feature names (any naming) → evidence taxa.

Matching is rank-aware and tried in this order:

1. NCBI taxid (when the input carries one);
2. exact current name at the same rank;
3. synonym at the same rank, from the evidence ``taxon`` table's ``synonyms`` column
   (the names each evidence taxon was recorded under, e.g. Ruminococcaceae →
   Oscillospiraceae);
4. the current name from :func:`gutbrain.pp.canonical_name` (gutbrain's one synonym
   table, ``gutbrain/pp/data/synonyms.tsv``: *Lactobacillus fermentum* →
   *Limosilactobacillus fermentum*, Proteobacteria → Pseudomonadota, …);
5. GTDB placeholder suffixes removed (``Ruminococcus_B`` → *Ruminococcus*);
6. for a species without evidence, its genus (``match="genus_of_species"``).

Names are parsed with :func:`gutbrain._taxonomy.parse_lineage` (Greengenes, SILVA,
GTDB and MetaPhlAn lineages) and cleaned with :func:`gutbrain._taxonomy.normalize_name`.
The 2020 *Lactobacillus* split (Zheng 2020, doi:10.1099/ijsem.0.004107) is handled
both ways by :func:`related_taxa`: a query for *Limosilactobacillus* also returns
rows recorded under *Lactobacillus* in its pre-2020, broad sense, and vice versa.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .._core import RANKS
from .._taxonomy import normalize_name, parse_lineage
from ..pp._taxonomy import canonical_name

__all__ = ["TaxonIndex", "guess_rank", "parse_name", "reconcile"]

_GTDB_SUFFIX = re.compile(r"^([A-Z][a-z]+)_[A-Z]{1,3}$")
_RANK_ORDER = {r: i for i, r in enumerate(RANKS)}


def guess_rank(name: str) -> str:
    """Guess the rank of a bare name from its form (binomial, -aceae, -ales …)."""
    n = name.strip()
    if " " in n:
        return "species"
    low = n.lower()
    if low.endswith("aceae"):
        return "family"
    if low.endswith("ales"):
        return "order"
    if low.endswith(("ota", "otes")):
        return "phylum"
    return "genus"


def parse_name(text: Any) -> tuple[str, str, int | None]:
    """Return ``(name, rank, taxid)`` for a lineage string, bare name or NCBI taxid."""
    if isinstance(text, int) or (isinstance(text, str) and text.strip().isdigit()):
        return "", "", int(text)
    s = "" if text is None else str(text).strip()
    if not s:
        return "", "", None
    if re.search(r"(^|[;|])\s*([kdpcofgst]__|D_\d+__)", s) or ";" in s or "|" in s:
        lin = parse_lineage(s)
        for rank in ("strain", "species", "genus", "family", "order", "class", "phylum", "domain"):
            if lin.get(rank):
                if rank == "strain":
                    continue
                return lin[rank], rank, None
        return "", "", None
    rank = guess_rank(s)
    name = normalize_name(s, rank=rank)
    return name, (guess_rank(name) if name else ""), None


def _canonical(name: str) -> str:
    """Current name of ``name`` (:func:`gutbrain.pp.canonical_name`); the name itself if none."""
    return canonical_name(name) or name


@dataclass
class TaxonIndex:
    """Lookup tables built from the evidence ``taxon`` table."""

    by_name: dict[tuple[str, str], str]
    by_synonym: dict[tuple[str, str], str]
    by_taxid: dict[int, str]
    names: dict[str, tuple[str, str]]
    split_from: dict[str, str]
    genus_members: dict[str, list[str]]

    @classmethod
    def from_frame(cls, taxa: pd.DataFrame) -> TaxonIndex:
        by_name: dict[tuple[str, str], str] = {}
        by_syn: dict[tuple[str, str], str] = {}
        by_taxid: dict[int, str] = {}
        names: dict[str, tuple[str, str]] = {}
        split: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        for r in taxa.itertuples(index=False):
            tid, name, rank = r.taxon_id, str(r.name), str(r.rank)
            names[tid] = (name, rank)
            by_name.setdefault((name.lower(), rank), tid)
            for syn in str(r.synonyms or "").split("|"):
                if syn.strip():
                    by_syn.setdefault((syn.strip().lower(), rank), tid)
            if r.ncbi_taxid is not None and not pd.isna(r.ncbi_taxid):
                by_taxid.setdefault(int(r.ncbi_taxid), tid)
            if r.split_from is not None and not pd.isna(r.split_from) and r.split_from:
                split[tid] = str(r.split_from)
            if rank in ("species", "strain") and not name.startswith("["):
                members.setdefault(name.split()[0].lower(), []).append(tid)
        return cls(by_name, by_syn, by_taxid, names, split, members)

    def members_of_genus(self, taxon_id: str) -> dict[str, str]:
        """Species and strain taxa named within a genus: ``{taxon_id: "species of genus"}``.

        Membership is by name (the first word of a binomial); bracketed names
        (``[Ruminococcus] gnavus``) belong to no genus of that name.
        """
        name, rank = self.names[taxon_id]
        if rank != "genus":
            return {}
        return {t: f"{self.names[t][1]} of genus" for t in self.genus_members.get(name.lower(), [])}

    def related_taxa(self, taxon_id: str) -> dict[str, str]:
        """Taxa whose rows also speak for ``taxon_id``: ``{taxon_id: how}``.

        A genus split from *Lactobacillus* in 2020 also gets the rows of
        *Lactobacillus* (``"pre-2020 genus"``) and *Lactobacillus* gets the rows of
        the genera split from it (``"split genus"``).
        """
        out = {taxon_id: "exact"}
        parent = self.split_from.get(taxon_id)
        if parent:
            out[parent] = "pre-2020 genus"
        for child, par in self.split_from.items():
            if par == taxon_id:
                out[child] = "split genus"
        return out

    def match_one(self, text: Any) -> dict[str, Any]:
        """Match one feature name; see the module docstring for the order."""
        name, rank, taxid = parse_name(text)
        rec: dict[str, Any] = {
            "input": text, "name": name, "rank": rank, "taxon_id": None,
            "matched_name": None, "match": "none",
        }
        if taxid is not None and taxid in self.by_taxid:
            tid = self.by_taxid[taxid]
            rec.update(taxon_id=tid, matched_name=self.names[tid][0], match="taxid",
                       rank=self.names[tid][1])
            return rec
        if not name:
            return rec
        tries: list[tuple[str, str, str]] = [(name, rank, "exact")]
        canon = _canonical(name)
        if canon.lower() != name.lower():
            tries.append((canon, rank, "canonical_name"))
        m = _GTDB_SUFFIX.match(name)
        if m:
            tries.append((m.group(1), rank, "gtdb_suffix"))
        for cand, rk, how in tries:
            key = (cand.lower(), rk)
            tid = self.by_name.get(key)
            if tid is None and key in self.by_synonym:
                tid, how = self.by_synonym[key], ("synonym" if how == "exact" else how)
            if tid is not None:
                rec.update(taxon_id=tid, matched_name=self.names[tid][0], match=how)
                return rec
        if rank == "species":
            genus = name.split()[0]
            sub = self.match_one(genus)
            if sub["taxon_id"] is not None:
                rec.update(taxon_id=sub["taxon_id"], matched_name=sub["matched_name"],
                           match="genus_of_species")
        return rec


def reconcile(names: Iterable[Any] | Any, *, kb: Any = None) -> pd.DataFrame:
    """Match feature names (or an AnnData's ``var``) to evidence taxa.

    Parameters
    ----------
    names
        Lineage strings (Greengenes, SILVA, GTDB, MetaPhlAn), bare names, NCBI
        taxids, or an AnnData (its ``var["taxonomy"]`` when present, else the
        deepest filled rank column, else ``var_names``).
    kb
        A :class:`~gutbrain.kb.KnowledgeBase`; default :func:`gutbrain.kb.load`.

    Returns
    -------
    pandas.DataFrame
        One row per input: ``input, name, rank, taxon_id, matched_name, match``
        (``match`` is ``none`` for unmatched names), plus ``n_observations``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> df = gb.kb.reconcile(["g__Butyricimonas", "Lactobacillus fermentum", "Unknownia"])
    >>> list(df["match"])
    ['exact', 'synonym', 'none']
    """
    from ._store import load

    kb = load() if kb is None else kb
    items = _inputs(names)
    index = taxon_index(kb)
    rows = [index.match_one(x) for x in items]
    df = pd.DataFrame(rows, columns=["input", "name", "rank", "taxon_id", "matched_name", "match"])
    counts = kb.sql("SELECT taxon_id, COUNT(*) AS n FROM observation GROUP BY taxon_id")
    cmap = dict(zip(counts["taxon_id"], counts["n"], strict=False))
    df["n_observations"] = [int(cmap.get(t, 0)) if t else 0 for t in df["taxon_id"]]
    return df


def taxon_index(kb: Any) -> TaxonIndex:
    """Cached :class:`TaxonIndex` of a knowledge base."""
    idx = getattr(kb, "_taxon_index", None)
    if idx is None:
        idx = TaxonIndex.from_frame(kb.table("taxon"))
        kb._taxon_index = idx
    return idx


def _inputs(names: Any) -> list[Any]:
    if hasattr(names, "var") and hasattr(names, "var_names"):
        var = names.var
        if "taxonomy" in var.columns and var["taxonomy"].astype(str).str.len().gt(0).any():
            return list(var["taxonomy"].astype(str))
        ranks = [r for r in ("species", "genus", "family", "order", "class", "phylum") if r in var]
        if ranks:
            out = []
            for _, row in var.iterrows():
                val = next((row[r] for r in ranks if str(row[r] or "")), "")
                out.append(val)
            return out
        return list(map(str, names.var_names))
    if isinstance(names, (str, int)):
        return [names]
    return list(names)
