"""gb.parallel.dask_client: local cluster or an existing scheduler; cheap import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gutbrain as gb
import gutbrain.parallel as gp

distributed = pytest.importorskip("distributed")


def test_local_cluster_is_default_inside_the_block_and_closed_after(monkeypatch):
    monkeypatch.delenv(gp.SCHEDULER_ENV, raising=False)
    X = np.arange(60, dtype=float).reshape(12, 5) % 7
    with gp.dask_client(n_workers=1, processes=False) as c:
        assert distributed.default_client() is c
        assert c.scheduler.address.startswith("tcp://127.0.0.1:")
        assert gp.n_threads(c) == 1
        assert np.array_equal(gp.beta_dask(X, "jaccard"), gb.tl.jaccard(X))
    assert c.status == "closed"


def test_existing_scheduler_from_argument_and_environment(dask_cluster, monkeypatch):
    with gp.dask_client(dask_cluster.scheduler_address) as c:
        assert gp.n_threads(c) == 2
    monkeypatch.setenv(gp.SCHEDULER_ENV, dask_cluster.scheduler_address)
    with gp.dask_client() as c:  # no LocalCluster started: the environment names the scheduler
        assert c.scheduler.address == dask_cluster.scheduler_address
    assert len(dask_cluster.workers) == 2  # the external cluster survives the client
    # with no active client the *_dask functions read the variable too
    X = np.eye(6) + 1
    assert np.array_equal(gp.beta_dask(X, "braycurtis"), gb.tl.braycurtis(X))


def test_import_does_not_load_dask():
    code = "import sys, gutbrain; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
