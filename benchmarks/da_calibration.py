"""False discovery rate and power of MaAsLin2, MaAsLin 3, LinDA and ANCOM-BC, side by side.

Run: ``python benchmarks/da_calibration.py [--replicates 10] [--n 200] [--folds 2 4]
[--arms simulator resampled] [--out table.tsv]``

Two kinds of case/control cohorts with planted truth, ``n`` samples (half cases):

* ``simulator`` — :func:`gutbrain.datasets.simulate_cohort` on the healthy-gut template:
  10 % of the prevalent genera (template prevalence ≥ 0.25) get a log2 fold change of
  ±log2(fold) in cases (alternating up / down);
* ``resampled`` — real 16S profiles: ``n`` fecal samples drawn (without replacement) from
  the American Gut genus table (``../shared/data/americangut2014_migraine_selfreport_16s``,
  McDonald et al. 2018, mSystems 3:e00031-18), randomly split into cases and controls;
  10 % of the genera present in ≥ 25 % of the drawn samples are multiplied by ``fold`` or
  ``1/fold`` (alternating) in the cases' relative abundances, which are renormalised —
  a compositional shift of the other genera — and every sample's counts are re-drawn
  (multinomial) at that sample's own depth.

Every method runs as a new user would run it: ``gb.tl.diff_abundance(adata,
formula="~ group", reference={"group": "control"}, method=...)`` with its defaults.  A
call is ``q ≤ 0.05``: ``qval`` of the group row for MaAsLin2, LinDA and ANCOM-BC; for
MaAsLin 3 the joint q-value (abundance or prevalence association; direction of the model
with the smaller p-value), and, as a second line, the abundance model's individual
q-value alone.  A call on a genus without a planted change, or against the planted
direction, is false.  FDR = mean over replicates of false calls / max(1, calls); power =
mean of correct calls / planted genera (Hawinkel et al. 2019, Brief Bioinform 20:210,
doi:10.1093/bib/bbx104).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
AG = SHARED / "data" / "americangut2014_migraine_selfreport_16s" / "fecal_genus_counts.tsv.gz"
METHODS = ("maaslin2", "maaslin3", "linda", "ancombc")
ALPHA = 0.05


def _calls(method: str, adata) -> dict[str, pd.DataFrame]:
    """Per-method call tables ``feature, sign, q`` (MaAsLin 3: joint and abundance-only)."""
    import gutbrain as gb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gb.tl.diff_abundance(adata, formula="~ group", method=method, reference={"group": "control"},
                                   key_added="_calibration")
    adata.uns.pop("_calibration", None)
    if method != "maaslin3":
        r = res[res["metadata"] == "group"]
        return {method: pd.DataFrame({"feature": r["feature"], "sign": np.sign(r["coef"]), "q": r["qval"]})}
    r = res[res["metadata"] == "group"]
    ab = r[r["model"] == "abundance"].set_index("feature")
    pr = r[r["model"] == "prevalence"].set_index("feature").reindex(ab.index)
    pa = ab["pval_individual"].where(ab["error"].isna())
    pp = pr["pval_individual"].where(pr["error"].isna())
    use_ab = pa.fillna(np.inf) <= pp.fillna(np.inf)
    sign = np.where(use_ab, np.sign(ab["coef"]), np.sign(pr["coef"]))
    joint = pd.DataFrame({"feature": ab.index, "sign": sign, "q": ab["qval_joint"].to_numpy()})
    abund = pd.DataFrame({"feature": ab.index, "sign": np.sign(ab["coef"]).to_numpy(),
                          "q": ab["qval_individual"].where(ab["error"].isna()).to_numpy()})
    return {"maaslin3": joint, "maaslin3 (abundance q)": abund}


def _score(calls: pd.DataFrame, truth: dict[str, float]) -> dict[str, float]:
    sig = calls[calls["q"].to_numpy(dtype=float) <= ALPHA]
    want = np.array([np.sign(truth.get(f, 0.0)) for f in sig["feature"]])
    tp = int(np.sum((want != 0) & (sig["sign"].to_numpy() == want)))
    n = len(sig)
    return {"calls": n, "tp": tp, "fp": n - tp, "fdp": (n - tp) / max(1, n), "power": tp / max(1, len(truth))}


def _simulated(n: int, fold: float, rng: np.random.Generator):
    import gutbrain as gb

    template = gb.datasets.healthy_gut_template()
    pool = template.loc[template["prevalence"] >= 0.25, "genus"].astype(str).to_numpy()
    k = max(1, round(0.1 * pool.size))
    chosen = rng.choice(pool, size=k, replace=False)
    truth = {str(t): float(np.log2(fold)) * (1 if i % 2 == 0 else -1) for i, t in enumerate(chosen)}
    adata = gb.datasets.simulate_cohort(template, n_samples=n, effects=truth, case_fraction=0.5, seed=rng,
                                        key_added=None)
    adata.obs["group"] = adata.obs["group"].astype(str)
    return adata, truth


def _resampled(counts: pd.DataFrame, n: int, fold: float, rng: np.random.Generator):
    import anndata as ad

    rows = rng.choice(counts.shape[0], size=n, replace=False)
    C = counts.to_numpy()[rows]
    keep = (C > 0).any(axis=0)
    C = C[:, keep]
    names = counts.columns[keep].astype(str)
    depth = C.sum(axis=1)
    P = C / depth[:, None]
    case = np.zeros(n, dtype=bool)
    case[rng.choice(n, size=n // 2, replace=False)] = True
    pool = np.flatnonzero((C > 0).mean(axis=0) >= 0.25)
    k = max(1, round(0.1 * pool.size))
    chosen = rng.choice(pool, size=k, replace=False)
    mult = np.ones(C.shape[1])
    mult[chosen] = np.where(np.arange(k) % 2 == 0, fold, 1.0 / fold)
    P[case] = P[case] * mult[None, :]
    P /= P.sum(axis=1, keepdims=True)
    newC = np.vstack([rng.multinomial(int(d), p) for d, p in zip(depth, P, strict=True)]).astype(float)
    truth = {str(names[j]): float(np.log2(mult[j])) for j in chosen}
    obs = pd.DataFrame({"group": np.where(case, "case", "control")}, index=[f"s{i}" for i in range(n)])
    adata = ad.AnnData(newC, obs=obs, var=pd.DataFrame(index=list(names)))
    adata.uns["gutbrain"] = {"X_unit": "counts"}
    return adata, truth


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--folds", type=float, nargs="+", default=[2.0, 4.0])
    ap.add_argument("--arms", nargs="+", default=["simulator", "resampled"])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the per-replicate rows (TSV)")
    args = ap.parse_args()

    counts = None
    if "resampled" in args.arms:
        if not AG.exists():
            raise SystemExit(f"needs {AG} (the shared data folder beside the repository)")
        counts = pd.read_csv(AG, sep="\t", index_col=0).T  # samples × genera
    rows = []
    t0 = time.perf_counter()
    for arm in args.arms:
        for fold in args.folds:
            for r in range(args.replicates):
                rng = np.random.default_rng([args.seed, r, int(fold * 100), args.arms.index(arm)])
                if arm == "simulator":
                    adata, truth = _simulated(args.n, fold, rng)
                else:
                    adata, truth = _resampled(counts, args.n, fold, rng)
                for method in args.methods:
                    ts = time.perf_counter()
                    for name, calls in _calls(method, adata.copy()).items():
                        rows.append({"arm": arm, "fold": fold, "replicate": r, "method": name,
                                     "seconds": time.perf_counter() - ts, **_score(calls, truth)})
                print(f"{arm} fold={fold:g} replicate {r + 1}/{args.replicates} "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    reps = pd.DataFrame(rows)
    if args.out is not None:
        reps.to_csv(args.out, sep="\t", index=False)
    g = reps.groupby(["arm", "fold", "method"], sort=False)
    summary = g.agg(fdr=("fdp", "mean"), fdr_sd=("fdp", "std"), power=("power", "mean"),
                    power_sd=("power", "std"), calls=("calls", "mean"), seconds=("seconds", "mean"),
                    replicates=("replicate", "nunique")).reset_index()
    k = np.sqrt(summary["replicates"])
    summary["fdr_se"] = summary.pop("fdr_sd") / k
    summary["power_se"] = summary.pop("power_sd") / k
    pd.set_option("display.width", 160)
    print(f"\nn = {args.n}, q ≤ {ALPHA}, {args.replicates} replicates per cell")
    print(summary[["arm", "fold", "method", "fdr", "fdr_se", "power", "power_se", "calls", "seconds"]]
          .to_string(index=False, float_format=lambda x: f"{x:.3f}"))


if __name__ == "__main__":
    main()
