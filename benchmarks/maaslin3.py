"""MaAsLin 3: gutbrain's batched fits vs a per-feature statsmodels loop (and R's timing).

Run: ``python benchmarks/maaslin3.py [--n 2000 --f 500] [--loop-subset 500] [--repeat 3]``

Workload: a synthetic count table (negative-binomial-like, ~55 % zeros), model
``~ group + age + bmi`` (3 covariates), TSS, LOG, MaAsLin 3 defaults.  Compared in one
process, on the same normalised/transformed matrix and the same design:

* ``gb_fits``      — gutbrain's batched kernels for both MaAsLin 3 models: OLS of every
  feature on its non-zero log2 values (:func:`gutbrain.tl._glm_batch.wls_masked`) and the
  augmented logistic model of presence (:func:`gutbrain.tl._glm_batch.logit_irls`);
* ``sm_loop``      — per feature: ``statsmodels.OLS`` on the non-zero log2 values and
  ``statsmodels.Logit`` of presence (the loop the issue names);
* ``sm_loop_aug``  — the same with the *augmented* logistic model MaAsLin 3 fits
  (``statsmodels.GLM`` binomial with ``freq_weights`` on the data plus weighted 1/0 copies);
* ``gb_maaslin3``  — the whole :func:`gutbrain.tl.maaslin3` call (filter, both models, the
  median comparison's 10,000 Monte-Carlo draws per term on R's stream, flags, q-values).

The loops are timed on ``--loop-subset`` features and scaled linearly to all features
(the per-feature cost does not depend on the other features).  The abundance
coefficients of ``gb_fits`` and ``sm_loop`` are compared for every looped feature (max
absolute difference printed; it must be ≤ 1e-8).  R MaAsLin 3's time for the same size is
quoted from ``../shared/perf/PEERS.md`` (20.5 s of CPU, one core).

Everything runs on one core (BLAS limited to one thread, as inside
:func:`gutbrain.tl.maaslin3`; the statsmodels loops get the same limit).  Times are
medians of ``--repeat`` runs; the machine is shared, so compare the ratios.
"""

from __future__ import annotations

import argparse
import statistics
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


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--f", type=int, default=500)
    ap.add_argument("--loop-subset", type=int, default=None, help="features timed in the loops (default: all)")
    ap.add_argument("--repeat", type=int, default=3)
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
    N = N[:, keep]
    T = maaslin3_transform(N)
    P = ~np.isnan(N)
    F = T.shape[1]
    a = (X.shape[1] - 1) / (2 * args.n)
    print(f"N={args.n} F={F} zeros={1 - P.mean():.2f} model ~ group + age + bmi (p={X.shape[1]})")

    def gb_fits():
        lin = wls_masked(X, T, P)
        log = logit_irls(X, P.astype(np.float64), augment_weight=a)
        return lin, log

    gb_fits()  # compile the kernels (numba cache) before timing
    t_gb = _median_time(gb_fits, args.repeat)
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

    t_loop = _median_time(lambda: loop(False), args.repeat) * F / sub.size
    t_loop_aug = _median_time(lambda: loop(True), args.repeat) * F / sub.size
    diff = float(np.nanmax(np.abs(loop(False) - lin["coef"][sub])))
    print(f"abundance coefficients, gutbrain vs statsmodels: max |diff| = {diff:.2e}")
    assert diff <= 1e-8, diff

    rows = [
        ("gb_fits (batched OLS + augmented logistic)", t_gb, 1.0),
        ("sm_loop (OLS + Logit per feature)", t_loop, t_loop / t_gb),
        ("sm_loop_aug (OLS + augmented GLM per feature)", t_loop_aug, t_loop_aug / t_gb),
    ]
    if not args.skip_full:
        adata = ad.AnnData(counts, obs=obs)
        maaslin3(adata, formula="~ group + age + bmi", reference="group,control")
        t_full = _median_time(lambda: maaslin3(adata, formula="~ group + age + bmi", reference="group,control"),
                              args.repeat)
        rows.append(("gb_maaslin3 (whole call incl. median-comparison Monte Carlo)", t_full, t_full / t_gb))
        r = R_SECONDS.get((args.n, args.f))
        if r is not None:
            rows.append(("R MaAsLin 3 (PEERS.md, CPU s)", r, r / t_gb))
            print(f"R MaAsLin 3 / gutbrain whole call: {r / t_full:.1f}x")
    limiter.restore_original_limits()
    scaled = "" if args.loop_subset is None else f" (loops timed on {sub.size} features, scaled to {F})"
    print(f"\nseconds, median of {args.repeat}{scaled}; ratio = time / gb_fits")
    for name, t, ratio in rows:
        print(f"  {name:<62s} {t:9.3f} s   {ratio:8.1f}x")
    print(f"\nsm_loop / gb_fits = {t_loop / t_gb:.1f}x;  sm_loop_aug / gb_fits = {t_loop_aug / t_gb:.1f}x")


if __name__ == "__main__":
    main()
