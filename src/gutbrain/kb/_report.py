"""Evidence in reports: per-taxon evidence summaries, the evidence for a run's hits, and
"Published conditions this cohort resembles".

``gutbrain run`` annotates only the taxa that differ between the compared groups by the
differential-abundance consensus (:func:`annotate_taxa`, into ``uns["evidence"]``) and
compares those hits with published conditions (:func:`store_resemblance`, into
``uns["resemblance"]``); the report sections in :mod:`gutbrain.report._sections_evidence`
render these slots.

Sentences (:func:`gutbrain.kb.statements`) are written for at most
:data:`MAX_STATEMENT_GROUPS` condition × host groups per taxon, curated rows first;
everything else is summarised per condition by :func:`evidence_summary` (studies
up / down, hosts, evidence classes, links to the sources).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._registry import Link, Section

__all__ = [
    "annotate_taxa",
    "evidence_summary",
    "evidence_table",
    "relink",
    "resemblance",
    "resemblance_section",
    "resemblance_section_from",
    "store_resemblance",
    "study_links",
]

MAX_STATEMENT_GROUPS = 6


def study_links(pub_ids: list[str], kb: Any) -> list[Link]:
    """Links to publications by id: DOI, else PubMed, else the study page (BugSigDB).

    Parameters
    ----------
    pub_ids
        Publication ids (``pmid:…``, ``doi:…``, ``bsdb:…`` or curated ids).
    kb
        Knowledge base.

    Returns
    -------
    list of Link
        One per id, text = short citation (``Chen P et al. 2021``) or ``PMID n``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> [str(x) for x in gb.kb.study_links(["chen2021"], gb.kb.load())]
    ['Chen P et al. 2021 <https://doi.org/10.1186/s13041-021-00765-y>']
    """
    from ._query import _citation, doi_url, pmid_url
    from ._store import derived

    ids = list(dict.fromkeys(pub_ids))
    if not ids:
        return []
    pubs = derived(kb, "publication_rows", lambda: {
        r[0]: r[1:] for r in kb.con.execute(
            "SELECT pub_id, doi, pmid, url, authors, year, title FROM publication")})
    out = []
    for pid in ids:
        row = pubs.get(pid)
        if row is None:
            continue
        doi, pmid, page, authors, year, title = row
        url = doi_url(doi) or pmid_url(pmid) or (page if isinstance(page, str) else "")
        text = _citation(authors, year)
        if not text:
            text = (f"PMID {int(pmid)}" if pd.notna(pmid) else
                    f"doi:{doi}" if isinstance(doi, str) and doi else
                    str(title or pid))
        out.append(Link(text, url))
    return out


def evidence_summary(
    taxon: str,
    *,
    kb: Any = None,
    rows: pd.DataFrame | None = None,
    max_conditions: int = 8,
    max_links: int = 6,
) -> dict[str, Any]:
    """Compact evidence for one taxon: conditions, studies up / down, hosts, links.

    Parameters
    ----------
    taxon
        Any name :func:`gutbrain.kb.query` accepts.
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).
    rows
        Rows of :func:`gutbrain.kb.query` already fetched for ``taxon``.
    max_conditions
        Conditions listed in ``text`` (the table holds all).
    max_links
        Links per condition (the best documented studies first).

    Returns
    -------
    dict
        ``taxon, n_rows, n_studies, hosts`` (``{host class: studies}``), ``table``
        (one row per condition and host class: ``condition, host_class, studies_up,
        studies_down, hosts, evidence, sources`` — ``sources`` a list of
        :class:`~gutbrain._registry.Link`), and ``text`` (a short plain-text summary).
        A study is a publication; one that reports both directions counts in both.

    Examples
    --------
    >>> import gutbrain as gb
    >>> s = gb.kb.evidence_summary("Faecalibacterium")
    >>> s["n_studies"] > 100 and "unknown" in s["hosts"]
    True
    """
    from ._query import query
    from ._store import load

    kb = load() if kb is None else kb
    rows = query(taxon, kb=kb) if rows is None else rows
    cols = ["condition", "host_class", "studies_up", "studies_down", "hosts", "evidence", "sources"]
    if rows.empty:
        return {"taxon": taxon, "n_rows": 0, "n_studies": 0, "hosts": {},
                "table": pd.DataFrame(columns=cols), "text": f"{taxon}: no evidence rows."}
    name = str(rows["taxon"][rows["match"].isin(["exact", "taxid", "synonym"])].iloc[0]
               if rows["match"].isin(["exact", "taxid", "synonym"]).any() else rows["taxon"].iloc[0])
    r = rows[rows["direction"].isin(["increased", "decreased"])]
    tab = _condition_table(r, kb, max_links=max_links, cols=cols)
    if len(tab):
        tab["_n"] = tab["studies_up"] + tab["studies_down"]
        tab = tab.sort_values(["_n", "condition"], ascending=[False, True]).drop(columns="_n")
        tab = tab.reset_index(drop=True)
    hosts = rows.groupby("host_class")["pub_id"].nunique().to_dict()
    n_studies = int(rows["pub_id"].nunique())
    label = {"human": "human", "animal": "animal", "unknown": "host not recorded", "none": "in vitro"}
    host_txt = ", ".join(f"{v} {label.get(k, k)}" for k, v in sorted(hosts.items()))
    lines = [f"{name}: {len(rows)} findings from {n_studies} studies ({host_txt})."]
    for t in tab.head(max_conditions).itertuples(index=False):
        lines.append(f"  {t.condition} [{label.get(t.host_class, t.host_class)}]: "
                     f"{t.studies_up} studies up, {t.studies_down} down")
    if len(tab) > max_conditions:
        lines.append(f"  … and {len(tab) - max_conditions} more conditions")
    return {"taxon": name, "n_rows": len(rows), "n_studies": n_studies, "hosts": hosts,
            "table": tab, "text": "\n".join(lines)}


def _condition_table(r: pd.DataFrame, kb: Any, *, max_links: int, cols: list[str]) -> pd.DataFrame:
    """One row per (condition, host class) of ``r``, in order of first appearance (vectorised)."""
    keys = ["condition", "host_class"]
    idx = r.groupby(keys, sort=False).size().index
    if not len(idx):
        return pd.DataFrame(columns=cols)

    def studies(direction: str) -> np.ndarray:
        sel = r[r["direction"] == direction]
        return sel.groupby(keys, sort=False)["pub_id"].nunique().reindex(idx, fill_value=0).to_numpy()

    def joined(col: str) -> np.ndarray:
        d = r[[*keys, col]].dropna(subset=[col]).drop_duplicates().sort_values(col, kind="stable")
        return d.groupby(keys, sort=False)[col].agg(", ".join).reindex(idx, fill_value="").to_numpy()

    # the best documented studies first (sorting the whole frame keeps each group's order)
    srt = r.sort_values(["doi", "pmid"], na_position="last").drop_duplicates([*keys, "pub_id"])
    top = srt.groupby(keys, sort=False).head(max_links)
    pubs = top.groupby(keys, sort=False)["pub_id"].agg(list).reindex(idx)
    return pd.DataFrame({
        "condition": idx.get_level_values(0), "host_class": idx.get_level_values(1),
        "studies_up": studies("increased"), "studies_down": studies("decreased"),
        "hosts": joined("host"), "evidence": joined("evidence_class"),
        "sources": [study_links(list(p), kb) for p in pubs]}, columns=cols)


def evidence_table(taxa: list[str], *, kb: Any = None, max_conditions: int = 5) -> pd.DataFrame:
    """Per-taxon evidence summaries stacked for a report table (best documented first).

    Returns
    -------
    pandas.DataFrame
        ``taxon, condition, host_class, studies_up, studies_down, hosts, evidence,
        sources`` with at most ``max_conditions`` conditions per taxon.
    """
    from ._store import load

    kb = load() if kb is None else kb
    parts = []
    for t in taxa:
        s = evidence_summary(t, kb=kb)
        tab = s["table"].head(max_conditions)
        if len(tab):
            parts.append(tab.assign(taxon=s["taxon"]))
    cols = ["taxon", "condition", "host_class", "studies_up", "studies_down", "hosts", "evidence",
            "sources"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _statement_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows worth a sentence: curated first, then the best documented condition × host groups."""
    if rows.empty:
        return rows
    r = rows[rows["evidence_level"] != "association_host_not_recorded"].copy()
    if r.empty:
        return r
    r["_cur"] = (r["source_id"] != "gutbrain_curated").astype(int)
    size = r.groupby(["condition", "host"])["pub_id"].transform("nunique")
    r["_n"] = -size
    groups = (r.sort_values(["_cur", "_n", "condition"])
              .drop_duplicates(["condition", "host"])[["condition", "host"]]
              .head(MAX_STATEMENT_GROUPS))
    keep = r.merge(groups, on=["condition", "host"])
    return keep.drop(columns=["_cur", "_n"])


def annotate_taxa(adata: AnnData, taxa: list[str], *, rule: str, kb: Any = None) -> dict[str, Any]:
    """Store the evidence for ``taxa`` in ``uns["evidence"]`` (annotations, statements, summary).

    Parameters
    ----------
    adata
        The analysed data (results are written to it).
    taxa
        Taxon names (e.g. a run's consensus hits), best first.
    rule
        How the taxa were chosen (shown in the report).
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).

    Returns
    -------
    dict
        The ``uns["evidence"]`` entry; ``summary`` holds links as ``text <url>`` text.
    """
    from ._enrich import annotate
    from ._query import query
    from ._statements import statements
    from ._store import load

    kb = load() if kb is None else kb
    ann = annotate(taxa, kb=kb) if taxa else pd.DataFrame()
    st = []
    for t in taxa:
        st += statements(_statement_rows(query(t, kb=kb)), kb=kb)
    st_df = pd.DataFrame([s.as_dict() for s in st])
    summ = evidence_table(taxa, kb=kb) if taxa else pd.DataFrame()
    if len(summ):
        summ["sources"] = summ["sources"].map(lambda links: "; ".join(map(str, links)))
    return record(adata, "evidence", params={"rule": rule, "n_taxa": len(taxa), "taxa": list(taxa)},
                  annotations=ann.astype(str) if len(ann) else ann, statements=st_df,
                  summary=summ.astype(str) if len(summ) else summ)


def relink(text: str) -> list[Link]:
    """``"A <url>; B <url>"`` (links stored as text in ``uns``) back into Links."""
    import re

    return [Link(m.group(1).strip(), m.group(2)) for m in
            re.finditer(r"([^;<]+?)\s*<(https?://[^>]+)>", str(text or ""))]


def resemblance_section(
    data: Any,
    *,
    kb: Any = None,
    term: str | None = None,
    alpha: float = 0.05,
    top: int = 10,
    q_hit: float = 0.1,
    **enrich_options: Any,
) -> Section | None:
    """The report section "Published conditions this cohort resembles".

    Parameters
    ----------
    data
        An AnnData with ``uns["diff_abundance"]["results"]`` or a DA table (DataFrame
        or path), as for :func:`gutbrain.kb.enrich`.
    kb
        Knowledge base (default :func:`gutbrain.kb.load`).
    term, alpha
        The DA term and the q-value threshold of a significant genus.
    top
        Conditions shown in the table (the full table is in the section's TSV).
    q_hit
        Conditions with ``qval`` at most this get the per-taxon study table (at least
        the first condition is always shown).
    **enrich_options
        Passed to :func:`gutbrain.kb.enrich` (``contrasts``, ``host``, ``min_taxa``,
        ``exclude_studies``).

    Returns
    -------
    Section or None
        ``None`` when there is no DA result or no condition could be compared.
        Tables: the conditions ranked by q-value; per hit taxon of the best
        conditions, the agreeing and disagreeing studies as links.

    Examples
    --------
    >>> import pandas as pd, gutbrain as gb
    >>> hits = {"Fusobacterium": 2.0, "Parvimonas": 1.5, "Peptostreptococcus": 1.8,
    ...         "Porphyromonas": 1.1, "Roseburia": -0.7}
    >>> rest = ["Bacteroides", "Prevotella", "Blautia", "Faecalibacterium", "Bifidobacterium",
    ...         "Ruminococcus", "Alistipes", "Akkermansia", "Streptococcus", "Escherichia"]
    >>> da = pd.DataFrame({"feature": [*hits, *rest],
    ...                    "coef": [*hits.values()] + [0.1] * len(rest),
    ...                    "qval": [0.001] * len(hits) + [0.6] * len(rest)})
    >>> sec = gb.kb.resemblance_section(da)
    >>> sec.title, sec.tables[0][1]["condition"].iloc[0]
    ('Published conditions this cohort resembles', 'Colorectal cancer')
    """
    res = resemblance(data, kb=kb, term=term, alpha=alpha, top=top, q_hit=q_hit, **enrich_options)
    return None if res is None else resemblance_section_from(res)


def resemblance(
    data: Any,
    *,
    kb: Any = None,
    term: str | None = None,
    alpha: float = 0.05,
    top: int = 10,
    q_hit: float = 0.1,
    significance: str | None = None,
    **enrich_options: Any,
) -> dict[str, Any] | None:
    """The numbers behind :func:`resemblance_section` (``None`` when nothing could be compared).

    Returns
    -------
    dict or None
        ``conditions`` (the top conditions), ``taxa`` (per significant genus of the best
        conditions, agreeing/disagreeing studies as lists of :class:`Link`), ``params``
        (``n_significant``, ``n_tested``, ``min_taxa``, ``alpha``, ``term``, ``significance``),
        ``n_unresolved`` and ``citation``.
    """
    from ._bugsigdb import BSDB_CITATION
    from ._concordance import enrich
    from ._store import load, shipped_release

    kb = load() if kb is None else kb
    if isinstance(data, AnnData):
        da = (data.uns.get("diff_abundance") or {}).get("results")
        if not isinstance(da, pd.DataFrame):
            return None
        data = da
    res = enrich(data, term, alpha=alpha, kb=kb, **enrich_options)
    if res.empty:
        return None
    p = res.attrs["params"]
    show = res.head(top)[["condition", "signatures", "studies", "taxa", "concordant",
                          "discordant", "concordance", "score", "pval", "qval",
                          "concordant_taxa", "discordant_taxa"]].reset_index(drop=True)
    best = res[(res["qval"] <= q_hit)]["condition_id"].tolist() or res["condition_id"].head(1).tolist()
    det = res.attrs["detail"]
    det = det[det["condition_id"].isin(best) & det["agrees"].notna()].copy()
    cols = ["condition", "taxon", "cohort_direction", "cohort_q", "published_direction",
            "studies_up", "studies_down", "agreeing_studies", "disagreeing_studies"]
    if len(det):
        order = {c: i for i, c in enumerate(best)}
        det["_o"] = det["condition_id"].map(order)
        det = det.sort_values(["_o", "agrees", "cohort_q"], ascending=[True, False, True])
        det["agreeing_studies"] = det["agreeing_studies"].map(lambda ids: study_links(ids, kb))
        det["disagreeing_studies"] = det["disagreeing_studies"].map(lambda ids: study_links(ids, kb))
        view = det[cols].reset_index(drop=True)
    else:
        view = pd.DataFrame(columns=cols)
    rel = shipped_release()
    return {
        "conditions": show,
        "taxa": view,
        "params": {"n_significant": int(p["n_significant"]), "n_tested": int(res["pval"].notna().sum()),
                   "min_taxa": int(p["min_taxa"]), "alpha": float(alpha), "term": term or "",
                   "significance": significance or f"significant genera (q ≤ {alpha}"
                   + (f", term {term}" if term else "") + ")"},
        "n_unresolved": len(res.attrs["unresolved"]),
        "citation": f"BugSigDB {rel.get('version', '')} export, CC BY 4.0: {BSDB_CITATION}",
    }


def resemblance_section_from(result: dict[str, Any]) -> Section:
    """Render :func:`resemblance`'s result (links as :class:`Link` lists or ``text <url>`` text)."""
    p = dict(result["params"])
    paras = [
        f"The cohort's {p['n_significant']} {p['significance']} were compared, condition by condition, "
        "with the directions published in BugSigDB signatures and the other stored studies. Each "
        "study casts one vote per genus (signatures of one study are not independent); "
        "'concordant' genera move in the cohort as most studies of the condition report. The "
        "p-value is a permutation test over the genera the cohort tested of the agreeing minus "
        "disagreeing study votes; q-values are Benjamini–Hochberg across the "
        f"{p['n_tested']} conditions with at least {p['min_taxa']} informative genera.",
        "Resemblance is not diagnosis: many conditions share a non-specific response (fewer "
        "butyrate producers, more oral and Enterobacteriaceae genera). The shipped BugSigDB "
        "signatures do not record the host, so rodent and human studies are pooled here; import "
        "BugSigDB's full dump ('gutbrain evidence import bugsigdb full_dump.csv') to restrict "
        "to human studies (host='human').",
    ]
    if int(result.get("n_unresolved", 0)):
        paras.append(f"{int(result['n_unresolved'])} features had no NCBI genus and were left "
                     "out (bracketed Greengenes names, unclassified groups, archaea without a name "
                     "in the shipped table).")
    show = pd.DataFrame(result["conditions"]).copy()
    show.attrs["name"] = "resemblance_conditions"
    tables: list[tuple[str, pd.DataFrame]] = [
        ("Published conditions ranked by agreement with the cohort's genus directions", show)]
    view = pd.DataFrame(result["taxa"]).copy()
    if len(view):
        for c in ("agreeing_studies", "disagreeing_studies"):
            view[c] = view[c].map(lambda v: relink(v) if isinstance(v, str) else v)
        view.attrs["name"] = "resemblance_taxa"
        tables.append(("Per significant genus of the best matching conditions: the studies that "
                       "agree and disagree with the cohort's direction", view))
    return Section(key="resemblance", title="Published conditions this cohort resembles",
                   paragraphs=paras, tables=tables, citations=[str(result["citation"])], order=81)


def store_resemblance(adata: AnnData, table: pd.DataFrame, *, term: str, kb: Any = None) -> bool:
    """Compare a run's hits (``qval`` 0 for a hit) with published conditions into ``uns["resemblance"]``.

    Returns ``False`` (nothing stored) when no condition could be compared.
    """
    res = resemblance(table, kb=kb, alpha=0.05, significance=f"consensus hits ({term})")
    if res is None:
        return False
    taxa = pd.DataFrame(res["taxa"]).copy()
    for c in ("agreeing_studies", "disagreeing_studies"):
        taxa[c] = taxa[c].map(lambda links: "; ".join(map(str, links)))
    record(adata, "resemblance", params={**res["params"], "term_label": term},
           conditions=pd.DataFrame(res["conditions"]).astype({"concordant_taxa": str, "discordant_taxa": str}),
           taxa=taxa, n_unresolved=int(res["n_unresolved"]), citation=str(res["citation"]))
    return True
