"""Centred log-ratio (CLR) transform with documented zero handling."""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from .._core import record, set_layer
from .._errors import DataValueError
from ._filter import (
    _abundance_matrix,
    _check_adata,
    _row_sums,
    _where,
)

__all__ = ["clr", "clr_matrix", "multiplicative_replacement"]

#: Rows per dense block when the input is sparse (bounds memory at ~block × features floats).
_BLOCK_CELLS = 4_000_000

_REFERENCES = {
    "clr": "doi:10.1111/j.2517-6161.1982.tb01195.x",  # Aitchison 1982, JRSS B 44:139-177
    "multiplicative": "doi:10.1023/A:1023866030544",  # Martín-Fernández et al. 2003, Math Geol
}


def multiplicative_replacement(P: np.ndarray, delta: float | None = None) -> np.ndarray:
    """Replace zeros of compositions ``P`` (rows) by ``delta`` and shrink the non-zeros.

    ``x_ij = delta`` where ``p_ij = 0``, else ``(1 - z_i·delta)·p_ij`` with ``z_i`` the number
    of zeros in row ``i`` (Martín-Fernández et al. 2003, doi:10.1023/A:1023866030544).
    The default ``delta = 1/D²`` (``D`` features) matches ``skbio.stats.composition.multi_replace``.
    Rows are closed first.  Raises :class:`DataValueError` when ``delta`` is too large.
    """
    P = np.asarray(P, dtype=np.float64)
    sums = P.sum(axis=1, keepdims=True)
    P = np.divide(P, sums, out=np.zeros_like(P), where=sums > 0)
    D = P.shape[1]
    if delta is None:
        delta = (1.0 / D) ** 2
    zeros = P == 0
    scale = 1.0 - zeros.sum(axis=1, keepdims=True) * delta
    if (scale <= 0).any():
        raise DataValueError(
            f"multiplicative replacement with delta={delta:g} makes proportions zero or negative "
            f"(rows with many zeros among {D} features)",
            fix="pass a smaller delta, or filter rare features first",
        )
    return np.where(zeros, delta, scale * P)


def clr_matrix(X: np.ndarray) -> np.ndarray:
    """CLR of strictly positive rows: ``log(x) - mean(log(x))`` per row (rows sum to 0)."""
    L = np.log(np.asarray(X, dtype=np.float64))
    return L - L.mean(axis=1, keepdims=True)


def _blocks(n_rows: int, n_cols: int) -> list[slice]:
    size = max(1, _BLOCK_CELLS // max(1, n_cols))
    return [slice(a, min(a + size, n_rows)) for a in range(0, n_rows, size)] or [slice(0, 0)]


def clr(
    adata: AnnData,
    *,
    layer: str | None = None,
    method: Literal["pseudocount", "multiplicative"] = "pseudocount",
    pseudocount: float = 0.5,
    delta: float | None = None,
    key_added: str = "clr",
) -> None:
    """Centred log-ratio transform into ``layers[key_added]`` (dense; rows sum to 0).

    ``clr(x)_j = log x_j − (1/D) Σ_k log x_k`` (Aitchison 1982,
    doi:10.1111/j.2517-6161.1982.tb01195.x).  Logs of zero are undefined, so zeros are
    handled first:

    * ``method="pseudocount"`` (default): add ``pseudocount`` to every value, as they are
      (for counts: 0.5 reads), then take the CLR; closing the rows first would not change
      the result because the CLR is scale invariant.  For proportions (relative, percent,
      cpm) the pseudocount must be smaller than the smallest non-zero value, else a
      :class:`~gutbrain.DataValueError` asks for a smaller one or the multiplicative method.
      ``pseudocount=0`` is allowed for data without zeros.
    * ``method="multiplicative"``: close the rows, replace zeros by ``delta`` (default
      ``1/D²``) and shrink non-zeros so each row still sums to 1
      (Martín-Fernández et al. 2003, doi:10.1023/A:1023866030544); identical to
      ``skbio.stats.composition.multi_replace`` followed by ``clr``.

    Parameters
    ----------
    adata
        Samples × features with non-negative abundances (counts, relative, percent, cpm,
        rpk, abundance).  Transformed inputs are refused (:class:`~gutbrain.UnitError`).
    layer
        Input matrix (``None``: ``X``).
    method
        Zero handling, see above.
    pseudocount
        Added to every value when ``method="pseudocount"``.
    delta
        Replacement value for ``method="multiplicative"`` (``None``: ``1/D²``).
    key_added
        Output layer (unit ``clr``); parameters go to ``uns[key_added]["params"]``.

    Raises
    ------
    DataValueError
        A sample sums to zero (it has no composition; the error names the samples), a
        value is negative or NaN, or zeros remain with ``pseudocount=0``.

    Notes
    -----
    Sets the following fields:

    ``adata.layers[key_added]``
        Dense float64 CLR values; unit ``clr`` in ``uns["gutbrain"]["layer_units"]``.
    ``adata.uns[key_added]``
        ``{"params": {"method", "input_unit", "pseudocount" or "delta", "references", ...}}``.

    Sparse input is transformed in dense blocks of rows; the result is dense (a CLR has
    no zeros).
    """
    _check_adata(adata, "clr")
    if method not in ("pseudocount", "multiplicative"):
        raise DataValueError(
            f"clr method must be 'pseudocount' or 'multiplicative', got {method!r}",
            fix="pass method='pseudocount' or method='multiplicative'",
        )
    M, unit = _abundance_matrix(
        adata, layer, what="clr",
        fix="pass the untransformed table (X, layers['counts'] or layers['relative'])",
    )
    n, D = M.shape
    sums = _row_sums(M)
    empty = sums <= 0
    if empty.any():
        names = [str(s) for s in adata.obs_names[empty]]
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise DataValueError(
            f"clr is undefined for samples whose values are all zero: {shown}",
            fix="remove them first, e.g. gb.pp.filter_samples(adata, min_depth=1)",
        )
    if method == "pseudocount":
        if pseudocount < 0 or not np.isfinite(pseudocount):
            raise DataValueError(
                f"pseudocount must be a finite number >= 0, got {pseudocount}",
                fix="pass e.g. pseudocount=0.5 for counts",
            )
        data = M.data if sp.issparse(M) else np.asarray(M)
        nonzero = data[data > 0]
        has_zero = (M.nnz < n * D) if sp.issparse(M) else bool((data == 0).any())
        if pseudocount == 0 and has_zero:
            rows = np.flatnonzero(
                np.diff(sp.csr_matrix(M).indptr) < D if sp.issparse(M) else (data == 0).any(axis=1)
            )
            names = ", ".join(str(s) for s in adata.obs_names[rows[:10]])
            raise DataValueError(
                f"clr with pseudocount=0 needs data without zeros; zeros in samples {names}",
                fix="pass pseudocount > 0 or method='multiplicative'",
            )
        if unit != "counts" and nonzero.size and pseudocount >= nonzero.min():
            raise DataValueError(
                f"pseudocount {pseudocount:g} is not smaller than the smallest non-zero value "
                f"{nonzero.min():g} of {_where(layer)} ({unit})",
                fix="use method='multiplicative' or a pseudocount below the smallest non-zero value",
            )
    elif delta is not None and not (0 < delta < 1):
        raise DataValueError(
            f"delta must lie in (0, 1), got {delta}", fix="pass e.g. delta=1e-5 or None"
        )
    out = np.empty((n, D), dtype=np.float64)
    for block in _blocks(n, D):
        B = M[block]
        B = B.toarray() if sp.issparse(B) else np.asarray(B, dtype=np.float64)
        B = B.astype(np.float64, copy=False)
        if method == "pseudocount":
            out[block] = clr_matrix(B + pseudocount)
        else:
            out[block] = clr_matrix(multiplicative_replacement(B, delta))
    set_layer(adata, key_added, out, "clr")
    params = {
        "layer": layer,
        "method": method,
        "input_unit": unit,
        "pseudocount": pseudocount if method == "pseudocount" else None,
        "delta": (delta if delta is not None else (1.0 / D) ** 2)
        if method == "multiplicative"
        else None,
    }
    refs = [_REFERENCES["clr"]]
    if method == "multiplicative":
        refs.append(_REFERENCES["multiplicative"])
    record(adata, key_added, params=params, references=refs)
