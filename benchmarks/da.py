"""Differential abundance: gutbrain's vectorised linear models vs per-feature statsmodels.

Run: ``python benchmarks/da.py [--n 10000 --f 2000] [--skip-ancombc]``

Workload (as in ``../shared/perf/PEERS.md``, "DA two-group + 3 covariates"): a synthetic
count table (negative-binomial-like, ~75 % zeros), model ``~ group + age + sex + bmi``,
MaAsLin2 defaults (TSS, LOG, min_prevalence 0.1).  All timings are medians of repeated
runs inside this one process.  Compared on the *same* transformed matrix:

* ``gb_ols``        — :func:`gutbrain.tl._da_lm.ols` (one QR for all features);
* ``sm_ols_arrays`` — one ``statsmodels.OLS(y, X).fit()`` per feature;
* ``sm_ols_formula``— one ``statsmodels.formula.api.ols`` per feature (MaAsLin2 style),
  timed on a subset of features and scaled linearly (it takes minutes at full size);
* ``gb_pipeline``   — the whole ``gb.tl.diff_abundance`` (filter, TSS, LOG, fit, BH, table);
* ``skbio_ancombc`` — scikit-bio ANCOM-BC on the same formula (smaller sizes, see below).

Coefficients and p-values of ``gb_ols`` are checked against ``sm_ols_arrays`` for every
feature (max relative difference printed; must be ≤ 1e-8).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd
from _bench import record


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_data(n: int, f: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {
            "group": rng.choice(["control", "case"], n),
            "age": rng.normal(50, 12, n),
            "sex": rng.choice(["F", "M"], n),
            "bmi": rng.normal(26, 4, n),
        },
        index=[f"S{i}" for i in range(n)],
    )
    mu = rng.lognormal(0.0, 2.0, f)
    depth = rng.integers(10_000, 100_000, n)
    p = mu / mu.sum()
    lam = depth[:, None] * p[None, :] * rng.gamma(0.3, 1 / 0.3, (n, f))
    counts = rng.poisson(lam).astype(np.float64)
    return counts, obs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--f", type=int, default=2_000)
    ap.add_argument("--formula-subset", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-ancombc", action="store_true")
    args = ap.parse_args()

    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    from gutbrain._core import new_adata
    from gutbrain.tl import diff_abundance
    from gutbrain.tl._da import maaslin_filter, normalize_features, transform_features
    from gutbrain.tl._da_lm import ols
    from gutbrain.tl._formula import build_design

    counts, obs = make_data(args.n, args.f)
    print(f"N={args.n} F={args.f} zeros={np.mean(counts == 0):.2f} model ~ group + age + sex + bmi")
    design = build_design(obs, "~ group + age + sex + bmi", reference="group,control", standardize=True)
    keep = maaslin_filter(counts)
    Yt = transform_features(normalize_features(counts[:, keep], "TSS"), "LOG")
    X = design.X
    F = Yt.shape[1]
    print(f"features after the MaAsLin2 filter: {F}")

    t_gb = _median_time(lambda: ols(X, Yt), args.repeat)
    fit = ols(X, Yt)

    def floor() -> np.ndarray:  # the least work: one QR of the design, one product, a p × p solve
        Q, R = np.linalg.qr(X)
        return np.linalg.solve(R, Q.T @ Yt)

    t_floor = _median_time(floor, args.repeat)

    def sm_arrays() -> list:
        return [sm.OLS(Yt[:, j], X).fit() for j in range(F)]

    t0 = time.perf_counter()
    fits = sm_arrays()
    t_arr = time.perf_counter() - t0
    coef_sm = np.column_stack([r.params for r in fits])
    p_sm = np.column_stack([r.pvalues for r in fits])
    se_sm = np.column_stack([r.bse for r in fits])
    rel_c = np.max(np.abs(fit["coef"] - coef_sm) / np.maximum(np.abs(coef_sm), 1e-300))
    rel_s = np.max(np.abs(fit["stderr"] - se_sm) / se_sm)
    rel_p = np.max(np.abs(fit["pval"] - p_sm) / np.maximum(p_sm, 1e-300))

    k = min(args.formula_subset, F)
    df = obs.copy()
    df["age"] = (df["age"] - df["age"].mean()) / df["age"].std()
    df["bmi"] = (df["bmi"] - df["bmi"].mean()) / df["bmi"].std()
    t0 = time.perf_counter()
    for j in range(k):
        df["y"] = Yt[:, j]
        smf.ols("y ~ C(group, Treatment('control')) + age + sex + bmi", data=df).fit()
    t_form = (time.perf_counter() - t0) * F / k

    adata = new_adata(counts, obs_names=obs.index, var_names=[f"f{j}" for j in range(args.f)],
                      unit="counts", reader="benchmark", obs=obs, sparse=False)
    t_pipe = _median_time(
        lambda: diff_abundance(adata, formula="~ group + age + sex + bmi", reference="group,control"),
        max(1, args.repeat // 2),
    )

    print(f"max relative difference vs statsmodels: coef {rel_c:.2e}, stderr {rel_s:.2e}, pval {rel_p:.2e}")
    print(f"{'implementation':<16} {'seconds':>10} {'speed-up of gb_ols':>20}")
    print(f"{'gb_ols':<16} {t_gb:>10.4f} {1.0:>20.1f}")
    print(f"{'sm_ols_arrays':<16} {t_arr:>10.3f} {t_arr / t_gb:>20.1f}")
    print(f"{'sm_ols_formula':<16} {t_form:>10.3f} {t_form / t_gb:>20.1f}   (from {k} features, scaled)")
    print(f"{'gb_pipeline':<16} {t_pipe:>10.3f}   (whole diff_abundance; vs formula loop "
          f"{t_form / t_pipe:.1f}x, vs arrays loop {t_arr / t_pipe:.1f}x)")
    print(f"{'floor (QR + Qᵀ Y)':<16} {t_floor:>10.4f}   (gb_ols / floor {t_gb / t_floor:.2f})")
    size = f"{args.n}×{F}"
    record("DA OLS fits, 4 terms", size, "statsmodels OLS per feature", t_arr, t_gb,
           floor="QR + Qᵀ Y", floor_s=t_floor)
    record("DA MaAsLin2 pipeline", size, "statsmodels formula per feature", t_form, t_pipe,
           note=f"formula loop timed on {k} features, scaled")

    if not args.skip_ancombc:
        from skbio.stats.composition import ancombc

        for n2, f2 in ((500, 200), (2000, 500)):
            c2, o2 = make_data(n2, f2, seed=1)
            ad2 = new_adata(c2, obs_names=o2.index, var_names=[f"f{j}" for j in range(f2)],
                            unit="counts", reader="benchmark", obs=o2, sparse=False)
            k2 = maaslin_filter(c2)
            tab = pd.DataFrame(c2[:, k2] + 1, index=o2.index)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_anc = _median_time(lambda t=tab, o=o2: ancombc(t, o, "group + age + sex + bmi"), 1)
            t_g2 = _median_time(
                lambda ad=ad2: diff_abundance(ad, formula="~ group + age + sex + bmi"), 3
            )
            print(f"N={n2} F={f2}: skbio_ancombc {t_anc:.3f} s, gb maaslin2 pipeline {t_g2:.4f} s "
                  f"({t_anc / t_g2:.1f}x)")
            record("DA (different models)", f"{n2}×{f2}", "skbio ancombc", t_anc, t_g2,
                   note="gutbrain MaAsLin2 pipeline vs ANCOM-BC: different methods")


if __name__ == "__main__":
    main()
