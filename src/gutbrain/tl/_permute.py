"""Restricted permutations for repeated samples (subjects, blocks).

With several samples per subject, free permutation of sample labels treats samples as
independent and makes permutation tests anti-conservative.  The exchangeable units
follow the design (Anderson 2001, doi:10.1111/j.1442-9993.2001.01070.pp.x; Anderson &
ter Braak 2003, doi:10.1080/00949650215733; vegan/permute's ``how(plots=, within=)``):

* a label that is **constant within every stratum** (a between-subject factor such as a
  diagnosis) is permuted between whole strata: each subject keeps all its samples
  together and receives the label of another subject;
* otherwise (a within-subject factor such as a time point or treatment period) the
  labels are permuted **within each stratum** only.

Both kinds keep the data's dependence structure under the null hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import DataValueError

__all__ = ["permutation_scheme", "restricted_permuter"]


def _strata_codes(strata: Any, n: int) -> np.ndarray:
    s = np.asarray(strata)
    if s.shape != (n,):
        raise DataValueError(f"{s.size} strata for {n} samples", fix="give one stratum per sample")
    _, codes = np.unique(s.astype(str), return_inverse=True)
    return codes.astype(np.int64)


def permutation_scheme(codes: np.ndarray, strata: Any) -> str:
    """``"between strata"`` when every stratum has one label, else ``"within strata"``.

    Examples
    --------
    >>> permutation_scheme(np.array([0, 0, 1, 1]), ["a", "a", "b", "b"])
    'between strata'
    >>> permutation_scheme(np.array([0, 1, 0, 1]), ["a", "a", "b", "b"])
    'within strata'
    """
    st = _strata_codes(strata, codes.size)
    order = np.lexsort((codes, st))
    first = np.r_[True, st[order][1:] != st[order][:-1]]
    # constant within a stratum ⇔ its first and last label agree after sorting
    last = np.r_[st[order][1:] != st[order][:-1], True]
    return "between strata" if np.array_equal(codes[order][first], codes[order][last]) else "within strata"


def restricted_permuter(
    codes: np.ndarray, strata: Any
) -> tuple[Callable[[np.random.Generator], np.ndarray], str]:
    """A function drawing one restricted permutation of ``codes``, and the scheme's name.

    Parameters
    ----------
    codes
        Integer group label of each sample.
    strata
        Stratum (subject, block) of each sample.

    Returns
    -------
    (callable, str)
        ``draw(rng) -> permuted codes`` and :func:`permutation_scheme`'s name.

    Examples
    --------
    >>> codes = np.array([0, 0, 0, 1, 1, 1])
    >>> draw, scheme = restricted_permuter(codes, ["s1", "s1", "s2", "s3", "s3", "s4"])
    >>> perm = draw(np.random.default_rng(0))
    >>> scheme, bool(perm[0] == perm[1]), bool(perm[3] == perm[4])
    ('between strata', True, True)
    """
    codes = np.asarray(codes, dtype=np.int64)
    st = _strata_codes(strata, codes.size)
    scheme = permutation_scheme(codes, st)
    if scheme == "between strata":
        n_strata = int(st.max()) + 1 if st.size else 0
        label = np.empty(n_strata, dtype=np.int64)
        label[st] = codes  # constant within each stratum

        def draw(rng: np.random.Generator) -> np.ndarray:
            return label[rng.permutation(n_strata)][st]

        return draw, scheme
    pos = np.argsort(st, kind="stable")
    st_sorted = st[pos]

    def draw_within(rng: np.random.Generator) -> np.ndarray:
        src = np.lexsort((rng.random(codes.size), st))  # a random order inside each stratum
        out = codes.copy()
        out[pos] = codes[src]
        return out

    if st_sorted.size and np.all(np.bincount(st) == 1):
        raise DataValueError("every sample is its own stratum, so nothing can be permuted within strata",
                             fix="give strata with repeated samples (e.g. the subject column)")
    return draw_within, scheme
