"""``gutbrain da --dask SCHEDULER``: a lazily read .zarr / .h5ad table on a cluster, same table out."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

import gutbrain as gb
import gutbrain.parallel as gp
from gutbrain.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:Writing zarr v2")


@pytest.fixture
def files(tmp_path):
    a = gb.datasets.demo_cohort(seed=1)
    a.write_zarr(tmp_path / "cohort.zarr")
    gb.io.write_h5ad(a, tmp_path / "cohort.h5ad")
    meta = a.obs[["group", "age"]].reset_index(names="sample-id")
    meta.to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    return tmp_path


def _run(args):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code


@pytest.mark.parametrize("name", ["cohort.zarr", "cohort.h5ad"])
def test_cli_dask_equals_in_process(files, dask_cluster, name):
    base = ["da", str(files / name), "-m", str(files / "meta.tsv"), "-f", "~ group + age"]
    assert _run([*base, "-o", str(files / "ref.tsv")]) == 0
    assert _run([*base, "-o", str(files / "dask.tsv"), "--dask", dask_cluster.scheduler_address]) == 0
    ref, res = (pd.read_csv(files / f, sep="\t").sort_values(["feature", "metadata", "value"]).reset_index(drop=True)
                for f in ("ref.tsv", "dask.tsv"))
    assert res[["feature", "metadata", "value", "N", "N.not.0"]].equals(ref[["feature", "metadata", "value", "N", "N.not.0"]])
    for col in ("coef", "stderr", "pval", "qval"):
        np.testing.assert_allclose(res[col], ref[col], rtol=1e-9, atol=1e-300, err_msg=col)


def test_cli_dask_unreachable_scheduler_is_one_line(files, capsys, monkeypatch):
    monkeypatch.setattr(gp._client, "CONNECT_TIMEOUT", 2.0)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code = _run(["da", str(files / "cohort.zarr"), "-m", str(files / "meta.tsv"), "-f", "~ group",
                 "-o", str(files / "x.tsv"), "--dask", f"tcp://127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "did not answer within 2 s" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (files / "x.tsv").exists()
