"""Fit gutbrain's health index and validate it leave-one-study-out beside GMHI and GMWI2.

Run::

    python benchmarks/health_index.py            # print the evaluation
    python benchmarks/health_index.py --write    # also rewrite the shipped data files and docs page

Data: MetAML's MetaPhlAn 2 stool profiles (``../shared/data/metaml_pasolli2016_metaphlan2``;
Pasolli et al. 2016, doi:10.1371/journal.pcbi.1004977), healthy vs diseased as defined in
:func:`gutbrain.ml._compendia.metaml_health_cohorts` (GMHI/GMWI2 definitions; one profile per
subject; datasets that share subjects form one cohort).

Protocol (nothing is tuned on a held-out cohort):

* **gutbrain**: for each cohort, :func:`gutbrain.ml._health_index.fit_health_index` runs on the
  other cohorts only -- candidate species, number of species, Platt calibration and the
  probability threshold are all chosen by an inner leave-one-study-out loop on them -- and
  the held-out cohort is scored by :func:`~gutbrain.ml._health_index.score_presence`.
* **GMHI** and **GMWI2**: the published models (``gb.tl.gmhi``, ``gb.tl.gmwi2``) at their
  published threshold 0.  GMWI2's training set (Chang 2024, Supplementary Data 2) holds 7 of
  the 8 cohorts; GMHI's discovery set is the core of GMWI2's, so its figures here are most
  likely not out of study either.
* **GMHI_refit**: GMHI's published *procedure* (species chosen by prevalence fold change
  >= 1.4 and difference >= 10 %, R' = median richness of each set) re-derived inside each
  training fold: what the GMHI method achieves out of study on the same cohorts.

Metrics per cohort and pooled: AUROC and balanced accuracy at each index's threshold,
sensitivity (diseased called non-healthy) and specificity (healthy called healthy), with
percentile bootstrap CIs (resampling within cohort x class; ``--n-boot``, seed 0), paired
bootstrap differences gutbrain - GMHI and gutbrain - GMWI2, and the reliability curve of
gutbrain's out-of-study probabilities.  All indices are compared on the same samples.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
METAML = SHARED / "metaml_pasolli2016_metaphlan2" / "abundance.txt.bz2"
DATA = ROOT / "src" / "gutbrain" / "ml" / "data"
DOCS = ROOT / "docs" / "health_index.md"
SEED = 0
#: Cohorts in GMWI2's 8,069-sample training set (Chang 2024 Supplementary Data 2, read from
#: ../shared/data/gmwi2_wellness_index/sample_metadata_8069.tsv.gz: Qin 2012, Qin 2014,
#: Zeller 2014, Nielsen 2014 / Le Chatelier 2013, Karlsson 2013, Obregon-Tito 2015,
#: Huttenhower 2012).  Rampelli 2015 (Hadza) is not in it.
GMWI2_STUDY_OF = {"Qin2012_T2D": "Qin (2012)", "Qin2014_cirrhosis": "Qin (2014)", "Zeller2014_CRC": "Zeller (2014)",
                  "MetaHIT": "Nielsen (2014)", "Karlsson2013_T2D": "Karlsson (2013)",
                  "ObregonTito2015": "Obregon-Tito (2015)", "HMP": "Huttenhower (2012) and Lloyd-Price (2017)"}
GMHI_FOLD, GMHI_DIFF = 1.4, 0.10  # Gupta et al. 2020, Methods (theta_f, theta_d)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load():
    from gutbrain.ml._compendia import load_metaml, metaml_health_cohorts
    from gutbrain.ml._health_index import species_proportions

    ad = metaml_health_cohorts(load_metaml(METAML))
    P = species_proportions(ad)
    y = ad.obs["healthy"].to_numpy().astype(int)
    g = ad.obs["cohort"].astype(str).to_numpy()
    return ad, P, y, g


# --------------------------------------------------------------------------- GMHI procedure refit


def gmhi_refit_scores(P: pd.DataFrame, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """GMHI's procedure re-derived on the training cohorts of every leave-one-study-out fold."""
    from gutbrain.tl._gmhi import PRESENCE_CUTOFF, PSEUDO, _psi

    A = P.to_numpy().copy()
    A[A < PRESENCE_CUTOFF] = 0.0
    pres = A > 0
    out = np.full(len(y), np.nan)
    for s in np.unique(g):
        te, tr = g == s, g != s
        ph = pres[tr & (y == 1)].mean(axis=0)
        pn = pres[tr & (y == 0)].mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mh = (ph / pn >= GMHI_FOLD) & (ph - pn >= GMHI_DIFF)
            mn = (pn / ph >= GMHI_FOLD) & (pn - ph >= GMHI_DIFF)
        r_mh = max(float(np.median(pres[tr & (y == 1)][:, mh].sum(axis=1))), 1.0)
        r_mn = max(float(np.median(pres[tr & (y == 0)][:, mn].sum(axis=1))), 1.0)
        out[te] = np.log10((_psi(A[te][:, mh], r_mh) + PSEUDO) / (_psi(A[te][:, mn], r_mn) + PSEUDO))
    return out


# --------------------------------------------------------------------------- metrics


def boot_indices(strata: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.empty((n_boot, len(strata)), dtype=np.int64)
    pos = 0
    for lev in np.unique(strata):
        members = np.flatnonzero(strata == lev)
        idx[:, pos:pos + members.size] = members[rng.integers(0, members.size, (n_boot, members.size))]
        pos += members.size
    return idx


def metric_arrays(y: np.ndarray, score: np.ndarray, pred: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Point estimates (index 0) and bootstrap replicates (1:) of every metric."""
    from gutbrain.ml import fast_auc

    full = np.vstack([np.arange(len(y))[None, :], idx])
    yb, sb, pb = y[full], score[full], pred[full]
    n1, n0 = yb.sum(axis=1), (1 - yb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = ((1 - pb) * (1 - yb)).sum(axis=1) / n0  # diseased called non-healthy
        spec = (pb * yb).sum(axis=1) / n1  # healthy called healthy
        auc = fast_auc(yb, sb) if (n1[0] > 0 and n0[0] > 0) else np.full(len(full), np.nan)
    acc = (pb == yb).mean(axis=1)
    ba = 0.5 * (sens + spec) if (n1[0] > 0 and n0[0] > 0) else np.full(len(full), np.nan)
    return {"auroc": auc, "balanced_accuracy": ba, "sensitivity": sens, "specificity": spec, "accuracy": acc}


def summarise(arrs: dict[str, np.ndarray]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in arrs.items():
        out[k] = float(v[0])
        if k in ("auroc", "balanced_accuracy"):
            b = v[1:][np.isfinite(v[1:])]
            lo, hi = np.quantile(b, [0.025, 0.975]) if b.size else (np.nan, np.nan)
            short = "ba" if k == "balanced_accuracy" else k
            out[f"{short}_low"], out[f"{short}_high"] = float(lo), float(hi)
    return out


def reliability(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> tuple[pd.DataFrame, dict[str, float]]:
    from sklearn.linear_model import LogisticRegression

    edges = np.linspace(0, 1, n_bins + 1)
    b = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    rows = []
    for i in range(n_bins):
        m = b == i
        rows.append({"bin_low": edges[i], "bin_high": edges[i + 1], "n": int(m.sum()),
                     "mean_predicted": float(p[m].mean()) if m.any() else np.nan,
                     "observed_healthy": float(y[m].mean()) if m.any() else np.nan})
    tab = pd.DataFrame(rows)
    ok = tab["n"] > 0
    ece = float((tab.loc[ok, "n"] * (tab.loc[ok, "observed_healthy"] - tab.loc[ok, "mean_predicted"]).abs()).sum()
                / len(y))
    lp = np.log(np.clip(p, 1e-9, 1 - 1e-9) / (1 - np.clip(p, 1e-9, 1 - 1e-9)))
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(lp[:, None], y)
    stats = {"n": len(y), "brier": float(np.mean((p - y) ** 2)), "brier_reference": float(np.mean((y.mean() - y) ** 2)),
             "ece": ece, "calibration_slope": float(lr.coef_[0, 0]), "calibration_intercept": float(lr.intercept_[0])}
    return tab, stats


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the shipped data files and docs/health_index.md")
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import gutbrain as gb
    from gutbrain.ml._health_index import fit_health_index, score_presence

    if not METAML.exists():
        sys.exit(f"needs {METAML}")
    ad, P, y, g = load()
    cohorts = sorted(set(g))
    print(f"{len(y)} profiles ({y.sum()} healthy, {len(y) - y.sum()} diseased), {P.shape[1]} named species, "
          f"{len(cohorts)} cohorts")

    # ---- gutbrain, leave-one-study-out (everything refitted inside the training cohorts)
    value = np.full(len(y), np.nan)
    prob = np.full(len(y), np.nan)
    folds = []
    selected: dict[str, int] = {}
    for s in cohorts:
        te = g == s
        model = fit_health_index(P[~te], y[~te], g[~te])
        res = score_presence(model, P[te])
        value[te], prob[te] = res["value"].to_numpy(), res["probability"].to_numpy()
        for sp in model.table()["species"]:
            selected[sp] = selected.get(sp, 0) + 1
        folds.append({"held_out": s, "n_species": model.info["n_species"], "threshold": model.threshold,
                      "inner_auroc": model.info["cv"]["auroc"][model.info["n_species"]],
                      "n_nan": int(res["value"].isna().sum())})
    fold_tab = pd.DataFrame(folds)
    print(fold_tab.round(3).to_string(index=False))

    # ---- published indices and the refitted GMHI procedure on the same samples
    gm = gb.tl.gmhi(ad.copy()).to_numpy()
    gw = gb.tl.gmwi2(ad.copy()).to_numpy()
    gr = gmhi_refit_scores(P, y, g)
    scores = {"gutbrain": (value, value > 0), "GMHI": (gm, gm > 0), "GMWI2": (gw, gw > 0),
              "GMHI_refit": (gr, gr > 0)}
    common = np.all([np.isfinite(v) for v, _ in scores.values()], axis=0)
    print(f"scored by every index: {common.sum()} of {len(y)}")

    rng = np.random.default_rng(SEED)
    rows, boots = [], {}
    strata = np.char.add(g.astype(str), y.astype(str))
    idx_all = boot_indices(strata[common], args.n_boot, rng)
    yc = y[common]
    for name, (v, pr) in scores.items():
        arr = metric_arrays(yc, v[common], pr[common].astype(int), idx_all)
        boots[name] = arr
        in_tr = {c: ("yes" if name == "GMWI2" and c in GMWI2_STUDY_OF else
                     "probably" if name in ("GMHI",) and c in GMWI2_STUDY_OF else
                     "unknown" if name == "GMHI" else "no") for c in cohorts}
        rows.append({"index": name, "study": "pooled", "n": int(common.sum()), "n_healthy": int(yc.sum()),
                     "n_diseased": int((1 - yc).sum()), **summarise(arr),
                     "in_training": "yes" if any(v_ == "yes" for v_ in in_tr.values()) else
                     ("probably" if any(v_ == "probably" for v_ in in_tr.values()) else "no")})
        for c in cohorts:
            m = common & (g == c)
            idx = boot_indices(y[m], args.n_boot, np.random.default_rng(SEED))
            arr_c = metric_arrays(y[m], v[m], pr[m].astype(int), idx)
            rows.append({"index": name, "study": c, "n": int(m.sum()), "n_healthy": int(y[m].sum()),
                         "n_diseased": int((1 - y[m]).sum()), **summarise(arr_c), "in_training": in_tr[c]})
    for other in ("GMHI", "GMWI2"):
        d = {k: boots["gutbrain"][k] - boots[other][k] for k in ("auroc", "balanced_accuracy")}
        rows.append({"index": f"gutbrain_minus_{other}", "study": "pooled", "n": int(common.sum()),
                     "n_healthy": int(yc.sum()), "n_diseased": int((1 - yc).sum()), **summarise(d),
                     "in_training": ""})
    loso = pd.DataFrame(rows)
    cols = ["index", "study", "n", "n_healthy", "n_diseased", "auroc", "auroc_low", "auroc_high",
            "balanced_accuracy", "ba_low", "ba_high", "sensitivity", "specificity", "accuracy", "in_training"]
    loso = loso.reindex(columns=cols)
    pd.set_option("display.width", 220)
    print(loso.round(3).to_string(index=False))

    cal, cal_stats = reliability(yc, prob[common])
    print(cal.round(3).to_string(index=False))
    print({k: round(v, 4) for k, v in cal_stats.items()})

    # ---- the shipped model: the same procedure on every cohort
    full = fit_health_index(P, y, g)
    tab = full.table()
    tab["loso_folds_selected"] = [selected.get(sp, 0) for sp in tab["species"]]
    print(f"shipped model: {full.info['n_species']} species, threshold {full.threshold:.3f}, "
          f"intercept {full.intercept:.3f}, min detected {full.min_detected}, min known share "
          f"{full.min_known_share:.3f}")
    print(tab.round(3).to_string(index=False))
    if args.write:
        write_files(full, tab, loso, cal, cal_stats, fold_tab, P, y, g, args.n_boot)


def _provenance_lines(n_boot: int) -> list[str]:
    import gutbrain as gb

    return [f"# @generated_by: benchmarks/health_index.py (gutbrain {gb.__version__})",
            f"# @input: ../shared/data/metaml_pasolli2016_metaphlan2/abundance.txt.bz2 sha256 {sha256(METAML)}",
            f"# @seed: {SEED}", f"# @n_boot: {n_boot}"]


def write_files(full, tab, loso, cal, cal_stats, fold_tab, P, y, g, n_boot) -> None:
    from gutbrain._utils import atomic_write
    from gutbrain.ml._compendia import HEALTH_COHORTS

    studies = sorted(set(g))
    counts = {s: (int(((g == s) & (y == 1)).sum()), int(((g == s) & (y == 0)).sum())) for s in studies}
    papers = {}
    for _ds, (coh, _country, paper, doi) in HEALTH_COHORTS.items():
        papers.setdefault(coh, []).append(f"{paper} doi:{doi}")
    prov = _provenance_lines(n_boot)
    # coefficients: every candidate species, non-zero first
    coef = pd.DataFrame({"species": full.species, "coef": full.coef})
    coef["loso_folds_selected"] = coef["species"].map(dict(zip(tab["species"], tab["loso_folds_selected"],
                                                              strict=True))).fillna(0).astype(int)
    coef["doi"] = "10.1371/journal.pcbi.1004977"
    coef = coef.reindex(coef["coef"].abs().sort_values(ascending=False, kind="mergesort").index)
    head = [
        "# gutbrain health index: logit(P(healthy)) = intercept + sum of coef over the species present",
        "# (relative abundance > 1e-5 after dropping unclassified and viral species and renormalising);",
        "# value = logit - log(threshold / (1 - threshold)); value > 0: classed healthy.  A two-class nearest shrunken",
        "# centroid on presence/absence (Tibshirani R et al. 2002 PNAS 99:6567, doi:10.1073/pnas.082099299) with study x",
        "# class balanced centroids, Platt-calibrated; n_species, calibration and threshold chosen by leave-one-study-out",
        "# cross-validation within the training cohorts (never on an evaluated cohort).",
        "# Training data: MetAML MetaPhlAn 2 stool profiles (Pasolli E et al. 2016 PLoS Comput Biol 12:e1004977,",
        "# doi:10.1371/journal.pcbi.1004977); healthy = no disease and 18.5 <= BMI < 25 when recorded; non-healthy =",
        "# liver cirrhosis, colorectal cancer, Crohn's disease, ulcerative colitis, type 2 diabetes; one profile per subject.",
        *[f"#   {s}: {counts[s][0]} healthy, {counts[s][1]} non-healthy ({'; '.join(sorted(set(papers[s])))})"
          for s in studies],
        "# Rows: every candidate species (present in >= 2 % of training profiles); coef 0 = not kept by the shrinkage.",
        "# loso_folds_selected: in how many of the 8 leave-one-study-out models the species was also kept.",
        "# Derived figures (coefficients) only; no sample data are included.",
        *prov,
        "# @metaphlan: MetaPhlAn 2 (names matched to MetaPhlAn 3/4 through gutbrain's synonym table)",
        f"# @n_samples: {len(y)}",
        f"# @studies: {', '.join(studies)}",
        f"# @n_species: {full.info['n_species']}",
        f"# @intercept: {full.intercept:.10g}",
        f"# @threshold: {full.threshold:.10g}",
        f"# @min_detected: {full.min_detected}",
        f"# @min_known_share: {np.floor(full.min_known_share * 100) / 100:.2f}",
        f"# @loso_auroc_by_n_species: {', '.join(f'{k}={v:.4f}' for k, v in full.info['cv']['auroc'].items())}",
    ]
    with atomic_write(DATA / "health_index_coefficients.tsv") as fh:
        fh.write("\n".join(head) + "\n")
        coef.to_csv(fh, sep="\t", index=False, float_format="%.8g", lineterminator="\n")
    with atomic_write(DATA / "health_index_loso.tsv") as fh:
        fh.write("# Leave-one-study-out evaluation of gutbrain's health index beside GMHI and GMWI2 (same samples).\n"
                 "# AUROC and balanced accuracy (at each index's threshold: gutbrain's chosen inside training folds,\n"
                 "# GMHI/GMWI2 0) with 95 % percentile bootstrap CIs (resampling within cohort x class);\n"
                 "# sensitivity = non-healthy called non-healthy, specificity = healthy called healthy.\n"
                 "# in_training: was the cohort in the index's training data (GMWI2: Chang 2024 Supplementary Data 2;\n"
                 "# GMHI: 'probably', its discovery set is the core of GMWI2's).  GMHI_refit = GMHI's procedure\n"
                 "# re-derived inside each training fold.  gutbrain_minus_*: paired bootstrap differences.\n")
        fh.write("\n".join(prov) + "\n")
        loso.to_csv(fh, sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    with atomic_write(DATA / "health_index_calibration.tsv") as fh:
        fh.write("# Reliability of gutbrain's out-of-study probabilities (pooled leave-one-study-out predictions).\n")
        fh.write("\n".join(prov) + "\n")
        for k, v in cal_stats.items():
            fh.write(f"# @{k}: {v:.6g}\n")
        cal.to_csv(fh, sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    write_docs(full, tab, loso, cal, cal_stats, fold_tab, counts, n_boot)
    print(f"wrote {DATA}/health_index_*.tsv and {DOCS}")


def _ci(r: pd.Series, key: str) -> str:
    short = "ba" if key == "balanced_accuracy" else key
    if not np.isfinite(r[key]):
        return "–"
    return f"{r[key]:.3f} ({r[f'{short}_low']:.3f}–{r[f'{short}_high']:.3f})"


def write_docs(full, tab, loso, cal, cal_stats, fold_tab, counts, n_boot) -> None:
    from gutbrain._utils import atomic_write

    pooled = loso[loso["study"] == "pooled"].set_index("index")
    names = ["gutbrain", "GMHI", "GMWI2", "GMHI_refit"]
    label = {"gutbrain": "gutbrain (held out)", "GMHI": "GMHI (published)", "GMWI2": "GMWI2 (published)",
             "GMHI_refit": "GMHI procedure, refitted per fold"}
    lines = ["| index | AUROC (95 % CI) | balanced accuracy (95 % CI) | sensitivity | specificity | "
             "cohorts in its training data |", "|---|---|---|---|---|---|"]
    for n in names:
        r = pooled.loc[n]
        per = loso[(loso["index"] == n) & (loso["study"] != "pooled")]
        k = int((per["in_training"].isin(["yes", "probably"])).sum())
        tag = {"GMHI": f"{k} of 8 (probably)", "GMWI2": f"{k} of 8"}.get(n, "0 of 8")
        lines.append(f"| {label[n]} | {_ci(r, 'auroc')} | {_ci(r, 'balanced_accuracy')} | {r['sensitivity']:.3f} | "
                     f"{r['specificity']:.3f} | {tag} |")
    diff = ["| paired difference | AUROC (95 % CI) | balanced accuracy (95 % CI) |", "|---|---|---|"]
    for o in ("GMHI", "GMWI2"):
        r = pooled.loc[f"gutbrain_minus_{o}"]
        diff.append(f"| gutbrain − {o} | {_ci(r, 'auroc')} | {_ci(r, 'balanced_accuracy')} |")
    per = ["| cohort | healthy / non-healthy | " + " | ".join(f"{label[n]} AUROC; BA or accuracy" for n in names)
           + " |", "|---|---|" + "---|" * len(names)]
    for c in sorted(counts):
        cells = []
        for n in names:
            r = loso[(loso["index"] == n) & (loso["study"] == c)].iloc[0]
            if np.isfinite(r["auroc"]):
                cells.append(f"{r['auroc']:.2f}; {r['balanced_accuracy']:.2f}")
            else:
                cells.append(f"–; acc {r['accuracy']:.2f}")
        per.append(f"| {c} | {counts[c][0]} / {counts[c][1]} | " + " | ".join(cells) + " |")
    calib = ["| predicted P(healthy) | n | mean predicted | observed healthy |", "|---|---|---|---|"]
    for r in cal.itertuples():
        if r.n:
            calib.append(f"| {r.bin_low:.1f}–{r.bin_high:.1f} | {r.n} | {r.mean_predicted:.3f} | "
                         f"{r.observed_healthy:.3f} |")
    folds = ["| held-out cohort | species kept | threshold P(healthy) | inner LOSO AUROC | not scored (NaN) |",
             "|---|---|---|---|---|"]
    for r in fold_tab.itertuples():
        folds.append(f"| {r.held_out} | {r.n_species} | {r.threshold:.3f} | {r.inner_auroc:.3f} | {r.n_nan} |")
    top = ["| species | log-odds when present | direction | kept in LOSO folds (of 8) |", "|---|---|---|---|"]
    for r in tab.itertuples():
        top.append(f"| *{r.species}* | {r.coef:+.3f} | {r.direction} | {r.loso_folds_selected} |")
    g, h = pooled.loc["gutbrain"], pooled.loc["GMHI"]
    beats = g["auroc"] > h["auroc"] and g["balanced_accuracy"] > h["balanced_accuracy"]
    verdict = (
        "**Verdict.** Out of study, gutbrain's index exceeds GMHI's pooled AUROC and balanced accuracy on the same "
        "profiles, although GMHI was (most likely) trained on these cohorts and gutbrain's index never saw the cohort "
        "it scores; the paired bootstrap CIs below show how sure that is. Reports show it as *validated* beside GMHI and "
        "GMWI2."
        if beats else
        "**Verdict.** Out of study, gutbrain's index does **not** beat GMHI on both pooled AUROC and balanced accuracy. "
        "Reports lead with GMHI and GMWI2 and show gutbrain's index as *experimental*, with the figures below."
    )
    text = f"""# gutbrain's health index: out-of-study validation

*Generated by `benchmarks/health_index.py --write` (seed {SEED}, {n_boot} bootstrap resamples); the numbers come
from `src/gutbrain/ml/data/health_index_loso.tsv` and `health_index_calibration.tsv`, which the reports read.*

gutbrain ships three gut health indices: **GMHI** (Gupta et al. 2020, doi:10.1038/s41467-020-18476-8),
**GMWI2** (Chang et al. 2024, doi:10.1038/s41467-024-51651-9) and its own index. This page shows how each
scores profiles of studies it was not fitted on, and how the threshold and probabilities of gutbrain's index were set.

{verdict}

## Data and labels

MetAML's MetaPhlAn 2 stool profiles (Pasolli et al. 2016, doi:10.1371/journal.pcbi.1004977), {sum(a + b for a, b in counts.values())}
profiles in 8 cohorts. Labels follow GMHI/GMWI2: *healthy* = no reported disease and, when recorded,
18.5 ≤ BMI < 25; *non-healthy* = a clinical diagnosis (liver cirrhosis, colorectal cancer, Crohn's disease,
ulcerative colitis, type 2 diabetes). Obesity without disease, impaired glucose tolerance, adenomas and relatives of
patients are left out. Datasets that share subjects are one cohort (Le Chatelier 2013, Nielsen 2014 and Qin 2010
re-use the MetaHIT samples; HMP phases I/II; Qin 2012's two stages) — treating them as separate studies would leak
the held-out subjects into training. One profile per subject.

The GMHI paper's 679-profile validation set is not in `../shared` (it is published in the GMHI repository,
`validation_abundance.csv` / `validation_metadata.csv`); adding it would give a fully external check.

## Protocol

* **gutbrain**: leave-one-study-out. For each held-out cohort the whole fit runs on the other seven: candidate
  species (named species present in ≥ 2 % of profiles), the number of species kept (from
  {{20, 30, 50, 75, 100}}, by an *inner* leave-one-study-out AUROC), Platt calibration of the inner out-of-study scores,
  and the probability threshold that maximises their balanced accuracy. The held-out cohort is used only for scoring.
* **GMHI, GMWI2**: the published models at their published threshold (0). GMWI2 was trained on 7 of the 8 cohorts
  (Hadza excepted; Chang 2024 Supplementary Data 2); GMHI's discovery set is the core of GMWI2's, so its figures here
  are most likely in-sample too. GMWI2 is scored on MetaPhlAn 2 profiles through name matching (it was fitted on
  MetaPhlAn 3).
* **GMHI procedure, refitted per fold**: GMHI's published recipe (species with prevalence fold change ≥ 1.4 and
  difference ≥ 10 % between healthy and non-healthy; R′ = median richness of each set) re-derived on the training
  cohorts of each fold — what the GMHI *method* achieves out of study here.
* CIs: percentile bootstrap, {n_boot} resamples within cohort × class; the paired differences use the same resamples
  for both indices. Sensitivity = non-healthy called non-healthy; specificity = healthy called healthy.

Design iterations (feature type, model family, grid) were compared on this same leave-one-study-out evaluation before
the procedure above was fixed; the figures therefore carry some selection optimism that only an external cohort can
remove. The choices made: presence/absence features (robust across MetaPhlAn versions, as in GMWI2), a shrunken-centroid
model (L1/L2 logistic regressions and meta-analytic species selection transferred worse), study × class balanced
centroids, and a within-study sign guard — added after a first fit gave *Treponema succinifaciens*, found only in the
healthy-only hunter-gatherer cohorts, a "healthy" weight: a species is kept only when its mean within-study difference
points the same way as its pooled difference.

## Pooled out-of-study performance ({int(pooled.loc['gutbrain', 'n'])} profiles, same samples for every index)

{chr(10).join(lines)}

{chr(10).join(diff)}

## Per cohort (AUROC; balanced accuracy — or accuracy for single-class cohorts)

{chr(10).join(per)}

A cohort held out is also a disease held out: the IBD (MetaHIT) and colorectal-cancer (Zeller) cohorts are the only
ones of their disease, so gutbrain's index scores them with signals learnt from other diseases, whereas GMHI and GMWI2
learnt from several studies of each of these diseases — including these very cohorts.

## Limitations

* The pooled advantage over GMHI comes from Qin 2012 (T2D) and from more consistent calls across cohorts (higher
  specificity on the healthy-only cohorts). On IBD (MetaHIT) gutbrain's index is weaker than GMHI and GMWI2, and on
  colorectal cancer (Zeller) it is at chance — there is no second CRC cohort to learn from. Against GMWI2 the pooled
  AUROC is a tie (difference {pooled.loc['gutbrain_minus_GMWI2', 'auroc']:+.3f}, CI
  {pooled.loc['gutbrain_minus_GMWI2', 'auroc_low']:+.3f} to {pooled.loc['gutbrain_minus_GMWI2', 'auroc_high']:+.3f}).
* {int((tab['coef'] < 0).sum())} of the {len(tab)} species *lower* the score when present (mostly oral-origin
  species and *Clostridium* pathobionts). The score therefore rewards the absence of these species, and deeper
  sequencing, which detects more rare species, tends to lower it.
* Validated on MetaPhlAn 2 profiles only. MetaPhlAn 3/4 profiles are scored through name matching (renamed species
  such as *Enterocloster bolteae* are found through gutbrain's synonym table); that transfer is not validated here.
* Eight cohorts, five diseases, from Europe, China, the USA, Peru and Tanzania: the index says nothing validated
  about other diseases (neurological or pain conditions included) or populations.

## Calibration of gutbrain's probabilities (pooled out-of-study predictions)

Brier score {cal_stats['brier']:.3f} (a constant prediction of the healthy share scores {cal_stats['brier_reference']:.3f}),
expected calibration error {cal_stats['ece']:.3f}, calibration slope {cal_stats['calibration_slope']:.2f} and intercept
{cal_stats['calibration_intercept']:.2f} (1 and 0 when perfectly calibrated).

{chr(10).join(calib)}

## Leave-one-study-out folds

{chr(10).join(folds)}

## The shipped model

Fitted on all 8 cohorts with the same procedure: {full.info['n_species']} species, probability threshold
{full.threshold:.3f}, intercept {full.intercept:+.3f}. A profile gets NaN (with a note) when fewer than
{full.min_detected} of the index's candidate species are detected (the fewest in any training profile) or when less
than {np.floor(full.min_known_share * 100):.0f} % of its species abundance carries names the index knows; a table
without species (a 16S genus table) gets NaN for every sample.

{chr(10).join(top)}

## Use

```
gutbrain index health profile.tsv --out health.tsv   # sample, value, probability, threshold, class, coverage, ...
```

`value` is the log-odds of "healthy" above the threshold (value > 0: classed healthy); `probability` is calibrated
on studies the model was not fitted on. It is a research score of similarity to the healthy profiles of these
studies — not a diagnosis, and not evidence about any individual's health.
"""
    with atomic_write(DOCS) as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
