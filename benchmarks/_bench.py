"""Shared helpers of the benchmark scripts: timing, memory, and the rows of ``make bench``.

Every script prints its own detailed output and, for each comparison, calls
:func:`record` with one summary row. When ``GUTBRAIN_BENCH_RESULTS`` names a file (set by
``benchmarks/run_all.py``), the rows are appended to it as JSON lines and ``run_all.py``
prints them as one table: work, size, peer, peer time, gutbrain time, ratio, floor.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

#: Environment variable naming the JSON-lines file the rows are appended to.
RESULTS_ENV = "GUTBRAIN_BENCH_RESULTS"


def record(
    work: str,
    size: str,
    peer: str | None,
    peer_s: float | None,
    gutbrain_s: float,
    *,
    floor: str | None = None,
    floor_s: float | None = None,
    strict: str | None = None,
    strict_s: float | None = None,
    note: str = "",
) -> None:
    """Append one summary row (seconds) to ``$GUTBRAIN_BENCH_RESULTS`` when it is set.

    ``ratio`` is ``peer_s / gutbrain_s`` (> 1: gutbrain is faster); ``floor_ratio`` is
    ``gutbrain_s / floor_s`` (1.0: at the floor; the floor is the fastest simple
    implementation of the same arithmetic, written in the script, or the floor as an
    issue defines it). ``strict`` / ``strict_s``: a stricter floor (less arithmetic than
    the defined one, e.g. exploiting symmetry), shown in its own columns.
    """
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    row = {
        "work": work,
        "size": size,
        "peer": peer,
        "peer_s": peer_s,
        "gutbrain_s": gutbrain_s,
        "ratio": (peer_s / gutbrain_s) if peer_s and gutbrain_s else None,
        "floor": floor,
        "floor_s": floor_s,
        "floor_ratio": (gutbrain_s / floor_s) if floor_s and gutbrain_s else None,
        "strict": strict,
        "strict_s": strict_s,
        "strict_ratio": (gutbrain_s / strict_s) if strict_s and gutbrain_s else None,
        "note": note,
        "load": os.getloadavg()[0],
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], Any], *, trace: bool = True) -> tuple[Any, float, float, float]:
    """Run ``fn`` once: result, wall seconds, peak traced MiB, peak RSS growth MiB.

    ``trace=False`` skips tracemalloc (which slows allocation-heavy code); the traced
    peak is then reported as NaN.
    """
    base = _rss()
    peak_rss = [base]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.005):
            peak_rss[0] = max(peak_rss[0], _rss())

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out = fn()
        dt = time.perf_counter() - t0
    finally:
        peak = tracemalloc.get_traced_memory()[1] if trace else float("nan")
        if trace:
            tracemalloc.stop()
        done.set()
        th.join()
    peak_rss[0] = max(peak_rss[0], _rss())
    return out, dt, peak / 2**20, (peak_rss[0] - base) / 2**20


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """Last result and median wall time of ``repeat`` runs."""
    times = []
    out = None
    for _ in range(max(1, repeat)):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def machine() -> str:
    """One line: CPU model, cores, load, numpy/scipy/numba versions and the BLAS in use."""
    import platform

    import numpy as np

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    parts = [f"{cpu}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", f"numpy {np.__version__}"]
    try:
        import scipy

        parts.append(f"scipy {scipy.__version__}")
    except ImportError:  # pragma: no cover
        pass
    try:
        import numba

        parts.append(f"numba {numba.__version__} ({numba.get_num_threads()} threads)")
    except ImportError:  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = sorted({f"{i.get('internal_api')} {i['num_threads']} threads"
                       for i in threadpool_info() if i.get("user_api") == "blas"})
        parts.append("BLAS " + ", ".join(blas))
    except ImportError:  # pragma: no cover
        pass
    return "; ".join(parts)
