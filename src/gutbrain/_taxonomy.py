"""Lineage strings → rank columns, for every taxonomy style gutbrain reads.

Recognised styles (detected per string):

* Greengenes / MetaPhlAn / GTDB prefixes: ``k__`` or ``d__`` (domain), ``p__``, ``c__``,
  ``o__``, ``f__``, ``g__``, ``s__``, ``t__`` (strain or SGB), separated by ``;`` or ``|``;
* SILVA level prefixes ``D_0__`` … ``D_6__`` (domain … species);
* unprefixed lists (``Bacteria;Firmicutes;…``), read positionally from the domain.

Names are kept **as the source taxonomy writes them** (:func:`clean_name`), because the
source's spelling is what tells organisms apart (``docs/taxonomy.md``):

* Greengenes brackets are part of the name: ``g__[Ruminococcus]`` (Lachnospiraceae) stays
  ``[Ruminococcus]`` and is a different genus from ``g__Ruminococcus`` (Ruminococcaceae);
* placeholders stay: MetaPhlAn ``g__Lachnospiraceae_unclassified``, SILVA ``uncultured``,
  ``Incertae Sedis``, ``Unknown Family``, GTDB suffixes (``Prevotella_A``) and SILVA spaced
  genus names (``Clostridium sensu stricto 1``) are names of their own;
* an empty rank (``g__``) and missing-value tokens (``NA``, ``Unknown``, ``unclassified``,
  ``Ambiguous_taxa``) are ``""``: unassigned at that rank;
* MetaPhlAn underscores become spaces in species names that have no space
  (``Faecalibacterium_prausnitzii`` → ``Faecalibacterium prausnitzii``); a Greengenes species
  epithet is joined to its genus (``g__Faecalibacterium; s__prausnitzii`` →
  ``Faecalibacterium prausnitzii``);
* the genus of a species is the genus written in its own lineage
  (``g__Lachnospiraceae_unclassified|s__Eubacterium_rectale`` keeps the genus
  ``Lachnospiraceae_unclassified``); only a lineage with no genus level at all
  (``s__Abiotrophia_defectiva``) takes the genus from the binomial.

:func:`normalize_name` is the *lookup* cleaning used by the synonym table: it removes the
bracketed genus of a species binomial and returns ``""`` for placeholders.
"""

from __future__ import annotations

import functools
import re

import pandas as pd

from ._core import RANKS
from ._errors import InputFormatError

__all__ = [
    "clean_name",
    "detect_lineage_style",
    "is_placeholder",
    "normalize_name",
    "parse_lineage",
]

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
#: other prefixes seen in the wild: Kraken/mpa ``sk__`` (superkingdom) and ``r__`` (root)
_EXTRA_PREFIX = {"sk": "domain", "r": ""}
_ANY_PREFIX_RE = re.compile(r"^([a-z]{1,2})__(.*)$")
_PREFIX_FIX = ("use the rank prefixes k__/d__, p__, c__, o__, f__, g__, s__, t__ or SILVA "
               "D_0__ … D_6__ (or pass the ranks as columns)")
_SILVA_RE = re.compile(r"^D_(\d+)__(.*)$")
#: Tokens that mean "nothing assigned at this rank" (compared lower-cased).
_EMPTY = {
    "",
    "na",
    "nan",
    "n/a",
    "none",
    "null",
    "unknown",
    "unassigned",
    "unclassified",
    "unidentified",
    "ambiguous_taxa",
    "ambiguous taxa",
    "other",
}
_PLACEHOLDER_RE = re.compile(
    r"(^|[\s_])(uncultured|unidentified|unclassified|unknown|noname|metagenome|incertae[\s_]sedis|"
    r"ambiguous)([\s_]|$)",
    re.IGNORECASE,
)
_SUFFIX_RE = re.compile(r"(_unclassified|_noname|_unknown)$", re.IGNORECASE)


def clean_name(name: object, *, rank: str | None = None) -> str:
    """Return a taxon name as its source writes it, or ``""`` when nothing is assigned.

    Surrounding whitespace and quotes go; missing-value tokens (``NA``, ``Unknown``,
    ``unclassified``, ``Ambiguous_taxa``) become ``""``.  Brackets, placeholders
    (``uncultured``, ``Lachnospiraceae_unclassified``, ``Incertae Sedis``) and GTDB suffixes
    are kept.  Species names without a space get MetaPhlAn's underscores replaced by spaces.

    Parameters
    ----------
    name
        Raw name without rank prefix.
    rank
        The rank of the name (``"species"`` turns ``Genus_epithet`` into ``Genus epithet``).

    Examples
    --------
    >>> clean_name("[Ruminococcus]", rank="genus")
    '[Ruminococcus]'
    >>> clean_name("Lachnospiraceae_unclassified", rank="genus")
    'Lachnospiraceae_unclassified'
    >>> clean_name("Faecalibacterium_prausnitzii", rank="species")
    'Faecalibacterium prausnitzii'
    >>> clean_name("NA", rank="genus")
    ''
    """
    if name is None or (isinstance(name, float) and pd.isna(name)):
        return ""
    return _clean(str(name), rank)


@functools.lru_cache(maxsize=200_000)
def _clean(name: str, rank: str | None) -> str:
    s = name.strip().strip('"').strip("'").strip()
    if s.lower() in _EMPTY:
        return ""
    if "  " in s or "\t" in s or "\n" in s:
        s = re.sub(r"\s+", " ", s)
    if rank == "species" and " " not in s:
        s = s.replace("_", " ").strip()
    return s


def is_placeholder(name: str) -> bool:
    """Whether a name stands for "not classified further" rather than a named taxon.

    ``uncultured``, ``unidentified``, ``…_unclassified``/``…_noname`` (MetaPhlAn),
    ``Incertae Sedis``, ``Unknown Family``, ``… metagenome`` and ``Ambiguous…`` are
    placeholders; named taxa, GTDB suffixes (``Prevotella_A``) and SILVA group names
    (``Lachnospiraceae UCG-004``, ``[Eubacterium] hallii group``) are not.

    Examples
    --------
    >>> [is_placeholder(n) for n in ("uncultured", "Lachnospiraceae_unclassified",
    ...                              "Incertae Sedis", "Lachnospiraceae UCG-004", "Prevotella_A")]
    [True, True, True, False, False]
    """
    return _placeholder(str(name).strip())


@functools.lru_cache(maxsize=200_000)
def _placeholder(s: str) -> bool:
    if not s:
        return False
    return bool(_PLACEHOLDER_RE.search(s) or _SUFFIX_RE.search(s))


def normalize_name(name: str | None, *, rank: str | None = None) -> str:
    """Return a name cleaned for synonym lookup, or ``""`` for an unclassified rank.

    Like :func:`clean_name`, and additionally: placeholders (:func:`is_placeholder`) become
    ``""``; for species the bracketed genus of a binomial loses its brackets
    (``[Eubacterium] rectale`` → ``Eubacterium rectale``, the same species).  A bracketed
    *genus* keeps its brackets: ``[Ruminococcus]`` is not ``Ruminococcus``.

    Parameters
    ----------
    name
        Raw name without rank prefix.
    rank
        The rank; species names have underscores replaced by spaces.

    Examples
    --------
    >>> normalize_name("[Ruminococcus]")
    '[Ruminococcus]'
    >>> normalize_name("[Eubacterium] rectale", rank="species")
    'Eubacterium rectale'
    >>> normalize_name("Faecalibacterium_prausnitzii", rank="species")
    'Faecalibacterium prausnitzii'
    >>> normalize_name("Lachnospiraceae_unclassified")
    ''
    """
    s = clean_name(name, rank=rank)
    if not s or is_placeholder(s):
        return ""
    if rank == "species" or (rank is None and " " in s and not s.lower().endswith(" group")):
        s = re.sub(r"^\[([^\]]+)\]\s*", r"\1 ", s).strip()
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


def _join_epithet(species: str, genus: str) -> str:
    """Greengenes/DADA2 give the epithet alone: join it to the genus."""
    if species and genus and " " not in species and species[:1].islower():
        return f"{genus} {species}"
    return species


def parse_lineage(lineage: str | None, *, sep: str | None = None) -> dict[str, str]:
    """Split a lineage string into ``{rank: name}`` for :data:`gutbrain._core.RANKS`.

    Names are kept as written (:func:`clean_name`); see the module docstring for the rules.

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
    >>> parse_lineage("f__Lachnospiraceae;g__[Ruminococcus];s__gnavus")["species"]
    '[Ruminococcus] gnavus'
    >>> parse_lineage("f__Lachnospiraceae|g__Lachnospiraceae_unclassified|s__Eubacterium_rectale")["genus"]
    'Lachnospiraceae_unclassified'
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
    has_genus_level = False
    positional = 0
    seen: dict[str, str] = {}
    last_prefixed = -1
    for part in parts:
        m = _PREFIX_RE.match(part)
        mx = None if m else _ANY_PREFIX_RE.match(part)
        if mx is not None and not _SILVA_RE.match(part):
            if mx.group(1) not in _EXTRA_PREFIX:
                raise InputFormatError(
                    f"unknown rank prefix {mx.group(1) + '__'!r} in the lineage {text!r}",
                    fix=_PREFIX_FIX,
                )
            rank = _EXTRA_PREFIX[mx.group(1)]
            if not rank:
                continue
            name = mx.group(2)
        elif m:
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
        if m or mx is not None or _SILVA_RE.match(part):
            # a prefixed lineage must read one way: each rank once, from the domain down
            if rank in seen and clean_name(name, rank=rank) != seen[rank]:
                raise InputFormatError(
                    f"the lineage {text!r} gives the {rank} twice ({seen[rank]!r} and "
                    f"{clean_name(name, rank=rank)!r})",
                    fix="keep one name per rank in each lineage",
                )
            if RANKS.index(rank) < last_prefixed:
                raise InputFormatError(
                    f"the lineage {text!r} lists its ranks out of order ({rank} after "
                    f"{RANKS[last_prefixed]})",
                    fix="write lineages from the domain down to the species",
                )
            last_prefixed = RANKS.index(rank)
            seen[rank] = clean_name(name, rank=rank)
        positional = RANKS.index(rank) + 1
        if rank == "genus":
            has_genus_level = True
        if rank == "species":
            raw_species = name
            continue
        out[rank] = clean_name(name, rank=rank)
    if raw_species:
        sp_name = _join_epithet(clean_name(raw_species, rank="species"), out["genus"])
        out["species"] = sp_name
        if sp_name and not has_genus_level and " " in sp_name and not is_placeholder(sp_name):
            # species-only names (``s__Abiotrophia_defectiva``): the genus is the first word
            out["genus"] = sp_name.split(" ", 1)[0]
    return out


