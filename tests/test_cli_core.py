"""Core CLI commands in-process: inspect, convert, run, demo, --version; exit code 2 on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain.cli import app

runner = CliRunner()
CORE = ("qc", "composition", "provenance")


def _out(result) -> str:
    return result.output  # stdout and stderr, interleaved (click >= 8.2)


@pytest.fixture(scope="module")
def small():
    return gb.datasets.demo_cohort(seed=4, n_samples=30, n_genera=60)


@pytest.fixture(scope="module")
def files(small, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    table = gb.io.write_biom(small, d / "table.biom")
    meta = small.obs[["group", "age", "sex"]].copy()
    meta.index.name = "sample-id"
    meta.to_csv(d / "metadata.tsv", sep="\t")
    return table, d / "metadata.tsv"


@pytest.fixture
def core_only(monkeypatch):
    from gutbrain import report
    from gutbrain.workflow import _pipeline

    monkeypatch.setattr(_pipeline, "STEPS", tuple(s for s in _pipeline.STEPS if s.key in CORE))
    monkeypatch.setattr(report, "SECTIONS", tuple(s for s in report.SECTIONS if s[0] in CORE))


def _bad(result) -> str:
    text = _out(result)
    assert result.exit_code == 2, text
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gutbrain: error: ")
    return lines[0]


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"gutbrain {gb.__version__}"
    for cmd, opts in {
        "inspect": ["--taxonomy", "--metadata", "--json"],
        "convert": ["--rank", "OUT"],
        "run": ["--taxonomy", "--metadata", "--group", "--out", "--seed"],
        "demo": ["--out"],
    }.items():
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0
        for opt in opts:
            assert opt in r.output, (cmd, opt)


def test_inspect_text_and_json(files, small):
    table, meta = files
    r = runner.invoke(app, ["inspect", str(table), "--metadata", str(meta), "--json"])
    assert r.exit_code == 0, _out(r)
    info = json.loads(r.output)
    X = small.X.toarray() if sp.issparse(small.X) else np.asarray(small.X)
    assert info["samples"] == small.n_obs and info["features"] == small.n_vars
    assert info["value_kind"] == "counts"
    assert info["sparsity"] == pytest.approx(float((X == 0).mean()))
    assert info["depth"]["median"] == pytest.approx(float(np.median(X.sum(1))))
    assert info["ranks"]["genus"] == small.n_vars
    cols = {m["column"]: m["type"] for m in info["metadata"]}
    assert cols["age"] in ("integer", "numeric") and cols["group"] in ("categorical", "text")
    r = runner.invoke(app, ["inspect", str(table)])
    assert r.exit_code == 0
    assert f"samples:     {small.n_obs}" in r.output
    assert f"features:    {small.n_vars}" in r.output


def test_convert_with_rank(files, small, tmp_path):
    table, _ = files
    out = tmp_path / "family.h5ad"
    r = runner.invoke(app, ["convert", str(table), str(out), "--rank", "family"])
    assert r.exit_code == 0, _out(r)
    back = gb.io.read_h5ad(out)
    assert back.n_vars == small.var["family"].nunique()
    X = small.X.toarray() if sp.issparse(small.X) else np.asarray(small.X)
    Y = back.X.toarray() if sp.issparse(back.X) else np.asarray(back.X)
    np.testing.assert_allclose(np.sort(Y.sum(1)), np.sort(X.sum(1)))  # totals preserved
    _bad(runner.invoke(app, ["convert", str(table), str(tmp_path / "x.tsv"), "--rank", "kingdom"]))


def test_run_writes_outputs(files, tmp_path, core_only):
    table, meta = files
    out = tmp_path / "res"
    r = runner.invoke(app, ["run", str(table), "--metadata", str(meta), "--group", "group",
                            "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, _out(r)
    assert f"report: {(out / 'report.html').resolve()}" in r.output
    assert (out / "gutbrain.h5ad").is_file() and (out / "tables" / "qc_summary.tsv").is_file()


def test_demo_command(tmp_path, core_only):
    out = tmp_path / "demo"
    r = runner.invoke(app, ["demo", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, _out(r)
    assert "SYNTHETIC" in r.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "<svg" in html
    assert "200 samples × 300 features" in html


def test_bad_input_exit_2(files, tmp_path):
    table, meta = files
    line = _bad(runner.invoke(app, ["inspect", str(tmp_path / "missing.biom")]))
    assert "missing.biom" in line and "not found" in line
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("sample-id\tgroup\nnope1\ta\nnope2\tb\n", encoding="utf-8")
    line = _bad(runner.invoke(app, ["run", str(table), "--metadata", str(wrong),
                                    "--out", str(tmp_path / "o1"), "--no-progress"]))
    assert "wrong.tsv" in line
    line = _bad(runner.invoke(app, ["run", str(table), "--metadata", str(meta), "--group", "diagnosis",
                                    "--out", str(tmp_path / "o2"), "--no-progress"]))
    assert "diagnosis" in line and "metadata.tsv" in line and "columns are" in line
    assert not (tmp_path / "o2").exists()
    garbage = tmp_path / "garbage.biom"
    garbage.write_bytes(b"\x00\x01 not a table")
    _bad(runner.invoke(app, ["inspect", str(garbage)]))
