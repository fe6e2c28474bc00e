"""Simulation ensembles and Sobol on Dask equal the serial runs for the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("roadrunner", reason="needs the sim extra (libroadrunner)")

import gutbrain as gb
import gutbrain.parallel as gp
from gutbrain import DataValueError
from gutbrain.sim import _analysis

NAMES = ["k_TNF", "k_6", "k_10"]


@pytest.fixture(scope="module")
def model():
    return gb.sim.load_model("gut_brain")


def test_ensemble_equals_serial(model, client):
    exp = gb.sim.lps_challenge()
    samples = gb.sim.sample_parameters(model.parameters, 24, random_state=0)
    serial = gb.sim.ensemble(model, exp, samples, n_jobs=1)
    dist = gp.ensemble_dask(model, exp, samples, client=client, chunk_size=5)
    assert dist.shape == serial.shape == (24, exp.n_points, len(model.outputs))
    assert np.isfinite(serial).all()
    np.testing.assert_array_equal(dist, serial)
    # the draws do move the trajectories (the comparison is not of constants)
    assert np.ptp(serial[:, :, model.outputs.index("TNF")].max(axis=1)) > 0


def test_ensemble_outputs_and_names_checked(model, client):
    exp = gb.sim.lps_challenge()
    samples = gb.sim.sample_parameters(model.parameters, 4, names=NAMES, evidence=None, random_state=1)
    assert list(samples.columns) == NAMES
    Y = gp.ensemble_dask("gut_brain", exp, samples, outputs=["TNF", "IL6"], client=client)
    np.testing.assert_array_equal(Y, gb.sim.ensemble(model, exp, samples, outputs=["TNF", "IL6"]))
    with pytest.raises(DataValueError, match="no parameter"):
        gp.ensemble_dask(model, exp, pd.DataFrame({"not_a_parameter": [1.0]}), client=client)
    assert gp.ensemble_dask(model, exp, samples.iloc[:0], client=client).shape[0] == 0


def test_sobol_equals_serial(client):
    # random_state != 0: SALib's analyze ignores seed=0 (``if seed:``), so seed 0 leaves
    # the bootstrap confidence intervals unseeded even in the serial run
    ref, ref_prov = gb.sim.sobol(n=8, parameters=NAMES, n_jobs=1, random_state=3)
    original = _analysis.ensemble
    res, prov = gp.sobol_dask(n=8, parameters=NAMES, random_state=3, client=client)
    assert _analysis.ensemble is original  # the module is left as it was
    assert prov["backend"] == "dask" and prov["runs"] == ref_prov["runs"] == 8 * (len(NAMES) + 2)
    pd.testing.assert_frame_equal(res, ref, check_exact=True)
    assert (res["ST"] > 0).any()


def test_sobol_restores_ensemble_on_error(client):
    original = _analysis.ensemble
    with pytest.raises(DataValueError, match="no variable"):  # raised inside the swapped ensemble
        gp.sobol_dask(n=8, parameters=NAMES, metrics={"x": ("not_a_variable", "max")}, client=client)
    assert _analysis.ensemble is original


def test_sobol_dask_hands_its_executor_to_sim_sobol(client, monkeypatch):
    # no module-level swap any more: gutbrain.sim.sobol receives the client's executor
    from distributed.cfexecutor import ClientExecutor

    seen = []
    real = _analysis.ensemble

    def spy(*args, **kwargs):
        seen.append(kwargs.get("executor"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_analysis, "ensemble", spy)
    res, _ = gp.sobol_dask(n=8, parameters=NAMES, random_state=3, client=client, chunk_size=7)
    assert len(seen) == 1 and isinstance(seen[0], ClientExecutor)
    ref, _ = gb.sim.sobol(n=8, parameters=NAMES, n_jobs=1, random_state=3)
    pd.testing.assert_frame_equal(res, ref, check_exact=True)
