"""The healthy reference of the sample profile: shipped quantiles and percentiles against them.

``report/data/sample_reference.tsv`` holds, per index and per common taxon, the quantiles
0, 1, …, 100 of its distribution in a healthy reference population (written by
``tools/build_sample_reference.py``; only these derived figures ship, never a profile).
``report/data/sample_reference_sources.tsv`` describes each population: who, how many,
profiler, definition of healthy, citation and DOI.

A sample's percentile is read off the quantile grid (:func:`percentile_from_quantiles`):
linear between grid points, and the middle of the tied range when the value equals one or
more quantiles (so an absent taxon that is absent from 60 % of the reference sits at the
30th percentile, the mid-rank of the zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "GRID",
    "Reference",
    "percentile_from_quantiles",
    "reference",
    "reference_sources",
]

#: Quantile levels stored per row (percent).
GRID: np.ndarray = np.arange(0, 101, dtype=np.float64)
QCOLS: list[str] = [f"q{int(g):03d}" for g in GRID]

_FILE = "sample_reference.tsv"
_SOURCES = "sample_reference_sources.tsv"


def percentile_from_quantiles(x: Any, q: Any, grid: Any = None) -> np.ndarray:
    """Percentile (0–100) of values ``x`` in a distribution given by its quantiles ``q``.

    Parameters
    ----------
    x
        Value(s).
    q
        Non-decreasing quantiles at ``grid`` (default 0, 1, …, 100: ``q[0]`` the minimum,
        ``q[-1]`` the maximum).
    grid
        Quantile levels in percent, increasing.

    Returns
    -------
    numpy.ndarray
        Below the minimum 0, above the maximum 100; strictly between two quantiles,
        linear interpolation; equal to one or more quantiles, the middle of the levels
        they span (the mid-rank of a tie, e.g. of the zeros of a zero-inflated taxon).
        NaN for NaN ``x``.

    Examples
    --------
    >>> q = np.r_[np.zeros(41), np.linspace(0.1, 6.0, 60)]   # absent from ~40 %
    >>> percentile_from_quantiles([0.0, 0.1, 3.05, 7.0], q).round(1).tolist()
    [20.0, 41.0, 70.5, 100.0]
    """
    g = GRID if grid is None else np.asarray(grid, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    out = np.full(xs.shape, np.nan)
    lo_i = np.searchsorted(q, xs, side="left")  # first quantile >= x
    hi_i = np.searchsorted(q, xs, side="right")  # first quantile > x
    for k, v in enumerate(xs):
        if np.isnan(v):
            continue
        a, b = int(lo_i[k]), int(hi_i[k])
        if b == 0:
            out[k] = g[0]
        elif a == len(q):
            out[k] = g[-1]
        elif a < b:  # ties: x equals q[a..b-1]
            out[k] = 0.5 * (g[a] + g[b - 1])
        else:  # q[a-1] < x < q[a]
            q0, q1 = q[a - 1], q[a]
            out[k] = g[a - 1] + (v - q0) / (q1 - q0) * (g[a] - g[a - 1])
    return out


@dataclass(frozen=True)
class Reference:
    """The shipped reference: quantile rows, population table and build metadata."""

    rows: pd.DataFrame
    sources: pd.DataFrame
    meta: dict[str, str]

    def index_row(self, name: str, reference: str) -> pd.Series | None:
        """Quantile row of an index in one reference population (``None`` if absent)."""
        r = self.rows[(self.rows["kind"] == "index") & (self.rows["name"] == name)
                      & (self.rows["reference"] == reference)]
        return None if r.empty else r.iloc[0]

    def index_references(self, name: str) -> list[str]:
        """Reference populations that hold an index, in file order."""
        r = self.rows[(self.rows["kind"] == "index") & (self.rows["name"] == name)]
        return list(dict.fromkeys(r["reference"]))

    def taxa(self, rank: str) -> pd.DataFrame:
        """Taxon rows at one rank (``name``, ``prevalence``, quantiles …)."""
        return self.rows[(self.rows["kind"] == "taxon") & (self.rows["rank"] == rank)].reset_index(drop=True)

    @cached_property
    def _source_dicts(self) -> dict[str, dict[str, Any]]:
        out = {}
        for _, s in self.sources.iterrows():
            rid = str(s["reference"])
            out[rid] = {"id": rid, **{k: (v.item() if hasattr(v, "item") else v) for k, v in s.items()
                                      if k != "reference"}}
        return out

    def source(self, reference: str) -> dict[str, Any]:
        """The population description of one reference id (a copy)."""
        return dict(self._source_dicts[reference])


def _header(text: str) -> dict[str, str]:
    meta = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line.lstrip("#").strip()
        if body.startswith("@") and ":" in body:
            k, v = body[1:].split(":", 1)
            meta[k.strip()] = v.strip()
    return meta


def _read(name: str) -> tuple[pd.DataFrame, dict[str, str], str]:
    path = resources.files("gutbrain.report").joinpath("data", name)
    text = path.read_text(encoding="utf-8")
    df = pd.read_csv(StringIO(text), sep="\t", comment="#", keep_default_na=False, na_values=[""])
    return df, _header(text), text


@lru_cache(maxsize=1)
def reference() -> Reference:
    """The shipped healthy reference (cached).

    Examples
    --------
    >>> ref = reference()
    >>> sorted(ref.sources["reference"])
    ['gmwi2_chang2024_healthy', 'metaml_healthy']
    >>> row = ref.index_row("shannon", "metaml_healthy")
    >>> int(row["n"]) > 500 and bool(np.all(np.diff(row[QCOLS].to_numpy(float)) >= 0))
    True
    """
    import hashlib

    rows, meta, text = _read(_FILE)
    for c in ("rank",):
        rows[c] = rows[c].fillna("").astype(str)
    sources, _, _ = _read(_SOURCES)
    meta = dict(meta)
    meta["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Reference(rows, sources, meta)


def reference_sources() -> pd.DataFrame:
    """The reference populations (one row each: size, profiler, definition, citation, DOI).

    Examples
    --------
    >>> list(reference_sources().columns[:3])
    ['reference', 'population', 'n']
    """
    return reference().sources.copy()
