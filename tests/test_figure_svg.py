"""``fig_to_svg`` draws a figure once and shows the region ``savefig(bbox_inches="tight")`` shows.

The reference is matplotlib's own tight crop, computed in the test on a copy of the same figure:
same size, same texts, same origin of the visible box; and the figure is drawn only once.
"""

from __future__ import annotations

import io
import pickle
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from gutbrain.pl._style import PAD_INCHES, fig_to_svg, style

SIZE = re.compile(r'<svg[^>]*?width="([\d.]+)pt" height="([\d.]+)pt" viewBox="([-\d. ]+)"')


def _tight_reference(fig) -> str:
    buf = io.StringIO()
    with style():
        fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=PAD_INCHES,
                    metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def _no_layout():
    """Long tick labels reach far left of the figure: the crop extends past it."""
    fig, ax = plt.subplots(figsize=(3.0, 2.5))
    ax.barh(np.arange(4), [1.0, -0.5, 2.0, 0.3])
    ax.set_yticks(np.arange(4), [f"a rather long taxon name number {i}" for i in range(4)])
    ax.set_xlabel("log2 fold change")
    return fig


def _constrained():
    fig, axes = plt.subplots(1, 2, figsize=(5.0, 2.4), layout="constrained")
    rng = np.random.default_rng(0)
    for i, ax in enumerate(axes):
        ax.scatter(rng.normal(size=300), rng.normal(size=300), s=4, label=f"group {i}")
        ax.set_title(f"panel {i}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title="legend outside")
    return fig


def _tight_layout():
    fig, axes = plt.subplots(3, 1, figsize=(4.0, 5.0))
    for i, ax in enumerate(axes):
        ax.plot(np.linspace(0, 1, 50) ** (i + 1))
        ax.set_ylabel(f"y{i}")
    fig.suptitle("three panels")
    fig.tight_layout()
    return fig


@pytest.mark.parametrize("make", [_no_layout, _constrained, _tight_layout])
def test_same_visible_box_and_texts_as_savefig_tight(make):
    fig = make()
    ref = _tight_reference(pickle.loads(pickle.dumps(fig)))
    draws = []
    original = Figure.draw

    def counted(self, renderer):
        draws.append(renderer)
        return original(self, renderer)

    Figure.draw = counted
    try:
        svg = fig_to_svg(fig)
    finally:
        Figure.draw = original
    assert len(draws) == 1  # savefig(bbox_inches="tight") draws twice
    (rw, rh, rbox), (w, h, box) = SIZE.search(ref).groups(), SIZE.search(svg).groups()
    np.testing.assert_allclose([float(w), float(h)], [float(rw), float(rh)], rtol=0, atol=1e-3)
    assert [float(v) for v in rbox.split()][:2] == [0.0, 0.0]
    assert [float(v) for v in box.split()][2:] == [float(w), float(h)]
    # the same texts (fonttype "none" keeps them as <text>), in the same order
    texts = re.compile(r"<text[^>]*>([^<]*)</text>")
    assert texts.findall(svg) == texts.findall(ref) and texts.findall(svg)
    assert svg.startswith("<svg")


def test_text_positions_relative_to_the_box_match_savefig_tight():
    """Each text sits at the same place inside the visible box as in matplotlib's tight crop."""
    fig = _no_layout()
    ref = _tight_reference(pickle.loads(pickle.dumps(fig)))
    svg = fig_to_svg(fig)
    x0, y0 = (float(v) for v in SIZE.search(svg).group(3).split()[:2])
    where = re.compile(r'<text [^>]*?x="([-\d.]+)" y="([-\d.]+)"')
    ours = np.array([(float(x) - x0, float(y) - y0) for x, y in where.findall(svg)])
    theirs = np.array([(float(x), float(y)) for x, y in where.findall(ref)])
    assert ours.shape == theirs.shape and len(ours)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)


def test_background_fills_the_box_past_the_figure_and_output_is_deterministic():
    svg = fig_to_svg(_no_layout())
    x0 = float(SIZE.search(svg).group(3).split()[0])
    assert x0 < 0  # the labels reach past the figure's left edge
    assert re.search(r'<rect x="[-\d.]+" y="[-\d.]+" width="[\d.]+" height="[\d.]+" fill="#ffffff"/>', svg)
    assert fig_to_svg(_no_layout()) == svg
    inside = fig_to_svg(_tight_layout())
    assert "<rect" not in inside.split("<metadata", 1)[0]  # nothing added when the box is inside


def test_close_false_keeps_the_figure_usable():
    fig = _constrained()
    canvas = fig.canvas
    first = fig_to_svg(fig, close=False)
    assert fig.canvas is canvas and plt.fignum_exists(fig.number)
    assert fig_to_svg(fig) == first
