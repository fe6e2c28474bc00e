"""Parameters as data: tables with value, unit, bounds/prior, source DOI and evidence level.

Each row of a parameter table (TSV under ``sim/models/``) is one parameter::

    name  value  unit  lower  upper  prior  evidence  kind  source  doi  description

``prior`` is ``fixed`` (never varied), ``uniform`` or ``loguniform`` on ``[lower, upper]``,
or ``normal`` with ``value`` as mean and ``(lower, upper)`` as its 95 % interval (truncated
to that interval when sampled).  ``evidence`` is one of :data:`EVIDENCE`.  ``kind`` is
``parameter``, ``initial`` (initial state), ``input`` (set by an experiment or a sample
profile) or ``mapping`` (profile → input slopes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._errors import DataValueError, InputFormatError
from .._utils import check_random_state

__all__ = [
    "COLUMNS",
    "EVIDENCE",
    "PRIORS",
    "read_parameter_table",
    "sample_parameters",
    "uncertain_parameters",
    "unit_to_values",
]

#: Evidence levels, strongest first.
EVIDENCE: tuple[str, ...] = ("calibrated_human", "animal", "hypothesis")
#: Prior families.
PRIORS: tuple[str, ...] = ("fixed", "uniform", "loguniform", "normal")
#: Columns of a parameter table.
COLUMNS: tuple[str, ...] = (
    "name",
    "value",
    "unit",
    "lower",
    "upper",
    "prior",
    "evidence",
    "kind",
    "source",
    "doi",
    "description",
)
_KINDS = ("parameter", "initial", "input", "mapping")


def read_parameter_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a parameter table (TSV, ``#`` comment lines allowed).

    Parameters
    ----------
    path
        The TSV file.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``name`` with float ``value``/``lower``/``upper``.

    Raises
    ------
    InputFormatError
        On missing columns, bad numbers, unknown priors/evidence, or bounds not containing
        the value (the message names the file, line and column).
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    header_idx = next((i for i, ln in enumerate(lines) if ln and not ln.startswith("#")), None)
    if header_idx is None:
        raise InputFormatError("parameter table is empty", path=path, fix="add a header row")
    header = lines[header_idx].split("\t")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputFormatError(
            f"parameter table lacks columns {missing}",
            path=path,
            line=header_idx + 1,
            fix=f"use the tab-separated columns {', '.join(COLUMNS)}",
        )
    records = []
    for i in range(header_idx + 1, len(lines)):
        ln = lines[i]
        if not ln.strip() or ln.startswith("#"):
            continue
        cells = ln.split("\t")
        cells += [""] * (len(header) - len(cells))
        rec = dict(zip(header, cells))
        for col in ("value", "lower", "upper"):
            try:
                rec[col] = float(rec[col])
            except ValueError:
                raise InputFormatError(
                    f"{rec[col]!r} is not a number",
                    path=path,
                    line=i + 1,
                    column=col,
                    fix="write a decimal number",
                ) from None
        if rec["prior"] not in PRIORS:
            raise InputFormatError(
                f"unknown prior {rec['prior']!r}", path=path, line=i + 1, column="prior",
                fix=f"use one of {', '.join(PRIORS)}",
            )
        if rec["evidence"] not in EVIDENCE:
            raise InputFormatError(
                f"unknown evidence level {rec['evidence']!r}", path=path, line=i + 1,
                column="evidence", fix=f"use one of {', '.join(EVIDENCE)}",
            )
        if rec["kind"] not in _KINDS:
            raise InputFormatError(
                f"unknown kind {rec['kind']!r}", path=path, line=i + 1, column="kind",
                fix=f"use one of {', '.join(_KINDS)}",
            )
        lo, hi, v = rec["lower"], rec["upper"], rec["value"]
        if not (lo <= v <= hi) or (rec["prior"] == "loguniform" and lo <= 0):
            raise InputFormatError(
                f"value {v} outside bounds [{lo}, {hi}] (or non-positive log bounds)",
                path=path, line=i + 1, column="lower",
                fix="make lower <= value <= upper (lower > 0 for loguniform)",
            )
        rec["_line"] = i + 1
        records.append(rec)
    table = pd.DataFrame.from_records(records, columns=[*COLUMNS, "_line"]).set_index("name")
    dup = table.index[table.index.duplicated()]
    if len(dup):
        raise InputFormatError(
            f"parameter {dup[0]!r} is defined twice", path=path,
            line=int(table.loc[dup[0], "_line"].iloc[-1]), fix="keep one row per parameter",
        )
    table["file"] = os.path.basename(path)
    return table


def uncertain_parameters(
    table: pd.DataFrame, evidence: Iterable[str] | None = None
) -> list[str]:
    """Names of parameters with a non-fixed prior (optionally only of some evidence levels)."""
    mask = table["prior"] != "fixed"
    if evidence is not None:
        mask &= table["evidence"].isin(list(evidence))
    return list(table.index[mask])


def unit_to_values(table: pd.DataFrame, names: Sequence[str], u: np.ndarray) -> np.ndarray:
    """Map points of the unit hypercube (n × len(names)) to parameter values via each prior.

    Uniform: ``lower + u (upper − lower)``; loguniform: the same on the log scale; normal:
    the inverse normal CDF with mean ``value`` and ``(lower, upper)`` as the 95 % interval,
    truncated to that interval.
    """
    u = np.clip(np.asarray(u, dtype=np.float64), 1e-9, 1 - 1e-9)
    out = np.empty_like(u)
    for j, name in enumerate(names):
        row = table.loc[name]
        lo, hi, v = float(row["lower"]), float(row["upper"]), float(row["value"])
        prior = row["prior"]
        if prior == "uniform":
            out[:, j] = lo + u[:, j] * (hi - lo)
        elif prior == "loguniform":
            out[:, j] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
        elif prior == "normal":
            sd = (hi - lo) / (2 * 1.959964)
            a, b = stats.norm.cdf([(lo - v) / sd, (hi - v) / sd])
            out[:, j] = v + sd * stats.norm.ppf(a + u[:, j] * (b - a))
        else:
            out[:, j] = v
    return out


def sample_parameters(
    table: pd.DataFrame,
    n: int,
    *,
    names: Sequence[str] | None = None,
    evidence: Iterable[str] | None = ("hypothesis",),
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Draw ``n`` parameter sets from the priors (Latin hypercube on the unit cube).

    Parameters
    ----------
    table
        A parameter table.
    n
        Number of draws (≥ 1).
    names
        Parameters to vary; default: every non-fixed parameter of the given evidence levels.
    evidence
        Evidence levels to vary when ``names`` is None (``None`` = all levels).
    random_state
        Seed or Generator.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows × varied parameters.
    """
    if n < 1:
        raise DataValueError(f"ensemble size must be >= 1, got {n}", fix="pass n >= 1")
    names = list(names) if names is not None else uncertain_parameters(table, evidence)
    unknown = [p for p in names if p not in table.index]
    if unknown:
        raise DataValueError(
            f"unknown parameters {unknown}", fix="use names from the model's parameter table"
        )
    rng = check_random_state(random_state)
    d = len(names)
    # Latin hypercube: one stratum per draw in every dimension, shuffled independently.
    u = (rng.permuted(np.tile(np.arange(n), (d, 1)), axis=1).T + rng.random((n, d))) / n
    return pd.DataFrame(unit_to_values(table, names, u), columns=names)
