"""Composition plots: stacked relative-abundance bars of the top taxa."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import DataValueError
from ..tl._summary import OTHER, relative_by_taxon, top_taxa, with_other
from ._style import OTHER_COLOR, palette, style

__all__ = ["taxa_barplot"]


def taxa_barplot(
    adata: AnnData,
    *,
    rank: str = "genus",
    groupby: str | None = None,
    top: int = 15,
    kind: Literal["mean", "sample"] = "mean",
    layer: str | None = None,
    ax: Any = None,
) -> Any:
    """Stacked bars of the ``top`` taxa's relative abundance.

    Parameters
    ----------
    adata
        Samples × features with non-negative values (counts, relative, percent …).
    rank
        Rank to sum features to (``var[rank]``); features themselves when absent.
    groupby
        ``obs`` column.  With ``kind="mean"`` one bar per group (mean relative abundance);
        with ``kind="sample"`` one bar per sample, ordered by group.  ``None``: one bar per sample.
    top
        Number of taxa shown; the rest is summed into "Other" (grey).
    kind
        ``"mean"`` (per group) or ``"sample"``.
    layer
        Matrix to use (``None``: ``X``).
    ax
        Axes to draw on (a new figure when ``None``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if top < 1:
        raise DataValueError(f"top must be at least 1, got {top}", fix="pass top >= 1")
    if groupby is not None and groupby not in adata.obs.columns:
        raise DataValueError(
            f"groupby column {groupby!r} is not in obs (columns: {list(adata.obs.columns)})",
            fix="pass one of the obs columns",
        )
    rel, used, _ = relative_by_taxon(adata, rank=rank, layer=layer)
    keep = top_taxa(rel, top)
    return _draw_taxa_bars(adata, with_other(rel, keep), keep, used, groupby=groupby, kind=kind,
                           ax=ax)


def _draw_taxa_bars(
    adata: AnnData,
    data: pd.DataFrame,
    keep: list[str],
    used: str,
    *,
    groupby: str | None,
    kind: str,
    ax: Any = None,
) -> Any:
    """Draw :func:`taxa_barplot` from its table (``with_other`` of the top taxa ``keep``).

    The report draws both bar charts from one table instead of summing the features twice.
    Each taxon is one artist: a ``bar`` call per taxon for the group means, one step area
    (``stackplot``, rasterised inside SVG) per taxon for the samples.
    """
    import matplotlib.pyplot as plt

    colors = palette(len(keep)) + ([OTHER_COLOR] if OTHER in data.columns else [])
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
        if groupby is not None and kind == "mean":
            groups = adata.obs[groupby].astype("category")
            means = data.groupby(groups.to_numpy(), observed=True, sort=True).mean()
            if hasattr(groups, "cat"):
                order = [c for c in groups.cat.categories if c in means.index]
                means = means.loc[order]
            x = np.arange(means.shape[0])
            bottom = np.zeros(means.shape[0])
            for j, col in enumerate(means.columns):
                vals = means[col].to_numpy()
                ax.bar(x, vals, bottom=bottom, color=colors[j], label=str(col), width=0.7)
                bottom += vals
            ax.set_xticks(x, [str(g) for g in means.index])
            ax.set_xlabel(groupby)
        else:
            if groupby is not None:
                g = adata.obs[groupby].astype("category")
                key = pd.DataFrame(
                    {"g": g.cat.codes.to_numpy(), "lead": -data[keep[0]].to_numpy()},
                    index=data.index,
                )
                order = key.sort_values(["g", "lead"], kind="stable").index
            else:
                order = data.sort_values(keep[0], ascending=False, kind="stable").index
            vals = data.loc[order].to_numpy().T
            x = np.arange(vals.shape[1] + 1)
            polys = ax.stackplot(
                x,
                np.hstack([vals, vals[:, -1:]]),
                colors=colors,
                labels=[str(c) for c in data.columns],
                step="post",
                linewidth=0,
            )
            for poly in polys:  # hundreds of samples: a raster keeps the SVG small
                poly.set_rasterized(True)
            ax.set_xlim(0, vals.shape[1])
            ax.set_xticks([])
            ax.set_xlabel(f"samples (n = {vals.shape[1]})")
            if groupby is not None:
                gs = adata.obs.loc[order, groupby].astype(str).to_numpy()
                edges = np.flatnonzero(gs[1:] != gs[:-1]) + 1
                for e in edges:
                    ax.axvline(e, color="black", linewidth=0.8)
                starts = np.concatenate([[0], edges])
                ends = np.concatenate([edges, [len(gs)]])
                for s0, e0 in zip(starts, ends):
                    ax.text((s0 + e0) / 2, 1.01, gs[s0], ha="center", va="bottom",
                            transform=ax.get_xaxis_transform())
        ax.set_ylim(0, 1)
        ax.set_ylabel("relative abundance")
        label = used if used != "feature" else "feature"
        ax.legend(
            title=label, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
            reverse=True,
        )
    return ax
