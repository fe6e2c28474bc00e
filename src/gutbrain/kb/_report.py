"""The evidence step and report section of ``gutbrain run`` (order 80).

Which taxa are annotated (the rule, stored in ``uns["evidence"]["params"]["rule"]``):

1. when ``uns["diff_abundance"]["results"]`` holds a DA table, its hits with
   ``q_value`` (or ``qval``/``padj``) below 0.1, best first, at most 20;
2. otherwise the genera of ``var["genus"]`` ranked by mean relative abundance across
   samples, keeping the first 15 that have any evidence rows.  These are *not* hits:
   the report says the evidence is context for abundant genera, not a finding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_matrix, record
from .._registry import Section, register_section, register_step

__all__ = ["evidence_section", "evidence_step", "top_taxa"]

MAX_DA = 20
MAX_ABUNDANT = 15
Q_MAX = 0.1


def top_taxa(adata: AnnData, *, kb: Any = None) -> tuple[list[str], str]:
    """Return ``(taxa, rule)`` chosen as described in the module docstring."""
    from ._store import load
    from ._taxa import taxon_index

    da = adata.uns.get("diff_abundance")
    res = da.get("results") if isinstance(da, dict) else None
    if isinstance(res, pd.DataFrame) and len(res):
        qcol = next((c for c in ("q_value", "qval", "padj", "q") if c in res), None)
        tcol = next((c for c in ("taxon", "feature", "genus", "name") if c in res), None)
        names = res[tcol].astype(str) if tcol else pd.Series(res.index.astype(str), index=res.index)
        if qcol is not None:
            order = res[qcol].astype(float).sort_values(kind="stable")
            order = order[order < Q_MAX]
            return [names.loc[i] for i in order.index[:MAX_DA]], f"DA hits with {qcol} < {Q_MAX}"
    kb = load() if kb is None else kb
    if "genus" not in adata.var or adata.n_obs == 0:
        return [], "no genus annotation"
    X = get_matrix(adata)
    tot = X.sum(axis=1, keepdims=True)
    rel = np.divide(X, tot, out=np.zeros_like(X), where=tot > 0)
    mean = pd.Series(rel.mean(axis=0), index=adata.var["genus"].astype(str).to_numpy())
    mean = mean[mean.index != ""].groupby(level=0).sum().sort_values(ascending=False)
    index = taxon_index(kb)
    chosen = []
    for g in mean.index:
        rec = index.match_one(g)
        if rec["taxon_id"] is None:
            continue
        n = kb.con.execute("SELECT COUNT(*) FROM observation WHERE taxon_id=?",
                           (rec["taxon_id"],)).fetchone()[0]
        if n:
            chosen.append(g)
        if len(chosen) >= MAX_ABUNDANT:
            break
    return chosen, "most abundant genera with evidence (not DA hits)"


@register_step("evidence", 80)
def evidence_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Annotate the top taxa with stored evidence (``uns["evidence"]``)."""
    from ._enrich import annotate
    from ._query import query
    from ._statements import statements
    from ._store import load

    kb = load()
    taxa, rule = top_taxa(adata, kb=kb)
    ann = annotate(taxa, kb=kb) if taxa else pd.DataFrame()
    st = []
    for t in taxa:
        st += statements(query(t, kb=kb), kb=kb)
    st_df = pd.DataFrame([s.as_dict() for s in st])
    record(adata, "evidence", params={"rule": rule, "n_taxa": len(taxa)},
           annotations=ann.astype(str) if len(ann) else ann, statements=st_df)


@register_section("evidence", 80)
def evidence_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Statements with citations, host labels, evidence level and disputed flags."""
    ev = adata.uns.get("evidence")
    if not isinstance(ev, dict):
        return None
    rule = ev.get("params", {}).get("rule", "")
    st = ev.get("statements")
    paras = [
        f"Taxa shown: {rule}. Each sentence is generated from stored evidence rows and names "
        "its host and evidence level; animal and in-vitro findings are not human findings. "
        "Rows flagged in local corrections are marked [disputed].",
    ]
    cites: list[str] = []
    if isinstance(st, pd.DataFrame) and len(st):
        paras += list(st["text"])
        for c in st["citations"]:
            cites += [x.strip() for x in str(c).split(";") if x.strip()]
    else:
        paras.append("No stored evidence with a primary source matched these taxa.")
    tables = []
    ann = ev.get("annotations")
    if isinstance(ann, pd.DataFrame) and len(ann):
        tables.append(("Evidence per taxon", ann))
    if isinstance(st, pd.DataFrame) and len(st):
        tables.append(("Evidence statements", st))
    return Section(key="evidence", title="Evidence base", paragraphs=paras, tables=tables,
                   citations=sorted(set(cites)), order=80)
