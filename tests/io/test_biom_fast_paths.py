"""The BIOM reader's shortcuts give what the plain computations give."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gutbrain._errors import LimitError
from gutbrain.io import _guard
from gutbrain.io._biom_parse import _lineage_text, _lineage_texts
from gutbrain.taxonomy._keys import lineage_frame, taxon_columns

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _depth_reference(raw: bytes) -> int:
    """Deepest bracket nesting outside JSON strings, strings removed by a pattern."""
    depth = best = 0
    for ch in _STRING.sub(b'""', raw):
        if ch in b"[{":
            depth += 1
            best = max(best, depth)
        elif ch in b"]}":
            depth -= 1
    return best


_pieces = st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b'\\"', b"\\", b"a", b",", b"1", b" "]),
                   max_size=120)


@settings(max_examples=300, deadline=None)
@given(_pieces, st.integers(2, 12), st.booleans())
def test_json_depth_equals_string_stripping_reference(pieces, limit, pad):
    raw = b"".join(pieces) + (b" " * (1 << 16) if pad else b"")  # padding: past the quick exit
    expected = _depth_reference(raw)
    with _guard.limits(max_json_depth=limit):
        if expected > limit:
            with pytest.raises(LimitError, match=f"nested {expected} levels"):
                _guard.check_json_depth(raw, label="x.json")
        else:
            _guard.check_json_depth(raw, label="x.json")


def test_brackets_inside_strings_do_not_count():
    deep = b'{"rows": [{"id": "' + b"[" * 500 + b'"}], "data": []}' + b" " * (1 << 16)
    _guard.check_json_depth(deep, label="x.json")  # the brackets are text
    with pytest.raises(LimitError):
        _guard.check_json_depth(b'{"a": "x"' + b"[" * 100 + b"]" * 100 + b"}" + b" " * (1 << 16),
                                label="x.json")


_lineage = st.one_of(
    st.none(), st.just(float("nan")), st.text(max_size=12), st.text(max_size=6).map(str.encode),
    st.lists(st.sampled_from(["k__Bacteria", " p__Firmicutes", "", " ", "g__", "g__X"]), max_size=4),
    st.lists(st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 2), st.floats(0, 2), st.none()),
             max_size=3),
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["c", ""])),
    st.integers(0, 2), st.floats(0, 2), st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_lineage, max_size=25))
def test_lineage_texts_equal_one_by_one(values):
    assert _lineage_texts(values) == [_lineage_text(v) for v in values]


def test_lineage_keys_per_distinct_lineage_equal_per_feature():
    lineages = ["k__Bacteria; p__Firmicutes; g__Blautia", "k__Bacteria; p__Firmicutes; g__Blautia",
                "k__Bacteria; p__Bacteroidetes", None, "", "k__Bacteria; p__Firmicutes; g__"]
    frame = lineage_frame(lineages, index=[f"f{i}" for i in range(len(lineages))])
    per_feature = taxon_columns(frame)
    for col in per_feature.columns:
        np.testing.assert_array_equal(frame[col].to_numpy(), per_feature[col].to_numpy())


_BR = bytes.maketrans(b"[]", b"  ")


def _float_parse(region: bytes) -> np.ndarray | None:
    """The general path: every number through NumPy's float parser (``None`` if it fails)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return np.fromstring(region.translate(_BR).decode("ascii"), sep=",")
    except (DeprecationWarning, ValueError):
        return None


_number = st.one_of(
    st.integers(0, 10**6).map(str), st.integers(0, 10**6).map(lambda i: f"{i}.0"),
    st.integers(0, 2**62).map(lambda i: f"{i}.0"), st.floats(0, 1e6, allow_nan=False).map(repr),
    st.sampled_from(["-1.0", "1e3", "1.00", "1.05", ".0", "0.0", "1.", "007.0", "1.0.0", "", "NaN",
                     "99999999999999999999.0", "9007199254740993.0"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_number, min_size=3, max_size=3), min_size=1, max_size=20),
       st.sampled_from([",", ", ", " ,"]))
def test_integral_fast_path_equals_float_parser(triplets, sep):
    from gutbrain.io._biom_parse import _integral_values

    region = ("[" + sep.join("[" + sep.join(t) + "]" for t in triplets) + "]").encode()
    fast = _integral_values(region)
    if fast is not None:  # the shortcut only answers where it is exact
        ref = _float_parse(region)
        assert ref is not None
        np.testing.assert_array_equal(fast, ref)
        assert fast.dtype == np.float64


def test_counts_table_takes_the_integral_path():
    from gutbrain.io._biom_parse import _integral_values

    region = b"[[0,2,1.0],[0,4,10.0],[1,6,12345.0]]"
    np.testing.assert_array_equal(_integral_values(region), [0, 2, 1, 0, 4, 10, 1, 6, 12345])
    assert _integral_values(b"[[0,2,0.5]]") is None  # a fraction: the float parser decides
