"""Group tests on distance matrices (PERMANOVA, PERMDISP, ANOSIM) and on alpha diversity.

Permutations are vectorised: a batch of permuted labellings becomes a
group-indicator matrix ``W`` (n × batch·groups) and every within-group sum is one
blocked matrix product ``colsum(W ∘ (A W))``, with ``A`` the squared distances
(PERMANOVA) or the distance ranks (ANOSIM).

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

__all__ = [
    "alpha_group_test",
    "anosim",
    "anosim_kernel",
    "permanova",
    "permanova_kernel",
    "permdisp",
    "permdisp_kernel",
]

#: Permutations per batch (indicator matrix n × batch × groups).
_BATCH = 128
#: Rows of the square matrix per block.
_ROWS = 1024


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


def _labellings(codes: np.ndarray, permutations: int, random_state: Any) -> Iterator[np.ndarray]:
    """Yield batches of labellings: the observed one first, then permutations (skbio order)."""
    if permutations < 0:
        raise DataValueError("permutations must be ≥ 0", fix="pass permutations=999")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    total = permutations + 1
    for start in range(0, total, _BATCH):
        stop = min(total, start + _BATCH)
        batch = np.empty((stop - start, codes.size), dtype=np.int64)
        for r, i in enumerate(range(start, stop)):
            batch[r] = codes if i == 0 else rng.permutation(codes)
        yield batch


def _indicator(batch: np.ndarray, n_groups: int, weights: np.ndarray | None = None) -> np.ndarray:
    """n × (batch·groups) indicator (optionally weighted per group)."""
    b, n = batch.shape
    W = np.zeros((n, b * n_groups), dtype=np.float64)
    cols = (np.arange(b)[:, None] * n_groups + batch).T  # n × b
    vals = 1.0 if weights is None else weights[batch].T
    np.put_along_axis(W, cols, vals, axis=1)
    return W


def _within_sums(A: np.ndarray, batch: np.ndarray, n_groups: int, weights: np.ndarray | None) -> np.ndarray:
    """For each labelling: Σ_g weight_g Σ_{i<j in g} A_ij (A symmetric, zero diagonal)."""
    n = A.shape[0]
    W = _indicator(batch, n_groups)
    acc = np.zeros(W.shape[1])
    for r0 in range(0, n, _ROWS):
        r1 = min(n, r0 + _ROWS)
        acc += np.einsum("ij,ij->j", W[r0:r1], A[r0:r1] @ W)
    per = acc.reshape(batch.shape[0], n_groups)
    if weights is not None:
        per = per * weights[None, :]
    return 0.5 * per.sum(axis=1)


def _square(D: Any) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    if D.ndim == 1:
        from scipy.spatial.distance import squareform

        D = squareform(D, checks=False)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise DataValueError("expected a square distance matrix", fix="pass an n × n matrix")
    if not np.all(np.isfinite(D)):
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
    D: Any, grouping: Any, *, permutations: int = 999, random_state: Any = 0
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

    Returns
    -------
    pandas.Series
        Same fields as ``skbio.stats.distance.permanova``.
    """
    D = _square(D)
    groups, codes = _codes(grouping)
    n, g = codes.size, groups.size
    if D.shape[0] != n:
        raise DataValueError(f"{n} labels for {D.shape[0]} samples", fix="give one label per sample")
    D2 = D * D
    s_T = D2.sum() / n / 2.0
    inv = 1.0 / np.bincount(codes, minlength=g)
    stats = []
    for batch in _labellings(codes, permutations, random_state):
        s_W = _within_sums(D2, batch, g, inv)
        stats.append(((s_T - s_W) / (g - 1)) / (s_W / (n - g)))
    f = np.concatenate(stats)
    return _result("PERMANOVA", "pseudo-F", n, g, float(f[0]), _p_value(f, permutations), permutations)


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
    stats = []
    for batch in _labellings(codes, permutations, random_state):
        sw = _within_sums(RK, batch, g, None)
        r_w = sw / n_within
        r_b = (total - sw) / (m - n_within)
        stats.append((r_b - r_w) / divisor)
    r = np.concatenate(stats)
    return _result("ANOSIM", "R", n, g, float(r[0]), _p_value(r, permutations), permutations)


def _centres(X: np.ndarray, W: np.ndarray, sizes: np.ndarray, test: str) -> np.ndarray:
    """Group centres for a batch: W is (b, n, g) one-hot; returns (b, g, k)."""
    C = np.einsum("bng,nk->bgk", W, X) / sizes[None, :, None]
    if test == "centroid":
        return C
    # Weiszfeld iterations for the spatial median, all groups and permutations at once
    scale = max(float(np.abs(X).max()), 1e-300)
    for _ in range(1000):
        diff = X[None, :, None, :] - C[:, None, :, :]  # b, n, g, k
        dist = np.sqrt(np.einsum("bngk,bngk->bng", diff, diff))
        w = W / np.maximum(dist, 1e-15)
        C_new = np.einsum("bng,nk->bgk", w, X) / w.sum(axis=1)[:, :, None]
        shift = np.abs(C_new - C).max()
        C = C_new
        if shift < 1e-10 * scale:
            break
    return C


def _anova_f(z: np.ndarray, W: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """One-way ANOVA F of z (b, n) grouped by one-hot W (b, n, g)."""
    n, g = z.shape[1], sizes.size
    means = np.einsum("bn,bng->bg", z, W) / sizes[None, :]
    grand = z.mean(axis=1)
    ss_b = (sizes[None, :] * (means - grand[:, None]) ** 2).sum(axis=1)
    fitted = np.einsum("bg,bng->bn", means, W)
    ss_w = ((z - fitted) ** 2).sum(axis=1)
    return (ss_b / (g - 1)) / (ss_w / (n - g))


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
    X, _, _ = pcoa_kernel(D, min(n_components, n))
    sizes = np.bincount(codes, minlength=g).astype(np.float64)
    out = []
    for batch in _labellings(codes, permutations, random_state):
        for s in range(0, batch.shape[0], 32):
            sub = batch[s : s + 32]
            W = np.zeros((sub.shape[0], n, g))
            np.put_along_axis(W, sub[:, :, None], 1.0, axis=2)
            C = _centres(X, W, sizes, test)
            own = np.einsum("bng,bgk->bnk", W, C)
            z = np.sqrt(((X[None] - own) ** 2).sum(axis=2))
            out.append(_anova_f(z, W, sizes))
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
        "permutations", "references"}``.

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
    res = permanova_kernel(D, labels, permutations=n_permutations, random_state=random_state)
    _store(
        adata, "permanova", distance, res,
        {"distance": distance, "groupby": groupby, "n_permutations": n_permutations, "random_state": random_state},
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
