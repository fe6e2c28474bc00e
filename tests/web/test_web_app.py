"""The local web app (gutbrain.web) through fastapi.testclient, in-process (no server)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gutbrain.web import create_app, safe_filename
from gutbrain.web._names import SAFE_PART

CCI_DOI = "10.1186/s13041-021-00765-y"  # Chen et al. 2021, Mol Brain: rat CCI model
GENERA = ["Faecalibacterium", "Roseburia", "Bacteroides", "Prevotella", "Eggerthella",
          "Streptococcus", "Veillonella", "Blautia", "Akkermansia", "Butyricimonas"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("webdata")
    app = create_app(data_dir=data, kb_dir=tmp_path_factory.mktemp("kb"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, data


@pytest.fixture(scope="module")
def cohort():
    """A small counts table (genera × samples, TSV) and its metadata, built here."""
    rng = np.random.default_rng(7)
    samples = [f"S{i:02d}" for i in range(12)]
    counts = pd.DataFrame(rng.poisson(400, (len(GENERA), len(samples))), index=GENERA,
                          columns=samples)
    counts.index.name = "feature_id"
    meta = pd.DataFrame({"sample_id": samples, "diagnosis": ["pain"] * 6 + ["control"] * 6,
                         "age": rng.integers(20, 70, len(samples))})
    return counts, counts.to_csv(sep="\t").encode(), meta.to_csv(sep="\t", index=False).encode()


def _jobs(data):
    return sorted(p.name for p in (data / "jobs").iterdir())


def _one_line_error(resp, status=400):
    assert resp.status_code == status, resp.text[:500]
    msg = resp.json()["error"]
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ------------------------------------------------------------------------------------- pages
def test_pages_render_offline_with_disclaimer(env):
    client, _ = env
    home = client.get("/")
    assert home.status_code == 200
    assert "Research software, not medical advice." in home.text
    for path in ("/", "/analyse", "/demo", "/evidence", "/simulate", "/api"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "not medical advice" in r.text
        # no external scripts/styles/fonts: every src/stylesheet is local
        for m in re.finditer(r'<(?:script|link|img)\b[^>]*(?:src|href)="([^"]+)"', r.text):
            assert not m.group(1).startswith(("http:", "https:", "//")), (path, m.group(0))
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/run", "/api/demo", "/api/evidence", "/api/simulate/lps", "/api/inspect"} <= set(paths)


def test_default_data_dir_is_temporary_and_removed_on_shutdown():
    app = create_app()
    data = app.state.settings.data_dir
    with TestClient(app) as client:
        assert client.get("/api/health").json()["status"] == "ok"
        assert (data / "jobs").is_dir()
        assert client.get("/api/jobs/0123456789abcdef0123456789abcdef").status_code == 404
    assert not data.exists()


# -------------------------------------------------------------------------------------- demo
def test_demo_run_serves_synthetic_report_and_data(env):
    import anndata

    import gutbrain as gb

    client, _ = env
    expected = gb.datasets.demo_cohort(0)
    r = client.post("/api/demo", json={"seed": 0})
    assert r.status_code == 200, r.text[:500]
    job = r.json()
    assert job["synthetic"] is True and job["kind"] == "demo"
    assert (job["samples"], job["features"]) == expected.shape == (200, 300)
    counts = expected.obs["group"].astype(str).value_counts().to_dict()
    assert job["group_sizes"] == counts
    report = client.get(job["report_url"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "SYNTHETIC DATA" in report.text and "200 samples × 300 features" in report.text
    assert "default-src 'none'" in report.headers["content-security-policy"]
    # the downloaded record is the analysed cohort: same counts as the library's demo
    h5 = client.get(job["file_urls"]["gutbrain.h5ad"])
    assert h5.status_code == 200
    path = env[1] / "dl.h5ad"
    path.write_bytes(h5.content)
    ad = anndata.read_h5ad(path)
    got = pd.DataFrame(np.asarray(ad.X.todense() if hasattr(ad.X, "todense") else ad.X),
                       index=ad.obs_names, columns=ad.var_names)
    want = pd.DataFrame(np.asarray(expected.X.todense() if hasattr(expected.X, "todense") else expected.X),
                        index=expected.obs_names, columns=expected.var_names)
    pd.testing.assert_frame_equal(got.loc[want.index, want.columns], want, check_dtype=False)
    # the HTML job page shows the numbers and links every file
    page = client.get(job["page_url"])
    assert page.status_code == 200 and 'id="n-samples">200<' in page.text
    assert "SYNTHETIC" in page.text and "tables/qc_samples.tsv" in page.text


# ------------------------------------------------------------------------------------ upload
def test_upload_form_runs_and_every_link_works(env, cohort):
    client, data = env
    counts, table, meta = cohort
    before = _jobs(data)
    r = client.post(
        "/analyse",
        files={"table": ("../../../../etc/..\\evil table.tsv", table, "text/tab-separated-values"),
               "metadata": ("meta.tsv", meta, "text/tab-separated-values"),
               "taxonomy": ("", b"", "application/octet-stream")},  # browser: no file chosen
        data={"group": "diagnosis", "seed": "0", "rank": "genus"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    job_id = r.headers["location"].rsplit("/", 1)[-1]
    assert _jobs(data) == sorted([*before, job_id])
    # the upload landed, sanitised, inside this job's folder and nowhere else
    root = data / "jobs" / job_id
    saved = sorted(p.relative_to(root).as_posix() for p in (root / "inputs").rglob("*") if p.is_file())
    assert saved == ["inputs/metadata/meta.tsv", "inputs/table/evil_table.tsv"]
    assert not list(data.parent.glob("evil*")) and not (data / "etc").exists()

    job = client.get(f"/api/jobs/{job_id}").json()
    assert (job["samples"], job["features"]) == (12, 10)
    assert job["group_sizes"] == {"pain": 6, "control": 6}
    assert job["inputs"] == {"table": "evil_table.tsv", "metadata": "meta.tsv"}
    assert "report.html" in job["files"] and "gutbrain.h5ad" in job["files"]
    assert any(f.startswith("tables/") and f.endswith(".tsv") for f in job["files"])

    page = client.get(r.headers["location"])
    assert page.status_code == 200
    links = re.findall(rf'href="(/jobs/{job_id}/[^"]+)"', page.text)
    assert sorted(links) == sorted(job["file_urls"].values())
    for link in links:
        got = client.get(link)
        assert got.status_code == 200, link
        assert got.content, link
    report = client.get(job["report_url"]).text
    assert "12 samples × 10 features" in report and "SYNTHETIC" not in report
    # numbers survive the trip: QC depth = column sums of the uploaded table
    qc = pd.read_csv(io.StringIO(client.get(job["file_urls"]["tables/qc_samples.tsv"]).text),
                     sep="\t").set_index("sample")
    np.testing.assert_allclose(qc.loc[counts.columns, "depth"], counts.sum(axis=0).to_numpy())
    prov = json.loads(client.get(job["file_urls"]["tables/provenance.json"]).text)
    assert prov["inputs"]["table"]["path"].endswith("inputs/table/evil_table.tsv")


def test_bad_inputs_give_400_with_one_line_and_leave_nothing(env, cohort):
    client, data = env
    _, table, meta = cohort
    before = _jobs(data)
    garbage = b"\x00\x01\x02\xff\xfe not a table"
    msg = _one_line_error(client.post("/api/run", files={"table": ("bad.tsv", garbage)}))
    assert msg.startswith("bad.tsv: ") and "Fix:" in msg
    assert str(data) not in msg  # server paths are not shown
    # the same through the HTML form: a 400 page with the message
    page = client.post("/analyse", files={"table": ("bad.tsv", garbage)})
    assert page.status_code == 400 and "bad.tsv: " in page.text and "Traceback" not in page.text
    # unknown group column: names the metadata file and lists the columns
    msg = _one_line_error(client.post("/api/run", files={"table": ("t.tsv", table),
                                                         "metadata": ("m.tsv", meta)},
                                      data={"group": "Diagnosis"}))
    assert msg.startswith("m.tsv: ") and "'Diagnosis'" in msg and "diagnosis, age" in msg
    # metadata whose sample ids match none of the table's
    other = pd.DataFrame({"sample_id": ["x1", "x2"], "diagnosis": ["a", "b"]})
    r = client.post("/api/run", files={"table": ("t.tsv", table),
                                       "metadata": ("m2.tsv", other.to_csv(sep="\t", index=False))},
                    data={"group": "diagnosis"})
    msg = _one_line_error(r)
    assert r.json()["type"] == "MetadataMismatchError" and "m2.tsv" in msg
    r = client.post("/api/run", files={"table": ("t.tsv", table)}, data={"rank": "kingdomz"})
    assert "unknown rank" in _one_line_error(r)
    # no table at all: a validation error, not a crash
    assert client.post("/api/run", data={"group": "x"}).status_code == 422
    assert _jobs(data) == before  # failed jobs removed their folders


def test_upload_above_limit_is_413(tmp_path, cohort):
    _, table, _ = cohort
    app = create_app(data_dir=tmp_path / "d", max_upload_bytes=300)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert len(table) > 300
        r = client.post("/api/run", files={"table": ("t.tsv", table)})
        assert r.status_code == 413 and "limit of" in r.json()["error"]
        # chunked upload without Content-Length: counted while it streams
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"table\"; filename=\"t.tsv\"\r\n"
                b"Content-Type: text/plain\r\n\r\n" + table + b"\r\n--XyZ--\r\n")
        r = client.post("/api/run", content=iter([body[i:i + 256] for i in range(0, len(body), 256)]),
                        headers={"content-type": "multipart/form-data; boundary=XyZ"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413 and "limit of" in r.json()["error"]
        page = client.post("/analyse", files={"table": ("t.tsv", table)})
        assert page.status_code == 413 and "Upload too large" in page.text
    assert list((tmp_path / "d" / "jobs").iterdir()) == []


def test_inspect_api_reports_what_was_read(env, cohort):
    client, data = env
    counts, table, meta = cohort
    before = _jobs(data)
    r = client.post("/api/inspect", files={"table": ("../x/t.tsv", table), "metadata": ("m.tsv", meta)})
    assert r.status_code == 200, r.text[:300]
    info = r.json()
    assert (info["samples"], info["features"], info["value_kind"]) == (12, 10, "counts")
    assert info["file"] == "t.tsv" and str(data) not in json.dumps(info)
    depth = counts.sum(axis=0)
    assert info["depth"]["min"] == depth.min() and info["depth"]["max"] == depth.max()
    assert info["depth"]["median"] == pytest.approx(float(np.median(depth)))
    assert {m["column"] for m in info["metadata"]} == {"diagnosis", "age"}
    assert _jobs(data) == before  # nothing kept


# ---------------------------------------------------------------------------- path traversal
@pytest.mark.parametrize(("raw", "want"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/table.biom", "table.biom"),
    ("..", "upload"), ("...", "upload"), ("", "upload"), (None, "upload"),
    (".hidden.tsv", "hidden.tsv"),
    ("dir/täble (1).tsv", "t_ble_1_.tsv"),
])
def test_safe_filename_cases(raw, want):
    assert safe_filename(raw) == want


@given(st.text(max_size=300))
def test_safe_filename_never_escapes(name):
    out = safe_filename(name)
    assert SAFE_PART.match(out)
    assert "/" not in out and "\\" not in out and not out.startswith(".") and out != ".."


def test_job_files_cannot_escape_the_out_folder(env, cohort):
    client, data = env
    r = client.post("/api/simulate/lps", json={"dose": 2.0, "hours": 1.0})
    job_id = r.json()["id"]
    base = f"/jobs/{job_id}"
    assert client.get(f"{base}/trajectory.tsv").status_code == 200
    (data / "secret.txt").write_text("TOP-SECRET-CONTENT")
    for bad in ("%2e%2e/%2e%2e/secret.txt", "..%2f..%2fsecret.txt", "job.json",
                "%2e%2e/job.json", ".hidden", "inputs/table/t.tsv", "trajectory.tsv%00.html"):
        got = client.get(f"{base}/{bad}")
        assert got.status_code == 404, bad
        assert "TOP-SECRET-CONTENT" not in got.text
    assert client.get("/jobs/not-a-job/report.html").status_code == 404
    assert client.get("/api/jobs/..%2f..%2fsecret").status_code == 404


# ----------------------------------------------------------------------------------- evidence
def test_evidence_api_butyricimonas_rat_cci_row(env):
    import gutbrain as gb

    client, _ = env
    r = client.get("/api/evidence", params={"taxon": "Butyricimonas"})
    assert r.status_code == 200
    res = r.json()
    direct = gb.kb.query("Butyricimonas")
    assert res["n"] == len(direct) and [x["obs_id"] for x in res["rows"]] == direct["obs_id"].tolist()
    chen = [x for x in res["rows"] if x["doi"] == CCI_DOI]
    assert len(chen) == 1
    row = chen[0]
    assert row["host"] == "Rattus norvegicus" and row["evidence_level"] == "animal_model"
    assert row["animal_finding"] is True and row["direction"] == "decreased"
    assert "chronic constriction injury" in row["condition"]
    # the HTML page labels the row as an animal finding
    page = client.get("/evidence", params={"taxon": "Butyricimonas"}).text
    tr = next(t for t in re.findall(r"<tr class=\"animal[^>]*>.*?</tr>", page, flags=re.S) if CCI_DOI in t)
    assert "Rattus norvegicus" in tr and "animal model" in tr and "animal_model" in tr
    assert client.get("/api/evidence", params={"taxon": "Butyricimonas", "host": "human"}).json()["n"] == 0
    msg = _one_line_error(client.get("/api/evidence", params={"taxon": "x", "host": "martian"}))
    assert "unknown host" in msg
    assert client.get("/api/evidence").status_code == 422
    unknown = client.get("/api/evidence", params={"taxon": "Notagenus"}).json()
    assert unknown["n"] == 0 and unknown["known_taxon"] is False


# --------------------------------------------------------------------------------- simulation
def test_lps_simulation_matches_library_and_serves_files(env):
    from gutbrain import sim

    client, _ = env
    r = client.post("/api/simulate/lps", json={"dose": 2.0, "hours": 12.0})
    assert r.status_code == 200, r.text[:300]
    res = r.json()
    traj = pd.DataFrame(res["trajectory"])
    direct = sim.simulate("dobreva2021", sim.lps_challenge(2.0, 12.0),
                          outputs=["TNF", "IL6", "IL8", "IL10", "PPT_pct"])
    np.testing.assert_allclose(traj["time_h"], direct["time"])
    np.testing.assert_allclose(traj[["TNF", "IL6", "IL8", "IL10"]], direct[["TNF", "IL6", "IL8", "IL10"]],
                               rtol=1e-9)
    np.testing.assert_allclose(traj["PPT"], direct["PPT_pct"], rtol=1e-9)
    assert res["tnf_peak_pg_ml"] == pytest.approx(direct["TNF"].max())
    # plausible human endotoxemia: TNF peaks ~1-2 h after 2 ng/kg at a few hundred pg/mL
    # (Copeland et al. 2005, doi:10.1128/CDLI.12.1.60-67.2005: 220 ± 33 pg/mL at 2 h)
    assert 100 < res["tnf_peak_pg_ml"] < 600 and 0.75 <= res["tnf_peak_time_h"] <= 3.0
    tsv = pd.read_csv(io.StringIO(client.get(res["file_urls"]["trajectory.tsv"]).text), sep="\t")
    assert list(tsv.columns) == ["time_h", "TNF", "IL6", "IL8", "IL10", "PPT"]
    np.testing.assert_allclose(tsv["TNF"], traj["TNF"], rtol=1e-5)
    svg = client.get(res["file_urls"]["trajectory.svg"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content[:2000]
    page = client.get(res["page_url"]).text
    assert f"{res['tnf_peak_pg_ml']:.0f} pg/mL" in page and "trajectory.svg" in page
    # HTML form → redirect to the job page
    form = client.post("/simulate", data={"dose": "1", "hours": "6"}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"].startswith("/jobs/")
    assert "dose" in _one_line_error(client.post("/api/simulate/lps", json={"dose": -1}))
    assert "hours" in _one_line_error(client.post("/api/simulate/lps", json={"hours": 1e9}))
    assert client.post("/api/simulate/lps", json={"dose": "lots"}).status_code == 422


def test_no_cdn_backed_docs_pages(tmp_path):
    """Swagger/ReDoc load assets from a CDN, so they are disabled; the schema stays available."""
    from fastapi.testclient import TestClient

    from gutbrain.web import create_app

    with TestClient(create_app(data_dir=tmp_path)) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        schema = client.get("/openapi.json")
        assert schema.status_code == 200 and "/api/evidence" in schema.json()["paths"]
