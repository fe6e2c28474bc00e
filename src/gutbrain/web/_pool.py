"""Worker processes that run the queued jobs, and the thread that feeds them.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: when one of its workers dies (a
segfault in a native library, the kernel's OOM killer) the whole executor is marked broken
and every other running job fails with it; :class:`multiprocessing.pool.Pool` instead
waits forever for the lost task.  Here each worker is a long-lived ``spawn`` process with
its own pipe, so a dead worker fails only its own job and is replaced, the queue itself
lives in the :class:`~gutbrain.web._store.JobStore` (nothing is lost when the server
stops), and a job can be cancelled by ending its worker.

Workers are ``spawn``-ed (a fresh interpreter: no fork of the server's threads or
sockets), import the analysis stack once, then take one job at a time.  They ignore
SIGINT (Ctrl+C in the terminal stops the server, which then ends them) and exit on
their own when the server process disappears (``kill -9``).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ._store import JobStore

__all__ = ["WorkerPool"]

_STOPPED = ("interrupted: the server was stopped while this job was running. "
            "Fix: submit the job again")


@dataclass
class _Worker:
    process: Any
    conn: Connection
    ready: bool = False
    job: str | None = None
    claim: str | None = None
    started: float = field(default_factory=time.monotonic)


class WorkerPool:
    """``n`` worker processes fed from the job store by one dispatcher thread.

    Parameters
    ----------
    store
        The job store (the queue).
    data_dir
        The app's data folder (``jobs/<id>/`` live there).
    n
        Number of worker processes (jobs run at once); 0 keeps jobs queued (tests).
    """

    def __init__(self, store: JobStore, data_dir: Path, n: int) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self.n = int(n)
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------- public
    def start(self) -> None:
        """Start the dispatcher thread (which starts the workers)."""
        if self.n <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="gutbrain-dispatcher",
                                        daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Tell the dispatcher a job was queued."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def cancel(self, job_id: str, message: str) -> bool:
        """End the worker running ``job_id`` and mark the job failed with ``message``."""
        with self._lock:
            for w in self._workers:
                if w.job == job_id and w.claim is not None:
                    self.store.fail(job_id, message, claim=w.claim)
                    w.job = w.claim = None
                    w.ready = False  # never hand it another job; _collect replaces it
                    w.process.kill()
                    return True
        return False

    def running(self) -> dict[str, int]:
        """Job id → worker pid, for jobs running now."""
        with self._lock:
            return {w.job: w.process.pid for w in self._workers if w.job}

    def ready(self) -> int:
        """Number of workers started and waiting for or running jobs."""
        with self._lock:
            return sum(1 for w in self._workers if w.ready and w.process.is_alive())

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the dispatcher and the workers; running jobs are marked failed (interrupted)."""
        self._stop.set()
        self.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            workers, self._workers = self._workers, []
        for w in workers:
            if w.job and w.claim:
                self.store.fail(w.job, _STOPPED, claim=w.claim)
                w.process.kill()
            else:
                with contextlib.suppress(OSError, BrokenPipeError):
                    w.conn.send(("stop",))
        deadline = time.monotonic() + timeout
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            w.conn.close()
        self._wake_r.close()
        self._wake_w.close()

    # ---------------------------------------------------------------------- dispatcher
    def _spawn(self) -> _Worker:
        from ._runner import worker_main

        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=worker_main, name="gutbrain-worker", daemon=True,
                                 args=(child, str(self.store.path), str(self.data_dir), os.getpid()))
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _loop(self) -> None:
        with self._lock:
            self._workers = [self._spawn() for _ in range(self.n)]
        while not self._stop.is_set():
            self._assign()
            with self._lock:
                handles: list[Any] = [self._wake_r]
                for w in self._workers:
                    handles += [w.conn, w.process.sentinel]
            ready = wait(handles, timeout=1.0)
            if self._stop.is_set():
                return
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError, OSError):
                    while self._wake_r.recv(4096):
                        pass
            self._collect(ready)

    def _assign(self) -> None:
        with self._lock:
            idle = [w for w in self._workers
                    if w.ready and w.job is None and w.process.is_alive()]
            for w in idle:
                claimed = self.store.claim()
                if claimed is None:
                    return
                job, token = claimed
                try:
                    w.conn.send(("job", job["id"], token))
                except (OSError, BrokenPipeError):
                    self.store.fail(job["id"], "the worker process was not reachable. Fix: "
                                    "submit the job again", claim=token)
                    continue
                w.job, w.claim = job["id"], token

    def _collect(self, ready: list[Any]) -> None:
        with self._lock:
            for i, w in enumerate(list(self._workers)):
                if w.conn in ready:
                    try:
                        while w.conn.poll():
                            msg = w.conn.recv()
                            if msg[0] == "ready":
                                w.ready = True
                            elif msg[0] == "done" and msg[1] == w.job:
                                w.job = w.claim = None
                    except (EOFError, OSError):
                        pass
                if not w.process.is_alive():
                    w.process.join(0.1)
                    if w.job and w.claim:
                        code = w.process.exitcode
                        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                        self.store.fail(
                            w.job, f"the worker process running this job stopped unexpectedly "
                            f"({how}; out of memory?). Fix: submit it again with a smaller input, "
                            "or fewer --workers", claim=w.claim)
                    w.conn.close()
                    if not self._stop.is_set():
                        self._workers[i] = self._spawn()
