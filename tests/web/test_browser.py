"""The web app in a real browser: ``gutbrain serve`` in a subprocess, headless Chromium.

Playwright (Python) drives Debian's ``chromium`` (``make browser`` installs it; Playwright's
own browser download is not used).  Without a browser these tests skip, except under CI
(``GUTBRAIN_REQUIRE_SHARED=1``), where they fail.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.conftest import shared_path

pytestmark = pytest.mark.slow

GIL = ("data", "giloteaux2016_mecfs_16s")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
JOB_URL = re.compile(r"/jobs/[0-9a-f]{32}$")


def _missing(reason: str) -> None:
    if os.environ.get("GUTBRAIN_REQUIRE_SHARED", "") not in ("", "0"):
        pytest.fail(f"{reason} (GUTBRAIN_REQUIRE_SHARED=1: the browser tests must run)")
    pytest.skip(reason)


def _chromium() -> str:
    for cand in (os.environ.get("GUTBRAIN_CHROMIUM"), "/usr/bin/chromium",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and Path(cand).is_file():
            return cand
    _missing("needs Debian's chromium (make browser, or apt-get install chromium)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("needs playwright (pip install playwright; it is in the [test] extra)")
    exe = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


class Server:
    """``gutbrain serve`` as a child process that the tests can kill -9 and restart."""

    def __init__(self, data: Path, workers: int = 3) -> None:
        self.data = data
        self.workers = workers
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = data.parent / "server.log"

    def start(self, wait_workers: bool = True) -> None:
        """Start the server; return when it answers (and, by default, its workers are ready)."""
        cmd = [sys.executable, "-c", "import sys; from gutbrain.cli import main; sys.exit(main())",
               "serve", "--port", str(self.port), "--data-dir", str(self.data),
               "--workers", str(self.workers)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("GUTBRAIN_TOKEN", None)
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                health = httpx.get(f"{self.url}/api/health", timeout=2).json()
                if not wait_workers or health["workers_ready"] == self.workers:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        raise AssertionError("server did not start: " + self.log.read_text()[-3000:])

    def children(self) -> list[int]:
        """Pids of the server's child processes (its workers), from /proc."""
        assert self.proc is not None
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                out.append(int(stat.parent.name))
        return out

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def api(self, path: str, **kw):
        return httpx.get(f"{self.url}{path}", timeout=30, **kw).json()


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    srv = Server(tmp_path_factory.mktemp("serve") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server.url, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def _giloteaux():
    return {r: shared_path(*GIL, f) for r, f in (("table", "feature_table.tsv"),
                                                  ("taxonomy", "taxonomy_table_features.tsv"),
                                                  ("metadata", "sample-metadata.tsv"))}


def _wait_idle(server, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = server.api("/api/health")
        counts = health["jobs"]
        if counts["queued"] == counts["running"] == 0 and health["workers_ready"] == server.workers:
            return
        time.sleep(0.5)
    raise AssertionError("jobs still active, or workers not ready")


def test_analyse_giloteaux_progress_report_and_zip(page, server, tmp_path):
    files = _giloteaux()
    _wait_idle(server)
    page.goto("/analyse")
    page.set_input_files("#f-table", str(files["table"]))
    page.set_input_files("#f-taxonomy", str(files["taxonomy"]))
    page.set_input_files("#f-metadata", str(files["metadata"]))
    # the group picker is filled from the uploaded metadata, levels shown
    page.wait_for_selector("#f-group option[value='Subject']", state="attached")
    label = page.inner_text("#f-group option[value='Subject']")
    md = pd.read_csv(files["metadata"], sep="\t", index_col=0)
    for level, n in md["Subject"].value_counts().items():
        assert f"{level} {n}" in label
    assert "87 samples" in page.inner_text("#md-summary")
    page.select_option("#f-group", "Subject")
    t0 = time.monotonic()
    page.click("#submit")
    page.wait_for_url(JOB_URL)
    assert time.monotonic() - t0 < 3.0  # the job page comes at once; the analysis runs after
    job_id = page.url.rsplit("/", 1)[-1]
    # watch the page: a reload would lose this marker, so the updates are in place
    page.evaluate("""() => {
        window.__marker = 1; window.__seen = [];
        const note = () => window.__seen.push([document.getElementById('job-step').textContent,
                                               document.getElementById('job-progress').value]);
        new MutationObserver(note).observe(document.getElementById('job'),
                                           {subtree: true, childList: true, characterData: true, attributes: true});
        note(); }""")
    page.wait_for_selector("#job[data-status='done'], #job[data-status='failed']", timeout=600_000)
    assert page.get_attribute("#job", "data-status") == "done", page.inner_text("#job-results")
    assert page.evaluate("window.__marker") == 1  # no reload happened
    seen = page.evaluate("window.__seen")
    steps = {s for s, _ in seen if s and s not in ("queued",)}
    values = [v for _, v in seen]
    assert len(steps) >= 2, seen  # the current step changed while we watched
    assert max(values) > min(values) and values == sorted(values), seen
    assert page.inner_text("#n-samples") == "87" and "Patient: 48" in page.inner_text("#group-sizes")
    # open the report (new tab)
    with page.context.expect_page() as tab:
        page.click("#link-report")
    report = tab.value
    report.wait_for_load_state()
    assert "87 samples × 138 features" in report.inner_text("body")
    report.close()
    # download the zip
    with page.expect_download() as dl:
        page.click("#link-zip")
    path = tmp_path / "out.zip"
    dl.value.save_as(path)
    zf = zipfile.ZipFile(path)
    prefix = f"gutbrain-{job_id[:8]}/"
    names = set(zf.namelist())
    assert {prefix + "report.html", prefix + "gutbrain.h5ad", prefix + "job.json"} <= names
    record = json.loads(zf.read(prefix + "job.json"))
    assert record["inputs"]["table"]["sha256"] == hashlib.sha256(files["table"].read_bytes()).hexdigest()
    assert record["params"]["group"] == "Subject"
    # the history page lists it as done
    page.goto("/jobs")
    assert page.get_attribute(f"#job-{job_id}", "data-status") == "done"


def test_input_error_keeps_files_and_choices(page, server, tmp_path):
    files = _giloteaux()
    bad_tree = tmp_path / "tree.nwk"
    bad_tree.write_text("((a,b);;; not a tree")
    page.goto("/analyse")
    page.set_input_files("#f-table", str(files["table"]))
    page.set_input_files("#f-metadata", str(files["metadata"]))
    page.set_input_files("#f-tree", str(bad_tree))
    page.wait_for_selector("#f-group option[value='Sex']", state="attached")
    page.select_option("#f-group", "Sex")
    page.fill("#f-seed", "7")
    before = server.api("/api/jobs")["total"]
    page.click("#submit")
    page.wait_for_selector("#form-error:not([hidden])")
    message = page.inner_text("#form-error")
    assert message.startswith("tree.nwk: ") and "Fix:" in message
    assert page.url.endswith("/analyse") and server.api("/api/jobs")["total"] == before
    # everything the user chose is still there
    assert page.eval_on_selector("#f-table", "e => e.files[0].name") == "feature_table.tsv"
    assert page.eval_on_selector("#f-metadata", "e => e.files[0].name") == "sample-metadata.tsv"
    assert page.input_value("#f-group") == "Sex" and page.input_value("#f-seed") == "7"
    # fix what the message names, submit again: the job is queued
    page.set_input_files("#f-tree", [])
    page.click("#submit")
    page.wait_for_url(JOB_URL)
    job = server.api(f"/api/jobs/{page.url.rsplit('/', 1)[-1]}")
    assert job["params"]["group"] == "Sex" and job["params"]["seed"] == 7 and "tree" not in job["inputs"]
    # not needed further: deleting it ends its worker (the next tests wait for an idle queue)
    assert httpx.delete(f"{server.url}/api/jobs/{job['id']}", timeout=30,
                        headers={"Origin": server.url}).status_code in (200, 204)


def test_three_jobs_run_at_once_and_all_finish(page, server):
    table = shared_path(*GIL, "feature_table.tsv")
    meta = shared_path(*GIL, "sample-metadata.tsv")
    # the smallest real input: 30 of the 87 Giloteaux samples
    lines = table.read_text().splitlines()
    head = lines[1].split("\t")
    keep = [0, *range(1, 31)]
    sub = "\n".join(["\t".join(head[i] for i in keep)]
                    + ["\t".join(row.split("\t")[i] for i in keep) for row in lines[2:]]) + "\n"
    _wait_idle(server)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        ids = [c.post("/api/jobs", files={"table": ("sub.tsv", sub.encode()),
                                          "metadata": ("md.tsv", meta.read_bytes())},
                      data={"seed": str(i)}).json()["id"] for i in range(3)]
        most = 0
        deadline = time.monotonic() + 600
        while True:
            states = [c.get(f"/api/jobs/{i}").json()["status"] for i in ids]
            most = max(most, states.count("running"))
            if all(s in ("done", "failed") for s in states):
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.1)
    assert states == ["done"] * 3, [server.api(f"/api/jobs/{i}")["error"] for i in ids]
    assert most == 3  # the three ran side by side, each in its own worker process
    page.goto("/jobs")
    for i in ids:
        assert page.get_attribute(f"#job-{i}", "data-status") == "done"
    summaries = [server.api(f"/api/jobs/{i}")["summary"] for i in ids]
    assert all(s["samples"] == 30 for s in summaries)
    got = pd.read_csv(io.StringIO(httpx.get(server.url + server.api(f"/api/jobs/{ids[0]}")["links"]["files"]["tables/qc_per_sample.tsv"]).text), sep="\t")
    assert len(got) == 30


def test_kill_9_mid_job_then_restart_keeps_history(page, server):
    files = _giloteaux()
    _wait_idle(server)
    done_before = {j["id"] for j in server.api("/api/jobs")["jobs"] if j["status"] == "done"}
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/api/jobs", files={k: (p.name, p.read_bytes()) for k, p in files.items()},
                   data={"group": "Subject"})
    assert r.status_code == 202, r.text
    jid = r.json()["id"]
    deadline = time.monotonic() + 300
    while server.api(f"/api/jobs/{jid}")["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    workers = server.children()
    assert len(workers) >= server.workers
    server.kill9()
    # the orphaned workers notice and exit (their job is recorded as interrupted below)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{p}").exists() for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [p for p in workers if Path(f"/proc/{p}").exists()
             and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]]
    assert not alive, alive
    server.start(wait_workers=False)  # recovery happens before the server answers
    history = server.api("/api/jobs")
    assert history["counts"]["running"] == 0
    jobs = {j["id"]: j for j in history["jobs"]}
    assert jobs[jid]["status"] == "failed" and "interrupted" in jobs[jid]["error"]
    assert {i for i, j in jobs.items() if j["status"] == "done"} >= done_before
    page.goto("/jobs")
    assert page.get_attribute(f"#job-{jid}", "data-status") == "failed"
    assert "interrupted" in page.inner_text(f"#job-{jid}")
    assert page.query_selector("tr[data-status='running']") is None
    for i in done_before:  # finished results survive: their reports still open
        report = jobs[i]["links"].get("report")
        if report:
            assert httpx.get(server.url + report, timeout=30).status_code == 200
