"""Plots of simulation results: LPS validation, scenario bands, the gut–brain chain diagram."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["sim_bands", "sim_chain", "sim_endpoints", "sim_lps_validation"]

_LABELS = {
    "TNF": "TNF (pg/mL)", "IL6": "IL-6 (pg/mL)", "IL8": "IL-8 (pg/mL)", "IL10": "IL-10 (pg/mL)",
    "PPT_pct": "pressure-pain threshold (% baseline)", "PPT": "pressure-pain threshold (% baseline)",
    "but_mM": "colonic butyrate (mM)", "Perm": "relative permeability", "LPS_fold":
    "endotoxin influx (fold)", "MG": "microglial activation (0-1)", "Tol": "tolerance (0-1)",
}
EVIDENCE_COLOURS = {"calibrated_human": "#1b7837", "animal": "#e08214", "hypothesis": "#b2182b"}


def sim_lps_validation(trajectory: pd.DataFrame, *, validation: pd.DataFrame | None = None,
                       dose: float = 2.0) -> Any:
    """Model trajectory and published data points on one figure (one panel per variable).

    Parameters
    ----------
    trajectory
        Columns ``time_h`` (or ``time``), ``TNF``, ``IL6``, ``IL8``, ``IL10`` and ``PPT``
        (% baseline) or ``PPT_pct``.
    validation
        Published points (default :data:`gutbrain.sim.VALIDATION`); shown for a 2 ng/kg dose.
    dose
        LPS dose of the trajectory (data are only drawn for 2 ng/kg).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..sim._validation import VALIDATION

    val = VALIDATION if validation is None else validation
    t = trajectory["time_h"] if "time_h" in trajectory else trajectory["time"]
    ppt = "PPT" if "PPT" in trajectory else "PPT_pct"
    panels = [("TNF", "TNF"), ("IL6", "IL6"), ("IL8", "IL8"), ("IL10", "IL10"), (ppt, "PPT_pct")]
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.4))
    markers = {"Copeland 2005": "o", "Janum 2016": "s", "de Goeij 2013": "D"}
    colours = {"Copeland 2005": "#2166ac", "Janum 2016": "#e08214", "de Goeij 2013": "#762a83"}
    for ax, (col, vkey) in zip(axes, panels):
        ax.plot(t, trajectory[col], color="k", lw=1.6, label=f"model ({dose:g} ng/kg)")
        if abs(dose - 2.0) < 1e-9:
            sub = val[val["variable"].isin([vkey, f"{vkey}_peak"])]
            for study, g in sub.groupby("study"):
                yerr = np.where(g["spread_kind"] == "SE", 2 * g["spread"], np.nan)
                ax.errorbar(g["time_h"], g["mean"], yerr=np.nan_to_num(yerr), fmt=markers.get(study, "^"),
                            color=colours.get(str(study), "0.3"), ms=5, capsize=2, label=str(study), alpha=0.85)
            acc = sub.dropna(subset=["lo"])
            for _, r in acc.iterrows():
                ax.vlines(r["time_h"] + 0.08, r["lo"], r["hi"], colors="0.6", lw=3, alpha=0.5)
        ax.set_xlabel("time (h)")
        ax.set_ylabel(_LABELS.get(vkey, vkey))
        ax.set_xlim(0, min(float(np.max(t)), 12.0))
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle("LPS bolus: Dobreva 2021 core (calibrated in humans) vs published data; "
                 "grey bars = acceptance ranges", fontsize=9)
    fig.tight_layout()
    return fig


def sim_bands(bands: pd.DataFrame, *, outputs: Sequence[str] | None = None,
              time_scale: float = 1.0, time_label: str = "time (h)", title: str = "") -> Any:
    """Quantile bands (5–95 %, 25–75 %, median) per label, one panel per output.

    ``bands`` is :meth:`gutbrain.sim.ScenarioResult.bands` output (possibly several
    scenarios concatenated with distinct ``label``).
    """
    import matplotlib.pyplot as plt

    outputs = list(outputs) if outputs is not None else list(dict.fromkeys(bands["output"]))
    n = len(outputs)
    ncol = min(4, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(bands["label"]))
    for k, out in enumerate(outputs):
        ax = axes[k // ncol][k % ncol]
        for i, lab in enumerate(labels):
            g = bands[(bands["label"] == lab) & (bands["output"] == out)]
            x = g["time"].to_numpy() / time_scale
            c = colours[i % len(colours)]
            ax.fill_between(x, g["q05"], g["q95"], color=c, alpha=0.15, lw=0)
            ax.fill_between(x, g["q25"], g["q75"], color=c, alpha=0.3, lw=0)
            ax.plot(x, g["q50"], color=c, lw=1.4, label=str(lab))
        ax.set_title(_LABELS.get(out, out), fontsize=9)
        ax.set_xlabel(time_label)
    for k in range(n, nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle((title + " — " if title else "") + "ensemble bands over hypothesis priors "
                 "(not predictions)", fontsize=9)
    fig.tight_layout()
    return fig


def sim_chain(links: pd.DataFrame | None = None) -> Any:
    """The gut → barrier → LPS → cytokines → BBB/microglia → pain chain, links coloured by evidence."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    from ..sim._report import CHAIN_LINKS

    links = CHAIN_LINKS if links is None else links
    nodes = ["gut microbiota\n& fibre", "colonic\nbutyrate", "barrier\npermeability",
             "plasma\nendotoxin", "monocytes &\ncytokines", "BBB /\nmicroglia", "pain\nthreshold"]
    fig, ax = plt.subplots(figsize=(13, 2.8))
    xs = np.linspace(0.06, 0.94, len(nodes))
    for x, name in zip(xs, nodes):
        ax.add_patch(FancyBboxPatch((x - 0.055, 0.45), 0.11, 0.3, boxstyle="round,pad=0.01",
                                    fc="#f2f2f2", ec="0.3", transform=ax.transAxes))
        ax.text(x, 0.6, name, ha="center", va="center", fontsize=8, transform=ax.transAxes)
    for i, (_, r) in enumerate(links.iterrows()):
        if i + 1 >= len(xs):
            break
        c = EVIDENCE_COLOURS.get(str(r["evidence"]), "0.5")
        ax.annotate("", xy=(xs[i + 1] - 0.057, 0.6), xytext=(xs[i] + 0.057, 0.6),
                    xycoords="axes fraction", arrowprops={"arrowstyle": "->", "color": c, "lw": 2.5})
        ax.text((xs[i] + xs[i + 1]) / 2, 0.3, str(r["evidence"]).replace("_", "\n"), color=c,
                ha="center", va="top", fontsize=7, transform=ax.transAxes)
    ax.text(0.5, 0.95, "Evidence: green = calibrated in humans, orange = animal, red = hypothesis "
            "(free gain, wide prior)", ha="center", fontsize=8, transform=ax.transAxes)
    ax.axis("off")
    return fig


def sim_endpoints(end: pd.DataFrame, *, colors: dict[str, str] | None = None) -> Any:
    """Ensemble quantiles at the end of a scenario: one panel per output, one bar per label.

    Parameters
    ----------
    end
        :meth:`gutbrain.sim.ScenarioResult.endpoint` output (``label, output, q05, q25, q50,
        q75, q95``).
    colors
        Colour of each label (e.g. the run's group colours).

    Returns
    -------
    matplotlib.figure.Figure
        Boxes span the 25–75 % quantiles, whiskers 5–95 %, the dot is the median.
    """
    import matplotlib.pyplot as plt

    from ._style import palette, style

    outs = list(dict.fromkeys(end["output"]))
    labels = [str(v) for v in dict.fromkeys(end["label"])]
    colors = dict(colors or {})
    fallback = palette(len(labels))
    cols = [colors.get(lab, fallback[i]) for i, lab in enumerate(labels)]
    with style():
        ncol = min(4, len(outs))
        nrow = int(np.ceil(len(outs) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.6 * nrow), squeeze=False,
                                 layout="constrained")
        for k, out in enumerate(outs):
            ax = axes[k // ncol][k % ncol]
            g = end[end["output"] == out].assign(label=lambda d: d["label"].astype(str)).set_index("label")
            g = g.loc[labels]
            x = np.arange(len(labels))
            ax.bar(x, g["q75"] - g["q25"], bottom=g["q25"], width=0.55, color=cols, alpha=0.55,
                   edgecolor=cols, linewidth=1.0)
            ax.errorbar(x, g["q50"], yerr=[g["q50"] - g["q05"], g["q95"] - g["q50"]], fmt="o", color="k",
                        ms=4, capsize=4, lw=1.0)
            ax.set_xticks(x, labels, rotation=30, ha="right")
            ax.set_title(_LABELS.get(out, out))
            lo, hi = float(g["q05"].min()), float(g["q95"].max())
            pad = 0.1 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
            ax.set_ylim(lo - pad, hi + pad)
        for k in range(len(outs), nrow * ncol):
            axes[k // ncol][k % ncol].axis("off")
    return fig
