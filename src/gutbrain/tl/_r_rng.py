"""R's default random-number stream (``set.seed``, ``runif``, ``rnorm``) in NumPy.

MaAsLin 3's median comparison estimates a covariance by Monte Carlo with ``rnorm``,
so its p-values depend on R's random stream.  To give the numbers R gives after
``set.seed(k)``, gutbrain reproduces R's default generators (R ≥ 3.6:
``RNGkind("Mersenne-Twister", "Inversion", "Rejection")``), as documented in R's
``?RNGkind`` and ``?set.seed``:

* ``set.seed(k)`` scrambles the integer seed with the linear congruential map
  ``s ← 69069·s + 1 (mod 2³²)`` — 50 times, then once more for each of the 625 words
  of the Mersenne-Twister state (the first word is the position, reset to 624 so the
  first draw regenerates the state);
* ``unif_rand`` is the 32-bit Mersenne-Twister output (Matsumoto & Nishimura 1998,
  ACM TOMACS 8:3–30, doi:10.1145/272991.272995) times 2⁻³², with 0 mapped into the
  open interval;
* ``norm_rand`` by inversion uses two uniforms for 2⁻⁵⁷ resolution:
  ``u = ⌊2²⁷·u₁⌋ + u₂``, ``z = Φ⁻¹(u / 2²⁷)``;
* ``rnorm(n, mean, sd)`` returns ``mean`` without drawing when ``sd == 0`` and NaN
  without drawing when ``sd`` is not finite or negative.

The bit generator is NumPy's MT19937 (the same recurrence and tempering), started
from R's state; Φ⁻¹ is Wichura's AS 241 (``PPND16``; Wichura 1988, Appl Stat 37:477–484,
doi:10.2307/2347330) — the algorithm of R's ``qnorm`` — compiled with numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["RStream", "median_mc_cov", "qnorm"]

_I2_32M1 = 2.328306437080797e-10  # 1 / (2³² − 1), R's fixup constant
_TWO_M32 = 2.3283064365386963e-10  # 2⁻³²
_BIG = 134217728.0  # 2²⁷


def _mt_state_from_seed(seed: int) -> np.ndarray:
    """The 624-word Mersenne-Twister state R sets with ``set.seed(seed)``."""
    s = int(seed) & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    words = np.empty(625, dtype=np.uint32)
    for j in range(625):
        s = (69069 * s + 1) & 0xFFFFFFFF
        words[j] = s
    return words[1:]  # words[0] is the position slot, reset to 624


class RStream:
    """A random stream that equals R's after ``set.seed(seed)``.

    Parameters
    ----------
    seed
        The integer given to R's ``set.seed``.

    Examples
    --------
    >>> r = RStream(1)
    >>> [round(float(x), 7) for x in r.runif(3)]
    [0.2655087, 0.3721239, 0.5728534]
    >>> [round(float(x), 7) for x in RStream(1).rnorm(3)]
    [-0.6264538, 0.1836433, -0.8356286]
    """

    def __init__(self, seed: int) -> None:
        self._bg = np.random.MT19937()
        self._bg.state = {
            "bit_generator": "MT19937",
            "state": {"key": _mt_state_from_seed(seed), "pos": 624},
        }

    def runif(self, n: int) -> np.ndarray:
        """``n`` draws of R's ``unif_rand`` (open interval (0, 1))."""
        raw = self._bg.random_raw(int(n)).astype(np.float64)
        u = raw * _TWO_M32
        u[u <= 0.0] = 0.5 * _I2_32M1
        return u

    def raw(self, n: int) -> np.ndarray:
        """``n`` raw 32-bit Mersenne-Twister outputs (R's ``MT_genrand`` before scaling)."""
        return self._bg.random_raw(int(n)).astype(np.uint32)

    def rnorm(self, n: int) -> np.ndarray:
        """``n`` standard normal draws of R's ``norm_rand`` (inversion)."""
        return _normals_from_raw(self.raw(2 * int(n)))

    def rnorm_rows(self, n_rows: int, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """``n_rows`` repetitions of R's ``rnorm(length(mean), mean, sd)``.

        Row ``r`` equals the ``r``-th call in R (``replicate(n_rows, rnorm(...))``
        transposed); entries with ``sd == 0`` are ``mean`` and entries with a
        non-finite or negative ``sd`` (or non-finite ``mean``) are NaN, neither
        consuming random numbers, as in R.
        """
        mean = np.asarray(mean, dtype=np.float64)
        sd = np.asarray(sd, dtype=np.float64)
        bad = ~np.isfinite(sd) | (sd < 0) | np.isnan(mean)
        const = ~bad & ((sd == 0) | ~np.isfinite(mean))
        draw = ~bad & ~const
        k = int(draw.sum())
        out = np.empty((int(n_rows), mean.size))
        out[:, bad] = np.nan
        out[:, const] = mean[const]
        if k:
            z = self.rnorm(int(n_rows) * k).reshape(int(n_rows), k)
            out[:, draw] = mean[draw] + sd[draw] * z
        return out


# ----------------------------------------------------------------------------------
# compiled kernels
# ----------------------------------------------------------------------------------

# AS 241 (PPND16) coefficients (Wichura 1988, Table 1) are written into _qnorm1 below


@njit(cache=True, inline="always")
def _qnorm1(p):  # pragma: no cover - compiled
    """AS 241 (PPND16) for one ``p`` (R's ``qnorm5`` for 0 < p < 1)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2.5090809287301226727e3 * r + 3.3430575583588128105e4) * r
                    + 6.7265770927008700853e4) * r + 4.5921953931549871457e4) * r
                  + 1.3731693765509461125e4) * r + 1.9715909503065514427e3) * r
                + 1.3314166789178437745e2) * r + 3.3871328727963666080e0)
        den = (((((((5.2264952788528545610e3 * r + 2.8729085735721942674e4) * r
                    + 3.9307895800092710610e4) * r + 2.1213794301586595867e4) * r
                  + 5.3941960214247511077e3) * r + 6.8718700749205790830e2) * r
                + 4.2313330701600911252e1) * r + 1.0)
        return q * num / den
    r = p if q < 0 else 1.0 - p
    r = np.sqrt(-np.log(r))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                    + 2.41780725177450611770e-1) * r + 1.27045825245236838258e0) * r
                  + 3.64784832476320460504e0) * r + 5.76949722146069140550e0) * r
                + 4.63033784615654529590e0) * r + 1.42343711074968357734e0)
        den = (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                    + 1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r
                  + 6.89767334985100004550e-1) * r + 1.67638483018380384940e0) * r
                + 2.05319162663775882187e0) * r + 1.0)
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
                  + 2.96560571828504891230e-1) * r + 1.78482653991729133580e0) * r
                + 5.46378491116411436990e0) * r + 6.65790464350110377720e0)
        den = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                    + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                  + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                + 5.99832206555887937690e-1) * r + 1.0)
    val = num / den
    return -val if q < 0 else val


@njit(cache=True)
def _qnorm_vec(p):  # pragma: no cover - compiled
    out = np.empty(p.size)
    for i in range(p.size):
        out[i] = _qnorm1(p[i])
    return out


def qnorm(p: np.ndarray) -> np.ndarray:
    """Standard normal quantiles by AS 241 (R's ``qnorm`` for ``0 < p < 1``).

    Examples
    --------
    >>> round(float(qnorm(np.array([0.975]))[0]), 6)
    1.959964
    """
    return _qnorm_vec(np.ascontiguousarray(p, dtype=np.float64).ravel()).reshape(np.shape(p))


@njit(cache=True)
def _normals_kernel(raw):  # pragma: no cover - compiled
    n = raw.size // 2
    out = np.empty(n)
    for i in range(n):
        u1 = raw[2 * i] * _TWO_M32
        if u1 <= 0.0:
            u1 = 0.5 * _I2_32M1
        u2 = raw[2 * i + 1] * _TWO_M32
        if u2 <= 0.0:
            u2 = 0.5 * _I2_32M1
        v = np.floor(_BIG * u1) + u2
        out[i] = _qnorm1(v / _BIG)
    return out


def _normals_from_raw(raw: np.ndarray) -> np.ndarray:
    return _normals_kernel(np.ascontiguousarray(raw, dtype=np.uint32))


@njit(cache=True)
def _select(a, k):  # pragma: no cover - compiled
    """k-th smallest of ``a`` (0-based), partial sort in place (Hoare quickselect)."""
    lo = 0
    hi = a.size - 1
    while hi > lo:
        pivot = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@njit(cache=True)
def _sim_chunk(raw, mean, sd, draw_idx, use_idx, sims, med, bufs):  # pragma: no cover - compiled
    n_sims, F = sims.shape
    k = draw_idx.size
    m = use_idx.size
    for s in range(n_sims):
        row = sims[s]
        for j in range(F):
            row[j] = mean[j]
        base = 2 * k * s
        for t in range(k):
            u1 = raw[base + 2 * t] * _TWO_M32
            if u1 <= 0.0:
                u1 = 0.5 * _I2_32M1
            u2 = raw[base + 2 * t + 1] * _TWO_M32
            if u2 <= 0.0:
                u2 = 0.5 * _I2_32M1
            j = draw_idx[t]
            row[j] = mean[j] + sd[j] * _qnorm1((np.floor(_BIG * u1) + u2) / _BIG)
        buf = bufs[s]
        for t in range(m):
            buf[t] = row[use_idx[t]]
        if m % 2 == 1:
            med[s] = _select(buf, m // 2)
        else:
            hi = _select(buf, m // 2)
            lo = buf[0]
            for t in range(1, m // 2):
                if buf[t] > lo:
                    lo = buf[t]
            med[s] = (lo + hi) / 2.0


def median_mc_cov(
    stream: RStream, mean: np.ndarray, sd: np.ndarray, use: np.ndarray, n_sims: int, chunk: int = 1000
) -> np.ndarray:
    """Covariance of each ``N(mean, sd²)`` draw with the median of the ``use`` draws.

    Equals, on R's stream, MaAsLin 3's ``replicate(n_sims, {x <- rnorm(n, mean, sd);
    c(median(x[use]), x)})`` followed by ``cov(x_j, medians)`` for every ``j`` (sample
    covariance, denominator ``n_sims − 1``), without holding all draws in memory.
    """
    mean = np.ascontiguousarray(mean, dtype=np.float64)
    sd = np.ascontiguousarray(sd, dtype=np.float64)
    F = mean.size
    bad = ~np.isfinite(sd) | (sd < 0) | np.isnan(mean)
    draw = ~bad & (sd != 0) & np.isfinite(mean)
    draw_idx = np.flatnonzero(draw).astype(np.int64)
    use_idx = np.flatnonzero(use).astype(np.int64)
    k = draw_idx.size
    # shifted one-pass sums (shift by the means: no cancellation)
    sx = np.zeros(F)
    sm = 0.0
    sxm = np.zeros(F)
    done = 0
    m_shift = float(np.median(mean[use])) if use_idx.size else 0.0
    sims = np.empty((min(chunk, n_sims), F))
    med = np.empty(min(chunk, n_sims))
    bufs = np.empty((min(chunk, n_sims), max(use_idx.size, 1)))
    while done < n_sims:
        b = min(chunk, n_sims - done)
        raw = stream.raw(2 * k * b)
        _sim_chunk(raw, np.where(bad, np.nan, mean), sd, draw_idx, use_idx, sims[:b], med[:b], bufs[:b])
        dx = sims[:b] - mean
        dm = med[:b] - m_shift
        sx += dx.sum(axis=0)
        sm += dm.sum()
        sxm += dm @ dx
        done += b
    cov = (sxm - sx * sm / n_sims) / (n_sims - 1)
    cov[bad] = np.nan
    return cov
