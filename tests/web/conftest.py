"""Fixtures of the web app tests: a small cohort, clients, and waiting for jobs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

#: Every test client talks to the app as a browser on this computer would.
BASE = "http://127.0.0.1:8765"
GENERA = ["Faecalibacterium", "Roseburia", "Bacteroides", "Prevotella", "Eggerthella",
          "Streptococcus", "Veillonella", "Blautia", "Akkermansia", "Butyricimonas"]


@pytest.fixture(scope="session")
def cohort():
    """A small counts table (genera × samples, TSV bytes) and its metadata, built here."""
    rng = np.random.default_rng(7)
    samples = [f"S{i:02d}" for i in range(12)]
    counts = pd.DataFrame(rng.poisson(400, (len(GENERA), len(samples))), index=GENERA,
                          columns=samples)
    counts.index.name = "feature_id"
    meta = pd.DataFrame({"sample_id": samples, "diagnosis": ["pain"] * 6 + ["control"] * 6,
                         "age": rng.integers(20, 70, len(samples)), "site": ["A"] * 12})
    return counts, counts.to_csv(sep="\t").encode(), meta.to_csv(sep="\t", index=False).encode()


def wait_job(client, job_id: str, timeout: float = 240.0, until=("done", "failed")) -> dict:
    """Poll ``GET /api/jobs/{id}`` until the job's status is in ``until``."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        time.sleep(0.2)


def one_line_error(resp, status=400) -> str:
    """The ``error`` of a JSON error response, checked to be one line without a traceback."""
    assert resp.status_code == status, resp.text[:500]
    msg = resp.json()["error"]
    assert "\n" not in msg and "Traceback" not in msg
    return msg
