"""Core steps and report sections of ``gutbrain run``: QC, composition, methods/provenance.

Steps compute into documented slots; sections only turn those slots into text, tables
and figures.

QC step (order 10) sets
    ``obs["qc_depth"]`` (sum of ``X`` per sample: reads for counts),
    ``obs["qc_n_features"]`` (features > 0), ``obs["qc_low_depth"]`` (bool; counts only),
    ``var["qc_prevalence"]`` (fraction of samples with the feature > 0) and
    ``uns["qc"]`` (``params``, ``summary`` dict, ``low_depth_samples``, ``metadata_columns``).
Composition step (order 20) sets
    ``uns["composition"]`` (``params``, ``rank_used``, ``top_taxa``, ``summary``: DataFrame of
    mean relative abundance and prevalence per taxon, overall and per group).
"""

from __future__ import annotations

import json
import platform
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import UNITS, get_unit, provenance, record
from .._registry import Figure, Section, register_section, register_step
from .._version import __version__
from ..io._summary import metadata_summary

__all__ = [
    "DEFAULT_MIN_DEPTH",
    "composition_summary",
    "metadata_summary",
    "qc_metrics",
]

#: Samples with fewer reads are flagged by QC.  About a thousand reads is a common lower bound
#: for 16S amplicon samples (the American Gut Project kept samples with at least 1,250 reads:
#: McDonald et al. 2018, mSystems 3:e00031-18, doi:10.1128/mSystems.00031-18).
DEFAULT_MIN_DEPTH = 1000

_TOP = 15


def _matrix(adata: AnnData) -> Any:
    X = adata.X
    return X if sp.issparse(X) else np.asarray(X, dtype=np.float64)


def qc_metrics(adata: AnnData, *, min_depth: float = DEFAULT_MIN_DEPTH) -> dict[str, Any]:
    """Compute per-sample depth/richness and per-feature prevalence into ``adata``.

    Parameters
    ----------
    adata
        Samples × features (``X`` as read).
    min_depth
        Count samples with a smaller total are flagged (only when ``X`` holds counts).

    Returns
    -------
    dict
        The ``uns["qc"]`` entry (also written).
    """
    X = _matrix(adata)
    n_obs, n_var = adata.shape
    if sp.issparse(X):
        depth = np.asarray(X.sum(axis=1)).ravel()
        nz = X.getnnz(axis=1) if hasattr(X, "getnnz") else np.asarray((X != 0).sum(axis=1)).ravel()
        nnz_total = int((X != 0).sum())
        prev = np.asarray((X != 0).sum(axis=0)).ravel() / max(1, n_obs)
    else:
        nzmask = X != 0
        depth = X.sum(axis=1)
        nz = nzmask.sum(axis=1)
        nnz_total = int(nzmask.sum())
        prev = nzmask.sum(axis=0) / max(1, n_obs)
    unit = get_unit(adata)
    is_counts = unit == "counts"
    low = (depth < min_depth) if is_counts else np.zeros(n_obs, dtype=bool)
    metadata_columns = [c for c in adata.obs.columns if not str(c).startswith("qc_")]
    adata.obs["qc_depth"] = depth.astype(np.float64)
    adata.obs["qc_n_features"] = np.asarray(nz, dtype=np.int64)
    adata.obs["qc_low_depth"] = low
    adata.var["qc_prevalence"] = np.asarray(prev, dtype=np.float64)
    size = max(1, n_obs * n_var)
    summary = {
        "n_samples": int(n_obs),
        "n_features": int(n_var),
        "unit": unit,
        "sparsity": float(1.0 - nnz_total / size),
        "depth_min": float(depth.min()) if n_obs else 0.0,
        "depth_median": float(np.median(depth)) if n_obs else 0.0,
        "depth_max": float(depth.max()) if n_obs else 0.0,
        "n_low_depth": int(low.sum()),
        "features_prevalence_ge_10pct": int((prev >= 0.1).sum()),
        "features_never_observed": int((prev == 0).sum()),
    }
    return record(
        adata,
        "qc",
        params={"min_depth": float(min_depth), "unit": unit},
        summary=summary,
        low_depth_samples=[str(s) for s in adata.obs_names[low]],
        metadata_columns=[str(c) for c in metadata_columns],
    )


def _num(v: Any) -> str:
    from ._build import format_number

    return format_number(float(v))


def _plural(label: str) -> str:
    return {"genus": "genera", "species": "species", "family": "families", "phylum": "phyla",
            "class": "classes", "order": "orders", "domain": "domains", "strain": "strains",
            "feature": "features"}.get(label, f"{label} taxa")


def composition_summary(
    adata: AnnData, *, rank: str = "genus", groupby: str | None = None, top: int = _TOP
) -> dict[str, Any]:
    """Mean relative abundance and prevalence of the top taxa, overall and per group.

    Features are summed to ``rank`` with :func:`gutbrain.pp.collapse` when ``var`` has that
    rank (see :func:`gutbrain.pl._composition.relative_by_taxon`); otherwise the features
    themselves are used.  Writes ``uns["composition"]``.
    """
    from ..pl._composition import relative_by_taxon, top_taxa, with_other

    rel, used, method = relative_by_taxon(adata, rank=rank)
    keep = top_taxa(rel, top)
    data = with_other(rel, keep)
    summary = pd.DataFrame(index=pd.Index([str(c) for c in data.columns], name="taxon"))
    summary["mean_relative_abundance"] = data.mean(axis=0).to_numpy()
    summary["prevalence"] = (data > 0).mean(axis=0).to_numpy()
    if groupby is not None:
        groups = adata.obs[groupby]
        levels = (
            list(groups.cat.categories)
            if isinstance(groups.dtype, pd.CategoricalDtype)
            else sorted(groups.dropna().astype(str).unique())
        )
        gvals = groups.astype(str).to_numpy()
        for level in levels:
            mask = gvals == str(level)
            if mask.any():
                summary[f"mean_{level}"] = data.loc[mask].mean(axis=0).to_numpy()
    return record(
        adata,
        "composition",
        params={"rank": rank, "groupby": groupby, "top": int(top), "method": method},
        rank_used=used,
        top_taxa=keep,
        summary=summary,
    )


# ----------------------------------------------------------------------------- steps


@register_step("qc", 10)
def _qc_step(adata: AnnData, config: dict[str, Any]) -> None:
    qc_metrics(adata, min_depth=float(config.get("min_depth", DEFAULT_MIN_DEPTH)))


@register_step("composition", 20)
def _composition_step(adata: AnnData, config: dict[str, Any]) -> None:
    composition_summary(
        adata,
        rank=str(config.get("rank", "genus")),
        groupby=config.get("group"),
        top=int(config.get("top", _TOP)),
    )


# ----------------------------------------------------------------------------- sections


def _figure(draw: Any, caption: str, name: str) -> Figure:
    from ..pl._style import fig_to_svg

    ax = draw()
    return Figure(caption=caption, svg=fig_to_svg(ax.figure), name=name)


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


def _named(df: pd.DataFrame, name: str) -> pd.DataFrame:
    df.attrs["name"] = name
    return df


@register_section("qc", 10)
def _qc_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    if "qc" not in adata.uns or "qc_depth" not in adata.obs:
        qc_metrics(adata)  # a report of an object that did not go through `run`
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
            f"Sequencing depth ranges from {_num(s['depth_min'])} to {_num(s['depth_max'])} reads "
            f"(median {_num(s['depth_median'])})."
            if counts
            else f"Sample totals range from {_num(s['depth_min'])} to {_num(s['depth_max'])} "
            f"(median {_num(s['depth_median'])}); depth is not flagged because X is not counts."
        ),
        f"{s['features_prevalence_ge_10pct']} features are present in at least 10 % of samples; "
        f"{s['features_never_observed']} are never observed.",
    ]
    if counts:
        if low:
            shown = ", ".join(low[:10]) + (f" and {len(low) - 10} more" if len(low) > 10 else "")
            paras.append(
                f"{len(low)} sample(s) have fewer than {_num(min_depth)} reads and are flagged "
                f"(kept in the analysis; consider excluding them): {shown}."
            )
        else:
            paras.append(f"No sample has fewer than {_num(min_depth)} reads.")
    summary = _named(
        pd.DataFrame(
            {
                "metric": [
                    "samples", "features", "unit", "zero entries (%)", "depth min",
                    "depth median", "depth max", f"samples below {_num(min_depth)} reads",
                    "features in ≥ 10 % of samples", "features never observed",
                ],
                "value": [
                    str(s["n_samples"]), str(s["n_features"]), unit, f"{100 * s['sparsity']:.1f}",
                    _num(s["depth_min"]), _num(s["depth_median"]), _num(s["depth_max"]),
                    str(s["n_low_depth"]) if counts else "n/a",
                    str(s["features_prevalence_ge_10pct"]), str(s["features_never_observed"]),
                ],
            }
        ),
        "qc_summary",
    )
    cols = list(entry.get("metadata_columns", []))
    tables: list[tuple[str, pd.DataFrame]] = [("QC summary", summary)]
    if cols:
        tables.append(
            ("Metadata columns and their types", _named(metadata_summary(adata.obs, cols), "qc_metadata"))
        )
    per_sample = pd.DataFrame(
        {
            "sample": adata.obs_names.astype(str),
            "depth": depth,
            "observed_features": adata.obs["qc_n_features"].to_numpy(),
            "below_depth_threshold": adata.obs["qc_low_depth"].to_numpy(dtype=bool),
        }
    ).sort_values(["depth", "sample"], kind="stable")
    tables.append(("Per-sample QC, shallowest first", _named(per_sample.reset_index(drop=True), "qc_samples")))
    figures = [
        _figure(
            lambda: _depth_hist(depth, min_depth if counts else None, unit),
            "Sequencing depth per sample (log scale)"
            + (f"; dashed line: the {_num(min_depth)}-read threshold." if counts else "."),
            "qc_depth",
        ),
        _figure(
            lambda: _prevalence_hist(adata.var["qc_prevalence"].to_numpy(dtype=np.float64)),
            "Prevalence of each feature across samples.",
            "qc_prevalence",
        ),
    ]
    return Section(
        key="qc",
        title="Quality control",
        paragraphs=paras,
        figures=figures,
        tables=tables,
        order=10,
    )


@register_section("composition", 20)
def _composition_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    from ..pl._composition import _draw_taxa_bars, relative_by_taxon, top_taxa, with_other

    config = dict(context.get("config", {}))
    if "composition" not in adata.uns:
        composition_summary(adata, rank=str(config.get("rank", "genus")), groupby=config.get("group"))
    entry = adata.uns["composition"]
    params = dict(entry["params"])
    rank = str(params.get("rank", "genus"))
    groupby = params.get("groupby")
    if groupby is not None and groupby not in adata.obs.columns:
        groupby = None
    top = int(params.get("top", _TOP))
    used = str(entry.get("rank_used", rank))
    label = used if used != "feature" else "feature"
    summary = entry["summary"]
    if not isinstance(summary, pd.DataFrame):
        summary = pd.DataFrame(summary)
    tab = summary.copy()
    for c in tab.columns:
        if c.startswith("mean") or c == "prevalence":
            tab[c] = 100.0 * tab[c].astype(float)
    tab = tab.rename(
        columns={c: c.replace("mean_relative_abundance", "mean %").replace("mean_", "mean % ")
                 .replace("prevalence", "prevalence %") for c in tab.columns}
    )
    tab.index.name = label
    lead = [t for t in entry["top_taxa"]][:5]
    paras = [
        f"Relative abundances were computed per sample ({params.get('method', '')}); the {top} "
        f"most abundant {_plural(label)} by mean relative abundance are shown, the rest summed as "
        "“Other”.",
        "Most abundant: "
        + ", ".join(f"{t} ({100 * float(summary.loc[t, 'mean_relative_abundance']):.1f} %)" for t in lead)
        + ".",
    ]
    # both figures from one table: the features are summed to the rank once
    rel, rel_used, _ = relative_by_taxon(adata, rank=rank)
    keep = top_taxa(rel, max(1, top))
    data = with_other(rel, keep)

    def bars(kind: str) -> Any:
        return _draw_taxa_bars(adata, data, keep, rel_used, groupby=groupby, kind=kind)

    figures: list[Figure] = []
    if groupby is not None:
        figures.append(
            _figure(
                lambda: bars("mean"),
                f"Mean relative abundance of the top {top} {_plural(label)} in each level of “{groupby}”.",
                "composition_groups",
            )
        )
    figures.append(
        _figure(
            lambda: bars("sample"),
            f"Relative abundance of the top {top} {_plural(label)} in each sample"
            + (f", ordered by “{groupby}”" if groupby else "")
            + f" and by the most abundant taxon ({lead[0] if lead else ''}).",
            "composition_samples",
        )
    )
    caption = f"Top {_plural(label)}: mean relative abundance (%) and prevalence (%)" + (
        f", overall and in each level of “{groupby}”" if groupby else ""
    )
    return Section(
        key="composition",
        title="Composition",
        paragraphs=paras,
        figures=figures,
        tables=[(caption, _named(tab, "composition_top_taxa"))],
        order=20,
    )


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _fmt_param(v: Any) -> str:
    v = _plain(v)
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


@register_section("provenance", 100)
def _provenance_section(adata: AnnData, context: dict[str, Any]) -> Section | None:
    prov = provenance(adata)
    config = dict(context.get("config", {}))
    generated_at = context.get("generated_at", "")
    synthetic = bool(prov.get("synthetic", False))
    wf = adata.uns.get("workflow", {})
    steps = [str(s) for s in _plain(wf.get("steps", []))]
    seed = config.get("seed", dict(wf.get("params", {})).get("seed"))
    paras = [
        f"Analysed with gutbrain {__version__}"
        + (f" (object created by gutbrain {prov.get('version')})" if prov.get("version") != __version__ else "")
        + f"; data read by {prov.get('reader', 'unknown')}; report generated at {generated_at}.",
        f"Random seed: {seed if seed is not None else 'not set'}. "
        + (f"Steps run, in order: {', '.join(steps)}." if steps else "No workflow steps recorded."),
    ]
    if synthetic:
        desc = dict(adata.uns.get("demo", {})).get("description", "")
        paras.append(
            "SYNTHETIC DATA: simulated by gutbrain, not measured in people. "
            + (str(desc) + ". " if desc else "")
            + "Planted effects are listed below; directions follow the cited human studies, "
            "magnitudes were chosen for the demonstration."
        )
    software = _named(
        pd.DataFrame(
            {
                "package": ["gutbrain", "python", "numpy", "scipy", "pandas", "anndata", "matplotlib"],
                "version": [
                    __version__, platform.python_version(), _version("numpy"), _version("scipy"),
                    _version("pandas"), _version("anndata"), _version("matplotlib"),
                ],
            }
        ),
        "provenance_software",
    )
    tables: list[tuple[str, pd.DataFrame]] = [("Software versions", software)]
    inputs = dict(prov.get("inputs", {}))
    if inputs:
        rows = [
            {
                "role": role,
                "path": str(dict(info).get("path", "")),
                "format": str(dict(info).get("format", "")),
                "sha256": str(dict(info).get("sha256", "")),
            }
            for role, info in inputs.items()
        ]
        tables.append(("Input files", _named(pd.DataFrame(rows), "provenance_inputs")))
    else:
        paras.append("No input files: the data were created in memory.")
    prow = [{"source": "reader", "parameter": str(k), "value": _fmt_param(v)} for k, v in dict(prov.get("params", {})).items()]
    prow += [{"source": "run", "parameter": str(k), "value": _fmt_param(v)} for k, v in config.items() if k != "out"]
    for key in sorted(k for k in adata.uns.keys() if k not in ("gutbrain",)):
        entry = adata.uns[key]
        if isinstance(entry, dict) and isinstance(entry.get("params"), dict):
            for k, v in entry["params"].items():
                if k == "references":
                    continue
                prow.append({"source": str(key), "parameter": str(k), "value": _fmt_param(v)})
    tables.append(("Parameters of every step", _named(pd.DataFrame(prow, columns=["source", "parameter", "value"]), "provenance_parameters")))
    errors = dict(wf.get("step_errors", {})) if isinstance(wf, dict) else {}
    if errors:
        tables.append(
            ("Steps that failed", _named(pd.DataFrame({"step": list(errors), "error": [str(v) for v in errors.values()]}), "provenance_step_errors"))
        )
    citations: list[str] = []
    demo = adata.uns.get("demo")
    if synthetic and isinstance(demo, dict):
        eff = demo.get("planted_effects")
        if isinstance(eff, pd.DataFrame):
            tables.append(("Planted effects of the synthetic cohort", _named(eff.copy(), "demo_planted_effects")))
        rich = demo.get("richness_effects")
        if isinstance(rich, pd.DataFrame):
            tables.append(("Planted richness effects of the synthetic cohort", _named(rich.copy(), "demo_richness_effects")))
        citations = [str(c) for c in _plain(dict(demo.get("params", {})).get("references", []))]
    return Section(
        key="provenance",
        title="Methods and provenance",
        paragraphs=paras,
        tables=tables,
        citations=citations,
        order=100,
    )
