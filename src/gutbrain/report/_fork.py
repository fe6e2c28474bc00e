"""Draw some report sections in one forked helper process while this process draws the rest.

Figures are most of a report's time, all of it single-threaded matplotlib; the sections are
independent functions of the (read-only) AnnData, so two of them can be drawn beside the
others on a second core.  The helper is a ``fork`` of this process: it inherits the AnnData
and the section functions (nothing is pickled on the way in) and sends back the pickled
:class:`~gutbrain.report.BuiltSection` results and the warnings they raised.

When it is used (:func:`fork_allowed`): Linux, at least two usable cores, and **no other
Python thread alive** — so never in the web app's workers (they run a parent-watch thread),
nor under a live progress bar (its refresh thread), nor in Jupyter or any threaded server —
and (checked by ``collect_sections``) an AnnData in memory, not backed by an open HDF5 file.

Why it cannot deadlock:

- The helper runs only the chosen sections — matplotlib drawing, pandas and NumPy element-wise
  work.  It calls no numba-parallel kernel, no OpenMP region (scikit-learn) and no Dask, so the
  native thread pools the parent may have started (numba, OpenMP, OpenBLAS) are never entered
  in the child; OpenBLAS also resets its pool at fork.
- With no other Python thread alive, no Python-level lock can be held by a thread that does
  not exist in the child; CPython re-initialises the import and logging locks at fork anyway.
  The helper writes nothing to the parent's stdout/stderr (they are replaced by ``/dev/null``)
  and leaves through ``os._exit`` (no atexit handlers, no double flush of inherited buffers).
- Safety net: if the helper has not answered ``TIMEOUT`` seconds after this process finished
  its own sections, or dies, or sends something unreadable, it is killed and its sections are
  drawn here.  The report is the same either way (``tests/test_report_fork.py``).
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .._forking import fork_safe, reraise_warnings, warning_records

__all__ = ["FORKED_SECTIONS", "TIMEOUT", "fork_allowed", "run_split"]

#: Sections drawn by the helper: the two slowest on a large cohort (≈ half the report's CPU
#: on American Gut) and both only draw.
FORKED_SECTIONS = ("gut_brain_indices", "simulation")
#: Seconds the helper may still take after this process finished its own sections.
TIMEOUT = 60.0
#: Set to ``"0"`` to always draw every section in this process.
ENV = "GUTBRAIN_REPORT_FORK"


def fork_allowed() -> bool:
    """Whether the report may draw sections in a forked helper (see the module notes)."""
    if os.environ.get(ENV, "1").strip() in ("0", "false", "no", "off") or not fork_safe():
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2


def _child(fd: int, run: Callable[[list[int]], list[Any]], orders: list[int]) -> None:
    """Body of the helper process: run the sections, send the results, exit."""
    try:
        devnull = open(os.devnull, "w")  # lives until os._exit
        sys.stdout = sys.stderr = devnull
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            built = run(orders)
        payload = pickle.dumps(("ok", built, warning_records(caught)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # anything goes back to the parent as a failure
        payload = pickle.dumps(("failed", repr(exc), []))
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os._exit(0)


def _receive(pid: int, fd: int, deadline: float) -> tuple[str, Any, list[Any]] | None:
    """Read the helper's answer until ``deadline`` (monotonic); ``None`` when it did not come."""
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        answer = pickle.loads(b"".join(chunks))
        return answer if isinstance(answer, tuple) and len(answer) == 3 and answer[0] == "ok" else None
    except Exception:  # an unreadable answer means: draw those sections here
        return None
    finally:
        os.close(fd)
        _reap(pid)


def _reap(pid: int) -> None:
    try:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass


def run_split(keys: Sequence[str], run: Callable[[list[int]], list[Any]]) -> list[Any]:
    """``run(orders)`` for all section positions, those in :data:`FORKED_SECTIONS` in a helper.

    ``run`` takes section positions and returns their results (objects with an ``order``);
    the results come back sorted by ``order``.  Falls back to ``run`` here for the helper's
    share when the helper fails or times out (see the module notes).
    """
    forked = [i for i, k in enumerate(keys) if k in FORKED_SECTIONS]
    here = [i for i in range(len(keys)) if i not in forked]
    if not forked or not here:
        return run(list(range(len(keys))))
    import matplotlib.pyplot  # noqa: F401 - imported once here, inherited by the helper

    read_fd, write_fd = os.pipe()
    gc.freeze()  # the helper's collector then leaves the inherited heap alone (no copy-on-write)
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        gc.unfreeze()
        return run(list(range(len(keys))))
    if pid == 0:  # pragma: no cover - the helper's coverage is not collected
        os.close(read_fd)
        _child(write_fd, run, forked)
    gc.unfreeze()
    os.close(write_fd)
    try:
        built = run(here)
    except BaseException:  # e.g. Ctrl-C: leave no helper behind
        os.close(read_fd)
        _reap(pid)
        raise
    answer = _receive(pid, read_fd, time.monotonic() + TIMEOUT)
    if answer is None:
        built += run(forked)
    else:
        _, theirs, sent = answer
        reraise_warnings(sent)
        built += theirs
    return sorted(built, key=lambda b: b.order)
