"""Metabolomics benchmarks: association speed vs peers, and prediction vs MelonnPan-style elastic net.

Run::

    python benchmarks/metabolites.py                      # speed, 2,000 taxa × 500 metabolites × 1,000 samples
    python benchmarks/metabolites.py --taxa 500 --metabolites 100 --samples 300   # quick
    python benchmarks/metabolites.py --predict            # prediction on the shared data (minutes)

**Speed** (one run, side by side; ratios, since absolute seconds are noisy on shared machines):

* ``gb.tl.metabolite_associations`` kernel (OLS with two covariates, all pairs, two missingness
  patterns) against ``statsmodels.OLS`` fitted pair by pair — timed on ``--peer-pairs`` random
  pairs and scaled to all pairs (a per-pair loop over a million pairs would take hours); the
  sampled pairs are also compared numerically;
* the Spearman path against ``scipy.stats.spearmanr`` on the full matrices (scipy computes all
  (T + M)² correlations; both full size);
* the mixed-model path (``(1|subject)``, null-model variance ratios) against exact REML refits
  (``mixed="exact"``) timed on a few taxa and scaled.

``--predict`` takes minutes to hours on a shared 2-core machine (the MelonnPan-style grid is
19 l1_ratios × 100 alphas × 10 folds per outer fold); narrow it with ``--datasets``,
``--targets`` and ``--methods``.

**Prediction** (``--predict``): out-of-fold Spearman ρ / R² / MAE for measured faecal butyrate
(and Mars propionate/acetate) on Mars 2020 (subject-grouped), Kang 2017 and the DNBS rodent
study: gutbrain's nested selection (ridge / elastic net on CLR, random forest), ridge alone,
the MelonnPan approach re-implemented (Mallick et al. 2019, doi:10.1038/s41467-019-10927-1:
TSS → rank-based inverse normal features, elastic net over l1_ratio 0.05…0.95 with alpha by
random 10-fold CV and the 1-SE rule) inside the same outer folds, and the two butyrate indices.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def synthetic(n: int, T: int, M: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, T))
    Y = 0.05 * Z[:, :M] @ np.eye(M) if M <= T else rng.normal(size=(n, M))
    Y = Y + rng.normal(size=(n, M))
    Y[: n // 10, : M // 2] = np.nan  # a second missingness pattern
    C = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    subjects = np.arange(n) % max(2, n // 5)
    return Z, Y, C, subjects


def speed(n: int, T: int, M: int, peer_pairs: int, exact_taxa: int) -> pd.DataFrame:
    import statsmodels.api as sm
    from scipy.stats import spearmanr

    from gutbrain.tl._metabolites import associate_kernel

    Z, Y, C, subjects = synthetic(n, T, M)
    rows = []
    t0 = time.perf_counter()
    fit = associate_kernel(Z, Y, C=C)
    t_gb = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    pairs = [(int(rng.integers(T)), int(rng.integers(M))) for _ in range(peer_pairs)]
    t0 = time.perf_counter()
    diffs = []
    for t, m in pairs:
        ok = np.isfinite(Y[:, m])
        ref = sm.OLS(Y[ok, m], np.column_stack([C[ok], Z[ok, t]])).fit()
        diffs.append(abs(ref.params[-1] - fit["coef"][t, m]) / max(abs(ref.params[-1]), 1e-12))
    t_sm = (time.perf_counter() - t0) / peer_pairs * T * M
    rows.append(("OLS, 2 covariates, all pairs", t_gb, "statsmodels.OLS per pair (scaled from "
                 f"{peer_pairs} pairs)", t_sm, f"max rel. diff of coef {max(diffs):.1e}"))
    Yc = np.where(np.isfinite(Y), Y, 0.0)
    t0 = time.perf_counter()
    associate_kernel(Z, Yc, method="spearman")
    t_gs = time.perf_counter() - t0
    t0 = time.perf_counter()
    spearmanr(Z, Yc)
    t_ss = time.perf_counter() - t0
    rows.append(("Spearman, all pairs", t_gs, "scipy.stats.spearmanr (full matrices)", t_ss, ""))
    t0 = time.perf_counter()
    associate_kernel(Z, Y, C=C, groups=[subjects])
    t_mx = time.perf_counter() - t0
    t0 = time.perf_counter()
    associate_kernel(Z[:, :exact_taxa], Y, C=C, groups=[subjects], mixed="exact")
    t_ex = (time.perf_counter() - t0) / exact_taxa * T
    rows.append(("(1|subject), null-model variance ratio", t_mx,
                 f"exact REML per pair (scaled from {exact_taxa} taxa)", t_ex, ""))
    out = pd.DataFrame(rows, columns=["task", "gutbrain_s", "peer", "peer_s", "note"])
    out["speed-up"] = out["peer_s"] / out["gutbrain_s"]
    out.attrs["size"] = f"{T} taxa × {M} metabolites × {n} samples"
    return out


METHODS = {"nested": ("gutbrain nested (ridge/enet/rf)", ("ridge", "enet", "rf")),
           "ridge": ("ridge on CLR", ("ridge",)),
           "melonnpan": ("MelonnPan-style elastic net", ("melonnpan",))}


def predict(datasets: list[str], targets: list[str], methods: list[str]) -> pd.DataFrame:
    import butyrate_index as B

    import gutbrain as gb

    jobs = [("mars", "Mars 2020 (IBS, adults)", B.load_mars, targets),
            ("kang", "Kang 2017 (autism, children)", B.load_kang, ["Butyrate"]),
            ("dnbs", "DNBS FMT (visceral pain) [RODENT]", B.load_dnbs, ["Butyrate"])]
    rows = []
    for _key, name, loader, tlist in sorted((j for j in jobs if j[0] in datasets),
                                           key=lambda j: datasets.index(j[0])):
        ad, gcol, _ = loader()
        for target in tlist:
            for label, models in (METHODS[m] for m in methods):
                n_groups = ad.obs[gcol].nunique() if gcol else ad.n_obs
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = gb.ml.predict_metabolite(ad, target=target, groups=gcol, models=models,
                                                   n_splits=5 if n_groups >= 25 else 3, inner_splits=3,
                                                   n_boot=500, evidence=False, random_state=0)
                secs = time.perf_counter() - t0
                m = res.metrics.set_index("metric")
                rows.append({"dataset": name, "target": target, "method": label,
                             "spearman": m.at["spearman", "value"], "ci_low": m.at["spearman", "ci_low"],
                             "ci_high": m.at["spearman", "ci_high"], "r2": m.at["r2", "value"],
                             "mae": m.at["mae", "value"], "n": res.params["n_samples"],
                             "scheme": res.params["scheme"], "seconds": round(secs, 1),
                             "chosen": ",".join(sorted(set(res.selection["model"])))})
                print(rows[-1], flush=True)
            base = res.baselines
            for model in base["model"].unique():
                if model == "training mean":
                    continue
                b = base[base["model"] == model].set_index("metric")
                rows.append({"dataset": name, "target": target, "method": model,
                             "spearman": b.at["spearman", "value"], "ci_low": b.at["spearman", "ci_low"],
                             "ci_high": b.at["spearman", "ci_high"], "r2": b.at["r2", "value"],
                             "mae": b.at["mae", "value"], "n": res.params["n_samples"],
                             "scheme": "index (R²/MAE: calibration inside the folds)", "seconds": np.nan,
                             "chosen": ""})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--taxa", type=int, default=2000)
    ap.add_argument("--metabolites", type=int, default=500)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--peer-pairs", type=int, default=300)
    ap.add_argument("--exact-taxa", type=int, default=3)
    ap.add_argument("--predict", action="store_true", help="run the prediction comparison on ../shared")
    ap.add_argument("--datasets", default="mars,kang,dnbs", help="comma-separated: mars, kang, dnbs")
    ap.add_argument("--targets", default="Butyrate", help="Mars targets, e.g. Butyrate,Propionate,Acetate")
    ap.add_argument("--methods", default="nested,ridge,melonnpan", help="comma-separated: nested, ridge, melonnpan")
    args = ap.parse_args(argv)
    pd.set_option("display.width", 220)
    if args.predict:
        df = predict(args.datasets.split(","), args.targets.split(","), args.methods.split(","))
        print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return 0
    df = speed(args.samples, args.taxa, args.metabolites, args.peer_pairs, args.exact_taxa)
    print(df.attrs["size"])
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
