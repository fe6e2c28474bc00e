"""The bundled synonym table (``gutbrain/pp/data/synonyms.tsv``) and name → current name.

Public as :func:`gutbrain.pp.canonical_name`, :func:`gutbrain.pp.resolve_synonyms` and
:func:`gutbrain.pp.synonym_table`.  It sits below both :mod:`gutbrain.taxonomy` (match keys
use the current name) and :mod:`gutbrain.pp` (``normalize_taxonomy``), and imports neither,
so the two do not import each other.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources

import numpy as np
import pandas as pd

from ._errors import InputFormatError
from ._taxonomy import _PREFIX_RANK, normalize_name

__all__ = ["canonical_name", "resolve_synonyms", "synonym_table"]

_COLUMNS = ("old_name", "new_name", "rank", "reason", "doi")
_ROW_RANKS = ("phylum", "genus", "species", "subspecies")
_DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
_PREFIX_RE = re.compile(r"^([kdpcofgst])__")
#: rank argument → row ranks of the synonym table that apply
_APPLIES = {
    None: _ROW_RANKS,
    "phylum": ("phylum",),
    "genus": ("genus",),
    "species": ("species", "subspecies"),
    "strain": ("species", "subspecies"),
}


def _squash(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def _key(name: str) -> str:
    return _squash(name).lower()


@functools.lru_cache(maxsize=1)
def synonym_table() -> pd.DataFrame:
    """Return the bundled synonym table (validated; cached).

    Columns ``old_name, new_name, rank, reason, doi``; see ``gutbrain/pp/data/README.md``.
    """
    path = resources.files("gutbrain.pp").joinpath("data", "synonyms.tsv")
    with resources.as_file(path) as p:
        df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, comment=None)
    if tuple(df.columns) != _COLUMNS:
        raise InputFormatError(
            f"synonym table has columns {list(df.columns)}, expected {list(_COLUMNS)}",
            path=str(path), line=1, fix="restore the header of the bundled synonyms.tsv",
        )
    for i, row in enumerate(df.itertuples(index=False), start=2):
        if row.rank not in _ROW_RANKS:
            raise InputFormatError(f"unknown rank {row.rank!r}", path=str(path), line=i,
                                   column="rank", fix=f"use one of {', '.join(_ROW_RANKS)}")
        if not _DOI_RE.match(row.doi):
            raise InputFormatError(f"not a DOI: {row.doi!r}", path=str(path), line=i,
                                   column="doi", fix="give the DOI as 10.xxxx/...")
        if not row.old_name.strip() or not row.new_name.strip():
            raise InputFormatError("empty name", path=str(path), line=i,
                                   fix="fill old_name and new_name")
    return df


@functools.lru_cache(maxsize=1)
def _lookup() -> dict[str, dict[str, str]]:
    """``{row_rank: {lower(old_name): new_name}}``."""
    out: dict[str, dict[str, str]] = {r: {} for r in _ROW_RANKS}
    for row in synonym_table().itertuples(index=False):
        out[row.rank][_key(row.old_name)] = _squash(row.new_name)
        # the canonical name maps to itself (case-insensitive lookups return its spelling)
        out[row.rank].setdefault(_key(row.new_name), _squash(row.new_name))
    return out


def _find(name: str, rank: str | None) -> str | None:
    k = _key(name)
    for r in _APPLIES.get(rank, ()):
        hit = _lookup()[r].get(k)
        if hit is not None:
            return hit
    return None


def canonical_name(name: str | None, *, rank: str | None = None) -> str:
    """Return the canonical (current) name of a taxon.

    The name is cleaned with :func:`gutbrain._taxonomy.normalize_name` (rank prefixes such as
    ``s__``, brackets and MetaPhlAn underscores are handled) and looked up,
    case-insensitively, in the bundled synonym table.  Names with a strain or subspecies
    suffix are resolved through their binomial (``Lactobacillus rhamnosus GG`` →
    ``Lacticaseibacillus rhamnosus GG``).  Unknown names are returned cleaned but unchanged.

    Parameters
    ----------
    name
        A taxon name.
    rank
        Restrict the lookup to rows of this rank (``phylum``, ``genus``, ``species``,
        ``strain``); ``None`` searches every row.  Pass it for ambiguous names: the phylum
        row ``Actinobacteria → Actinomycetota`` must not rename the *class* Actinobacteria.
        Other ranks (class … family) have no synonym rows and return the cleaned name.

    Examples
    --------
    >>> canonical_name("Lactobacillus fermentum")
    'Limosilactobacillus fermentum'
    >>> canonical_name("s__Lactobacillus_reuteri")
    'Limosilactobacillus reuteri'
    >>> canonical_name("Firmicutes", rank="phylum")
    'Bacillota'
    >>> canonical_name("Lactobacillus gasseri")
    'Lactobacillus gasseri'
    """
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return ""
    s = str(name).strip()
    m = _PREFIX_RE.match(s)
    if m:
        rank = rank or _PREFIX_RANK[m.group(1)]
        s = s[m.end():]
    species_like = rank in (None, "species", "strain")
    cleaned = normalize_name(s, rank="species" if rank in ("species", "strain") else rank)
    if not cleaned:
        return ""
    candidates = [cleaned]
    if species_like and "_" in cleaned:
        candidates.append(_squash(cleaned.replace("_", " ")))
    for cand in candidates:
        hit = _find(cand, rank)
        if hit is not None:
            return hit
    if species_like:
        words = candidates[-1].split(" ")
        if len(words) > 2:
            hit = _find(" ".join(words[:2]), "species")
            if hit is not None:
                return " ".join([hit, *words[2:]])
    return cleaned


def resolve_synonyms(names: Iterable[str | None], *, rank: str | None = None) -> list[str]:
    """:func:`canonical_name` of many names (each distinct name is looked up once).

    Examples
    --------
    >>> resolve_synonyms(["Lactobacillus plantarum", "Bacteroides vulgatus", "Roseburia"])
    ['Lactiplantibacillus plantarum', 'Phocaeicola vulgatus', 'Roseburia']
    """
    names = list(names)
    cache: dict[object, str] = {}
    out = []
    for nm in names:
        key = (nm if not (isinstance(nm, float) and np.isnan(nm)) else None)
        if key not in cache:
            cache[key] = canonical_name(key, rank=rank)
        out.append(cache[key])
    return out
