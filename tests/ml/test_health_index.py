"""gutbrain's health index: scoring formula, NaN rules, fitting procedure, shipped files.

The shipped coefficients and the stored leave-one-study-out table are checked against a
re-run of the code on ../shared (not against themselves): the full fit must reproduce the
coefficient file, and re-scoring held-out cohorts must reproduce the stored per-cohort rows.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from hypothesis import given, settings
from hypothesis import strategies as st

import gutbrain as gb
from gutbrain._core import new_adata
from gutbrain.ml import _health_index as H
from gutbrain.ml import health_index, health_index_coefficients, health_index_model
from gutbrain.taxonomy import lineage_frame
from tests.conftest import shared_path

# --------------------------------------------------------------------------- helpers


def _profile_adata(rows: dict[str, dict[str, float]]) -> AnnData:
    """A MetaPhlAn-like species table (percent) with lineages, one sample per dict."""
    species = sorted({s for r in rows.values() for s in r})
    names = [f"k__Bacteria|p__X|c__X|o__X|f__X|g__{s.split()[0]}|s__{s.replace(' ', '_')}" for s in species]
    X = np.array([[r.get(s, 0.0) for s in species] for r in rows.values()])
    ad = new_adata(X, obs_names=list(rows), var_names=names, unit="percent", reader="test", sparse=False)
    ad.var = ad.var.join(lineage_frame(names, index=names))
    return ad


def _model_species(n: int, sign: int) -> list[str]:
    tab = health_index_coefficients()
    return tab.loc[np.sign(tab["coef"]) == sign, "species"].head(n).tolist()


def _background(k: int) -> list[str]:
    """Candidate species with a zero coefficient (known names that do not move the score)."""
    m = health_index_model()
    return [s for s, c in zip(m.species, m.coef, strict=True) if c == 0][:k]


# --------------------------------------------------------------------------- scoring


def test_value_and_probability_follow_the_formula_across_naming_styles():
    m = health_index_model()
    bad = _model_species(4, -1)
    good = _model_species(2, +1)
    bg = _background(30)
    # sample a: two disease species written with MetaPhlAn 4 names, one health species
    renamed = {"Clostridium bolteae": "Enterocloster bolteae", "Ruminococcus gnavus": "Mediterraneibacter gnavus"}
    a = {renamed.get(s, s): 1.0 for s in bad[:2]} | {good[0]: 2.0} | {s: 3.0 for s in bg}
    b = {s: 3.0 for s in bg} | {bad[3]: 5e-5}  # 5e-5 % = 5e-7 of the sample: below the detection cut-off
    ad = _profile_adata({"a": a, "b": b})
    v = health_index(ad)
    coef = dict(zip(m.species, m.coef, strict=True))
    present = {"a": [*bad[:2], good[0]], "b": []}
    for s, sp in present.items():
        logit = m.intercept + sum(coef[x] for x in sp)
        assert v[s] == pytest.approx(logit - math.log(m.threshold / (1 - m.threshold)), rel=1e-12, abs=1e-12)
        assert ad.obs.loc[s, "health_index_probability"] == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-12)
    assert list(ad.obs["health_index_n_detected"]) == [33, 30]
    assert (ad.obs["health_index_note"] == "").all()
    # value > 0 exactly when the probability exceeds the threshold
    assert ((v > 0) == (ad.obs["health_index_probability"] > m.threshold)).all()
    assert ad.uns["health_index"]["threshold"] == m.threshold


def test_16s_genus_table_gives_nan_with_a_note():
    ad = gb.datasets.demo_cohort(seed=0, n_samples=8)
    v = health_index(ad)
    assert v.isna().all()
    assert ad.obs["health_index_note"].str.contains("not a species-level profile").all()
    assert ad.obs["health_index_probability"].isna().all()


def test_unmatchable_names_give_nan_with_a_note():
    ad = _profile_adata({"x": {f"Madeupia species{i}": 1.0 for i in range(60)} | {_background(1)[0]: 1.0}})
    v = health_index(ad)
    assert np.isnan(v["x"])
    assert "names the index knows" in ad.obs.loc["x", "health_index_note"]


def test_too_few_detected_species_give_nan_with_a_note():
    m = health_index_model()
    few = _background(m.min_detected - 1)
    ad = _profile_adata({"shallow": {s: 1.0 for s in few}, "ok": {s: 1.0 for s in _background(m.min_detected)}})
    v = health_index(ad)
    assert np.isnan(v["shallow"]) and np.isfinite(v["ok"])
    assert f"minimum {m.min_detected}" in ad.obs.loc["shallow", "health_index_note"]


def test_match_model_species_uses_the_synonym_table():
    cols = H.match_model_species(["Clostridium bolteae", "Bacteroides dorei", "Streptococcus mutans", "Nope nope"],
                                 ["s__Enterocloster_bolteae", "s__Phocaeicola_dorei", "Streptococcus mutans"])
    assert cols == [[0], [1], [2], []]


# --------------------------------------------------------------------------- fitting


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 12)), min_size=4, max_size=40))
def test_best_threshold_is_the_brute_force_optimum(pairs):
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs], dtype=float) / 12
    if len(set(y)) < 2:
        return
    t, ba = H.best_threshold(y, p)
    cands = np.r_[p.min() - 1, np.unique(p)]
    brute = max(0.5 * (np.mean(p[y == 1] > c) + np.mean(p[y == 0] <= c)) for c in cands)
    assert ba == pytest.approx(brute, abs=1e-12)
    assert 0.5 * (np.mean(p[y == 1] > t) + np.mean(p[y == 0] <= t)) == pytest.approx(ba, abs=1e-12)


def _synthetic(seed: int = 0):
    rng = np.random.default_rng(seed)
    studies, ys, rows = [], [], []
    for s, (n_h, n_d) in enumerate([(30, 30), (30, 30), (30, 30), (40, 0)]):
        for label, n in ((1, n_h), (0, n_d)):
            for _ in range(n):
                x = rng.uniform(0, 1, 60) * (rng.uniform(0, 1, 60) < 0.5)
                x[0] = rng.uniform(0.5, 1) if (label == 0 and rng.uniform() < 0.8) else 0.0  # disease marker
                x[1] = rng.uniform(0.5, 1) if s == 3 else 0.0  # marker of the healthy-only study
                x[2] = rng.uniform(0.5, 1) if (label == 1 and rng.uniform() < 0.6) else 0.0  # health marker
                rows.append(x)
                ys.append(label)
                studies.append(f"s{s}")
    P = pd.DataFrame(rows, columns=[f"Genus{i} alba" for i in range(60)])
    return P.div(P.sum(axis=1), axis=0), np.array(ys), np.array(studies)


def test_fit_recovers_planted_species_and_drops_a_between_study_confounder():
    P, y, g = _synthetic()
    m = H.fit_health_index(P, y, g, n_species_grid=(2, 5, 10))
    coef = dict(zip(m.species, m.coef, strict=True))
    assert coef["Genus0 alba"] < 0 < coef["Genus2 alba"]
    assert coef["Genus0 alba"] == min(coef.values()) and coef["Genus2 alba"] == max(coef.values())
    assert coef["Genus1 alba"] == 0.0  # only in the healthy-only study: no within-study support
    assert m.info["n_species"] in (2, 5, 10) and set(m.info["cv"]["auroc"]) == {2, 5, 10}
    assert 0 < m.threshold < 1 and m.min_detected >= 1
    # the fit is calibrated on its own out-of-study scores: Platt slope positive
    assert m.info["platt_slope"] > 0
    res = H.score_presence(m, P)
    assert res["value"].notna().all()
    assert gb.ml.fast_auc(y, res["value"].to_numpy()[None])[0] > 0.85


def test_fit_uses_nothing_of_a_study_it_does_not_see():
    """Changing a held-out study's profiles cannot change a model fitted without it."""
    P, y, g = _synthetic(1)
    tr = g != "s0"
    m1 = H.fit_health_index(P[tr], y[tr], g[tr], n_species_grid=(3, 6))
    P2 = P.copy()
    P2.loc[~tr] = P2.loc[~tr].to_numpy()[::-1]
    m2 = H.fit_health_index(P2[tr], y[tr], g[tr], n_species_grid=(3, 6))
    np.testing.assert_array_equal(m1.coef, m2.coef)
    assert m1.threshold == m2.threshold


# --------------------------------------------------------------------------- shipped files


def test_coefficient_file_is_complete_and_cited():
    m = health_index_model()
    text = resources.files("gutbrain.ml").joinpath("data", "health_index_coefficients.tsv").read_text()
    tab = pd.read_csv(resources.files("gutbrain.ml").joinpath("data", "health_index_coefficients.tsv"), sep="\t",
                      comment="#")
    assert (tab["doi"] == "10.1371/journal.pcbi.1004977").all()
    assert tab["species"].is_unique and len(tab) == len(m.species)
    assert int((tab["coef"] != 0).sum()) == m.info["n_species"] == len(health_index_coefficients())
    assert m.info["n_species"] in H.N_SPECIES_GRID
    assert (tab.loc[tab["coef"] == 0, "loso_folds_selected"] <= 8).all()
    for doi in ("10.1073/pnas.082099299", "10.1038/nature13568", "10.15252/msb.20145645"):
        assert doi in text
    # the training counts in the header add up to the sample count
    counts = [tuple(int(x) for x in ln.split(": ")[1].split(" non-healthy")[0].replace(" healthy,", "").split())
              for ln in text.splitlines() if ln.startswith("#   ")]
    assert sum(a + b for a, b in counts) == m.info["n_samples"] and len(counts) == len(m.info["studies"]) == 8


def test_stored_loso_table_adds_up():
    tab = gb.ml.health_index_validation()
    from gutbrain.ml._validation import health_index_loso

    loso = health_index_loso()
    for name in ("gutbrain", "GMHI", "GMWI2", "GMHI_refit"):
        rows = loso[loso["index"] == name]
        pooled = rows[rows["study"] == "pooled"].iloc[0]
        per = rows[rows["study"] != "pooled"]
        assert per["n"].sum() == pooled["n"] and (per["n_healthy"] + per["n_diseased"] == per["n"]).all()
        assert pooled["auroc_low"] < pooled["auroc"] < pooled["auroc_high"]
        assert pooled["ba_low"] < pooled["balanced_accuracy"] < pooled["ba_high"]
        assert pooled["balanced_accuracy"] == pytest.approx((pooled["sensitivity"] + pooled["specificity"]) / 2)
        one_class = per[(per["n_healthy"] == 0) | (per["n_diseased"] == 0)]
        assert one_class["auroc"].isna().all() and one_class["accuracy"].notna().all()
    # the status rule
    v = tab.set_index("index")
    beats = (v.loc["gutbrain", "auroc"] > v.loc["GMHI", "auroc"]
             and v.loc["gutbrain", "balanced_accuracy"] > v.loc["GMHI", "balanced_accuracy"])
    assert v.loc["gutbrain", "status"] == ("validated" if beats else "experimental")
    assert v.loc["gutbrain", "out_of_study"] == "yes" and v.loc["GMWI2", "out_of_study"].startswith("no")
    cal = gb.ml.health_index_calibration()
    assert int(cal["n"].sum()) == int(v.loc["gutbrain", "n"])
    assert 0 < float(cal.attrs["brier"]) < float(cal.attrs["brier_reference"])


def test_validation_marks_a_losing_index_experimental(monkeypatch):
    from gutbrain.ml import _validation as V

    tab, meta = V._loso_cached()
    worse = tab.copy()
    sel = (worse["index"] == "gutbrain") & (worse["study"] == "pooled")
    worse.loc[sel, "balanced_accuracy"] = 0.55
    monkeypatch.setattr(V, "_loso_cached", lambda: (worse, meta))
    v = V.health_index_validation()
    assert list(v["index"]) == ["GMHI", "GMWI2", "gutbrain"]
    assert v.set_index("index").loc["gutbrain", "status"] == "experimental"


# --------------------------------------------------------------------------- reproduction from ../shared


@pytest.fixture(scope="module")
def metaml_cohorts():
    from gutbrain.ml._compendia import load_metaml, metaml_health_cohorts

    ad = metaml_health_cohorts(load_metaml(shared_path("data", "metaml_pasolli2016_metaphlan2", "abundance.txt.bz2")))
    P = H.species_proportions(ad)
    return ad, P, ad.obs["healthy"].to_numpy().astype(int), ad.obs["cohort"].astype(str).to_numpy()


@pytest.mark.slow
def test_full_fit_reproduces_the_shipped_coefficients(metaml_cohorts):
    _, P, y, g = metaml_cohorts
    fitted = H.fit_health_index(P, y, g)
    shipped = health_index_model()
    assert sorted(fitted.species) == sorted(shipped.species)
    order = [fitted.species.index(s) for s in shipped.species]
    np.testing.assert_allclose(fitted.coef[order], shipped.coef, rtol=1e-6, atol=1e-9)
    assert fitted.intercept == pytest.approx(shipped.intercept, rel=1e-8)
    assert fitted.threshold == pytest.approx(shipped.threshold, rel=1e-8)
    assert fitted.min_detected == shipped.min_detected
    assert shipped.info["n_samples"] == len(y) and sorted(set(g)) == shipped.info["studies"]


@pytest.mark.slow
@pytest.mark.validation(quantity="health index, held-out MetAML cohort: AUROC", source="MetAML (Pasolli et al. 2016) cohorts, leave-one-study-out; the shipped health_index_loso.tsv", doi="10.1371/journal.pcbi.1004977", tolerance="|Δ| < 1e-6")
def test_held_out_cohorts_reproduce_the_stored_rows(metaml_cohorts, validation):
    from gutbrain.ml._validation import health_index_loso

    ad, P, y, g = metaml_cohorts
    loso = health_index_loso()
    gm = gb.tl.gmhi(ad.copy()).to_numpy()
    for cohort in ("Zeller2014_CRC", "Karlsson2013_T2D"):
        te = g == cohort
        model = H.fit_health_index(P[~te], y[~te], g[~te])
        v = H.score_presence(model, P[te])["value"].to_numpy()
        ok = np.isfinite(v)
        row = loso[(loso["index"] == "gutbrain") & (loso["study"] == cohort)].iloc[0]
        validation.record(gb.ml.fast_auc(y[te][ok], v[ok][None])[0], row["auroc"], quantity=f"gutbrain health index AUROC, {cohort} held out")
        assert int(ok.sum()) == row["n"]
        assert gb.ml.fast_auc(y[te][ok], v[ok][None])[0] == pytest.approx(row["auroc"], abs=1e-6)
        sens = np.mean(v[ok][y[te][ok] == 0] <= 0)
        spec = np.mean(v[ok][y[te][ok] == 1] > 0)
        assert (sens + spec) / 2 == pytest.approx(row["balanced_accuracy"], abs=1e-6)
        grow = loso[(loso["index"] == "GMHI") & (loso["study"] == cohort)].iloc[0]
        assert gb.ml.fast_auc(y[te], gm[te][None])[0] == pytest.approx(grow["auroc"], abs=1e-6)


@pytest.mark.slow
def test_training_cohorts_follow_the_published_definitions(metaml_cohorts):
    ad, _, y, g = metaml_cohorts
    obs = ad.obs
    bmi = pd.to_numeric(obs["bmi"], errors="coerce")
    healthy = y == 1
    assert ((bmi[healthy] >= 18.5) & (bmi[healthy] < 25) | bmi[healthy].isna()).all()
    assert set(obs.loc[~healthy, "disease"].str.strip()) == {"cirrhosis", "cancer", "ibd_crohn_disease",
                                                             "ibd_ulcerative_colitis", "t2d"}
    # one profile per subject, and a MetaHIT sample never sits in two cohorts
    assert not obs.assign(s=obs["subjectID"].str.lower()).duplicated(subset=["cohort", "s"]).any()
    assert obs.groupby("sampleID")["cohort"].nunique().max() == 1
    assert len(set(g)) == 8 and {"MetaHIT", "HMP", "Qin2012_T2D"} <= set(g)
