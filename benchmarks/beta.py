"""Beta diversity and PERMANOVA: gutbrain vs scikit-bio and SciPy, side by side in one process.

Usage::

    python benchmarks/beta.py            # N=10,000 samples × F=2,000 features (peers take minutes)
    python benchmarks/beta.py --quick    # N=2,000
    python benchmarks/beta.py --n 5000 --f 1000 --skip-scipy --no-permanova

Counts are Dirichlet-multinomial (per-sample gamma-perturbed Dirichlet, depth 10k–100k,
~70–85 % zeros), generated here. For every metric the script prints wall time (s; gutbrain:
median of ``--repeat`` runs, peers: one run), peak traced memory (MiB, tracemalloc: NumPy
allocations), peak resident-memory growth during the call (MiB, sampled from
``/proc/self/statm``: also counts numba and BLAS buffers), the ratio peer / gutbrain,
and the largest absolute difference between gutbrain's and the peer's distances. The
condensed float64 result alone is ``N(N-1)/2 × 8`` bytes (381 MiB at N=10,000).
Peers: ``skbio.diversity.beta_diversity`` (braycurtis, jaccard; Aitchison as
``beta_diversity("euclidean", skbio clr(X + 1))``) and ``scipy.spatial.distance.pdist``.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def simulate(n: int, f: int, seed: int = 0) -> np.ndarray:
    """Dirichlet-multinomial counts with 70–90 % zeros."""
    rng = np.random.default_rng(seed)
    alpha = 0.02 * rng.lognormal(0.0, 1.5, f)
    P = rng.gamma(alpha[None, :] * rng.uniform(0.5, 2.0, (n, 1)), size=(n, f))
    P /= P.sum(axis=1, keepdims=True)
    depth = rng.integers(10_000, 100_001, n)
    return rng.multinomial(depth, P).astype(np.float64)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Run ``fn`` once: result, wall seconds, peak traced MiB, peak RSS growth MiB."""
    base = _rss()
    peak_rss = [base]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.005):
            peak_rss[0] = max(peak_rss[0], _rss())

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    done.set()
    th.join()
    peak_rss[0] = max(peak_rss[0], _rss())
    return out, dt, peak / 2**20, (peak_rss[0] - base) / 2**20


def measure_median(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float, float]:
    """Median wall time of ``repeat`` runs (memory: the largest peaks)."""
    runs = []
    out = None
    for _ in range(max(1, repeat)):
        out = None
        out, *stats = measure(fn)
        runs.append(stats)
    times = sorted(r[0] for r in runs)
    return out, times[len(times) // 2], max(r[1] for r in runs), max(r[2] for r in runs)


def condensed(obj: Any) -> np.ndarray:
    if hasattr(obj, "condensed_form"):
        return np.asarray(obj.condensed_form())
    return np.asarray(obj)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=2,000 instead of 10,000")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--f", type=int, default=2000)
    ap.add_argument("--skip-scipy", action="store_true")
    ap.add_argument("--skip-skbio", action="store_true")
    ap.add_argument("--no-permanova", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="gutbrain runs per metric (median)")
    ap.add_argument("--metrics", default="braycurtis,jaccard,aitchison")
    args = ap.parse_args()
    n = args.n or (2000 if args.quick else 10_000)
    f = args.f
    warnings.simplefilter("ignore")

    import numba
    import scipy
    import skbio
    from scipy.spatial.distance import pdist
    from skbio.diversity import beta_diversity as sk_beta
    from skbio.stats.composition import clr as sk_clr
    from threadpoolctl import threadpool_info

    import gutbrain.tl as tl

    blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('architecture', '')} {i['num_threads']} threads"
                             for i in threadpool_info() if i.get("user_api") == "blas"}))
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-bio {skbio.__version__}, "
          f"numba {numba.__version__} ({numba.get_num_threads()} threads), BLAS: {blas}; "
          f"load average {os.getloadavg()[0]:.1f}")
    X = simulate(n, f)
    print(f"N={n} samples × F={f} features, {100 * (X == 0).mean():.1f} % zeros")
    # warm the compiled kernels (JIT / cache load) outside the timings
    tl.braycurtis(X[:50])
    tl.jaccard(X[:50])
    tl.aitchison(X[:50], pseudocount=1.0)

    ours = {
        "braycurtis": lambda: tl.braycurtis(X),
        "jaccard": lambda: tl.jaccard(X),
        "aitchison": lambda: tl.aitchison(X, pseudocount=1.0),
    }
    peers: dict[str, dict[str, Callable[[], Any]]] = {
        "braycurtis": {"skbio": lambda: sk_beta("braycurtis", X), "scipy": lambda: pdist(X, "braycurtis")},
        "jaccard": {"skbio": lambda: sk_beta("jaccard", X), "scipy": lambda: pdist(X > 0, "jaccard")},
        "aitchison": {
            "skbio": lambda: sk_beta("euclidean", sk_clr(X + 1.0), validate=False),
            "scipy": lambda: pdist(sk_clr(X + 1.0), "euclidean"),
        },
    }
    print(f"condensed result: {n * (n - 1) // 2 * 8 / 2**20:.0f} MiB; input: {X.nbytes / 2**20:.0f} MiB")
    head = f"{'metric':<11} {'impl':<9} {'seconds':>9} {'traced MiB':>10} {'ΔRSS MiB':>9} {'ratio':>7} {'max|Δ|':>10}"
    print("\n" + head)
    for metric in args.metrics.split(","):
        d_gb, t_gb, m_gb, r_gb = measure_median(ours[metric], args.repeat)
        print(f"{metric:<11} {'gutbrain':<9} {t_gb:9.3f} {m_gb:10.0f} {r_gb:9.0f} {'1.0':>7} {'':>10}", flush=True)
        for name, pf in peers[metric].items():
            if (name == "scipy" and args.skip_scipy) or (name == "skbio" and args.skip_skbio):
                continue
            res, t_p, m_p, r_p = measure(pf)
            diff = float(np.nanmax(np.abs(condensed(res) - d_gb)))
            del res
            print(f"{metric:<11} {name:<9} {t_p:9.3f} {m_p:10.0f} {r_p:9.0f} {t_p / t_gb:7.1f} {diff:10.2e}",
                  flush=True)
        del d_gb

    if args.no_permanova:
        return
    from skbio import DistanceMatrix
    from skbio.stats.distance import permanova as sk_permanova

    from gutbrain.tl._beta import squareform

    print("\nPERMANOVA, 999 permutations, Bray–Curtis, 2 groups")
    for m in sorted({min(2000, n), n}):
        D = squareform(tl.braycurtis(X[:m]))
        labels = np.repeat(["a", "b"], [m // 2, m - m // 2])
        r_gb, t_gb, mem_gb = measure(lambda D=D, labels=labels: tl.permanova_kernel(D, labels, permutations=999, random_state=0))
        print(f"N={m:<6} gutbrain {t_gb:8.2f} s {mem_gb:7.0f} MiB  F={r_gb['test statistic']:.6f} p={r_gb['p-value']:.3f}",
              flush=True)
        if not args.skip_skbio:
            dm = DistanceMatrix(D, validate=False)
            r_sk, t_sk, mem_sk = measure(lambda dm=dm, labels=labels: sk_permanova(dm, labels, permutations=999, seed=0))
            print(f"N={m:<6} skbio    {t_sk:8.2f} s {mem_sk:7.0f} MiB  F={r_sk['test statistic']:.6f} "
                  f"p={r_sk['p-value']:.3f}  ratio {t_sk / t_gb:.1f}×", flush=True)


if __name__ == "__main__":
    main()
