"""Metabolite step and report section of ``gutbrain run`` (listed in ``workflow`` STEPS and ``report.SECTIONS``).

* :func:`metabolites_step` ``(adata, config) -> None`` computes into ``adata``:

  - ``obsm["metabolites"]``/``uns["metabolites"]`` when absent, from ``config["metabolites"]``
    (path(s), with ``config["metabolite_map"]``) or from numeric metadata columns named like
    known metabolites (``butyrate``, ``fecal_acetate``);
  - ``uns["metabolite_associations"]``: every taxon × metabolite (CLR, BH over all pairs; a
    random intercept for ``config["subject"]`` when given);
  - ``uns["metabolite_report"]`` = ``{"params", "hits" (associations of the group's
    differential-abundance hits), "scfa_by_group" (median, IQR and a rank test per SCFA and
    group), "prediction_metrics" (out-of-fold metrics of each SCFA beside the butyrate indices),
    "predictions" (observed vs out-of-fold predicted), "index_validation" (both butyrate indices
    on this cohort)}``.

The report section that renders these slots is
:func:`gutbrain.report._sections_metabolites.metabolites_section` (no science there).

Suggested order: step after differential abundance (70), e.g. 72; section 72.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import GutbrainError

__all__ = ["metabolites_step"]

_KEY = "metabolite_report"
_SCFA = ("Acetate", "Propionate", "Butyrate")
#: Bootstrap resamples and models used inside ``gutbrain run`` (kept small: seconds, not minutes).
N_BOOT = 300
RUN_MODELS = ("ridge",)


def _ensure_metabolites(adata: AnnData, config: dict[str, Any]) -> str | None:
    from ..io._metabolites import attach_metabolites, find_metabolite_columns

    if "metabolites" in adata.obsm:
        return "table"
    src = config.get("metabolites")
    if src:
        new = attach_metabolites(adata, src, map=config.get("metabolite_map"), by=config.get("metabolite_by"),
                                 below_detection=config.get("below_detection", "error"))
        origin = "table"
    else:
        cols = find_metabolite_columns(adata.obs)
        if not cols:
            return None
        new = attach_metabolites(adata, adata.obs[cols].astype(float))
        new.uns["metabolites"]["params"]["source"] = "metadata columns"
        origin = "metadata"
    adata.obsm["metabolites"] = new.obsm["metabolites"]
    adata.uns["metabolites"] = new.uns["metabolites"]
    for c in new.obs.columns:
        if c not in adata.obs.columns:
            adata.obs[c] = new.obs[c].to_numpy()
    return origin


def _scfa_columns(adata: AnnData) -> list[tuple[str, str]]:
    from ..io._metabolites import _vocab_row, metabolite_frame, metabolite_vocabulary

    frame, mp, _ = metabolite_frame(adata)
    voc = metabolite_vocabulary()
    out = []
    for name in _SCFA:
        for c in frame.columns:
            v = _vocab_row(str(mp.at[c, "hmdb"]), str(mp.at[c, "name"]), c)
            if v >= 0 and voc.at[v, "name"] == name:
                out.append((name, c))
                break
    return out


def _scfa_by_group(adata: AnnData, group: str, cols: list[tuple[str, str]]) -> pd.DataFrame:
    from scipy.stats import kruskal, mannwhitneyu

    from ..io._metabolites import metabolite_frame
    from ._da_common import bh_adjust

    frame, _, _ = metabolite_frame(adata)
    g = adata.obs[group]
    levels = [str(x) for x in (g.cat.categories if hasattr(g, "cat") else sorted(g.dropna().astype(str).unique()))]
    rows = []
    for name, c in cols:
        vals = [frame.loc[(g.astype(str) == lv).to_numpy(), c].dropna().to_numpy(float) for lv in levels]
        vals_ok = [v for v in vals if v.size]
        p = np.nan
        test = ""
        if len(vals_ok) == 2 and min(v.size for v in vals_ok) >= 2:
            p, test = float(mannwhitneyu(*vals_ok).pvalue), "Mann–Whitney U"
        elif len(vals_ok) > 2 and min(v.size for v in vals_ok) >= 2:
            p, test = float(kruskal(*vals_ok).pvalue), "Kruskal–Wallis"
        row: dict[str, Any] = {"metabolite": name, "column": c, "test": test, "pval": p}
        for lv, v in zip(levels, vals):
            row[f"{lv} n"] = int(v.size)
            row[f"{lv} median"] = float(np.median(v)) if v.size else np.nan
            row[f"{lv} IQR"] = (f"{np.quantile(v, 0.25):.3g}–{np.quantile(v, 0.75):.3g}" if v.size else "")
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out.insert(4, "qval", bh_adjust(out["pval"].to_numpy()))
    return out


def metabolites_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Compute the metabolite section's results into ``adata`` (see the module docstring).

    ``config`` keys used: ``metabolites``, ``metabolite_map``, ``metabolite_by``,
    ``below_detection`` (inputs when no table is attached yet), ``group`` (metadata column of
    the groups), ``subject`` (repeated-measures/household column: random intercept of the
    associations and grouped CV of the predictions), ``rank`` (default genus), ``seed``.
    Nothing is computed when the data hold no metabolite measurements; a failure leaves
    ``uns["metabolite_report_note"]`` and does not stop the run.
    """
    from ..ml._predict import MIN_MEASURED, predict_metabolite
    from ._butyrate import validate_butyrate_indices
    from ._metabolites import metabolite_associations

    try:
        origin = _ensure_metabolites(adata, config)
    except GutbrainError as exc:
        adata.uns[f"{_KEY}_note"] = f"metabolite table not attached: {exc}"
        return
    if origin is None:
        return
    seed = int(config.get("seed", 0))
    group = config.get("group")
    subject = config.get("subject")
    if subject is not None and subject not in adata.obs.columns:
        subject = None
    rank = config.get("rank", "genus")
    out: dict[str, Any] = {}
    notes: list[str] = []
    try:
        res = metabolite_associations(adata, groups=subject, rank=rank)
    except GutbrainError as exc:
        notes.append(f"associations skipped: {exc}")
        res = None
    da = adata.uns.get("diff_abundance", {})
    if res is not None and isinstance(da, dict) and isinstance(da.get("group_hits"), pd.DataFrame):
        # the consensus hits of the compared groups (gutbrain run), not of covariates
        hits = list(dict.fromkeys(da["group_hits"]["feature"].astype(str)))
        out["hits"] = res[res["taxon"].astype(str).isin(hits)].reset_index(drop=True)
        out["hit_taxa"] = hits
    elif res is not None and isinstance(da, dict) and isinstance(da.get("consensus"), pd.DataFrame):
        cons = da["consensus"]
        hits = cons.loc[cons["consensus"].astype(bool), "feature"].astype(str).tolist() if "consensus" in cons else []
        out["hits"] = res[res["taxon"].astype(str).isin(hits)].reset_index(drop=True)
        out["hit_taxa"] = hits
    scfa = []
    try:
        scfa = _scfa_columns(adata)
    except GutbrainError as exc:
        notes.append(str(exc))
    if group and group in adata.obs.columns and scfa:
        out["scfa_by_group"] = _scfa_by_group(adata, group, scfa)
    mets, preds = [], []
    n_splits = 5
    for name, col in scfa:
        n_meas = int(np.isfinite(adata.obsm["metabolites"][col].to_numpy(float)).sum())
        if n_meas < MIN_MEASURED:
            notes.append(f"{name}: {n_meas} measured values (< {MIN_MEASURED}); not predicted")
            continue
        try:
            pr = predict_metabolite(adata, target=col, groups=subject, models=RUN_MODELS, rank=rank,
                                    n_splits=n_splits, inner_splits=3, n_boot=N_BOOT, random_state=seed,
                                    key_added="_tmp_predict")
        except GutbrainError as exc:
            notes.append(f"{name} not predicted: {exc}")
            continue
        finally:
            adata.uns.pop("_tmp_predict", None)
        m = pr.metrics.copy()
        m.insert(0, "model", "ridge on CLR genera (out of fold)")
        both = pd.concat([m, pr.baselines], ignore_index=True)
        both.insert(0, "metabolite", name)
        mets.append(both)
        p = pr.predictions[["sample", "observed", "predicted", "fold"]].copy()
        p.insert(0, "metabolite", name)
        preds.append(p)
        out.setdefault("prediction_params", {})[name] = {k: v for k, v in pr.params.items()
                                                          if isinstance(v, (int, float, str))}
        if name == "Butyrate":
            try:
                out["index_validation"] = validate_butyrate_indices(
                    adata, target=col, n_boot=N_BOOT, random_state=seed, groups=subject,
                    key_added="_tmp_validation")
            except GutbrainError as exc:
                notes.append(f"butyrate index validation skipped: {exc}")
            finally:
                adata.uns.pop("_tmp_validation", None)
    if mets:
        out["prediction_metrics"] = pd.concat(mets, ignore_index=True)
        out["predictions"] = pd.concat(preds, ignore_index=True)
    if notes:
        out["notes"] = notes
    record(adata, _KEY, params={"origin": origin, "group": group, "subject": subject, "rank": rank,
                                "models": list(RUN_MODELS), "n_boot": N_BOOT, "n_splits": n_splits},
           random_state=seed, **out)
