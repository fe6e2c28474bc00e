"""The evidence step and report section of gutbrain run."""

from __future__ import annotations

import numpy as np
import pandas as pd

import gutbrain as gb
from gutbrain._core import new_adata
from gutbrain.report import SECTIONS
from gutbrain.workflow import RunConfig, _pipeline
from gutbrain.workflow import _steps as steps


def _adata(genera, means, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(np.asarray(means, dtype=float), size=(6, len(genera)))
    var = pd.DataFrame({"genus": genera})
    obs = pd.DataFrame({"group": ["a", "a", "a", "b", "b", "b"]})
    return new_adata(X, obs_names=[f"s{i}" for i in range(6)], var_names=[f"f{i}" for i in range(len(genera))],
                     unit="counts", reader="test", var=var, obs=obs)


def _config(ad):
    return RunConfig.create(group="group").resolve(ad)[1]


def _hits(taxa, q):
    return pd.DataFrame({"feature": taxa, "value": "b", "direction": "higher", "coef": 1.0, "qval": q,
                         "n_called": 2, "called_by": "maaslin3;linda", "replicability": 1.0})


def test_evidence_follows_da_in_the_run_and_the_report():
    keys = [s.key for s in _pipeline.STEPS]
    assert keys.index("diff_abundance") < keys.index("evidence") < keys.index("resemblance")
    sections = [k for k, _ in SECTIONS]
    assert sections.index("diff_abundance") < sections.index("evidence") < sections.index("resemblance")


def test_step_annotates_the_group_hits_only(kbdir):
    ad = _adata(["Butyricimonas", "Faecalibacterium"], [10, 10])
    cfg = _config(ad)
    ad.uns["diff_abundance"] = {"group_hits": _hits(["Faecalibacterium", "Butyricimonas", "Blautia"],
                                                    [0.04, 0.01, 0.03])}
    steps.evidence(ad, cfg)
    ev = ad.uns["evidence"]
    assert ev["params"]["rule"] == "consensus hits for group"
    assert list(ev["params"]["taxa"]) == ["Butyricimonas", "Blautia", "Faecalibacterium"]  # best q first
    sec = dict(SECTIONS)["evidence"](ad, {})
    text = "\n".join(sec.paragraphs)
    assert "In rats (animal model, Rattus norvegicus" in text and "Butyricimonas was lower" in text
    assert any(c.endswith("doi:10.1186/s13041-021-00765-y") for c in sec.citations)
    gb.kb.flag("chen2021-04", reason="test dispute")
    steps.evidence(ad, cfg)
    sec = dict(SECTIONS)["evidence"](ad, {})
    assert any(p.startswith("[disputed] In rats") and "Blautia" in p for p in sec.paragraphs)


def test_step_skipped_without_group_hits(kbdir):
    import pytest

    ad = _adata(["Butyricimonas"], [10])
    ad.uns["diff_abundance"] = {"group_hits": _hits([], [])}
    with pytest.raises(steps.StepSkipped, match="no taxon differs"):
        steps.evidence(ad, _config(ad))
    assert "evidence" not in ad.uns


def _crc_da():
    from tests.conftest import shared_path

    q = pd.read_csv(shared_path("data", "microbiomehd_reference_results", "file-S1.qvalues.txt"),
                    sep="\t", index_col=0)["crc_baxter"].dropna()
    return pd.DataFrame({"feature": q.index, "coef": q.to_numpy(), "qval": q.abs().to_numpy()})


def test_resemblance_section_renders_links_and_escapes(kbdir, tmp_path):
    from gutbrain._registry import Link
    from gutbrain.report import collect_sections, render, write_tables
    from gutbrain.report._build import BuiltSection

    da = _crc_da()
    ad = _adata(["Fusobacterium", "Roseburia"], [10, 10])
    ad.uns["diff_abundance"] = {"results": da}
    sec = gb.kb.resemblance_section(ad)
    assert sec.title == "Published conditions this cohort resembles"
    conds, taxa = sec.tables[0][1], sec.tables[1][1]
    assert conds["condition"].iloc[0] == "Colorectal cancer"
    assert {"concordant", "discordant", "pval", "qval"} <= set(conds.columns)
    fuso = taxa[taxa["taxon"] == "Fusobacterium"].iloc[0]
    assert fuso["cohort_direction"] == "up" and fuso["published_direction"] == "up"
    links = fuso["agreeing_studies"]
    assert len(links) >= 10 and all(isinstance(x, Link) for x in links)
    assert all(x.url.startswith(("https://pubmed.ncbi.nlm.nih.gov/", "https://doi.org/",
                                 "https://bugsigdb.org/")) for x in links)
    assert any("CC BY 4.0" in c and "10.1038/s41587-023-01872-y" in c for c in sec.citations)
    # rendered: anchors for links, imported text escaped
    conds.loc[0, "discordant_taxa"] = "<script>alert(1)</script>"
    built = [BuiltSection("resemblance", 81, sec)]
    from gutbrain.report._build import table_names

    table_names(built)
    html = render(ad, built, generated_at="2024-01-01T00:00:00+00:00")
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    paths = write_tables(built, tmp_path)
    text = paths[1].read_text(encoding="utf-8")
    assert "<https://pubmed.ncbi.nlm.nih.gov/" in text and "Link(" not in text
    assert collect_sections  # the section is not registered: gutbrain run is wired elsewhere


def test_evidence_summary_counts_studies_by_direction(kbdir):
    s = gb.kb.evidence_summary("Akkermansia")
    tab = s["table"]
    pdz = tab[(tab["condition"] == "Parkinson's disease") & (tab["host_class"] == "unknown")].iloc[0]
    q = gb.kb.query("Akkermansia")
    q = q[(q["condition"] == "Parkinson's disease") & (q["taxon"] == "Akkermansia")]
    assert pdz["studies_up"] == q.loc[q["direction"] == "increased", "pub_id"].nunique()
    assert pdz["studies_down"] == q.loc[q["direction"] == "decreased", "pub_id"].nunique()
    assert pdz["studies_up"] > pdz["studies_down"]  # Akkermansia is reported up in PD
    assert s["text"].startswith("Akkermansia: ") and "host not recorded" in s["text"]
    assert all(x.url for x in pdz["sources"])
