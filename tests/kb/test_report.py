"""The evidence step and report section of gutbrain run."""

from __future__ import annotations

import numpy as np
import pandas as pd

import gutbrain as gb
from gutbrain._core import new_adata
from gutbrain._registry import SECTIONS, STEPS


def _adata(genera, means, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(np.asarray(means, dtype=float), size=(6, len(genera)))
    var = pd.DataFrame({"genus": genera})
    return new_adata(X, obs_names=[f"s{i}" for i in range(6)], var_names=[f"f{i}" for i in range(len(genera))],
                     unit="counts", reader="test", var=var)


def test_registered_at_order_80():
    assert STEPS["evidence"][0] == 80 and SECTIONS["evidence"][0] == 80


def test_step_uses_abundant_genera_then_section(kbdir):
    ad = _adata(["Butyricimonas", "Unknownia", "Faecalibacterium", "Lactobacillus", ""],
                [50, 500, 300, 5, 100])
    STEPS["evidence"][1](ad, {"seed": 0})
    ev = ad.uns["evidence"]
    assert ev["params"]["rule"].startswith("most abundant genera")
    ann = ev["annotations"]
    # ranked by mean relative abundance, genera without evidence skipped
    assert list(ann["taxon"]) == ["Faecalibacterium", "Butyricimonas", "Lactobacillus"]
    sec = SECTIONS["evidence"][1](ad, {"config": {}})
    text = "\n".join(sec.paragraphs)
    assert "In rats (animal model, Rattus norvegicus" in text and "Butyricimonas was lower" in text
    assert any(c.endswith("doi:10.1186/s13041-021-00765-y") for c in sec.citations)
    assert sec.tables and sec.order == 80


def test_step_prefers_da_hits(kbdir):
    ad = _adata(["Butyricimonas", "Faecalibacterium"], [10, 10])
    ad.uns["diff_abundance"] = {"results": pd.DataFrame(
        {"taxon": ["Faecalibacterium", "Butyricimonas", "Blautia"], "q_value": [0.5, 0.01, 0.05]})}
    STEPS["evidence"][1](ad, {"seed": 0})
    assert list(ad.uns["evidence"]["annotations"]["taxon"]) == ["Butyricimonas", "Blautia"]
    gb.kb.flag("chen2021-04", reason="test dispute")
    STEPS["evidence"][1](ad, {"seed": 0})
    sec = SECTIONS["evidence"][1](ad, {"config": {}})
    assert any(p.startswith("[disputed] In rats") and "Blautia" in p for p in sec.paragraphs)
