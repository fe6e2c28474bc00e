"""Plots of cross-validated classifiers (ROC / precision–recall with CI bands) and mediation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError
from ._style import palette, style

__all__ = ["mediation_diagram", "pr_curve", "roc_curve"]

_GRID = np.linspace(0.0, 1.0, 101)


def _predictions(result: Any, key: str) -> pd.DataFrame:
    if hasattr(result, "predictions"):
        return result.predictions
    if hasattr(result, "uns"):
        entry = result.uns.get(key)
        if entry is None or "predictions" not in entry:
            raise DataValueError(f"no classification results in uns[{key!r}]", fix="run gutbrain.ml.classify first")
        return entry["predictions"]
    if isinstance(result, pd.DataFrame) and {"y_true", "y_score"} <= set(result.columns):
        return result
    raise DataValueError("expected a CVResult, an AnnData after gb.ml.classify, or a predictions table",
                         fix="pass the result of gutbrain.ml.classify")


def _roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve as _roc

    fpr, tpr, _ = _roc(y, s)
    return fpr, tpr


def _pr_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import precision_recall_curve

    prec, rec, _ = precision_recall_curve(y, s)
    return rec[::-1], prec[::-1]


def _interp(x: np.ndarray, yv: np.ndarray, kind: str) -> np.ndarray:
    if kind == "roc":
        out = np.interp(_GRID, x, yv)
        out[0] = 0.0
        return out
    # precision at recall r: highest precision at any recall ≥ r (interpolated PR curve)
    best = np.maximum.accumulate(yv[::-1])[::-1]
    return np.interp(_GRID, x, best)


_FINE = np.linspace(0.0, 1.0, 1001)


def _repeat_roc(y: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Vertical average of the repeats' ROC curves (Fawcett 2006) and their mean AUROC.

    The mean AUROC is the figure of the cross-validation table (``gb.ml.classify``), and
    the area under the averaged curve is that mean (up to the grid).
    """
    from sklearn.metrics import roc_auc_score

    curves = []
    for r in range(P.shape[0]):
        fpr, tpr = _roc_points(y, P[r])
        # the highest TPR reached at each FPR (the step's upper corner), on a fine grid
        curves.append(np.interp(_FINE, fpr, tpr))
    mean = np.mean(curves, axis=0)
    mean[0] = 0.0
    return _FINE, mean, float(np.mean([roc_auc_score(y, P[r]) for r in range(P.shape[0])]))


def _curve(result: Any, kind: str, *, key: str, n_boot: int, random_state: int, ax: Any, label: str | None,
           color: str | None = None) -> Any:
    import matplotlib.pyplot as plt

    pred = _predictions(result, key)
    ok = np.isfinite(pred["y_score"].to_numpy(dtype=float))
    y = pred["y_true"].to_numpy()[ok].astype(int)
    s = pred["y_score"].to_numpy(dtype=float)[ok]
    if len(np.unique(y)) != 2:
        raise DataValueError("the predictions hold one class only", fix="check the label")
    fn = _roc_points if kind == "roc" else _pr_points
    x0, y0 = fn(y, s)
    reps = [c for c in pred.columns if str(c).startswith("repeat_")]
    stat = None
    if kind == "roc" and reps:
        P = pred.loc[ok, reps].to_numpy(dtype=float).T
        if np.isfinite(P).all():
            x0, y0, stat = _repeat_roc(y, P)
    rng = np.random.default_rng(random_state)
    curves = []
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        xb, yb = fn(y[idx], s[idx])
        curves.append(_interp(xb, yb, kind))
    band = np.quantile(np.vstack(curves), [0.025, 0.975], axis=0) if curves else None
    from sklearn.metrics import average_precision_score, roc_auc_score

    if stat is None:
        stat = roc_auc_score(y, s) if kind == "roc" else average_precision_score(y, s)
    name = "AUROC" if kind == "roc" else "AUPRC"
    color = color or palette(1)[0]
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(3.2, 3.2), layout="constrained")
        if band is not None:
            ax.fill_between(_GRID, band[0], band[1], color=color, alpha=0.25, linewidth=0,
                            label="95% bootstrap band")
        ax.plot(x0, y0, color=color, lw=1.5, label=f"{label + ': ' if label else ''}{name} = {stat:.3f}",
                drawstyle="steps-post" if kind == "pr" else "default")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=0.8)
            ax.set_xlabel("False positive rate (1 − specificity)")
            ax.set_ylabel("True positive rate (sensitivity)")
            ax.set_title("ROC (out-of-fold)")
        else:
            ax.axhline(y.mean(), ls="--", color="0.6", lw=0.8)
            ax.set_xlabel("Recall (sensitivity)")
            ax.set_ylabel("Precision")
            ax.set_title("Precision–recall (out-of-fold)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right" if kind == "roc" else "lower left", frameon=False)
    return ax


def roc_curve(
    result: Any, *, key: str = "classify", n_boot: int = 200, random_state: int = 0, ax: Any = None,
    label: str | None = None, color: str | None = None,
) -> Any:
    """Out-of-fold ROC curve with a 95 % bootstrap band (stratified resampling of samples).

    Parameters
    ----------
    result
        A :class:`gutbrain.ml.CVResult`, an AnnData after :func:`gutbrain.ml.classify`
        (``uns[key]``), or a table with ``y_true`` and ``y_score``.
    key
        ``uns`` key when ``result`` is an AnnData.
    n_boot
        Bootstrap resamples for the band (0: no band).
    random_state
        Seed of the bootstrap.
    ax
        Axes to draw on.
    label
        Legend prefix.
    color
        Line colour (default: the first colour of the palette).

    Returns
    -------
    matplotlib.axes.Axes
        With repeated cross-validation (``repeat_*`` prediction columns) the curve is the
        vertical average of the repeats' curves and the legend's AUROC is their mean — the
        AUROC of the cross-validation table.
    """
    return _curve(result, "roc", key=key, n_boot=n_boot, random_state=random_state, ax=ax, label=label,
                  color=color)


def pr_curve(
    result: Any, *, key: str = "classify", n_boot: int = 200, random_state: int = 0, ax: Any = None,
    label: str | None = None, color: str | None = None,
) -> Any:
    """Out-of-fold precision–recall curve with a 95 % bootstrap band (see :func:`roc_curve`)."""
    return _curve(result, "pr", key=key, n_boot=n_boot, random_state=random_state, ax=ax, label=label,
                  color=color)


def _fmt(row: pd.Series) -> str:
    est, lo, hi = row["estimate"], row["ci_low"], row["ci_high"]
    ci = f" [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{est:.3g}{ci}"


def mediation_diagram(result: Any, *, key: str = "mediation", ax: Any = None) -> Any:
    """Path diagram exposure → mediator → outcome with a, b, c' and the indirect effect.

    Parameters
    ----------
    result
        The table returned by :func:`gutbrain.tl.mediation`, or an AnnData holding
        ``uns[key]``.
    key
        ``uns`` key when ``result`` is an AnnData.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    names = {"exposure": "exposure", "mediator": "mediator", "outcome": "outcome"}
    if hasattr(result, "uns"):
        entry = result.uns.get(key)
        if entry is None:
            raise DataValueError(f"no mediation results in uns[{key!r}]", fix="run gutbrain.tl.mediation first")
        table = entry["table"]
        names = {k: str(entry["params"].get(k, k)) for k in names}
        n = entry.get("n")
    elif isinstance(result, pd.DataFrame) and "effect" in result.columns:
        table, n = result, None
    else:
        raise DataValueError("expected a mediation table or an AnnData", fix="pass gb.tl.mediation's result")
    t = table.set_index("effect")
    for need in ("a", "b", "indirect", "direct", "total"):
        if need not in t.index:
            raise DataValueError(f"mediation table lacks row {need!r}", fix="pass gb.tl.mediation's result")
    boxes = {"exposure": (0.13, 0.22), "mediator": (0.5, 0.78), "outcome": (0.87, 0.22)}
    with style():
        if ax is None:
            _, ax = plt.subplots(figsize=(5.2, 3.2), layout="constrained")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        for role, (x, y) in boxes.items():
            ax.add_patch(FancyBboxPatch((x - 0.12, y - 0.07), 0.24, 0.14, boxstyle="round,pad=0.01",
                                        fc="#f0f0f0", ec="0.3", lw=0.8))
            ax.text(x, y, names[role], ha="center", va="center", fontsize=7, wrap=True)

        def arrow(p, q, text, tx, ty):
            ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=10, lw=1.0, color="0.2"))
            ax.text(tx, ty, text, ha="center", va="center", fontsize=7)

        arrow((0.2, 0.3), (0.42, 0.7), f"a = {_fmt(t.loc['a'])}", 0.19, 0.55)
        arrow((0.58, 0.7), (0.8, 0.3), f"b = {_fmt(t.loc['b'])}", 0.81, 0.55)
        arrow((0.26, 0.22), (0.74, 0.22), f"c' (direct) = {_fmt(t.loc['direct'])}", 0.5, 0.27)
        lines = [f"indirect a·b = {_fmt(t.loc['indirect'])}", f"total c = {_fmt(t.loc['total'])}"]
        if "proportion_mediated" in t.index:
            lines.append(f"proportion mediated = {_fmt(t.loc['proportion_mediated'])}")
        if n is not None:
            lines.append(f"n = {n}")
        ax.text(0.5, 0.05, "\n".join(lines), ha="center", va="bottom", fontsize=7)
    return ax
