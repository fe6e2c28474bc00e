from __future__ import annotations

import re
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import gutbrain as gb
from gutbrain import DataValueError, UnitError
from gutbrain._core import RANKS, new_adata
from gutbrain.pp._taxonomy import _group_labels, synonym_table
from gutbrain.testing.strategies import count_adatas

FAST = settings(max_examples=40, deadline=None)

# The 23 genera described by Zheng et al. 2020 (IJSEM 70:2782-2858, doi:10.1099/ijsem.0.004107)
# plus the emended Lactobacillus.
ZHENG_GENERA = {
    "Acetilactobacillus", "Agrilactobacillus", "Amylolactobacillus", "Apilactobacillus",
    "Bombilactobacillus", "Companilactobacillus", "Dellaglioa", "Fructilactobacillus",
    "Furfurilactobacillus", "Holzapfelia", "Lacticaseibacillus", "Lactiplantibacillus",
    "Lapidilactobacillus", "Latilactobacillus", "Lentilactobacillus", "Levilactobacillus",
    "Ligilactobacillus", "Limosilactobacillus", "Liquorilactobacillus", "Loigolactobacillus",
    "Paucilactobacillus", "Schleiferilactobacillus", "Secundilactobacillus", "Lactobacillus",
}


# ----------------------------------------------------------------------------- the table
def test_synonym_table_is_well_formed():
    df = synonym_table()
    assert list(df.columns) == ["old_name", "new_name", "rank", "reason", "doi"]
    assert len(df) >= 60
    assert df["doi"].str.match(r"^10\.\d{4,9}/\S+$").all()
    assert (df["reason"].str.len() > 10).all()
    # one row per old name and rank (case-insensitive)
    keys = df["old_name"].str.lower() + "|" + df["rank"]
    assert not keys.duplicated().any()
    # no chains: a target is never renamed again
    olds = dict(zip(df["old_name"].str.lower(), df["new_name"]))
    for new in df["new_name"]:
        assert olds.get(new.lower(), new) == new, new
    # every Lactobacillus row goes to a Zheng 2020 genus, keeps its epithet and cites Zheng 2020
    lac = df[df["old_name"].str.startswith("Lactobacillus ")]
    assert len(lac) >= 40
    assert (lac["doi"] == "10.1099/ijsem.0.004107").all()
    assert lac["new_name"].str.split(" ").str[0].isin(ZHENG_GENERA).all()
    assert (lac["old_name"].str.split(" ").str[1] == lac["new_name"].str.split(" ").str[1]).all()


def test_uncertain_dois_are_flagged():
    df = synonym_table()
    confident = {
        "10.1099/ijsem.0.004107", "10.1016/j.anaerobe.2016.06.008", "10.3389/fmicb.2019.02083",
        "10.1099/ijsem.0.001367", "10.1099/ijsem.0.005056",
        "10.1099/ijsem.0.003698",  # Haas & Blanchard 2020, Enterocloster
        "10.1099/ijsem.0.005528",  # Oren, Mares & Rippka 2022, Cyanobacteriota
    }
    flagged = df["reason"].str.contains("not verified")
    assert (flagged | df["doi"].isin(confident)).all()


# ----------------------------------------------------------------------------- canonical_name
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Lactobacillus fermentum", "Limosilactobacillus fermentum"),
        ("Lactobacillus reuteri", "Limosilactobacillus reuteri"),
        ("Lactobacillus plantarum", "Lactiplantibacillus plantarum"),
        ("Lactobacillus casei", "Lacticaseibacillus casei"),
        ("Lactobacillus paracasei", "Lacticaseibacillus paracasei"),
        ("Lactobacillus rhamnosus", "Lacticaseibacillus rhamnosus"),
        ("Lactobacillus salivarius", "Ligilactobacillus salivarius"),
        ("Lactobacillus brevis", "Levilactobacillus brevis"),
        ("Lactobacillus buchneri", "Lentilactobacillus buchneri"),
        ("Lactobacillus sakei", "Latilactobacillus sakei"),
        ("Lactobacillus curvatus", "Latilactobacillus curvatus"),
        ("Lactobacillus fructivorans", "Fructilactobacillus fructivorans"),
        ("Lactobacillus ruminis", "Ligilactobacillus ruminis"),
        ("Lactobacillus mucosae", "Limosilactobacillus mucosae"),
        ("Lactobacillus vaginalis", "Limosilactobacillus vaginalis"),
        ("Lactobacillus animalis", "Ligilactobacillus animalis"),
        ("Lactobacillus pentosus", "Lactiplantibacillus pentosus"),
        ("Lactobacillus zeae", "Lacticaseibacillus zeae"),
        ("Lactobacillus oris", "Limosilactobacillus oris"),
        ("Lactobacillus murinus", "Ligilactobacillus murinus"),
        ("Lactobacillus gasseri", "Lactobacillus gasseri"),
        ("Lactobacillus acidophilus", "Lactobacillus acidophilus"),
        ("Lactobacillus crispatus", "Lactobacillus crispatus"),
        ("Lactobacillus johnsonii", "Lactobacillus johnsonii"),
        ("Lactobacillus delbrueckii", "Lactobacillus delbrueckii"),
        ("Lactobacillus helveticus", "Lactobacillus helveticus"),
        ("Clostridium difficile", "Clostridioides difficile"),
        ("Eubacterium rectale", "Agathobacter rectalis"),
        ("Ruminococcus gnavus", "Mediterraneibacter gnavus"),
        ("Bacteroides vulgatus", "Phocaeicola vulgatus"),
        ("Bacteroides dorei", "Phocaeicola dorei"),
        ("Bacteroides salanitronis", "Phocaeicola salanitronis"),
        ("Clostridium bolteae", "Enterocloster bolteae"),
        ("Clostridium clostridioforme", "Enterocloster clostridioformis"),
        ("Clostridium citroniae", "Enterocloster citroniae"),
        ("Clostridium asparagiforme", "Enterocloster asparagiformis"),
        ("Clostridium aldenense", "Enterocloster aldenensis"),
        ("Clostridium hathewayi", "Hungatella hathewayi"),
        ("Clostridium ramosum", "Thomasclavelia ramosa"),
        ("Erysipelatoclostridium ramosum", "Thomasclavelia ramosa"),
        ("Ruminococcus productus", "Blautia producta"),
        ("Atopobium parvulum", "Lancefieldella parvula"),
        ("Propionibacterium acnes", "Cutibacterium acnes"),
        ("Bifidobacterium infantis", "Bifidobacterium longum subsp. infantis"),
        ("Firmicutes", "Bacillota"),
        ("Bacteroidetes", "Bacteroidota"),
        ("Proteobacteria", "Pseudomonadota"),
        ("Actinobacteria", "Actinomycetota"),
        ("Tenericutes", "Mycoplasmatota"),
        ("Cyanobacteria", "Cyanobacteriota"),
    ],
)
def test_canonical_name_published_renames(old, new):
    assert gb.pp.canonical_name(old) == new
    # explicit "stays" rows are in the table, so lookups are explicit, not fall-through
    assert old.lower() in set(synonym_table()["old_name"].str.lower())


@pytest.mark.parametrize(
    ("raw", "rank", "expected"),
    [
        ("Lactobacillus_fermentum", "species", "Limosilactobacillus fermentum"),  # MetaPhlAn
        ("Lactobacillus_fermentum", None, "Limosilactobacillus fermentum"),
        ("s__Lactobacillus_reuteri", None, "Limosilactobacillus reuteri"),
        ("lactobacillus FERMENTUM", None, "Limosilactobacillus fermentum"),
        ("  Lactobacillus   plantarum ", None, "Lactiplantibacillus plantarum"),
        ("[Eubacterium] rectale", "species", "Agathobacter rectalis"),
        ("Lactobacillus rhamnosus GG", None, "Lacticaseibacillus rhamnosus GG"),
        ("Lactobacillus casei subsp. casei", "species", "Lacticaseibacillus casei subsp. casei"),
        ("p__Firmicutes", None, "Bacillota"),
        ("Actinobacteria", "class", "Actinobacteria"),  # the class is not the phylum
        ("Actinobacteria", "phylum", "Actinomycetota"),
        ("Firmicutes", "species", "Firmicutes"),
        ("Roseburia", "genus", "Roseburia"),
        ("Faecalibacterium_prausnitzii", "species", "Faecalibacterium prausnitzii"),
        ("Roseburia_unclassified", "species", ""),
        ("", None, ""),
        (None, None, ""),
        (float("nan"), None, ""),
    ],
)
def test_canonical_name_cleaning_and_rank(raw, rank, expected):
    assert gb.pp.canonical_name(raw, rank=rank) == expected


def test_canonical_name_is_idempotent_on_every_table_name():
    df = synonym_table()
    for name in pd.concat([df["old_name"], df["new_name"]]):
        c = gb.pp.canonical_name(name)
        assert gb.pp.canonical_name(c) == c
        assert c == df.loc[df["old_name"].eq(name) | df["new_name"].eq(name), "new_name"].iloc[0]


def test_one_synonym_table_in_the_package():
    """pp/data/synonyms.tsv is the only rename table; gb.taxonomy and kb resolve names through it."""
    import gutbrain
    from gutbrain.kb import _taxa
    from gutbrain.tl import _match

    root = Path(gutbrain.__file__).parent
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("synonyms*.tsv")) == [
        "pp/data/synonyms.tsv"]
    assert not hasattr(_match, "synonym_table")
    df = synonym_table()
    for old, new in zip(df["old_name"], df["new_name"], strict=True):
        # an old and a current name share a matching key (the current name's)
        assert gb.taxonomy.name_keys(old) & gb.taxonomy.name_keys(new) == {
            new.lower().replace("[", "").replace("]", "")}
        assert _taxa._canonical(old) == gb.pp.canonical_name(old) == new


def test_resolve_synonyms_matches_elementwise():
    names = ["Lactobacillus plantarum", "Roseburia", "Lactobacillus plantarum", None,
             "Bacteroides vulgatus"]
    assert gb.pp.resolve_synonyms(names) == [gb.pp.canonical_name(n) for n in names]
    assert gb.pp.resolve_synonyms(["Actinobacteria"], rank="class") == ["Actinobacteria"]


def test_genus_aliases_both_ways():
    assert gb.pp.genus_aliases("Limosilactobacillus") == ["Limosilactobacillus", "Lactobacillus"]
    lac = gb.pp.genus_aliases("Lactobacillus")
    assert lac[0] == "Lactobacillus"
    assert {"Limosilactobacillus", "Lactiplantibacillus", "Lacticaseibacillus",
            "Ligilactobacillus"} <= set(lac)
    # one step only: segregate genera are not aliases of each other
    assert "Lactiplantibacillus" not in gb.pp.genus_aliases("Limosilactobacillus")
    assert gb.pp.genus_aliases("Bacteroidetes") == ["Bacteroidota", "Bacteroidetes"]
    assert gb.pp.genus_aliases("Bacteroidota") == ["Bacteroidota", "Bacteroidetes"]
    assert gb.pp.genus_aliases("Clostridioides difficile") == [
        "Clostridioides difficile", "Clostridium difficile", "Peptoclostridium difficile"]
    assert gb.pp.genus_aliases("Phocaeicola") == ["Phocaeicola", "Bacteroides"]
    assert gb.pp.genus_aliases("Roseburia") == ["Roseburia"]


def test_join_across_taxonomies_via_canonical_names():
    old_table = pd.DataFrame({"taxon": ["Lactobacillus reuteri", "Eubacterium_rectale",
                                        "Faecalibacterium prausnitzii"], "x": [1, 2, 3]})
    evidence = pd.DataFrame({"taxon": ["Limosilactobacillus reuteri", "Agathobacter rectalis",
                                       "Faecalibacterium prausnitzii"], "y": [10, 20, 30]})
    for df in (old_table, evidence):
        df["key"] = gb.pp.resolve_synonyms(df["taxon"])
    joined = old_table.merge(evidence, on="key")
    assert joined["x"].tolist() == [1, 2, 3]
    assert joined["y"].tolist() == [10, 20, 30]


def test_reexports_are_the_lineage_parser():
    from gutbrain import _taxonomy

    assert gb.pp.parse_lineage is _taxonomy.parse_lineage
    assert gb.pp.lineage_frame is gb.taxonomy.lineage_frame
    assert gb.pp.normalize_name is _taxonomy.normalize_name
    assert set(gb.pp.__all__) >= {
        "parse_lineage", "lineage_frame", "normalize_name", "canonical_name", "resolve_synonyms",
        "genus_aliases", "normalize_taxonomy", "collapse", "relative", "clr", "rarefy",
        "filter_samples", "filter_features"}


def test_lineage_frame_missing_lineage_gives_empty_taxonomy():
    df = gb.pp.lineage_frame(["k__Bacteria;g__Roseburia", None, float("nan")])
    assert df["genus"].tolist() == ["Roseburia", "", ""]
    assert df["taxonomy"].tolist() == ["k__Bacteria;g__Roseburia", "", ""]


# ----------------------------------------------------------------------------- normalize_taxonomy
def _taxo_adata():
    var = pd.DataFrame(
        {
            "domain": ["Bacteria"] * 5,
            "phylum": ["Firmicutes", "Firmicutes", "Actinobacteria", "Bacteroidetes", "Firmicutes"],
            "class": ["Bacilli", "Bacilli", "Actinobacteria", "Bacteroidia", "Clostridia"],
            "genus": ["Lactobacillus", "Lactobacillus", "Bifidobacterium", "Bacteroides",
                      "[Ruminococcus]"],
            "species": ["Lactobacillus fermentum", "Lactobacillus gasseri",
                        "Bifidobacterium infantis", "Bacteroides_vulgatus", ""],
            "taxonomy": ["orig"] * 5,
        }
    )
    return new_adata(np.arange(10.0).reshape(2, 5), obs_names="ab",
                     var_names=[f"f{i}" for i in range(5)], unit="counts", reader="t", var=var)


def test_normalize_taxonomy_renames_species_and_genus_consistently(tmp_path):
    ad = _taxo_adata()
    gb.pp.normalize_taxonomy(ad)
    v = ad.var
    assert v["species"].tolist() == ["Limosilactobacillus fermentum", "Lactobacillus gasseri",
                                     "Bifidobacterium longum subsp. infantis",
                                     "Phocaeicola vulgatus", ""]
    # Greengenes brackets are part of a genus name: [Ruminococcus] is not Ruminococcus
    assert v["genus"].tolist() == ["Limosilactobacillus", "Lactobacillus", "Bifidobacterium",
                                   "Phocaeicola", "[Ruminococcus]"]
    assert v["phylum"].tolist() == ["Bacillota", "Bacillota", "Actinomycetota", "Bacteroidota",
                                    "Bacillota"]
    assert v["class"].tolist()[2] == "Actinobacteria"  # class untouched by the phylum row
    assert v["taxonomy"].tolist() == ["orig"] * 5
    res = ad.uns["normalize_taxonomy"]
    # species: fermentum, infantis, vulgatus; genus: Limosi-, Phocaeicola
    assert res["n_changed"] == {"domain": 0, "phylum": 5, "class": 0, "genus": 2, "species": 3}
    assert len(res["changes"]) == 10
    assert v["taxon_key"].tolist()[4] == "genus:[ruminococcus]"
    # idempotent: a second pass changes nothing
    gb.pp.normalize_taxonomy(ad)
    assert sum(ad.uns["normalize_taxonomy"]["n_changed"].values()) == 0
    p = tmp_path / "n.h5ad"
    ad.write_h5ad(p)
    back = anndata.read_h5ad(p)
    assert back.var["genus"].tolist()[0] == "Limosilactobacillus"


def test_normalize_taxonomy_without_ranks_is_a_clear_error():
    ad = new_adata(np.ones((2, 2)), obs_names="ab", var_names="xy", unit="counts", reader="t")
    with pytest.raises(DataValueError, match="attach a taxonomy"):
        gb.pp.normalize_taxonomy(ad)


# ----------------------------------------------------------------------------- collapse
def _groupby_peer(ad, rank, labels):
    X = ad.X.toarray() if sp.issparse(ad.X) else np.asarray(ad.X)
    df = pd.DataFrame(X.T, index=labels)
    return df.groupby(level=0, sort=False).sum().T


@FAST
@given(count_adatas(min_samples=1, max_features=20), st.sampled_from(["phylum", "family", "genus",
                                                                       "species"]))
def test_collapse_preserves_totals_and_matches_groupby(ad, rank):
    out = gb.pp.collapse(ad, rank)
    before = np.asarray(ad.X.sum(axis=1)).ravel()
    after = np.asarray(out.X.sum(axis=1)).ravel()
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-9)
    assert out.uns["gutbrain"]["X_unit"] == "counts"
    assert out.var["n_features"].sum() == ad.n_vars
    # peer: pandas groupby on the match key at the rank (one organism per output feature)
    peer = _groupby_peer(ad, rank, _group_labels(ad.var, rank))
    got = out.X.toarray() if sp.issparse(out.X) else out.X
    np.testing.assert_allclose(got, peer[list(out.var["taxon_key"])].to_numpy(), atol=1e-9)
    assert out.var["taxon_key"].is_unique and out.var_names.is_unique
    assert out.var["feature_id"].tolist() == out.var_names.tolist()
    assert [c for c in out.var.columns if c in RANKS][-1] == rank


def test_collapse_labels_unclassified_by_nearest_named_rank(tmp_path):
    var = pd.DataFrame({
        "domain": ["Bacteria"] * 5 + [""],
        "phylum": ["Bacillota"] * 4 + ["Bacteroidota", ""],
        "family": ["Lachnospiraceae", "Lachnospiraceae", "Lachnospiraceae", "", "Bacteroidaceae",
                   ""],
        "genus": ["Roseburia", "Roseburia", "", "", "Bacteroides", ""],
    })
    X = np.array([[1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0], [10, 0, 5, 0, 0, 5]], dtype=float)
    ad = new_adata(X, obs_names=["s1", "s2", "s3"], var_names=list("abcdef"), unit="counts",
                   reader="t", var=var, sparse=True)
    out = gb.pp.collapse(ad, "genus")
    assert out.var_names.tolist() == ["Roseburia", "unclassified Lachnospiraceae",
                                      "unclassified Bacillota", "Bacteroides", "unclassified"]
    assert out.var["taxon_key"].tolist() == [
        "genus:roseburia|family:lachnospiraceae", "genus:unclassified|family:lachnospiraceae",
        "genus:unclassified|phylum:bacillota", "genus:bacteroides|family:bacteroidaceae",
        "genus:unclassified"]
    np.testing.assert_array_equal(out.X.toarray() if sp.issparse(out.X) else out.X,
                                  [[3, 3, 4, 5, 6], [0, 0, 0, 0, 0], [10, 5, 0, 0, 5]])
    assert out.var.loc["Roseburia", "family"] == "Lachnospiraceae"
    assert out.var.loc["Roseburia", "n_features"] == 2
    # the lineage is kept: the genus of an unclassified group stays empty
    assert out.var.loc["unclassified Lachnospiraceae", "genus"] == ""
    assert out.var.loc["unclassified Lachnospiraceae", "taxonomy"] == (
        "d__Bacteria; p__Bacillota; c__; o__; f__Lachnospiraceae; g__")
    dropped = gb.pp.collapse(ad, "genus", unassigned="drop")
    assert dropped.var_names.tolist() == ["Roseburia", "Bacteroides"]
    np.testing.assert_allclose(dropped.obs["unassigned_fraction_genus"], [13 / 21, 0.0, 10 / 20])
    steps = dropped.uns["gutbrain"]["steps"]
    assert list(steps) == ["000_collapse"]
    assert steps["000_collapse"]["n_vars_before"] == 6
    for obj in (out, dropped):
        p = tmp_path / "c.h5ad"
        obj.write_h5ad(p)
        back = anndata.read_h5ad(p)
        assert back.var_names.tolist() == obj.var_names.tolist()
        assert back.uns["collapse"]["params"]["rank"] == "genus"


def test_collapse_keeps_sparse_and_additive_layers_and_refuses_clr():
    ad = new_adata(sp.random(30, 50, density=0.05, format="csr", random_state=1) * 100,
                   obs_names=[f"s{i}" for i in range(30)], var_names=[f"f{j}" for j in range(50)],
                   unit="counts", reader="t", sparse=True,
                   var=pd.DataFrame({"genus": [f"g{j % 7}" for j in range(50)]}))
    gb.pp.relative(ad)
    out = gb.pp.collapse(ad, "genus")
    assert sp.issparse(out.X)
    assert out.n_vars == 7
    np.testing.assert_allclose(np.asarray(out.layers["relative"].sum(axis=1)).ravel(),
                               np.asarray(ad.layers["relative"].sum(axis=1)).ravel())
    ad2 = ad.copy()
    ad2.X = ad2.X.toarray() + 1
    gb.pp.clr(ad2)
    out2 = gb.pp.collapse(ad2, "genus")
    assert "clr" not in out2.layers
    assert out2.uns["collapse"]["dropped_layers"] == ["clr"]
    ad2.uns["gutbrain"]["X_unit"] = "clr"
    with pytest.raises(UnitError, match=r"needs additive values.*Fix:"):
        gb.pp.collapse(ad2, "genus")
    with pytest.raises(DataValueError, match=re.escape("var['species']")):
        gb.pp.collapse(ad, "species")
    with pytest.raises(DataValueError, match="unknown rank"):
        gb.pp.collapse(ad, "kingdom")
