"""One matching function for every reference list: indices, health index, evidence.

:func:`match_taxa` matches reference taxa (GMHI species, GMWI2 clades, health-index genera,
guild members, evidence taxa) to the features of a table by their match keys
(:mod:`gutbrain.taxonomy._keys`).  Rules, in order, for a reference taxon at rank *r*:

1. **key** — a reference given with its lineage (a MetaPhlAn clade, a Greengenes/SILVA/GTDB
   lineage) matches the features whose match key at *r* is the same;
2. **name** / **synonym** — otherwise features whose name at *r* has a name key in common
   with the reference name (the current name from the synonym table counts: ``synonym``).
   When those features belong to more than one family (a homonym such as Greengenes 13_8
   *Clostridium* in Clostridiaceae and Lachnospiraceae), the reference's family chooses;
   without one the reference is **ambiguous**: nothing is matched and a note says why;
3. **gtdb_suffix** — suffixed genera (GTDB ``Ruminococcus_B``, RDP ``Clostridium_XI``) join
   the unsuffixed name
   only when they share its family (the reference's family, else the family of the
   unsuffixed genus in the table); otherwise a note names them;
4. placeholders (``Lachnospiraceae_unclassified``, ``uncultured``) match by key only.

Which features take part: in a MetaPhlAn table of every rank (``var["clade_rank"]``) the
features *of* rank *r* (MetaPhlAn's own estimate); in any other table the features *within*
the reference taxon (ASVs or species of a genus).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._core import RANKS
from .._taxonomy import clean_name, is_placeholder, parse_lineage
from ._keys import _base, _key, name_keys, taxon_table

__all__ = ["match_taxa", "reference_frame"]

_GTDB_SUFFIX = re.compile(r"^(\[?[A-Z][a-z]+\]?)_([A-Z]{1,3})$")
_MATCH_COLUMNS = ["reference", "rank", "name", "family", "key", "match", "n_features",
                  "features", "feature_index", "note"]


def _guess_rank(name: str) -> str:
    n = name.strip()
    if " " in n.replace("_", " ").strip("[] ") and not n.lower().endswith(" group"):
        return "species"
    low = n.lower()
    if low.endswith("aceae"):
        return "family"
    if low.endswith("ales"):
        return "order"
    if low.endswith(("ota", "otes")):
        return "phylum"
    return "genus"


def reference_frame(reference: Any, *, rank: str | None = None) -> pd.DataFrame:
    """Normalise a reference list to ``reference, rank, name, family, lineage`` rows.

    Parameters
    ----------
    reference
        Names (``Faecalibacterium prausnitzii``, ``g__Roseburia``), lineage or clade strings
        (``k__Bacteria|…|g__Gemella``), or a DataFrame with a ``name`` (or ``taxon``) column
        and optional ``rank``, ``family`` and ``lineage`` columns.
    rank
        Rank of bare names without a prefix (default: guessed from the form of the name).

    Examples
    --------
    >>> reference_frame(["g__Roseburia", "Bacteroides vulgatus"])[["rank", "name"]].values.tolist()
    [['genus', 'Roseburia'], ['species', 'Bacteroides vulgatus']]
    """
    rows: list[dict[str, str]] = []
    if isinstance(reference, pd.DataFrame):
        df = reference
        name_col = "name" if "name" in df.columns else "taxon" if "taxon" in df.columns else None
        if name_col is None and "lineage" not in df.columns:
            raise ValueError("the reference frame needs a 'name' (or 'taxon') or 'lineage' column")
        for i in range(len(df)):
            get = df.iloc[i]
            lin = str(get["lineage"]) if "lineage" in df.columns and pd.notna(get["lineage"]) else ""
            rows.append(_entry(
                str(get[name_col]) if name_col else lin,
                str(get["rank"]) if "rank" in df.columns and pd.notna(get["rank"]) else rank,
                family=str(get["family"]) if "family" in df.columns and pd.notna(get["family"]) else "",
                lineage=lin,
            ))
    else:
        items = [reference] if isinstance(reference, str) else list(reference)
        rows = [_entry(str(x), rank) for x in items]
    return pd.DataFrame(rows, columns=["reference", "rank", "name", "family", "lineage", "key"])


def _entry(text: str, rank: str | None, *, family: str = "", lineage: str = "") -> dict[str, str]:
    s = text.strip()
    lin = lineage or (s if re.search(r"(^|[;|])\s*([kdpcofgst]__|D_\d+__)", s) and (
        ";" in s or "|" in s) else "")
    if lin:
        row = parse_lineage(lin)
        r = rank if rank in RANKS else next((q for q in reversed(RANKS) if row[q]), "")
        name = row.get(r, "") if r else ""
        fam = family or row.get("family", "")
        return {"reference": text, "rank": r, "name": name, "family": fam, "lineage": lin,
                "key": _key(row, r) if r else ""}
    m = re.match(r"^([kdpcofgst])__(.*)$", s)
    if m:
        from .._taxonomy import _PREFIX_RANK

        r = _PREFIX_RANK[m.group(1)]
        s = m.group(2)
    else:
        r = rank if rank in RANKS else _guess_rank(s)
    name = clean_name(s, rank=r)
    return {"reference": text, "rank": r, "name": name, "family": family, "lineage": "",
            "key": ""}


@dataclass
class _FeatureIndex:
    """Features' names and keys at each rank, for dictionary lookups."""

    names: list[str]
    table: pd.DataFrame
    eligible: dict[str, np.ndarray] = field(default_factory=dict)
    by_name: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    keys: dict[str, np.ndarray] = field(default_factory=dict)
    bases: dict[str, np.ndarray] = field(default_factory=dict)
    families: np.ndarray | None = None
    clade_table: bool = False

    @classmethod
    def build(cls, features: Any) -> _FeatureIndex:
        table = taxon_table(features)
        var = getattr(features, "var", features)
        clade = isinstance(var, pd.DataFrame) and "clade_rank" in var.columns
        idx = cls(names=[str(n) for n in table.index], table=table, clade_table=clade)
        idx.families = np.array([_base(f, "family") if f and not is_placeholder(f) else ""
                                 for f in table["family"]], dtype=object)
        return idx

    def _rank_data(self, rank: str) -> None:
        if rank in self.keys:
            return
        t = self.table
        own = t["taxon_rank"].to_numpy(dtype=object)
        depth = np.array([RANKS.index(r) if r in RANKS else -1 for r in own])
        r_i = RANKS.index(rank)
        clade = self.clade_table
        if clade and (own == rank).any():
            eligible = own == rank
        elif clade:
            deepest = depth.max()
            eligible = (depth == deepest) & (deepest >= r_i)
        else:
            eligible = depth >= r_i
        values = t[list(RANKS)].to_numpy(dtype=object)
        keys = np.full(len(t), "", dtype=object)
        bases = np.full(len(t), "", dtype=object)
        by_name: dict[str, list[int]] = {}
        cache: dict[tuple[Any, ...], tuple[str, frozenset[str], str]] = {}
        for i in np.flatnonzero(eligible):
            sig = tuple(values[i][: r_i + 1])
            hit = cache.get(sig)
            if hit is None:
                row = dict(zip(RANKS, values[i], strict=True))
                name = row[rank]
                nk = name_keys(name, rank) if name and not is_placeholder(name) else frozenset()
                hit = (_key(row, rank), nk, _base(name, rank))
                cache[sig] = hit
            keys[i] = hit[0]
            bases[i] = hit[2]
            for k in hit[1]:
                by_name.setdefault(k, []).append(int(i))
        self.eligible[rank] = eligible
        self.keys[rank] = keys
        self.bases[rank] = bases
        self.by_name[rank] = by_name


def _family_groups(idx: _FeatureIndex, hits: list[int]) -> dict[str, list[int]]:
    fam = idx.families
    groups: dict[str, list[int]] = {}
    for i in hits:
        groups.setdefault(str(fam[i]), []).append(i)
    return groups


def match_taxa(features: Any, reference: Any, *, rank: str | None = None) -> pd.DataFrame:
    """Match reference taxa to the features of a table through their match keys.

    Parameters
    ----------
    features
        An AnnData, a ``var``-like DataFrame with rank columns, or lineage strings.
    reference
        Reference taxa: names, lineage/clade strings, or a DataFrame (``name``/``taxon``,
        optional ``rank``, ``family``, ``lineage``); see :func:`reference_frame`.
    rank
        Rank of bare reference names (default: guessed from the form of each name).

    Returns
    -------
    pandas.DataFrame
        One row per reference taxon: ``reference, rank, name, family, key`` (the reference's
        match key when it came with a lineage), ``match`` (``key``, ``name``, ``synonym``,
        ``gtdb_suffix``, ``ambiguous`` or ``none``), ``n_features``, ``features`` (matched
        feature names joined by ``"; "``), ``feature_index`` (their positions, a tuple) and
        ``note``.  ``attrs["notes"]`` lists every note (ambiguities, family differences,
        GTDB-suffixed genera left out).

    Examples
    --------
    >>> feats = ["f__Ruminococcaceae;g__Ruminococcus", "f__Lachnospiraceae;g__Ruminococcus",
    ...          "f__Lachnospiraceae;g__Roseburia"]
    >>> m = match_taxa(feats, ["Ruminococcus", "Roseburia"], rank="genus")
    >>> m["match"].tolist(), m["n_features"].tolist()
    (['ambiguous', 'name'], [0, 1])
    >>> m.attrs["notes"][0]
    'genus Ruminococcus is in 2 families of the table (Lachnospiraceae, Ruminococcaceae): not matched; give the family to choose'
    """
    idx = features if isinstance(features, _FeatureIndex) else _FeatureIndex.build(features)
    ref = reference_frame(reference, rank=rank)
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    for e in ref.itertuples(index=False):
        rec = _match_one(idx, e)
        if rec["note"]:
            notes.append(rec["note"])
        out.append(rec)
    df = pd.DataFrame(out, columns=_MATCH_COLUMNS)
    df.attrs["notes"] = notes
    return df


def _match_one(idx: _FeatureIndex, e: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {"reference": e.reference, "rank": e.rank, "name": e.name,
                           "family": e.family, "key": e.key, "match": "none", "n_features": 0,
                           "features": "", "feature_index": (), "note": ""}
    r = e.rank
    if r not in RANKS or not (e.name or e.key):
        return rec
    idx._rank_data(r)
    keys = idx.keys[r]
    hits: list[int] = []
    how = "none"
    note = ""
    if e.key:
        hits = [int(i) for i in np.flatnonzero(keys == e.key)]
        how = "key" if hits else "none"
    placeholder = not e.name or is_placeholder(e.name)
    if not hits and not placeholder:
        ref_keys = name_keys(e.name, r)
        base = _base(e.name, r)
        found: dict[int, str] = {}
        bases = idx.bases[r]
        for k in ref_keys:
            for i in idx.by_name[r].get(k, []):
                found[i] = "name" if bases[i] == base else "synonym"
        hits = sorted(found)
        how = "name" if any(v == "name" for v in found.values()) else ("synonym" if hits else "none")
        if hits and r == "genus":
            hits, how, note = _resolve_families(idx, hits, how, e)
        if r == "genus" and how != "ambiguous":
            extra, note2 = _gtdb_aliases(idx, e, hits)
            if extra:
                hits = sorted(set(hits) | set(extra))
                how = how if how != "none" else "gtdb_suffix"
            note = "; ".join(n for n in (note, note2) if n)
    rec.update(match=how, n_features=len(hits), feature_index=tuple(hits),
               features="; ".join(idx.names[i] for i in hits), note=note)
    return rec


def _resolve_families(idx: _FeatureIndex, hits: list[int], how: str, e: Any
                      ) -> tuple[list[int], str, str]:
    groups = _family_groups(idx, hits)
    named = sorted(f for f in groups if f)
    if len(named) <= 1:
        note = ""
        if named and e.family and _base(e.family, "family") not in {named[0]} and not (
                name_keys(e.family, "family") & name_keys(named[0], "family")):
            shown = idx.table["family"].iloc[groups[named[0]][0]]
            note = (f"genus {e.name}: family differs (reference {e.family}, table {shown}); "
                    "matched by name")
        return hits, how, note
    if e.family:
        fam_keys = name_keys(e.family, "family")
        chosen = [f for f in named if name_keys(f, "family") & fam_keys]
        if len(chosen) == 1:
            keep = groups[chosen[0]] + groups.get("", [])
            return sorted(keep), how, ""
    shown = sorted(str(idx.table["family"].iloc[groups[f][0]]) for f in named)
    note = (f"genus {e.name} is in {len(named)} families of the table ({', '.join(shown)}): "
            "not matched; give the family to choose")
    return [], "ambiguous", note


def _gtdb_aliases(idx: _FeatureIndex, e: Any, exact: list[int]) -> tuple[list[int], str]:
    """GTDB-suffixed / unsuffixed genera that share the reference's family."""
    by_name = idx.by_name["genus"]
    m = _GTDB_SUFFIX.match(e.name)
    if m:  # the reference is suffixed: its unsuffixed genus may join
        candidates = by_name.get(_base(m.group(1), "genus"), [])
    else:
        base = _base(e.name, "genus")
        prefix = base + " "
        candidates = [i for k, ids in by_name.items() if k.startswith(prefix)
                      and re.fullmatch(r"[a-z]{1,3}", k[len(prefix):]) for i in ids]
    candidates = [i for i in candidates if i not in set(exact)]
    if not candidates:
        return [], ""
    fams = {f for f in (_base(e.family, "family") if e.family else "",) if f}
    if not fams:
        fams = {str(idx.families[i]) for i in exact if idx.families[i]}
    keep = [i for i in candidates if str(idx.families[i]) in fams and fams]
    left = sorted({idx.table["genus"].iloc[i] for i in candidates if i not in keep})
    note = ""
    if left:
        why = "another family" if fams else "family unknown"
        note = f"suffixed genera {', '.join(left)} not matched to {e.name} ({why})"
    return keep, note


def matched_matrix(X: np.ndarray, matches: pd.DataFrame) -> np.ndarray:
    """Samples × reference taxa: the sum of each reference taxon's matched feature columns.

    Examples
    --------
    >>> m = match_taxa(["g__Roseburia", "g__Blautia"], ["Blautia", "Dorea"], rank="genus")
    >>> matched_matrix(np.array([[1.0, 2.0]]), m).tolist()
    [[2.0, 0.0]]
    """
    out = np.zeros((X.shape[0], len(matches)))
    for j, cols in enumerate(matches["feature_index"]):
        if cols:
            out[:, j] = X[:, list(cols)].sum(axis=1)
    return out

