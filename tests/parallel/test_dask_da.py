"""MaAsLin2 with feature chunks on Dask equals the single-process run; BH is global."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
import gutbrain.parallel as gp
from gutbrain import DataValueError
from gutbrain.testing import REDUCTION_RTOL, assert_allclose_reordered
from gutbrain.tl._da import bh_adjust

NUMERIC = ["coef", "stderr", "pval", "qval"]


@pytest.fixture(scope="module")
def cohort():
    a = gb.datasets.demo_cohort(seed=0)
    # demo subjects are all distinct: a 20-level site factor for the random intercept
    a.obs["site"] = pd.Categorical([f"s{i % 20:02d}" for i in range(a.n_obs)])
    return a


def _assert_same_table(res, ref, rtol=REDUCTION_RTOL):
    """Same rows, same labels, numbers equal at the reordered-reduction tolerance.

    Feature chunks change the shapes of the matrix products (BLAS picks other kernels), so
    sums are taken in another order: compare at ``rtol`` plus an atol scaled to each column
    (:func:`gutbrain.testing.assert_allclose_reordered`), never at machine epsilon.
    """
    assert list(res.columns) == list(ref.columns)
    assert len(res) == len(ref)
    # near-tied q-values may swap places in the qval-sorted tables: compare by row key
    key = ["feature", "metadata", "value"]
    res, ref = (t.sort_values(key, kind="stable").reset_index(drop=True) for t in (res, ref))
    for col in ("feature", "metadata", "value", "N", "N.not.0", "method"):
        assert res[col].tolist() == ref[col].tolist(), col
    for col in NUMERIC:
        assert_allclose_reordered(res[col], ref[col], rtol=rtol, err_msg=col)
    # the same calls, except for q-values within the tolerance of the threshold
    clear = (ref["qval"] - 0.05).abs() > 10 * rtol
    assert ((res["qval"] < 0.05) == (ref["qval"] < 0.05))[clear].all()


@pytest.mark.parametrize(
    ("formula", "normalization", "transform"),
    [
        ("~ group + age", "TSS", "LOG"),
        ("~ group + age + sex", "CLR", "NONE"),
        ("~ group + age + (1|site)", "TSS", "LOG"),
    ],
)
def test_equals_single_process(cohort, client, formula, normalization, transform):
    a_ref = cohort.copy()
    ref = gb.tl.diff_abundance(
        a_ref, formula=formula, method="maaslin2", normalization=normalization, transform=transform
    )
    a = cohort.copy()
    res = gp.diff_abundance_dask(
        a, formula=formula, normalization=normalization, transform=transform, client=client, n_chunks=7
    )
    # OLS: reordered sums only (REDUCTION_RTOL).  REML: the last-bit differences of the
    # chunked cross-products move the θ optimiser's stopping point within its own
    # tolerance (~1e-8 in θ), which propagates to the coefficients: compare at 1e-6
    _assert_same_table(res, ref, rtol=1e-6 if "(1|" in formula else REDUCTION_RTOL)
    assert a.uns["diff_abundance"]["params"]["backend"] == "dask"
    assert a.uns["diff_abundance"]["params"]["n_chunks"] == 7
    pd.testing.assert_frame_equal(a.uns["diff_abundance"]["results"], res)


def test_q_values_are_adjusted_over_all_features(cohort, client):
    res = gp.diff_abundance_dask(cohort.copy(), formula="~ group + age", client=client, n_chunks=5)
    # global BH over every feature × term row …
    np.testing.assert_array_equal(res["qval"].to_numpy(), bh_adjust(res["pval"].to_numpy()))
    # … which is not what adjusting each chunk on its own would give
    feats = pd.unique(res["feature"])
    chunk_of = dict(zip(feats, np.arange(feats.size) % 5))
    per_chunk = res.groupby(res["feature"].map(chunk_of))["pval"].transform(
        lambda p: bh_adjust(p.to_numpy())
    )
    assert not np.allclose(per_chunk.to_numpy(), res["qval"].to_numpy())


def test_other_corrections_and_one_chunk(cohort, client):
    ref = gb.tl.diff_abundance(cohort.copy(), formula="~ group", correction="holm")
    res = gp.diff_abundance_dask(cohort.copy(), formula="~ group", correction="holm", client=client, n_chunks=1)
    _assert_same_table(res, ref)


def test_bad_options(cohort, client):
    with pytest.raises(DataValueError, match="normalization"):
        gp.diff_abundance_dask(cohort, formula="~ group", normalization="XYZ", client=client)
    with pytest.raises(DataValueError, match="n_chunks"):
        gp.diff_abundance_dask(cohort, formula="~ group", n_chunks=0, client=client)
    with pytest.raises(DataValueError, match="no feature passes"):
        gp.diff_abundance_dask(cohort, formula="~ group", min_abundance=1e12, client=client)
