"""`gutbrain inspect` on every real shared dataset named in issue 2 prints the right counts.

Counts are those asserted by the reader tests (tests/io/*), which compare the readers with
biom-format and pandas; SOURCE.txt deviations are explained there (kang2017 has an extra
"Unclassified" column; mars2020's header has 2,895 distinct genera; the PICRUSt2 KO table 149 samples).
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gutbrain.cli import app
from tests.conftest import shared_path

runner = CliRunner()

CASES = [
    # (path under ../shared/data, extra CLI options, samples, features, detected format)
    ("americangut2014_migraine_selfreport_16s/AG_100nt_even10k.biom.gz", [], 1962, 19236, "biom"),
    ("qiime2_artifacts/chardonnay.table.qza", [], 82, 281, "qiime2"),
    ("qiime2_artifacts/table-ancombc.qza", [], 34, 770, "qiime2"),
    ("giloteaux2016_mecfs_16s/feature_table.tsv",
     ["--taxonomy", "giloteaux2016_mecfs_16s/taxonomy_table_features.tsv",
      "--metadata", "giloteaux2016_mecfs_16s/sample-metadata.tsv"], 87, 138, "table"),
    ("kang2017_autism_16s/genera.counts.tsv", [], 44, 321, "table"),
    ("mars2020_ibs_longitudinal/genera.counts.tsv.gz", [], 444, 2895, "table"),
    ("dnbs_fmt_visceral_pain_rodent/genus_table_from_dada2.csv", [], 149, 476, "table"),
    ("zhu2020_schizophrenia_metagenome/counts.tsv", [], 171, 162, "table"),
    ("ferreiro2023_preclinical_alzheimers/species_relabund_filtered.tsv", [], 164, 115, "metaphlan"),
    ("gmwi2_wellness_index/example_SRR1761667_metaphlan.txt", [], 1, 54, "metaphlan"),
    ("gmhi2020_health_index/species_relative_abundances.csv", [], 25, 576, "table"),
    ("mlrepo_knights_subset/gevers__refseq__taxatable.txt.gz", [], 1358, 992, "table"),
]


@pytest.mark.parametrize(("rel", "opts", "n_samples", "n_features", "fmt"), CASES,
                         ids=[c[0].split("/")[0] for c in CASES])
def test_inspect_shared_dataset_counts(rel, opts, n_samples, n_features, fmt):
    path = shared_path("data", *rel.split("/"))
    args = ["inspect", str(path), "--json"]
    for opt in opts:
        args.append(str(shared_path("data", *opt.split("/"))) if "/" in opt else opt)
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["samples"] == n_samples
    assert info["features"] == n_features
    assert info["format"].startswith(fmt), info["format"]
    text = runner.invoke(app, ["inspect", str(path)])
    assert text.exit_code == 0
    assert str(n_samples) in text.output and str(n_features) in text.output


def test_inspect_through_a_symlink_reports_the_detected_format(tmp_path):
    """A table reached through a symbolic link keeps the reader's format and provenance."""
    target = shared_path("data", "kang2017_autism_16s", "genera.counts.tsv")
    link = tmp_path / "linked.counts.tsv"
    link.symlink_to(target)
    r = runner.invoke(app, ["inspect", str(link), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["format"] == "table"
    assert (info["samples"], info["features"]) == (44, 321)
