"""Read the 3,610-sample MetAML MetaPhlAn 2 table: gutbrain vs pandas, side by side.

Usage::

    python benchmarks/read_metaphlan.py              # 3 repeats, bz2 file and a decompressed copy
    python benchmarks/read_metaphlan.py --repeats 5
    python benchmarks/read_metaphlan.py --path other_metaml_table.txt.bz2

Input: ``../shared/data/metaml_pasolli2016_metaphlan2/abundance.txt.bz2`` (Pasolli et al. 2016,
doi:10.1371/journal.pcbi.1004977): 211 sample-metadata rows, then 3,302 MetaPhlAn clades ×
3,610 samples, all ranks.

Contenders, each run in a fresh subprocess (so peak RSS is per method, not cumulative):

* ``gutbrain``: ``gb.io.read_metaphlan(path)`` → species-level AnnData (1,291 × 3,610) with
  typed ``obs`` metadata.
* ``pandas``: the minimal equivalent with pandas alone — ``pd.read_csv(path, sep="\\t",
  header=None, index_col=0, dtype=str)``, split the rows into metadata (names not starting
  ``k__``) and clades, convert the clades to float and keep the species rows (last level
  ``s__``).  No typing of the metadata.
* ``gutbrain-all``: ``read_metaphlan(path, rank="all")`` (every clade, as pandas parses).

Printed per input: median wall time (s) and median peak RSS (MiB, ``ru_maxrss``) over the
repeats, the RSS after imports (baseline), and the ratios pandas / gutbrain; plus a parity
check (max |difference| of the species matrices).
"""

from __future__ import annotations

import argparse
import bz2
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import record

DEFAULT = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "metaml_pasolli2016_metaphlan2"
    / "abundance.txt.bz2"
)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(method: str, path: str, out: str | None) -> None:
    import numpy as np
    import pandas as pd

    import gutbrain as gb

    base = _rss_mib()
    t0 = time.perf_counter()
    if method == "gutbrain":
        ad = gb.io.read_metaphlan(path)
        X = gb._core.get_matrix(ad)
        names = list(ad.var_names)
    elif method == "gutbrain-all":
        ad = gb.io.read_metaphlan(path, rank="all")
        X = None
        names = []
    else:
        df = pd.read_csv(path, sep="\t", header=None, index_col=0, dtype=str, low_memory=False)
        is_clade = df.index.str.startswith(("k__", "d__"))
        meta = df.loc[~is_clade].T  # samples × metadata (strings)
        clades = df.loc[is_clade].astype(np.float64)
        last = clades.index.str.rsplit("|", n=1).str[-1]
        species = clades.loc[last.str.startswith("s__")]
        X = species.to_numpy().T
        names = list(species.index)
        assert meta.shape[0] == X.shape[0]
    dt = time.perf_counter() - t0
    peak = _rss_mib()
    if out and X is not None:
        np.save(out, X)
        Path(out + ".names.json").write_text(json.dumps(names))
    print(json.dumps({"time": dt, "peak_mib": peak, "base_mib": base}))


def run(method: str, path: Path, repeats: int, save: str | None) -> dict[str, float]:
    times, peaks, bases = [], [], []
    for i in range(repeats):
        cmd = [sys.executable, __file__, "--worker", method, "--path", str(path)]
        if save and i == 0:
            cmd += ["--save", save]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rec = json.loads(res.stdout.strip().splitlines()[-1])
        times.append(rec["time"])
        peaks.append(rec["peak_mib"])
        bases.append(rec["base_mib"])
    return {
        "time": statistics.median(times),
        "peak": statistics.median(peaks),
        "base": statistics.median(bases),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", choices=("gutbrain", "gutbrain-all", "pandas"))
    ap.add_argument("--save", default=None)
    ap.add_argument("--no-plain", action="store_true", help="skip the decompressed copy")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, str(args.path), args.save)
        return
    if not args.path.exists():
        sys.exit(f"missing {args.path} (the ../shared data folder)")
    import numpy as np

    tmp = Path(tempfile.mkdtemp(prefix="gb_bench_mpa_"))
    try:
        inputs = [("bz2", args.path)]
        if not args.no_plain:
            plain = tmp / "abundance.txt"
            with bz2.open(args.path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            inputs.append(("plain text", plain))
        print(f"MetAML table {args.path.name}; {args.repeats} repeats per method (subprocesses)")
        header = f"{'input':<11} {'method':<13} {'time s':>8} {'peak MiB':>9} {'base MiB':>9}"
        for label, path in inputs:
            print("\n" + header)
            res = {}
            for method in ("gutbrain", "pandas", "gutbrain-all"):
                save = str(tmp / f"{method}.npy") if method != "gutbrain-all" else None
                r = run(method, path, args.repeats, save)
                res[method] = r
                print(
                    f"{label:<11} {method:<13} {r['time']:8.2f} {r['peak']:9.0f} {r['base']:9.0f}"
                )
            g, p = res["gutbrain"], res["pandas"]
            record(f"read MetaPhlAn table ({label})", "MetAML", "pandas read_csv + pivot", p["time"], g["time"],
                   note=f"peak RSS gb {g['peak']:.0f} MiB, pandas {p['peak']:.0f} MiB")
            print(
                f"ratio pandas/gutbrain: time {p['time'] / g['time']:.2f}x, "
                f"peak RSS {p['peak'] / g['peak']:.2f}x, "
                f"peak above baseline {(p['peak'] - p['base']) / max(g['peak'] - g['base'], 1):.2f}x"
            )
            Xg = np.load(tmp / "gutbrain.npy")
            Xp = np.load(tmp / "pandas.npy")
            ng = json.loads((tmp / "gutbrain.npy.names.json").read_text())
            npd = json.loads((tmp / "pandas.npy.names.json").read_text())
            order = [npd.index(n) for n in ng]
            diff = float(np.abs(Xg - Xp[:, order]).max())
            print(f"parity: species matrix {Xg.shape}, max |gutbrain - pandas| = {diff:.3g}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
