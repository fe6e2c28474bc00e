"""Beta diversity: gutbrain vs scikit-bio and SciPy, and dense Bray–Curtis vs its floor, in one process.

Usage::

    python benchmarks/beta.py            # sparse tables at N=10,000; dense Bray–Curtis at 10,000 and 4,000
    python benchmarks/beta.py --quick    # N=2,000 (what `make bench` runs)
    python benchmarks/beta.py --n 5000 --f 1000 --skip-scipy
    python benchmarks/beta.py --density  # sparse vs dense Bray–Curtis kernel by fraction of non-zeros

Two workloads, both features F=2,000 by default:

*Sparse tables* — Dirichlet-multinomial counts (per-sample gamma-perturbed Dirichlet, depth
10k–100k, ~70–85 % zeros), the usual 16S table. For every metric the script prints wall
time (s; gutbrain: median of ``--repeat`` runs, peers: one run), peak traced memory (MiB,
tracemalloc: NumPy allocations), peak resident-memory growth during the call (MiB, sampled
from ``/proc/self/statm``: also counts numba and BLAS buffers), the ratio peer / gutbrain,
and the largest absolute difference between gutbrain's and the peer's distances. Peers:
``skbio.diversity.beta_diversity`` (braycurtis, jaccard; Aitchison as
``beta_diversity("euclidean", skbio clr(X + 1))``) and ``scipy.spatial.distance.pdist``.

*Dense Bray–Curtis* — Poisson–log-normal counts with ~22 % zeros (shotgun profiles, deep
16S) at N = 10,000 and 4,000 (``--quick``: 2,000). gutbrain's blocked kernel is timed
against scikit-bio and against the **floor**: the fastest of two simple numba kernels
written here (a parallel loop over pairs, ``Σ|x−y|`` and ``S_i + S_j − 2 Σ min``, both
float64), compiled before timing. ``--dense-relative`` adds the same table as relative
abundances (non-integer: gutbrain's float64 path) against the same floor kernels.

The condensed float64 result alone is ``N(N-1)/2 × 8`` bytes (381 MiB at N=10,000).
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _bench import machine, measure, record


def simulate(n: int, f: int, seed: int = 0) -> np.ndarray:
    """Dirichlet-multinomial counts with 70–90 % zeros."""
    rng = np.random.default_rng(seed)
    alpha = 0.02 * rng.lognormal(0.0, 1.5, f)
    P = rng.gamma(alpha[None, :] * rng.uniform(0.5, 2.0, (n, 1)), size=(n, f))
    P /= P.sum(axis=1, keepdims=True)
    depth = rng.integers(10_000, 100_001, n)
    return rng.multinomial(depth, P).astype(np.float64)


def simulate_dense(n: int, f: int, seed: int = 0) -> np.ndarray:
    """Poisson–log-normal counts with ~22 % zeros (row sums ~15,000)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 1.0, f)
    lam = 2.5 * np.exp(mu[None, :] + rng.normal(0.0, 1.0, (n, f)))
    return rng.poisson(lam).astype(np.float64)


def _floor_kernels() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The simple numba kernels that define the floor (compiled on first call)."""
    from numba import njit, prange

    @njit(parallel=True, fastmath=True)
    def _abs(X, S, out):  # pragma: no cover - compiled
        n, f = X.shape
        for i in prange(n - 1):
            base = n * i - (i * (i + 1)) // 2 - i - 1
            for j in range(i + 1, n):
                s = 0.0
                for k in range(f):
                    s += abs(X[i, k] - X[j, k])
                out[base + j] = s / (S[i] + S[j])

    @njit(parallel=True, fastmath=True)
    def _min(X, S, out):  # pragma: no cover - compiled
        n, f = X.shape
        for i in prange(n - 1):
            base = n * i - (i * (i + 1)) // 2 - i - 1
            for j in range(i + 1, n):
                s = 0.0
                for k in range(f):
                    a = X[i, k]
                    b = X[j, k]
                    s += a if a < b else b
                den = S[i] + S[j]
                out[base + j] = (den - 2.0 * s) / den

    def wrap(kernel: Any) -> Callable[[np.ndarray], np.ndarray]:
        def run(X: np.ndarray) -> np.ndarray:
            n = X.shape[0]
            out = np.empty(n * (n - 1) // 2)
            kernel(X, X.sum(axis=1), out)
            return out

        return run

    return {"numba Σ|x−y|": wrap(_abs), "numba Σmin": wrap(_min)}


def condensed(obj: Any) -> np.ndarray:
    if hasattr(obj, "condensed_form"):
        return np.asarray(obj.condensed_form())
    return np.asarray(obj)


def _row(metric: str, impl: str, t: float, m: float, r: float, ratio: str, diff: str) -> None:
    print(f"{metric:<11} {impl:<14} {t:9.3f} {m:10.0f} {r:9.0f} {ratio:>7} {diff:>10}", flush=True)


def sparse_metrics(args: argparse.Namespace, n: int) -> None:
    from scipy.spatial.distance import pdist
    from skbio.diversity import beta_diversity as sk_beta
    from skbio.stats.composition import clr as sk_clr

    import gutbrain.tl as tl

    f = args.f
    X = simulate(n, f)
    print(f"\nSparse table: N={n} samples × F={f} features, {100 * (X == 0).mean():.1f} % zeros; "
          f"condensed result {n * (n - 1) // 2 * 8 / 2**20:.0f} MiB, input {X.nbytes / 2**20:.0f} MiB")
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
    print(f"\n{'metric':<11} {'impl':<14} {'seconds':>9} {'traced MiB':>10} {'ΔRSS MiB':>9} {'ratio':>7} {'max|Δ|':>10}")
    for metric in args.metrics.split(","):
        runs = [measure(ours[metric]) for _ in range(max(1, args.repeat))]
        d_gb = runs[-1][0]
        t_gb = sorted(r[1] for r in runs)[len(runs) // 2]
        _row(metric, "gutbrain", t_gb, max(r[2] for r in runs), max(r[3] for r in runs), "1.0", "")
        del runs
        for name, pf in peers[metric].items():
            if (name == "scipy" and args.skip_scipy) or (name == "skbio" and args.skip_skbio):
                continue
            res, t_p, m_p, r_p = measure(pf)
            diff = float(np.nanmax(np.abs(condensed(res) - d_gb)))
            del res
            _row(metric, name, t_p, m_p, r_p, f"{t_p / t_gb:.1f}", f"{diff:.2e}")
            record(f"beta {metric} (sparse, {100 * (X == 0).mean():.0f}% zeros)", f"{n}×{f}",
                   f"{name} {'beta_diversity' if name == 'skbio' else 'pdist'}", t_p, t_gb)
        del d_gb


def dense_braycurtis(args: argparse.Namespace, sizes: list[int]) -> None:
    from skbio.diversity import beta_diversity as sk_beta

    import gutbrain.tl as tl

    floors = _floor_kernels()
    f = args.f
    for n in sizes:
        X = simulate_dense(n, f)
        zeros = 100 * (X == 0).mean()
        print(f"\nDense Bray–Curtis: N={n} × F={f}, {zeros:.1f} % zeros (counts; row sums ≤ "
              f"{X.sum(1).max():.0f})")
        variants = [("counts", X)]
        if args.dense_relative:
            variants.append(("relative", X / X.sum(axis=1, keepdims=True)))
        for label, Y in variants:
            tl.braycurtis(Y[:80])
            for k in floors.values():
                k(Y[:20])
            runs = [measure(lambda Y=Y: tl.braycurtis(Y), trace=False) for _ in range(max(1, args.repeat))]
            d_gb = runs[-1][0]
            t_gb = sorted(r[1] for r in runs)[len(runs) // 2]
            del runs
            print(f"{'data':<9} {'impl':<14} {'seconds':>9} {'ΔRSS MiB':>9} {'gb speed-up':>11} {'max|Δ|':>10}")
            print(f"{label:<9} {'gutbrain':<14} {t_gb:9.3f} {'':>9} {'1.0':>11} {'':>10}", flush=True)
            floor_t: dict[str, float] = {}
            for name, k in floors.items():
                res, t_k, _, r_k = measure(lambda k=k, Y=Y: k(Y), trace=False)
                floor_t[name] = t_k
                diff = float(np.nanmax(np.abs(res - d_gb)))
                del res
                print(f"{label:<9} {name:<14} {t_k:9.3f} {r_k:9.0f} {t_k / t_gb:11.2f} {diff:10.2e}", flush=True)
            best = min(floor_t, key=floor_t.__getitem__)
            peer, t_p = None, None
            if not args.skip_skbio and label == "counts":
                res, t_p, _, r_p = measure(lambda X=X: sk_beta("braycurtis", X), trace=False)
                diff = float(np.nanmax(np.abs(condensed(res) - d_gb)))
                del res
                peer = "skbio beta_diversity"
                print(f"{label:<9} {'skbio':<14} {t_p:9.3f} {r_p:9.0f} {t_p / t_gb:11.2f} {diff:10.2e}", flush=True)
            print(f"gutbrain / floor ({best}): {t_gb / floor_t[best]:.2f}")
            record(f"beta braycurtis (dense {label}, {zeros:.0f}% zeros)", f"{n}×{f}", peer, t_p, t_gb,
                   floor=best, floor_s=floor_t[best])
            del d_gb


def density_sweep(args: argparse.Namespace) -> None:
    """Sparse vs dense kernel time by fraction of non-zeros (sets ``BC_SPARSE_DENSITY``)."""
    import time

    from gutbrain.tl._beta_kernels import braycurtis_dense, braycurtis_sparse, dense_to_csr

    n, f = 2000, args.f
    rng = np.random.default_rng(0)
    base = rng.poisson(rng.gamma(0.5, 20.0, size=(n, f))).astype(float) + 1
    braycurtis_dense(base[:70], exact_f32=True)
    braycurtis_sparse(*dense_to_csr(base[:70]), 70, f)
    print(f"\nN={n} × F={f}: seconds of the sparse and the dense Bray–Curtis kernel (median of 3)")
    for dens in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        X = base * (rng.random((n, f)) < dens)
        ts, td = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            braycurtis_sparse(*dense_to_csr(X), n, f)
            ts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            braycurtis_dense(X, exact_f32=True)
            td.append(time.perf_counter() - t0)
        s, d = sorted(ts)[1], sorted(td)[1]
        print(f"non-zeros {dens:.0%}: sparse {s:.3f}  dense {d:.3f}  sparse/dense {s / d:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N=2,000 for both workloads")
    ap.add_argument("--n", type=int, default=None, help="samples of the sparse workload")
    ap.add_argument("--dense-n", default=None, help="comma-separated N of the dense workload")
    ap.add_argument("--f", type=int, default=2000)
    ap.add_argument("--skip-scipy", action="store_true")
    ap.add_argument("--skip-skbio", action="store_true")
    ap.add_argument("--no-sparse", action="store_true", help="skip the sparse-table metrics")
    ap.add_argument("--no-dense", action="store_true", help="skip dense Bray–Curtis")
    ap.add_argument("--dense-relative", action="store_true", help="also dense relative abundances (float64)")
    ap.add_argument("--density", action="store_true", help="only the sparse/dense kernel sweep")
    ap.add_argument("--repeat", type=int, default=3, help="gutbrain runs per metric (median)")
    ap.add_argument("--metrics", default="braycurtis,jaccard,aitchison")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(machine())
    if args.density:
        density_sweep(args)
        return
    if not args.no_sparse:
        sparse_metrics(args, args.n or (2000 if args.quick else 10_000))
    if not args.no_dense:
        sizes = [int(s) for s in args.dense_n.split(",")] if args.dense_n else ([2000] if args.quick else [10_000, 4_000])
        dense_braycurtis(args, sizes)


if __name__ == "__main__":
    main()
