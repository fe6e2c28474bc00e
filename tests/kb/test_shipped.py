"""The shipped BugSigDB evidence: every common genus has findings on a fresh install."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain.cli import app
from gutbrain.kb import _store
from gutbrain.kb._bugsigdb import parse_gmt, study_pmid
from gutbrain.kb._schema import _data_path, check_rows
from tests.conftest import shared_path

GENERA = ["Akkermansia", "Bacteroides", "Prevotella", "Ruminococcus", "Bifidobacterium",
          "Faecalibacterium", "Roseburia", "Lactobacillus", "Streptococcus", "Escherichia",
          "Blautia", "Alistipes"]


@pytest.mark.parametrize("genus", GENERA)
def test_fresh_install_has_50_traceable_findings(kbdir, genus):
    """Issue 11, done-when: >= 50 findings with condition, direction, source and host field."""
    assert not kbdir.exists()  # nothing imported
    r = CliRunner().invoke(app, ["evidence", genus, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    good = [x for x in rows if x["taxon"] == genus and x["condition"]
            and x["direction"] in ("increased", "decreased") and x["host"]
            and x["source_id"] and (x["link"] or x["record_url"])]
    assert len(good) >= 50
    bsdb = [x for x in good if x["source_id"] == "bugsigdb_shipped"]
    assert all(x["host"] == "not recorded" and x["host_class"] == "unknown" for x in bsdb)
    assert all(x["record_url"].startswith("https://bugsigdb.org/Study_") for x in bsdb)
    assert all(x["evidence_class"] == "association, host not recorded" for x in bsdb)


def test_shipped_rows_pass_the_schema_and_match_the_gmt(kbdir):
    frames = _store.shipped_frames(_store._read_base()[0])
    for t in ("publication", "taxon", "condition", "observation"):
        raw = frames[t].astype(object).where(frames[t].notna(), "")
        check_rows(t, [{k: str(v) for k, v in r.items()} for r in raw.to_dict("records")],
                   path=f"shipped {t}")
    obs = frames["observation"]
    assert len(obs) == 31001 and obs["obs_id"].is_unique
    assert set(obs["host_species"]) == {"not recorded"}
    assert set(obs["evidence_level"]) == {"association_host_not_recorded"}
    gmt = shared_path("evidence", "bugsigdb", "bugsigdb_signatures_genus_ncbi.gmt")
    records, _skipped = parse_gmt(gmt)
    want = {(r.sig_id, t) for r in records for t in r.members}
    got = set(zip(obs["experiment"], obs["obs_id"].str.rsplit(":", n=1).str[1].astype(int),
                  strict=True))
    assert got == want
    up = {r.sig_id for r in records if r.direction == "UP"}
    inc = set(obs.loc[obs["direction"] == "increased", "experiment"])
    assert inc == up  # UP = increased in group 1 relative to group 0


def test_names_and_families_from_ncbi(kbdir):
    gen = pd.read_csv(_data_path("bugsigdb") / "genera.tsv", sep="\t", dtype=str,
                      keep_default_na=False).set_index("ncbi_taxid")
    # NCBI Taxonomy: Faecalibacterium and Ruminococcus in Oscillospiraceae, Blautia and
    # Roseburia in Lachnospiraceae, Akkermansia in Akkermansiaceae
    assert gen.loc["216851", ["name", "family"]].tolist() == ["Faecalibacterium", "Oscillospiraceae"]
    assert gen.loc["1263", ["name", "family"]].tolist() == ["Ruminococcus", "Oscillospiraceae"]
    assert gen.loc["572511", "family"] == gen.loc["841", "family"] == "Lachnospiraceae"
    assert gen.loc["239934", "family"] == "Akkermansiaceae"
    named = gen[gen["name"] != ""]
    assert not named["name"].duplicated().any()  # one organism, one name
    assert (named["rank"] == "genus").all()
    kb = gb.kb.load()
    t = kb.sql("SELECT * FROM taxon WHERE ncbi_taxid=216851")
    assert t["taxon_id"].tolist() == ["g_Faecalibacterium"]  # the curated row, not a second one


def test_study_ids_are_pmids_only_when_they_are(kbdir):
    sig = pd.read_csv(_data_path("bugsigdb") / "signatures.tsv", sep="\t", dtype=str,
                      keep_default_na=False)
    small = sig[sig["study"].str.fullmatch(r"\d{1,6}")]
    assert len(small) > 0 and (small["pmid"] == "").all()
    big = sig[sig["study"].str.fullmatch(r"\d{7,}")]
    assert (big["pmid"] == big["study"]).all()
    # full_dump_head.csv: BugSigDB's own study numbers have PMID NA there
    path = shared_path("evidence", "bugsigdb", "full_dump_head.csv")
    rows = list(csv.DictReader(open(path, encoding="utf-8").read().split("\n", 1)[1].splitlines()))
    for r in rows:
        study = r["BSDB ID"][5:].split("/")[0]
        assert (study_pmid(study) is None) == (r["PMID"] == "NA")
    pub = gb.kb.load().sql("SELECT * FROM publication WHERE pub_id='bsdb:39'").iloc[0]
    assert pd.isna(pub["pmid"]) and pub["url"] == "https://bugsigdb.org/Study_39"


def test_rodent_findings_never_become_human(kbdir):
    kb = gb.kb.load()
    q = gb.kb.query("Butyricimonas", kb=kb)
    chen = q[q["pub_id"] == "chen2021"]
    assert chen[["host", "evidence_level"]].values.tolist() == [["Rattus norvegicus", "animal_model"]]
    human = gb.kb.query("Blautia", host="human", kb=kb)
    assert set(human["host"]) <= {"Homo sapiens"} and len(human) < 10
    assert not (gb.kb.query("Blautia", kb=kb)["host_class"] == "human").sum() > len(human)


def test_installed_size_budget():
    data = Path(_data_path("schema.tsv")).parent
    size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    assert size <= 10 * 1024 * 1024


def test_sources_list_licence_version_and_citation(kbdir):
    src = gb.kb.sources().set_index("source")
    b = src.loc["bugsigdb_shipped"]
    assert b["licence"] == "CC BY 4.0" and b["version"].startswith("2025-08-05")
    assert "doi:10.1038/s41587-023-01872-y" in b["citation"] and b["rows"] == 31001
    assert b["signatures"] == 6307
    r = CliRunner().invoke(app, ["evidence", "--sources"])
    assert r.exit_code == 0 and "Geistlinger" in r.output and "CC BY 4.0" in r.output
    r2 = CliRunner().invoke(app, ["evidence", "sources"])
    assert r2.output == r.output
