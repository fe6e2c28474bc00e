"""Benchmark: the classifier step of ``gutbrain run`` on American Gut, against scikit-learn's route.

The step is ``gb.ml.classify(model="l1", transform="clr", group_by=HOST_SUBJECT_ID, 5 folds × 2
repeats, 200 bootstrap resamples)`` on the 1,495 faecal samples collapsed to genera.  The peer is
the same cross-validation through scikit-learn's own pieces, as gutbrain ran it until December
2026: ``StratifiedGroupKFold`` for the folds, ``scoring="roc_auc"`` for the inner choice of the
penalty, ``average_precision_score`` per bootstrap resample, the folds one after the other.
Both run in this process, alternately, on the table read once; the script checks that every
reported table is identical and prints wall and CPU seconds (CPU of the worker processes
included).  Pieces are timed too: the splitter and the inner scorer.

Usage::

    python benchmarks/classifier.py [--repeats 3]

Skips (exit 0) when ../shared is not beside the repository.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _bench import record

SHARED = Path(__file__).resolve().parents[2] / "shared"
BASE = SHARED / "data" / "americangut2014_migraine_selfreport_16s"


def _clock() -> tuple[float, float]:
    t = os.times()
    return time.perf_counter(), t.user + t.system + t.children_user + t.children_system


@contextmanager
def sklearn_route():
    """gutbrain's classifier with scikit-learn's splitter, scorer and AP, serially."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedGroupKFold

    from gutbrain.ml import _classify, _cv

    def sgkf(y, groups, *, n_splits=5, random_state=0):
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        yield from cv.split(np.zeros((len(y), 1)), y, groups)

    saved = (_classify.decision_auroc, _cv.stratified_group_kfold, _cv._auprc, _classify._fold_jobs)
    _classify.decision_auroc = "roc_auc"
    _cv.stratified_group_kfold = sgkf
    _cv._auprc = average_precision_score
    _classify._fold_jobs = lambda *args: 1
    try:
        yield
    finally:
        _classify.decision_auroc, _cv.stratified_group_kfold, _cv._auprc, _classify._fold_jobs = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not BASE.exists():
        print(f"skipped: {BASE} not found")
        return
    for mod in ("sklearn.calibration", "sklearn.linear_model"):  # imports outside the timings
        importlib.import_module(mod)
    from sklearn.model_selection import StratifiedGroupKFold

    import gutbrain as gb
    from gutbrain.ml._cv import stratified_group_kfold
    from gutbrain.workflow._config import RunConfig
    from gutbrain.workflow._inputs import load

    meta = BASE / "mapping_trimmed.tsv.gz"
    config = RunConfig.create(group="MIGRAINE", where="BODY_SITE == 'UBERON:feces'", seed=0, rank="genus")
    adata = load(BASE / "AG_100nt_even10k.biom.gz", metadata=meta)
    adata, config = config.resolve(adata, metadata_path=meta)
    kw = {"label": "MIGRAINE", "positive": config.plan.case, "model": "l1", "transform": "clr",
          "group_by": config.cv_groups, "n_splits": 5, "n_repeats": 2, "n_boot": 200, "rank": "genus",
          "random_state": 0}
    print(f"{adata.n_obs} samples; groups: {config.cv_groups}; cores: {gb.ml._cv.default_jobs()}")

    times: dict[str, list[tuple[float, float]]] = {"scikit-learn route": [], "gutbrain": []}
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.repeats):
            for name in times:
                t0, c0 = _clock()
                if name == "gutbrain":
                    res = gb.ml.classify(adata, **kw)
                else:
                    with sklearn_route():
                        res = gb.ml.classify(adata, **kw)
                t1, c1 = _clock()
                times[name].append((t1 - t0, c1 - c0))
                results[name] = res
    a, b = results["scikit-learn route"], results["gutbrain"]
    for table in ("metrics", "predictions", "importances", "calibration"):
        same = getattr(a, table).equals(getattr(b, table))
        print(f"{table}: identical={same}")
        if not same:
            sys.exit(f"the {table} differ")
    wall = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    for k in times:
        print(f"{k:20s} wall {wall[k]:.2f} s  CPU {cpu[k]:.2f} s")
    auc = b.metrics.set_index("metric").loc["auroc"]
    print(f"AUROC {auc.value:.3f} (95 % CI {auc.ci_low:.3f}–{auc.ci_high:.3f}); "
          f"wall ratio {wall['scikit-learn route'] / wall['gutbrain']:.2f}×, "
          f"CPU ratio {cpu['scikit-learn route'] / cpu['gutbrain']:.2f}×")
    record("classifier step (L1, grouped 5×2 CV)", f"{adata.n_obs} samples, genera",
           "scikit-learn route (serial)", wall["scikit-learn route"], wall["gutbrain"],
           note="identical tables; wall seconds")

    # the splitter alone: the two repeats of the grouped folds
    y = (adata.obs["MIGRAINE"].astype(str).to_numpy() == config.plan.case).astype(int)
    groups = adata.obs[config.cv_groups].astype(str).to_numpy()
    t_sk, t_gb = [], []
    for _ in range(args.repeats):
        t0 = time.process_time()
        ref = [list(StratifiedGroupKFold(5, shuffle=True, random_state=r).split(np.zeros(len(y)), y, groups))
               for r in range(2)]
        t1 = time.process_time()
        ours = [list(stratified_group_kfold(y, groups, n_splits=5, random_state=r)) for r in range(2)]
        t2 = time.process_time()
        t_sk.append(t1 - t0)
        t_gb.append(t2 - t1)
    assert all(np.array_equal(p[1], q[1]) for rr, oo in zip(ref, ours, strict=True)
               for p, q in zip(rr, oo, strict=True))
    sk, ours_s = statistics.median(t_sk), statistics.median(t_gb)
    print(f"grouped folds (2 repeats): StratifiedGroupKFold {sk:.3f} s, gutbrain {ours_s:.3f} s "
          f"({sk / ours_s:.1f}×, same folds)")
    record("stratified group K-fold (5 folds × 2)", f"{len(y)} samples", "scikit-learn", sk, ours_s,
           note="identical folds; CPU seconds")


if __name__ == "__main__":
    main()
