"""Taxonomy reconciliation against names in the shared tables."""

from __future__ import annotations

import pandas as pd

import gutbrain as gb
from gutbrain._taxonomy import parse_lineage
from tests.conftest import shared_path


def _evidence_names(kb):
    t = kb.table("taxon")
    names = {(n.lower(), r) for n, r in zip(t["name"], t["rank"], strict=True)}
    for syn, r in zip(t["synonyms"].fillna(""), t["rank"], strict=True):
        names |= {(s.strip().lower(), r) for s in syn.split("|") if s.strip()}
    return names


def test_giloteaux_greengenes_genera(kbdir):
    tax = pd.read_csv(shared_path("data", "giloteaux2016_mecfs_16s", "taxonomy_table_features.tsv"), sep="\t")
    kb = gb.kb.load()
    genera = {parse_lineage(x)["genus"] for x in tax["Taxon"]} - {""}
    res = gb.kb.reconcile([f"g__{g}" for g in sorted(genera)], kb=kb)
    known = _evidence_names(kb)
    expect = {g for g in genera if (g.lower(), "genus") in known}
    got = set(res.loc[res["rank"].eq("genus") & res["match"].isin(["exact", "synonym"]), "name"])
    assert got == expect
    assert {"Lactobacillus", "Blautia", "Christensenella", "Phascolarctobacterium", "Akkermansia",
            "Escherichia", "Roseburia", "Coprococcus", "Oscillospira"} <= got
    unmatched = set(res.loc[res["match"].eq("none") & res["rank"].eq("genus"), "name"])
    assert unmatched == genera - expect  # the rest is listed
    assert "Dorea" in got  # named by the shipped BugSigDB genus table


def test_kang_gtdb_genera(kbdir):
    cols = pd.read_csv(shared_path("data", "kang2017_autism_16s", "genera.tsv"), sep="\t", nrows=0).columns[1:]
    res = gb.kb.reconcile(list(cols))
    genera = [parse_lineage(c)["genus"] for c in cols]
    named = [g for g in genera if g]
    assert res.loc[res["rank"] == "genus", "name"].tolist() == named
    hit = res[res["match"] != "none"]
    assert {"Bifidobacterium", "Faecalibacterium", "Akkermansia"} <= set(hit["matched_name"])
    # GTDB placeholder suffixes fall back to the NCBI genus
    sfx = res[res["match"] == "gtdb_suffix"]
    assert all(n.split("_")[0] == m for n, m in zip(sfx["name"], sfx["matched_name"], strict=True))
    assert res["match"].eq("none").sum() > 0


def test_metaphlan_species_list_and_synonyms(kbdir):
    names = [ln.strip() for ln in open(shared_path("data", "gmhi2020_health_index", "MH_species.txt"))
             if ln.strip()]
    res = gb.kb.reconcile(names)
    assert set(res["rank"]) == {"species"}
    sp = res[res["match"] == "exact"]
    gen = res[res["match"] == "genus_of_species"]
    assert all(n.split()[0] == m for n, m in zip(gen["name"], gen["matched_name"], strict=True))
    kb = gb.kb.load()
    known = {n for n, r in _evidence_names(kb) if r == "species"}
    assert {n.lower() for n in sp["name"]} == {n.lower() for n in res["name"]} & known
    r = gb.kb.reconcile(["Lactobacillus fermentum", "s__Lactobacillus_plantarum", "p__Proteobacteria",
                         "f__Ruminococcaceae", "Bacteroides vulgatus", 239935, "Nonexistentia"])
    assert r["matched_name"].tolist()[:6] == [
        "Limosilactobacillus fermentum", "Lactiplantibacillus plantarum", "Pseudomonadota",
        "Oscillospiraceae", "Phocaeicola vulgatus", "Akkermansia muciniphila"]
    assert r["match"].tolist() == ["synonym"] * 5 + ["taxid", "none"]
