"""MaAsLin 3 model formulas and design matrices, with R's coding rules.

Formula syntax (one-sided; every feature is the response)::

    ~ diagnosis + age + diagnosis:age + antibiotics*sex + ordered(stage) + group(site) + (1|subject)

* ``a + b`` main effects; numeric columns enter as one column (z-scored when
  ``standardize``), other columns as treatment-coded factors against a reference level;
* ``a:b`` interactions and ``a*b`` (= ``a + b + a:b``); a factor inside an interaction
  is coded by contrasts when the term without it is in the model, otherwise by one
  indicator per level — R's ``model.matrix`` rule; columns are named as R names them
  (``diagnosisCD``, ``diagnosisCD:age``) and ordered as R's ``terms`` orders them
  (main effects first, then two-way interactions, …);
* ``ordered(x)`` — MaAsLin 3's ordered predictor: ``x`` is treatment coded, and each
  level is tested against the previous one (rows ``x<level>``);
* ``group(x)`` — MaAsLin 3's group predictor: one joint test of all levels of ``x``
  (row ``x`` with no coefficient);
* ``(1|g)`` — a random intercept per level of ``g``.

Metadata processing follows R MaAsLin 3's ``maaslin_process_metadata``: categorical
levels are sorted (a pandas ``Categorical`` keeps its category order), ``reference``
moves a level to the front, numeric columns are z-scored over every sample that has a
value (R's ``scale``), and samples with a missing value in a model column are left out
of the fits (R's ``na.exclude``).  Unlike R, a categorical term with more than two
levels and no reference uses its first level (R stops and asks for one), and a term
that cannot be estimated at all (a single level, a constant or an all-missing column)
is dropped with a reason instead of stopping the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from .._errors import DataValueError, MetadataMismatchError
from ._formula import parse_reference

__all__ = ["Design3", "Formula3", "build_design3", "parse_formula3"]

_NAME = r"(?:`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)"
_RANDOM = re.compile(r"^\(\s*1\s*\|\s*(" + _NAME + r")\s*\)$")
_SPECIAL = re.compile(r"^(ordered|group|strata)\s*\(\s*(" + _NAME + r")\s*\)$")
_VAR = re.compile(r"^" + _NAME + r"$")


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name


@dataclass(frozen=True)
class Formula3:
    """A parsed MaAsLin 3 formula.

    Attributes
    ----------
    text
        The formula as given.
    terms
        Fixed terms as tuples of variable names, in R's ``terms`` order (main effects,
        then interactions by degree).
    ordered, group
        Variables given as ``ordered(x)`` / ``group(x)``.
    random
        Random-intercept grouping columns.
    """

    text: str
    terms: tuple[tuple[str, ...], ...]
    ordered: tuple[str, ...] = ()
    group: tuple[str, ...] = ()
    random: tuple[str, ...] = ()

    @property
    def variables(self) -> list[str]:
        """Every metadata column the formula uses (fixed, special and random)."""
        out: list[str] = []
        for t in self.terms:
            out.extend(t)
        out.extend(self.group)
        out.extend(self.ordered)
        out.extend(self.random)
        return list(dict.fromkeys(out))


def _split_top(text: str) -> list[str]:
    parts, depth, cur, tick = [], 0, [], False
    for ch in text:
        if ch == "`":
            tick = not tick
        elif not tick and ch == "(":
            depth += 1
        elif not tick and ch == ")":
            depth -= 1
        if ch == "+" and depth == 0 and not tick:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _split_op(term: str, op: str) -> list[str]:
    parts, cur, tick = [], [], False
    for ch in term:
        if ch == "`":
            tick = not tick
        if ch == op and not tick:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def parse_formula3(text: str) -> Formula3:
    """Parse a MaAsLin 3 formula (see the module docstring).

    Examples
    --------
    >>> f = parse_formula3("~ a*b + ordered(s) + (1|subject)")
    >>> f.terms, f.ordered, f.random
    ((('a',), ('b',), ('a', 'b')), ('s',), ('subject',))
    """
    if not isinstance(text, str) or "~" not in text:
        raise DataValueError(
            f"formula {text!r} has no '~'", fix='write it as "~ group + age" (each feature is the response)'
        )
    lhs, rhs = text.split("~", 1)
    if lhs.strip() not in ("", "expr"):
        raise DataValueError(
            f"formula {text!r} has a left-hand side {lhs.strip()!r}",
            fix='drop it: every feature is the response, e.g. "~ group + age"',
        )
    raw_terms: list[tuple[str, ...]] = []
    ordered: list[str] = []
    group: list[str] = []
    random: list[str] = []
    for term in _split_top(rhs):
        if not term:
            raise DataValueError(f"formula {text!r} has an empty term", fix="remove the stray '+'")
        if term == "1":
            continue
        m = _RANDOM.match(term)
        if m:
            random.append(_unquote(m.group(1)))
            continue
        m = _SPECIAL.match(term)
        if m:
            kind, var = m.group(1), _unquote(m.group(2))
            if kind == "strata":
                raise DataValueError(
                    f"formula {text!r}: strata({var}) (conditional logistic regression) is not supported",
                    fix=f"use a random intercept (1|{var}) instead",
                )
            (ordered if kind == "ordered" else group).append(var)
            continue
        if "*" in term:
            factors = [_unquote(v) for v in _split_op(term, "*")]
            if not all(_VAR.match(v) or v for v in factors):
                raise DataValueError(f"formula {text!r}: cannot read term {term!r}", fix="use a*b with column names")
            for k in range(1, len(factors) + 1):
                for combo in combinations(factors, k):
                    raw_terms.append(tuple(combo))
            continue
        pieces = _split_op(term, ":")
        if not all(_VAR.match(v.strip()) for v in pieces):
            raise DataValueError(
                f"formula {text!r}: term {term!r} is not supported",
                fix="use column names, a:b, a*b, ordered(x), group(x) and (1|g); "
                "build transformed covariates as new metadata columns",
            )
        raw_terms.append(tuple(_unquote(v) for v in pieces))
    # R's terms(): variables ordered by first appearance; each term's variables in that
    # order; duplicates removed; terms sorted by degree (stable)
    order: dict[str, int] = {}
    for t in raw_terms:
        for v in t:
            order.setdefault(v, len(order))
    seen: set[frozenset[str]] = set()
    terms: list[tuple[str, ...]] = []
    for t in raw_terms:
        key = frozenset(t)
        if len(key) != len(t):
            raise DataValueError(f"formula {text!r}: term {':'.join(t)!r} repeats a variable", fix="remove it")
        if key in seen:
            continue
        seen.add(key)
        terms.append(tuple(sorted(t, key=order.__getitem__)))
    terms.sort(key=len)
    if not terms and not ordered and not group:
        raise DataValueError(f"formula {text!r} has no fixed effect", fix='e.g. "~ group + age"')
    return Formula3(
        text=text,
        terms=tuple(terms),
        ordered=tuple(dict.fromkeys(ordered)),
        group=tuple(dict.fromkeys(group)),
        random=tuple(dict.fromkeys(random)),
    )


@dataclass
class Design3:
    """A MaAsLin 3 design over the samples with complete metadata.

    Attributes
    ----------
    X
        ``n_kept × p`` design; column 0 is the intercept.
    names, metadata, value
        R's column name and MaAsLin 3's ``metadata`` / ``value`` of each column.
    keep
        Boolean mask over the input samples (complete cases).
    n_total
        Number of input samples (R's ``N`` and the augmentation denominator).
    factors
        Categorical model variables: ``{name: (levels, codes over all samples (-1 = NA))}``.
    report
        Indices of the design columns reported as ordinary rows (not ordered/group).
    ordered
        ``{variable: [design columns of levels 2..k]}``.
    group
        ``{variable: [design columns]}``.
    random, random_names
        Integer codes of each random-intercept grouping over the kept samples.
    dropped
        ``[(term, reason)]`` for terms left out of the model.
    levels
        Levels (reference first) of every categorical variable.
    """

    X: np.ndarray
    names: list[str]
    metadata: list[str]
    value: list[str]
    keep: np.ndarray
    n_total: int
    factors: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)
    report: list[int] = field(default_factory=list)
    ordered: dict[str, list[int]] = field(default_factory=dict)
    group: dict[str, list[int]] = field(default_factory=dict)
    random: list[np.ndarray] = field(default_factory=list)
    random_names: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    levels: dict[str, list[str]] = field(default_factory=dict)


def _is_numeric(s: pd.Series) -> bool:
    return (
        pd.api.types.is_numeric_dtype(s)
        and not pd.api.types.is_bool_dtype(s)
        and not isinstance(s.dtype, pd.CategoricalDtype)
    )


def _missing(s: pd.Series) -> np.ndarray:
    isna = s.isna().to_numpy()
    if s.dtype == object:
        isna |= s.astype(str).str.strip().isin(["", "NA", "nan", "NaN"]).to_numpy()
    return isna


def _levels_of(s: pd.Series, isna: np.ndarray) -> list[str]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s[~isna].astype(str))
        return [str(c) for c in s.cat.categories if str(c) in present]
    return sorted({str(v) for v in s[~isna]})


def _metadata_value(name: str, columns: list[str]) -> tuple[str, str]:
    """MaAsLin 3's metadata (longest column name the coefficient name starts with) and value."""
    for c in sorted(columns, key=len, reverse=True):
        if name.startswith(c):
            rest = name[len(c) :]
            return c, (c if rest == "" else rest.lstrip(":"))
    return name, name


def build_design3(
    obs: pd.DataFrame,
    formula: Formula3 | str,
    *,
    reference: str | Mapping[str, str] | None = None,
    standardize: bool = True,
) -> Design3:
    """Build the MaAsLin 3 design of ``formula`` over the samples of ``obs``.

    Parameters
    ----------
    obs
        Sample metadata (rows = samples).
    formula
        A :class:`Formula3` or formula text.
    reference
        Reference levels ``{"column": "level"}`` or ``"column,level;column2,level2"``.
    standardize
        Z-score numeric columns (MaAsLin 3 default ``TRUE``).

    Returns
    -------
    Design3
    """
    f = parse_formula3(formula) if isinstance(formula, str) else formula
    ref = parse_reference(reference)
    needed = f.variables
    missing = [c for c in needed if c not in obs.columns]
    if missing:
        raise MetadataMismatchError(
            f"formula {f.text!r} names {missing} but the metadata has no such column "
            f"(columns: {list(obs.columns)[:20]})",
            fix="check the spelling or attach the metadata file that holds them",
        )
    fixed_vars = list(dict.fromkeys([v for t in f.terms for v in t] + list(f.group) + list(f.ordered)))
    for col in ref:
        if col not in fixed_vars:
            raise DataValueError(
                f"reference given for {col!r}, which is not a fixed effect of {f.text!r}",
                fix="name a categorical column of the formula",
            )
    n_total = len(obs)
    dropped: list[tuple[str, str]] = []
    numeric: dict[str, np.ndarray] = {}
    factors: dict[str, tuple[list[str], np.ndarray]] = {}
    bad_vars: set[str] = set()
    for c in fixed_vars:
        s = obs[c]
        isna = _missing(s)
        if isna.all():
            bad_vars.add(c)
            dropped.append((c, f"metadata column {c!r} has no non-missing value"))
            continue
        if _is_numeric(s) and c not in ref and c not in f.ordered and c not in f.group:
            x = s.to_numpy(dtype=np.float64).copy()
            x[isna] = np.nan
            vals = x[~isna]
            sd = vals.std(ddof=1) if vals.size > 1 else 0.0
            if not sd > 0:
                bad_vars.add(c)
                dropped.append((c, f"numeric metadata {c!r} is constant ({vals[0]:g}) over the samples"))
                continue
            if standardize:
                x = (x - vals.mean()) / sd
            numeric[c] = x
            continue
        lv = _levels_of(s, isna)
        if c in ref:
            if ref[c] not in lv:
                raise DataValueError(
                    f"reference level {ref[c]!r} of {c!r} is not among its values {lv}",
                    fix=f"pick one of {lv}",
                )
            lv = [ref[c]] + [v for v in lv if v != ref[c]]
        if len(lv) < 2:
            bad_vars.add(c)
            dropped.append((c, f"categorical metadata {c!r} has a single level ({lv[0]!r})"))
            continue
        sv = s.astype(str).to_numpy()
        codes = np.full(n_total, -1, dtype=np.int64)
        for k, level in enumerate(lv):
            codes[(sv == level) & ~isna] = k
        factors[c] = (lv, codes)
    terms = [t for t in f.terms if not (set(t) & bad_vars)]
    ordered = [v for v in f.ordered if v not in bad_vars]
    group = [v for v in f.group if v not in bad_vars]
    for v in ordered + group:
        if v not in factors:
            raise DataValueError(
                f"{'ordered' if v in ordered else 'group'}({v}) needs a categorical column, but {v!r} is numeric",
                fix=f"store {v!r} as text or a pandas Categorical with its levels in order",
            )
    if not terms and not ordered and not group:
        raise DataValueError(
            f"no term of {f.text!r} can be estimated: " + "; ".join(r for _, r in dropped),
            fix="check the metadata columns named in the formula",
        )
    keep = np.ones(n_total, dtype=bool)
    model_vars = list(dict.fromkeys([v for t in terms for v in t] + group + ordered))
    for v in model_vars:
        keep &= (factors[v][1] >= 0) if v in factors else ~np.isnan(numeric[v])
    rand_codes: list[np.ndarray] = []
    for g in f.random:
        keep &= ~_missing(obs[g])
    if keep.sum() == 0:
        raise DataValueError(
            f"no sample has values for every column of {f.text!r}",
            fix="fill in the metadata or drop the column with missing values from the formula",
        )
    for g in f.random:
        codes, _ = pd.factorize(obs[g].astype(str).to_numpy()[keep], sort=True)
        rand_codes.append(codes.astype(np.int64))
    # columns of each variable under contrasts / full indicator coding (kept samples)
    def var_columns(v: str, full: bool) -> list[tuple[str, np.ndarray]]:
        if v in numeric:
            return [(v, numeric[v][keep])]
        lv, codes = factors[v]
        ck = codes[keep]
        start = 0 if full else 1
        return [(f"{v}{lv[k]}", (ck == k).astype(np.float64)) for k in range(start, len(lv))]

    all_terms = [*terms[:], *[(v,) for v in group], *[(v,) for v in ordered]]
    # R's terms order: by degree; specials are main effects appended after the others
    all_terms.sort(key=len)
    present = {frozenset(t) for t in all_terms} | {frozenset()}
    cols: list[np.ndarray] = [np.ones(int(keep.sum()))]
    names = ["(Intercept)"]
    kinds = ["intercept"]
    owner: list[str] = ["(Intercept)"]
    for t in all_terms:
        coded: list[list[tuple[str, np.ndarray]]] = []
        for v in t:
            full = v in factors and frozenset(set(t) - {v}) not in present
            coded.append(var_columns(v, full))
        # R: the first variable varies fastest
        combos: list[tuple[str, np.ndarray]] = [("", np.ones(int(keep.sum())))]
        for parts in coded:
            combos = [
                ((nm + ":" if nm else "") + pn, val * pv) for pn, pv in parts for nm, val in combos
            ]
        kind = "group" if (len(t) == 1 and t[0] in group) else "ordered" if (len(t) == 1 and t[0] in ordered) else "fixed"
        for nm, val in combos:
            cols.append(val)
            names.append(nm)
            kinds.append(kind)
            owner.append(t[0] if kind != "fixed" else ":".join(t))
    X = np.column_stack(cols)
    if X.shape[0] <= X.shape[1]:
        raise DataValueError(
            f"{X.shape[0]} complete samples for {X.shape[1]} model coefficients",
            fix="use fewer covariates or more samples",
        )
    meta, value = [], []
    colnames = [str(c) for c in obs.columns]
    for nm in names:
        m, v = _metadata_value(nm, colnames) if nm != "(Intercept)" else (nm, nm)
        meta.append(m)
        value.append(v)
    report = [i for i, k in enumerate(kinds) if k == "fixed"]
    ordered_cols = {v: [i for i, (k, o) in enumerate(zip(kinds, owner)) if k == "ordered" and o == v] for v in ordered}
    group_cols = {v: [i for i, (k, o) in enumerate(zip(kinds, owner)) if k == "group" and o == v] for v in group}
    return Design3(
        X=X,
        names=names,
        metadata=meta,
        value=value,
        keep=keep,
        n_total=n_total,
        factors={v: factors[v] for v in model_vars if v in factors},
        report=report,
        ordered=ordered_cols,
        group=group_cols,
        random=rand_codes,
        random_names=list(f.random),
        dropped=dropped,
        levels={v: factors[v][0] for v in model_vars if v in factors},
    )
