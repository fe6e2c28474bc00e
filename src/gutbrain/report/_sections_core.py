"""Report sections: quality control, composition, methods and provenance.

Sections only render results stored in the AnnData (``uns["qc"]``, ``uns["composition"]``,
``uns["workflow"]``); the numbers are computed by :func:`gutbrain.tl.qc_metrics`,
:func:`gutbrain.tl.composition_summary` and the workflow.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import UNITS, provenance
from .._registry import Section
from .._version import __version__
from ..tl._summary import DEFAULT_MIN_DEPTH
from ._common import figure, named, num, plain, plural

__all__ = ["DEFAULT_MIN_DEPTH", "composition_section", "provenance_section", "qc_section"]


def _depth_hist(depth: np.ndarray, min_depth: float | None, unit: str) -> Any:
    import matplotlib.pyplot as plt

    from ..pl._style import style

    with style():
        _fig, ax = plt.subplots(figsize=(6.0, 2.8), layout="constrained")
        pos = depth[depth > 0]
        if pos.size:
            lo, hi = np.log10(pos.min()), np.log10(pos.max())
            bins = np.logspace(lo - 0.05, hi + 0.05, 31)
            ax.hist(pos, bins=bins, color="#4c72b0", edgecolor="white", linewidth=0.4)
            ax.set_xscale("log")
        if min_depth is not None:
            ax.axvline(min_depth, color="#c44e52", linestyle="--", linewidth=1.0,
                       label=f"threshold {min_depth:g}")
            ax.legend(frameon=False)
        ax.set_xlabel("reads per sample" if unit == "counts" else f"sample total ({unit})")
        ax.set_ylabel("samples")
    return ax


def _prevalence_hist(prev: np.ndarray) -> Any:
    import matplotlib.pyplot as plt

    from ..pl._style import style

    with style():
        _fig, ax = plt.subplots(figsize=(6.0, 2.8), layout="constrained")
        ax.hist(prev, bins=np.linspace(0, 1, 21), color="#55a868", edgecolor="white", linewidth=0.4)
        ax.set_xlabel("prevalence (fraction of samples where the feature is present)")
        ax.set_ylabel("features")
    return ax


def qc_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Depth, sparsity and prevalence from ``uns["qc"]`` (:func:`gutbrain.tl.qc_metrics`)."""
    from ..io._summary import metadata_summary

    if "qc" not in adata.uns or "qc_depth" not in adata.obs:
        return None
    entry = adata.uns["qc"]
    s = dict(entry["summary"])
    unit = str(s["unit"])
    min_depth = float(entry["params"]["min_depth"])
    counts = unit == "counts"
    depth = adata.obs["qc_depth"].to_numpy(dtype=np.float64)
    low = list(entry.get("low_depth_samples", []))
    paras = [
        f"The table has {s['n_samples']} samples and {s['n_features']} features; X holds {unit} "
        f"({UNITS.get(unit, unit)}). {100 * s['sparsity']:.1f} % of the entries are zero.",
        (
            f"Sequencing depth ranges from {num(s['depth_min'])} to {num(s['depth_max'])} reads "
            f"(median {num(s['depth_median'])})."
            if counts
            else f"Sample totals range from {num(s['depth_min'])} to {num(s['depth_max'])} "
            f"(median {num(s['depth_median'])}); depth is not flagged because X is not counts."
        ),
        f"{s['features_prevalence_ge_10pct']} features are present in at least 10 % of samples; "
        f"{s['features_never_observed']} are never observed.",
    ]
    if counts:
        if low:
            shown = ", ".join(low[:10]) + (f" and {len(low) - 10} more" if len(low) > 10 else "")
            paras.append(
                f"{len(low)} sample(s) have fewer than {num(min_depth)} reads and are flagged "
                f"(kept in the analysis; consider excluding them): {shown}."
            )
        else:
            paras.append(f"No sample has fewer than {num(min_depth)} reads.")
    summary = named(
        pd.DataFrame(
            {
                "metric": [
                    "samples", "features", "unit", "zero entries (%)", "depth min",
                    "depth median", "depth max", f"samples below {num(min_depth)} reads",
                    "features in ≥ 10 % of samples", "features never observed",
                ],
                "value": [
                    str(s["n_samples"]), str(s["n_features"]), unit, f"{100 * s['sparsity']:.1f}",
                    num(s["depth_min"]), num(s["depth_median"]), num(s["depth_max"]),
                    str(s["n_low_depth"]) if counts else "not applicable (not counts)",
                    str(s["features_prevalence_ge_10pct"]), str(s["features_never_observed"]),
                ],
            }
        ),
        "qc_summary",
    )
    cols = list(entry.get("metadata_columns", []))
    tables: list[tuple[str, pd.DataFrame]] = [("QC summary", summary)]
    if cols:
        tables.append(("Metadata columns and their types",
                       named(metadata_summary(adata.obs, cols), "qc_metadata_columns")))
    per_sample = pd.DataFrame(
        {
            "sample": adata.obs_names.astype(str),
            "depth": depth,
            "observed_features": adata.obs["qc_n_features"].to_numpy(),
            "below_depth_threshold": adata.obs["qc_low_depth"].to_numpy(dtype=bool),
        }
    ).sort_values(["depth", "sample"], kind="stable")
    tables.append(("Per-sample depth and observed features, shallowest first",
                   named(per_sample.reset_index(drop=True), "qc_per_sample")))
    figures = [
        figure(
            lambda: _depth_hist(depth, min_depth if counts else None, unit),
            "Sequencing depth per sample (log scale)"
            + (f"; dashed line: the {num(min_depth)}-read threshold." if counts else "."),
            "qc_depth",
        ),
        figure(
            lambda: _prevalence_hist(adata.var["qc_prevalence"].to_numpy(dtype=np.float64)),
            "Prevalence of each feature across samples.",
            "qc_prevalence",
        ),
    ]
    return Section(key="qc", title="Quality control", paragraphs=paras, figures=figures, tables=tables,
                   order=10)


def composition_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Top taxa table and stacked bars from ``uns["composition"]``."""
    from ..pl._composition import _draw_taxa_bars

    entry = adata.uns.get("composition")
    if not isinstance(entry, dict) or "per_sample" not in entry:
        return None
    params = dict(entry["params"])
    groupby = params.get("groupby") or None
    if groupby is not None and groupby not in adata.obs.columns:
        groupby = None
    top = int(params.get("top", 15))
    used = str(entry.get("rank_used", params.get("rank", "genus")))
    summary = pd.DataFrame(entry["summary"])
    tab = summary.copy()
    for c in tab.columns:
        if c.startswith("mean") or c == "prevalence":
            tab[c] = 100.0 * tab[c].astype(float)
    tab = tab.rename(
        columns={c: c.replace("mean_relative_abundance", "mean %").replace("mean_", "mean % ")
                 .replace("prevalence", "prevalence %") for c in tab.columns}
    )
    tab.index.name = used
    keep = [str(t) for t in entry["top_taxa"]]
    lead = keep[:5]
    paras = [
        f"Relative abundances were computed per sample ({params.get('method', '')}); the {top} "
        f"most abundant {plural(used)} by mean relative abundance are shown, the rest summed as "
        "“Other”.",
        "Most abundant: "
        + ", ".join(f"{t} ({100 * float(summary.loc[t, 'mean_relative_abundance']):.1f} %)" for t in lead)
        + ".",
    ]
    data = pd.DataFrame(entry["per_sample"]).reindex(adata.obs_names)

    def bars(kind: str) -> Any:
        return _draw_taxa_bars(adata, data, keep, used, groupby=groupby, kind=kind)

    figures = []
    if groupby is not None:
        figures.append(figure(lambda: bars("mean"),
                              f"Mean relative abundance of the top {top} {plural(used)} in each level of "
                              f"“{groupby}”.", "composition_groups"))
    figures.append(figure(
        lambda: bars("sample"),
        f"Relative abundance of the top {top} {plural(used)} in each sample"
        + (f", ordered by “{groupby}”" if groupby else "")
        + f" and by the most abundant taxon ({lead[0] if lead else ''}).",
        "composition_samples",
    ))
    caption = f"Top {plural(used)}: mean relative abundance (%) and prevalence (%)" + (
        f", overall and in each level of “{groupby}”" if groupby else ""
    )
    return Section(key="composition", title="Composition", paragraphs=paras, figures=figures,
                   tables=[(caption, named(tab, "composition_top_taxa"))], order=20)


def _fmt_param(v: Any) -> str:
    v = plain(v)
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _parameters(adata: AnnData, prov: dict[str, Any]) -> pd.DataFrame:
    rows = [{"source": "reader", "parameter": str(k), "value": _fmt_param(v)}
            for k, v in dict(prov.get("params", {})).items()]
    for key in sorted(k for k in adata.uns.keys() if k not in ("gutbrain",)):
        entry = adata.uns[key]
        if isinstance(entry, dict) and isinstance(entry.get("params"), dict):
            for k, v in entry["params"].items():
                if k in ("references", "gutbrain_version"):
                    continue
                rows.append({"source": "run" if key == "workflow" else str(key), "parameter": str(k),
                             "value": _fmt_param(v)})
    return pd.DataFrame(rows, columns=["source", "parameter", "value"])


def _step_table(wf: dict[str, Any]) -> pd.DataFrame | None:
    status = wf.get("step_status")
    if not isinstance(status, pd.DataFrame) or status.empty:
        return None
    out = status[["title", "status", "reason"]].rename(columns={"title": "step", "reason": "why"})
    return out.reset_index(drop=True)


def _timing_table(wf: dict[str, Any]) -> pd.DataFrame | None:
    """Wall seconds of reading and of each step that ran, with its share of the run."""
    tab = wf.get("timings")
    if not isinstance(tab, pd.DataFrame) or tab.empty:
        return None
    tab = tab[tab["status"].astype(str) != "skipped"]
    sec = tab["seconds"].astype(float)
    total = float(sec.sum())
    out = pd.DataFrame({"step": tab["title"].astype(str), "seconds": sec.round(2),
                        "share (%)": (100 * sec / total).round(1) if total > 0 else 0.0})
    return out.reset_index(drop=True)


def provenance_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    """Versions, inputs with sha256, seed, what ran and was skipped, every parameter."""
    prov = provenance(adata)
    generated_at = context.get("generated_at", "")
    synthetic = bool(prov.get("synthetic", False))
    wf = dict(adata.uns.get("workflow", {}))
    wf_params = dict(wf.get("params", {}))
    seed = wf_params.get("random_state", wf_params.get("seed", context.get("seed")))
    ran = [str(s) for s in plain(wf.get("steps", []))]
    paras = [
        f"Analysed with gutbrain {__version__}"
        + (f" (object created by gutbrain {prov.get('version')})" if prov.get("version") != __version__ else "")
        + f"; data read by {prov.get('reader', 'unknown')}; report generated at {generated_at}.",
        f"Random seed: {seed if seed is not None else 'not set'}. "
        + (f"Steps run, in order: {', '.join(ran)}." if ran else "No workflow steps recorded."),
    ]
    if synthetic:
        desc = dict(adata.uns.get("demo", {})).get("description", "")
        paras.append(
            "SYNTHETIC DATA: simulated by gutbrain, not measured in people. "
            + (str(desc) + ". " if desc else "")
            + "Planted effects are listed below; directions follow the cited human studies, "
            "magnitudes were chosen for the demonstration."
        )
    tables: list[tuple[str, pd.DataFrame]] = []
    steps = _step_table(wf)
    if steps is not None:
        tables.append(("What ran, what was skipped and why", named(steps, "provenance_steps")))
    times = _timing_table(wf)
    if times is not None and context.get("timings", True):
        top = times.loc[times["seconds"].idxmax()]
        paras.append(f"Where the time went: reading and the steps took {times['seconds'].sum():.1f} s of wall "
                     f"time, the longest being {top['step']} ({top['seconds']:.1f} s, {top['share (%)']:.0f} %); "
                     "rendering this report and writing the outputs are timed in tables/provenance.json.")
        tables.append(("Where the time went (wall seconds of each step that ran)",
                       named(times, "provenance_timings")))
    elif times is not None:
        paras.append("Wall times of the steps are in tables/provenance.json and in the h5ad "
                     "(uns['workflow']['timings']); they are left out of this report because its timestamp "
                     "was pinned for byte-identical output.")
    software = wf.get("software")
    if not isinstance(software, pd.DataFrame):
        from importlib import metadata as md

        def version(d: str) -> str:
            try:
                return md.version(d)
            except md.PackageNotFoundError:
                return "not installed"

        libs = ["numpy", "scipy", "pandas", "anndata", "matplotlib"]
        software = pd.DataFrame({"package": ["gutbrain", *libs],
                                 "version": [__version__, *(version(x) for x in libs)]})
    tables.append(("Versions of the libraries that computed the numbers",
                   named(pd.DataFrame(software).copy(), "provenance_software")))
    inputs = dict(prov.get("inputs", {}))
    if inputs:
        rows = [{"role": role, "path": str(dict(info).get("path", "")),
                 "format": str(dict(info).get("format", "")), "sha256": str(dict(info).get("sha256", ""))}
                for role, info in inputs.items()]
        tables.append(("Input files and their sha256", named(pd.DataFrame(rows), "provenance_inputs")))
    else:
        paras.append("No input files: the data were created in memory.")
    tables.append(("Parameters of every step", named(_parameters(adata, prov), "provenance_parameters")))
    citations: list[str] = []
    demo = adata.uns.get("demo")
    if synthetic and isinstance(demo, dict):
        eff = demo.get("planted_effects")
        if isinstance(eff, pd.DataFrame):
            tables.append(("Planted effects of the synthetic cohort", named(eff.copy(), "demo_planted_effects")))
        rich = demo.get("richness_effects")
        if isinstance(rich, pd.DataFrame) and len(rich):
            tables.append(("Planted richness effects of the synthetic cohort",
                           named(rich.copy(), "demo_richness_effects")))
        citations = [str(c) for c in plain(dict(demo.get("params", {})).get("references", []))]
    return Section(key="provenance", title="Methods and provenance", paragraphs=paras, tables=tables,
                   citations=citations, order=100)

