"""Fit and validate ``butyrate_potential`` on measured faecal butyrate in the shared datasets.

Run: ``python benchmarks/butyrate_index.py [--write]`` (reads ../shared; ``--write`` rewrites the
weights in ``src/gutbrain/tl/data/butyrate_potential.tsv`` and the validation table
``src/gutbrain/tl/data/butyrate_potential_validation.tsv``).

Data (public, cited in the files written):

* Mars et al. 2020 Cell (doi:10.1016/j.cell.2020.08.007): 444 stool metagenomes (GTDB genera) of
  75 adults (IBS-C, IBS-D, healthy), NMR faecal butyrate; weights are fitted here;
* Kang et al. 2018 Anaerobe (doi:10.1016/j.anaerobe.2017.12.007): 44 children, 16S genera, NMR
  faecal butyrate; out-of-study check;
* DNBS FMT rodent study (github.com/thomazbastiaanssen/FMT_pain_analysis): 31 rats/mice, 16S
  genera at the last time point (D32/D42, the pairing the authors' scripts use), faecal SCFA;
  out-of-study check in a **rodent** host.

Evaluations: Mars — subject-grouped 5-fold CV, weights and penalty refitted in each training
fold (nested); Kang and DNBS — the weights fitted on all of Mars, no refitting.  The literature
index (butyrate_capacity) has no fitted parameters and is evaluated on the same samples.
The ridge model on all CLR genera (gb.ml.predict_metabolite, models=("ridge",)) is shown for
reference (grouped nested CV within each dataset).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = ROOT / "src" / "gutbrain" / "tl" / "data"
SEED = 0


def load_mars():
    import gutbrain as gb

    d = SHARED / "mars2020_ibs_longitudinal"
    ad = gb.io.read(d / "genera.counts.tsv.gz")
    ad = gb.io.attach_metadata(ad, gb.io.read_metadata(d / "metadata.tsv", id_column="Sample"))
    ad = gb.io.attach_metabolites(ad, d / "mtb.tsv", map=d / "mtb.map.tsv")
    return ad, "Subject", [d / "genera.counts.tsv.gz", d / "mtb.tsv"]


def load_kang():
    import gutbrain as gb

    d = SHARED / "kang2017_autism_16s"
    ad = gb.io.read(d / "genera.counts.tsv")
    ad = gb.io.attach_metabolites(ad, d / "mtb.tsv", map=d / "mtb.map.tsv")
    return ad, None, [d / "genera.counts.tsv", d / "mtb.tsv"]


def load_dnbs():
    import gutbrain as gb

    d = SHARED / "dnbs_fmt_visceral_pain_rodent"
    ad = gb.io.read(d / "genus_table_from_dada2.csv", lineage_sep="_")
    ad = gb.io.attach_metadata(ad, gb.io.read_metadata(d / "metadata_DNBS.csv"))
    last = ad.obs["Timepoint"].astype(str).isin(["D32", "D42"]).to_numpy()
    ad = ad[last].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ad = gb.io.attach_metabolites(ad, [d / "Pathological_FMT.csv", d / "Therapeutic_FMT.csv"])
    return ad, None, [d / "genus_table_from_dada2.csv", d / "Pathological_FMT.csv", d / "Therapeutic_FMT.csv"]


DATASETS = {
    "Mars 2020 (IBS, adults)": (load_mars, "Homo sapiens", "10.1016/j.cell.2020.08.007"),
    "Kang 2017 (autism, children)": (load_kang, "Homo sapiens", "10.1016/j.anaerobe.2017.12.007"),
    "DNBS FMT (visceral pain)": (load_dnbs, "rodent (rat/mouse)", ""),
}


def butyrate(ad):
    from gutbrain.io._metabolites import resolve_metabolite

    col = resolve_metabolite(ad, "Butyrate")
    y = ad.obsm["metabolites"][col].to_numpy(dtype=float)
    ok = np.isfinite(y) & (y > 0)
    return ok, np.log(y[ok])


def spearman_ci(y, s, groups=None, n_boot=1000):
    from gutbrain.ml._predict import regression_metrics

    m = regression_metrics(y, s, groups=groups, n_boot=n_boot, random_state=SEED)
    r = m[m["metric"] == "spearman"].iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])


def nested_oof(S, y, groups):
    """Out-of-fold index values within Mars: weights (and penalty) refitted without the held-out subjects."""
    from gutbrain.tl._butyrate import _group_folds, fit_butyrate_weights

    oof = np.full(len(y), np.nan)
    for tr, te in _group_folds(len(y), groups, 5, SEED):
        fit = fit_butyrate_weights(S[tr], y[tr], groups=None if groups is None else groups[tr],
                                   random_state=SEED)
        oof[te] = S[te] @ fit["weights"]
    return oof


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite the shipped weights and validation table")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--skip-ridge", action="store_true", help="skip the ridge reference (slow)")
    args = ap.parse_args(argv)
    import gutbrain as gb
    from gutbrain._utils import sha256_file
    from gutbrain.tl._butyrate import fit_butyrate_weights, member_shares

    loaded = {name: (fn(), host, doi) for name, (fn, host, doi) in DATASETS.items()}
    mars_name = next(iter(loaded))
    (mad, mgroup, mfiles), _, _ = loaded[mars_name]
    ok, y = butyrate(mad)
    sub = mad[ok].copy()
    S = member_shares(sub).to_numpy()
    members = list(member_shares(sub).columns)
    groups = sub.obs[mgroup].astype(str).to_numpy()
    fit = fit_butyrate_weights(S, y, groups=groups, random_state=SEED)
    print(f"fit on {mars_name}: n={len(y)}, subjects={len(set(groups))}, c={fit['c']:.4g}, "
          f"lambda={fit['lam']}, cv={ {k: round(v, 4) for k, v in fit['cv'].items()} }")
    for m, w in zip(members, fit["weights"]):
        print(f"  {m:20s} {w:.4f}")
    rows = []
    for name, ((ad, gcol, _files), host, doi) in loaded.items():
        okd, yd = butyrate(ad)
        a = ad[okd].copy()
        g = a.obs[gcol].astype(str).to_numpy() if gcol else None
        lit = gb.tl.gut_brain_indices(a, indices=["butyrate_capacity"], key_added="_t")["gbi_butyrate_capacity"].to_numpy()
        Sd = member_shares(a).to_numpy()
        if name == mars_name:
            pot = nested_oof(Sd, yd, g)
            ev_pot = "subject-grouped 5-fold CV, weights refitted in each training fold"
        else:
            pot = Sd @ fit["weights"]
            ev_pot = "out of study (weights fitted on Mars 2020)"
        n_groups = len(set(g)) if g is not None else len(yd)
        for score, s, ev in (("butyrate_capacity", lit, "no fitted parameters"), ("butyrate_potential", pot, ev_pot)):
            rho, lo, hi = spearman_ci(yd, s, g, args.n_boot)
            rows.append({"dataset": name, "host": host, "n": len(yd), "n_groups": n_groups, "score": score,
                         "evaluation": ev, "spearman": rho, "ci_low": lo, "ci_high": hi, "doi": doi})
        if not args.skip_ridge and len(yd) >= 20:
            n_splits = 5 if n_groups >= 10 else 3
            res = gb.ml.predict_metabolite(ad, target="Butyrate", groups=gcol, models=("ridge",), n_splits=n_splits,
                                           inner_splits=3, n_boot=args.n_boot, evidence=False, random_state=SEED)
            r = res.metrics[res.metrics["metric"] == "spearman"].iloc[0]
            rows.append({"dataset": name, "host": host, "n": len(yd), "n_groups": n_groups,
                         "score": "ridge on CLR genera",
                         "evaluation": f"{'subject-grouped' if gcol else 'sample'} {n_splits}-fold nested CV",
                         "spearman": float(r["value"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                         "doi": doi})
    val = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(val.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.write:
        _write_weights(members, fit, mfiles, len(y), len(set(groups)))
        _write_validation(val)
        print("wrote", DATA / "butyrate_potential.tsv", "and", DATA / "butyrate_potential_validation.tsv")
    del sha256_file
    return 0


def _write_weights(members, fit, files, n, n_groups):
    from gutbrain import __version__
    from gutbrain._utils import sha256_file

    path = DATA / "butyrate_potential.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [ln for ln in lines if ln.startswith("#") and not ln.startswith("# provenance")]
    body = [ln for ln in lines if not ln.startswith("#")]
    header, rows = body[0].split("\t"), [ln.split("\t") for ln in body[1:]]
    wi = header.index("weight")
    weights = dict(zip(members, fit["weights"]))
    for r in rows:
        if r[header.index("membership")] == "member":
            r[wi] = f"{weights[r[header.index('taxon')]]:.6g}"
    prov = [
        f"# provenance: gutbrain {__version__}, benchmarks/butyrate_index.py, seed {SEED}; training n={n} samples "
        f"of {n_groups} subjects; c={fit['c']:.6g}; lambda={fit['lam']:g} (grid {sorted(fit['cv'])})",
        *[f"# provenance: input {Path(f).name} sha256 {sha256_file(f)}" for f in files],
    ]
    text = "\n".join([*comments, *prov, "\t".join(header), *["\t".join(r) for r in rows]]) + "\n"
    path.write_text(text, encoding="utf-8")


def _write_validation(val):
    path = DATA / "butyrate_potential_validation.tsv"
    head = (
        "# Validation of the butyrate indices against measured faecal butyrate (Spearman rho, percentile bootstrap\n"
        "# 95% CI, 1000 resamples of samples or of subjects), written by benchmarks/butyrate_index.py.\n"
        "# Derived figures only; data: Mars 2020 (doi:10.1016/j.cell.2020.08.007), Kang 2018\n"
        "# (doi:10.1016/j.anaerobe.2017.12.007), DNBS FMT rodent study (github.com/thomazbastiaanssen/FMT_pain_analysis,\n"
        "# publication not identified; RODENT host), via the Borenstein-lab curated collection for the first two.\n"
    )
    out = val.copy()
    for c in ("spearman", "ci_low", "ci_high"):
        out[c] = out[c].map(lambda v: f"{v:.4f}")
    path.write_text(head + out.to_csv(sep="\t", index=False, lineterminator="\n"), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
