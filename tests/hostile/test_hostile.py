"""The hostile-file corpus (issue 17): every file gives one clean GutbrainError line, fast and small.

The corpus is generated at test time (``make_corpus.py``; no binary blobs in git) and fed
to gutbrain in a *separate* process (``run_corpus.py``), so a crash of a compiled library
shows up as a failure naming the file instead of killing the test run.  For each file:
the reader raises the expected GutbrainError subclass with a one-line message (≤ 600
characters) naming the file; ``gutbrain inspect FILE`` exits 2 with one stderr line of at
most 300 characters; both answer within seconds; the process's peak memory stays far
below the 3 GB budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.make_corpus import CASES, make_corpus

HERE = Path(__file__).parent
FAMILIES = {  # every family named in issue 17
    "compression bomb", "archive bomb", "YAML entity expansion", "XML entity attack",
    "out-of-range HDF5 indices", "unsupported HDF5 filter", "deep JSON", "corrupt archive",
    "malformed h5ad", "absurd values", "20 MB single line",
}
#: Generous bounds for a loaded 2-core CI machine; each file takes < 1 s when idle.
MAX_SECONDS = 20.0
#: Peak resident memory of the whole worker (imports included, ~0.4 GB) — the bombs
#: unguarded reached 5–7 GB.
MAX_PEAK_MIB = 1500.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    corpus = tmp_path_factory.mktemp("hostile")
    make_corpus(corpus)
    proc = subprocess.run(
        [sys.executable, str(HERE / "run_corpus.py"), str(corpus)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    started = [d["start"] for d in lines if "start" in d]
    return {
        "returncode": proc.returncode,
        "stderr": proc.stderr[-2000:],
        "done": any(d.get("done") for d in lines),
        "last_started": started[-1] if started else None,
        "cases": {d["name"]: d for d in lines if "name" in d},
        "baseline": next((d["baseline_peak_mib"] for d in lines if "baseline_peak_mib" in d), 0.0),
    }


def test_every_family_is_in_the_corpus():
    assert {c.family for c in CASES} >= FAMILIES


def test_the_process_survives_the_whole_corpus(results):
    assert results["done"] and results["returncode"] == 0, (
        f"the worker died (exit {results['returncode']}) while reading "
        f"{results['last_started']!r}: {results['stderr']}"
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file_gives_one_clean_error_line(results, case):
    got = results["cases"].get(case.name)
    assert got is not None, f"{case.name} not reached (worker died at {results['last_started']!r})"
    assert got["outcome"] == "error", got.get("traceback") or got
    assert case.error in got["classes"], (case.error, got["classes"], got["message"])
    msg = got["message"]
    assert "\n" not in msg and len(msg) <= 600, msg[:700]
    assert case.name in msg, msg  # names the file
    assert case.match in msg.lower(), msg
    if case.error == "LimitError":  # names the limit and how to raise it
        assert "limit" in msg and "GUTBRAIN_" in msg, msg
    assert got["seconds"] < MAX_SECONDS, got["seconds"]
    # the CLI: exit status 2, nothing on stdout, one stderr line of at most 300 characters
    assert got["cli_exit"] == 2, (got["cli_exit"], got["cli_stderr"], got["cli_stdout"])
    err = got["cli_stderr"].rstrip("\n")
    assert "\n" not in err and err.startswith("gutbrain: error: ") and len(err) <= 300, err
    assert got["cli_stdout"] == ""
    assert got["cli_seconds"] < MAX_SECONDS


def test_peak_memory_stays_small(results):
    peaks = {n: d["peak_mib_after_cli"] for n, d in results["cases"].items()}
    worst = max(peaks, key=peaks.get)
    assert peaks[worst] < MAX_PEAK_MIB, f"{worst}: {peaks[worst]:.0f} MiB (baseline {results['baseline']:.0f})"
