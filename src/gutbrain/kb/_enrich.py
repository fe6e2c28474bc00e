"""Enrichment of differential-abundance hits in stored signatures, and per-hit annotation.

Two tests against BugSigDB-style signatures (sets of NCBI genus taxids with a
direction):

* **over-representation**: one-sided hypergeometric test of the overlap between a
  hit list and each signature, both restricted to the ``universe`` (the taxa that
  were tested), with Benjamini–Hochberg FDR;
* **rank-based**: Mann–Whitney U test of the scores (e.g. log fold changes) of a
  signature's members against the other taxa of the ranked list (normal
  approximation with tie correction, as ``scipy.stats.mannwhitneyu(method=
  "asymptotic", use_continuity=False)``), computed for all signatures at once
  from a sparse membership matrix.

Concordance: hits that went *up* in the user's data tested against ``UP``
signatures, and *down* against ``DOWN``, are concordant; the crossed pairs are
discordant.  Results are summarised by condition and host.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from .._errors import DataValueError, GutbrainError
from ._taxa import taxon_index

__all__ = ["annotate", "bh", "enrichment", "rank_enrichment", "signatures"]


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN kept)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    n = pv.size
    if n == 0:
        return out
    order = np.argsort(pv)
    ranked = pv[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(n)
    adj[order] = np.minimum(ranked, 1.0)
    out[ok] = adj
    return out


def signatures(source: Any = None, *, kb: Any = None) -> pd.DataFrame:
    """Return signatures as a table (index ``sig_id``; ``members`` = frozenset of taxids).

    Parameters
    ----------
    source
        ``None`` (signatures stored in the knowledge base by the importers), a path
        to a GMT file, a mapping ``{sig_id: iterable of taxids}``, or a DataFrame
        already in this form.
    kb
        Knowledge base for ``source=None``.
    """
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, os.PathLike)):
        from ._import import read_gmt

        return read_gmt(source)
    if isinstance(source, Mapping):
        rows = [(str(k), str(k), "", "", "", "", None, frozenset(int(x) for x in v))
                for k, v in source.items()]
        return pd.DataFrame(rows, columns=["sig_id", "name", "study", "condition", "contrast",
                                           "direction", "host_species", "members"]).set_index("sig_id")
    from ._store import load

    kb = load() if kb is None else kb
    sig = kb.sql("SELECT * FROM signature")
    mem = kb.sql("SELECT sig_id, ncbi_taxid FROM signature_member")
    groups = mem.groupby("sig_id")["ncbi_taxid"].agg(lambda s: frozenset(int(x) for x in s))
    sig["members"] = sig["sig_id"].map(groups).apply(lambda v: v if isinstance(v, frozenset) else frozenset())
    return sig.set_index("sig_id")


def _resolve(items: Iterable[Any], kb: Any) -> tuple[list[int], list[str]]:
    """Names or taxids → NCBI taxids (via the evidence taxon table); unresolved names."""
    index = taxon_index(kb) if kb is not None else None
    taxids: dict[str, int] = {}
    if index is not None:
        tax = kb.sql("SELECT taxon_id, ncbi_taxid FROM taxon WHERE ncbi_taxid IS NOT NULL")
        taxids = dict(zip(tax["taxon_id"], tax["ncbi_taxid"].astype(int), strict=False))
    out, bad = [], []
    for x in items:
        if isinstance(x, (int, np.integer)) or (isinstance(x, str) and x.strip().isdigit()):
            out.append(int(x))
            continue
        rec = index.match_one(x) if index is not None else {"taxon_id": None, "match": "none"}
        tid = rec["taxon_id"] if rec["match"] != "genus_of_species" else None
        if tid is not None and tid in taxids:
            out.append(int(taxids[tid]))
        else:
            bad.append(str(x))
    return out, bad


def _membership(sigs: pd.DataFrame, universe: np.ndarray) -> sp.csr_matrix:
    pos = {int(t): i for i, t in enumerate(universe)}
    rows, cols = [], []
    for i, members in enumerate(sigs["members"]):
        for t in members:
            j = pos.get(int(t))
            if j is not None:
                rows.append(i)
                cols.append(j)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sigs), len(universe)))


def _concordance(df: pd.DataFrame, hit_dir: str) -> pd.Series:
    sig_dir = df["direction"].fillna("")
    want = "UP" if hit_dir == "up" else "DOWN"
    other = "DOWN" if hit_dir == "up" else "UP"
    return pd.Series(np.where(sig_dir == want, "concordant",
                              np.where(sig_dir == other, "discordant", "unknown")), index=df.index)


def enrichment(
    hits_up: Iterable[Any] = (),
    hits_down: Iterable[Any] = (),
    *,
    universe: Iterable[Any],
    signatures_from: Any = None,
    kb: Any = None,
    min_size: int = 3,
) -> pd.DataFrame:
    """Over-representation of DA hits in stored signatures (hypergeometric + BH).

    Parameters
    ----------
    hits_up, hits_down
        Taxa higher / lower in the user's cases (names in any naming, or NCBI taxids).
    universe
        All taxa tested (names or taxids); hits and signatures are restricted to it.
    signatures_from
        Signature source, see :func:`signatures` (default: the knowledge base).
    kb
        Knowledge base used to resolve names to taxids.
    min_size
        Signatures with fewer members in the universe are not tested.

    Returns
    -------
    pandas.DataFrame
        One row per (hit list, signature) tested: ``hits`` (``up``/``down``),
        ``sig_id, condition, host_species, direction, size, overlap, expected,
        p_value, q_value, concordance``; sorted by p-value.  ``attrs["unresolved"]``
        lists hit or universe names that did not map to a taxid;
        ``attrs["summary"]`` is :func:`concordance summary <summarize_concordance>`.
    """
    from ._store import load

    kb = load() if kb is None else kb
    sigs = signatures(signatures_from, kb=kb)
    uni, bad_u = _resolve(universe, kb)
    uni_arr = np.unique(np.asarray(uni, dtype=np.int64))
    if uni_arr.size == 0:
        raise DataValueError("the universe has no taxa with NCBI taxids",
                             fix="pass NCBI taxids or names known to the evidence base")
    M = _membership(sigs, uni_arr)
    size = np.asarray(M.sum(axis=1)).ravel()
    keep = size >= min_size
    out = []
    unresolved = list(bad_u)
    N = uni_arr.size
    for label, hits in (("up", hits_up), ("down", hits_down)):
        ids, bad = _resolve(hits, kb)
        unresolved += bad
        h = np.isin(uni_arr, np.asarray(ids, dtype=np.int64))
        n = int(h.sum())
        if n == 0:
            continue
        overlap = np.asarray(M @ h.astype(float)).ravel()
        K = size[keep]
        k = overlap[keep]
        p = stats.hypergeom.sf(k - 1, N, K, n)
        sub = sigs.loc[keep, [c for c in ("condition", "host_species", "direction") if c in sigs]].copy()
        sub = sub.reindex(columns=["condition", "host_species", "direction"])
        sub["hits"] = label
        sub["size"] = K.astype(int)
        sub["overlap"] = k.astype(int)
        sub["expected"] = K * n / N
        sub["p_value"] = p
        sub["q_value"] = bh(p)
        sub["concordance"] = _concordance(sub, label)
        out.append(sub)
    cols = ["hits", "sig_id", "condition", "host_species", "direction", "size", "overlap",
            "expected", "p_value", "q_value", "concordance"]
    if not out:
        res = pd.DataFrame(columns=cols)
    else:
        res = pd.concat(out).rename_axis("sig_id").reset_index()[cols]
        res = res.sort_values(["p_value", "sig_id"]).reset_index(drop=True)
    res.attrs["unresolved"] = sorted(set(unresolved))
    res.attrs["summary"] = summarize_concordance(res)
    return res


def summarize_concordance(res: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Count significant concordant / discordant signatures by condition and host."""
    cols = ["condition", "host_species", "concordant", "discordant", "unknown"]
    if res.empty:
        return pd.DataFrame(columns=cols)
    sig = res[res["q_value"] <= alpha].copy()
    if sig.empty:
        return pd.DataFrame(columns=cols)
    sig["host_species"] = sig["host_species"].fillna("not stated")
    tab = (sig.groupby(["condition", "host_species", "concordance"]).size()
           .unstack(fill_value=0).reindex(columns=["concordant", "discordant", "unknown"], fill_value=0))
    return tab.reset_index()


def rank_enrichment(
    scores: Mapping[Any, float] | pd.Series,
    *,
    signatures_from: Any = None,
    kb: Any = None,
    min_size: int = 3,
) -> pd.DataFrame:
    """Rank-based test of every signature in a ranked list (Mann–Whitney U).

    Parameters
    ----------
    scores
        ``{taxon: score}`` (e.g. log fold change, positive = higher in cases);
        taxa given by name (any naming) or NCBI taxid.
    signatures_from, kb, min_size
        As in :func:`enrichment`.

    Returns
    -------
    pandas.DataFrame
        ``sig_id, condition, host_species, direction, size, mean_rank_member,
        U, z, p_value, q_value, shift, concordance`` where ``shift`` is ``up``
        when members rank higher than non-members; concordant means ``shift``
        agrees with the signature's direction.
    """
    from ._store import load

    kb = load() if kb is None else kb
    s = pd.Series(scores, dtype=float).dropna()
    ids, bad = _resolve(list(s.index), kb)
    ok_names = [x for x in s.index if str(x) not in set(bad)]
    vals = pd.Series(s.loc[ok_names].to_numpy(), index=np.asarray(ids, dtype=np.int64))
    vals = vals.groupby(level=0).mean()
    uni = vals.index.to_numpy()
    x = vals.to_numpy()
    N = x.size
    if N < 3:
        raise DataValueError("rank enrichment needs at least 3 scored taxa with taxids",
                             fix="pass scores for the tested taxa")
    sigs = signatures(signatures_from, kb=kb)
    M = _membership(sigs, uni)
    n1 = np.asarray(M.sum(axis=1)).ravel()
    keep = (n1 >= min_size) & (n1 <= N - 1)
    ranks = stats.rankdata(x)
    R1 = np.asarray(M @ ranks).ravel()
    n2 = N - n1
    U = R1 - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    _, counts = np.unique(x, return_counts=True)
    tie = float(np.sum(counts**3 - counts))
    var = n1 * n2 / 12.0 * ((N + 1) - tie / (N * (N - 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (U - mu) / np.sqrt(var)
    p = 2 * stats.norm.sf(np.abs(z))
    sub = sigs.reindex(columns=["condition", "host_species", "direction"]).loc[keep].copy()
    sub["size"] = n1[keep].astype(int)
    sub["mean_rank_member"] = R1[keep] / n1[keep]
    sub["U"] = U[keep]
    sub["z"] = z[keep]
    sub["p_value"] = p[keep]
    sub["q_value"] = bh(p[keep])
    sub["shift"] = np.where(z[keep] > 0, "up", "down")
    sd = sub["direction"].fillna("")
    sub["concordance"] = np.where(
        sd == "", "unknown",
        np.where((sd == "UP") == (sub["shift"] == "up"), "concordant", "discordant"))
    res = sub.rename_axis("sig_id").reset_index().sort_values(["p_value", "sig_id"]).reset_index(drop=True)
    res.attrs["unresolved"] = sorted(set(bad))
    return res


def _da_frame(data: Any) -> pd.DataFrame:
    """A DataFrame of hits from a DA result or an AnnData holding one."""
    if hasattr(data, "uns") and hasattr(data, "var"):
        da = data.uns.get("diff_abundance")
        res = None
        if isinstance(da, Mapping):
            res = da.get("results", da.get("table"))
        if isinstance(res, pd.DataFrame):
            return res
        raise GutbrainError("the AnnData has no differential-abundance results "
                            "(uns['diff_abundance']['results'])",
                            fix="run differential abundance first, or pass a DataFrame of hits")
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (list, tuple, pd.Index, pd.Series)):
        return pd.DataFrame({"taxon": list(data)})
    raise GutbrainError(f"cannot annotate a {type(data).__name__}",
                        fix="pass a DA DataFrame, an AnnData or a list of taxa")


def annotate(
    data: Any,
    *,
    taxon_col: str | None = None,
    condition: str | None = None,
    host: str | None = None,
    kb: Any = None,
) -> pd.DataFrame:
    """Attach the stored evidence to each hit of a DA result.

    Parameters
    ----------
    data
        A DA result DataFrame (taxa in ``taxon_col``, or a ``taxon``/``feature``/
        ``genus`` column, or the index), an AnnData with
        ``uns["diff_abundance"]["results"]``, or a list of taxon names.
    taxon_col
        Column holding the taxon names.
    condition, host
        Restrict the evidence as in :func:`gutbrain.kb.query`.
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).

    Returns
    -------
    pandas.DataFrame
        The input rows plus ``kb_taxon, kb_match, n_rows, n_studies, n_human,
        n_animal, n_host_not_recorded, increased, decreased, no_change, disputed,
        dois``.
    """
    from ._query import query
    from ._store import load

    kb = load() if kb is None else kb
    df = _da_frame(data).copy()
    col = taxon_col
    if col is None:
        col = next((c for c in ("taxon", "feature", "genus", "species", "name") if c in df), None)
    names = df[col].astype(str).tolist() if col else [str(i) for i in df.index]
    index = taxon_index(kb)
    extra = []
    for name in names:
        rec = index.match_one(name)
        q = query(name, condition=condition, host=host, kb=kb) if rec["taxon_id"] else None
        if q is None or q.empty:
            extra.append({"kb_taxon": rec["matched_name"], "kb_match": rec["match"], "n_rows": 0,
                          "n_studies": 0, "n_human": 0, "n_animal": 0, "n_host_not_recorded": 0,
                          "increased": 0,
                          "decreased": 0, "no_change": 0, "disputed": 0, "dois": ""})
            continue
        extra.append({
            "kb_taxon": rec["matched_name"], "kb_match": rec["match"], "n_rows": len(q),
            "n_studies": int(q["pub_id"].nunique()),
            "n_human": int((q["host_class"] == "human").sum()),
            "n_animal": int((q["host_class"] == "animal").sum()),
            "n_host_not_recorded": int((q["host_class"] == "unknown").sum()),
            "increased": int((q["direction"] == "increased").sum()),
            "decreased": int((q["direction"] == "decreased").sum()),
            "no_change": int((q["direction"] == "no_change").sum()),
            "disputed": int(q["disputed"].sum()),
            "dois": "; ".join(sorted({str(d) for d in q["doi"].dropna() if d})),
        })
    return pd.concat([df.reset_index(drop=col is not None), pd.DataFrame(extra)], axis=1)
