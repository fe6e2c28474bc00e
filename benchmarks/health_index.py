"""Train gutbrain's health index and evaluate it leave-one-study-out against GMHI and GMWI2.

Run: ``python benchmarks/health_index.py [--write]`` (reads ../shared; ``--write`` rewrites
``src/gutbrain/ml/data/health_index_coefficients.tsv`` from the full training set).

Training data (public, cited in the coefficients file): MetAML stool MetaPhlAn2 profiles
(Pasolli 2016) and ML Repo 16S profiles of Sokol and Turnbaugh (Vangay 2019).
Balanced accuracy = mean of sensitivity (diseased called non-healthy) and specificity
(healthy called healthy) at the published thresholds (GMHI > 0, GMWI2 > 0, ours > 0).
GMHI and GMWI2 were trained on collections that include several of these MetAML studies,
so their numbers here are not out-of-study; ours are (each study held out in turn).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "gutbrain" / "ml" / "data" / "health_index_coefficients.tsv"

HEALTHY = {"n", "leaness"}
DISEASED = {"cirrhosis", "cancer", "ibd_crohn_disease", "ibd_ulcerative_colitis", "obesity", "t2d"}
METAML_STUDIES = ["Candela_Africa", "Chatelier_gut_obesity", "Neilsen_genome_assembly", "Quin_gut_liver_cirrhosis",
                  "Tito_subsistence_gut", "WT2D", "Zeller_fecal_colorectal_cancer", "hmp", "hmpii", "metahit",
                  "t2dmeta_long", "t2dmeta_short"]
MLREPO = [("sokol", "task-healthy-cd", {"Healthy": 1}), ("sokol", "task-healthy-uc", {"Healthy": 1}),
          ("turnbaugh", "task-obese-lean-all", {"Lean": 1})]


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    rec = [float(np.mean(pred[y == c] == c)) for c in (0, 1) if (y == c).any()]
    return float(np.mean(rec)) if len(rec) == 2 else float("nan")


def load() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, object]:
    from gutbrain.ml._compendia import genus_matrix, load_metaml, load_mlrepo

    ad = load_metaml(SHARED / "metaml_pasolli2016_metaphlan2" / "abundance.txt.bz2")
    d = ad.obs["disease"].astype(str)
    keep = ad.obs["dataset_name"].isin(METAML_STUDIES).to_numpy() & d.isin(HEALTHY | DISEASED).to_numpy()
    ad = ad[keep].copy()
    Pm = genus_matrix(ad)
    ym = ad.obs["disease"].isin(HEALTHY).to_numpy().astype(int)
    gm = ad.obs["dataset_name"].astype(str).to_numpy()
    frames, ys, gs = [Pm], [ym], [gm]
    seen: set[str] = set()
    for dataset, task, healthy_levels in MLREPO:
        a = load_mlrepo(SHARED / "mlrepo_knights_subset", dataset, task)
        a = a[[s not in seen for s in a.obs_names]].copy()
        seen |= set(a.obs_names)
        lab = a.obs["label"].astype(str)
        ok = lab.isin(healthy_levels) | ~lab.isin(healthy_levels)
        P = genus_matrix(a[ok.to_numpy()].copy())
        P.index = [f"{dataset}:{s}" for s in P.index]
        frames.append(P)
        ys.append(lab[ok].isin(healthy_levels).to_numpy().astype(int))
        gs.append(np.full(len(P), f"{dataset}_16S"))
    P = pd.concat(frames, axis=0).fillna(0.0)
    return P, np.concatenate(ys), np.concatenate(gs), ad


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import gutbrain as gb
    from gutbrain.ml._health_index import _score, fit_health_index

    P, y, g, ad = load()
    # sokol tasks share healthy samples: collapse duplicates
    P = P[~P.index.duplicated()]
    print(f"training samples: {len(P)} ({y.sum()} healthy, {len(y) - y.sum()} diseased), genera: {P.shape[1]}, "
          f"studies: {len(np.unique(g))}")
    full = fit_health_index(P, y, g)
    print(f"full model: C={full.attrs['C']:.4g}, study-grouped CV balanced accuracy {full.attrs['cv_balanced_accuracy']:.3f}, "
          f"{len(full) - 1} genera")
    if args.write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# gutbrain health index: L1 logistic regression (balanced class weights) on\n"
            "# z = (log10(max(proportion, 1e-4)) - center) / scale of canonical genera; value = intercept + sum(coef*z);\n"
            "# value > 0: healthy-like.  Fitted by benchmarks/health_index.py (gutbrain) with C = "
            f"{full.attrs['C']:.6g} chosen by study-grouped 5-fold CV.\n"
            f"# Training data: {len(P)} stool profiles ({int(y.sum())} healthy, {int(len(y) - y.sum())} diseased) from {len(np.unique(g))} studies:\n"
            "# MetAML MetaPhlAn2 profiles (Pasolli E et al. 2016 PLoS Comput Biol 12:e1004977, doi:10.1371/journal.pcbi.1004977;\n"
            "#   Qin 2014 cirrhosis, Zeller 2014 CRC, MetaHIT IBD, Nielsen 2014 IBD, Le Chatelier 2013 obesity, Qin 2012 T2D,\n"
            "#   Karlsson 2013 WT2D, HMP, Candela Africa, Tito subsistence) and ML Repo 16S profiles (Vangay P et al. 2019\n"
            "#   GigaScience 8:giz042, doi:10.1093/gigascience/giz042; Sokol CD/UC, Turnbaugh 2009 lean/obese).\n"
            "# Derived figures (coefficients) only; no sample data are included.\n"
        )
        with open(OUT, "w", encoding="utf-8") as fh:
            fh.write(header)
            full.to_csv(fh, sep="\t", index=False, float_format="%.6g", lineterminator="\n")
        print(f"wrote {OUT}")
    # leave-one-study-out
    studies = list(pd.unique(g))
    ours = np.full(len(y), np.nan)
    for s in studies:
        te = g == s
        model = fit_health_index(P[~te], y[~te], g[~te])
        ours[te] = _score(P[te], model)[0]
    # GMHI and GMWI2 on the MetAML samples (species / all-rank MetaPhlAn2 profiles)
    gm = gb.tl.gmhi(ad).reindex(P.index)
    try:
        gw = gb.tl.gmwi2(ad).reindex(P.index)
    except Exception as exc:
        print(f"GMWI2 failed: {exc}")
        gw = pd.Series(np.nan, index=P.index)
    rows = []
    for s in [*studies, "ALL (pooled)", "ALL MetAML (pooled)"]:
        if s == "ALL (pooled)":
            m = np.ones(len(y), bool)
        elif s == "ALL MetAML (pooled)":
            m = ~pd.Series(g).str.endswith("_16S").to_numpy()
        else:
            m = g == s
        row = {"study": s, "n": int(m.sum()), "healthy": int(y[m].sum()), "diseased": int((1 - y[m]).sum())}
        for name, v in (("gutbrain_LOSO", ours), ("GMHI", gm.to_numpy()), ("GMWI2", gw.to_numpy())):
            vv = v[m]
            ok = np.isfinite(vv)
            if not ok.any():
                row[name] = np.nan
                continue
            pred = (vv[ok] > 0).astype(int)
            ba = balanced_accuracy(y[m][ok], pred)
            row[name] = ba if np.isfinite(ba) else float(np.mean(pred == y[m][ok]))
            if not np.isfinite(ba):
                row[name + "_note"] = "acc"
        rows.append(row)
    tab = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print("\nBalanced accuracy (single-class studies: accuracy, marked acc)")
    print(tab.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
