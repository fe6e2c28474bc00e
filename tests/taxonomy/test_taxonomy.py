"""One organism, one name: every rule of gutbrain.taxonomy on real strings from ../shared."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain import InputFormatError
from gutbrain._core import new_adata
from gutbrain.cli import app
from gutbrain.taxonomy import (
    lineage_frame,
    match_taxa,
    ncbi_lineage,
    ncbi_taxid,
    parse_lineage,
    taxon_key,
    taxon_name,
)
from tests.conftest import shared_path


def _ag_genus_strings():
    path = shared_path("data", "americangut2014_migraine_selfreport_16s", "fecal_genus_counts.tsv.gz")
    with gzip.open(path, "rt") as fh:
        next(fh)
        return [ln.split("\t", 1)[0] for ln in fh]


def _lineage(strings, genus_suffix):
    return next(s for s in strings if s.endswith(genus_suffix))


# ----------------------------------------------------------------------------- Greengenes
def test_greengenes_brackets_are_part_of_the_name():
    ag = _ag_genus_strings()
    gnavus = _lineage(ag, "f__Lachnospiraceae;g__[Ruminococcus]")
    rumino = _lineage(ag, "f__Ruminococcaceae;g__Ruminococcus")
    assert parse_lineage(gnavus)["genus"] == "[Ruminococcus]"
    assert taxon_key(gnavus) == "genus:[ruminococcus]|family:lachnospiraceae"
    assert taxon_key(rumino) == "genus:ruminococcus|family:ruminococcaceae"
    # bracketed families are other families too: Alteromonadales [Chromatiaceae]
    chrom = [s for s in ag if "Chromatiaceae];g__" in s or "f__Chromatiaceae;g__" in s]
    assert len({taxon_key(s, "family") for s in chrom}) == 2
    # in a species binomial the bracket only flags the genus: the same species
    assert taxon_key("f__Lachnospiraceae;g__[Ruminococcus];s__gnavus") == taxon_key(
        "s__Ruminococcus_gnavus") == "species:mediterraneibacter gnavus"


def test_greengenes_empty_rank_is_unclassified_never_merged():
    ag = _ag_genus_strings()
    empty = _lineage(ag, "f__Lachnospiraceae;g__")
    assert parse_lineage(empty)["genus"] == ""
    assert taxon_name(empty, "genus") == "unclassified Lachnospiraceae"
    assert taxon_key(empty, "genus") == "genus:unclassified|family:lachnospiraceae"
    keys = {taxon_key(s, "genus") for s in ag}
    assert len(keys) == len(ag)  # every lineage of the table is its own organism


def test_american_gut_genus_table_reproduced_exactly(tmp_path):
    """`gutbrain convert --rank genus` of the American Gut BIOM gives the shared genus table.

    fecal_genus_counts.tsv.gz holds the genus-level sums of the same rarefied OTU counts for
    the 1569 fecal samples (SOURCE.txt): all 724 lineages, bracketed homonyms apart, must
    come out with equal sums, and the totals of every sample are preserved.
    """
    biom = shared_path("data", "americangut2014_migraine_selfreport_16s", "AG_100nt_even10k.biom.gz")
    ref = pd.read_csv(shared_path("data", "americangut2014_migraine_selfreport_16s",
                                  "fecal_genus_counts.tsv.gz"), sep="\t", index_col=0)
    out = tmp_path / "genus.h5ad"
    res = CliRunner().invoke(app, ["convert", str(biom), str(out), "--rank", "genus"])
    assert res.exit_code == 0, res.output
    g = gb.io.read_h5ad(out)
    ref.index = [taxon_key(s, "genus") for s in ref.index]
    assert ref.index.is_unique and len(ref) == 724
    samples = list(ref.columns)
    ours = g[samples]
    X = ours.X.toarray() if hasattr(ours.X, "toarray") else np.asarray(ours.X)
    ours = pd.DataFrame(X.T, index=g.var["taxon_key"], columns=samples)
    assert set(ref.index) <= set(ours.index)
    np.testing.assert_array_equal(ours.loc[ref.index].to_numpy(), ref.to_numpy())
    assert ours.drop(index=ref.index).to_numpy().sum() == 0  # the rest: genera of non-fecal samples
    for name in ("[Ruminococcus]", "Ruminococcus", "[Eubacterium]", "[Prevotella]", "Prevotella"):
        assert name in g.var_names
    assert g.var.loc["[Ruminococcus]", "family"] == "Lachnospiraceae"
    assert g.var.loc["Ruminococcus", "family"] == "Ruminococcaceae"


# ----------------------------------------------------------------------------- SILVA
def _dnbs():
    return gb.io.read(shared_path("data", "dnbs_fmt_visceral_pain_rodent", "genus_table_from_dada2.csv"))


def test_silva_spaced_names_and_placeholders_keep_their_family(tmp_path):
    ad = _dnbs()
    v = ad.var.set_index("taxon_name")
    assert v.loc["Clostridium sensu stricto 1", "family"] == "Clostridiaceae"
    assert v.loc["[Ruminococcus] gnavus group", "taxon_key"] == (
        "genus:[ruminococcus] gnavus group|family:lachnospiraceae")
    incertae = ad.var[ad.var["genus"] == "Incertae Sedis"]
    assert sorted(incertae["taxon_name"]) == ["Incertae Sedis (f. Ethanoligenenaceae)",
                                              "Incertae Sedis (f. Ruminococcaceae)"]
    assert incertae["taxon_key"].is_unique
    # SILVA genus names made of a family name and a code are genera of their own
    ucg = ad.var[ad.var["genus"] == "UCG-002"]
    assert (ucg["family"] == "Oscillospiraceae").all() and len(ucg) == 1
    # convert at genus rank keeps both Incertae Sedis apart, totals equal the inputs'
    out = tmp_path / "genus.tsv"
    res = CliRunner().invoke(app, ["convert", str(shared_path(
        "data", "dnbs_fmt_visceral_pain_rodent", "genus_table_from_dada2.csv")), str(out), "--rank", "genus"])
    assert res.exit_code == 0, res.output
    back = pd.read_csv(out, sep="\t", index_col=0)
    assert {"Incertae Sedis (f. Ethanoligenenaceae)", "Incertae Sedis (f. Ruminococcaceae)"} <= set(back.index)
    assert back.loc["Incertae Sedis (f. Ruminococcaceae)", "taxonomy"].endswith(
        "f__Ruminococcaceae; g__Incertae Sedis")
    X = ad.X.toarray() if hasattr(ad.X, "toarray") else np.asarray(ad.X)
    np.testing.assert_array_equal(back.drop(columns="taxonomy").sum(axis=0).to_numpy(),
                                  X.sum(axis=1))


def test_silva_qiime_underscores_match_spaced_names():
    key = taxon_key("d__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; "
                    "f__Clostridiaceae; g__Clostridium_sensu_stricto_1")
    ad = _dnbs()
    assert key in set(ad.var["taxon_key"])
    assert taxon_key("D_0__Bacteria;D_4__Muribaculaceae;D_5__uncultured") != taxon_key(
        "D_0__Bacteria;D_4__Lachnospiraceae;D_5__uncultured")


# ----------------------------------------------------------------------------- GTDB
def _mars_genera():
    with gzip.open(shared_path("data", "mars2020_ibs_longitudinal", "genera.counts.tsv.gz"), "rt") as fh:
        return fh.readline().rstrip("\n").split("\t")[1:]


def test_gtdb_suffixes_are_names_and_join_only_within_the_family():
    cols = _mars_genera()
    feats = [c for c in cols if ";g__Ruminococcus" in c]
    fams = {parse_lineage(c)["genus"]: parse_lineage(c)["family"] for c in feats}
    assert fams["Ruminococcus"] == "Ruminococcaceae" and fams["Ruminococcus_B"] == "Lachnospiraceae"
    assert len({taxon_key(c) for c in feats}) == len(feats)
    m = match_taxa(feats, ["Ruminococcus"], rank="genus")
    got = {parse_lineage(feats[i])["genus"] for i in m["feature_index"][0]}
    same_family = {g for g, f in fams.items() if f == "Ruminococcaceae"}
    assert got == same_family and "Ruminococcus_B" not in got
    assert "not matched to Ruminococcus (another family)" in m.attrs["notes"][0]
    # evidence lookup follows the same rule (the NCBI family of the evidence genus decides)
    rec = gb.kb.reconcile([c for c in cols if c.endswith(";g__Blautia_A")])
    assert rec["match"].tolist() == ["gtdb_suffix"] and rec["matched_name"].tolist() == ["Blautia"]


# ----------------------------------------------------------------------------- MetaPhlAn
def test_metaphlan_genus_is_the_clade_genus_as_written():
    tax = pd.read_csv(shared_path("data", "ferreiro2023_preclinical_alzheimers", "taxonomy.tsv"), sep="\t")
    leptum = tax.loc[tax["Species"] == "s__Clostridium_leptum", "taxon"].iloc[0]
    row = parse_lineage(leptum)
    assert row["genus"] == "Ruminococcaceae_unclassified" and row["species"] == "Clostridium leptum"
    assert taxon_key(leptum, "genus") == "genus:unclassified|family:ruminococcaceae"
    assert taxon_name(leptum, "genus") == "Ruminococcaceae_unclassified"


def test_metaphlan_all_ranks_collapse_keeps_metaphlans_genus_rows(tmp_path):
    path = shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    full = gb.io.read(path, rank="all")
    own = full[:, full.var["clade_rank"] == "genus"]
    expected = pd.Series(np.asarray(own.X).ravel(), index=[parse_lineage(c)["genus"] for c in own.var_names])
    out = tmp_path / "genus.tsv"
    res = CliRunner().invoke(app, ["convert", str(path), str(out), "--rank", "genus"])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, sep="\t", index_col=0).iloc[:, -1]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    assert "Lachnospiraceae_unclassified" in got.index
    # the species-level read has no genus rows: its species are summed instead
    sp_only = gb.io.read(path)
    summed = gb.pp.collapse(sp_only, "genus")
    assert summed.uns["collapse"]["source"] == "features"
    assert gb.pp.collapse(full, "genus").uns["collapse"]["source"] == "clade rows at rank"


def test_metaphlan4_ggb_sgb_levels_are_kept_and_collapsible():
    names = pd.read_csv(shared_path("reference", "maaslin3_hmp2", "HMP2_taxonomy.tsv"), sep="\t",
                        nrows=0).columns
    sgb = next(n for n in names if n.startswith("GGB"))  # e.g. GGB3746_SGB5089
    ggb, sgb_id = sgb.split("_")
    clades = [f"k__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae|g__{ggb}|s__{sgb}|t__{sgb_id}",
              "k__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae|g__Blautia|s__Blautia_obeum|t__SGB4810"]
    var = lineage_frame(clades, index=clades)
    assert var["genus"].tolist()[0] == ggb and var["strain"].tolist() == [sgb_id, "SGB4810"]
    ad = new_adata(np.array([[3.0, 7.0]]), obs_names=["s"], var_names=clades, unit="percent",
                   reader="t", var=var)
    assert gb.pp.collapse(ad, "strain").var_names.tolist() == [sgb_id, "SGB4810"]
    assert gb.pp.collapse(ad, "genus").var_names.tolist() == [ggb, "Blautia"]


def test_maaslin3_r_style_table_reads_samples_by_species():
    ad = gb.io.read(shared_path("reference", "maaslin3_hmp2", "HMP2_taxonomy.tsv"))
    assert ad.shape == (1527, 151)
    assert ad.uns["gutbrain"]["params"]["orientation_rule"] == "feature-like column labels"
    assert ad.var.loc["Phocaeicola_vulgatus", "taxon_key"] == "species:phocaeicola vulgatus"
    assert ad.var.loc["Phocaeicola_vulgatus", "genus"] == "Phocaeicola"


# ----------------------------------------------------------------------------- matching
def test_homonym_in_the_input_is_reported_not_guessed():
    feats = ["k__Bacteria;f__Clostridiaceae;g__Clostridium", "k__Bacteria;f__Lachnospiraceae;g__Clostridium"]
    m = match_taxa(feats, ["Clostridium"], rank="genus")
    assert m["match"].tolist() == ["ambiguous"] and m["n_features"].tolist() == [0]
    assert "genus Clostridium is in 2 families" in m.attrs["notes"][0]
    chosen = match_taxa(feats, pd.DataFrame({"name": ["Clostridium"], "rank": ["genus"],
                                             "family": ["Clostridiaceae"]}))
    assert chosen["feature_index"].tolist() == [(0,)]
    rec = gb.kb.reconcile(feats)  # evidence Clostridium is Clostridiaceae (its NCBI taxid)
    assert rec["match"].tolist() == ["exact", "none"]
    ad = new_adata(np.array([[1.0, 2.0, 3.0]]), obs_names=["s"], unit="counts", reader="t",
                   var_names=[*feats, "k__Bacteria;f__Lachnospiraceae;g__Roseburia"],
                   var=lineage_frame([*feats, "k__Bacteria;f__Lachnospiraceae;g__Roseburia"]).set_axis(
                       [*feats, "k__Bacteria;f__Lachnospiraceae;g__Roseburia"]))
    gb.tl.gut_brain_indices(ad, indices=["butyrate_capacity"])
    assert all("Clostridium" not in n or "families" in n for n in ad.uns["gut_brain_indices"]["notes"])


def test_one_matching_implementation_is_used_everywhere():
    import inspect

    from gutbrain.kb import _taxa
    from gutbrain.ml import _health_index
    from gutbrain.tl import _gmhi, _gmwi2, _indices, _match

    for mod in (_gmhi, _gmwi2, _indices, _health_index, _taxa):
        assert "match_taxa" in inspect.getsource(mod), mod.__name__
    for gone in ("read_clade_table", "read_any_table", "_fallback_read"):
        assert not hasattr(_match, gone)
    # bare names are read by their form: a binomial is a species
    m = match_taxa(["Enterocloster bolteae", "s__Bacteroides_uniformis", "Roseburia"],
                   ["Clostridium bolteae", "Alistipes shahii", "Roseburia"])
    assert m["feature_index"].tolist() == [(0,), (), (2,)]
    assert m["match"].tolist() == ["synonym", "none", "name"]


@pytest.mark.slow
def test_published_crc_genera_reproduced_by_name_from_metaml():
    """MicrobiomeHD (Duvallet 2017, Nat Commun 8:1784, Supplementary File S1) lists the genera
    changed in Zeller 2014's colorectal-cancer cohort; the strongest, Fusobacterium,
    Peptostreptococcus and Porphyromonas (q = 8.1e-5, 8.1e-5, 0.013, enriched in CRC), must be
    found by name in MetAML's MetaPhlAn 2 profiles of the same study (genus rows) and be
    enriched in cancer at BH q < 0.05 (Mann-Whitney)."""
    from scipy.stats import mannwhitneyu
    from statsmodels.stats.multitest import multipletests

    ad = gb.io.read(shared_path("data", "metaml_pasolli2016_metaphlan2", "abundance.txt.bz2"), rank="all")
    z = ad[(ad.obs["dataset_name"].astype(str) == "Zeller_fecal_colorectal_cancer").to_numpy()
           & ad.obs["disease"].astype(str).isin(["cancer", "n"]).to_numpy()].copy()
    g = gb.pp.collapse(z, "genus")
    X = g.X.toarray() if hasattr(g.X, "toarray") else np.asarray(g.X)
    P = X / X.sum(axis=1, keepdims=True)
    case = (g.obs["disease"].astype(str) == "cancer").to_numpy()
    assert case.sum() == 48 and (~case).sum() == 47
    p = np.array([mannwhitneyu(P[case, j], P[~case, j]).pvalue if P[:, j].any() else 1.0
                  for j in range(P.shape[1])])
    q = multipletests(p, method="fdr_bh")[1]
    mhd = pd.read_csv(shared_path("data", "microbiomehd_reference_results", "file-S1.qvalues.txt"),
                      sep="\t", index_col=0)["crc_zeller"].dropna()
    m = match_taxa(g, mhd.index.tolist())
    assert (m["match"] != "ambiguous").all()
    assert (m["match"] != "none").sum() >= 120  # of 193 genera (16S RDP names vs MetaPhlAn 2)
    hits = dict(zip([s.split("g__")[-1] for s in mhd.index], m["feature_index"], strict=True))
    for genus in ("Fusobacterium", "Peptostreptococcus", "Porphyromonas"):
        (j,) = hits[genus]
        assert q[j] < 0.05 and P[case, j].mean() > P[~case, j].mean(), genus
    # RDP's Clostridium XI (Peptostreptococcaceae) is not MetaPhlAn's Clostridium
    assert hits["Clostridium_XI"] == ()


# ----------------------------------------------------------------------------- NCBI
def test_ncbi_lineage_agrees_with_metaphlan_taxids():
    full = gb.io.read(shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt"),
                      rank="all")
    genus = full.var[(full.var["clade_rank"] == "genus") & (full.var["domain"] == "Bacteria")]
    genus = genus[[not gb.taxonomy.is_placeholder(g) for g in genus["genus"]]]
    look = ncbi_lineage(genus["taxid"])
    same = (look["name"].to_numpy() == genus["genus"].to_numpy())
    assert same.mean() >= 0.9, look.loc[~same, "name"].tolist()
    assert (look.loc[same, "rank"] == "genus").all()
    fp = ncbi_lineage(["853"]).iloc[0]
    assert (fp["name"], fp["rank"], fp["genus"], fp["family"], fp["phylum"]) == (
        "Faecalibacterium prausnitzii", "species", "Faecalibacterium", "Oscillospiraceae", "Bacillota")
    back = ncbi_taxid(["Faecalibacterium", "[Clostridium] leptum", "Nonexistentia"])
    assert back["taxid"].tolist()[:2] == [216851, 1535] and pd.isna(back["taxid"].iloc[2])
    assert back["n_matches"].tolist() == [1, 1, 0]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("lineage", "message"), [
    ("x__Bacteria;g__Roseburia", "unknown rank prefix 'x__'"),
    ("k__Bacteria;g__Roseburia;g__Blautia", "gives the genus twice"),
    ("k__Bacteria;g__Roseburia;f__Lachnospiraceae", "out of order"),
])
def test_lineages_that_read_two_ways_are_one_line_errors(tmp_path, lineage, message):
    with pytest.raises(InputFormatError, match=message):
        parse_lineage(lineage)
    tax = tmp_path / "taxonomy.tsv"
    tax.write_text(f"Feature ID\tTaxon\nASV1\t{lineage}\n")
    with pytest.raises(InputFormatError, match=f"feature 'ASV1': .*{message}") as e:
        gb.io.read_taxonomy(tax)
    assert "\n" not in str(e.value) and "Fix:" in str(e.value)


def test_taxonomy_ids_not_in_the_table_are_named(tmp_path):
    tax = shared_path("data", "giloteaux2016_mecfs_16s", "taxonomy_table_features.tsv")
    table = gb.io.read(shared_path("data", "giloteaux2016_mecfs_16s", "feature_table.tsv"))
    sub = table[:, table.var_names[:-2]].copy()
    out = gb.io.attach_taxonomy(sub, tax)
    assert out.var["taxon_key"].str.len().gt(0).all()
    small = tmp_path / "tax.tsv"
    pd.read_csv(tax, sep="\t").iloc[:-5].to_csv(small, sep="\t", index=False)
    part = gb.io.attach_taxonomy(table, small)
    params = part.uns["gutbrain"]["params"]
    assert params["taxonomy_missing"] == 5 and len(params["taxonomy_missing_features"]) == 5
    assert (part.var.loc[params["taxonomy_missing_features"], "taxon_name"] == "unclassified").all()
