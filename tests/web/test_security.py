"""The trust boundary: Host, Origin, token, private files, limits, escaping, headers."""

from __future__ import annotations

import stat

import pytest
from fastapi.testclient import TestClient

from gutbrain.web import create_app
from gutbrain.web._security import session_value
from tests.web.conftest import BASE, one_line_error

TOKEN = "s3cret-token-for-tests"
XSS = '<script>alert("x")</script>'


@pytest.fixture
def app_client(tmp_path):
    def make(**kw):
        app = create_app(data_dir=tmp_path / "data", workers=0, **kw)
        return TestClient(app, base_url=BASE, raise_server_exceptions=False), app.state.settings

    return make


def _nothing_made(settings):
    assert not settings.store.ids()
    assert not list(settings.jobs_dir.iterdir()) and not list(settings.tmp_dir.iterdir())


# ------------------------------------------------------------------------------------ Host
def test_forged_host_is_refused(app_client):
    client, _ = app_client()
    with client:
        for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "0.0.0.0:8765"):
            r = client.get("/api/health", headers={"host": host})
            msg = one_line_error(r, 400)
            assert "is not this app's address" in msg and "--allow-host" in msg
            page = client.get("/", headers={"host": host})
            assert page.status_code == 400 and "Request" not in page.text[:0]
        for host in ("127.0.0.1:8765", "localhost:8765", "LOCALHOST", "[::1]:8765"):
            assert client.get("/api/health", headers={"host": host}).status_code == 200, host


def test_allow_host_and_bound_address(app_client, tmp_path):
    client, _ = app_client(allow_hosts=["lab.example.org"])
    with client:
        assert client.get("/api/health", headers={"host": "lab.example.org:8765"}).status_code == 200
        assert client.get("/api/health", headers={"host": "other.example.org"}).status_code == 400
    app = create_app(data_dir=tmp_path / "b", workers=0, host="10.1.2.3")
    with TestClient(app, base_url="http://10.1.2.3:8765") as c2:
        assert c2.get("/api/health").status_code == 200
    app = create_app(data_dir=tmp_path / "c", workers=0, allow_hosts=["*"])
    with TestClient(app, base_url="http://anything.example") as c3:
        assert c3.get("/api/health").status_code == 200


# ---------------------------------------------------------------------------------- Origin
@pytest.mark.parametrize("headers", [
    {"origin": "http://evil.example"},
    {"origin": "http://127.0.0.1:9999"},  # another port is another origin
    {"origin": "https://127.0.0.1:8765"},  # another scheme too
    {"origin": "null"},
    {"referer": "http://evil.example/page.html"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:8765"},
])
def test_cross_origin_writes_are_refused(app_client, cohort, headers):
    _, table, _ = cohort
    client, settings = app_client()
    with client:
        r = client.post("/api/jobs", files={"table": ("t.tsv", table)}, headers=headers)
        assert "refused" in one_line_error(r, 403)
        _nothing_made(settings)
        page = client.post("/simulate", data={"hours": "1"}, headers=headers)
        assert page.status_code == 403 and "Request refused" in page.text
        _nothing_made(settings)


def test_same_origin_and_programs_may_write(app_client, cohort):
    _, table, _ = cohort
    client, settings = app_client()
    with client:
        ok = {"origin": BASE, "sec-fetch-site": "same-origin", "referer": f"{BASE}/analyse"}
        a = client.post("/api/jobs", files={"table": ("t.tsv", table)}, headers=ok)
        b = client.post("/api/jobs", files={"table": ("t.tsv", table)})  # curl: no Origin
        assert a.status_code == b.status_code == 202
        jid = a.json()["id"]
        bad = client.delete(f"/api/jobs/{jid}", headers={"origin": "http://evil.example"})
        assert bad.status_code == 403 and jid in settings.store.ids()
        # a cross-origin page may not *read* either: no CORS headers are ever sent
        got = client.get(f"/api/jobs/{jid}", headers={"origin": "http://evil.example"})
        assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
        assert client.delete(f"/api/jobs/{jid}", headers=ok).status_code == 200


# ----------------------------------------------------------------------------------- token
def test_token_is_required_on_every_request(app_client, cohort):
    _, table, _ = cohort
    client, settings = app_client(token=TOKEN)
    with client:
        msg = one_line_error(client.get("/api/health"), 401)
        assert "access token" in msg
        assert one_line_error(client.get("/api/health", headers={"authorization": "Bearer nope"}), 401)
        assert client.get("/api/health", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/api/health", headers={"x-gutbrain-token": TOKEN}).status_code == 200
        assert client.post("/api/jobs", files={"table": ("t.tsv", table)}).status_code == 401
        _nothing_made(settings)
        for path in ("/", "/jobs", "/analyse", f"/jobs/{'a' * 32}/report.html"):
            r = client.get(path, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2F"), path
        assert client.get("/openapi.json", follow_redirects=False).status_code == 303  # the schema too
        assert client.get("/login").status_code == 200  # the login page and its style are open
        assert client.get("/static/style.css").status_code == 200
        assert client.get("/static/job.js", follow_redirects=False).status_code == 303


def test_login_sets_a_session_cookie(app_client):
    client, _ = app_client(token=TOKEN)
    with client:
        bad = client.post("/login", data={"token": "guess", "next": "/jobs"})
        assert bad.status_code == 401 and "Wrong token" in bad.text
        assert "set-cookie" not in bad.headers
        good = client.post("/login", data={"token": TOKEN, "next": "/jobs"}, follow_redirects=False)
        assert good.status_code == 303 and good.headers["location"] == "/jobs"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert client.get("/jobs").status_code == 200  # the client keeps the cookie
        assert client.cookies.get("gutbrain_session") == session_value(TOKEN)
        # no open redirect through ?next=
        away = client.post("/login", data={"token": TOKEN, "next": "https://evil.example/"},
                           follow_redirects=False)
        assert away.headers["location"] == "/"
        assert client.post("/login", data={"token": TOKEN, "next": "//evil.example"},
                           follow_redirects=False).headers["location"] == "/"


def test_token_in_the_url_logs_in_once(app_client):
    client, _ = app_client(token=TOKEN)
    with client:
        r = client.get(f"/jobs?token={TOKEN}&offset=0", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/jobs?offset=0"  # token removed
        assert "gutbrain_session=" in r.headers["set-cookie"]
        assert client.get("/jobs").status_code == 200
        client.cookies.clear()
        assert client.get("/jobs?token=wrong", follow_redirects=False).status_code == 303
        assert client.get("/jobs", follow_redirects=False).headers["location"].startswith("/login")


# ---------------------------------------------------------------------------- private files
def test_job_files_are_private(app_client, cohort):
    _, table, meta = cohort
    client, settings = app_client()
    with client:
        jid = client.post("/api/jobs", files={"table": ("t.tsv", table), "metadata": ("m.tsv", meta)}).json()["id"]
        root = settings.jobs_dir / jid
        for d in (settings.data_dir, settings.jobs_dir, settings.tmp_dir, root, root / "inputs",
                  root / "inputs" / "table"):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        assert stat.S_IMODE((settings.data_dir / "jobs.sqlite").stat().st_mode) == 0o600
        assert stat.S_IMODE((root / "inputs" / "table" / "t.tsv").stat().st_mode) == 0o600


# --------------------------------------------------------------------------------- escaping
def test_user_strings_are_escaped(app_client, cohort):
    _, table, _ = cohort
    meta = (f"sample_id\t{XSS}\n" + "".join(f"S{i:02d}\t{'a' if i < 6 else 'b'}\n" for i in range(12))).encode()
    client, _ = app_client()
    with client:
        # the form's error message quotes the user's group name: escaped
        page = client.post("/analyse", files={"table": ("t.tsv", table), "metadata": ("m.tsv", meta)},
                           data={"group": XSS + "x"})
        assert page.status_code == 400 and XSS not in page.text and "&lt;script&gt;" in page.text
        # a queued job whose group column is named like a script: every page escapes it
        r = client.post("/api/jobs", files={"table": ("<b>t</b>.tsv", table), "metadata": ("m.tsv", meta)},
                        data={"group": XSS})
        assert r.status_code == 202, r.text[:300]
        job = r.json()
        assert job["params"]["group"] == XSS and job["inputs"]["table"]["name"] == "b_.tsv"
        for path in (job["links"]["page"], "/jobs"):
            html = client.get(path).text
            assert XSS not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, path
        ev = client.get("/evidence", params={"taxon": XSS}).text
        assert XSS not in ev


def test_security_headers(app_client):
    client, _ = app_client()
    with client:
        page = client.get("/analyse")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "SAMEORIGIN"
        assert page.headers["referrer-policy"] == "same-origin"
        api = client.get("/api/jobs")
        assert api.headers["cache-control"] == "no-store"
        assert client.get("/static/style.css").headers["x-content-type-options"] == "nosniff"
