"""Sobol sensitivity (SALib) and least-squares calibration with identifiability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutbrain import GutbrainError, sim


def test_sobol_indices_separate_influential_from_inert_parameters():
    names = ["k_TNFM", "k_TNF", "k_8M", "k_8"]
    table, prov = sim.sobol("lps", n=64, parameters=names, n_jobs=1,
                            metrics={"TNF_peak": ("TNF", "max"), "IL8_peak": ("IL8", "max")})
    assert prov["runs"] == 64 * (len(names) + 2)
    st = table.pivot(index="parameter", columns="metric", values="ST")
    # IL-8 parameters cannot change TNF in the Dobreva model: total index exactly zero
    assert st.loc["k_8M", "TNF_peak"] == pytest.approx(0.0, abs=1e-12)
    assert st.loc["k_8", "TNF_peak"] == pytest.approx(0.0, abs=1e-12)
    assert st.loc["k_TNFM", "TNF_peak"] > st.loc["k_TNF", "TNF_peak"] > 0.05
    assert (st.loc[["k_8M", "k_8"], "IL8_peak"] > 1e-3).all()  # they do act on IL-8


def test_sobol_rejects_bad_n():
    with pytest.raises(GutbrainError, match="power of 2"):
        sim.sobol("lps", n=100)


def test_calibration_recovers_parameters_and_flags_unidentifiable():
    truth = {"k_TNFM": 0.69712 * 1.3, "k_TNF": 1.4873 * 0.85}
    exp = sim.lps_challenge(2.0, 8.0)
    times = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0])
    full = sim.simulate("dobreva2021", sim.lps_challenge(2.0, 8.0, n_points=17),
                        parameters=truth, outputs=["TNF", "IL6"])
    data = full[full["time"].isin(times)].rename(columns={"time": "time_h"})
    fit = sim.calibrate("dobreva2021", data, ["k_TNFM", "k_TNF"], exp)
    assert fit.success
    for k, v in truth.items():
        assert fit.estimates.loc[k, "estimate"] == pytest.approx(v, rel=1e-3)
    # IL-8 parameters do not affect TNF/IL-6 data: flagged as not identifiable
    fit2 = sim.calibrate("dobreva2021", data, ["k_TNFM", "k_8M"], exp)
    assert bool(fit2.identifiable["k_TNFM"]) and not bool(fit2.identifiable["k_8M"])
    assert np.allclose(np.diag(fit.correlation), 1.0)


def test_calibration_input_errors_name_the_column():
    exp = sim.lps_challenge(2.0, 8.0)
    with pytest.raises(GutbrainError, match="time_h"):
        sim.calibrate("dobreva2021", pd.DataFrame({"t": [1.0], "TNF": [3.0]}), ["k_TNF"], exp)
    with pytest.raises(GutbrainError, match="not model variables"):
        sim.calibrate("dobreva2021", pd.DataFrame({"time_h": [1.0], "CRP": [3.0]}), ["k_TNF"], exp)


def test_sobol_confidence_intervals_reproducible_with_seed_zero():
    """SALib ignores seed=0; gutbrain's default seed must still give identical CIs."""
    import gutbrain as gb

    names = ["k_PE", "k_TNF", "k_6"]
    ta, _ = gb.sim.sobol("lps", n=16, parameters=names, n_jobs=1, random_state=0)
    tb, _ = gb.sim.sobol("lps", n=16, parameters=names, n_jobs=1, random_state=0)
    assert ta["S1_conf"].notna().any()
    pd.testing.assert_frame_equal(ta, tb)


def test_sobol_unknown_parameter_is_a_gutbrain_error():
    import gutbrain as gb

    with pytest.raises(gb.GutbrainError, match="unknown parameter"):
        gb.sim.sobol("lps", n=16, parameters=["k_PE", "no_such_parameter"])
