"""The validation registry (tests/_validation_plugin.py) and the table docs/validation.md shows.

A tiny test file runs in a subprocess with the plugin: the records hold the values the tests
computed, a marked test that records nothing fails, and the docs table (rendered by
docs/_ext/gutbrain_validation.py) has a row for every marked test.  A static scan checks that
every marked test of this suite records what it checks.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TINY = '''
import math
import pytest

@pytest.mark.validation(quantity="pi", source="Archimedes", doi="10.0/x", tolerance="1e-3")
def test_pi(validation):
    ours = 355 / 113
    validation.record(ours, 3.14159265)
    assert abs(ours - math.pi) < 1e-3

@pytest.mark.validation(quantity="squares", source="arithmetic")
@pytest.mark.parametrize("k", [2, 3])
def test_squares(k, validation):
    ours = [i * i for i in range(k)]
    validation.record(ours, [i ** 2 for i in range(k)], quantity=f"squares below {k}")
    validation.record(k, k, quantity="k")

@pytest.mark.validation(source="nobody")
def test_forgets_to_record(validation):
    assert True

@pytest.mark.validation(source="wrong")
def test_fails(validation):
    validation.record(1.0, 2.0)
    assert 1.0 == 2.0

def test_unmarked():
    assert True
'''


def _ext():
    spec = importlib.util.spec_from_file_location("gutbrain_validation", REPO / "docs" / "_ext" / "gutbrain_validation.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("validation")
    (d / "test_tiny.py").write_text(TINY, encoding="utf-8")
    out = d / "records.json"
    env = {**os.environ, "GUTBRAIN_VALIDATION_JSON": str(out),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests._validation_plugin", "-p", "no:cacheprovider",
         "-m", "validation", "test_tiny.py"],
        cwd=d, env=env, capture_output=True, text=True, timeout=120,
    )
    records = {r["nodeid"]: r for r in json.loads(out.read_text(encoding="utf-8"))["records"]}
    return proc, records


def test_records_hold_what_the_tests_computed(tiny_run):
    proc, rec = tiny_run
    assert proc.returncode == 1, proc.stdout  # two marked tests fail on purpose
    assert set(rec) == {"test_tiny.py::test_pi", "test_tiny.py::test_squares[2]", "test_tiny.py::test_squares[3]",
                        "test_tiny.py::test_forgets_to_record", "test_tiny.py::test_fails"}  # not the unmarked one
    pi = rec["test_tiny.py::test_pi"]
    assert pi["outcome"] == "passed" and pi["doi"] == "10.0/x" and pi["source"] == "Archimedes"
    (row,) = pi["rows"]
    assert row["gutbrain"] == 355 / 113 and row["reference_value"] == 3.14159265
    assert row["abs_diff"] == pytest.approx(abs(355 / 113 - 3.14159265), rel=1e-12)
    sq = rec["test_tiny.py::test_squares[3]"]["rows"]
    assert [r["quantity"] for r in sq] == ["squares below 3", "k"]
    assert sq[0]["n"] == 3 and sq[0]["abs_diff"] == 0.0 and sq[0]["gutbrain_range"] == [0.0, 4.0]


def test_a_marked_test_that_records_nothing_fails(tiny_run):
    proc, rec = tiny_run
    forgot = rec["test_tiny.py::test_forgets_to_record"]
    assert forgot["outcome"] == "failed" and not forgot["rows"]
    assert "validation.record" in proc.stdout
    failed = rec["test_tiny.py::test_fails"]
    assert failed["outcome"] == "failed" and failed["rows"][0]["gutbrain"] == 1.0


def test_docs_table_has_a_row_per_marked_test_and_fails_on_a_failure(tiny_run):
    ext = _ext()
    _, rec = tiny_run
    records = list(rec.values())
    table = ext.render(records, how="test")
    body = [ln for ln in table.splitlines() if ln.startswith("| ") and "`" in ln]
    for nodeid, r in rec.items():
        assert sum(f"`{nodeid}`" in ln for ln in body) == max(1, len(r["rows"])), nodeid
    assert "[doi:10.0/x](https://doi.org/10.0/x)" in table
    assert "| 3.14159 | 3.14159 |" in table  # reference value, then gutbrain's
    assert "3 values in [0, 4]" in table
    bad = ext.failures(records)
    assert sorted(b.split(":")[0] for b in bad) == ["test_tiny.py", "test_tiny.py"]
    assert any("test_fails" in b for b in bad) and any("test_forgets_to_record" in b for b in bad)


def _marked_functions() -> list[tuple[Path, ast.FunctionDef]]:
    found = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                "mark.validation" in ast.unparse(d) for d in node.decorator_list
            ):
                found.append((path, node))
    return found


def test_every_marked_test_records_what_it_checks():
    marked = _marked_functions()
    families = {p.relative_to(REPO).as_posix() for p, _ in marked}
    # the families issue 19 names: MaAsLin2/3 and ANCOM-BC vs R, UniFrac / Faith PD vs QIIME 1.9.1,
    # GMHI, GMWI2, omixer modules, the Dobreva simulator, the health index LOSO, metabolomics
    assert {"tests/tl/test_da_lm.py", "tests/tl/test_maaslin3.py", "tests/tl/test_da_methods.py",
            "tests/tl/test_unifrac.py", "tests/tl/test_alpha.py", "tests/tl/test_gmhi.py", "tests/tl/test_gmwi2.py",
            "tests/tl/test_modules.py", "tests/sim/test_core.py", "tests/ml/test_health_index.py",
            "tests/tl/test_metabolites.py"} <= families
    for path, fn in marked:
        args = [a.arg for a in fn.args.args]
        assert "validation" in args, f"{path.name}::{fn.name} is marked but has no `validation` fixture"
        calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and ast.unparse(n.func) == "validation.record"]
        assert calls, f"{path.name}::{fn.name} is marked but never calls validation.record"


def test_validation_page_includes_the_generated_table():
    page = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    ext = _ext()
    assert f"```{{include}} {ext.TABLE.as_posix()}\n```" in page
    assert "does **not** cover yet" not in page
    conf = (REPO / "docs" / "conf.py").read_text(encoding="utf-8")
    assert '"gutbrain_validation"' in conf


def test_a_failing_validation_test_fails_the_docs_build_naming_it(tiny_run, tmp_path, monkeypatch):
    from types import SimpleNamespace

    ext = _ext()
    records = [r for r in tiny_run[1].values()]
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"records": records}), encoding="utf-8")
    monkeypatch.setenv(ext.RECORDS_ENV, str(path))
    app = SimpleNamespace(srcdir=str(tmp_path / "docs"))
    with pytest.raises(ext.ExtensionError, match=r"test_tiny.py::test_fails"):
        ext.build_table(app, None)
    ok = [r for r in records if r["outcome"] == "passed"]
    path.write_text(json.dumps({"records": ok}), encoding="utf-8")
    ext.build_table(app, None)
    table = (tmp_path / "docs" / ext.TABLE).read_text(encoding="utf-8")
    assert all(f"`{r['nodeid']}`" in table for r in ok) and "Records reused" in table
