"""The ``gutbrain run`` DA step/section on the demo cohort, and the DA plots."""

from __future__ import annotations

import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._errors import DataValueError
from gutbrain.report import SECTIONS
from gutbrain.workflow import RunConfig
from gutbrain.workflow import _steps as steps


def test_step_and_section_on_demo_cohort() -> None:
    adata = gb.datasets.demo_cohort(seed=0)
    adata, cfg = RunConfig.create(group="group", covariates="age").resolve(adata)
    steps.diff_abundance(adata, cfg)
    sec = dict(SECTIONS)["diff_abundance"](adata, {})
    info = adata.uns["diff_abundance"]
    res = info["results"]
    assert isinstance(res, pd.DataFrame) and {"feature", "qval", "coef"} <= set(res.columns)
    assert info["params"]["formula"] == "~ group + age"
    assert info["params"]["reference"] == "control"
    cons = info["consensus"]
    assert set(cons["value"]) == {"chronic_pain"}
    # group hits are consensus calls on the group term only
    hits = info["group_hits"]
    called = cons[cons["consensus"].astype(bool)]
    assert set(hits["feature"]) == set(called["feature"])
    assert sec is not None and sec.figures and sec.tables


def test_step_skips_without_group() -> None:
    adata = gb.datasets.demo_cohort(seed=0)
    adata, cfg = RunConfig.create().resolve(adata)
    with pytest.raises(steps.StepSkipped, match="no --group"):
        steps.diff_abundance(adata, cfg)
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
