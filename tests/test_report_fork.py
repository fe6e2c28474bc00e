"""The report's forked helper: same report as drawing everything here, and safe fallbacks.

``collect_sections`` draws the sections named in ``_fork.FORKED_SECTIONS`` in a forked helper
process (Linux, two cores, no other Python thread).  The result must not depend on it: same
sections, same figures, same tables, same warnings; a helper that fails, dies or hangs is
replaced by drawing its sections here.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

import gutbrain as gb
from gutbrain._errors import StepFailedWarning
from gutbrain._registry import Section
from gutbrain.report import _fork, collect_sections, render
from gutbrain.report._common import add_figure, named

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper is forked (Linux only)")
PARENT = os.getpid()
STAMP = "2026-01-01T00:00:00+00:00"


def _drawing_section(key: str, n: int):
    def fn(adata, context):
        sec = Section(key=key, title=f"section {key}")
        rng = np.random.default_rng(n)

        def draw():
            fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
            ax.plot(rng.normal(size=20))
            ax.set_title(f"{key} {n}")
            return fig

        add_figure(sec, draw, f"figure of {key}", key)
        sec.tables.append(("numbers", named(adata.obs[["x"]].assign(y=n), f"table_{key}")))
        sec.paragraphs.append(f"mean x = {adata.obs['x'].mean():.6f}")
        return sec
    return fn


@pytest.fixture()
def adata():
    ad = gb.datasets.demo_cohort(seed=3, n_samples=12, n_genera=10)
    ad.obs["x"] = np.arange(ad.n_obs, dtype=float)
    return ad


def _sections(**special):
    keys = ["qc", "gut_brain_indices", "composition", "simulation", "provenance"]
    return [(k, special.get(k, _drawing_section(k, i))) for i, k in enumerate(keys)]


def _same(a, b):
    assert [(x.key, x.order, x.error) for x in a] == [(x.key, x.order, x.error) for x in b]
    for x, y in zip(a, b, strict=True):
        if x.section is None:
            assert y.section is None
            continue
        assert x.section.paragraphs == y.section.paragraphs
        assert [f.svg for f in x.section.figures] == [f.svg for f in y.section.figures]
        assert len(x.section.tables) == len(y.section.tables)
        for (ca, ta), (cb, tb) in zip(x.section.tables, y.section.tables, strict=True):
            assert ca == cb and ta.attrs == tb.attrs
            assert ta.equals(tb)


def test_forked_report_equals_the_one_drawn_here(adata):
    pids = {}

    def where(adata, context):
        pids["simulation"] = os.getpid()
        return _drawing_section("simulation", 3)(adata, context)

    here = collect_sections(adata, {}, _sections(), fork=False)
    forked = collect_sections(adata, {}, _sections(simulation=where), fork=True)
    _same(here, forked)
    assert "simulation" not in pids  # it ran in the helper: this process never called it
    assert render(adata, here, generated_at=STAMP) == render(adata, forked, generated_at=STAMP)


@pytest.mark.filterwarnings("ignore:drawn with a caveat:UserWarning")
def test_a_failing_section_in_the_helper_is_an_error_box_and_a_warning_here(adata):
    def broken(adata, context):
        warnings.warn("drawn with a caveat", UserWarning, stacklevel=1)
        raise ValueError("no simulation results")

    sections = _sections(simulation=broken)
    with pytest.warns(StepFailedWarning, match="simulation") as rec:
        forked = collect_sections(adata, {}, sections, fork=True)
    assert any("drawn with a caveat" in str(w.message) for w in rec)
    with pytest.warns(StepFailedWarning):
        here = collect_sections(adata, {}, sections, fork=False)
    _same(here, forked)
    assert forked[3].key == "simulation" and forked[3].error.startswith("ValueError: no simulation results")


def test_a_helper_that_dies_is_replaced_by_drawing_here(adata):
    def dies_in_helper(adata, context):
        if os.getpid() != PARENT:
            os._exit(9)
        return _drawing_section("simulation", 3)(adata, context)

    forked = collect_sections(adata, {}, _sections(simulation=dies_in_helper), fork=True)
    _same(collect_sections(adata, {}, _sections(), fork=False), forked)


def test_a_helper_that_hangs_is_killed_and_replaced(adata, monkeypatch):
    monkeypatch.setattr(_fork, "TIMEOUT", 1.0)

    def hangs_in_helper(adata, context):
        if os.getpid() != PARENT:
            time.sleep(600)
        return _drawing_section("gut_brain_indices", 1)(adata, context)

    helpers = []
    fork = os.fork

    def recording_fork():
        pid = fork()
        if pid:
            helpers.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    t0 = time.monotonic()
    forked = collect_sections(adata, {}, _sections(gut_brain_indices=hangs_in_helper), fork=True)
    assert time.monotonic() - t0 < 30
    monkeypatch.undo()
    _same(collect_sections(adata, {}, _sections(), fork=False), forked)
    assert len(helpers) == 1
    with pytest.raises(ChildProcessError):  # killed and reaped: no helper left behind
        os.waitpid(helpers[0], os.WNOHANG)


def test_not_used_beside_another_thread_or_when_switched_off(monkeypatch):
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not _fork.fork_allowed()  # e.g. the web app's worker, a live progress bar
    finally:
        stop.set()
        other.join()
    monkeypatch.setenv(_fork.ENV, "0")
    assert not _fork.fork_allowed()


@pytest.mark.slow  # one workflow run (~10 s on a busy machine)
def test_real_sections_same_with_and_without_the_helper(tmp_path, monkeypatch):
    monkeypatch.setenv(_fork.ENV, "0")
    cohort = gb.datasets.demo_cohort(seed=5, n_samples=30, n_genera=30)
    ad = gb.workflow.run(cohort, group="group", out=tmp_path / "run", progress=False, generated_at=STAMP)
    ctx = {"generated_at": STAMP, "tables_dir": "tables", "timings": False}
    here = collect_sections(ad, ctx, fork=False)
    forked = collect_sections(ad, ctx, fork=True)
    assert {b.key for b in forked} >= {"gut_brain_indices", "simulation"}
    _same(here, forked)
    assert render(ad, here, generated_at=STAMP) == render(ad, forked, generated_at=STAMP)
