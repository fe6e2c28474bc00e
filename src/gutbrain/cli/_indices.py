"""``gutbrain index`` and ``gutbrain modules``: indices and module abundances from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import DataValueError
from .._utils import spreadsheet_safe
from ._common import guarded

__all__ = ["register"]

_HEALTH = {
    "gmhi": "Gut Microbiome Health Index (Gupta 2020), MetaPhlAn species profiles",
    "gmwi2": "Gut Microbiome Wellness Index 2 (Chang 2024), MetaPhlAn profiles",
    "health": "gutbrain's species-presence health index (value > 0: classed healthy; calibrated "
    "probability and threshold), MetaPhlAn species profiles",
}


def _catalogue() -> dict[str, str]:
    from ..tl._indices import _SPECS

    out = dict(_HEALTH)
    out.update({name: spec.description for name, spec in _SPECS.items()})
    return out


def _index_frame(name: str, adata: Any) -> Any:
    """Per-sample table: sample, value, coverage (+ index-specific columns)."""
    import pandas as pd

    if name == "gmhi":
        from ..tl._gmhi import gmhi

        value = gmhi(adata)
        return pd.DataFrame({
            "sample": adata.obs_names, "value": value.to_numpy(),
            "coverage": adata.obs["gmhi_coverage"].to_numpy(),
            "n_matched": adata.obs["gmhi_n_matched"].to_numpy(), "n_species": 50,
        })
    if name == "health":
        import numpy as np

        from ..ml import health_index

        value = health_index(adata).to_numpy()
        obs = adata.obs
        return pd.DataFrame({
            "sample": adata.obs_names, "value": value,
            "probability": obs["health_index_probability"].to_numpy(),
            "threshold": float(adata.uns["health_index"]["threshold"]),
            "class": np.where(np.isnan(value), "", np.where(value > 0, "healthy", "non-healthy")),
            "coverage": obs["health_index_coverage"].to_numpy(),
            "n_species_detected": obs["health_index_n_detected"].to_numpy(),
            "note": obs["health_index_note"].to_numpy(),
        })
    if name == "gmwi2":
        from ..tl._gmwi2 import gmwi2

        value = gmwi2(adata)
        info = adata.uns["gmwi2"]
        return pd.DataFrame({
            "sample": adata.obs_names, "value": value.to_numpy(),
            "coverage": adata.obs["gmwi2_coverage"].to_numpy(),
            "n_features_matched": info["n_features_matched"],
            "n_model_features": info["n_model_features"],
            "n_present": adata.obs["gmwi2_n_present"].to_numpy(),
        })
    from ..tl._indices import gut_brain_indices

    wide = gut_brain_indices(adata, indices=[name])
    out = pd.DataFrame({"sample": adata.obs_names,
                        "value": wide[f"gbi_{name}"].to_numpy(),
                        "coverage": wide[f"gbi_{name}_coverage"].to_numpy()})
    for col in wide.columns:
        if col not in {f"gbi_{name}", f"gbi_{name}_coverage"}:
            out[col.replace(f"gbi_{name}_", "")] = wide[col].to_numpy()
    return out


def register(app: typer.Typer) -> None:
    """Add ``index`` and ``modules`` to the gutbrain app."""

    @app.command("index")
    @guarded
    def index_cmd(
        name: Annotated[str, typer.Argument(help="Index name, or 'list' to list them.")],
        table: Annotated[Path | None, typer.Argument(help="Taxon table (MetaPhlAn, BIOM, TSV …).")] = None,
        taxonomy: Annotated[Path | None, typer.Option("--taxonomy", "-t", help="Feature taxonomy TSV.")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output TSV (one row per sample).")] = None,
    ) -> None:
        """Compute one index per sample (columns sample, value, coverage, …); 'list' lists names."""
        cat = _catalogue()
        if name == "list":
            for key, desc in cat.items():
                typer.echo(f"{key}\t{desc}")
            return
        if name not in cat:
            raise DataValueError(f"unknown index {name!r}",
                                 fix=f"use one of {', '.join(cat)} (see 'gutbrain index list')")
        if table is None or out is None:
            raise DataValueError(f"'gutbrain index {name}' needs TABLE and --out",
                                 fix=f"run 'gutbrain index {name} TABLE --out FILE.tsv'")
        from .. import io
        from .._utils import atomic_write

        # MetaPhlAn files are read with every rank: GMWI2 scores clades of every rank, the
        # other indices take the rank they need (gutbrain.taxonomy.match_taxa)
        kwargs = {"rank": "all"} if io.sniff_format(table) == "metaphlan" else {}
        adata = io.read(table, taxonomy=taxonomy, **kwargs)
        frame = _index_frame(name, adata)
        with atomic_write(out) as fh:
            spreadsheet_safe(frame).to_csv(fh, sep="\t", index=False, lineterminator="\n")
        typer.echo(f"wrote {len(frame)} samples to {out}")

    @app.command("modules")
    @guarded
    def modules_cmd(
        ko_table: Annotated[Path, typer.Argument(help="KO × samples TSV (first column = KO ids).")],
        definitions: Annotated[Path, typer.Option(
            "--definitions", "-d", help="Module definition file (GMM/GBM format; user-supplied).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output TSV (module, name, then samples).")],
        coverage: Annotated[str, typer.Option(
            "--coverage", "-c", help="Minimum module coverage in [0, 1], or 'auto'.")] = "0.66",
        score: Annotated[str, typer.Option("--score", "-s", help="median or average.")] = "median",
        normalize_by_length: Annotated[bool, typer.Option(
            "--normalize-by-length", help="Count missing steps (Omixer-RPM -n).")] = False,
        names: Annotated[Path | None, typer.Option(
            "--names", help="Optional .names file (ID<TAB>name).")] = None,
        coverage_out: Annotated[Path | None, typer.Option(
            "--coverage-out", help="Also write the coverage matrix here.")] = None,
    ) -> None:
        """Module abundances from a KO table (Omixer-RPM algorithm, definitions supplied by you)."""
        import pandas as pd

        from .._errors import InputFormatError
        from .._utils import write_delimited
        from ..tl._modules import module_abundance, module_names

        if not ko_table.exists():
            raise FileNotFoundError(2, "No such file", str(ko_table))
        if coverage == "auto":
            cov: float | str = "auto"
        else:
            try:
                cov = float(coverage)
            except ValueError:
                raise DataValueError(f"--coverage {coverage!r} is not a number",
                                     fix="give a number in [0, 1] or 'auto'") from None
        sep = "," if ko_table.suffix.lower() == ".csv" else "\t"
        try:
            ko = pd.read_csv(ko_table, sep=sep, index_col=0, comment=None)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputFormatError(f"cannot parse the KO table ({exc})", path=ko_table,
                                   fix="give a tab-separated KO × samples table") from None
        if ko.shape[1] == 0:
            raise InputFormatError("no sample columns", path=ko_table, line=1,
                                   fix="give a tab-separated KO × samples table with a header")
        bad = [c for c in ko.columns if not pd.api.types.is_numeric_dtype(ko[c])]
        if bad:
            raise DataValueError(f"non-numeric values in sample column {bad[0]!r}", path=ko_table,
                                 column=str(bad[0]), fix="give numeric KO abundances")
        ab, cv = module_abundance(ko, definitions, coverage=cov, score=score,
                                  normalize_by_length=normalize_by_length, names=names)
        for frame, path in ((ab, out), (cv, coverage_out)):
            if path is None:
                continue
            table = frame.copy()
            table.insert(0, "name", module_names(frame).to_numpy())
            write_delimited(table.reset_index(), path)
        typer.echo(f"wrote {len(ab)} modules (coverage cut-off {ab.attrs['coverage_cutoff']:.3g}) to {out}")
