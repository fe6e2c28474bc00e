"""Hypothesis strategies for gutbrain data (count tables, compositions, AnnData objects).

Requires the ``hypothesis`` package (a test dependency: ``pip install gutbrain[test]``);
importing this module without it raises ImportError naming the extra.

Examples
--------
>>> from hypothesis import given
>>> from gutbrain.testing.strategies import count_adatas
>>> @given(count_adatas(min_samples=2))
... def test_totals(adata): ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as err:  # pragma: no cover - exercised only without hypothesis
    msg = "gutbrain.testing.strategies requires the hypothesis package: pip install 'gutbrain[test]'"
    raise ImportError(msg) from err

__all__ = ["compositions", "count_adatas", "count_matrices", "taxonomy_frames"]

#: Small name pools so that generated taxonomies have shared higher ranks and repeated genera.
_PHYLA = ("Bacillota", "Bacteroidota", "Pseudomonadota", "Actinomycetota")
_FAMILIES = ("Lachnospiraceae", "Ruminococcaceae", "Bacteroidaceae", "Enterobacteriaceae",
             "Bifidobacteriaceae", "Oscillospiraceae")
_GENERA = ("Roseburia", "Blautia", "Faecalibacterium", "Bacteroides", "Escherichia",
           "Bifidobacterium", "Dorea", "Coprococcus")


def count_matrices(
    *,
    min_samples: int = 1,
    max_samples: int = 12,
    min_features: int = 1,
    max_features: int = 15,
    max_count: int = 1000,
    zero_rows: bool = True,
    min_depth: int = 0,
) -> st.SearchStrategy[np.ndarray]:
    """Samples × features integer count matrices (int64, many zeros).

    Parameters
    ----------
    min_samples, max_samples, min_features, max_features
        Shape bounds.
    max_count
        Largest single count.
    zero_rows
        Allow samples whose counts are all zero.  When ``False`` every row gets at least
        one read (a zero row gets 1 read in its first feature).
    min_depth
        Every row's total is raised to at least this many reads (added to the first
        feature); implies ``zero_rows=False`` when positive.
    """
    shapes = st.tuples(
        st.integers(min_samples, max_samples), st.integers(min_features, max_features)
    )
    elements = st.one_of(st.just(0), st.integers(1, max_count))

    def fix(M: np.ndarray) -> np.ndarray:
        M = M.astype(np.int64)
        if min_depth > 0 or not zero_rows:
            need = max(min_depth, 1)
            short = M.sum(axis=1) < need
            M[short, 0] += need - M[short].sum(axis=1)
        return M

    return shapes.flatmap(
        lambda s: hnp.arrays(np.int64, s, elements=elements).map(fix)
    )


def compositions(
    *,
    min_samples: int = 1,
    max_samples: int = 12,
    min_features: int = 2,
    max_features: int = 15,
    zeros: bool = True,
) -> st.SearchStrategy[np.ndarray]:
    """Samples × features float64 compositions: non-negative rows summing to 1.

    With ``zeros=False`` every entry is strictly positive (>= 1e-6 before closure).
    """
    shapes = st.tuples(
        st.integers(min_samples, max_samples), st.integers(min_features, max_features)
    )
    positive = st.floats(1e-6, 1e3, allow_nan=False, allow_infinity=False)
    elements = st.one_of(st.just(0.0), positive) if zeros else positive

    def close(M: np.ndarray) -> np.ndarray:
        M = M.astype(np.float64)
        empty = M.sum(axis=1) == 0
        M[empty, 0] = 1.0
        return M / M.sum(axis=1, keepdims=True)

    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements).map(close))


@st.composite
def taxonomy_frames(draw: Any, n_features: int) -> Any:
    """A ``var``-style DataFrame (ranks ``domain`` … ``species``) for ``n_features`` features.

    Names come from small pools, so genera repeat; about one name in five is empty
    (unassigned) at family, genus or species level.
    """
    import pandas as pd

    rows = []
    for _ in range(n_features):
        genus = draw(st.sampled_from((*_GENERA, "")))
        family = draw(st.sampled_from((*_FAMILIES, ""))) if genus == "" else (
            _FAMILIES[_GENERA.index(genus) % len(_FAMILIES)]
        )
        phylum = _PHYLA[_FAMILIES.index(family) % len(_PHYLA)] if family else draw(
            st.sampled_from((*_PHYLA, ""))
        )
        epithet = draw(st.sampled_from(("alpha", "beta", "")))
        species = f"{genus} {epithet}" if genus and epithet else ""
        rows.append(
            {
                "domain": "Bacteria",
                "phylum": phylum,
                "class": "",
                "order": "",
                "family": family,
                "genus": genus,
                "species": species,
            }
        )
    return pd.DataFrame(rows)


@st.composite
def count_adatas(
    draw: Any,
    *,
    min_samples: int = 1,
    max_samples: int = 12,
    min_features: int = 1,
    max_features: int = 15,
    max_count: int = 1000,
    zero_rows: bool = True,
    min_depth: int = 0,
    sparse: bool | None = None,
    taxonomy: bool = True,
) -> Any:
    """gutbrain AnnData objects holding counts (``uns["gutbrain"]["X_unit"] == "counts"``).

    Parameters
    ----------
    min_samples, max_samples, min_features, max_features, max_count, zero_rows, min_depth
        As :func:`count_matrices`.
    sparse
        Store ``X`` as CSR (``True``), dense (``False``) or either (``None``, drawn).
    taxonomy
        Add rank columns to ``var`` (:func:`taxonomy_frames`).

    The objects are marked ``synthetic``; sample ids are ``S0, S1, …`` and feature ids
    ``F0, F1, …``.
    """
    from .._core import new_adata

    M = draw(
        count_matrices(
            min_samples=min_samples,
            max_samples=max_samples,
            min_features=min_features,
            max_features=max_features,
            max_count=max_count,
            zero_rows=zero_rows,
            min_depth=min_depth,
        )
    )
    is_sparse = draw(st.booleans()) if sparse is None else sparse
    var = draw(taxonomy_frames(M.shape[1])) if taxonomy else None
    return new_adata(
        M,
        obs_names=[f"S{i}" for i in range(M.shape[0])],
        var_names=[f"F{j}" for j in range(M.shape[1])],
        unit="counts",
        reader="gutbrain.testing.strategies.count_adatas",
        var=var,
        synthetic=True,
        sparse=is_sparse,
    )
