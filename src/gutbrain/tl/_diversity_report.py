"""Diversity steps and report sections of ``gutbrain run`` (alpha: order 30, beta: order 40).

Steps compute into ``adata`` slots; sections only read them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _core
from .._registry import Figure, Section, register_section, register_step
from ..pp._filter import ADDITIVE_UNITS as _ABUNDANCE

__all__: list[str] = []

_N_PERM = 999


def _group_ok(adata: AnnData, group: str | None) -> bool:
    if not group or group not in adata.obs.columns:
        return False
    counts = adata.obs[group].dropna().astype(str).value_counts()
    return bool((counts >= 2).sum() >= 2)


def _nonempty(adata: AnnData) -> np.ndarray:
    M = _core.get_matrix(adata, dense=False)
    return np.asarray(M.sum(axis=1)).ravel() > 0


@register_step("alpha_diversity", 30)
def alpha_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Alpha metrics (+ Faith PD with a tree, chao1 with counts) and group tests."""
    from ._alpha import alpha_diversity
    from ._stats import alpha_group_test

    unit = _core.get_unit(adata)
    if unit not in _ABUNDANCE:
        return
    metrics = ["observed_features", "shannon", "simpson", "pielou_e"]
    if unit == "counts":
        metrics.append("chao1")
    tree = config.get("tree")
    if tree:
        metrics.append("faith_pd")
    alpha_diversity(adata, metrics=metrics, tree=tree)
    group = config.get("group")
    if _group_ok(adata, group):
        for m in metrics:
            if np.isfinite(adata.obs[m].to_numpy(dtype=float)).sum() >= 3:
                alpha_group_test(adata, metric=m, groupby=group)


@register_step("beta_diversity", 40)
def beta_step(adata: AnnData, config: dict[str, Any]) -> None:
    """Bray–Curtis (+ Aitchison on counts, UniFrac with a tree), PCoA, PERMANOVA/PERMDISP."""
    from ._beta import beta_diversity
    from ._ordination import pcoa
    from ._stats import permanova, permdisp

    if _core.get_unit(adata) not in _ABUNDANCE or adata.n_obs < 3:
        return
    if not _nonempty(adata).all():
        adata.uns["beta_diversity_note"] = "skipped: some samples have no reads (filter them first)"
        return
    metrics = ["braycurtis"]
    if _core.get_unit(adata) == "counts":
        metrics.append("aitchison")
    tree = config.get("tree")
    if tree:
        metrics += ["unweighted_unifrac", "weighted_normalized_unifrac"]
    for m in metrics:
        beta_diversity(adata, metric=m, tree=tree if "unifrac" in m else None)
    pcoa(adata, distance="braycurtis", n_components=min(10, adata.n_obs - 1))
    group = config.get("group")
    seed = int(config.get("seed", 0))
    if _group_ok(adata, group):
        for m in metrics:
            permanova(adata, distance=m, groupby=group, n_permutations=_N_PERM, random_state=seed)
        permdisp(adata, distance="braycurtis", groupby=group, n_permutations=_N_PERM, random_state=seed)


def _svg(ax: Any) -> str:
    from ..pl._style import fig_to_svg

    return fig_to_svg(ax.figure)


@register_section("alpha_diversity", 30)
def alpha_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Alpha diversity summary, group tests and boxplot."""
    info = adata.uns.get("alpha_diversity")
    if info is None:
        return None
    metrics = [m for m in list(info.get("metrics", [])) if m in adata.obs.columns]
    group = context.get("config", {}).get("group")
    sec = Section(key="alpha_diversity", title="Alpha diversity", order=30)
    obs = adata.obs
    if group and group in obs.columns:
        summary = obs[metrics].groupby(obs[group].astype(str), observed=True).agg(["median", "mean", "std", "count"])
        summary.columns = [f"{m} {s}" for m, s in summary.columns]
        summary.index.name = group
        sec.tables.append((f"Alpha diversity by {group} (median, mean, SD, n)", summary.reset_index()))
    else:
        summary = obs[metrics].describe().T.reset_index(names="metric")
        sec.tables.append(("Alpha diversity across samples", summary))
    sec.paragraphs.append(
        f"Alpha diversity of {adata.n_obs} samples: {', '.join(metrics)}. Shannon uses the natural "
        "logarithm (as scikit-bio ≥ 0.6.1); Simpson is 1 − Σp²; chao1 is the bias-corrected "
        "estimator and is computed only on counts; Faith PD only when a tree was given."
    )
    tests = adata.uns.get("alpha_group_test", {})
    rows = []
    for m in metrics:
        if m in tests:
            t = tests[m]["table"].copy()
            t.insert(0, "metric", m)
            rows.append(t)
    if rows:
        tab = pd.concat(rows, ignore_index=True)
        sec.tables.append(
            (f"Kruskal–Wallis across {group} and pairwise Mann–Whitney U (BH-adjusted q)", tab)
        )
        kw = tab[tab["test"] == "kruskal"].set_index("metric")["p_value"]
        sec.paragraphs.append(
            "Kruskal–Wallis p-values: " + "; ".join(f"{m} {p:.3g}" for m, p in kw.items()) + "."
        )
    if group and "shannon" in metrics and group in obs.columns:
        from ..pl._diversity import alpha as alpha_plot

        ax = alpha_plot(adata, metric="shannon", groupby=group)
        sec.figures.append(Figure(caption=f"Shannon diversity by {group}.", svg=_svg(ax), name="alpha_shannon"))
    sec.citations += [
        "Shannon CE (1948) doi:10.1002/j.1538-7305.1948.tb01338.x",
        "Chao A (1987) doi:10.2307/2531532",
        "Faith DP (1992) doi:10.1016/0006-3207(92)91201-3",
        "Kruskal WH, Wallis WA (1952) doi:10.1080/01621459.1952.10483441",
    ]
    return sec


@register_section("beta_diversity", 40)
def beta_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """PCoA figure and PERMANOVA / PERMDISP table."""
    betas = adata.uns.get("beta_diversity")
    if not betas:
        return None
    group = context.get("config", {}).get("group")
    sec = Section(key="beta_diversity", title="Beta diversity, PCoA and PERMANOVA", order=40)
    sec.paragraphs.append(
        "Distances between samples: " + ", ".join(betas.keys()) + ". Aitchison distances use the "
        "CLR of counts + 1 (q2-diversity's default pseudocount)."
    )
    rows = []
    for test in ("permanova", "permdisp"):
        for dist, r in adata.uns.get(test, {}).items():
            rows.append({"test": test.upper(), "distance": dist, "statistic": r["statistic_name"],
                         "value": r["statistic"], "p_value": r["p_value"], "n": r["n"],
                         "groups": r["n_groups"], "permutations": r["permutations"]})
    if rows:
        tab = pd.DataFrame(rows)
        sec.tables.append((f"PERMANOVA and PERMDISP by {group}", tab))
        pm = [r for r in rows if r["test"] == "PERMANOVA"]
        sec.paragraphs.append(
            "PERMANOVA (999 permutations): "
            + "; ".join(f"{r['distance']} pseudo-F {r['value']:.3g}, p {r['p_value']:.3g}" for r in pm)
            + ". A significant PERMDISP means group dispersions differ, which can also drive PERMANOVA."
        )
    if "X_pcoa" in adata.obsm:
        prop = np.asarray(adata.uns.get("pcoa", {}).get("proportion_explained", []), dtype=float)
        if prop.size:
            sec.paragraphs.append(
                f"PCoA of {adata.uns['pcoa']['params']['distance']}: the first two axes explain "
                f"{100 * prop[:2].sum():.1f} % of the variation."
            )
        if group and group in adata.obs.columns:
            from ..pl._diversity import pcoa as pcoa_plot

            ax = pcoa_plot(adata, color=group)
            sec.figures.append(Figure(caption=f"PCoA coloured by {group}.", svg=_svg(ax), name="pcoa"))
    sec.citations += [
        "Anderson MJ (2001) doi:10.1111/j.1442-9993.2001.01070.pp.x",
        "Anderson MJ (2006) doi:10.1111/j.1541-0420.2005.00440.x",
        "Gower JC (1966) doi:10.1093/biomet/53.3-4.325",
        "Aitchison J (1982) doi:10.1111/j.2517-6161.1982.tb01195.x",
    ]
    if any("unifrac" in k for k in betas):
        sec.citations.append("Lozupone C, Knight R (2005) doi:10.1128/AEM.71.12.8228-8235.2005")
    return sec
