"""Metabolite plots: Axes returned, deterministic SVG, errors when results are missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain import DataValueError
from gutbrain.pl._style import fig_to_svg


def _ad():
    ad = gb.datasets.demo_cohort(seed=2, n_samples=50, n_genera=30)
    rng = np.random.default_rng(0)
    mtb = pd.DataFrame({"Butyrate": rng.lognormal(3, 0.4, 50), "Acetate": rng.lognormal(4, 0.3, 50)},
                       index=ad.obs_names)
    return gb.io.attach_metabolites(ad, mtb)


def test_heatmap_and_boxplot_are_deterministic():
    ad = _ad()
    gb.tl.metabolite_associations(ad)
    a = fig_to_svg(gb.pl.metabolite_heatmap(ad, n_taxa=10).figure)
    b = fig_to_svg(gb.pl.metabolite_heatmap(ad, n_taxa=10).figure)
    assert a == b and a.startswith("<svg")
    ax = gb.pl.metabolite_boxplot(ad, groupby="group")
    assert ax.get_yscale() == "log"
    with pytest.raises(DataValueError, match="none of the given taxa"):
        gb.pl.metabolite_heatmap(ad, taxa=["Nope"])


def test_predicted_vs_observed_and_validation():
    ad = _ad()
    with pytest.raises(DataValueError, match="predict_metabolite"):
        gb.pl.predicted_vs_observed(ad)
    res = gb.ml.predict_metabolite(ad, target="Butyrate", models=("ridge",), n_boot=50, evidence=False)
    ax = gb.pl.predicted_vs_observed(res)
    assert "out of fold" in ax.get_xlabel()
    ax2 = gb.pl.predicted_vs_observed(ad)
    assert len(ax2.collections) == len(ax.collections)
    ax3 = gb.pl.butyrate_validation()
    assert "[RODENT]" in " ".join(t.get_text() for t in ax3.get_yticklabels())
