"""gb.io.read_qza: real QIIME 2 artifacts and fixtures built with zipfile + biom-format."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import biom
import h5py
import numpy as np
import pytest
import skbio

import gutbrain as gb
from gutbrain._errors import InputFormatError
from gutbrain.io._qiime2 import SUPPORTED_TYPES
from tests.conftest import shared_path


def _biom_bytes(table: biom.Table) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as fh:
        table.to_hdf5(fh, "gutbrain tests")
    return buf.getvalue()


def make_qza(path: Path, semantic: str, fmt: str, files: dict[str, bytes | str], *,
             with_metadata: bool = True, uid: str | None = None) -> Path:
    """Write a .qza laid out like QIIME 2's (uuid folder, VERSION, metadata.yaml, data/, provenance/)."""
    uid = uid or str(uuid.uuid4())
    meta = f"uuid: {uid}\ntype: {semantic}\nformat: {fmt}\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{uid}/VERSION", "QIIME 2\narchive: 5\nframework: 2023.9.0\n")
        if with_metadata:
            zf.writestr(f"{uid}/metadata.yaml", meta)
        for name, content in files.items():
            zf.writestr(f"{uid}/data/{name}", content)
        zf.writestr(f"{uid}/provenance/metadata.yaml", meta)
        zf.writestr(f"{uid}/provenance/VERSION", "QIIME 2\narchive: 5\nframework: 2023.9.0\n")
        zf.writestr(f"{uid}/provenance/action/action.yaml", "action:\n  type: import\n")
    return path


def _real(name: str) -> Path:
    return shared_path("data", "qiime2_artifacts", name)


def _member_table(path: Path) -> biom.Table:
    """Peer: biom-format's reader on the artifact's feature-table.biom."""
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/data/feature-table.biom"))
        raw = zf.read(name)
    with h5py.File(io.BytesIO(raw), "r") as fh:
        return biom.Table.from_hdf5(fh)


@pytest.mark.parametrize(
    ("name", "shape", "uid"),
    [
        ("chardonnay.table.qza", (82, 281), "0a413086-c347-4b53-b349-4f89f0b76939"),
        ("table-ancombc.qza", (34, 770), "d768bcbb-1312-46af-baa4-f8bfaf3eed3c"),
    ],
)
def test_real_feature_tables(name, shape, uid):
    path = _real(name)
    adata = gb.io.read_qza(path)
    assert adata.shape == shape
    ref = _member_table(path)
    np.testing.assert_array_equal(gb._core.get_matrix(adata), ref.matrix_data.T.toarray())
    assert list(adata.obs_names) == list(ref.ids("sample"))
    assert list(adata.var_names) == list(ref.ids("observation"))
    prov = adata.uns["gutbrain"]
    assert prov["X_unit"] == "counts"
    assert prov["params"]["artifact_uuid"] == uid
    assert prov["params"]["artifact_type"] == "FeatureTable[Frequency]"
    assert prov["inputs"]["table"]["format"] == "qiime2-artifact"
    assert prov["inputs"]["table"]["sha256"] == gb._utils.sha256_file(path)


def test_relative_frequency_fixture(tmp_path):
    counts = np.array([[5.0, 0.0, 2.0], [1.0, 4.0, 0.0], [0.0, 6.0, 8.0]])
    rel = counts / counts.sum(axis=0)
    t = biom.Table(rel, ["f1", "f2", "f3"], ["s1", "s2", "s3"])
    p = make_qza(tmp_path / "rel.qza", "FeatureTable[RelativeFrequency]", "BIOMV210DirFmt",
                 {"feature-table.biom": _biom_bytes(t)}, uid="11111111-2222-3333-4444-555555555555")
    adata = gb.io.read_qza(p)
    assert adata.uns["gutbrain"]["X_unit"] == "relative"
    np.testing.assert_allclose(gb._core.get_matrix(adata).sum(axis=1), 1.0)
    np.testing.assert_array_equal(gb._core.get_matrix(adata), rel.T)
    assert adata.uns["gutbrain"]["params"]["artifact_uuid"] == "11111111-2222-3333-4444-555555555555"


def test_taxonomy_fixture(tmp_path):
    tsv = (
        "Feature ID\tTaxon\tConfidence\n"
        "a1\td__Bacteria; p__Firmicutes; c__Clostridia; o__Lachnospirales; "
        "f__Lachnospiraceae; g__Roseburia; s__Roseburia_intestinalis\t0.98\n"
        "a2\tk__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; "
        "f__Bacteroidaceae; g__Bacteroides; s__\t0.87\n"
        "a3\tD_0__Bacteria;D_1__Actinobacteria;D_5__Bifidobacterium\t0.7\n"
        "a4\tUnassigned\t\n"
    )
    p = make_qza(tmp_path / "tax.qza", "FeatureData[Taxonomy]", "TSVTaxonomyDirectoryFormat",
                 {"taxonomy.tsv": tsv})
    tax = gb.io.read_qza(p)
    assert list(tax.index) == ["a1", "a2", "a3", "a4"]
    assert list(tax["genus"]) == ["Roseburia", "Bacteroides", "Bifidobacterium", ""]
    assert tax.loc["a1", "species"] == "Roseburia intestinalis"
    assert tax.loc["a3", "phylum"] == "Actinobacteria"
    np.testing.assert_array_equal(tax["confidence"].to_numpy(), [0.98, 0.87, 0.7, np.nan])
    assert tax.attrs["artifact_type"] == "FeatureData[Taxonomy]"


@pytest.mark.parametrize("kind", ["Rooted", "Unrooted"])
def test_tree_fixture(tmp_path, kind):
    nwk = "((a1:0.1,a2:0.2)n1:0.3,(a3:0.4,a4:0.05)n2:0.6)root;\n"
    p = make_qza(tmp_path / "tree.qza", f"Phylogeny[{kind}]", "NewickDirectoryFormat",
                 {"tree.nwk": nwk})
    tree = gb.io.read_qza(p)
    ref = skbio.TreeNode.read(io.StringIO(nwk))
    assert isinstance(tree, skbio.TreeNode)
    assert sorted(t.name for t in tree.tips()) == sorted(t.name for t in ref.tips())
    total = sum(n.length or 0 for n in tree.traverse())
    assert total == pytest.approx(sum(n.length or 0 for n in ref.traverse())) == pytest.approx(1.65)
    assert tree.find("a4").distance(tree.find("a1")) == pytest.approx(0.05 + 0.6 + 0.3 + 0.1)
    assert tree.qiime2_type == f"Phylogeny[{kind}]"


def test_distance_matrix_and_alpha_fixture(tmp_path):
    dm_text = "\ta\tb\tc\na\t0.0\t0.5\t0.25\nb\t0.5\t0.0\t0.75\nc\t0.25\t0.75\t0.0\n"
    p = make_qza(tmp_path / "dm.qza", "DistanceMatrix", "DistanceMatrixDirectoryFormat",
                 {"distance-matrix.tsv": dm_text})
    dm = gb.io.read_qza(p)
    assert dm["a", "c"] == 0.25 and dm.shape == (3, 3)
    alpha = "\tshannon_entropy\ns1\t2.5\ns2\t3.25\n"
    p2 = make_qza(tmp_path / "alpha.qza", "SampleData[AlphaDiversity]",
                  "AlphaDiversityDirectoryFormat", {"alpha-diversity.tsv": alpha})
    s = gb.io.read_qza(p2)
    assert s.to_dict() == {"s1": 2.5, "s2": 3.25}


# ----------------------------------------------------------------- broken inputs
def _assert_error(excinfo, path):
    msg = str(excinfo.value)
    assert str(path) in msg and "Fix:" in msg and "\n" not in msg


def test_unknown_type_lists_supported(tmp_path):
    p = make_qza(tmp_path / "seqs.qza", "FeatureData[Sequence]", "DNASequencesDirectoryFormat",
                 {"dna-sequences.fasta": ">a\nACGT\n"})
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_qza(p)
    _assert_error(exc, p)
    msg = str(exc.value)
    assert "FeatureData[Sequence]" in msg
    assert all(t in msg for t in SUPPORTED_TYPES)


def test_zip_that_is_not_a_qza(tmp_path):
    p = tmp_path / "plain.qza"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputFormatError, match=r"metadata\.yaml") as exc:
        gb.io.read_qza(p)
    _assert_error(exc, p)


def test_qza_missing_metadata_yaml(tmp_path):
    t = biom.Table(np.ones((2, 2)), ["f1", "f2"], ["s1", "s2"])
    p = make_qza(tmp_path / "nometa.qza", "FeatureTable[Frequency]", "BIOMV210DirFmt",
                 {"feature-table.biom": _biom_bytes(t)}, with_metadata=False)
    with pytest.raises(InputFormatError, match=r"metadata\.yaml") as exc:
        gb.io.read_qza(p)
    _assert_error(exc, p)


def test_not_a_zip_and_truncated_zip(tmp_path):
    p = tmp_path / "text.qza"
    p.write_text("not a zip")
    with pytest.raises(InputFormatError, match="not a zip") as exc:
        gb.io.read_qza(p)
    _assert_error(exc, p)
    t = biom.Table(np.ones((2, 2)), ["f1", "f2"], ["s1", "s2"])
    full = make_qza(tmp_path / "full.qza", "FeatureTable[Frequency]", "BIOMV210DirFmt",
                    {"feature-table.biom": _biom_bytes(t)})
    cut = tmp_path / "cut.qza"
    cut.write_bytes(full.read_bytes()[:-200])
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_qza(cut)
    _assert_error(exc, cut)


def test_missing_payload_and_negative_counts(tmp_path):
    p = make_qza(tmp_path / "empty.qza", "FeatureTable[Frequency]", "BIOMV210DirFmt", {})
    with pytest.raises(InputFormatError, match=r"feature-table\.biom") as exc:
        gb.io.read_qza(p)
    _assert_error(exc, p)
    t = biom.Table(np.array([[1.0, -2.0], [3.0, 4.0]]), ["f1", "f2"], ["s1", "s2"])
    p2 = make_qza(tmp_path / "neg.qza", "FeatureTable[Frequency]", "BIOMV210DirFmt",
                  {"feature-table.biom": _biom_bytes(t)})
    with pytest.raises(gb._errors.DataValueError, match="negative") as exc:
        gb.io.read_qza(p2)
    _assert_error(exc, p2)
