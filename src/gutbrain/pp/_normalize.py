"""Relative abundance (closure) and seeded rarefaction."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .._core import _as_matrix, record, require_unit, set_layer
from .._errors import DataValueError
from .._utils import check_random_state
from ._filter import (
    _abundance_matrix,
    _append_step,
    _check_adata,
    _check_values,
    _derive,
    _is_integer,
    _names,
    _row_sums,
)

__all__ = ["closure", "rarefy", "relative"]


def closure(M: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """Divide each row by its sum; all-zero rows stay all zero.

    Object-free kernel of :func:`relative`.  Sparse input gives CSR output.
    """
    sums = _row_sums(M)
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    if sp.issparse(M):
        return sp.csr_matrix(sp.diags(inv) @ sp.csr_matrix(M, dtype=np.float64))
    return np.asarray(M, dtype=np.float64) * inv[:, None]


def relative(adata: AnnData, *, layer: str | None = None, key_added: str = "relative") -> None:
    """Write per-sample proportions (closure) to ``layers[key_added]``.

    Parameters
    ----------
    adata
        Samples × features holding counts, percent, cpm, rpk, abundance or relative values.
        CLR or otherwise transformed values are refused (:class:`~gutbrain.UnitError`).
    layer
        Input matrix (``None``: ``X``).
    key_added
        Output layer; its unit is recorded as ``relative``.

    Notes
    -----
    Sets the following fields:

    ``adata.layers[key_added]``
        Proportions (sparse when the input is); unit ``relative``.
    ``adata.uns[key_added]``
        ``{"params": {...}, "zero_samples": [...]}``.

    Each row is divided by its total, so rows sum to 1.  A sample whose total is 0 has
    no composition; its row is left **all zeros** (not NaN) so that sums, filters and
    plots keep working; such samples are listed in ``uns[key_added]["zero_samples"]``.
    Sparse input stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=30)
    >>> gb.pp.relative(adata)
    >>> bool(np.allclose(adata.layers["relative"].sum(axis=1), 1.0))
    True

    """
    _check_adata(adata, "relative")
    M, unit = _abundance_matrix(
        adata, layer, what="relative",
        fix="compute relative abundances from the untransformed table (X or layers['counts'])",
    )
    sums = _row_sums(M)
    set_layer(adata, key_added, closure(M), "relative")
    record(
        adata,
        key_added,
        params={"layer": layer, "input_unit": unit},
        zero_samples=_names(adata.obs_names, sums <= 0),
    )


def _rarefy_rows(
    M: np.ndarray | sp.csr_matrix, depth: int, rng: np.random.Generator, *, replace: bool
) -> sp.csr_matrix:
    """Subsample every row of integer counts ``M`` to ``depth`` reads (rows must hold >= depth)."""
    M = sp.csr_matrix(M)
    n = M.shape[0]
    indptr, indices, data = M.indptr, M.indices, M.data.astype(np.int64)
    out = np.zeros(data.shape[0], dtype=np.int64)
    if replace:
        # one call for every row: multinomial with each row's proportions
        totals = _row_sums(M)
        if n and data.size:
            width = int(np.diff(indptr).max())
            P = np.zeros((n, width))
            pos = np.arange(data.size) - np.repeat(indptr[:-1], np.diff(indptr))
            rows = np.repeat(np.arange(n), np.diff(indptr))
            P[rows, pos] = data / totals[rows]
            draws = rng.multinomial(depth, P)
            out = draws[rows, pos]
    else:
        for i in range(n):
            a, b = indptr[i], indptr[i + 1]
            if b > a:
                out[a:b] = rng.multivariate_hypergeometric(data[a:b], depth, method="marginals")
    R = sp.csr_matrix((out.astype(np.float64), indices.copy(), indptr.copy()), shape=M.shape)
    R.eliminate_zeros()
    return R


def rarefy(
    adata: AnnData,
    *,
    depth: int,
    random_state: int | np.random.Generator | None = 0,
    replace: bool = False,
) -> AnnData:
    """Subsample every sample's counts to ``depth`` reads (seeded).

    Parameters
    ----------
    adata
        ``X`` must hold integer ``counts``; relative or percent data are refused with a
        :class:`~gutbrain.UnitError`.
    depth
        Reads per sample after rarefaction.  Samples with fewer reads are **dropped**;
        their ids are listed in ``uns["rarefy"]["dropped"]``.
    random_state
        Seed or :class:`numpy.random.Generator`; the default 0 makes reports reproducible.
    replace
        ``False`` (default): draw reads without replacement (multivariate hypergeometric,
        as ``skbio.stats.subsample_counts`` and QIIME 2 ``feature-table rarefy``);
        ``True``: with replacement (multinomial on each sample's proportions).

    Returns
    -------
    AnnData
        Rarefied counts (rows sum to ``depth``); layers are dropped (they describe the
        unrarefied data).  ``uns["rarefy"]`` holds the params, ``dropped`` and the seed.

    Notes
    -----
    Sets the following fields of the **returned** AnnData (``adata`` is not modified):

    ``uns["rarefy"]``
        ``{"params": {"depth", "replace", ...}, "dropped", "n_dropped", "dropped_layers"}``
        and the seed.
    ``uns["gutbrain"]["steps"]``
        The step appended (shape before and after).

    Rarefying discards data; for differential abundance prefer compositional methods
    (McMurdie & Holmes 2014, doi:10.1371/journal.pcbi.1003531).  It remains standard
    for alpha diversity comparisons at equal depth.
    """
    _check_adata(adata, "rarefy")
    require_unit(adata, ["counts"], what="rarefy")
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise DataValueError(
            f"rarefy depth must be a positive integer, got {depth!r}",
            fix="pass depth=<reads per sample>, e.g. the 10th percentile of sample depths",
        )
    depth = int(depth)
    M = adata.X
    _check_values(M, what="rarefy", layer=None)
    if not _is_integer(M):
        raise DataValueError(
            "rarefy needs integer counts, but X holds non-integer values",
            fix="pass the raw count table; rarefaction is undefined for fractional values",
        )
    rng = check_random_state(random_state)
    totals = _row_sums(M)
    keep = totals >= depth
    rows = np.flatnonzero(keep)
    sub = sp.csr_matrix(M)[rows] if sp.issparse(M) else sp.csr_matrix(np.asarray(M)[rows])
    R = _rarefy_rows(sub, depth, rng, replace=replace)
    X = _as_matrix(R, "auto" if sp.issparse(M) else False)
    before = adata.shape
    new = _derive(adata, X, obs=adata.obs.iloc[rows].copy(), var=adata.var.copy())
    params = {"depth": depth, "replace": bool(replace)}
    record(
        new,
        "rarefy",
        params=params,
        random_state=random_state,
        references=["doi:10.1371/journal.pcbi.1003531"],
        dropped=_names(adata.obs_names, ~keep),
        n_dropped=int((~keep).sum()),
        dropped_layers=list(adata.layers.keys()),
    )
    _append_step(
        new,
        "rarefy",
        {**params, "random_state": random_state
         if not isinstance(random_state, np.random.Generator) else "Generator"},
        before,
    )
    return new
