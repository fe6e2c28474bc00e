"""Composition figures of the report: drawn from one table, one artist per taxon, rasterised.

The report's two composition charts must be the bytes ``gb.pl.taxa_barplot`` draws, and the
section sums nothing: it draws from the per-sample table :func:`gutbrain.tl.composition_summary`
stored (the features are summed to the rank once, by the step).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import gutbrain as gb
from gutbrain import pp
from gutbrain.pl._style import fig_to_svg
from gutbrain.report._sections_core import composition_section
from gutbrain.tl._summary import composition_summary, relative_by_taxon, top_taxa, with_other

TOP = 8


@pytest.fixture(scope="module")
def cohort():
    adata = gb.datasets.demo_cohort(seed=1, n_samples=60, n_genera=80)
    composition_summary(adata, rank="genus", groupby="group", top=TOP)
    return adata


def test_section_figures_equal_taxa_barplot(cohort, monkeypatch):
    calls = []
    collapse = pp.collapse

    def counting(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("rank"))
        return collapse(*args, **kwargs)

    monkeypatch.setattr(pp, "collapse", counting)
    sec = composition_section(cohort, {})
    assert calls == []  # the section only reads the stored table
    monkeypatch.undo()
    svgs = {f.name: f.svg for f in sec.figures}
    ref_mean = fig_to_svg(gb.pl.taxa_barplot(cohort, groupby="group", top=TOP, kind="mean").figure)
    ref_sample = fig_to_svg(gb.pl.taxa_barplot(cohort, groupby="group", top=TOP, kind="sample").figure)
    assert svgs["composition_groups"] == ref_mean
    assert svgs["composition_samples"] == ref_sample


def test_per_sample_chart_is_one_rasterised_area_per_taxon(cohort):
    ax = gb.pl.taxa_barplot(cohort, groupby="group", top=TOP, kind="sample")
    areas = [c for c in ax.collections if c.get_label() and not c.get_label().startswith("_")]
    assert len(areas) == TOP + 1  # the top taxa and "Other", not n_samples × n_taxa bars
    assert all(c.get_rasterized() for c in areas)
    assert len(ax.patches) == 0
    # the stacked heights are the relative abundances: each sample's column sums to 1
    rel, _, _ = relative_by_taxon(cohort, rank="genus")
    data = with_other(rel, top_taxa(rel, TOP))
    np.testing.assert_allclose(data.sum(axis=1), 1.0, rtol=1e-12)
    top_edge = areas[-1].get_paths()[0].vertices[:, 1].max()
    assert top_edge == pytest.approx(1.0, abs=1e-9)
    svg = fig_to_svg(ax.figure)
    assert len(re.findall(r"<image\b", svg)) == 1  # one raster for all the areas
    assert svg.count("<path") < 200  # axes, ticks, legend: not one path per sample


def test_mean_chart_bars_are_group_means(cohort):
    ax = gb.pl.taxa_barplot(cohort, groupby="group", top=TOP, kind="mean")
    rel, _, _ = relative_by_taxon(cohort, rank="genus")
    keep = top_taxa(rel, TOP)
    data = with_other(rel, keep)
    levels = list(cohort.obs["group"].astype("category").cat.categories)
    heights = np.array([[p.get_height() for p in c.patches] for c in ax.containers])
    assert heights.shape == (TOP + 1, len(levels))
    for j, level in enumerate(levels):
        mask = (cohort.obs["group"].astype(str) == str(level)).to_numpy()
        np.testing.assert_allclose(heights[:, j], data.loc[mask].mean(axis=0).to_numpy(), rtol=1e-12)
