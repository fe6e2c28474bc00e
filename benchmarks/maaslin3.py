"""MaAsLin 3: gutbrain's batched fits vs a per-feature statsmodels loop (and R's timing).

Run: ``python benchmarks/maaslin3.py [--n 2000 --f 500] [--loop-subset 100] [--repeat 5]``

Workload: a synthetic count table (negative-binomial-like, ~40 % zeros after filtering),
model ``~ group + age + bmi`` (3 covariates, 4 design columns), TSS, LOG, MaAsLin 3
defaults.  Both sides get the same normalised, filtered, log2-transformed matrix ``T``, the
same presence matrix ``P`` (non-zero) and the same design ``X`` (built once, untimed):

* ``gb_fits``      — gutbrain's batched kernels for both MaAsLin 3 models, all features:
  the OLS of every feature on its non-zero log2 values (coefficients, standard errors,
  t and p-values: :func:`gutbrain.tl._glm_batch.wls_masked`) and the *augmented*
  logistic model of presence (each sample plus two pseudo-observations of weight
  ``(p − 1)/(2n)``, IRLS as R's ``glm.fit`` to its convergence test, standard errors,
  z and p-values: :func:`gutbrain.tl._glm_batch.logit_irls`; its first iteration uses
  the per-feature presence sums the OLS already formed, as :func:`gutbrain.tl.maaslin3`
  does);
* ``sm_loop``      — per feature: ``sm.OLS(T[P[:, j], j], X[P[:, j]]).fit()`` and
  ``sm.Logit(P[:, j], X).fit(disp=0)`` (the plain loop the issue names; no augmentation,
  so it fits a slightly *smaller* problem than gutbrain: n rows instead of the augmented
  model's 3n weighted rows);
* ``sm_loop_aug``  — the same OLS with the augmented logistic model MaAsLin 3 fits
  (``sm.GLM`` binomial with ``freq_weights`` on the data plus the weighted 1/0 copies);
* ``gb_maaslin3``  — the whole :func:`gutbrain.tl.maaslin3` call from the raw counts
  (normalise, filter, design, both models, the median comparison's 10,000 Monte-Carlo
  draws per term on R's stream, flags, q-values, the long table), reported separately.

The loops are timed on ``--loop-subset`` features and scaled linearly to all features
(the per-feature cost does not depend on the other features).  The abundance
coefficients of ``gb_fits`` and ``sm_loop`` are compared for every looped feature (max
absolute difference printed; it must be ≤ 1e-8).  R MaAsLin 3's time for the same size is
quoted from ``../shared/perf/PEERS.md`` (20.5 s of CPU, one core, whole call).

Everything runs on one core (BLAS limited to one thread, as inside
:func:`gutbrain.tl.maaslin3`; the statsmodels loops get the same limit).  The contenders
run in ``--repeat`` interleaved rounds (``gb_fits`` ``--gb-repeat`` times per round, the
loops once); the **median** over rounds of each contender's CPU seconds
(``process_time``) and wall seconds is reported, with the ratio of medians, and the best
round beside it.  The machine is shared, so compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

R_SECONDS = {(2000, 500): 20.5}  # ../shared/perf/PEERS.md, R MaAsLin 3 v0.99.1, whole call


def make_data(n: int, f: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {
            "group": rng.choice(["control", "case"], n),
            "age": rng.normal(50, 12, n),
            "bmi": rng.normal(26, 4, n),
        },
        index=[f"S{i}" for i in range(n)],
    )
    mu = rng.lognormal(0.0, 2.0, f)
    depth = rng.integers(10_000, 100_000, n)
    lam = depth[:, None] * (mu / mu.sum())[None, :] * rng.gamma(0.3, 1 / 0.3, (n, f))
    return rng.poisson(lam).astype(np.float64), obs


def _times(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--f", type=int, default=500)
    ap.add_argument("--loop-subset", type=int, default=None, help="features timed in the loops (default: all)")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved rounds (median reported)")
    ap.add_argument("--gb-repeat", type=int, default=5, help="gb_fits runs per round")
    ap.add_argument("--skip-full", action="store_true", help="do not time the whole maaslin3 call")
    args = ap.parse_args()

    import anndata as ad
    import statsmodels.api as sm
    from threadpoolctl import threadpool_limits

    from gutbrain.tl import maaslin3
    from gutbrain.tl._glm_batch import logit_irls, wls_masked
    from gutbrain.tl._maaslin3 import maaslin3_filter, maaslin3_normalize, maaslin3_transform
    from gutbrain.tl._maaslin3_design import build_design3

    limiter = threadpool_limits(limits=1, user_api="blas")
    counts, obs = make_data(args.n, args.f)
    design = build_design3(obs, "~ group + age + bmi", reference="group,control")
    X = design.X
    N = maaslin3_normalize(counts)
    keep = maaslin3_filter(N)
    N = np.compress(keep, N, axis=1)
    T = maaslin3_transform(N)
    P = ~np.isnan(N)
    F = T.shape[1]
    a = (X.shape[1] - 1) / (2 * args.n)
    print(f"N={args.n} F={F} zeros={1 - P.mean():.2f} model ~ group + age + bmi (p={X.shape[1]})")

    def gb_fits():
        lin = wls_masked(X, T, P)
        log = logit_irls(X, P, augment_weight=a, y_sums=lin["mask_sums"])
        return lin, log

    gb_fits()  # compile the kernels (numba cache) before timing
    lin, _ = gb_fits()

    sub = np.arange(F) if args.loop_subset is None else np.arange(min(args.loop_subset, F))
    Xa = np.vstack([X, X, X])
    wa = np.r_[np.ones(args.n), np.full(2 * args.n, a)]

    def loop(aug: bool) -> np.ndarray:
        coefs = np.empty((sub.size, X.shape[1]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k, j in enumerate(sub):
                m = P[:, j]
                coefs[k] = sm.OLS(T[m, j], X[m]).fit().params
                y = P[:, j].astype(np.float64)
                if aug:
                    ya = np.r_[y, np.ones(args.n), np.zeros(args.n)]
                    sm.GLM(ya, Xa, family=sm.families.Binomial(), freq_weights=wa).fit()
                else:
                    try:
                        sm.Logit(y, X).fit(disp=0)
                    except Exception:  # perfect separation: statsmodels raises; MaAsLin 3 augments
                        pass
        return coefs

    diff = float(np.nanmax(np.abs(loop(False) - lin["coef"][sub])))
    print(f"abundance coefficients, gutbrain vs statsmodels: max |diff| = {diff:.2e}")
    assert diff <= 1e-8, diff

    adata = ad.AnnData(counts, obs=obs)

    def full():
        maaslin3(adata, formula="~ group + age + bmi", reference="group,control")

    if not args.skip_full:
        full()
    scale = F / sub.size
    rounds: dict[str, list[tuple[float, float]]] = {}

    def record(name: str, t: tuple[float, float], factor: float = 1.0) -> None:
        rounds.setdefault(name, []).append((t[0] * factor, t[1] * factor))

    load0 = os.getloadavg()[0]
    for _ in range(args.repeat):  # interleaved, so that changes in load hit every contender
        record("gb_fits", _times(gb_fits, args.gb_repeat))
        record("sm_loop", _times(lambda: loop(False), 1), scale)
        record("sm_loop_aug", _times(lambda: loop(True), 1), scale)
        if not args.skip_full:
            record("gb_maaslin3", _times(full, 1))
    load1 = os.getloadavg()[0]
    limiter.restore_original_limits()

    labels = {
        "gb_fits": "gb_fits (batched OLS + augmented logistic, all features)",
        "sm_loop": "sm_loop (OLS + Logit per feature)",
        "sm_loop_aug": "sm_loop_aug (OLS + augmented GLM per feature)",
        "gb_maaslin3": "gb_maaslin3 (whole call: filter … median comparison, q-values)",
    }
    med = {k: (float(np.median([w for w, _ in v])), float(np.median([c for _, c in v]))) for k, v in rounds.items()}
    best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in rounds.items()}
    gw, gc = med["gb_fits"]
    bc = best["gb_fits"][1]
    scaled = "" if args.loop_subset is None else f"; loops timed on {sub.size} features, scaled to {F}"
    print(f"\nmedian of {args.repeat} interleaved rounds (gb_fits: median of {args.gb_repeat} runs per round){scaled};"
          f" 1-minute load average {load0:.1f} → {load1:.1f} on {os.cpu_count()} cores; ratio = time / gb_fits")
    print(f"  {'':<66s} {'wall s':>8s} {'CPU s':>8s} {'wall ×':>7s} {'CPU ×':>7s} | {'best: CPU ×':>11s}")
    for key, (w, c) in med.items():
        print(f"  {labels[key]:<66s} {w:8.3f} {c:8.3f} {w / gw:7.1f} {c / gc:7.1f} | {best[key][1] / bc:11.1f}")
    r = R_SECONDS.get((args.n, args.f))
    if r is not None:
        print(f"  {'R MaAsLin 3 whole call (PEERS.md, CPU s)':<66s} {'':>8s} {r:8.3f} {'':>7s} {r / gc:7.1f} |")
        if "gb_maaslin3" in med:
            print(f"R MaAsLin 3 CPU / gutbrain whole-call CPU (median) = {r / med['gb_maaslin3'][1]:.1f}x")
    sw, sc = med["sm_loop"]
    aw, ac = med["sm_loop_aug"]
    print(f"\nsm_loop / gb_fits = {sw / gw:.1f}x wall, {sc / gc:.1f}x CPU;  "
          f"sm_loop_aug / gb_fits = {aw / gw:.1f}x wall, {ac / gc:.1f}x CPU  (medians)")


if __name__ == "__main__":
    main()
