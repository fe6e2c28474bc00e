"""``gutbrain simulate``: LPS challenge, scenarios, Sobol sensitivity, SBML export."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .._utils import atomic_directory
from ._common import guarded

__all__ = ["register"]

simulate_app = typer.Typer(
    help=(
        "Mechanistic gut-brain simulation. Only the LPS -> cytokine -> pain-threshold core is "
        "calibrated in humans; other links are hypotheses (bands, not predictions; not "
        "treatment advice)."
    ),
    no_args_is_help=True,
)


def _write_tsv(df: Any, path: Path) -> None:
    from .._utils import write_delimited

    write_delimited(df, path, float_format="%.6g")


def _write_json(obj: Any, path: Path) -> None:
    from .._utils import atomic_write

    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, default=str)
        fh.write("\n")


def _write_fig(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    from .._utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "svg", bbox_inches="tight",
                    metadata={"Creator": _creator()} if path.suffix == ".svg" else None)
    plt.close(fig)


def _creator() -> str:
    from .._version import __version__

    return f"gutbrain {__version__}"


def _read_sample_table(path: str) -> Any:
    """Sample metadata (or the ``obs`` of an ``.h5ad``) holding per-sample index columns."""
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file", path)
    if path.endswith(".h5ad"):
        from ..io import read_h5ad

        return read_h5ad(path).obs
    from ..io import read_metadata

    return read_metadata(path)


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command group."""
    app.add_typer(simulate_app, name="simulate")


@simulate_app.command("lps")
@guarded
def lps_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    dose: Annotated[float, typer.Option("--dose", help="LPS bolus, ng/kg (i.v.).")] = 2.0,
    hours: Annotated[float, typer.Option("--hours", help="Simulated hours after the bolus.")] = 24.0,
) -> None:
    """LPS bolus in the human-calibrated core → trajectory.tsv (time_h, TNF, IL6, IL8, IL10, PPT)."""
    from .. import sim
    from .._version import __version__
    from ..pl._sim import sim_lps_validation
    from ..sim._report import validation_comparison

    exp = sim.lps_challenge(dose, hours)
    traj = sim.simulate("dobreva2021", exp, outputs=["TNF", "IL6", "IL8", "IL10", "PPT_pct"])
    table = traj.rename(columns={"time": "time_h", "PPT_pct": "PPT"})
    with atomic_directory(out) as tmp:  # complete or not at all (manifest last)
        _write_tsv(table, tmp / "trajectory.tsv")
        _write_fig(sim_lps_validation(table, dose=dose), tmp / "trajectory.svg")
        prov: dict[str, Any] = {
            "gutbrain_version": __version__, "command": "simulate lps", "model": "dobreva2021",
            "evidence": "calibrated_human", "experiment": exp.to_dict(),
            "parameters": sim.load_model("dobreva2021").values, "seed": None,
            "units": {"time_h": "h", "TNF": "pg/mL", "IL6": "pg/mL", "IL8": "pg/mL",
                      "IL10": "pg/mL", "PPT": "% of baseline"},
            "references": ["doi:10.1113/JP280883"], "disclaimer": sim.DISCLAIMER,
        }
        if abs(dose - 2.0) < 1e-12 and hours >= 6:
            comp = validation_comparison(traj)
            _write_tsv(comp, tmp / "validation.tsv")
            prov["validation_within_ranges"] = bool(comp["within"].all())
        _write_json(prov, tmp / "provenance.json")
    peak = table["TNF"].idxmax()
    typer.echo(
        f"LPS {dose:g} ng/kg: TNF peak {table['TNF'].max():.0f} pg/mL at "
        f"{table['time_h'][peak]:.2f} h; PPT minimum {table['PPT'].min():.1f} % of baseline. "
        f"Wrote {out / 'trajectory.tsv'}"
    )


@simulate_app.command("scenario")
@guarded
def scenario_cmd(
    name: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML/JSON scenario file.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    sample_table: Annotated[
        str | None,
        typer.Option("--sample-table", help="Per-sample indices (gbi_* columns; TSV/CSV/h5ad)."),
    ] = None,
    ensemble: Annotated[int, typer.Option("--ensemble", help="Ensemble size.")] = 1000,
    group: Annotated[
        str | None, typer.Option("--group", help="With --sample-table: run group medians.")
    ] = None,
    butyrate: Annotated[str, typer.Option(help="Butyrate-capacity column.")] = "gbi_butyrate_capacity",
    endotoxin: Annotated[str, typer.Option(help="Endotoxin-potential column.")] = "gbi_endotoxin_potential",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes (0 = all cores).")] = 0,
) -> None:
    """Run an intervention scenario as an ensemble; write quantile bands and a plot."""
    from .. import sim
    from ..pl._sim import sim_bands

    sc = sim.get_scenario(name)
    profiles = None
    if sample_table is not None:
        table = _read_sample_table(sample_table)
        profiles = sim.profile_inputs(table, butyrate=butyrate, endotoxin=endotoxin,
                                      groupby=group)
    res = sim.run_scenario(sc, n=ensemble, profiles=profiles, random_state=seed,
                           n_jobs=None if jobs == 0 else jobs)
    bands = res.bands()
    with atomic_directory(out) as tmp:  # complete or not at all (manifest last)
        _write_tsv(bands, tmp / "bands.tsv")
        _write_tsv(res.endpoint(), tmp / "endpoint.tsv")
        _write_tsv(res.samples, tmp / "parameter_draws.tsv")
        if profiles is not None:
            _write_tsv(profiles.reset_index(names="label"), tmp / "profile_inputs.tsv")
        day = sim.load_model(sc.model).time_unit == "hour" and res.times[-1] > 72
        _write_fig(sim_bands(bands, time_scale=24.0 if day else 1.0,
                             time_label="time (days)" if day else "time (h)", title=sc.name),
                   tmp / "bands.svg")
        _write_json(res.provenance, tmp / "provenance.json")
    typer.echo(f"scenario {sc.name}: {ensemble} draws x {len(res.draws)} profile(s); "
               f"wrote {out / 'bands.tsv'} (hypothesis links: bands, not predictions)")


@simulate_app.command("sobol")
@guarded
def sobol_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    n: Annotated[int, typer.Option("--n", help="Base sample size (power of 2).")] = 1024,
    scenario: Annotated[str, typer.Option("--scenario")] = "lps_chain",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes (0 = all cores).")] = 0,
) -> None:
    """Sobol indices (SALib) of scenario metrics over every uncertain parameter."""
    import matplotlib.pyplot as plt

    from .. import sim

    table, prov = sim.sobol(scenario, n=n, n_jobs=None if jobs == 0 else jobs, random_state=seed)
    with atomic_directory(out) as tmp:  # complete or not at all (manifest last)
        _write_tsv(table, tmp / "sobol.tsv")
        metrics = list(dict.fromkeys(table["metric"]))
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 4), squeeze=False)
        for ax, m in zip(axes[0], metrics):
            g = table[table["metric"] == m].nlargest(8, "ST")
            ax.barh(g["parameter"], g["ST"], color="0.4", label="total")
            ax.barh(g["parameter"], g["S1"], color="k", label="first order")
            ax.invert_yaxis()
            ax.set_title(m, fontsize=9)
            ax.tick_params(labelsize=7)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        _write_fig(fig, tmp / "sobol.svg")
        _write_json(prov, tmp / "provenance.json")
    typer.echo(f"Sobol: {prov['runs']} runs over {len(prov['parameters'])} parameters; "
               f"wrote {out / 'sobol.tsv'}")


@simulate_app.command("export-sbml")
@guarded
def export_sbml_cmd(
    model: Annotated[str, typer.Argument(help="Model name (see gutbrain.sim.list_models()).")],
    out: Annotated[Path, typer.Argument(help="Output SBML file.")],
) -> None:
    """Write a model as SBML (validated with libsbml; loadable in libRoadRunner)."""
    from .. import sim
    from .._errors import GutbrainError
    from .._utils import atomic_write

    text = sim.to_sbml(model)
    report = sim.validate_sbml(text)
    if report["errors"]:
        raise GutbrainError(f"SBML of {model!r} has {report['errors']} errors: "
                            f"{report['messages'][0]}")
    with atomic_write(out) as fh:
        fh.write(text)
    typer.echo(f"wrote {out} ({model}; libsbml: 0 errors, {report['warnings']} warnings)")
