"""Importers on the shared Disbiome / BugSigDB / curated extracts: counts, skip reasons, no loss."""

from __future__ import annotations

import csv
import io

import pytest

import gutbrain as gb
from gutbrain import DataValueError, InputFormatError
from tests.conftest import shared_path


def _n_obs(kb=None):
    kb = gb.kb.load() if kb is None else kb
    return kb.counts()["observation"]


def _disbiome_expected(path):
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    no_id = [r for r in rows if not r["pmid"].strip() and not r["doi"].strip()]
    rest = [r for r in rows if r["pmid"].strip() or r["doi"].strip()]
    no_host = [r for r in rest if r["host_type"].strip().lower() != "human"]
    kept = [r for r in rest if r["host_type"].strip().lower() == "human"]
    unique = {tuple(sorted(r.items())) for r in kept}
    return rows, len(no_id), len(no_host), len(kept) - len(unique), len(unique)


def test_disbiome_import_counts_titles_and_informal_names(kbdir):
    path = shared_path("evidence", "disbiome", "disbiome_focus_conditions.csv")
    rows, no_id, no_host, dup, kept = _disbiome_expected(path)
    base = _n_obs()
    rep = gb.kb.import_disbiome(path)
    assert rep.records == len(rows) == 2765
    assert rep.skipped["no DOI or PMID"] == no_id == 22
    assert rep.skipped["host not stated"] == no_host == 6
    assert rep.skipped["duplicate record"] == dup
    assert rep.imported["observation"] == kept == len(rows) - rep.n_skipped
    kb = gb.kb.load()
    assert _n_obs(kb) == base + kept
    assert (kbdir / "overlay.sqlite").exists()  # in the user directory, never the package
    # re-import replaces, it does not duplicate
    gb.kb.import_disbiome(path)
    assert _n_obs() == base + kept
    # the publication (PMID, DOI, title) travels with every row
    q = gb.kb.query("Lachnoclostridium", condition="fibromyalgia", host="human")
    assert len(q) == 1 and q["direction"].iloc[0] == "increased"  # Disbiome 'elevated'
    assert set(q["evidence_level"]) == {"human_observational"}
    src = next(r for r in rows if r["disease"] == "fibromyalgia"
               and r["scientific_name"] == "lachnoclostridium")
    assert q["title"].iloc[0] == src["title"] and q["citation"].iloc[0] == "Minerbi A et al. 2019"
    from gutbrain.kb._schema import normalize_doi

    assert q["doi"].iloc[0] == normalize_doi(src["doi"])  # matched to the curated paper
    dis = gb.kb.load().sql("SELECT p.title FROM observation o JOIN publication p USING(pub_id) "
                           "WHERE o.source_id LIKE 'disbiome:%'")
    assert (dis["title"].fillna("") != "").all()
    # "Genus sp." records resolve to the genus for lookups
    n_sp = len({tuple(sorted(r.items())) for r in rows if r["scientific_name"] == "bacteroides sp."
                and r["host_type"] == "human" and (r["pmid"] or r["doi"])})
    bac = gb.kb.query("Bacteroides")
    dis_bac = bac[bac["source_id"].str.startswith("disbiome:") & (bac["taxon"] == "Bacteroides")]
    assert n_sp >= 45 and len(dis_bac) >= n_sp
    # bracketed names are not members of the bracketed genus
    assert not (bac["taxon"] == "[Ruminococcus] gnavus").any()
    rum = gb.kb.query("Ruminococcus")
    assert "[Ruminococcus] gnavus" not in set(rum["taxon"])
    assert len(gb.kb.query("[Ruminococcus] gnavus")) >= 21


def test_disbiome_header_only_or_broken_changes_nothing(kbdir, tmp_path):
    path = shared_path("evidence", "disbiome", "disbiome_focus_conditions.csv")
    gb.kb.import_disbiome(path)
    before = _n_obs()
    header = open(path, encoding="utf-8").readline()
    empty = tmp_path / "disbiome_empty.csv"
    empty.write_text(header, encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"disbiome_empty\.csv, line 1: .*no records"):
        gb.kb.import_disbiome(empty)
    bad = tmp_path / "disbiome_bad.csv"
    bad.write_text("disease,taxid\nx,1\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"disbiome_bad\.csv, line 1: not a Disbiome export"):
        gb.kb.import_disbiome(bad)
    # every record skipped: a clear error, nothing replaced
    noid = tmp_path / "disbiome_noid.csv"
    lines = open(path, encoding="utf-8").read().splitlines()
    rd = list(csv.DictReader(io.StringIO("\n".join(lines[:6]))))
    with open(noid, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rd[0]))
        w.writeheader()
        w.writerows({**r, "pmid": "", "doi": ""} for r in rd)
    with pytest.raises(DataValueError, match=r"no importable rows \(5 no DOI or PMID\)"):
        gb.kb.import_disbiome(noid)
    assert _n_obs() == before


def _bsdb_rows(path):
    first, body = open(path, encoding="utf-8").read().split("\n", 1)
    return first, list(csv.DictReader(io.StringIO(body)))


def test_bugsigdb_full_dump_fills_host_site_sizes_and_replaces_shipped_rows(kbdir):
    path = shared_path("evidence", "bugsigdb", "full_dump_head.csv")
    _, rows = _bsdb_rows(path)
    ok = [r for r in rows if r["Abundance in Group 1"] in ("increased", "decreased")]
    n_obs = sum(len(r["MetaPhlAn taxon names"].split(",")) for r in ok)
    kb0 = gb.kb.load()
    shipped = kb0.sql("SELECT * FROM observation WHERE experiment='bsdb:39/1/2'")
    assert shipped["host_species"].tolist() == ["not recorded"]  # Paracoccus, from the GMT
    rep = gb.kb.import_bugsigdb(path)
    assert rep.records == len(rows) == 22
    assert rep.imported["signature"] == len(ok) == 13
    assert rep.imported["observation"] == n_obs
    assert rep.skipped["no direction (Abundance in Group 1 is NA)"] == 9
    kb = gb.kb.load()
    obs = kb.sql("SELECT * FROM observation WHERE experiment='bsdb:11/1/1'").iloc[0]
    assert (obs["host_species"], obs["body_site"], obs["stat_test"], obs["n_case"]) == (
        "Homo sapiens", "Uterus", "Mann-Whitney (Wilcoxon)", 5)
    assert obs["url"] == "https://bugsigdb.org/Study_11/Experiment_1/Signature_1"
    pub = kb.sql("SELECT * FROM publication WHERE pub_id='bsdb:11'").iloc[0]
    assert pd_isna(pub["pmid"]) and pub["url"] == "https://bugsigdb.org/Study_11"  # not a PMID
    doi = kb.sql("SELECT doi FROM publication WHERE doi='10.21767/2476-1974.100036'")
    assert len(doi) == 1  # https://doi.org/ prefix stripped
    # the shipped row of bsdb:39/1/2 is replaced by the richer imported one
    rep_rows = kb.sql("SELECT * FROM observation WHERE experiment='bsdb:39/1/2'")
    assert rep_rows["source_id"].str.startswith("bugsigdb:").all()
    assert rep_rows["host_species"].tolist() == ["Homo sapiens"]
    assert rep_rows["body_site"].tolist() == ["Skin of body"]
    sig = kb.sql("SELECT * FROM signature WHERE sig_id='bsdb:39/1/2'").iloc[0]
    assert sig["host_species"] == "Homo sapiens" and sig["source_id"].startswith("bugsigdb:")
    assert kb.sql("SELECT ncbi_taxid FROM signature_member WHERE sig_id='bsdb:39/1/2'")[
        "ncbi_taxid"].tolist() == [265]


def pd_isna(v):
    import pandas as pd

    return bool(pd.isna(v))


def test_bugsigdb_columns_read_by_name(kbdir, tmp_path):
    """2026 exports add 'Data transformation' and swap two columns: same result."""
    path = shared_path("evidence", "bugsigdb", "full_dump_head.csv")
    first, rows = _bsdb_rows(path)
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
    a = gb.kb.import_bugsigdb(out)
    b = gb.kb.import_bugsigdb(path)
    keys = ("observation", "signature", "signature_member")
    assert [a.imported[k] for k in keys] == [b.imported[k] for k in keys]
    assert a.imported["signature"] == 13
    bad = tmp_path / "bad.csv"
    bad.write_text("BSDB ID,Condition\nbsdb:1/1/1,x\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match=r"bad\.csv, line 1: not a BugSigDB full dump"):
        gb.kb.import_bugsigdb(bad)


def test_gmt_parse_and_import_is_complete(kbdir):
    path = shared_path("evidence", "bugsigdb", "bugsigdb_signatures_genus_ncbi.gmt")
    lines = [ln for ln in open(path, encoding="utf-8") if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 6321
    na = [ln for ln in lines if ln.split("\t")[0].endswith("_NA")]
    sigs = gb.kb.read_gmt(path)
    assert len(sigs) == 6321 - len(na) == 6307 and sigs.index.is_unique
    assert sigs.attrs["skipped"] == {"no direction (NA)": 14}
    members = {(ln.split("\t")[0], int(x)) for ln in lines if ln not in na
               for x in ln.rstrip("\n").split("\t")[2:] if x.strip()}
    assert int(sigs["members"].map(len).sum()) == len(members) == 31001
    assert set(sigs["direction"]) == {"UP", "DOWN"}
    base = gb.kb.load().counts()
    rep = gb.kb.import_gmt(path)
    assert rep.imported["signature"] == 6307 and rep.imported["observation"] == 31001
    assert rep.skipped["no direction (NA)"] == 14
    # the imported rows replace the shipped rows signature by signature: nothing doubles
    after = gb.kb.load().counts()
    assert after["observation"] == base["observation"] and after["signature"] == base["signature"]
    src = gb.kb.sources()
    assert src.loc[src["source"].str.startswith("bugsigdb_gmt:"), "signatures"].item() == 6307


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("bsdb:1/1/1_X:a_vs_b_UP\tNA\t816\nbroken line without tabs\n",
         r"bad\.gmt, line 2: GMT line has no tab-separated fields"),
        ("bsdb:1/1/1_X:a_vs_b_UP\tNA\t816\tBacteroides\n", r"bad\.gmt, line 1: GMT member 'Bacteroides'"),
        ("# BugSigDB header only\n", r"bad\.gmt: the GMT file holds no signature lines"),
        ("bsdb:1/1/1_X:a_vs_b_UP\tNA\t816\nbsdb:1/1/1_X:a_vs_b_DOWN\tNA\t838\n",
         r"bad\.gmt, line 2: signature bsdb:1/1/1 appears twice"),
    ],
)
def test_malformed_gmt_is_an_error_and_changes_nothing(kbdir, tmp_path, text, needle):
    good = tmp_path / "good.gmt"
    good.write_text("bsdb:99999999/1/1_Parkinson's-disease:PD_vs_healthy-controls_UP\tNA\t816\t838\n",
                    encoding="utf-8")
    gb.kb.import_gmt(good)
    before = gb.kb.load().sql("SELECT * FROM observation WHERE source_id LIKE 'bugsigdb_gmt:%'")
    assert len(before) == 2
    bad = tmp_path / "bad.gmt"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputFormatError, match=needle):
        gb.kb.import_gmt(bad)
    after = gb.kb.load().sql("SELECT * FROM observation WHERE source_id LIKE 'bugsigdb_gmt:%'")
    assert after["obs_id"].tolist() == before["obs_id"].tolist()


def test_gmt_unknown_taxids_are_kept_and_counted(kbdir, tmp_path):
    p = tmp_path / "new.gmt"
    p.write_text("bsdb:99999999/1/1_Parkinson's-disease:PD_vs_healthy-controls_UP\tNA\t816\t99999991\n"
                 "not-a-bugsigdb-name\tNA\t816\n", encoding="utf-8")
    rep = gb.kb.import_gmt(p)
    assert rep.imported["observation"] == 2
    assert rep.skipped["name is not a BugSigDB signature name"] == 1
    assert any("1 taxids are not in the evidence base" in n for n in rep.notes)
    q = gb.kb.query(99999991)
    assert q["taxon"].tolist() == ["NCBI taxid 99999991"] and q["pmid"].tolist() == [99999999]


def test_formula_like_cells_are_data_and_escaped_in_exports(kbdir, tmp_path):
    path = shared_path("evidence", "disbiome", "disbiome_focus_conditions.csv")
    rd = list(csv.DictReader(io.StringIO("\n".join(open(path, encoding="utf-8").read().splitlines()[:4]))))
    rd[0]["title"] = '=HYPERLINK("http://evil.example","click")'
    rd[1]["title"] = "<script>alert(1)</script>"
    f = tmp_path / "formula.csv"
    with open(f, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rd[0]))
        w.writeheader()
        w.writerows(rd)
    rep = gb.kb.import_disbiome(f)
    assert any("1 cells look like spreadsheet formulas" in n for n in rep.notes)
    kb = gb.kb.load()
    titles = set(kb.table("publication")["title"].dropna())
    assert rd[0]["title"] in titles  # stored as data, unchanged
    out = gb.kb.export(tmp_path / "export", kb=kb)
    pubs = list(csv.DictReader(open(out["publication"], encoding="utf-8"), delimiter="\t"))
    cells = [r["title"] for r in pubs if "HYPERLINK" in r["title"]]
    assert cells == ["'" + rd[0]["title"]]


def test_curated_findings_import(kbdir):
    path = shared_path("evidence", "curated", "findings.csv")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    rep = gb.kb.import_curated(path)
    assert rep.records == len(rows) == 22
    n_other = sum(1 for r in rows if r["subject_type"] != "taxon")
    assert sum(n for k, n in rep.skipped.items() if k.startswith("subject is")) == n_other == 7
    assert rep.imported["observation"] == len(rows) - rep.n_skipped >= 10
    q = gb.kb.query("Butyricimonas")
    cur = q[q["source_id"].str.startswith("curated:findings:")]
    assert cur["host"].tolist() == ["Rattus norvegicus"] and cur["direction"].tolist() == ["decreased"]
    assert cur["evidence_level"].tolist() == ["animal_model"]
    # "DOI from memory" is never shown as verified
    mem = [r["record_id"] for r in rows if "memory" in r["verification"] and r["subject_type"] == "taxon"]
    ver = gb.kb.load().sql("SELECT obs_id, verification FROM observation WHERE source_id LIKE 'curated:%'")
    ver = dict(zip(ver["obs_id"], ver["verification"], strict=True))
    assert all(ver[f"curated:findings:{m}"] == "not_verified" for m in mem if f"curated:findings:{m}" in ver)
