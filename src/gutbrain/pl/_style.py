"""Deterministic figure style: the same data give byte-identical SVG.

``svg.hashsalt`` fixes the ids matplotlib writes, ``svg.fonttype = "none"`` keeps text as
text (small files, no glyph paths), and the SVG metadata carry no date or creator version.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl

__all__ = ["OTHER_COLOR", "RC", "fig_to_svg", "group_colors", "palette", "style"]

#: rcParams applied while gutbrain draws a figure.
RC: dict[str, Any] = {
    "svg.hashsalt": "gutbrain",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.labelsize": 8.0,
    "legend.fontsize": 7.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100.0,
    "savefig.dpi": 100.0,
}

#: Colour of the "Other" category in composition plots.
OTHER_COLOR = "#d9d9d9"


@contextmanager
def style() -> Iterator[None]:
    """Context manager applying :data:`RC`."""
    with mpl.rc_context(RC):
        yield


def palette(n: int) -> list[str]:
    """Return ``n`` distinct, deterministic hex colours (tab20 order, then repeated)."""
    from matplotlib.colors import to_hex

    cmap = mpl.colormaps["tab20"]
    base = [to_hex(cmap(i)) for i in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)]
    return [base[i % len(base)] for i in range(n)]


def group_colors(adata: Any, key: str, levels: list[str] | None = None) -> dict[str, str]:
    """Colour of each level of ``obs[key]``, the same in every figure.

    Uses ``uns["<key>_colors"]`` (one colour per category, in category order; ``gutbrain
    run`` sets it for the group) when it matches the categories, else :func:`palette` over
    the levels in category (or sorted) order.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(n_samples=20, n_genera=30)
    >>> sorted(group_colors(ad, "group"))
    ['chronic_pain', 'control']
    """
    col = adata.obs[key]
    if hasattr(col, "cat"):
        cats = [str(c) for c in col.cat.categories]
    else:
        cats = sorted({str(v) for v in col.dropna()})
    stored = adata.uns.get(f"{key}_colors")
    if stored is not None and len(stored) == len(cats):
        colours = {c: str(v) for c, v in zip(cats, stored)}
    else:
        colours = dict(zip(cats, palette(len(cats))))
    for lv in levels or []:
        colours.setdefault(str(lv), palette(len(colours) + 1)[-1])
    return colours


def fig_to_svg(fig: Any, *, close: bool = True) -> str:
    """Render a matplotlib figure to deterministic SVG text (no XML prolog).

    Parameters
    ----------
    fig
        A :class:`matplotlib.figure.Figure`.
    close
        Close the figure afterwards (frees memory; the pyplot state is untouched otherwise).
    """
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05,
                    metadata={"Date": None, "Creator": None})
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text
