"""``gutbrain sample``: one sample's profile against a healthy reference (HTML, JSON, PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._errors import DataValueError
from ._common import guarded

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``sample`` to the gutbrain app."""

    @app.command("sample")
    @guarded
    def sample_cmd(
        table: Annotated[Path, typer.Argument(help="Taxon table: MetaPhlAn profile or merged table, BIOM, QIIME 2, TSV …")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
        sample: Annotated[str | None, typer.Option("--sample", "-s", help="Sample id (optional when the table holds one sample).")] = None,
        all_samples: Annotated[bool, typer.Option("--all", help="One page per sample plus DIR/index.html.")] = False,
        metadata: Annotated[Path | None, typer.Option("--metadata", "-m", help="Sample metadata (shown as given).")] = None,
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help="Feature taxonomy (16S tables).")] = None,
        pdf: Annotated[bool, typer.Option("--pdf", help="Also print DIR/sample.pdf with headless Chromium.")] = False,
        simulate: Annotated[bool, typer.Option("--simulate", help="Add the simulator's barrier/cytokine model hypothesis.")] = False,
        seed: Annotated[int, typer.Option("--seed", help="Random seed of --simulate.")] = 0,
    ) -> None:
        """Profile one sample against healthy reference populations: indices with percentiles, taxa
        with published evidence, cited statements and a fixed disclaimer. Research use; not a
        diagnosis and never advice. Writes DIR/sample.html and DIR/sample.json (and sample.pdf)."""
        from ..report import sample_profile, write_sample_profiles

        if all_samples and sample is not None:
            raise DataValueError("--sample and --all exclude each other",
                                 fix="give --sample ID for one sample, or --all for every sample")
        if all_samples:
            res = write_sample_profiles(table, out, metadata=metadata, taxonomy=taxonomy, pdf=pdf,
                                        simulate=simulate, seed=seed)
            typer.echo(f"wrote {len(res['samples'])} sample pages and {res['index']}")
            return
        if pdf:
            from ..report import PdfUnavailableError, pdf_available

            ok, why = pdf_available()
            if not ok:
                raise PdfUnavailableError("cannot print sample.pdf: no headless browser", fix=why)
        prof = sample_profile(table, sample, metadata=metadata, taxonomy=taxonomy, simulate=simulate, seed=seed)
        paths = prof.write(out, pdf=pdf)
        typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))
