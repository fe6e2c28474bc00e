"""Start-up stays light: ``import gutbrain`` and ``gutbrain --help`` load no heavy library.

Each check runs in a fresh interpreter (the test process has imported everything
already). Times are measured in ``benchmarks/startup.py``, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Libraries that cost 0.1–1 s each to import; they load where they are used.
HEAVY = ("scipy", "sklearn", "statsmodels", "numba", "matplotlib", "roadrunner", "skbio", "dask",
         "distributed", "formulaic", "fastapi", "h5py", "zarr")


def _loaded_after(code: str) -> tuple[list[str], str]:
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stdout


def test_import_gutbrain_loads_no_heavy_module():
    loaded, _ = _loaded_after("import gutbrain")
    assert loaded == []


def test_cli_help_loads_no_heavy_module():
    code = ("import contextlib, io, sys\n"
            "from gutbrain.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code in (0, None), exc.code\n"
            "assert 'Usage' in buf.getvalue()\n")
    loaded, _ = _loaded_after(code)
    assert loaded == []


def test_namespaces_load_on_first_access():
    """``gb.<namespace>`` imports the namespace on first use and caches it on the package."""
    code = ("import sys, gutbrain as gb\n"
            "assert not [m for m in sys.modules if m.startswith('gutbrain.') and m[9:] in gb._NAMESPACES]\n"
            "for name in sorted(gb._NAMESPACES):\n"
            "    mod = getattr(gb, name)\n"
            "    assert mod is sys.modules['gutbrain.' + name] and gb.__dict__[name] is mod, name\n"
            "    assert set(getattr(mod, '__all__', ())) <= set(dir(mod)), name\n"
            "from gutbrain import tl\n"
            "assert tl is gb.tl\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


def test_unknown_attribute_is_an_attribute_error():
    import gutbrain

    with pytest.raises(AttributeError, match="no attribute 'not_a_namespace'"):
        gutbrain.not_a_namespace  # noqa: B018
    assert set(gutbrain.__all__) <= set(dir(gutbrain))


def test_run_lists_every_step_and_section_without_loading_namespaces():
    """``gutbrain run``'s steps and report sections are explicit lists: complete on a lazy import."""
    code = ("import json\n"
            "import gutbrain.report, gutbrain.workflow\n"
            "print(json.dumps([[s.key for s in gutbrain.workflow.STEPS], [k for k, _ in gutbrain.report.SECTIONS]]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    steps, sections = json.loads(res.stdout.strip().splitlines()[-1])
    import gutbrain.report
    import gutbrain.workflow

    assert steps == [s.key for s in gutbrain.workflow.STEPS]
    assert sections == [k for k, _ in gutbrain.report.SECTIONS]
    assert {"design_check", "diff_abundance", "metabolites", "evidence", "resemblance"} <= set(steps)
