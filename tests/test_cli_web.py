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
    for opt in ("--host", "--port", "--data-dir", "--workers", "--token", "--allow-host",
                "--open", "--no-open", "--max-upload-mb", "GUTBRAIN_TOKEN"):
        assert opt in r.output, opt
    assert "127.0.0.1" in r.output and "8765" in r.output
    assert "not medical advice" in r.output


@pytest.fixture
def captured(monkeypatch):
    calls: list[dict] = []

    def fake_run(web, **kwargs):
        calls.append({"app": web, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.delenv("GUTBRAIN_TOKEN", raising=False)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url))
    return calls, opened


def test_serve_defaults_bind_loopback_without_token(captured, tmp_path, monkeypatch):
    from fastapi import FastAPI

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    calls, opened = captured
    r = runner.invoke(app, ["serve"])
    assert r.exit_code == 0, r.output
    call = calls[0]
    assert call["host"] == "127.0.0.1" and call["port"] == 8765
    assert isinstance(call["app"], FastAPI)
    s = call["app"].state.settings
    assert s.data_dir == (tmp_path / "xdg" / "gutbrain" / "web").resolve()  # persistent default
    assert (s.data_dir / "jobs.sqlite").is_file() and s.token is None and s.pool.n == 2
    assert s.max_upload_bytes == 500 * 1024 * 1024
    assert s.allowed_hosts == frozenset({"127.0.0.1", "localhost", "::1"})
    assert "http://127.0.0.1:8765/" in r.output and opened == []
    assert "warning" not in r.output and "token" not in r.output


def test_serve_options(captured, tmp_path):
    calls, _ = captured
    r = runner.invoke(app, ["serve", "--port", "9000", "--workers", "3", "--token", "tok-123",
                            "--allow-host", "lab.example", "--max-upload-mb", "2",
                            "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    s = calls[0]["app"].state.settings
    assert calls[0]["port"] == 9000 and s.pool.n == 3 and s.token == "tok-123"
    assert "lab.example" in s.allowed_hosts and s.max_upload_bytes == 2 * 1024 * 1024
    assert "?token=tok-123" in r.output
    r = runner.invoke(app, ["serve", "--port", "0"])
    assert r.exit_code == 2 and len(calls) == 1
    r = runner.invoke(app, ["serve", "--workers", "0", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and len(calls) == 1


def test_token_from_environment(captured, tmp_path, monkeypatch):
    calls, _ = captured
    monkeypatch.setenv("GUTBRAIN_TOKEN", "from-env")
    r = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert calls[0]["app"].state.settings.token == "from-env"


def test_exposed_bind_warns_and_makes_a_token(captured, tmp_path):
    calls, _ = captured
    r = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    s = calls[0]["app"].state.settings
    assert calls[0]["host"] == "0.0.0.0" and "exposes the app" in r.output
    assert s.token and len(s.token) >= 24 and f"?token={s.token}" in r.output and "generated" in r.output


def test_corrupt_store_is_one_line_exit_2(captured, tmp_path):
    (tmp_path / "jobs.sqlite").write_bytes(b"garbage" * 1000)
    r = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and not captured[0]
    assert "jobs.sqlite: the job store cannot be read" in r.output and "Fix:" in r.output
    assert "Traceback" not in r.output
