"""Plots for gut–brain indices (dashboard) and module abundances (heatmap)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import DataValueError
from ._style import group_colors, style

__all__ = ["index_dashboard", "module_heatmap"]

#: Strip plots with more points than this per group are rasterised inside the SVG.
RASTER_POINTS = 500


def index_dashboard(
    adata: AnnData,
    *,
    indices: Sequence[str] | None = None,
    groupby: str | None = None,
    key: str = "gut_brain_indices",
    top: int = 5,
) -> Any:
    """Dashboard of gut–brain indices: value distributions (by group) and top contributing taxa.

    Parameters
    ----------
    adata
        With results of :func:`gutbrain.tl.gut_brain_indices` (``obs["gbi_*"]``, ``uns[key]``).
    indices
        Index names to show (default: those computed).
    groupby
        ``obs`` column to split the value distributions.
    key
        ``uns`` key of the index results.
    top
        Number of contributing taxa per index (by mean absolute contribution).

    Returns
    -------
    matplotlib.figure.Figure
        One row per index: a box/strip plot of the values and a bar chart of the mean
        contribution of its top taxa (rodent-derived markers hatched).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    info = adata.uns.get(key)
    if info is None:
        raise DataValueError(f"no index results in uns[{key!r}]",
                             fix="run gutbrain.tl.gut_brain_indices first")
    names = list(indices) if indices is not None else list(info["params"]["indices"])
    contrib = info["contributions"]
    tops: dict[str, pd.DataFrame] = {}
    for name in names:
        sub = contrib[contrib["index"] == name]
        if len(sub):
            per = sub.groupby("taxon").agg(contribution=("contribution", "sum"),
                                           rodent=("rodent_derived", "any"))
            per["contribution"] /= adata.n_obs
            tops[name] = per.reindex(per["contribution"].abs().sort_values(ascending=False).index)[:top]
    labels = {name: [f"{t}{' (rodent)' if r else ''}" for t, r in zip(per.index, per["rodent"], strict=True)]
              for name, per in tops.items()}
    if groupby and groupby in adata.obs.columns:
        col = adata.obs[groupby]
        groups = col.astype(str).where(col.notna(), "")
        cmap = group_colors(adata, groupby)
        levels = [lv for lv in cmap if (groups == lv).any()]
    else:
        groups = pd.Series("all", index=adata.obs_names)
        cmap, levels = {"all": "#4c72b0"}, ["all"]
    # size by the labels: ~0.065 in per character of the longest taxon / group label, ~0.22 in per bar
    longest = max([len(x) for ls in labels.values() for x in ls] or [0])
    left_w = max(len(str(lv)) for lv in levels) * 0.065
    label_w = longest * 0.065
    rows = max(top, len(levels), 3)
    row_h = max(1.6, 0.22 * rows + 0.6)
    width = min(16.0, 6.0 + left_w + label_w)
    with style():
        fig, axes = plt.subplots(len(names), 2, figsize=(width, row_h * len(names) + 0.4), squeeze=False)
        colors = [cmap[lv] for lv in levels]
        for row, name in enumerate(names):
            ax = axes[row, 0]
            vals = adata.obs[f"gbi_{name}"].to_numpy(dtype=float)
            data = [vals[(groups == g).to_numpy()] for g in levels]
            ax.boxplot(data, vert=False, widths=0.5, showfliers=False)
            rng = np.random.default_rng(0)
            for i, (d, c) in enumerate(zip(data, colors, strict=True)):
                # thousands of points: one embedded image instead of an SVG marker each (size, speed)
                ax.scatter(d, i + 1 + rng.uniform(-0.15, 0.15, len(d)), s=6, color=c, alpha=0.8,
                           rasterized=len(d) > RASTER_POINTS)
            ax.set_yticks(range(1, len(levels) + 1), levels)
            cov = adata.obs[f"gbi_{name}_coverage"].median()
            ax.set_title(f"{name} (median coverage {cov:.2f})", loc="left")
            ax2 = axes[row, 1]
            if name in tops:
                per = tops[name]
                bars = ax2.barh(range(len(per)), per["contribution"], color="#4c72b0")
                for b, rod in zip(bars, per["rodent"], strict=True):
                    if rod:
                        b.set_hatch("///")
                ax2.set_yticks(range(len(per)), labels[name])
                ax2.set_ylim(max(top, len(per)) - 0.5, -0.5)  # largest on top; one slot per taxon shown
            ax2.set_title("mean contribution", loc="left")
            for a in (ax, ax2):  # few x ticks: long decimals (0.0025 …) must not run into each other
                a.xaxis.set_major_locator(MaxNLocator(nbins=4))
        fig.tight_layout()
    return fig


def module_heatmap(
    abundance: pd.DataFrame,
    *,
    groups: pd.Series | None = None,
    top: int = 30,
    log: bool = True,
) -> Any:
    """Heatmap of module abundances (modules × samples) from :func:`gutbrain.tl.module_abundance`.

    Parameters
    ----------
    abundance
        Modules × samples.
    groups
        Sample → group labels; samples are ordered by group.
    top
        Show the ``top`` modules with the highest mean abundance.
    log
        Colour by ``log10(1 + abundance)``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if abundance.empty:
        raise DataValueError("no modules to plot", fix="lower the coverage cut-off or check the KO ids")
    A = abundance.loc[abundance.mean(axis=1).sort_values(ascending=False).index[:top]]
    if groups is not None:
        order = groups.reindex(A.columns).astype(str).sort_values(kind="stable").index
        A = A[order]
    names = abundance.attrs.get("names", {})
    labels = [f"{i} {names.get(i if isinstance(i, str) else i[-1], '')}".strip() for i in A.index]
    M = np.log10(1.0 + A.to_numpy(dtype=float)) if log else A.to_numpy(dtype=float)
    with style():
        fig, ax = plt.subplots(figsize=(7.0, 0.18 * len(A) + 1.2))
        im = ax.imshow(M, aspect="auto", interpolation="nearest", cmap="viridis")
        ax.set_yticks(range(len(A)), labels)
        ax.set_xticks([])
        ax.set_xlabel(f"{A.shape[1]} samples" + (" (ordered by group)" if groups is not None else ""))
        fig.colorbar(im, ax=ax, label="log10(1 + abundance)" if log else "abundance")
        fig.tight_layout()
    return fig
