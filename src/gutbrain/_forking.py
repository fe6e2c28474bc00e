"""What the forked workers share: when a fork is safe, and carrying warnings back.

Two places fork helper processes that inherit the data instead of receiving a pickled copy:
the classifier's outer folds (:mod:`gutbrain.ml._cv`) and the report's slowest sections
(:mod:`gutbrain.report._fork`).  Both fork only when :func:`fork_safe` says so, and both
send the warnings their work raised back to the parent, which raises them again with
:func:`reraise_warnings`, so filters act as on a serial run.
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import Any

__all__ = ["fork_safe", "reraise_warnings", "warning_records"]


def fork_safe() -> bool:
    """Whether this process may ``fork`` workers.

    Linux only (macOS's system libraries are not fork-safe); no other Python thread alive
    (a thread holding a lock at fork time would deadlock the child: a web server's, Jupyter's
    or Dask's threads make the callers work serially instead); not a daemonic process (which
    may not have children).
    """
    import multiprocessing as mp

    return (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
            and threading.active_count() == 1 and not mp.current_process().daemon)


def warning_records(caught: list[warnings.WarningMessage]) -> list[tuple[Any, ...]]:
    """Picklable ``(message, category, filename, lineno)`` of warnings caught in a worker."""
    return [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def reraise_warnings(records: list[tuple[Any, ...]]) -> None:
    """Raise a worker's warnings (:func:`warning_records`) in this process, as if raised here.

    Each is attributed to the module that raised it, with that module's registry, so the
    filters (by module, "once per location") act as they would have on a serial run.
    """
    modules: dict[str, Any] = {}
    if records:
        modules = {getattr(m, "__file__", None): m for m in list(sys.modules.values())}
    for message, category, filename, lineno in records:
        module = modules.get(filename)
        registry = None if module is None else module.__dict__.setdefault("__warningregistry__", {})
        warnings.warn_explicit(message, category, filename, lineno,
                               module=None if module is None else module.__name__, registry=registry)
