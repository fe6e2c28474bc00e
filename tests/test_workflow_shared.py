"""``gutbrain run`` on real inputs (issue 13): a QIIME 2 tree artifact, American Gut's body
sites and missing answers, Mars et al.'s repeated samples of one subject.

The cohorts come from ``../shared/data`` (skipped with a reason when absent).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain import report
from gutbrain.workflow import RunConfig, _pipeline, load
from gutbrain.workflow import _steps as steps
from tests.conftest import shared_path
from tests.io.test_qiime2 import make_qza


def _only(monkeypatch, keys):
    monkeypatch.setattr(_pipeline, "STEPS", tuple(s for s in _pipeline.STEPS if s.key in keys))
    monkeypatch.setattr(report, "SECTIONS", tuple(s for s in report.SECTIONS
                                                  if s[0] in (*keys, "design", "provenance")))


def _caterpillar(names):
    """A rooted Newick tree over ``names`` with distinct branch lengths."""
    text = f"{names[0]}:0.1"
    for k, n in enumerate(names[1:], start=1):
        inner = f"({text},{n}:{0.05 + 0.01 * (k % 7)})"
        text = inner if k == len(names) - 1 else f"{inner}:{0.02 + 0.005 * (k % 3)}"
    return text + ";\n"  # the root has no branch length


def test_qza_tree_gives_unifrac_equal_to_scikit_bio(tmp_path, monkeypatch):
    from skbio.diversity import beta_diversity as skbio_beta
    from skbio.tree import TreeNode

    table = shared_path("data", "qiime2_artifacts", "chardonnay.table.qza")
    ad = gb.io.read(table)
    nwk = _caterpillar([str(v) for v in ad.var_names])
    tree = make_qza(tmp_path / "rooted-tree.qza", "Phylogeny[Rooted]", "NewickDirectoryFormat", {"tree.nwk": nwk})
    _only(monkeypatch, ("qc", "alpha_diversity", "beta_diversity"))
    out = gb.workflow.run(table, tree=tree, out=tmp_path / "o", progress=False)
    assert "unweighted_unifrac" in out.obsp and "faith_pd" in out.obs.columns
    X = out.X.toarray() if hasattr(out.X, "toarray") else np.asarray(out.X)
    ref = skbio_beta("unweighted_unifrac", X.astype(int), ids=list(out.obs_names),
                     taxa=list(out.var_names), tree=TreeNode.read(io.StringIO(nwk)))
    np.testing.assert_allclose(np.asarray(out.obsp["unweighted_unifrac"]), ref.data, rtol=1e-9, atol=1e-12)
    assert out.uns["gutbrain"]["inputs"]["tree"]["sha256"]
    soft = pd.read_csv(tmp_path / "o" / "tables" / "provenance_software.tsv", sep="\t").set_index("package")
    assert "phylogeny" in soft.loc["scikit-bio", "used by"]


def test_a_non_tree_artifact_as_tree_is_a_clear_error(tmp_path):
    table = shared_path("data", "qiime2_artifacts", "chardonnay.table.qza")
    with pytest.raises(gb.GutbrainError, match="not a phylogeny"):
        gb.workflow.run(table, tree=table, out=tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


#: Genera typical of the mouth, not of stool (Human Oral Microbiome Database core genera;
#: Dewhirst et al. 2010, doi:10.1128/JB.00542-10).
ORAL_GENERA = {"Streptococcus", "Veillonella", "Haemophilus", "Neisseria", "Rothia", "Porphyromonas",
               "Fusobacterium", "Actinomyces", "Gemella", "Granulicatella", "Leptotrichia",
               "Capnocytophaga", "Aggregatibacter", "Kingella", "Lautropia"}


def _american_gut(where=None):
    base = shared_path("data", "americangut2014_migraine_selfreport_16s")
    meta = base / "mapping_trimmed.tsv.gz"
    ad = load(base / "AG_100nt_even10k.biom.gz", metadata=meta)
    ad = gb.pp.collapse(ad, "genus")  # genus-level Bray–Curtis keeps the test fast
    ad, cfg = RunConfig.create(group="MIGRAINE", where=where).resolve(ad, metadata_path=meta)
    ad.uns["workflow"] = {"group": cfg.plan.as_dict(), "params": cfg.as_dict(),
                          "metadata_columns": [str(c) for c in ad.obs.columns if not str(c).startswith("qc_")]}
    return ad, cfg


@pytest.mark.slow
def test_american_gut_body_site_flagged_and_missing_answers_not_a_group():
    ad, cfg = _american_gut()
    plan = cfg.plan
    assert plan.levels == ("no", "yes") and plan.reference == "no"
    assert plan.n_missing > 0 and "nan" not in {str(v).lower() for v in ad.obs["MIGRAINE"].unique()}
    assert ad.n_obs == sum(plan.counts.values())
    gb.tl.beta_diversity(ad, metric="braycurtis")
    # a few variables keep the test fast; the run tests every metadata column
    ad.uns["workflow"]["metadata_columns"] = ["BODY_SITE", "SEX", "AGE", "BMI", "ANTIBIOTIC_SELECT",
                                              "DIET_TYPE"]
    steps.design_check(ad, cfg)
    tab = ad.uns["design_check"]["table"].set_index("variable")
    assert bool(tab.loc["BODY_SITE", "flagged"]), tab.loc["BODY_SITE"].to_dict()
    assert tab.loc["BODY_SITE", "permanova_r2"] > 0.1
    sec = dict(report.SECTIONS)["design"](ad, {})
    assert any(c.startswith("BODY_SITE explains") and "--where" in c for c in sec.callouts)
    assert any(f"{plan.n_missing} samples have no MIGRAINE value" in p for p in sec.paragraphs)


@pytest.mark.slow
def test_american_gut_faecal_samples_have_no_oral_hit():
    ad, cfg = _american_gut(where="BODY_SITE == 'UBERON:feces'")
    assert set(ad.obs["BODY_SITE"].astype(str)) == {"UBERON:feces"}
    assert cfg.as_dict()["n_filtered_out"] > 300
    steps.diff_abundance(ad, cfg)
    hits = set(ad.uns["diff_abundance"]["group_hits"]["feature"].astype(str))
    assert not hits & ORAL_GENERA, hits & ORAL_GENERA
    assert ad.uns["diff_abundance"]["params"]["primary"] == "maaslin3"


@pytest.mark.slow
def test_mars_ibs_runs_with_subject(tmp_path, monkeypatch):
    """444 samples of 75 people: random intercepts, grouped CV, PERMANOVA permuting whole subjects."""
    base = shared_path("data", "mars2020_ibs_longitudinal")
    _only(monkeypatch, ("qc", "beta_diversity", "design_check", "diff_abundance", "classifier"))
    ad = gb.workflow.run(base / "genera.counts.tsv.gz", metadata=base / "metadata.tsv", group="Study.Group",
                         reference=["Study.Group,H"], where="Study.Group != 'C'", subject="Subject",
                         covariates=["Gender"], out=tmp_path / "o", progress=False)
    params = ad.uns["gutbrain"]["params"]
    assert params["metadata_id_column"] == "Sample"  # ids are in the second column
    assert set(ad.obs["Study.Group"].astype(str)) == {"H", "D"} and ad.n_obs == 172 + 139
    da = ad.uns["diff_abundance"]["params"]
    assert da["formula"] == "~ Study.Group + Gender + (1|Subject)" and da["reference"] == "H"
    assert "wilcoxon" in da["left_out"] and da["primary"] == "maaslin3"
    perm = ad.uns["permanova"]["braycurtis"]["params"]
    assert perm["strata"] == "Subject" and perm["permutation_scheme"] == "between strata"
    clf = ad.uns["classifier"]["params"]
    assert clf["group_by"] == "Subject" and clf["group_rule"] == "--subject"
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "--subject Subject gives random intercepts" in html
