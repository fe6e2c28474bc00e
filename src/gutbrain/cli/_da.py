"""``gutbrain da``: differential abundance from the command line (MaAsLin2 defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import guarded

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``da`` to the gutbrain app."""

    @app.command("da")
    @guarded
    def da_cmd(
        table: Annotated[Path, typer.Argument(help="Feature table (BIOM, TSV/CSV, MetaPhlAn, .qza …).")],
        metadata: Annotated[Path, typer.Option("--metadata", "-m", help="Sample metadata (TSV/CSV).")],
        formula: Annotated[str, typer.Option(
            "--formula", "-f", help='Model, e.g. "~ Case_status + age + (1|subject)".')],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output TSV (one row per feature × term).")],
        method: Annotated[str, typer.Option(
            "--method", help="maaslin2 | linda | prevalence | wilcoxon | ancombc | consensus.")] = "maaslin2",
        normalization: Annotated[str, typer.Option(
            "--normalization", help="TSS | CLR | CSS | TMM | NONE (maaslin2).")] = "TSS",
        transform: Annotated[str, typer.Option(
            "--transform", help="LOG | LOGIT | AST | NONE (maaslin2).")] = "LOG",
        reference: Annotated[str | None, typer.Option(
            "--reference", help='Reference level "COLUMN,LEVEL" (several: "a,x;b,y").')] = None,
        min_prevalence: Annotated[float, typer.Option("--min-prevalence", help="MaAsLin2 filter.")] = 0.1,
        min_abundance: Annotated[float, typer.Option("--min-abundance", help="MaAsLin2 filter.")] = 0.0,
        standardize: Annotated[bool, typer.Option(
            "--standardize/--no-standardize", help="Z-score continuous metadata (MaAsLin2 default).")] = True,
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help="Feature taxonomy TSV.")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the consensus split-halves.")] = 0,
    ) -> None:
        """Test every feature for association with the formula terms; write a tidy TSV.

        Columns: feature, metadata, value, coef, stderr, N, N.not.0, pval, qval, method.
        """
        from .._errors import DataValueError
        from .._utils import write_delimited
        from ..io import read
        from ..tl._da import diff_abundance

        for p in (table, metadata):
            if not p.exists():
                raise FileNotFoundError(2, "No such file", str(p))
        from ..io import attach_metadata, read_metadata

        kwargs = {} if taxonomy is None else {"taxonomy": taxonomy}
        adata = read(table, **kwargs)
        meta = read_metadata(metadata)
        ids = {str(i) for i in meta.index}
        if not ids & set(map(str, adata.obs_names)) and ids & set(map(str, adata.var_names)):
            # MaAsLin2 accepts either orientation: match the sample ids to the metadata
            from ..io import read_table

            adata = read_table(table, orientation="features-as-rows"
                               if adata.uns["gutbrain"]["params"].get("orientation") == "samples-as-rows"
                               else "samples-as-rows")
        adata = attach_metadata(adata, meta, path=metadata)
        if adata.n_obs < 3:
            raise DataValueError(
                f"only {adata.n_obs} samples are shared by the table and the metadata",
                path=metadata,
                fix="check that the metadata's first column holds the table's sample ids",
            )
        res = diff_abundance(
            adata,
            formula=formula,
            method=method,
            normalization=normalization,
            transform=transform,
            reference=reference,
            min_prevalence=min_prevalence,
            min_abundance=min_abundance,
            standardize=standardize,
            random_state=seed,
        )
        write_delimited(res, out, float_format="%.15g")
        n_sig = int((res["qval"] <= 0.25).sum())
        typer.echo(f"wrote {len(res)} rows ({n_sig} with q <= 0.25) to {out}")
