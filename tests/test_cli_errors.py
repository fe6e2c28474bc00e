"""CLI errors: one line of at most 300 characters, documented exit codes, --debug tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gutbrain.workflow
from gutbrain.cli import app
from gutbrain.cli._common import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_RESOURCES,
    MAX_LINE,
)

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def _one_line(stderr: str) -> str:
    lines = stderr.rstrip("\n").split("\n")
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gutbrain: error: ") and len(lines[0]) <= MAX_LINE, lines[0]
    return lines[0]


def test_bad_input_is_one_line_exit_2(tmp_path):
    p = tmp_path / ("x" * 200 + ".tsv")
    p.write_bytes(b"id\tS1\nOTU1\t" + b"y" * 100_000 + b"\nOTU2\t3\n")
    r = runner.invoke(app, ["inspect", str(p)])
    assert r.exit_code == EXIT_INPUT
    line = _one_line(r.stderr)
    assert "Fix:" in line and "…" in line and "Traceback" not in r.stderr


def test_missing_file_and_usage_errors_exit_2(tmp_path):
    r = runner.invoke(app, ["inspect", str(tmp_path / "nope.tsv")])
    assert r.exit_code == EXIT_INPUT
    assert "not found" in _one_line(r.stderr)
    assert runner.invoke(app, ["inspect", "--no-such-option"]).exit_code == 2


def test_debug_prints_the_traceback(tmp_path):
    p = tmp_path / "bad.tsv"
    p.write_text("id\tS1\nOTU1\tnot-a-number\nOTU2\t1\n")
    r = runner.invoke(app, ["--debug", "inspect", str(p)])
    assert r.exit_code == EXIT_INPUT
    assert "Traceback (most recent call last)" in r.stderr and "DataValueError" in r.stderr
    assert r.stderr.rstrip("\n").splitlines()[-1].startswith("gutbrain: error: ")
    r = runner.invoke(app, ["inspect", str(p)])  # the flag does not stick
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (ZeroDivisionError("division by zero"), EXIT_INTERNAL, "internal error (ZeroDivisionError"),
        (MemoryError(), EXIT_RESOURCES, "out of memory"),
        (OSError(28, "No space left on device", "/full/disk"), EXIT_RESOURCES, "no space left"),
        (PermissionError(13, "Permission denied", "/root/x"), EXIT_INPUT, "permission denied"),
        (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted"),
    ],
)
def test_exit_codes(monkeypatch, tmp_path, exc, code, text):
    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(gutbrain.workflow, "load", boom)
    r = runner.invoke(app, ["inspect", str(tmp_path / "t.tsv")])
    assert r.exit_code == code, r.stderr
    line = _one_line(r.stderr)
    assert text in line.lower() or text in line
    if code == EXIT_INTERNAL:
        assert "--debug" in line


def test_exit_codes_are_documented():
    doc = DOCS.read_text(encoding="utf-8")
    for code in (0, EXIT_INTERNAL, EXIT_INPUT, EXIT_RESOURCES, EXIT_INTERRUPTED):
        assert f"| {code} " in doc
    for var in ("GUTBRAIN_MAX_DECOMPRESSED_BYTES", "GUTBRAIN_MAX_COMPRESSION_RATIO",
                "GUTBRAIN_MAX_ARCHIVE_MEMBERS", "GUTBRAIN_MAX_YAML_ALIASES", "GUTBRAIN_MAX_JSON_DEPTH",
                "GUTBRAIN_MAX_LINE_BYTES", "GUTBRAIN_MAX_COLUMNS", "GUTBRAIN_HDF5_PREFLIGHT", "--debug"):
        assert var in doc, var


def test_real_process_exit_status_and_stderr(tmp_path):
    """The installed entry point, not the test runner: status 2 and one stderr line."""
    p = tmp_path / "t.tsv"
    p.write_bytes(b"id\t" + b"S" * (20 << 20) + b"\nOTU\t1\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from gutbrain.cli import main; main()", "inspect", str(p)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == EXIT_INPUT
    assert proc.stdout == ""
    assert "line is longer than the limit" in _one_line(proc.stderr)
