"""The job API and pages through fastapi.testclient, with real worker processes."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gutbrain.web import create_app, safe_filename
from gutbrain.web._names import SAFE_PART
from tests.conftest import shared_path
from tests.web.conftest import BASE, one_line_error, wait_job

CCI_DOI = "10.1186/s13041-021-00765-y"  # Chen et al. 2021, Mol Brain: rat CCI model
CONTRACT = {"id", "status", "progress", "step", "error", "links"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    data = tmp_path_factory.mktemp("webdata")
    app = create_app(data_dir=data, kb_dir=tmp_path_factory.mktemp("kb"), workers=2)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        yield client, data, app.state.settings


def _state(data, settings):
    """Job folders, job records and staging folders: what a failed submission must not change."""
    return (sorted(p.name for p in (data / "jobs").iterdir()), sorted(settings.store.ids()),
            sorted(p.name for p in (data / "tmp").iterdir()))


@pytest.fixture(scope="module")
def cohort_job(env, cohort):
    """A finished cohort job on the small table (submitted once for the module)."""
    client, _, _ = env
    _, table, meta = cohort
    t0 = time.monotonic()
    r = client.post("/api/jobs", files={"table": ("../../evil table.tsv", table),
                                        "metadata": ("meta.tsv", meta),
                                        "taxonomy": ("", b"")},  # a file input left empty
                    data={"group": "diagnosis", "seed": "3"})
    elapsed = time.monotonic() - t0
    assert r.status_code == 202, r.text[:500]
    return r, elapsed, wait_job(client, r.json()["id"])


# ----------------------------------------------------------------------------- the contract
def test_submit_answers_at_once_and_the_job_runs(env, cohort, cohort_job):
    client, data, _ = env
    counts, table, _ = cohort
    r, elapsed, job = cohort_job
    assert elapsed < 3.0  # queued, not run, inside the request
    first = r.json()
    assert CONTRACT <= set(first) and first["status"] in ("queued", "running")
    assert r.headers["location"] == f"/api/jobs/{first['id']}"
    assert job["status"] == "done", job["error"]
    assert CONTRACT <= set(job) and job["progress"] == 1.0 and job["error"] is None
    assert job["params"] == {"group": "diagnosis", "seed": 3, "rank": "genus"}
    s = job["summary"]
    assert (s["samples"], s["features"]) == (12, 10) and s["group_sizes"] == {"pain": 6, "control": 6}
    assert s["step_errors"] == {} and "diff_abundance" in s["steps"]
    # inputs: sanitised names and the sha256 of exactly the bytes sent
    assert job["inputs"]["table"] == {"name": "evil_table.tsv", "bytes": len(table),
                                      "sha256": hashlib.sha256(table).hexdigest()}
    assert set(job["inputs"]) == {"table", "metadata"}
    root = data / "jobs" / job["id"]
    saved = sorted(p.relative_to(root).as_posix() for p in (root / "inputs").rglob("*") if p.is_file())
    assert saved == ["inputs/metadata/meta.tsv", "inputs/table/evil_table.tsv"]
    assert not (root / "work").exists()
    links = job["links"]
    assert links["report"] == f"/jobs/{job['id']}/report.html"
    assert links["download"] == f"/api/jobs/{job['id']}/download"
    assert links["page"] == f"/jobs/{job['id']}" and links["samples_page"].endswith("/samples")
    for url in links["files"].values():
        assert client.get(url).status_code == 200, url
    # numbers survive the trip: QC depth = column sums of the uploaded table
    qc = pd.read_csv(io.StringIO(client.get(links["files"]["tables/qc_per_sample.tsv"]).text),
                     sep="\t").set_index("sample")
    np.testing.assert_allclose(qc.loc[counts.columns, "depth"], counts.sum(axis=0).to_numpy())
    prov = json.loads(client.get(links["files"]["tables/provenance.json"]).text)
    assert prov["inputs"]["table"]["sha256"] == hashlib.sha256(table).hexdigest()
    report = client.get(links["report"])
    assert "12 samples × 10 features" in report.text
    assert "default-src 'none'" in report.headers["content-security-policy"]


def test_download_zip_holds_every_output(env, cohort, cohort_job):
    client, _, _ = env
    _, table, _ = cohort
    job = cohort_job[2]
    r = client.get(job["links"]["download"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f'gutbrain-{job["id"][:8]}.zip' in r.headers["content-disposition"]
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    prefix = f"gutbrain-{job['id'][:8]}/"
    assert sorted(zf.namelist()) == sorted([prefix + "job.json"] + [prefix + f for f in job["files"]])
    assert zf.read(prefix + "report.html") == client.get(job["links"]["report"]).content
    record = json.loads(zf.read(prefix + "job.json"))
    assert record["inputs"]["table"]["sha256"] == hashlib.sha256(table).hexdigest()
    assert record["params"]["group"] == "diagnosis" and record["gutbrain_version"]
    assert client.get(job["links"]["download"]).content == r.content  # cached, identical


def test_history_lists_jobs_and_delete_removes_them(env, cohort_job):
    client, data, settings = env
    job = cohort_job[2]
    sim = client.post("/api/jobs?wait=120", data={"kind": "simulate", "hours": "2"})
    assert sim.status_code == 202 and sim.json()["status"] == "done", sim.text[:300]
    hist = client.get("/api/jobs").json()
    ids = [j["id"] for j in hist["jobs"]]
    assert ids.index(sim.json()["id"]) < ids.index(job["id"])  # newest first
    assert hist["counts"]["done"] >= 2 and hist["total"] == sum(hist["counts"].values())
    assert all(CONTRACT <= set(j) for j in hist["jobs"])
    assert [j["id"] for j in client.get("/api/jobs", params={"status": "done", "limit": 1}).json()["jobs"]] == [ids[0]]
    page = client.get("/jobs")
    assert page.status_code == 200 and job["id"][:8] in page.text and "evil_table.tsv" in page.text
    # delete
    sid = sim.json()["id"]
    assert client.delete(f"/api/jobs/{sid}").json() == {"id": sid, "deleted": True}
    assert client.get(f"/api/jobs/{sid}").status_code == 404
    assert not (data / "jobs" / sid).exists() and sid not in settings.store.ids()
    assert client.delete(f"/api/jobs/{sid}").status_code == 404
    one_line_error(client.get("/api/jobs", params={"status": "lost"}))


def test_sample_profile_job_matches_gutbrain_sample(env, cohort_job, tmp_path):
    """A ``sample`` job writes the page ``gutbrain sample`` writes for the same upload."""
    from gutbrain.report import sample_profile

    client, data, _ = env
    source = cohort_job[2]
    page = client.get(source["links"]["samples_page"])
    assert page.status_code == 200 and "S03" in page.text
    r = client.post("/api/jobs", data={"kind": "sample", "source": source["id"], "sample": "S03"})
    assert r.status_code == 202, r.text[:500]
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["summary"] == {"sample": "S03", "source": source["id"]}
    assert job["links"]["report"].endswith("/sample.html")
    html = client.get(job["links"]["report"])
    got = json.loads(client.get(job["links"]["files"]["sample.json"]).text)
    assert html.status_code == 200 and "S03" in html.text and got["disclaimer"] in html.text
    table = data / "jobs" / source["id"] / "inputs" / "table" / "evil_table.tsv"
    want = sample_profile(table, "S03", metadata=data / "jobs" / source["id"] / "inputs" / "metadata" / "meta.tsv").data
    assert got["sample"] == "S03"
    by_key = {e["key"]: e for e in got["indices"]}
    values = {e["key"]: e["value"] for e in want["indices"] if e.get("value") is not None}
    assert "shannon" in values and values["shannon"] > 0
    for key, value in values.items():
        np.testing.assert_allclose(by_key[key]["value"], value, rtol=1e-9)
    # an unknown sample is refused at submission, with nothing queued
    before = client.get("/api/jobs").json()["total"]
    bad = client.post("/api/jobs", data={"kind": "sample", "source": source["id"], "sample": "nope"})
    assert "not in job" in one_line_error(bad) and client.get("/api/jobs").json()["total"] == before


def test_job_page_shows_results_and_links(env, cohort_job):
    client, _, _ = env
    job = cohort_job[2]
    page = client.get(job["links"]["page"])
    assert page.status_code == 200
    html = page.text
    assert 'data-status="done"' in html and 'id="n-samples">12<' in html
    assert f'href="{job["links"]["download"]}"' in html and f'href="{job["links"]["report"]}"' in html
    assert "pain: 6, control: 6" in html and "/static/job.js" in html
    links = set(re.findall(rf'href="(/jobs/{job["id"]}/[^"]+)"', html))
    assert set(job["links"]["files"].values()) <= links
    samples = client.get(job["links"]["samples_page"])
    assert samples.status_code == 200 and "Per-sample profiles" in samples.text


def test_running_job_page_is_live(tmp_path, cohort):
    """A queued job's page carries what job.js needs; /api/jobs/{id} reports it queued."""
    _, table, _ = cohort
    with TestClient(create_app(data_dir=tmp_path, workers=0), base_url=BASE) as client:
        jid = client.post("/api/jobs", files={"table": ("t.tsv", table)}).json()["id"]
        job = client.get(f"/api/jobs/{jid}").json()
        assert (job["status"], job["step"], job["progress"]) == ("queued", "queued", 0.0)
        assert "download" not in job["links"] and "report" not in job["links"]
        assert client.get(f"/api/jobs/{jid}/download").status_code == 409
        page = client.get(f"/jobs/{jid}").text
        assert 'data-status="queued"' in page and f'data-api="/api/jobs/{jid}"' in page
        assert '<progress id="job-progress" max="1" value="0.0">' in page


# -------------------------------------------------------------------------------- metadata
def test_metadata_columns_of_the_giloteaux_file(env):
    client, data, settings = env
    path = shared_path("data", "giloteaux2016_mecfs_16s", "sample-metadata.tsv")
    before = _state(data, settings)
    r = client.post("/api/metadata/columns", files={"metadata": (path.name, path.read_bytes())})
    assert r.status_code == 200, r.text[:300]
    got = r.json()
    want = pd.read_csv(path, sep="\t", index_col=0)
    assert got["n_samples"] == len(want) == 87 and got["id_column"] == "#SampleID"
    cols = {c["name"]: c for c in got["columns"]}
    assert list(cols) == list(want.columns)
    subject = cols["Subject"]
    assert subject["levels"] == want["Subject"].value_counts().to_dict() == {"Patient": 48, "Control": 39}
    assert subject["groupable"] and subject["type"] == "categorical"
    assert cols["Age"]["type"] == "numeric" and cols["Age"]["min"] == want["Age"].min()
    assert cols["Pain"]["n_missing"] == int(want["Pain"].isna().sum())
    assert _state(data, settings) == before  # nothing kept


def test_metadata_columns_respect_q2_types(env):
    """A '#q2:types' row makes a numeric-looking column categorical (as gutbrain run reads it)."""
    client, _, _ = env
    text = (b"sample-id\tcage\tweight\n#q2:types\tcategorical\tnumeric\n"
            b"a\t1\t20.5\nb\t2\t21\nc\t1\t19\n")
    cols = {c["name"]: c for c in client.post(
        "/api/metadata/columns", files={"metadata": ("md.tsv", text)}).json()["columns"]}
    assert cols["cage"]["type"] == "categorical" and cols["cage"]["levels"] == {"1": 2, "2": 1}
    assert cols["weight"]["type"] == "numeric" and cols["weight"]["max"] == 21.0
    msg = one_line_error(client.post("/api/metadata/columns",
                                     files={"metadata": ("m.png", b"\x89PNG\r\n\x1a\n\x00\x00")}))
    assert msg.startswith("m.png")


# ------------------------------------------------------------------------------- bad input
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _bad_cases(table, meta):
    other = b"sample_id\tdiagnosis\nx1\ta\nx2\tb\n"
    return {
        "png as table": ({"table": ("t.png", PNG)}, {}, ["t.png: "]),
        "png as metadata": ({"table": ("t.tsv", table), "metadata": ("m.png", PNG)}, {}, ["m.png"]),
        "empty table": ({"table": ("t.tsv", b"")}, {}, ["t.tsv: ", "empty (0 bytes)"]),
        "ids not matching": ({"table": ("t.tsv", table), "metadata": ("m2.tsv", other)},
                             {"group": "diagnosis"}, ["m2.tsv"]),
        "one-level group": ({"table": ("t.tsv", table), "metadata": ("m.tsv", meta)},
                            {"group": "site"}, ["'site'", "1 distinct value", "Fix:"]),
        "unknown group": ({"table": ("t.tsv", table), "metadata": ("m.tsv", meta)},
                          {"group": "Diagnosis"}, ["m.tsv: ", "'Diagnosis'", "diagnosis, age, site"]),
        "group without metadata": ({"table": ("t.tsv", table)}, {"group": "diagnosis"},
                                   ["sample metadata"]),
        "no table": ({"metadata": ("m.tsv", meta)}, {}, ["no feature table"]),
        "unknown field": ({"table": ("t.tsv", table)}, {"grop": "x"}, ["unknown field 'grop'"]),
        "bad seed": ({"table": ("t.tsv", table)}, {"seed": "abc"}, ["seed must be an integer"]),
        "bad rank": ({"table": ("t.tsv", table)}, {"rank": "kingdomz"}, ["rank 'kingdomz'"]),
        "bad tree": ({"table": ("t.tsv", table), "tree": ("tree.nwk", b"((a,b);;;")}, {},
                     ["tree.nwk: ", "Newick"]),
        "unknown kind": ({}, {"kind": "mine"}, ["unknown job kind 'mine'"]),
        "file for a simulation": ({"table": ("t.tsv", table)}, {"kind": "simulate"},
                                  ["unexpected file field"]),
        "hours out of range": ({}, {"kind": "simulate", "hours": "1e9"}, ["hours must be in"]),
    }


def test_bad_inputs_are_400_and_leave_nothing(env, cohort):
    client, data, settings = env
    _, table, meta = cohort
    before = _state(data, settings)
    for name, (files, fields, parts) in _bad_cases(table, meta).items():
        r = client.post("/api/jobs", files=files or None, data=fields)
        msg = one_line_error(r)
        for part in parts:
            assert part in msg, (name, msg)
        assert str(data) not in msg, (name, msg)  # no server paths
        assert _state(data, settings) == before, name
    assert client.get("/api/health").json()["status"] == "ok"  # still serving


def test_too_many_files_is_400(tmp_path, cohort):
    _, table, _ = cohort
    app = create_app(data_dir=tmp_path, workers=0, max_files=2)
    with TestClient(app, base_url=BASE) as client:
        files = [("table", ("t.tsv", table)), ("metadata", ("m.tsv", table)), ("tree", ("x.nwk", b"(a);"))]
        msg = one_line_error(client.post("/api/jobs", files=files))
        assert "Too many files" in msg and "2" in msg
        assert not list((tmp_path / "jobs").iterdir()) and not settings_ids(app)


def settings_ids(app):
    return app.state.settings.store.ids()


def test_upload_above_limit_is_413(tmp_path, cohort):
    _, table, _ = cohort
    app = create_app(data_dir=tmp_path / "d", max_upload_bytes=300, workers=0)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        assert len(table) > 300
        r = client.post("/api/jobs", files={"table": ("t.tsv", table)})
        assert r.status_code == 413 and "limit of" in r.json()["error"]
        # chunked upload without Content-Length: counted while it streams
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"table\"; filename=\"t.tsv\"\r\n"
                b"Content-Type: text/plain\r\n\r\n" + table + b"\r\n--XyZ--\r\n")
        r = client.post("/api/jobs", content=iter([body[i:i + 256] for i in range(0, len(body), 256)]),
                        headers={"content-type": "multipart/form-data; boundary=XyZ"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413 and "limit of" in r.json()["error"]
        page = client.post("/analyse", files={"table": ("t.tsv", table)})
        assert page.status_code == 413 and "Upload too large" in page.text
        assert not list((tmp_path / "d" / "jobs").iterdir()) and not settings_ids(app)


def test_form_error_keeps_the_choices(env, cohort):
    """Without JavaScript the form comes back (HTTP 400) with the message and every choice."""
    client, _, _ = env
    _, table, meta = cohort
    r = client.post("/analyse", files={"table": ("t.tsv", table), "metadata": ("m.tsv", meta)},
                    data={"group": "Diagnosis", "rank": "family", "seed": "42"})
    assert r.status_code == 400
    html = r.text
    assert "&#39;Diagnosis&#39; is not in the metadata" in html and 'id="form-error"' in html
    assert "<option selected>Diagnosis</option>" in html
    assert "<option selected>family</option>" in html and 'value="42"' in html
    assert "choose them again" in html  # says the files must be chosen again


# ---------------------------------------------------------------------------- simulation
def _x_tick_labels(svg: bytes) -> list[float]:
    root = ET.fromstring(svg)
    out = []
    for el in root.iter():
        if (el.get("id") or "").startswith("xtick_"):
            out += [float(t.text) for t in el.iter("{http://www.w3.org/2000/svg}text")
                    if t.text and re.fullmatch(r"[0-9.]+", t.text.strip())]
    return out


def test_simulate_honours_every_field(env):
    from gutbrain import sim

    client, _, _ = env
    form = client.post("/simulate", data={"dose": "1", "hours": "300"}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"].startswith("/jobs/")
    jid = form.headers["location"].rsplit("/", 1)[-1]
    job = wait_job(client, jid)
    assert job["status"] == "done", job["error"]
    assert job["params"] == {"dose": 1.0, "hours": 300.0}
    s = job["summary"]
    assert s["t_end_h"] == 300.0 and s["dose_ng_per_kg"] == 1.0 and s["n_points"] == 300 * 20 + 1
    tsv = pd.read_csv(io.StringIO(client.get(job["links"]["files"]["trajectory.tsv"]).text), sep="\t")
    direct = sim.simulate("dobreva2021", sim.lps_challenge(1.0, 300.0),
                          outputs=["TNF", "IL6", "IL8", "IL10", "PPT_pct"])
    np.testing.assert_allclose(tsv["time_h"], direct["time"], rtol=1e-6)
    np.testing.assert_allclose(tsv["TNF"], direct["TNF"], rtol=1e-5)  # TSV keeps 6 digits
    assert s["tnf_peak_pg_ml"] == pytest.approx(direct["TNF"].max(), rel=1e-9)
    # the plot spans the 300 h asked for (the library's default view stops at 12 h)
    ticks = _x_tick_labels(client.get(job["links"]["files"]["trajectory.svg"]).content)
    assert ticks and max(ticks) >= 250
    page = client.get(job["links"]["page"]).text
    assert "300 h (6001 time points)" in page and "1 ng/kg" in page


def test_lps_peak_is_plausible_human_endotoxemia(env):
    client, _, _ = env
    r = client.post("/api/jobs?wait=120", data={"kind": "simulate", "dose": "2", "hours": "12"})
    s = r.json()["summary"]
    # Copeland et al. 2005, doi:10.1128/CDLI.12.1.60-67.2005: TNF 220 ± 33 pg/mL at 2 h after 2 ng/kg
    assert 100 < s["tnf_peak_pg_ml"] < 600 and 0.75 <= s["tnf_peak_time_h"] <= 3.0


# --------------------------------------------------------------------------------- pages
def test_pages_render_offline_with_disclaimer(env):
    client, _, _ = env
    for path in ("/", "/analyse", "/jobs", "/demo", "/evidence", "/simulate", "/api", "/login"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "not medical advice" in r.text and 'href="/jobs"' in r.text
        # no external scripts/styles/fonts: every src/stylesheet is local
        for m in re.finditer(r'<(?:script|link|img|iframe)\b[^>]*(?:src|href)="([^"]+)"', r.text):
            assert not m.group(1).startswith(("http:", "https:", "//")), (path, m.group(0))
        assert "<script>" not in r.text  # no inline script (the CSP forbids it)
    for asset in ("style.css", "job.js", "jobs.js", "analyse.js"):
        r = client.get(f"/static/{asset}")
        assert r.status_code == 200 and "http" not in re.sub(r"//.*|/\*.*?\*/", "", r.text, flags=re.S)
    form = client.get("/analyse").text
    for name in ("table", "taxonomy", "metadata", "tree"):
        assert f'type="file" name="{name}"' in form
    assert 'id="f-group" name="group"' in form and 'data-columns="/api/metadata/columns"' in form


def test_demo_form_queues_a_synthetic_run(tmp_path):
    with TestClient(create_app(data_dir=tmp_path, workers=0), base_url=BASE) as client:
        r = client.post("/demo", data={"seed": "5"}, follow_redirects=False)
        assert r.status_code == 303
        job = client.get("/api" + r.headers["location"]).json()
        assert (job["kind"], job["params"], job["status"]) == ("demo", {"seed": 5}, "queued")


def test_openapi_is_served_offline_and_documents_the_jobs_api(env):
    client, _, _ = env
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/download",
            "/api/metadata/columns", "/api/evidence", "/api/inspect", "/api/health"} <= set(paths)
    assert {"post", "get"} <= set(paths["/api/jobs"]) and "delete" in paths["/api/jobs/{job_id}"]
    body = paths["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"table", "taxonomy", "metadata", "tree", "group", "seed", "kind", "hours"} <= set(body["properties"])
    assert "/api/jobs/{job_id}/download" in client.get("/api").text


# ------------------------------------------------------------------- inspect and evidence
def test_inspect_api_reports_what_was_read(env, cohort):
    client, data, settings = env
    counts, table, meta = cohort
    before = _state(data, settings)
    r = client.post("/api/inspect", files={"table": ("../x/t.tsv", table), "metadata": ("m.tsv", meta)})
    assert r.status_code == 200, r.text[:300]
    info = r.json()
    assert (info["samples"], info["features"], info["value_kind"]) == (12, 10, "counts")
    assert info["file"] == "t.tsv" and str(data) not in json.dumps(info)
    depth = counts.sum(axis=0)
    assert info["depth"]["min"] == depth.min() and info["depth"]["max"] == depth.max()
    assert _state(data, settings) == before


def test_evidence_api_butyricimonas_rat_cci_row(env):
    import gutbrain as gb

    client, _, _ = env
    res = client.get("/api/evidence", params={"taxon": "Butyricimonas"}).json()
    direct = gb.kb.query("Butyricimonas")
    assert res["n"] == len(direct) and [x["obs_id"] for x in res["rows"]] == direct["obs_id"].tolist()
    row = next(x for x in res["rows"] if x["doi"] == CCI_DOI)
    assert row["host"] == "Rattus norvegicus" and row["evidence_level"] == "animal_model"
    assert row["animal_finding"] is True and row["direction"] == "decreased"
    page = client.get("/evidence", params={"taxon": "Butyricimonas"}).text
    tr = next(t for t in re.findall(r"<tr class=\"animal[^>]*>.*?</tr>", page, flags=re.S) if CCI_DOI in t)
    assert "Rattus norvegicus" in tr and "animal model" in tr
    assert "unknown host" in one_line_error(client.get("/api/evidence", params={"taxon": "x", "host": "martian"}))
    assert client.get("/api/evidence").status_code == 422


# ---------------------------------------------------------------------------- path hygiene
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


def test_job_files_cannot_escape_the_out_folder(env, cohort_job):
    client, data, _ = env
    job = cohort_job[2]
    base = job["links"]["page"]
    assert client.get(f"{base}/report.html").status_code == 200
    (data / "secret.txt").write_text("TOP-SECRET-CONTENT")
    for bad in ("%2e%2e/%2e%2e/secret.txt", "..%2f..%2fsecret.txt", "job.json", "outputs.zip",
                "%2e%2e/outputs.zip", ".hidden", "inputs/table/evil_table.tsv",
                "report.html%00.svg", "../../jobs.sqlite"):
        got = client.get(f"{base}/{bad}")
        assert got.status_code == 404, bad
        assert "TOP-SECRET-CONTENT" not in got.text
    assert client.get("/jobs/not-a-job/report.html").status_code == 404
    assert client.get("/api/jobs/..%2f..%2fsecret").status_code == 404
