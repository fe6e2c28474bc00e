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
