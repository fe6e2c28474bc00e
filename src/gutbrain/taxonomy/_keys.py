"""Taxon identity: a display name and a match key per feature (see ``docs/taxonomy.md``).

The **match key** of a taxon at a rank is a string of ``rank:name`` parts joined by ``|``,
deepest first.  Names in keys are lower-cased, MetaPhlAn/SILVA-QIIME underscores become
spaces, and renamed taxa take their current name from gutbrain's synonym table
(:func:`gutbrain.pp.canonical_name`), so keys are equal only for the same organism:

* a named genus carries its family: ``genus:ruminococcus|family:ruminococcaceae`` and
  ``genus:[ruminococcus]|family:lachnospiraceae`` (Greengenes brackets are part of a name
  at every rank, e.g. ``f__[Chromatiaceae]`` (Alteromonadales) is not ``f__Chromatiaceae``
  (Chromatiales); only in a species binomial do they merely flag the genus, and are
  dropped: ``[Ruminococcus] gnavus`` is *R. gnavus*);
* a species is its binomial (``species:faecalibacterium prausnitzii``), a strain or SGB its
  id (``strain:sgb4810``), a family or higher rank its name (``phylum:bacillota``);
* a placeholder or an empty rank carries the chain of its ancestors up to the first
  named one: ``genus:unclassified|family:lachnospiraceae`` (Greengenes ``f__Lachnospiraceae;
  g__`` and MetaPhlAn ``g__Lachnospiraceae_unclassified`` alike),
  ``genus:uncultured|family:muribaculaceae`` (SILVA), ``genus:incertae sedis|family:
  ruminococcaceae``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._core import RANKS
from .._errors import InputFormatError
from .._taxonomy import clean_name, is_placeholder, parse_lineage

__all__ = [
    "ABBREV",
    "annotate",
    "lineage_frame",
    "lineage_string",
    "name_keys",
    "taxon_columns",
    "taxon_key",
    "taxon_name",
    "taxon_table",
]

#: One-letter rank abbreviations used in display names ("uncultured (f. Lachnospiraceae)").
ABBREV = {"domain": "d", "phylum": "p", "class": "c", "order": "o", "family": "f",
          "genus": "g", "species": "s", "strain": "t"}
_PREFIX_RE = re.compile(r"^(?:[kdpcofgst]__|D_\d+__)")
_SYNONYM_RANKS = {"phylum", "genus", "species", "strain"}
_UNCLASSIFIED_WORDS = {"unclassified", "noname", "unknown"}


def _strip_prefix(name: str) -> tuple[str, str | None]:
    m = re.match(r"^([kdpcofgst])__", name)
    if m:
        from .._taxonomy import _PREFIX_RANK

        return name[m.end():], _PREFIX_RANK[m.group(1)]
    m = re.match(r"^D_(\d+)__", name)
    if m:
        from .._taxonomy import _SILVA_LEVEL

        return name[m.end():], _SILVA_LEVEL.get(int(m.group(1)))
    return name, None


@functools.lru_cache(maxsize=200_000)
def _base(name: str, rank: str | None) -> str:
    """Lower-case key text of a name: underscores → spaces; brackets dropped only in binomials."""
    s = clean_name(name, rank=rank).replace("_", " ")
    if rank in ("species", "strain") or (rank is None and " " in s and not s.endswith(" group")):
        s = s.replace("[", "").replace("]", "")
    return re.sub(r"\s+", " ", s).strip().lower()


@functools.lru_cache(maxsize=200_000)
def _canonical_base(name: str, rank: str | None) -> str:
    """Key text of the current name of a named taxon (synonym table); "" when none."""
    if rank is not None and rank not in _SYNONYM_RANKS:
        return ""
    from .._synonyms import canonical_name

    canon = canonical_name(name, rank="species" if rank == "strain" else rank)
    return _base(canon, rank) if canon else ""


@functools.lru_cache(maxsize=200_000)
def name_keys(name: str, rank: str | None = None) -> frozenset[str]:
    """Return the name keys of a taxon name: its key text and that of its current name.

    Parameters
    ----------
    name
        A name, optionally with a rank prefix (``s__``, ``g__``, ``D_5__``).
    rank
        Its rank (taken from the prefix when given there).  Brackets count only for
        genera; renamings come from the synonym table at this rank.

    Examples
    --------
    >>> sorted(name_keys("s__Lactobacillus_fermentum"))
    ['lactobacillus fermentum', 'limosilactobacillus fermentum']
    >>> name_keys("g__[Ruminococcus]") & name_keys("g__Ruminococcus")
    frozenset()
    """
    raw, prefix_rank = _strip_prefix(str(name).strip())
    rank = rank or prefix_rank
    base = _base(raw, rank)
    if not base or is_placeholder(raw):
        return frozenset({base}) if base else frozenset()
    keys = {base}
    canon = _canonical_base(raw, rank)
    if canon:
        keys.add(canon)
    return frozenset(keys)


def _primary(name: str, rank: str) -> str:
    """The one key text of a named taxon: its current name's when it has one."""
    return _canonical_base(name, rank) or _base(name, rank)


def _placeholder_label(name: str, rank: str, ancestors: Sequence[str]) -> str:
    """``Lachnospiraceae_unclassified`` → ``unclassified``; ``uncultured`` stays."""
    label = _base(name, rank).replace("[", "").replace("]", "")
    for anc in ancestors:
        a = _base(anc, None).replace("[", "").replace("]", "")
        if a and label.startswith(a + " "):
            label = label[len(a) + 1:]
            break
    words = label.split(" ")
    if len(words) == 1 and words[0] in _UNCLASSIFIED_WORDS:
        return "unclassified"
    if label.endswith((" unclassified", " noname")) and len(words) == 2:
        return "unclassified"
    return label


def _as_row(lineage: Mapping[str, Any] | str) -> dict[str, str]:
    if isinstance(lineage, str):
        return parse_lineage(lineage)
    return {r: clean_name(lineage.get(r, ""), rank=r) for r in RANKS}


def _deepest(row: Mapping[str, str]) -> str:
    for r in reversed(RANKS):
        if row.get(r, ""):
            return r
    return ""


def _ancestors(row: Mapping[str, str], rank: str) -> list[str]:
    """Non-empty names above ``rank``, nearest first."""
    return [row.get(r, "") for r in reversed(RANKS[: RANKS.index(rank)]) if row.get(r, "")]


def _key(row: Mapping[str, str], rank: str) -> str:
    name = row.get(rank, "")
    if name and not is_placeholder(name):
        key = f"{rank}:{_primary(name, rank)}"
        if rank == "genus":
            fam = row.get("family", "")
            if fam and not is_placeholder(fam):
                key += f"|family:{_primary(fam, 'family')}"
        return key
    label = _placeholder_label(name, rank, _ancestors(row, rank)) if name else "unclassified"
    parts = [f"{rank}:{label}"]
    for r in reversed(RANKS[: RANKS.index(rank)]):
        anc = row.get(r, "")
        if not anc:
            continue
        if is_placeholder(anc):
            parts.append(f"{r}:{_placeholder_label(anc, r, _ancestors(row, r))}")
            continue
        parts.append(_key(row, r))
        break
    return "|".join(parts)


def taxon_key(lineage: Mapping[str, Any] | str, rank: str | None = None) -> str:
    """Return the match key of a lineage at ``rank`` (default: its deepest named rank).

    Parameters
    ----------
    lineage
        A lineage string (any style :func:`gutbrain.pp.parse_lineage` reads) or a mapping
        ``{rank: name}`` (e.g. a row of ``var``).
    rank
        Rank of the key; ``None`` uses the deepest non-empty rank.

    Returns
    -------
    str
        ``""`` for an empty lineage.

    Examples
    --------
    >>> taxon_key("k__Bacteria;f__Lachnospiraceae;g__[Ruminococcus];s__")
    'genus:[ruminococcus]|family:lachnospiraceae'
    >>> taxon_key("k__Bacteria;f__Lachnospiraceae;g__;s__", "genus")
    'genus:unclassified|family:lachnospiraceae'
    >>> taxon_key("k__Bacteria|f__Lachnospiraceae|g__Lachnospiraceae_unclassified", "genus")
    'genus:unclassified|family:lachnospiraceae'
    >>> taxon_key("s__Lactobacillus_fermentum")
    'species:limosilactobacillus fermentum'
    """
    row = _as_row(lineage)
    rank = rank or _deepest(row)
    if not rank:
        return ""
    if rank not in RANKS:
        raise ValueError(f"unknown rank {rank!r}; use one of {', '.join(RANKS)}")
    return _key(row, rank)


def _nearest_named(row: Mapping[str, str], rank: str) -> tuple[str, str]:
    for r in reversed(RANKS[: RANKS.index(rank)]):
        v = row.get(r, "")
        if v and not is_placeholder(v):
            return r, v
    return "", ""


def taxon_name(lineage: Mapping[str, Any] | str, rank: str | None = None) -> str:
    """Return the display name of a lineage at ``rank`` (default: its deepest named rank).

    A named taxon is shown as written (``[Ruminococcus]``, ``Clostridium sensu stricto 1``);
    a placeholder that names its parent as written (``Lachnospiraceae_unclassified``); a bare
    placeholder with its nearest named ancestor (``uncultured (f. Muribaculaceae)``); an
    empty rank as ``unclassified <nearest named ancestor>``.

    Examples
    --------
    >>> taxon_name("k__Bacteria;f__Lachnospiraceae;g__;s__", "genus")
    'unclassified Lachnospiraceae'
    >>> taxon_name("D_0__Bacteria;D_4__Muribaculaceae;D_5__uncultured")
    'uncultured (f. Muribaculaceae)'
    """
    row = _as_row(lineage)
    rank = rank or _deepest(row)
    if not rank:
        return "unclassified"
    return _display(row, rank)


def _display(row: Mapping[str, str], rank: str) -> str:
    """:func:`taxon_name` of a row of clean names."""
    name = row.get(rank, "")
    if name and not is_placeholder(name):
        return name
    r, anc = _nearest_named(row, rank)
    if not name:
        return f"unclassified {anc}" if anc else "unclassified"
    if anc and _base(anc, None).replace("[", "").replace("]", "") in _base(name, rank):
        return name
    return f"{name} ({ABBREV[r]}. {anc})" if anc else name


def _rank_frame(var: pd.DataFrame) -> pd.DataFrame:
    cols = {}
    for r in RANKS:
        if r in var.columns:
            col = var[r]
            cols[r] = col.astype(object).where(col.notna(), "").astype(str).to_numpy()
        else:
            cols[r] = np.full(len(var), "", dtype=object)
    df = pd.DataFrame(cols, index=var.index)
    return df.replace({"nan": "", "None": ""})


def _with_columns(df: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the columns of ``extra`` added by position (indexes may repeat)."""
    out = df.copy()
    for col in extra.columns:
        out[col] = extra[col].to_numpy()
    return out


def taxon_columns(ranks: pd.DataFrame, own_rank: Sequence[str] | None = None) -> pd.DataFrame:
    """``taxon_rank``, ``taxon_name``, ``taxon_key`` for a frame of rank columns.

    Computed once per distinct (lineage, rank) and broadcast back to the features.
    """
    values = ranks[list(RANKS)].to_numpy(dtype=object)
    n = len(values)
    own = np.asarray(own_rank if own_rank is not None else [""] * n, dtype=object)
    codes, uniq = pd.MultiIndex.from_arrays(
        [*(values[:, j].astype(str) for j in range(values.shape[1])), own.astype(str)]
    ).factorize(sort=False)
    first = np.full(len(uniq), -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(n)[::-1]
    u_rank = np.empty(len(uniq), dtype=object)
    u_name = np.empty(len(uniq), dtype=object)
    u_key = np.empty(len(uniq), dtype=object)
    for u, i in enumerate(first):
        row = dict(zip(RANKS, values[i], strict=True))
        r = own[i] if own[i] in RANKS else _deepest(row)
        u_rank[u], u_name[u], u_key[u] = (r, _display(row, r), _key(row, r)) if r else (
            "", "unclassified", "")
    return pd.DataFrame({"taxon_rank": u_rank[codes], "taxon_name": u_name[codes],
                         "taxon_key": u_key[codes]}, index=ranks.index)


def _names_frame(items: list[str]) -> pd.DataFrame:
    """Rank columns for lineage strings and bare names (a binomial is a species)."""
    lineage = re.compile(r"(^|[;|])\s*([kdpcofgst]__|D_\d+__)")
    rows = []
    for s in items:
        if lineage.search(s) or ";" in s or "|" in s:
            rows.append(s)
            continue
        words = clean_name(s, rank="species").split(" ")
        if len(words) >= 2 and words[1][:1].islower() and not s.lower().endswith(" group"):
            rows.append(f"s__{s}")
        else:
            low = s.lower()
            prefix = ("f" if low.endswith("aceae") else "o" if low.endswith("ales") else
                      "p" if low.endswith(("ota", "otes")) else "g")
            rows.append(f"{prefix}__{s}")
    df = lineage_frame(rows, index=items, with_keys=False)
    df["taxonomy"] = items
    return df


def taxon_table(data: Any) -> pd.DataFrame:
    """Per feature: the rank columns plus ``taxon_rank``, ``taxon_name`` and ``taxon_key``.

    Parameters
    ----------
    data
        An AnnData (its ``var`` rank columns; else ``var["taxonomy"]``; else the feature
        names parsed as lineages), a ``var``-like DataFrame, or a list of lineage strings
        or bare names (a binomial is a species, ``-aceae`` a family, one word a genus).
        A ``clade_rank`` column (MetaPhlAn tables of every rank) gives each feature's rank;
        otherwise it is the deepest non-empty rank.

    Returns
    -------
    pandas.DataFrame
        Index = feature names; columns :data:`gutbrain._core.RANKS`, ``taxon_rank``,
        ``taxon_name`` (display name) and ``taxon_key`` (match key).

    Examples
    --------
    >>> t = taxon_table(["f__Ruminococcaceae;g__Ruminococcus", "f__Lachnospiraceae;g__[Ruminococcus]"])
    >>> t["taxon_key"].tolist()
    ['genus:ruminococcus|family:ruminococcaceae', 'genus:[ruminococcus]|family:lachnospiraceae']
    """
    if hasattr(data, "var") and hasattr(data, "var_names"):
        var = data.var
    elif isinstance(data, pd.DataFrame):
        var = data
    else:
        var = _names_frame([str(x) for x in data])
    if any(r in var.columns for r in RANKS):
        ranks = _rank_frame(var)
    else:
        source = var["taxonomy"] if "taxonomy" in var.columns else pd.Series(
            [str(v) for v in var.index], index=var.index)
        ranks = lineage_frame(source.astype(str).tolist(), index=var.index)[list(RANKS)]
    own = var["clade_rank"].astype(str).tolist() if "clade_rank" in var.columns else None
    return _with_columns(ranks, taxon_columns(ranks, own))


def annotate(adata: Any) -> None:
    """Write each feature's ``taxon_rank``, ``taxon_name`` and ``taxon_key`` into ``var``.

    Parameters
    ----------
    adata
        Samples × features with rank columns in ``var`` (or a ``taxonomy`` column, or
        lineage feature names).

    Examples
    --------
    >>> import numpy as np
    >>> from gutbrain._core import new_adata
    >>> ad = new_adata(np.ones((1, 2)), obs_names=["s"], unit="counts", reader="doc",
    ...                var_names=["f__Lachnospiraceae;g__", "f__Muribaculaceae;g__uncultured"])
    >>> annotate(ad)
    >>> ad.var["taxon_name"].tolist()
    ['Lachnospiraceae', 'uncultured (f. Muribaculaceae)']
    """
    t = taxon_table(adata)
    for col in ("taxon_rank", "taxon_name", "taxon_key"):
        adata.var[col] = t[col].astype(str).to_numpy()


_LINEAGE_PREFIX = {"domain": "d__", "phylum": "p__", "class": "c__", "order": "o__",
                   "family": "f__", "genus": "g__", "species": "s__", "strain": "t__"}


def lineage_string(row: Mapping[str, Any], rank: str) -> str:
    """A prefixed lineage (``d__…; p__…; …``) from ``row`` down to ``rank``; empty ranks stay.

    Examples
    --------
    >>> lineage_string({"domain": "Bacteria", "family": "Lachnospiraceae", "genus": ""}, "genus")
    'd__Bacteria; p__; c__; o__; f__Lachnospiraceae; g__'
    """
    ranks = RANKS[: RANKS.index(rank) + 1]
    return "; ".join(f"{_LINEAGE_PREFIX[r]}{row.get(r, '') or ''}" for r in ranks)


def lineage_frame(
    lineages: Iterable[str | None],
    *,
    index: Iterable[str] | None = None,
    sep: str | None = None,
    with_keys: bool = True,
) -> pd.DataFrame:
    """Parse many lineages into rank columns, ``taxonomy`` and the taxon identity columns.

    Each distinct lineage is parsed once.  With ``with_keys`` (default) the frame also
    holds ``taxon_rank`` (deepest named rank), ``taxon_name`` (display name) and
    ``taxon_key`` (match key) of :mod:`gutbrain.taxonomy`.

    Examples
    --------
    >>> lineage_frame(["f__Ruminococcaceae;g__Ruminococcus", "f__Lachnospiraceae;g__[Ruminococcus]"])["genus"].tolist()
    ['Ruminococcus', '[Ruminococcus]']
    """
    # missing cells (None/NaN from pandas) are empty lineages, not the string "nan"
    lineages = [None if isinstance(lin, float) and pd.isna(lin) else lin for lin in lineages]
    labels = None if index is None else [str(i) for i in index]
    text = ["" if lin is None else str(lin) for lin in lineages]
    codes, uniq = pd.factorize(pd.Series(text, dtype=object), sort=False)
    parsed = []
    for u, key in enumerate(uniq):
        try:
            parsed.append(parse_lineage(key or None, sep=sep))
        except InputFormatError as exc:
            i = int(np.flatnonzero(codes == u)[0])
            where = f"feature {labels[i]!r}: " if labels is not None else ""
            raise InputFormatError(where + exc.message, fix=exc.fix) from None
    table = pd.DataFrame(parsed, columns=list(RANKS))
    df = table.iloc[codes].reset_index(drop=True) if len(text) else table
    df["taxonomy"] = text
    if labels is not None:
        df.index = pd.Index(labels)
    if with_keys:  # per distinct lineage, broadcast to the features
        keys = taxon_columns(table)
        df = _with_columns(df, keys.iloc[codes] if len(text) else keys)
    return df
