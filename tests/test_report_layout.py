"""Report layout: wide tables get column minimum widths; the index dashboard is sized by its labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

import gutbrain as gb
from gutbrain.report._build import MAX_MIN_WIDTH_EM, _min_widths, _table_view


def test_text_columns_get_a_min_width_numbers_do_not():
    df = pd.DataFrame({
        "taxon": ["Faecalibacterium", "Roseburia"],  # short words: no minimum
        "citation": ["Louis P, Flint HJ 2009 FEMS Lett", "Anand S et al. 2016"],
        "host": ["Homo sapiens (faecal)", "not stated"],
        "weight": [1.0, 0.5],
        "n": [3, 4],
        "note": ["x" * 200, ""],
    })
    w = dict(zip(df.columns, _min_widths(df), strict=True))
    assert w["taxon"] == 0 and w["weight"] == 0 and w["n"] == 0
    assert w["citation"] == round(0.45 * 32) < MAX_MIN_WIDTH_EM  # the longest cell has 32 characters
    assert 0 < w["host"] < w["citation"]
    assert w["note"] == MAX_MIN_WIDTH_EM  # capped: long text wraps, the table scrolls
    view = _table_view("c", df, "t", max_rows=10)
    assert view["min_widths"] == list(w.values())


def test_index_dashboard_grows_with_its_labels():
    import matplotlib.pyplot as plt

    a = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=60)
    gb.tl.gut_brain_indices(a)
    from gutbrain.pl._indices import index_dashboard

    fig = index_dashboard(a, groupby="group", top=5)
    w0, h0 = fig.get_size_inches()
    for ax in fig.axes:
        assert len(ax.get_xticks()) <= 6  # MaxNLocator(4): no crowded decimals
    plt.close(fig)
    info = a.uns["gut_brain_indices"]["contributions"]
    info["taxon"] = info["taxon"].astype(str) + " with a much longer display name"
    fig = index_dashboard(a, groupby="group", top=5)
    w1, h1 = fig.get_size_inches()
    plt.close(fig)
    assert w1 > w0 + 1.5 and np.isclose(h1, h0)
