"""The stored out-of-study validation of the health indices, as a table for reports.

The report section that shows it (with gutbrain's scores of a table and the reliability
curve) is :func:`gutbrain.report._sections_ml.health_index_section`.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["fmt_ci", "validation_table"]


def fmt_ci(v: float, lo: float, hi: float) -> str:
    """``0.812 (95 % CI 0.780–0.840)``."""
    return f"{v:.3f} (95 % CI {lo:.3f}–{hi:.3f})"


def validation_table() -> pd.DataFrame:
    """The stored out-of-study figures of GMHI, GMWI2 and gutbrain's index, in display order.

    Columns ``index, status, AUROC, balanced accuracy, sensitivity, specificity, profiles,
    out of study`` (CIs as text); read from ``ml/data/health_index_loso.tsv``.
    """
    from ._validation import health_index_validation

    v = health_index_validation()
    names = {"gutbrain": "gutbrain health index", "GMHI": "GMHI (Gupta 2020)", "GMWI2": "GMWI2 (Chang 2024)"}
    return pd.DataFrame({
        "index": v["index"].map(names),
        "status": v["status"],
        "AUROC": [fmt_ci(a, lo, hi) for a, lo, hi in zip(v["auroc"], v["auroc_low"], v["auroc_high"], strict=True)],
        "balanced accuracy": [fmt_ci(a, lo, hi) for a, lo, hi in
                              zip(v["balanced_accuracy"], v["ba_low"], v["ba_high"], strict=True)],
        "sensitivity": v["sensitivity"].round(3),
        "specificity": v["specificity"].round(3),
        "profiles": v["n"],
        "out of study": v["out_of_study"],
        "threshold": v["threshold"],
    })
