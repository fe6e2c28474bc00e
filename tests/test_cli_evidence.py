"""`gutbrain evidence`: the done-when checks, imports, flag and export."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gutbrain.cli import app
from tests.conftest import shared_path

runner = CliRunner()


@pytest.fixture
def kbdir(tmp_path, monkeypatch):
    """A fresh user evidence directory."""
    d = tmp_path / "kb"
    monkeypatch.setenv("GUTBRAIN_KB_DIR", str(d))
    return d


def _json(args):
    r = runner.invoke(app, ["evidence", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_butyricimonas_cci_rat_finding(kbdir):
    rows = _json(["Butyricimonas"])
    chen = [r for r in rows if r["doi"] == "10.1186/s13041-021-00765-y"]
    assert len(chen) == 1
    r = chen[0]
    assert r["host"] == "Rattus norvegicus" and r["evidence_level"] == "animal_model"
    assert r["direction"] == "decreased" and "chronic constriction injury" in r["condition"]
    assert {"taxon", "condition", "direction", "host", "evidence_level", "doi"} <= set(r)
    # the same study's contrary finding travels with it
    assert "Lactobacillus increased" in r["same_study"]


def test_lactobacillus_increased_also_via_new_genus(kbdir):
    lac = [r for r in _json(["Lactobacillus"]) if r["doi"] == "10.1186/s13041-021-00765-y"]
    assert [(r["direction"], r["host"], r["match"]) for r in lac] == [("increased", "Rattus norvegicus", "exact")]
    limo = [r for r in _json(["Limosilactobacillus"]) if r["doi"] == "10.1186/s13041-021-00765-y"]
    assert [(r["taxon"], r["direction"], r["match"]) for r in limo] == [("Lactobacillus", "increased", "pre-2020 genus")]
    assert _json(["Lactobacillus", "--host", "human"]) == []
    assert len(_json(["Butyricimonas", "--condition", "neuropathic pain"])) == 1


def test_import_flag_export(kbdir, tmp_path):
    dump = shared_path("evidence", "bugsigdb", "full_dump_head.csv")
    r = runner.invoke(app, ["evidence", "import", "bugsigdb", str(dump)])
    assert r.exit_code == 0 and "imported 77 observation rows" in r.output
    assert "skipped 9: no direction (Abundance in Group 1 is NA)" in r.output
    r = runner.invoke(app, ["evidence", "import", "nosuch", str(dump)])
    assert r.exit_code == 2 and "usage: gutbrain evidence import" in r.output
    r = runner.invoke(app, ["evidence", "flag", "chen2021-09", "--reason", "genus call unclear"])
    assert r.exit_code == 0 and "disputed" in r.output
    r = runner.invoke(app, ["evidence", "flag", "no-such-row", "--reason", "x"])
    assert r.exit_code == 2 and "no evidence row" in r.output
    rows = _json(["Butyricimonas"])
    assert next(x for x in rows if x["obs_id"] == "chen2021-09")["disputed"] is True
    out = tmp_path / "export"
    r = runner.invoke(app, ["evidence", "export", str(out)])
    assert r.exit_code == 0
    bib = json.loads((out / "bibliography.json").read_text())
    ids = {b["id"] for b in bib}
    assert "chen2021" in ids and any(b.get("DOI") == "10.21767/2476-1974.100036" for b in bib)
    obs = (out / "observation.tsv").read_text().splitlines()
    header = obs[0].split("\t")
    # curated 28 + shipped BugSigDB 31,001 - the shipped rows of the 13 imported signatures + 77
    import gutbrain as gb

    kb = gb.kb.load()
    sigs = kb.sql("SELECT sig_id FROM signature WHERE source_id LIKE 'bugsigdb:%'")["sig_id"]
    base = gb.kb.load(overlay=False)
    replaced = base.sql(f"SELECT COUNT(*) n FROM observation WHERE experiment IN "
                        f"({','.join('?' * len(sigs))})", list(sigs))["n"].item()
    assert len(sigs) == 13 and replaced > 0
    assert "disputed" in header and len(obs) == 1 + 28 + 31001 - replaced + 77
    chen = next(line.split("\t") for line in obs if line.startswith("chen2021-09\t"))
    assert chen[header.index("disputed")] == "1"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files


def test_enrich_command_writes_the_table(kbdir, tmp_path):
    import pandas as pd

    q = pd.read_csv(shared_path("data", "microbiomehd_reference_results", "file-S1.qvalues.txt"),
                    sep="\t", index_col=0)["hiv_lozupone"].dropna()
    da = pd.DataFrame({"feature": q.index, "metadata": "hiv", "value": "HIV", "coef": q.to_numpy(),
                       "qval": q.abs().to_numpy()})
    path = tmp_path / "DA.tsv"
    da.to_csv(path, sep="\t", index=False)
    out = tmp_path / "E.tsv"
    r = runner.invoke(app, ["evidence", "enrich", str(path), "--term", "hiv", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "HIV infection" in r.output
    e = pd.read_csv(out, sep="\t")
    assert list(e.columns[:11]) == ["condition", "signatures", "studies", "taxa", "concordant",
                                    "discordant", "concordance", "score", "expected_score", "pval",
                                    "qval"]
    assert e["condition"].iloc[0] == "HIV infection"
    assert e["qval"].dropna().is_monotonic_increasing
    taxa = pd.read_csv(tmp_path / "E.taxa.tsv", sep="\t")
    assert {"taxon", "cohort_direction", "published_direction", "agreeing_studies"} <= set(taxa.columns)
    r = runner.invoke(app, ["evidence", "enrich", str(path), "--term", "nosuch", "--out", str(out)])
    assert r.exit_code == 2 and "no rows for term 'nosuch'" in r.output
    missing = tmp_path / "none.tsv"
    r = runner.invoke(app, ["evidence", "enrich", str(missing), "--out", str(out)])
    assert r.exit_code == 2 and "none.tsv" in r.output
