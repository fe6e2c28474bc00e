"""Beta diversity: parity with scikit-bio 0.7.4 / SciPy on shared datasets, definitions, slots."""

from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist

import gutbrain.tl as tl
from gutbrain import DataValueError, UnitError
from gutbrain._core import new_adata, set_layer
from gutbrain.tl._beta_kernels import l1_condensed


def _table(shared, tmp_path, dataset):
    if dataset == "giloteaux":
        p = shared / "data" / "giloteaux2016_mecfs_16s" / "feature_table.tsv"
        return pd.read_csv(p, sep="\t", skiprows=1, index_col=0).T.to_numpy()
    if dataset == "kang":
        p = shared / "data" / "kang2017_autism_16s" / "genera.counts.tsv"
        return pd.read_csv(p, sep="\t", index_col=0).to_numpy()
    import biom

    with zipfile.ZipFile(shared / "data" / "qiime2_artifacts" / "table-ancombc.qza") as z:
        member = next(m for m in z.namelist() if m.endswith("data/feature-table.biom"))
        z.extract(member, tmp_path)
    return biom.load_table(str(tmp_path / member)).matrix_data.toarray().T


@pytest.mark.shared
@pytest.mark.parametrize("dataset", ["giloteaux", "kang", "qza"])
def test_beta_equals_skbio_and_scipy(shared, tmp_path, dataset):
    from skbio.diversity import beta_diversity
    from skbio.stats.composition import clr

    X = _table(shared, tmp_path, dataset).astype(float)
    X = X[X.sum(1) > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for metric in ("braycurtis", "jaccard"):
            ref = beta_diversity(metric, X.astype(np.int64)).condensed_form()
            ours = tl.beta(X, metric)
            np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0, err_msg=metric)
            np.testing.assert_allclose(ours, pdist(X if metric == "braycurtis" else X > 0, metric), rtol=1e-10)
        ref = pdist(clr(X + 1.0), "euclidean")
    np.testing.assert_allclose(tl.aitchison(X), ref, rtol=1e-10)


def _robust_aitchison_by_definition(X):
    n = X.shape[0]
    R = np.zeros_like(X)
    for i in range(n):
        m = X[i] > 0
        logs = np.log(X[i, m])
        R[i, m] = logs - logs.mean()
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            both = (X[i] > 0) & (X[j] > 0)
            out.append(np.sqrt(((R[i, both] - R[j, both]) ** 2).sum()))
    return np.array(out)


def test_robust_aitchison_matches_definition():
    rng = np.random.default_rng(1)
    X = rng.poisson(rng.gamma(0.3, 4, size=(23, 40))).astype(float)
    np.testing.assert_allclose(tl.robust_aitchison(X, block=7), _robust_aitchison_by_definition(X),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 64, 65, 131])
def test_l1_kernel_tiles_and_blocks(n):
    rng = np.random.default_rng(n)
    X = rng.poisson(2.0, size=(n, 17)).astype(float)
    np.testing.assert_allclose(l1_condensed(X, tile=8), pdist(X, "cityblock"), rtol=1e-12)
    if n > 1:
        X[0] += 1  # avoid empty pairs
        np.testing.assert_allclose(tl.braycurtis(X), pdist(X, "braycurtis"), rtol=1e-12)
        np.testing.assert_allclose(tl.jaccard(X, block=5), pdist(X > 0, "jaccard"), rtol=1e-12)
        np.testing.assert_allclose(tl.aitchison(X + 0.5, block=5), pdist(np.log(X + 0.5) - np.log(X + 0.5).mean(1, keepdims=True)), rtol=1e-9, atol=1e-12)


def test_jaccard_empty_samples_like_scipy():
    X = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 2]], dtype=float)
    np.testing.assert_array_equal(tl.jaccard(X), pdist(X > 0, "jaccard"))


def test_beta_diversity_slots_and_errors():
    X = np.array([[10, 0, 3, 1], [2, 2, 2, 2], [0, 7, 0, 1]], dtype=float)
    ad = new_adata(X, obs_names=list("abc"), var_names=list("wxyz"), unit="counts", reader="test")
    tl.beta_diversity(ad, metric="braycurtis")
    D = ad.obsp["braycurtis"]
    assert D.shape == (3, 3) and np.all(np.diag(D) == 0) and np.allclose(D, D.T)
    np.testing.assert_allclose(D[np.triu_indices(3, 1)], pdist(X, "braycurtis"), rtol=1e-12)
    tl.beta_diversity(ad, metric="aitchison", key_added="ait")
    assert ad.uns["beta_diversity"]["ait"]["params"]["pseudocount"] == 1.0
    assert np.all(np.diag(ad.obsp["ait"]) == 0)
    set_layer(ad, "clr", np.zeros_like(X), "clr")
    with pytest.raises(UnitError):
        tl.beta_diversity(ad, metric="braycurtis", layer="clr")
    with pytest.raises(DataValueError, match="unknown beta"):
        tl.beta_diversity(ad, metric="nope")
    with pytest.raises(DataValueError, match="pseudocount"):
        tl.aitchison(X / X.sum(1, keepdims=True))
    # strictly positive data need no pseudocount
    P = (X + 1) / (X + 1).sum(1, keepdims=True)
    np.testing.assert_allclose(tl.aitchison(P), tl.aitchison(X + 1), rtol=1e-10)


# ---------------------------------------------------------------- fast paths (DIV-PERF)


def _sparse_counts(rng, n, f, zeros=0.8):
    X = rng.poisson(rng.gamma(0.5, 20.0, size=(n, f))).astype(float)
    X[rng.random((n, f)) < zeros] = 0.0
    return X


def test_braycurtis_sparse_kernel_bit_identical_to_scipy():
    import scipy.sparse as sp

    from gutbrain.tl._beta_kernels import BC_COLS, BC_ROWS

    rng = np.random.default_rng(7)
    n = BC_COLS + BC_ROWS + 37  # several row blocks and two column tiles, ragged edges
    X = _sparse_counts(rng, n, 23)
    X[:, 4] += 1.0
    X[[0, 5, n - 1]] = 0.0  # empty samples: 0/0 -> NaN like SciPy, empty vs non-empty -> 1
    ref = pdist(X, "braycurtis")
    np.testing.assert_array_equal(tl.braycurtis(X), ref)  # counts: exact integer sums
    np.testing.assert_array_equal(tl.braycurtis(sp.csr_matrix(X)), ref)
    np.testing.assert_array_equal(tl.braycurtis(sp.csc_matrix(X)), ref)
    assert np.isnan(ref).sum() == 3


@pytest.mark.parametrize("kind", ["relative", "dense_counts", "huge_counts"])
def test_braycurtis_other_paths_match_scipy(kind):
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    X = _sparse_counts(rng, 150, 31)
    X[:, 0] += 1.0
    if kind == "relative":  # non-integer: dense kernel
        X = X / X.sum(1, keepdims=True)
    elif kind == "dense_counts":  # mostly non-zero: dense kernel
        X = X + 1.0
    else:  # beyond float32's exact integers: dense kernel
        X = X * 2.0**25
    ref = pdist(X, "braycurtis")
    np.testing.assert_allclose(tl.braycurtis(X), ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(tl.braycurtis(sp.csr_matrix(X)), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("n", "tile", "k"), [(2, 4, 3), (5, 4, 3), (67, 8, 5), (131, 16, 64), (200, 64, 1024)])
def test_braycurtis_dense_kernel_tiles_and_chunks(n, tile, k):
    from gutbrain.tl._beta_kernels import braycurtis_dense

    rng = np.random.default_rng(n)
    X = rng.poisson(rng.lognormal(0.5, 1.0, size=(n, 37))).astype(float)  # ~30 % zeros
    X[0] = 0.0  # an empty sample: 1 against the others
    if n > 2:
        X[n - 1] = 0.0  # two empty samples: 0/0 -> NaN, as SciPy
    ref = pdist(X, "braycurtis")
    # integer counts, float32 path: the same integers divided as SciPy divides them
    np.testing.assert_array_equal(braycurtis_dense(X, exact_f32=True, tile=tile, k=k), ref)
    np.testing.assert_array_equal(braycurtis_dense(X, tile=tile, k=k), ref)  # float64, exact integers too
    P = X / np.maximum(X.sum(1, keepdims=True), 1.0)
    np.testing.assert_allclose(braycurtis_dense(P, tile=tile, k=k), pdist(P, "braycurtis"), rtol=0, atol=1e-14)


def test_braycurtis_dense_equals_skbio_and_chooses_paths(monkeypatch):
    from skbio.diversity import beta_diversity

    from gutbrain.tl import _beta_kernels as bk

    rng = np.random.default_rng(12)
    X = rng.poisson(2.5 * np.exp(rng.normal(size=(90, 120)))).astype(float)  # ~25 % zeros
    calls = []
    for name in ("braycurtis_dense", "braycurtis_sparse"):
        orig = getattr(bk, name)
        monkeypatch.setattr(bk, name, lambda *a, _o=orig, _n=name, **kw: (calls.append((_n, kw)), _o(*a, **kw))[1])
    ref = beta_diversity("braycurtis", X.astype(np.int64)).condensed_form()
    np.testing.assert_array_equal(tl.braycurtis(X), ref)  # dense counts: float32 path
    P = X / X.sum(1, keepdims=True)
    np.testing.assert_allclose(tl.braycurtis(P), beta_diversity("braycurtis", P).condensed_form(), rtol=0, atol=1e-12)
    S = X * (rng.random(X.shape) < 0.3)  # ~80 % zeros: sparse kernel
    S[:, 0] += 1
    np.testing.assert_array_equal(tl.braycurtis(S), pdist(S, "braycurtis"))
    B = X.copy()
    B[0, 0] = 2.0**24  # a row sum beyond float32's exact integers: float64 path
    np.testing.assert_allclose(tl.braycurtis(B), pdist(B, "braycurtis"), rtol=1e-15, atol=0)
    assert calls == [("braycurtis_dense", {"exact_f32": True}), ("braycurtis_dense", {"exact_f32": False}),
                     ("braycurtis_sparse", {}), ("braycurtis_dense", {"exact_f32": False})]


def test_dense_to_csr_matches_scipy():
    import scipy.sparse as sp

    from gutbrain.tl._beta_kernels import dense_to_csr

    X = _sparse_counts(np.random.default_rng(0), 40, 17)
    X[3] = 0.0
    indptr, indices, data = dense_to_csr(X)
    C = sp.csr_matrix(X)
    np.testing.assert_array_equal(indptr, C.indptr)
    np.testing.assert_array_equal(indices, C.indices)
    np.testing.assert_array_equal(data, C.data)


def test_jaccard_sparse_input_and_blocks_exact():
    import scipy.sparse as sp

    X = _sparse_counts(np.random.default_rng(11), 300, 45, zeros=0.7)
    X[7] = 0.0
    ref = pdist(X > 0, "jaccard")
    for block in (None, 1, 13, 300, 1000):
        np.testing.assert_array_equal(tl.jaccard(X, block=block), ref)
    np.testing.assert_array_equal(tl.jaccard(sp.csr_matrix(X)), ref)


def test_aitchison_gram_form_accurate_for_close_samples():
    # nearly identical samples with a large common CLR offset stress ‖a‖² + ‖b‖² - 2a·b;
    # centring the columns keeps the error at the level of the direct difference
    rng = np.random.default_rng(5)
    base = rng.gamma(2.0, 1e4, size=60)
    X = base * np.exp(rng.normal(0, 1e-3, size=(40, 60)))
    from skbio.stats.composition import clr

    ref = pdist(clr(X), "euclidean")
    for block in (None, 1, 9):
        np.testing.assert_allclose(tl.aitchison(X, block=block), ref, rtol=1e-9, atol=0)


def test_memory_is_condensed_result_plus_a_block():
    import tracemalloc

    n, f, block = 1500, 40, 50
    X = _sparse_counts(np.random.default_rng(2), n, f)
    X[:, 0] += 1.0
    result = n * (n - 1) // 2 * 8
    tl.braycurtis(X[:20]), tl.jaccard(X[:20]), tl.aitchison(X[:20], pseudocount=1.0)  # compile
    for name, fn, extra in [
        ("braycurtis", lambda: tl.braycurtis(X), 3 * X.nbytes),  # CSR copy of X at most
        ("jaccard", lambda: tl.jaccard(X, block=block), X.nbytes / 2 + block * n * 4),
        ("aitchison", lambda: tl.aitchison(X, pseudocount=1.0, block=block), 2 * X.nbytes + block * n * 8),
    ]:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= result + extra + 2**20, (name, peak, result + extra)
        assert peak < 0.75 * n * n * 8, name  # result + a square n × n matrix would be 1.5 n² × 8


def test_threaded_blocks_match_serial(monkeypatch):
    from gutbrain.tl import _beta

    X = _sparse_counts(np.random.default_rng(4), 157, 29, zeros=0.6)
    X[:, 0] += 1.0
    serial = (tl.jaccard(X, block=10), tl.aitchison(X, block=10), tl.robust_aitchison(X, block=10))
    monkeypatch.setattr(_beta, "_PARALLEL_WORK", 0.0)  # force worker threads + 1-thread BLAS
    threaded = (tl.jaccard(X, block=10), tl.aitchison(X, block=10), tl.robust_aitchison(X, block=10))
    np.testing.assert_array_equal(threaded[0], pdist(X > 0, "jaccard"))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    from threadpoolctl import threadpool_info

    before = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
    tl.jaccard(X, block=10)
    assert {i["filepath"]: i["num_threads"] for i in threadpool_info()} == before  # limits restored
