"""``butyrate_potential``: the butyrate-producer index with weights fitted to measured faecal butyrate.

The literature index :func:`gutbrain.tl.butyrate_capacity` adds up the relative abundance of
cited butyrate producers with weight 1 each.  ``butyrate_potential`` keeps that form — a
share of the sample — but its membership and weights come from data
(``tl/data/butyrate_potential.tsv``):

* candidates: the cited producers of ``guilds.tsv`` plus genera with culture evidence of
  butyrate production (each row with its source, host and how it was checked); candidates
  that lowered out-of-study agreement were excluded (``membership = excluded``, weight 0);
* weights: ``ln(butyrate) ≈ a + Σ_g w_g p_g`` fitted by non-negative least squares with a
  ridge penalty that shrinks every ``w_g`` towards the literature weight ``c`` (``c`` = slope
  of ``ln(butyrate)`` on the unweighted producer share); the penalty is chosen by
  subject-grouped cross-validation; shipped weights are ``w_g / c`` (1 = as the literature
  index), and a genus fitted to 0 drops out;
* training data: Mars et al. 2020 (NMR faecal butyrate, human, doi:10.1016/j.cell.2020.08.007),
  fitted by ``benchmarks/butyrate_index.py``.

Validation (``tl/data/butyrate_potential_validation.tsv``, :func:`butyrate_index_validation`,
figure :func:`gutbrain.pl.butyrate_validation`): Spearman ρ between the index and measured
faecal butyrate — within Mars out of fold (weights refitted without the held-out subjects),
and out of study on Kang 2017 (human, 16S) and the DNBS FMT study (rodent, labelled as
such) — beside the literature index and a ridge model on all CLR genera.  The index ranks
samples; where butyrate was measured, :func:`gutbrain.ml.predict_metabolite` is the stronger
tool and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.optimize import nnls

from .._core import record
from .._errors import DataValueError
from ._match import read_data_table

__all__ = [
    "butyrate_index_validation",
    "butyrate_potential",
    "fit_butyrate_weights",
    "member_shares",
    "validate_butyrate_indices",
]

LAMBDAS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def butyrate_potential(
    adata: AnnData,
    *,
    rank: str = "auto",
    layer: str | None = None,
    key_added: str = "gbi_butyrate_potential",
) -> pd.DataFrame:
    """Data-weighted butyrate-producer share per sample (complements ``butyrate_capacity``).

    Parameters
    ----------
    adata
        Samples × taxa with lineage columns in ``var`` (see :func:`gutbrain.tl.gut_brain_indices`).
    rank
        Closed-world rank (``"auto"``, ``"genus"``, ``"species"``, ``"family"``).
    layer
        Use ``layers[layer]`` instead of ``X``.
    key_added
        ``uns`` key of the contributions and citations.

    Returns
    -------
    pandas.DataFrame
        ``value`` and ``coverage`` per sample; ``attrs`` hold ``contributions`` and
        ``citations`` (membership rows with host, DOI and the weight's source).  Also sets
        ``obs["gbi_butyrate_potential"]`` and ``obs["gbi_butyrate_potential_coverage"]``.

    Notes
    -----
    Sets the following fields:

    ``adata.obs["gbi_butyrate_potential"]``, ``adata.obs["gbi_butyrate_potential_coverage"]``
        The index and the share of the sample whose membership is known.
    ``adata.uns[key_added]``
        ``params``, ``contributions`` (sample × taxon shares) and ``citations``.

    Examples
    --------
    >>> import gutbrain as gb
    >>> ad = gb.datasets.demo_cohort(seed=0, n_samples=20, n_genera=40)
    >>> bp = gb.tl.butyrate_potential(ad)
    >>> bool((bp["value"] >= 0).all())
    True
    """
    from ._indices import gut_brain_indices

    wide = gut_brain_indices(adata, indices=["butyrate_potential"], rank=rank, layer=layer,
                             key_added=key_added)
    out = wide.rename(columns={"gbi_butyrate_potential": "value",
                               "gbi_butyrate_potential_coverage": "coverage"})
    entry = adata.uns[key_added]
    out.attrs["contributions"] = entry["contributions"]
    out.attrs["citations"] = entry["citations"]
    return out


def butyrate_index_validation() -> pd.DataFrame:
    """The shipped validation of both butyrate indices against measured faecal butyrate.

    Returns
    -------
    pandas.DataFrame
        One row per dataset × score: ``dataset, host, n, n_groups, score, evaluation,
        spearman, ci_low, ci_high, doi`` (``tl/data/butyrate_potential_validation.tsv``,
        written by ``benchmarks/butyrate_index.py``).

    Examples
    --------
    >>> v = butyrate_index_validation()
    >>> {"butyrate_capacity", "butyrate_potential"} <= set(v["score"])
    True
    """
    df = read_data_table("butyrate_potential_validation.tsv")
    for c in ("n", "n_groups"):
        df[c] = pd.to_numeric(df[c]).astype(int)
    for c in ("spearman", "ci_low", "ci_high"):
        df[c] = pd.to_numeric(df[c].replace("", np.nan))
    return df


def member_shares(
    adata: AnnData, *, rank: str = "auto", layer: str | None = None, members_only: bool = True
) -> pd.DataFrame:
    """Samples × members: the share of each ``butyrate_potential`` row (weights ignored).

    ``members_only=False`` also returns the excluded candidates.

    Examples
    --------
    >>> import gutbrain as gb
    >>> S = member_shares(gb.datasets.demo_cohort(seed=0, n_samples=10, n_genera=40))
    >>> S.shape[0]
    10
    """
    import scipy.sparse as sp

    from ._indices import _SPECS, _entries, _leaf_mask, _resolve, guild_table
    from ._match import divide_rows, feature_lineages, relative_matrix

    lin_all = feature_lineages(adata)
    leaf = _leaf_mask(lin_all, "clade_rank" in adata.var.columns)
    P = relative_matrix(adata, layer=layer)[:, leaf]
    if not leaf.all():  # clade table: shares of the species rows, as the guild indices compute them
        P = divide_rows(P, P.sum(axis=1))
    lin = lin_all.iloc[np.flatnonzero(leaf)]
    entries = _entries(_SPECS["butyrate_potential"], guild_table())
    has_genus = (lin["genus"].astype(str) != "").any()
    closed = ("genus" if has_genus else "species") if rank == "auto" else rank
    max_rank = "species" if rank in ("auto", "species") else rank
    entry, _, _ = _resolve(lin, entries, closed_rank=closed, max_rank=max_rank)
    m = entry >= 0
    E = sp.csr_matrix((np.ones(m.sum()), (np.flatnonzero(m), entry[m])), shape=(P.shape[1], len(entries)))
    shares = np.asarray(E.T.dot(P.T).T)
    out = pd.DataFrame(shares, index=adata.obs_names, columns=entries["taxon"].to_numpy())
    if members_only:
        out = out.loc[:, (entries["membership"] == "member").to_numpy()]
    return out


def _shrunk_nnls(S: np.ndarray, y: np.ndarray, prior: float, lam: float) -> tuple[np.ndarray, float]:
    """``min ||y − a − S w||² + λ n ||w − prior||²`` over ``w ≥ 0`` (intercept ``a`` free)."""
    n, k = S.shape
    Sm, ym = S.mean(axis=0), y.mean()
    A = np.vstack([S - Sm, np.sqrt(lam * n) * np.eye(k)])
    b = np.concatenate([y - ym, np.sqrt(lam * n) * np.full(k, prior)])
    w, _ = nnls(A, b, maxiter=50 * k)
    return w, float(ym - Sm @ w)


def _prior(S: np.ndarray, y: np.ndarray) -> float:
    s = S.sum(axis=1)
    if np.ptp(s) <= 0:
        raise DataValueError("the producer share does not vary", fix="use a table with butyrate producers")
    c = float(np.polyfit(s, y, 1)[0])
    if c <= 0:
        raise DataValueError(
            f"ln(butyrate) does not rise with the literature producer share (slope {c:.3g})",
            fix="weights cannot be shrunk towards the literature index on these data",
        )
    return c


def _group_folds(n: int, groups: np.ndarray | None, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold

    g = np.arange(n) if groups is None else np.asarray(groups)
    uniq, inv = np.unique(g, return_inverse=True)
    perm = np.random.default_rng(seed).permutation(uniq.size)
    return list(GroupKFold(n_splits=min(n_splits, uniq.size)).split(np.zeros(n), groups=perm[inv]))


def fit_butyrate_weights(
    S: np.ndarray | pd.DataFrame,
    y: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    lambdas: Sequence[float] = LAMBDAS,
    n_splits: int = 5,
    random_state: int = 0,
) -> dict[str, Any]:
    """Fit ``butyrate_potential`` weights: shrunk NNLS, penalty by grouped CV.

    Parameters
    ----------
    S
        Samples × members shares (:func:`member_shares`).
    y
        ``ln`` of measured faecal butyrate.
    groups
        Subject (or household) of each sample for the grouped CV.
    lambdas
        Penalty grid.
    n_splits
        Folds.
    random_state
        Seed of the group-to-fold assignment.

    Returns
    -------
    dict
        ``weights`` (relative to the literature weight, one per member), ``lam``, ``c``,
        ``cv`` (penalty → CV mean squared error).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> S = rng.uniform(0, 0.1, size=(60, 3))
    >>> y = 3 + S @ np.array([10.0, 5.0, 0.0]) + rng.normal(0, 0.05, 60)
    >>> fit = fit_butyrate_weights(S, y)
    >>> bool(fit["weights"][0] > fit["weights"][2])
    True
    """
    S = np.asarray(S, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c = _prior(S, y)
    folds = _group_folds(len(y), groups, n_splits, random_state)
    cv = {}
    for lam in lambdas:
        err = 0.0
        for tr, te in folds:
            ct = _prior(S[tr], y[tr])
            w, a = _shrunk_nnls(S[tr], y[tr], ct, lam)
            err += float(((y[te] - a - S[te] @ w) ** 2).sum())
        cv[float(lam)] = err / len(y)
    lam = min(cv, key=lambda k: (cv[k], -k))
    w, a = _shrunk_nnls(S, y, c, lam)
    return {"weights": w / c, "lam": lam, "c": c, "intercept": a, "cv": cv}


def validate_butyrate_indices(
    adata: AnnData,
    *,
    target: str = "Butyrate",
    key: str = "metabolites",
    n_boot: int = 1000,
    random_state: int = 0,
    groups: str | None = None,
    key_added: str = "butyrate_index_validation",
) -> pd.DataFrame:
    """Spearman ρ of both butyrate indices against butyrate measured in these samples.

    No weight is refitted: this is an out-of-study check of the shipped weights (unless these
    data are the training data).  CIs resample samples, or whole ``groups``.

    Parameters
    ----------
    adata
        Samples × taxa with ``obsm[key]`` holding measured butyrate.
    target
        Butyrate column (id or name).
    key
        ``obsm`` key of the metabolite table.
    n_boot, random_state
        Bootstrap resamples and seed.
    groups
        ``obs`` column for a cluster bootstrap (subjects measured repeatedly).
    key_added
        Results go to ``uns[key_added]`` (``params``, ``results``).

    Returns
    -------
    pandas.DataFrame
        ``score, n, spearman, ci_low, ci_high`` for ``butyrate_capacity`` and
        ``butyrate_potential``.

    Notes
    -----
    Sets the following fields:

    ``adata.uns[key_added]``
        ``{"params": {target, n_boot, groups, ...}, "results": <the returned table>}``.

    """
    from ..io._metabolites import metabolite_frame, resolve_metabolite
    from ..ml._regression_metrics import regression_metrics
    from ._indices import gut_brain_indices

    col = resolve_metabolite(adata, target, key)
    frame, _, _ = metabolite_frame(adata, key)
    y = frame[col].to_numpy(dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 10:
        raise DataValueError(f"{col!r} is measured in {int(ok.sum())} samples", fix="need at least 10")
    sub = adata[ok].copy()
    wide = gut_brain_indices(sub, indices=["butyrate_capacity", "butyrate_potential"],
                             key_added="_tmp_butyrate_indices")
    g = sub.obs[groups].astype(str).to_numpy() if groups else None
    rows = []
    for score in ("butyrate_capacity", "butyrate_potential"):
        m = regression_metrics(y[ok], wide[f"gbi_{score}"].to_numpy(), groups=g, n_boot=n_boot,
                               random_state=random_state)
        r = m[m["metric"] == "spearman"].iloc[0]
        rows.append({"score": score, "n": int(ok.sum()), "spearman": float(r["value"]),
                     "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"])})
    res = pd.DataFrame(rows)
    record(adata, key_added, params={"target": col, "n_boot": n_boot, "groups": groups},
           random_state=random_state, results=res)
    return res
