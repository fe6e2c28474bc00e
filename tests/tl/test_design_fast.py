"""The design check's shared-cost PERMANOVAs give the table of one ``permanova_kernel`` call per variable.

``gb.tl.design_check`` squares the distances once per pattern of missing values, serves every
variable from one worker pool, sums the second stage of variables with three or more levels
row by row (``_pseudo_f_rows``) and counts its contingency tables with NumPy.  These tests
rebuild the table the straightforward way — ``permanova_kernel`` on the submatrix of each
variable (19 permutations, then 199 when ``p ≤ 0.25``) and ``pandas.crosstab`` — and require
the same numbers: R² and association statistics bit for bit, the same p-values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, fisher_exact

import gutbrain as gb
from gutbrain.io._values import is_missing
from gutbrain.tl import _design
from gutbrain.tl._blocks import blas_blocks
from gutbrain.tl._stats import _p_value, _pseudo_f, _pseudo_f_rows, permanova_kernel
from gutbrain.tl._stats_kernels import squares_upper, squares_upper_at


def _cohort(n: int, seed: int = 0):
    """Two groups; a 3-level site and a 5-level diet that reshape the community; gaps; subjects."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["case", "control"], n)
    site = rng.choice(["mouth", "skin", "stool"], n, p=[0.2, 0.2, 0.6])
    diet = rng.choice(list("abcde"), n)
    base = rng.dirichlet(np.ones(40), size=3)
    shift = rng.dirichlet(np.ones(40), size=5)
    P = 0.8 * base[np.searchsorted(["mouth", "skin", "stool"], site)] + 0.2 * shift[np.searchsorted(list("abcde"), diet)]
    X = np.vstack([rng.multinomial(3000, p) for p in P])
    obs = pd.DataFrame({
        "group": group,
        "site": site,
        "diet": np.where(rng.random(n) < 0.3, "not provided", diet),  # 30 % missing: a subset
        "noise4": rng.choice(["w", "x", "y", "z"], n),
        "yesno": np.where(rng.random(n) < 0.8, rng.choice(["yes", "no"], n), None),
        "age": np.where(rng.random(n) < 0.1, np.nan, rng.normal(40, 12, n)),  # quartile bins
        "rare": np.where(rng.random(n) < 0.85, None, rng.choice(["p", "q", "r"], n)),  # n < 512
        "subject": [f"h{i // 2}" for i in range(n)],
    })
    return gb._core.new_adata(X, obs_names=[f"s{i}" for i in range(n)], var_names=[f"f{j}" for j in range(40)],
                              unit="counts", reader="test", obs=obs)


def _reference_row(ad, name, k, subject):
    """R², p and association of one variable computed the straightforward way."""
    D = np.asarray(ad.obsp["braycurtis"])
    s = ad.obs[name]
    kind = _design._kind(s)
    present = ~is_missing(s)
    s = s.astype(object).where(present) if not present.all() and kind == "categorical" else s
    cats, _ = _design._categories(s, kind)
    ok = cats.notna().to_numpy()
    labels = cats[ok].astype(str).to_numpy()
    strata = None if subject is None else ad.obs[subject].astype(str).to_numpy()[ok]
    sub = D[np.ix_(ok, ok)]
    first = permanova_kernel(sub, labels, permutations=19, random_state=k, strata=strata)
    g = np.unique(labels).size
    r2 = _design.permanova_r2(float(first["test statistic"]), labels.size, g)
    p = float(first["p-value"])
    if p <= 0.25:
        p = float(permanova_kernel(sub, labels, permutations=199, random_state=k, strata=strata)["p-value"])
    groups = ad.obs["group"].astype(object)
    both = cats.notna() & groups.notna()
    tab = pd.crosstab(cats[both], groups[both]).to_numpy()
    chi2, ap, _, expected = chi2_contingency(tab, correction=False)
    v = float(np.sqrt(chi2 / (tab.sum() * (min(tab.shape) - 1))))
    if tab.shape == (2, 2) and expected.min() < 5:
        ap = fisher_exact(tab)[1]
    return r2, p, float(ap), v, g


@pytest.mark.parametrize("subject", [None, "subject"])
def test_design_table_equals_per_variable_permanova_kernel(subject, monkeypatch):
    from gutbrain.tl import _stats

    ad = _cohort(600)
    row_sums = []
    plain = _stats._pseudo_f_rows
    monkeypatch.setattr(_stats, "_pseudo_f_rows", lambda U, *a, **k: row_sums.append(U.shape[0]) or plain(U, *a, **k))
    tab = gb.tl.design_check(ad, group="group", subject=subject, random_state=5).set_index("variable")
    cols = list(ad.obs.columns)
    tested = tab.index[np.isfinite(tab["permanova_r2"].to_numpy(dtype=float))]
    assert set(tested) == {"site", "diet", "noise4", "yesno", "age", "rare"}
    levels = set()
    second_stage = 0
    for name in tested:
        r2, p, ap, v, g = _reference_row(ad, name, 5 + cols.index(name), subject)
        levels.add(g)
        second_stage += p <= 0.25
        assert tab.loc[name, "permanova_r2"] == r2, name  # bit for bit: the same products
        assert tab.loc[name, "permanova_p"] == p, name
        assert tab.loc[name, "association_p"] == ap, name
        assert tab.loc[name, "cramers_v"] == v, name
    # both stages, both paths of the second stage (products for 2 levels, row sums for more),
    # and matrices on both sides of the parallel threshold (n = 600 and the 'rare' subset)
    assert {2, 3, 4, 5} <= levels and second_stage >= 3
    assert row_sums  # the diet (5 levels, a subset) went through the row sums
    assert tab.loc["rare", "n"] < 512 <= tab.loc["site", "n"]


def test_row_sums_equal_the_products():
    """``_pseudo_f_rows`` = ``_pseudo_f`` (documented rtol 1e-9), so the same p-values."""
    rng = np.random.default_rng(3)
    for n, g, parallel in ((301, 3, True), (120, 5, False), (601, 4, True)):
        X = rng.gamma(0.5, size=(n, 20))
        X[: n // 3] *= np.linspace(0.5, 2.0, 20)  # some structure
        D = _bc(X)
        U, r = np.empty_like(D), np.empty(n)
        assert squares_upper(D, U, r)
        codes = rng.integers(0, g, n)
        strata = np.repeat(np.arange(n // 3 + 1), 3)[:n]
        for st in (None, strata):
            with blas_blocks(n >= 512) as blocks:
                ref = _pseudo_f(U, r, codes, g, 199, 11, st, blocks)
            got = _pseudo_f_rows(U, r, codes, g, 199, 11, st, parallel=parallel)
            np.testing.assert_allclose(got, ref, rtol=1e-9)
            assert _p_value(got, 199) == _p_value(ref, 199)


def _bc(X):
    from scipy.spatial.distance import pdist, squareform

    return squareform(pdist(X, "braycurtis"))


def test_squares_of_a_subset_are_those_of_its_copy():
    rng = np.random.default_rng(8)
    D = _bc(rng.gamma(0.5, size=(97, 12)))
    ok = rng.random(97) < 0.6
    sub = D[np.ix_(ok, ok)]
    m = sub.shape[0]
    U0, r0, U1, r1 = np.empty((m, m)), np.empty(m), np.empty((m, m)), np.empty(m)
    assert squares_upper(sub, U0, r0) and squares_upper_at(D, np.flatnonzero(ok), U1, r1)
    assert np.array_equal(U0, U1) and np.array_equal(r0, r1)
    D[np.flatnonzero(ok)[3], np.flatnonzero(ok)[5]] = np.nan
    assert not squares_upper_at(D, np.flatnonzero(ok), U1, r1)


def test_blas_blocks_restores_the_thread_limit():
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with blas_blocks() as blocks:
        inside = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        assert blocks.workers == max(before, default=1)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
    if max(before, default=1) > 1:
        assert set(inside) == {1}


@pytest.mark.parametrize("values", [
    pd.Series(["yes", " NA ", "no_data", None, np.nan, "Not provided", "no", "yes", "-", ""]),
    pd.Series(pd.Categorical(["a", "unspecified", None, "a", "b"])),
    pd.Series([1, 1.0, True, "1", "none", "nan", None, pd.NA], dtype=object),
    pd.Series([1.5, np.nan, 3.0]),
    pd.Series([True, False]),
    pd.Series([], dtype=object),
    pd.Series([None, np.nan], dtype=object),
])
def test_missing_per_distinct_value_equals_is_missing(values):
    assert np.array_equal(_design._missing(values), is_missing(values))


def test_thread_controller_is_cached_until_an_import(monkeypatch):
    import sys
    import types

    from gutbrain.tl import _blocks

    first = _blocks._controller()
    assert _blocks._controller() is first  # no rescan of the libraries per call
    monkeypatch.setitem(sys.modules, "gutbrain_test_dummy_module", types.ModuleType("dummy"))
    assert _blocks._controller() is not first  # an import may have loaded a BLAS: rescan
