"""Writers: lossless round trips (h5ad, BIOM, TSV, parquet), sidecars, atomicity, dispatch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gutbrain as gb
from gutbrain._core import RANKS, get_matrix, new_adata
from gutbrain._errors import GutbrainError, InputFormatError
from gutbrain.taxonomy import lineage_frame
from gutbrain.testing.strategies import count_adatas
from tests.conftest import shared_path


def _example(tmp_path: Path, *, integral: bool = True):
    """A small table with a real lineage input, typed obs and a provenance input file."""
    src = tmp_path / "input.txt"
    src.write_text("source table\n")
    X = np.array([[0, 5, 1, 0], [3, 0, 0, 2], [10, 2, 7, 0]], dtype=float)
    if not integral:
        X = X / X.sum(axis=1, keepdims=True)
    lineages = [
        "k__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; f__Lachnospiraceae; "
        "g__Roseburia; s__",
        "d__Bacteria; p__Bacteroidota; g__Bacteroides; s__Bacteroides uniformis",
        "k__Bacteria; p__Firmicutes; f__Ruminococcaceae; g__Faecalibacterium; s__prausnitzii",
        "",
    ]
    var = lineage_frame(lineages)
    obs = pd.DataFrame({"pain": [3.5, np.nan, 7.0], "group": pd.Categorical(["a", "b", "a"]),
                        "age": [40, 51, 62]})
    return new_adata(X, obs_names=["S1", "S2", "S3"], var_names=["OTU1", "OTU2", "OTU3", "OTU4"],
                     unit="counts" if integral else "relative", reader="test", var=var, obs=obs,
                     inputs={"table": (src, "tsv")}, params={"answer": 42})


def _assert_same_table(a, b, *, obs: bool = False):
    np.testing.assert_array_equal(get_matrix(b), get_matrix(a))
    assert list(b.obs_names) == list(a.obs_names)
    assert list(b.var_names) == list(a.var_names)
    def rank(ad, r):
        return ad.var[r].astype(str).to_numpy() if r in ad.var else np.full(ad.n_vars, "")

    for r in RANKS:
        np.testing.assert_array_equal(rank(b, r), rank(a, r))
    if obs:
        for col in a.obs.columns:
            x, y = a.obs[col], b.obs[col]
            if pd.api.types.is_numeric_dtype(x):
                np.testing.assert_array_equal(y.to_numpy(dtype=float), x.to_numpy(dtype=float))
            else:
                assert list(y.astype(str)) == list(x.astype(str))


def _read_tsv(path: Path):
    """Read the documented TSV layout back with pandas (+ lineage parsing)."""
    df = pd.read_csv(path, sep="\t", dtype={"feature_id": str, "taxonomy": str},
                     keep_default_na=False, float_precision="round_trip")
    return _frame_to_adata(df)


def _frame_to_adata(df: pd.DataFrame):
    samples = [c for c in df.columns if c not in ("feature_id", "taxonomy")]
    var = lineage_frame(df["taxonomy"].tolist()) if "taxonomy" in df else None
    return new_adata(df[samples].to_numpy(dtype=float).T, obs_names=samples,
                     var_names=df["feature_id"], var=var, unit="counts", reader="test")


# ----------------------------------------------------------------- round trips
def test_h5ad_round_trip(tmp_path):
    a = _example(tmp_path)
    p = gb.io.write(a, tmp_path / "t.h5ad")
    b = gb.io.read_h5ad(p)
    _assert_same_table(a, b, obs=True)
    pd.testing.assert_frame_equal(b.obs, a.obs)
    pd.testing.assert_frame_equal(b.var, a.var)
    assert b.uns["gutbrain"]["inputs"] == a.uns["gutbrain"]["inputs"]
    assert b.uns["gutbrain"]["params"] == {"answer": 42}
    assert b.uns["gutbrain"]["synthetic"] is False


def test_read_h5ad_without_provenance(tmp_path):
    import anndata as ad

    plain = ad.AnnData(X=np.array([[0.25, 0.75], [0.5, 0.5]]))
    p = tmp_path / "plain.h5ad"
    plain.write_h5ad(p)
    b = gb.io.read_h5ad(p)
    assert b.uns["gutbrain"]["X_unit"] == "relative"
    assert b.uns["gutbrain"]["inputs"]["table"]["sha256"] == gb._utils.sha256_file(p)
    bad = tmp_path / "bad.h5ad"
    bad.write_text("no hdf5 here")
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_h5ad(bad)
    assert str(bad) in str(exc.value) and "Fix:" in str(exc.value)


def test_biom_round_trip(tmp_path):
    a = _example(tmp_path)
    p = gb.io.write(a, tmp_path / "t.biom")
    b = gb.io.read_biom(p)
    _assert_same_table(a, b, obs=True)
    assert b.obs["age"].dtype == np.int64 and b.obs["pain"].dtype == np.float64
    # prefixed rank lists in the file, original lineage text kept where it parses to the ranks
    assert b.var.loc["OTU1", "taxonomy"] == a.var.loc["OTU1", "taxonomy"]
    import biom

    t = biom.load_table(str(p))
    assert t.metadata("OTU2", axis="observation")["taxonomy"][:2] == ["d__Bacteria", "p__Bacteroidota"]
    assert b.uns["gutbrain"]["X_unit"] == "counts"


def test_tsv_round_trip_and_layout(tmp_path):
    a = _example(tmp_path)
    p = gb.io.write_tsv(a, tmp_path / "t.tsv")
    lines = p.read_text().splitlines()
    assert lines[0].split("\t") == ["feature_id", "taxonomy", "S1", "S2", "S3"]
    assert lines[1].split("\t")[2:] == ["0", "3", "10"]  # integers written as integers
    _assert_same_table(a, _read_tsv(p))


def test_tsv_float_values_lossless(tmp_path):
    a = _example(tmp_path, integral=False)
    a.X = get_matrix(a) * np.pi  # awkward binary fractions
    p = gb.io.write(a, tmp_path / "f.txt")
    _assert_same_table(a, _read_tsv(p))


def test_tsv_read_back_by_read_table(tmp_path):
    a = _example(tmp_path)
    b = gb.io.read_table(gb.io.write_tsv(a, tmp_path / "t.tsv"))
    _assert_same_table(a, b)
    assert b.uns["gutbrain"]["X_unit"] == "counts"


def test_parquet_round_trip(tmp_path):
    a = _example(tmp_path)
    p = gb.io.write(a, tmp_path / "t.parquet")
    table = pq.read_table(p)
    meta = json.loads(table.schema.metadata[b"gutbrain"])
    assert meta["provenance"]["params"] == {"answer": 42}
    assert str(table.schema.field("S1").type) == "int64"
    _assert_same_table(a, _frame_to_adata(table.to_pandas()))
    b = gb.io.read_parquet(p)
    _assert_same_table(a, b)
    assert b.uns["gutbrain"]["X_unit"] == "counts"
    assert b.uns["gutbrain"]["params"]["source"]["params"] == {"answer": 42}


def test_parquet_float_layer_and_broken(tmp_path):
    a = _example(tmp_path, integral=False)
    a.X = get_matrix(a) * np.pi
    b = gb.io.read_parquet(gb.io.write_parquet(a, tmp_path / "f.parquet"))
    _assert_same_table(a, b)
    assert b.uns["gutbrain"]["X_unit"] == "relative"  # from the stored provenance
    bad = tmp_path / "bad.parquet"
    bad.write_text("PAR1 not really")
    with pytest.raises(InputFormatError) as exc:
        gb.io.read_parquet(bad)
    assert str(bad) in str(exc.value) and "Fix:" in str(exc.value)
    neg = tmp_path / "neg.parquet"
    pd.DataFrame({"feature_id": ["f1", "f2"], "S1": [1.0, -1.0]}).to_parquet(neg)
    with pytest.raises(gb._errors.DataValueError, match="negative") as exc:
        gb.io.read_parquet(neg)
    assert str(neg) in str(exc.value)
    nofid = tmp_path / "nofid.parquet"
    pd.DataFrame({"x": ["f1"], "S1": [1.0]}).to_parquet(nofid)
    with pytest.raises(InputFormatError, match="feature_id"):
        gb.io.read_parquet(nofid)


def test_layer_written_and_sidecar(tmp_path):
    a = _example(tmp_path)
    rel = get_matrix(a) / get_matrix(a).sum(axis=1, keepdims=True)
    gb._core.set_layer(a, "relative", rel, "relative")
    p = gb.io.write_tsv(a, tmp_path / "rel.tsv", layer="relative")
    back = _read_tsv(p)
    np.testing.assert_array_equal(get_matrix(back), rel)
    side = json.loads((tmp_path / "rel.tsv.provenance.json").read_text())
    assert side["unit"] == "relative" and side["layer"] == "relative"
    src = tmp_path / "input.txt"
    assert side["provenance"]["inputs"]["table"]["sha256"] == gb._utils.sha256_file(src)
    assert side["gutbrain_version"] == gb.__version__
    with pytest.raises(GutbrainError, match="no layer"):
        gb.io.write_tsv(a, tmp_path / "x.tsv", layer="clr")


# ----------------------------------------------------------------- dispatch / atomicity
def test_unknown_suffix_lists_formats(tmp_path):
    with pytest.raises(GutbrainError) as exc:
        gb.io.write(_example(tmp_path), tmp_path / "t.xlsx")
    msg = str(exc.value)
    assert "t.xlsx" in msg and all(s in msg for s in (".biom", ".h5ad", ".tsv", ".parquet"))


def test_failed_write_leaves_target_untouched(tmp_path, monkeypatch):
    a = _example(tmp_path)
    target = tmp_path / "out.tsv"
    target.write_text("previous\n")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(RuntimeError):
        gb.io.write_tsv(a, target)
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.txt", "out.tsv"]


def test_reserved_sample_name(tmp_path):
    a = _example(tmp_path)
    a.obs_names = ["feature_id", "S2", "S3"]
    with pytest.raises(GutbrainError, match="reserved"):
        gb.io.write(a, tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


# ----------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(adata=count_adatas(min_depth=1, max_samples=8, max_features=10),
       fmt=st.sampled_from([".biom", ".h5ad", ".tsv", ".parquet"]))
def test_round_trip_property(tmp_path, adata, fmt):
    p = gb.io.write(adata, tmp_path / f"prop{fmt}")
    if fmt == ".biom":
        back = gb.io.read_biom(p)
    elif fmt == ".h5ad":
        back = gb.io.read_h5ad(p)
    elif fmt == ".tsv":
        back = _read_tsv(p)
    else:
        back = gb.io.read_parquet(p)
    _assert_same_table(adata, back)
    assert np.asarray(get_matrix(back).sum(axis=1)).tolist() == np.asarray(
        get_matrix(adata).sum(axis=1)).tolist()


# ----------------------------------------------------------------- real table
def test_american_gut_biom_round_trip(tmp_path):
    path = shared_path("data", "americangut2014_migraine_selfreport_16s", "AG_100nt_even10k.biom.gz")
    a = gb.io.read_biom(path)[:150].copy()  # a slice keeps the test fast; all 19,236 features
    b = gb.io.read_biom(gb.io.write_biom(a, tmp_path / "ag.biom"))
    assert abs(b.X - a.X).max() == 0
    _assert_same_table(a, b)
    assert (b.var["taxonomy"] == a.var["taxonomy"]).all()
