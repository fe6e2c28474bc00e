"""Model formulas for differential abundance: ``"~ group + age + sex + (1|subject)"``.

The fixed part is a sum of metadata columns (main effects); random intercepts are
written ``(1|column)``.  Numeric columns enter as one continuous term; other columns
(strings, booleans, pandas categoricals) enter with treatment coding against a
reference level, exactly as R's ``model.matrix`` does for MaAsLin2:

* a pandas ``Categorical`` keeps its category order (first category = reference);
* other categorical columns use their sorted levels (R's ``as.factor``);
* ``reference={"diagnosis": "nonIBD"}`` moves a level to the front (R's ``relevel``).

Pain scores and other ordinal outcomes held as numbers enter as continuous (linear
trend) terms, e.g. ``"~ pain_score + age"``; store them as an ordered ``Categorical``
to get one contrast per level instead.

Samples with a missing value in any model column are dropped (R's ``na.omit``).
With ``standardize=True`` (MaAsLin2's default) numeric columns are z-scored over all
samples that have a value, before missing rows are dropped (R's ``scale``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._errors import DataValueError, MetadataMismatchError

__all__ = ["Design", "Formula", "build_design", "parse_formula", "parse_reference"]

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_RANDOM = re.compile(r"^\(\s*1\s*\|\s*([^()|]+?)\s*\)$")


@dataclass(frozen=True)
class Formula:
    """A parsed model formula: fixed-effect columns and random-intercept groupings."""

    text: str
    fixed: tuple[str, ...]
    random: tuple[str, ...] = ()


@dataclass
class Design:
    """A fixed-effects design matrix with the MaAsLin2 labels of each column.

    Attributes
    ----------
    X
        ``n_kept × p`` design (first column is the intercept).
    columns
        R-style column names (``"diagnosisCD"``, ``"age"``).
    metadata, value
        MaAsLin2's ``metadata`` and ``value`` of each column (variable name; level or
        the variable name for continuous terms).
    keep
        Boolean mask over the input samples (complete cases).
    groups
        Integer codes (``0..q-1``) of each random-intercept grouping, over kept samples.
    group_names
        Column names of the groupings.
    """

    X: np.ndarray
    columns: list[str]
    metadata: list[str]
    value: list[str]
    keep: np.ndarray
    groups: list[np.ndarray] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)
    levels: dict[str, list[str]] = field(default_factory=dict)


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "+" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def parse_formula(text: str) -> Formula:
    """Parse ``"~ a + b + (1|g)"`` into fixed columns and random-intercept groupings.

    Parameters
    ----------
    text
        A one-sided formula.  A left-hand side (``"y ~ ..."``) is not allowed because
        every feature is the response.

    Returns
    -------
    Formula

    Examples
    --------
    >>> parse_formula("~ group + age + (1|subject)")
    Formula(text='~ group + age + (1|subject)', fixed=('group', 'age'), random=('subject',))
    """
    if not isinstance(text, str) or "~" not in text:
        raise DataValueError(
            f"formula {text!r} has no '~'",
            fix='write it as "~ group + age" (one-sided; each feature is the response)',
        )
    lhs, rhs = text.split("~", 1)
    if lhs.strip():
        raise DataValueError(
            f"formula {text!r} has a left-hand side {lhs.strip()!r}",
            fix='drop it: every feature is the response, e.g. "~ group + age"',
        )
    fixed: list[str] = []
    random: list[str] = []
    for term in _split_top(rhs):
        if not term:
            raise DataValueError(f"formula {text!r} has an empty term", fix="remove the stray '+'")
        m = _RANDOM.match(term)
        if m:
            name = m.group(1).strip()
            if not _NAME.match(name):
                raise DataValueError(
                    f"formula {text!r}: random effect grouping {name!r} is not a column name",
                    fix="use (1|column) with one metadata column",
                )
            if name not in random:
                random.append(name)
            continue
        if term == "1":
            continue
        if not _NAME.match(term):
            raise DataValueError(
                f"formula {text!r}: term {term!r} is not supported",
                fix="use main effects of metadata columns and random intercepts (1|column); "
                "build interactions or transformed covariates as new metadata columns",
            )
        if term not in fixed:
            fixed.append(term)
    if not fixed:
        raise DataValueError(f"formula {text!r} has no fixed effect", fix='e.g. "~ group"')
    return Formula(text=text, fixed=tuple(fixed), random=tuple(random))


def parse_reference(reference: str | Mapping[str, str] | None) -> dict[str, str]:
    """Parse MaAsLin2's ``"col,level;col2,level2"`` (or a mapping) into a dict."""
    if reference is None:
        return {}
    if isinstance(reference, Mapping):
        return {str(k): str(v) for k, v in reference.items()}
    out: dict[str, str] = {}
    for chunk in str(reference).split(";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        parts = [p.strip() for p in chunk.split(",")]
        if len(parts) != 2 or not all(parts):
            raise DataValueError(
                f"reference {reference!r} is not 'COLUMN,LEVEL'",
                fix='give e.g. "diagnosis,nonIBD" (several as "a,x;b,y")',
            )
        out[parts[0]] = parts[1]
    return out


def _is_numeric(s: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(s)
        and not pd.api.types.is_bool_dtype(s)
        and not isinstance(s.dtype, pd.CategoricalDtype)
    )


def _levels(s: pd.Series) -> list[str]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().astype(str))
        return [str(c) for c in s.cat.categories if str(c) in present]
    return sorted({str(v) for v in s.dropna()})


def build_design(
    obs: pd.DataFrame,
    formula: Formula | str,
    *,
    reference: str | Mapping[str, str] | None = None,
    standardize: bool = False,
) -> Design:
    """Build the design matrix of ``formula`` over the samples of ``obs``.

    Parameters
    ----------
    obs
        Sample metadata (rows = samples).
    formula
        A :class:`Formula` or formula text.
    reference
        Reference levels, ``{"column": "level"}`` or ``"column,level"``.
    standardize
        Z-score numeric columns (MaAsLin2 ``standardize=TRUE``).

    Returns
    -------
    Design
    """
    f = parse_formula(formula) if isinstance(formula, str) else formula
    ref = parse_reference(reference)
    needed = list(dict.fromkeys([*f.fixed, *f.random]))
    missing = [c for c in needed if c not in obs.columns]
    if missing:
        raise MetadataMismatchError(
            f"formula {f.text!r} names {missing} but the metadata has no such column "
            f"(columns: {list(obs.columns)[:20]})",
            fix="check the spelling or attach the metadata file that holds them",
        )
    for col in ref:
        if col not in f.fixed:
            raise DataValueError(
                f"reference given for {col!r}, which is not a fixed effect of {f.text!r}",
                fix="name a categorical column of the formula",
            )
    data = obs[needed].copy()
    keep = np.ones(len(data), dtype=bool)
    for c in needed:
        s = data[c]
        isna = s.isna().to_numpy()
        if s.dtype == object:
            isna |= s.astype(str).str.strip().isin(["", "NA", "nan", "NaN"]).to_numpy()
        keep &= ~isna
    if keep.sum() == 0:
        raise DataValueError(
            f"no sample has values for every column of {f.text!r}",
            fix="fill in the metadata or drop the column with missing values from the formula",
        )
    cols: list[np.ndarray] = [np.ones(int(keep.sum()))]
    names, meta, value = ["(Intercept)"], ["(Intercept)"], ["(Intercept)"]
    levels_out: dict[str, list[str]] = {}
    for c in f.fixed:
        s = data[c]
        if _is_numeric(s) and c not in ref:
            x = s.to_numpy(dtype=np.float64)
            if standardize:
                vals = x[~np.isnan(x)]
                sd = vals.std(ddof=1) if vals.size > 1 else 0.0
                x = (x - vals.mean()) / sd if sd > 0 else x - vals.mean()
            cols.append(x[keep])
            names.append(c)
            meta.append(c)
            value.append(c)
            continue
        s_kept = s[keep]
        lv = _levels(s_kept)
        if c in ref:
            if ref[c] not in lv:
                raise DataValueError(
                    f"reference level {ref[c]!r} of {c!r} is not among its values {lv}",
                    fix=f"pick one of {lv}",
                )
            lv = [ref[c]] + [x for x in lv if x != ref[c]]
        if len(lv) < 2:
            raise DataValueError(
                f"categorical metadata {c!r} has fewer than 2 distinct non-missing values "
                f"({lv})",
                fix="drop it from the formula",
            )
        levels_out[c] = lv
        sv = s_kept.astype(str).to_numpy()
        for level in lv[1:]:
            cols.append((sv == level).astype(np.float64))
            names.append(f"{c}{level}")
            meta.append(c)
            value.append(level)
    X = np.column_stack(cols)
    groups, gnames = [], []
    for g in f.random:
        codes, _ = pd.factorize(data[g][keep].astype(str), sort=True)
        groups.append(codes.astype(np.int64))
        gnames.append(g)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise DataValueError(
            f"the design of {f.text!r} is rank deficient ({rank} < {X.shape[1]} columns: "
            f"{names}); some terms are collinear or a level never occurs with the others",
            fix="drop one of the collinear terms",
        )
    if X.shape[0] <= X.shape[1]:
        raise DataValueError(
            f"{X.shape[0]} complete samples for {X.shape[1]} model coefficients",
            fix="use fewer covariates or more samples",
        )
    return Design(
        X=X,
        columns=names,
        metadata=meta,
        value=value,
        keep=keep,
        groups=groups,
        group_names=gnames,
        levels=levels_out,
    )
