"""``gutbrain diversity alpha|beta``: diversity of a feature table from the command line."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import DataValueError
from ._common import guarded

__all__ = ["register"]

diversity_app = typer.Typer(
    name="diversity",
    help="Alpha and beta diversity of a feature table (values equal scikit-bio's).",
    no_args_is_help=True,
)


def _read_table(path: Path) -> Any:
    """Read a table with gb.io.read when available, else the BIOM / QIIME 2 readers."""
    from .. import io as gio

    reader = getattr(gio, "read", None)
    if reader is not None:
        return reader(path)
    if path.suffix == ".qza":
        return gio.read_qza(path)
    return gio.read_biom(path)


def _read_tree(path: Path | None) -> Any:
    if path is None:
        return None
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.suffix == ".qza":
        from .. import io as gio

        return gio.read_qza(path)
    from ..tl._unifrac import load_tree

    return load_tree(str(path))


def _metrics(text: str, allowed: dict[str, str], what: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in allowed]
    if bad or not names:
        raise DataValueError(
            f"unknown {what} metric(s): {', '.join(bad) or '(none given)'}",
            fix=f"use any of {', '.join(allowed)}",
        )
    return names


@diversity_app.command("alpha")
@guarded
def alpha_cmd(
    table: Annotated[Path, typer.Argument(help="Feature table (BIOM, QIIME 2 .qza, TSV …).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output TSV: sample, one column per metric.")],
    metric: Annotated[str, typer.Option("--metric", "-m", help="Comma-separated metrics.")] = (
        "observed_features,shannon"
    ),
    tree: Annotated[Path | None, typer.Option("--tree", "-t", help="Newick tree (faith_pd).")] = None,
) -> None:
    """Alpha diversity of every sample: one row per sample."""
    from .._utils import atomic_write, escape_formula
    from ..tl._alpha import ALPHA_METRICS, alpha_diversity

    names = _metrics(metric, ALPHA_METRICS, "alpha diversity")
    adata = _read_table(table)
    alpha_diversity(adata, metrics=names, tree=_read_tree(tree))
    with atomic_write(out) as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["sample", *names])
        for sid, row in zip(adata.obs_names, adata.obs[names].itertuples(index=False)):
            w.writerow([escape_formula(sid), *(repr(float(v)) for v in row)])
    typer.echo(f"wrote {adata.n_obs} samples × {len(names)} metrics to {out}")


@diversity_app.command("beta")
@guarded
def beta_cmd(
    table: Annotated[Path, typer.Argument(help="Feature table (BIOM, QIIME 2 .qza, TSV …).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output TSV: square distance matrix.")],
    metric: Annotated[str, typer.Option("--metric", "-m", help="Distance metric.")] = "braycurtis",
    tree: Annotated[Path | None, typer.Option("--tree", "-t", help="Newick tree (UniFrac).")] = None,
) -> None:
    """Pairwise distances between samples as a square matrix with sample ids."""
    from .._utils import atomic_write, escape_formula
    from ..tl._beta import BETA_METRICS, beta_diversity

    (name,) = _metrics(metric, BETA_METRICS, "beta diversity")[:1]
    adata = _read_table(table)
    beta_diversity(adata, metric=name, tree=_read_tree(tree))
    D = adata.obsp[name]
    ids = list(adata.obs_names)
    with atomic_write(out) as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["", *(escape_formula(i) for i in ids)])
        for sid, row in zip(ids, D):
            w.writerow([escape_formula(sid), *(repr(float(v)) for v in row)])
    typer.echo(f"wrote a {len(ids)} × {len(ids)} {name} distance matrix to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``diversity`` command group to the gutbrain CLI."""
    app.add_typer(diversity_app, name="diversity")
