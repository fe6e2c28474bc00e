"""``gutbrain metabolites``: read metabolite tables, associate them with taxa, predict them.

Commands::

    gutbrain metabolites associate TABLE --metabolites M [--map MAP] [--taxonomy T]
        [--metadata META] [--formula "~ age + (1|subject)"] --out DIR
    gutbrain metabolites predict TABLE [--taxonomy T] --metabolites M --target NAME
        [--metadata META --groups COL] --out DIR

Every output folder gets ``provenance.json`` (gutbrain version, inputs with sha256, parameters,
seed).  Input errors print one line and exit with code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import guarded

__all__ = ["register"]

_TableArg = Annotated[Path, typer.Argument(help="Microbiome table (BIOM, QIIME 2, MetaPhlAn, TSV …), untransformed.")]
_MetabOpt = Annotated[list[Path], typer.Option(
    "--metabolites", "-M", help="Metabolite table(s), TSV/CSV/xlsx in either orientation (repeat for several).")]
_MapOpt = Annotated[Path | None, typer.Option("--map", help="Metabolite map (compound id → name, HMDB, KEGG, class).")]
_TaxOpt = Annotated[Path | None, typer.Option("--taxonomy", "-t", help="Feature taxonomy.")]
_MetaOpt = Annotated[Path | None, typer.Option("--metadata", "-m", help="Sample metadata (TSV/CSV/xlsx).")]
_OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
_WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", help="Keep samples whose metadata COL equals a value: COL=V1[,V2] (repeatable), "
    "e.g. the time point the metabolites were measured at.")]
_ByOpt = Annotated[str | None, typer.Option(
    "--match-column", help="Metadata column holding the metabolite table's sample ids (default: detected).")]
_BdlOpt = Annotated[str, typer.Option(
    "--below-detection", help="How to read <LOD/ND cells: error | missing | zero | half-min | half-limit.")]
_TrOpt = Annotated[str, typer.Option(
    "--transform", help="What the metabolite values are: none | log | log2 | log10 | scaled.")]
_UnitOpt = Annotated[str | None, typer.Option("--unit", help="Unit of the metabolite values, e.g. umol/g.")]
_RankOpt = Annotated[str, typer.Option("--rank", help="Collapse taxa to this rank ('none': as read).")]
_LinOpt = Annotated[str | None, typer.Option(
    "--lineage-sep", help="Separator of unprefixed lineage names, e.g. '_' for Bacteria_Firmicutes_…_Roseburia.")]


def _exists(*paths: Path | None) -> None:
    for p in paths:
        if p is not None and not Path(p).exists():
            raise FileNotFoundError(2, "No such file", str(p))


def _read_meta(path: Path, adata: Any) -> Any:
    """Metadata with its id column detected by matching the table's sample ids when needed."""
    import pandas as pd

    from .._errors import GutbrainError, MetadataMismatchError
    from ..io import read_metadata

    ids = {str(s) for s in adata.obs_names}
    try:
        meta = read_metadata(path)
        if ids & {str(i) for i in meta.index}:
            return meta
    except GutbrainError:
        meta = None
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment=None)
    best, col = 0, None
    for c in raw.columns:
        k = len(ids & set(raw[c].astype(str).str.strip()))
        if k > best and raw[c].is_unique:
            best, col = k, c
    if col is None:
        raise MetadataMismatchError(
            "no metadata column holds the table's sample ids",
            path=path,
            fix="put the sample ids in the first column of the metadata",
        )
    return read_metadata(path, id_column=str(col))


def _load(
    table: Path, metabolites: list[Path], *, taxonomy: Path | None, metadata: Path | None,
    map_path: Path | None, where: list[str] | None, by: str | None, below_detection: str,
    transform: str, unit: str | None, lineage_sep: str | None = None,
) -> Any:
    from .._errors import DataValueError
    from ..io import attach_metabolites, attach_metadata, read

    _exists(table, taxonomy, metadata, map_path, *metabolites)
    if not metabolites:
        raise DataValueError("no metabolite table given", fix="pass --metabolites FILE")
    kw: dict[str, Any] = {} if taxonomy is None else {"taxonomy": taxonomy}
    if lineage_sep:
        kw["lineage_sep"] = lineage_sep
    adata = read(table, **kw)
    if metadata is not None:
        adata = attach_metadata(adata, _read_meta(metadata, adata), path=metadata)
    for cond in where or []:
        if "=" not in cond:
            raise DataValueError(f"--where {cond!r} is not COL=VALUE", fix="write e.g. --where Timepoint=D32")
        col, vals = cond.split("=", 1)
        col = col.strip()
        if col not in adata.obs.columns:
            raise DataValueError(f"--where: no metadata column {col!r}", path=metadata,
                                 fix=f"use one of {', '.join(map(str, adata.obs.columns[:12]))}")
        keep = adata.obs[col].astype(str).isin([v.strip() for v in vals.split(",")]).to_numpy()
        if not keep.any():
            raise DataValueError(f"--where {cond!r} keeps no sample", path=metadata,
                                 fix="check the column values")
        adata = adata[keep].copy()
    return attach_metabolites(
        adata, metabolites if len(metabolites) > 1 else metabolites[0], map=map_path, by=by,
        below_detection=below_detection, transform=transform, unit=unit,
    )


def _tsv(frame: Any, path: Path) -> None:
    from .._utils import atomic_write

    with atomic_write(path) as fh:
        frame.to_csv(fh, sep="\t", index=False, lineterminator="\n", float_format="%.6g")


def _svg(ax: Any, path: Path) -> None:
    from .._utils import atomic_write
    from ..pl._style import fig_to_svg

    with atomic_write(path) as fh:
        fh.write(fig_to_svg(ax.figure))


def _provenance(adata: Any, key: str, path: Path) -> None:
    from .._core import clean_uns
    from .._utils import atomic_write

    prov = {"gutbrain": clean_uns(dict(adata.uns.get("gutbrain", {}))),
            "metabolites": clean_uns(dict(adata.uns.get("metabolites", {}).get("params", {}))),
            key: clean_uns(dict(adata.uns.get(key, {}).get("params", {})))}
    with atomic_write(path) as fh:
        json.dump(prov, fh, indent=1, sort_keys=True, default=str)
        fh.write("\n")


def register(app: typer.Typer) -> None:
    """Add the ``metabolites`` command group to the gutbrain app."""
    sub = typer.Typer(help="Metabolite tables: taxon × metabolite associations and prediction of "
                      "metabolites (e.g. SCFAs) from the microbiome.", no_args_is_help=True)

    @sub.command("associate")
    @guarded
    def associate_cmd(
        table: _TableArg,
        metabolites: _MetabOpt,
        out: _OutOpt,
        map_path: _MapOpt = None,
        taxonomy: _TaxOpt = None,
        metadata: _MetaOpt = None,
        formula: Annotated[str | None, typer.Option(
            "--formula", "-f", help='Covariates and random intercepts, e.g. "~ age + (1|subject)".')] = None,
        method: Annotated[str, typer.Option("--method", help="lm | spearman.")] = "lm",
        mixed: Annotated[str, typer.Option("--mixed", help="approximate | exact (with (1|group)).")] = "approximate",
        taxa_transform: Annotated[str, typer.Option("--taxa-transform", help="clr | alr.")] = "clr",
        rank: _RankOpt = "genus",
        min_prevalence: Annotated[float, typer.Option("--min-prevalence")] = 0.1,
        proportionality: Annotated[bool, typer.Option("--rho/--no-rho", help="Add proportionality rho.")] = False,
        where: _WhereOpt = None,
        by: _ByOpt = None,
        below_detection: _BdlOpt = "error",
        transform: _TrOpt = "none",
        unit: _UnitOpt = None,
        lineage_sep: _LinOpt = None,
    ) -> None:
        """Test every taxon against every metabolite (CLR/ALR, covariates, BH over all pairs).

        Writes OUT/associations.tsv (taxon, metabolite, metabolite_name, class, coef, stderr,
        t, r, N, N.not.0, pval, qval, method), OUT/heatmap.svg and OUT/provenance.json.
        """
        from ..pl._metabolites import metabolite_heatmap
        from ..tl._metabolites import metabolite_associations

        adata = _load(table, metabolites, taxonomy=taxonomy, metadata=metadata, map_path=map_path,
                      where=where, by=by, below_detection=below_detection, transform=transform, unit=unit,
                      lineage_sep=lineage_sep)
        res = metabolite_associations(
            adata, formula=formula, method=method, mixed=mixed, taxa_transform=taxa_transform,
            rank=None if rank.lower() == "none" else rank, min_prevalence=min_prevalence,
            proportionality=proportionality,
        )
        out.mkdir(parents=True, exist_ok=True)
        _tsv(res, out / "associations.tsv")
        _svg(metabolite_heatmap(adata), out / "heatmap.svg")
        _provenance(adata, "metabolite_associations", out / "provenance.json")
        p = adata.uns["metabolite_associations"]["params"]
        mp = adata.uns["metabolites"]["params"]
        typer.echo(
            f"{p['n_taxa']} taxa × {p['n_metabolites']} metabolites = {p['n_pairs']} pairs on "
            f"{p['n_samples']} samples; {int((res['qval'] <= 0.05).sum())} pairs at q <= 0.05; "
            f"{mp['n_samples_without_measurement']} samples without metabolites; results in {out}"
        )

    @sub.command("predict")
    @guarded
    def predict_cmd(
        table: _TableArg,
        metabolites: _MetabOpt,
        target: Annotated[str, typer.Option("--target", help="Metabolite to predict (id or name, e.g. Butyrate).")],
        out: _OutOpt,
        taxonomy: _TaxOpt = None,
        metadata: _MetaOpt = None,
        groups: Annotated[str | None, typer.Option(
            "--groups", help="Metadata column held out together (subject, household, cage).")] = None,
        map_path: _MapOpt = None,
        models: Annotated[str, typer.Option(
            "--models", help="Candidates chosen by nested CV: ridge,enet,rf (and melonnpan).")] = "ridge,enet,rf",
        folds: Annotated[int, typer.Option("--folds", help="Outer folds.")] = 5,
        inner_folds: Annotated[int, typer.Option("--inner-folds", help="Inner folds (model choice).")] = 4,
        repeats: Annotated[int, typer.Option("--repeats", help="Outer CV repeats.")] = 1,
        rank: _RankOpt = "genus",
        min_prevalence: Annotated[float, typer.Option("--min-prevalence")] = 0.1,
        n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the CIs.")] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
        where: _WhereOpt = None,
        by: _ByOpt = None,
        below_detection: _BdlOpt = "error",
        transform: _TrOpt = "none",
        unit: _UnitOpt = None,
        lineage_sep: _LinOpt = None,
    ) -> None:
        """Out-of-fold prediction of a metabolite under grouped, nested cross-validation.

        Writes OUT/predictions.tsv (sample, observed, predicted, fold, …), OUT/metrics.tsv
        (Spearman, R², MAE with bootstrap CIs), OUT/baselines.tsv, OUT/top_taxa.tsv (with
        guilds and evidence), OUT/model_selection.tsv, OUT/observed_vs_predicted.svg and
        OUT/provenance.json.
        """
        from ..ml._predict import predict_metabolite
        from ..pl._metabolites import predicted_vs_observed

        adata = _load(table, metabolites, taxonomy=taxonomy, metadata=metadata, map_path=map_path,
                      where=where, by=by, below_detection=below_detection, transform=transform, unit=unit,
                      lineage_sep=lineage_sep)
        res = predict_metabolite(
            adata, target=target, groups=groups, models=tuple(m.strip() for m in models.split(",") if m.strip()),
            rank=None if rank.lower() == "none" else rank, n_splits=folds, inner_splits=inner_folds,
            n_repeats=repeats, min_prevalence=min_prevalence, n_boot=n_boot, random_state=seed,
        )
        out.mkdir(parents=True, exist_ok=True)
        _tsv(res.predictions, out / "predictions.tsv")
        _tsv(res.metrics, out / "metrics.tsv")
        _tsv(res.baselines, out / "baselines.tsv")
        _tsv(res.importances, out / "top_taxa.tsv")
        _tsv(res.selection, out / "model_selection.tsv")
        _svg(predicted_vs_observed(res), out / "observed_vs_predicted.svg")
        _provenance(adata, "predict_metabolite", out / "provenance.json")
        m = res.metrics.set_index("metric")
        p = res.params
        line = (f"{res.target}: Spearman {m.at['spearman', 'value']:.3f} "
                f"[{m.at['spearman', 'ci_low']:.3f}, {m.at['spearman', 'ci_high']:.3f}], "
                f"R² {m.at['r2', 'value']:.3f}, MAE {m.at['mae', 'value']:.3f} ({p['target_transform']} scale); "
                f"{p['scheme']}, {p['n_samples']} samples")
        if groups:
            line += f" in {p['n_groups']} groups"
        if p["n_missing_target"]:
            line += f"; {p['n_missing_target']} samples without a measurement left out"
        typer.echo(line + f"; results in {out}")

    app.add_typer(sub, name="metabolites")
