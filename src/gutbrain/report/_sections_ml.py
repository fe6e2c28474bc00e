"""Report sections: health indices with their out-of-study validation, and the classifier.

* ``gutbrain_health_index``: GMHI, GMWI2 and gutbrain's index each with its stored
  out-of-study validation (:func:`gutbrain.ml.health_index_validation`, from
  ``ml/data/health_index_loso.tsv``) and the reliability curve of gutbrain's probabilities;
  gutbrain's index is labelled experimental unless it beats GMHI out of study.  Renders
  ``obs["health_index*"]`` and ``uns["health_index"]``.
* ``classifier``: AUROC/AUPRC with CIs, ROC curve and the most weighted features from
  ``uns["classifier"]`` (:func:`gutbrain.ml.classify`, run by the workflow's classifier step).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._registry import Section
from ..ml._report import fmt_ci, validation_table
from ._common import add_figure, group_of, named, skip_reason

__all__ = ["N_BOOT_BAND", "N_TOP", "classifier_section", "health_index_section"]

#: Bootstrap resamples of the ROC curve's band in the report figure.
N_BOOT_BAND = 100
#: Features shown in the report.
N_TOP = 15
_HI_KEY = "health_index"
_KEY = "classifier"


def _reliability_figure(cal: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    from ..pl._style import palette, style

    with style():
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
        ok = cal["n"] > 0
        ax.plot([0, 1], [0, 1], ls="--", lw=1, color="0.6", label="perfect calibration")
        ax.plot(cal.loc[ok, "mean_predicted"], cal.loc[ok, "observed_healthy"], marker="o",
                color=palette(1)[0], label="gutbrain (held-out cohorts)")
        for r in cal[ok].itertuples():
            ax.annotate(str(r.n), (r.mean_predicted, r.observed_healthy), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color="0.35")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability of healthy")
        ax.set_ylabel("observed share healthy")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def health_index_section(adata: AnnData, context: dict[str, Any]) -> Section:
    """Each health index with its stored out-of-study validation; gutbrain's scores of this table.

    The validation figures come from ``ml/data/health_index_loso.tsv`` (never recomputed).
    When gutbrain's index does not beat GMHI out of study, the section leads with GMHI and
    GMWI2 and labels gutbrain's index *experimental*.
    """
    from ..ml._validation import health_index_calibration, health_index_validation

    v = health_index_validation().set_index("index")
    status = str(v.loc["gutbrain", "status"])
    g, h, w = v.loc["gutbrain"], v.loc["GMHI"], v.loc["GMWI2"]
    title = "Health indices: out-of-study validation" + (" (gutbrain's index experimental)"
                                                         if status == "experimental" else "")
    sec = Section(key="gutbrain_health_index", title=title, order=56)

    def fig_text(name: str, r: pd.Series) -> str:
        return (f"{name}: AUROC {fmt_ci(r['auroc'], r['auroc_low'], r['auroc_high'])}, balanced accuracy "
                f"{fmt_ci(r['balanced_accuracy'], r['ba_low'], r['ba_high'])}")

    published = (f"{fig_text('GMHI', h)}; {fig_text('GMWI2', w)} — both at their published threshold 0 and on "
                 f"cohorts most of which were in their own training data ({w['out_of_study']})")
    ours = f"{fig_text('gutbrain', g)} — every cohort scored by a model fitted without it"
    if status == "experimental":
        sec.paragraphs.append(
            f"Use GMHI and GMWI2 first. Scored on the same {int(g['n'])} MetAML stool profiles of "
            f"{int(g['n_studies'])} cohorts (benchmarks/health_index.py): {published}. gutbrain's own index is "
            f"EXPERIMENTAL: it does not beat GMHI out of study ({ours}).")
    else:
        sec.paragraphs.append(
            f"Scored on the same {int(g['n'])} MetAML stool profiles of {int(g['n_studies'])} cohorts "
            f"(benchmarks/health_index.py): {ours}; {published}. gutbrain's index beats GMHI on both pooled "
            "figures; its threshold and probabilities were set inside the training cohorts only.")
    sec.tables.append(("Out-of-study validation of each index (pooled over held-out cohorts; 95 % bootstrap CIs)",
                       named(validation_table(), "health_index_validation")))
    info = adata.uns.get(_HI_KEY)
    if info is None or _HI_KEY not in adata.obs.columns:
        reason = skip_reason(adata, "gutbrain_health_index")
        if reason:
            sec.paragraphs.append(f"{reason}.")
    else:
        obs = adata.obs
        val = obs[_HI_KEY].astype(float)
        notes = obs[f"{_HI_KEY}_note"].astype(str)
        params = dict(info.get("params", {}))
        n_nan = int(val.isna().sum())
        from ..ml._health_index import health_index_coefficients

        coef = health_index_coefficients()["coef"]
        sec.paragraphs.append(
            f"gutbrain's index on this table: {int(val.notna().sum())} of {len(val)} samples scored. It adds the "
            f"log-odds of {params.get('n_model_species', '')} species whose presence (relative abundance > 1e-5) "
            "differed between healthy and non-healthy people in the training cohorts "
            f"({int((coef < 0).sum())} of them lower the score when present); value > 0 (probability > "
            f"{float(info['threshold']):.3f}) "
            "means classed healthy. It is a research score of resemblance to the healthy profiles of those "
            "studies, not a diagnosis."
            + (f" {n_nan} sample(s) have no value: " + "; ".join(sorted(set(notes[val.isna()]))) + "."
               if n_nan else ""))
        group = group_of(adata)
        prob = obs[f"{_HI_KEY}_probability"].astype(float)
        frame = pd.DataFrame({"value": val, "probability": prob})
        agg = {"n_scored": ("value", "count"), "median_value": ("value", "median"),
               "median_probability": ("probability", "median"),
               "classed_healthy": ("value", lambda s: float((s.dropna() > 0).mean()) if s.notna().any() else np.nan)}
        if group:
            summ = frame.groupby(obs[group], observed=True).agg(**agg)
            summ.index = summ.index.astype(str)
            sec.tables.append((f"gutbrain's health index by {group} (classed_healthy: share with value > 0)",
                               named(summ.reset_index(names=group), "health_index_by_group")))
        else:
            summ = frame.assign(_all="all").groupby("_all").agg(**agg).reset_index(drop=True)
            sec.tables.append(("gutbrain's health index across samples (classed_healthy: share with value > 0)",
                               named(summ, "health_index_summary")))
    cal = health_index_calibration()
    sec.paragraphs.append(
        "Calibration of gutbrain's probabilities on held-out cohorts: Brier score "
        f"{float(cal.attrs['brier']):.3f} (constant prediction {float(cal.attrs['brier_reference']):.3f}), expected "
        f"calibration error {float(cal.attrs['ece']):.3f}, calibration slope {float(cal.attrs['calibration_slope']):.2f} "
        "(1 = perfect). Details and per-cohort figures: docs/health_index.md.")
    add_figure(sec, lambda: _reliability_figure(cal), "Reliability of gutbrain's health-index probabilities on "
               "held-out cohorts (numbers: profiles per bin).", "health_index_reliability")
    sec.citations += [
        "Pasolli E et al. (2016) PLoS Comput Biol 12:e1004977 doi:10.1371/journal.pcbi.1004977",
        "Gupta VK et al. (2020) Nat Commun 11:4635 doi:10.1038/s41467-020-18476-8",
        "Chang D et al. (2024) Nat Commun 15:7447 doi:10.1038/s41467-024-51651-9",
        "Tibshirani R et al. (2002) PNAS 99:6567 doi:10.1073/pnas.082099299",
    ]
    return sec


def _metric_table(metrics: pd.DataFrame) -> pd.DataFrame:
    names = {"auroc": "AUROC", "auprc": "AUPRC", "auprc_baseline": "AUPRC of a random classifier (prevalence)",
             "balanced_accuracy": "balanced accuracy (threshold 0.5)", "brier": "Brier score",
             "auroc_sd_repeats": "AUROC SD over repeats"}
    m = metrics[metrics["metric"].isin(list(names))].copy()
    m.insert(1, "description", m["metric"].map(names))
    return m.reset_index(drop=True)


def classifier_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """AUROC/AUPRC with CIs, ROC curve and the most weighted features."""
    title = "Classifier (cross-validated)"
    info = adata.uns.get(_KEY)
    if info is None or "metrics" not in info:
        reason = skip_reason(adata, "classifier")
        return Section(key="classifier", title=title, order=75,
                       paragraphs=[f"Not run: {reason}."]) if reason else None
    p = dict(info.get("params", {}))
    metrics = pd.DataFrame(info["metrics"])
    imp = pd.DataFrame(info["importances"])
    preds = pd.DataFrame(info["predictions"])
    mt = metrics.set_index("metric")
    pos, neg = str(p.get("positive")), str(p.get("negative"))
    n_pos = int(preds["y_true"].sum())
    n_neg = int(len(preds) - n_pos)
    level = f"{p.get('rank')} level" if p.get("rank") else "feature level (no genus names)"
    sec = Section(key="classifier", title=title, order=75)
    sec.paragraphs.append(
        f"Can the microbiome tell {pos} (n = {n_pos}) from {neg} (n = {n_neg})? An L1-penalised logistic "
        f"regression on centred log-ratio (CLR) abundances at {level} (pseudocount: half the smallest "
        "non-zero value of each sample; features standardised; features present in fewer than "
        f"{float(p.get('min_prevalence', 0.1)):.0%} of training samples dropped; penalty chosen by an inner "
        f"3-fold CV on AUROC) was evaluated by {p.get('n_splits')}-fold stratified cross-validation "
        f"repeated {p.get('n_repeats')} times (seed {p.get('random_state', '')})."
    )
    sec.paragraphs.append(
        "The cross-validation is leakage-safe: the prevalence filter, CLR transform, standardisation and "
        "penalty choice are refitted inside every training fold (one scikit-learn Pipeline), so held-out "
        "samples never inform the model that scores them."
        + (f" All samples of one {p.get('group_by')} are kept in the same fold"
           + (" (a column detected as a subject id; name it with --subject to use it in the other tests too)."
              if p.get("group_rule") == "detected" else ".") if p.get("group_by") else "")
    )
    auc, prc = mt.loc["auroc"], mt.loc["auprc"]
    sec.paragraphs.append(
        f"Out-of-fold AUROC {auc['value']:.3f} (95 % CI {auc['ci_low']:.3f}–{auc['ci_high']:.3f}) and AUPRC "
        f"{prc['value']:.3f} (95 % CI {prc['ci_low']:.3f}–{prc['ci_high']:.3f}; a random classifier scores "
        f"{mt.loc['auprc_baseline', 'value']:.3f}); CIs from {p.get('n_boot')} stratified bootstrap resamples "
        "of the out-of-fold predictions. These are internal estimates from one cohort without external "
        "validation; separation can come from confounders that differ between the groups (e.g. "
        "medication), and a weighted feature is an association, not a causal biomarker."
    )
    sec.tables.append(("Cross-validated performance", named(_metric_table(metrics), "classifier_performance")))
    top = imp.head(N_TOP).copy()
    top["direction"] = np.where(top["importance"] > 0, f"higher in {pos}",
                                np.where(top["importance"] < 0, f"lower in {pos}", "not selected"))
    top = top.rename(columns={"importance": "mean_coefficient", "sd": "sd_over_folds"})
    sec.tables.append((
        f"Top {len(top)} features by |mean standardised coefficient| over the "
        f"{int(p.get('n_splits', 0)) * int(p.get('n_repeats', 0))} fitted folds "
        "(selected_fraction: share of folds with a non-zero coefficient)",
        named(top[["feature", "mean_coefficient", "sd_over_folds", "selected_fraction", "direction"]],
              "classifier_top_features"),
    ))
    from ..pl._ml import roc_curve
    from ..pl._style import group_colors

    colour = group_colors(adata, str(p.get("label"))).get(pos) if p.get("label") in adata.obs.columns else None
    add_figure(sec, lambda: roc_curve(preds, n_boot=N_BOOT_BAND, random_state=int(p.get("random_state", 0)),
                                      color=colour),
               f"Out-of-fold ROC curve ({pos} vs {neg}): the average of the {p.get('n_repeats')} repeats' curves, "
               f"whose mean AUROC is the table's, with a 95 % band from {N_BOOT_BAND} stratified bootstrap "
               "resamples.", "classifier_roc")
    sec.citations += [
        "Wirbel J et al. (2021) Genome Biol 22:93 doi:10.1186/s13059-021-02306-1",
        "Pasolli E et al. (2016) PLoS Comput Biol 12:e1004977 doi:10.1371/journal.pcbi.1004977",
        "Aitchison J (1982) J R Stat Soc B 44:139 doi:10.1111/j.2517-6161.1982.tb01195.x",
        "Pedregosa F et al. (2011) J Mach Learn Res 12:2825 (scikit-learn)",
    ]
    return sec
