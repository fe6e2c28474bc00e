"""GMWI2, the Gut Microbiome Wellness Index 2 (Chang et al. 2024), from its published coefficients.

The released model is an L1-penalised logistic regression on the presence/absence of MetaPhlAn3
clades of every rank, with intercept 0 (Chang D et al. 2024 Nat Commun 15:7447,
doi:10.1038/s41467-024-51651-9; model file of github.com/danielchang2002/GMWI2, MIT licence).
A clade is present when ``abundance / (100 - UNKNOWN) > 1e-5``, and GMWI2 is the sum of the
coefficients of the present clades (the model's decision function).  The 95 non-zero
coefficients ship in ``tl/data/gmwi2_coefficients.tsv``.

Other MetaPhlAn releases are scored by mapping each clade to its deepest rank and name:
an exact MetaPhlAn3 clade string matches first; otherwise (rank, name) pairs match through
:func:`gutbrain.tl._match.name_keys` (renamed species such as ``Phocaeicola vulgatus`` ↔
``Bacteroides vulgatus``, phylum ``Bacillota`` ↔ ``Firmicutes``).  MetaPhlAn 4 SGB rows
(``t__SGB…``) are strain-level and carry no coefficient; their species rows are used.  A
single-rank table (e.g. species only) is summed up its lineage to score genus/family/…
coefficients.  The number of model features that could be matched is reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from .._core import RANKS, get_unit, record
from .._errors import DataValueError
from ._match import (
    clade_parts,
    divide_rows,
    feature_lineages,
    name_keys,
    nonnegative_matrix,
    read_data_table,
)

__all__ = ["gmwi2", "gmwi2_coefficients"]

GMWI2_CITATION = (
    "Chang D, Gupta VK, Hur B, et al. Gut Microbiome Wellness Index 2 enhances health status "
    "prediction from gut microbiome taxonomic profiles. Nat Commun 15, 7447 (2024). "
    "doi:10.1038/s41467-024-51651-9"
)
PRESENCE_CUTOFF = 1e-5


def gmwi2_coefficients() -> pd.DataFrame:
    """Return the 95 non-zero GMWI2 coefficients (``rank, name, clade, coefficient``)."""
    df = read_data_table("gmwi2_coefficients.tsv")
    df["coefficient"] = df["coefficient"].astype(float)
    return df


def _clade_view(adata: AnnData, X: np.ndarray) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """Return (clade strings, ranks, names, samples × features) at every available rank."""
    names = [str(n) for n in adata.var_names]
    source = adata.var["taxonomy"].astype(str).tolist() if "taxonomy" in adata.var.columns else names
    source = [s if "__" in s else n for s, n in zip(source, names, strict=True)]
    parts = [clade_parts(s) for s in source]
    ranks = [p[0] for p in parts]
    distinct = {r for r in ranks if r}
    if len(distinct) > 1:  # a MetaPhlAn clade table: rows of every rank
        return source, ranks, [p[1] for p in parts], X
    # single-rank table: sum features up their lineage (vectorised per rank)
    lin = feature_lineages(adata)
    out_clade: list[str] = []
    out_rank: list[str] = []
    out_name: list[str] = []
    blocks: list[np.ndarray] = []
    for rank in RANKS[:-1]:
        col = lin[rank].astype(str).to_numpy()
        if not (col != "").any():
            continue
        codes, uniques = pd.factorize(col)
        M = sp.csr_matrix(
            (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(uniques), len(codes))
        )  # group indicator (groups × features)
        agg = np.asarray((M @ X.T).T)
        for j, u in enumerate(uniques):
            if u == "":
                continue
            out_clade.append(f"{rank}:{u}")
            out_rank.append(rank)
            out_name.append(u)
            blocks.append(agg[:, j])
    if not blocks:
        return [], [], [], np.zeros((X.shape[0], 0))
    return out_clade, out_rank, out_name, np.column_stack(blocks)


def _normaliser(adata: AnnData, X: np.ndarray, ranks: list[str], unit: str) -> np.ndarray:
    if "unknown_percent" in adata.obs.columns and unit == "percent":
        return 100.0 - adata.obs["unknown_percent"].to_numpy(dtype=float)
    dom = np.array([r == "domain" for r in ranks])
    if dom.any():
        return X[:, dom].sum(axis=1)
    deepest = max((RANKS.index(r) for r in ranks if r in RANKS), default=0)
    leaf = np.array([r in RANKS and RANKS.index(r) == deepest for r in ranks])
    return X[:, leaf].sum(axis=1)


def gmwi2(adata: AnnData, *, key_added: str = "gmwi2", layer: str | None = None) -> pd.Series:
    """Gut Microbiome Wellness Index 2 per sample (Chang et al. 2024).

    Parameters
    ----------
    adata
        A MetaPhlAn clade table (every rank as a feature, e.g. from
        :func:`gutbrain.tl._match.read_clade_table`), or a single-rank table with lineage columns
        in ``var`` (species from MetaPhlAn 2/3/4, or genus from 16S: then only coefficients at
        genus and above can match).  ``obs["unknown_percent"]`` (MetaPhlAn ``UNKNOWN``) is used
        for the published renormalisation ``abundance / (100 - UNKNOWN)``.
    key_added
        Name of the ``obs`` column and ``uns`` entry.
    layer
        Use ``layers[layer]`` instead of ``X``.

    Returns
    -------
    pandas.Series
        GMWI2 per sample.

    Notes
    -----
    Sets the following fields:

    ``adata.obs[key_added]``
        GMWI2 per sample.
    ``adata.obs[key_added + "_n_present"]``
        Coefficient clades present in the sample.
    ``adata.obs[key_added + "_coverage"]``
        ``n_features_matched / n_model_features``.
    ``adata.uns[key_added]``
        ``params``, ``n_features_matched``, ``n_model_features`` (95), the ``matching`` table
        and ``taxa`` (long table: sample, clade, coefficient, relative_abundance of present
        clades; their coefficients sum to the score).
    """
    X = nonnegative_matrix(adata, layer, index="GMWI2", fix="give a MetaPhlAn profile or relative abundances")
    unit = get_unit(adata, layer)
    clades, ranks, names, A = _clade_view(adata, X)
    if A.shape[1] == 0:
        raise DataValueError("no taxonomic features found for GMWI2",
                             fix="give a MetaPhlAn profile or a table with lineage columns")
    total = _normaliser(adata, A, ranks, unit)
    R = divide_rows(A, total)
    coefs = gmwi2_coefficients()
    exact = {c: j for j, c in enumerate(clades)}
    by_key: dict[tuple[str, str], list[int]] = {}
    for j, (r, n) in enumerate(zip(ranks, names, strict=True)):
        for k in name_keys(n):
            by_key.setdefault((r, k), []).append(j)
    cols: list[list[int]] = []
    how: list[str] = []
    for clade, rank, name in zip(coefs["clade"], coefs["rank"], coefs["name"], strict=True):
        if clade in exact:
            cols.append([exact[clade]])
            how.append("exact clade")
            continue
        hit: list[int] = []
        for k in name_keys(name):
            hit.extend(by_key.get((rank, k), []))
        hit = sorted(set(hit))
        cols.append(hit)
        how.append("rank+name" if hit else "")
    n_model = len(coefs)
    Pm = np.zeros((R.shape[0], n_model))
    for i, c in enumerate(cols):
        if c:
            Pm[:, i] = R[:, c].sum(axis=1)
    present = Pm > PRESENCE_CUTOFF
    beta = coefs["coefficient"].to_numpy()
    value = present.astype(float) @ beta
    matched = np.array([bool(c) for c in cols])
    n_matched = int(matched.sum())
    s_idx, f_idx = np.nonzero(present)
    taxa = pd.DataFrame({
        "sample": np.asarray(adata.obs_names)[s_idx],
        "clade": coefs["clade"].to_numpy()[f_idx],
        "coefficient": beta[f_idx],
        "relative_abundance": Pm[s_idx, f_idx],
    })
    matching = coefs[["rank", "name", "clade", "coefficient"]].copy()
    matching["matched_by"] = how
    matching["table_features"] = ["; ".join(clades[j] for j in c) for c in cols]
    result = pd.Series(value, index=adata.obs_names, name=key_added)
    adata.obs[key_added] = value
    adata.obs[f"{key_added}_n_present"] = present.sum(axis=1)
    adata.obs[f"{key_added}_coverage"] = n_matched / n_model
    record(
        adata,
        key_added,
        params={"layer": layer, "presence_cutoff": PRESENCE_CUTOFF},
        references=[GMWI2_CITATION],
        n_features_matched=n_matched,
        n_model_features=n_model,
        matching=matching,
        taxa=taxa,
    )
    return result
