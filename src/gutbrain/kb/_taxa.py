"""Taxonomy reconciliation: table feature names (any naming) → evidence taxa.

Matching goes through :func:`gutbrain.taxonomy.match_taxa`, gutbrain's one taxon-matching
implementation (match keys, ``docs/taxonomy.md``), tried in this order:

1. NCBI taxid (when the input is one);
2. ``exact`` — the evidence taxon's current name at the same rank;
3. ``synonym`` — a name the evidence taxon was recorded under (the ``taxon`` table's
   ``synonyms`` column, e.g. Ruminococcaceae → Oscillospiraceae) or its current name from
   gutbrain's synonym table (``gutbrain/pp/data/synonyms.tsv``: *Lactobacillus fermentum* →
   *Limosilactobacillus fermentum*, Proteobacteria → Pseudomonadota, …);
4. ``gtdb_suffix`` — a GTDB-suffixed genus (``Blautia_A``) only when it shares its family
   with the evidence genus (the family of the evidence taxon's NCBI taxid, from
   :func:`gutbrain.taxonomy.ncbi_lineage`);
5. ``genus_of_species`` — for a species without evidence, its genus.

Names keep their source spelling: Greengenes ``g__[Ruminococcus]`` (Lachnospiraceae) does
not match evidence on *Ruminococcus*; placeholders (``Lachnospiraceae_unclassified``) are
looked up at their nearest named rank.  When the inputs name one genus in two families (a
homonym), the family of the evidence taxon chooses, and without one nothing is matched:
``match == "ambiguous"`` and ``note`` says why.  The 2020 *Lactobacillus* split (Zheng 2020,
doi:10.1099/ijsem.0.004107) is handled both ways by :func:`related_taxa`: a query for
*Limosilactobacillus* also returns rows recorded under *Lactobacillus* in its pre-2020,
broad sense, and vice versa.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .._core import RANKS
from .._taxonomy import is_placeholder, normalize_name, parse_lineage
from ..pp._taxonomy import canonical_name
from ..taxonomy._keys import _base, name_keys
from ..taxonomy._match import _GTDB_SUFFIX, _FeatureIndex, match_taxa, reference_frame

__all__ = ["TaxonIndex", "guess_rank", "parse_name", "reconcile"]

_RANK_ORDER = {r: i for i, r in enumerate(RANKS)}
_PRIORITY = {"taxid": 0, "exact": 1, "synonym": 2, "gtdb_suffix": 3, "genus_of_species": 4}
_SUFFIX_WORD = re.compile(r"[a-z]{1,3}")  # GTDB / RDP genus suffix in a key ("blautia a")
_MEMO_SIZE = 100_000


def guess_rank(name: str) -> str:
    """Guess the rank of a bare name from its form (binomial, -aceae, -ales …)."""
    n = name.strip()
    if " " in n and not n.lower().endswith(" group"):
        return "species"
    low = n.lower()
    if low.endswith("aceae"):
        return "family"
    if low.endswith("ales"):
        return "order"
    if low.endswith(("ota", "otes")):
        return "phylum"
    return "genus"


def _lineage_like(s: str) -> bool:
    return bool(re.search(r"(^|[;|])\s*([kdpcofgst]__|D_\d+__)", s) or ";" in s or "|" in s)


def parse_name(text: Any) -> tuple[str, str, int | None]:
    """Return ``(name, rank, taxid)`` for a lineage string, bare name or NCBI taxid.

    The name is that of the deepest *named* rank (placeholders such as
    ``Lachnospiraceae_unclassified`` are skipped); Greengenes brackets are kept.
    """
    if isinstance(text, int) or (isinstance(text, str) and text.strip().isdigit()):
        return "", "", int(text)
    s = "" if text is None else str(text).strip()
    if not s:
        return "", "", None
    if _lineage_like(s):
        lin = parse_lineage(s)
        for rank in ("species", "genus", "family", "order", "class", "phylum", "domain"):
            if lin.get(rank) and not is_placeholder(lin[rank]):
                return lin[rank], rank, None
        return "", "", None
    rank = guess_rank(s)
    name = normalize_name(s, rank=rank)
    return name, (guess_rank(name) if name else ""), None


def _feature_row(text: Any) -> dict[str, str]:
    """Rank columns of one input, cut below its deepest named rank."""
    name, rank, _ = parse_name(text)
    row = dict.fromkeys(RANKS, "")
    if not rank:
        return row
    s = str(text).strip()
    if _lineage_like(s):
        lin = parse_lineage(s)
        for r in RANKS[: RANKS.index(rank) + 1]:
            row[r] = lin.get(r, "")
    else:
        row[rank] = name
        if rank == "species":
            row["genus"] = name.split(" ")[0]
    return row


def _canonical(name: str) -> str:
    """Current name of ``name`` (:func:`gutbrain.pp.canonical_name`); the name itself if none."""
    return canonical_name(name) or name


@dataclass
class TaxonIndex:
    """Lookup tables built from the evidence ``taxon`` table."""

    by_taxid: dict[int, str]
    names: dict[str, tuple[str, str]]
    split_from: dict[str, str]
    genus_members: dict[str, list[str]] = field(default_factory=dict)
    reference: pd.DataFrame = field(default_factory=pd.DataFrame)
    # lazily built: probe → reference rows (see _candidates) and single-input results
    _probes: dict[tuple[str, str], list[int]] | None = field(default=None, init=False, repr=False,
                                                              compare=False)
    _always: list[int] = field(default_factory=list, init=False, repr=False, compare=False)
    _memo: dict[Any, dict[str, Any]] = field(default_factory=dict, init=False, repr=False,
                                             compare=False)

    @classmethod
    def from_frame(cls, taxa: pd.DataFrame) -> TaxonIndex:
        from ..taxonomy._ncbi import ncbi_lineage

        by_taxid: dict[int, str] = {}
        names: dict[str, tuple[str, str]] = {}
        split: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        ids = [None if r is None or pd.isna(r) else int(r) for r in taxa["ncbi_taxid"]]
        fams = ncbi_lineage(ids)["family"].tolist() if len(ids) else []
        ref: list[dict[str, str]] = []
        for r, fam in zip(taxa.itertuples(index=False), fams, strict=True):
            tid, name, rank = r.taxon_id, str(r.name), str(r.rank)
            names[tid] = (name, rank)
            fam = fam if rank == "genus" else ""
            ref.append({"name": name, "rank": rank, "family": fam, "taxon_id": tid,
                        "how": "exact"})
            for syn in str(r.synonyms or "").split("|"):
                if syn.strip():
                    ref.append({"name": syn.strip(), "rank": rank, "family": fam,
                                "taxon_id": tid, "how": "synonym"})
            if r.ncbi_taxid is not None and not pd.isna(r.ncbi_taxid):
                by_taxid.setdefault(int(r.ncbi_taxid), tid)
            if r.split_from is not None and not pd.isna(r.split_from) and r.split_from:
                split[tid] = str(r.split_from)
            if rank in ("species", "strain") and not name.startswith("["):
                members.setdefault(name.split()[0].lower(), []).append(tid)
        reference = pd.DataFrame(ref, columns=["name", "rank", "family", "taxon_id", "how"])
        return cls(by_taxid, names, split, members, reference[reference["rank"].isin(RANKS)])

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

    def match_many(self, items: list[Any]) -> list[dict[str, Any]]:
        """Match many feature names at once (homonyms among them are detected)."""
        return self._match(items)[0]

    def _match(self, items: list[Any]) -> tuple[list[dict[str, Any]], dict[int, set[int]]]:
        """:meth:`match_many`, and the inputs that could match each candidate reference row."""
        recs: list[dict[str, Any]] = []
        rows: list[dict[str, str]] = []
        for x in items:
            name, rank, taxid = parse_name(x)
            rec = {"input": x, "name": name, "rank": rank, "taxon_id": None,
                   "matched_name": None, "match": "none", "note": ""}
            if taxid is not None and taxid in self.by_taxid:
                tid = self.by_taxid[taxid]
                rec.update(taxon_id=tid, matched_name=self.names[tid][0], match="taxid",
                           rank=self.names[tid][1])
            recs.append(rec)
            rows.append(_feature_row(x) if taxid is None else dict.fromkeys(RANKS, ""))
        if not len(self.reference) or not items:
            return recs, {}
        feats = pd.DataFrame(rows, columns=list(RANKS), index=[f"f{i}" for i in range(len(rows))])
        fidx = _FeatureIndex.build(feats)
        owners = self._candidates(fidx)
        cand_rows = sorted(owners)
        m = match_taxa(fidx, self.reference.iloc[cand_rows][["name", "rank", "family"]])
        best: dict[int, tuple[int, int, str, str]] = {}  # feature → (rank depth, priority, tid, how)
        ambiguous: dict[int, str] = {}
        for e, (ix, how, note) in zip(cand_rows, zip(m["feature_index"], m["match"], m["note"],
                                                     strict=True), strict=True):
            ref = self.reference.iloc[e]
            if how == "ambiguous":
                for i, row in enumerate(rows):
                    if _base(row.get("genus", ""), "genus") == _base(ref["name"], "genus"):
                        ambiguous[i] = note
                continue
            for f in ix:
                frank = recs[f]["rank"]
                label = ("gtdb_suffix" if how == "gtdb_suffix" else
                         "genus_of_species" if frank == "species" and ref["rank"] != "species"
                         else "exact" if how in ("key", "name") and ref["how"] == "exact"
                         else "synonym")
                cand = (_RANK_ORDER[ref["rank"]], -_PRIORITY[label], ref["taxon_id"], label)
                if f not in best or cand[:2] > best[f][:2]:
                    best[f] = cand
        for f, rec in enumerate(recs):
            if rec["match"] == "taxid":
                continue
            if f in best:
                _, _, tid, label = best[f]
                if label == "genus_of_species" or _RANK_ORDER.get(rec["rank"], -1) == \
                        _RANK_ORDER[self.names[tid][1]]:
                    rec.update(taxon_id=tid, matched_name=self.names[tid][0], match=label)
            elif f in ambiguous:
                rec.update(match="ambiguous", note=ambiguous[f])
        return recs, owners

    def match_one(self, text: Any) -> dict[str, Any]:
        """Match one feature name; see the module docstring for the order."""
        key = _memo_key(text)
        rec = self._memo.get(key) if key is not None else None
        if rec is None:
            rec = self.match_many([text])[0]
            self._remember(key, rec)
        return dict(rec)

    def match_each(self, items: list[Any]) -> list[dict[str, Any]]:
        """``[match_one(x) for x in items]``: each name matched on its own (no homonym check).

        The names are matched together, and a name's result is kept when no evidence taxon
        it could match could also match another of the names (then the other names cannot
        change its result); the others are matched one by one.
        """
        todo: dict[Any, Any] = {}
        for x in items:
            key = _memo_key(x)
            if key is not None and key not in self._memo:
                todo.setdefault(key, x)
        if len(todo) > 1:
            keys, texts = list(todo), list(todo.values())
            recs, owners = self._match(texts)
            shared = {f for fs in owners.values() if len(fs) > 1 for f in fs}
            for f, (key, rec) in enumerate(zip(keys, recs, strict=True)):
                if f not in shared:
                    self._remember(key, rec)
        return [self.match_one(x) for x in items]

    def _remember(self, key: Any, rec: dict[str, Any]) -> None:
        if key is None:
            return
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = rec

    def _candidates(self, fidx: _FeatureIndex) -> dict[int, set[int]]:
        """Rows of :attr:`reference` that can match a feature of ``fidx``: ``{row: features}``.

        :func:`~gutbrain.taxonomy.match_taxa` finds the features of a named reference taxon
        through the features' name keys at its rank, plus (genera) the GTDB-suffixed or
        unsuffixed forms of its name; a reference taxon none of whose keys is a key of a
        feature matches nothing and leaves no note.  So matching only the reference rows
        that share a key with the features gives the same result as matching all of them,
        without scanning the few thousand evidence taxa for every lookup.
        """
        if self._probes is None:
            self._build_probes()
        probes = self._probes or {}
        everyone = set(range(len(fidx.names)))
        owners: dict[int, set[int]] = {pos: everyone for pos in self._always}
        for rank in RANKS:
            fidx._rank_data(rank)
            for k, feats in fidx.by_name[rank].items():
                rows = list(probes.get((rank, k), ()))
                if rank == "genus" and " " in k:
                    stem, suffix = k.rsplit(" ", 1)
                    if _SUFFIX_WORD.fullmatch(suffix):
                        rows += probes.get(("genus+suffix", stem), ())
                for pos in rows:
                    owners.setdefault(pos, set()).update(feats)
        return owners

    def _build_probes(self) -> None:
        ref = reference_frame(self.reference[["name", "rank", "family"]])
        probes: dict[tuple[str, str], list[int]] = {}
        always: list[int] = []
        for pos, e in enumerate(ref.itertuples(index=False)):
            r = e.rank
            if r not in RANKS or not (e.name or e.key):
                continue  # match_taxa returns "none" without looking at the features
            if e.key:
                always.append(pos)  # a lineage-keyed reference: matched by key, keep it
                continue
            if is_placeholder(e.name):
                continue  # placeholders match by key only
            keys = set(name_keys(e.name, r))
            for k in keys:
                probes.setdefault((r, k), []).append(pos)
            if r == "genus":
                m = _GTDB_SUFFIX.match(e.name)
                if m:  # suffixed reference: its unsuffixed genus may join
                    probes.setdefault(("genus", _base(m.group(1), "genus")), []).append(pos)
                else:  # unsuffixed reference: suffixed genera of the features may join
                    probes.setdefault(("genus+suffix", _base(e.name, "genus")), []).append(pos)
        self._probes, self._always = probes, always


def _memo_key(text: Any) -> Any:
    """Key of a single-name result (type-qualified: ``1`` and ``"1"`` differ); None if unhashable."""
    try:
        hash(text)
    except TypeError:
        return None
    return (type(text), text)


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
        (``none`` for unmatched names, ``ambiguous`` for a genus the inputs name in two
        families), ``note`` and ``n_observations``.

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
    rows = index.match_many(items)
    df = pd.DataFrame(rows, columns=["input", "name", "rank", "taxon_id", "matched_name", "match",
                                     "note"])
    counts = kb.sql("SELECT taxon_id, COUNT(*) AS n FROM observation GROUP BY taxon_id")
    cmap = dict(zip(counts["taxon_id"], counts["n"], strict=False))
    df["n_observations"] = [int(cmap.get(t, 0)) if t else 0 for t in df["taxon_id"]]
    return df


_INDEXES: dict[str, TaxonIndex] = {}


def taxon_index(kb: Any) -> TaxonIndex:
    """Cached :class:`TaxonIndex` of a knowledge base.

    Built once per process for each distinct ``taxon`` table (knowledge bases loaded from
    different evidence directories usually share it), with the single-name matches it has
    made so far.
    """
    from ._store import derived

    def make() -> TaxonIndex:
        taxa = kb.table("taxon")
        h = hashlib.sha256(",".join(map(str, taxa.columns)).encode())
        h.update(pd.util.hash_pandas_object(taxa, index=False).to_numpy().tobytes())
        key = h.hexdigest()
        idx = _INDEXES.get(key)
        if idx is None:
            idx = TaxonIndex.from_frame(taxa)
            if len(_INDEXES) >= 4:
                _INDEXES.pop(next(iter(_INDEXES)))
            _INDEXES[key] = idx
        return idx

    return derived(kb, "taxon_index", make)


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
