"""Benchmark: libRoadRunner vs a SciPy solve_ivp loop on the full gut–brain model.

Prints per-run times and ratios, then times 10,000 runs of the full model (LPS challenge on
the chain after a 21-day warm-up) spread over the available cores.

    .venv/bin/python benchmarks/sim.py [--runs 200] [--big 10000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _bench import record
from scipy.integrate import solve_ivp

from gutbrain import sim
from gutbrain.sim._reference import reference_model


def main() -> None:
    import functools

    global print
    print = functools.partial(print, flush=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--big", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()

    model = sim.load_model("gut_brain")
    exp = sim.lps_challenge(2.0, 48.0, n_points=97, warmup=21 * 24.0)
    draws = sim.sample_parameters(model.parameters, args.runs, random_state=0)
    tol = {"rtol": 1e-6, "atol": 1e-9}
    print(f"model gut_brain: {len(model.states)} states; experiment: 21-day warm-up + 48 h LPS "
          f"(97 output points); tolerances rtol {tol['rtol']}, atol {tol['atol']}")

    # roadrunner (compiled once; JIT time reported separately)
    t0 = time.perf_counter()
    run = sim._engine._RoadRunnerRun(model, rtol=tol["rtol"], atol=tol["atol"])
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    rr_out = np.stack([run.run(exp, draws.iloc[i].to_dict(), ["TNF"]) for i in range(args.runs)])
    t_rr = (time.perf_counter() - t0) / args.runs

    # scipy solve_ivp loop on the hand-written reference right-hand side
    ref = reference_model("gut_brain")
    base = model.values
    i_pe = ref.states.index("PE")
    i_tnf = ref.states.index("TNF")
    res = {}
    for method in ("LSODA", "BDF"):  # RK45 is unusable on this stiff system (minutes per run)
        n = args.runs if method == "LSODA" else max(10, args.runs // 10)
        t0 = time.perf_counter()
        outs = []
        for i in range(n):
            p = {**base, **draws.iloc[i].to_dict()}
            y = ref.initial(p)
            y = solve_ivp(lambda t, yy, p=p: ref.rhs(t, yy, p), (0, exp.warmup), y, method=method,
                          **tol).y[:, -1]
            y[i_pe] += 2.0
            sol = solve_ivp(lambda t, yy, p=p: ref.rhs(t, yy, p), (0, exp.t_end), y, method=method,
                            t_eval=exp.times, **tol)
            outs.append(sol.y[i_tnf])
        res[method] = (time.perf_counter() - t0) / n
        if method == "LSODA":
            sp_out = np.array(outs)
    err = np.max(np.abs(sp_out - rr_out[:, :, 0]) / (np.abs(sp_out) + 1e-3))
    print(f"roadrunner: load+JIT {t_load * 1e3:.0f} ms; {t_rr * 1e3:.2f} ms/run")
    for m, t in res.items():
        print(f"solve_ivp {m:5s}: {t * 1e3:.2f} ms/run  -> roadrunner speed-up {t / t_rr:.1f}x")
    print(f"max relative difference roadrunner vs LSODA (TNF): {err:.1e}")
    record("simulation, one run of gut_brain (21 d + 48 h)", "1 run", "scipy solve_ivp LSODA", res["LSODA"], t_rr,
           note=f"max rel. difference {err:.0e}")

    big = sim.sample_parameters(model.parameters, args.big, random_state=1)
    t0 = time.perf_counter()
    Y = sim.ensemble(model, exp, big, outputs=["TNF", "PPT_pct"], n_jobs=args.jobs)
    t_big = time.perf_counter() - t0
    failed = int(np.sum(~np.isfinite(Y).all(axis=(1, 2))))
    print(f"{args.big} runs of the full model on {args.jobs} processes: {t_big:.1f} s "
          f"({t_big / args.big * 1e3:.2f} ms/run wall, {failed} failed); "
          f"estimated solve_ivp LSODA loop: {res['LSODA'] * args.big:.0f} s "
          f"({res['LSODA'] * args.big / t_big:.0f}x)")


if __name__ == "__main__":
    main()
