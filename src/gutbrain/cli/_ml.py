"""``gutbrain classify`` and ``gutbrain power`` (the health index is ``gutbrain index health``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._errors import DataValueError
from .._utils import atomic_directory
from ._common import guarded

__all__ = ["register"]


def _write_tsv(frame: Any, path: Path) -> None:
    from .._utils import write_delimited

    write_delimited(frame, path, float_format="%.6g")


def _write_svg(ax: Any, path: Path) -> None:
    from .._utils import atomic_write
    from ..pl._style import fig_to_svg

    svg = fig_to_svg(ax.figure)
    with atomic_write(path) as fh:
        fh.write(svg)


def _read(table: Path, taxonomy: Path | None, metadata: Path | None = None) -> Any:
    from ..io import read

    if not table.exists():
        raise FileNotFoundError(2, "No such file", str(table))
    kwargs: dict[str, Any] = {}
    if taxonomy is not None:
        if not taxonomy.exists():
            raise FileNotFoundError(2, "No such file", str(taxonomy))
        kwargs["taxonomy"] = taxonomy
    adata = read(table, **kwargs)
    if metadata is not None:
        from ..io import attach_metadata, read_metadata

        if not metadata.exists():
            raise FileNotFoundError(2, "No such file", str(metadata))
        meta = read_metadata(metadata)
        adata = attach_metadata(adata, meta, path=metadata)
    return adata


def register(app: typer.Typer) -> None:
    """Add ``classify`` and ``power`` to the gutbrain app."""

    @app.command("classify")
    @guarded
    def classify_cmd(
        table: Path = typer.Argument(..., help="Feature table (BIOM, QIIME 2, MetaPhlAn, TSV …), untransformed."),
        metadata: Path = typer.Option(..., "--metadata", "-m", help="Sample metadata (TSV/CSV)."),
        label: str = typer.Option(..., "--label", "-l", help="Metadata column to predict."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        model: str = typer.Option("rf", "--model", help="l1 | enet | rf | gb."),
        group_by: str | None = typer.Option(None, "--group-by",
                                            help="Group column (subject/household; study with --cv loso)."),
        cv: str = typer.Option("repeated", "--cv", help="repeated | group | loso."),
        positive: str | None = typer.Option(None, "--positive", help="Positive class level."),
        task: str = typer.Option("auto", "--task", help="auto | classification | regression."),
        taxonomy: Path | None = typer.Option(None, "--taxonomy", "-t", help="Feature taxonomy."),
        rank: str | None = typer.Option(None, "--rank", help="Collapse to this rank first (e.g. genus)."),
        folds: int = typer.Option(5, "--folds", help="Folds per repeat."),
        repeats: int = typer.Option(5, "--repeats", help="CV repeats."),
        permutations: int = typer.Option(0, "--permutations", help="Label permutations for a p-value."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
    ) -> None:
        """Cross-validated classifier/regressor (preprocessing inside folds); writes TSVs and ROC/PR SVGs."""
        import pandas as pd

        from ..ml import classify, regress
        from ..pl._ml import pr_curve, roc_curve

        adata = _read(table, taxonomy, metadata)
        if label not in adata.obs.columns:
            raise DataValueError(f"no metadata column {label!r}", path=metadata, column=label,
                                 fix=f"use one of {', '.join(map(str, adata.obs.columns[:12]))}")
        if task == "auto":
            num = pd.to_numeric(adata.obs[label], errors="coerce")
            task = "regression" if num.notna().mean() > 0.9 and num.nunique() > 2 else "classification"
        common = dict(model=model, cv=cv, group_by=group_by, n_splits=folds, n_repeats=repeats, rank=rank,
                      n_permutations=permutations, random_state=seed)
        if task == "classification":
            res = classify(adata, label=label, positive=positive, **common)
        elif task == "regression":
            if model == "l1":
                model = "enet"
            common["model"] = model
            res = regress(adata, target=label, **common)
        else:
            raise DataValueError(f"unknown task {task!r}", fix="use auto, classification or regression")
        with atomic_directory(out) as tmp:  # complete or not at all (manifest written last)
            _write_tsv(res.metrics, tmp / "metrics.tsv")
            _write_tsv(res.predictions, tmp / "predictions.tsv")
            _write_tsv(res.importances, tmp / "importances.tsv")
            if len(res.calibration):
                _write_tsv(res.calibration, tmp / "calibration.tsv")
            if len(res.per_group):
                _write_tsv(res.per_group, tmp / "per_group.tsv")
            if task == "classification":
                _write_svg(roc_curve(res), tmp / "roc.svg")
                _write_svg(pr_curve(res), tmp / "pr.svg")
        head = res.metrics.iloc[0]
        typer.echo(f"{task} ({model}, {res.scheme} CV, {res.params['n_samples']} samples): "
                   f"{head['metric']} = {head['value']:.3f} [{head['ci_low']:.3f}, {head['ci_high']:.3f}]; "
                   f"results in {out}")

    @app.command("power")
    @guarded
    def power_cmd(
        template_table: Path = typer.Argument(..., help="Real count table to fit the simulator template on."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        effect: float = typer.Option(2.0, "--effect", help="|log2 fold change| planted on changed taxa."),
        n: str = typer.Option("50,100,200", "--n", help="Comma-separated total sample sizes."),
        replicates: int = typer.Option(20, "--replicates", help="Simulated cohorts per sample size."),
        n_changed: int = typer.Option(10, "--n-changed", help="Planted taxa per cohort."),
        methods: str = typer.Option("maaslin2,linda,wilcoxon,prevalence,ancombc", "--methods",
                                    help="Comma-separated diff_abundance methods."),
        alpha: float = typer.Option(0.05, "--alpha", help="q-value threshold."),
        taxonomy: Path | None = typer.Option(None, "--taxonomy", "-t", help="Feature taxonomy."),
        rank: str = typer.Option("genus", "--rank", help="Template rank, or 'none' to use features as read."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
    ) -> None:
        """Power and FDR of DA methods on cohorts simulated from a template fitted to TEMPLATE_TABLE."""
        from ..datasets._template import fit_template
        from ..tl._power import power_analysis

        try:
            sizes = [int(v) for v in n.split(",") if v.strip()]
        except ValueError:
            raise DataValueError(f"--n {n!r} is not a list of integers", fix="use e.g. --n 50,100,200") from None
        if not sizes or min(sizes) < 8:
            raise DataValueError(f"--n {n!r}: each size must be at least 8", fix="use e.g. --n 50,100,200")
        meth = [m.strip().lower() for m in methods.split(",") if m.strip()]
        adata = _read(template_table, taxonomy)
        template = fit_template(adata, rank=None if rank.lower() == "none" else rank)
        summary, reps = power_analysis(
            template, effect=effect, n=sizes, n_replicates=replicates, n_changed=n_changed, methods=meth,
            alpha=alpha, seed=seed, progress=lambda msg: typer.echo(msg, err=True),
        )
        tpl = template.copy()
        with atomic_directory(out) as tmp:
            _write_tsv(summary, tmp / "power.tsv")
            _write_tsv(reps, tmp / "replicates.tsv")
            _write_tsv(tpl, tmp / "template.tsv")
            _write_svg(_power_plot(summary, alpha), tmp / "power.svg")
        typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        share = float(summary["planted_tested"].mean()) if len(summary) else 0.0
        typer.echo(f"planted: {n_changed} taxa per cohort (±{abs(effect):g} log2), drawn among the taxa common "
                   f"enough to be tested; {share:.0%} of them passed the feature filter in the simulated cohorts "
                   "(replicates.tsv lists them)")
        typer.echo(f"template: {len(template)} taxa, precision {template.attrs['precision']:.3g}, "
                   f"median depth {template.attrs['depth_median']:.0f}; results in {out}")


def _power_plot(summary: Any, alpha: float) -> Any:
    import matplotlib.pyplot as plt

    from ..pl._style import palette, style

    methods = list(dict.fromkeys(summary["method"]))
    colors = palette(len(methods))
    with style():
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(6.4, 2.8), layout="constrained")
        for m, c in zip(methods, colors, strict=True):
            s = summary[summary["method"] == m]
            a1.errorbar(s["n"], s["power"], yerr=s["power_se"], color=c, marker="o", ms=3, label=m)
            a2.errorbar(s["n"], s["fdr"], yerr=s["fdr_se"], color=c, marker="o", ms=3, label=m)
        a2.axhline(alpha, ls="--", color="0.5", lw=0.8)
        a1.set_xlabel("total samples")
        a2.set_xlabel("total samples")
        a1.set_ylabel("power")
        a2.set_ylabel("empirical FDR")
        a1.set_ylim(0, 1.02)
        a2.set_ylim(0, max(0.2, float(summary["fdr"].max()) * 1.1))
        a1.legend(frameon=False)
        fig.suptitle("SYNTHETIC planted-truth cohorts")
    return a1
