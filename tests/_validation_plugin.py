"""The validation registry: tests that compare gutbrain with a published number or a peer tool.

A test joins the registry with a marker that says *what* is compared and *against whom*, and
records, while it runs, the values its assertion checks::

    @pytest.mark.validation(quantity="GMHI of 4,347 published profiles", source="Gupta et al. 2020",
                            doi="10.1038/s41467-020-18476-8", tolerance="max |Δ| < 1e-12")
    def test_gmhi_reproduces_published_output(validation):
        ...
        validation.record(ours, published)

``record`` takes scalars (the value and the reference value) or arrays of the same shape (then
the row shows how many values were compared and the largest absolute and relative
difference).  Several ``record`` calls in one test give several rows (pass ``quantity=`` to
name each).

When the environment variable ``GUTBRAIN_VALIDATION_JSON`` names a file, the session writes
every marked test's records and outcome there (atomically) at the end; ``make docs`` runs
``pytest -m validation`` this way and renders the table on ``docs/validation.md``
(``docs/_ext/gutbrain_validation.py``).  A marked test that passes without recording a value
fails: the table would otherwise show a row with nothing checked.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ENV = "GUTBRAIN_VALIDATION_JSON"
MARKER = "validation"
FIELDS = ("quantity", "source", "doi", "reference", "tolerance")

_KEY = pytest.StashKey[dict[str, dict[str, Any]]]()


def _number(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _summary(value: Any, reference: Any) -> dict[str, Any]:
    """What a row shows for one comparison: the two values, or for arrays n and the largest gaps."""
    if np.ndim(value) == 0 and np.ndim(reference) == 0:
        out: dict[str, Any] = {"n": 1}
        for name, v in (("gutbrain", value), ("reference_value", reference)):
            num = _number(v)
            out[name] = num if num is not None else (None if v is None else str(v))
        a, b = _number(value), _number(reference)
        if a is not None and b is not None:
            out["abs_diff"] = abs(a - b)
        return out
    a = np.asarray(value, dtype=float).ravel()
    b = np.asarray(reference, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"validation.record: {a.size} values against {b.size} reference values")
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        raise ValueError("validation.record: no finite pair of values to compare")
    d = np.abs(a[both] - b[both])
    rel = d / np.maximum(np.abs(b[both]), np.finfo(float).tiny)
    return {"n": int(both.sum()), "n_nan_matched": int((np.isnan(a) & np.isnan(b)).sum()),
            "gutbrain": f"{a.size} values", "reference_value": f"{b.size} values",
            "abs_diff": float(d.max()), "rel_diff": float(rel.max()),
            "gutbrain_range": [float(a[both].min()), float(a[both].max())]}


@dataclass
class Recorder:
    """The ``validation`` fixture: ``record(gutbrain_value, reference_value, quantity=..., tolerance=...)``."""

    nodeid: str
    meta: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, value: Any, reference: Any, *, quantity: str | None = None,
               tolerance: str | None = None, note: str | None = None) -> None:
        """Record a value gutbrain computed in this test and the published/peer value it is checked against."""
        row = {"quantity": quantity or self.meta.get("quantity", ""),
               "tolerance": tolerance or self.meta.get("tolerance", ""),
               "note": note or ""}
        row.update(_summary(value, reference))
        self.rows.append(row)


def _meta(item: pytest.Item) -> dict[str, Any] | None:
    mark = item.get_closest_marker(MARKER)
    if mark is None:
        return None
    unknown = set(mark.kwargs) - set(FIELDS)
    if mark.args or unknown or not mark.kwargs.get("source"):
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.validation takes keyword arguments {FIELDS} "
            f"(source= is required); got args {mark.args} and {sorted(unknown) or 'no unknown'} keywords")
    return {k: mark.kwargs.get(k, "") for k in FIELDS}


@pytest.fixture
def validation(request: pytest.FixtureRequest) -> Recorder:
    """Records the values a ``@pytest.mark.validation`` test checks (see the module docstring)."""
    meta = _meta(request.node)
    if meta is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the validation fixture needs @pytest.mark.validation(...)")
    rec = Recorder(request.node.nodeid, meta)
    request.node.stash[_RECORDER] = rec
    return rec


_RECORDER = pytest.StashKey[Recorder]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "validation(quantity, source, doi, reference, tolerance): compares gutbrain with a published "
        "number or a peer tool; the test records the values with the `validation` fixture "
        "(tests/_validation_plugin.py) and docs/validation.md shows them",
    )
    config.stash[_KEY] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _meta(item) is not None and "validation" not in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: marked @pytest.mark.validation but does not use the "
                                    "`validation` fixture to record what it checks")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    meta = _meta(item)
    if meta is None:
        return report
    store = item.config.stash[_KEY]
    entry = store.setdefault(item.nodeid, {"nodeid": item.nodeid, **meta, "outcome": "passed",
                                           "message": "", "rows": []})
    rec = item.stash.get(_RECORDER, None)
    if rec is not None:
        entry["rows"] = rec.rows
    if report.when == "call" and report.passed and rec is not None and not rec.rows:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid}: a @pytest.mark.validation test passed without "
                           "validation.record(...): nothing for docs/validation.md to show")
    if report.failed:
        entry["outcome"] = "failed"
        entry["message"] = str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""
    elif report.skipped and entry["outcome"] != "failed":
        entry["outcome"] = "skipped"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        entry["message"] = str(reason).removeprefix("Skipped: ")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    records = sorted(session.config.stash.get(_KEY, {}).values(), key=lambda e: e["nodeid"])
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"records": records}, fh, indent=1, default=str)
    os.replace(tmp, out)
