"""gutbrain.parallel: the Dask paths next to the in-process ones — parity and overhead.

Usage::

    python benchmarks/dask_scaling.py                  # local cluster: 2 worker processes × 1 thread
    python benchmarks/dask_scaling.py --workers 4 --n 4000
    python benchmarks/dask_scaling.py --address tcp://scheduler:8786   # an existing cluster

For each heavy path (beta diversity per metric, MaAsLin2 with fixed effects and with a
random intercept, a simulation ensemble) the script prints the in-process wall time,
the Dask wall time (best of ``--repeat``; includes shipping the inputs), their ratio
in-process / Dask (> 1: Dask faster) and the largest difference between the two results.

On a laptop or a 2-core machine this measures overhead, not speed-up: gutbrain's
in-process kernels already use every core (numba ``prange``, BLAS threads), so a local
cluster on the same cores can only add scheduling and serialisation.  The Dask paths pay
off when the cluster has more cores (or memory) than the machine running the analysis.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def counts(n: int, f: int, seed: int = 0) -> np.ndarray:
    """Dirichlet-multinomial-like counts (gamma-Poisson), ~70–85 % zeros."""
    rng = np.random.default_rng(seed)
    alpha = 0.02 * rng.lognormal(0.0, 1.5, f)
    P = rng.gamma(alpha[None, :] * rng.uniform(0.5, 2.0, (n, 1)), size=(n, f))
    P /= P.sum(axis=1, keepdims=True)
    depth = rng.integers(10_000, 100_001, n)
    return rng.poisson(P * depth[:, None]).astype(np.float64)


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def row(name: str, t_local: float, t_dask: float, diff: float) -> None:
    print(f"{name:<34} {t_local:9.3f} {t_dask:9.3f} {t_local / t_dask:8.2f} {diff:12.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="samples (beta diversity)")
    ap.add_argument("--f", type=int, default=500, help="features")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--address", default=None, help="scheduler address of an existing cluster")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--runs", type=int, default=64, help="simulation ensemble size")
    args = ap.parse_args()

    import gutbrain as gb
    import gutbrain.parallel as gp

    X = counts(args.n, args.f)
    t0 = time.perf_counter()
    with gp.dask_client(args.address, n_workers=args.workers, processes=True) as client:
        print(f"cluster: {client.scheduler.address}, {gp.n_threads(client)} worker threads "
              f"(started/connected in {time.perf_counter() - t0:.2f} s)")
        print(f"{'path':<34} {'local s':>9} {'dask s':>9} {'ratio':>8} {'max |diff|':>12}")
        for metric in gp.DASK_BETA_METRICS:
            kernel = getattr(gb.tl, metric)
            kernel(X[:50])  # compile numba kernels outside the timing
            gp.beta_dask(X[:50], metric, client=client)  # workers import gutbrain
            tl, ref = best(lambda k=kernel: k(X), args.repeat)
            td, d = best(lambda m=metric: gp.beta_dask(X, m, client=client), args.repeat)
            diff = float(np.nanmax(np.abs(d - ref)))
            assert np.array_equal(np.isnan(d), np.isnan(ref))
            row(f"beta {metric} n={args.n}", tl, td, diff)

        a = gb.datasets.demo_cohort(seed=0)
        a.obs["site"] = pd.Categorical([f"s{i % 20:02d}" for i in range(a.n_obs)])
        for formula in ("~ group + age + sex", "~ group + age + (1|site)"):
            tl, ref = best(lambda f=formula: gb.tl.diff_abundance(a.copy(), formula=f), args.repeat)
            td, res = best(
                lambda f=formula: gp.diff_abundance_dask(a.copy(), formula=f, client=client),
                args.repeat,
            )
            key = ["feature", "metadata", "value"]
            m = ref.merge(res, on=key, suffixes=("", "_d"))
            diff = float(np.nanmax(np.abs(m["qval"] - m["qval_d"])))
            row(f"maaslin2 {formula}", tl, td, diff)

        try:
            import roadrunner  # noqa: F401
        except ImportError:
            print("simulation: skipped (libroadrunner not installed)")
            return
        model = gb.sim.load_model("gut_brain")
        exp = gb.sim.lps_challenge()
        S = gb.sim.sample_parameters(model.parameters, args.runs, random_state=0)
        gb.sim.ensemble(model, exp, S.iloc[:2], n_jobs=1)
        gp.ensemble_dask(model, exp, S.iloc[:4], client=client)  # compile on the workers
        tl, ref = best(lambda: gb.sim.ensemble(model, exp, S, n_jobs=1), args.repeat)
        td, Y = best(lambda: gp.ensemble_dask(model, exp, S, client=client), args.repeat)
        row(f"sim ensemble runs={args.runs} (serial)", tl, td, float(np.nanmax(np.abs(Y - ref))))


if __name__ == "__main__":
    main()
