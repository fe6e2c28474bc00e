"""Shared helpers of the indices: data files, abundance matrices, feature lineages.

Taxon matching itself lives in :mod:`gutbrain.taxonomy` (one implementation for GMHI,
GMWI2, the health index, the guild indices and evidence lookup): reference taxa are matched
to features by their match keys (:func:`gutbrain.taxonomy.match_taxa`), so Greengenes
``[Ruminococcus]`` never stands in for *Ruminococcus*, a genus named in two families of a
table is reported instead of guessed, and renamed taxa meet through gutbrain's one synonym
table.  Tables are read by :mod:`gutbrain.io` (MetaPhlAn files with ``rank="all"`` where
every rank is needed).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, get_matrix, provenance
from .._errors import DataValueError
from ..taxonomy._keys import taxon_table

__all__ = ["feature_lineages", "name_keys"]


def data_path(name: str) -> Path:
    """Return the path of a data file shipped in ``gutbrain/tl/data``."""
    return Path(str(resources.files("gutbrain.tl").joinpath("data", name)))


def read_data_table(name: str) -> pd.DataFrame:
    """Read a shipped TSV data file (``#`` lines are the citation header)."""
    return pd.read_csv(data_path(name), sep="\t", comment="#", dtype=str, keep_default_na=False)


def name_keys(name: str) -> frozenset[str]:
    """Name keys of a bare name: :func:`gutbrain.taxonomy.name_keys` (kept for callers).

    Prefer :func:`gutbrain.taxonomy.match_taxa`, which also keeps homonyms apart.

    Examples
    --------
    >>> sorted(name_keys("s__Lactobacillus_fermentum"))
    ['lactobacillus fermentum', 'limosilactobacillus fermentum']
    """
    from ..taxonomy._keys import name_keys as _keys

    return _keys(str(name))


def feature_lineages(adata: AnnData) -> pd.DataFrame:
    """Per-feature rank names plus ``taxon_rank``/``taxon_name``/``taxon_key``.

    :func:`gutbrain.taxonomy.taxon_table`: ``var`` rank columns when present, else the parsed
    ``var["taxonomy"]`` or feature names; MetaPhlAn ``clade_rank`` gives each row's rank.
    """
    return taxon_table(adata)


def feature_ranks(adata: AnnData) -> np.ndarray:
    """Rank of each feature (``clade_rank`` of MetaPhlAn tables, else the deepest named rank)."""
    return taxon_table(adata)["taxon_rank"].astype(str).to_numpy()


def relative_matrix(adata: AnnData, *, layer: str | None = None) -> np.ndarray:
    """Return samples × features proportions (rows sum to 1; all-zero rows stay 0)."""
    X = get_matrix(adata, layer)
    if (X < 0).any() or not np.isfinite(X).all():
        raise DataValueError("abundances must be finite and non-negative",
                             fix="give raw counts or relative abundances, not transformed values")
    unit = provenance(adata).get("X_unit") if layer is None else None
    if unit in {"clr", "transformed"}:
        raise DataValueError(f"the table holds {unit} values",
                             fix="give counts or relative abundances")
    return divide_rows(X, X.sum(axis=1))


def divide_rows(A: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Divide each row of ``A`` by its ``total``; rows whose total is not > 0 become 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total[:, None] > 0, A / np.where(total > 0, total, 1.0)[:, None], 0.0)


def nonnegative_matrix(adata: AnnData, layer: str | None, *, index: str, fix: str) -> np.ndarray:
    """``X`` (or ``layers[layer]``) as dense float64; a :class:`DataValueError` unless finite and ≥ 0."""
    X = get_matrix(adata, layer)
    if not np.isfinite(X).all() or (X < 0).any():
        raise DataValueError(f"{index} needs non-negative abundances", fix=fix)
    return X


def leaf_rank(ranks: np.ndarray) -> str:
    """The deepest rank present among feature ranks ("" when none)."""
    present = [r for r in set(ranks) if r in RANKS]
    return max(present, key=RANKS.index) if present else ""
