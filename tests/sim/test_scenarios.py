"""Interventions, profile-driven ensembles, parallel ensembles, report step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutbrain import GutbrainError, sim


def _end(res, label, output):
    arr = res.draws[label][:, -1, res.outputs.index(output)]
    return arr


def test_probiotic_lowers_tnf_and_raises_il10_in_every_draw():
    # Milajerdi 2020 priors: TNF production -12.6 % (95 % -20.4, -4.8), IL-10 +12.6 %.
    base = sim.run_scenario("baseline", n=12, random_state=3)
    prob = sim.run_scenario("probiotic", n=12, random_state=3)
    dt = _end(prob, "probiotic", "TNF") / _end(base, "baseline", "TNF")
    di = _end(prob, "probiotic", "IL10") / _end(base, "baseline", "IL10")
    assert (dt < 1).all() and (di > 1).all()
    assert 0.75 < np.median(dt) < 0.97 and 1.03 < np.median(di) < 1.25


def test_fibre_raises_butyrate_and_lowers_endotoxin_influx():
    res = sim.run_scenario("fibre", n=8)
    but = _end(res, "fibre", "but_mM")
    fold = _end(res, "fibre", "LPS_fold")
    assert (but > 4.99 * 1.3).all()
    assert (fold <= 1.0 + 1e-9).all()


def test_dysbiosis_gives_chronic_endotoxaemia_in_published_range():
    # chronic endotoxaemia ≈ 1.5–3× baseline (Cani 2007: 2–3× in mice; Harte 2012: +60 %)
    res = sim.run_scenario("dysbiosis", n=24)
    fold = _end(res, "dysbiosis", "LPS_fold")
    assert 1.5 <= np.median(fold) <= 3.0
    assert (fold >= 1.5 - 1e-9).all()


def test_antibiotic_course_lowers_butyrate_via_mouse_glv():
    res = sim.run_scenario("antibiotic", n=4)
    b = res.bands()
    med = b[b.output == "but_mM"].set_index("time")["q50"]
    assert med.loc[3 * 24.0] < 0.5 * med.loc[0.0]
    caps = [e for e in res.provenance["experiment"]["events"] if e["target"] == "but_capacity"]
    # daily capacity = treated / untreated Lachnospiraceae in the Stein 2013 gLV (clipped)
    assert len(caps) == 29 and min(e["value"] for e in caps) < 0.2
    fold = _end(res, "antibiotic", "LPS_fold")
    assert (fold >= 1.0).all()


def test_repeated_lps_shows_tolerance():
    res = sim.run_scenario("repeated_lps", n=16, random_state=2)
    tnf = res.draws["repeated_lps"][:, :, res.outputs.index("TNF")]
    t = res.times
    first = tnf[:, t < 6].max(axis=1)
    second = tnf[:, (t >= 6) & (t < 12)].max(axis=1)
    off = sim.run_scenario("repeated_lps", n=16, random_state=2, parameters={"tol_max": 0.0})
    second_off = off.draws["repeated_lps"][:, (t >= 6) & (t < 12), 0].max(axis=1)
    assert (second < first).all()
    assert (second <= second_off + 1e-6).all()
    assert np.median(second / second_off) < 0.9


def test_profile_driven_bands_follow_indices():
    table = pd.DataFrame({
        "gbi_butyrate_capacity": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "gbi_endotoxin_potential": [8, 7, 6, 5, 4, 3, 2, 1],
        "group": ["low"] * 4 + ["high"] * 4,
    }, index=[f"s{i}" for i in range(8)])
    prof = sim.profile_inputs(table, groupby="group")
    assert prof.loc["low", "z_butyrate"] < 0 < prof.loc["high", "z_butyrate"]
    res = sim.run_scenario("baseline", n=16, profiles=prof)
    end = res.endpoint().set_index(["label", "output"])
    assert end.loc[("low", "LPS_fold"), "q50"] > end.loc[("high", "LPS_fold"), "q50"]
    assert end.loc[("low", "but_mM"), "q50"] < end.loc[("high", "but_mM"), "q50"]
    q = end[["q05", "q25", "q50", "q75", "q95"]].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-12).all()
    assert "hypothesis" in res.provenance["evidence_note"]
    assert res.provenance["gutbrain_version"] and res.provenance["random_state"] == 0
    with pytest.raises(GutbrainError, match="neither"):
        sim.profile_inputs(pd.DataFrame({"x": [1.0, 2.0]}))


def test_parallel_ensemble_equals_serial():
    table = sim.load_model("gut_brain").parameters
    s = sim.sample_parameters(table, 8, random_state=5)
    exp = sim.lps_challenge(2.0, 6.0, n_points=13, warmup=48.0)
    a = sim.ensemble("gut_brain", exp, s, outputs=["TNF", "MG"], n_jobs=1)
    b = sim.ensemble("gut_brain", exp, s, outputs=["TNF", "MG"], n_jobs=2)
    np.testing.assert_allclose(a, b, rtol=1e-10)
    # each draw equals an individual simulate call
    one = sim.simulate("gut_brain", exp, parameters=s.iloc[3].to_dict(), outputs=["TNF", "MG"])
    np.testing.assert_allclose(a[3], one[["TNF", "MG"]].to_numpy(), rtol=1e-10)


def test_scenario_file_roundtrip(tmp_path):
    p = tmp_path / "sc.yaml"
    p.write_text("name: two_doses\nmodel: dobreva2021\nt_end: 12\nn_points: 25\n"
                 "events:\n  - {time: 0, target: PE, value: 1.0, op: add}\n"
                 "  - {time: 4, target: PE, value: 1.0, op: add}\n"
                 "outputs: [TNF, PPT_pct]\nvary: [calibrated_human]\n")
    sc = sim.read_scenario(p)
    assert sc.name == "two_doses" and len(sc.experiment.events) == 2
    res = sim.run_scenario(str(p), n=6)
    assert res.draws["two_doses"].shape == (6, 25, 2)
    p.write_text("t_end: [oops")
    with pytest.raises(GutbrainError, match=r"sc\.yaml"):
        sim.read_scenario(p)


def test_report_step_and_section():
    from gutbrain._core import new_adata
    from gutbrain.report import SECTIONS
    from gutbrain.workflow import RunConfig
    from gutbrain.workflow import _steps as steps

    rng = np.random.default_rng(0)
    n = 40
    obs = pd.DataFrame({"group": np.repeat(["control", "chronic_pain"], n // 2),
                        "gbi_butyrate_capacity": rng.normal(size=n),
                        "gbi_endotoxin_potential": rng.normal(size=n)})
    ad = new_adata(rng.poisson(5, (n, 4)), obs_names=[f"s{i}" for i in range(n)],
                   var_names=list("abcd"), unit="counts", reader="test", obs=obs)
    ad, cfg = RunConfig.create(group="group").resolve(ad)
    ad.uns["workflow"] = {"group": cfg.plan.as_dict()}
    steps.simulation(ad, cfg)
    u = ad.uns["simulation"]
    assert u["params"]["gutbrain_version"]
    assert set(u["profile"]["label"]) == {"control", "chronic_pain"}
    assert np.all(u["validation"]["within"])
    sec = dict(SECTIONS)["simulation"](ad, {})
    assert sec is not None and len(sec.figures) == 3
    assert "not" in sec.paragraphs[0].lower() and "hypothes" in sec.paragraphs[0].lower()
    chain = dict(sec.tables)["Links of the gut–brain chain and the evidence behind each"]
    assert set(chain["evidence"]) == {"calibrated_human", "hypothesis"}
