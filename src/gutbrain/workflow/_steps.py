"""The analysis steps of ``gutbrain run``: each a function ``step(adata, config) -> None``.

A step computes with the library (``gb.tl``, ``gb.ml``, ``gb.kb``, ``gb.sim``) and leaves its
results in documented AnnData slots; it never draws (figures are made by the report
sections from these slots).  A step that does not apply raises :class:`StepSkipped` with
the reason in plain words, which the report and the provenance show.  The order is set in
:mod:`gutbrain.workflow._pipeline`.

Slots written (besides those of the library functions called):

``uns["diff_abundance"]``  ``results`` (primary method, all terms), ``linda``/``wilcoxon``/…
                           (each method), ``consensus``, ``group_hits`` and ``params``
``uns["planted_truth"]``   planted vs recovered effects of a simulated cohort
``uns["classifier"]``      :func:`gutbrain.ml.classify` output with the grouped-CV rule
``uns["evidence"]``        evidence for the group's hits (``kb``)
``uns["resemblance"]``     published conditions the group's hits resemble (``kb.enrich``)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _core
from .._errors import GutbrainError
from ._config import RunConfig

__all__ = [
    "DA_METHODS",
    "MIN_PER_CLASS",
    "StepSkipped",
    "add_note",
]

#: Differential-abundance methods, the primary (reported in full) first.  MaAsLin 3 leads
#: (abundance and prevalence models, joint q-values); with ``--subject`` methods that cannot
#: model a subject (ANCOM-BC, Wilcoxon) leave the consensus.
DA_METHODS: tuple[str, ...] = ("maaslin3", "maaslin2", "linda", "ancombc", "wilcoxon")
#: Methods that take random intercepts ``(1|subject)``.
DA_RANDOM_EFFECTS: frozenset[str] = frozenset({"maaslin2", "maaslin3", "linda"})
#: Features tested by every method: present in at least this share of samples.
DA_MIN_PREVALENCE = 0.1
#: q-value threshold of a differential-abundance call.
DA_ALPHA = 0.05
#: Minimum samples per class before the classifier runs.
MIN_PER_CLASS = 10
#: Classifier: stratified folds, repeats, bootstrap resamples of the out-of-fold predictions.
N_SPLITS, N_REPEATS, N_BOOT = 5, 2, 200
_ABUNDANCE = ("counts", "relative", "percent", "cpm", "abundance")
_N_PERM = 999


class StepSkipped(Exception):
    """Raised by a step that does not apply to these data; the message says why."""


def add_note(adata: AnnData, text: str) -> None:
    """Add a plain-language note for the report (``uns["workflow"]["notes"]``)."""
    wf = adata.uns.setdefault("workflow", {})
    notes = list(wf.get("notes", []))
    if text not in notes:
        notes.append(text)
    wf["notes"] = notes


def _require_abundances(adata: AnnData, what: str) -> str:
    unit = _core.get_unit(adata)
    if unit not in _ABUNDANCE:
        raise StepSkipped(f"{what} needs abundances, but the table holds {unit}")
    return unit


def _require_group(config: RunConfig, what: str) -> None:
    if config.plan is None:
        raise StepSkipped(f"{what} compares groups; no --group was given")


# --------------------------------------------------------------------------- summaries
def qc(adata: AnnData, config: RunConfig) -> None:
    """Depth, observed features and prevalence (:func:`gutbrain.tl.qc_metrics`)."""
    from ..tl._summary import qc_metrics

    qc_metrics(adata, min_depth=config.min_depth)


def composition(adata: AnnData, config: RunConfig) -> None:
    """Top taxa overall and per group (:func:`gutbrain.tl.composition_summary`)."""
    from ..tl._summary import composition_summary

    _require_abundances(adata, "a composition summary")
    composition_summary(adata, rank=config.rank, groupby=config.group)


# --------------------------------------------------------------------------- diversity
def _subject_means(adata: AnnData, config: RunConfig, metrics: list[str]) -> AnnData | None:
    """One row per subject (mean of its samples) when the group is constant within subjects."""
    subj = config.subject_codes(adata.obs)
    frame = adata.obs[metrics].copy()
    frame["_subject"] = subj
    frame["_group"] = adata.obs[config.group].astype(str).to_numpy()
    if (frame.groupby("_subject")["_group"].nunique() > 1).any():
        return None
    means = frame.groupby("_subject", sort=True)[metrics].mean()
    grp = frame.groupby("_subject", sort=True)["_group"].first()
    means[config.group] = pd.Categorical(grp.to_numpy(), categories=list(config.plan.levels))
    return AnnData(obs=means)


def alpha_diversity(adata: AnnData, config: RunConfig) -> None:
    """Alpha metrics (chao1 on counts, Faith PD with a tree) and Kruskal–Wallis by group.

    With ``--subject`` the test compares subjects (the mean of each subject's samples).
    """
    from ..tl._alpha import alpha_diversity as alpha
    from ..tl._stats import alpha_group_test

    unit = _require_abundances(adata, "alpha diversity")
    metrics = ["observed_features", "shannon", "simpson", "pielou_e"]
    if unit == "counts":
        metrics.append("chao1")
    if config.phylogeny is not None:
        metrics.append("faith_pd")
    alpha(adata, metrics=metrics, tree=config.phylogeny)
    if config.plan is None:
        return
    tested = [m for m in metrics if np.isfinite(adata.obs[m].to_numpy(dtype=float)).sum() >= 3]
    target, unit_of_test = adata, "samples"
    if config.subject:
        target = _subject_means(adata, config, tested)
        unit_of_test = "subjects (mean of each subject's samples)"
        if target is None:
            add_note(adata, f"Alpha diversity was not tested between groups: {config.group} changes "
                     f"within subjects of {config.subject}, which needs a paired or mixed model.")
            return
    for m in tested:
        alpha_group_test(target, metric=m, groupby=str(config.group))
    store = dict(target.uns["alpha_group_test"])
    for m in store:
        store[m] = {**store[m], "params": {**dict(store[m]["params"]), "unit_of_test": unit_of_test}}
    adata.uns["alpha_group_test"] = store


def beta_diversity(adata: AnnData, config: RunConfig) -> None:
    """Bray–Curtis (+ Aitchison on counts, UniFrac with a tree), PCoA, PERMANOVA, PERMDISP.

    With ``--subject`` PERMANOVA permutes whole subjects (or within subjects); PERMDISP,
    which has no restricted form here, is left out.
    """
    from ..tl._beta import beta_diversity as beta
    from ..tl._ordination import pcoa
    from ..tl._stats import permanova, permdisp

    unit = _require_abundances(adata, "beta diversity")
    if adata.n_obs < 3:
        raise StepSkipped("beta diversity needs at least 3 samples")
    depth = np.asarray(_core.get_matrix(adata, dense=False).sum(axis=1)).ravel()
    if not (depth > 0).all():
        raise StepSkipped(f"{int((depth <= 0).sum())} samples have no reads; filter them first")
    metrics = ["braycurtis"] + (["aitchison"] if unit == "counts" else [])
    if config.phylogeny is not None:
        metrics += ["unweighted_unifrac", "weighted_normalized_unifrac"]
    for m in metrics:
        beta(adata, metric=m, tree=config.phylogeny if "unifrac" in m else None)
    pcoa(adata, distance="braycurtis", n_components=min(10, adata.n_obs - 1))
    if config.plan is None:
        return
    from ..tl._design import permanova_r2

    for m in metrics:
        res = permanova(adata, distance=m, groupby=str(config.group), n_permutations=_N_PERM,
                        random_state=config.seed, strata=config.subject)
        adata.uns["permanova"][m]["r2"] = permanova_r2(
            float(res["test statistic"]), int(res["sample size"]), int(res["number of groups"]))
    if config.subject:
        add_note(adata, f"PERMDISP was not run: with repeated samples per {config.subject} its "
                 "permutations would treat samples as independent.")
        return
    permdisp(adata, distance="braycurtis", groupby=str(config.group), n_permutations=_N_PERM,
             random_state=config.seed)


def design_check(adata: AnnData, config: RunConfig) -> None:
    """Every metadata variable: PERMANOVA R², association with the group, missingness, flag."""
    from ..tl._design import design_check as check

    _require_group(config, "the design check")
    if "braycurtis" not in adata.obsp:
        raise StepSkipped("no Bray–Curtis distances (beta diversity did not run)")
    variables = list(adata.uns.get("workflow", {}).get("metadata_columns", adata.obs.columns))
    check(adata, group=str(config.group), distance="braycurtis", subject=config.subject, variables=variables,
          exclude=[c for c in (config.cv_groups,) if c], random_state=config.seed)


# --------------------------------------------------------------------------- indices
def gut_brain_indices(adata: AnnData, config: RunConfig) -> None:
    """Cited gut–brain indices (:func:`gutbrain.tl.gut_brain_indices`)."""
    from ..tl._indices import gut_brain_indices as indices

    try:
        indices(adata)
    except GutbrainError as exc:
        raise StepSkipped(exc.message) from None


def _species_resolved(adata: AnnData) -> bool:
    from ..tl._match import feature_lineages

    prov = adata.uns.get("gutbrain", {})
    fmt = " ".join(str(v.get("format", "")) for v in dict(prov.get("inputs", {})).values()
                   if isinstance(v, dict))
    if "metaphlan" in f"{prov.get('reader', '')} {fmt}".lower() or "clade_rank" in adata.var.columns:
        return True
    lin = feature_lineages(adata)
    return bool(adata.n_vars) and float((lin["species"].astype(str) != "").mean()) >= 0.5


def health_indices(adata: AnnData, config: RunConfig) -> None:
    """GMHI and GMWI2 on species-level (shotgun) profiles."""
    from ..tl._gmhi import gmhi
    from ..tl._gmwi2 import gmwi2

    if not _species_resolved(adata):
        raise StepSkipped("GMHI and GMWI2 are defined on shotgun (MetaPhlAn) species profiles; "
                          "this table is not species-resolved")
    done = []
    for fn in (gmhi, gmwi2):
        try:
            fn(adata)
            done.append(fn.__name__)
        except GutbrainError as exc:
            add_note(adata, f"{fn.__name__.upper()} was not computed: {exc.message}.")
    if not done:
        raise StepSkipped("neither GMHI nor GMWI2 could be computed")


def gutbrain_health_index(adata: AnnData, config: RunConfig) -> None:
    """gutbrain's species-level health index (:func:`gutbrain.ml.health_index`)."""
    from ..ml._health_index import health_index

    try:
        health_index(adata, key_added="health_index")
    except GutbrainError as exc:
        raise StepSkipped(f"gutbrain's health index was not computed: {exc.message}") from None


# --------------------------------------------------------------------------- differential abundance
def _at_rank(adata: AnnData, rank: str) -> tuple[AnnData, str]:
    from ..pp import collapse

    if rank in adata.var.columns and (adata.var[rank].astype(str) != "").any():
        return collapse(adata, rank), rank
    return adata, "feature"


def _da_methods(config: RunConfig) -> tuple[list[str], list[str]]:
    """Methods of the consensus and those left out (with ``--subject``)."""
    if not config.subject:
        return list(DA_METHODS), []
    keep = [m for m in DA_METHODS if m in DA_RANDOM_EFFECTS]
    return keep, [m for m in DA_METHODS if m not in DA_RANDOM_EFFECTS]


def _group_hits(consensus: pd.DataFrame, primary: pd.DataFrame, group: str) -> pd.DataFrame:
    """Consensus calls on the group term: feature, level, direction, primary coef/q, methods."""
    hits = consensus[consensus["consensus"].astype(bool)].copy()
    prim = primary[primary["metadata"] == group].set_index(["feature", "value"])
    key = list(zip(hits["feature"], hits["value"], strict=True))
    hits["coef"] = [prim["coef"].get(k, np.nan) for k in key]
    hits["qval"] = [prim["qval"].get(k, np.nan) for k in key]
    hits["direction"] = np.where(hits["coef"] > 0, "higher", "lower")
    cols = ["feature", "value", "direction", "coef", "qval", "n_called", "called_by", "replicability"]
    return hits[cols].reset_index(drop=True)


def _maaslin3_summary(table: pd.DataFrame, group: str) -> dict[str, int]:
    """Group-term MaAsLin 3 associations at q ≤ alpha: abundance, prevalence, joint."""
    g = table[(table["metadata"] == group) & table["error"].fillna("").astype(str).eq("")]
    ind = g["qval_individual"] <= DA_ALPHA
    return {"abundance": int((ind & (g["model"] == "abundance")).sum()),
            "prevalence": int((ind & (g["model"] == "prevalence")).sum()),
            "joint": int(g.loc[g["qval_joint"] <= DA_ALPHA, "feature"].nunique())}


def diff_abundance(adata: AnnData, config: RunConfig) -> None:
    """MaAsLin 3 (primary) and the other DA methods at ``config.rank``, and their consensus.

    The model is ``~ group + covariates`` (+ ``(1|subject)`` with ``--subject``) for every
    method; the reference levels are the group plan's and ``--reference``'s; every method
    tests the taxa present in at least 10 % of samples.  MaAsLin 3's full table (abundance
    and prevalence models) is kept in ``uns["diff_abundance"]["maaslin3"]``; its consensus
    call is the joint q-value with the abundance coefficient's sign.  The consensus calls a
    taxon when at least half of the methods call it at q ≤ 0.05 with agreeing directions
    (:func:`gutbrain.tl.diff_abundance` ``method="consensus"``).
    """
    from ..tl._da import diff_abundance as da
    from ..tl._da_methods import maaslin3_calls, run_consensus

    _require_group(config, "differential abundance")
    _require_abundances(adata, "differential abundance")
    work, rank = _at_rank(adata, config.rank)
    formula = config.model_formula()
    reference = config.reference_map()
    methods, left_out = _da_methods(config)
    tables: dict[str, pd.DataFrame] = {}
    out: dict[str, Any] = {}
    failed: list[str] = []
    for m in methods:
        try:
            res = da(work, formula=formula, method=m, reference=reference, min_prevalence=DA_MIN_PREVALENCE,
                     random_state=config.seed, key_added="_da_tmp")
        except GutbrainError as exc:
            if m == methods[0]:
                work.uns.pop("_da_tmp", None)
                raise StepSkipped(f"differential abundance could not be fitted: {exc.message}") from None
            failed.append(m)
            add_note(adata, f"{m} left the differential-abundance consensus: {exc.message}.")
            continue
        finally:
            work.uns.pop("_da_tmp", None)
        if m == "maaslin3":
            res = res.copy()
            res["error"] = res["error"].fillna("").astype(str)  # text column (h5ad), "" = fitted
            out["maaslin3"] = res
            res = maaslin3_calls(res)
        tables[m] = res
        out["results" if m == methods[0] else m] = res
    methods = [m for m in methods if m not in failed]
    try:
        out["consensus"] = run_consensus(
            work, formula=formula, methods=methods, reference=reference, alpha=DA_ALPHA,
            random_state=config.seed, n_splits=20, min_prevalence=DA_MIN_PREVALENCE, min_abundance=0.0,
            min_variance=0.0, standardize=True, layer=None, tables=tables)
    except GutbrainError as exc:
        raise StepSkipped(f"the differential-abundance consensus could not be formed: {exc.message}") from None
    out["group_hits"] = _group_hits(out["consensus"], out["results"], str(config.group))
    if left_out:
        add_note(adata, f"{', '.join(left_out)} left the differential-abundance consensus: "
                 f"{'they' if len(left_out) > 1 else 'it'} cannot model repeated samples of one {config.subject}.")
    n_used = int(out["results"]["N"].max()) if len(out["results"]) else 0
    extra = {"maaslin3_hits": _maaslin3_summary(out["maaslin3"], str(config.group))} if "maaslin3" in out else {}
    _core.record(
        adata, "diff_abundance",
        params={"formula": formula, "group": str(config.group), "reference": config.plan.reference,
                "references": ";".join(f"{k},{v}" for k, v in reference.items()), "rank": rank,
                "methods": methods, "primary": methods[0], "left_out": left_out + failed,
                "min_prevalence": DA_MIN_PREVALENCE, "alpha": DA_ALPHA, "n_splits": 20,
                "n_samples_used": n_used, "n_features_tested": int(out["consensus"]["feature"].nunique()),
                **extra},
        random_state=config.seed,
        **out,
    )


def planted_truth(adata: AnnData, config: RunConfig) -> None:
    """Recovered vs planted effects when the table is simulated (``var["planted_log2fc"]``)."""
    if "planted_log2fc" not in adata.var.columns:
        raise StepSkipped("the table carries no planted truth (only simulated cohorts do)")
    da = adata.uns.get("diff_abundance")
    if not isinstance(da, dict) or "consensus" not in da:
        raise StepSkipped("differential abundance did not run")
    rank = str(da["params"]["rank"])
    names = adata.var[rank].astype(str) if rank != "feature" else pd.Series(adata.var_names, index=adata.var_names)
    planted = adata.var["planted_log2fc"].astype(float).groupby(names.to_numpy()).agg(
        lambda v: v.iloc[int(np.argmax(np.abs(v.to_numpy())))])
    cons = pd.DataFrame(da["consensus"]).set_index("feature")
    prim = pd.DataFrame(da["results"])
    prim = prim[prim["metadata"] == str(config.group)].set_index("feature")
    tested = cons.index.unique()
    called = cons.index[cons["consensus"].astype(bool)].unique()
    truth = planted[planted != 0]
    rows = []
    for taxon, lfc in truth.items():
        coef = float(prim["coef"].get(taxon, np.nan)) if taxon in prim.index else np.nan
        is_called = taxon in called
        rows.append({"taxon": taxon, "planted_log2fc": float(lfc), "tested": taxon in tested,
                     "estimated_coef": coef, "qval": float(prim["qval"].get(taxon, np.nan))
                     if taxon in prim.index else np.nan, "consensus_call": is_called,
                     "recovered": bool(is_called and np.sign(coef) == np.sign(lfc))})
    table = pd.DataFrame(rows)
    unplanted = sorted(set(called) - set(truth.index))
    n_called = len(called)
    _core.record(
        adata, "planted_truth",
        params={"rank": rank, "term": str(config.group)},
        table=table,
        n_planted=len(truth),
        n_recovered=int(table["recovered"].sum()) if len(table) else 0,
        n_called=n_called,
        unplanted_calls=list(unplanted),
        unplanted_share=float(len(unplanted) / n_called) if n_called else 0.0,
    )


# --------------------------------------------------------------------------- classifier
def classifier(adata: AnnData, config: RunConfig) -> None:
    """Cross-validated L1 logistic classifier of two groups (CLR abundances at ``config.rank``).

    Samples of one subject (``--subject``, or a detected subject-like column) stay in one fold.
    """
    from ..ml._classify import classify

    _require_group(config, "the classifier")
    plan = config.plan
    if len(plan.levels) != 2:
        raise StepSkipped(f"the classifier separates two groups; {plan.column} has {len(plan.levels)}")
    if min(plan.counts.values()) < MIN_PER_CLASS:
        raise StepSkipped(f"the classifier needs at least {MIN_PER_CLASS} samples per group "
                          f"({', '.join(f'{k}: {v}' for k, v in plan.counts.items())})")
    _require_abundances(adata, "the classifier")
    rank = config.rank if config.rank in adata.var.columns and (adata.var[config.rank].astype(str) != "").any() \
        else None
    try:
        classify(adata, label=plan.column, positive=plan.case, model="l1", transform="clr", cv="repeated",
                 group_by=config.cv_groups, n_splits=N_SPLITS, n_repeats=N_REPEATS, n_boot=N_BOOT,
                 rank=rank, random_state=config.seed, key_added="classifier")
    except GutbrainError as exc:
        adata.uns.pop("classifier", None)
        raise StepSkipped(f"the classifier could not run: {exc.message}") from None
    p = adata.uns["classifier"]["params"]
    p["group_rule"] = config.cv_groups_rule


# --------------------------------------------------------------------------- metabolites
def metabolites(adata: AnnData, config: RunConfig) -> None:
    """Taxon × metabolite associations, SCFA by group, predicted SCFA (``uns["metabolite_report"]``).

    Runs when metabolite measurements are attached (``obsm["metabolites"]``) or metadata
    columns are named like known metabolites (``butyrate``, ``fecal_acetate``); the subject
    gives random intercepts and grouped CV (:func:`gutbrain.tl._metabolites_report.metabolites_step`).
    """
    from ..tl._metabolites_report import metabolites_step

    metabolites_step(adata, {"group": config.group, "subject": config.subject, "rank": config.rank,
                             "seed": config.seed})
    if "metabolite_report" not in adata.uns:
        note = adata.uns.get("metabolite_report_note")
        raise StepSkipped(str(note) if note else "no metabolite measurements (no obsm['metabolites'] and no "
                          "metadata column named like a metabolite)")


# --------------------------------------------------------------------------- evidence
def _hit_taxa(adata: AnnData) -> list[str]:
    da = adata.uns.get("diff_abundance")
    hits = da.get("group_hits") if isinstance(da, dict) else None
    if not isinstance(hits, pd.DataFrame) or hits.empty:
        return []
    return list(dict.fromkeys(hits.sort_values("qval")["feature"].astype(str)))


def evidence(adata: AnnData, config: RunConfig) -> None:
    """Published evidence for the group's consensus hits only (``uns["evidence"]``)."""
    from ..kb._report import annotate_taxa

    _require_group(config, "the evidence for group differences")
    taxa = _hit_taxa(adata)
    if not taxa:
        raise StepSkipped(f"no taxon differs between the {config.group} groups by the consensus, so no "
                          "evidence is shown")
    annotate_taxa(adata, taxa[:20], rule=f"consensus hits for {config.group}")


def resemblance(adata: AnnData, config: RunConfig) -> None:
    """Published conditions the group's consensus hits resemble (``uns["resemblance"]``)."""
    from ..kb._report import store_resemblance

    _require_group(config, "the comparison with published conditions")
    da = adata.uns.get("diff_abundance")
    if not isinstance(da, dict) or "consensus" not in da:
        raise StepSkipped("differential abundance did not run")
    cons = pd.DataFrame(da["consensus"])
    if not cons["consensus"].astype(bool).any():
        raise StepSkipped("there are no consensus hits to compare with published conditions")
    level = str(cons["value"].iloc[0])
    table = cons[cons["value"] == level]
    table = pd.DataFrame({"feature": table["feature"], "coef": table["coef"],
                          "qval": np.where(table["consensus"].astype(bool), 0.0, 1.0)})
    if not store_resemblance(adata, table, term=f"{config.group} = {level}"):
        raise StepSkipped("no published condition could be compared (too few matched genera)")


# --------------------------------------------------------------------------- simulation
def simulation(adata: AnnData, config: RunConfig) -> None:
    """LPS core and a profile-driven ensemble per group (``uns["simulation"]``)."""
    from ..sim._report import cohort_simulation

    cohort_simulation(adata, groupby=config.group, seed=config.seed)
