"""The healthy reference of `gutbrain sample`: percentiles off quantiles, and the shipped file rebuilt."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import percentileofscore

from gutbrain.report import percentile_from_quantiles, reference_sources
from gutbrain.report._sample_reference import GRID, QCOLS, reference
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("build_sample_reference",
                                                  ROOT / "tools" / "build_sample_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_percentile_matches_scipy_on_continuous_data() -> None:
    rng = np.random.default_rng(0)
    data = rng.lognormal(0.0, 1.0, 2000)
    q = np.percentile(data, GRID)
    x = rng.lognormal(0.0, 1.2, 200)
    ours = percentile_from_quantiles(x, q)
    peer = np.array([percentileofscore(data, v, kind="mean") for v in x])
    assert np.abs(ours - peer).max() < 0.6  # grid of 1 percentile point


def test_percentile_of_ties_is_the_mid_rank() -> None:
    """Zero-inflated taxon absent from 40 % of profiles: an absent sample sits at the 20th percentile."""
    rng = np.random.default_rng(1)
    data = np.r_[np.zeros(400), rng.lognormal(0.0, 1.0, 600)]
    q = np.percentile(data, GRID)
    assert percentile_from_quantiles(0.0, q)[0] == pytest.approx(percentileofscore(data, 0.0, kind="mean"), abs=0.6)
    assert percentile_from_quantiles([-1.0, 1e9], q).tolist() == [0.0, 100.0]
    assert np.isnan(percentile_from_quantiles(np.nan, q)[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=5, max_size=200),
       st.lists(st.floats(-10, 1.1e3, allow_nan=False), min_size=2, max_size=20))
def test_percentile_is_monotone_and_bounded(data, xs) -> None:
    q = np.percentile(np.asarray(data), GRID)
    xs = np.sort(np.asarray(xs))
    p = percentile_from_quantiles(xs, q)
    assert np.all((p >= 0) & (p <= 100))
    assert np.all(np.diff(p) >= -1e-9)


def test_shipped_reference_is_consistent() -> None:
    ref = reference()
    rows = ref.rows
    Q = rows[QCOLS].to_numpy(dtype=float)
    assert np.isfinite(Q).all() and (np.diff(Q, axis=1) >= -1e-12 * np.abs(Q[:, 1:]).max()).all()
    src = reference_sources().set_index("reference")
    assert set(rows["reference"]) == set(src.index)
    assert src["doi"].str.startswith("10.").all() and src["citation"].str.len().gt(10).all()
    # population sizes: every index row covers the population (the health index: profiles it can score)
    for rid, g in rows[rows["kind"] == "index"].groupby("reference"):
        assert g["n"].max() == src.loc[rid, "n"]
        assert (g["n"] >= 0.99 * src.loc[rid, "n"]).all()
    taxa = rows[rows["kind"] == "taxon"]
    assert (taxa["prevalence"] >= 0.05).all() and set(taxa["rank"]) == {"species", "genus"}
    assert {"Faecalibacterium prausnitzii", "Bacteroides"} <= set(taxa["name"])


def test_gmwi2_reference_rebuilds_from_the_published_scores() -> None:
    """Chang 2024's leave-one-out scores of the 5,547 Healthy profiles give the shipped quantiles."""
    shared_path("data", "gmwi2_wellness_index", "GMWI2_scores_loo.csv")
    tool = _tool()
    gw = tool.gmwi2_published_healthy()
    assert len(gw) == 5547  # Healthy in Supplementary Data 2 of Chang et al. 2024
    row = reference().index_row("gmwi2", "gmwi2_chang2024_healthy")
    built = tool.quantile_row(gw)
    np.testing.assert_allclose(row[QCOLS].to_numpy(float), [built[c] for c in QCOLS], rtol=1e-5, atol=1e-9)


@pytest.mark.slow
def test_metaml_reference_rebuilds_with_the_profile_code() -> None:
    """MetAML's healthy profiles through sample_values (the code the profile uses) give the shipped rows."""
    from gutbrain.ml._compendia import load_metaml, metaml_health_cohorts
    from gutbrain.report._sample_compute import sample_values, taxon_abundances

    path = shared_path("data", "metaml_pasolli2016_metaphlan2", "abundance.txt.bz2")
    tool = _tool()
    cohorts = metaml_health_cohorts(load_metaml(path))
    healthy = cohorts[cohorts.obs["healthy"] == 1].copy()
    assert healthy.n_obs == int(reference_sources().set_index("reference").loc["metaml_healthy", "n"])
    vals = sample_values(healthy).table
    ref = reference()
    for key in ("shannon", "richness", "gmhi", "gmwi2", "gbi_butyrate_capacity", "gbi_endotoxin_potential"):
        row = ref.index_row(key, "metaml_healthy")
        built = tool.quantile_row(vals[key].to_numpy())
        np.testing.assert_allclose(row[QCOLS].to_numpy(float), [built[c] for c in QCOLS], rtol=1e-5,
                                   atol=1e-9, err_msg=key)
        # and a sample's percentile is its mid-rank among those profiles (scipy)
        x = float(np.median(vals[key]) * 1.1 + 0.01)
        assert percentile_from_quantiles(x, row[QCOLS].to_numpy(float))[0] == pytest.approx(
            percentileofscore(vals[key], x, kind="mean"), abs=1.0)
    ab, _ = taxon_abundances(healthy, "genus")
    row = ref.taxa("genus").set_index("name").loc["Bacteroides"]
    built = tool.quantile_row(ab["Bacteroides"].to_numpy())
    np.testing.assert_allclose(row[QCOLS].to_numpy(float), [built[c] for c in QCOLS], rtol=1e-5)
    assert row["prevalence"] == pytest.approx(built["prevalence"], rel=1e-5)
