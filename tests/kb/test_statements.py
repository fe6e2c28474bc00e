"""Statements: templated, cited, host-labelled; reviews and unverified rows never back one."""

from __future__ import annotations

import gutbrain as gb


def _curated(q):
    return q[q["source_id"] == "gutbrain_curated"]


def _all_statements(kb):
    taxa = kb.sql("SELECT DISTINCT t.name FROM observation o JOIN taxon t USING(taxon_id) "
                  "WHERE o.source_id='gutbrain_curated'")["name"]
    out = []
    for t in taxa:
        out += gb.kb.statements(_curated(gb.kb.query(t, kb=kb)), kb=kb)
    out += gb.kb.statements(gb.kb.effects(kb=kb), kb=kb)
    return out


def test_every_statement_has_primary_source_and_host(kbdir):
    kb = gb.kb.load()
    pubs = kb.table("publication").set_index("pub_id")
    design = pubs["design"].to_dict()
    obs = kb.table("observation").set_index("obs_id")
    eff = kb.table("intervention_effect").set_index("effect_id")
    st = _all_statements(kb)
    assert len(st) >= 30
    for s in st:
        rows = obs.reindex([r for r in s.row_ids if r in obs.index])
        rows = rows if len(rows) else eff.reindex(s.row_ids)
        primary = [(lv != "review") and design[p] not in ("review", "web_page")
                   for lv, p in zip(rows["evidence_level"], rows["pub_id"], strict=True)]
        assert any(primary), s.text
        assert (rows["verification"] != "not_verified").all(), s.text
        assert s.citations and all(("doi:" in c) or ("PMID" in c) for c in s.citations), s.text
        if s.host_class == "animal":
            assert "animal model" in s.text and s.host in s.text, s.text
            assert not s.text.startswith("In humans")
        if s.host_class == "human":
            assert s.text.startswith(("In humans", "[disputed] In humans"))
        if s.host_class == "none":
            assert "In vitro" in s.text


def test_cci_statement_text_and_review_alone_gives_none(kbdir):
    kb = gb.kb.load()
    st = gb.kb.statements(_curated(gb.kb.query("Butyricimonas", kb=kb)), kb=kb)
    assert len(st) == 1
    s = st[0]
    assert s.text.startswith("In rats (animal model, Rattus norvegicus; chronic constriction injury")
    assert "Butyricimonas was lower" in s.text and "doi:10.1186/s13041-021-00765-y" in s.text
    # Garvey 2023 is a review: its Faecalibacterium row exists but backs no statement alone
    q = gb.kb.query("Faecalibacterium", kb=kb)
    review_only = q[q["pub_id"] == "garvey2023"]
    assert len(review_only) == 1 and gb.kb.statements(review_only, kb=kb) == []
    # rows marked not_verified never become statements
    fn = kb.sql("SELECT * FROM taxon_function WHERE verification='not_verified'")
    assert len(fn) >= 2


def test_flagged_rows_are_disputed_in_statements(kbdir):
    gb.kb.flag("chen2021-09", reason="checked figure 2: genus label ambiguous", user="tester")
    kb = gb.kb.load()
    q = gb.kb.query("Butyricimonas", kb=kb)
    row = q[q["obs_id"] == "chen2021-09"].iloc[0]
    assert bool(row["disputed"]) and "ambiguous" in row["dispute_reason"]
    s = gb.kb.statements(_curated(q), kb=kb)[0]
    assert s.disputed and s.text.startswith("[disputed] In rats")
    flags = kb.flags.set_index("row_id")
    assert flags.loc["chen2021-09", "user"] == "tester" and flags.loc["chen2021-09", "when_utc"].endswith("Z")


def test_bugsigdb_rows_are_never_human_statements(kbdir):
    kb = gb.kb.load()
    q = gb.kb.query("Akkermansia", kb=kb)
    shipped = q[q["source_id"] == "bugsigdb_shipped"]
    assert len(shipped) >= 50 and set(shipped["host"]) == {"not recorded"}
    st = gb.kb.statements(shipped[shipped["condition"] == "Parkinson's disease"], kb=kb)
    assert st and all(s.host_class == "unknown" for s in st)
    assert all(s.text.startswith("In database signatures whose host is not recorded") for s in st)
    assert all(("PMID" in c) or ("https://bugsigdb.org/Study_" in c) for s in st for c in s.citations)
