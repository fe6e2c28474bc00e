"""Fit a simulation template to a real count table, and simulate planted-truth cohorts from it.

:func:`fit_template` estimates, per taxon, prevalence, mean relative abundance and
Dirichlet-multinomial overdispersion, plus the library-size distribution; the result plugs
into :func:`gutbrain.datasets.simulate_cohort` (zero-inflated Dirichlet-multinomial).
:func:`simulate_planted` adds a case/control design, planted log2 fold changes on chosen
taxa and optional confounders with their own taxon effects, and records the truth.

Overdispersion (method of moments, among samples where a taxon is present): with observed
proportions ``p̂_ij = x_ij / N_i`` and conditional mean ``m_j``,
``Var(p̂_ij) = m_j(1 - m_j)[ρ_j + (1 - ρ_j)/N_i]`` under the Dirichlet-multinomial with
intra-class correlation ``ρ_j = 1/(1 + θ)`` (Mosimann 1962, doi:10.1093/biomet/49.1-2.65;
La Rosa et al. 2012 PLoS ONE 7:e52078, doi:10.1371/journal.pone.0052078).  The template's
precision ``θ`` comes from the abundance-weighted median ``ρ_j``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, get_matrix, get_unit, record
from .._errors import DataValueError, UnitError
from .._utils import check_random_state

__all__ = ["fit_template", "simulate_planted", "template_params"]

_MIN_PRESENT = 5


def fit_template(adata: AnnData, *, rank: str | None = "genus", layer: str | None = None) -> pd.DataFrame:
    """Fit a simulator template (per-taxon prevalence, abundance, dispersion; library sizes).

    Parameters
    ----------
    adata
        Samples × features **counts** (unit ``counts``) with taxonomy when ``rank`` is given.
    rank
        Collapse to this rank first (``None``: use the features as they are).
    layer
        Use ``layers[layer]`` instead of ``X``.

    Returns
    -------
    pandas.DataFrame
        One row per taxon: ``genus`` (the taxon name; the simulator's identifier column),
        rank columns ``domain`` … ``family`` when known, ``mean_relative_abundance`` (sums
        to 1), ``prevalence``, ``dispersion`` (ρ_j, NaN when present in < 5 samples) and
        ``n_present``.  ``attrs`` holds ``precision`` (θ), ``depth_median``,
        ``depth_sigma`` (log-normal library sizes), ``n_samples`` and ``rank``; see
        :func:`template_params`.

    Examples
    --------
    >>> import gutbrain as gb
    >>> real = gb.datasets.demo_cohort(seed=1, n_samples=80, n_genera=60)
    >>> tpl = gb.datasets.fit_template(real, rank=None)
    >>> sorted(tpl.attrs)[:3]
    ['depth_median', 'depth_sigma', 'n_samples']
    """
    if rank is not None:
        if rank not in RANKS:
            raise DataValueError(f"unknown rank {rank!r}", fix=f"use one of {', '.join(RANKS)} or None")
        if layer is not None:
            raise DataValueError("rank= and layer= cannot be combined", fix="collapse first, then pass layer=")
        if rank in adata.var.columns and (adata.var[rank].astype(str) != "").any():
            from ..pp import collapse

            adata = collapse(adata, rank, unassigned="drop")
        else:
            raise DataValueError(f"the table has no {rank} names in var",
                                 fix="attach a taxonomy, or pass rank=None to use the features as they are")
    unit = get_unit(adata, layer)
    if unit != "counts":
        raise UnitError(f"fit_template needs read counts, but the matrix holds {unit}",
                        fix="give the count table (library sizes and dispersion need counts)")
    X = get_matrix(adata, layer)
    depth = X.sum(axis=1)
    keep = depth > 0
    if keep.sum() < 3:
        raise DataValueError(f"only {int(keep.sum())} samples with reads", fix="give at least 3 non-empty samples")
    X, depth = X[keep], depth[keep]
    nz = X.sum(axis=0) > 0
    X = X[:, nz]
    names = [str(v) for v in adata.var_names[nz]]
    P = X / depth[:, None]
    present = X > 0
    n_present = present.sum(axis=0)
    prevalence = n_present / X.shape[0]
    mean_rel = P.mean(axis=0)
    # conditional (present-only) moments, vectorised over taxa
    cnt = np.maximum(n_present, 1)
    m = np.where(present, P, 0.0).sum(axis=0) / cnt
    v = (np.where(present, (P - m) ** 2, 0.0)).sum(axis=0) / np.maximum(n_present - 1, 1)
    inv_n = (np.where(present, 1.0 / depth[:, None], 0.0)).sum(axis=0) / cnt
    base = m * (1 - m)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (v / base - inv_n) / (1 - inv_n)
    rho = np.clip(rho, 1e-6, 1 - 1e-6)
    rho[(n_present < _MIN_PRESENT) | (base <= 0)] = np.nan
    ok = np.isfinite(rho)
    if ok.any():
        order = np.argsort(rho[ok])
        w = mean_rel[ok][order]
        cw = np.cumsum(w) / w.sum()
        rho_med = float(rho[ok][order][np.searchsorted(cw, 0.5)])
    else:
        rho_med = 1.0 / 41.0
    precision = float(1.0 / rho_med - 1.0)
    latent = _latent_prevalence(prevalence, mean_rel / mean_rel.sum(), precision, depth)
    logd = np.log(depth)
    out = pd.DataFrame({"genus": names})
    var = adata.var.iloc[np.flatnonzero(nz)]
    for r in ("domain", "phylum", "class", "order", "family"):
        out[r] = var[r].astype(str).to_numpy() if r in var.columns else ""
    out["mean_relative_abundance"] = mean_rel / mean_rel.sum()
    out["prevalence"] = latent
    out["observed_prevalence"] = prevalence
    out["dispersion"] = rho
    out["n_present"] = n_present
    out.attrs.update({
        "precision": precision,
        "depth_median": float(np.exp(np.median(logd))),
        "depth_sigma": float(np.std(logd, ddof=1)) if logd.size > 1 else 0.0,
        "n_samples": int(X.shape[0]),
        "rank": rank or "feature",
    })
    return out


def _latent_prevalence(
    observed: np.ndarray, pi: np.ndarray, precision: float, depth: np.ndarray, n_iter: int = 30
) -> np.ndarray:
    """Presence probability whose *observed* prevalence (after sampling zeros) matches the data.

    Under the simulator a present taxon has a Beta(θπ/q, θ - θπ/q) proportion and gives a
    zero count with probability ``B(α, θ - α + N)/B(α, θ - α)`` at depth ``N``; solve
    ``q · (1 - mean_N P0) = observed`` by fixed-point iteration (vectorised over taxa).
    """
    from scipy.special import betaln

    obs = np.clip(observed, 1e-6, 1.0)
    q = obs.copy()
    d = depth[:, None]
    for _ in range(n_iter):
        alpha = np.clip(precision * pi / q, 1e-12, precision * (1 - 1e-9))
        beta = precision - alpha
        p0 = np.exp(betaln(alpha[None, :], beta[None, :] + d) - betaln(alpha, beta)[None, :]).mean(axis=0)
        q_new = np.clip(obs / np.maximum(1.0 - p0, 1e-9), obs, 1.0)
        if np.max(np.abs(q_new - q)) < 1e-6:
            q = q_new
            break
        q = q_new
    return q


def template_params(template: pd.DataFrame) -> dict[str, Any]:
    """Simulator keywords (``precision``, ``depth_median``, ``depth_sigma``) from a fitted template."""
    a = template.attrs
    out: dict[str, Any] = {}
    for k in ("precision", "depth_median", "depth_sigma"):
        if k in a:
            out[k] = float(a[k])
    return out


def simulate_planted(
    template: pd.DataFrame,
    *,
    n_samples: int,
    effects: Mapping[str, float] | None = None,
    case_fraction: float = 0.5,
    confounders: Mapping[str, Mapping[str, Any]] | None = None,
    covariates: pd.DataFrame | None = None,
    seed: int | np.random.Generator = 0,
) -> AnnData:
    """Simulate a case/control cohort with planted taxon effects (and confounders).

    Parameters
    ----------
    template
        From :func:`fit_template` (its ``attrs`` set precision and library sizes) or
        :func:`gutbrain.datasets.healthy_gut_template`.
    n_samples
        Number of samples.
    effects
        ``{taxon: log2 fold change}`` applied to cases (``obs["group"] == "case"``).
    case_fraction
        Share of cases.
    confounders
        ``{name: {"prevalence": (in_controls, in_cases), "effects": {taxon: log2fc}}}``:
        a binary ``obs[name]``, more frequent in cases, with its own taxon effects, so a
        naive case/control test picks up those taxa unless ``name`` is adjusted for.
    covariates
        Extra sample columns (same length, no effect on taxa).
    seed
        Random seed or Generator.

    Returns
    -------
    AnnData
        Counts; ``obs["group"]`` (``control``/``case``), confounder columns;
        ``uns["simulation"]["truth"]``: ``taxon, log2_fold_change, factor`` for every
        planted effect; ``uns["gutbrain"]["synthetic"] = True``.
    """
    from ._demo import simulate_cohort

    if n_samples < 4:
        raise DataValueError(f"n_samples must be at least 4, got {n_samples}", fix="pass n_samples >= 4")
    if not 0 < case_fraction < 1:
        raise DataValueError(f"case_fraction={case_fraction} is outside (0, 1)", fix="use e.g. 0.5")
    rng = check_random_state(seed)
    taxa = set(template["genus"].astype(str))
    n_case = round(n_samples * case_fraction)
    is_case = np.zeros(n_samples, dtype=bool)
    is_case[rng.permutation(n_samples)[:n_case]] = True
    obs = pd.DataFrame(index=[f"sim{i + 1:05d}" for i in range(n_samples)])
    obs["group"] = pd.Categorical(np.where(is_case, "case", "control"), categories=["control", "case"])
    rows: list[dict[str, Any]] = []

    def _add(eff: Mapping[str, float], factor: str, level: str) -> None:
        for taxon, lfc in eff.items():
            if str(taxon) not in taxa:
                raise DataValueError(f"effect names taxon {taxon!r}, which is not in the template",
                                     fix="use a name from template['genus']")
            rows.append({"genus": str(taxon), "log2_fold_change": float(lfc), "factor": factor, "level": level})

    _add(effects or {}, "group", "case")
    for name, spec in (confounders or {}).items():
        p0, p1 = spec.get("prevalence", (0.1, 0.4))
        obs[name] = rng.random(n_samples) < np.where(is_case, float(p1), float(p0))
        _add(spec.get("effects", {}), name, "True")
    if covariates is not None:
        if len(covariates) != n_samples:
            raise DataValueError(f"covariates has {len(covariates)} rows for {n_samples} samples",
                                 fix="give one row per sample")
        for c in covariates.columns:
            obs[c] = covariates[c].to_numpy()
    eff_df = pd.DataFrame(rows, columns=["genus", "log2_fold_change", "factor", "level"])
    kw = template_params(template)
    tpl = template.copy()
    for r in ("domain", "phylum", "class", "order", "family"):
        if r not in tpl.columns:
            tpl[r] = ""
    adata = simulate_cohort(tpl, effects=eff_df if len(eff_df) else None, covariates=obs, seed=rng,
                            reader="simulate_planted", **kw)
    if "true_depth" in adata.obs.columns:
        adata.obs["true_depth"] = adata.obs["true_depth"].astype(np.int64)
    truth = eff_df.rename(columns={"genus": "taxon"})
    record(adata, "simulation", params={"n_samples": n_samples, "case_fraction": case_fraction,
                                        "template_rank": template.attrs.get("rank", ""), **kw},
           random_state=None if isinstance(seed, np.random.Generator) else int(seed), truth=truth)
    return adata
