"""The one tolerance for results of the same reduction computed in a different order."""

from __future__ import annotations

import numpy as np

#: Relative tolerance for sums/products computed in another order (Dask chunks, BLAS kernels
#: picked by matrix shape, a peer library's loop order).  Reordering n double-precision terms
#: moves the result by at most ~n·2⁻⁵³·Σ|terms|, i.e. ~1e-13 relative for the 10⁴-term
#: reductions gutbrain tests; 1e-9 leaves four orders of magnitude of headroom and still
#: catches every real bug (a wrong term changes results at 1e-3 and above).
REDUCTION_RTOL = 1e-9


def assert_allclose_reordered(
    actual,
    desired,
    *,
    rtol: float = REDUCTION_RTOL,
    scale: float | None = None,
    err_msg: str = "",
) -> None:
    """Assert two results of one reduction, computed in different orders, agree.

    Values agree when ``|actual - desired| <= rtol * |desired| + rtol * scale`` elementwise,
    with NaN equal to NaN. ``scale`` defaults to the largest finite ``|desired|``: the
    absolute part covers values that are near zero only because of cancellation between
    terms of the data's magnitude (a coefficient of 1e-17 next to ones of 1.0 carries no
    relative precision). Never compare parallel or reordered results at machine epsilon.

    Parameters
    ----------
    actual, desired : array_like
        The two results (same shape).
    rtol : float
        Relative tolerance (default :data:`REDUCTION_RTOL`, 1e-9).
    scale : float, optional
        The data's magnitude for the absolute part; default ``max |desired|`` (finite values).
    err_msg : str
        Printed on failure.

    Raises
    ------
    AssertionError
        When any element differs by more than the tolerance or NaNs are in different places.

    Examples
    --------
    >>> import numpy as np
    >>> from gutbrain.testing import assert_allclose_reordered
    >>> x = np.random.default_rng(0).normal(size=10_000)
    >>> assert_allclose_reordered(np.sum(x[::-1]), np.sum(x))
    >>> assert_allclose_reordered([1.0, 1e-17], [1.0, 0.0])   # 1e-17 is noise next to 1.0
    """
    a = np.asarray(actual, dtype=np.float64)
    d = np.asarray(desired, dtype=np.float64)
    if scale is None:
        finite = np.abs(d[np.isfinite(d)])
        scale = float(finite.max()) if finite.size else 0.0
    np.testing.assert_allclose(
        a, d, rtol=rtol, atol=rtol * scale, equal_nan=True,
        err_msg=f"{err_msg} (reordered-reduction tolerance: rtol={rtol:g}, atol=rtol×{scale:.3g})",
    )
