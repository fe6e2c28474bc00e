"""Differential-abundance step and report section of ``gutbrain run`` (order 70).

The step runs when ``config["group"]`` names a metadata column with at least two
groups of two samples: at genus level (``gb.pp.collapse``) it fits

* MaAsLin2's defaults (TSS, LOG, min_prevalence 0.1, standardised covariates),
* LinDA (bias-corrected CLR linear model),
* Wilcoxon / Kruskal–Wallis on relative abundances (unadjusted),

with ``~ group`` plus whichever of ``age``, ``sex``, ``bmi`` the metadata hold, and a
consensus table (calls at q ≤ 0.05, direction agreement, split-half replicability,
seeded with ``config["seed"]``).  Results: ``uns["diff_abundance"]`` with
``results`` (the MaAsLin2 table, all terms), ``consensus``, ``linda``, ``wilcoxon``
(DataFrames) and ``params``.  The section only reads them.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from anndata import AnnData

from .. import _core
from .._errors import GutbrainError
from .._registry import Figure, Section, register_section, register_step

__all__: list[str] = []

_ABUNDANCE = ("counts", "relative", "percent", "cpm", "abundance")
_COVARIATES = ("age", "sex", "bmi")
_CONTROL = re.compile(r"^(control|controls|healthy|hc|ctrl|nonibd|normal|none|no)$", re.IGNORECASE)


def _reference(s: pd.Series) -> str | None:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return None
    levels = sorted({str(v) for v in s.dropna()})
    for lv in levels:
        if _CONTROL.match(lv):
            return lv
    return None


def _usable(adata: AnnData, group: str | None) -> bool:
    if not group or group not in adata.obs.columns:
        return False
    counts = adata.obs[group].dropna().astype(str).value_counts()
    return bool((counts >= 2).sum() >= 2)


@register_step("diff_abundance", 70)
def da_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Genus-level MaAsLin2 + LinDA + Wilcoxon with a consensus table."""
    from ._da import diff_abundance

    group = config.get("group")
    if not _usable(adata, group) or _core.get_unit(adata) not in _ABUNDANCE:
        return
    rank = config.get("rank", "genus")
    work = adata
    if rank in adata.var.columns and (adata.var[rank].astype(str) != "").any():
        try:
            from ..pp import collapse

            work = collapse(adata, rank)
        except (GutbrainError, ImportError, KeyError):
            work = adata
            rank = "feature"
    else:
        rank = "feature"
    covs = [
        c for c in _COVARIATES
        if c in work.obs.columns and c != group and work.obs[c].notna().mean() >= 0.8
        and work.obs[c].dropna().astype(str).nunique() > 1
    ]
    formula = "~ " + " + ".join([str(group), *covs])
    ref = _reference(work.obs[group])
    reference = {str(group): ref} if ref else None
    if ref is None:
        present = work.obs[group].dropna()
        cats = (
            [str(c) for c in present.cat.categories if (present == c).any()]
            if isinstance(present.dtype, pd.CategoricalDtype)
            else sorted(present.astype(str).unique())
        )
        ref = cats[0] if cats else None
    seed = int(config.get("seed", 0))
    out: dict[str, Any] = {}
    try:
        out["results"] = diff_abundance(work, formula=formula, method="maaslin2", reference=reference,
                                        key_added="_da_tmp")
        out["linda"] = diff_abundance(work, formula=formula, method="linda", reference=reference,
                                      key_added="_da_tmp")
        out["wilcoxon"] = diff_abundance(work, formula=formula, method="wilcoxon", reference=reference,
                                         key_added="_da_tmp")
        out["consensus"] = diff_abundance(
            work, formula=formula, method="consensus", reference=reference, random_state=seed,
            n_splits=20, key_added="_da_tmp",
        )
    except GutbrainError as exc:
        adata.uns["diff_abundance_note"] = f"skipped: {exc}"
        return
    finally:
        work.uns.pop("_da_tmp", None)
    _core.record(
        adata,
        "diff_abundance",
        params={
            "formula": formula,
            "group": str(group),
            "reference": ref,
            "rank": rank,
            "methods": ["maaslin2", "linda", "wilcoxon"],
            "normalization": "TSS",
            "transform": "LOG",
            "min_prevalence": 0.1,
            "alpha": 0.05,
            "n_splits": 20,
        },
        random_state=seed,
        **out,
    )


def _svg(ax: Any) -> str:
    from ..pl._style import fig_to_svg

    return fig_to_svg(ax.figure)


@register_section("diff_abundance", 70)
def da_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Consensus table, volcano, forest and consensus heatmap."""
    info = adata.uns.get("diff_abundance")
    if not info or "consensus" not in info:
        return None
    p = dict(info.get("params", {}))
    cons = pd.DataFrame(info["consensus"])
    res = pd.DataFrame(info["results"])
    term = str(cons["metadata"].iloc[0]) if len(cons) else str(p.get("group"))
    level = str(cons["value"].iloc[0]) if len(cons) else ""
    sec = Section(key="diff_abundance", title="Differential abundance", order=70)
    n_hits = int(cons["consensus"].sum()) if "consensus" in cons else 0
    sec.paragraphs.append(
        f"Model {p.get('formula')} at {p.get('rank')} level, tested with MaAsLin2's linear model "
        "(TSS normalisation, log2 transform with half-minimum zero replacement, features present "
        "in more than 10 % of samples, continuous covariates standardised), LinDA (log2 CLR "
        "linear model with compositional bias correction) and Wilcoxon rank-sum tests on relative "
        f"abundances. Term shown: {term} = {level} (reference {p.get('reference') or 'first level'})."
    )
    sec.paragraphs.append(
        f"{n_hits} features are called by at least half of the methods at q ≤ {p.get('alpha', 0.05)} "
        "with agreeing directions. Replicability is the fraction of 20 seeded split-halves in which "
        "the linear-model association has the full-data sign and p < 0.05 in both halves; "
        "differential-abundance methods disagree often (Nearing et al. 2022), so treat single-method "
        "hits with caution and check medication confounding (gb.tl.check_confounding)."
    )
    cols = ["feature", "value", "coef", "qval", "n_called", "called_by", "direction_agreement",
            "replicability", "consensus"]
    extra = [c for c in cons.columns if c.startswith("qval_")]
    top = cons.sort_values(["n_called", "qval"], ascending=[False, True]).head(25)
    sec.tables.append((f"Consensus over methods for {term} (top 25)", top[cols + extra]))
    sec.tables.append(
        ("MaAsLin2 results, all terms (q ≤ 0.25)", res[res["qval"] <= 0.25].head(200))
    )
    try:
        from ..pl._da import consensus_heatmap, da_forest, da_volcano

        tmp = AnnData(obs=pd.DataFrame(index=adata.obs_names[:0]))
        tmp.uns["m"] = {"results": res}
        tmp.uns["c"] = {"results": cons, "params": {"alpha": p.get("alpha", 0.05)}}
        ax = da_volcano(tmp, key="m", metadata=term, value=level)
        sec.figures.append(Figure(caption=f"Volcano plot (MaAsLin2) for {term} = {level}.",
                                  svg=_svg(ax), name="da_volcano"))
        ax = da_forest(tmp, key="m", metadata=term, value=level, n_top=20)
        sec.figures.append(Figure(caption="Effects (MaAsLin2 coefficient ± 95 % CI) of the 20 "
                                  "lowest-q features.", svg=_svg(ax), name="da_forest"))
        ax = consensus_heatmap(tmp, key="c", n_top=25)
        sec.figures.append(Figure(caption="Which methods call each feature (red: higher in "
                                  f"{level}, blue: lower); replicability in brackets.",
                                  svg=_svg(ax), name="da_consensus"))
    except GutbrainError:
        pass
    sec.citations += [
        "Mallick H et al. (2021) MaAsLin2. PLoS Comput Biol doi:10.1371/journal.pcbi.1009442",
        "Zhou H et al. (2022) LinDA. Genome Biol doi:10.1186/s13059-022-02655-5",
        "Mann HB, Whitney DR (1947) doi:10.1214/aoms/1177730491",
        "Nearing JT et al. (2022) Nat Commun doi:10.1038/s41467-022-28034-z",
    ]
    return sec
