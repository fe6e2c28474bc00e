"""Fit a simulation template to a real count table.

:func:`fit_template` estimates, per taxon, prevalence, mean relative abundance and
Dirichlet-multinomial overdispersion, plus the library-size distribution.  Its output has
the columns of :func:`gutbrain.datasets.healthy_gut_template` (plus ``dispersion``,
``observed_prevalence``, ``n_present``) and plugs directly into
:func:`gutbrain.datasets.simulate_cohort` — the one simulator — which then uses each
taxon's own dispersion and the fitted precision and library sizes (``attrs``).

Overdispersion (method of moments, among samples where a taxon is present): with observed
proportions ``p̂_ij = x_ij / N_i`` and conditional mean ``m_j``,
``Var(p̂_ij) = m_j(1 - m_j)[ρ_j + (1 - ρ_j)/N_i]`` under the Dirichlet-multinomial with
intra-class correlation ``ρ_j = 1/(1 + θ)`` (Mosimann 1962, doi:10.1093/biomet/49.1-2.65;
La Rosa et al. 2012 PLoS ONE 7:e52078, doi:10.1371/journal.pone.0052078).  The template's
precision ``θ`` comes from the abundance-weighted median ``ρ_j``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core import RANKS, get_matrix, get_unit
from .._errors import DataValueError, UnitError
from ._demo import DISPERSION_RANGE

__all__ = ["fit_template", "template_params"]

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
        The columns of :func:`gutbrain.datasets.healthy_gut_template` — ``genus`` (the
        taxon name; the simulator's identifier column), rank columns ``domain`` …
        ``family`` (empty when unknown), ``mean_relative_abundance`` (sums to 1),
        ``prevalence`` (latent presence probability whose simulated *observed* prevalence
        matches the data), ``source``, ``synthetic_name`` (False) — plus
        ``observed_prevalence``, ``dispersion`` (ρ_j, NaN when present in < 5 samples) and
        ``n_present``.  ``attrs`` holds ``precision`` (θ), ``depth_median``,
        ``depth_sigma`` (log-normal library sizes), ``n_samples`` and ``rank``; see
        :func:`template_params`.  Pass it as ``template`` to
        :func:`gutbrain.datasets.simulate_cohort`.

    Examples
    --------
    >>> import gutbrain as gb
    >>> real = gb.datasets.demo_cohort(seed=1, n_samples=80, n_genera=60)
    >>> tpl = gb.datasets.fit_template(real, rank=None)
    >>> sorted(tpl.attrs)[:3]
    ['depth_median', 'depth_sigma', 'n_samples']
    >>> sim = gb.datasets.simulate_cohort(tpl, n_samples=30, effects={tpl["genus"][0]: 1.0}, seed=2)
    >>> sim.shape == (30, len(tpl))
    True
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
    # per-taxon precision as the simulator uses it (clipped ρ_j; template θ where ρ_j is unknown)
    theta = 1.0 / np.where(ok, np.clip(rho, *DISPERSION_RANGE), rho_med) - 1.0
    latent = _latent_prevalence(prevalence, mean_rel / mean_rel.sum(), theta, depth)
    logd = np.log(depth)
    out = pd.DataFrame({"genus": names})
    var = adata.var.iloc[np.flatnonzero(nz)]
    for r in ("domain", "phylum", "class", "order", "family"):
        out[r] = var[r].astype(str).to_numpy() if r in var.columns else ""
    out["mean_relative_abundance"] = mean_rel / mean_rel.sum()
    out["prevalence"] = latent
    out["source"] = f"fitted by gutbrain.datasets.fit_template to {int(X.shape[0])} samples ({rank or 'features'})"
    out["synthetic_name"] = False
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
    observed: np.ndarray, pi: np.ndarray, precision: float | np.ndarray, depth: np.ndarray, n_iter: int = 30
) -> np.ndarray:
    """Presence probability whose *observed* prevalence (after sampling zeros) matches the data.

    Under the simulator a present taxon has about a Beta(θπ/q, θ - θπ/q) proportion (θ may
    differ per taxon) and gives a zero count with probability ``B(α, θ - α + N)/B(α, θ - α)`` at depth ``N``; solve
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
    """Simulator keywords (``precision``, ``depth_median``, ``depth_sigma``) from a fitted template.

    :func:`gutbrain.datasets.simulate_cohort` already reads these from ``template.attrs``
    when not given; this returns them, e.g. to report or override them.
    """
    a = template.attrs
    out: dict[str, Any] = {}
    for k in ("precision", "depth_median", "depth_sigma"):
        if k in a:
            out[k] = float(a[k])
    return out
