"""gb.io.read / sniff_format: detection from content, dispatch, attachments, unknown input."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._errors import GutbrainError, InputFormatError
from tests.conftest import shared_path

M = gb._core.get_matrix


@pytest.mark.parametrize(
    ("parts", "fmt"),
    [
        (("americangut2014_migraine_selfreport_16s", "AG_100nt_even10k.biom.gz"), "biom"),
        (("qiime2_artifacts", "chardonnay.table.qza"), "qza"),
        (("gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt"), "metaphlan"),
        (("metaml_pasolli2016_metaphlan2", "abundance.txt.bz2"), "metaphlan"),
        (("ferreiro2023_preclinical_alzheimers", "species_relabund_filtered.tsv"), "metaphlan"),
        (("dnbs_fmt_visceral_pain_rodent", "pred_metagenome_unstrat.tsv.gz"), "table"),
        (("giloteaux2016_mecfs_16s", "feature_table.tsv"), "table"),
        (("kang2017_autism_16s", "genera.counts.tsv"), "table"),
        (("gmwi2_wellness_index", "NatCommun2024_SupplementaryData2_8069_samples.xlsx"), "xlsx"),
    ],
)
def test_sniff_real_files(parts, fmt):
    path = shared_path("data", *parts)
    assert gb.io.sniff_format(path) == fmt


def test_read_real_metaphlan_and_table():
    path = shared_path("data", "gmwi2_wellness_index", "example_SRR1761667_metaphlan.txt")
    ad = gb.io.read(path, rank="genus")
    assert ad.uns["gutbrain"]["params"]["format"] == "metaphlan"
    assert ad.uns["gutbrain"]["params"]["format_detected"] is True
    assert (ad.var["genus"] != "").sum() >= 1 and ad.uns["gutbrain"]["params"]["rank"] == "genus"
    qza = shared_path("data", "qiime2_artifacts", "chardonnay.table.qza")
    q = gb.io.read(qza)
    assert q.uns["gutbrain"]["params"]["format"] == "qza" and q.n_obs > 0


def _fixtures(tmp_path: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    mp = tmp_path / "profile.txt.gz"
    mp.write_bytes(
        gzip.compress(
            b"#mpa_vJan21_CHOCOPhlAnSGB_202103\n#SampleID\tMetaphlan_Analysis\n"
            b"#clade_name\tclade_taxid\trelative_abundance\tadditional_species\n"
            b"UNCLASSIFIED\t-1\t10.0\t\nk__Bacteria\t2\t90.0\t\n"
            b"k__Bacteria|p__Firmicutes\t2|1239\t90.0\t\n"
            b"k__Bacteria|p__Firmicutes|c__Clostridia|o__Eubacteriales|f__Lachnospiraceae|g__Roseburia|s__Roseburia_intestinalis\t2|1239|186801|186802|186803|841|166486\t90.0\t\n"
        )
    )
    out["metaphlan"] = mp
    hu = tmp_path / "pathabundance.tsv"
    hu.write_text("# Pathway\tS1_Abundance\nUNMAPPED\t10\nPWY-1: x\t3\nPWY-1: x|unclassified\t3\n")
    out["humann"] = hu
    tb = tmp_path / "table.tsv"
    tb.write_text("#OTU ID\tS1\tS2\nOTU_1\t1\t0\nOTU_2\t3\t4\n")
    out["table"] = tb
    js = tmp_path / "table.biom"
    table = biom.Table(np.array([[1.0, 0.0], [3.0, 4.0]]), ["OTU_1", "OTU_2"], ["S1", "S2"])
    js.write_text(table.to_json("gutbrain test"))
    out["biom"] = js
    return out


def test_dispatch_by_content(tmp_path):
    fx = _fixtures(tmp_path)
    for fmt, path in fx.items():
        assert gb.io.sniff_format(path) == fmt
        ad = gb.io.read(path)
        assert ad.uns["gutbrain"]["params"]["format"] == fmt
    # the same bytes under a misleading suffix are still sniffed by content
    odd = tmp_path / "looks_like.csv"
    odd.write_bytes(gzip.decompress(fx["metaphlan"].read_bytes()))
    ad = gb.io.read(odd)
    assert ad.obs["unclassified_percent"].iloc[0] == 10.0 and ad.n_vars == 1
    # BIOM via read equals the TSV reading
    np.testing.assert_array_equal(M(gb.io.read(fx["biom"])), M(gb.io.read(fx["table"])))
    # h5ad round trip through the sniffer (HDF5 signature + anndata attributes)
    h5 = tmp_path / "x.h5ad"
    src = gb.io.read(fx["table"])
    src.write_h5ad(h5)
    back = gb.io.read(h5)
    assert back.uns["gutbrain"]["params"]["format"] == "h5ad"
    np.testing.assert_array_equal(M(back), M(src))


def test_format_override(tmp_path):
    fx = _fixtures(tmp_path)
    ad = gb.io.read(fx["humann"], format="table")
    assert ad.uns["gutbrain"]["reader"] == "read_table"
    assert ad.uns["gutbrain"]["params"]["format_detected"] is False
    assert ad.n_vars == 3  # UNMAPPED and the stratified row are plain features here
    with pytest.raises(GutbrainError, match="unknown format 'csvx'"):
        gb.io.read(fx["table"], format="csvx")


def test_taxonomy_and_metadata_attached(tmp_path):
    fx = _fixtures(tmp_path)
    tax = tmp_path / "taxonomy.tsv"
    tax.write_text(
        "Feature ID\tTaxon\tConfidence\n"
        "OTU_1\tk__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; f__Lachnospiraceae; g__Roseburia\t0.9\n"
        "OTU_2\tk__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; f__Bacteroidaceae; g__Bacteroides\t0.8\n"
    )
    meta = tmp_path / "metadata.tsv"
    meta.write_text("sample-id\tgroup\tage\nS1\tcase\t40\nS2\tcontrol\t51\n")
    ad = gb.io.read(fx["table"], taxonomy=tax, metadata=meta)
    assert ad.var["genus"].tolist() == ["Roseburia", "Bacteroides"]
    np.testing.assert_allclose(ad.var["confidence"], [0.9, 0.8])
    assert ad.obs["group"].astype(str).tolist() == ["case", "control"]
    assert ad.obs["age"].tolist() == [40, 51]
    assert {"table", "taxonomy", "metadata"} <= set(ad.uns["gutbrain"]["inputs"])


def test_unknown_and_binary_inputs(tmp_path):
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputFormatError, match="unrecognised binary file") as e:
        gb.io.read(garbage)
    msg = str(e.value)
    assert "garbage.dat" in msg and "metaphlan" in msg and "biom" in msg and "Fix:" in msg
    js = tmp_path / "config.json"
    js.write_text(json.dumps({"name": "not a table"}))
    with pytest.raises(InputFormatError, match="JSON file that is not a BIOM table") as e:
        gb.io.read(js)
    assert "config.json" in str(e.value)
    z = tmp_path / "archive.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputFormatError, match="neither a QIIME 2 artefact nor an xlsx") as e:
        gb.io.read(z)
    assert "archive.zip" in str(e.value)
    with pytest.raises(InputFormatError, match="file not found") as e:
        gb.io.read(tmp_path / "missing.tsv")
    assert "missing.tsv" in str(e.value)


def test_sniff_reads_only_the_head(tmp_path, monkeypatch):
    """A large table is sniffed from its first 64 KiB and then read once by its reader."""
    X = np.arange(2000 * 50, dtype=float).reshape(2000, 50)
    p = tmp_path / "big.tsv"
    pd.DataFrame(
        X, index=[f"OTU_{i}" for i in range(2000)], columns=[f"S{j}" for j in range(50)]
    ).to_csv(p, sep="\t")
    import gutbrain.io._read as r

    reads: list[int] = []
    real_head = r._head

    def spy(path):
        data = real_head(path)
        reads.append(len(data))
        return data

    monkeypatch.setattr(r, "_head", spy)
    assert r.sniff_format(p) == "table"
    assert p.stat().st_size > 10 * r._SNIFF_BYTES
    assert reads and all(n <= r._SNIFF_BYTES for n in reads)
    ad = gb.io.read(p)
    assert ad.shape == (50, 2000)
    np.testing.assert_array_equal(M(ad), X.T)


def test_read_sniffs_parquet_and_tsv_written_by_gutbrain_exactly(tmp_path):
    """Writers and the sniffing reader round-trip non-integer values bit for bit."""
    import numpy as np

    import gutbrain as gb
    from gutbrain._core import new_adata

    X = np.random.default_rng(0).random((5, 7))
    ad = new_adata(X, obs_names=[f"s{i}" for i in range(5)],
                   var_names=[f"f{i}" for i in range(7)], unit="abundance", reader="t")
    gb.io.write(ad, tmp_path / "x.parquet")
    gb.io.write(ad, tmp_path / "x.tsv")
    assert gb.io.sniff_format(tmp_path / "x.parquet") == "parquet"
    back_parquet = gb.io.read(tmp_path / "x.parquet")
    back_tsv = gb.io.read(tmp_path / "x.tsv")
    assert np.array_equal(np.asarray(back_parquet.X), X)
    assert np.array_equal(np.asarray(back_tsv.X), X)
