"""Models as data: parameter tables, Antimony → SBML, libsbml validation, roadrunner loading."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from gutbrain import GutbrainError, sim
from gutbrain.sim._model import check_model, to_sbml


@pytest.mark.parametrize("name", sim.list_models())
def test_sbml_validates_and_loads(name):
    import roadrunner

    text = to_sbml(name, use_stored=False)
    report = sim.validate_sbml(text)
    assert report["errors"] == 0, report["messages"][:3]
    rr = roadrunner.RoadRunner(text)
    ids = set(rr.model.getGlobalParameterIds())
    assert set(sim.load_model(name).states) <= ids
    # the stored SBML is the one rebuilt from Antimony + tables (no drift)
    assert to_sbml(name) == text


@pytest.mark.parametrize("name", sim.list_models())
def test_every_symbol_has_a_parameter_row_with_provenance(name):
    check_model(name)
    table = sim.load_model(name).parameters
    assert set(table["evidence"]) <= set(sim.EVIDENCE)
    assert (table["source"].str.len() > 0).all()
    assert ((table["lower"] <= table["value"]) & (table["value"] <= table["upper"])).all()
    # every non-hypothesis parameter cites a DOI
    cited = table[table["evidence"] != "hypothesis"]
    assert (cited["doi"].str.startswith("10.")).all()


def test_hypothesis_links_are_labelled_hypothesis():
    links = sim.read_parameter_table(
        __import__("importlib.resources").resources.files("gutbrain.sim") / "models" / "links.tsv")
    gains = ["gamma_bar", "tau_bar", "PE_b", "tol_max", "k_mg_on", "g_sens", "prob_tnf", "prob_il10"]
    assert (links.loc[gains, "evidence"] == "hypothesis").all()
    assert (links.loc[gains, "prior"] != "fixed").all()
    # Milajerdi 2020: TNF SMD -0.21 (-0.34, -0.08); IL-10 +0.21 (0.04, 0.38), scaled by CV 0.6
    assert links.loc["prob_tnf", "value"] == pytest.approx(-0.21 * 0.6)
    assert links.loc["prob_tnf", "lower"] == pytest.approx(-0.34 * 0.6)
    assert links.loc["prob_il10", "upper"] == pytest.approx(0.38 * 0.6)


def test_dobreva_table_has_published_copeland_values():
    # Dobreva et al. 2021, Copeland fit (REFERENCE §3)
    v = sim.load_model("dobreva2021").values
    expected = {"k_10": 1.1107, "k_TNF": 1.4873, "k_PE": 1.0819, "k_TNFM": 0.69712,
                "x_MPE": 3.3, "h_M10": 0.3, "M_max": 30000, "PPT_max": 713.56, "s_10": 0.248}
    for k, val in expected.items():
        assert v[k] == pytest.approx(val)
    assert np.log(2) / v["k_PE"] == pytest.approx(0.64, abs=0.005)  # LPS half-life 0.64 h


def test_stein_table_matches_published_supplement(shared):
    # Stein et al. 2013 supplementary values, read from ../shared for comparison only.
    path = shared / "models" / "params" / "stein2013_gLV_parameters.csv"
    rows = list(csv.reader(open(path)))[1:12]
    model = sim.load_model("stein2013_glv")
    taxa = [n[3:] for n in model.parameters.index if n.startswith("x0_")]
    v = model.values
    for i, r in enumerate(rows):
        assert v[f"mu_{taxa[i]}"] == pytest.approx(float(r[12]), rel=1e-5)
        assert v[f"eps_{taxa[i]}"] == pytest.approx(float(r[13]), rel=1e-5)
        for j in range(11):
            assert v[f"M_{taxa[i]}_{taxa[j]}"] == pytest.approx(float(r[1 + j]), rel=1e-4, abs=1e-9)


def test_fermentation_steady_state_matches_micropop_start_values():
    # Kettle et al. 2015 microPop human colon: start acetate 1.95, propionate 0.67, butyrate 0.44 g/L
    df = sim.simulate("fermentation", sim.Experiment(t_end=24 * 30.0, n_points=2))
    end = df.iloc[-1]
    assert end["Ac"] == pytest.approx(1.95, rel=1e-3)
    assert end["Pro"] == pytest.approx(0.67, rel=1e-3)
    assert end["But"] == pytest.approx(0.44, rel=1e-3)
    # butyrate scales with capacity; fibre raises it
    exp = sim.Experiment(t_end=24 * 30.0, n_points=2)
    half = sim.simulate("fermentation", exp, parameters={"but_capacity": 0.5})["But"].iloc[-1]
    more = sim.simulate("fermentation", exp, parameters={"fibre_mult": 1.5})["But"].iloc[-1]
    assert half == pytest.approx(0.22, rel=1e-3)
    assert more > 0.44 * 1.3


def test_clindamycin_depletes_lachnospiraceae_in_stein_model():
    base = sim.Experiment(t_end=5.0, n_points=6)
    abx = sim.Experiment(t_end=5.0, n_points=6,
                         events=(sim.Event(0.0, "u", 1.0), sim.Event(1.0, "u", 0.0)))
    a = sim.simulate("stein2013_glv", base, outputs=["lachno"])["lachno"]
    b = sim.simulate("stein2013_glv", abx, outputs=["lachno"])["lachno"]
    assert b.iloc[1] < 0.2 * a.iloc[1]


def test_bad_parameter_table_names_line_and_column(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_text("# c\nname\tvalue\tunit\tlower\tupper\tprior\tevidence\tkind\tsource\tdoi\tdescription\n"
                 "a\t1\t1\t0\t2\tuniform\tcalibrated_human\tparameter\tx\t10.1/x\td\n"
                 "b\tone\t1\t0\t2\tuniform\thypothesis\tparameter\tx\t\td\n")
    with pytest.raises(GutbrainError, match=r"line 4.*column 'value'"):
        sim.read_parameter_table(p)
    p.write_text("name\tvalue\tunit\tlower\tupper\tprior\tevidence\tkind\tsource\tdoi\tdescription\n"
                 "a\t1\t1\t0\t2\tuniform\tguess\tparameter\tx\t\td\n")
    with pytest.raises(GutbrainError, match="evidence"):
        sim.read_parameter_table(p)


def test_unknown_names_raise_gutbrain_error():
    with pytest.raises(GutbrainError, match="unknown model"):
        sim.load_model("nope")
    with pytest.raises(GutbrainError, match="no parameter"):
        sim.simulate("dobreva2021", sim.lps_challenge(), parameters={"k_nope": 1.0})
    with pytest.raises(GutbrainError, match="dose"):
        sim.lps_challenge(-1.0)
    with pytest.raises(GutbrainError, match="after t_end"):
        sim.Experiment(t_end=1.0, events=(sim.Event(2.0, "PE", 1.0, "add"),))


def test_prior_sampling_respects_bounds_and_levels():
    table = sim.load_model("gut_brain").parameters
    s = sim.sample_parameters(table, 200, random_state=1)
    assert set(table.loc[s.columns, "evidence"]) == {"hypothesis"}
    lo, hi = table.loc[s.columns, "lower"].to_numpy(), table.loc[s.columns, "upper"].to_numpy()
    assert ((s.to_numpy() >= lo - 1e-12) & (s.to_numpy() <= hi + 1e-12)).all()
    # Latin hypercube: each of 200 strata of a uniform prior is hit exactly once
    g = s["gamma_bar"].to_numpy()
    strata = np.floor((g - 0.0) / 1.5 * 200).astype(int)
    assert len(set(strata)) == 200
    # normal prior: mean near the table value
    assert s["prob_tnf"].mean() == pytest.approx(-0.126, abs=0.01)
