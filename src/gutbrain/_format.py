"""Deterministic number formatting shared by the report, the CLI and the summaries."""

from __future__ import annotations

import math

__all__ = ["format_number", "format_p"]


def format_number(v: float) -> str:
    """Short deterministic text for a number: integers as such, 4 significant digits otherwise.

    Examples
    --------
    >>> format_number(32380.5), format_number(3.0), format_number(0.123456), format_number(2.5e-5)
    ('32380.5', '3', '0.1235', '2.500e-05')
    """
    v = float(v)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if abs(v) >= 1e9 or abs(v) < 1e-3:
        return f"{v:.3e}"
    if abs(v) >= 1000:
        return f"{v:.1f}"
    return f"{v:.4g}"


def format_p(p: float) -> str:
    """A p- or q-value in words-friendly form: ``p = 0.012``, ``p < 0.001``.

    Examples
    --------
    >>> format_p(0.01234), format_p(2e-7)
    ('= 0.012', '< 0.001')
    """
    p = float(p)
    if math.isnan(p):
        return "not available"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.2g}" if p < 0.1 else f"= {p:.2f}"
