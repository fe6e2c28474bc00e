"""Core commands: ``inspect``, ``convert``, ``run``, ``demo`` and ``--version``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import guarded, set_debug

__all__ = ["inspect_summary", "register"]

_TABLE_HELP = (
    "Feature table: BIOM (JSON/HDF5), QIIME 2 .qza, MetaPhlAn, HUMAnN, TSV/CSV/xlsx or .h5ad; "
    "the format is detected from the content."
)
_TAX_HELP = "Taxonomy table (TSV/CSV, Greengenes/SILVA/GTDB/MetaPhlAn lineages) or FeatureData[Taxonomy] .qza."
_META_HELP = "Sample metadata (QIIME 2 metadata TSV, CSV/TSV or xlsx); first column = sample id."


def inspect_summary(adata: Any) -> dict[str, Any]:
    """What ``gutbrain inspect`` reports about a read table: :func:`gutbrain.io.summary`."""
    from ..io._summary import summary

    return summary(adata)


def _num(v: float) -> str:
    from .._format import format_number

    return format_number(v)


def _print_summary(info: dict[str, Any]) -> None:
    echo = typer.echo
    if info["synthetic"]:
        echo("SYNTHETIC DATA (simulated by gutbrain)")
    echo(f"file:        {info['file'] or '(in memory)'}")
    echo(f"format:      {info['format']}  (reader: {info['reader']})")
    echo(f"values:      {info['value_kind']} — {info['value_kind_description']}")
    echo(f"samples:     {info['samples']}")
    echo(f"features:    {info['features']}")
    echo(f"sparsity:    {100 * info['sparsity']:.1f} % zeros ({info['storage']} storage)")
    d = info["depth"]
    label = "depth:     " if info["value_kind"] == "counts" else "totals:    "
    echo(f"{label}  min {_num(d['min'])}, median {_num(d['median'])}, max {_num(d['max'])}")
    if info["ranks"]:
        n = info["features"]
        echo("ranks:       " + ", ".join(f"{r} {c}/{n}" for r, c in info["ranks"].items() if c))
    else:
        echo("ranks:       none (no taxonomy)")
    if info["metadata"]:
        echo(f"metadata:    {len(info['metadata'])} columns")
        width = max(len(m["column"]) for m in info["metadata"])
        for m in info["metadata"]:
            miss = f", {m['missing']} missing" if m["missing"] else ""
            echo(f"  {m['column']:<{width}}  {m['type']}{miss}: {m['summary']}")
    else:
        echo("metadata:    none")


def _version_callback(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"gutbrain {__version__}")
        raise typer.Exit()


def register(app: typer.Typer) -> None:
    """Add the core commands to ``app``."""

    @app.callback()
    def _main(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                help="Print the gutbrain version and exit.",
                callback=_version_callback,
                is_eager=True,
            ),
        ] = False,
        debug: Annotated[
            bool,
            typer.Option("--debug", help="On an error, also print the Python traceback."),
        ] = False,
    ) -> None:
        """gutbrain: microbiota–gut–brain analysis for chronic pain research. Not medical advice."""
        set_debug(debug)

    @app.command("inspect")
    @guarded
    def inspect_cmd(
        table: Annotated[Path, typer.Argument(help=_TABLE_HELP, show_default=False, metavar="TABLE")],
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help=_TAX_HELP)] = None,
        metadata: Annotated[Path | None, typer.Option("--metadata", "-m", help=_META_HELP)] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")
        ] = False,
    ) -> None:
        """Show what gutbrain reads from a table: format, value kind, samples, features, ranks present, sparsity, depth distribution and metadata columns with their types."""
        from .. import io
        from ..workflow import load

        adata = load(table, taxonomy=taxonomy, metadata=metadata)
        info = io.summary(adata)
        if as_json:
            typer.echo(json.dumps(info, indent=2, sort_keys=True, default=str))
        else:
            _print_summary(info)

    @app.command("convert")
    @guarded
    def convert_cmd(
        table: Annotated[Path, typer.Argument(help=_TABLE_HELP, show_default=False, metavar="TABLE")],
        out: Annotated[
            Path,
            typer.Argument(
                help="Output file; its suffix picks the format: .biom (BIOM 2.1), .h5ad, .tsv, .parquet.",
                show_default=False,
                metavar="OUT",
            ),
        ],
        rank: Annotated[
            str | None,
            typer.Option(
                "--rank",
                "-r",
                help="Sum features to this rank first (domain, phylum, class, order, family, genus, species, strain).",
            ),
        ] = None,
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help=_TAX_HELP)] = None,
        metadata: Annotated[Path | None, typer.Option("--metadata", "-m", help=_META_HELP)] = None,
    ) -> None:
        """Convert a table to another format (written atomically, with provenance).

        With --rank, features of one organism are summed (gb.pp.collapse): homonyms such as
        Greengenes [Ruminococcus] and Ruminococcus stay apart, each output feature keeps its
        lineage (the taxonomy column of a TSV), and a MetaPhlAn profile keeps MetaPhlAn's own
        rows at that rank.
        """
        from .. import io, pp
        from .._core import RANKS
        from .._errors import DataValueError
        from ..workflow import load

        if rank is not None and rank not in RANKS:
            raise DataValueError(f"unknown rank {rank!r}", fix=f"use one of {', '.join(RANKS)}")
        source: Any = table
        if rank is not None and table.is_file() and io.sniff_format(table) == "metaphlan":
            # every clade row: the collapse then uses MetaPhlAn's own rows at the rank
            source = io.read(table, rank="all")
        adata = load(source, taxonomy=taxonomy, metadata=metadata)
        if rank is not None:
            adata = pp.collapse(adata, rank)
        path = io.write(adata, out)
        typer.echo(f"wrote {path} ({adata.n_obs} samples × {adata.n_vars} features)")

    @app.command("run")
    @guarded
    def run_cmd(
        table: Annotated[Path, typer.Argument(help=_TABLE_HELP, show_default=False, metavar="TABLE")],
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help=_TAX_HELP)] = None,
        metadata: Annotated[Path | None, typer.Option("--metadata", "-m", help=_META_HELP)] = None,
        group: Annotated[
            str | None,
            typer.Option("--group", "-g", help="Metadata column with the groups to compare (e.g. diagnosis)."),
        ] = None,
        reference: Annotated[
            list[str] | None,
            typer.Option("--reference", help="Reference level as COLUMN,LEVEL (e.g. diagnosis,control); "
                         "repeat for covariates. Default: a level named like a control, else the first."),
        ] = None,
        covariates: Annotated[
            str | None,
            typer.Option("--covariates", help="Columns to adjust for, comma-separated (e.g. age,sex,bmi)."),
        ] = None,
        formula: Annotated[
            str | None,
            typer.Option("--formula", help='Model formula instead of --covariates, e.g. "~ diagnosis + age + sex"; '
                         "the first term is the group."),
        ] = None,
        subject: Annotated[
            str | None,
            typer.Option("--subject", help="Column naming the subject of repeated samples: random intercepts in "
                         "differential abundance, grouped cross-validation, PERMANOVA permuting whole subjects."),
        ] = None,
        where: Annotated[
            str | None,
            typer.Option("--where", help='Keep only samples matching this condition on the metadata, e.g. '
                         '"BODY_SITE == \'UBERON:feces\' and AGE >= 18" (quote text values).'),
        ] = None,
        id_column: Annotated[
            str | None,
            typer.Option("--id-column", help="Metadata column with the sample ids (default: the column that "
                         "matches the table's sample ids)."),
        ] = None,
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Output directory (replaced only when the run completes).")
        ] = Path("gutbrain-out"),
        seed: Annotated[int, typer.Option("--seed", help="Random seed for permutations and cross-validation.")] = 0,
        tree: Annotated[
            Path | None, typer.Option("--tree", help="Rooted phylogeny (.qza or Newick) for phylogenetic metrics.")
        ] = None,
        rank: Annotated[str, typer.Option("--rank", help="Rank for composition, differential abundance and "
                                          "the classifier.")] = "genus",
        metabolites: Annotated[
            list[Path] | None,
            typer.Option("--metabolites", help="Metabolite table(s) of the same samples (TSV/CSV/xlsx, either "
                         "orientation): adds the metabolite section. Repeat for several tables."),
        ] = None,
        metabolite_map: Annotated[
            Path | None,
            typer.Option("--metabolite-map", help="Metabolite map (compound id, name, HMDB/KEGG/ChEBI, class)."),
        ] = None,
        no_progress: Annotated[
            bool, typer.Option("--no-progress", help="Do not show the progress bar.")
        ] = False,
    ) -> None:
        """Analyse a cohort: design check, QC, composition, diversity, indices, differential abundance, classifier, evidence, simulation.

        Writes OUT/report.html (one self-contained file), OUT/tables/*.tsv and OUT/gutbrain.h5ad (the full record with provenance).
        """
        from ..workflow import run

        adata = run(
            table, taxonomy=taxonomy, metadata=metadata, group=group, out=out, reference=reference,
            covariates=covariates, formula=formula, subject=subject, where=where, id_column=id_column,
            seed=seed, tree=tree, rank=rank, progress=not no_progress,
            metabolites=(metabolites if len(metabolites) > 1 else metabolites[0]) if metabolites else None,
            metabolite_map=metabolite_map,
        )
        _report_written(out, adata)

    @app.command("demo")
    @guarded
    def demo_cmd(
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Output directory (created).")
        ] = Path("gutbrain-demo"),
        seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic cohort and the analysis.")] = 0,
        no_progress: Annotated[
            bool, typer.Option("--no-progress", help="Do not show the progress bar.")
        ] = False,
    ) -> None:
        """Run the analysis on the embedded SYNTHETIC chronic-pain cohort and print the report's path.

        Nothing is downloaded: the cohort (200 samples × 300 genera, cases vs controls, with planted effects whose recovery the report shows) is simulated by gutbrain.datasets.demo_cohort.
        """
        from ..datasets import DEMO_RUN, demo_cohort
        from ..workflow import run

        adata = run(demo_cohort(seed), out=out, seed=seed, progress=not no_progress, **DEMO_RUN)
        typer.echo("SYNTHETIC demo cohort (simulated by gutbrain; not data from people).")
        _report_written(out, adata)


def _report_written(out: Path, adata: Any) -> None:
    errors = dict(adata.uns.get("workflow", {}).get("step_errors", {}))
    for key, msg in errors.items():
        typer.echo(f"note: step {key!r} failed and its results are missing: {msg}", err=True)
    typer.echo(f"tables: {(out / 'tables').resolve()}")
    typer.echo(f"data:   {(out / 'gutbrain.h5ad').resolve()}")
    typer.echo(f"report: {(out / 'report.html').resolve()}")
