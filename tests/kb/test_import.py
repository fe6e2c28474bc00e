"""Importers on the shared Disbiome / BugSigDB fixtures: counts, skip reasons, robustness."""

from __future__ import annotations

import csv
import io

import pytest

import gutbrain as gb
from gutbrain import InputFormatError
from tests.conftest import shared_path


def _disbiome_expected(path):
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    no_id = [r for r in rows if not r["pmid"].strip() and not r["doi"].strip()]
    rest = [r for r in rows if r["pmid"].strip() or r["doi"].strip()]
    no_host = [r for r in rest if r["host_type"].strip().lower() != "human"]
    kept = [r for r in rest if r["host_type"].strip().lower() == "human"]
    unique = {tuple(sorted(r.items())) for r in kept}
    return len(rows), len(no_id), len(no_host), len(kept) - len(unique), len(unique)


def test_disbiome_import_counts(kbdir):
    path = shared_path("evidence", "disbiome", "disbiome_focus_conditions.csv")
    n, no_id, no_host, dup, kept = _disbiome_expected(path)
    rep = gb.kb.import_disbiome(path)
    assert rep.records == n == 2765
    assert rep.skipped["no DOI or PMID"] == no_id == 22
    assert rep.skipped["host not stated"] == no_host == 6
    assert rep.skipped["duplicate record"] == dup
    assert rep.imported["observation"] == kept == n - rep.n_skipped
    kb = gb.kb.load()
    assert kb.counts()["observation"] == 28 + kept  # base + imported
    # imported rows never land in the package: the overlay is in the user directory
    assert (kbdir / "overlay.sqlite").exists()
    # re-import replaces, it does not duplicate
    gb.kb.import_disbiome(path)
    assert gb.kb.load().counts()["observation"] == 28 + kept
    fm = gb.kb.query("Lachnoclostridium", condition="fibromyalgia", host="human")
    assert len(fm) == 1 and fm["direction"].iloc[0] == "increased"  # Disbiome 'elevated'
    assert set(fm["evidence_level"]) == {"human_observational"}
    assert set(fm["verification"]) == {"database_record"}


def _bsdb_expected(path):
    lines = open(path, encoding="utf-8").read().split("\n", 1)[1]
    rows = list(csv.DictReader(io.StringIO(lines)))
    ok = [r for r in rows if (r["PMID"] != "NA" or r["DOI"] != "NA")
          and r["Abundance in Group 1"] in ("increased", "decreased")]
    n_obs = sum(len(r["MetaPhlAn taxon names"].split(",")) for r in ok)
    return rows, ok, n_obs


def test_bugsigdb_full_dump_counts(kbdir):
    path = shared_path("evidence", "bugsigdb", "full_dump_head.csv")
    rows, ok, n_obs = _bsdb_expected(path)
    rep = gb.kb.import_bugsigdb(path)
    assert rep.records == len(rows) == 22
    assert rep.imported["signature"] == len(ok) == 4
    assert rep.imported["observation"] == n_obs == 26
    assert rep.skipped["no DOI or PMID"] == 9
    assert rep.skipped["no direction (Abundance in Group 1 is NA)"] == 9
    kb = gb.kb.load()
    obs = kb.sql("SELECT * FROM observation WHERE source_id LIKE 'bugsigdb:%'")
    assert set(obs["host_species"]) == {"Homo sapiens"}
    assert set(obs["evidence_level"]) == {"human_observational"}
    pubs = kb.sql("SELECT doi FROM publication WHERE pub_id LIKE 'doi:%'")
    assert "10.21767/2476-1974.100036" in set(pubs["doi"])  # https://doi.org/ prefix stripped


def test_bugsigdb_columns_read_by_name(kbdir, tmp_path):
    """2026 exports add 'Data transformation' and swap two columns: same result."""
    path = shared_path("evidence", "bugsigdb", "full_dump_head.csv")
    first, body = open(path, encoding="utf-8").read().split("\n", 1)
    rows = list(csv.DictReader(io.StringIO(body)))
    cols = list(rows[0])
    i, j = cols.index("MetaPhlAn taxon names"), cols.index("NCBI Taxonomy IDs")
    cols[i], cols[j] = cols[j], cols[i]
    cols.insert(cols.index("Statistical test"), "Data transformation")
    out = tmp_path / "full_dump_2026.csv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(first + "\n")
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "Data transformation": "relative abundances"})
    rep = gb.kb.import_bugsigdb(out)
    assert rep.imported["observation"] == 26 and rep.imported["signature"] == 4

    bad = tmp_path / "bad.csv"
    bad.write_text("BSDB ID,Condition\nbsdb:1/1/1,x\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"bad\.csv, line 1: not a BugSigDB full dump"):
        gb.kb.import_bugsigdb(bad)


def test_gmt_parse_is_complete(kbdir):
    path = shared_path("evidence", "bugsigdb", "bugsigdb_signatures_genus_ncbi.gmt")
    sigs = gb.kb.read_gmt(path)
    assert len(sigs) == 6321 and sigs.index.is_unique
    n_lines = sum(1 for ln in open(path, encoding="utf-8") if ln.strip() and not ln.startswith("#"))
    assert len(sigs) == n_lines
    n_members = sum(len(ln.rstrip("\n").split("\t")[2:]) for ln in open(path, encoding="utf-8")
                    if not ln.startswith("#"))
    assert int(sigs["members"].map(len).sum()) <= n_members  # duplicates collapse into sets
    assert set(sigs["direction"]) <= {"UP", "DOWN", ""}
    assert (sigs["direction"] != "").sum() >= 6300
    rep = gb.kb.import_bugsigdb(path)
    assert rep.imported["signature"] == 6321
    assert gb.kb.load().counts()["signature"] == 6321
