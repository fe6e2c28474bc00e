"""``gutbrain da``: differential abundance from the command line (MaAsLin2 / MaAsLin 3 defaults)."""

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
            "--method",
            help="maaslin2 | maaslin3 | linda | prevalence | wilcoxon | ancombc | consensus.")] = "maaslin2",
        normalization: Annotated[str, typer.Option(
            "--normalization", help="TSS | CLR | CSS | TMM | NONE (maaslin3: TSS | CLR | NONE).")] = "TSS",
        transform: Annotated[str, typer.Option(
            "--transform", help="LOG | LOGIT | AST | NONE (maaslin3: LOG | PLOG | NONE).")] = "LOG",
        reference: Annotated[list[str] | None, typer.Option(
            "--reference", help='Reference level "COLUMN,LEVEL"; repeat the option for several columns.')] = None,
        min_prevalence: Annotated[float | None, typer.Option(
            "--min-prevalence", help="Feature filter (default 0.1; maaslin3: 0.0 as R).")] = None,
        min_abundance: Annotated[float, typer.Option("--min-abundance", help="Feature filter.")] = 0.0,
        standardize: Annotated[bool, typer.Option(
            "--standardize/--no-standardize", help="Z-score continuous metadata (MaAsLin2 default).")] = True,
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help="Feature taxonomy TSV.")] = None,
        seed: Annotated[int, typer.Option(
            "--seed", help="Seed of the consensus split-halves / of MaAsLin 3's median comparison "
            "(R's set.seed value).")] = 0,
        augment: Annotated[bool, typer.Option(
            "--augment/--no-augment", help="maaslin3: augmented prevalence fits (default on).")] = True,
        median_comparison: Annotated[bool, typer.Option(
            "--median-comparison/--no-median-comparison",
            help="maaslin3: test abundance coefficients against their term's median (default on).")] = True,
    ) -> None:
        """Test every feature for association with the formula terms; write a tidy TSV.

        Columns: feature, metadata, value, coef, stderr, N, N.not.0, pval, qval, method;
        with --method maaslin3: feature, metadata, value, name, coef, stderr,
        pval_individual, qval_individual, pval_joint, qval_joint, model, N, N_not_zero, error.
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
        ref = ";".join(r for r in (reference or []) if r.strip()) or None
        is3 = method.lower() == "maaslin3"
        options = {"augment": augment, "median_comparison_abundance": median_comparison} if is3 else None
        if not is3 and (not augment or not median_comparison):
            raise DataValueError(
                "--no-augment / --no-median-comparison apply to --method maaslin3 only",
                fix="drop them or use --method maaslin3",
            )
        res = diff_abundance(
            adata,
            formula=formula,
            method=method,
            normalization=normalization,
            transform=transform,
            reference=ref,
            min_prevalence=min_prevalence,
            min_abundance=min_abundance,
            standardize=standardize,
            random_state=seed,
            options=options,
        )
        write_delimited(res, out, float_format="%.15g", na_rep="NA" if is3 else "")
        if is3:
            n_sig = int(((res["qval_individual"] <= 0.1) & res["error"].isna()).sum())
            typer.echo(f"wrote {len(res)} rows ({n_sig} with qval_individual <= 0.1 and no error) to {out}")
        else:
            n_sig = int((res["qval"] <= 0.25).sum())
            typer.echo(f"wrote {len(res)} rows ({n_sig} with q <= 0.25) to {out}")
