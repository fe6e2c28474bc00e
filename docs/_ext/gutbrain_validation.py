"""The parity table on ``validation.md``, generated from the test suite.

At ``config-inited`` this runs ``pytest -m validation tests`` (only the tests marked
``@pytest.mark.validation``, see ``tests/_validation_plugin.py``) with
``GUTBRAIN_VALIDATION_JSON`` set, reads the records the tests wrote while they ran (the values
their assertions checked) and writes ``_build/validation/table.md``, which ``validation.md``
includes.  A failing or erroring validation test fails the build, naming the test.

``GUTBRAIN_VALIDATION_RECORDS=<file>`` reuses the records of an earlier run (for example the
CI's own ``pytest`` run with ``GUTBRAIN_VALIDATION_JSON`` set) instead of running the tests
again; the page says which.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:  # the table is also built and checked by the test suite, which does not install Sphinx
    from sphinx.errors import ExtensionError
    from sphinx.util import logging
except ImportError:  # pragma: no cover - exercised where Sphinx is absent (make test)
    import logging

    class ExtensionError(Exception):  # type: ignore[no-redef]
        """Stands in for Sphinx's error class when Sphinx is not installed."""

if TYPE_CHECKING:
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)

RECORDS_ENV = "GUTBRAIN_VALIDATION_RECORDS"
TABLE = Path("_build") / "validation" / "table.md"


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v).replace("|", "\\|")


def _source(rec: dict[str, Any]) -> str:
    src = _fmt(rec.get("source"))
    doi = rec.get("doi") or ""
    if doi:
        src += f" ([doi:{doi}](https://doi.org/{doi}))"
    if rec.get("reference"):
        src += f"; {_fmt(rec['reference'])}"
    return src


def _values(row: dict[str, Any]) -> tuple[str, str, str]:
    if "rel_diff" in row:  # an array of values
        lo, hi = row.get("gutbrain_range", [None, None])
        ours = f"{row['n']} values in [{_fmt(lo)}, {_fmt(hi)}]"
        ref = f"{row['n']} values" + (f" (+{row['n_nan_matched']} NaN in both)" if row.get("n_nan_matched") else "")
        diff = f"max \\|Δ\\| {_fmt(row.get('abs_diff'))}, max rel {_fmt(row.get('rel_diff'))}"
        return ref, ours, diff
    diff = _fmt(row.get("abs_diff")) if row.get("abs_diff") is not None else "—"
    return _fmt(row.get("reference_value")), _fmt(row.get("gutbrain")), diff


_RESULT = {"passed": "✅ pass", "failed": "❌ fail", "skipped": "⏭ skipped"}


def render(records: list[dict[str, Any]], *, how: str) -> str:
    """MyST Markdown of the table: one row per recorded comparison, at least one per marked test."""
    lines = [
        how,
        "",
        "| Quantity | Source | Published / peer value | gutbrain's value | Largest difference | "
        "Tolerance | Result | Test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rec in sorted(records, key=lambda r: r["nodeid"]):
        rows = rec.get("rows") or [{"quantity": rec.get("quantity"), "tolerance": rec.get("tolerance")}]
        for row in rows:
            if "n" in row:
                ref, ours, diff = _values(row)
            else:  # skipped before recording
                ref = ours = diff = "—"
            result = _RESULT.get(rec["outcome"], rec["outcome"])
            if rec["outcome"] == "skipped" and rec.get("message"):
                result += f" ({_fmt(rec['message'])})"
            quantity = _fmt(row.get("quantity") or rec.get("quantity"))
            if row.get("note"):
                quantity += f" — {_fmt(row['note'])}"
            lines.append(
                f"| {quantity} | {_source(rec)} | {ref} | {ours} | {diff} | "
                f"{_fmt(row.get('tolerance') or rec.get('tolerance'))} | {result} | `{rec['nodeid']}` |"
            )
    return "\n".join(lines) + "\n"


def failures(records: list[dict[str, Any]]) -> list[str]:
    """``nodeid: message`` of every failed validation test."""
    return [f"{r['nodeid']}: {r.get('message', '')}" for r in records if r["outcome"] == "failed"]


def run_validation_tests(repo: Path, out: Path) -> tuple[int, float, str]:
    """``pytest -m validation tests`` with the records written to ``out``."""
    env = {**os.environ, "GUTBRAIN_VALIDATION_JSON": str(out)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "validation", "-p", "no:randomly", "tests"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=1800,
    )
    return proc.returncode, time.perf_counter() - t0, proc.stdout[-4000:] + proc.stderr[-2000:]


def build_table(app: Sphinx, config: Any) -> None:
    src = Path(app.srcdir)
    repo = src.parent
    out = src / TABLE
    out.parent.mkdir(parents=True, exist_ok=True)
    reuse = os.environ.get(RECORDS_ENV)
    if reuse:
        records_path = Path(reuse)
        if not records_path.is_file():
            raise ExtensionError(f"{RECORDS_ENV}={reuse}: no such file. Fix: unset it to run the validation tests")
        how = f"Records reused from `{records_path.name}` (a test run with `GUTBRAIN_VALIDATION_JSON` set)."
        code, output = 0, ""
    else:
        records_path = out.parent / "records.json"
        records_path.unlink(missing_ok=True)
        code, seconds, output = run_validation_tests(repo, records_path)
        how = (f"Generated while this site was built: `pytest -m validation tests` ran the marked tests "
               f"in {seconds:.0f} s.")
        if not records_path.is_file():
            raise ExtensionError(f"validation.md: pytest -m validation wrote no records (exit {code}):\n{output}")
    records = json.loads(records_path.read_text(encoding="utf-8"))["records"]
    bad = failures(records)
    if bad or (code not in (0, 5) and not reuse):
        raise ExtensionError("validation.md: validation tests failed:\n  " + "\n  ".join(bad or [output]))
    if not records:
        raise ExtensionError("validation.md: no test is marked @pytest.mark.validation")
    text = render(records, how=how)
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    n_rows = sum(max(1, len(r.get("rows") or [])) for r in records)
    logger.info("gutbrain_validation: %d tests, %d rows", len(records), n_rows)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", build_table)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
