"""Differential abundance: one driver, several methods, one tidy result table.

``diff_abundance(adata, formula="~ group + age", method=...)`` returns (and stores in
``uns[key_added]["results"]``) a table with one row per feature × model term::

    feature, metadata, value, coef, stderr, N, N.not.0, pval, qval, method

which are MaAsLin2's column names and meanings (Mallick et al. 2021, PLoS Comput Biol
17:e1009442, doi:10.1371/journal.pcbi.1009442).  ``qval`` is the Benjamini–Hochberg
adjustment over all feature × term rows of the method (MaAsLin2's ``correction="BH"``).

MaAsLin2 pipeline, in MaAsLin2's order (read from its source, MIT licence):

1. keep features with more than ``n × min_prevalence`` samples whose **input** value
   exceeds ``min_abundance`` (strict inequalities), then features with standard
   deviation above ``min_variance``;
2. normalise the kept features (TSS: divide by the sample total of kept features;
   CLR: natural-log ratio of ``x + 1`` to its sample geometric mean; CSS; TMM; NONE);
3. transform each feature: LOG = ``log2`` with zeros replaced by half the feature's
   smallest non-zero value; LOGIT = ``log(p / (1 − p))`` (values read as percents when
   any exceeds 1; non-finite → 0); AST = ``sign(x)·asin(√|x|)``; NONE;
4. fit one linear model per feature — fixed effects by OLS, random intercepts by REML
   with Satterthwaite p-values (:mod:`gutbrain.tl._da_lm`), vectorised over features;
5. ``N`` = number of samples, ``N.not.0`` = samples with a non-zero input value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from anndata import AnnData

from .._core import record
from .._errors import DataValueError
from ._da_common import (  # noqa: F401  (re-exported: the helpers' historical home)
    CORRECTIONS,
    DA_COLUMNS,
    METHODS,
    NORMALIZATIONS,
    TRANSFORMS,
    _check_options,
    _css_stat,
    _input_matrix,
    _params,
    _prepare,
    _sort,
    _tidy,
    _tmm_factors,
    apply_transform,
    bh_adjust,
    maaslin_filter,
    merge_transform_stats,
    normalize_features,
    transform_features,
    transform_params,
    transform_stats,
)

__all__ = [
    "DA_COLUMNS",
    "METHODS",
    "NORMALIZATIONS",
    "TRANSFORMS",
    "bh_adjust",
    "diff_abundance",
    "maaslin_filter",
    "normalize_features",
    "transform_features",
]


def diff_abundance(
    adata: AnnData,
    *,
    formula: str,
    method: str = "maaslin2",
    normalization: str = "TSS",
    transform: str = "LOG",
    reference: str | Mapping[str, str] | None = None,
    min_prevalence: float | None = None,
    min_abundance: float = 0.0,
    min_variance: float = 0.0,
    standardize: bool = True,
    correction: str = "BH",
    layer: str | None = None,
    methods: Sequence[str] = ("maaslin2", "linda", "wilcoxon"),
    alpha: float = 0.05,
    n_splits: int = 20,
    random_state: int = 0,
    key_added: str = "diff_abundance",
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Test every feature for association with the terms of ``formula``.

    Parameters
    ----------
    adata
        Samples × features; ``obs`` holds the metadata named in ``formula``.
    formula
        ``"~ group + age + sex"``; random intercepts as ``(1|subject)``
        (see :mod:`gutbrain.tl._formula`).  Continuous outcomes such as pain scores
        are ordinary numeric terms: ``"~ pain_score + age"``.
    method
        ``"maaslin2"`` (linear model on normalised, transformed abundances),
        ``"maaslin3"`` (MaAsLin 3: abundance model on the non-zero values and augmented
        prevalence model, median comparison, joint p-values — see
        :func:`gutbrain.tl.maaslin3`; its table has MaAsLin 3's columns),
        ``"linda"`` (CLR linear model with compositional bias correction),
        ``"prevalence"`` (logistic model of presence, as MaAsLin3),
        ``"wilcoxon"`` (Mann–Whitney / Kruskal–Wallis on relative abundances, first
        term only, unadjusted), ``"ancombc"`` (scikit-bio ANCOM-BC) or
        ``"consensus"`` (several methods + split-half replicability; ``methods`` may
        include ``"maaslin3"``, whose call is its joint q-value and direction its
        abundance coefficient).
    normalization, transform
        MaAsLin2 normalisation (TSS, CLR, CSS, TMM, NONE) and transform (LOG, LOGIT,
        AST, NONE); used by ``"maaslin2"`` (``"maaslin3"``: TSS, CLR, NONE and LOG,
        PLOG, NONE).
    reference
        Reference levels, ``"column,level"`` or ``{"column": "level"}``.
    min_prevalence, min_abundance, min_variance
        Feature filter: MaAsLin2's on the input values before normalisation
        (``min_prevalence`` default 0.1); MaAsLin 3's on the normalised values
        (default 0.0, as R MaAsLin 3).
    standardize
        Z-score continuous metadata (MaAsLin2 default ``TRUE``).
    correction
        Multiple-testing correction over all feature × term rows (``"BH"``, ``"holm"``,
        ``"bonferroni"``, ``"BY"``).
    layer
        Use ``layers[layer]`` instead of ``X``.
    methods, alpha, n_splits, random_state
        Consensus settings: methods combined, q-value threshold of a call, number of
        seeded split-half resamples.
    key_added
        Results go to ``uns[key_added]``.
    options
        Method-specific options; for ``"maaslin3"`` any keyword of
        :func:`gutbrain.tl.maaslin3` (``augment``, ``median_comparison_abundance``,
        ``zero_threshold``, ``max_prevalence``, ``warn_prevalence``, …).  With
        ``"maaslin3"`` ``random_state`` seeds the median comparison on R's stream.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature, metadata, value, coef, stderr, N, N.not.0, pval, qval, method``
        (consensus adds its own columns), sorted by ``qval``; for ``"maaslin3"``
        :data:`gutbrain.tl._maaslin3.MAASLIN3_COLUMNS`.  Also stored as
        ``uns[key_added]["results"]`` with the parameters in ``uns[key_added]["params"]``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params": {formula, method, normalization, transform, reference, filters,
        standardize, correction, layer, unit, ...}, "results": <the returned table>}``;
        consensus also records its ``random_state``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> adata = gb.datasets.demo_cohort(seed=0, n_samples=60, n_genera=60)
    >>> res = gb.tl.diff_abundance(adata, formula="~ group + age")
    >>> list(res.columns)
    ['feature', 'metadata', 'value', 'coef', 'stderr', 'N', 'N.not.0', 'pval', 'qval', 'method']
    >>> sorted(res["metadata"].unique())
    ['age', 'group']
    """
    method = method.lower()
    if method not in METHODS:
        raise DataValueError(f"unknown method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    if method == "maaslin3":
        from ._maaslin3 import maaslin3

        return maaslin3(
            adata, formula=formula, normalization=normalization, transform=transform, reference=reference,
            min_prevalence=0.0 if min_prevalence is None else min_prevalence, min_abundance=min_abundance,
            min_variance=min_variance, standardize=standardize, correction=correction, layer=layer,
            random_state=random_state, key_added=key_added, **dict(options or {}),
        )
    if options:
        raise DataValueError(
            f"options {sorted(options)} are only used by method='maaslin3'", fix="drop options= for this method"
        )
    if min_prevalence is None:
        min_prevalence = 0.1
    _check_options(
        normalization=normalization, transform=transform, min_prevalence=min_prevalence,
        correction=correction,
    )
    from . import _da_methods as dm

    common: dict[str, Any] = dict(
        formula=formula,
        reference=reference,
        layer=layer,
        min_prevalence=min_prevalence,
        min_abundance=min_abundance,
        min_variance=min_variance,
        standardize=standardize,
        correction=correction,
    )
    if method == "maaslin2":
        res = dm.run_maaslin2(adata, normalization=normalization, transform=transform, **common)
    elif method == "linda":
        res = dm.run_linda(adata, **common)
    elif method == "prevalence":
        res = dm.run_prevalence(adata, **common)
    elif method == "wilcoxon":
        res = dm.run_wilcoxon(adata, **common)
    elif method == "ancombc":
        res = dm.run_ancombc(adata, **common)
    else:
        res = dm.run_consensus(
            adata,
            normalization=normalization,
            transform=transform,
            methods=methods,
            alpha=alpha,
            n_splits=n_splits,
            random_state=random_state,
            **common,
        )
    params = _params(adata, method=method, normalization=normalization, transform=transform, **common)
    if method == "consensus":
        params.update(methods=list(methods), alpha=alpha, n_splits=n_splits)
    record(
        adata,
        key_added,
        params=params,
        random_state=random_state if method == "consensus" else None,
        references=dm.REFERENCES.get(method, []),
        results=res,
    )
    return res
