"""Row-block parallelism over BLAS: one worker thread per BLAS thread, BLAS single-threaded.

A multi-threaded BLAS call waits for its slowest thread at every synchronisation point, and
LAPACK routines on small matrices synchronise often: when another process takes a core,
such calls can run 10–100× slower than their single-threaded versions. gutbrain's large
products (distance blocks, ``B V`` in PCoA, ``A W`` in PERMANOVA) are therefore cut into
blocks of rows that independent worker threads multiply with a single-threaded BLAS (the
GIL is released inside BLAS and numba kernels), while the small dense algebra around them
(QR, small eigenproblems) runs single-threaded in the calling thread.

``with blas_blocks() as blocks: blocks.map(n, rows, work)`` calls ``work(i0, i1)`` for each
block; BLAS is limited to one thread inside the ``with`` block (``threadpoolctl``) and
restored on exit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["BlasBlocks", "blas_blocks"]


class BlasBlocks:
    """Runs row-block work on ``workers`` threads (see the module notes)."""

    def __init__(self, workers: int, executor: ThreadPoolExecutor | None) -> None:
        self.workers = workers
        self._ex = executor

    def map(self, n: int, rows: int, work: Callable[[int, int], Any]) -> list[Any]:
        """``[work(i0, i1) for each block]`` of ``rows`` rows (in block order)."""
        starts = range(0, n, max(1, int(rows)))
        if self._ex is None or len(starts) < 2:
            return [work(i0, min(n, i0 + rows)) for i0 in starts]
        return list(self._ex.map(lambda i0: work(i0, min(n, i0 + rows)), starts))

    def matmul(self, A: np.ndarray, V: np.ndarray) -> np.ndarray:
        """``A @ V`` with the rows of ``A`` split across the workers."""
        out = np.empty((A.shape[0], V.shape[1]), dtype=np.result_type(A, V))
        if self._ex is None:
            np.matmul(A, V, out=out)
            return out
        rows = -(-A.shape[0] // (2 * self.workers))  # two blocks per worker: balance

        def work(i0: int, i1: int) -> None:
            np.matmul(A[i0:i1], V, out=out[i0:i1])

        self.map(A.shape[0], rows, work)
        return out


#: ``(controller or False, len(sys.modules) when it scanned)``.
_CONTROLLER: tuple[Any, int] | None = None


def _controller() -> Any:
    """A ``threadpoolctl.ThreadpoolController`` (``None`` without threadpoolctl), cached.

    Scanning the loaded libraries takes milliseconds (``threadpool_info`` reads
    ``/proc/self/maps`` and probes every library); the controller scans once, after
    SciPy's BLAS is loaded (NumPy's is loaded with NumPy), and then answers the thread
    counts and sets the limits of those libraries in microseconds. A library can only be
    loaded by an import, so the scan is repeated when ``sys.modules`` has grown since.
    """
    global _CONTROLLER
    if _CONTROLLER is None or _CONTROLLER[1] != len(sys.modules):
        try:
            import scipy.linalg  # noqa: F401  - load SciPy's BLAS before the scan
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
            _CONTROLLER = (False, len(sys.modules))
        else:
            _CONTROLLER = (ThreadpoolController(), len(sys.modules))
    return _CONTROLLER[0] or None


@contextmanager
def blas_blocks(parallel: bool = True) -> Iterator[BlasBlocks]:
    """Worker threads for row blocks, one per BLAS thread; BLAS single-threaded inside.

    Parameters
    ----------
    parallel
        ``False`` runs every block in the calling thread (small jobs), BLAS untouched.
    """
    limiter: Any = None
    ctl = _controller() if parallel else None
    if ctl is not None:
        blas = ctl.select(user_api="blas")
        workers = max((i["num_threads"] for i in blas.info()), default=1)
        if workers > 1:
            limiter = blas.limit(limits=1)
    if limiter is None:
        yield BlasBlocks(1, None)
        return
    try:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            yield BlasBlocks(workers, ex)
    finally:
        limiter.restore_original_limits()
