"""Compiled (numba) kernels for pairwise distances written into a condensed vector.

Every kernel writes straight into the condensed ``n(n-1)/2`` float64 result
(SciPy's ``pdist`` order, ``d(i, j)`` at ``n*i - i*(i+1)/2 + j - i - 1``), so the
memory of a distance computation is that vector, the input and one block.

Dense L1 (:func:`l1_condensed`)
    Bray–Curtis on non-integer data and weighted UniFrac need ``Σ_k |x_ik - x_jk|``,
    which has no matrix-product form. Square tiles of the upper triangle are handed
    out to the threads dynamically; each row ``i`` is paired with two rows ``j`` at a
    time (2 × 1 register blocking). Arithmetic is float64; the sum may be
    re-associated (SIMD), which changes results by a few ulps relative to SciPy.

Dense Bray–Curtis (:func:`braycurtis_dense`)
    ``Σ_k |x_ik - x_jk| = S_i + S_j - 2 Σ_k min(x_ik, x_jk)``: two vector operations
    per feature and pair (``min``, ``add``) instead of three (``sub``, ``abs``,
    ``add``). Square tiles of rows (``tile × K`` values, a few hundred KB, held in L2)
    are paired over the upper triangle and handed to the threads dynamically; inside a
    tile row ``i`` meets four rows ``j`` at once (four SIMD accumulators, row ``i`` read
    once for four pairs) over feature chunks of ``K`` values, and the chunk sums are
    added into a float64 tile accumulator. Integer counts whose row sums are below 2²⁴
    run in float32 (16 SIMD lanes instead of 8): every partial sum is then an integer
    below 2²⁴, so float32 holds it exactly and the quotient is SciPy's bit for bit;
    other data run in float64 (sums re-associated: a few ulps from SciPy).

Sparse Bray–Curtis (:func:`braycurtis_sparse`)
    Microbiome tables are 70–90 % zeros. With ``S_i = Σ_k x_ik``,
    ``Σ_k |x_ik - x_jk| = S_i + S_j - 2 Σ_k min(x_ik, x_jk)`` and ``min`` is zero
    unless both values are non-zero, so the kernel loops over the non-zeros of row
    ``j`` only (CSR) against a block of rows ``i`` held transposed (features ×
    rows, float32) — one SIMD ``min``/``add`` across the block per non-zero of
    ``j``. For integer counts every sum is an exact integer (values < 2²⁴, sums
    < 2⁵³), so the result is the correctly rounded quotient of the same two
    integers SciPy divides: bit-for-bit ``pdist(X, "braycurtis")``. It is used only
    for such data; other data go to the dense kernel (no cancellation).

Blocked products (:func:`gram_block_to_condensed`, :func:`jaccard_block_to_condensed`)
    Aitchison (Euclidean after CLR) and Jaccard (0/1 products) are BLAS products
    ``Z[i0:i1] @ Z[i0:].T`` over row blocks of the upper triangle; these kernels turn
    one block into distances and scatter it into the condensed result in one pass.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "braycurtis_dense",
    "braycurtis_sparse",
    "dense_to_csr",
    "gram_block_to_condensed",
    "integer_valued",
    "jaccard_block_to_condensed",
    "l1_condensed",
    "sqrt_block_to_condensed",
]

_FASTMATH = {"reassoc", "nsz", "contract"}
#: ``min`` as one SIMD instruction needs "no NaN" (the inputs are checked to be finite).
_FASTMATH_MIN = {"reassoc", "nsz", "contract", "nnan", "ninf"}
#: Rows per tile side of the dense kernel (2 × 64 rows × 2,000 features × 8 B = 2 MB).
TILE = 64
#: Rows of ``i`` per block of the sparse Bray–Curtis kernel: the transposed block is
#: ``F × 128`` float32 (1 MB at F = 2,000, one core's L2); 128 rows = 16 AVX-512 lanes × 8.
BC_ROWS = 128
#: Columns ``j`` per tile of the sparse Bray–Curtis kernel (tiles balance the threads).
BC_COLS = 1024
#: Largest value the float32 transposed block holds exactly.
F32_EXACT = 2.0**24


# ---------------------------------------------------------------- dense L1


@njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True)
def _l1_tiles(X, den, divide, ti, tj, tile, out):  # pragma: no cover - compiled
    n, f = X.shape
    for t in prange(ti.size):
        i0 = ti[t] * tile
        j0 = tj[t] * tile
        i1 = min(i0 + tile, n)
        j1 = min(j0 + tile, n)
        for i in range(i0, i1):
            base = n * i - (i * (i + 1)) // 2 - i - 1
            j = max(j0, i + 1)
            # two columns at a time: row i is read once for two pairs
            while j + 1 < j1:
                s0 = 0.0
                s1 = 0.0
                for k in range(f):
                    x = X[i, k]
                    s0 += abs(x - X[j, k])
                    s1 += abs(x - X[j + 1, k])
                if divide:
                    d0 = den[i] + den[j]
                    d1 = den[i] + den[j + 1]
                    out[base + j] = s0 / d0 if d0 != 0.0 else np.nan
                    out[base + j + 1] = s1 / d1 if d1 != 0.0 else np.nan
                else:
                    out[base + j] = s0
                    out[base + j + 1] = s1
                j += 2
            if j < j1:
                s0 = 0.0
                for k in range(f):
                    s0 += abs(X[i, k] - X[j, k])
                if divide:
                    d0 = den[i] + den[j]
                    out[base + j] = s0 / d0 if d0 != 0.0 else np.nan
                else:
                    out[base + j] = s0


def _tiles(n: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    nt = (n + tile - 1) // tile
    ii, jj = np.triu_indices(nt)
    # largest tiles (off-diagonal) first for a better dynamic balance
    order = np.argsort(ii == jj, kind="stable")
    return ii[order].astype(np.int64), jj[order].astype(np.int64)


def l1_condensed(
    X: np.ndarray, den: np.ndarray | None = None, *, divide: bool = False, tile: int = TILE
) -> np.ndarray:
    """Condensed ``Σ_k |x_ik - x_jk|`` (optionally divided by ``den_i + den_j``).

    Parameters
    ----------
    X
        Dense samples × features float64 matrix (C-contiguous).
    den
        Per-sample denominators (used when ``divide``); a zero sum gives NaN as in SciPy.
    divide
        Whether to divide each distance by ``den_i + den_j``.
    tile
        Rows per tile.

    Returns
    -------
    numpy.ndarray
        ``n(n-1)/2`` float64 distances in :func:`scipy.spatial.distance.squareform` order.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    if n < 2:
        return out
    d = np.zeros(n) if den is None else np.ascontiguousarray(den, dtype=np.float64)
    ti, tj = _tiles(n, tile)
    with numba.parallel_chunksize(1):  # tiles handed out one at a time (dynamic balance)
        _l1_tiles(X, d, bool(divide), ti, tj, int(tile), out)
    return out


# ---------------------------------------------------------------- dense Bray–Curtis

#: Rows per tile side of the dense Bray–Curtis kernel.
BCD_TILE = 64
#: Features per chunk of the dense Bray–Curtis kernel (64 rows × 1,024 × 8 B = 512 KB).
BCD_K = 1024


@njit(parallel=True, fastmath=_FASTMATH_MIN, cache=True, nogil=True, boundscheck=False)
def _bc_dense_tiles(X, S, zero, ti, tj, tile, kc, out):  # pragma: no cover - compiled
    n, f = X.shape
    for t in prange(ti.size):
        i0 = ti[t] * tile
        j0 = tj[t] * tile
        i1 = min(i0 + tile, n)
        j1 = min(j0 + tile, n)
        acc = np.zeros((tile, tile))  # Σ min over the chunks done, float64
        for k0 in range(0, f, kc):
            k1 = min(k0 + kc, f)
            m = k1 - k0
            for i in range(i0, i1):
                r = i - i0
                xi = X[i, k0:k1]  # 1-D views: the loop over k below is then vectorised
                j = max(j0, i + 1)
                while j + 3 < j1:  # row i against four rows j: four SIMD accumulators
                    xa = X[j, k0:k1]
                    xb = X[j + 1, k0:k1]
                    xc = X[j + 2, k0:k1]
                    xd = X[j + 3, k0:k1]
                    s0 = zero
                    s1 = zero
                    s2 = zero
                    s3 = zero
                    for k in range(m):
                        x = xi[k]
                        a = xa[k]
                        b = xb[k]
                        c = xc[k]
                        d = xd[k]
                        s0 += a if a < x else x
                        s1 += b if b < x else x
                        s2 += c if c < x else x
                        s3 += d if d < x else x
                    c0 = j - j0
                    acc[r, c0] += s0
                    acc[r, c0 + 1] += s1
                    acc[r, c0 + 2] += s2
                    acc[r, c0 + 3] += s3
                    j += 4
                while j < j1:
                    xa = X[j, k0:k1]
                    s0 = zero
                    for k in range(m):
                        x = xi[k]
                        a = xa[k]
                        s0 += a if a < x else x
                    acc[r, j - j0] += s0
                    j += 1
        for i in range(i0, i1):
            base = n * i - (i * (i + 1)) // 2 - i - 1
            for j in range(max(j0, i + 1), j1):
                den = S[i] + S[j]
                out[base + j] = (den - 2.0 * acc[i - i0, j - j0]) / den if den != 0.0 else np.nan


def braycurtis_dense(X: np.ndarray, *, exact_f32: bool = False, tile: int = BCD_TILE, k: int = BCD_K) -> np.ndarray:
    """Condensed Bray–Curtis of a dense non-negative matrix (see module notes).

    Parameters
    ----------
    X
        Samples × features non-negative values.
    exact_f32
        The caller has checked that every value is an integer and every row sum is
        below 2²⁴: compute in float32, exactly (bit-identical to SciPy).
    tile, k
        Rows per tile side and features per chunk.

    Returns
    -------
    numpy.ndarray
        ``n(n-1)/2`` float64 distances (NaN for two empty samples, as SciPy).
    """
    n = X.shape[0]
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    if n < 2:
        return out
    dt = np.float32 if exact_f32 else np.float64
    Xc = np.ascontiguousarray(X, dtype=dt)
    S = Xc.sum(axis=1, dtype=np.float64)
    ti, tj = _tiles(n, tile)
    with numba.parallel_chunksize(1):  # tiles handed out one at a time (dynamic balance)
        _bc_dense_tiles(Xc, S, dt(0), ti, tj, int(tile), int(max(1, k)), out)
    return out


# ---------------------------------------------------------------- helpers


@njit(cache=True, nogil=True)
def integer_valued(a, limit):  # pragma: no cover - compiled
    """Whether every value of the 1-D array ``a`` is an integer below ``limit`` (early exit)."""
    for k in range(a.size):
        v = a[k]
        if not (v < limit and v == np.floor(v)):
            return False
    return True


@njit(cache=True, nogil=True)
def _csr_from_dense(X):  # pragma: no cover - compiled
    n, f = X.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        c = 0
        for k in range(f):
            if X[i, k] != 0.0:
                c += 1
        indptr[i + 1] = indptr[i] + c
    indices = np.empty(indptr[n], dtype=np.int32)
    data = np.empty(indptr[n], dtype=np.float64)
    for i in range(n):
        p = indptr[i]
        for k in range(f):
            v = X[i, k]
            if v != 0.0:
                indices[p] = k
                data[p] = v
                p += 1
    return indptr, indices, data


@njit(cache=True, nogil=True)
def _csr_row_sums(indptr, data):  # pragma: no cover - compiled
    n = indptr.size - 1
    S = np.zeros(n)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p]
        S[i] = s
    return S


def dense_to_csr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (``indptr`` int64, sorted ``indices`` int32, ``data`` float64) of a dense matrix.

    Two passes over ``X`` and no temporaries beyond the CSR arrays themselves.
    """
    return _csr_from_dense(np.ascontiguousarray(X, dtype=np.float64))


# ---------------------------------------------------------------- sparse Bray–Curtis


@njit(parallel=True, fastmath=_FASTMATH, cache=True, nogil=True, boundscheck=False)
def _bc_sparse_tiles(indptr, indices, data, S, n, f, ti, tj, out):  # pragma: no cover - compiled
    B = BC_ROWS
    ub = np.uint64(B)
    for t in prange(ti.size):
        i0 = ti[t] * B
        i1 = min(i0 + B, n)
        j0 = max(tj[t] * BC_COLS, i0 + 1)
        j1 = min(tj[t] * BC_COLS + BC_COLS, n)
        # block of rows i0..i1, transposed: XT[k * B + r] = x[i0 + r, k]
        XT = np.zeros(f * B, dtype=np.float32)
        for r in range(i1 - i0):
            for p in range(indptr[i0 + r], indptr[i0 + r + 1]):
                XT[np.uint64(indices[p]) * ub + np.uint64(r)] = data[p]
        acc = np.empty(B)
        for j in range(j0, j1):
            for r in range(B):
                acc[r] = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                q = np.uint64(indices[p]) * ub
                v = np.float32(data[p])
                for r in range(B):
                    acc[r] += min(XT[q + np.uint64(r)], v)
            for r in range(min(i1, j) - i0):
                i = i0 + r
                den = S[i] + S[j]
                idx = n * i - (i * (i + 1)) // 2 + j - i - 1
                out[idx] = (den - 2.0 * acc[r]) / den if den != 0.0 else np.nan


def braycurtis_sparse(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n: int, f: int) -> np.ndarray:
    """Condensed Bray–Curtis from a CSR matrix of integer counts (see module notes).

    Parameters
    ----------
    indptr, indices, data
        CSR arrays of the samples × features matrix; ``data`` must be integer-valued,
        non-negative and below 2²⁴ (checked by the caller), row sums below 2⁵³.
    n, f
        Number of samples and features.

    Returns
    -------
    numpy.ndarray
        ``n(n-1)/2`` float64 distances, equal bit for bit to ``pdist(X, "braycurtis")``
        (NaN for two empty samples).
    """
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    if n < 2:
        return out
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices)
    data = np.ascontiguousarray(data, dtype=np.float64)
    S = _csr_row_sums(indptr, data)
    nb = (n + BC_ROWS - 1) // BC_ROWS
    ti, tj = [], []
    for b in range(nb):
        first = (b * BC_ROWS + 1) // BC_COLS
        for c in range(first, (n + BC_COLS - 1) // BC_COLS):
            ti.append(b)
            tj.append(c)
    ti_a = np.asarray(ti, dtype=np.int64)
    tj_a = np.asarray(tj, dtype=np.int64)
    with numba.parallel_chunksize(1):
        _bc_sparse_tiles(indptr, indices, data, S, n, f, ti_a, tj_a, out)
    return out


# ---------------------------------------------------------------- blocked products


@njit(fastmath=_FASTMATH, cache=True, nogil=True, boundscheck=False)
def gram_block_to_condensed(G, sq, i0, n, out):  # pragma: no cover - compiled
    """Rows ``i0..`` of ``sqrt(max(‖z_i‖² + ‖z_j‖² - 2 G_ij, 0))`` into ``out`` (j > i).

    ``G`` is the block ``Z[i0:i1] @ Z[i0:].T`` (columns start at ``i0``).
    """
    for r in range(G.shape[0]):
        i = i0 + r
        base = n * i - (i * (i + 1)) // 2 - i - 1
        si = sq[i]
        for c in range(r + 1, G.shape[1]):
            j = i0 + c
            v = si + sq[j] - 2.0 * G[r, c]
            out[base + j] = np.sqrt(v) if v > 0.0 else 0.0


@njit(fastmath=_FASTMATH, cache=True, nogil=True, boundscheck=False)
def sqrt_block_to_condensed(G, i0, n, out):  # pragma: no cover - compiled
    """Rows ``i0..`` of ``sqrt(max(G, 0))`` into ``out`` (j > i); ``G`` holds squared distances."""
    for r in range(G.shape[0]):
        i = i0 + r
        base = n * i - (i * (i + 1)) // 2 - i - 1
        for c in range(r + 1, G.shape[1]):
            v = G[r, c]
            out[base + i0 + c] = np.sqrt(v) if v > 0.0 else 0.0


@njit(cache=True, nogil=True, boundscheck=False)
def jaccard_block_to_condensed(G, cnt, i0, n, out):  # pragma: no cover - compiled
    """Rows ``i0..`` of the Jaccard distance from intersection counts ``G`` (j > i).

    ``d = (|A∪B| - |A∩B|) / |A∪B|`` with ``|A∪B| = |A| + |B| - |A∩B|``; 0 when both
    sets are empty (SciPy). All counts are exact integers in float64, so the quotient
    is the same correctly rounded value SciPy computes.
    """
    for r in range(G.shape[0]):
        i = i0 + r
        base = n * i - (i * (i + 1)) // 2 - i - 1
        ci = cnt[i]
        for c in range(r + 1, G.shape[1]):
            j = i0 + c
            inter = np.float64(G[r, c])
            union = ci + cnt[j] - inter
            out[base + j] = (union - inter) / union if union > 0.0 else 0.0
