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
def test_fsvd_close_to_eigh(shared):
    D = _dm(shared)
    _, w, _ = tl.pcoa_kernel(D, 5)
    _, w2, _ = tl.pcoa_kernel(D, 5, method="fsvd", random_state=1)
    np.testing.assert_allclose(w2, w, rtol=1e-6)


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
