"""Benchmark: evidence lookups by genus (budget: ≤ 50 ms on a loaded evidence base).

Measured side by side in one process, for the 12 genera of issue 11:

* ``gb.kb.query(genus)`` on a loaded knowledge base (the lookup behind
  ``gutbrain evidence GENUS``, the web app and the reports): median of ``--repeats``;
* the peer a user would otherwise write: scan BugSigDB's genus GMT for the genus
  taxid (read the file, split lines, test membership) — it finds signature names
  only, without names, conditions, publications or context;
* once, the cost of the first lookup in a fresh process: ``gb.kb.load()`` (copying the
  cached base database) plus the first query (which builds the context index).

Reports milliseconds and the ratio gutbrain / peer.  Usage::

    python benchmarks/evidence_lookup.py [--repeats 20]

The GMT peer needs ``../shared``; without it only gutbrain's timings are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

GENERA = {"Akkermansia": 239934, "Bacteroides": 816, "Prevotella": 838, "Ruminococcus": 1263,
          "Bifidobacterium": 1678, "Faecalibacterium": 216851, "Roseburia": 841,
          "Lactobacillus": 1578, "Streptococcus": 1301, "Escherichia": 561, "Blautia": 572511,
          "Alistipes": 239759}
GMT = (Path(__file__).resolve().parents[2] / "shared" / "evidence" / "bugsigdb"
       / "bugsigdb_signatures_genus_ncbi.gmt")


def _gmt_scan(taxid: int) -> list[str]:
    hits = []
    key = str(taxid)
    with open(GMT, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if key in parts[2:]:
                hits.append(parts[0])
    return hits


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU time is less disturbed by a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    import gutbrain as gb

    t = time.perf_counter()
    kb = gb.kb.load()
    t_load = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    gb.kb.query("Blautia", kb=kb)
    t_first = (time.perf_counter() - t) * 1000
    print(f"first lookup in a fresh process: load {t_load:.0f} ms + first query {t_first:.0f} ms")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'genus':<18}{'rows':>6}{'gutbrain wall/cpu ms':>22}{'GMT scan wall/cpu ms':>22}"
          f"{'ratio (cpu)':>12}")
    worst = 0.0
    for genus, taxid in GENERA.items():
        n = len(gb.kb.query(genus, kb=kb))
        ms, cpu = _median_ms(lambda g=genus: gb.kb.query(g, kb=kb), args.repeats)
        worst = max(worst, cpu)
        if GMT.exists():
            pw, pc = _median_ms(lambda x=taxid: _gmt_scan(x), args.repeats)
            print(f"{genus:<18}{n:>6}{ms:>13.1f}{cpu:>9.1f}{pw:>13.1f}{pc:>9.1f}{cpu / pc:>12.2f}")
        else:
            print(f"{genus:<18}{n:>6}{ms:>13.1f}{cpu:>9.1f}{'-':>22}{'-':>12}")
    print(f"slowest median lookup (CPU): {worst:.1f} ms (budget 50 ms)")


if __name__ == "__main__":
    main()
