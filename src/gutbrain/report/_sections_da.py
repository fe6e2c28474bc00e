"""Report sections: differential abundance, and planted vs recovered effects of a simulated cohort.

They render ``uns["diff_abundance"]`` (the workflow's DA step: every method's table, the
consensus and the group's hits) and ``uns["planted_truth"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._registry import Section
from ._common import add_figure, named, pct, skip_reason, the_groups

__all__ = ["da_section", "planted_truth_section"]

_METHOD_TEXT = {
    "maaslin2": "MaAsLin2's linear model (TSS normalisation, log2 transform with half-minimum zero "
                "replacement, features present in more than 10 % of samples, continuous covariates "
                "standardised)",
    "maaslin3": "MaAsLin 3 (a linear model of the log abundance where present, with median comparison, and "
                "an augmented logistic model of presence; joint q-value)",
    "linda": "LinDA (log2 CLR linear model with compositional bias correction)",
    "wilcoxon": "Wilcoxon rank-sum tests on relative abundances (group only, no covariates)",
    "ancombc": "ANCOM-BC (scikit-bio; counts + 1)",
}


def _hits_sentence(hits: pd.DataFrame, group: str, reference: str) -> str:
    if hits.empty:
        return (f"No taxon differs between {the_groups(group)} by the consensus: no taxon was called by "
                "at least half of the methods with agreeing directions.")
    parts = []
    for level, g in hits.groupby("value", sort=False):
        up = g.loc[g["direction"] == "higher", "feature"].astype(str).tolist()
        down = g.loc[g["direction"] == "lower", "feature"].astype(str).tolist()
        text = f"{len(g)} taxa differ between {level} and {reference}"
        if up:
            text += f"; higher in {level}: {', '.join(up[:12])}" + (" …" if len(up) > 12 else "")
        if down:
            text += f"; lower in {level}: {', '.join(down[:12])}" + (" …" if len(down) > 12 else "")
        parts.append(text + ".")
    return " ".join(parts)


def _consensus_view(cons: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    cols = ["feature", "value", "coef", "qval", "n_called", "called_by", "direction_agreement",
            "replicability", "consensus"] + [f"qval_{m}" for m in methods if f"qval_{m}" in cons.columns]
    top = cons.sort_values(["n_called", "qval"], ascending=[False, True], kind="stable")
    view = top[cols].rename(columns={"coef": "coef_primary", "qval": "qval_max"})
    view["called_by"] = view["called_by"].fillna("").astype(str).replace({"": "none"})
    return view.reset_index(drop=True)


def _figures(sec: Section, res: pd.DataFrame, cons: pd.DataFrame, p: dict[str, Any], term: str,
             level: str) -> None:
    from ..pl._da import consensus_heatmap, da_forest, da_volcano

    primary = str(p.get("primary", "maaslin2"))
    tmp = AnnData(obs=pd.DataFrame(index=pd.Index([], dtype=str)))
    tmp.uns["m"] = {"results": res}
    tmp.uns["c"] = {"results": cons[cons["value"] == level], "params": {"alpha": p.get("alpha", 0.05)}}
    add_figure(sec, lambda: da_volcano(tmp, key="m", metadata=term, value=level),
               f"Volcano plot ({primary}) for {term} = {level}.", "da_volcano")
    add_figure(sec, lambda: da_forest(tmp, key="m", metadata=term, value=level, n_top=20),
               f"Effects ({primary} coefficient ± 95 % CI) of the 20 lowest-q taxa for {term} = {level}.",
               "da_forest")
    if (cons["n_called"] > 0).any():
        add_figure(sec, lambda: consensus_heatmap(tmp, key="c", n_top=25),
                   f"Which methods call each taxon (red: higher in {level}, blue: lower; grey: not called); "
                   "replicability in brackets.", "da_consensus")
    else:
        sec.paragraphs.append("No method called any taxon at q ≤ 0.05, so there is no heatmap of calls.")


def da_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Model, methods, the group's consensus hits, tables and figures."""
    info = adata.uns.get("diff_abundance")
    title = "Differential abundance"
    if not isinstance(info, dict) or "consensus" not in info:
        reason = skip_reason(adata, "diff_abundance")
        return Section(key="diff_abundance", title=title, order=70,
                       paragraphs=[f"Not run: {reason}."]) if reason else None
    p = dict(info.get("params", {}))
    cons = pd.DataFrame(info["consensus"])
    res = pd.DataFrame(info["results"])
    methods = [str(m) for m in p.get("methods", [])]
    group, reference = str(p.get("group")), str(p.get("reference") or "the reference")
    term = str(cons["metadata"].iloc[0]) if len(cons) else group
    level = str(cons["value"].iloc[0]) if len(cons) else ""
    hits = pd.DataFrame(info.get("group_hits", pd.DataFrame(columns=["value", "direction", "feature"])))
    sec = Section(key="diff_abundance", title=title, order=70)
    sec.paragraphs.append(
        f"Model {p.get('formula')} at {p.get('rank')} level on {p.get('n_samples_used', '')} samples "
        f"({p.get('n_features_tested', '')} taxa tested), reference level {reference}, with "
        + "; ".join(_METHOD_TEXT.get(m, m) for m in methods) + f". The first, {methods[0]}, is reported in "
        "full; the consensus calls a taxon when at least half of the methods call it at q ≤ "
        f"{p.get('alpha', 0.05)} with agreeing directions."
    )
    sec.paragraphs.append(_hits_sentence(hits, group, reference))
    m3 = info.get("maaslin3")
    if isinstance(m3, pd.DataFrame) and len(m3):
        n = dict(p.get("maaslin3_hits", {}))
        sec.paragraphs.append(
            "MaAsLin 3 asks two questions of each taxon: an abundance association (is it more or less "
            "abundant where it is present?) and a prevalence association (is it present in more or fewer "
            f"samples?). For {group}: {n.get('abundance', 0)} abundance and {n.get('prevalence', 0)} prevalence "
            f"associations at q ≤ {p.get('alpha', 0.05)}, {n.get('joint', 0)} taxa by the joint q-value "
            "(either kind), which is MaAsLin 3's call in the consensus.")
    sec.paragraphs.append(
        "Replicability is the fraction of 20 seeded split-halves in which the linear-model association has "
        "the full-data sign and p < 0.05 in both halves. Differential-abundance methods disagree often "
        "(Nearing et al. 2022), so treat single-method calls with caution, and read the design check at "
        "the top of this report: a variable that differs between the groups can produce these differences."
    )
    sec.tables.append((f"Consensus of {', '.join(methods)} for {group} (all tested taxa, most calls first; "
                       "coef_primary and qval_max: the first method's coefficient and the largest q)",
                       named(_consensus_view(cons, methods), "da_consensus")))
    cov = res[res["metadata"] != group]
    if len(cov):
        sec.tables.append((f"{methods[0]}: covariate terms with q ≤ 0.25 (the group term is in the "
                           "consensus table)", named(cov[cov["qval"] <= 0.25].head(200).reset_index(drop=True),
                                                     f"da_{methods[0]}_covariates")))
    if isinstance(m3, pd.DataFrame) and len(m3):
        g3 = m3[m3["metadata"] == group].sort_values(["qval_joint", "model"], kind="stable")
        sec.tables.append((f"MaAsLin 3 for {group}: abundance and prevalence model of every taxon (error: why a "
                           "model could not be fitted)", named(g3.reset_index(drop=True), f"da_maaslin3_models_{group}")))
    sec.tables.append((f"{methods[0]}: every taxon for {group}",
                       named(res[res["metadata"] == group].reset_index(drop=True), f"da_{methods[0]}_{group}")))
    _figures(sec, res, cons, p, term, level)
    sec.citations += [
        "Nickols WA et al. (2024) MaAsLin 3. bioRxiv doi:10.1101/2024.12.13.628459",
        "Mallick H et al. (2021) MaAsLin2. PLoS Comput Biol doi:10.1371/journal.pcbi.1009442",
        "Zhou H et al. (2022) LinDA. Genome Biol doi:10.1186/s13059-022-02655-5",
        "Mann HB, Whitney DR (1947) doi:10.1214/aoms/1177730491",
        "Nearing JT et al. (2022) Nat Commun doi:10.1038/s41467-022-28034-z",
    ]
    return sec


def planted_truth_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """How many planted effects of a simulated cohort the consensus recovered, and its other calls."""
    info = adata.uns.get("planted_truth")
    if not isinstance(info, dict):
        return None
    table = pd.DataFrame(info["table"])
    n_planted, n_rec = int(info["n_planted"]), int(info["n_recovered"])
    n_called = int(info["n_called"])
    extra = [str(t) for t in info.get("unplanted_calls", [])]
    sec = Section(key="planted_truth", title="Planted effects and what the analysis recovered", order=72)
    sec.paragraphs.append(
        f"This cohort is simulated, so the truth is known: {n_planted} taxa carry a planted effect of "
        f"{info['params']['term']}. The consensus recovered {n_rec} of them in the right direction "
        f"({pct(n_rec / n_planted, 0) if n_planted else 'n/a'}) and made {n_called} calls in total, "
        f"{len(extra)} of them ({pct(float(info['unplanted_share']), 0)}) on taxa without a planted effect"
        + (f": {', '.join(extra)}." if extra else ".")
    )
    if len(table):
        view = table.copy()
        view["tested"] = np.where(view["tested"].astype(bool), "yes", "no (filtered out)")
        sec.tables.append(("Planted vs estimated effect of each planted taxon",
                           named(view, "planted_vs_recovered")))
        from ..pl._da import planted_recovery

        add_figure(sec, lambda: planted_recovery(table),
                   "Planted log2 fold change against the primary method's estimate; filled: recovered by the "
                   "consensus. Closure and per-case severity attenuate the estimates.", "planted_recovery")
    return sec
