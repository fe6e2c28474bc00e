"""Start-up time: ``import gutbrain`` and ``gutbrain --help`` against ``import anndata``.

Usage::

    python benchmarks/startup.py               # median of 5 fresh processes each
    python benchmarks/startup.py --runs 9

Every command runs in a fresh Python process, the commands interleaved round by round
(anndata, gutbrain, gutbrain --help, …) so that load from other jobs falls on all of
them alike; the median of the rounds is reported. The target of issue 18 is
``import gutbrain`` and ``gutbrain --help`` each ≤ 1.5× ``import anndata``.

Also measured, in one fresh process: the first ``gb.tl.diff_abundance`` call on a small
table (200 samples × 50 features; pays loading cached numba kernels and anything imported
inside the call) against the warm call; the target is ≤ 0.5 s difference. The first access
to ``gb.tl`` (which imports SciPy, statsmodels and numba) is timed apart and printed.
The heavy modules ``import gutbrain`` loads (of scipy, sklearn, statsmodels, numba,
matplotlib, roadrunner, skbio, dask) are listed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import machine, record

HEAVY = ("scipy", "sklearn", "statsmodels", "numba", "matplotlib", "roadrunner", "skbio", "dask")

CLI = "import sys; sys.argv = ['gutbrain', '--help']; from gutbrain.cli import main; main()"

COMMANDS: dict[str, list[str]] = {
    "import anndata": ["-c", "import anndata"],
    "import gutbrain": ["-c", "import gutbrain"],
    "import gutbrain as gb; gb.tl": ["-c", "import gutbrain as gb; gb.tl"],
    "gutbrain --help": ["-c", CLI],
    "python (bare)": ["-c", "pass"],
}

FIRST_CALL = r"""
import json, time
t0 = time.perf_counter()
import numpy as np, pandas as pd, anndata as ad
import gutbrain as gb
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
gb.tl  # the namespace (SciPy, statsmodels, numba …) loads here, timed apart from the call
t_tl = time.perf_counter() - t0
rng = np.random.default_rng(0)
n, f = 200, 50
X = rng.negative_binomial(2, 0.05, size=(n, f)).astype(float)
obs = pd.DataFrame({"group": np.repeat(["a", "b"], n // 2), "age": rng.normal(50, 10, n)},
                   index=[f"s{i}" for i in range(n)])
a = ad.AnnData(X, obs=obs)
a.var_names = [f"f{j}" for j in range(f)]
times = []
for _ in range(3):
    b = a.copy()
    t0 = time.perf_counter()
    gb.tl.diff_abundance(b, formula="~ group + age")
    times.append(time.perf_counter() - t0)
print(json.dumps({"import": t_import, "tl": t_tl, "first": times[0], "warm": min(times[1:])}))
"""


def _run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def heavy_modules(code: str) -> list[str]:
    """Which of :data:`HEAVY` a fresh process has imported after running ``code``."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per command (median)")
    args = ap.parse_args()
    print(machine(), flush=True)
    for name in COMMANDS:  # warm the file-system cache and .pyc files
        _run(COMMANDS[name])
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            times[name].append(_run(cmd))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["import anndata"]
    print(f"\nmedian of {args.runs} fresh processes (interleaved):")
    print(f"{'command':<32} {'seconds':>8} {'÷ import anndata':>17}")
    for name, t in med.items():
        print(f"{name:<32} {t:8.3f} {t / base:17.2f}")
    for name in ("import gutbrain", "gutbrain --help"):
        record("start-up: " + name, f"median of {args.runs}", "import anndata", base, med[name],
               note="target ≤ 1.5× import anndata")
    print("\nheavy modules loaded by `import gutbrain`:", heavy_modules("import gutbrain") or "none")
    print("heavy modules loaded by `gutbrain --help`:",
          heavy_modules("import sys\nfrom gutbrain import cli") or "none")

    out = subprocess.run([sys.executable, "-c", FIRST_CALL], check=True, capture_output=True, text=True).stdout
    first = json.loads(out.strip().splitlines()[-1])
    extra = first["first"] - first["warm"]
    print(f"\nfresh process: import numpy, pandas, anndata, gutbrain {first['import']:.3f} s; "
          f"first access to gb.tl {first['tl']:.3f} s")
    print(f"diff_abundance 200 × 50: first call {first['first']:.3f} s, "
          f"warm {first['warm']:.3f} s, first − warm {extra:.3f} s (target ≤ 0.5 s)")
    record("first DA call (200 × 50)", "fresh process", "warm call", first["warm"], first["first"],
           note=f"first − warm {extra:.2f} s (target ≤ 0.5 s); gb.tl import {first['tl']:.2f} s before it")


if __name__ == "__main__":
    main()
