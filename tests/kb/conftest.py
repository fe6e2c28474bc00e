"""Fixtures for the evidence-base tests: an isolated user evidence directory."""

from __future__ import annotations

import pytest


@pytest.fixture
def kbdir(tmp_path, monkeypatch):
    """A fresh, empty user evidence directory (GUTBRAIN_KB_DIR)."""
    d = tmp_path / "kb"
    monkeypatch.setenv("GUTBRAIN_KB_DIR", str(d))
    return d
