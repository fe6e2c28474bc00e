"""The ``gutbrain run`` DA step/section on the demo cohort, and the DA plots."""

from __future__ import annotations

import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._errors import DataValueError
from gutbrain._registry import SECTIONS, STEPS


def test_step_and_section_on_demo_cohort() -> None:
    assert STEPS["diff_abundance"][0] == 70 and SECTIONS["diff_abundance"][0] == 70
    adata = gb.datasets.demo_cohort(seed=0)
    STEPS["diff_abundance"][1](adata, {"group": "group", "seed": 0, "rank": "genus"})
    sec = SECTIONS["diff_abundance"][1](adata, {"config": {"group": "group"}})
    info = adata.uns["diff_abundance"]
    res = info["results"]
    assert isinstance(res, pd.DataFrame) and {"feature", "qval", "coef"} <= set(res.columns)
    assert info["params"]["formula"].startswith("~ group")
    assert info["params"]["reference"] == "control"
    cons = info["consensus"]
    assert cons["value"].iloc[0] == "chronic_pain"
    assert sec is not None and len(sec.figures) == 3 and sec.tables


def test_step_skips_without_group() -> None:
    adata = gb.datasets.demo_cohort(seed=0)
    STEPS["diff_abundance"][1](adata, {"group": None, "seed": 0})
    assert "diff_abundance" not in adata.uns


def test_plots_need_results() -> None:
    adata = gb.datasets.demo_cohort(seed=0)
    with pytest.raises(DataValueError):
        gb.pl.da_volcano(adata)
    gb.tl.diff_abundance(adata, formula="~ group + age")
    ax = gb.pl.da_volcano(adata)
    assert ax.get_xlabel().startswith("coefficient")
    ax = gb.pl.da_forest(adata, n_top=5)
    assert len(ax.get_yticklabels()) == 5
    with pytest.raises(DataValueError, match="consensus"):
        gb.pl.consensus_heatmap(adata)
