"""The test suite's own honesty rules: shared-data skips fail under CI, warnings are errors,
reordered reductions are compared at a documented tolerance (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import gutbrain as gb
from gutbrain.testing import REDUCTION_RTOL, assert_allclose_reordered
from tests.conftest import REQUIRE_ENV, shared_path

REPO = Path(__file__).resolve().parents[1]


def test_shared_path_skips_or_fails(monkeypatch):
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs \.\./shared/no/such\.file"):
        shared_path("no", "such.file")
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="GUTBRAIN_REQUIRE_SHARED=1 makes this a failure"):
        shared_path("no", "such.file")


@pytest.mark.parametrize(("require", "expected"), [("", 0), ("1", 1)])
def test_any_skip_naming_shared_fails_under_ci(tmp_path, require, expected):
    """Even a test with its own ``pytest.skip`` mentioning ../shared cannot turn CI green."""
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\ndef test_probe():\n    pytest.skip('needs ../shared/data/x.tsv')\n"
    )
    env = {**os.environ, REQUIRE_ENV: require}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == expected, proc.stdout[-2000:]
    assert ("1 failed" if expected else "1 skipped") in proc.stdout


def test_gutbrain_warnings_are_errors_in_the_suite():
    for kind in (gb.GutbrainWarning, gb.DataWarning, gb.StepFailedWarning):
        with pytest.raises(kind):
            warnings.warn("unexpected", kind, stacklevel=1)
    with pytest.warns(gb.DataWarning, match="expected"):  # a test that expects one still can
        warnings.warn("expected", gb.DataWarning, stacklevel=1)
    assert issubclass(gb.StepFailedWarning, RuntimeWarning)  # callers filtering RuntimeWarning
    assert issubclass(gb.DataWarning, UserWarning)


def test_metadata_drop_warning_is_a_gutbrain_warning():
    a = gb.datasets.demo_cohort(seed=0, n_samples=10, n_genera=5)
    md = a.obs[["group"]].iloc[:7].copy()
    with pytest.warns(gb.DataWarning, match="3 of 10 table samples have no metadata"):
        out = gb.io.attach_metadata(a, md)
    assert out.n_obs == 7


def test_reordered_sums_agree_at_the_documented_tolerance():
    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 3, size=(50, 20_000))
    forward = x.sum(axis=1)
    chunked = np.add.reduce([c.sum(axis=1) for c in np.array_split(x[:, ::-1], 7, axis=1)])
    assert_allclose_reordered(chunked, forward)
    assert REDUCTION_RTOL == 1e-9
    with pytest.raises(AssertionError, match="reordered-reduction tolerance"):
        assert_allclose_reordered(forward * (1 + 1e-7), forward)  # a real difference fails
    # values near zero by cancellation are judged against the data's scale
    assert_allclose_reordered([1.0, 3e-17], [1.0, 0.0])
    with pytest.raises(AssertionError):
        assert_allclose_reordered([1.0, 1e-6], [1.0, 0.0])
    assert_allclose_reordered([np.nan, 2.0], [np.nan, 2.0])
