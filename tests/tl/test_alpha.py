"""Alpha diversity: parity with scikit-bio 0.7.4 on shared datasets, QIIME 1.9.1 Faith PD, properties."""

from __future__ import annotations

import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import gutbrain.tl as tl
from gutbrain import DataValueError, UnitError
from gutbrain._core import new_adata

METRICS = ["observed_features", "shannon", "simpson", "chao1", "pielou_e"]


def _giloteaux(shared):
    d = shared / "data" / "giloteaux2016_mecfs_16s"
    ft = pd.read_csv(d / "feature_table.tsv", sep="\t", skiprows=1, index_col=0).T
    seq2id, name = {}, None
    for line in (d / "refseq.fasta").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].strip()
        elif line.strip():
            seq2id[line.strip()] = name
    ft.columns = [seq2id[s] for s in ft.columns]
    return ft, d / "tree.nwk"


def _kang(shared):
    return pd.read_csv(shared / "data" / "kang2017_autism_16s" / "genera.counts.tsv", sep="\t", index_col=0)


def _qza(shared, tmp_path):
    import biom

    with zipfile.ZipFile(shared / "data" / "qiime2_artifacts" / "chardonnay.table.qza") as z:
        member = next(m for m in z.namelist() if m.endswith("data/feature-table.biom"))
        z.extract(member, tmp_path)
    t = biom.load_table(str(tmp_path / member))
    return pd.DataFrame(t.matrix_data.toarray().T, index=t.ids("sample"), columns=t.ids("observation"))


def _skbio_alpha(metric, X, **kw):
    from skbio.diversity import alpha_diversity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return alpha_diversity(metric, X, **kw).to_numpy(dtype=float)


@pytest.mark.shared
@pytest.mark.parametrize("dataset", ["giloteaux", "kang", "qza"])
def test_alpha_equals_skbio_on_shared_data(shared, tmp_path, dataset):
    df = {"giloteaux": lambda: _giloteaux(shared)[0], "kang": lambda: _kang(shared),
          "qza": lambda: _qza(shared, tmp_path)}[dataset]()
    X = df.to_numpy()
    Xi = np.rint(X).astype(np.int64)
    for m in METRICS:
        ours = tl.alpha(X, m)
        ref = _skbio_alpha(m, Xi)
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0, equal_nan=True, err_msg=m)
        # sparse input gives the same numbers
        np.testing.assert_allclose(tl.alpha(sp.csr_matrix(X), m), ref, rtol=1e-10, equal_nan=True)


@pytest.mark.shared
@pytest.mark.validation(quantity="Faith PD (QIIME tiny test)", source="QIIME 1.9.1 output (scikit-bio qiime-191-tt)", doi="10.1038/nmeth.f.303", tolerance="rtol 1e-10")
def test_faith_pd_equals_qiime191_and_skbio(shared, validation):
    d = shared / "reference" / "qiime191_unifrac_faithpd"
    t = pd.read_csv(d / "otu-table.tsv", sep="\t", skiprows=1, index_col=0).T
    expected = pd.read_csv(d / "faith-pd.txt", sep="\t", index_col=0).iloc[:, 0].loc[t.index]
    ours = tl.faith_pd(t.to_numpy(float), list(t.columns), str(d / "tree.nwk"))
    np.testing.assert_allclose(ours, expected.to_numpy(), rtol=1e-10)
    validation.record(ours, expected.to_numpy())
    ft, tree = _giloteaux(shared)
    from skbio import TreeNode

    ref = _skbio_alpha("faith_pd", ft.to_numpy(np.int64), taxa=list(ft.columns), tree=TreeNode.read(str(tree)))
    np.testing.assert_allclose(tl.faith_pd(ft.to_numpy(float), list(ft.columns), tree), ref, rtol=1e-10)


def test_empty_samples_follow_skbio():
    X = np.array([[0, 0, 0], [5, 0, 0], [1, 2, 3]], dtype=float)
    for m in METRICS:
        np.testing.assert_allclose(tl.alpha(X, m), _skbio_alpha(m, X.astype(int)), rtol=1e-12, equal_nan=True)
    assert np.isnan(tl.shannon(X)[0]) and tl.observed_features(X)[0] == 0
    assert tl.shannon(X)[1] == 0.0 and not np.signbit(tl.shannon(X)[1])


def test_shannon_base_and_chao1_uncorrected():
    from skbio.diversity.alpha import chao1, shannon

    x = np.array([1, 1, 2, 2, 2, 5, 0, 9])
    assert tl.shannon(x, base=2)[0] == pytest.approx(shannon(x, base=2), rel=1e-12)
    assert tl.chao1(x, bias_corrected=False)[0] == pytest.approx(chao1(x, bias_corrected=False), rel=1e-12)
    assert tl.chao1(x)[0] == pytest.approx(chao1(x), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=30))
def test_alpha_properties(counts):
    x = np.array(counts, dtype=float)
    s = np.count_nonzero(x)
    h, simp = tl.shannon(x)[0], tl.simpson(x)[0]
    if s == 0:
        assert np.isnan(h) and np.isnan(simp)
        return
    assert -1e-12 <= h <= np.log(s) + 1e-12
    assert -1e-12 <= simp <= 1 - 1 / s + 1e-12
    assert tl.chao1(x)[0] >= s
    # invariant to the order of features and to scaling (relative abundances)
    perm = np.random.default_rng(0).permutation(x.size)
    assert tl.shannon(x[perm])[0] == pytest.approx(h, abs=1e-12)
    assert tl.shannon(x / x.sum())[0] == pytest.approx(h, abs=1e-12)


def test_alpha_diversity_wrapper_slots_and_units():
    X = np.array([[10, 0, 3, 1], [2, 2, 2, 2], [0, 7, 0, 0]], dtype=float)
    ad = new_adata(X, obs_names=list("abc"), var_names=list("wxyz"), unit="counts", reader="test")
    tl.alpha_diversity(ad, metrics=["shannon", "chao1", "observed_features"])
    np.testing.assert_allclose(ad.obs["shannon"], _skbio_alpha("shannon", X.astype(int)), rtol=1e-12)
    assert ad.obs["observed_features"].tolist() == [3.0, 4.0, 1.0]
    assert ad.uns["alpha_diversity"]["params"]["metrics"] == ["shannon", "chao1", "observed_features"]
    rel = new_adata(X / X.sum(1, keepdims=True), obs_names=list("abc"), var_names=list("wxyz"),
                    unit="relative", reader="test")
    tl.alpha_diversity(rel, metrics="shannon")
    np.testing.assert_allclose(rel.obs["shannon"], ad.obs["shannon"], rtol=1e-12)
    with pytest.raises(UnitError, match="chao1"):
        tl.alpha_diversity(rel, metrics=["chao1"])
    with pytest.raises(DataValueError, match="unknown"):
        tl.alpha_diversity(ad, metrics=["nope"])
    with pytest.raises(DataValueError, match="non-negative"):
        tl.shannon(np.array([[1.0, -1.0]]))
    with pytest.raises(UnitError):
        tl.chao1(np.array([[0.5, 1.0]]))
