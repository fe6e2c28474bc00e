"""Benchmark: gb.io.read_biom vs biom.load_table on the American Gut table (1,962 × 19,236).

Each measurement runs in a fresh child process so that peak resident memory is measured
fairly: the child imports its libraries, resets its peak RSS (Linux ``/proc/self/clear_refs``;
elsewhere the ``ru_maxrss`` after imports is the baseline), reads the table and reports the
wall time and the growth of peak RSS over the post-import RSS.  A separate child per reader measures the peak
of Python-level allocations with tracemalloc (tracemalloc slows allocation-heavy code, so
it is never on while timing).

The peer does the minimum a user needs for a samples × features SciPy matrix:
``biom.load_table(path)`` then ``table.matrix_data.T.tocsr()``.  gutbrain additionally
parses the taxonomy into rank columns, types the metadata and hashes the file.

Both the original BIOM 1.0 JSON (gzipped) and a BIOM 2.1 HDF5 copy (written to a temp
directory with biom-format) are measured.

Usage::

    python benchmarks/read_biom.py [--repeats 5]

Skips (exit 0) when ../shared is not beside the repository.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import record

SHARED = Path(__file__).resolve().parents[2] / "shared"
AG = SHARED / "data" / "americangut2014_migraine_selfreport_16s" / "AG_100nt_even10k.biom.gz"

CHILD = r"""
import gc, json, resource, sys, time, tracemalloc
method, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
import biom, numpy, scipy.sparse
import gutbrain as gb
# gutbrain's namespaces load on first access: load the reader (with anndata and h5py) before the clock starts,
# as biom-format's modules are, so both sides time reading only
import anndata, h5py
read_biom = gb.io.read_biom

def run():
    if method == "gutbrain":
        a = read_biom(path)
        return a.shape, a.X.nnz
    t = biom.load_table(path)
    X = t.matrix_data.T.tocsr()
    return X.shape, X.nnz

def status_kb(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None

def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

gc.collect()
if mode == "trace":
    tracemalloc.start()
    shape, nnz = run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"py_peak_mb": peak / 2**20}))
else:
    if reset_peak():
        base = status_kb("VmRSS")
    else:  # high-water mark after imports (may hide a smaller peak)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    shape, nnz = run()
    wall = time.perf_counter() - t0
    peak = status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": wall, "rss_growth_mb": (peak - base) / 1024,
                      "shape": list(shape), "nnz": int(nnz)}))
"""


def _child(method: str, path: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(path), mode],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"child {method}/{mode} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(path: Path, repeats: int) -> dict[str, dict]:
    res: dict[str, dict] = {}
    for method in ("gutbrain", "biom"):
        runs = [_child(method, path, "time") for _ in range(repeats)]
        trace = _child(method, path, "trace")
        res[method] = {
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "rss_growth_mb": statistics.median(r["rss_growth_mb"] for r in runs),
            "py_peak_mb": trace["py_peak_mb"],
            "shape": runs[0]["shape"],
            "nnz": runs[0]["nnz"],
        }
    g, b = res["gutbrain"], res["biom"]
    if g["shape"] != b["shape"][:2] or g["nnz"] != b["nnz"]:
        raise SystemExit(f"readers disagree: {g['shape']} nnz {g['nnz']} vs {b['shape']} nnz {b['nnz']}")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not AG.exists():
        print(f"skipped: {AG} not found (needs ../shared beside the repository)")
        return
    import biom
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "AG_100nt_even10k.h5.biom"
        with h5py.File(h5, "w") as fh:
            biom.load_table(str(AG)).to_hdf5(fh, "gutbrain benchmark")
        results = {
            "BIOM 1.0 JSON (.gz)": _measure(AG, args.repeats),
            "BIOM 2.1 HDF5": _measure(h5, args.repeats),
        }
    shape = results["BIOM 1.0 JSON (.gz)"]["gutbrain"]["shape"]
    print(f"American Gut table, {shape[0]} samples x {shape[1]} features; "
          f"median of {args.repeats} fresh processes")
    head = f"{'file':22} {'reader':42} {'wall s':>8} {'RSS+ MB':>9} {'py peak MB':>11}"
    print(head)
    print("-" * len(head))
    names = {"gutbrain": "gb.io.read_biom",
             "biom": "biom.load_table + .matrix_data.T.tocsr()"}
    for fmt, res in results.items():
        for method in ("gutbrain", "biom"):
            r = res[method]
            print(f"{fmt:22} {names[method]:42} {r['wall_s']:8.3f} {r['rss_growth_mb']:9.1f} "
                  f"{r['py_peak_mb']:11.1f}")
        g, b = res["gutbrain"], res["biom"]
        record(f"read BIOM ({fmt})", f"{shape[0]}×{shape[1]}", "biom.load_table", b["wall_s"], g["wall_s"],
               note=f"RSS growth gb {g['rss_growth_mb']:.0f} MB, biom {b['rss_growth_mb']:.0f} MB")
        print(f"{'':22} {'ratio gutbrain / biom':42} {g['wall_s'] / b['wall_s']:8.2f} "
              f"{g['rss_growth_mb'] / max(b['rss_growth_mb'], 1e-9):9.2f} "
              f"{g['py_peak_mb'] / max(b['py_peak_mb'], 1e-9):11.2f}")


if __name__ == "__main__":
    main()
