"""Query the evidence base: rows for a taxon, grouped, with a consistency summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._errors import GutbrainError
from ._schema import EVIDENCE_CLASS, EVIDENCE_LEVELS, host_class
from ._taxa import taxon_index

__all__ = ["QUERY_COLUMNS", "consistency", "doi_url", "pmid_url", "query"]

#: Columns of :func:`query` results, in order.
QUERY_COLUMNS: tuple[str, ...] = (
    "obs_id", "taxon", "rank", "taxon_id", "match", "condition", "condition_id", "animal_model",
    "comparison", "direction", "host", "host_class", "evidence_level", "evidence_class",
    "verification", "doi", "pmid", "citation", "title", "year", "pub_id", "source_id", "link",
    "record_url", "n_case", "n_control", "body_site", "assay", "stat_test", "experiment",
    "disputed", "dispute_reason", "same_study",
)

_OBS_SQL = """
SELECT o.obs_id, t.name AS taxon, t.rank, o.taxon_id, c.name AS condition, o.condition_id,
       c.animal_model, o.comparison, o.direction, o.host_species AS host, o.evidence_level,
       o.verification, p.doi, p.pmid, p.authors, p.year, p.title, p.url AS pub_url, o.pub_id,
       o.source_id, o.n_case, o.n_control, o.body_site, o.assay, o.stat_test, o.experiment,
       o.url AS record_url
FROM observation o
JOIN taxon t ON t.taxon_id = o.taxon_id
JOIN condition c ON c.condition_id = o.condition_id
JOIN publication p ON p.pub_id = o.pub_id
"""


def _condition_ids(kb: Any, condition: str) -> set[str]:
    """Conditions matching ``condition`` by id, name or synonym, plus their descendants."""
    conds = kb.table("condition")
    q = condition.strip().lower()
    hit = set()
    for r in conds.itertuples(index=False):
        syns = [s.strip().lower() for s in str(r.synonyms or "").split("|") if s.strip()]
        if q == r.condition_id.lower() or q in r.name.lower() or q in syns:
            hit.add(r.condition_id)
    if not hit:
        return set()
    children: dict[str, list[str]] = {}
    for r in conds.itertuples(index=False):
        if r.parent:
            children.setdefault(r.parent, []).append(r.condition_id)
    stack, out = list(hit), set(hit)
    while stack:
        for ch in children.get(stack.pop(), []):
            if ch not in out:
                out.add(ch)
                stack.append(ch)
    return out


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v == ""


def _citation(authors: Any, year: Any, title: Any = None) -> str:
    a = "" if _blank(authors) else str(authors)
    y = "" if _blank(year) else str(int(year))
    text = f"{a} {y}".strip()
    if not text and not _blank(title):
        t = str(title)
        text = t if len(t) <= 90 else t[:87].rstrip() + "…"
    return text


def doi_url(doi: Any) -> str:
    """``https://doi.org/<doi>`` (DOI path characters percent-encoded), or ``""``."""
    from urllib.parse import quote

    return "" if _blank(doi) else "https://doi.org/" + quote(str(doi), safe="/.-_();:")


def pmid_url(pmid: Any) -> str:
    """The PubMed page of a PMID, or ``""``."""
    return "" if _blank(pmid) else f"https://pubmed.ncbi.nlm.nih.gov/{int(pmid)}/"


def _link(doi: Any, pmid: Any, url: Any) -> str:
    return doi_url(doi) or pmid_url(pmid) or ("" if _blank(url) else str(url))


def query(
    taxon: str | int,
    *,
    condition: str | None = None,
    host: str | None = None,
    kb: Any = None,
    include_reviews: bool = True,
) -> pd.DataFrame:
    """Return evidence rows for a taxon.

    Parameters
    ----------
    taxon
        A name (any naming; synonyms and the 2020 *Lactobacillus* split are
        followed), a lineage string or an NCBI taxid.
    condition
        Keep rows whose condition (id, name or synonym, case-insensitive substring)
        or a broader condition matches, e.g. ``"neuropathic pain"`` also keeps the
        chronic-constriction-injury model.
    host
        ``"human"``, ``"animal"``, ``"none"`` (in vitro), ``"unknown"`` (host not
        recorded by the source) or a species binomial.
    kb
        A :class:`~gutbrain.kb.KnowledgeBase`; default :func:`gutbrain.kb.load`.
    include_reviews
        Keep rows whose evidence level is ``review``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`QUERY_COLUMNS`, sorted by host class, condition and
        evidence level.  ``match`` says how the row's taxon relates to the query
        (``exact``, ``synonym``, ``pre-2020 genus``, ``split genus``, ``species of
        genus`` for rows about a species or strain of the queried genus …);
        ``evidence_class`` is the coarse level (human association, animal
        association, intervention, mechanism, association with host not recorded);
        ``link`` is the DOI, else PubMed, else the study page; ``record_url`` the
        database record (BugSigDB signature page);
        ``same_study`` lists the other findings of the same publication and
        condition (``"Lactobacillus increased; …"``) so that a single result is
        never shown without its context; ``disputed`` marks rows flagged locally.

    Examples
    --------
    >>> import gutbrain as gb
    >>> df = gb.kb.query("Butyricimonas")
    >>> df.loc[df.pub_id == "chen2021", ["direction", "host", "evidence_level"]].iloc[0].tolist()
    ['decreased', 'Rattus norvegicus', 'animal_model']
    """
    from ._store import load

    kb = load() if kb is None else kb
    index = taxon_index(kb)
    rec = index.match_one(taxon)
    if rec["taxon_id"] is None:
        return pd.DataFrame(columns=list(QUERY_COLUMNS))
    related = index.related_taxa(rec["taxon_id"])
    if rec["match"] not in ("exact", "taxid"):
        related[rec["taxon_id"]] = rec["match"]
    if index.names[rec["taxon_id"]][1] == "genus":
        for tid, how in index.members_of_genus(rec["taxon_id"]).items():
            related.setdefault(tid, how)
    ids = list(related)
    df = kb.sql(_OBS_SQL + f" WHERE o.taxon_id IN ({','.join('?' * len(ids))})", ids)
    df["match"] = df["taxon_id"].map(related)
    if condition:
        cids = _condition_ids(kb, condition)
        df = df[df["condition_id"].isin(cids)]
    df["host_class"] = [host_class(h) for h in df["host"]]
    if host:
        h = host.strip()
        df = (df[df["host_class"] == h] if h in ("human", "animal", "none", "unknown")
              else df[df["host"] == h])
    if not include_reviews:
        df = df[df["evidence_level"] != "review"]
    df = df.copy()
    df["citation"] = [_citation(a, y, t) for a, y, t in
                      zip(df["authors"], df["year"], df["title"], strict=False)]
    df["link"] = [_link(d, p, u) for d, p, u in zip(df["doi"], df["pmid"], df["pub_url"], strict=False)]
    df["evidence_class"] = df["evidence_level"].map(EVIDENCE_CLASS)
    flags = kb.disputed()
    df["disputed"] = df["obs_id"].isin(flags)
    df["dispute_reason"] = df["obs_id"].map(flags).fillna("")
    df["same_study"] = _same_study(kb, df)
    level_rank = {lv: i for i, lv in enumerate(EVIDENCE_LEVELS)}
    df["_lv"] = df["evidence_level"].map(level_rank)
    df = df.sort_values(["host_class", "condition", "_lv", "obs_id"]).drop(columns="_lv")
    return df.reindex(columns=list(QUERY_COLUMNS)).reset_index(drop=True)


def _context_index(kb: Any) -> dict[tuple[str, str], dict[str, int]]:
    """``{(pub_id, condition_id): {"Taxon direction": n rows}}``, built once per knowledge base."""
    idx = getattr(kb, "_context_index", None)
    if idx is None:
        idx = {}
        for pub, cond, name, direction in kb.con.execute(
                "SELECT o.pub_id, o.condition_id, t.name, o.direction FROM observation o "
                "JOIN taxon t ON t.taxon_id=o.taxon_id"):
            g = idx.setdefault((pub, cond), {})
            item = f"{name} {direction}"
            g[item] = g.get(item, 0) + 1
        kb._context_index = idx
    return idx


def _same_study(kb: Any, df: pd.DataFrame, *, limit: int = 12) -> list[str]:
    """Other findings of the same publication and condition (deduplicated, at most ``limit``)."""
    if df.empty:
        return []
    idx = _context_index(kb)
    out = []
    for pub, cond, name, direction in zip(df["pub_id"], df["condition_id"], df["taxon"],
                                          df["direction"], strict=True):
        own = f"{name} {direction}"
        g = idx.get((pub, cond), {})
        items = [k for k, n in g.items() if not (k == own and n == 1)]
        text = "; ".join(items[:limit])
        if len(items) > limit:
            text += f"; … ({len(items) - limit} more)"
        out.append(text)
    return out


def consistency(rows: pd.DataFrame) -> pd.DataFrame:
    """Summarise agreement between independent studies, by host class and condition.

    A study is a publication; when one publication reports several rows for the
    same taxon and condition, its direction is the most common one.  Reviews are
    not independent studies and are left out.

    Parameters
    ----------
    rows
        Output of :func:`query` (may hold several taxa).

    Returns
    -------
    pandas.DataFrame
        ``taxon, host_class, condition, n_studies, increased, decreased, no_change,
        other, agreement`` where ``agreement`` is the share of studies with the
        majority direction (NaN without studies).
    """
    cols = ["taxon", "host_class", "condition", "n_studies", "increased", "decreased",
            "no_change", "other", "agreement"]
    if rows is None or len(rows) == 0:
        return pd.DataFrame(columns=cols)
    if "taxon" not in rows or "direction" not in rows:
        raise GutbrainError("consistency() needs rows from gb.kb.query()",
                            fix="pass the DataFrame returned by gb.kb.query")
    rows = rows[rows["evidence_level"] != "review"]
    if len(rows) == 0:
        return pd.DataFrame(columns=cols)
    per_study = (
        rows.groupby(["taxon", "host_class", "condition", "pub_id"])["direction"]
        .agg(lambda s: s.value_counts().index[0])
        .reset_index()
    )
    out = []
    for (tx, hc, cond), g in per_study.groupby(["taxon", "host_class", "condition"]):
        vc = g["direction"].value_counts()
        n = len(g)
        inc, dec, nc = (int(vc.get(k, 0)) for k in ("increased", "decreased", "no_change"))
        other = n - inc - dec - nc
        out.append([tx, hc, cond, n, inc, dec, nc, other, float(vc.iloc[0]) / n if n else np.nan])
    return pd.DataFrame(out, columns=cols)
