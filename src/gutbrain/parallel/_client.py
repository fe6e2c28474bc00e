"""Dask clients for gutbrain: start/attach one, resolve the one to use, map tasks over it.

Nothing here imports Dask at module import time: ``import gutbrain`` stays cheap and
works without the ``dask`` extra; the functions import ``distributed`` when called.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._errors import ClusterError, DataValueError

__all__ = ["CONNECT_TIMEOUT", "SCHEDULER_ENV", "connect", "dask_client", "n_threads"]

#: Environment variable read by :func:`dask_client` (and by every ``*_dask`` function
#: called with ``client=None`` and no active client) for a scheduler address.
SCHEDULER_ENV = "GUTBRAIN_DASK_SCHEDULER"
#: Seconds to wait for a scheduler to answer before :class:`~gutbrain.ClusterError`.
CONNECT_TIMEOUT = 10.0


def connect(address: str, *, timeout: float | None = None, set_as_default: bool = True) -> Any:
    """A :class:`distributed.Client` of the scheduler at ``address``, or a one-line error.

    Parameters
    ----------
    address
        ``"tcp://host:8786"`` (or any address ``distributed.Client`` accepts).
    timeout
        Seconds to wait for the scheduler (default :data:`CONNECT_TIMEOUT`).
    set_as_default
        Make the client the default one (``distributed``'s own default).

    Returns
    -------
    distributed.Client

    Raises
    ------
    gutbrain.ClusterError
        The scheduler did not answer within ``timeout`` seconds (or refused the connection).
    """
    distributed = _distributed()
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=set_as_default)
    except (OSError, TimeoutError) as e:  # distributed raises OSError("Timed out trying to connect ...")
        raise ClusterError(
            f"the Dask scheduler at {address} did not answer within {timeout:g} s ({type(e).__name__})",
            fix=(f"start it (`dask scheduler`, a dask-jobqueue or Kubernetes cluster) or correct the "
                 f"address given with --dask / {SCHEDULER_ENV}"),
        ) from None


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as e:  # pragma: no cover - depends on the environment
        e.add_note("gutbrain.parallel needs Dask: pip install 'gutbrain[dask]'")
        raise
    return distributed


@contextmanager
def dask_client(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
    host: str = "127.0.0.1",
    **cluster_kwargs: Any,
) -> Iterator[Any]:
    """Connect to a Dask scheduler, or start a local cluster, for the duration of a block.

    Parameters
    ----------
    address
        Scheduler address of an existing cluster (``"tcp://10.0.0.5:8786"``, a
        ``dask-scheduler`` / ``dask-jobqueue`` / Kubernetes cluster). Default: the
        ``GUTBRAIN_DASK_SCHEDULER`` environment variable, else a new
        :class:`distributed.LocalCluster` on this machine.
    n_workers, threads_per_worker, processes, host
        Local cluster only: number of workers (default: one per core), threads per
        worker (1: gutbrain's kernels are already vectorised), separate worker
        processes (``False``: threads in this process, quick to start), and the
        interface the scheduler binds to (loopback by default: nothing is exposed).
    **cluster_kwargs
        Passed on to :class:`distributed.LocalCluster` (e.g. ``memory_limit``).

    Yields
    ------
    distributed.Client
        Set as the default client, so ``gb.parallel.*_dask(..., client=None)`` uses it.
        The client (and a local cluster started here) is closed when the block ends.

    Examples
    --------
    >>> import gutbrain as gb
    >>> with gb.parallel.dask_client(n_workers=2) as client:  # doctest: +SKIP
    ...     d = gb.parallel.beta_dask(X, "braycurtis", client=client)
    """
    distributed = _distributed()
    address = address or os.environ.get(SCHEDULER_ENV) or None
    if address is not None:
        client = connect(address)
        try:
            yield client
        finally:
            client.close()
        return
    # dashboard (when bokeh is installed) and health routes on a free port of ``host``
    cluster_kwargs.setdefault("dashboard_address", f"{host}:0")
    cluster_kwargs.setdefault("protocol", "tcp://")  # threads too: inproc:// cannot take a host
    cluster = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        host=host,
        **cluster_kwargs,
    )
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


@contextmanager
def _resolve(client: Any) -> Iterator[Any]:
    """The client to use: the one given, an address, the active one, or ``$GUTBRAIN_DASK_SCHEDULER``."""
    distributed = _distributed()
    if isinstance(client, distributed.Client):
        yield client
        return
    if client is not None and not isinstance(client, str):
        raise DataValueError(
            f"client must be a distributed.Client, a scheduler address or None, not {type(client).__name__}",
            fix="pass client=gb.parallel.dask_client() (inside a with block) or a 'tcp://host:port' address",
        )
    address = client
    if address is None:
        try:
            active = distributed.default_client()
        except ValueError:
            address = os.environ.get(SCHEDULER_ENV)
            if not address:
                raise DataValueError(
                    "no Dask client is active",
                    fix=(
                        "run inside `with gb.parallel.dask_client():`, pass client= (a Client or a "
                        f"scheduler address) or set {SCHEDULER_ENV}"
                    ),
                ) from None
        else:
            yield active
            return
    c = connect(address, set_as_default=False)  # our own connection: closed on exit
    try:
        yield c
    finally:
        c.close()


def n_threads(client: Any) -> int:
    """Total worker threads of a client's cluster (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # pragma: no cover - scheduler unreachable: fall back to one
        return 1


def _map(
    client: Any,
    fn: Callable[..., Any],
    shared: Sequence[Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    key: str,
) -> list[Any]:
    """Run ``fn(*shared, *task)`` for every task on the cluster; results in task order.

    ``shared`` objects are scattered once to every worker (broadcast), so each task
    only ships its own small arguments.  On any failure the remaining tasks are
    cancelled and the first worker exception is raised here.
    """
    tag = uuid.uuid4().hex[:12]
    shared_f = client.scatter(list(shared), broadcast=True, hash=False) if shared else []
    futures = [
        client.submit(fn, *shared_f, *task, key=f"gutbrain-{key}-{tag}-{i}", pure=False)
        for i, task in enumerate(tasks)
    ]
    try:
        return list(client.gather(futures))
    finally:
        client.cancel([*futures, *shared_f])
