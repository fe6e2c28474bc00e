"""Gut–brain indices: hand-computed values, coverage, naming across releases, real 16S data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gutbrain import GutbrainError
from gutbrain._core import new_adata
from gutbrain.taxonomy import lineage_frame
from gutbrain.tl import (
    INDEX_NAMES,
    butyrate_capacity,
    endotoxin_potential,
    gut_brain_indices,
    pain_marker_panel,
)
from gutbrain.tl._indices import guild_table
from tests.conftest import shared_path

LINEAGES = {
    "faec": "k__Bacteria;p__Firmicutes;c__Clostridia;o__Clostridiales;f__Ruminococcaceae;g__Faecalibacterium;s__",
    "rose": "k__Bacteria;p__Firmicutes;c__Clostridia;o__Clostridiales;f__Lachnospiraceae;g__Roseburia;s__",
    "lach": "k__Bacteria;p__Firmicutes;c__Clostridia;o__Clostridiales;f__Lachnospiraceae;g__;s__",
    "esch": "k__Bacteria;p__Proteobacteria;c__Gammaproteobacteria;o__Enterobacteriales;f__Enterobacteriaceae;g__Escherichia;s__",
    "sutt": "k__Bacteria;p__Proteobacteria;c__Betaproteobacteria;o__Burkholderiales;f__Alcaligenaceae;g__Sutterella;s__",
    "bact": "k__Bacteria;p__Bacteroidetes;c__Bacteroidia;o__Bacteroidales;f__Bacteroidaceae;g__Bacteroides;s__",
    "veil": "k__Bacteria;p__Firmicutes;c__Negativicutes;o__Selenomonadales;f__Veillonellaceae;g__Veillonella;s__",
    "lact": "k__Bacteria;p__Firmicutes;c__Bacilli;o__Lactobacillales;f__Lactobacillaceae;g__Lactobacillus;s__",
}


def _genus_adata(X: np.ndarray) -> object:
    ids = list(LINEAGES)
    var = lineage_frame([LINEAGES[i] for i in ids], index=ids)
    return new_adata(X, obs_names=[f"s{i}" for i in range(X.shape[0])], var_names=ids,
                     unit="counts", reader="test", var=var, sparse=False)


def test_hand_computed_values_and_coverage():
    X = np.array([[10, 20, 30, 5, 5, 20, 6, 4], [0, 0, 50, 25, 0, 25, 0, 0]], dtype=float)
    adata = _genus_adata(X)
    w = gut_brain_indices(adata)
    P = X / X.sum(axis=1, keepdims=True)
    col = {k: i for i, k in enumerate(LINEAGES)}
    # butyrate: Faecalibacterium + Roseburia; the genus-unassigned Lachnospiraceae is not covered
    assert np.allclose(w["gbi_butyrate_capacity"], P[:, col["faec"]] + P[:, col["rose"]])
    assert np.allclose(w["gbi_butyrate_capacity_coverage"], 1 - P[:, col["lach"]])
    # endotoxin: Enterobacteriaceae 1, other Proteobacteria 1, Bacteroidales -0.1, Firmicutes 0;
    # Negativicutes (Veillonella) explicitly unclassified
    exp = P[:, col["esch"]] + P[:, col["sutt"]] - 0.1 * P[:, col["bact"]]
    assert np.allclose(w["gbi_endotoxin_potential"], exp)
    assert np.allclose(w["gbi_endotoxin_potential_coverage"], 1 - P[:, col["veil"]])
    # pain panel: Lactobacillus +1, Escherichia -1 (rat CCI), Faecalibacterium -1 (human), Roseburia 0
    exp_pain = P[:, col["lact"]] - P[:, col["esch"]] - P[:, col["faec"]]
    assert np.allclose(w["gbi_pain_marker_panel"], exp_pain)
    assert np.allclose(w["gbi_pain_marker_panel_human"], -P[:, col["faec"]])
    assert np.allclose(adata.obs["gbi_butyrate_capacity"], w["gbi_butyrate_capacity"])
    contrib = adata.uns["gut_brain_indices"]["contributions"]
    esc = contrib[(contrib["index"] == "pain_marker_panel") & (contrib["taxon"] == "Escherichia")]
    assert esc["rodent_derived"].all() and esc["host"].str.contains("Rattus").all()


def test_single_index_function_returns_value_coverage_and_citations():
    adata = _genus_adata(np.array([[10, 20, 30, 5, 5, 20, 6, 4]], dtype=float))
    out = butyrate_capacity(adata)
    assert list(out.columns[:2]) == ["value", "coverage"]
    assert out["value"].iloc[0] == pytest.approx(30 / 100)
    assert set(out.attrs["contributions"]["taxon"]) == {"Faecalibacterium", "Roseburia"}
    assert out.attrs["citations"]["doi"].str.len().gt(0).all()
    assert "gbi_butyrate_capacity" in adata.obs


def test_species_names_across_metaphlan_releases():
    """MetaPhlAn 3 and 4 names give identical indices (Lactobacillus split, Bacteroides→Phocaeicola)."""
    mpa3 = ["k__Bacteria|p__Firmicutes|c__Bacilli|o__Lactobacillales|f__Lactobacillaceae|g__Lactobacillus|s__Lactobacillus_fermentum",
            "k__Bacteria|p__Bacteroidetes|c__Bacteroidia|o__Bacteroidales|f__Bacteroidaceae|g__Bacteroides|s__Bacteroides_vulgatus",
            "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Ruminococcaceae|g__Faecalibacterium|s__Faecalibacterium_prausnitzii"]
    mpa4 = [mpa3[0].replace("g__Lactobacillus|s__Lactobacillus", "g__Limosilactobacillus|s__Limosilactobacillus"),
            mpa3[1].replace("g__Bacteroides|s__Bacteroides", "g__Phocaeicola|s__Phocaeicola"),
            mpa3[2]]
    X = np.array([[20.0, 50.0, 30.0]])
    res = []
    for names in (mpa3, mpa4):
        a = new_adata(X, obs_names=["s"], var_names=names, unit="percent", reader="t",
                      var=lineage_frame(names, index=names), sparse=False)
        res.append(gut_brain_indices(a))
    pd.testing.assert_frame_equal(res[0], res[1])
    assert res[0]["gbi_gaba_balance"].iloc[0] == pytest.approx(0.5)  # Bacteroides sensu lato
    assert res[0]["gbi_pain_marker_panel"].iloc[0] == pytest.approx(0.2 - 0.3)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=8, max_size=8), st.floats(0.1, 1000))
def test_scale_invariance_and_contributions_sum(counts, scale):
    X = np.array([counts], dtype=float)
    if X.sum() == 0:
        X[0, 0] = 1
    a1, a2 = _genus_adata(X), _genus_adata(X * scale)
    w1, w2 = gut_brain_indices(a1), gut_brain_indices(a2)
    assert np.allclose(w1.to_numpy(), w2.to_numpy())
    cov = w1[[c for c in w1.columns if c.endswith("_coverage")]].to_numpy()
    assert ((cov >= -1e-12) & (cov <= 1 + 1e-12)).all()
    contrib = a1.uns["gut_brain_indices"]["contributions"]
    for name in INDEX_NAMES:
        total = contrib.loc[contrib["index"] == name, "contribution"].sum()
        assert total == pytest.approx(w1[f"gbi_{name}"].iloc[0], abs=1e-12)


def test_membership_rows_are_cited_and_verified():
    g = guild_table()
    weighted = g[g["weight"].notna()]
    assert (weighted["citation"].str.len() > 0).all()
    assert (weighted["verification"].str.len() > 0).all()
    assert set(g["status"]) <= {"checked", "curated"}
    rat = g[g["guild"] == "pain_marker"].set_index("taxon")
    assert rat.loc["Butyricimonas", "host"].startswith("Rattus")
    assert rat.loc["Ignatzschineria", "doi"] == "10.1186/s13041-021-00765-y"


def test_errors_are_gutbrain_errors():
    a = _genus_adata(np.ones((1, 8)))
    with pytest.raises(GutbrainError, match="unknown index"):
        gut_brain_indices(a, indices=["nope"])
    bare = new_adata(np.ones((1, 2)), obs_names=["s"], var_names=["ASV1", "ASV2"], unit="counts",
                     reader="t", sparse=False)
    with pytest.raises(GutbrainError, match="taxonomy"):
        endotoxin_potential(bare)


def test_giloteaux_16s_matches_independent_computation():
    d = shared_path("data", "giloteaux2016_mecfs_16s")
    ft = pd.read_csv(d / "feature_table.tsv", sep="\t", skiprows=1, index_col=0)
    tax = pd.read_csv(d / "taxonomy_table_features.tsv", sep="\t", index_col=0)["Taxon"]
    var = lineage_frame(tax.reindex(ft.index).tolist(), index=ft.index)
    a = new_adata(ft.T.to_numpy(), obs_names=ft.columns, var_names=ft.index, unit="counts",
                  reader="t", var=var)
    pain = pain_marker_panel(a)
    # independent: pandas lookup of genus names in the shipped marker rows
    g = guild_table()
    mk = g[g["guild"] == "pain_marker"]
    direction = {t: w for t, w in zip(mk["taxon"], mk["weight"], strict=True)}
    rel = ft / ft.sum()
    w = var["genus"].map(direction).fillna(0.0)
    expected = (rel.mul(w, axis=0)).sum()
    assert np.allclose(pain["value"].to_numpy(), expected.reindex(a.obs_names).to_numpy())
    covered = (var["genus"] != "").astype(float)
    assert np.allclose(pain["coverage"].to_numpy(), rel.mul(covered, axis=0).sum().to_numpy())
