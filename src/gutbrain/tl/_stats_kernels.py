"""Compiled (numba) kernels of ordination and of the distance-based group tests.

Imported by :mod:`gutbrain.tl._ordination` and :mod:`gutbrain.tl._stats` when first
needed, so that importing gutbrain does not compile or load them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba.np.random.random_methods import random_interval

__all__ = ["draw_permutations", "gower_fill", "permdisp_stats", "row_sq_means", "spatial_median",
           "squares_upper", "squares_upper_at", "upper_forms", "within_rows", "within_rows_serial",
           "zero_lower"]


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def row_sq_means(D):  # pragma: no cover - compiled
    """Row means of ``D∘D`` (NaN/inf propagate: the caller checks them)."""
    n = D.shape[0]
    r = np.empty(n)
    for i in prange(n):
        s = 0.0
        for j in range(n):
            v = D[i, j]
            s += v * v
        r[i] = s / n
    return r


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def gower_fill(D, r, g, B):  # pragma: no cover - compiled
    """``B = -½ (D∘D - r_i - r_j + g)`` (Gower centring from the row means ``r`` of ``D∘D``)."""
    n = D.shape[0]
    for i in prange(n):
        ci = g - r[i]
        for j in range(n):
            v = D[i, j]
            B[i, j] = -0.5 * (v * v - r[j] + ci)


@njit(cache=True, nogil=True, boundscheck=False)
def draw_permutations(rng, codes, out, keep_first):  # pragma: no cover - compiled
    """Fill each row of ``out`` with ``rng.permutation(codes)``, draw for draw as NumPy.

    NumPy's ``Generator.permutation`` of a 1-d array copies it and shuffles it with
    Fisher–Yates, swapping element ``i`` with ``random_interval(i)`` for ``i = n−1 … 1``;
    this is the same loop on the same bit generator (numba's translation of NumPy's
    ``random_interval``), so the labellings — and the generator's state afterwards —
    are NumPy's, without a Python call per permutation. ``keep_first``: row 0 is
    ``codes`` unpermuted (the observed labelling) and consumes no draws.
    """
    n = codes.size
    bg = rng.bit_generator
    for r in range(out.shape[0]):
        x = out[r]
        for i in range(n):
            x[i] = codes[i]
        if r == 0 and keep_first:
            continue
        for i in range(n - 1, 0, -1):
            j = np.int64(random_interval(bg, np.uint64(i)))
            t = x[i]
            x[i] = x[j]
            x[j] = t


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def zero_lower(A):  # pragma: no cover - compiled
    """Set the strict lower triangle of the square matrix ``A`` to zero, in place."""
    for i in prange(1, A.shape[0]):
        for j in range(i):
            A[i, j] = 0.0


@njit(inline="always", boundscheck=False)
def _square_row(d, a, out):  # pragma: no cover - compiled
    """Row ``a`` of :func:`squares_upper`: ``out`` = ``d∘d`` right of the diagonal, zeros up to
    it; returns (sum of the squares off the diagonal, 1 if ``d`` has a NaN or inf else 0)."""
    s = 0.0
    nonfinite = 0
    for j in range(d.size):
        v = d[j]
        w = v * v
        if not np.isfinite(v):
            nonfinite = 1
        if j > a:
            out[j] = w
            s += w
        else:
            out[j] = 0.0
            if j < a:
                s += w
    return s, nonfinite


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def squares_upper(D, A, r):  # pragma: no cover - compiled
    """One pass over ``D``: ``A`` = strict upper triangle of ``D∘D`` (zeros elsewhere), ``r`` its
    row sums off the diagonal; returns False when ``D`` has a NaN or infinite value."""
    bad = 0
    for i in prange(D.shape[0]):
        r[i], nonfinite = _square_row(D[i], i, A[i])
        bad += nonfinite
    return bad == 0


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def squares_upper_at(D, idx, A, r):  # pragma: no cover - compiled
    """:func:`squares_upper` of ``D[np.ix_(idx, idx)]`` without copying that submatrix.

    Each row is gathered into a buffer and squared by the same code in the same order: bit
    for bit the same ``A`` and ``r``.
    """
    bad = 0
    for a in prange(idx.size):
        r[a], nonfinite = _square_row(D[idx[a]][idx], a, A[a])
        bad += nonfinite
    return bad == 0


@njit(cache=True, nogil=True, boundscheck=False)
def upper_forms(Wb, P, h, out):  # pragma: no cover - compiled
    """``out[p, i, j] += Σ_rows Wb[r, p·h + i] · P[r, p·h + j]`` for 0/1 indicators ``Wb``."""
    m, cols = P.shape
    b = cols // h
    for r in range(m):
        for p in range(b):
            base = p * h
            for i in range(h):
                if Wb[r, base + i] != 0.0:
                    for j in range(h):
                        out[p, i, j] += P[r, base + j]


@njit(fastmath={"reassoc", "nsz"}, cache=True, nogil=True, boundscheck=False)
def _same_label_sum(a, c, ci):  # pragma: no cover - compiled
    """``Σ_j a[j]·[c[j] = ci]`` (vectorised: the terms are added in SIMD lanes)."""
    s = 0.0
    for j in range(a.size):
        s += a[j] if c[j] == ci else 0.0
    return s


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def within_rows(U, C, out):  # pragma: no cover - compiled
    """``out[p, i] = Σ_{j > i, C[p, j] = C[p, i]} U[i, j]`` for each labelling ``p``.

    ``U``'s strict upper triangle is read row by row; each row stays in cache while every
    labelling of the batch is summed over it. Rows ``k`` and ``n − 1 − k`` go to the same
    task, so every task sums ``n − 1`` terms per labelling.
    """
    n = U.shape[0]
    for k in prange((n + 1) // 2):
        _within_row(U, C, k, out)
        _within_row(U, C, n - 1 - k, out)  # the middle row of an odd n twice: same values


@njit(cache=True, nogil=True, boundscheck=False)
def within_rows_serial(U, C, out):  # pragma: no cover - compiled
    """:func:`within_rows` in the calling thread (small matrices: no thread start-up)."""
    for i in range(U.shape[0]):
        _within_row(U, C, i, out)


@njit(cache=True, nogil=True, boundscheck=False)
def _within_row(U, C, i, out):  # pragma: no cover - compiled
    a = U[i, i + 1 :]
    for p in range(C.shape[0]):
        out[p, i] = _same_label_sum(a, C[p, i + 1 :], C[p, i])


#: Spatial median: step below which the iteration stops, and most iterations (scikit-bio's).
_MEDIAN_EPS = 1e-7
_MEDIAN_ITER = 500


@njit(cache=True, nogil=True, boundscheck=False)
def spatial_median(X, rows, m, y, t, y1):  # pragma: no cover - compiled
    """Spatial median of ``X[rows[:m]]`` into ``y`` (Vardi & Zhang's modified Weiszfeld).

    Starts at the mean; a point closer than the tolerance to the estimate is dropped
    from the weights and counted in ``eta`` (the Vardi–Zhang correction); stops when an
    update moves the estimate by less than the tolerance (the estimate before that
    update is returned), when every point sits on the estimate, or after the maximum
    number of iterations.
    """
    k = X.shape[1]
    eps = _MEDIAN_EPS
    # the group's points, gathered once: every iteration then streams a contiguous array
    G = np.empty((m, k))
    for a in range(m):
        for c in range(k):
            G[a, c] = X[rows[a], c]
    for c in range(k):
        y[c] = 0.0
    for a in range(m):
        for c in range(k):
            y[c] += G[a, c]
    for c in range(k):
        y[c] /= m
    if m == 1:
        return
    for _ in range(_MEDIAN_ITER):
        winv = 0.0
        eta = 0
        for c in range(k):
            t[c] = 0.0
        for a in range(m):
            d2 = 0.0
            for c in range(k):
                diff = G[a, c] - y[c]
                d2 += diff * diff
            d = np.sqrt(d2)
            if d > eps:
                w = 1.0 / d
                winv += w
                for c in range(k):
                    t[c] += w * G[a, c]
            else:
                eta += 1
        if eta == m:
            return
        for c in range(k):
            t[c] /= winv
        if eta == 0:
            for c in range(k):
                y1[c] = t[c]
        else:
            r2 = 0.0
            for c in range(k):
                rc = (t[c] - y[c]) * winv
                r2 += rc * rc
            r = np.sqrt(r2)
            rinv = eta / r if r > eps else 0.0
            for c in range(k):
                y1[c] = max(0.0, 1.0 - rinv) * t[c] + min(1.0, rinv) * y[c]
        step2 = 0.0
        for c in range(k):
            diff = y[c] - y1[c]
            step2 += diff * diff
        if np.sqrt(step2) < eps:
            return
        for c in range(k):
            y[c] = y1[c]


@njit(parallel=True, cache=True, nogil=True, boundscheck=False)
def permdisp_stats(X, batch, g, median):  # pragma: no cover - compiled
    """ANOVA F of distances to group centres (means or spatial medians), per labelling."""
    b, n = batch.shape
    k = X.shape[1]
    out = np.empty(b)
    for p in prange(b):
        codes = batch[p]
        counts = np.zeros(g, dtype=np.int64)
        for i in range(n):
            counts[codes[i]] += 1
        start = np.zeros(g + 1, dtype=np.int64)
        for h in range(g):
            start[h + 1] = start[h] + counts[h]
        fill = start[:g].copy()
        rows = np.empty(n, dtype=np.int64)
        for i in range(n):
            h = codes[i]
            rows[fill[h]] = i
            fill[h] += 1
        centre = np.empty((g, k))
        t = np.empty(k)
        y1 = np.empty(k)
        for h in range(g):
            if median:
                spatial_median(X, rows[start[h] :], counts[h], centre[h], t, y1)
            else:
                for c in range(k):
                    centre[h, c] = 0.0
                for a in range(start[h], start[h + 1]):
                    for c in range(k):
                        centre[h, c] += X[rows[a], c]
                for c in range(k):
                    centre[h, c] /= counts[h]
        z = np.empty(n)
        zsum = np.zeros(g)
        for i in range(n):
            h = codes[i]
            d2 = 0.0
            for c in range(k):
                diff = X[i, c] - centre[h, c]
                d2 += diff * diff
            z[i] = np.sqrt(d2)
            zsum[h] += z[i]
        grand = zsum.sum() / n
        ss_b = 0.0
        for h in range(g):
            mh = zsum[h] / counts[h]
            ss_b += counts[h] * (mh - grand) ** 2
            zsum[h] = mh
        ss_w = 0.0
        for i in range(n):
            diff = z[i] - zsum[codes[i]]
            ss_w += diff * diff
        out[p] = (ss_b / (g - 1)) / (ss_w / (n - g))
    return out
