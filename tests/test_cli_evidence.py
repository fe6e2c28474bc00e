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
    assert r.exit_code == 0 and "imported 26 observation rows" in r.output
    assert "skipped 9: no DOI or PMID" in r.output
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
    assert "disputed" in header and len(obs) == 1 + 28 + 26
    chen = next(line.split("\t") for line in obs if line.startswith("chen2021-09\t"))
    assert chen[header.index("disputed")] == "1"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files
