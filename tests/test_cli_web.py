"""``gutbrain serve`` (CliRunner; uvicorn.run is replaced, no server is started)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gutbrain.cli import app

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

runner = CliRunner()


def test_serve_help():
    r = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert r.exit_code == 0, r.output
    for opt in ("--host", "--port", "--open", "--no-open", "--data-dir", "--max-upload-mb"):
        assert opt in r.output
    assert "127.0.0.1" in r.output and "8765" in r.output
    assert "not medical advice" in r.output


@pytest.fixture
def captured(monkeypatch):
    calls: list[dict] = []

    def fake_run(web, **kwargs):
        calls.append({"app": web, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url))
    return calls, opened


def test_serve_defaults_bind_loopback(captured, tmp_path):
    from fastapi import FastAPI

    calls, opened = captured
    r = runner.invoke(app, ["serve", "--data-dir", str(tmp_path / "jobs")])
    assert r.exit_code == 0, r.output
    assert len(calls) == 1
    call = calls[0]
    assert call["host"] == "127.0.0.1" and call["port"] == 8765
    assert isinstance(call["app"], FastAPI)
    settings = call["app"].state.settings
    assert settings.data_dir == (tmp_path / "jobs").resolve() and (tmp_path / "jobs" / "jobs").is_dir()
    assert settings.max_upload_bytes == 500 * 1024 * 1024
    assert "http://127.0.0.1:8765/" in r.output and opened == []
    assert "warning" not in r.output


def test_serve_options(captured, tmp_path):
    calls, _ = captured
    r = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9000", "--no-open",
                            "--max-upload-mb", "2", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (calls[0]["host"], calls[0]["port"]) == ("0.0.0.0", 9000)
    assert calls[0]["app"].state.settings.max_upload_bytes == 2 * 1024 * 1024
    assert "exposes the app" in r.output  # non-loopback bind warns
    r = runner.invoke(app, ["serve", "--port", "0"])
    assert r.exit_code == 2 and len(calls) == 1
