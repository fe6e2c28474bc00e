"""``--where``: a pandas-query-style row filter on sample metadata, checked before it runs.

The expression is parsed with Python's :mod:`ast` and evaluated column-wise by a small
interpreter that knows only what a sample filter needs (nothing is ``eval``-ed, so the
same text is safe to take from the web app):

* column names, bare (``BODY_SITE``) or in backticks (```body site```);
* literals: strings, numbers, ``True``/``False``, lists/tuples of literals;
* comparisons ``== != < <= > >=``, chained (``18 <= age < 65``), ``in`` / ``not in``;
* ``and`` / ``or`` / ``not`` and their pandas spellings ``&`` / ``|`` / ``~``;
* arithmetic ``+ - * /`` on numeric columns.

A missing value makes a comparison false (as in pandas).  Columns that are not numbers
compare as text, so ``MIGRAINE == 'yes'`` and ``sex == 'female'`` work on categoricals.
"""

from __future__ import annotations

import ast
import operator
import re
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DataValueError, MetadataMismatchError

__all__ = ["apply_where", "where_columns"]

_BACKTICK = re.compile(r"`([^`]*)`")
_CMP = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ALLOWED = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.BoolOp, ast.And, ast.Or,
            ast.UnaryOp, ast.Not, ast.Invert, ast.USub, ast.BinOp, ast.BitAnd, ast.BitOr, ast.Add, ast.Sub,
            ast.Mult, ast.Div, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In,
            ast.NotIn)
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _error(expr: str, what: str, fix: str) -> DataValueError:
    return DataValueError(f"--where {expr!r}: {what}", fix=fix)


class _DottedNames(ast.NodeTransformer):
    """``Study.Group`` (R-style column names) becomes one column name, as if in backticks."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        parts: list[str] = [node.attr]
        inner: ast.AST = node.value
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if not isinstance(inner, ast.Name):
            return node
        parts.append(self.names.get(inner.id, inner.id))
        key = f"__col{len(self.names)}__"
        self.names[key] = ".".join(reversed(parts))
        return ast.copy_location(ast.Name(id=key, ctx=ast.Load()), node)


def _parse(expr: str) -> tuple[ast.Expression, dict[str, str]]:
    """Parse ``expr``; backtick names become placeholder identifiers."""
    names: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        key = f"__col{len(names)}__"
        names[key] = m.group(1)
        return key

    text = _BACKTICK.sub(sub, expr.strip())
    if not text:
        raise _error(expr, "the expression is empty", "give a condition such as \"BODY_SITE == 'UBERON:feces'\"")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _error(expr, f"not a valid expression ({exc.msg})",
                     "write e.g. \"BODY_SITE == 'UBERON:feces' and age >= 18\" (quote text values)") from None
    tree = _DottedNames(names).visit(tree)
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise _error(expr, f"{type(node).__name__.lower()} is not allowed in a filter",
                         "use columns, quoted values, comparisons, in, and/or/not")
    return tree, names


class _Eval:
    """Evaluate the parsed filter over a metadata frame."""

    def __init__(self, expr: str, obs: pd.DataFrame, names: dict[str, str]) -> None:
        self.expr = expr
        self.obs = obs
        self.names = names
        self.columns = [str(c) for c in obs.columns]

    def column(self, name: str) -> pd.Series:
        name = self.names.get(name, name)
        if name not in self.obs.columns:
            raise MetadataMismatchError(
                f"--where {self.expr!r}: unknown column {name!r}; columns are: " + ", ".join(self.columns),
                fix="use one of the listed columns (names are case-sensitive; quote names with "
                "spaces in backticks) and quote text values",
            )
        return self.obs[name]

    def __call__(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self(node.body)
        if isinstance(node, ast.Name):
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            return self.column(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            vals = [self(e) for e in node.elts]
            if any(isinstance(v, pd.Series) for v in vals):
                raise _error(self.expr, "a list may hold values only, not columns", "list literal values")
            return vals
        if isinstance(node, ast.BoolOp):
            parts = [self._mask(v) for v in node.values]
            op = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for p in parts[1:]:
                out = op(out, p)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.Not, ast.Invert)):
                return ~self._mask(node.operand)
            if isinstance(node.op, ast.USub):
                return -self._number(self(node.operand))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
                a, b = self._mask(node.left), self._mask(node.right)
                return (a & b) if isinstance(node.op, ast.BitAnd) else (a | b)
            if type(node.op) in _ARITH:
                return _ARITH[type(node.op)](self._number(self(node.left)), self._number(self(node.right)))
        if isinstance(node, ast.Compare):
            return self._compare(node)
        raise _error(self.expr, f"{type(node).__name__.lower()} is not allowed in a filter",
                     "use columns, quoted values, comparisons, in, and/or/not")

    def _number(self, v: Any) -> Any:
        if isinstance(v, pd.Series):
            if not pd.api.types.is_numeric_dtype(v.dtype) or pd.api.types.is_bool_dtype(v.dtype):
                raise _error(self.expr, f"column {v.name!r} is not numeric", "compare it with a quoted value")
            return v.astype(float)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _error(self.expr, f"{v!r} is not a number", "use numbers in arithmetic")
        return v

    def _mask(self, node: ast.AST) -> np.ndarray:
        v = self(node)
        if isinstance(v, np.ndarray) and v.dtype == bool:
            return v
        if isinstance(v, pd.Series) and pd.api.types.is_bool_dtype(v.dtype):
            return v.fillna(False).to_numpy(dtype=bool)
        raise _error(self.expr, "each part of and/or/not must be a condition",
                     "write comparisons such as age >= 18 (or a true/false column)")

    def _compare(self, node: ast.Compare) -> np.ndarray:
        out = np.ones(len(self.obs), dtype=bool)
        left = self(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self(right_node)
            out &= self._compare_pair(left, op, right)
            left = right
        return out

    def _compare_pair(self, left: Any, op: ast.cmpop, right: Any) -> np.ndarray:
        n = len(self.obs)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(left, pd.Series) or not isinstance(right, list):
                raise _error(self.expr, "'in' needs a column on the left and a list on the right",
                             "write e.g. BODY_SITE in ['UBERON:feces', 'UBERON:skin']")
            values, miss = self._as_comparable(left, right[0] if right else "")
            wanted = [self._literal_like(left, v) for v in right]
            hit = pd.Series(values).isin(wanted).to_numpy() & ~miss
            return hit if isinstance(op, ast.In) else ~hit & ~miss
        fn = _CMP.get(type(op))
        if fn is None:
            raise _error(self.expr, "'is' comparisons are not allowed", "use == or !=")
        lv, lmiss = self._side(left, right)
        rv, rmiss = self._side(right, left)
        try:
            with np.errstate(invalid="ignore"):
                res = np.asarray(fn(lv, rv), dtype=bool)
        except TypeError:
            raise _error(self.expr, "cannot compare text with a number",
                         "quote text values (BODY_SITE == 'UBERON:feces') and compare numeric "
                         "columns with numbers") from None
        res = np.broadcast_to(res, (n,)).copy()
        return res & ~lmiss & ~rmiss

    def _side(self, v: Any, other: Any) -> tuple[Any, np.ndarray]:
        n = len(self.obs)
        if isinstance(v, pd.Series):
            vals, miss = self._as_comparable(v, other)
            return vals, miss
        if v is None:
            raise _error(self.expr, "None cannot be compared", "filter missing values with the column alone")
        return v, np.zeros(n, dtype=bool)

    def _as_comparable(self, s: pd.Series, other: Any) -> tuple[np.ndarray, np.ndarray]:
        from ..io._values import is_missing

        miss = is_missing(s)
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.fillna(False).to_numpy(dtype=bool), miss
        if pd.api.types.is_numeric_dtype(s.dtype):
            if isinstance(other, str):
                raise _error(self.expr, f"column {s.name!r} holds numbers but is compared with text {other!r}",
                             f"compare {s.name} with a number (no quotes)")
            return s.to_numpy(dtype=float), miss
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            num = pd.to_numeric(s.astype(object).where(~miss), errors="coerce")
            if num[~miss].notna().all():
                return num.to_numpy(dtype=float), miss
            raise _error(self.expr, f"column {s.name!r} holds text but is compared with the number {other!r}",
                         f"quote the value: {s.name} == '{other}'")
        return s.astype(object).where(~miss, "").astype(str).str.strip().to_numpy(dtype=object), miss

    def _literal_like(self, s: pd.Series, v: Any) -> Any:
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            return float(v) if isinstance(v, (int, float)) else v
        return str(v) if not isinstance(v, bool) else v


def where_columns(expr: str) -> list[str]:
    """The column names an expression uses (to validate them before reading data).

    Examples
    --------
    >>> where_columns("BODY_SITE == 'UBERON:feces' and `age years` >= 18")
    ['BODY_SITE', 'age years']
    >>> where_columns("Study.Group != 'C'")  # R-style dotted names need no backticks
    ['Study.Group']
    """
    tree, names = _parse(expr)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ("True", "False", "None"):
            out.append(names.get(node.id, node.id))
    return list(dict.fromkeys(out))


def apply_where(obs: pd.DataFrame, expr: str) -> np.ndarray:
    """Boolean mask of the samples that satisfy ``expr`` (see the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"site": ["feces", "oral", "feces"], "age": [30, 40, None]})
    >>> apply_where(obs, "site == 'feces' and age >= 18").tolist()
    [True, False, False]
    """
    tree, names = _parse(expr)
    mask = _Eval(expr, obs, names)._mask(tree.body)
    return np.asarray(mask, dtype=bool)
