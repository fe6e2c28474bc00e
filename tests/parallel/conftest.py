"""A two-worker Dask cluster in this process, on the loopback interface, for the module."""

from __future__ import annotations

import pytest

distributed = pytest.importorskip("distributed", reason="needs the dask extra: pip install 'gutbrain[dask]'")


@pytest.fixture(scope="session")
def dask_cluster():
    """LocalCluster: 2 workers × 1 thread, threads of this process, TCP on 127.0.0.1.

    TCP (not ``inproc://``) so that tasks and their arguments are serialised as they are
    on a real cluster.
    """
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address="127.0.0.1:0",  # HTTP routes on a free loopback port
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def client(dask_cluster):
    """A client of :func:`dask_cluster` that is *not* the default client."""
    c = distributed.Client(dask_cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
