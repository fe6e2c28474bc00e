"""Plots for metabolomics: association heatmap, observed vs predicted, butyrate-index validation, SCFA by group.

Each function reads results stored by the matching tool and returns the matplotlib ``Axes``
(the figure is ``ax.figure``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._errors import DataValueError
from ._style import palette, style

__all__ = ["butyrate_validation", "metabolite_boxplot", "metabolite_heatmap", "predicted_vs_observed"]


def _entry(adata: Any, key: str, what: str, fix: str) -> dict[str, Any]:
    if isinstance(adata, AnnData):
        entry = adata.uns.get(key)
        if entry is None:
            raise DataValueError(f"uns[{key!r}] holds no {what}", fix=fix)
        return dict(entry)
    raise DataValueError(f"expected an AnnData with {what} in uns[{key!r}]", fix=fix)


def _order(M: np.ndarray, axis: int) -> np.ndarray:
    """Leaf order of average-linkage clustering (correlation distance, optimal leaf ordering)."""
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import pdist

    A = M if axis == 0 else M.T
    if A.shape[0] < 3:
        return np.arange(A.shape[0])
    A = np.nan_to_num(A)
    d = pdist(A, metric="euclidean")
    if not np.isfinite(d).all() or np.allclose(d, 0):
        return np.arange(A.shape[0])
    Z = linkage(d, method="average")
    return leaves_list(optimal_leaf_ordering(Z, d))


def metabolite_heatmap(
    adata: AnnData,
    *,
    key: str = "metabolite_associations",
    value: str = "r",
    n_taxa: int = 30,
    n_metabolites: int = 30,
    alpha: float = 0.1,
    taxa: list[str] | None = None,
    ax: Any = None,
) -> Any:
    """Clustered heatmap of taxon × metabolite associations; ``*`` marks q < ``alpha``.

    Rows (taxa) and columns (metabolites) are the ones with the smallest q-values (or the
    given ``taxa``), ordered by average-linkage clustering of the shown values.

    Parameters
    ----------
    adata
        With ``uns[key]["results"]`` from :func:`gutbrain.tl.metabolite_associations`.
    key
        Results slot.
    value
        Column shown: ``"r"`` (partial correlation, default), ``"coef"``, ``"t"`` or ``"rho"``.
    n_taxa, n_metabolites
        How many taxa and metabolites to show.
    alpha
        q-value threshold of the ``*`` marks.
    taxa
        Show these taxa (e.g. the differential-abundance hits) instead of the top ones.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = gb.pl.metabolite_heatmap(adata)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    entry = _entry(adata, key, "metabolite associations",
                   "run gb.tl.metabolite_associations(adata) first")
    res = pd.DataFrame(entry["results"])
    if value not in res.columns:
        raise DataValueError(f"no column {value!r} in the associations", fix="use 'r', 'coef' or 't'")
    res = res.assign(taxon=res["taxon"].astype(str), metabolite=res["metabolite"].astype(str))
    best = res.sort_values("qval", kind="stable")
    if taxa is not None:
        tsel = [t for t in taxa if t in set(res["taxon"])]
        if not tsel:
            raise DataValueError("none of the given taxa is in the associations", fix="check the names")
        best = best[best["taxon"].isin(tsel)]
    else:
        tsel = list(dict.fromkeys(best["taxon"]))[:n_taxa]
    msel = list(dict.fromkeys(best[best["taxon"].isin(tsel)]["metabolite"]))[:n_metabolites]
    sub = res[res["taxon"].isin(tsel) & res["metabolite"].isin(msel)]
    M = sub.pivot_table(index="taxon", columns="metabolite", values=value, aggfunc="first")
    Q = sub.pivot_table(index="taxon", columns="metabolite", values="qval", aggfunc="first")
    M = M.reindex(index=tsel, columns=msel)
    Q = Q.reindex(index=tsel, columns=msel)
    names = {}
    if "metabolite_name" in sub.columns:
        names = dict(zip(sub["metabolite"].astype(str), sub["metabolite_name"].astype(str)))
    ro = _order(M.to_numpy(), 0)
    co = _order(M.to_numpy(), 1)
    M = M.iloc[ro, co]
    Q = Q.iloc[ro, co]
    vmax = float(np.nanmax(np.abs(M.to_numpy()))) if M.size and np.isfinite(M.to_numpy()).any() else 1.0
    with style():
        if ax is None:
            w = max(3.5, 0.22 * M.shape[1] + 2.5)
            h = max(2.5, 0.2 * M.shape[0] + 1.6)
            _, ax = plt.subplots(figsize=(w, h), layout="constrained")
        im = ax.imshow(M.to_numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto",
                       interpolation="nearest")
        ax.set_yticks(range(M.shape[0]), [str(t) for t in M.index], fontsize=6)
        ax.set_xticks(range(M.shape[1]), [names.get(c, c)[:28] for c in M.columns], fontsize=6,
                      rotation=90)
        sig = Q.to_numpy() < alpha
        vals = M.to_numpy()
        for i, j in zip(*np.nonzero(sig)):
            dark = abs(vals[i, j]) > 0.6 * vmax
            ax.text(j, i, "*", ha="center", va="center", fontsize=7, fontweight="bold",
                    color="white" if dark else "black")
        label = {"r": "partial r", "coef": "coefficient (ln metabolite per CLR unit)", "t": "t",
                 "rho": "proportionality ρ"}.get(value, value)
        ax.figure.colorbar(im, ax=ax, shrink=0.6, label=label)
        ax.set_title(f"Taxon × metabolite associations (* q < {alpha:g})")
    return ax


def predicted_vs_observed(
    result: Any,
    *,
    key: str = "predict_metabolite",
    ax: Any = None,
) -> Any:
    """Observed against out-of-fold predicted values, coloured by outer fold, with the metrics.

    Parameters
    ----------
    result
        A :class:`gutbrain.ml.MetabolitePrediction` or an AnnData after
        :func:`gutbrain.ml.predict_metabolite`.
    key
        ``uns`` key when ``result`` is an AnnData.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = gb.pl.predicted_vs_observed(res)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if hasattr(result, "predictions") and hasattr(result, "metrics"):
        pred, met, params = result.predictions, result.metrics, result.params
        base = result.baselines
    else:
        entry = _entry(result, key, "metabolite predictions",
                       "run gb.ml.predict_metabolite(adata, target=...) first")
        pred, met, params = (pd.DataFrame(entry["predictions"]), pd.DataFrame(entry["metrics"]),
                             dict(entry["params"]))
        base = pd.DataFrame(entry.get("baselines", pd.DataFrame()))
    p = pred[pred["repeat"] == 0] if "repeat" in pred.columns else pred
    folds = sorted(pd.unique(p["fold"]))
    colors = palette(len(folds))
    scale = str(params.get("target_transform", ""))
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(3.6, 3.4), layout="constrained")
        for f, c in zip(folds, colors):
            s = p[p["fold"] == f]
            ax.scatter(s["predicted"], s["observed"], s=9, color=c, alpha=0.75, lw=0,
                       label=f"fold {int(f) + 1}")
        lo = float(np.nanmin(np.r_[p["observed"], p["predicted"]]))
        hi = float(np.nanmax(np.r_[p["observed"], p["predicted"]]))
        ax.plot([lo, hi], [lo, hi], ls="--", color="0.5", lw=0.8)
        lines = []
        for m in ("spearman", "r2", "mae"):
            r = met[met["metric"] == m]
            if len(r):
                r = r.iloc[0]
                nm = {"spearman": "Spearman ρ", "r2": "R²", "mae": "MAE"}[m]
                lines.append(f"{nm} {r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
        if len(base):
            lit = base[(base["metric"] == "spearman") & base["model"].astype(str).str.startswith("butyrate_capacity")]
            if len(lit):
                lines.append(f"literature index ρ {float(lit['value'].iloc[0]):.2f}")
        ax.text(0.03, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left", fontsize=6.5)
        unit = f" ({scale})" if scale and scale != "none" else ""
        tgt = str(params.get("target", ""))
        ax.set_xlabel(f"predicted {tgt}{unit}, out of fold")
        ax.set_ylabel(f"observed {tgt}{unit}")
        ax.set_title(f"{params.get('scheme', 'cross-validation')}, n = {params.get('n_samples', len(p))}")
        if len(folds) <= 10:
            ax.legend(frameon=False, fontsize=6, loc="lower right")
    return ax


def butyrate_validation(
    table: pd.DataFrame | None = None,
    *,
    own: pd.DataFrame | None = None,
    ax: Any = None,
) -> Any:
    """Forest plot of Spearman ρ (95 % CI) between butyrate scores and measured faecal butyrate.

    Parameters
    ----------
    table
        Validation rows (default: the shipped :func:`gutbrain.tl.butyrate_index_validation`).
    own
        Rows computed on the user's data (:func:`gutbrain.tl.validate_butyrate_indices`),
        drawn as dataset ``"this cohort"``.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import gutbrain as gb
    >>> ax = gb.pl.butyrate_validation()
    >>> ax.get_xlabel()
    'Spearman ρ with measured faecal butyrate (95 % CI)'
    """
    import matplotlib.pyplot as plt

    from ..tl._butyrate import butyrate_index_validation

    df = butyrate_index_validation() if table is None else table.copy()
    if own is not None and len(own):
        extra = own.copy()
        extra["dataset"] = "this cohort"
        extra["host"] = ""
        df = pd.concat([df, extra], ignore_index=True)
    scores = list(dict.fromkeys(df["score"]))
    colors = dict(zip(scores, palette(len(scores))))
    datasets = list(dict.fromkeys(df["dataset"]))
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(4.8, 0.55 * len(datasets) * max(1, len(scores)) / 2 + 1.2),
                                 layout="constrained")
        ticks, labels = [], []
        y = 0.0
        for d in datasets:
            sub = df[df["dataset"] == d]
            host = str(sub["host"].iloc[0]) if "host" in sub.columns else ""
            for k, s in enumerate(scores):
                r = sub[sub["score"] == s]
                if r.empty:
                    continue
                r = r.iloc[0]
                yy = y - 0.25 * k
                ax.errorbar(r["spearman"], yy, xerr=[[r["spearman"] - r["ci_low"]], [r["ci_high"] - r["spearman"]]],
                            fmt="o", ms=3.5, color=colors[s], capsize=2, lw=1,
                            label=s if d == datasets[0] else None)
            ticks.append(y - 0.25 * (len(scores) - 1) / 2)
            rodent = "rodent" in host.lower() or "rat" in host.lower() or "mus" in host.lower()
            n = int(sub["n"].iloc[0]) if "n" in sub.columns and pd.notna(sub["n"].iloc[0]) else 0
            labels.append(f"{d}{' [RODENT]' if rodent else ''}\n(n = {n})")
            y -= 0.25 * len(scores) + 0.45
        ax.axvline(0, color="0.6", lw=0.8, ls="--")
        ax.set_yticks(ticks, labels, fontsize=6.5)
        ax.set_xlabel("Spearman ρ with measured faecal butyrate (95 % CI)")
        ax.legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title("Butyrate indices vs a fitted model")
    return ax


def metabolite_boxplot(
    adata: AnnData,
    *,
    groupby: str,
    metabolites: list[str] | None = None,
    key: str = "metabolites",
    log: bool = True,
    ax: Any = None,
) -> Any:
    """Metabolite concentrations by group (box + points), e.g. the SCFAs of the report.

    Parameters
    ----------
    adata
        With ``obsm[key]`` and the ``groupby`` column in ``obs``.
    groupby
        Group column.
    metabolites
        Metabolite ids/names (default: the SCFAs of the map, else the first six columns).
    key
        ``obsm`` key.
    log
        Log10 value axis.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = gb.pl.metabolite_boxplot(adata, groupby="group")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from ..io._metabolites import metabolite_frame, resolve_metabolite

    frame, mp, _ = metabolite_frame(adata, key)
    if groupby not in adata.obs.columns:
        raise DataValueError(f"no obs column {groupby!r}", fix="pass a metadata column as groupby")
    if metabolites is None:
        cols = [c for c in frame.columns if str(mp.at[c, "class"]) == "SCFA"] or list(frame.columns[:6])
    else:
        cols = [resolve_metabolite(adata, m, key) for m in metabolites]
    g = adata.obs[groupby].astype(str)
    levels = sorted(g.dropna().unique())
    colors = palette(len(levels))
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(max(3.0, 1.1 * len(cols) + 1.0), 2.8), layout="constrained")
        width = 0.8 / max(1, len(levels))
        rng = np.random.default_rng(0)
        for i, c in enumerate(cols):
            for k, (lv, colr) in enumerate(zip(levels, colors)):
                v = frame.loc[(g == lv).to_numpy(), c].to_numpy(dtype=float)
                v = v[np.isfinite(v)]
                if log:
                    v = v[v > 0]
                if not v.size:
                    continue
                x = i + (k - (len(levels) - 1) / 2) * width
                ax.boxplot(v, positions=[x], widths=width * 0.8, showfliers=False,
                           patch_artist=True, boxprops={"facecolor": colr, "alpha": 0.35},
                           medianprops={"color": colr})
                ax.scatter(x + rng.uniform(-width * 0.25, width * 0.25, v.size), v, s=4, color=colr,
                           lw=0, alpha=0.8, label=lv if i == 0 else None)
        if log:
            ax.set_yscale("log")
        ax.set_xticks(range(len(cols)), [str(mp.at[c, "name"])[:20] for c in cols], rotation=30,
                      ha="right")
        unit = {str(mp.at[c, "unit"]) for c in cols} - {""}
        ax.set_ylabel("concentration" + (f" ({unit.pop()})" if len(unit) == 1 else ""))
        ax.legend(frameon=False, fontsize=6, title=groupby, title_fontsize=6)
    return ax
