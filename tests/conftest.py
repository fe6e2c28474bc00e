"""Shared fixtures: the ../shared data folder (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared, skipping the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (the shared data folder beside the repo)")
    return path


@pytest.fixture
def shared() -> Path:
    """The ../shared folder; skips the test when it is not beside the repository."""
    if not SHARED.is_dir():
        pytest.skip("needs the ../shared data folder beside the repository")
    return SHARED
