"""MaAsLin2 differential abundance on Dask: feature chunks (in-memory tables) or sample chunks (Dask arrays).

**Sample-chunked path** (``adata.X`` — or the layer — is a Dask array, e.g. read lazily
from zarr/h5ad or generated on the workers). The table never reaches the client; it is
read in passes over chunks of samples (:mod:`gutbrain.parallel._chunks`), each chunk
task returning small per-feature statistics that a fixed merge tree sums:

1. *filter pass* — per feature: samples above ``min_abundance`` (prevalence), samples
   above 0 (``N.not.0``), min and max (or, with ``min_variance > 0``, count/mean/M2 for
   the standard deviation), and a count of non-finite values (an error, as in process);
2. *transform pass* (LOG, LOGIT, AST) — the chunk is normalised (TSS, CLR or NONE are
   per-sample operations) and the whole-column statistics of the transform are merged:
   the smallest positive value per feature for LOG's pseudo-count, the maximum for
   LOGIT's percent test (:func:`gutbrain.tl._da.transform_stats`);
3. *moments pass* — normalised, transformed, the chunk's complete cases give centred
   sufficient statistics ``XᵀX``, ``Xᵀ(y − ȳ)``, ``Σ(y − ȳ)²`` per feature
   (:class:`gutbrain.tl._suffstats.Moments`), merged pairwise;
4. the client solves every feature's least squares from them in ``O(F·p²)`` memory
   (:func:`gutbrain.tl._suffstats.ols_from_moments`) — plus, for the rare feature whose
   residual sum of squares is below 10⁻⁶ of its total (a near-perfect fit, where the
   difference of sums loses digits), one more pass that sums explicit residuals — and
   builds the same tidy table with the global multiple-testing adjustment.

The design (metadata z-scored over all samples, as MaAsLin2) is built on the client from
``obs``: ``n × p`` numbers, sliced per chunk. CSS and TMM normalisation need every sample
of a feature at once and random intercepts need each group's samples together, so these
ask for the in-memory path. Agreement with :func:`gutbrain.tl.diff_abundance`: ≤ 1e-8
relative on coefficients, standard errors and p-values (the normal equations and the QR
solution differ in rounding only; the centred sums keep the residuals accurate).

**Feature-chunked path** (an in-memory table): the per-feature model fits spread over
the workers.

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

Agreement with :func:`gutbrain.tl.diff_abundance`: the per-chunk cross-products ``XᵀY``
can differ from the all-feature product in the last bit (BLAS chooses kernels by matrix
shape and thread count).  Fixed-effect (OLS) tables then agree to ~1e-12 relative (the
tests allow 1e-9, a reordered reduction).  For random intercepts the REML optimiser of θ
stops when the deviance changes by ≤ 1e-12 relative, which fixes θ only to ~1e-6, so a
few features agree to ~1e-7 (the tests allow 1e-6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError
from ..tl._da_common import merge_transform_stats
from ..tl._suffstats import Moments, ols_from_moments
from ._chunks import as_dense_block, is_dask_array, map_reduce, sample_chunked
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


def _filter_stats(block: Any, min_abundance: float, need_sd: bool) -> dict[str, Any]:
    """Filter-pass statistics of one chunk of samples (mergeable by :func:`_merge_filter`)."""
    Y = as_dense_block(block)
    n = Y.shape[0]
    out: dict[str, Any] = {
        "n": n,
        "nonfinite": int(Y.size - np.count_nonzero(np.isfinite(Y))),
        "prev": np.count_nonzero(Y > min_abundance, axis=0),
        "nnz": np.count_nonzero(Y > 0, axis=0),
    }
    if need_sd:
        mean = Y.mean(axis=0) if n else np.zeros(Y.shape[1])
        out.update(mean=mean, m2=((Y - mean) ** 2).sum(axis=0))
    else:
        out.update(max=Y.max(axis=0, initial=-np.inf), min=Y.min(axis=0, initial=np.inf))
    return out


def _merge_filter(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    n = a["n"] + b["n"]
    out = {"n": n, "nonfinite": a["nonfinite"] + b["nonfinite"], "prev": a["prev"] + b["prev"],
           "nnz": a["nnz"] + b["nnz"]}
    if "mean" in a:  # Chan et al.'s pairwise update of the mean and the sum of squares
        delta = b["mean"] - a["mean"]
        mean = a["mean"] + delta * (b["n"] / n) if n else a["mean"]
        m2 = a["m2"] + b["m2"] + delta * delta * (a["n"] * b["n"] / n if n else 0.0)
        out.update(mean=mean, m2=m2)
    else:
        out.update(max=np.maximum(a["max"], b["max"]), min=np.minimum(a["min"], b["min"]))
    return out


def _prepared(block: Any, mask: np.ndarray, normalization: str) -> np.ndarray:
    """The chunk's kept features, normalised (every normalisation here is per sample)."""
    from ..tl._da_common import normalize_features

    return normalize_features(as_dense_block(block)[:, mask], normalization)


def _transform_stats_chunk(block: Any, mask: np.ndarray, normalization: str, transform: str) -> dict[str, Any]:
    from ..tl._da_common import transform_stats

    return transform_stats(_prepared(block, mask, normalization), transform)


def _moments_chunk(
    block: Any, X: np.ndarray, keep: np.ndarray, mask: np.ndarray, normalization: str, transform: str,
    params: dict[str, Any],
) -> Moments:
    from ..tl._da_common import apply_transform

    Y = apply_transform(_prepared(block, mask, normalization), transform, params)
    return Moments.from_chunk(X[keep], Y[keep])


def _rss_chunk(
    block: Any, X: np.ndarray, keep: np.ndarray, mask: np.ndarray, normalization: str, transform: str,
    params: dict[str, Any], features: np.ndarray, coef: np.ndarray,
) -> np.ndarray:
    from ..tl._da_common import apply_transform

    Y = apply_transform(_prepared(block, mask, normalization), transform, params)[keep][:, features]
    R = Y - X[keep] @ coef
    return np.einsum("ij,ij->j", R, R)


def _add(a: Any, b: Any) -> Any:
    return a + b


#: Normalisations that act on each sample alone (usable on chunks of samples).
SAMPLE_WISE_NORMALIZATIONS = ("TSS", "CLR", "NONE")


def _by_samples(
    adata: AnnData,
    M: Any,
    *,
    formula: str,
    normalization: str,
    transform: str,
    reference: str | Mapping[str, str] | None,
    min_prevalence: float,
    min_abundance: float,
    min_variance: float,
    standardize: bool,
    correction: str,
    layer: str | None,
    key_added: str,
    client: Any,
    n_chunks: int | None,
) -> pd.DataFrame:
    """MaAsLin2 on a sample-chunked Dask array (see the module notes)."""
    from ..tl._da_common import _params, _tidy, transform_params
    from ..tl._da_methods import REFERENCES
    from ..tl._formula import build_design, parse_formula

    norm, tr = normalization.upper(), transform.upper()
    if norm not in SAMPLE_WISE_NORMALIZATIONS:
        raise DataValueError(
            f"normalization {normalization!r} needs every sample of a feature at once, which a "
            "Dask array chunked by samples does not give",
            fix=f"use {', '.join(SAMPLE_WISE_NORMALIZATIONS)}, or load the table into memory "
                "(adata.X = adata.X.compute()) for the feature-chunked path",
        )
    f = parse_formula(formula)
    if f.random:
        raise DataValueError(
            f"random intercepts ({', '.join(f.random)}) need each group's samples together, which a "
            "Dask array chunked by samples does not give",
            fix="drop the (1|...) terms, or load the table into memory for the feature-chunked path",
        )
    design = build_design(adata.obs, f, reference=reference, standardize=standardize)
    M = sample_chunked(M, what="X" if layer is None else f"layers[{layer!r}]")
    if n_chunks is not None:
        M = M.rechunk({0: -(-M.shape[0] // n_chunks), 1: -1})
    n, _ = M.shape
    need_sd = min_variance > 0
    with _resolve(client) as c:
        s1 = map_reduce(c, M, _filter_stats, _merge_filter, args=(float(min_abundance), need_sd))
        if s1["nonfinite"]:
            raise DataValueError(
                f"{'X' if layer is None else f'layers[{layer!r}]'} holds {s1['nonfinite']} NaN or "
                "infinite values",
                fix="replace missing abundances by 0 or drop those samples",
            )
        prev = s1["prev"] > n * min_prevalence
        if n < 2:
            mask = prev & False
        elif need_sd:
            sd = np.sqrt(s1["m2"] / (n - 1))
            mask = prev & (sd > min_variance)
        else:
            mask = prev & (s1["max"] > s1["min"])
        if not mask.any():
            raise DataValueError(
                f"no feature passes min_prevalence={min_prevalence} and min_abundance={min_abundance} "
                f"(with {n} samples)",
                fix="lower min_prevalence / min_abundance",
            )
        names = [str(v) for v in adata.var_names[mask]]
        params: dict[str, Any] = {}
        if tr != "NONE":
            st = map_reduce(c, M, _transform_stats_chunk, merge_transform_stats, args=(mask, norm, tr))
            params = transform_params(st, tr)
        Xfull = np.zeros((n, design.X.shape[1]))
        Xfull[design.keep] = design.X
        aligned = (Xfull, design.keep)
        shared = (mask, norm, tr, params)
        mom = map_reduce(c, M, _moments_chunk, Moments.merge, args=shared, aligned=aligned)
        fit = ols_from_moments(mom)
        # a near-perfect fit: the difference of sums loses digits; sum explicit residuals instead
        bad = np.flatnonzero(fit["rss"] <= 1e-6 * mom.syy)
        if bad.size:
            rss = map_reduce(c, M, _rss_chunk, _add, args=(*shared, bad, fit["coef"][:, bad]), aligned=aligned)
            _refit_rss(fit, bad, rss, mom)
    res = _tidy(fit, design, names, n=n, nnz=s1["nnz"][mask], method="maaslin2", correction=correction)
    common = dict(formula=formula, reference=reference, layer=layer, min_prevalence=min_prevalence,
                  min_abundance=min_abundance, min_variance=min_variance, standardize=standardize)
    rec = _params(adata, method="maaslin2", normalization=normalization, transform=transform,
                  correction=correction, **common)
    rec.update(backend="dask", partition="samples", n_chunks=int(M.numblocks[0]))
    record(adata, key_added, params=rec, references=REFERENCES.get("maaslin2", []), results=res)
    return res


def _refit_rss(fit: dict[str, np.ndarray], idx: np.ndarray, rss: np.ndarray, mom: Moments) -> None:
    """Replace the residual sums of squares of features ``idx`` and what derives from them."""
    from ..tl._da_lm import t_pvalues

    fit["rss"][idx] = rss
    dfres = mom.n[idx] - fit["coef"].shape[0]
    sigma2 = rss / dfres
    scale = np.sqrt(sigma2 / fit["sigma2"][idx])
    fit["sigma2"][idx] = sigma2
    fit["stderr"][:, idx] *= scale[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        fit["t"][:, idx] = fit["coef"][:, idx] / fit["stderr"][:, idx]
    fit["pval"][:, idx] = t_pvalues(fit["t"][:, idx], dfres[None, :])


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
    """:func:`gutbrain.tl.diff_abundance` (``method="maaslin2"``) on a Dask cluster.

    Two paths, chosen by the data (see the module notes):

    * ``adata.X`` (or ``layers[layer]``) is a **Dask array** (read lazily from zarr or
      h5ad, or built on the workers): it is processed in chunks of samples and never
      reaches the client — a filter pass, a transform pass and a pass of sufficient
      statistics, then the fixed-effect models are solved on the client in ``O(F·p²)``
      memory. Normalisation TSS, CLR or NONE; no random intercepts. An array also
      chunked along the features is rechunked on the cluster (with a warning).
    * an **in-memory** table: fixed-effect (OLS) and random-intercept (``(1|subject)``,
      REML) models; the filter, normalisation and transform run once over all features,
      the fits run per chunk of features on the workers.

    Either way the multiple-testing adjustment runs once over every feature × term row,
    so the table equals the single-process one.

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
        In-memory table: number of feature chunks (default: 4 per worker thread, at
        most one per feature). Dask array: number of sample chunks to rechunk to
        (default: the array's own chunks).

    Returns
    -------
    pandas.DataFrame
        ``feature, metadata, value, coef, stderr, N, N.not.0, pval, qval, method``
        sorted by ``qval``; also ``uns[key_added]["results"]`` with the parameters
        (plus ``backend="dask"``, ``n_chunks`` and, for Dask arrays,
        ``partition="samples"``) in ``uns[key_added]["params"]``.

    Raises
    ------
    gutbrain.ClusterError
        The scheduler does not answer within 10 s, or workers died more often than Dask
        retries a task (nothing is stored then).

    Notes
    -----
    Sets the following fields (the same as :func:`gutbrain.tl.diff_abundance`):

    ``adata.uns[key_added]``
        ``{"params": {..., "backend": "dask", "n_chunks"}, "results": <the returned table>}``.

    Examples
    --------
    >>> import dask.array as da  # doctest: +SKIP
    >>> adata.X = da.from_zarr("table.zarr", chunks=(50_000, -1))  # doctest: +SKIP
    >>> with gb.parallel.dask_client(n_workers=4) as client:  # doctest: +SKIP
    ...     res = gb.parallel.diff_abundance_dask(adata, formula="~ group + age")
    """
    from ..tl._da_common import (
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
    M = adata.X if layer is None else adata.layers[layer]
    if is_dask_array(M):
        return _by_samples(
            adata, M, formula=formula, normalization=normalization, transform=transform,
            reference=reference, min_prevalence=min_prevalence, min_abundance=min_abundance,
            min_variance=min_variance, standardize=standardize, correction=correction, layer=layer,
            key_added=key_added, client=client, n_chunks=n_chunks,
        )

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
