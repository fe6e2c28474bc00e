"""Regression metrics with (cluster) bootstrap confidence intervals.

A leaf module (NumPy, SciPy, pandas only): :mod:`gutbrain.ml._predict` and
:mod:`gutbrain.tl._butyrate` both use :func:`regression_metrics` without importing each other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def _spearman(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    ry = rankdata(y, axis=-1)
    rp = rankdata(p, axis=-1)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    rp = rp - rp.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ry * rp).sum(-1) / np.sqrt((ry**2).sum(-1) * (rp**2).sum(-1))


def _r2(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    sse = ((y - p) ** 2).sum(-1)
    sst = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / sst


def _boot_index(n: int, groups: np.ndarray | None, n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    if groups is None:
        return list(rng.integers(0, n, size=(n_boot, n)))
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(uniq.size)]
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, uniq.size, uniq.size)
        out.append(np.concatenate([members[g] for g in pick]))
    return out


def regression_metrics(
    y: np.ndarray, p: np.ndarray, *, groups: np.ndarray | None = None, n_boot: int = 1000,
    random_state: int = 0, scale: str = "log",
) -> pd.DataFrame:
    """Spearman ρ, R², MAE, RMSE of predictions with (cluster) bootstrap 95 % CIs."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    idx = _boot_index(len(y), groups, n_boot, rng)
    fns = {
        "spearman": lambda a, b: float(_spearman(a, b)),
        "r2": lambda a, b: float(_r2(a, b)),
        "mae": lambda a, b: float(np.mean(np.abs(a - b))),
        "rmse": lambda a, b: float(np.sqrt(np.mean((a - b) ** 2))),
    }
    rows = []
    for name, fn in fns.items():
        point = fn(y, p)
        boots = np.array([fn(y[i], p[i]) for i in idx]) if n_boot else np.array([])
        boots = boots[np.isfinite(boots)]
        lo, hi = (np.quantile(boots, [0.025, 0.975]) if boots.size else (np.nan, np.nan))
        rows.append({"metric": name, "value": point, "ci_low": float(lo), "ci_high": float(hi),
                     "scale": "rank" if name == "spearman" else scale})
    return pd.DataFrame(rows)
