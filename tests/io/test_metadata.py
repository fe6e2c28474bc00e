"""gb.io.read_metadata / attach_metadata: QIIME 2 rules, typing, errors, real mapping files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._core import new_adata
from gutbrain._errors import DataValueError, InputFormatError, MetadataMismatchError
from tests.conftest import shared_path


def _real(*parts: str) -> Path:
    return shared_path("data", *parts)


def _assert_error(excinfo, path):
    msg = str(excinfo.value)
    assert str(path) in msg and "Fix:" in msg and "\n" not in msg


def _table(ids=("S1", "S2", "S3"), features=("f1", "f2")):
    X = np.arange(1, len(ids) * len(features) + 1, dtype=float).reshape(len(ids), len(features))
    return new_adata(X, obs_names=ids, var_names=features, unit="counts", reader="test")


# ----------------------------------------------------------------- reading
QIIME = (
    "# a comment before the header\n"
    "sample-id\tbody_site\tpain\tcode\tscore\n"
    "#q2:types\tcategorical\tnumeric\tcategorical\t\n"
    "# a comment between rows\n"
    "S1\tgut\t3.5\t001\t7\n"
    "\n"
    " S2 \tgut\tNA\t002\t8\n"
    "S3\tskin\t\t003\tmissing: not collected\n"
)


def test_qiime2_metadata_rules(tmp_path):
    p = tmp_path / "md.tsv"
    p.write_text(QIIME)
    md = gb.io.read_metadata(p)
    assert list(md.index) == ["S1", "S2", "S3"]  # whitespace stripped, comments/blank skipped
    assert list(md.columns) == ["body_site", "pain", "code", "score"]
    assert md["pain"].dtype == np.float64
    np.testing.assert_array_equal(md["pain"].to_numpy(), [3.5, np.nan, np.nan])
    # declared categorical: numeric-looking codes keep their leading zeros
    assert isinstance(md["code"].dtype, pd.CategoricalDtype)
    assert list(md["code"].astype(str)) == ["001", "002", "003"]
    # inferred: INSDC 'missing: ...' is NaN, the rest numeric
    np.testing.assert_array_equal(md["score"].to_numpy(), [7.0, 8.0, np.nan])
    assert md.attrs["q2_types"] == {"body_site": "categorical", "pain": "numeric",
                                    "code": "categorical"}


@pytest.mark.parametrize(
    "header",
    ["id", "ID", "sampleid", "Sample ID", "sample-id", "featureid", "feature id", "Feature-ID",
     "#SampleID", "#Sample ID", "#OTUID", "#OTU ID", "sample_name", "Sample"],
)
def test_accepted_id_headers(tmp_path, header):
    p = tmp_path / "md.tsv"
    p.write_text(f"{header}\tx\na\t1\nb\t2\na2\t3\n")
    md = gb.io.read_metadata(p)
    assert list(md.index) == ["a", "b", "a2"]
    assert md["x"].dtype == np.int64 and md["x"].sum() == 6
    assert md.attrs["id_column"] == header


def test_int_float_and_unknown(tmp_path):
    p = tmp_path / "md.tsv"
    p.write_text("id\tage\tbmi\tsex\n"
                 "a\t40\t21.5\tF\nb\t50\tUnknown\tUnknown\nc\t61\t30\tM\n")
    md = gb.io.read_metadata(p)
    assert md["age"].dtype == np.int64
    np.testing.assert_array_equal(md["bmi"].to_numpy(), [21.5, np.nan, 30.0])
    assert list(md["sex"].astype(str)) == ["F", "Unknown", "M"]  # a level of a categorical


@pytest.mark.parametrize("sep", [",", ";"])
def test_csv_sniffed(tmp_path, sep):
    p = tmp_path / "md.txt"
    p.write_text(f'SampleID{sep}group{sep}note\nx1{sep}a{sep}"hello{sep} world"\nx2{sep}b{sep}\n')
    md = gb.io.read_metadata(p)
    assert list(md.index) == ["x1", "x2"]
    assert md.loc["x1", "note"] == f"hello{sep} world"
    assert pd.isna(md.loc["x2", "note"])


def test_xlsx_and_gzip(tmp_path):
    frame = pd.DataFrame({"sample_id": ["a", "b", "c"], "pain": [1.5, 2.0, np.nan],
                          "group": ["x", "y", "x"]})
    x = tmp_path / "md.xlsx"
    frame.to_excel(x, index=False)
    md = gb.io.read_metadata(x)
    np.testing.assert_array_equal(md["pain"].to_numpy(), [1.5, 2.0, np.nan])
    assert list(md["group"].astype(str)) == ["x", "y", "x"]
    g = tmp_path / "md.tsv.gz"
    g.write_bytes(gzip.compress(QIIME.encode()))
    pd.testing.assert_frame_equal(gb.io.read_metadata(g), gb.io.read_metadata(
        _write(tmp_path / "plain.tsv", QIIME)))


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def test_first_column_used_when_unique_and_id_column(tmp_path):
    p = _write(tmp_path / "md.csv", "subject,visit,run\np1,1,R1\np2,1,R2\n")
    assert list(gb.io.read_metadata(p).index) == ["p1", "p2"]
    p2 = _write(tmp_path / "md2.csv", "subject,visit,barcode\np1,1,R1\np1,2,R2\n")
    md = gb.io.read_metadata(p2, id_column="barcode")
    assert list(md.index) == ["R1", "R2"] and list(md["subject"].astype(str)) == ["p1", "p1"]


# ----------------------------------------------------------------- errors
def test_duplicate_ids_named_with_lines(tmp_path):
    p = _write(tmp_path / "dup.tsv", "sample-id\tx\n# c\nA\t1\nB\t2\nA\t3\n")
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_metadata(p)
    _assert_error(exc, p)
    assert "'A'" in str(exc.value) and "lines 3 and 5" in str(exc.value)
    assert exc.value.line == 5


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    p = _write(tmp_path / "empty.tsv", text)
    with pytest.raises(DataValueError, match="empty") as exc:
        gb.io.read_metadata(p)
    _assert_error(exc, p)


def test_header_only_missing_id_and_ragged(tmp_path):
    p = _write(tmp_path / "h.tsv", "sample-id\tx\n#q2:types\tnumeric\n")
    with pytest.raises(DataValueError, match="no sample rows") as exc:
        gb.io.read_metadata(p)
    _assert_error(exc, p)
    p2 = _write(tmp_path / "noid.tsv", "group\tx\ncase\t1\ncase\t2\n")
    with pytest.raises(InputFormatError, match="no sample id column") as exc:
        gb.io.read_metadata(p2)
    _assert_error(exc, p2)
    p3 = _write(tmp_path / "ragged.tsv", "id\tx\na\t1\nb\t2\t9\n")
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_metadata(p3)
    _assert_error(exc, p3)
    assert exc.value.line == 3


def test_declared_numeric_with_text(tmp_path):
    p = _write(tmp_path / "t.tsv", "id\tpain\n#q2:types\tnumeric\na\t3\nb\thigh\n")
    with pytest.raises(DataValueError) as exc:
        gb.io.read_metadata(p)
    _assert_error(exc, p)
    assert exc.value.line == 4 and exc.value.column == "pain"


# ----------------------------------------------------------------- attach
def test_attach_inner_and_left(tmp_path):
    p = _write(tmp_path / "md.tsv", "id\tpain\tgroup\nS3 \t7\tcase\nS1\t2\tcontrol\nX9\t1\tcase\n")
    adata = _table()
    with pytest.warns(UserWarning, match="1 of 3"):
        inner = gb.io.attach_metadata(adata, p)
    assert list(inner.obs_names) == ["S1", "S3"]  # table order kept
    np.testing.assert_array_equal(inner.obs["pain"].to_numpy(), [2, 7])
    np.testing.assert_array_equal(gb._core.get_matrix(inner), gb._core.get_matrix(adata)[[0, 2]])
    params = inner.uns["gutbrain"]["params"]
    assert params["metadata_samples_dropped"] == 1 and params["metadata_rows_unused"] == 1
    assert inner.uns["gutbrain"]["inputs"]["metadata"]["sha256"] == gb._utils.sha256_file(p)
    assert adata.n_obs == 3  # input untouched
    with pytest.warns(UserWarning):
        left = gb.io.attach_metadata(adata, gb.io.read_metadata(p), how="left")
    assert list(left.obs_names) == ["S1", "S2", "S3"]
    np.testing.assert_array_equal(left.obs["pain"].to_numpy(), [2.0, np.nan, 7.0])
    assert list(left.obs["group"].astype(object).fillna("-")) == ["control", "-", "case"]
    assert "metadata" in left.uns["gutbrain"]["inputs"]  # path taken from frame attrs


def test_no_match_transposed_hint(tmp_path):
    p = _write(tmp_path / "md.tsv", "id\tpain\nf1\t1\nf2\t2\n")
    with pytest.raises(MetadataMismatchError) as exc:
        gb.io.attach_metadata(_table(), p)
    _assert_error(exc, p)
    msg = str(exc.value)
    assert "transposed" in msg
    assert "'S1', 'S2', 'S3'" in msg and "'f1', 'f2'" in msg


def test_no_match_other_column_hint(tmp_path):
    p = _write(tmp_path / "md.tsv", "id\trun\tpain\nP1\tS1\t1\nP2\tS2\t2\nP3\tS3\t3\n")
    with pytest.raises(MetadataMismatchError, match="id_column='run'") as exc:
        gb.io.attach_metadata(_table(), p)
    _assert_error(exc, p)
    fixed = gb.io.attach_metadata(_table(), gb.io.read_metadata(p, id_column="run"), path=p)
    np.testing.assert_array_equal(fixed.obs["pain"].to_numpy(), [1, 2, 3])


# ----------------------------------------------------------------- real files
def test_giloteaux_metadata():
    p = _real("giloteaux2016_mecfs_16s", "sample-metadata.tsv")
    md = gb.io.read_metadata(p)
    assert md.shape[0] == 87
    assert md.attrs["id_column"] == "#SampleID"
    peer = pd.read_csv(p, sep="\t", index_col=0)  # pandas' own typing as the peer
    assert md["Pain"].dtype == np.float64
    assert md["Pain"].isna().sum() == peer["Pain"].isna().sum() > 0
    np.testing.assert_array_equal(md["Pain"].to_numpy(), peer["Pain"].to_numpy())
    np.testing.assert_array_equal(md["BMI"].to_numpy(), peer["BMI"].to_numpy())
    assert list(md.index) == list(peer.index)
    assert set(md["Subject"].astype(str)) == {"Patient", "Control"}


def test_american_gut_mapping_and_attach():
    p = _real("americangut2014_migraine_selfreport_16s", "mapping_trimmed.tsv.gz")
    md = gb.io.read_metadata(p)
    assert md.shape == (1962, 130)
    peer = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False, index_col=0)
    n_missing = peer["AGE"].isin(["no_data", "", "Unknown", "unknown"]).sum()
    assert md["AGE"].dtype == np.float64 and md["AGE"].isna().sum() == n_missing
    ok = ~peer["AGE"].isin(["no_data", "", "Unknown", "unknown"])
    np.testing.assert_array_equal(md["AGE"].to_numpy()[ok.to_numpy()],
                                  peer["AGE"][ok].astype(float).to_numpy())
    assert md["MIGRAINE"].isna().sum() == (peer["MIGRAINE"] == "no_data").sum()
    biom_path = _real("americangut2014_migraine_selfreport_16s", "AG_100nt_even10k.biom.gz")
    adata = gb.io.read_biom(biom_path)
    joined = gb.io.attach_metadata(adata, md, path=p)
    assert joined.shape == (1962, 19236)
    assert (joined.obs["MIGRAINE"].astype(str) == "yes").sum() == (peer["MIGRAINE"] == "yes").sum()


def test_r_style_header_and_none_level(tmp_path):
    """R's write.table header (no name for the row-name column); 'none' is a level of text columns."""
    p = tmp_path / "meta.tsv"
    p.write_text('"group"\t"dose"\t"dysbiosis"\n"S1"\t"a"\t1.5\t"none"\n"S2"\t"b"\tnone\t"dysbiosis_UC"\n')
    md = gb.io.read_metadata(p)
    assert list(md.index) == ["S1", "S2"] and list(md.columns) == ["group", "dose", "dysbiosis"]
    assert list(md["dysbiosis"].astype(str)) == ["none", "dysbiosis_UC"]
    assert md["dose"].dtype == np.float64 and np.isnan(md["dose"].iloc[1])  # numeric column: 'none' is missing
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("id\ta\nS1\t1\t2\nS2\t3\n")
    with pytest.raises(InputFormatError, match="row has 3 cells"):
        gb.io.read_metadata(ragged)


def test_trailing_delimiters_are_not_an_r_header(tmp_path):
    p = tmp_path / "trail.tsv"
    p.write_text("id\tx\nS1\t1\t\nS2\t2\t\n")
    md = gb.io.read_metadata(p)
    assert list(md.index) == ["S1", "S2"] and list(md.columns) == ["x"]
