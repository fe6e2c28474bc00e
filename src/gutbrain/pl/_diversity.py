"""Diversity plots: alpha boxplots by group and PCoA scatter with PERMANOVA."""

from __future__ import annotations

from typing import Any

import numpy as np
from anndata import AnnData

from .._errors import DataValueError
from ._style import group_colors, style

__all__ = ["alpha", "pcoa"]


def _categories(adata: AnnData, col: str) -> tuple[np.ndarray, list[str]]:
    if col not in adata.obs.columns:
        raise DataValueError(
            f"column {col!r} is not in obs (columns: {list(adata.obs.columns)[:10]})",
            fix="pass one of the obs columns",
        )
    s = adata.obs[col]
    if hasattr(s, "cat"):
        cats = [str(c) for c in s.cat.categories if (s == c).any()]
    else:
        cats = sorted({str(v) for v in s.dropna()})
    return s.astype(str).where(s.notna(), None).to_numpy(), cats


def alpha(adata: AnnData, *, metric: str, groupby: str, ax: Any = None) -> Any:
    """Boxplot (with points) of ``obs[metric]`` by ``obs[groupby]``.

    The title carries the Kruskal–Wallis p-value from
    ``uns["alpha_group_test"][metric]`` when that test was run.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if metric not in adata.obs.columns:
        raise DataValueError(
            f"no alpha diversity column obs[{metric!r}]",
            fix="run gutbrain.tl.alpha_diversity first",
        )
    labels, cats = _categories(adata, groupby)
    values = adata.obs[metric].to_numpy(dtype=float)
    data = [values[(labels == c) & np.isfinite(values)] for c in cats]
    cmap = group_colors(adata, groupby)
    colors = [cmap[c] for c in cats]
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(3.2, 3.0), layout="constrained")
        ax.boxplot(data, showfliers=False, widths=0.55, medianprops={"color": "black"})
        rng = np.random.default_rng(0)
        for i, (vals, col) in enumerate(zip(data, colors), start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, vals.size), vals, s=8, color=col, alpha=0.8, zorder=3)
        ax.set_xticks(np.arange(1, len(cats) + 1), [f"{c}\n(n={d.size})" for c, d in zip(cats, data)])
        ax.set_ylabel(metric)
        ax.set_xlabel(groupby)
        title = metric
        test = adata.uns.get("alpha_group_test", {}).get(metric)
        if test is not None:
            tab = test["table"]
            p = float(tab.loc[tab["test"] == "kruskal", "p_value"].iloc[0])
            title += f" — Kruskal–Wallis p = {p:.3g}"
        ax.set_title(title)
    return ax


def pcoa(adata: AnnData, *, color: str, ax: Any = None, key: str = "pcoa") -> Any:
    """Scatter of the first two PCoA axes coloured by ``obs[color]``.

    The title carries the PERMANOVA pseudo-F and p-value stored for the distance
    the PCoA was computed from (``uns["permanova"][distance]``), when present.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if f"X_{key}" not in adata.obsm:
        raise DataValueError("no PCoA coordinates in obsm['X_pcoa']", fix="run gutbrain.tl.pcoa first")
    X = np.asarray(adata.obsm[f"X_{key}"])
    info = adata.uns.get(key, {})
    prop = np.asarray(info.get("proportion_explained", [np.nan, np.nan]), dtype=float)
    distance = info.get("params", {}).get("distance", "")
    labels, cats = _categories(adata, color)
    cmap = group_colors(adata, color)
    colors = [cmap[c] for c in cats]
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.2, 3.4), layout="constrained")
        for c, col in zip(cats, colors):
            m = labels == c
            ax.scatter(X[m, 0], X[m, 1] if X.shape[1] > 1 else np.zeros(m.sum()), s=10, color=col, label=c, alpha=0.85)
        ax.set_xlabel(f"PCo1 ({100 * prop[0]:.1f} %)")
        if prop.size > 1:
            ax.set_ylabel(f"PCo2 ({100 * prop[1]:.1f} %)")
        ax.legend(title=color, frameon=False, loc="best")
        title = f"PCoA ({distance})"
        res = adata.uns.get("permanova", {}).get(distance)
        if res is not None:
            title += f" — PERMANOVA pseudo-F = {res['statistic']:.3g}, p = {res['p_value']:.3g}"
        ax.set_title(title)
    return ax
