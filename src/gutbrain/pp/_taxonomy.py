"""Taxon names across taxonomies: synonyms, canonical names, rank aggregation.

Direction: gutbrain's **canonical** name is the current, validly published name
(``data/synonyms.tsv``: ``old_name → new_name``), e.g. *Lactobacillus fermentum* →
*Limosilactobacillus fermentum* (Zheng et al. 2020, doi:10.1099/ijsem.0.004107) and
Firmicutes → Bacillota (Oren & Garrity 2021, doi:10.1099/ijsem.0.005056).
:func:`genus_aliases` walks the table backwards so joins with older tables work both ways.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import RANKS, _as_matrix, get_unit, record
from .._errors import DataValueError, UnitError
from .._synonyms import _key, _squash, canonical_name, resolve_synonyms, synonym_table
from .._taxonomy import is_placeholder, normalize_name
from ..taxonomy._keys import _key as _row_key
from ..taxonomy._keys import annotate, lineage_string, taxon_name
from ._filter import (
    ADDITIVE_UNITS,
    _append_step,
    _check_adata,
    _check_values,
    _derive,
    _row_sums,
)

__all__ = [
    "canonical_name",
    "collapse",
    "genus_aliases",
    "normalize_taxonomy",
    "resolve_synonyms",
    "synonym_table",
]

@functools.lru_cache(maxsize=1)
def _alias_graph() -> dict[str, set[str]]:
    """Undirected links: old ↔ new names, and old genus ↔ new genus for genus transfers."""
    graph: dict[str, set[str]] = {}

    def link(a: str, b: str) -> None:
        graph.setdefault(_key(a), {a}).add(b)
        graph.setdefault(_key(b), {b}).add(a)

    by_new: dict[str, set[str]] = {}
    for row in synonym_table().itertuples(index=False):
        old, new = _squash(row.old_name), _squash(row.new_name)
        by_new.setdefault(new, {new}).add(old)
        if row.rank in ("species", "subspecies"):
            g_old, g_new = old.split(" ")[0], new.split(" ")[0]
            if g_old != g_new:
                link(g_old, g_new)
    # every name of one taxon (old and new) is an alias of every other
    for group in by_new.values():
        for a in group:
            for b in group:
                link(a, b)
    return graph


def genus_aliases(name: str) -> list[str]:
    """Return every name that may denote the same taxon in another taxonomy.

    For a **genus**, the genera linked by a species transfer in the synonym table:
    ``genus_aliases("Limosilactobacillus")`` → ``["Limosilactobacillus", "Lactobacillus"]``
    and ``genus_aliases("Lactobacillus")`` lists *Lactobacillus* and all 2020 segregate
    genera (an old "Lactobacillus" result may concern any of them).  Links are one step
    (not transitive), so *Limosilactobacillus* is not an alias of *Lactiplantibacillus*.
    For a **species** or **phylum**, its old and current names.  The canonical name comes
    first, then the others sorted; unknown names return ``[name]``.

    Examples
    --------
    >>> genus_aliases("Limosilactobacillus")
    ['Limosilactobacillus', 'Lactobacillus']
    >>> genus_aliases("Bacteroidetes")
    ['Bacteroidota', 'Bacteroidetes']
    """
    cleaned = normalize_name(str(name))
    if not cleaned:
        return []
    canon = canonical_name(cleaned)
    names = set(_alias_graph().get(_key(cleaned), {cleaned})) | {cleaned, canon}
    names |= _alias_graph().get(_key(canon), set())
    others = sorted(n for n in names if n != canon)
    return [canon, *others]


# ----------------------------------------------------------------------------- AnnData tools
def _rank_columns(adata: AnnData) -> list[str]:
    return [r for r in RANKS if r in adata.var.columns]


def _as_str(col: pd.Series) -> pd.Series:
    return col.astype(object).where(col.notna(), "").astype(str)


def normalize_taxonomy(adata: AnnData) -> None:
    """Canonicalise the named taxa of the ``var`` rank columns in place.

    Every *named* taxon of a rank column (``domain`` … ``species``; ``strain`` holds ids and
    is left alone) goes through :func:`canonical_name` with that rank, so ``phylum``
    Firmicutes becomes Bacillota but a *class* named Actinobacteria is kept.  Placeholders
    (``Lachnospiraceae_unclassified``, ``uncultured``) and Greengenes brackets of a genus
    (``[Ruminococcus]`` is not *Ruminococcus*) are kept as written.  When a species is
    renamed into another genus (*Lactobacillus fermentum* → *Limosilactobacillus
    fermentum*), that feature's ``genus`` becomes the new genus too, so species and genus
    stay consistent.  Higher ranks (family …) are not changed.  The original lineage stays
    in ``var["taxonomy"]``; ``taxon_rank``, ``taxon_name`` and ``taxon_key`` are refreshed.

    Notes
    -----
    Sets the following fields:

    ``adata.var[<rank>]``
        Every rank column from ``domain`` to ``species``, cleaned and canonicalised in place.
    ``adata.uns["normalize_taxonomy"]``
        ``{"params", "n_changed": {rank: count}, "changes": DataFrame(feature_id, rank, old, new)}``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from gutbrain._core import new_adata
    >>> var = pd.DataFrame({"genus": ["Lactobacillus", "[Ruminococcus]"],
    ...                     "species": ["Lactobacillus fermentum", ""]})
    >>> ad = new_adata(np.ones((1, 2)), obs_names=["s"], var_names=["a", "b"],
    ...                unit="counts", reader="doc", var=var)
    >>> normalize_taxonomy(ad)
    >>> ad.var["genus"].tolist()
    ['Limosilactobacillus', '[Ruminococcus]']
    """
    _check_adata(adata, "normalize_taxonomy")
    ranks = [r for r in _rank_columns(adata) if r != "strain"]
    if not ranks:
        raise DataValueError(
            "normalize_taxonomy found no rank columns in var "
            f"(expected some of {', '.join(RANKS[:-1])})",
            fix="attach a taxonomy first, e.g. gb.io.attach_taxonomy(adata, taxonomy)",
        )
    var = adata.var
    new_cols: dict[str, np.ndarray] = {}
    old_cols: dict[str, np.ndarray] = {}
    for r in ranks:
        old = _as_str(var[r])
        uniq = pd.unique(old)
        mapping = {u: (canonical_name(u, rank=r) or u) if u and not is_placeholder(u) else u
                   for u in uniq}
        old_cols[r] = old.to_numpy(dtype=object)
        new_cols[r] = old.map(mapping).to_numpy(dtype=object)
    if "species" in new_cols and "genus" in new_cols:
        sp_new = new_cols["species"]
        sp_clean = np.array(
            [normalize_name(s, rank="species") for s in old_cols["species"]], dtype=object
        )
        renamed = (sp_new != sp_clean) & (sp_new != "") & (sp_new != old_cols["species"])
        if renamed.any():
            genus_of = np.array([s.split(" ")[0] for s in sp_new[renamed]], dtype=object)
            g = new_cols["genus"].copy()
            g[renamed] = genus_of
            new_cols["genus"] = g
    fids = (
        _as_str(var["feature_id"]).to_numpy(dtype=object)
        if "feature_id" in var.columns
        else np.asarray(adata.var_names, dtype=object)
    )
    changes = []
    n_changed: dict[str, int] = {}
    for r in ranks:
        diff = old_cols[r] != new_cols[r]
        n_changed[r] = int(diff.sum())
        for i in np.flatnonzero(diff):
            changes.append((str(fids[i]), r, str(old_cols[r][i]), str(new_cols[r][i])))
        adata.var[r] = pd.Series(new_cols[r], index=var.index, dtype=object).astype(str)
    annotate(adata)
    table = pd.DataFrame(changes, columns=["feature_id", "rank", "old", "new"])
    record(
        adata,
        "normalize_taxonomy",
        params={"ranks": ranks, "synonym_rows": len(synonym_table())},
        references=["doi:10.1099/ijsem.0.004107", "doi:10.1099/ijsem.0.005056"],
        n_changed=n_changed,
        changes=table,
    )


def _group_labels(var: pd.DataFrame, rank: str, ranks: list[str] | None = None) -> np.ndarray:
    """Match key at ``rank`` of every feature: the grouping of :func:`collapse`."""
    frame = pd.DataFrame({r: (_as_str(var[r]) if r in var.columns else "") for r in RANKS},
                         index=var.index)
    values = frame.to_numpy(dtype=object)
    r_i = RANKS.index(rank)
    cache: dict[tuple[str, ...], str] = {}
    out = np.empty(len(values), dtype=object)
    for i, row in enumerate(values):
        sig = tuple(row[: r_i + 1])
        key = cache.get(sig)
        if key is None:
            key = cache[sig] = _row_key(dict(zip(RANKS, row, strict=True)), rank)
        out[i] = key
    return out


def _display_names(rows: pd.DataFrame, keys: list[str], rank: str) -> list[str]:
    """Display names of the groups; homonyms get their family (or key) appended."""
    names = [taxon_name(dict(zip(RANKS, row, strict=True)), rank)
             for row in rows[list(RANKS)].to_numpy(dtype=object)]
    counts = pd.Series(names).value_counts()
    out = list(names)
    for i, n in enumerate(names):
        if counts[n] > 1:
            row = rows.iloc[i]
            fam = str(row.get("family", "")) if rank in ("genus", "species", "strain") else ""
            out[i] = f"{n} (f. {fam})" if fam else f"{n} [{keys[i]}]"
    counts = pd.Series(out).value_counts()
    return [f"{n} [{k}]" if counts[n] > 1 else n for n, k in zip(out, keys, strict=True)]


def collapse(
    adata: AnnData,
    rank: str,
    *,
    unassigned: Literal["keep", "drop"] = "keep",
) -> AnnData:
    """Sum the features of one organism at ``rank`` (e.g. ASVs → genera).

    Features are grouped by their match key at ``rank`` (:func:`gutbrain.taxonomy.taxon_key`),
    so homonyms stay apart: Greengenes ``[Ruminococcus]`` (Lachnospiraceae) and
    ``Ruminococcus`` (Ruminococcaceae), SILVA ``uncultured`` genera of two families, GTDB
    ``Prevotella`` and ``Prevotella_A``.

    Parameters
    ----------
    adata
        Samples × features with rank columns in ``var`` and additive values in ``X``
        (counts, relative, percent, cpm, rpk, abundance).  The unit is kept.  A MetaPhlAn
        table of every rank (``var["clade_rank"]``, ``gb.io.read_metaphlan(rank="all")``)
        uses MetaPhlAn's own rows at ``rank`` (its estimate, including reads not assigned to
        any lower clade); only when it has no row at ``rank`` are its deepest rows summed.
    rank
        One of ``domain, phylum, class, order, family, genus, species, strain``.
    unassigned
        Features without a named taxon at ``rank`` (an empty rank, or a placeholder such
        as ``uncultured`` or ``Lachnospiraceae_unclassified``):

        * ``"keep"`` (default): grouped by their match key too, shown as
          ``unclassified Lachnospiraceae`` (empty rank; the nearest named ancestor),
          ``uncultured (f. Muribaculaceae)`` or as written
          (``Lachnospiraceae_unclassified``); per-sample totals are preserved.
        * ``"drop"``: removed; each sample's removed share of its total goes to
          ``obs["unassigned_fraction_<rank>"]`` (0 for an all-zero sample).

    Returns
    -------
    AnnData
        One feature per organism; ``var_names`` = ``var["feature_id"]`` = the display name
        (homonyms get ``(f. <family>)`` appended); ``var`` holds the ranks from ``domain``
        down to ``rank``, ``taxonomy`` (the lineage down to ``rank``), ``taxon_rank``,
        ``taxon_name``, ``taxon_key`` and ``n_features`` (features summed).  Sparse ``X``
        stays sparse when sparse enough.  Layers with additive units are collapsed the
        same way; others are dropped.  ``uns["collapse"]`` records ``source``
        (``"features"``, ``"clade rows at rank"`` or ``"sum of deepest clade rows"``).

    Notes
    -----
    Sets the following fields of the **returned** AnnData (``adata`` is not modified):

    ``var["n_features"]``
        Number of input features summed into each group.
    ``obs["unassigned_fraction_<rank>"]``
        With ``unassigned="drop"``: each sample's removed share.
    ``uns["collapse"]``
        ``{"params", "n_groups", "n_unassigned_features", "n_conflicting", "dropped_layers"}``.
    ``uns["gutbrain"]["steps"]``
        The step appended (shape before and after).

    Computed as ``X @ G`` with ``G`` a sparse features × groups indicator matrix.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from gutbrain._core import new_adata
    >>> from gutbrain.taxonomy import lineage_frame
    >>> lin = ["f__Ruminococcaceae;g__Ruminococcus", "f__Lachnospiraceae;g__[Ruminococcus]",
    ...        "f__Lachnospiraceae;g__[Ruminococcus]", "f__Lachnospiraceae;g__"]
    >>> ad = new_adata(np.array([[1.0, 2.0, 3.0, 4.0]]), obs_names=["s"], unit="counts",
    ...                var_names=["a", "b", "c", "d"], reader="doc",
    ...                var=lineage_frame(lin, index=list("abcd")))
    >>> out = collapse(ad, "genus")
    >>> out.var_names.tolist(), out.X.tolist()
    (['Ruminococcus', '[Ruminococcus]', 'unclassified Lachnospiraceae'], [[1.0, 5.0, 4.0]])
    """
    _check_adata(adata, "collapse")
    if rank not in RANKS:
        raise DataValueError(f"unknown rank {rank!r}", fix=f"use one of {', '.join(RANKS)}")
    if unassigned not in ("keep", "drop"):
        raise DataValueError(f"unassigned must be 'keep' or 'drop', got {unassigned!r}",
                             fix="pass unassigned='keep' or unassigned='drop'")
    if rank not in adata.var.columns:
        raise DataValueError(
            f"collapse to {rank} needs var[{rank!r}], but var has columns "
            f"{list(adata.var.columns)}",
            fix="attach a taxonomy first, e.g. gb.io.attach_taxonomy(adata, taxonomy)",
        )
    unit = get_unit(adata)
    if unit not in ADDITIVE_UNITS:
        raise UnitError(
            f"collapse sums features, which needs additive values, but X holds {unit}",
            fix="collapse the untransformed table, then transform (e.g. gb.pp.clr)",
        )
    _check_values(adata.X, what="collapse", layer=None)
    rows_in = pd.DataFrame({r: (_as_str(adata.var[r]) if r in adata.var.columns else "")
                            for r in RANKS}, index=adata.var.index)
    source, use = _collapse_rows(adata, rank)
    names_at = rows_in[rank].to_numpy(dtype=object)
    assigned = np.array([bool(n) and not is_placeholder(n) for n in names_at], dtype=bool)
    if unassigned == "drop":
        use = use & assigned
    keys_all = _group_labels(rows_in, rank)
    codes, groups = pd.factorize(pd.Series(keys_all[use], dtype=object), sort=False)
    n_groups = len(groups)
    feat = np.flatnonzero(use)
    G = sp.csr_matrix(
        (np.ones(feat.size), (feat, codes)), shape=(adata.n_vars, n_groups), dtype=np.float64
    )
    GT = sp.csr_matrix(G.T)

    def _apply(M):
        if sp.issparse(M):
            return _as_matrix(sp.csr_matrix(M, dtype=np.float64) @ G, "auto")
        return np.asarray(GT @ np.asarray(M, dtype=np.float64).T).T.copy()

    X = _apply(adata.X)
    # group lineages: the ranks down to ``rank`` of the first feature of each group
    first = np.full(n_groups, -1, dtype=np.int64)
    order = np.arange(codes.size)[::-1]
    first[codes[order]] = feat[order]
    ranks = list(RANKS[: RANKS.index(rank) + 1])
    grp = rows_in.iloc[first].reset_index(drop=True)
    for r in RANKS[RANKS.index(rank) + 1:]:
        grp[r] = ""
    keys = [str(g) for g in groups]
    labels = _display_names(grp, keys, rank)
    var = pd.DataFrame(index=pd.Index(labels))
    var["feature_id"] = labels
    for r in ranks:
        var[r] = grp[r].astype(str).to_numpy()
    var["taxonomy"] = [lineage_string(row, rank) for row in grp[ranks].to_dict("records")]
    var["taxon_rank"] = rank
    var["taxon_name"] = [taxon_name(row, rank) for row in grp[ranks].to_dict("records")]
    var["taxon_key"] = keys
    var["n_features"] = np.bincount(codes, minlength=n_groups).astype(np.int64)
    if source == "clade rows at rank":
        var["clade_rank"] = rank
        if "taxid" in adata.var.columns:
            var["taxid"] = _as_str(adata.var["taxid"]).to_numpy(dtype=object)[first]
    obs = adata.obs.copy()
    if unassigned == "drop":
        base = _collapse_rows(adata, rank)[1]
        totals = _row_sums(adata.X[:, np.flatnonzero(base)]) if base.any() else np.zeros(adata.n_obs)
        gone = base & ~assigned
        dropped = _row_sums(adata.X[:, np.flatnonzero(gone)]) if gone.any() else np.zeros(adata.n_obs)
        obs[f"unassigned_fraction_{rank}"] = np.divide(
            dropped, totals, out=np.zeros_like(totals), where=totals > 0
        )
    layers = {}
    dropped_layers = []
    for name in adata.layers:
        if get_unit(adata, name) in ADDITIVE_UNITS:
            layers[name] = _apply(adata.layers[name])
        else:
            dropped_layers.append(name)
    before = adata.shape
    new = _derive(adata, X, obs=obs, var=var, layers=layers)
    params = {"rank": rank, "unassigned": unassigned}
    record(
        new,
        "collapse",
        params=params,
        n_groups=int(n_groups),
        n_unassigned_features=int((~assigned & _collapse_rows(adata, rank)[1]).sum()),
        source=source,
        dropped_layers=dropped_layers,
    )
    _append_step(new, "collapse", params, before)
    return new


def _collapse_rows(adata: AnnData, rank: str) -> tuple[str, np.ndarray]:
    """Which features a collapse sums: all, a MetaPhlAn table's rows at ``rank``, or its leaves."""
    var = adata.var
    if "clade_rank" not in var.columns:
        return "features", np.ones(adata.n_vars, dtype=bool)
    own = _as_str(var["clade_rank"]).to_numpy(dtype=object)
    present = {r for r in own if r in RANKS}
    if len(present) <= 1:
        return "features", np.ones(adata.n_vars, dtype=bool)
    if rank in present:
        return "clade rows at rank", own == rank
    deepest = max(present, key=RANKS.index)
    if RANKS.index(deepest) < RANKS.index(rank):
        raise DataValueError(
            f"the table has no clade at rank {rank!r} or below (deepest: {deepest})",
            fix=f"collapse to one of {sorted(present, key=RANKS.index)}",
        )
    return "sum of deepest clade rows", own == deepest
