"""Golden trajectories (SBML Test Suite style): fixed time points, stored CSV, tolerances.

Each case writes ``tests/golden/sim/<case>.csv`` (``time`` + variables) and
``<case>-settings.txt`` (start, duration, steps, variables, absolute, relative) when
``GUTBRAIN_REGEN_GOLDEN=1``; otherwise the libRoadRunner and SciPy results must match the
stored values within the stated tolerances.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutbrain import sim

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "sim"
ABS, REL = 1e-6, 1e-4

CASES = {
    "dobreva2021_lps2": (
        "dobreva2021", sim.lps_challenge(2.0, 12.0, n_points=25),
        ["TNF", "IL6", "IL8", "IL10", "PPT_pct"],
    ),
    "fermentation_fibre": (
        "fermentation",
        sim.Experiment(t_end=240.0, n_points=11, events=(sim.Event(0.0, "fibre_mult", 1.5),)),
        ["But", "Ac", "Pro", "BP", "Bac"],
    ),
    "gut_brain_lps": (
        "gut_brain", sim.lps_challenge(2.0, 24.0, n_points=13, warmup=24 * 21.0),
        ["but_mM", "LPS_fold", "TNF", "IL10", "Tol", "MG", "PPT_pct"],
    ),
    "stein2013_clindamycin": (
        "stein2013_glv",
        sim.Experiment(t_end=30.0, n_points=16,
                       events=(sim.Event(0.0, "u", 1.0), sim.Event(1.0, "u", 0.0))),
        ["lachno", "total", "x_Barnesiella", "x_Blautia", "x_Enterobacteriaceae"],
    ),
    "stein2013_probiotic_dose": (
        "stein2013_glv_probiotic",
        sim.Experiment(t_end=10.0, n_points=11, events=(sim.Event(0.0, "x_Probiotic", 0.1, "add"),)),
        ["x_Probiotic", "lachno", "total"],
    ),
}


def _write(case: str, df: pd.DataFrame, exp: sim.Experiment, variables: list[str]) -> None:
    df.to_csv(GOLDEN / f"{case}.csv", index=False, float_format="%.10g")
    (GOLDEN / f"{case}-settings.txt").write_text(
        f"start: 0\nduration: {exp.t_end:g}\nsteps: {exp.n_points - 1}\n"
        f"variables: {', '.join(variables)}\nabsolute: {ABS:g}\nrelative: {REL:g}\n"
        f"amount:\nconcentration:\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("backend", ["roadrunner", "scipy"])
def test_golden_trajectory(case: str, backend: str) -> None:
    model, exp, variables = CASES[case]
    df = sim.simulate(model, exp, outputs=variables, backend=backend)
    if os.environ.get("GUTBRAIN_REGEN_GOLDEN") == "1" and backend == "roadrunner":
        _write(case, df, exp, variables)
    expected = pd.read_csv(GOLDEN / f"{case}.csv")
    settings = dict(
        line.split(":", 1) for line in (GOLDEN / f"{case}-settings.txt").read_text().splitlines()
    )
    assert list(expected.columns) == ["time", *variables]
    np.testing.assert_allclose(
        df.to_numpy(), expected.to_numpy(),
        rtol=float(settings["relative"]), atol=float(settings["absolute"]),
    )
