"""``gb.io.summary``: what ``gutbrain inspect`` reports, computed by the library."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import gutbrain as gb
from gutbrain import DataValueError
from gutbrain._core import new_adata
from gutbrain.cli._core import inspect_summary


def _table(X, *, sparse, var=None, obs=None, unit="counts"):
    n, m = X.shape
    return new_adata(
        sp.csr_matrix(X) if sparse else X,
        obs_names=[f"s{i}" for i in range(n)],
        var_names=[f"f{j}" for j in range(m)],
        unit=unit,
        reader="test",
        var=var,
        obs=obs,
        sparse=sparse,
    )


@pytest.mark.parametrize("sparse", [True, False])
def test_summary_numbers_match_numpy(sparse):
    rng = np.random.default_rng(1)
    X = rng.poisson(0.7, size=(9, 13)).astype(float)
    var = pd.DataFrame({"genus": ["Bacteroides", "", "Prevotella"] * 4 + ["Blautia"],
                        "phylum": ["Bacteroidota"] * 13})
    obs = pd.DataFrame({"age": np.arange(9), "group": ["a", "b", "b"] * 3,
                        "smoker": [True, False, None] * 3})
    info = gb.io.summary(_table(X, sparse=sparse, var=var, obs=obs))
    assert info["samples"] == 9 and info["features"] == 13
    assert info["storage"] == ("sparse" if sparse else "dense")
    assert info["sparsity"] == pytest.approx(float((X == 0).mean()))
    depth = X.sum(axis=1)
    assert info["depth"] == pytest.approx(
        {"min": depth.min(), "median": float(np.median(depth)), "max": depth.max()}
    )
    # genus is empty for 4 of the 13 features
    assert info["ranks"] == {"phylum": 13, "genus": 9}
    meta = {m["column"]: m for m in info["metadata"]}
    assert meta["age"]["type"] == "integer" and meta["age"]["summary"] == "min 0, median 4, max 8"
    assert meta["group"]["summary"] == "2 levels: b (6), a (3)"
    assert meta["smoker"]["missing"] == 3
    assert info["value_kind"] == "counts" and info["value_kind_description"]
    json.dumps(info, default=str)  # JSON-able


def test_cli_alias_and_web_use_the_library():
    adata = gb.datasets.demo_cohort(n_samples=12, n_genera=40)
    assert inspect_summary(adata) == gb.io.summary(adata)
    info = gb.io.summary(adata)
    assert info["synthetic"] is True and info["samples"] == 12 and info["features"] == 40


def test_summary_rejects_non_anndata():
    with pytest.raises(DataValueError, match="AnnData"):
        gb.io.summary(pd.DataFrame({"a": [1]}))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_sparse_and_dense_summaries_agree(n, m, seed):
    X = np.random.default_rng(seed).poisson(0.5, size=(n, m)).astype(float)
    a = gb.io.summary(_table(X, sparse=True))
    b = gb.io.summary(_table(X, sparse=False))
    a.pop("storage"), b.pop("storage")
    assert a == b
    assert a["sparsity"] == pytest.approx(float((X == 0).mean()))
