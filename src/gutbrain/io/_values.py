"""The one set of missing-value tokens and the one unit guesser of gutbrain.

Every reader (metadata, tables, BIOM, QIIME 2) and the workflow use these, so a value
that is missing in one place is missing everywhere, and a table read from any format gets
its unit by the same rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["NA_TOKENS", "NUMERIC_ONLY_NA", "guess_unit", "is_missing"]

#: Tokens read as missing values (compared case-insensitively, after stripping), including
#: the INSDC/EBI terms used by Qiita and the American Gut Project (``no_data``).
NA_TOKENS: frozenset[str] = frozenset(
    {
        "",
        "na",
        "n/a",
        "nan",
        "nd",
        "null",
        "no_data",
        "not applicable",
        "not provided",
        "not collected",
        "restricted access",
        "unspecified",
        "-",
    }
)
#: Tokens that are missing only in an otherwise numeric column ("unknown" and "none" are levels
#: elsewhere, e.g. a medication column answering "none").
NUMERIC_ONLY_NA: frozenset[str] = frozenset({"unknown", "missing", "none"})


def is_missing(values: Any) -> np.ndarray:
    """Boolean mask: NaN/None, or text that is one of :data:`NA_TOKENS`.

    Examples
    --------
    >>> import pandas as pd
    >>> is_missing(pd.Series(["yes", "no_data", None, " NA "])).tolist()
    [False, True, True, True]
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    miss = s.isna().to_numpy()
    if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
        text = s.astype(object).where(~miss, "").astype(str).str.strip().str.lower()
        miss = miss | text.isin(NA_TOKENS).to_numpy()
    return np.asarray(miss, dtype=bool)


def guess_unit(X: Any) -> tuple[str, str]:
    """Guess what a samples × features matrix holds; return ``(unit, reason)``.

    Non-negative integers → ``counts``; otherwise the non-zero sample sums are compared
    with 1 and 100: every sum at most ``target × 1.001`` and the largest at least
    ``target × 0.99`` (tables filtered after normalisation keep a little less than the full
    mass) → ``relative`` / ``percent``; anything else → ``abundance``.

    Examples
    --------
    >>> import numpy as np
    >>> guess_unit(np.array([[1, 2], [3, 0]]))[0], guess_unit(np.array([[0.5, 0.5], [0.2, 0.7]]))[0]
    ('counts', 'relative')
    """
    data = X.data if sp.issparse(X) else np.asarray(X, dtype=np.float64).ravel()
    if data.size == 0:
        return "counts", "empty"
    if np.all(data == np.floor(data)):
        return "counts", "all values are integers"
    sums = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    sums = sums[sums > 0]
    if sums.size:
        for target, unit in ((1.0, "relative"), (100.0, "percent")):
            if sums.max() <= target * 1.001 and sums.max() >= target * 0.99:
                return unit, f"sample sums at most {target:g} (max {sums.max():.4g})"
    return "abundance", "non-integer values whose sample sums are neither ≈1 nor ≈100"
