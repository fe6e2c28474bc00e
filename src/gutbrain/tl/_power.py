"""Power and false discovery rate of differential-abundance methods on planted-truth cohorts.

For each sample size and replicate, :func:`power_analysis` simulates a case/control cohort
from a template (:func:`gutbrain.datasets.fit_template` on a real table, or
:func:`gutbrain.datasets.healthy_gut_template`) with ``n_changed`` taxa given a planted
log2 fold change of ±``effect`` (half up, half down), runs each method of
:func:`gutbrain.tl.diff_abundance` on ``~ group``, and scores the calls (q ≤ ``alpha``)
against the truth.  A call on a planted taxon in the wrong direction counts as false.
The consensus calls a taxon when at least half of the methods call it in one direction
(as ``diff_abundance(method="consensus")``).

Empirical FDR is the mean over replicates of FP / max(1, calls); power the mean of
TP / n_changed (Hawinkel et al. 2019 Brief Bioinform 20:210, doi:10.1093/bib/bbx104;
Nearing et al. 2022 Nat Commun 13:342, doi:10.1038/s41467-022-28034-z).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError

__all__ = ["DEFAULT_POWER_METHODS", "power_analysis"]

DEFAULT_POWER_METHODS: tuple[str, ...] = ("maaslin2", "linda", "wilcoxon", "prevalence", "ancombc")

MethodFn = Callable[[Any], pd.DataFrame]


def _run_method(method: str | MethodFn, adata: Any, min_prevalence: float) -> pd.DataFrame:
    if callable(method):
        res = method(adata)
    else:
        from ._da import diff_abundance

        res = diff_abundance(adata, formula="~ group", method=method, min_prevalence=min_prevalence,
                             reference={"group": "control"}, key_added="_power_tmp")
        adata.uns.pop("_power_tmp", None)
    if "metadata" in res.columns:
        res = res[res["metadata"].astype(str) == "group"]
    return res[["feature", "coef", "qval"]]


def _planted_tested(adata: Any, truth: Mapping[str, float], min_prevalence: float) -> list[str]:
    """Planted taxa present in at least ``min_prevalence`` of the simulated cohort's samples."""
    X = adata.X
    present = np.asarray((X > 0).mean(axis=0)).ravel()
    names = pd.Index(adata.var["genus"].astype(str) if "genus" in adata.var.columns else adata.var_names)
    prev = pd.Series(present, index=names).groupby(level=0).max()
    return [t for t in truth if float(prev.get(t, 0.0)) >= min_prevalence]


def _score(calls: pd.DataFrame, truth: Mapping[str, float], alpha: float) -> dict[str, float]:
    sig = calls[calls["qval"].to_numpy() <= alpha]
    signs = np.sign(sig["coef"].to_numpy())
    want = np.array([np.sign(truth.get(f, 0.0)) for f in sig["feature"]])
    tp = int(np.sum((want != 0) & (signs == want)))
    n_calls = len(sig)
    fp = n_calls - tp
    return {"n_calls": n_calls, "tp": tp, "fp": fp, "power": tp / max(1, len(truth)),
            "fdp": fp / max(1, n_calls)}


def power_analysis(
    template: pd.DataFrame,
    *,
    effect: float = 2.0,
    n: Sequence[int] = (50, 100, 200),
    n_replicates: int = 20,
    n_changed: int = 10,
    min_template_prevalence: float = 0.25,
    methods: Sequence[str | MethodFn] = DEFAULT_POWER_METHODS,
    method_names: Sequence[str] | None = None,
    consensus: bool = True,
    alpha: float = 0.05,
    min_prevalence: float = 0.1,
    confounders: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Power and empirical FDR of differential-abundance methods over simulated replicates.

    Parameters
    ----------
    template
        Simulator template (``genus``, ``mean_relative_abundance``, ``prevalence``; its
        ``attrs`` give precision and library sizes when fitted by ``fit_template``).
    effect
        Absolute log2 fold change planted on each changed taxon (cases vs controls).
    n
        Total sample sizes (half cases).
    n_replicates
        Simulated cohorts per sample size.
    n_changed
        Planted taxa per cohort, drawn among taxa whose template prevalence is at least
        ``max(min_template_prevalence, min_prevalence)`` so that the methods test them (the
        same draws at every ``n``).
    methods
        :func:`gutbrain.tl.diff_abundance` method names, or callables
        ``fn(adata) -> DataFrame(feature, coef, qval[, metadata])``.
    method_names
        Labels of callables.
    consensus
        Also score the majority consensus of the methods.
    alpha
        q-value threshold of a call.
    min_prevalence
        Feature filter of every method.
    confounders
        Passed to :func:`gutbrain.datasets.simulate_cohort` (unadjusted in the tests).
    seed
        Master seed.
    progress
        Called with a short message after each replicate.

    Returns
    -------
    summary
        One row per method × n: ``method, n, power, power_se, fdr, fdr_se, mean_calls,
        n_replicates, planted_tested, effect, alpha`` (``planted_tested``: mean share of the
        planted taxa that passed the feature filter in the simulated cohorts).
    replicates
        One row per method × n × replicate (``n_calls, tp, fp, power, fdp, planted``
        — the planted taxa and their log2 fold changes — ``n_planted_tested``).
    """
    from ..datasets import simulate_cohort

    if effect == 0:
        raise DataValueError("effect must be non-zero", fix="pass e.g. effect=2.0")
    if not methods:
        raise DataValueError("no methods given", fix="pass at least one method")
    names = list(method_names) if method_names is not None else [
        m if isinstance(m, str) else getattr(m, "__name__", f"method{i}") for i, m in enumerate(methods)
    ]
    if len(names) != len(methods):
        raise DataValueError("method_names and methods differ in length", fix="give one name per method")
    prev = template["prevalence"].to_numpy(dtype=np.float64)
    # plant only on taxa the methods will test: common enough in the template to pass the
    # feature filter (min_prevalence) with margin; per cohort, planted taxa that still fail
    # the filter are counted (n_planted_tested) so the power is not silently diluted
    floor = max(float(min_template_prevalence), float(min_prevalence))
    pool = template["genus"].astype(str).to_numpy()[prev >= floor]
    if pool.size < n_changed:
        raise DataValueError(
            f"only {pool.size} taxa have prevalence ≥ {floor}; need {n_changed}",
            fix="lower n_changed or min_template_prevalence")
    ss = np.random.SeedSequence(seed)
    rep_seeds = ss.spawn(n_replicates)
    rows: list[dict[str, Any]] = []
    for r in range(n_replicates):
        draw_rng = np.random.default_rng(rep_seeds[r].spawn(1)[0])
        chosen = draw_rng.choice(pool, size=n_changed, replace=False)
        signs = np.where(np.arange(n_changed) % 2 == 0, 1.0, -1.0)
        truth = {str(t): float(s * abs(effect)) for t, s in zip(chosen, signs, strict=True)}
        for n_tot in n:
            sim_rng = np.random.default_rng([seed, r, int(n_tot)])
            adata = simulate_cohort(template, n_samples=int(n_tot), effects=truth, confounders=confounders,
                                    case_fraction=0.5, seed=sim_rng)
            tested = _planted_tested(adata, truth, min_prevalence)
            planted = {"planted": ";".join(f"{t}:{v:+g}" for t, v in truth.items()),
                       "n_planted_tested": len(tested)}
            per: dict[str, pd.DataFrame] = {}
            for name, method in zip(names, methods, strict=True):
                per[name] = _run_method(method, adata, min_prevalence)
                rows.append({"method": name, "n": int(n_tot), "replicate": r,
                             **_score(per[name], truth, alpha), **planted})
            if consensus and len(per) > 1:
                feats = sorted(set().union(*[set(t["feature"]) for t in per.values()]))
                S = np.zeros((len(per), len(feats)))
                for i, t in enumerate(per.values()):
                    tt = t.set_index("feature").reindex(feats)
                    S[i] = np.where(tt["qval"].to_numpy() <= alpha, np.sign(tt["coef"].to_numpy()), 0.0)
                S = np.nan_to_num(S)
                pos, neg = (S > 0).sum(0), (S < 0).sum(0)
                need = int(np.ceil(len(per) / 2))
                call = ((pos >= need) & (neg == 0)) | ((neg >= need) & (pos == 0))
                cons = pd.DataFrame({"feature": feats, "coef": np.where(pos > 0, 1.0, -1.0),
                                     "qval": np.where(call, 0.0, 1.0)})
                rows.append({"method": "consensus", "n": int(n_tot), "replicate": r,
                             **_score(cons, truth, alpha), **planted})
        if progress is not None:
            progress(f"replicate {r + 1}/{n_replicates} done")
    reps = pd.DataFrame(rows)
    g = reps.groupby(["method", "n"], sort=False)
    summary = g.agg(power=("power", "mean"), power_sd=("power", "std"), fdr=("fdp", "mean"),
                    fdr_sd=("fdp", "std"), mean_calls=("n_calls", "mean"),
                    n_replicates=("replicate", "nunique"),
                    planted_tested=("n_planted_tested", "mean")).reset_index()
    k = np.sqrt(summary["n_replicates"].clip(lower=1))
    summary["power_se"] = summary.pop("power_sd").fillna(0.0) / k
    summary["fdr_se"] = summary.pop("fdr_sd").fillna(0.0) / k
    summary["effect"] = float(effect)
    summary["alpha"] = float(alpha)
    summary["planted_tested"] = summary["planted_tested"] / float(n_changed)
    summary = summary[["method", "n", "power", "power_se", "fdr", "fdr_se", "mean_calls", "n_replicates",
                       "planted_tested", "effect", "alpha"]]
    return summary, reps
