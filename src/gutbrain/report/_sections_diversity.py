"""Report sections: alpha diversity and beta diversity (PCoA, PERMANOVA, PERMDISP).

They render ``obs[<metric>]``, ``uns["alpha_diversity"]``, ``uns["alpha_group_test"]``,
``uns["beta_diversity"]``, ``uns["pcoa"]``, ``uns["permanova"]`` and ``uns["permdisp"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._registry import Figure, Section
from ._common import format_p, group_of, named, svg, the_groups

__all__ = ["alpha_section", "beta_section"]


def alpha_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Alpha diversity summary, group tests and boxplot."""
    info = adata.uns.get("alpha_diversity")
    if info is None:
        return None
    metrics = [m for m in list(info.get("metrics", [])) if m in adata.obs.columns]
    group = group_of(adata)
    sec = Section(key="alpha_diversity", title="Alpha diversity", order=30)
    obs = adata.obs
    if group:
        summary = obs[metrics].groupby(obs[group], observed=True).agg(["median", "mean", "std", "count"])
        summary.columns = [f"{m} {s}" for m, s in summary.columns]
        summary.index = summary.index.astype(str)
        summary.index.name = group
        sec.tables.append((f"Alpha diversity by {group} (median, mean, SD, n)",
                           named(summary.reset_index(), "alpha_diversity_by_group")))
    else:
        summary = obs[metrics].describe().T.reset_index(names="metric")
        sec.tables.append(("Alpha diversity across samples", named(summary, "alpha_diversity_summary")))
    sec.paragraphs.append(
        f"Alpha diversity of {adata.n_obs} samples: {', '.join(metrics)}. Shannon uses the natural "
        "logarithm (as scikit-bio ≥ 0.6.1); Simpson is 1 − Σp²; chao1 is the bias-corrected "
        "estimator and is computed only on counts; Faith PD only when a tree was given."
    )
    tests = adata.uns.get("alpha_group_test", {})
    rows = []
    for m in metrics:
        if m in tests:
            t = pd.DataFrame(tests[m]["table"]).copy()
            t.insert(0, "metric", m)
            rows.append(t)
    if rows:
        tab = pd.concat(rows, ignore_index=True)
        unit = dict(tests[metrics[0]]["params"]).get("unit_of_test", "samples") if metrics[0] in tests else "samples"
        tab = tab.drop(columns=[c for c in ("comparison",) if c in tab.columns])
        sec.tables.append((f"Kruskal–Wallis across {group} and pairwise Mann–Whitney U tests "
                           "(BH-adjusted q)", named(tab, "alpha_diversity_group_tests")))
        kw = tab[tab["test"] == "kruskal"].set_index("metric")["p_value"]
        sec.paragraphs.append(
            f"Kruskal–Wallis tests between {the_groups(group)} (unit: {unit}): "
            + "; ".join(f"{m} p {format_p(p)}" for m, p in kw.items()) + "."
        )
    if group and "shannon" in metrics:
        from ..pl._diversity import alpha as alpha_plot

        ax = alpha_plot(adata, metric="shannon", groupby=group)
        sec.figures.append(Figure(caption=f"Shannon diversity by {group} (each point a sample).",
                                  svg=svg(ax), name="alpha_shannon"))
    sec.citations += [
        "Shannon CE (1948) doi:10.1002/j.1538-7305.1948.tb01338.x",
        "Chao A (1987) doi:10.2307/2531532",
        "Faith DP (1992) doi:10.1016/0006-3207(92)91201-3",
        "Kruskal WH, Wallis WA (1952) doi:10.1080/01621459.1952.10483441",
    ]
    return sec


def _tests_table(adata: AnnData) -> pd.DataFrame:
    rows = []
    for test in ("permanova", "permdisp"):
        for dist, r in adata.uns.get(test, {}).items():
            p = dict(r.get("params", {}))
            scheme = str(p.get("permutation_scheme", "free"))
            rows.append({"test": test.upper(), "distance": dist, "statistic": r["statistic_name"],
                         "value": r["statistic"], "R2": r.get("r2", np.nan), "p_value": r["p_value"], "n": r["n"],
                         "groups": r["n_groups"], "permutations": r["permutations"],
                         "permuted": {"free": "samples", "between strata": f"whole {p.get('strata')}s",
                                      "within strata": f"within each {p.get('strata')}"}.get(scheme, scheme)})
    return pd.DataFrame(rows)


def beta_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """PCoA figure and PERMANOVA / PERMDISP table."""
    betas = adata.uns.get("beta_diversity")
    if not betas:
        return None
    group = group_of(adata)
    sec = Section(key="beta_diversity", title="Beta diversity, PCoA and PERMANOVA", order=40)
    sec.paragraphs.append(
        "Distances between samples: " + ", ".join(betas.keys()) + ". Aitchison distances use the "
        "CLR of counts + 1 (q2-diversity's default pseudocount)."
    )
    tab = _tests_table(adata)
    if len(tab):
        sec.tables.append((f"PERMANOVA and PERMDISP by {group}", named(tab, "beta_diversity_tests")))
        pm = tab[tab["test"] == "PERMANOVA"]

        def one(r: Any) -> str:
            share = (f"{group} explains {100 * r.R2:.1f} % of the variation, " if np.isfinite(r.R2) else "")
            return f"{r.distance}: {share}pseudo-F {r.value:.3g}, p {format_p(r.p_value)}"

        sec.paragraphs.append(
            f"PERMANOVA ({int(pm['permutations'].iloc[0])} permutations of {pm['permuted'].iloc[0]}): "
            + "; ".join(one(r) for r in pm.itertuples())
            + ". A significant PERMDISP means group dispersions differ, which can also drive PERMANOVA."
        )
    if "X_pcoa" in adata.obsm:
        prop = np.asarray(adata.uns.get("pcoa", {}).get("proportion_explained", []), dtype=float)
        if prop.size:
            sec.paragraphs.append(
                f"PCoA of {adata.uns['pcoa']['params']['distance']}: the first two axes explain "
                f"{100 * prop[:2].sum():.1f} % of the variation."
            )
        if group:
            from ..pl._diversity import pcoa as pcoa_plot

            ax = pcoa_plot(adata, color=group)
            sec.figures.append(Figure(caption=f"PCoA coloured by {group}.", svg=svg(ax), name="pcoa"))
    sec.citations += [
        "Anderson MJ (2001) doi:10.1111/j.1442-9993.2001.01070.pp.x",
        "Anderson MJ (2006) doi:10.1111/j.1541-0420.2005.00440.x",
        "Gower JC (1966) doi:10.1093/biomet/53.3-4.325",
        "Aitchison J (1982) doi:10.1111/j.2517-6161.1982.tb01195.x",
    ]
    if any("unifrac" in k for k in betas):
        sec.citations.append("Lozupone C, Knight R (2005) doi:10.1128/AEM.71.12.8228-8235.2005")
    return sec
