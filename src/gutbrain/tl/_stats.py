"""Group tests on distance matrices (PERMANOVA, PERMDISP, ANOSIM) and on alpha diversity.

Permutations are vectorised: a batch of permuted labellings becomes a
group-indicator matrix ``W`` and every within-group sum is a quadratic form
``w_gᵀ A w_g`` read off one blocked matrix product ``A W`` (one BLAS call per block of
rows), with ``A`` the squared distances (PERMANOVA) or the distance ranks (ANOSIM).
Only the upper triangle of ``A`` is multiplied (the diagonal block of each block of rows
and the block to its right, whose forms are mirrored), which halves the product. The
indicator of the largest group is left out of ``W``: with ``1 = Σ_g w_g``,
``r = A 1`` and ``T = 1ᵀ A 1``, its form is ``T − 2 Σ_h rᵀ w_h + Σ_{h,h'} w_hᵀ A w_h'``
over the other groups, so ``W`` has ``groups − 1`` columns per permutation (again half
the product for two groups). Leaving out the largest group bounds the cancellation in
that difference by ``(n / n_largest)² ≤ groups²`` ulps of ``T``.

PERMDISP runs one compiled task per permutation (threads over permutations): group
centroids or spatial medians (the modified Weiszfeld iteration of Vardi & Zhang 2000,
doi:10.1073/pnas.97.4.1423, with scikit-bio's start, tolerance and stopping rule),
distances to them and the ANOVA F, on the PCoA coordinates computed once.

Statistics follow scikit-bio 0.7.4 (``skbio.stats.distance``) exactly:

* PERMANOVA pseudo-F (Anderson 2001, doi:10.1111/j.1442-9993.2001.01070.pp.x);
* PERMDISP F of distances to group centroids or spatial medians in PCoA space
  (Anderson 2006, doi:10.1111/j.1541-0420.2005.00440.x), 10 PCoA axes by default;
* ANOSIM R (Clarke 1993, doi:10.1111/j.1442-9993.1993.tb00438.x).

Permutations are drawn exactly as scikit-bio draws them — ``rng =
numpy.random.default_rng(random_state)`` then one ``rng.permutation(labels)`` per
permutation — so with the same seed the permuted labellings are identical and the
p-values agree (up to ties decided by the last bit of floating-point rounding).
``p = (1 + #{F_perm ≥ F}) / (1 + permutations)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _core
from .._errors import DataValueError, MetadataMismatchError
from ._blocks import BlasBlocks, blas_blocks

__all__ = [
    "alpha_group_test",
    "anosim",
    "anosim_kernel",
    "permanova",
    "permanova_kernel",
    "permdisp",
    "permdisp_kernel",
]

#: Permutations per batch (indicator matrix n × batch × (groups − 1)).
_BATCH = 256
#: Rows of the square matrix per block of the product ``A W``.
_ROWS = 2048


def _codes(grouping: Any) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(grouping)
    groups, codes = np.unique(labels, return_inverse=True)
    if groups.size < 2:
        raise DataValueError(
            "the grouping has fewer than two groups", fix="choose a column with at least two groups"
        )
    if groups.size == codes.size:
        raise DataValueError(
            "every sample is in its own group", fix="choose a column where groups have several samples"
        )
    return groups, codes.astype(np.int64)


def _labellings(
    codes: np.ndarray, permutations: int, random_state: Any, strata: Any = None, batch: int = _BATCH
) -> Iterator[np.ndarray]:
    """Yield batches of labellings: the observed one first, then permutations (skbio order).

    With ``strata`` the permutations are restricted (:mod:`gutbrain.tl._permute`).
    """
    if permutations < 0:
        raise DataValueError("permutations must be ≥ 0", fix="pass permutations=999")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    if strata is None:
        draw = rng.permutation
    else:
        from ._permute import restricted_permuter

        restricted, _ = restricted_permuter(codes, strata)

        def draw(_codes: np.ndarray) -> np.ndarray:
            return restricted(rng)

    total = permutations + 1
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    for start in range(0, total, batch):
        stop = min(total, start + batch)
        out = np.empty((stop - start, codes.size), dtype=np.int64)
        if strata is None:  # compiled, draw for draw NumPy's rng.permutation
            from ._stats_kernels import draw_permutations

            draw_permutations(rng, codes, out, start == 0)
            yield out
            continue
        for r, i in enumerate(range(start, stop)):
            out[r] = codes if i == 0 else draw(codes)
        yield out


def _prefetched(items: Iterator[Any], prepare: Any) -> Iterator[Any]:
    """``prepare(item)`` for each item, the next one computed in a helper thread meanwhile.

    Drawing a batch of permutations and building its indicator matrix (compiled, without
    the GIL) then overlaps the products of the previous batch instead of stalling them.
    """
    from concurrent.futures import ThreadPoolExecutor

    def step() -> Any:
        item = next(items, None)
        return None if item is None else prepare(item)

    with ThreadPoolExecutor(max_workers=1) as ex:
        ahead = ex.submit(step)
        while True:
            ready = ahead.result()
            if ready is None:
                return
            ahead = ex.submit(step)
            yield ready


def _group_sizes(batch: np.ndarray, n_groups: int) -> np.ndarray:
    """``b × groups`` sizes of each labelling (they vary under between-strata permutations)."""
    return (batch[:, :, None] == np.arange(n_groups)[None, None, :]).sum(axis=1)


class _QuadraticForms:
    """``w_gᵀ A w_g`` for every group and labelling, from ``groups − 1`` indicator columns.

    ``A`` is symmetric with a zero diagonal; the forms count each pair twice. Only its
    strict upper triangle ``U`` is used: ``w_gᵀ A w_h = (w_gᵀ U w_h) + (w_hᵀ U w_g)``, so each
    block of rows is one product ``U[r0:r1, r0:] W[r0:]`` (the floor's product exactly).
    ``A`` is overwritten: its lower triangle is set to zero (pass a private copy), unless
    ``r`` (the full matrix's row sums) is given, in which case ``A`` must already be ``U``.
    """

    def __init__(self, A: np.ndarray, n_groups: int, drop: int, r: np.ndarray | None = None) -> None:
        self.g = n_groups
        self.drop = drop
        self.kept = np.array([h for h in range(n_groups) if h != drop], dtype=np.int64)
        if r is None:  # A is the full symmetric matrix: keep its row sums, zero below the diagonal
            from ._stats_kernels import zero_lower

            r = A.sum(axis=1)
            zero_lower(A)
        #: row sums of the full matrix; ``A`` holds its strict upper triangle
        self.r = r
        self.total = float(r.sum())
        self.A = A

    def indicators(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(batch, W)``: column ``p·h + j`` of ``W`` is kept group ``j`` under labelling ``p``."""
        b, n = batch.shape
        h = self.kept.size
        W = np.empty((n, b * h))
        W3 = W.reshape(n, b, h)
        codes = batch.T
        for j, grp in enumerate(self.kept):
            np.equal(codes, grp, out=W3[:, :, j], casting="unsafe")
        return batch, W

    def __call__(self, batch: np.ndarray, blocks: BlasBlocks, W: np.ndarray | None = None) -> np.ndarray:
        """``b × groups`` quadratic forms of a batch of labellings (``b × n`` codes).

        ``W`` is the batch's indicator matrix (:meth:`indicators`), built here when absent.
        """
        A = self.A
        b, n = batch.shape
        h = self.kept.size
        if W is None:
            W = self.indicators(batch)[1]
        from ._stats_kernels import upper_forms

        def work(r0: int, r1: int) -> np.ndarray:
            # rows r0:r1 of the upper triangle (zeros below the diagonal) times W, then the
            # forms w_pᵢᵀ (U W)_pⱼ of these rows, read off in one compiled pass
            part = np.zeros((b, h, h))
            upper_forms(W[r0:r1], A[r0:r1, r0:] @ W[r0:], h, part)
            return part

        rows_per = _rows_per_block(n, blocks.workers)
        U = np.sum(blocks.map(n, rows_per, work), axis=0)
        Q = U + U.transpose(0, 2, 1)
        forms = np.empty((b, self.g))
        forms[:, self.kept] = np.diagonal(Q, axis1=1, axis2=2)
        rw = (W.T @ self.r).reshape(b, h)
        forms[:, self.drop] = self.total - 2.0 * rw.sum(axis=1) + Q.sum(axis=(1, 2))
        return forms


def _rows_per_block(n: int, workers: int) -> int:
    """Rows per block of the upper-triangle product ``U W``.

    Blocks shrink in cost down the triangle (block ``k`` multiplies ``n − r0`` columns) and
    are handed to the workers largest first, so several per worker keep them balanced;
    each diagonal block is multiplied in full (its zeros below the diagonal too),
    ``rows / n`` of extra work, so eight blocks per worker keep that near 6 %.
    """
    return max(64, min(_ROWS, -(-n // (8 * workers))))


def _within_sums(forms: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """For each labelling: Σ_g weight_g Σ_{i<j in g} A_ij, from the quadratic forms."""
    if weights is None:
        per = forms
    else:  # one weight per group, or per labelling and group (restricted permutations)
        per = forms * (weights if weights.ndim == 2 else weights[None, :])
    return 0.5 * per.sum(axis=1)


def _square(D: Any, *, check: bool = True) -> np.ndarray:
    """Square float64 matrix from a square or condensed one; ``check``: refuse NaN/inf."""
    D = np.asarray(D, dtype=np.float64)
    if D.ndim == 1:
        from scipy.spatial.distance import squareform

        D = squareform(D, checks=False)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise DataValueError("expected a square distance matrix", fix="pass an n × n matrix")
    if check and not np.all(np.isfinite(D)):
        raise DataValueError(
            "the distance matrix has NaN or infinite values", fix="remove samples with no reads"
        )
    return D


def _result(method: str, stat_name: str, n: int, g: int, stat: float, p: float, perms: int) -> pd.Series:
    return pd.Series(
        {
            "method name": method,
            "test statistic name": stat_name,
            "sample size": n,
            "number of groups": g,
            "test statistic": stat,
            "p-value": p,
            "number of permutations": perms,
        },
        name=method,
    )


def _p_value(stats: np.ndarray, permutations: int) -> float:
    if permutations == 0:
        return float("nan")
    return float((1.0 + np.sum(stats[1:] >= stats[0])) / (1.0 + permutations))


# ---------------------------------------------------------------- kernels


def permanova_kernel(
    D: Any, grouping: Any, *, permutations: int = 999, random_state: Any = 0, strata: Any = None
) -> pd.Series:
    """PERMANOVA pseudo-F and permutation p-value (object-free).

    Parameters
    ----------
    D
        Square (or condensed) distance matrix.
    grouping
        Group label of each sample.
    permutations
        Number of label permutations.
    random_state
        Seed (or Generator) of the permutations.
    strata
        Subject or block of each sample: permutations are restricted (whole subjects when
        the grouping is constant within subjects, else within subjects; see
        :mod:`gutbrain.tl._permute`).  ``None``: free permutations (scikit-bio's).

    Returns
    -------
    pandas.Series
        Same fields as ``skbio.stats.distance.permanova``.
    """
    from ._stats_kernels import squares_upper

    D = _square(D, check=False)
    groups, codes = _codes(grouping)
    n, g = codes.size, groups.size
    if D.shape[0] != n:
        raise DataValueError(f"{n} labels for {D.shape[0]} samples", fix="give one label per sample")
    # one compiled pass: the upper triangle of D∘D, its row sums and the finiteness check
    D2, r = np.empty_like(D), np.empty(n)
    if not squares_upper(D, D2, r):
        _square(D)  # raises the error for NaN / inf
    with blas_blocks(n >= 512) as blocks:
        f = _pseudo_f(D2, r, codes, g, permutations, random_state, strata, blocks)
    return _result("PERMANOVA", "pseudo-F", n, g, float(f[0]), _p_value(f, permutations), permutations)


def _pseudo_f(
    U: np.ndarray, r: np.ndarray, codes: np.ndarray, g: int, permutations: int, random_state: Any,
    strata: Any, blocks: BlasBlocks,
) -> np.ndarray:
    """PERMANOVA pseudo-F of the observed labelling (first) and of each permutation.

    ``U`` is the strict upper triangle of ``D∘D`` and ``r`` the row sums of ``D∘D``
    (:func:`~gutbrain.tl._stats_kernels.squares_upper`); neither is modified, so callers
    testing several groupings of the same samples square the distances once.
    """
    n = codes.size
    sizes = np.bincount(codes, minlength=g)
    forms = _QuadraticForms(U, g, int(np.argmax(sizes)), r)
    s_T = forms.total / n / 2.0
    inv = 1.0 / sizes
    stats = []
    batches = _labellings(codes, permutations, random_state, strata)
    # one batch: nothing to compute ahead, so no helper thread
    ready = map(forms.indicators, batches) if permutations < _BATCH else _prefetched(batches, forms.indicators)
    for batch, W in ready:
        w = inv if strata is None else 1.0 / _group_sizes(batch, g)
        s_W = _within_sums(forms(batch, blocks, W), w)
        stats.append(((s_T - s_W) / (g - 1)) / (s_W / (n - g)))
    return np.concatenate(stats)


def _pseudo_f_rows(
    U: np.ndarray, r: np.ndarray, codes: np.ndarray, g: int, permutations: int, random_state: Any,
    strata: Any = None, parallel: bool = True,
) -> np.ndarray:
    """:func:`_pseudo_f` with the within-group sums added row by row instead of by products.

    Each labelling's within-group sum ``Σ_g Σ_{i<j in g} U_ij / n_g`` is summed directly
    (:func:`~gutbrain.tl._stats_kernels.within_rows`, SIMD over a row of ``U`` kept in
    cache): ``n²/2`` additions per labelling whatever the number of groups, where the
    products cost ``(groups − 1) n²`` multiply–adds — for many permutations of several
    groups this is several times faster. The terms are non-negative, so the sums are
    accurate to a few ulps; they differ from :func:`_pseudo_f`'s (whose largest group is
    read off a difference) by about 1e-12 relative, so a p-value can differ from
    :func:`permanova_kernel`'s only where a permuted statistic ties the observed one to
    that precision. Same labellings from the same seed. ``parallel``: rows summed on
    numba's threads (else in the calling thread: small matrices).
    """
    from ._stats_kernels import within_rows, within_rows_serial

    n = codes.size
    s_T = float(r.sum()) / n / 2.0
    inv = 1.0 / np.bincount(codes, minlength=g)
    stats = []
    for batch in _labellings(codes, permutations, random_state, strata):
        C = batch.astype(np.int16 if g < 2**15 else np.int32)  # narrow codes: less to stream
        rows = np.empty(C.shape)
        (within_rows if parallel else within_rows_serial)(U, C, rows)
        w = inv[C] if strata is None else np.take_along_axis(1.0 / _group_sizes(batch, g), batch, axis=1)
        s_W = np.einsum("pi,pi->p", w, rows)
        stats.append(((s_T - s_W) / (g - 1)) / (s_W / (n - g)))
    return np.concatenate(stats)


def anosim_kernel(
    D: Any, grouping: Any, *, permutations: int = 999, random_state: Any = 0
) -> pd.Series:
    """ANOSIM R and permutation p-value (object-free; see :func:`permanova_kernel`)."""
    from scipy.stats import rankdata

    D = _square(D)
    groups, codes = _codes(grouping)
    n, g = codes.size, groups.size
    if D.shape[0] != n:
        raise DataValueError(f"{n} labels for {D.shape[0]} samples", fix="give one label per sample")
    iu = np.triu_indices(n, 1)
    ranks = rankdata(D[iu], method="average")
    RK = np.zeros_like(D)
    RK[iu] = ranks
    RK += RK.T
    m = ranks.size
    total = ranks.sum()
    sizes = np.bincount(codes, minlength=g)
    n_within = float((sizes * (sizes - 1) // 2).sum())
    divisor = n * ((n - 1) / 4)
    forms = _QuadraticForms(RK, g, int(np.argmax(sizes)))
    stats = []
    with blas_blocks(n >= 512) as blocks:
        for batch, W in _prefetched(_labellings(codes, permutations, random_state), forms.indicators):
            sw = _within_sums(forms(batch, blocks, W), None)
            r_w = sw / n_within
            r_b = (total - sw) / (m - n_within)
            stats.append((r_b - r_w) / divisor)
    r = np.concatenate(stats)
    return _result("ANOSIM", "R", n, g, float(r[0]), _p_value(r, permutations), permutations)


def permdisp_kernel(
    D: Any,
    grouping: Any,
    *,
    test: str = "median",
    n_components: int = 10,
    permutations: int = 999,
    random_state: Any = 0,
) -> pd.Series:
    """PERMDISP: ANOVA F of distances to group centres in PCoA space.

    Parameters
    ----------
    D
        Square distance matrix.
    grouping
        Group label of each sample.
    test
        ``"median"`` (spatial median, Weiszfeld; scikit-bio's and vegan's default) or
        ``"centroid"``.
    n_components
        PCoA axes used (scikit-bio's default 10).
    permutations, random_state
        As :func:`permanova_kernel`.

    Returns
    -------
    pandas.Series
        Same fields as ``skbio.stats.distance.permdisp``.
    """
    from ._ordination import pcoa_kernel

    if test not in ("median", "centroid"):
        raise DataValueError(f"unknown PERMDISP test {test!r}", fix="use 'median' or 'centroid'")
    D = _square(D)
    groups, codes = _codes(grouping)
    n, g = codes.size, groups.size
    from ._stats_kernels import permdisp_stats

    X, _, _ = pcoa_kernel(D, min(n_components, n))
    X = np.ascontiguousarray(X)
    out = [
        permdisp_stats(X, batch, g, test == "median")
        for batch in _labellings(codes, permutations, random_state)
    ]
    f = np.concatenate(out)
    return _result("PERMDISP", "F-value", n, g, float(f[0]), _p_value(f, permutations), permutations)


# ---------------------------------------------------------------- AnnData wrappers


def _groups(adata: AnnData, groupby: str) -> tuple[np.ndarray, np.ndarray]:
    if groupby not in adata.obs:
        raise MetadataMismatchError(
            f"no sample metadata column {groupby!r}",
            fix=f"choose one of {', '.join(map(str, adata.obs.columns[:10]))}",
        )
    col = adata.obs[groupby]
    keep = col.notna().to_numpy()
    return col.astype(str).to_numpy()[keep], keep


def _distance(adata: AnnData, distance: str) -> np.ndarray:
    from ._beta import _ensure_distance

    _ensure_distance(adata, distance)
    return np.asarray(adata.obsp[distance], dtype=np.float64)


def _grouped_distances(adata: AnnData, distance: str, groupby: str) -> tuple[np.ndarray, np.ndarray]:
    """``obsp[distance]`` and ``obs[groupby]`` labels over the samples with a label."""
    labels, keep = _groups(adata, groupby)
    return _distance(adata, distance)[np.ix_(keep, keep)], labels


def _store(adata: AnnData, key: str, distance: str, res: pd.Series, params: dict[str, Any], refs: list[str]) -> None:
    store = dict(adata.uns.get(key, {}))
    p = dict(params)
    p["gutbrain_version"] = _core.provenance(adata).get("version")
    store[distance] = {
        "params": _core.clean_uns(p),
        "statistic": float(res["test statistic"]),
        "statistic_name": str(res["test statistic name"]),
        "p_value": float(res["p-value"]),
        "n": int(res["sample size"]),
        "n_groups": int(res["number of groups"]),
        "permutations": int(res["number of permutations"]),
        "references": refs,
    }
    adata.uns[key] = store


def permanova(
    adata: AnnData,
    *,
    distance: str = "braycurtis",
    groupby: str,
    n_permutations: int = 999,
    random_state: int = 0,
    strata: str | None = None,
) -> pd.Series:
    """PERMANOVA of ``obsp[distance]`` by ``obs[groupby]`` (samples with a missing label dropped).

    Parameters
    ----------
    adata
        AnnData with the distance matrix in ``obsp``.
    distance
        Key of ``obsp`` (computed by :func:`beta_diversity` when it names a metric and is
        absent).
    groupby
        Categorical column of ``obs``.
    n_permutations
        Label permutations (scikit-bio's draw order for the same seed).
    random_state
        Seed of the permutations.
    strata
        ``obs`` column of blocks (e.g. the subject): permutations are restricted.  Whole
        subjects are permuted when ``groupby`` is constant within subjects, otherwise labels
        are permuted within subjects (:mod:`gutbrain.tl._permute`); a sample with a missing
        stratum is its own stratum.

    Returns
    -------
    pandas.Series
        scikit-bio's result layout: method name, test statistic name (``pseudo-F``),
        sample size, number of groups, test statistic, p-value, number of permutations.

    Notes
    -----
    Sets the following fields:

    ``adata.uns["permanova"][distance]``
        ``{"params", "statistic" (pseudo-F), "statistic_name", "p_value", "n", "n_groups",
        "permutations", "references"}``; ``params`` holds ``strata`` and
        ``permutation_scheme`` (``free``, ``between strata`` or ``within strata``).

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=40)
    >>> gb.tl.beta_diversity(adata, metric="braycurtis")
    >>> res = gb.tl.permanova(adata, distance="braycurtis", groupby="group", n_permutations=99)
    >>> res["test statistic name"], adata.uns["permanova"]["braycurtis"]["permutations"]
    ('pseudo-F', 99)
    """
    D, labels = _grouped_distances(adata, distance, groupby)
    blocks = None
    scheme = "free"
    if strata is not None:
        from ._permute import permutation_scheme

        _, keep = _groups(adata, groupby)
        col = adata.obs[strata]
        blocks = col.astype(object).where(col.notna(), pd.Series(adata.obs_names, index=col.index))
        blocks = blocks.astype(str).to_numpy()[keep]
        scheme = permutation_scheme(np.unique(labels, return_inverse=True)[1], blocks)
    res = permanova_kernel(D, labels, permutations=n_permutations, random_state=random_state, strata=blocks)
    _store(
        adata, "permanova", distance, res,
        {"distance": distance, "groupby": groupby, "n_permutations": n_permutations, "random_state": random_state,
         "strata": strata or "", "permutation_scheme": scheme},
        ["Anderson 2001 doi:10.1111/j.1442-9993.2001.01070.pp.x"],
    )
    return res


def permdisp(
    adata: AnnData,
    *,
    distance: str = "braycurtis",
    groupby: str,
    test: str = "median",
    n_permutations: int = 999,
    random_state: int = 0,
) -> pd.Series:
    """PERMDISP (homogeneity of dispersions) of ``obsp[distance]`` by ``obs[groupby]``.

    Parameters
    ----------
    adata
        AnnData with the distance matrix in ``obsp``.
    distance
        Key of ``obsp`` (computed when it names a metric and is absent).
    groupby
        Categorical column of ``obs``.
    test
        ``"median"`` (spatial median; scikit-bio's and vegan's default) or ``"centroid"``.
    n_permutations
        Label permutations.
    random_state
        Seed of the permutations.

    Returns
    -------
    pandas.Series
        scikit-bio's result layout (test statistic name ``F-value``).

    Notes
    -----
    Sets the following fields:

    ``adata.uns["permdisp"][distance]``
        Same layout as :func:`permanova` (``statistic`` is the F-value).

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=40)
    >>> res = gb.tl.permdisp(adata, distance="braycurtis", groupby="group", n_permutations=99)
    >>> res["test statistic name"]
    'F-value'
    """
    D, labels = _grouped_distances(adata, distance, groupby)
    res = permdisp_kernel(D, labels, test=test, permutations=n_permutations, random_state=random_state)
    _store(
        adata, "permdisp", distance, res,
        {"distance": distance, "groupby": groupby, "test": test,
         "n_permutations": n_permutations, "random_state": random_state},
        ["Anderson 2006 doi:10.1111/j.1541-0420.2005.00440.x"],
    )
    return res


def anosim(
    adata: AnnData,
    *,
    distance: str = "braycurtis",
    groupby: str,
    n_permutations: int = 999,
    random_state: int = 0,
) -> pd.Series:
    """ANOSIM of ``obsp[distance]`` by ``obs[groupby]``.

    Parameters
    ----------
    adata
        AnnData with the distance matrix in ``obsp``.
    distance
        Key of ``obsp`` (computed when it names a metric and is absent).
    groupby
        Categorical column of ``obs``.
    n_permutations
        Label permutations.
    random_state
        Seed of the permutations.

    Returns
    -------
    pandas.Series
        scikit-bio's result layout (test statistic name ``R``).

    Notes
    -----
    Sets the following fields:

    ``adata.uns["anosim"][distance]``
        Same layout as :func:`permanova` (``statistic`` is R).

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=40)
    >>> res = gb.tl.anosim(adata, distance="braycurtis", groupby="group", n_permutations=99)
    >>> -1.0 <= res["test statistic"] <= 1.0
    True
    """
    D, labels = _grouped_distances(adata, distance, groupby)
    res = anosim_kernel(D, labels, permutations=n_permutations, random_state=random_state)
    _store(
        adata, "anosim", distance, res,
        {"distance": distance, "groupby": groupby, "n_permutations": n_permutations, "random_state": random_state},
        ["Clarke 1993 doi:10.1111/j.1442-9993.1993.tb00438.x"],
    )
    return res


def alpha_group_test(adata: AnnData, *, metric: str, groupby: str) -> pd.DataFrame:
    """Compare an alpha diversity metric between groups.

    Kruskal–Wallis H test across all groups (Kruskal & Wallis 1952,
    doi:10.1080/01621459.1952.10483441) and two-sided Mann–Whitney U tests for every
    pair (``scipy.stats.mannwhitneyu``, default method) with Benjamini–Hochberg
    adjustment over the pairs (doi:10.1111/j.2517-6161.1995.tb02031.x).

    Parameters
    ----------
    adata
        AnnData with ``obs[metric]`` (see :func:`alpha_diversity`; computed when absent).
    metric
        Alpha diversity column of ``obs``.
    groupby
        Categorical column of ``obs``.

    Returns
    -------
    pandas.DataFrame
        Rows ``"all"`` (Kruskal–Wallis) and ``"A vs B"`` (Mann–Whitney); columns
        ``test, group1, group2, n1, n2, statistic, p_value, q_value``. Also stored in
        ``uns["alpha_group_test"][metric]``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns["alpha_group_test"][metric]``
        The returned table.
    ``adata.obs[metric]``, ``adata.uns["alpha_diversity"]``
        Only when the metric had to be computed (see :func:`alpha_diversity`).

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=40)
    >>> res = gb.tl.alpha_group_test(adata, metric="shannon", groupby="group")
    >>> list(res["test"])
    ['kruskal', 'mannwhitneyu']
    """
    from scipy.stats import false_discovery_control, kruskal, mannwhitneyu

    if metric not in adata.obs:
        from ._alpha import ALPHA_METRICS, alpha_diversity

        if metric not in ALPHA_METRICS or metric == "faith_pd":
            raise DataValueError(
                f"no alpha diversity column obs[{metric!r}]",
                fix="run gutbrain.tl.alpha_diversity(adata, metrics=[...]) first",
            )
        alpha_diversity(adata, metrics=[metric])
    labels, keep = _groups(adata, groupby)
    values = adata.obs[metric].to_numpy(dtype=np.float64)[keep]
    ok = np.isfinite(values)
    values, labels = values[ok], labels[ok]
    groups = sorted(set(labels))
    if len(groups) < 2:
        raise DataValueError(
            f"column {groupby!r} has fewer than two groups with values", fix="choose another column"
        )
    samples = {g: values[labels == g] for g in groups}
    h, p = kruskal(*samples.values())
    rows = [{"test": "kruskal", "group1": "all", "group2": "all", "n1": len(values), "n2": np.nan,
             "statistic": float(h), "p_value": float(p), "q_value": float(p)}]
    pair_rows = []
    for a, b in combinations(groups, 2):
        u, pu = mannwhitneyu(samples[a], samples[b], alternative="two-sided")
        pair_rows.append({"test": "mannwhitneyu", "group1": a, "group2": b, "n1": samples[a].size,
                          "n2": samples[b].size, "statistic": float(u), "p_value": float(pu)})
    if pair_rows:
        q = false_discovery_control([r["p_value"] for r in pair_rows], method="bh")
        for r, qq in zip(pair_rows, q):
            r["q_value"] = float(qq)
    df = pd.DataFrame(rows + pair_rows)
    df.index = ["all"] + [f"{r['group1']} vs {r['group2']}" for r in pair_rows]
    store = dict(adata.uns.get("alpha_group_test", {}))
    store[metric] = {
        "params": _core.clean_uns({"metric": metric, "groupby": groupby,
                                   "gutbrain_version": _core.provenance(adata).get("version")}),
        "table": df.reset_index(names="comparison"),
    }
    adata.uns["alpha_group_test"] = store
    return df
