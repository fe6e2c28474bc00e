"""Sample-chunked Dask arrays: MaAsLin2 and per-sample indices equal the in-process tools.

Tolerance: the chunked path solves the normal equations from merged sums, the in-process
path a QR factorisation; they differ by rounding only. Tables are compared at
``rtol=1e-9`` with ``atol=1e-300`` (so that p-values that underflow to the same tiny
number still compare), after sorting both by feature and term (near-tied q-values may
swap places).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
import gutbrain.parallel as gp
from gutbrain import DataValueError

da = pytest.importorskip("dask.array")

RTOL, ATOL = 1e-9, 1e-300
KEY = ["feature", "metadata", "value"]


@pytest.fixture(scope="module")
def cohort():
    a = gb.datasets.demo_cohort(seed=0)
    a.X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
    return a


def _lazy(a, chunks=(37, -1)):
    b = a.copy()
    b.X = da.from_array(np.asarray(a.X), chunks=chunks)
    return b


def _assert_same(res, ref):
    assert list(res.columns) == list(ref.columns) and len(res) == len(ref)
    res, ref = (t.sort_values(KEY, kind="stable").reset_index(drop=True) for t in (res, ref))
    for col in (*KEY, "N", "N.not.0", "method"):
        assert res[col].tolist() == ref[col].tolist(), col
    for col in ("coef", "stderr", "pval", "qval"):
        np.testing.assert_allclose(res[col], ref[col], rtol=RTOL, atol=ATOL, err_msg=col)


@pytest.mark.parametrize(
    ("formula", "kw"),
    [
        ("~ group + age", {}),
        ("~ group + age + sex", {"normalization": "CLR", "transform": "NONE"}),
        ("~ group + age", {"transform": "LOGIT", "min_variance": 1e-6}),
        ("~ group", {"transform": "AST", "correction": "holm", "min_abundance": 0.5}),
        ("~ age", {"normalization": "NONE", "transform": "LOG", "standardize": False}),
    ],
)
def test_equals_single_process(cohort, client, formula, kw):
    ref = gb.tl.diff_abundance(cohort.copy(), formula=formula, **kw)
    a = _lazy(cohort)
    res = gp.diff_abundance_dask(a, formula=formula, client=client, **kw)
    _assert_same(res, ref)
    params = a.uns["diff_abundance"]["params"]
    assert params["partition"] == "samples" and params["n_chunks"] == 6 and params["backend"] == "dask"
    pd.testing.assert_frame_equal(a.uns["diff_abundance"]["results"], res)


def test_missing_metadata_sparse_chunks_and_rechunking(cohort, client):
    import scipy.sparse as sp

    c = cohort.copy()
    age = c.obs["age"].to_numpy(dtype=float).copy()
    age[[3, 50, 51, 190]] = np.nan  # incomplete cases: dropped from the fit, kept for N and the filter
    c.obs["age"] = age
    ref = gb.tl.diff_abundance(c.copy(), formula="~ group + age")
    b = c.copy()
    # CSR chunks, as anndata's lazy reader yields them for a sparse X
    b.X = da.from_array(np.asarray(c.X), chunks=(64, -1)).map_blocks(sp.csr_matrix, dtype=np.float64)
    _assert_same(gp.diff_abundance_dask(b, formula="~ group + age", client=client), ref)
    b = _lazy(c, chunks=(50, 100))  # chunked along the features too: warned and rechunked
    with pytest.warns(gb.DataWarning, match="chunked along the features"):
        res = gp.diff_abundance_dask(b, formula="~ group + age", client=client, n_chunks=3)
    _assert_same(res, ref)
    assert b.uns["diff_abundance"]["params"]["n_chunks"] == 3


@pytest.mark.filterwarnings("ignore:Writing zarr v2")
def test_reads_lazily_from_zarr(cohort, client, tmp_path):
    import anndata as ad
    import zarr

    path = tmp_path / "cohort.zarr"
    cohort.write_zarr(path)
    g = zarr.open(path)
    lazy = ad.AnnData(obs=cohort.obs.copy(), var=cohort.var.copy(), uns=dict(cohort.uns))
    lazy.X = ad.experimental.read_elem_lazy(g["X"], chunks=(40, cohort.n_vars))  # anndata's own reader
    assert gp._chunks.is_dask_array(lazy.X)
    ref = gb.tl.diff_abundance(cohort.copy(), formula="~ group + age")
    _assert_same(gp.diff_abundance_dask(lazy, formula="~ group + age", client=client), ref)
    ours = gp.read_lazy(path, chunk_samples=64)  # gutbrain's: provenance kept
    assert ours.X.chunks[0] == (64, 64, 64, 8) and ours.uns["gutbrain"]["X_unit"] == cohort.uns["gutbrain"]["X_unit"]
    _assert_same(gp.diff_abundance_dask(ours, formula="~ group + age", client=client), ref)
    with pytest.raises(gb.InputFormatError, match="not a readable AnnData store"):
        gp.read_lazy(tmp_path)


def test_near_perfect_fit_uses_explicit_residuals(client, monkeypatch):
    # a feature that is (almost) a linear function of the design: rss ≈ 1e-11 Σ(y − ȳ)²
    calls = []
    refit = gp._da._refit_rss
    monkeypatch.setattr(gp._da, "_refit_rss", lambda fit, idx, *a: (calls.append(list(idx)), refit(fit, idx, *a)))
    rng = np.random.default_rng(4)
    n = 120
    obs = pd.DataFrame({"x": rng.normal(size=n)}, index=[f"s{i}" for i in range(n)])
    Y = rng.gamma(2.0, 1.0, size=(n, 6)) + 0.1
    Y[:, 0] = 10.0 + 3.0 * obs["x"].to_numpy() + 1e-5 * rng.normal(size=n)
    a = gb._core.new_adata(Y, obs_names=obs.index, var_names=[f"f{j}" for j in range(6)], unit="abundance",
                           reader="test", obs=obs, sparse=False)
    ref = gb.tl.diff_abundance(a.copy(), formula="~ x", normalization="NONE", transform="NONE")
    res = gp.diff_abundance_dask(_lazy(a, chunks=(25, -1)), formula="~ x", normalization="NONE",
                                 transform="NONE", client=client)
    _assert_same(res, ref)
    assert calls == [[0]]


def test_bad_input(cohort, client):
    a = _lazy(cohort)
    for norm in ("CSS", "TMM"):
        with pytest.raises(DataValueError, match="every sample of a feature"):
            gp.diff_abundance_dask(a, formula="~ group", normalization=norm, client=client)
    with pytest.raises(DataValueError, match="random intercepts"):
        gp.diff_abundance_dask(a, formula="~ group + (1|sex)", client=client)
    bad = cohort.copy()
    X = np.asarray(bad.X).copy()
    X[5, 7] = np.nan
    bad.X = da.from_array(X, chunks=(50, -1))
    with pytest.raises(DataValueError, match="1 NaN or infinite"):
        gp.diff_abundance_dask(bad, formula="~ group", client=client)
    with pytest.raises(DataValueError, match="no feature passes"):
        gp.diff_abundance_dask(a, formula="~ group", min_abundance=1e12, client=client)
    assert "diff_abundance" not in a.uns  # nothing stored by a failed run


def test_unreachable_scheduler_fails_fast(cohort, monkeypatch):
    import socket

    monkeypatch.setattr(gp._client, "CONNECT_TIMEOUT", 2.0)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # a port nobody listens on
    port = s.getsockname()[1]
    s.close()
    t0 = time.perf_counter()
    with pytest.raises(gp.ClusterError, match=rf"127.0.0.1:{port} did not answer within 2 s"):
        gp.diff_abundance_dask(_lazy(cohort), formula="~ group", client=f"tcp://127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 8.0
    monkeypatch.setenv(gp.SCHEDULER_ENV, f"tcp://127.0.0.1:{port}")
    with pytest.raises(gp.ClusterError, match="did not answer"), gp.dask_client():
        pass


def test_sample_indices_equal_in_process(client):
    from gutbrain._core import new_adata
    from gutbrain.taxonomy import lineage_frame
    from tests.conftest import shared_path

    d = shared_path("data", "gmhi2020_health_index")
    df = pd.read_csv(d / "species_relative_abundances.csv", index_col=0, encoding="utf-8-sig")
    a = new_adata(df.T.to_numpy(), obs_names=df.columns, var_names=df.index, unit="percent", reader="test",
                  var=lineage_frame(df.index, index=df.index), sparse=False)
    ref = a.copy()
    gb.tl.alpha_diversity(ref, metrics=["shannon", "simpson", "observed_features"])
    gb.tl.gmhi(ref)
    gb.tl.gmwi2(ref)
    lazy = a.copy()
    lazy.X = da.from_array(np.asarray(a.X), chunks=(23, -1))
    names = ["shannon", "simpson", "observed_features", "gmhi", "gmwi2"]
    out = gp.sample_indices_dask(lazy, indices=names, client=client)
    assert list(out.columns) == names and list(out.index) == list(a.obs_names)
    for m in names:
        np.testing.assert_allclose(out[m].to_numpy(), ref.obs[m].to_numpy(), rtol=1e-12, atol=1e-15, err_msg=m)
        np.testing.assert_array_equal(lazy.obs[m].to_numpy(), out[m].to_numpy())
    with pytest.raises(DataValueError, match="unknown per-sample"):
        gp.sample_indices_dask(lazy, indices=["faith_pd"], client=client)
    with pytest.raises(DataValueError, match="not a Dask array"):
        gp.sample_indices_dask(a, indices=["shannon"], client=client)


def _die_once(block, folder, at):
    """Kill the worker process at the ``at``-th chunk read (counted with files), once."""
    import os
    import tempfile

    tempfile.mkstemp(dir=folder, prefix="read-")
    if len([f for f in os.listdir(folder) if f.startswith("read-")]) >= at:
        try:
            os.close(os.open(os.path.join(folder, "died"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return block
        os._exit(1)
    return block


def _always_die(block):
    import os

    os._exit(1)


@pytest.mark.slow
def test_worker_dying_mid_run_gives_the_complete_result_or_an_error(cohort, tmp_path):
    import cloudpickle
    import dask
    import distributed

    cloudpickle.register_pickle_by_value(__import__(__name__))  # the workers cannot import this test module
    ref = gb.tl.diff_abundance(cohort.copy(), formula="~ group + age")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
    ) as cluster, distributed.Client(cluster, set_as_default=False) as c:
        a = cohort.copy()
        # 5 chunks × (filter, transform, moments) passes: the 12th read is in the moments pass,
        # whose tasks carry the design rows
        a.X = da.from_array(np.asarray(cohort.X), chunks=(40, -1)).map_blocks(
            _die_once, folder=str(tmp_path), at=12, dtype=np.float64, meta=np.empty((0, 0)))
        res = gp.diff_abundance_dask(a, formula="~ group + age", client=c)
        assert (tmp_path / "died").exists()  # a worker did die
        _assert_same(res, ref)  # and the result is complete and equal
        # no retries left: the first death fails the run
        c.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
        b = cohort.copy()
        b.X = da.from_array(np.asarray(cohort.X), chunks=(100, -1)).map_blocks(_always_die, dtype=np.float64, meta=np.empty((0, 0)))
        with pytest.raises(gp.ClusterError, match="workers died"):
            gp.diff_abundance_dask(b, formula="~ group + age", client=c)
        assert "diff_abundance" not in b.uns  # nothing partial stored
