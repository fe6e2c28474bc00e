"""GMHI, the Gut Microbiome Health Index (Gupta et al. 2020), exactly as published.

Method (Gupta VK et al. 2020 Nat Commun 11:4635, doi:10.1038/s41467-020-18476-8, Methods):

1. drop unclassified and viral species, renormalise each sample to proportions;
2. set proportions below 1e-5 to zero;
3. for the 7 health-prevalent (MH) and 43 health-scarce (MN) species present in a sample,
   ``psi = (R / R') * H`` with ``R`` the number present, ``H = -sum(p ln p)`` over the present
   species (proportions of the whole sample, not re-closed within the set), ``R'_MH = 7`` and
   ``R'_MN = 31``;
4. ``GMHI = log10((psi_MH + 1e-5) / (psi_MN + 1e-5))``; GMHI > 0 is classed healthy.

Species names are matched across MetaPhlAn 2/3/4 by :func:`gutbrain.taxonomy.match_taxa`
(match keys; renamed species through gutbrain's synonym table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError
from .._taxonomy import is_placeholder
from ..taxonomy._match import match_taxa
from ._match import divide_rows, feature_lineages, nonnegative_matrix, read_data_table

__all__ = ["gmhi", "gmhi_species"]

GMHI_DOI = "10.1038/s41467-020-18476-8"
GMHI_CITATION = (
    "Gupta VK, Kim M, Bakshi U, et al. A predictive index for health status using species-level "
    "gut microbiome profiling. Nat Commun 11, 4635 (2020). doi:10.1038/s41467-020-18476-8"
)
#: Median richness constants and thresholds of the published method (Gupta 2020, Methods).
R_PRIME_MH = 7.0
R_PRIME_MN = 31.0
PRESENCE_CUTOFF = 1e-5
PSEUDO = 1e-5


def gmhi_species() -> pd.DataFrame:
    """Return the shipped MH/MN species table (columns ``set``, ``species``)."""
    return read_data_table("gmhi_species.tsv")


def _species_features(adata: AnnData) -> tuple[np.ndarray, list[str]]:
    """Indices and species names of the species-level features that GMHI keeps."""
    cols, lin = _species_table(adata)
    return cols, lin["species"].astype(str).tolist()


def _species_table(adata: AnnData) -> tuple[np.ndarray, pd.DataFrame]:
    """Indices and lineages of the species-level features that GMHI keeps.

    Species rows (``taxon_rank == "species"``: MetaPhlAn strain/SGB rows and higher clades
    are left out), without placeholders (``…_unclassified``) and viruses.
    """
    lin = feature_lineages(adata)
    species = lin["species"].astype(str)
    keep = (lin["taxon_rank"].to_numpy() == "species") & (species != "").to_numpy()
    keep &= ~np.array([is_placeholder(sp) for sp in species], dtype=bool)
    viral = (lin["domain"].astype(str).str.lower() == "viruses") | species.str.contains(
        "virus", case=False)
    keep &= ~viral.to_numpy()
    cols = np.flatnonzero(keep)
    return cols, lin.iloc[cols]


def _match_sets(species: pd.DataFrame) -> tuple[dict[str, list[int]], pd.DataFrame, list[str]]:
    """Match the 50 GMHI species to the table's species (:func:`gutbrain.taxonomy.match_taxa`)."""
    table = gmhi_species()
    m = match_taxa(species, table["species"].tolist(), rank="species")
    hits = {sp: list(ix) for sp, ix in zip(table["species"], m["feature_index"], strict=True) if ix}
    names = species["species"].astype(str).tolist()
    rows = pd.DataFrame({
        "set": table["set"].to_numpy(),
        "species": table["species"].to_numpy(),
        "matched": [bool(ix) for ix in m["feature_index"]],
        "match": m["match"].to_numpy(),
        "table_names": ["; ".join(names[j] for j in ix) for ix in m["feature_index"]],
    })
    return hits, rows, list(m.attrs["notes"])


def _psi(P: np.ndarray, r_prime: float) -> np.ndarray:
    pos = P > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(pos, np.log(np.where(pos, P, 1.0)), 0.0)
    shannon = -(P * logp).sum(axis=1)
    richness = pos.sum(axis=1)
    return (richness / r_prime) * shannon


def gmhi(adata: AnnData, *, key_added: str = "gmhi", layer: str | None = None) -> pd.Series:
    """Gut Microbiome Health Index per sample (Gupta et al. 2020), exactly as published.

    Parameters
    ----------
    adata
        Samples × features with species-level features (MetaPhlAn 2/3/4 profiles, a merged
        MetaPhlAn table, or any table whose ``var`` has a ``species`` column).  Values may be
        percentages, proportions or counts: each sample is renormalised.
    key_added
        Name of the ``obs`` column and ``uns`` entry.
    layer
        Use ``layers[layer]`` instead of ``X``.

    Returns
    -------
    pandas.Series
        GMHI per sample (0 when neither set is present).

    Notes
    -----
    Sets the following fields:

    ``adata.obs[key_added]``
        GMHI per sample.
    ``adata.obs[key_added + "_n_matched"]``, ``adata.obs[key_added + "_coverage"]``
        Number of the 50 species whose names exist in the table, and that number / 50.
    ``adata.uns[key_added]``
        ``params``, the ``species`` matching table, ``psi_MH``, ``psi_MN`` and ``notes``
        from the matching.

    Species matching uses names and known renamings, so MetaPhlAn 3/4 names (e.g.
    ``Enterocloster bolteae`` for ``Clostridium bolteae``) are found.  Reference:
    Gupta VK et al. 2020 Nat Commun 11:4635, doi:10.1038/s41467-020-18476-8.
    """
    X = nonnegative_matrix(adata, layer, index="GMHI", fix="give species relative abundances or counts")
    cols, species = _species_table(adata)
    if cols.size == 0:
        raise DataValueError(
            "no species-level features found for GMHI",
            fix="give a species table (MetaPhlAn profile or a table with a species column)",
        )
    S = X[:, cols]
    S = divide_rows(S, S.sum(axis=1))
    S[S < PRESENCE_CUTOFF] = 0.0
    hits, table, notes = _match_sets(species)
    sets = dict(zip(gmhi_species()["species"], gmhi_species()["set"], strict=True))

    def set_matrix(label: str) -> np.ndarray:
        members = [sp for sp, s in sets.items() if s == label and sp in hits]
        if not members:
            return np.zeros((S.shape[0], 0))
        return np.column_stack([S[:, hits[sp]].sum(axis=1) for sp in members])

    psi_mh = _psi(set_matrix("MH"), R_PRIME_MH)
    psi_mn = _psi(set_matrix("MN"), R_PRIME_MN)
    value = np.log10((psi_mh + PSEUDO) / (psi_mn + PSEUDO))
    n_matched = int(table["matched"].sum())
    result = pd.Series(value, index=adata.obs_names, name=key_added)
    adata.obs[key_added] = value
    adata.obs[f"{key_added}_n_matched"] = n_matched
    adata.obs[f"{key_added}_coverage"] = n_matched / len(table)
    record(
        adata,
        key_added,
        params={"layer": layer, "presence_cutoff": PRESENCE_CUTOFF, "r_prime_mh": R_PRIME_MH,
                "r_prime_mn": R_PRIME_MN},
        references=[GMHI_CITATION],
        species=table,
        n_matched_mh=int(table.loc[table["set"] == "MH", "matched"].sum()),
        n_matched_mn=int(table.loc[table["set"] == "MN", "matched"].sum()),
        psi=pd.DataFrame({"psi_MH": psi_mh, "psi_MN": psi_mn}, index=adata.obs_names),
        notes=notes,
    )
    return result
