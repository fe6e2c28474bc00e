"""gb.io.read_table / read_taxonomy / attach_taxonomy: layouts, orientation rule, units, real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._errors import DataValueError, InputFormatError, MetadataMismatchError
from tests.conftest import shared_path

M = gb._core.get_matrix


def _shared(*parts: str) -> Path:
    return shared_path("data", *parts)


def _seqs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=120)) for _ in range(n)]


def _counts(n_samples: int, n_features: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.negative_binomial(1, 0.02, size=(n_samples, n_features)).astype(float)
    X[rng.random(X.shape) < 0.4] = 0
    return X


GG = [
    "k__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; f__Ruminococcaceae; g__Faecalibacterium; s__prausnitzii",
    "k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; f__Bacteroidaceae; g__Bacteroides; s__",
    "k__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; f__Lachnospiraceae; g__Roseburia; s__",
    "k__Bacteria; p__Actinobacteria; c__Coriobacteriia; o__Coriobacteriales; f__Coriobacteriaceae; g__Eggerthella; s__lenta",
]


# --------------------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------------------


def test_dada2_seqtab_r_write_csv_and_taxonomy(tmp_path):
    seqs = _seqs(4)
    X = _counts(5, 4)
    samples = [f"S{i}" for i in range(5)]
    p = tmp_path / "seqtab_nochim.csv"
    pd.DataFrame(X.astype(int), index=samples, columns=seqs).to_csv(p)  # R-like: empty first cell
    ad = gb.io.read_table(p)
    assert ad.obs_names.tolist() == samples and ad.var_names.tolist() == seqs
    assert ad.uns["gutbrain"]["params"]["orientation"] == "samples-as-rows"
    assert ad.uns["gutbrain"]["X_unit"] == "counts"
    np.testing.assert_array_equal(M(ad), X)
    # DADA2 assignTaxonomy + addSpecies written by R write.csv: NA for unassigned, epithet only
    tax = tmp_path / "taxa.csv"
    tax.write_text(
        '"","Kingdom","Phylum","Class","Order","Family","Genus","Species"\n'
        f'"{seqs[0]}","Bacteria","Firmicutes","Clostridia","Oscillospirales","Ruminococcaceae","Faecalibacterium","prausnitzii"\n'
        f'"{seqs[1]}","Bacteria","Bacteroidota","Bacteroidia","Bacteroidales","Bacteroidaceae","Bacteroides",NA\n'
        f'"{seqs[2]}","Bacteria","Firmicutes",NA,NA,NA,NA,NA\n'
    )
    t = gb.io.read_taxonomy(tax)
    assert t.loc[seqs[0], "species"] == "Faecalibacterium prausnitzii"
    assert t.loc[seqs[1], "species"] == "" and t.loc[seqs[2], "class"] == ""
    out = gb.io.attach_taxonomy(ad, tax)
    assert out.var["genus"].tolist() == ["Faecalibacterium", "Bacteroides", "", ""]
    assert out.uns["gutbrain"]["params"]["taxonomy_missing"] == 1
    assert "taxonomy" in out.uns["gutbrain"]["inputs"]
    assert "genus" not in ad.var.columns  # the input object is untouched


def test_biom_convert_tsv_matches_biom_format(tmp_path):
    X = _counts(6, 9, seed=1)  # samples × features
    ids = [f"OTU_{i}" for i in range(9)]
    samples = [f"sample.{i}" for i in range(6)]
    table = biom.Table(X.T, ids, samples)
    p = tmp_path / "feature-table.tsv"
    p.write_text(table.to_tsv())  # "# Constructed from biom file" then "#OTU ID"
    ad = gb.io.read_table(p)
    assert ad.obs_names.tolist() == samples and ad.var_names.tolist() == ids
    np.testing.assert_array_equal(M(ad), table.matrix_data.toarray().T)
    assert ad.uns["gutbrain"]["params"]["orientation_rule"] == "feature-like row labels"


def test_qiime1_taxonomy_column(tmp_path):
    X = _counts(3, 4, seed=2)
    p = tmp_path / "otu_table.txt"
    rows = [
        f"{oid}\t" + "\t".join(str(int(v)) for v in X[:, i]) + f"\t{GG[i]}"
        for i, oid in enumerate(["4479944", "1111294", "359809", "4468125"])
    ]
    p.write_text("# QIIME v1.9.1 OTU table\n#OTU ID\tA\tB\tC\ttaxonomy\n" + "\n".join(rows) + "\n")
    ad = gb.io.read_table(p)
    assert ad.shape == (3, 4)
    assert ad.uns["gutbrain"]["params"]["orientation_rule"] == "taxonomy column"
    assert ad.var["genus"].tolist() == [
        "Faecalibacterium",
        "Bacteroides",
        "Roseburia",
        "Eggerthella",
    ]
    assert ad.var.loc["4479944", "species"] == "Faecalibacterium prausnitzii"
    np.testing.assert_array_equal(M(ad), X)


def test_curated_samples_as_rows_and_taxatable(tmp_path):
    lineages = [g.replace("; ", ";").replace("k__", "d__") for g in GG]
    X = _counts(4, 4, seed=3)
    p = tmp_path / "genera.counts.tsv"
    pd.DataFrame(X.astype(int), index=["N01", "N02", "A01", "A02"], columns=lineages).rename_axis(
        "Sample"
    ).to_csv(p, sep="\t")
    ad = gb.io.read_table(p)
    assert ad.obs_names.tolist() == ["N01", "N02", "A01", "A02"]
    assert ad.var["domain"].unique().tolist() == ["Bacteria"]
    q = tmp_path / "taxatable.txt.gz"
    q.write_bytes(
        gzip.compress(
            pd.DataFrame(X.T, index=lineages, columns=ad.obs_names)
            .rename_axis("#OTU ID")
            .to_csv(sep="\t")
            .encode()
        )
    )
    bd = gb.io.read_table(q)
    np.testing.assert_array_equal(M(bd), M(ad))
    np.testing.assert_array_equal(bd.var["genus"], ad.var["genus"])


def test_orientation_explicit_and_default(tmp_path):
    p = tmp_path / "plain.tsv"
    p.write_text("id\ta\tb\tc\nx\t1\t2\t3\ny\t4\t5\t6\n")
    ad = gb.io.read_table(p)  # nothing looks like a feature: features are rows (recorded)
    assert ad.shape == (3, 2)
    assert ad.uns["gutbrain"]["params"]["orientation_rule"].startswith("default")
    bd = gb.io.read_table(p, orientation="samples-as-rows")
    assert bd.shape == (2, 3) and bd.uns["gutbrain"]["params"]["orientation_rule"] == "explicit"
    np.testing.assert_array_equal(M(bd), M(ad).T)
    s = tmp_path / "sample_first.tsv"
    s.write_text("SampleID\ta\tb\nx\t1\t2\ny\t3\t4\n")
    assert gb.io.read_table(s).obs_names.tolist() == ["x", "y"]


def test_units_detected(tmp_path):
    rng = np.random.default_rng(4)
    rel = rng.dirichlet(np.ones(5), size=4)
    cases = {
        "relative": rel,
        "percent": rel * 100,
        "abundance": rel * 37.3,
        "counts": np.round(rel * 1000),
    }
    for unit, X in cases.items():
        p = tmp_path / f"{unit}.tsv"
        pd.DataFrame(X.T, index=[f"ASV_{i}" for i in range(5)], columns=list("ABCD")).to_csv(
            p, sep="\t"
        )
        assert gb.io.read_table(p).uns["gutbrain"]["X_unit"] == unit, unit
    assert gb.io.read_table(p, unit="abundance").uns["gutbrain"]["X_unit"] == "abundance"
    # filtered percent tables (sums 70–99.7, as in ferreiro2023) still read as percent
    f = tmp_path / "filtered.tsv"
    Y = rel * 100
    Y[:, 0] = 0
    Y[0] = rel[0] * 100
    pd.DataFrame(Y.T, index=[f"ASV_{i}" for i in range(5)], columns=list("ABCD")).to_csv(
        f, sep="\t"
    )
    assert gb.io.read_table(f).uns["gutbrain"]["X_unit"] == "percent"


def test_all_zero_sample_is_kept_and_reported(tmp_path):
    X = _counts(4, 6, seed=5)
    X[2] = 0
    p = tmp_path / "z.tsv"
    pd.DataFrame(X.T, index=[f"OTU{i}" for i in range(6)], columns=list("ABCD")).to_csv(p, sep="\t")
    ad = gb.io.read_table(p)
    assert ad.n_obs == 4
    assert ad.uns["gutbrain"]["params"]["all_zero_samples"] == ["C"]


def test_lineage_sep_positional(tmp_path):
    p = tmp_path / "counts.tsv"
    p.write_text(
        "\tS1\tS2\n"
        "Lachnospiraceae_Roseburia\t5\t0\n"
        "Clostridiales_Family_XIII_Incertae_Sedis_Mogibacterium\t1\t2\n"
        "Lachnospiraceae_Lachnospiraceae_unclassified\t3\t3\n"
    )
    ad = gb.io.read_table(p, lineage_sep="_", ranks=("family", "genus"))
    # MetaPhlAn-derived placeholder genera stay as written (gutbrain.taxonomy rules)
    assert ad.var["genus"].tolist() == ["Roseburia", "Mogibacterium", "Lachnospiraceae_unclassified"]
    assert ad.var["taxon_key"].tolist()[2] == "genus:unclassified|family:lachnospiraceae"
    assert ad.var["family"].tolist() == [
        "Lachnospiraceae",
        "Clostridiales_Family_XIII_Incertae_Sedis",
        "Lachnospiraceae",
    ]


def test_xlsx_both_orientations(tmp_path):
    X = _counts(3, 4, seed=6)
    lineages = [g.replace("; ", ";") for g in GG]
    p = tmp_path / "table.xlsx"
    with pd.ExcelWriter(p, engine="openpyxl") as xw:
        pd.DataFrame(X, index=["s1", "s2", "s3"], columns=lineages).rename_axis("Sample").to_excel(
            xw, sheet_name="by_sample"
        )
        pd.DataFrame(X.T, index=lineages, columns=["s1", "s2", "s3"]).rename_axis("taxon").to_excel(
            xw, sheet_name="by_taxon"
        )
    a = gb.io.read_table(p)  # first sheet
    b = gb.io.read_table(p, sheet="by_taxon")
    for ad in (a, b):
        assert ad.obs_names.tolist() == ["s1", "s2", "s3"]
        np.testing.assert_array_equal(M(ad), X)
        assert ad.var["genus"].tolist()[0] == "Faecalibacterium"
    assert gb.io.read(p).shape == (3, 4)
    with pytest.raises(InputFormatError, match="sheet 'nope' not found") as e:
        gb.io.read_table(p, sheet="nope")
    assert "table.xlsx" in str(e.value) and "Fix:" in str(e.value)
    bad = tmp_path / "bad.xlsx"
    frame = pd.DataFrame(
        X.T.astype(object), index=lineages, columns=["s1", "s2", "s3"]
    ).rename_axis("taxon")
    frame.iloc[2, 1] = "twelve"
    frame.to_excel(bad)
    with pytest.raises(DataValueError, match="non-numeric value 'twelve'") as e:
        gb.io.read_table(bad)
    assert "bad.xlsx" in str(e.value) and "line 4" in str(e.value)  # Excel row 4


# --------------------------------------------------------------------------------------
# taxonomy tables
# --------------------------------------------------------------------------------------


def test_read_taxonomy_layouts(tmp_path):
    q2 = tmp_path / "taxonomy.tsv"
    q2.write_text(
        "Feature ID\tTaxon\tConfidence\n"
        "a1b2\td__Bacteria; p__Firmicutes_A; c__Clostridia; o__Oscillospirales; f__Ruminococcaceae; g__Faecalibacterium; s__Faecalibacterium prausnitzii\t0.99\n"
        "c3d4\tk__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; f__Bacteroidaceae; g__Bacteroides; s__\t0.87\n"
    )
    t = gb.io.read_taxonomy(q2)
    assert t.columns.tolist() == [*gb._core.RANKS, "taxonomy", "taxon_rank", "taxon_name",
                                  "taxon_key", "confidence"]
    assert t.loc["a1b2", "species"] == "Faecalibacterium prausnitzii"
    np.testing.assert_allclose(t["confidence"], [0.99, 0.87])
    silva = tmp_path / "silva132_majority_taxonomy_7_levels.txt"
    silva.write_text(
        "AB001\tD_0__Bacteria;D_1__Firmicutes;D_2__Clostridia;D_3__Clostridiales;D_4__Lachnospiraceae;D_5__Roseburia;D_6__uncultured bacterium\n"
        "AB002\tD_0__Archaea;D_1__Euryarchaeota;D_2__Methanobacteria;D_3__Methanobacteriales;D_4__Methanobacteriaceae;D_5__Methanobrevibacter\n"
    )
    s = gb.io.read_taxonomy(silva)
    # SILVA placeholders stay as written and carry their lineage in the match key
    assert s.loc["AB001", "genus"] == "Roseburia"
    assert s.loc["AB001", "species"] == "uncultured bacterium"
    assert s.loc["AB001", "taxon_name"] == "uncultured bacterium (g. Roseburia)"
    assert s.loc["AB001", "taxon_key"] == (
        "species:uncultured bacterium|genus:roseburia|family:lachnospiraceae")
    assert s.loc["AB002", "domain"] == "Archaea"
    bad = tmp_path / "weird.tsv"
    bad.write_text("name\tscore\nx\t1\n")
    with pytest.raises(InputFormatError, match=r"columns found: \['name', 'score'\]") as e:
        gb.io.read_taxonomy(bad)
    assert "weird.tsv" in str(e.value) and "QIIME 2" in str(e.value)
    dup = tmp_path / "dup.tsv"
    dup.write_text(q2.read_text() + q2.read_text().splitlines()[1] + "\n")
    with pytest.raises(InputFormatError, match="duplicate feature id 'a1b2'") as e:
        gb.io.read_taxonomy(dup)
    assert "line 4" in str(e.value)


def test_attach_taxonomy_no_overlap(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("#OTU ID\tA\tB\nOTU_1\t1\t2\nOTU_2\t0\t5\n")
    tax = tmp_path / "other_taxonomy.tsv"
    tax.write_text("Feature ID\tTaxon\nzzz\tk__Bacteria; p__Firmicutes\n")
    with pytest.raises(MetadataMismatchError, match="none of the table's 2 feature ids") as e:
        gb.io.attach_taxonomy(gb.io.read_table(p), tax)
    assert "other_taxonomy.tsv" in str(e.value) and "Fix:" in str(e.value)


# --------------------------------------------------------------------------------------
# broken inputs
# --------------------------------------------------------------------------------------


def _good(tmp_path: Path) -> Path:
    p = tmp_path / "broken_table.tsv"
    p.write_text("#OTU ID\tS1\tS2\tS3\nOTU_1\t1\t2\t3\nOTU_2\t4\t5\t6\nOTU_3\t7\t8\t9\n")
    return p


def _msg(e, p: Path, line: int | None = None) -> str:
    msg = str(e.value)
    assert p.name in msg and "Fix:" in msg
    if line is not None:
        assert f"line {line}" in msg, msg
    return msg


@pytest.mark.parametrize(
    ("row", "cell", "exc", "match"),
    [
        (2, "x7", DataValueError, "non-numeric value 'x7' in column 'S2', row 'OTU_2'"),
        (3, "-4", DataValueError, "negative value -4"),
        (1, "", DataValueError, "empty or NA cell in column 'S2'"),
        (2, "NA", DataValueError, "empty or NA cell"),
    ],
)
def test_broken_cells(tmp_path, row, cell, exc, match):
    p = _good(tmp_path)
    lines = p.read_text().splitlines()
    parts = lines[row].split("\t")
    parts[2] = cell
    lines[row] = "\t".join(parts)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(exc, match=match) as e:
        gb.io.read_table(p)
    msg = _msg(e, p, row + 1)
    assert "column 'S2'" in msg


def test_broken_duplicates(tmp_path):
    p = _good(tmp_path)
    text = p.read_text()
    q = tmp_path / "dup_samples.tsv"
    q.write_text(text.replace("S3", "S1", 1))
    with pytest.raises(InputFormatError, match="duplicate column label 'S1'") as e:
        gb.io.read_table(q)
    _msg(e, q, 1)
    r = tmp_path / "dup_features.tsv"
    r.write_text(text + "OTU_2\t1\t1\t1\n")
    with pytest.raises(InputFormatError, match="duplicate row identifier 'OTU_2'") as e:
        gb.io.read_table(r)
    _msg(e, r, 5)


def test_broken_delimiter_truncation_empty(tmp_path):
    p = _good(tmp_path)
    csv_ = tmp_path / "table.csv"
    csv_.write_text(p.read_text().replace("\t", ","))
    assert gb.io.read_table(csv_).shape == (3, 3)  # auto separator
    with pytest.raises(InputFormatError, match="only one column") as e:
        gb.io.read_table(csv_, sep="\t")
    assert "sep=','" in _msg(e, csv_, 1)
    semi = tmp_path / "table_semicolon.txt"
    semi.write_text("id;S1;S2\nOTU_1;1;2\n")
    with pytest.raises(InputFormatError, match="only one column") as e:
        gb.io.read_table(semi, sep="\t")
    assert "sep=';'" in _msg(e, semi, 1)
    extra = tmp_path / "extra_field.tsv"
    extra.write_text(p.read_text() + "OTU_4\t1\t2\t3\t4\n")
    with pytest.raises(InputFormatError, match="expected 4 fields but found 5") as e:
        gb.io.read_table(extra)
    _msg(e, extra, 5)
    cut = tmp_path / "cut.tsv"
    cut.write_text(p.read_text()[:-4])  # last row loses its last cell
    with pytest.raises(DataValueError, match="truncated") as e:
        gb.io.read_table(cut)
    _msg(e, cut, 4)
    gz = tmp_path / "cut.tsv.gz"
    gz.write_bytes(gzip.compress(p.read_text().encode() * 50)[:-20])
    with pytest.raises(InputFormatError, match="truncated") as e:
        gb.io.read_table(gz)
    _msg(e, gz)
    header_only = tmp_path / "header_only.tsv"
    header_only.write_text("#OTU ID\tS1\tS2\n")
    with pytest.raises(DataValueError, match="no data rows") as e:
        gb.io.read_table(header_only)
    _msg(e, header_only)
    text_only = tmp_path / "no_numbers.tsv"
    text_only.write_text("id\tname\nA\tfoo\nB\tbar\n")
    with pytest.raises(DataValueError, match="no numeric columns") as e:
        gb.io.read_table(text_only)
    _msg(e, text_only)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(DataValueError, match="empty") as e:
        gb.io.read_table(empty)
    _msg(e, empty)


# --------------------------------------------------------------------------------------
# real datasets (samples × features asserted; values checked against pandas)
# --------------------------------------------------------------------------------------


def test_giloteaux_feature_table_and_greengenes_taxonomy():
    path = _shared("giloteaux2016_mecfs_16s", "feature_table.tsv")
    ad = gb.io.read_table(path)
    assert ad.shape == (87, 138)
    ref = pd.read_csv(path, sep="\t", skiprows=1, index_col=0)
    np.testing.assert_array_equal(M(ad), ref.to_numpy().T)
    tax = gb.io.read_taxonomy(_shared("giloteaux2016_mecfs_16s", "taxonomy_table_features.tsv"))
    assert len(tax) == 138 and set(tax.index) == set(ad.var_names)
    out = gb.io.attach_taxonomy(ad, tax)
    assert out.uns["gutbrain"]["params"]["taxonomy_missing"] == 0
    assert (out.var["domain"] != "").all()
    # a plain frame with a QIIME 2 "Taxon" column gives the same ranks
    raw = pd.read_csv(
        _shared("giloteaux2016_mecfs_16s", "taxonomy_table_features.tsv"), sep="\t", index_col=0
    )
    same = gb.io.attach_taxonomy(ad, raw)
    pd.testing.assert_frame_equal(same.var, out.var)


def test_kang2017_curated_gtdb():
    ad = gb.io.read_table(_shared("kang2017_autism_16s", "genera.counts.tsv"))
    # SOURCE.txt: 44 samples x 320 GTDB genera; the file also has an "Unclassified" column,
    # kept as a feature (its reads belong to each sample's depth): 320 + 1
    assert ad.shape == (44, 321)
    assert (ad.var["domain"] == "Bacteria").sum() + (ad.var["domain"] == "Archaea").sum() == 320
    assert ad.uns["gutbrain"]["X_unit"] == "counts"
    rel = gb.io.read_table(_shared("kang2017_autism_16s", "genera.tsv"))
    assert rel.uns["gutbrain"]["X_unit"] == "relative"
    np.testing.assert_allclose(M(rel).sum(axis=1), 1.0)


def test_mars2020_gz():
    ad = gb.io.read_table(_shared("mars2020_ibs_longitudinal", "genera.counts.tsv.gz"))
    # SOURCE.txt says 2,894 genera; the header holds 2,895 distinct GTDB genus lineages
    # (no "Unclassified" column here), all with a domain and a genus
    assert ad.shape == (444, 2895)
    assert (ad.var["domain"] != "").all() and (ad.var["genus"] != "").all()
    assert ad.var["genus"].is_unique


def test_dnbs_dada2_genus_csv_underscore_lineages():
    path = _shared("dnbs_fmt_visceral_pain_rodent", "genus_table_from_dada2.csv")
    ad = gb.io.read_table(path, lineage_sep="_")
    assert ad.shape == (149, 476)
    first = ad.var.iloc[0]
    assert (first["domain"], first["phylum"], first["genus"]) == (
        "Archaea",
        "Crenarchaeota",
        "Candidatus Nitrocosmicus",
    )
    ref = pd.read_csv(path, index_col=0)
    np.testing.assert_array_equal(M(ad), ref.to_numpy().T)


def test_zhu2020_family_genus():
    ad = gb.io.read_table(
        _shared("zhu2020_schizophrenia_metagenome", "counts.tsv"),
        lineage_sep="_",
        ranks=("family", "genus"),
    )
    assert ad.shape == (171, 162)
    assert (
        ad.var.loc["Acidaminococcaceae_Phascolarctobacterium", "genus"] == "Phascolarctobacterium"
    )
    assert ad.uns["gutbrain"]["X_unit"] == "counts"


def test_mlrepo_gevers_taxatable():
    ad = gb.io.read_table(_shared("mlrepo_knights_subset", "gevers__refseq__taxatable.txt.gz"))
    assert ad.shape == (1358, 992)  # found: 1,358 samples × 992 lineages (rows = taxa)
    assert ad.var.loc[ad.var_names[0], "genus"] == "Bacteroides"


def test_americangut_fecal_genus_counts():
    ad = gb.io.read_table(
        _shared("americangut2014_migraine_selfreport_16s", "fecal_genus_counts.tsv.gz")
    )
    assert ad.shape == (1569, 724)  # SOURCE.txt: 724 genus strings × 1569 fecal samples
    assert ad.obs_names[0] == "000001001.1053931"  # ids keep their leading zeros
