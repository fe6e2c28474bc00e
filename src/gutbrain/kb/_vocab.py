"""One vocabulary for conditions, contrasts and imported taxon names.

Every importer (BugSigDB GMT and full dump, Disbiome, curated CSV) and the shipped
BugSigDB table pass their condition text through :func:`condition_key`, so that
``Parkinson's-disease`` (GMT), ``Parkinson's disease`` (full dump) and
``parkinson's disease`` (Disbiome) are one condition.  ``data/condition_synonyms.tsv``
merges the few remaining spellings (``autism spectrum disorders`` →
``autism spectrum disorder``) and fixes display labels (``COVID-19``).

:func:`contrast_kind` reads a contrast's group names to say whether group 1 is the
case group (``case_vs_control``), the control group (``control_vs_case``, the
direction relative to the condition is then the opposite) or neither (``other``:
within-case comparisons, time points, exposures).

:func:`clean_taxon_name` turns the informal names found in databases ("bacteroides
sp.", "Prevotella spp.", "uncultured Blautia", "Escherichia coli O157:H7",
"Bacillus sp. (in: firmicutes)") into a name and rank that a genus or species
lookup finds.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from ._schema import _data_path, _read_tsv

__all__ = [
    "CONTRAST_KINDS",
    "clean_taxon_name",
    "condition_id",
    "condition_key",
    "condition_label",
    "contrast_kind",
]

#: Contrast kinds, see :func:`contrast_kind`.
CONTRAST_KINDS: tuple[str, ...] = ("case_vs_control", "control_vs_case", "other")

_SEP = re.compile(r"[\s\-_]+")
_CONTROL = re.compile(
    r"(healthy|\bcontrols?\b|\bHCs?\b|\bunaffected\b|"
    r"^(?:non|never|no|normo\w*|normal|un(?:infected|exposed|treated)|neurotypical|"
    r"typically[- ]developing|lean|sham|placebo|vehicle|wild[- ]?type|WT)\b)",
    re.IGNORECASE,
)


# The string functions below are pure: each public function converts its input with
# str() and calls a memoised implementation (importers call them once per row with a
# few thousand distinct values).
_MEMO = 1 << 16


@lru_cache(maxsize=_MEMO)
def _plain_str(s: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    return s.replace("\u2019", "'").replace("\u2018", "'").replace("\xa0", " ").strip()


def _plain(text: str) -> str:
    return _plain_str(str(text))


@lru_cache(maxsize=_MEMO)
def _condition_key(s: str) -> str:
    return _SEP.sub(" ", _plain_str(s).lower()).strip()


def condition_key(text: str) -> str:
    """Matching key of a condition name: lower case; spaces, hyphens and underscores alike.

    Examples
    --------
    >>> condition_key("Parkinson's-disease") == condition_key("parkinson’s disease")
    True
    """
    return _condition_key(str(text))


@cache
def _synonyms() -> dict[str, str]:
    out: dict[str, str] = {}
    for row in _read_tsv(_data_path("condition_synonyms.tsv")):
        out[condition_key(row["term"])] = row["condition"].strip()
    return out


def condition_label(text: str) -> str:
    """Display label of a condition (GMT hyphens become spaces; synonyms merged).

    Examples
    --------
    >>> condition_label("Parkinson's-disease")
    "Parkinson's disease"
    >>> condition_label("autism spectrum disorders")
    'Autism spectrum disorder'
    >>> condition_label("COVID-19")
    'COVID-19'
    """
    return _condition_label(str(text))


@lru_cache(maxsize=_MEMO)
def _condition_label(text: str) -> str:
    key = _condition_key(text)
    syn = _synonyms().get(key)
    if syn:
        return syn
    s = _plain_str(text)
    # a hyphen before a digit is part of the name (COVID-19); the GMT turns spaces into hyphens
    s = re.sub(r"-(?!\d)", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s[:1].upper() + s[1:] if s else s


def condition_id(text: str) -> str:
    """Stable id shared by every source: ``c:`` + the slug of the canonical label.

    Examples
    --------
    >>> condition_id("Parkinson's-disease")
    'c:parkinson_s_disease'
    """
    return _condition_id(str(text))


@lru_cache(maxsize=_MEMO)
def _condition_id(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", _condition_key(_condition_label(text))).strip("_")
    return f"c:{slug[:80]}"


def contrast_kind(group1: str, group0: str) -> str:
    """Whether group 1 is the case group, the control group, or neither.

    A group name that mentions healthy subjects or controls, or starts with a word
    for a reference group (non-, never, no, normal, uninfected, untreated,
    neurotypical, lean, sham, placebo, vehicle, wild type), marks the control group; a
    contrast is ``case_vs_control`` when only group 0 is so marked, ``control_vs_case``
    when only group 1 is, and ``other`` otherwise (both, neither, or within-case).

    Examples
    --------
    >>> contrast_kind("PD patients", "Healthy relatives")
    'case_vs_control'
    >>> contrast_kind("healthy controls", "IBS")
    'control_vs_case'
    >>> contrast_kind("PD with normal calprotectin", "calprotectin-positive PD")
    'other'
    """
    return _contrast_kind(str(group1), str(group0))


@lru_cache(maxsize=_MEMO)
def _is_control(group: str) -> bool:
    return bool(_CONTROL.search(_plain_str(group)))


def _contrast_kind(group1: str, group0: str) -> str:
    c1 = _is_control(group1)
    c0 = _is_control(group0)
    if c0 and not c1:
        return "case_vs_control"
    if c1 and not c0:
        return "control_vs_case"
    return "other"


_INFORMAL = re.compile(
    r"^(?:uncultured|unidentified|unclassified)\s+(?P<rest>.+)$", re.IGNORECASE
)
_SP = re.compile(r"^(?P<genus>\[?[A-Za-z]+\]?)\s+(?:sp|spp|species)\.?(?:\s.*)?$", re.IGNORECASE)
_IN_CLAUSE = re.compile(r"\s*\(in:[^)]*\)")
_BINOMIAL = re.compile(r"^(?P<genus>\[?[A-Z][a-z]+\]?)\s+(?P<epithet>[a-z][a-z\-]+)(?P<rest>\s.+)?$")


def _cap(name: str) -> str:
    if name.startswith("["):
        return "[" + name[1:2].upper() + name[2:]
    return name[:1].upper() + name[1:]


def clean_taxon_name(name: str, rank: str = "") -> tuple[str, str]:
    """``(name, rank)`` of an informal database taxon name, for lookups.

    ``Genus sp.``, ``Genus spp.`` and ``uncultured Genus`` become the genus; a strain
    (a binomial followed by a designation, or rank ``strain``) becomes its species;
    ``(in: firmicutes)`` disambiguation clauses are dropped.  Bracketed
    (misclassified) genus names such as ``[Ruminococcus] gnavus`` keep their brackets:
    they are not members of the bracketed genus.

    Examples
    --------
    >>> clean_taxon_name("bacteroides sp.", "species")
    ('Bacteroides', 'genus')
    >>> clean_taxon_name("uncultured Blautia")
    ('Blautia', 'genus')
    >>> clean_taxon_name("Escherichia coli O157:H7", "strain")
    ('Escherichia coli', 'species')
    >>> clean_taxon_name("[ruminococcus] gnavus", "species")
    ('[Ruminococcus] gnavus', 'species')
    """
    s = _IN_CLAUSE.sub("", _plain(name)).strip()
    rank = (rank or "").strip().lower()
    m = _INFORMAL.match(s)
    if m:
        s = m.group("rest").strip()
        if len(s.split()) == 1:
            return _cap(s), "genus"
    m = _SP.match(s)
    if m:
        return _cap(m.group("genus")), "genus"
    m = _BINOMIAL.match(_cap(s))
    if m and (m.group("rest") or rank in ("strain", "subspecies")):
        return f"{m.group('genus')} {m.group('epithet')}", "species"
    if m:
        return _cap(s), rank if rank in ("species",) else "species"
    if rank in ("", "no rank", "clade") and len(s.split()) == 1:
        return _cap(s), ""
    return _cap(s), rank
