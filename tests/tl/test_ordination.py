"""PCoA: parity with skbio.stats.ordination.pcoa (0.7.4) up to the sign of each axis."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform

import gutbrain.tl as tl
from gutbrain import DataValueError
from gutbrain._core import new_adata


def _dm(shared):
    p = shared / "data" / "giloteaux2016_mecfs_16s" / "feature_table.tsv"
    X = pd.read_csv(p, sep="\t", skiprows=1, index_col=0).T.to_numpy(float)
    return squareform(pdist(X, "braycurtis"))


def _skbio(D, k):
    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pcoa(DistanceMatrix(D), dimensions=k)


@pytest.mark.shared
@pytest.mark.parametrize("k", [10, 0])
def test_pcoa_equals_skbio(shared, k):
    D = _dm(shared)
    coords, w, prop = tl.pcoa_kernel(D, k)
    ref = _skbio(D, k)
    pos = ref.eigvals.to_numpy() > 1e-10
    np.testing.assert_allclose(w[pos], ref.eigvals.to_numpy()[pos], rtol=1e-8)
    np.testing.assert_allclose(prop[pos], ref.proportion_explained.to_numpy()[pos], rtol=1e-8)
    np.testing.assert_allclose(np.abs(coords[:, pos]), np.abs(ref.samples.to_numpy()[:, pos]), rtol=1e-8, atol=1e-10)


@pytest.mark.shared
def test_fsvd_close_to_eigh_and_closer_than_skbio_fsvd(shared):
    from skbio import DistanceMatrix
    from skbio.stats.ordination import pcoa

    D = _dm(shared)
    _, w, _ = tl.pcoa_kernel(D, 5)
    _, w2, _ = tl.pcoa_kernel(D, 5, method="fsvd", random_state=1)
    np.testing.assert_allclose(w2, w, rtol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pcoa(DistanceMatrix(D), method="fsvd", dimensions=5, seed=1).eigvals.to_numpy()
    assert np.abs(w2 - w).max() < 0.1 * np.abs(ref - w).max()  # same number of passes over B


def _bray_curtis_matrix(n, f=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(0.4, 25.0, size=(n, f))).astype(float)
    X[:, 0] += 1.0
    return squareform(pdist(X, "braycurtis"))


def test_krylov_top_axes_equal_lapack_and_skbio(monkeypatch):
    from scipy.linalg import eigh

    from gutbrain.tl import _ordination

    monkeypatch.setattr(_ordination, "LAPACK_MAX_N", 100)  # the block Krylov solver at a test size
    D = _bray_curtis_matrix(700)
    n, k = D.shape[0], 8
    coords, w, prop = tl.pcoa_kernel(D, k)
    B = _ordination.gower_center(D)
    wl, V = eigh(B, subset_by_index=[n - k, n - 1])
    wl, V = wl[::-1], V[:, ::-1]
    np.testing.assert_allclose(w, wl, rtol=1e-10)
    ref = V * np.sqrt(wl)
    # same axes up to sign
    signs = np.sign(np.sum(coords * ref, axis=0))
    np.testing.assert_allclose(coords * signs, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
    sk = _skbio(D, k)
    np.testing.assert_allclose(w, sk.eigvals.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(prop, sk.proportion_explained.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.abs(coords), np.abs(sk.samples.to_numpy()), rtol=0, atol=1e-8 * np.abs(ref).max())


def test_krylov_falls_back_to_lapack_and_handles_low_rank(monkeypatch):
    from gutbrain.tl import _ordination

    monkeypatch.setattr(_ordination, "LAPACK_MAX_N", 100)
    D = _bray_curtis_matrix(600, seed=2)
    exact = tl.pcoa_kernel(D, 4)[1]
    monkeypatch.setattr(_ordination, "EXACT_MAX_PRODUCTS", 1)  # never converges: LAPACK answers
    np.testing.assert_allclose(tl.pcoa_kernel(D, 4)[1], exact, rtol=1e-10)
    monkeypatch.setattr(_ordination, "EXACT_MAX_PRODUCTS", 100)
    # rank 2: the Krylov space is exhausted after one block; the rest of the axes are 0
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(600, 2)) * [3.0, 1.0]
    coords, w, _ = tl.pcoa_kernel(squareform(pdist(Y)), 5)
    Yc = Y - Y.mean(0)
    np.testing.assert_allclose(w[:2], np.linalg.eigvalsh(Yc.T @ Yc)[::-1], rtol=1e-10)
    assert np.all(w[2:] == 0.0) and np.all(coords[:, 2:] == 0.0)
    np.testing.assert_allclose(squareform(pdist(coords)), squareform(pdist(Y)), atol=1e-8)


def test_pcoa_recovers_euclidean_configuration():
    # classical MDS of Euclidean distances reproduces centred coordinates (up to rotation/sign)
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(30, 2)) * [5.0, 1.0]
    coords, w, prop = tl.pcoa_kernel(squareform(pdist(Y)), 2)
    Yc = Y - Y.mean(0)
    np.testing.assert_allclose(w.sum(), (Yc**2).sum(), rtol=1e-10)
    np.testing.assert_allclose(squareform(pdist(coords)), squareform(pdist(Y)), atol=1e-9)
    assert prop.sum() == pytest.approx(1.0)


def test_pcoa_wrapper_and_errors():
    rng = np.random.default_rng(3)
    X = rng.poisson(3.0, size=(12, 8)).astype(float) + 1
    ad = new_adata(X, obs_names=[f"s{i}" for i in range(12)], var_names=[f"f{i}" for i in range(8)],
                   unit="counts", reader="test")
    tl.pcoa(ad, distance="braycurtis", n_components=3)  # computes the distance when missing
    assert ad.obsm["X_pcoa"].shape == (12, 3)
    assert "braycurtis" in ad.obsp and len(ad.uns["pcoa"]["proportion_explained"]) == 3
    with pytest.raises(DataValueError, match="no distance matrix"):
        tl.pcoa(ad, distance="missing")
    with pytest.raises(DataValueError, match="NaN"):
        tl.pcoa_kernel(np.array([[0, np.nan], [np.nan, 0]]), 1)
