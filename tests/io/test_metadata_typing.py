"""``type_columns`` decides on distinct values; it must equal the row-by-row pandas rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gutbrain._errors import DataValueError
from gutbrain.io._metadata import _MISSING_RE, type_columns
from gutbrain.io._values import NA_TOKENS, NUMERIC_ONLY_NA


def _reference(cells: pd.DataFrame, declared: dict[str, str] | None = None) -> pd.DataFrame:
    """The rules applied cell by cell with pandas string methods (the former implementation)."""
    declared = declared or {}
    out = {}
    for col in cells.columns:
        raw = cells[col].astype(object).where(cells[col].notna(), "")
        s = raw.map(lambda v: str(v).strip())
        lower = s.str.lower()
        na = lower.isin(NA_TOKENS) | lower.str.match(_MISSING_RE)
        values = s.where(~na)
        num = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & num.isna()
        soft = lower.isin(NUMERIC_ONLY_NA) & bad
        want = declared.get(col)
        if want == "categorical":
            is_num = False
        elif want == "numeric":
            if (bad & ~soft).any():
                raise DataValueError("declared numeric", column=str(col))
            is_num = True
        else:
            is_num = bool((~na).any()) and not bool((bad & ~soft).any())
        if is_num:
            vals = num.where(~soft).astype(np.float64)
            if (want != "numeric" and len(vals) > 0 and bool(s.str.fullmatch(r"[+-]?\d+").all())
                    and bool((vals.abs() < 2**53).all())):
                out[col] = vals.astype(np.int64)
            else:
                out[col] = vals
        else:
            out[col] = pd.Categorical(values)
    frame = pd.DataFrame(out, index=cells.index)
    frame.columns = list(cells.columns)
    return frame


_TOKENS = ["1", "2", " 3 ", "-4", "+5", "007", "1.5", "2e3", "-0.0", "inf", "nan", "NaN", "NA", "",
           " ", "unknown", "Unknown", "none", "missing", "missing: not provided", "not applicable",
           "yes", "no", "Yes ", "a b", "12345678901234567", "9" * 20, "0x10", "1,5", "½", "٣"]
_cells = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=4), st.none()),
                  min_size=0, max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(_cells, min_size=1, max_size=4).flatmap(
    lambda cols: st.tuples(st.just(cols), st.integers(0, 30))))
def test_equals_cell_by_cell_rules(data):
    cols, n = data
    n = min(n, *(len(c) for c in cols)) if cols else 0
    cells = pd.DataFrame({f"c{i}": pd.Series(c[:n], dtype=object) for i, c in enumerate(cols)},
                         index=[f"s{i}" for i in range(n)])
    pd.testing.assert_frame_equal(type_columns(cells), _reference(cells), check_exact=True)


@settings(max_examples=100, deadline=None)
@given(_cells, st.sampled_from(["numeric", "categorical"]))
def test_declared_types_equal_reference(column, want):
    cells = pd.DataFrame({"x": pd.Series(column, dtype=object)})
    try:
        expected = _reference(cells, {"x": want})
    except DataValueError:
        with pytest.raises(DataValueError, match="declared numeric"):
            type_columns(cells, declared={"x": want})
        return
    pd.testing.assert_frame_equal(type_columns(cells, declared={"x": want}), expected,
                                  check_exact=True)


def test_non_text_cells_use_their_text():
    cells = pd.DataFrame({"a": pd.Series([1, 1.0, True, None, 2], dtype=object),
                          "b": pd.Series([1, 2, 3, 4, 5], dtype=object)})
    pd.testing.assert_frame_equal(type_columns(cells), _reference(cells), check_exact=True)
    assert type_columns(cells)["b"].dtype == np.int64


def test_declared_numeric_error_names_the_first_bad_row():
    cells = pd.DataFrame({"x": ["1", "text", "2", "text"]})
    with pytest.raises(DataValueError, match="'text'") as err:
        type_columns(cells, declared={"x": "numeric"}, path="m.tsv", line_of_row=[2, 3, 4, 5])
    assert err.value.line == 3
