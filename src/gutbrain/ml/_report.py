"""``gutbrain run`` steps and report sections for gutbrain's health index (56) and a classifier (75).

Steps compute into ``adata``; sections only read the stored results.

* **Health index** (step and section ``gutbrain_health_index``, order 56):
  :func:`gutbrain.ml.health_index` into ``obs["health_index"]``,
  ``obs["health_index_coverage"]`` and ``uns["health_index"]``.  The section states the
  index's stored leave-one-study-out evaluation (:data:`HEALTH_INDEX_LOSO`), including
  that it does not transfer to 16S tables.
* **Classifier** (step and section ``classifier``, order 75): when ``config["group"]``
  names a column with exactly two levels of at least :data:`MIN_PER_CLASS` samples each,
  :func:`gutbrain.ml.classify` with an L1 logistic regression on CLR-transformed genus
  abundances, 5-fold stratified CV repeated :data:`N_REPEATS` times, seeded by
  ``config["seed"]``, :data:`N_BOOT` bootstrap resamples for the CIs (kept small so the
  step takes a few seconds on 200 samples).  Results in ``uns["classifier"]`` (see
  :func:`gutbrain.ml.classify`); a skipped run leaves ``uns["classifier_note"]``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import GutbrainError
from .._registry import Figure, Section, register_section, register_step
from ..pp._filter import ADDITIVE_UNITS as _ADDITIVE

__all__ = ["HEALTH_INDEX_LOSO", "MIN_PER_CLASS", "N_BOOT", "N_REPEATS", "N_SPLITS"]

#: Minimum samples per class before the classifier runs.
MIN_PER_CLASS = 10
#: Outer cross-validation: stratified folds and repeats.
N_SPLITS = 5
N_REPEATS = 2
#: Bootstrap resamples of the out-of-fold predictions for the AUROC/AUPRC CIs and the ROC band.
N_BOOT = 200
#: Bootstrap resamples of the ROC curve's band in the report figure.
N_BOOT_BAND = 100
#: Features shown in the report.
N_TOP = 15

_KEY = "classifier"
_HI_KEY = "health_index"
_CONTROL = re.compile(r"^(control|controls|healthy|hc|ctrl|nonibd|normal|none|no|false|0)$", re.IGNORECASE)

#: Stored evaluation of the shipped health index: leave-one-study-out balanced accuracy
#: (accuracy for single-class studies) at value > 0, from ``benchmarks/health_index.py``
#: run on ``../shared/data`` (MetAML, doi:10.1371/journal.pcbi.1004977; ML Repo,
#: doi:10.1093/gigascience/giz042); its full-data fit reproduces the shipped coefficients
#: (C = 0.0433, 37 genera).  GMHI and GMWI2 on the same MetAML samples were trained on
#: collections that include several of these studies, so their numbers are not out-of-study.
HEALTH_INDEX_LOSO: tuple[tuple[str, str, int, int, int, float, float, float], ...] = (
    # study, profile, n, healthy, diseased, gutbrain (held out), GMHI, GMWI2
    ("Candela_Africa", "shotgun", 38, 38, 0, 0.895, 0.447, 0.921),
    ("Chatelier_gut_obesity", "shotgun", 278, 114, 164, 0.506, 0.520, 0.523),
    ("hmp", "shotgun", 152, 152, 0, 0.967, 0.612, 0.829),
    ("hmpii", "shotgun", 44, 44, 0, 0.932, 0.727, 0.636),
    ("metahit", "shotgun", 110, 85, 25, 0.691, 0.612, 0.555),
    ("Neilsen_genome_assembly", "shotgun", 335, 187, 148, 0.632, 0.623, 0.722),
    ("Quin_gut_liver_cirrhosis", "shotgun", 232, 114, 118, 0.627, 0.703, 0.544),
    ("Tito_subsistence_gut", "shotgun", 35, 35, 0, 0.400, 0.343, 0.857),
    ("t2dmeta_long", "shotgun", 271, 136, 135, 0.554, 0.518, 0.529),
    ("t2dmeta_short", "shotgun", 73, 38, 35, 0.611, 0.561, 0.582),
    ("WT2D", "shotgun", 96, 43, 53, 0.534, 0.601, 0.583),
    ("Zeller_fecal_colorectal_cancer", "shotgun", 95, 47, 48, 0.482, 0.651, 0.768),
    ("sokol", "16S", 128, 19, 109, 0.508, np.nan, np.nan),
    ("turnbaugh", "16S", 142, 35, 107, 0.500, np.nan, np.nan),
    ("all MetAML studies (pooled)", "shotgun", 1759, 1033, 726, 0.588, 0.591, 0.622),
)


def health_index_evaluation() -> pd.DataFrame:
    """The stored leave-one-study-out evaluation of the health index as a table."""
    df = pd.DataFrame(
        list(HEALTH_INDEX_LOSO),
        columns=["study", "profile", "n", "healthy", "diseased", "gutbrain_held_out", "GMHI", "GMWI2"],
    )
    df.insert(5, "metric", np.where((df["healthy"] > 0) & (df["diseased"] > 0), "balanced accuracy",
                                    "accuracy (one class)"))
    return df


def _is_shotgun(adata: AnnData) -> bool:
    prov = adata.uns.get("gutbrain", {})
    reader = str(prov.get("reader", "")).lower()
    fmt = " ".join(str(v.get("format", "")) for v in dict(prov.get("inputs", {})).values()
                   if isinstance(v, dict)).lower()
    return "metaphlan" in reader or "metaphlan" in fmt or "clade_rank" in adata.var.columns


def _svg(fig: Any) -> str:
    from ..pl._style import fig_to_svg

    return fig_to_svg(fig)


# --------------------------------------------------------------------------- health index


@register_step("gutbrain_health_index", 56)
def health_index_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Score gutbrain's genus-level health index (needs genus names)."""
    from ._health_index import health_index

    try:
        health_index(adata, key_added=_HI_KEY)
    except GutbrainError as exc:
        adata.uns["health_index_note"] = f"gutbrain's health index was not computed: {exc}"


@register_section("gutbrain_health_index", 56)
def health_index_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Index summary with its coverage and the stored held-out evaluation (16S caveat)."""
    title = "gutbrain health index"
    info = adata.uns.get(_HI_KEY)
    if info is None or _HI_KEY not in adata.obs.columns:
        note = adata.uns.get("health_index_note")
        return Section(key="gutbrain_health_index", title=title, order=56,
                       paragraphs=[str(note)]) if note else None
    obs = adata.obs
    params = dict(info.get("params", {}))
    cov = float(np.nanmedian(obs[f"{_HI_KEY}_coverage"].to_numpy(dtype=np.float64)))
    ev = health_index_evaluation()
    s16 = ev[ev["profile"] == "16S"]
    pooled = ev[ev["study"].str.startswith("all MetAML")].iloc[0]
    sec = Section(key="gutbrain_health_index", title=title, order=56)
    sec.paragraphs.append(
        f"gutbrain's own health index is a sparse L1 logistic model on {params.get('n_model_genera', '')} "
        "canonical genera (log10 proportions, detection floor 1e-4), trained on 2,029 public stool "
        "profiles of 14 studies (MetAML shotgun, ML Repo 16S); value > 0 means the profile resembles "
        "the healthy profiles of those studies. It is a research score, not a diagnosis. "
        f"Coverage in this table: the genera found carry {cov:.0%} of the model's total |coefficient| "
        "(model genera absent from the table count as absent, so a low coverage makes the score "
        "meaningless)."
    )
    shotgun = _is_shotgun(adata)
    sec.paragraphs.append(
        "Known limitation — the index does not transfer to 16S tables: held out in turn, the 16S studies "
        "it was trained with were scored at chance level (balanced accuracy "
        + ", ".join(f"{r.gutbrain_held_out:.2f} for {r.study} (n = {r.n})" for r in s16.itertuples())
        + "). On held-out shotgun studies the pooled balanced accuracy was "
        f"{pooled['gutbrain_held_out']:.2f} (GMHI {pooled['GMHI']:.2f}, GMWI2 {pooled['GMWI2']:.2f} on the "
        "same samples, not out-of-study for them). "
        + ("This table is a shotgun (MetaPhlAn) profile."
           if shotgun else
           "This table is not a shotgun (MetaPhlAn) profile, so do not interpret these values as "
           "evidence about health.")
    )
    group = context.get("config", {}).get("group")
    v = obs[_HI_KEY].astype(float)
    if group and group in obs.columns:
        g = obs[group].astype(str).where(obs[group].notna())
        summ = v.groupby(g, observed=True).agg(
            n="count", median="median", mean="mean", healthy_like=lambda s: float((s > 0).mean()))
        sec.tables.append((f"Health index by {group} (healthy_like: share with value > 0)",
                           summ.reset_index(names=group)))
    else:
        summ = pd.DataFrame({"n": [int(v.count())], "median": [v.median()], "mean": [v.mean()],
                             "healthy_like": [float((v > 0).mean())]})
        sec.tables.append(("Health index across samples (healthy_like: share with value > 0)", summ))
    sec.tables.append(("Stored leave-one-study-out evaluation of the index (benchmarks/health_index.py): "
                       "each study scored by a model trained without it", ev))
    sec.citations += [
        "Pasolli E et al. (2016) PLoS Comput Biol 12:e1004977 doi:10.1371/journal.pcbi.1004977",
        "Vangay P, Hillmann BM, Knights D (2019) GigaScience 8:giz042 doi:10.1093/gigascience/giz042",
        "Gupta VK et al. (2020) Nat Commun 11:4635 doi:10.1038/s41467-020-18476-8",
        "Chang D et al. (2024) Nat Commun 15:7447 doi:10.1038/s41467-024-51651-9",
    ]
    return sec


# --------------------------------------------------------------------------- classifier


def _levels(col: pd.Series) -> list[str]:
    present = col.dropna()
    if isinstance(present.dtype, pd.CategoricalDtype):
        return [str(c) for c in present.cat.categories if (present == c).any()]
    return sorted(present.astype(str).unique())


def _positive(col: pd.Series, levels: list[str]) -> str:
    """The case level: last category, else the level that is not a control name, else the second."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return levels[-1]
    ctrl = [lv for lv in levels if _CONTROL.match(lv)]
    if len(ctrl) == 1:
        return next(lv for lv in levels if lv != ctrl[0])
    return levels[1]


def classifier_plan(adata: AnnData, config: dict[str, Any]) -> dict[str, Any] | None:
    """The keyword arguments of :func:`gutbrain.ml.classify` the step uses (``None``: skip).

    Sets ``uns["classifier_note"]`` with the reason when a group is given but unusable.
    """
    from .._core import get_unit

    group = config.get("group")
    if not group:
        return None
    if group not in adata.obs.columns:
        adata.uns["classifier_note"] = f"classifier not run: no metadata column {group!r}"
        return None
    col = adata.obs[group]
    levels = _levels(col)
    counts = col.dropna().astype(str).value_counts()
    if len(levels) != 2 or int(counts.min()) < MIN_PER_CLASS:
        adata.uns["classifier_note"] = (
            f"classifier not run: {group!r} has {len(levels)} level(s) "
            f"({', '.join(f'{k}: {v}' for k, v in counts.items())}); it needs exactly two with at least "
            f"{MIN_PER_CLASS} samples each"
        )
        return None
    if get_unit(adata) not in _ADDITIVE:
        adata.uns["classifier_note"] = "classifier not run: the table does not hold abundances"
        return None
    rank = config.get("rank", "genus")
    if not (rank and rank in adata.var.columns and (adata.var[rank].astype(str) != "").any()):
        rank = None
    group_by = None
    if "subject" in adata.obs.columns and adata.obs["subject"].dropna().duplicated().any():
        group_by = "subject"  # repeated samples of a subject stay in one fold
    return {
        "label": str(group),
        "positive": _positive(col, levels),
        "model": "l1",
        "transform": "clr",
        "cv": "repeated",
        "group_by": group_by,
        "n_splits": N_SPLITS,
        "n_repeats": N_REPEATS,
        "n_boot": N_BOOT,
        "rank": rank,
        "random_state": int(config.get("seed", 0)),
        "key_added": _KEY,
    }


@register_step("classifier", 75)
def classifier_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Cross-validated L1 logistic classifier of the two groups (CLR genus abundances)."""
    from ._classify import classify

    plan = classifier_plan(adata, config)
    if plan is None:
        return
    try:
        classify(adata, **plan)
    except GutbrainError as exc:
        adata.uns.pop(_KEY, None)
        adata.uns["classifier_note"] = f"classifier not run: {exc}"


def _metric_table(metrics: pd.DataFrame) -> pd.DataFrame:
    names = {"auroc": "AUROC", "auprc": "AUPRC", "auprc_baseline": "AUPRC of a random classifier (prevalence)",
             "balanced_accuracy": "balanced accuracy (threshold 0.5)", "brier": "Brier score",
             "auroc_sd_repeats": "AUROC SD over repeats"}
    m = metrics[metrics["metric"].isin(list(names))].copy()
    m.insert(1, "description", m["metric"].map(names))
    return m.reset_index(drop=True)


@register_section("classifier", 75)
def classifier_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """AUROC/AUPRC with CIs, ROC curve and the most weighted features."""
    title = "Classifier (cross-validated)"
    info = adata.uns.get(_KEY)
    if info is None or "metrics" not in info:
        note = adata.uns.get("classifier_note")
        return Section(key="classifier", title=title, order=75, paragraphs=[str(note)]) if note else None
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
        + (" Samples of one subject are kept in the same fold." if p.get("group_by") else "")
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
    sec.tables.append(("Cross-validated performance", _metric_table(metrics)))
    top = imp.head(N_TOP).copy()
    top["direction"] = np.where(top["importance"] > 0, f"higher in {pos}",
                                np.where(top["importance"] < 0, f"lower in {pos}", "not selected"))
    top = top.rename(columns={"importance": "mean_coefficient", "sd": "sd_over_folds"})
    sec.tables.append((
        f"Top {len(top)} features by |mean standardised coefficient| over the "
        f"{int(p.get('n_splits', 0)) * int(p.get('n_repeats', 0))} fitted folds "
        "(selected_fraction: share of folds with a non-zero coefficient)",
        top[["feature", "mean_coefficient", "sd_over_folds", "selected_fraction", "direction"]],
    ))
    try:
        from ..pl._ml import roc_curve

        ax = roc_curve(preds, n_boot=N_BOOT_BAND, random_state=int(p.get("random_state", 0)))
        sec.figures.append(Figure(caption=f"Out-of-fold ROC curve ({pos} vs {neg}; mean score over repeats) "
                                  f"with a 95 % band from {N_BOOT_BAND} stratified bootstrap resamples.",
                                  svg=_svg(ax.figure),
                                  name="classifier_roc"))
    except Exception as exc:  # a figure must never stop the report
        sec.paragraphs.append(f"(ROC curve not drawn: {exc})")
    sec.citations += [
        "Wirbel J et al. (2021) Genome Biol 22:93 doi:10.1186/s13059-021-02306-1",
        "Pasolli E et al. (2016) PLoS Comput Biol 12:e1004977 doi:10.1371/journal.pcbi.1004977",
        "Aitchison J (1982) J R Stat Soc B 44:139 doi:10.1111/j.2517-6161.1982.tb01195.x",
        "Pedregosa F et al. (2011) J Mach Learn Res 12:2825 (scikit-learn)",
    ]
    return sec
