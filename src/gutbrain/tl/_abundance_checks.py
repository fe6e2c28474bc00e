"""Input checks shared by the diversity modules (alpha, beta, UniFrac).

A leaf module: it imports nothing from :mod:`gutbrain.tl`, so ``_beta``, ``_unifrac``
and ``_alpha`` can all use it without importing one another.
"""

from __future__ import annotations

import numpy as np

from .._errors import DataValueError


def _check_abundance(X: np.ndarray) -> None:
    """Raise :class:`~gutbrain.DataValueError` unless every value is finite and ≥ 0."""
    if X.size and (not np.all(np.isfinite(X)) or X.min() < 0):
        raise DataValueError(
            "abundances must be finite and non-negative",
            fix="pass counts or proportions (no NaN, no negative values)",
        )
