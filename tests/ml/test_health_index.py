"""gutbrain health index: shipped coefficients, scoring formula, 16S/shotgun naming."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._core import new_adata
from gutbrain.ml import health_index, health_index_coefficients
from gutbrain.ml._compendia import genus_key
from gutbrain.ml._health_index import FLOOR


def test_coefficients_are_sparse_and_cited():
    coef = health_index_coefficients()
    assert coef.loc[0, "genus"] == "(intercept)"
    assert 5 <= len(coef) - 1 <= 80
    assert (coef["scale"] > 0).all() and (coef["coef"].iloc[1:] != 0).all()
    from importlib import resources

    head = resources.files("gutbrain.ml").joinpath("data", "health_index_coefficients.tsv").read_text()
    assert "doi:10.1371/journal.pcbi.1004977" in head and "doi:10.1093/gigascience/giz042" in head


def test_score_equals_formula_across_naming_styles():
    coef = health_index_coefficients()
    model = coef.iloc[1:]
    genera = model["genus"].tolist()[:6]
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 500, size=(4, len(genera))).astype(float)
    counts[:, 0] = 0  # an absent genus is floored
    # 16S style lineages; the second genus is written as a Greengenes bracketed name, which
    # is another genus (gutbrain.taxonomy): it must not stand in for the model genus
    names16 = [f"k__Bacteria;p__X;c__X;o__X;f__X;g__[{g}]" if i == 1 else f"k__Bacteria;p__X;c__X;o__X;f__X;g__{g}"
               for i, g in enumerate(genera)]
    ad = new_adata(counts, obs_names=[f"s{i}" for i in range(4)], var_names=names16, unit="counts", reader="test")
    from gutbrain._taxonomy import lineage_frame

    ad.var = ad.var.join(lineage_frame(names16, index=names16))
    v = health_index(ad)
    P = counts / counts.sum(1, keepdims=True)
    z = np.zeros(4)
    for j, g in enumerate(genera):
        if j == 1:
            continue
        row = model.set_index("genus").loc[g]
        z += row["coef"] * (np.log10(np.maximum(P[:, j], FLOOR)) - row["center"]) / row["scale"]
    rest = model[~model["genus"].isin([g for j, g in enumerate(genera) if j != 1])]
    z += ((np.log10(FLOOR) - rest["center"]) / rest["scale"] * rest["coef"]).sum()
    np.testing.assert_allclose(v.to_numpy(), coef.loc[0, "coef"] + z, rtol=1e-10)
    assert (ad.obs["health_index_coverage"] < 1).all()
    matching = ad.uns["health_index"]["matching"].set_index("genus")
    assert matching.loc[genera[1], "n_features"] == 0 and matching.loc[genera[2], "match"] == "name"
    assert genus_key("[Eubacterium]") == "[Eubacterium]" and genus_key("g__Ruminococcus_unclassified") == ""
    assert genus_key("Clostridium_sensu_stricto_1") == "Clostridium_sensu_stricto_1"


def test_health_index_reports_a_homonym_instead_of_guessing():
    """A model genus named in two families of the table is left out and named in the notes."""
    names = ["k__Bacteria;f__Clostridiaceae;g__Clostridium", "k__Bacteria;f__Lachnospiraceae;g__Clostridium",
             "k__Bacteria;f__Lachnospiraceae;g__Roseburia"]
    from gutbrain._taxonomy import lineage_frame

    ad = new_adata(np.array([[10.0, 5.0, 85.0]]), obs_names=["s"], var_names=names, unit="counts",
                   reader="test", var=lineage_frame(names, index=names))
    health_index(ad)
    notes = ad.uns["health_index"]["notes"]
    assert any("genus Clostridium is in 2 families" in n for n in notes)
    m = ad.uns["health_index"]["matching"].set_index("genus")
    assert m.loc["Clostridium", "match"] == "ambiguous" and m.loc["Clostridium", "n_features"] == 0
    assert m.loc["Roseburia", "n_features"] == 1


def test_no_genus_names_is_an_error():
    ad = new_adata(np.ones((2, 2)), obs_names=["a", "b"], var_names=["ASV1", "ASV2"], unit="counts", reader="t")
    with pytest.raises(gb.DataValueError, match="genus"):
        health_index(ad)


def test_separates_healthy_from_cirrhosis_in_mlrepo(shared):
    from gutbrain.ml._compendia import load_mlrepo

    ad = load_mlrepo(shared / "data" / "mlrepo_knights_subset", "qin2014", "task-healthy-cirrhosis")
    v = health_index(ad)
    lab = ad.obs["label"].astype(str)
    assert pd.Series(v.to_numpy()[lab == "Healthy"]).median() > pd.Series(v.to_numpy()[lab == "Cirrhosis"]).median()
