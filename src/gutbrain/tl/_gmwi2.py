"""GMWI2, the Gut Microbiome Wellness Index 2 (Chang et al. 2024), from its published coefficients.

The released model is an L1-penalised logistic regression on the presence/absence of MetaPhlAn3
clades of every rank, with intercept 0 (Chang D et al. 2024 Nat Commun 15:7447,
doi:10.1038/s41467-024-51651-9; model file of github.com/danielchang2002/GMWI2, MIT licence).
A clade is present when ``abundance / (100 - UNKNOWN) > 1e-5``, and GMWI2 is the sum of the
coefficients of the present clades (the model's decision function).  The 95 non-zero
coefficients ship in ``tl/data/gmwi2_coefficients.tsv``.

Each coefficient clade is matched to the table by :func:`gutbrain.taxonomy.match_taxa`:
by match key (the same organism at the clade's rank; renamed species such as
``Phocaeicola vulgatus`` ↔ ``Bacteroides vulgatus`` and phylum ``Bacillota`` ↔
``Firmicutes`` share a key), else by name at that rank with the family deciding between
homonyms.  In a MetaPhlAn table of every rank (``gb.io.read_metaphlan(rank="all")``) the
clade's own row is used; MetaPhlAn 4 SGB rows (``t__SGB…``) are strain-level and carry no
coefficient.  A single-rank table (e.g. species only) sums the features within each clade
to score genus/family/… coefficients.  The number of model features matched is reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import get_unit, record
from .._errors import DataValueError
from ..taxonomy._match import match_taxa
from ._match import divide_rows, feature_lineages, leaf_rank, nonnegative_matrix, read_data_table

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


def _normaliser(adata: AnnData, X: np.ndarray, ranks: np.ndarray, unit: str) -> np.ndarray:
    """Per-sample denominator: ``100 - UNKNOWN`` (MetaPhlAn), else domain rows, else leaves."""
    if unit == "percent" and "unclassified_percent" in adata.obs.columns:
        unknown = adata.obs["unclassified_percent"].to_numpy(dtype=float)
        if np.isfinite(unknown).all():
            return 100.0 - unknown
    dom = ranks == "domain"
    if dom.any():
        return X[:, dom].sum(axis=1)
    return X[:, ranks == leaf_rank(ranks)].sum(axis=1)


def gmwi2(adata: AnnData, *, key_added: str = "gmwi2", layer: str | None = None) -> pd.Series:
    """Gut Microbiome Wellness Index 2 per sample (Chang et al. 2024).

    Parameters
    ----------
    adata
        A MetaPhlAn table of every rank (``gb.io.read_metaphlan(path, rank="all")``), or a
        single-rank table with lineage columns in ``var`` (species from MetaPhlAn 2/3/4, or
        genus from 16S: then only coefficients at genus and above can match).
        ``obs["unclassified_percent"]`` (MetaPhlAn's ``UNKNOWN`` row) gives the published
        renormalisation ``abundance / (100 - UNKNOWN)``.
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
    lin = feature_lineages(adata)
    ranks = lin["taxon_rank"].astype(str).to_numpy()
    if not (ranks != "").any():
        raise DataValueError("no taxonomic features found for GMWI2",
                             fix="give a MetaPhlAn profile or a table with lineage columns")
    R = divide_rows(X, _normaliser(adata, X, ranks, unit))
    coefs = gmwi2_coefficients()
    # each coefficient clade → the table's features of that organism: MetaPhlAn rows of the
    # same rank in a table of every rank, else the features within it (summed)
    m = match_taxa(adata, coefs["clade"].tolist())
    cols = [list(ix) for ix in m["feature_index"]]
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
    matching["matched_by"] = np.where(matched, m["match"].to_numpy(), "")
    matching["table_features"] = m["features"].to_numpy()
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
        notes=list(m.attrs["notes"]),
    )
    return result
