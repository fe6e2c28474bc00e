"""Report sections: published evidence for the group's hits, and the conditions they resemble.

They render ``uns["evidence"]`` (:func:`gutbrain.kb._report.annotate_taxa`, run on the
consensus hits of the compared groups only) and ``uns["resemblance"]``
(:func:`gutbrain.kb._report.store_resemblance`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from anndata import AnnData

from .._registry import Section
from ..kb._report import relink, resemblance_section_from
from ._common import named, skip_reason

__all__ = ["evidence_section", "resemblance_section"]


def evidence_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Statements with citations, host labels, evidence level and disputed flags."""
    from ..kb._bugsigdb import BSDB_CITATION

    title = "Published evidence for the taxa that differ between the groups"
    ev = adata.uns.get("evidence")
    if not isinstance(ev, dict):
        reason = skip_reason(adata, "evidence")
        return Section(key="evidence", title=title, order=80, paragraphs=[f"{reason}."]) if reason else None
    rule = ev.get("params", {}).get("rule", "")
    st = ev.get("statements")
    paras = [
        f"Taxa shown: {rule} (and only those). Each sentence is generated from stored evidence rows and "
        "names its host and evidence level; animal and in-vitro findings are not human findings, and "
        "BugSigDB signatures whose host is not recorded are counted separately (host not recorded). "
        "Rows flagged in local corrections are marked [disputed].",
    ]
    cites: list[str] = []
    if isinstance(st, pd.DataFrame) and len(st):
        paras += [str(t) for t in st["text"]]
        for c in st["citations"]:
            cites += [x.strip() for x in str(c).split(";") if x.strip()]
    else:
        paras.append("No stored evidence with a recorded host matched these taxa.")
    tables = []
    summ = ev.get("summary")
    if isinstance(summ, pd.DataFrame) and len(summ):
        view = summ.copy()
        view["sources"] = view["sources"].map(relink)
        tables.append(("Published studies reporting each hit taxon up or down, by condition and host",
                       named(view, "evidence_per_condition")))
        cites.append(f"BugSigDB (CC BY 4.0): {BSDB_CITATION}")
    ann = ev.get("annotations")
    if isinstance(ann, pd.DataFrame) and len(ann):
        tables.append(("Evidence counts per hit taxon", named(ann.copy(), "evidence_per_taxon")))
    if isinstance(st, pd.DataFrame) and len(st):
        tables.append(("Evidence statements and their sources", named(st.copy(), "evidence_statements")))
    return Section(key="evidence", title=title, paragraphs=paras, tables=tables,
                   citations=sorted(set(cites)), order=80)


def resemblance_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Published conditions the group's consensus hits resemble (``uns["resemblance"]``)."""
    res = adata.uns.get("resemblance")
    if not isinstance(res, dict):
        return None
    return resemblance_section_from({
        # the run passes consensus calls (q 0 = called), so the cohort's q column says nothing
        "conditions": pd.DataFrame(res["conditions"]),
        "taxa": pd.DataFrame(res["taxa"]).drop(columns=["cohort_q"], errors="ignore"),
        "params": dict(res["params"]), "n_unresolved": int(res.get("n_unresolved", 0)),
        "citation": str(res.get("citation", "")),
    })
