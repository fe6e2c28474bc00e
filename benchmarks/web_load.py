"""Load test of ``gutbrain serve``: many submissions at once, no job lost, status latency.

Starts ``gutbrain serve`` in a child process on a free port with a temporary data folder,
submits ``--n`` jobs concurrently (one thread each), then polls ``GET /api/jobs/{id}`` from
``--pollers`` threads until every job is done or failed, and reports:

* jobs lost: accepted (HTTP 202) but missing from the history, or not finished — must be 0;
* the 50th/95th percentile latency of the submissions and of the status requests;
* the wall time until the queue was empty.

Jobs are LPS simulations (``kind=simulate``, a few hours of model time) by default: real
jobs through the whole queue/worker path, cheap enough that the server, not the analysis,
is what is measured.  ``--kind run`` submits ``gutbrain run`` jobs on a small generated
table instead.  Not a timed unit test: run it by hand, e.g.::

    .venv/bin/python benchmarks/web_load.py --n 50 --workers 2
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _small_table(seed: int = 0) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(seed)
    samples = [f"S{i:02d}" for i in range(12)]
    counts = pd.DataFrame(rng.poisson(300, (15, 12)), columns=samples,
                          index=pd.Index([f"g{i}" for i in range(15)], name="feature_id"))
    meta = pd.DataFrame({"sample_id": samples, "group": ["a", "b"] * 6})
    return counts.to_csv(sep="\t").encode(), meta.to_csv(sep="\t", index=False).encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=50, help="concurrent submissions (default 50)")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--pollers", type=int, default=4, help="threads polling job status")
    ap.add_argument("--kind", choices=["simulate", "run"], default="simulate")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds until giving up")
    args = ap.parse_args(argv)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="gutbrain-load-") as tmp:
        log = open(Path(tmp) / "server.log", "wb")
        env = {k: v for k, v in os.environ.items() if k != "GUTBRAIN_TOKEN"}
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from gutbrain.cli import main; sys.exit(main())",
             "serve", "--port", str(port), "--data-dir", str(Path(tmp) / "data"),
             "--workers", str(args.workers)], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            return _load(url, args, server)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()


def _load(url: str, args: argparse.Namespace, server: subprocess.Popen) -> int:
    deadline = time.monotonic() + 300
    while True:
        if server.poll() is not None:
            print("server exited during start-up", file=sys.stderr)
            return 2
        try:
            if httpx.get(f"{url}/api/health", timeout=2).json()["workers_ready"] == args.workers:
                break
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            print("server did not become ready", file=sys.stderr)
            return 2
        time.sleep(0.3)

    table, meta = _small_table()

    def submit(i: int) -> tuple[int, str | None, float]:
        if args.kind == "simulate":
            files = None
            data = {"kind": "simulate", "hours": str(2 + i % 5), "dose": "2"}
        else:
            files = {"table": ("t.tsv", table), "metadata": ("m.tsv", meta)}
            data = {"group": "group", "seed": str(i)}
        t0 = time.perf_counter()
        r = httpx.post(f"{url}/api/jobs", data=data, files=files, timeout=120)
        dt = time.perf_counter() - t0
        return r.status_code, (r.json().get("id") if r.status_code == 202 else r.text[:200]), dt

    t_start = time.perf_counter()
    with ThreadPoolExecutor(args.n) as pool:
        results = list(pool.map(submit, range(args.n)))
    accepted = [jid for code, jid, _ in results if code == 202 and jid]
    refused = [(code, msg) for code, msg, _ in results if code != 202]
    submit_lat = np.array([dt for *_, dt in results])

    latencies: list[float] = []
    pending = set(accepted)
    lock = threading.Lock()
    stop = threading.Event()
    end = time.monotonic() + args.timeout

    def poll(k: int) -> None:
        rng = np.random.default_rng(k)
        with httpx.Client(base_url=url, timeout=60) as c:
            while not stop.is_set() and time.monotonic() < end:
                with lock:
                    if not pending:
                        return
                    jid = sorted(pending)[int(rng.integers(len(pending)))]
                t0 = time.perf_counter()
                status = c.get(f"/api/jobs/{jid}").json()["status"]
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if status in ("done", "failed"):
                        pending.discard(jid)
                time.sleep(0.05)

    with ThreadPoolExecutor(args.pollers) as pool:
        list(pool.map(poll, range(args.pollers)))
    stop.set()
    wall = time.perf_counter() - t_start

    history = {j["id"]: j for j in httpx.get(f"{url}/api/jobs", params={"limit": 1000},
                                             timeout=60).json()["jobs"]}
    lost = [j for j in accepted if j not in history or history[j]["status"] not in ("done", "failed")]
    failed = [j for j in accepted if j in history and history[j]["status"] == "failed"]
    lat = np.array(latencies)
    print(f"kind={args.kind} submissions={args.n} workers={args.workers} pollers={args.pollers}")
    print(f"accepted={len(accepted)} refused={len(refused)} lost={len(lost)} failed={len(failed)}")
    print(f"submit latency  p50={np.percentile(submit_lat, 50) * 1e3:.0f} ms  "
          f"p95={np.percentile(submit_lat, 95) * 1e3:.0f} ms")
    if lat.size:
        print(f"status latency  p50={np.percentile(lat, 50) * 1e3:.0f} ms  "
              f"p95={np.percentile(lat, 95) * 1e3:.0f} ms  ({lat.size} requests)")
    print(f"queue empty after {wall:.1f} s")
    for code, msg in refused[:3]:
        print(f"  refused: {code} {msg}")
    for j in failed[:3]:
        print(f"  failed: {history[j]['error']}")
    return 1 if (lost or refused) else 0


if __name__ == "__main__":
    raise SystemExit(main())
