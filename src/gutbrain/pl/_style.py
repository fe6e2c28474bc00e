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


#: Margin (inches) kept around the drawn artists when a figure is cropped to them.
PAD_INCHES = 0.05


def fig_to_svg(fig: Any, *, close: bool = True) -> str:
    """Render a matplotlib figure to deterministic SVG text (no XML prolog), cropped to its artists.

    The figure is drawn **once** (its layout engine runs during that draw) and then cropped
    to the union of its artists plus :data:`PAD_INCHES` by setting the SVG ``viewBox``.
    ``savefig(bbox_inches="tight")`` shows the same region but draws every figure twice:
    once to measure the artists and once more to render them shifted.

    Parameters
    ----------
    fig
        A :class:`matplotlib.figure.Figure`.
    close
        Close the figure afterwards (frees memory; the pyplot state is untouched otherwise).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(2, 2))
    >>> _ = ax.plot([0, 1], [0, 1]); _ = ax.set_xlabel("x")
    >>> text = fig_to_svg(fig)
    >>> text.startswith("<svg"), 'viewBox="0 0 ' in text  # cropped: the box starts at the artists
    (True, False)
    """
    buf = io.StringIO()
    with style():
        width_pt, height_pt, bbox = _draw_svg(fig, buf)
        background = _background(fig)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    return _crop(text, width_pt, height_pt, bbox, background)


def _draw_svg(fig: Any, fh: Any) -> tuple[float, float, Any]:
    """Draw ``fig`` once as SVG into ``fh``; return its size in points and its padded tight bbox
    (inches).  Mirrors ``FigureCanvasSVG.print_svg`` at the ``savefig`` settings of :data:`RC`."""
    from matplotlib import cbook
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG

    old_canvas = fig.canvas
    canvas = FigureCanvasSVG(fig)  # sets fig.canvas; restored below
    try:
        dpi = mpl.rcParams["savefig.dpi"]
        face = mpl.rcParams["savefig.facecolor"]
        edge = mpl.rcParams["savefig.edgecolor"]
        colours = {k: v for k, v in (("facecolor", face), ("edgecolor", edge)) if not cbook._str_equal(v, "auto")}
        with (cbook._setattr_cm(fig, dpi=72), cbook._setattr_cm(canvas, _is_saving=True),
              fig._cm_set(**colours)):
            width_in, height_in = fig.get_size_inches()
            renderer = MixedModeRenderer(
                fig, width_in, height_in, dpi,
                RendererSVG(width_in * 72, height_in * 72, fh, image_dpi=dpi,
                            metadata={"Date": None, "Creator": None}))
            fig.draw(renderer)
            renderer.finalize()
            bbox = fig.get_tightbbox(renderer).padded(PAD_INCHES)
    finally:
        fig.set_canvas(old_canvas)
    return width_in * 72, height_in * 72, bbox


def _background(fig: Any) -> str | None:
    """The saved figure's background colour as hex, or ``None`` when it is fully transparent."""
    from matplotlib.colors import to_hex, to_rgba

    face = mpl.rcParams["savefig.facecolor"]
    rgba = to_rgba(fig.get_facecolor() if str(face) == "auto" else face)
    return None if rgba[3] == 0 else to_hex(rgba, keep_alpha=rgba[3] < 1)


def _crop(text: str, width_pt: float, height_pt: float, bbox: Any, background: str | None = None) -> str:
    """Point the SVG's ``width``/``height``/``viewBox`` at ``bbox`` (inches, y up from the bottom).

    Where the box reaches past the figure (labels drawn outside it), ``background`` fills the whole
    box first, as the enlarged figure patch of ``savefig(bbox_inches="tight")`` does."""
    from matplotlib.backends.backend_svg import _short_float_fmt as fmt

    x0, y0, w, h = 72 * bbox.x0, height_pt - 72 * bbox.y1, 72 * bbox.width, 72 * bbox.height
    old = (f'width="{fmt(width_pt)}pt" height="{fmt(height_pt)}pt" '
           f'viewBox="0 0 {fmt(width_pt)} {fmt(height_pt)}"')
    box = f'{fmt(x0)} {fmt(y0)} {fmt(w)} {fmt(h)}'
    head = text.find(old, 0, 400)
    if head < 0:
        raise RuntimeError("unexpected SVG header from matplotlib; cannot crop the figure")
    text = text[:head] + f'width="{fmt(w)}pt" height="{fmt(h)}pt" viewBox="{box}"' + text[head + len(old):]
    outside = x0 < 0 or y0 < 0 or x0 + w > width_pt or y0 + h > height_pt
    if background is not None and outside:
        end = text.index(">", head) + 1
        rect = f'\n <rect x="{fmt(x0)}" y="{fmt(y0)}" width="{fmt(w)}" height="{fmt(h)}" fill="{background}"/>'
        text = text[:end] + rect + text[end:]
    return text
