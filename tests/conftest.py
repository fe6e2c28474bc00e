"""Shared fixtures: the ../shared data folder (skipped with a reason when absent).

Every test that reads ``../shared`` goes through :func:`shared_path` or the ``shared`` fixture.
With ``GUTBRAIN_REQUIRE_SHARED=1`` (set by ``.ci/run``) a missing shared file is a *failure*,
not a skip, so CI cannot go green without the real-data tests; a safety net in
:func:`pytest_runtest_makereport` turns any other skip that mentions ``../shared`` into a
failure as well.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REQUIRE_ENV = "GUTBRAIN_REQUIRE_SHARED"

# @pytest.mark.validation + the `validation` fixture: the registry behind docs/validation.md
pytest_plugins = ["tests._validation_plugin"]


def _require_shared() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _missing(what: str) -> None:
    where = f"../shared/{what}" if what else "../shared"
    msg = f"needs {where} (the shared data folder beside the repo)"
    if _require_shared():
        pytest.fail(f"{msg}; {REQUIRE_ENV}=1 makes this a failure", pytrace=False)
    pytest.skip(msg)


def shared_path(*parts: str) -> Path:
    """Return a path under ../shared, skipping the test when it is absent (failing under CI)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        _missing("/".join(parts))
    return path


@pytest.fixture
def shared() -> Path:
    """The ../shared folder; skips the test when it is not beside the repository."""
    if not SHARED.is_dir():
        _missing("")
    return SHARED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under GUTBRAIN_REQUIRE_SHARED=1, any skip whose reason names ../shared fails."""
    report = yield
    if report.skipped and _require_shared():
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
        if "shared" in reason:
            report.outcome = "failed"
            report.longrepr = f"{reason} — {REQUIRE_ENV}=1 turns shared-data skips into failures"
    return report
