"""Schema validation of the curated base: vocabularies, ids, foreign keys, host/level rules."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

import gutbrain as gb
from gutbrain import DataValueError
from gutbrain.kb import _store
from gutbrain.kb._schema import LEVELS_BY_HOST, _data_path, host_class, schema


def test_base_loads_and_every_row_is_traceable(kbdir):
    kb = gb.kb.load(kbdir)
    c = kb.counts()
    assert c["observation"] >= 25 and c["intervention_effect"] >= 15 and c["taxon_function"] >= 15
    rows = kb.sql(
        "SELECT o.obs_id, o.source_id, o.host_species, o.evidence_level, o.url, p.doi, p.pmid, "
        "p.url AS pub_url FROM observation o JOIN publication p USING(pub_id)"
    )
    has_id = (rows["doi"].notna() & (rows["doi"] != "")) | rows["pmid"].notna()
    # curated rows cite a DOI or PMID; database rows without one link their record page
    assert has_id[rows["source_id"] == "gutbrain_curated"].all()
    assert (has_id | rows["url"].str.startswith("https://bugsigdb.org/Study_")).all()
    for h, lv in zip(rows["host_species"], rows["evidence_level"], strict=True):
        assert lv in LEVELS_BY_HOST[host_class(h)]
    # null and contrary results are rows too
    eff = kb.table("intervention_effect")
    assert (eff["direction"] == "no_change").sum() >= 4


def test_milajerdi_numbers_and_ci_consistency(kbdir):
    eff = gb.kb.effects("probiotics_any", kb=gb.kb.load(kbdir)).set_index("outcome")
    # Milajerdi 2020 Eur J Nutr 59:633, abstract: IL-10 +0.21 (0.04, 0.38); TNF -0.21 (-0.34, -0.08)
    assert tuple(eff.loc["serum IL-10", ["estimate", "ci_low", "ci_high"]]) == (0.21, 0.04, 0.38)
    assert tuple(eff.loc["serum TNF-alpha", ["estimate", "ci_low", "ci_high"]]) == (-0.21, -0.34, -0.08)
    assert eff.loc["serum IL-6", "estimate"] == -0.37 and eff.loc["serum hs-CRP", "estimate"] == -0.46
    assert (eff["ci_low"] <= eff["estimate"]).all() and (eff["estimate"] <= eff["ci_high"]).all()


def _copy_data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(_data_path("schema.tsv").parent, d)
    return d


def _edit(path: Path, key: str, column: str, value: str) -> int:
    rows = list(csv.DictReader(open(path, encoding="utf-8"), delimiter="\t"))
    idc = next(iter(rows[0]))
    line = next(i for i, r in enumerate(rows, start=2) if r[idc] == key)
    rows[line - 2][column] = value
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return line


@pytest.mark.parametrize(
    ("table", "key", "column", "value", "needle"),
    [
        ("observation", "chen2021-09", "evidence_level", "human_rct", "not possible for host"),
        ("observation", "chen2021-09", "direction", "lower", "not in vocabulary"),
        ("observation", "chen2021-09", "taxon_id", "g_Nonexistent", "does not resolve"),
        ("observation", "goudman2024-01", "condition_id", "cci", "is an animal model"),
        ("observation", "chen2021-09", "pub_id", "backedbyscience_page", "no DOI or PMID"),
        ("observation", "garvey2023-01", "evidence_level", "human_observational", "is a review"),
        ("intervention_effect", "milajerdi2020-06", "direction", "decreased", "disagrees with the CI"),
        ("observation", "chen2021-08", "obs_id", "chen2021-09", "duplicate"),
    ],
)
def test_invalid_rows_are_refused_with_file_and_line(tmp_path, monkeypatch, kbdir, table, key, column, value, needle):
    d = _copy_data(tmp_path)
    line = _edit(d / f"{table}.tsv", key, column, value)
    monkeypatch.setattr(_store, "_data_path", lambda name: d / name)
    _store._CACHE.clear()
    _store._base_database.cache_clear()
    try:
        with pytest.raises(DataValueError) as err:
            gb.kb.load(kbdir)
    finally:
        _store._CACHE.clear()
        _store._base_database.cache_clear()
    msg = str(err.value)
    assert needle in msg and f"{table}.tsv" in msg and f"line {line}" in msg


def test_schema_documents_every_column():
    sch = schema()
    for table, cols in sch.columns.items():
        header = next(csv.reader(open(_data_path(f"{table}.tsv"), encoding="utf-8"), delimiter="\t"))
        assert header == [c.name for c in cols]
        assert all(c.description for c in cols)
    assert set(sch.vocab["evidence_level"]) == set(gb.kb.EVIDENCE_LEVELS)


def _row_by_row(monkeypatch, table, rows):
    from gutbrain.kb import _schema

    with monkeypatch.context() as m:
        m.setattr(_schema, "_check_rows_fast", lambda *a: None)
        return _schema.check_rows(table, rows, path="x")


@pytest.mark.parametrize("table", ["publication", "taxon", "condition", "observation",
                                   "intervention_effect", "source"])
def test_column_wise_validation_equals_row_by_row(monkeypatch, table):
    """check_rows validates column by column; values, types and order equal the row-by-row pass."""
    from gutbrain.kb._schema import _read_tsv, check_rows

    raw = _read_tsv(_data_path(f"{table}.tsv"))
    raw += [{**r, schema().id_column(table): f"{r[schema().id_column(table)]}_copy",
             **{k: f"  {v} " for k, v in r.items() if k != schema().id_column(table)}} for r in raw[:3]]
    fast = check_rows(table, raw, path="x")
    slow = _row_by_row(monkeypatch, table, raw)
    assert len(fast) == len(raw) and fast == slow
    assert [[type(v) for v in r.values()] for r in fast] == [[type(v) for v in r.values()] for r in slow]
    assert [list(r) for r in fast] == [list(r) for r in slow]
    # a bad cell late in the table is named by line and column, as row by row
    bad = [dict(r) for r in raw]
    bad[-1]["pub_id" if table == "observation" else schema().id_column(table)] = ""
    with pytest.raises(DataValueError, match=rf"x, line {len(raw) + 1}, column"):
        check_rows(table, bad, path="x")
