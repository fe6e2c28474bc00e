"""Restricted PERMANOVA permutations (subjects): exact enumeration as the reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gutbrain.tl._permute import permutation_scheme, restricted_permuter
from gutbrain.tl._stats import permanova_kernel


def _design(seed=0):
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(7), 2)  # 7 subjects × 2 samples
    subject_effect = rng.normal(size=(7, 3))
    pts = subject_effect[subjects] + 0.3 * rng.normal(size=(14, 3))
    D = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    return D, subjects


def test_between_subject_p_equals_exact_enumeration_of_subject_labellings():
    D, subjects = _design()
    case_subjects = (0, 1, 2)
    labels = np.isin(subjects, case_subjects).astype(int)
    observed = float(permanova_kernel(D, labels, permutations=0)["test statistic"])
    # exact: every assignment of 3 of the 7 subjects to the case group (35 labellings)
    fs = []
    for chosen in itertools.combinations(range(7), 3):
        lab = np.isin(subjects, chosen).astype(int)
        fs.append(float(permanova_kernel(D, lab, permutations=0)["test statistic"]))
    exact = np.mean(np.asarray(fs) >= observed - 1e-12)
    res = permanova_kernel(D, labels, permutations=3999, random_state=1, strata=subjects.astype(str))
    assert float(res["test statistic"]) == pytest.approx(observed, rel=1e-12)
    assert float(res["p-value"]) == pytest.approx(exact, abs=0.03)
    # free permutation of samples ignores the pairing and is anti-conservative here
    free = float(permanova_kernel(D, labels, permutations=3999, random_state=1)["p-value"])
    assert free < float(res["p-value"])


def test_within_subject_permutations_keep_each_subjects_labels():
    codes = np.tile([0, 1], 7)
    strata = np.repeat(np.arange(7), 2).astype(str)
    draw, scheme = restricted_permuter(codes, strata)
    assert scheme == permutation_scheme(codes, strata) == "within strata"
    rng = np.random.default_rng(0)
    for _ in range(20):
        perm = draw(rng)
        for s in np.unique(strata):
            assert sorted(perm[strata == s]) == sorted(codes[strata == s])
