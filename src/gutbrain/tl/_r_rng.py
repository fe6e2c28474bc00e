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
from R's state; Φ⁻¹ is :func:`scipy.special.ndtri` (R uses Wichura's AS 241; both are
accurate to a few units in the last place).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["RStream"]

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

    def rnorm(self, n: int) -> np.ndarray:
        """``n`` standard normal draws of R's ``norm_rand`` (inversion)."""
        u = self.runif(2 * int(n)).reshape(-1, 2)
        v = np.floor(_BIG * u[:, 0]) + u[:, 1]
        return special.ndtri(v / _BIG)

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
