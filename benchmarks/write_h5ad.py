"""Benchmark: gb.io.write_h5ad vs AnnData.write_h5ad(compression="gzip") on a run record.

gutbrain compresses only the arrays where gzip pays (:mod:`gutbrain.io._h5ad_write`);
AnnData's writer gzips every dataset.  The floor is AnnData's writer with no compression at
all (the cost of the HDF5 objects themselves).  Both writers run alternately in one process
(``--repeats`` rounds); the medians of wall and CPU time are printed with the file sizes,
and the read-backs are compared (same X, obs, var, obsm, obsp, layers and uns).

The record is the ``gutbrain.h5ad`` of a ``gutbrain run`` (``--h5ad``; e.g. the American
Gut run of ``benchmarks/run_americangut.py``: 833 datasets, two 1,495 × 1,495 distance
matrices), else the American Gut table with its metadata (fewer, larger datasets).

Usage::

    python benchmarks/write_h5ad.py [--h5ad OUT/gutbrain.h5ad] [--repeats 5]

Skips (exit 0) when neither ``--h5ad`` nor ../shared is available.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _bench import record

SHARED = Path(__file__).resolve().parents[2] / "shared"
BASE = SHARED / "data" / "americangut2014_migraine_selfreport_16s"


def _same(x: object, y: object) -> bool:
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    if isinstance(x, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        except AssertionError:
            return False
        return True
    if sp.issparse(x):
        return sp.issparse(y) and x.shape == y.shape and (x != y).nnz == 0
    if isinstance(x, np.ndarray):
        return isinstance(y, np.ndarray) and x.dtype == y.dtype and np.array_equal(
            x, y, equal_nan=x.dtype.kind == "f")
    if hasattr(x, "keys"):
        return sorted(map(str, x.keys())) == sorted(map(str, y.keys())) and all(
            _same(x[k], y[k]) for k in x.keys())
    return type(x) is type(y) and x == y


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--h5ad", type=Path, help="a gutbrain.h5ad to rewrite (default: AG table + metadata)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import anndata as ad

    import gutbrain as gb

    if args.h5ad is not None:
        adata, label = gb.io.read_h5ad(args.h5ad), f"run record {args.h5ad.name}"
    elif BASE.is_dir():
        adata = gb.workflow.load(BASE / "AG_100nt_even10k.biom.gz", metadata=BASE / "mapping_trimmed.tsv.gz")
        label = "American Gut table + metadata"
    else:
        print("skipped: pass --h5ad or put ../shared beside the repository")
        return 0
    out = Path(tempfile.mkdtemp())
    files = {"anndata gzip": "anndata-gzip", "gutbrain": "gutbrain", "anndata none (floor)": "anndata-none"}
    writers = {
        "anndata gzip": lambda p: adata.write_h5ad(p, compression="gzip"),
        "gutbrain": lambda p: gb.io.write_h5ad(adata, p),
        "anndata none (floor)": lambda p: adata.write_h5ad(p, compression=None),
    }
    wall: dict[str, list[float]] = {k: [] for k in writers}
    cpu: dict[str, list[float]] = {k: [] for k in writers}
    for _ in range(args.repeats):
        for name, write in writers.items():
            path = out / f"{files[name]}.h5ad"
            t, c = time.perf_counter(), time.process_time()
            write(path)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    print(f"{label}: {adata.shape[0]} × {adata.shape[1]}, median of {args.repeats}")
    for name in writers:
        path = out / f"{files[name]}.h5ad"
        print(f"  {name:22s} wall {statistics.median(wall[name]):6.2f} s  cpu "
              f"{statistics.median(cpu[name]):6.2f} s  {os.path.getsize(path) / 1e6:6.1f} MB")
    peer, mine = statistics.median(cpu["anndata gzip"]), statistics.median(cpu["gutbrain"])
    print(f"  CPU ratio anndata gzip / gutbrain: {peer / mine:.2f}×")
    a = ad.read_h5ad(out / "anndata-gzip.h5ad")
    b = ad.read_h5ad(out / "gutbrain.h5ad")
    slots = ("X", "obs", "var", "obsm", "obsp", "layers", "uns")
    same = a.shape == b.shape and all(_same(getattr(a, s), getattr(b, s)) for s in slots)
    print(f"  read-backs equal: {same}")
    record("write_h5ad", f"{adata.shape[0]}x{adata.shape[1]}", "AnnData.write_h5ad gzip", peer, mine,
           floor="AnnData.write_h5ad uncompressed",
           floor_s=statistics.median(cpu["anndata none (floor)"]), note="CPU seconds")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
