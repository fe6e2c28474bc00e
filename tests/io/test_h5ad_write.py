"""``write_h5ad`` filters only the arrays where compression pays; the content is unchanged."""

from __future__ import annotations

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gutbrain as gb
from gutbrain.io._h5ad_write import SMALL_BYTES, compression_pays, write_h5ad_file


def _same(x, y) -> None:
    """Equal values and types, recursively (frames with dtypes, arrays, sparse, mappings)."""
    if isinstance(x, ad.AnnData):
        assert x.shape == y.shape
        for slot in ("X", "obs", "var", "obsm", "varm", "obsp", "varp", "layers", "uns"):
            _same(getattr(x, slot), getattr(y, slot))
    elif isinstance(x, pd.DataFrame):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
    elif sp.issparse(x):
        assert sp.issparse(y) and x.format == y.format and x.dtype == y.dtype
        assert (x != y).nnz == 0
    elif isinstance(x, np.ndarray):
        assert isinstance(y, np.ndarray) and x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    elif hasattr(x, "keys"):
        assert sorted(x.keys()) == sorted(y.keys())
        for k in x.keys():
            _same(x[k], y[k])
    else:
        assert type(x) is type(y) and x == y


def _record() -> ad.AnnData:
    rng = np.random.default_rng(7)
    adata = gb.datasets.demo_cohort(seed=3, n_samples=150, n_genera=60)
    n = adata.n_obs
    adata.obsp["random"] = rng.random((n, n))  # full-precision doubles: barely deflate
    dist = np.ones((n, n))
    dist[:10, :10] = 0.5
    adata.obsp["blocky"] = dist  # deflates well
    adata.obsm["large"] = np.repeat(np.arange(n, dtype=np.float64)[:, None], 1100, axis=1)  # > 1 MiB
    adata.obs["label"] = [f"s{i % 7}" for i in range(n)]  # plain strings → categorical on write
    adata.uns["small_table"] = pd.DataFrame({"a": np.arange(5.0), "b": list("abcde")})
    adata.uns["big_table"] = pd.DataFrame({"v": np.repeat(np.arange(50.0), 400)})
    adata.uns["scalar"] = 3.5
    adata.uns["text"] = "note"
    adata.uns["nested"] = {"x": np.arange(3), "y": {"z": "deep"}}
    adata.layers["sparse"] = sp.random(n, adata.n_vars, density=0.2, format="csr", random_state=1)
    return adata


def test_same_content_as_anndata_writer(tmp_path):
    a, b = _record(), _record()
    a.write_h5ad(tmp_path / "anndata.h5ad", compression="gzip")
    gb.io.write_h5ad(b, tmp_path / "gutbrain.h5ad")
    _same(a, b)  # both writers convert strings to categoricals in place
    assert isinstance(b.obs["label"].dtype, pd.CategoricalDtype)
    _same(ad.read_h5ad(tmp_path / "anndata.h5ad"), ad.read_h5ad(tmp_path / "gutbrain.h5ad"))


def test_filters_where_they_pay(tmp_path):
    path = tmp_path / "x.h5ad"
    write_h5ad_file(_record(), path)
    with h5py.File(path, "r") as fh:
        assert fh["obsp/blocky"].compression == "gzip"
        assert fh["obsp/blocky"].compression_opts == 4
        assert fh["obsm/large"].compression == "gzip"
        assert fh["obsm/large"].compression_opts == 1  # large: the fast level
        assert fh["obsp/random"].compression is None  # a probe keeps > 90 %: not worth it
        assert fh["uns/small_table/a"].compression is None
        assert fh["uns/small_table/a"].chunks is None  # contiguous
        assert fh["uns/big_table/v"].compression == "gzip"
    write_h5ad_file(_record(), tmp_path / "plain.h5ad", compression=None)
    with h5py.File(tmp_path / "plain.h5ad", "r") as fh:
        assert fh["obsp/blocky"].compression is None


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(0, 40_000), elements=st.floats(0, 1)))
def test_compression_pays_properties(arr):
    pays = compression_pays(arr)
    if arr.nbytes < SMALL_BYTES:
        assert not pays
    if arr.nbytes >= SMALL_BYTES and np.all(arr == arr.flat[0]):
        assert pays  # a constant array always deflates


@pytest.mark.parametrize("dtype", ["U3", object])
def test_strings_keep_the_filter(dtype):
    arr = np.array(["abc"] * 30_000, dtype=dtype)
    assert compression_pays(arr)


def _tree(path) -> dict:
    """Every group and dataset: kind, dtype, shape and attributes (the storage filters aside)."""
    out = {}
    with h5py.File(path, "r") as fh:
        def visit(name, obj):
            attrs = repr({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in obj.attrs.items()})
            out[name] = (("D", str(obj.dtype), obj.shape) if isinstance(obj, h5py.Dataset) else ("G",)) + (attrs,)
        fh.visititems(visit)
        out["/"] = repr(dict(fh.attrs))
    return out


@pytest.mark.parametrize("with_raw", [False, True])
def test_same_hdf5_layout_as_anndata_writer(tmp_path, with_raw):
    a, b = _record(), _record()
    if with_raw:
        a.raw, b.raw = a.copy(), b.copy()
    a.write_h5ad(tmp_path / "anndata.h5ad", compression="gzip")
    write_h5ad_file(b, tmp_path / "gutbrain.h5ad")
    assert _tree(tmp_path / "anndata.h5ad") == _tree(tmp_path / "gutbrain.h5ad")  # no extra "raw"
    assert ad.read_h5ad(tmp_path / "gutbrain.h5ad").raw is None or with_raw
