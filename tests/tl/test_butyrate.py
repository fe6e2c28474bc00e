"""butyrate_potential: formula, shipped weights reproduced from Mars 2020, validation table."""

from __future__ import annotations

import numpy as np
import pytest

import gutbrain as gb
from gutbrain.tl._butyrate import fit_butyrate_weights, member_shares
from gutbrain.tl._indices import INDEX_NAMES, guild_table
from tests.conftest import shared_path


def _table():
    return guild_table().query("guild == 'butyrate_potential'").set_index("taxon")


def test_index_is_the_weighted_member_share():
    ad = gb.datasets.demo_cohort(seed=0, n_samples=30, n_genera=60)
    bp = gb.tl.butyrate_potential(ad)
    S = member_shares(ad, members_only=False)
    w = _table()["weight"].reindex(S.columns).to_numpy()
    np.testing.assert_allclose(bp["value"].to_numpy(), S.to_numpy() @ w, rtol=1e-12)
    assert "gbi_butyrate_potential" in ad.obs.columns
    # a complement: the literature index and the default index list are unchanged
    assert "butyrate_potential" not in INDEX_NAMES
    lit = gb.tl.butyrate_capacity(ad)
    assert not np.allclose(lit["value"], bp["value"])


def test_membership_rows_are_cited_and_excluded_rows_weigh_zero():
    t = _table()
    assert set(t["membership"]) == {"member", "excluded"}
    assert (t.loc[t["membership"] == "excluded", "weight"] == 0).all()
    assert t["citation"].str.len().gt(10).all() and t["weight_source"].str.contains("10.1016/j.cell.2020.08.007").all()
    members = t[t["membership"] == "member"]
    assert members["weight"].between(0.3, 3).all()
    assert bool(t.loc["Butyricimonas", "rodent"])  # rat-isolate evidence is flagged as rodent-derived


def test_fit_recovers_planted_weights():
    rng = np.random.default_rng(1)
    S = rng.uniform(0, 0.2, size=(200, 3))
    y = 3 + S @ np.array([6.0, 2.0, 2.0]) + rng.normal(0, 0.02, 200)
    fit = fit_butyrate_weights(S, y, lambdas=(1e-6,))
    np.testing.assert_allclose(fit["weights"] * fit["c"], [6.0, 2.0, 2.0], rtol=0.05)


def test_shipped_validation_table():
    v = gb.tl.butyrate_index_validation()
    assert set(v["dataset"]) == {"Mars 2020 (IBS, adults)", "Kang 2017 (autism, children)", "DNBS FMT (visceral pain)"}
    assert v.loc[v["dataset"].str.startswith("DNBS"), "host"].str.contains("rodent").all()
    assert ((v["ci_low"] <= v["spearman"]) & (v["spearman"] <= v["ci_high"])).all()
    mars = v[v["dataset"].str.startswith("Mars")].set_index("score")["spearman"]
    assert mars["ridge on CLR genera"] > mars["butyrate_capacity"]


@pytest.mark.shared
@pytest.mark.validation(quantity="butyrate_capacity vs measured faecal butyrate (Spearman ρ), Mars 2020", source="Mars et al. 2020 NMR butyrate; the shipped butyrate validation table", doi="10.1016/j.cell.2020.08.007", tolerance="|Δ| < 1e-4")
def test_shipped_weights_refit_from_mars(validation):
    d = shared_path("data", "mars2020_ibs_longitudinal")
    ad = gb.io.read(d / "genera.counts.tsv.gz")
    ad = gb.io.attach_metadata(ad, gb.io.read_metadata(d / "metadata.tsv", id_column="Sample"))
    ad = gb.io.attach_metabolites(ad, d / "mtb.tsv", map=d / "mtb.map.tsv")
    y = ad.obsm["metabolites"]["NMR_Butyrate"].to_numpy()
    ok = np.isfinite(y)
    sub = ad[ok].copy()
    S = member_shares(sub)
    fit = fit_butyrate_weights(S.to_numpy(), np.log(y[ok]), groups=sub.obs["Subject"].astype(str).to_numpy())
    shipped = _table()["weight"].reindex(S.columns).to_numpy()
    np.testing.assert_allclose(fit["weights"], shipped, rtol=1e-4)
    own = gb.tl.validate_butyrate_indices(sub, n_boot=100, groups="Subject").set_index("score")
    v = gb.tl.butyrate_index_validation()
    lit = v[(v["dataset"].str.startswith("Mars")) & (v["score"] == "butyrate_capacity")]["spearman"].iloc[0]
    validation.record(own.at["butyrate_capacity", "spearman"], lit)
    assert own.at["butyrate_capacity", "spearman"] == pytest.approx(lit, abs=1e-4)
