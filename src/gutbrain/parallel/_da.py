"""MaAsLin2 differential abundance with the per-feature model fits spread over Dask workers.

The MaAsLin2 pipeline (:func:`gutbrain.tl.diff_abundance`, ``method="maaslin2"``) has
steps that need every feature and one step that does not:

1. the feature filter, 2. the normalisation (TSS/CLR/CSS/TMM divide each sample by a
   total over the *kept* features) and 3. the transform — cheap ``O(n·F)`` array work,
   done once on the driver with gutbrain's own functions;
4. one linear model per feature (OLS, or REML random intercepts with Satterthwaite
   degrees of freedom) — the expensive step, independent across features: the
   features are cut into chunks and each chunk is fitted on a worker with
   :func:`gutbrain.tl._da_lm.ols` / :func:`~gutbrain.tl._da_lm.lmm_reml`;
5. the tidy table and the Benjamini–Hochberg (or Holm, Bonferroni, BY) adjustment over
   *all* feature × term rows, on the driver after the chunks are concatenated — so the
   q-values are those of the single-process run, not per-chunk adjustments.

Agreement with :func:`gutbrain.tl.diff_abundance`: fixed-effect (OLS) tables are the
same to 1e-12 (identical in the tests).  For random intercepts the per-chunk
cross-products ``XᵀY`` can differ from the all-feature product in the last bit (BLAS
chooses kernels by matrix shape) and the REML optimiser of θ stops within its own
tolerance, so a few features agree to ~1e-9 relative (the tests allow 1e-7); the
single-process fit moves by ~1e-11 when the features are merely reordered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError
from ._client import _map, _resolve, n_threads

__all__ = ["diff_abundance_dask"]

#: Fit arrays laid out ``p × F`` (terms × features); the others are per feature first.
_TERM_BY_FEATURE = frozenset({"coef", "stderr", "t", "pval", "df"})


def _fit_task(X: np.ndarray, groups: list[np.ndarray], Y: np.ndarray) -> dict[str, np.ndarray]:
    """One chunk of features: the same model the single-process MaAsLin2 runner fits."""
    from ..tl._da_lm import lmm_reml, ols

    return lmm_reml(X, Y, groups) if groups else ols(X, Y)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k in parts[0]:
        arrays = [np.asarray(p[k]) for p in parts]
        if k in _TERM_BY_FEATURE:
            out[k] = np.concatenate(arrays, axis=1)
        elif arrays[0].ndim == 0:  # a scalar shared by all features
            out[k] = arrays[0]
        else:
            out[k] = np.concatenate(arrays, axis=0)
    return out


def diff_abundance_dask(
    adata: AnnData,
    *,
    formula: str,
    normalization: str = "TSS",
    transform: str = "LOG",
    reference: str | Mapping[str, str] | None = None,
    min_prevalence: float = 0.1,
    min_abundance: float = 0.0,
    min_variance: float = 0.0,
    standardize: bool = True,
    correction: str = "BH",
    layer: str | None = None,
    key_added: str = "diff_abundance",
    client: Any = None,
    n_chunks: int | None = None,
) -> pd.DataFrame:
    """:func:`gutbrain.tl.diff_abundance` (``method="maaslin2"``) with feature chunks on Dask.

    Fixed-effect (OLS) and random-intercept (``(1|subject)``, REML) models.  The
    filter, normalisation and transform run once over all features, the fits run per
    chunk of features on the workers, and the multiple-testing adjustment runs once
    over every feature × term row, so the table equals the single-process one.

    Parameters
    ----------
    adata
        Samples × features; ``obs`` holds the metadata named in ``formula``.
    formula
        ``"~ group + age"``, random intercepts as ``(1|subject)``.
    normalization, transform, reference, min_prevalence, min_abundance, min_variance, standardize, correction, layer
        As :func:`gutbrain.tl.diff_abundance`.
    key_added
        Results go to ``uns[key_added]`` (as :func:`gutbrain.tl.diff_abundance`).
    client
        A :class:`distributed.Client`, a scheduler address, or ``None`` for the active
        client / ``$GUTBRAIN_DASK_SCHEDULER``.
    n_chunks
        Number of feature chunks (default: 4 per worker thread, at most one per feature).

    Returns
    -------
    pandas.DataFrame
        ``feature, metadata, value, coef, stderr, N, N.not.0, pval, qval, method``
        sorted by ``qval``; also ``uns[key_added]["results"]`` with the parameters
        (plus ``backend="dask"`` and ``n_chunks``) in ``uns[key_added]["params"]``.

    Notes
    -----
    Sets the following fields (the same as :func:`gutbrain.tl.diff_abundance`):

    ``adata.uns[key_added]``
        ``{"params": {..., "backend": "dask", "n_chunks"}, "results": <the returned table>}``.
    """
    from ..tl._da import (
        _check_options,
        _params,
        _prepare,
        _tidy,
        normalize_features,
        transform_features,
    )
    from ..tl._da_methods import REFERENCES

    _check_options(
        normalization=normalization, transform=transform, min_prevalence=min_prevalence,
        correction=correction,
    )
    if n_chunks is not None and n_chunks < 1:
        raise DataValueError(f"n_chunks={n_chunks} must be ≥ 1", fix="pass a positive number of chunks")

    common: dict[str, Any] = dict(
        formula=formula,
        reference=reference,
        layer=layer,
        min_prevalence=min_prevalence,
        min_abundance=min_abundance,
        min_variance=min_variance,
        standardize=standardize,
    )
    Yf, _, design, names = _prepare(adata, **common)
    Yt = transform_features(normalize_features(Yf, normalization), transform)[design.keep]
    F = Yt.shape[1]
    with _resolve(client) as c:
        k = n_chunks if n_chunks is not None else 4 * n_threads(c)
        chunks = [idx for idx in np.array_split(np.arange(F), max(1, min(k, F))) if idx.size]
        tasks = [(np.ascontiguousarray(Yt[:, idx]),) for idx in chunks]
        parts = _map(c, _fit_task, [design.X, list(design.groups)], tasks, key="maaslin2")
    fit = _concat(parts)
    res = _tidy(
        fit, design, names, n=Yf.shape[0], nnz=(Yf > 0).sum(axis=0), method="maaslin2",
        correction=correction,
    )
    params = _params(
        adata, method="maaslin2", normalization=normalization, transform=transform,
        correction=correction, **common,
    )
    params.update(backend="dask", n_chunks=len(chunks))
    record(adata, key_added, params=params, references=REFERENCES.get("maaslin2", []), results=res)
    return res
