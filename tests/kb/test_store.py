"""The evidence store survives concurrent imports, a kill mid-import and a damaged file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gutbrain as gb
from gutbrain.cli import app
from gutbrain.kb import CorruptStoreError
from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[2]

# A child process that loads gutbrain, prints READY and waits for a line on stdin (so
# that its slow start overlaps the parent's work), then imports ``path`` with
# ``importer`` and, once its write transaction holds the overlay's lock (inside the
# transaction, after the rows are inserted), prints LOCKED and sleeps ``pause`` seconds
# before committing.
_CHILD = textwrap.dedent("""
    import sys, time
    import gutbrain.kb._import as imp
    print("READY", flush=True)
    sys.stdin.readline()
    importer, path, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    real = imp.log_import
    def slow(con, directory, entry):
        real(con, directory, entry)
        print("LOCKED", flush=True)
        time.sleep(pause)
    imp.log_import = slow
    getattr(imp, importer)(path)
    print("DONE", flush=True)
""")


def _seed_base_cache(kbdir: Path) -> None:
    """Give child processes this process's built base (they would otherwise rebuild it)."""
    from gutbrain.kb import _store

    base = _store._base_database()
    kbdir.mkdir(parents=True, exist_ok=True)
    cache = kbdir / f"base-{base.digest}.sqlite"
    if not cache.exists():
        dst = sqlite3.connect(cache)
        try:
            base.con.backup(dst)
        finally:
            dst.close()


def _child(importer: str, path: Path, pause: float, kbdir: Path) -> subprocess.Popen[str]:
    _seed_base_cache(kbdir)
    env = {**os.environ, "GUTBRAIN_KB_DIR": str(kbdir), "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-c", _CHILD, importer, str(path), str(pause)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env,
                            cwd=str(ROOT))


def _go(proc: subprocess.Popen[str]) -> None:
    """Let a READY child start its import."""
    _wait_for(proc, "READY")
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def _wait_for(proc: subprocess.Popen[str], word: str, timeout: float = 120) -> None:
    t0 = time.monotonic()
    assert proc.stdout is not None
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if word in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child ended without {word}: {proc.stderr.read() if proc.stderr else ''}")
    raise AssertionError(f"child did not print {word} in {timeout} s")


def _sources(kbdir: Path) -> set[str]:
    return {s.split(":")[0] for s in gb.kb.sources(gb.kb.load(kbdir))["source"]}


@pytest.mark.slow
def test_two_concurrent_imports_both_land(kbdir, tmp_path):
    """B starts while A holds the write lock; B waits, then both sources are present."""
    dis = shared_path("evidence", "disbiome", "disbiome_focus_conditions.csv")
    cur = shared_path("evidence", "curated", "findings.csv")
    a = _child("import_disbiome", dis, 3.0, kbdir)
    try:
        b = _child("import_curated", cur, 0.0, kbdir)  # starts up while A does
        try:
            _go(a)
            _wait_for(a, "LOCKED")
            _go(b)  # B begins its import while A holds the lock
            time.sleep(1.0)
            assert b.poll() is None  # B waits for A's lock; it does not overwrite A
            assert a.wait(timeout=120) == 0 and b.wait(timeout=120) == 0
        finally:
            b.kill()
    finally:
        a.kill()
    assert {"disbiome", "curated"} <= _sources(kbdir)
    kb = gb.kb.load(kbdir)
    n = kb.sql("SELECT source_id, COUNT(*) n FROM observation GROUP BY source_id")
    assert n.loc[n["source_id"].str.startswith("disbiome:"), "n"].item() > 2000
    assert n.loc[n["source_id"].str.startswith("curated:"), "n"].item() >= 10


@pytest.mark.slow
def test_kill_during_import_leaves_the_previous_store(kbdir):
    cur = shared_path("evidence", "curated", "findings.csv")
    dis = shared_path("evidence", "disbiome", "disbiome_focus_conditions.csv")
    proc = _child("import_disbiome", dis, 60.0, kbdir)  # starts up meanwhile
    try:
        gb.kb.import_curated(cur)
        before = gb.kb.load(kbdir).counts()
        _go(proc)  # the child's import starts from the store holding the curated rows
        _wait_for(proc, "LOCKED")  # rows inserted, transaction open
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert (kbdir / "overlay.sqlite-journal").exists()  # a hot journal: SQLite rolls it back
    kb = gb.kb.load(kbdir)
    assert kb.counts() == before
    assert "disbiome" not in _sources(kbdir)
    # the store is writable again, and the interrupted import can be redone
    rep = gb.kb.import_disbiome(dis)
    assert gb.kb.load(kbdir).counts()["observation"] == before["observation"] + rep.imported["observation"]


def test_failed_import_changes_nothing(kbdir, tmp_path):
    cur = shared_path("evidence", "curated", "findings.csv")
    gb.kb.import_curated(cur)
    before = gb.kb.load(kbdir).sql("SELECT * FROM observation ORDER BY obs_id")
    bad = tmp_path / "findings.csv"  # same family: would replace the rows above
    text = open(cur, encoding="utf-8").read().replace(",animal_model,", ",rodent_study,", 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(gb.DataValueError, match=r"findings\.csv, line \d+, column 'evidence_level'"):
        gb.kb.import_curated(bad)
    after = gb.kb.load(kbdir).sql("SELECT * FROM observation ORDER BY obs_id")
    assert after.equals(before)


def test_damaged_overlay_is_named_with_the_recovery_command(kbdir):
    cur = shared_path("evidence", "curated", "findings.csv")
    rep = gb.kb.import_curated(cur)
    n = rep.imported["observation"]
    ov = kbdir / "overlay.sqlite"
    raw = bytearray(ov.read_bytes())
    raw[100:4096] = b"\x00garbage" * ((4096 - 100) // 8) + b"\x00" * ((4096 - 100) % 8)
    ov.write_bytes(bytes(raw))
    with pytest.raises(CorruptStoreError) as err:
        gb.kb.load(kbdir)
    msg = str(err.value)
    assert str(ov) in msg and "gutbrain evidence rebuild" in msg and "\n" not in msg
    r = CliRunner().invoke(app, ["evidence", "Blautia", "--kb-dir", str(kbdir)])
    assert r.exit_code == 2 and "gutbrain evidence rebuild" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(app, ["evidence", "rebuild", "--kb-dir", str(kbdir)])
    assert r.exit_code == 0, r.output
    assert "moved the old overlay" in r.output and "re-imported" in r.output
    kb = gb.kb.load(kbdir)
    cur_rows = kb.sql("SELECT COUNT(*) n FROM observation WHERE source_id LIKE 'curated:%'")
    assert cur_rows["n"].item() == n
    assert list(kbdir.glob("overlay.sqlite.broken-*"))


def test_not_an_overlay_is_refused(kbdir):
    kbdir.mkdir(parents=True)
    (kbdir / "overlay.sqlite").write_text("this is not a database", encoding="utf-8")
    with pytest.raises(CorruptStoreError, match="gutbrain evidence rebuild"):
        gb.kb.load(kbdir)
