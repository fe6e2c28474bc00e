"""Phylogenetic diversity: Faith PD and UniFrac as matrix operations over a tree.

The tree is flattened once into arrays (node index, parent, branch length). Sample
counts are propagated from tips to every ancestor with one sparse product
``X @ A`` where ``A`` is the taxa × nodes *ancestor matrix* (``A[t, b] = 1`` when
taxon ``t`` lies below branch ``b``). Every metric is then a matrix expression:

* Faith PD: ``(X @ A > 0) @ L`` (Faith 1992, doi:10.1016/0006-3207(92)91201-3);
* unweighted UniFrac: with ``P = (X @ A > 0)`` and ``S = P diag(L) Pᵀ``,
  ``d_ij = 1 - S_ij / (a_i + a_j - S_ij)``, ``a = P @ L`` (Lozupone & Knight 2005,
  doi:10.1128/AEM.71.12.8228-8235.2005) — one BLAS product, blocked;
* weighted UniFrac: ``d_ij = Σ_b L_b |p_ib - p_jb|`` with ``p`` the sample proportions
  below each branch (an L1 distance, computed by the compiled kernel of
  :mod:`gutbrain.tl._beta_kernels`); normalised by ``Σ_t D_t (p_it + p_jt)`` with
  ``D_t`` the root-to-tip distance (Lozupone et al. 2007, doi:10.1128/AEM.01996-06).

Conventions follow scikit-bio 0.7.4 (``faith_pd``, ``unweighted_unifrac``,
``weighted_unifrac``), Fast UniFrac / QIIME 1.9.1 and Striped UniFrac (QIIME 2): a
length on the root itself is a branch shared by every non-empty sample — it adds to
Faith PD, to the union in unweighted UniFrac and to every root-to-tip distance in the
normalisation of weighted UniFrac (usually the root has no length and this is moot);
a branch with no length counts as 0; every table feature must be a tip of the tree
(extra tips are ignored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._errors import DataValueError, InputFormatError
from ._abundance_checks import _check_abundance

__all__ = [
    "faith_pd",
    "load_tree",
    "unweighted_unifrac",
    "weighted_unifrac",
]

#: Rows of samples per block of the unweighted UniFrac products.
_BLOCK = 512


def load_tree(tree: Any) -> Any:
    """Return a :class:`skbio.TreeNode` from a TreeNode, a Newick string or a path."""
    from skbio import TreeNode

    if isinstance(tree, TreeNode):
        return tree
    if isinstance(tree, (str, os.PathLike)):
        text = os.fspath(tree)
        if os.path.exists(text):
            try:
                return TreeNode.read(text, format="newick")
            except Exception as exc:  # skbio raises several parser errors
                raise InputFormatError(
                    f"cannot parse the Newick tree ({exc})",
                    path=text,
                    fix="give a rooted Newick tree file (e.g. QIIME 2's rooted-tree exported as tree.nwk)",
                ) from exc
        if text.strip().endswith(";"):
            import io

            return TreeNode.read(io.StringIO(text), format="newick")
        raise FileNotFoundError(2, "No such file", text)
    msg = f"tree must be a skbio.TreeNode, a Newick path or string, not {type(tree).__name__}"
    raise TypeError(msg)


@dataclass
class _FlatTree:
    """A tree restricted to the branches above a set of taxa."""

    ancestors: sp.csr_matrix  # taxa × branches, 0/1
    lengths: np.ndarray  # branch lengths (the root's own length included)
    tip_depth: np.ndarray  # root-to-tip distance for each taxon


def _flatten(tree: Any, taxa: list[str]) -> _FlatTree:
    nodes = list(tree.postorder(include_self=True))
    index = {id(n): i for i, n in enumerate(nodes)}
    parent = np.full(len(nodes), -1, dtype=np.int64)
    length = np.zeros(len(nodes), dtype=np.float64)
    tips: dict[str, int] = {}
    for i, n in enumerate(nodes):
        if n.parent is not None:
            parent[i] = index[id(n.parent)]
        if n.length is not None:
            length[i] = float(n.length)
        if not n.children and n.name is not None:
            if n.name in tips:
                raise DataValueError(
                    f"the tree has the tip name {n.name!r} more than once",
                    fix="give a tree with unique tip names",
                )
            tips[n.name] = i
    missing = [t for t in taxa if t not in tips]
    if missing:
        raise DataValueError(
            f"{len(missing)} of {len(taxa)} features are not tips of the tree "
            f"(e.g. {', '.join(map(repr, missing[:3]))})",
            fix="use the tree built from the same feature ids (or drop features absent from the tree)",
        )
    # Walk every taxon up to the root at once: one vectorised step per tree level.
    cur = np.array([tips[t] for t in taxa], dtype=np.int64)
    col = np.arange(len(taxa), dtype=np.int64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    depth = np.zeros(len(taxa), dtype=np.float64)
    while cur.size:
        keep = cur >= 0  # the root (parent -1) is walked too: its length is a shared branch
        cur, col = cur[keep], col[keep]
        if not cur.size:
            break
        rows.append(cur)
        cols.append(col)
        np.add.at(depth, col, length[cur])
        cur = parent[cur]
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    used, r_compact = np.unique(r, return_inverse=True)
    anc = sp.csr_matrix(
        (np.ones(r.size, dtype=np.float64), (c, r_compact)), shape=(len(taxa), used.size)
    )
    anc.sum_duplicates()
    return _FlatTree(ancestors=anc, lengths=length[used], tip_depth=depth)


def _node_values(X: Any, flat: _FlatTree) -> np.ndarray:
    """Samples × branches sums of ``X`` below each branch (dense float64)."""
    if sp.issparse(X):
        out = (sp.csr_matrix(X, dtype=np.float64) @ flat.ancestors).toarray()
    else:
        out = np.asarray(X, dtype=np.float64) @ flat.ancestors
        out = np.asarray(out)
    return out


def _prepare(X: Any, taxa: Any, tree: Any) -> tuple[Any, _FlatTree]:
    if X.ndim != 2:
        raise DataValueError("expected a samples × features matrix", fix="pass a 2-D table")
    taxa = [str(t) for t in taxa]
    if len(taxa) != X.shape[1]:
        raise DataValueError(
            f"{len(taxa)} taxa names for {X.shape[1]} features",
            fix="give one name per feature (column)",
        )
    return X, _flatten(load_tree(tree), taxa)


def _check_nonneg(X: Any) -> Any:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        data = X.data
    else:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        data = X
    _check_abundance(data)
    return X


def faith_pd(X: Any, taxa: Any, tree: Any) -> np.ndarray:
    """Faith's phylogenetic diversity of each sample.

    Parameters
    ----------
    X
        Samples × taxa abundances (dense or sparse; 1-D for one sample).
    taxa
        Taxon (tip) name of each column.
    tree
        :class:`skbio.TreeNode`, Newick path or Newick string.

    Returns
    -------
    numpy.ndarray
        Sum of the lengths of branches with at least one observed descendant.
        Equal to ``skbio.diversity.alpha.faith_pd`` and QIIME 1.9.1 ``PD_whole_tree``.
    """
    one = np.ndim(X) == 1
    X = _check_nonneg(X)
    X, flat = _prepare(X, taxa, tree)
    present = (_node_values(X, flat) > 0).astype(np.float64)
    pd_ = present @ flat.lengths
    return pd_[0:1] if one else pd_


def _condensed_rows(n: int, i: int) -> tuple[int, int]:
    """Slice of the condensed vector holding pairs (i, i+1..n-1)."""
    start = n * i - i * (i + 1) // 2
    return start, start + n - i - 1


def unweighted_unifrac(X: Any, taxa: Any, tree: Any) -> np.ndarray:
    """Unweighted UniFrac distances (condensed, float64).

    Parameters
    ----------
    X
        Samples × taxa abundances (only presence matters).
    taxa
        Tip name of each column.
    tree
        :class:`skbio.TreeNode`, Newick path or string.

    Returns
    -------
    numpy.ndarray
        Condensed ``n(n-1)/2`` vector in :func:`scipy.spatial.distance.squareform` order.
        Two empty samples are at distance 0, an empty and a non-empty sample at 1.
    """
    X = _check_nonneg(X)
    X, flat = _prepare(X, taxa, tree)
    P = (_node_values(X, flat) > 0).astype(np.float64)
    n = P.shape[0]
    a = P @ flat.lengths
    PL = P * flat.lengths
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    for i0 in range(0, n, _BLOCK):
        i1 = min(n, i0 + _BLOCK)
        S = P[i0:i1] @ PL[i0:].T  # shared branch length
        union = a[i0:i1, None] + a[None, i0:] - S
        with np.errstate(invalid="ignore", divide="ignore"):
            D = np.where(union > 0, (union - S) / np.where(union > 0, union, 1.0), 0.0)
        np.maximum(D, 0.0, out=D)
        for i in range(i0, i1):
            s, e = _condensed_rows(n, i)
            out[s:e] = D[i - i0, i - i0 + 1 :]
    return out


def weighted_unifrac(
    X: Any, taxa: Any, tree: Any, *, normalized: bool = False
) -> np.ndarray:
    """Weighted (optionally normalised) UniFrac distances (condensed, float64).

    Parameters
    ----------
    X
        Samples × taxa abundances (counts or proportions; rows are normalised to 1).
    taxa
        Tip name of each column.
    tree
        :class:`skbio.TreeNode`, Newick path or string.
    normalized
        Divide by ``Σ_t D_t (p_it + p_jt)`` (root-to-tip distance ``D_t``), giving values
        in [0, 1] (QIIME's ``weighted_normalized_unifrac``). scikit-bio's default is False.

    Returns
    -------
    numpy.ndarray
        Condensed distances; equal to ``skbio.diversity.beta_diversity("weighted_unifrac", ...)``.
    """
    from ._beta_kernels import l1_condensed

    X = _check_nonneg(X)
    X, flat = _prepare(X, taxa, tree)
    total = np.asarray(X.sum(axis=1)).ravel()
    safe = np.where(total > 0, total, 1.0)
    if sp.issparse(X):
        Pt = sp.diags(1.0 / safe) @ X
    else:
        Pt = X / safe[:, None]
    Y = _node_values(Pt, flat) * flat.lengths
    Y = Y[:, flat.lengths > 0] if Y.shape[1] else Y
    if normalized:
        c = np.asarray(Pt @ flat.tip_depth).ravel()
        return l1_condensed(np.ascontiguousarray(Y), c, divide=True)
    return l1_condensed(np.ascontiguousarray(Y), None, divide=False)
