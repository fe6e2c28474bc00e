"""Lineage strings → rank columns, for every taxonomy style gutbrain reads.

Recognised styles (detected per string):

* Greengenes / MetaPhlAn / GTDB prefixes: ``k__`` or ``d__`` (domain), ``p__``, ``c__``,
  ``o__``, ``f__``, ``g__``, ``s__``, ``t__`` (strain or SGB), separated by ``;`` or ``|``;
* SILVA level prefixes ``D_0__`` … ``D_6__`` (domain … species);
* unprefixed lists (``Bacteria;Firmicutes;…``), read positionally from the domain.

Names are normalised (:func:`normalize_name`): empty ranks (``g__``), "unclassified",
"uncultured", "unidentified", "metagenome" and ``_unclassified``/``_noname`` suffixes
become empty; brackets are removed (``[Ruminococcus]`` → ``Ruminococcus``); MetaPhlAn
underscores become spaces in species names (``Faecalibacterium_prausnitzii`` →
``Faecalibacterium prausnitzii``); a Greengenes species epithet is joined to its genus
(``g__Faecalibacterium; s__prausnitzii`` → ``Faecalibacterium prausnitzii``).
Missing ranks are empty strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from ._core import RANKS

__all__ = ["detect_lineage_style", "lineage_frame", "normalize_name", "parse_lineage"]

_PREFIX_RANK = {
    "k": "domain",
    "d": "domain",
    "p": "phylum",
    "c": "class",
    "o": "order",
    "f": "family",
    "g": "genus",
    "s": "species",
    "t": "strain",
}
_SILVA_LEVEL = {0: "domain", 1: "phylum", 2: "class", 3: "order", 4: "family", 5: "genus", 6: "species"}
_PREFIX_RE = re.compile(r"^([kdpcofgst])__(.*)$")
_SILVA_RE = re.compile(r"^D_(\d+)__(.*)$")
_EMPTY = {
    "",
    "unclassified",
    "unknown",
    "uncultured",
    "unidentified",
    "uncultured bacterium",
    "uncultured organism",
    "metagenome",
    "gut metagenome",
    "human gut metagenome",
    "mouse gut metagenome",
    "na",
    "nan",
    "none",
    "ambiguous_taxa",
    "other",
}
_SUFFIX_RE = re.compile(r"(_unclassified|_noname|_unknown)$", re.IGNORECASE)


def normalize_name(name: str | None, *, rank: str | None = None) -> str:
    """Return a cleaned taxon name, or ``""`` for an unclassified rank.

    Parameters
    ----------
    name
        Raw name without rank prefix.
    rank
        The rank; species names have underscores replaced by spaces.

    Examples
    --------
    >>> normalize_name("[Ruminococcus]")
    'Ruminococcus'
    >>> normalize_name("Faecalibacterium_prausnitzii", rank="species")
    'Faecalibacterium prausnitzii'
    >>> normalize_name("Lachnospiraceae_unclassified")
    ''
    """
    if name is None:
        return ""
    s = str(name).strip().strip('"').strip()
    if s.lower() in _EMPTY:
        return ""
    if _SUFFIX_RE.search(s):
        return ""
    if s.lower().startswith(("uncultured", "unidentified", "unclassified")):
        return ""
    s = s.replace("[", "").replace("]", "").strip()
    if rank == "species":
        s = s.replace("_", " ")
        s = re.sub(r"\s+", " ", s).strip()
        if s.lower().endswith(" sp.") and len(s.split()) == 2:
            return s
    return s


def detect_lineage_style(lineage: str) -> str:
    """Return ``"prefixed"``, ``"silva"`` or ``"plain"`` for a lineage string."""
    parts = [p.strip() for p in re.split(r"[;|]", str(lineage)) if p.strip()]
    if not parts:
        return "plain"
    if _SILVA_RE.match(parts[0]):
        return "silva"
    if _PREFIX_RE.match(parts[0]):
        return "prefixed"
    return "plain"


def parse_lineage(lineage: str | None, *, sep: str | None = None) -> dict[str, str]:
    """Split a lineage string into ``{rank: name}`` for :data:`gutbrain._core.RANKS`.

    Parameters
    ----------
    lineage
        e.g. ``"k__Bacteria; p__Firmicutes; …; g__Roseburia; s__"``.
    sep
        Separator; by default ``|`` when present, else ``;``.

    Examples
    --------
    >>> parse_lineage("k__Bacteria;p__Firmicutes;g__Roseburia;s__")["genus"]
    'Roseburia'
    >>> parse_lineage("k__Bacteria|g__Bacteroides|s__Bacteroides_vulgatus")["species"]
    'Bacteroides vulgatus'
    >>> parse_lineage("s__Abiotrophia_defectiva")["genus"]
    'Abiotrophia'
    """
    out = dict.fromkeys(RANKS, "")
    if lineage is None or (isinstance(lineage, float) and pd.isna(lineage)):
        return out
    text = str(lineage).strip()
    if not text:
        return out
    if sep is None:
        sep = "|" if "|" in text else ";"
    parts = [p.strip() for p in text.split(sep)]
    parts = [p for p in parts if p != ""]
    raw_species = ""
    positional = 0
    for part in parts:
        m = _PREFIX_RE.match(part)
        if m:
            rank = _PREFIX_RANK[m.group(1)]
            name = m.group(2)
        else:
            m2 = _SILVA_RE.match(part)
            if m2:
                rank = _SILVA_LEVEL.get(int(m2.group(1)), "")
                name = m2.group(2)
            else:
                if positional >= len(RANKS) - 1:
                    continue
                rank = RANKS[positional]
                name = part
        if not rank:
            continue
        positional = RANKS.index(rank) + 1
        if rank == "species":
            raw_species = name
            continue
        if rank == "strain":
            out["strain"] = name.strip()
            continue
        out[rank] = normalize_name(name, rank=rank)
    if raw_species:
        sp_name = normalize_name(raw_species, rank="species")
        genus = out["genus"]
        if sp_name and genus and " " not in sp_name and not sp_name.startswith(genus):
            # Greengenes / SILVA style: the epithet alone
            sp_name = f"{genus} {sp_name}"
        out["species"] = sp_name
        if sp_name and not genus and " " in sp_name:
            # species-only names (``s__Abiotrophia_defectiva``): the genus is the first word
            out["genus"] = normalize_name(sp_name.split(" ", 1)[0], rank="genus")
    return out


def lineage_frame(
    lineages: Iterable[str | None], *, index: Iterable[str] | None = None, sep: str | None = None
) -> pd.DataFrame:
    """Parse many lineages into a DataFrame with one column per rank plus ``taxonomy``."""
    # missing cells (None/NaN from pandas) are empty lineages, not the string "nan"
    lineages = [None if isinstance(lin, float) and pd.isna(lin) else lin for lin in lineages]
    cache: dict[str, dict[str, str]] = {}
    rows = []
    for lin in lineages:
        key = "" if lin is None else str(lin)
        if key not in cache:
            cache[key] = parse_lineage(lin, sep=sep)
        rows.append(cache[key])
    df = pd.DataFrame(rows, columns=list(RANKS))
    df["taxonomy"] = ["" if lin is None else str(lin) for lin in lineages]
    if index is not None:
        df.index = pd.Index([str(i) for i in index])
    return df
