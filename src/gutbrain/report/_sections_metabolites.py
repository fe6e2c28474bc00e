"""Report section: metabolites (renders ``uns["metabolite_report"]``; computes no science).

Text, tables, the clustered heatmap, SCFA by group, observed vs predicted, and the
butyrate-index validation figure beside the index.  The results come from
:func:`gutbrain.tl._metabolites_report.metabolites_step` (the workflow's metabolites step).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._registry import Figure, Section
from ._common import plain

__all__ = ["metabolites_section"]

_KEY = "metabolite_report"


def _svg(fig: Any) -> str:
    from ..pl._style import fig_to_svg

    return fig_to_svg(fig)


def _fmt_ci(r: pd.Series) -> str:
    if pd.isna(r["value"]):
        return ""
    if pd.isna(r.get("ci_low", np.nan)):
        return f"{r['value']:.2f}"
    return f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def metabolites_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Metabolite section: table read, associations and heatmap, SCFA by group, prediction vs indices."""
    info = adata.uns.get(_KEY)
    if info is None:
        note = adata.uns.get(f"{_KEY}_note")
        if note:
            return Section(key="metabolites", title="Metabolites", order=72, paragraphs=[str(note)])
        return None
    sec = Section(key="metabolites", title="Metabolites", order=72)
    mp = dict(adata.uns.get("metabolites", {}).get("params", {}))
    frame = adata.obsm.get("metabolites")
    n_met = int(frame.shape[1]) if frame is not None else 0
    origin = "metadata columns" if info["params"].get("origin") == "metadata" else "the metabolite table"
    unit = mp.get("unit") or "unit not stated"
    sec.paragraphs.append(
        f"{n_met} metabolites from {origin} ({unit}; values {mp.get('transform', 'none') if mp.get('transform', 'none') != 'none' else 'as measured'}); "
        f"{mp.get('n_samples_measured', '?')} of {mp.get('n_samples', adata.n_obs)} samples have a measurement, "
        f"{mp.get('n_samples_without_measurement', 0)} have none and are left out of metabolite analyses "
        f"(never imputed); {mp.get('n_unmatched', 0)} metabolite samples matched no microbiome sample."
        + (f" Orientation: {mp.get('orientation')} ({mp.get('orientation_rule')})." if mp.get("orientation") else "")
    )
    assoc = adata.uns.get("metabolite_associations")
    if assoc is not None:
        ap = plain(dict(assoc["params"]))
        res = pd.DataFrame(assoc["results"])
        n_sig = int((res["qval"] <= 0.1).sum())
        rand = f" with a random intercept per {', '.join(ap['random'])}" if ap.get("random") else ""
        sec.paragraphs.append(
            f"Associations: every taxon ({ap['n_taxa']} {ap.get('rank') or 'features'} present in ≥ "
            f"{ap['min_prevalence']:.0%} of samples, centred log-ratio with {ap['zero_handling']}) against "
            f"every metabolite (natural log) by linear models{rand}; Benjamini–Hochberg over all "
            f"{ap['n_pairs']} pairs: {n_sig} at q ≤ 0.1. Coefficients are changes in ln(metabolite) per unit "
            "CLR of the taxon; r is the partial correlation. Associations are not evidence of production: "
            "diet, transit time and host absorption act on both."
        )
        show = res[res["qval"] <= 0.1].head(30)
        if show.empty:
            show = res.head(15)
        cols = ["taxon", "metabolite_name", "class", "coef", "r", "N", "pval", "qval"]
        sec.tables.append(("Strongest taxon–metabolite associations", show[cols]))
        try:
            from ..pl._metabolites import metabolite_heatmap

            ax = metabolite_heatmap(adata, n_taxa=25, n_metabolites=25)
            sec.figures.append(Figure(caption="Clustered heatmap of partial correlations (taxa with the "
                                      "smallest q-values; * q < 0.1).", svg=_svg(ax.figure),
                                      name="metabolite_heatmap"))
        except Exception as exc:  # a figure must never stop the report
            sec.paragraphs.append(f"(heatmap not drawn: {exc})")
        hits = info.get("hits")
        hit_taxa = list(info.get("hit_taxa", []) or [])
        if isinstance(hits, pd.DataFrame) and not hit_taxa:
            sec.paragraphs.append("The differential-abundance consensus called no taxon, so there are no "
                                  "group hits to follow into the metabolome.")
        elif isinstance(hits, pd.DataFrame):
            sig = hits[hits["qval"] <= 0.1]
            sec.paragraphs.append(
                f"Of the {len(hit_taxa)} taxa called by the differential-abundance consensus, "
                f"{sig['taxon'].nunique()} associate with at least one metabolite at q ≤ 0.1."
            )
            if len(sig):
                sec.tables.append(("Associations of the differential-abundance hits (q ≤ 0.1)", sig[cols].head(40)))
                try:
                    from ..pl._metabolites import metabolite_heatmap

                    ax = metabolite_heatmap(adata, taxa=list(sig["taxon"].astype(str).unique()), n_metabolites=20)
                    sec.figures.append(Figure(caption="Associations of the group's differential-abundance "
                                              "hits (* q < 0.1).", svg=_svg(ax.figure), name="metabolite_hits"))
                except Exception as exc:
                    sec.paragraphs.append(f"(hit heatmap not drawn: {exc})")
    sbg = info.get("scfa_by_group")
    group = info["params"].get("group")
    if isinstance(sbg, pd.DataFrame) and len(sbg):
        sec.tables.append((f"Short-chain fatty acids by {group} (median, IQR; rank test, BH)", sbg))
        try:
            from ..pl._metabolites import metabolite_boxplot

            ax = metabolite_boxplot(adata, groupby=str(group), metabolites=list(sbg["column"]))
            sec.figures.append(Figure(caption=f"SCFA concentrations by {group} (log scale).",
                                      svg=_svg(ax.figure), name="scfa_by_group"))
        except Exception as exc:
            sec.paragraphs.append(f"(SCFA figure not drawn: {exc})")
    pm = info.get("prediction_metrics")
    if isinstance(pm, pd.DataFrame) and len(pm):
        tab = pm[pm["metric"].isin(["spearman", "r2", "mae"])].copy()
        tab["value (95% CI)"] = tab.apply(_fmt_ci, axis=1)
        wide = tab.pivot_table(index=["metabolite", "model"], columns="metric", values="value (95% CI)",
                               aggfunc="first").reset_index()
        sec.tables.append(("Predicting SCFAs from the microbiome out of fold, beside the butyrate indices "
                           "(Spearman ρ; R² and MAE on the ln scale; the indices' R²/MAE use a linear "
                           "calibration fitted inside the same folds)", wide))
        pp = dict(info.get("prediction_params", {}))
        subj = info["params"].get("subject")
        scheme = (f"grouped by {subj} (all samples of one {subj} held out together)" if subj
                  else "(samples treated as independent)")
        sec.paragraphs.append(
            f"Prediction: ridge regression on CLR genera, {info['params']['n_splits']}-fold cross-validation "
            f"{scheme}, with the prevalence filter, CLR and penalty chosen inside each training fold; "
            f"percentile bootstrap CIs ({info['params']['n_boot']} resamples"
            + (f" of {subj}s" if subj else "") + ")."
        )
        but = pm[(pm["metabolite"] == "Butyrate") & (pm["metric"] == "spearman")]
        if len(but):
            model = but[but["model"].str.startswith("ridge")]["value"]
            lit = but[but["model"].str.startswith("butyrate_capacity")]["value"]
            if len(model) and len(lit):
                m, li = float(model.iloc[0]), float(lit.iloc[0])
                n = pp.get("Butyrate", {}).get("n_samples", "?")
                if m > li:
                    verdict = (f"the fitted model ranks samples better (ρ = {m:.2f}) than the literature "
                               f"butyrate-producer index (ρ = {li:.2f}): on these data the index is the weaker "
                               "tool for faecal butyrate")
                else:
                    verdict = (f"the literature butyrate-producer index (ρ = {li:.2f}) does as well as or better "
                               f"than the fitted model (ρ = {m:.2f}); with {n} samples a model has little to learn "
                               "from, so prefer the index here and read the CIs")
                sec.paragraphs.append(f"Measured faecal butyrate: {verdict}.")
        try:
            from ..pl._metabolites import predicted_vs_observed

            pr = pd.DataFrame(info["predictions"])
            for name in pd.unique(pr["metabolite"]):
                sub = pr[pr["metabolite"] == name].assign(repeat=0)
                met = pm[(pm["metabolite"] == name) & pm["model"].str.startswith("ridge")]
                base = pm[(pm["metabolite"] == name) & ~pm["model"].str.startswith("ridge")]
                holder = _Holder(sub, met, base, {"target": name, "target_transform": "log",
                                                  "scheme": pp.get(name, {}).get("scheme", ""),
                                                  "n_samples": len(sub)})
                ax = predicted_vs_observed(holder)
                sec.figures.append(Figure(caption=f"Observed vs out-of-fold predicted {name} (ln scale).",
                                          svg=_svg(ax.figure), name=f"predicted_{name.lower()}"))
        except Exception as exc:
            sec.paragraphs.append(f"(prediction figure not drawn: {exc})")
    val = info.get("index_validation")
    try:
        from ..pl._metabolites import butyrate_validation

        ax = butyrate_validation(own=val if isinstance(val, pd.DataFrame) else None)
        sec.figures.append(Figure(
            caption="Validation of the butyrate indices: Spearman ρ with measured faecal butyrate in the "
            "shipped validation cohorts (Mars 2020 adults, Kang 2017 children; the DNBS study is in RODENTS) "
            "and, when butyrate was measured, in this cohort; a ridge model on all CLR genera for reference.",
            svg=_svg(ax.figure), name="butyrate_index_validation"))
    except Exception as exc:
        sec.paragraphs.append(f"(index validation figure not drawn: {exc})")
    for note in info.get("notes", []) or []:
        sec.paragraphs.append(str(note))
    sec.citations += [
        "Aitchison J (1982) J R Stat Soc B 44:139 doi:10.1111/j.2517-6161.1982.tb01195.x",
        "Kang HM et al. (2010) Nat Genet 42:348 doi:10.1038/ng.548 (variance components fixed under the null)",
        "Mallick H et al. (2019) Nat Commun 10:3136 doi:10.1038/s41467-019-10927-1 (metabolite prediction)",
        "Wirbel J et al. (2021) Genome Biol 22:93 doi:10.1186/s13059-021-02306-1 (preprocessing inside folds)",
        "Mars RAT et al. (2020) Cell 182:1460 doi:10.1016/j.cell.2020.08.007 (butyrate_potential training data)",
    ]
    return sec


class _Holder:
    """Duck-typed prediction result for :func:`gutbrain.pl.predicted_vs_observed`."""

    def __init__(self, predictions: pd.DataFrame, metrics: pd.DataFrame, baselines: pd.DataFrame,
                 params: dict[str, Any]) -> None:
        self.predictions = predictions
        self.metrics = metrics
        self.baselines = baselines
        self.params = params
