"""Run every peer comparison at quick sizes and print one table (what ``make bench`` runs).

Usage::

    python benchmarks/run_all.py                 # quick sizes (a few minutes)
    python benchmarks/run_all.py --only beta,ordination
    python benchmarks/run_all.py --log-dir bench-logs   # keep each script's full output
    python benchmarks/run_all.py --full          # the sizes of issue 18 (an hour or more)
    python benchmarks/run_all.py --table results.jsonl  # print the table of earlier runs

Each script runs in its own process with ``GUTBRAIN_BENCH_RESULTS`` naming a JSON-lines
file; the scripts append one row per comparison (``benchmarks/_bench.py: record``). The
table has: the work, its size, the peer and its time, gutbrain's time, the ratio peer /
gutbrain (> 1: gutbrain faster), and — where one exists — the floor (the fastest simple
implementation of the same arithmetic, or the floor as issue 18 defines it, timed in the
same run) with gutbrain / floor (1.00 = at the floor); where a stricter floor exists (less
arithmetic than the defined one), it has its own three columns. Every number of a row is
measured side by side in one process; the machine, its load and the library versions are
printed above the table. ``--full`` runs the sizes named in issue 18 (dense Bray–Curtis
10,000 and 4,000 × 2,000; PCoA, PERMANOVA, PERMDISP at N = 10,000); each script's
``--help`` lists its own sizes.
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
    "ordination": ["--quick", "--engines", "numba", "--repeat", "3"],
    "da": ["--n", "2000", "--f", "500", "--skip-ancombc", "--repeat", "3"],
    "maaslin3": ["--n", "2000", "--f", "500", "--loop-subset", "100", "--repeat", "1"],  # own table only
    "read_biom": ["--repeats", "1"],
    "write_h5ad": ["--repeats", "3"],
    "read_metaphlan": ["--repeats", "1", "--no-plain"],
    "sim": ["--runs", "50", "--big", "500"],
    "startup": ["--runs", "5"],
    "classifier": ["--repeats", "2"],
}


#: script → arguments of the full-size run (the sizes named in issue 18).
FULL: dict[str, list[str]] = {
    "beta": ["--no-sparse", "--dense-n", "10000,4000", "--repeat", "3"],
    "ordination": ["--engines", "numba", "--repeat", "3"],
}


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def table(rows: list[dict], *, markdown: bool = False) -> str:
    head = ["work", "size", "peer", "peer s", "gutbrain s", "peer/gb", "floor", "floor s", "gb/floor"]
    strict = any(r.get("strict_s") for r in rows)
    if strict:
        head += ["strict floor", "strict s", "gb/strict"]
    body = []
    for r in rows:
        body.append([
            r["work"], r["size"], r["peer"] or "—", _fmt_s(r["peer_s"]), _fmt_s(r["gutbrain_s"]),
            f"{r['ratio']:.1f}×" if r.get("ratio") else "—", r.get("floor") or "—", _fmt_s(r.get("floor_s")),
            f"{r['floor_ratio']:.2f}" if r.get("floor_ratio") else "—",
        ])
        if strict:
            body[-1] += [r.get("strict") or "—", _fmt_s(r.get("strict_s")),
                         f"{r['strict_ratio']:.2f}" if r.get("strict_ratio") else "—"]
    if markdown:  # a "|" inside a cell (Σ|x−y|) would split it
        body = [[str(x).replace("|", "\\|") for x in row] for row in body]
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
    ap.add_argument("--full", action="store_true", help="the sizes named in issue 18 (beta, ordination)")
    ap.add_argument("--table", type=Path, default=None, help="only print the table of a results.jsonl")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from _bench import RESULTS_ENV, machine

    if args.table is not None:
        rows = [json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]
        print(table(rows, markdown=args.markdown))
        return
    plan = FULL if args.full else QUICK
    if args.full and args.only == ",".join(QUICK):
        args.only = ",".join(FULL)

    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="gutbrain-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    results = log_dir / "results.jsonl"
    results.write_text("")
    env = {**os.environ, RESULTS_ENV: str(results)}
    print(machine(), flush=True)
    failed = []
    for name in [s for s in args.only.split(",") if s]:
        cmd = [sys.executable, str(HERE / f"{name}.py"), *plan.get(name, [])]
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
