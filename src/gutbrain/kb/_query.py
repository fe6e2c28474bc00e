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
    cur = kb.con.execute(_OBS_SQL + f" WHERE o.taxon_id IN ({','.join('?' * len(ids))})", ids)
    names = [d[0] for d in cur.description]
    recs = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    # plain Python over the rows, one DataFrame at the end: a lookup stays within ~10 ms
    cids = _condition_ids(kb, condition) if condition else None
    hc_of: dict[str, str] = {}
    h = host.strip() if host else ""
    flags = kb.disputed()
    level_rank = {lv: i for i, lv in enumerate(EVIDENCE_LEVELS)}
    cites: dict[str, tuple[str, str]] = {}
    out = []
    for r in recs:
        if cids is not None and r["condition_id"] not in cids:
            continue
        hc = hc_of.get(r["host"])
        if hc is None:
            hc = hc_of[r["host"]] = host_class(r["host"])
        if h and (hc != h if h in ("human", "animal", "none", "unknown") else r["host"] != h):
            continue
        if not include_reviews and r["evidence_level"] == "review":
            continue
        r["match"] = related.get(r["taxon_id"])
        r["host_class"] = hc
        c = cites.get(r["pub_id"])
        if c is None:
            c = cites[r["pub_id"]] = (_citation(r["authors"], r["year"], r["title"]),
                                      _link(r["doi"], r["pmid"], r["pub_url"]))
        r["citation"], r["link"] = c
        r["evidence_class"] = EVIDENCE_CLASS.get(r["evidence_level"])
        r["disputed"] = r["obs_id"] in flags
        r["dispute_reason"] = flags.get(r["obs_id"], "")
        out.append(r)
    out.sort(key=lambda r: (r["host_class"], r["condition"], level_rank.get(r["evidence_level"], 99),
                            r["obs_id"]))
    for r, ctx in zip(out, _same_study_rows(kb, out), strict=True):
        r["same_study"] = ctx
    df = pd.DataFrame.from_records(out, columns=list(QUERY_COLUMNS)) if out else pd.DataFrame(
        columns=list(QUERY_COLUMNS))
    return df


def _context_index(kb: Any) -> dict[tuple[str, str], dict[str, int]]:
    """``{(pub_id, condition_id): {"Taxon direction": n rows}}``, built once per knowledge base."""
    from ._store import derived

    def make() -> dict[tuple[str, str], dict[str, int]]:
        idx: dict[tuple[str, str], dict[str, int]] = {}
        names = dict(kb.con.execute("SELECT taxon_id, name FROM taxon").fetchall())
        for pub, cond, tid, direction in kb.con.execute(
                "SELECT pub_id, condition_id, taxon_id, direction FROM observation"):
            g = idx.setdefault((pub, cond), {})
            item = f"{names.get(tid, tid)} {direction}"
            g[item] = g.get(item, 0) + 1
        return idx

    return derived(kb, "context_index", make)


def _same_study_rows(kb: Any, rows: list[dict[str, Any]], *, limit: int = 12) -> list[str]:
    """Other findings of the same publication and condition (deduplicated, at most ``limit``)."""
    idx = _context_index(kb)
    memo: dict[tuple[str, str, str], str] = {}
    out = []
    for r in rows:
        pub, cond, name, direction = r["pub_id"], r["condition_id"], r["taxon"], r["direction"]
        own = f"{name} {direction}"
        key = (pub, cond, own)
        text = memo.get(key)
        if text is None:
            g = idx.get((pub, cond), {})
            items = [k for k, n in g.items() if not (k == own and n == 1)]
            text = "; ".join(items[:limit])
            if len(items) > limit:
                text += f"; … ({len(items) - limit} more)"
            memo[key] = text
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
