"""Benchmark: ``gutbrain run`` on the American Gut table (1,962 samples × 19,236 OTUs), per step.

Runs the whole workflow as ``gutbrain run`` does (read the BIOM table and the metadata, the
steps of ``gb.workflow.STEPS``, the report, the outputs) with the design the tests use::

    gutbrain run AG_100nt_even10k.biom.gz -m mapping_trimmed.tsv.gz --group MIGRAINE \\
        --where "BODY_SITE == 'UBERON:feces'" -o OUT

(``--all-sites`` drops the ``--where``: all 1,962 samples with a MIGRAINE answer).  Each
repeat runs in a fresh Python process, as a user's command does (imports and numba's
compilation or cache load included).  The time of each phase is taken from the
``on_progress`` callback (``read`` is everything before the first step: reading, metadata,
``--where`` and the group plan; ``report`` is rendering and writing the outputs), so the
script times releases that do not record step times themselves; the run's own record
(``uns["workflow"]["timings"]``) is printed beside it when present.  The classifier's
out-of-fold AUROC and its 95 % CI are printed too, so a speed-up that changed the numbers
shows.

Usage::

    python benchmarks/run_americangut.py [--repeats 3] [--all-sites] [--compare-grids]

Skips (exit 0) when ../shared is not beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import record

SHARED = Path(__file__).resolve().parents[2] / "shared"
BASE = SHARED / "data" / "americangut2014_migraine_selfreport_16s"
FAECES = "BODY_SITE == 'UBERON:feces'"

CHILD = r"""
import json, sys, time
t_start = time.perf_counter()
import gutbrain as gb
t_import = time.perf_counter() - t_start
table, meta, where, out = sys.argv[1:5]
marks = []
def on_progress(name, frac):
    marks.append((name, time.perf_counter(), time.process_time()))
t0, c0 = time.perf_counter(), time.process_time()
ad = gb.workflow.run(table, metadata=meta, group="MIGRAINE", where=where or None, out=out,
                     progress=False, on_progress=on_progress)
t1, c1 = time.perf_counter(), time.process_time()
phases, cpu = {}, {}
prev_name, prev_t, prev_c = "read", t0, c0
for name, t, c in [*marks, ("done", t1, c1)]:
    phases[prev_name] = phases.get(prev_name, 0.0) + (t - prev_t)
    cpu[prev_name] = cpu.get(prev_name, 0.0) + (c - prev_c)
    prev_name, prev_t, prev_c = name, t, c
phases.pop("done", None)
cpu.pop("done", None)
status = ad.uns["workflow"]["step_status"]
state = dict(zip(status["step"], status["status"]))
own = ad.uns["workflow"].get("timings")
own = own.set_index("phase")["seconds"].to_dict() if own is not None else None
clf = ad.uns.get("classifier", {})
auc = None
if "metrics" in clf:
    m = clf["metrics"].set_index("metric")
    auc = [float(m.loc["auroc", "value"]), float(m.loc["auroc", "ci_low"]), float(m.loc["auroc", "ci_high"])]
print(json.dumps({"import": t_import, "total": t1 - t0, "cpu_total": c1 - c0, "phases": phases, "cpu": cpu,
                  "state": state, "own": own,
                  "auroc": auc, "n_obs": ad.n_obs, "params": {k: str(v) for k, v in clf.get("params", {}).items()}}))
"""


def _one(where: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(BASE / "AG_100nt_even10k.biom.gz"),
             str(BASE / "mapping_trimmed.tsv.gz"), where, str(Path(tmp) / "out")],
            capture_output=True, text=True, check=False,
        )
    if out.returncode != 0:
        raise SystemExit(f"the run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_grids(where: str) -> None:
    """The classifier step's model with the former C grid (10⁻³ … 100) and the current one, side by side."""
    import time

    import numpy as np

    import gutbrain as gb
    from gutbrain.ml import cross_validate_model, make_pipeline
    from gutbrain.ml._classify import LOGISTIC_CS
    from gutbrain.workflow import RunConfig, load
    from gutbrain.workflow import _steps as steps

    meta = BASE / "mapping_trimmed.tsv.gz"
    ad = load(BASE / "AG_100nt_even10k.biom.gz", metadata=meta)
    ad, cfg = RunConfig.create(group="MIGRAINE", where=where or None).resolve(ad, metadata_path=meta)
    genus = gb.pp.collapse(ad, "genus", unassigned="keep")
    X = np.asarray(genus.X.toarray() if hasattr(genus.X, "toarray") else genus.X, dtype=float)
    y = (genus.obs["MIGRAINE"].astype(str) == cfg.plan.case).to_numpy().astype(int)
    groups = genus.obs[cfg.cv_groups].astype(str).to_numpy()
    print(f"classifier grids side by side: {X.shape[0]} samples × {X.shape[1]} genera, grouped by {cfg.cv_groups}; "
          f"load average {os.getloadavg()[0]:.2f}")
    for label, grid in (("former C grid 1e-3…100 (12)", np.logspace(-3, 2, 12)), (
            f"current C grid 1e-3…{LOGISTIC_CS[-1]:.2f} ({LOGISTIC_CS.size})", LOGISTIC_CS)):
        pipe = make_pipeline("l1", transform="clr", random_state=cfg.seed)
        pipe.set_params(model__Cs=grid)
        t0 = time.perf_counter()
        res = cross_validate_model(X, y, cv="group", groups=groups, n_splits=steps.N_SPLITS,
                                   n_repeats=steps.N_REPEATS, n_boot=steps.N_BOOT, random_state=cfg.seed,
                                   pipeline=pipe)
        dt = time.perf_counter() - t0
        row = res.metrics.set_index("metric").loc["auroc"]
        print(f"  {label:<32} {dt:7.2f} s   AUROC {row.value:.4f} (95 % CI {row.ci_low:.3f}–{row.ci_high:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="fresh-process runs (medians are printed)")
    ap.add_argument("--all-sites", action="store_true", help="no --where: every body site")
    ap.add_argument("--compare-grids", action="store_true",
                    help="also time the classifier with the former and the current C grid side by side")
    args = ap.parse_args()
    if not (BASE / "AG_100nt_even10k.biom.gz").exists():
        print(f"skipped: {BASE} not found")
        return
    where = "" if args.all_sites else FAECES
    if args.compare_grids:
        compare_grids(where)
    runs = [_one(where) for _ in range(args.repeats)]
    first = runs[0]
    print(f"gutbrain run on American Gut 2014 (--group MIGRAINE{'' if not where else ' --where ' + repr(where)}): "
          f"{first['n_obs']} samples; {args.repeats} fresh process(es); load average {os.getloadavg()[0]:.2f}")
    keys = list(first["phases"])
    width = max(len(k) for k in keys) + 2
    print(f"{'phase':<{width}}{'status':>9}{'median s':>10}{'CPU s':>8}  wall of each run (s)")
    for k in keys:
        vals = [r["phases"].get(k, float("nan")) for r in runs]
        cpu = [r.get("cpu", {}).get(k, float("nan")) for r in runs]
        st = first["state"].get(k, "")
        print(f"{k:<{width}}{st:>9}{statistics.median(vals):>10.2f}{statistics.median(cpu):>8.2f}  "
              + " ".join(f"{v:.2f}" for v in vals))
    tot = [r["total"] for r in runs]
    ctot = [r.get("cpu_total", float("nan")) for r in runs]
    print(f"{'total (gb.workflow.run)':<{width}}{'':>9}{statistics.median(tot):>10.2f}"
          f"{statistics.median(ctot):>8.2f}  " + " ".join(f"{v:.2f}" for v in tot))
    print("(CPU s: process CPU time of all threads, less sensitive to other jobs than wall time; "
          "on an idle 2-core machine the wall time is roughly between CPU/2 and CPU)")
    imp = [r["import"] for r in runs]
    print(f"{'import gutbrain (not in total)':<{width}}{'':>9}{statistics.median(imp):>10.2f}")
    if first["auroc"]:
        a, lo, hi = first["auroc"]
        p = first["params"]
        print(f"classifier: AUROC {a:.3f} (95 % CI {lo:.3f}–{hi:.3f}); model {p.get('model')}, "
              f"cv {p.get('cv')} by {p.get('group_by')}, {p.get('n_splits')}×{p.get('n_repeats')} folds, "
              f"{p.get('n_features')} features offered")
    if first["own"]:
        print("the run's own record (uns['workflow']['timings'], first run):")
        for k, v in first["own"].items():
            print(f"  {k:<{width}}{v:>10.2f}")
    record("gutbrain run (American Gut)", f"{first['n_obs']} samples × 19,236 OTUs", None, None,
           statistics.median(tot), note="whole workflow; per-step table in docs/performance.md")


if __name__ == "__main__":
    main()
