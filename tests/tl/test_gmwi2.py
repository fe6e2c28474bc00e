"""GMWI2: published example score, contributing taxa, and MetaPhlAn 2/4 name mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain.tl import gmwi2
from gutbrain.tl._gmwi2 import gmwi2_coefficients
from tests.conftest import shared_path


def read_clade_table(path):
    """The published example through gutbrain's one MetaPhlAn reader, every rank kept."""
    return gb.io.read(path, rank="all")

EXPECTED = 1.4017773651306447  # example/SRR1761667_GMWI2.txt of the GMWI2 repository


def _example():
    return shared_path("data", "gmwi2_wellness_index")


@pytest.mark.validation(quantity="GMWI2 of the example sample SRR1761667", source="Chang et al. 2024, GMWI2 repository example", doi="10.1038/s41467-024-51651-9", tolerance="|Δ| < 1e-9")
def test_gmwi2_example_score_and_taxa(validation):
    d = _example()
    adata = read_clade_table(d / "example_SRR1761667_metaphlan.txt")
    assert adata.uns["gutbrain"]["params"]["format"] == "metaphlan"
    assert adata.uns["gutbrain"]["reader"] == "read_metaphlan"
    score = gmwi2(adata).iloc[0]
    assert abs(score - EXPECTED) < 1e-9
    assert float((d / "example_SRR1761667_GMWI2.txt").read_text()) == pytest.approx(score, abs=1e-9)
    validation.record(score, float((d / "example_SRR1761667_GMWI2.txt").read_text()))
    taxa = adata.uns["gmwi2"]["taxa"]
    ref = pd.read_csv(d / "example_SRR1761667_GMWI2_taxa.txt", sep="\t")
    assert set(taxa["clade"]) == set(ref["taxa_name"]) and len(taxa) == 22
    merged = taxa.set_index("clade")["coefficient"].reindex(ref["taxa_name"])
    assert np.allclose(merged.to_numpy(), ref["coefficient"].to_numpy(), rtol=0, atol=1e-15)
    assert adata.uns["gmwi2"]["n_model_features"] == 95


def test_shipped_coefficients_equal_released_model():
    d = _example()
    theirs = pd.read_csv(d / "gmwi2_coefficients.tsv", sep="\t").set_index("taxon")["coefficient"]
    ours = gmwi2_coefficients().set_index("clade")["coefficient"]
    assert len(ours) == 95
    assert np.array_equal(ours.reindex(theirs.index).to_numpy(), theirs.to_numpy())


def _rewrite(src, dst, *, to_v4: bool):
    """Rewrite the MetaPhlAn 3 example as a MetaPhlAn 4-style (renamed species + SGB rows) or
    MetaPhlAn 2-style (no UNKNOWN row, percentages of classified reads) profile."""
    lines = src.read_text().splitlines()
    out = []
    unknown = 0.0
    for ln in lines:
        if ln.startswith("#") or not ln.strip():
            out.append(ln)
            continue
        parts = ln.split("\t")
        if parts[0] == "UNKNOWN":
            unknown = float(parts[2])
            if to_v4:
                out.append(ln)
            continue
        clade = parts[0]
        if to_v4:
            clade = clade.replace("s__Bacteroides_vulgatus", "s__Phocaeicola_vulgatus")
            clade = clade.replace("g__Bacteroides|s__Phocaeicola", "g__Phocaeicola|s__Phocaeicola")
            out.append("\t".join([clade, *parts[1:]]))
            if clade.split("|")[-1].startswith("s__"):
                out.append("\t".join([clade + "|t__SGB0001", *parts[1:]]))
        else:
            val = float(parts[2]) / (100.0 - unknown) * 100.0
            out.append("\t".join([clade, parts[1], repr(val), ""]))
    dst.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("to_v4", [True, False])
def test_gmwi2_scores_other_metaphlan_versions(tmp_path, to_v4):
    d = _example()
    dst = tmp_path / "profile.txt"
    _rewrite(d / "example_SRR1761667_metaphlan.txt", dst, to_v4=to_v4)
    adata = read_clade_table(dst)
    score = gmwi2(adata).iloc[0]
    assert abs(score - EXPECTED) < 1e-9
    assert adata.uns["gmwi2"]["n_features_matched"] == 22
    if to_v4:
        how = adata.uns["gmwi2"]["matching"].set_index("name")["matched_by"]
        # the renamed species has the same match key (its current name)
        assert how["Bacteroides_vulgatus"] == "key"


def test_gmwi2_species_only_table_aggregates_lineage(tmp_path):
    """A species-only table is summed up its lineage: genus/family coefficients still score."""
    d = _example()
    full = read_clade_table(d / "example_SRR1761667_metaphlan.txt")
    species = full[:, full.var["clade_rank"] == "species"].copy()
    species.var = species.var.drop(columns="clade_rank")
    species.obs = species.obs.drop(columns="unclassified_percent")
    gmwi2(species)
    taxa = species.uns["gmwi2"]["taxa"]
    matching = species.uns["gmwi2"]["matching"].set_index("clade")
    genus_hit = "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Lachnospiraceae|g__Butyrivibrio"
    assert matching.loc[genus_hit, "matched_by"] == "key"
    assert genus_hit in set(taxa["clade"])


def test_gmwi2_matches_renamed_species_through_the_pp_synonym_table():
    """MetaPhlAn 4 names of renamed species score the MetaPhlAn 3 coefficients.

    The renamings come from gutbrain's one synonym table (``gb.pp.canonical_name``):
    Erysipelatoclostridium ramosum -> Thomasclavelia ramosa, Clostridium bolteae ->
    Enterocloster bolteae (Haas & Blanchard 2020), Ruminococcus gnavus -> Mediterraneibacter gnavus.
    """
    from gutbrain._core import new_adata
    from gutbrain.taxonomy import lineage_frame

    v3 = ["Erysipelatoclostridium_ramosum", "Clostridium_bolteae", "Ruminococcus_gnavus",
          "Roseburia_hominis"]
    v4 = ["s__Thomasclavelia_ramosa", "s__Enterocloster_bolteae", "s__Mediterraneibacter_gnavus",
          "s__Roseburia_hominis"]
    adata = new_adata(np.array([[10.0, 20.0, 30.0, 40.0]]), obs_names=["s"], var_names=v4,
                      unit="percent", reader="t", var=lineage_frame(v4, index=v4), sparse=False)
    coef = gmwi2_coefficients().set_index("name")["coefficient"]
    assert gmwi2(adata).iloc[0] == pytest.approx(coef[v3].sum(), rel=1e-12)
    assert adata.uns["gmwi2"]["n_features_matched"] == 4
