"""Build the healthy reference of ``gutbrain sample``: quantiles only, with their sources.

Usage::

    python tools/build_sample_reference.py            # reads ../shared/data, prints a summary
    python tools/build_sample_reference.py --write    # rewrites src/gutbrain/report/data/sample_reference*.tsv

Inputs (never copied into the repository; only derived quantiles ship):

* MetAML (Pasolli et al. 2016, doi:10.1371/journal.pcbi.1004977), MetaPhlAn 2 all-rank
  profiles: the healthy stool profiles of :func:`gutbrain.ml._compendia.metaml_health_cohorts`
  (the definition gutbrain's health index, GMHI and GMWI2 use: no reported disease and, where
  recorded, 18.5 ≤ BMI < 25; one profile per subject).  Every index is computed by
  :func:`gutbrain.report._sample_compute.sample_values`, the function the sample profile
  uses.  gutbrain's health index was *trained* on these profiles, so its reference values
  are out-of-study scores instead: each cohort is scored by a model refitted without it
  (:func:`gutbrain.ml._health_index.fit_health_index`), as ``benchmarks/health_index.py`` does.
* GMWI2 (Chang et al. 2024, doi:10.1038/s41467-024-51651-9): the published leave-one-out
  GMWI2 scores of the 8,069 training profiles (MetaPhlAn 3) joined to Supplementary Data 2;
  the 5,547 ``Healthy`` ones.
* GMHI (Gupta et al. 2020): its repository holds 25 unlabelled example profiles, too few
  and without health status for a reference; GMHI's reference is the MetAML one above.

Outputs: ``sample_reference.tsv`` (kind, name, rank, reference, n, prevalence, mad,
q000 … q100) and ``sample_reference_sources.tsv`` (one row per population).  Taxa: every
MetaPhlAn 2 species and genus present (> 0) in at least :data:`MIN_PREVALENCE` of the
healthy profiles, as percent of the profile's total at that rank.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = ROOT.parent / "shared" / "data"
METAML = SHARED / "metaml_pasolli2016_metaphlan2" / "abundance.txt.bz2"
GMWI2_LOO = SHARED / "gmwi2_wellness_index" / "GMWI2_scores_loo.csv"
GMWI2_META = SHARED / "gmwi2_wellness_index" / "sample_metadata_8069.tsv.gz"
OUT = ROOT / "src" / "gutbrain" / "report" / "data"

#: A taxon enters the reference when present in at least this share of healthy profiles.
MIN_PREVALENCE = 0.05
GRID = np.arange(0, 101)
QCOLS = [f"q{g:03d}" for g in GRID]
#: Index columns of sample_values that get a reference row.
INDEX_COLUMNS = (
    "shannon", "richness", "gmhi", "gmwi2", "health_index",
    "gbi_butyrate_capacity", "gbi_scfa_capacity", "gbi_endotoxin_potential",
    "gbi_mucin_degrader_load", "gbi_gaba_balance", "gbi_tryptophan_metabolisers",
    "gbi_pain_marker_panel",
)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def quantile_row(x: np.ndarray) -> dict[str, float]:
    """n, prevalence (share > 0), scaled MAD and quantiles 0..100 (linear, NumPy's default)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    med = float(np.median(x))
    q = np.percentile(x, GRID)
    row = {"n": len(x), "prevalence": float(np.mean(x > 0)), "mad": 1.4826 * float(np.median(np.abs(x - med)))}
    row.update(dict(zip(QCOLS, q, strict=True)))
    return row


def health_index_out_of_study(ad) -> pd.Series:
    """gutbrain's health index of each healthy profile, scored by a model fitted without its cohort."""
    from gutbrain.ml._health_index import fit_health_index, score_presence, species_proportions

    P = species_proportions(ad)
    y = ad.obs["healthy"].to_numpy().astype(int)
    g = ad.obs["cohort"].astype(str).to_numpy()
    value = pd.Series(np.nan, index=ad.obs_names)
    for s in sorted(set(g)):
        te = g == s
        model = fit_health_index(P[~te], y[~te], g[~te])
        value[te] = score_presence(model, P[te])["value"].to_numpy()
        print(f"  health index, held-out {s}: {model.info['n_species']} species", flush=True)
    return value[y == 1]


def gmwi2_published_healthy() -> np.ndarray:
    """Chang 2024 leave-one-out GMWI2 scores of the profiles labelled Healthy."""
    loo = pd.read_csv(GMWI2_LOO)
    meta = pd.read_csv(GMWI2_META, sep="\t", dtype=str)
    status = dict(zip(meta["sample_accession"], meta["health_status"], strict=False))
    by_run = dict(zip(meta["run_id"], meta["health_status"], strict=False))  # 374 rows join on run id
    lab = loo["Sample Accession"].map(lambda a: status.get(a, by_run.get(a)))
    if lab.isna().any():
        raise SystemExit(f"{int(lab.isna().sum())} GMWI2 scores have no health status")
    return loo.loc[lab == "Healthy", "GMHI2_loo"].to_numpy(dtype=float)


def build() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    from gutbrain.ml._compendia import HEALTH_COHORTS, load_metaml, metaml_health_cohorts
    from gutbrain.report._sample_compute import sample_values, taxon_abundances

    print("reading MetAML …", flush=True)
    cohorts = metaml_health_cohorts(load_metaml(METAML))
    healthy = cohorts[cohorts.obs["healthy"] == 1].copy()
    print(f"{healthy.n_obs} healthy profiles", flush=True)
    vals = sample_values(healthy).table
    vals["health_index"] = health_index_out_of_study(cohorts).reindex(healthy.obs_names).to_numpy()
    rows = []
    for col in INDEX_COLUMNS:
        rows.append({"kind": "index", "name": col, "rank": "", "reference": "metaml_healthy",
                     **quantile_row(vals[col].to_numpy())})
    gw = gmwi2_published_healthy()
    rows.append({"kind": "index", "name": "gmwi2", "rank": "", "reference": "gmwi2_chang2024_healthy",
                 **quantile_row(gw)})
    n_taxa = {}
    for rank in ("species", "genus"):
        ab, _ = taxon_abundances(healthy, rank)
        prev = (ab > 0).mean(axis=0)
        keep = prev[prev >= MIN_PREVALENCE].index
        n_taxa[rank] = len(keep)
        for name in sorted(keep):
            rows.append({"kind": "taxon", "name": name, "rank": rank, "reference": "metaml_healthy",
                         **quantile_row(ab[name].to_numpy())})
    table = pd.DataFrame(rows)
    counts = healthy.obs["cohort"].value_counts().sort_index()
    countries = {v[0]: v[1] for v in HEALTH_COHORTS.values()}
    papers = {}
    for v in HEALTH_COHORTS.values():
        papers.setdefault(v[0], f"{v[2]}, doi:{v[3]}")
    cohort_txt = "; ".join(f"{c} ({countries[c]}) {n}" for c, n in counts.items())
    sources = pd.DataFrame([
        {"reference": "metaml_healthy",
         "population": "healthy adults of 8 MetAML cohorts",
         "n": healthy.n_obs, "profiler": "MetaPhlAn 2", "metaphlan_version": 2,
         "definition": "no reported disease and, where recorded, 18.5 <= BMI < 25 (the GMHI/GMWI2 "
                       "definition; gutbrain.ml._compendia.metaml_health_cohorts)",
         "cohorts": cohort_txt,
         "citation": "Pasolli E, Truong DT, Malik F, Waldron L, Segata N. PLoS Comput Biol 12:e1004977 (2016)",
         "doi": "10.1371/journal.pcbi.1004977",
         "note": "gutbrain's health index: out-of-study scores (each cohort scored by a model fitted "
                 "without it); cohort papers: " + "; ".join(f"{k}: {v}" for k, v in sorted(papers.items()))},
        {"reference": "gmwi2_chang2024_healthy",
         "population": "healthy profiles of the GMWI2 training set (54 studies)",
         "n": len(gw), "profiler": "MetaPhlAn 3", "metaphlan_version": 3,
         "definition": "'Healthy' in Chang et al. 2024 Supplementary Data 2 (no reported disease, "
                       "normal BMI)",
         "cohorts": "54 studies (Chang et al. 2024, Supplementary Data 2)",
         "citation": "Chang D, Gupta VK, Hur B, et al. Nat Commun 15:7447 (2024)",
         "doi": "10.1038/s41467-024-51651-9",
         "note": "published leave-one-out GMWI2 scores (github.com/danielchang2002/GMWI2, MIT); "
                 "supplementary data CC BY 4.0"},
    ])
    import gutbrain

    header = [
        "# Healthy reference distributions of `gutbrain sample`: quantiles 0..100 (q000 = minimum, q100 = maximum;",
        "# linear interpolation, numpy.percentile) of each index and of each common taxon's relative abundance",
        "# (percent of the profile at that rank; taxa present in >= 5 % of the healthy profiles).",
        "# prevalence = share of profiles > 0; mad = 1.4826 x median absolute deviation. Derived figures only;",
        "# populations, definitions and citations: sample_reference_sources.tsv.",
        f"# @generated_by: tools/build_sample_reference.py (gutbrain {gutbrain.__version__})",
        f"# @input_metaml: metaml_pasolli2016_metaphlan2/abundance.txt.bz2 sha256 {sha256(METAML)}",
        f"# @input_gmwi2_scores: gmwi2_wellness_index/GMWI2_scores_loo.csv sha256 {sha256(GMWI2_LOO)}",
        f"# @input_gmwi2_metadata: gmwi2_wellness_index/sample_metadata_8069.tsv.gz sha256 {sha256(GMWI2_META)}",
        f"# @min_prevalence: {MIN_PREVALENCE}",
        f"# @n_taxa: species {n_taxa['species']}, genus {n_taxa['genus']}",
    ]
    return table, sources, header


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite src/gutbrain/report/data/sample_reference*.tsv")
    args = ap.parse_args()
    for p in (METAML, GMWI2_LOO, GMWI2_META):
        if not p.exists():
            raise SystemExit(f"needs {p}")
    table, sources, header = build()
    show = table[table["kind"] == "index"][["name", "reference", "n", "q005", "q050", "q095"]]
    print(show.to_string(index=False))
    print(f"{int((table['kind'] == 'taxon').sum())} taxa")
    if args.write:
        from gutbrain._utils import atomic_write

        OUT.mkdir(parents=True, exist_ok=True)
        with atomic_write(OUT / "sample_reference.tsv") as fh:
            fh.write("\n".join(header) + "\n")
            table.to_csv(fh, sep="\t", index=False, float_format="%.6g", lineterminator="\n")
        with atomic_write(OUT / "sample_reference_sources.tsv") as fh:
            fh.write("# Reference populations of report/data/sample_reference.tsv (tools/build_sample_reference.py).\n")
            sources.to_csv(fh, sep="\t", index=False, lineterminator="\n")
        print(f"wrote {OUT / 'sample_reference.tsv'} and sample_reference_sources.tsv")


if __name__ == "__main__":
    main()
