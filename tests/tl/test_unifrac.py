"""UniFrac and the tree machinery: QIIME 1.9.1 reference outputs and scikit-bio 0.7.4."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import squareform

import gutbrain.tl as tl
from gutbrain import DataValueError

REFS = {
    "unweighted_unifrac": "unweighted_unifrac_dm.txt",
    "weighted_unifrac": "weighted_unifrac_dm.txt",
    "weighted_normalized_unifrac": "weighted_normalized_unifrac_dm.txt",
}


def _qiime(shared):
    d = shared / "reference" / "qiime191_unifrac_faithpd"
    t = pd.read_csv(d / "otu-table.tsv", sep="\t", skiprows=1, index_col=0).T
    return d, t


@pytest.mark.shared
@pytest.mark.parametrize("metric", list(REFS))
@pytest.mark.validation(quantity="UniFrac distances (QIIME tiny test)", source="QIIME 1.9.1 output (scikit-bio qiime-191-tt)", doi="10.1038/nmeth.f.303", tolerance="rtol 1e-10, atol 1e-12")
def test_unifrac_equals_qiime191(shared, metric, validation):
    d, t = _qiime(shared)
    # not16S.1 (empty after removing non-16S OTUs) is in QIIME's matrix but not in the table
    ref = pd.read_csv(d / REFS[metric], sep="\t", index_col=0).loc[t.index, t.index].to_numpy()
    ours = squareform(tl.beta(t.to_numpy(float), metric, taxa=list(t.columns), tree=str(d / "tree.nwk")))
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    validation.record(ours, ref, quantity=metric.replace("_", " ") + " distances")


@pytest.mark.shared
@pytest.mark.validation(quantity="UniFrac on the Giloteaux ME/CFS 16S cohort", source="scikit-bio beta_diversity", tolerance="rtol 1e-10")
def test_unifrac_equals_skbio_on_giloteaux(shared, validation):
    from skbio import TreeNode
    from skbio.diversity import beta_diversity

    d = shared / "data" / "giloteaux2016_mecfs_16s"
    ft = pd.read_csv(d / "feature_table.tsv", sep="\t", skiprows=1, index_col=0).T
    seq2id, name = {}, None
    for line in (d / "refseq.fasta").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].strip()
        elif line.strip():
            seq2id[line.strip()] = name
    taxa = [seq2id[s] for s in ft.columns]
    X = ft.to_numpy()
    tree = TreeNode.read(str(d / "tree.nwk"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uw = beta_diversity("unweighted_unifrac", X.astype(np.int64), taxa=taxa, tree=tree).condensed_form()
        w = beta_diversity("weighted_unifrac", X.astype(np.int64), taxa=taxa, tree=tree).condensed_form()
        wn = beta_diversity("weighted_unifrac", X.astype(np.int64), taxa=taxa, tree=tree,
                            normalized=True).condensed_form()
    np.testing.assert_allclose(tl.unweighted_unifrac(X, taxa, tree), uw, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(tl.weighted_unifrac(X, taxa, tree), w, rtol=1e-10)
    np.testing.assert_allclose(tl.weighted_unifrac(X, taxa, tree, normalized=True), wn, rtol=1e-10)
    validation.record(tl.unweighted_unifrac(X, taxa, tree), uw, quantity="unweighted UniFrac (Giloteaux)")
    validation.record(tl.weighted_unifrac(X, taxa, tree, normalized=True), wn,
                      quantity="weighted normalised UniFrac (Giloteaux)")
    # relative abundances give the same weighted distances
    P = X / X.sum(1, keepdims=True)
    np.testing.assert_allclose(tl.weighted_unifrac(P, taxa, tree), w, rtol=1e-10)


def test_unifrac_small_tree_by_hand():
    # ((a:1,b:2):1,c:3);  sample 1 = {a}, sample 2 = {b}, sample 3 = {} (empty)
    tree = "((a:1,b:2):1,c:3);"
    X = np.array([[1.0, 0, 0], [0, 4.0, 0], [0, 0, 0]])
    d = squareform(tl.unweighted_unifrac(X, ["a", "b", "c"], tree))
    assert d[0, 1] == pytest.approx(3 / 4)  # unique a(1)+b(2) over union a+b+internal(1)
    assert d[0, 2] == 1.0
    w = squareform(tl.weighted_unifrac(X, ["a", "b", "c"], tree))
    assert w[0, 1] == pytest.approx(1 + 2)
    assert tl.faith_pd(X, ["a", "b", "c"], tree).tolist() == pytest.approx([2.0, 3.0, 0.0])


def test_tree_errors():
    with pytest.raises(DataValueError, match="not tips of the tree"):
        tl.faith_pd(np.ones((2, 2)), ["a", "zz"], "((a:1,b:2):1,c:3);")
    with pytest.raises(DataValueError, match="needs a phylogenetic tree"):
        tl.beta(np.ones((2, 2)), "unweighted_unifrac")
    with pytest.raises(FileNotFoundError):
        tl.faith_pd(np.ones((2, 2)), ["a", "b"], "/nonexistent/tree.nwk")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    root_length=st.sampled_from([None, 0.0, 0.7, 3.0]),
    n_tips=st.integers(2, 9),
)
def test_unifrac_and_faith_equal_skbio_with_a_root_length(seed, root_length, n_tips):
    # A length on the root is a branch shared by every non-empty sample: scikit-bio 0.7.4
    # (Fast UniFrac) and Striped UniFrac both evaluate it; gutbrain once ignored it.
    from io import StringIO

    from skbio import TreeNode
    from skbio.diversity import alpha_diversity, beta_diversity

    rng = np.random.default_rng(seed)
    # a random binary tree by joining random pairs, random branch lengths
    nodes = [f"t{i}:{rng.uniform(0.05, 2):.3f}" for i in range(n_tips)]
    while len(nodes) > 1:
        i, j = sorted(rng.choice(len(nodes), size=2, replace=False))
        b = nodes.pop(j)
        a = nodes.pop(i)
        nodes.append(f"({a},{b}):{rng.uniform(0.05, 2):.3f}")
    top = nodes[0].rsplit(":", 1)[0]
    newick = top + (";" if root_length is None else f":{root_length};")
    taxa = [f"t{i}" for i in range(n_tips)]
    X = rng.poisson(1.5, size=(5, n_tips)).astype(np.int64)
    X[rng.random(X.shape) < 0.4] = 0
    X[0] = 0  # an empty sample
    X[1, 0] = 3  # at least one non-empty sample
    tree = TreeNode.read(StringIO(newick))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        faith = alpha_diversity("faith_pd", X, taxa=taxa, tree=tree).to_numpy()
        w = beta_diversity("weighted_unifrac", X, taxa=taxa, tree=tree).condensed_form()
        nonempty = X.sum(1) > 0
        wn = beta_diversity(
            "weighted_unifrac", X[nonempty], taxa=taxa, tree=tree, normalized=True
        ).condensed_form()
        uw = beta_diversity("unweighted_unifrac", X[nonempty], taxa=taxa, tree=tree).condensed_form()
    np.testing.assert_allclose(tl.faith_pd(X, taxa, newick), faith, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tl.weighted_unifrac(X, taxa, newick), w, rtol=1e-10, atol=1e-12)
    Xn = X[nonempty]
    np.testing.assert_allclose(
        tl.weighted_unifrac(Xn, taxa, newick, normalized=True), wn, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(tl.unweighted_unifrac(Xn, taxa, newick), uw, rtol=1e-10, atol=1e-12)
