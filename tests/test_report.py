"""The HTML report: self-contained, deterministic, robust to failing sections; golden file.

The report has one small inline script (sortable/filterable tables) and loads nothing from
the network; ``tests/test_report_browser.py`` checks it in Chromium.

Update the golden file with ``GUTBRAIN_UPDATE_GOLDEN=1 pytest tests/test_report.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import gutbrain as gb
from gutbrain.report import SECTIONS
from gutbrain.report._build import autolink, format_cell, format_number
from gutbrain.tl import composition_summary, qc_metrics

GOLDEN = Path(__file__).parent / "golden" / "report_demo_core.html"
STAMP = "2024-01-01T00:00:00+00:00"
CORE = ("qc", "composition", "provenance")


@pytest.fixture(scope="module")
def demo():
    adata = gb.datasets.demo_cohort(seed=0, n_samples=80, n_genera=120)
    qc_metrics(adata)
    composition_summary(adata, rank="genus", groupby="group", top=10)
    return adata


CORE_SECTIONS = tuple(s for s in SECTIONS if s[0] in CORE)


@pytest.fixture(scope="module")
def core_html(demo, tmp_path_factory):
    """The demo report built once with the core sections only."""
    path = gb.report.build(
        demo, tmp_path_factory.mktemp("core") / "r.html", generated_at=STAMP,
        context={"seed": 7}, sections=CORE_SECTIONS,
    )
    return path.read_text(encoding="utf-8")


def _section(html: str, key: str) -> str:
    m = re.search(rf"<!-- section:{key} -->.*?<!-- /section:{key} -->", html, flags=re.S)
    assert m, f"section {key} missing"
    return m.group(0)


def _strip_svg(text: str) -> str:
    # figure SVG depends on the matplotlib version: compare it by determinism, not golden
    return re.sub(r"<svg.*?</svg>", "<svg/>", text, flags=re.S)


def test_report_is_self_contained_and_labelled(core_html):
    html = core_html
    assert html.startswith("<!DOCTYPE html>")
    assert "SYNTHETIC DATA" in html
    assert "Research software; not medical advice; does not recommend treatments" in html
    # no external resources: one inline script, no <link>, nothing loaded from a URL
    assert html.count("<script") == 1 and "<script src" not in html and "<link" not in html
    assert not re.search(r"""src=["']https?:""", html)
    assert "@import" not in html and "fetch(" not in html and "XMLHttpRequest" not in html
    # table of contents in registry order, one entry per section
    toc = re.findall(r'<li><a href="#sec-([a-z_]+)">', html)
    assert toc == ["qc", "composition", "provenance"]
    assert html.count("<svg") == 4  # depth, prevalence, composition per group and per sample
    assert STAMP in html


def test_report_numbers_match_data(demo, core_html):
    html = core_html
    X = demo.X.toarray() if sp.issparse(demo.X) else np.asarray(demo.X)
    depth = X.sum(axis=1)
    qc = _section(html, "qc")
    assert f"median {format_number(np.median(depth))})" in qc
    assert f"from {format_number(depth.min())} to {format_number(depth.max())} reads" in qc
    zeros = 100 * (X == 0).mean()
    assert f"{zeros:.1f} % of the entries are zero" in qc
    # two planted failed libraries are flagged by name
    low = demo.obs_names[depth < 1000]
    assert len(low) == 2 and all(s in qc for s in low)
    # capped table: 25 of 80 rows shown, the full table named
    assert "Showing 25 of 80 rows." in qc
    # composition: the top genus and its mean relative abundance (in %)
    rel = X / depth[:, None]
    j = int(np.argmax(rel.mean(0)))
    comp = _section(html, "composition")
    top = demo.var_names[j]
    assert f"{top} ({100 * rel.mean(0)[j]:.1f} %)" in comp


def test_byte_identical_with_pinned_timestamp(demo, tmp_path, core_html):
    a = gb.report.build(
        demo, tmp_path / "a.html", generated_at=STAMP, context={"seed": 7}, sections=CORE_SECTIONS,
    ).read_bytes()
    assert a == core_html.encode("utf-8")  # figures included


def test_failing_section_becomes_error_box(demo, tmp_path):
    def broken(adata, context):
        raise RuntimeError("boom in section")

    sections = (*CORE_SECTIONS[:2], ("zz_broken", broken), *CORE_SECTIONS[2:])
    with pytest.warns(RuntimeWarning, match="zz_broken"):
        html = gb.report.build(demo, tmp_path / "r.html", generated_at=STAMP, sections=sections).read_text()
    box = _section(html, "zz_broken")
    assert "could not be built: RuntimeError: boom in section" in box
    # sections after it still render
    assert "<!-- section:provenance -->" in html


def test_provenance_section_lists_versions_seed_and_effects(core_html):
    prov = _section(core_html, "provenance")
    assert f"<td>gutbrain</td><td>{gb.__version__}</td>" in prov
    assert "Random seed: 7." in prov
    assert "Planted effects of the synthetic cohort" in prov
    assert "doi:10.3389/fimmu.2024.1342833" in prov
    assert "No input files" in prov


def test_format_number():
    assert format_number(32380.5) == "32380.5"
    assert format_number(3.0) == "3"
    assert format_number(0.123456) == "0.1235"
    assert format_number(2.5e-5) == "2.500e-05"
    assert format_number(float("nan")) == ""


def test_cells_never_show_none_or_nan_and_dois_become_links():
    for missing in (None, float("nan"), "None", "nan", "NaN", "<NA>", [], ()):
        assert str(format_cell(missing)[0]) == ""
    text, is_num = format_cell("Chen P et al. 2021 doi:10.1186/s13041-021-00765-y")
    assert not is_num and '<a href="https://doi.org/10.1186/s13041-021-00765-y">' in str(text)
    assert str(autolink("PMID 31234567")) == '<a href="https://pubmed.ncbi.nlm.nih.gov/31234567/">PMID 31234567</a>'
    # imported text stays escaped
    assert "&lt;script&gt;" in str(autolink("<script>alert(1)</script> doi:10.1/x"))


def test_golden_core_sections(core_html):
    html = core_html
    got = "\n".join(_strip_svg(_section(html, key)) for key in ("qc", "composition")) + "\n"
    if os.environ.get("GUTBRAIN_UPDATE_GOLDEN") == "1" or not GOLDEN.exists():
        if os.environ.get("GUTBRAIN_UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {GOLDEN} missing; create it with GUTBRAIN_UPDATE_GOLDEN=1")
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(got, encoding="utf-8")
    assert got == GOLDEN.read_text(encoding="utf-8")


def test_design_section_reads_parameters_back_from_h5ad(tmp_path):
    # Lists stored in uns come back from h5ad as NumPy arrays; an empty one has no truth
    # value, and the design section once raised on it (e.g. a run without covariates).
    from anndata import AnnData, read_h5ad

    from gutbrain.report._common import plain
    from gutbrain.report._sections_design import design_section

    assert plain(np.array([], dtype=object)) == [] and plain(np.array(["age"], dtype=object)) == ["age"]
    assert plain({"k": np.array([1, 2]), "s": np.float64(0.5), "t": "age"}) == {"k": [1, 2], "s": 0.5, "t": "age"}
    ad = AnnData(np.ones((3, 2)))
    ad.uns["workflow"] = {
        "params": {"model_formula": "~ group", "covariates": [], "subject": "", "where": ""},
    }
    path = tmp_path / "run.h5ad"
    ad.write_h5ad(path)
    back = read_h5ad(path)
    assert isinstance(back.uns["workflow"]["params"]["covariates"], np.ndarray)
    section = design_section(back, {})
    assert section is not None
    assert "no covariates" in repr(section)
