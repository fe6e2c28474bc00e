"""Run every peer comparison at quick sizes and print one table (what ``make bench`` runs).

Usage::

    python benchmarks/run_all.py                 # quick sizes (a few minutes)
    python benchmarks/run_all.py --only beta,ordination
    python benchmarks/run_all.py --log-dir bench-logs   # keep each script's full output

Each script runs in its own process with ``GUTBRAIN_BENCH_RESULTS`` naming a JSON-lines
file; the scripts append one row per comparison (``benchmarks/_bench.py: record``). The
table has: the work, its size, the peer and its time, gutbrain's time, the ratio peer /
gutbrain (> 1: gutbrain faster), and — where one exists — the floor (the fastest simple
implementation of the same arithmetic, timed in the same run) with gutbrain / floor
(1.00 = at the floor). Every number of a row is measured side by side in one process;
the machine, its load and the library versions are printed above the table. Full sizes:
run each script with ``--help``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: script → arguments of the quick run.
QUICK: dict[str, list[str]] = {
    "beta": ["--quick", "--repeat", "3", "--skip-scipy"],
    "ordination": ["--quick", "--engines", "numba"],
    "da": ["--n", "2000", "--f", "500", "--skip-ancombc", "--repeat", "3"],
    "maaslin3": ["--n", "2000", "--f", "500", "--loop-subset", "100", "--repeat", "1"],  # own table only
    "read_biom": ["--repeats", "1"],
    "read_metaphlan": ["--repeats", "1", "--no-plain"],
    "sim": ["--runs", "50", "--big", "500"],
    "startup": ["--runs", "5"],
}


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def table(rows: list[dict], *, markdown: bool = False) -> str:
    head = ["work", "size", "peer", "peer s", "gutbrain s", "peer/gb", "floor", "floor s", "gb/floor"]
    body = []
    for r in rows:
        body.append([
            r["work"], r["size"], r["peer"] or "—", _fmt_s(r["peer_s"]), _fmt_s(r["gutbrain_s"]),
            f"{r['ratio']:.1f}×" if r.get("ratio") else "—", r.get("floor") or "—", _fmt_s(r.get("floor_s")),
            f"{r['floor_ratio']:.2f}" if r.get("floor_ratio") else "—",
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    edge = "| " if markdown else ""
    end = " |" if markdown else ""
    lines = [edge + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + end,
             edge + "-|-".join("-" * w for w in widths) + end]
    lines += [edge + " | ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) + end for row in body]
    notes = [f"  {r['work']} ({r['size']}): {r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", default=",".join(QUICK), help="comma-separated scripts")
    ap.add_argument("--log-dir", type=Path, default=None, help="keep each script's output here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from _bench import RESULTS_ENV, machine

    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="gutbrain-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    results = log_dir / "results.jsonl"
    results.write_text("")
    env = {**os.environ, RESULTS_ENV: str(results)}
    print(machine(), flush=True)
    failed = []
    for name in [s for s in args.only.split(",") if s]:
        cmd = [sys.executable, str(HERE / f"{name}.py"), *QUICK.get(name, [])]
        t0 = time.perf_counter()
        with open(log_dir / f"{name}.log", "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=HERE).returncode
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
        if rc:
            failed.append(name)
        print(f"  {name:<15} {time.perf_counter() - t0:7.1f} s  {status}   log: {log_dir / f'{name}.log'}",
              flush=True)
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    load = max((r["load"] for r in rows), default=0.0)
    print(f"\n{len(rows)} comparisons; highest 1-min load average during the runs: {load:.1f} "
          f"on {os.cpu_count()} cores (ratios are side by side in one process; absolute seconds drift)\n")
    print(table(rows, markdown=args.markdown))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
