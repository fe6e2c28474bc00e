"""Reproduce published AUROCs with gutbrain's leakage-safe cross-validation.

Run: ``python benchmarks/auroc_published.py [--quick]`` (reads ../shared; nothing is copied).

* MetAML (Pasolli et al. 2016, PLoS Comput Biol 12:e1004977): random forest on MetaPhlAn2
  species relative abundances, 10-fold stratified CV.  Published values (as recalled in
  ../shared/REFERENCE.md, not re-verified against the paper's table): cirrhosis 0.945,
  CRC 0.873, IBD 0.890, obesity 0.655, T2D 0.744, WT2D 0.762.
* ML Repo (Vangay et al. 2019, GigaScience 8:giz042): RF on 16S/shotgun taxa tables; the
  per-task published AUCs are in the paper and are not available here, so ours are printed
  alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

METAML_TASKS = {
    # task: (datasets, positive diseases, negative diseases, published AUROC)
    "cirrhosis": (["Quin_gut_liver_cirrhosis"], ["cirrhosis"], ["n"], 0.945),
    "CRC": (["Zeller_fecal_colorectal_cancer"], ["cancer"], ["n"], 0.873),
    "IBD": (["metahit"], ["ibd_crohn_disease", "ibd_ulcerative_colitis"], ["n"], 0.890),
    "obesity": (["Chatelier_gut_obesity"], ["obesity"], ["leaness"], 0.655),
    "T2D": (["t2dmeta_long", "t2dmeta_short"], ["t2d"], ["n"], 0.744),
    "WT2D": (["WT2D"], ["t2d"], ["n"], 0.762),
}

MLREPO_TASKS = [
    ("qin2014", "task-healthy-cirrhosis", "Cirrhosis"),
    ("qin2012", "task-healthy-diabetes", None),
    ("karlsson", "task-normal-diabetes", None),
    ("karlsson", "task-impaired-diabetes", None),
    ("sokol", "task-healthy-cd", None),
    ("sokol", "task-healthy-uc", None),
    ("turnbaugh", "task-obese-lean-all", None),
    ("gevers", "task-ileum", None),
    ("gevers", "task-rectum", None),
    ("kostic", "task", None),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 repeat, RF 200 trees")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from gutbrain.ml import PrevalenceFilter, RelativeAbundance, cross_validate_model
    from gutbrain.ml._compendia import load_metaml, load_mlrepo

    n_rep = 1 if args.quick else args.repeats

    def rf_pipe() -> Pipeline:
        # MetAML: RF, 500 trees, sqrt features, on relative abundances, no prevalence filter
        return Pipeline([("filter", PrevalenceFilter(min_prevalence=0.0)), ("transform", RelativeAbundance()),
                         ("model", RandomForestClassifier(n_estimators=200 if args.quick else 500,
                                                          max_features="sqrt", n_jobs=2, random_state=0))])

    print(f"## MetAML (species, RF, 10-fold stratified CV, {n_rep} repeat(s))")
    print(f"{'task':10s} {'n':>5s} {'pos':>4s} {'published':>9s} {'gutbrain RF':>12s} {'95% CI':>16s} {'gutbrain L1':>12s} {'sec':>6s}")
    t0 = time.perf_counter()
    ad = load_metaml(SHARED / "metaml_pasolli2016_metaphlan2" / "abundance.txt.bz2")
    print(f"(loaded MetAML stool: {ad.shape} in {time.perf_counter() - t0:.1f} s)")
    sp = (ad.var["clade_rank"] == "species").to_numpy()
    Xs = ad.X[:, sp]
    obs = ad.obs
    for task, (dsets, pos, neg, pub) in METAML_TASKS.items():
        m = obs["dataset_name"].isin(dsets).to_numpy() & obs["disease"].isin(pos + neg).to_numpy()
        y = obs["disease"][m].isin(pos).to_numpy().astype(int)
        X = Xs[m]
        t = time.perf_counter()
        res = cross_validate_model(X, y, cv="repeated", n_splits=10, n_repeats=n_rep, pipeline=rf_pipe(),
                                   n_boot=500, random_state=0)
        l1 = cross_validate_model(X, y, model="l1", cv="repeated", n_splits=10, n_repeats=n_rep,
                                  n_boot=200, random_state=0)
        row = res.metrics.set_index("metric").loc["auroc"]
        print(f"{task:10s} {m.sum():5d} {y.sum():4d} {pub:9.3f} {row.value:12.3f} "
              f"[{row.ci_low:.3f}, {row.ci_high:.3f}] {l1.metric('auroc'):12.3f} {time.perf_counter() - t:6.1f}")

    print("\n## ML Repo (RF 500 trees on relative abundances, 5-fold stratified CV)")
    print(f"{'task':34s} {'n':>5s} {'pos':>4s} {'gutbrain RF':>12s} {'95% CI':>16s}")
    folder = SHARED / "mlrepo_knights_subset"
    for dataset, task, positive in MLREPO_TASKS:
        try:
            a = load_mlrepo(folder, dataset, task)
        except FileNotFoundError as exc:
            print(f"{dataset}/{task}: missing ({exc.filename})")
            continue
        labels = a.obs["label"].astype(str)
        levels = sorted(labels.unique())
        if len(levels) != 2:
            print(f"{dataset}/{task}: {len(levels)} levels, skipped")
            continue
        pos_level = positive or levels[1]
        y = (labels == pos_level).to_numpy().astype(int)
        res = cross_validate_model(np.asarray(a.X), y, cv="repeated", n_splits=5, n_repeats=n_rep,
                                   pipeline=rf_pipe(), n_boot=500, random_state=0)
        row = res.metrics.set_index("metric").loc["auroc"]
        print(f"{dataset + '/' + task + ' (+' + pos_level + ')':34s} {len(y):5d} {y.sum():4d} "
              f"{row.value:12.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]")


if __name__ == "__main__":
    main()
