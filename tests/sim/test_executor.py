"""``gb.sim.ensemble`` / ``gb.sim.sobol`` on a ``concurrent.futures`` executor equal the serial runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("roadrunner", reason="needs the sim extra (libroadrunner)")

import gutbrain as gb
from gutbrain import DataValueError
from gutbrain.sim import _analysis

NAMES = ["k_TNF", "k_6", "k_10"]


@pytest.fixture(scope="module")
def model():
    return gb.sim.load_model("gut_brain")


@pytest.mark.parametrize("chunk_size", [None, 1, 5])
def test_thread_pool_ensemble_equals_serial(model, chunk_size):
    exp = gb.sim.lps_challenge()
    samples = gb.sim.sample_parameters(model.parameters, 12, random_state=4)
    serial = gb.sim.ensemble(model, exp, samples, n_jobs=1)
    with ThreadPoolExecutor(2) as ex:
        threaded = gb.sim.ensemble(model, exp, samples, executor=ex, chunk_size=chunk_size)
    assert threaded.shape == serial.shape == (12, exp.n_points, len(model.outputs))
    assert np.isfinite(serial).all()
    np.testing.assert_array_equal(threaded, serial)
    # the draws move the trajectories, so equality is not of constants
    tnf_peak = serial[:, :, model.outputs.index("TNF")].max(axis=1)
    assert np.unique(tnf_peak).size == 12


def test_executor_chunks_submitted_in_order(model):
    # a recording executor: every row lands in exactly one task and rows come back in order
    calls: list[int] = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            calls.append(args[-1].shape[0])
            return super().submit(fn, *args, **kwargs)

    exp = gb.sim.lps_challenge()
    samples = gb.sim.sample_parameters(model.parameters, 7, names=NAMES, evidence=None, random_state=2)
    with Recording(3) as ex:
        Y = gb.sim.ensemble("gut_brain", exp, samples, outputs=["TNF", "IL6"], executor=ex,
                            chunk_size=3)
    assert calls == [3, 2, 2]  # ceil(7 / 3) chunks from numpy.array_split
    np.testing.assert_array_equal(Y, gb.sim.ensemble(model, exp, samples, outputs=["TNF", "IL6"]))


def test_sobol_on_executor_equals_serial():
    ref, ref_prov = gb.sim.sobol(n=8, parameters=NAMES, n_jobs=1, random_state=3)
    original = _analysis.ensemble
    with ThreadPoolExecutor(2) as ex:
        res, prov = gb.sim.sobol(n=8, parameters=NAMES, random_state=3, executor=ex)
    assert _analysis.ensemble is original
    assert prov == ref_prov and prov["runs"] == 8 * (len(NAMES) + 2)
    pd.testing.assert_frame_equal(res, ref, check_exact=True)
    assert (res["ST"] > 0).any()


def test_bad_executor_and_chunk_size_are_gutbrain_errors(model):
    exp = gb.sim.lps_challenge()
    samples = gb.sim.sample_parameters(model.parameters, 2, random_state=0)
    with pytest.raises(DataValueError, match="Executor"):
        gb.sim.ensemble(model, exp, samples, executor=object())
    with ThreadPoolExecutor(1) as ex, pytest.raises(DataValueError, match="chunk_size"):
        gb.sim.ensemble(model, exp, samples, executor=ex, chunk_size=0)
    with ThreadPoolExecutor(1) as ex:
        assert gb.sim.ensemble(model, exp, samples.iloc[:0], executor=ex).shape == (0, exp.n_points, len(model.outputs))
