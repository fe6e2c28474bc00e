"""Plots of differential-abundance results: volcano, effect forest, consensus heatmap.

Each function reads the tidy table stored by :func:`gutbrain.tl.diff_abundance`
(``uns[key]["results"]``) and returns the matplotlib ``Axes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import DataValueError
from ._style import palette, style

__all__ = ["consensus_heatmap", "da_forest", "da_volcano", "planted_recovery"]


def _results(adata: AnnData, key: str) -> pd.DataFrame:
    entry = adata.uns.get(key)
    if entry is None or "results" not in entry:
        raise DataValueError(
            f"uns[{key!r}] holds no differential-abundance results",
            fix="run gb.tl.diff_abundance(adata, formula=...) first",
        )
    return pd.DataFrame(entry["results"])


def _select(res: pd.DataFrame, metadata: str | None, value: str | None) -> pd.DataFrame:
    if metadata is None:
        metadata = str(res["metadata"].iloc[0]) if len(res) else None
    sub = res[res["metadata"] == metadata] if metadata is not None else res
    if value is not None:
        sub = sub[sub["value"] == value]
    return sub


def da_volcano(
    adata: AnnData,
    *,
    key: str = "diff_abundance",
    metadata: str | None = None,
    value: str | None = None,
    alpha: float = 0.05,
    n_labels: int = 8,
    ax: Any = None,
) -> Any:
    """Volcano plot: coefficient against −log10 p for one term.

    Parameters
    ----------
    adata
        With results in ``uns[key]``.
    key
        Results slot.
    metadata, value
        The term (default: the term of the top-ranked row).
    alpha
        q-value threshold for colouring.
    n_labels
        Label this many top features.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> res = gb.tl.diff_abundance(adata, formula="~ group")
    >>> ax = gb.pl.da_volcano(adata)
    >>> ax.get_xlabel() != ""
    True
    """
    import matplotlib.pyplot as plt

    res = _results(adata, key)
    sub = _select(res, metadata, value).dropna(subset=["coef", "pval"])
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.6))
        y = -np.log10(np.clip(sub["pval"].to_numpy(dtype=float), 1e-300, 1))
        x = sub["coef"].to_numpy(dtype=float)
        sig = sub["qval"].to_numpy(dtype=float) <= alpha
        up, down = palette(2)
        colors = np.where(sig & (x > 0), up, np.where(sig & (x < 0), down, "#bbbbbb"))
        ax.scatter(x, y, s=10, c=list(colors), linewidths=0)
        ax.axvline(0, color="#888888", lw=0.6)
        top = sub.assign(_y=y).sort_values("_y", ascending=False).head(n_labels)
        for _, r in top.iterrows():
            ax.annotate(str(r["feature"]), (r["coef"], r["_y"]), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")
        term = sub["metadata"].iloc[0] if len(sub) else ""
        method = sub["method"].iloc[0] if len(sub) else ""
        ax.set_xlabel(f"coefficient ({term})")
        ax.set_ylabel("−log10 p")
        ax.set_title(f"{method}: {int(sig.sum())} features with q ≤ {alpha:g}")
    return ax


def da_forest(
    adata: AnnData,
    *,
    key: str = "diff_abundance",
    metadata: str | None = None,
    value: str | None = None,
    n_top: int = 20,
    ax: Any = None,
) -> Any:
    """Effect forest plot: coefficients with 95 % confidence intervals of the top features.

    Parameters
    ----------
    adata
        With results in ``uns[key]``.
    key
        Results slot.
    metadata, value
        The term (default: the term of the top-ranked row).
    n_top
        Number of features (lowest q first).
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> res = gb.tl.diff_abundance(adata, formula="~ group")
    >>> ax = gb.pl.da_forest(adata, n_top=10)
    """
    import matplotlib.pyplot as plt

    res = _results(adata, key)
    sub = _select(res, metadata, value).dropna(subset=["coef"]).head(n_top)
    sub = sub.iloc[::-1]
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.8, 0.22 * max(len(sub), 4) + 1.0))
        ypos = np.arange(len(sub))
        coef = sub["coef"].to_numpy(dtype=float)
        se = sub["stderr"].to_numpy(dtype=float)
        half = 1.959963984540054 * np.nan_to_num(se, nan=0.0)
        up, down = palette(2)
        colors = [up if c > 0 else down for c in coef]
        ax.errorbar(coef, ypos, xerr=half, fmt="none", ecolor="#666666", elinewidth=0.8)
        ax.scatter(coef, ypos, c=colors, s=14, zorder=3)
        ax.axvline(0, color="#888888", lw=0.6)
        ax.set_yticks(ypos)
        ax.set_yticklabels([str(f) for f in sub["feature"]])
        term = sub["metadata"].iloc[0] if len(sub) else ""
        ax.set_xlabel(f"coefficient ± 95 % CI ({term})")
    return ax


def consensus_heatmap(
    adata: AnnData, *, key: str = "diff_abundance", n_top: int = 25, ax: Any = None
) -> Any:
    """Heatmap of which methods call each feature (colour = sign of the coefficient).

    Parameters
    ----------
    adata
        With consensus results (``method="consensus"``) in ``uns[key]``.
    key
        Results slot.
    n_top
        Number of features (most calls, then lowest q).
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> res = gb.tl.diff_abundance(adata, formula="~ group", method="consensus")
    >>> ax = gb.pl.consensus_heatmap(adata)

    """
    import matplotlib.pyplot as plt

    res = _results(adata, key)
    methods = [c[5:] for c in res.columns if c.startswith("coef_")]
    if not methods or "n_called" not in res.columns:
        raise DataValueError(
            f"uns[{key!r}] holds no consensus results",
            fix="run gb.tl.diff_abundance(adata, formula=..., method='consensus')",
        )
    alpha = float(dict(adata.uns[key].get("params", {})).get("alpha", 0.05))
    sub = res.sort_values(["n_called", "qval"], ascending=[False, True]).head(n_top)
    M = np.zeros((len(sub), len(methods)))
    for j, m in enumerate(methods):
        called = sub[f"qval_{m}"].to_numpy(dtype=float) <= alpha
        M[:, j] = np.where(called, np.sign(sub[f"coef_{m}"].to_numpy(dtype=float)), 0.0)
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(1.2 + 0.7 * len(methods) + 1.0, 0.22 * max(len(sub), 4) + 1.0))
        ax.imshow(M, cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
        ax.set_xticks(np.arange(len(methods)))
        ax.set_xticklabels(methods, rotation=45, ha="right")
        ax.set_yticks(np.arange(len(sub)))
        labels = [f"{f}  (rep {r:.2f})" if np.isfinite(r) else str(f)
                  for f, r in zip(sub["feature"], sub["replicability"], strict=True)]
        ax.set_yticklabels(labels)
        ax.set_title(f"calls at q ≤ {alpha:g} (red: higher, blue: lower)")
    return ax


def planted_recovery(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Planted against estimated effects of a simulated cohort, recovered taxa highlighted.

    Parameters
    ----------
    table
        ``uns["planted_truth"]["table"]`` of ``gutbrain run`` (``taxon, planted_log2fc,
        estimated_coef, recovered``).
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    t = table.dropna(subset=["estimated_coef"])
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.6, 3.8), layout="constrained")
        rec = t["recovered"].astype(bool).to_numpy()
        x, y = t["planted_log2fc"].to_numpy(dtype=float), t["estimated_coef"].to_numpy(dtype=float)
        ax.scatter(x[rec], y[rec], s=28, color="#009E73", label="recovered by the consensus", zorder=3)
        ax.scatter(x[~rec], y[~rec], s=28, facecolors="none", edgecolors="#D55E00", label="missed", zorder=3)
        for xi, yi, name in zip(x, y, t["taxon"], strict=True):
            ax.annotate(str(name), (xi, yi), fontsize=6.5, xytext=(3, 2), textcoords="offset points")
        ax.axhline(0, color="#888888", lw=0.6)
        ax.axvline(0, color="#888888", lw=0.6)
        ax.set_xlabel("planted log2 fold change (average over cases)")
        ax.set_ylabel("estimated coefficient (primary method)")
        ax.legend(frameon=False, loc="best")
    return ax
