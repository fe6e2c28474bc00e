"""Validate ``gb.kb.enrich`` on real case-control cohorts with a known condition.

Two inputs, both under ``../shared/data``:

* MetAML (Pasolli 2016): MetaPhlAn2 profiles of stool case-control cohorts; genus-level
  DA computed here with ``gb.tl.diff_abundance(method="maaslin2")`` (``~ disease``,
  controls as reference), then enrichment at MaAsLin2's threshold q ≤ 0.25 (the liver
  cirrhosis cohort is left out: BugSigDB holds no cirrhosis signatures);
* MicrobiomeHD (Duvallet 2017, file-S1): per-genus signed q-values of 16S case-control
  studies, used directly as DA tables.

The cohort's own publication is left out of the signatures (``exclude_studies``) so
that a cohort is never matched to its own published signature.  Prints, per cohort,
the rank of the expected condition and the top conditions.

Usage: ``python tools/validate_enrichment.py [--quick]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# cohort -> (dataset label, case label, condition expected, PMIDs of the cohort's paper)
METAML = {
    "Zeller_fecal_colorectal_cancer": ("cancer", "Colorectal cancer", ["25432777"]),
    "Chatelier_gut_obesity": ("obesity", "Obesity", ["23985870"]),
    "metahit": ("ibd_ulcerative_colitis", "Ulcerative colitis", ["20203603"]),
    "WT2D": ("t2d", "Type II diabetes mellitus", ["23719380"]),
    "t2dmeta_long": ("t2d", "Type II diabetes mellitus", ["23023125"]),
}
MHD = {
    "crc_baxter": ("Colorectal cancer", ["27056827"]),
    "crc_zeller": ("Colorectal cancer", ["25432777"]),
    "hiv_lozupone": ("HIV infection", ["24034618"]),
    "ob_turnbaugh": ("Obesity", ["19043404"]),
    "ob_goodrich": ("Obesity", ["25417156"]),
    "ibd_gevers": ("Crohn's disease", ["24629344"]),
    "edd_singh": ("Diarrhea", ["26683442"]),
    "par_scheperjans": ("Parkinson's disease", ["25476529"]),
}


def _rank(res: pd.DataFrame, condition: str) -> tuple[int | None, pd.Series | None]:
    hit = res.index[res["condition"].str.lower() == condition.lower()]
    if not len(hit):
        return None, None
    return int(hit[0]) + 1, res.loc[hit[0]]


def metaml_da(name: str, case: str) -> pd.DataFrame:
    import gutbrain as gb

    ad = gb.io.read_metaphlan(SHARED / "metaml_pasolli2016_metaphlan2" / "abundance.txt.bz2")
    keep = (ad.obs["dataset_name"] == name) & ad.obs["disease"].isin([case, "n"])
    sub = ad[keep.to_numpy()].copy()
    gen = gb.pp.collapse(sub, "genus")
    gen.obs["disease"] = pd.Categorical(sub.obs["disease"].to_numpy(), categories=["n", case])
    return gb.tl.diff_abundance(gen, formula="~ disease", method="maaslin2", reference="disease,n")


def main() -> None:
    import gutbrain as gb

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="MicrobiomeHD only")
    ap.add_argument("--alpha", type=float, default=0.05)
    args = ap.parse_args()
    rows = []
    q = pd.read_csv(SHARED / "microbiomehd_reference_results" / "file-S1.qvalues.txt", sep="\t",
                    index_col=0)
    for ds, (cond, pmids) in MHD.items():
        s = q[ds].dropna()
        da = pd.DataFrame({"feature": s.index, "coef": s.to_numpy(), "qval": s.abs().to_numpy()})
        alpha = 0.25 if ds == "par_scheperjans" else args.alpha  # 2 genera at q <= 0.05
        res = gb.kb.enrich(da, alpha=alpha, exclude_studies=pmids)
        rank, row = _rank(res, cond)
        rows.append(("MicrobiomeHD", ds, cond, alpha, res.attrs["params"]["n_significant"], rank,
                     len(res), None if row is None else row["concordant"],
                     None if row is None else row["discordant"],
                     None if row is None else row["pval"], None if row is None else row["qval"],
                     res["condition"].iloc[0] if len(res) else ""))
    if not args.quick:
        for name, (case, cond, pmids) in METAML.items():
            da = metaml_da(name, case)
            # MaAsLin2's own significance threshold (q <= 0.25): at 0.05 two cohorts have none
            res = gb.kb.enrich(da, term="disease", alpha=0.25, exclude_studies=pmids)
            rank, row = _rank(res, cond)
            rows.append(("MetAML", name, cond, 0.25, res.attrs["params"]["n_significant"],
                         rank, len(res), None if row is None else row["concordant"],
                         None if row is None else row["discordant"],
                         None if row is None else row["pval"],
                         None if row is None else row["qval"], res["condition"].iloc[0] if len(res) else ""))
    out = pd.DataFrame(rows, columns=["data", "cohort", "expected condition", "alpha",
                                      "significant genera", "rank", "conditions", "concordant",
                                      "discordant", "pval", "qval", "top condition"])
    pd.set_option("display.width", 250)
    print(out.to_string(index=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
