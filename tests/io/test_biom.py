"""gb.io.read_biom: BIOM 1.0 JSON / 2.1 HDF5 against biom-format, broken inputs, the AG table."""

from __future__ import annotations

import gzip
import json

import biom
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import gutbrain as gb
from gutbrain._errors import DataValueError, InputFormatError
from gutbrain._taxonomy import parse_lineage
from gutbrain.io._biom import infer_unit
from tests.conftest import shared_path

AG = ("data", "americangut2014_migraine_selfreport_16s", "AG_100nt_even10k.biom.gz")


def _table(values: np.ndarray | None = None, *, taxonomy=True, sample_md=True) -> biom.Table:
    """A 4 features × 3 samples biom Table with taxonomy lists and sample metadata."""
    if values is None:
        values = np.array([[0, 5, 1], [3, 0, 0], [10, 2, 7], [0, 0, 4]], dtype=float)
    obs_md = None
    if taxonomy:
        obs_md = [
            {"taxonomy": ["k__Bacteria", "p__Firmicutes", "c__Clostridia", "o__Clostridiales",
                          "f__Lachnospiraceae", "g__Roseburia", "s__"]},
            {"taxonomy": ["k__Bacteria", "p__Bacteroidetes", "c__Bacteroidia",
                          "o__Bacteroidales", "f__Bacteroidaceae", "g__Bacteroides",
                          "s__uniformis"]},
            {"taxonomy": ["k__Bacteria", "p__Firmicutes", "c__Clostridia", "o__Clostridiales",
                          "f__Ruminococcaceae", "g__Faecalibacterium", "s__prausnitzii"]},
            {"taxonomy": ["k__Bacteria", "p__", "c__", "o__", "f__", "g__", "s__"]},
        ]
    smd = None
    if sample_md:
        smd = [
            {"group": "case", "age": "41.5", "subject": "s1"},
            {"group": "control", "age": "37", "subject": "s2"},
            {"group": "case", "age": "", "subject": "s3"},
        ]
    return biom.Table(values, ["OTU1", "OTU2", "OTU3", "OTU4"], ["A", "B", "C"],
                      observation_metadata=obs_md, sample_metadata=smd, type="OTU table")


def _write_json(table: biom.Table, path, *, gz=False):
    text = table.to_json("gutbrain tests")
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _write_hdf5(table: biom.Table, path):
    with h5py.File(path, "w") as fh:
        table.to_hdf5(fh, "gutbrain tests")
    return path


def _assert_matches_biom(adata, table: biom.Table):
    ref = table.matrix_data.T.toarray()
    np.testing.assert_array_equal(gb._core.get_matrix(adata), ref)
    assert list(adata.obs_names) == list(table.ids("sample"))
    assert list(adata.var_names) == list(table.ids("observation"))


@pytest.mark.parametrize("flavour", ["json", "json.gz", "hdf5"])
def test_fixture_tables_equal_biom_format(tmp_path, flavour):
    table = _table()
    path = tmp_path / f"t.{flavour}.biom"
    if flavour == "hdf5":
        _write_hdf5(table, path)
    else:
        _write_json(table, path, gz=flavour.endswith("gz"))
    adata = gb.io.read_biom(path)
    _assert_matches_biom(adata, table)
    # taxonomy → ranks, Greengenes epithet joined to the genus
    assert adata.var.loc["OTU3", "species"] == "Faecalibacterium prausnitzii"
    assert adata.var.loc["OTU1", "genus"] == "Roseburia"
    assert adata.var.loc["OTU1", "species"] == ""
    assert adata.var.loc["OTU4", "phylum"] == ""
    assert adata.var.loc["OTU2", "taxonomy"].startswith("k__Bacteria; p__Bacteroidetes")
    # sample metadata typed: age numeric with a missing value, group categorical
    assert adata.obs["age"].dtype == np.float64
    np.testing.assert_array_equal(adata.obs["age"].to_numpy(), [41.5, 37.0, np.nan])
    assert list(adata.obs["group"].astype(str)) == ["case", "control", "case"]
    prov = adata.uns["gutbrain"]
    assert prov["X_unit"] == "counts"
    fmt = "biom-2.1-hdf5" if flavour == "hdf5" else "biom-1.0-json"
    assert prov["inputs"]["table"]["format"] == fmt
    assert prov["inputs"]["table"]["sha256"] == gb._utils.sha256_file(path)
    assert prov["reader"] == "read_biom"


def test_taxonomy_as_string_and_other_keys(tmp_path):
    values = np.array([[1.0, 2.0], [3.0, 0.0]])
    for key in ("Taxonomy", "taxon"):
        t = biom.Table(values, ["a", "b"], ["S1", "S2"], observation_metadata=[
            {key: "k__Bacteria; p__Firmicutes; g__Blautia", "confidence": 0.9},
            {key: "k__Bacteria; p__Actinobacteria; g__Bifidobacterium", "confidence": 0.75},
        ])
        adata = gb.io.read_biom(_write_json(t, tmp_path / f"{key}.biom"))
        assert list(adata.var["genus"]) == ["Blautia", "Bifidobacterium"]
        np.testing.assert_allclose(adata.var["confidence"].to_numpy(), [0.9, 0.75])


def test_dense_json_and_sparse_storage(tmp_path):
    doc = {
        "id": None, "format": "Biological Observation Matrix 1.0.0", "type": "OTU table",
        "date": "2024-01-01T00:00:00", "generated_by": "hand",
        "matrix_type": "dense", "matrix_element_type": "int", "shape": [3, 2],
        "data": [[1, 0], [0, 7], [2, 3]],
        "rows": [{"id": "f1", "metadata": None}, {"id": "f2", "metadata": None},
                 {"id": "f3", "metadata": None}],
        "columns": [{"id": "s1", "metadata": None}, {"id": "s2", "metadata": None}],
    }
    p = tmp_path / "dense.biom"
    p.write_text(json.dumps(doc, indent=2))
    adata = gb.io.read_biom(p)
    np.testing.assert_array_equal(gb._core.get_matrix(adata), [[1, 0, 2], [0, 7, 3]])
    ref = biom.load_table(str(p))
    _assert_matches_biom(adata, ref)


def test_pretty_printed_sparse_json(tmp_path):
    # whitespace inside the data array exercises the fast path's bracket matching
    t = _table()
    doc = json.loads(t.to_json("x"))
    p = tmp_path / "pretty.biom"
    p.write_text(json.dumps(doc, indent=3))
    _assert_matches_biom(gb.io.read_biom(p), t)


@pytest.mark.parametrize(
    ("scale", "unit"), [(1.0, "relative"), (100.0, "percent"), (7.3, "abundance")]
)
def test_unit_inference(tmp_path, scale, unit):
    raw = np.array([[1.0, 2.0, 3.0], [6.0, 0.0, 1.0]])  # features × samples
    frac = raw / raw.sum(axis=0) * scale
    t = biom.Table(frac, ["f1", "f2"], ["a", "b", "c"])
    adata = gb.io.read_biom(_write_hdf5(t, tmp_path / "rel.biom"))
    assert adata.uns["gutbrain"]["X_unit"] == unit
    assert infer_unit(sp.csr_matrix(frac.T)) == unit


def test_metadata_argument_joins_obs(tmp_path):
    p = _write_hdf5(_table(sample_md=False), tmp_path / "t.biom")
    md = tmp_path / "md.tsv"
    md.write_text("sample-id\tpain\n#q2:types\tnumeric\nA\t3\nC\t7\n")
    with pytest.warns(UserWarning, match="1 of 3"):
        adata = gb.io.read_biom(p, metadata=md)
    assert list(adata.obs_names) == ["A", "C"]
    np.testing.assert_array_equal(adata.obs["pain"].to_numpy(), [3.0, 7.0])
    assert adata.uns["gutbrain"]["inputs"]["metadata"]["sha256"] == gb._utils.sha256_file(md)


def test_taxonomy_argument_uses_attach_taxonomy(tmp_path):
    p = _write_hdf5(_table(taxonomy=False), tmp_path / "t.biom")
    tax = tmp_path / "taxonomy.tsv"
    tax.write_text(
        "Feature ID\tTaxon\tConfidence\n"
        "OTU1\td__Bacteria; p__Bacillota; g__Blautia\t0.9\n"
        "OTU2\td__Bacteria; p__Bacteroidota; g__Bacteroides\t0.8\n"
        "OTU3\td__Bacteria; p__Bacillota; g__Dorea\t0.7\n"
        "OTU4\td__Bacteria\t0.99\n"
    )
    adata = gb.io.read_biom(p, taxonomy=tax)
    assert list(adata.var["genus"]) == ["Blautia", "Bacteroides", "Dorea", ""]


# ----------------------------------------------------------------- broken inputs
def _assert_error(excinfo, path):
    msg = str(excinfo.value)
    assert str(path) in msg
    assert "Fix:" in msg
    assert "\n" not in msg


def test_truncated_json(tmp_path):
    text = _table().to_json("x")
    p = tmp_path / "trunc.biom"
    p.write_text(text[: len(text) // 2])
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)
    assert exc.value.line == 1 and exc.value.column is not None


def test_truncated_gzip(tmp_path):
    raw = gzip.compress(_table().to_json("x").encode())
    p = tmp_path / "trunc.biom.gz"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)


def test_hdf5_that_is_not_biom(tmp_path):
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as fh:
        fh["matrix"] = np.ones((3, 3))
    with pytest.raises(InputFormatError, match="not a BIOM table") as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)


def test_truncated_hdf5(tmp_path):
    p = _write_hdf5(_table(), tmp_path / "t.biom")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)


@pytest.mark.parametrize(("bad", "word"), [(-3.0, "negative"), (np.nan, "NaN")])
def test_negative_and_nan_values(tmp_path, bad, word):
    values = np.array([[1.0, 2.0], [3.0, 4.0]])
    values[1, 0] = bad
    t = biom.Table(values, ["f1", "f2"], ["s1", "s2"])
    for p in (_write_json(t, tmp_path / "v.json.biom"), _write_hdf5(t, tmp_path / "v.h5.biom")):
        with pytest.raises(DataValueError, match=word) as exc:
            gb.io.read_biom(p)
        _assert_error(exc, p)
        assert "'s1'" in str(exc.value) and "'f2'" in str(exc.value)


def test_duplicate_ids(tmp_path):
    doc = json.loads(_table().to_json("x"))
    doc["columns"][2]["id"] = "A"
    p = tmp_path / "dup.biom"
    p.write_text(json.dumps(doc))
    with pytest.raises(InputFormatError, match="duplicate sample id 'A'") as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)


def test_empty_table_and_empty_file(tmp_path):
    t = biom.Table(np.zeros((0, 0)), [], [])
    p = _write_json(t, tmp_path / "empty.biom")
    with pytest.raises(DataValueError, match="empty") as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)
    zeros = _write_hdf5(biom.Table(np.zeros((2, 2)), ["a", "b"], ["x", "y"]), tmp_path / "z.biom")
    with pytest.raises(DataValueError, match="no non-zero"):
        gb.io.read_biom(zeros)
    blank = tmp_path / "blank.biom"
    blank.write_text("   \n")
    with pytest.raises(DataValueError) as exc:
        gb.io.read_biom(blank)
    _assert_error(exc, blank)


def test_json_that_is_not_biom_and_missing_file(tmp_path):
    p = tmp_path / "x.biom"
    p.write_text('{"hello": [1, 2]}')
    with pytest.raises(InputFormatError, match="not a BIOM table") as exc:
        gb.io.read_biom(p)
    _assert_error(exc, p)
    with pytest.raises(InputFormatError, match="not found"):
        gb.io.read_biom(tmp_path / "missing.biom")


# ----------------------------------------------------------------- the American Gut table
@pytest.fixture(scope="module")
def ag_pair():
    path = shared_path(*AG)
    return path, gb.io.read_biom(path), biom.load_table(str(path))


def test_american_gut_table(ag_pair):
    _path, adata, table = ag_pair
    assert adata.shape == (1962, 19236)
    assert sp.isspmatrix_csr(adata.X) or sp.issparse(adata.X)
    depth = np.asarray(adata.X.sum(axis=1)).ravel()
    np.testing.assert_array_equal(depth, np.full(1962, 10_000.0))
    assert adata.uns["gutbrain"]["X_unit"] == "counts"
    # values equal biom-format's, entry for entry
    ref = table.matrix_data.T.tocsr()
    assert adata.X.nnz == ref.nnz
    assert abs(adata.X - ref).max() == 0
    assert list(adata.obs_names) == list(table.ids("sample"))
    j = 17
    col = table.data(table.ids("sample")[j], axis="sample", dense=True)
    assert adata.X[j].sum() == col.sum() and adata.X[j].nnz == np.count_nonzero(col)
    # taxonomy: > 90 % have a phylum; genus counts equal those parsed from biom's metadata
    assert (adata.var["phylum"] != "").mean() > 0.9
    md = table.metadata(axis="observation")
    ref_genus = pd.Series([parse_lineage("; ".join(m["taxonomy"]))["genus"] for m in md])
    assert (adata.var["genus"] == "Bacteroides").sum() == (ref_genus == "Bacteroides").sum() > 100
    assert (adata.var["genus"].to_numpy() == ref_genus.to_numpy()).all()
