"""gb.io.read_humann: gene families / pathways, stratified rows, units, KO tables, broken inputs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
from gutbrain._errors import DataValueError, GutbrainError, InputFormatError
from tests.conftest import shared_path

TAXA = [
    "g__Bacteroides.s__Bacteroides_fragilis",
    "g__Faecalibacterium.s__Faecalibacterium_prausnitzii",
    "unclassified",
]


def _genefamilies(path: Path, samples: list[str], *, suffix="_Abundance-RPKs", seed=0) -> dict:
    """A joined gene-family table whose community rows are the sums of their strata."""
    rng = np.random.default_rng(seed)
    funcs = ["UniRef90_A0A015QF28", "UniRef90_R6K2T1: Glycoside hydrolase", "UniRef90_Q8A1G1"]
    strata = {f: rng.gamma(1.0, 20.0, size=(len(TAXA), len(samples))).round(4) for f in funcs}
    strata[funcs[2]][0] = 0.0
    unmapped = rng.uniform(1000, 5000, size=len(samples)).round(3)
    lines = ["# Gene Family\t" + "\t".join(s + suffix for s in samples)]
    lines.append("UNMAPPED\t" + "\t".join(str(float(v)) for v in unmapped))
    for f in funcs:
        lines.append(f + "\t" + "\t".join(str(float(v)) for v in strata[f].sum(axis=0).round(4)))
        for t, row in zip(TAXA, strata[f]):
            if row.any():
                lines.append(f"{f}|{t}\t" + "\t".join(str(float(v)) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return {"funcs": funcs, "strata": strata, "unmapped": unmapped}


def _pathways(path: Path) -> None:
    path.write_text(
        "# Pathway\tS1_Abundance\tS2_Abundance\n"
        "UNMAPPED\t1200.5\t800.0\n"
        "UNINTEGRATED\t3000.0\t2500.0\n"
        "UNINTEGRATED|g__Bacteroides.s__Bacteroides_fragilis\t1000.0\t900.0\n"
        "UNINTEGRATED|unclassified\t2000.0\t1600.0\n"
        "PWY-5100: pyruvate fermentation to acetate and lactate II\t55.2\t40.1\n"
        "PWY-5100: pyruvate fermentation to acetate and lactate II|g__Bacteroides.s__Bacteroides_fragilis\t30.0\t20.0\n"
        "PWY-5100: pyruvate fermentation to acetate and lactate II|unclassified\t20.0\t18.0\n"
        "PWY-7111: pyruvate fermentation to isobutanol (engineered)\t10.0\t0.0\n"
    )


def test_genefamilies_community(tmp_path):
    p = tmp_path / "joined_genefamilies.tsv"
    truth = _genefamilies(p, ["S1", "S2", "S3"])
    ad = gb.io.read_humann(p)
    assert ad.obs_names.tolist() == ["S1", "S2", "S3"]
    assert ad.uns["gutbrain"]["X_unit"] == "rpk"
    assert ad.var["function"].tolist() == [
        "UniRef90_A0A015QF28",
        "UniRef90_R6K2T1",
        "UniRef90_Q8A1G1",
    ]
    assert ad.var["description"].tolist() == ["", "Glycoside hydrolase", ""]
    X = gb._core.get_matrix(ad)
    expect = np.stack([truth["strata"][f].sum(axis=0).round(4) for f in truth["funcs"]], axis=1)
    np.testing.assert_allclose(X, expect)
    np.testing.assert_allclose(ad.obs["unmapped"], truth["unmapped"])


def test_stratified_rows_sum_to_community(tmp_path):
    p = tmp_path / "gf.tsv.gz"
    raw = tmp_path / "raw.tsv"
    _genefamilies(raw, ["a", "b"], seed=3)
    p.write_bytes(gzip.compress(raw.read_bytes()))
    comm = gb.io.read_humann(p)
    strat = gb.io.read_humann(p, stratified=True)
    both = gb.io.read_humann(p, stratified="both")
    assert both.n_vars == comm.n_vars + strat.n_vars
    assert set(strat.var["stratum"]) <= set(TAXA)
    assert (strat.var["stratum"] != "").all() and (comm.var["stratum"] == "").all()
    # property: HUMAnN gene-family community totals are the sums of their strata
    sums = (
        pd.DataFrame(gb._core.get_matrix(strat).T, index=strat.var["function"])
        .groupby(level=0)
        .sum()
    )
    got = pd.DataFrame(gb._core.get_matrix(comm).T, index=comm.var["function"])
    np.testing.assert_allclose(sums.loc[got.index].to_numpy(), got.to_numpy(), rtol=1e-6)
    row = strat.var[strat.var["stratum"] == TAXA[1]].iloc[0]
    assert (row["genus"], row["species"]) == ("Faecalibacterium", "Faecalibacterium prausnitzii")
    row = strat.var[strat.var["stratum"] == "unclassified"].iloc[0]
    assert (row["genus"], row["species"]) == ("", "")


def test_pathways_unintegrated_and_units(tmp_path):
    p = tmp_path / "pathabundance.tsv"
    _pathways(p)
    ad = gb.io.read_humann(p)
    assert ad.uns["gutbrain"]["X_unit"] == "abundance"
    assert ad.uns["gutbrain"]["params"]["table"] == "pathways"
    assert ad.var["function"].tolist() == ["PWY-5100", "PWY-7111"]
    np.testing.assert_allclose(ad.obs["unintegrated"], [3000.0, 2500.0])
    np.testing.assert_allclose(ad.obs["unmapped"], [1200.5, 800.0])
    strat = gb.io.read_humann(p, stratified=True)
    assert strat.n_vars == 2  # UNINTEGRATED strata are not functions
    assert strat.uns["gutbrain"]["params"]["n_special_stratified_rows_dropped"] == 2
    for suffix, unit in (
        ("_Abundance-CPM", "cpm"),
        ("-RELAB", "relative"),
        ("_Abundance-RPKs", "rpk"),
    ):
        q = tmp_path / f"u{unit}.tsv"
        _genefamilies(q, ["x", "y"], suffix=suffix)
        got = gb.io.read_humann(q)
        assert got.uns["gutbrain"]["X_unit"] == unit
        assert got.obs_names.tolist() == ["x", "y"]


def test_picrust2_ko_table_reads_through_both_readers():
    path = shared_path("data", "dnbs_fmt_visceral_pain_rodent", "pred_metagenome_unstrat.tsv.gz")
    a = gb.io.read_humann(path)
    b = gb.io.read_table(path)
    # SOURCE.txt says "5879 KOs x 148 samples"; the header holds 149 sample columns
    # (DNBS.1 … DNBS.154 without 5 ids), the same 149 samples as genus_table_from_dada2.csv
    assert a.shape == b.shape == (149, 5879)
    assert b.uns["gutbrain"]["params"]["orientation"] == "features-as-rows"
    assert a.var_names[0] == "K00001"
    np.testing.assert_allclose(gb._core.get_matrix(a), gb._core.get_matrix(b))
    ref = pd.read_csv(path, sep="\t", index_col=0)
    np.testing.assert_allclose(gb._core.get_matrix(a), ref.to_numpy().T)


# -- broken inputs ---------------------------------------------------------------------


def _lines(tmp_path: Path) -> tuple[Path, list[str]]:
    p = tmp_path / "broken_genefamilies.tsv"
    _genefamilies(p, ["S1", "S2"], seed=9)
    return p, p.read_text().splitlines()


def _check(e, p: Path, line: int | None) -> None:
    msg = str(e.value)
    assert p.name in msg and "Fix:" in msg
    if line is not None:
        assert f"line {line}" in msg


def test_broken_values(tmp_path):
    p, lines = _lines(tmp_path)
    bad = list(lines)
    bad[3] = bad[3].rsplit("\t", 1)[0] + "\tn/a?"
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataValueError, match="non-numeric") as e:
        gb.io.read_humann(p)
    _check(e, p, 4)
    bad = list(lines)
    bad[2] = bad[2].rsplit("\t", 1)[0] + "\t-3"
    p.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataValueError, match="negative") as e:
        gb.io.read_humann(p)
    _check(e, p, 3)
    bad = list(lines)
    bad[-1] = bad[-1].rsplit("\t", 1)[0]  # truncated last row
    p.write_text("\n".join(bad))
    with pytest.raises(DataValueError, match="empty or NA") as e:
        gb.io.read_humann(p)
    _check(e, p, len(lines))


def test_broken_structure(tmp_path):
    p, lines = _lines(tmp_path)
    p.write_text("\n".join([*lines, lines[2]]) + "\n")
    with pytest.raises(InputFormatError, match="duplicate row identifier") as e:
        gb.io.read_humann(p)
    _check(e, p, len(lines) + 1)
    q = tmp_path / "dupcols.tsv"
    q.write_text(
        lines[0].replace("S2_Abundance-RPKs", "S1_Abundance-RPKs") + "\n" + "\n".join(lines[1:])
    )
    with pytest.raises(InputFormatError, match="duplicate column") as e:
        gb.io.read_humann(q)
    _check(e, q, 1)
    c = tmp_path / "comma.csv"
    c.write_text("\n".join(ln.replace("\t", ",") for ln in lines))
    with pytest.raises(InputFormatError, match="only one column") as e:
        gb.io.read_humann(c)
    _check(e, c, 1)
    h = tmp_path / "header_only.tsv"
    h.write_text(lines[0] + "\n")
    with pytest.raises(DataValueError, match="no data rows") as e:
        gb.io.read_humann(h)
    assert h.name in str(e.value)
    s = tmp_path / "strat_only.tsv"
    s.write_text("\n".join([lines[0], *[ln for ln in lines[1:] if "|" in ln]]) + "\n")
    with pytest.raises(DataValueError, match="stratified=True"):
        gb.io.read_humann(s)
    with pytest.raises(GutbrainError, match="stratified must be"):
        gb.io.read_humann(p, stratified="yes")
