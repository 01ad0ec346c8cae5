"""The web app's security guarantees (issue 16): sessions, unit links, CSRF, upload limits and
names, escaping, CSP, error pages, secrets.  Routes are enumerated from the app, so a new route is
covered by the session and CSRF tests without being listed here."""

from __future__ import annotations

import base64
import bz2
import hashlib
import io
import json
import logging
import re
import sqlite3
import stat
import struct
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import itsdangerous
import pytest
from _web_helpers import (
    CID,
    PASSWORD,
    RAW_MARKUP,
    USER,
    XSS_IMG_SHOWN,
    XSS_SCRIPT_SHOWN,
    csrf_of,
    login,
    make_site,
    multipart,
    snapshot,
    submissions,
    table_rows,
    workbook,
)
from starlette.routing import Route
from test_hostile_zip import _pack

from gkxlsx.campaign.campaign import Campaign

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from gkxlsx.web import state as web_state
from gkxlsx.web.app import build

# routes anyone may call: signing in, and a unit's own link (which is its key)
PUBLIC = {"/setup", "/login", "/logout", "/favicon.ico", "/{rest:path}"}
CSRF_REFUSED = "安全校验未通过"
COOKIE = "gkxlsx_session"


# --------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served folder with one campaign (units A001 and B002 have hostile names, C003 a plain one);
    B002 has returned one version (hostile narrative), uploaded through the office page."""
    root = tmp_path_factory.mktemp("web") / "served"
    camp_dir = make_site(root)
    app = build(root)
    client = TestClient(app, raise_server_exceptions=False)
    csrf = login(client)
    data, ctype = multipart({"csrf": csrf}, [("files", b"B002.xlsx", workbook(camp_dir, "B002"))])
    r = client.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype})
    assert r.status_code == 200 and "已登记为 B002 第 1 版" in r.text, r.text
    return {"root": root, "camp": camp_dir, "app": app, "client": client, "csrf": csrf}


def client_for(app, **kw) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False, **kw)


def routes(app) -> list[tuple[str, str]]:
    """(path, method) of every route of the app (HEAD goes with GET)."""
    out = []
    for r in app.routes:
        if isinstance(r, Route):
            out += [(r.path, m) for m in sorted(r.methods or {"GET"}) if m != "HEAD"]
    return out


def office_routes(app) -> list[tuple[str, str]]:
    return [(p, m) for p, m in routes(app) if p not in PUBLIC and not p.startswith("/u/")]


def fill(path: str, **values: str) -> str:
    """A route's path with its parameters filled in (a KeyError names a parameter to add here)."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)


OFFICE_PARAMS = {"cid": CID, "code": "B002", "v": "1", "fmt": "html"}


def sign(session: dict, key_hex: str, age: float = 0) -> str:
    """A session cookie as the app's SessionMiddleware writes it (itsdangerous), ``age`` seconds old."""

    class Signer(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    return Signer(key_hex).sign(base64.b64encode(json.dumps(session).encode())).decode()


def session_of(client) -> dict:
    raw = client.cookies.get(COOKIE)
    return json.loads(base64.b64decode(raw.rsplit(".", 2)[0]))


def assert_login_redirect(r, what: str) -> None:
    assert r.status_code == 303, (what, r.status_code, r.text[:300])
    assert r.headers["location"].startswith("/login"), what
    assert r.content == b"", what  # nothing of the page


def token_for(site, code: str) -> str:
    tok = site["app"].state.web.state.unit_token(CID, code)
    assert tok
    return tok


def assert_escaped(html: str, *shown: str, where: str = "") -> None:
    for raw in RAW_MARKUP:
        assert raw not in html, (where, raw)
    for s in shown:
        assert s in html, (where, s)


def zip_bytes(members: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def zeros(method: int, size: int) -> bytes:
    """``size`` zero bytes compressed with ``method`` (deflate at level 1: fast, 300 MB in 1.3 MB)."""
    c = zlib.compressobj(1, zlib.DEFLATED, -15) if method == zipfile.ZIP_DEFLATED else bz2.BZ2Compressor(1)
    chunk = bytes(1 << 20)
    return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()


def many_entries_zip(n: int) -> bytes:
    """A zip whose central directory has ``n`` entries, all pointing at one empty member."""
    name = b"a.xlsx"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
    cd = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
    cds = (cd + name) * n
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), len(cds), len(local), 0)
    return local + cds + eocd


# --------------------------------------------------------------------------------------------
# sessions


def test_routes_are_enumerated(site):
    office = office_routes(site["app"])
    paths = {p for p, _ in office}
    assert len(paths) >= 20 and {"/c/{cid}/upload", "/c/{cid}/mail/settings", "/accounts"} <= paths
    assert any(m == "POST" for _, m in office)


def test_every_office_route_needs_a_session(site):
    app = site["app"]
    key = app.state.web.state.key("session").hex()
    good = session_of(site["client"])
    if "boss" not in app.state.web.state.accounts():
        app.state.web.state.add_account("boss", "boss-password-1")
    _payload, stamp, mac = site["client"].cookies.get(COOKIE).rsplit(".", 2)
    cookies = {
        "none": None,
        "tampered": base64.b64encode(json.dumps({**good, "user": "root"}).encode()).decode() + f".{stamp}.{mac}",
        "forged (another key)": sign(good, "0" * 64),
        "unknown session id": sign({**good, "sid": "x" * 32}, key),
        "another user on this session": sign({**good, "user": "boss"}, key),  # boss: a real account
        "too old a cookie": sign(good, key, age=13 * 3600),
    }
    for what, cookie in cookies.items():
        c = client_for(app)
        headers = {"cookie": f"{COOKIE}={cookie}"} if cookie else {}
        for path, method in office_routes(app):
            r = c.request(method, fill(path, **OFFICE_PARAMS), headers=headers, data={"csrf": site["csrf"]})
            assert_login_redirect(r, f"{what}: {method} {path}")
    # the real cookie opens them (the refusals above are not a broken app)
    r = client_for(app, cookies={COOKIE: site["client"].cookies.get(COOKIE)}).get(f"/c/{CID}/")
    assert r.status_code == 200 and "B002" in r.text


def test_session_expires_and_ends_at_sign_out(site):
    app, root = site["app"], site["root"]
    c = client_for(app)
    c.follow_redirects = True
    login(c)
    c.follow_redirects = False
    assert c.get(f"/c/{CID}/").status_code == 200
    db = root / ".gkxlsx-web" / "web.sqlite"
    sid = hashlib.sha256(session_of(c)["sid"].encode()).hexdigest()
    with sqlite3.connect(db) as con:  # this session began 13 hours ago (longer than SESSION_HOURS)
        assert con.execute("UPDATE sessions SET started = started - 13 * 3600 WHERE sid_sha256=?", (sid,)).rowcount == 1
    assert_login_redirect(c.get(f"/c/{CID}/"), "expired")
    # signing out ends the session on the server: the same cookie, kept by someone, is refused
    c = client_for(app)
    c.follow_redirects = True
    csrf = login(c)
    c.follow_redirects = False
    cookie = c.cookies.get(COOKIE)
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    replay = client_for(app, cookies={COOKIE: cookie})
    assert_login_redirect(replay.get(f"/c/{CID}/"), "after sign-out")


def test_login_next_stays_on_this_site(site):
    c = client_for(site["app"])
    for nxt in ("//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "/\t/evil.example"):
        r = c.get("/login", params={"next": nxt})
        r = c.post(
            "/login", params={"next": nxt}, data={"csrf": csrf_of(r.text), "username": USER, "password": PASSWORD}
        )
        assert r.status_code == 303 and r.headers["location"] == "/", (nxt, r.headers["location"])
    r = c.get("/login", params={"next": "/c/c1/"})
    r = c.post(
        "/login", params={"next": "/c/c1/"}, data={"csrf": csrf_of(r.text), "username": USER, "password": PASSWORD}
    )
    assert r.headers["location"] == "/c/c1/"


# --------------------------------------------------------------------------------------------
# unit links


def test_a_unit_link_reaches_only_its_unit(site):
    app, camp = site["app"], site["camp"]
    c = client_for(app)
    tok_a = token_for(site, "A001")
    page = c.get(f"/u/{tok_a}")
    assert page.status_code == 200 and XSS_SCRIPT_SHOWN in page.text  # A's name
    assert "B002" not in page.text and XSS_IMG_SHOWN not in page.text  # B's code and name
    # B002 has version 1; A001 has none: A's link gives no feedback workbook of any version
    for v in (1, 2, 0, 99999999999999999999):
        r = c.get(f"/u/{tok_a}/v/{v}/feedback")
        assert r.status_code == 404 and "B002" not in r.text, v
        r = c.get(f"/u/{tok_a}", params={"v": v})
        assert "B002" not in r.text and "第 1 版" not in r.text, v
    # the template it gives is A's own
    r = c.get(f"/u/{tok_a}/template")
    assert r.status_code == 200 and "A001" in r.headers["content-disposition"]
    office = client_for(app, cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    assert r.content == office.get(f"/c/{CID}/u/A001/template").content
    assert r.content != office.get(f"/c/{CID}/u/B002/template").content
    # B's workbook through A's link: refused, nothing recorded
    before = snapshot(site["root"])
    csrf = csrf_of(page.text)
    data, ctype = multipart({"csrf": csrf}, [("files", b"b.xlsx", workbook(camp, "B002", seed=7))])
    r = c.post(f"/u/{tok_a}/upload", content=data, headers={"content-type": ctype})
    assert r.status_code == 400 and "不是本单位（A001）的，未登记" in r.text
    after = snapshot(site["root"])
    led = "c1/ledger.sqlite"
    assert after[led]["submissions"] == before[led]["submissions"]
    assert after[led]["quarantine"] == before[led]["quarantine"]
    # a link that is no token at all, or looks like a path
    for bad in ("x", "..%2F..%2Fc%2Fc1%2F", tok_a[:-1], tok_a + "A", "A" * 65):
        assert c.get(f"/u/{bad}").status_code == 404, bad


def test_revoked_and_reissued_links_are_refused(site):
    app = site["app"]
    office = client_for(app, cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    c = client_for(app)
    old = token_for(site, "C003")
    assert c.get(f"/u/{old}").status_code == 200
    csrf = site["csrf"]

    def refused(tok: str) -> None:
        assert c.get(f"/u/{tok}").status_code == 404
        assert c.get(f"/u/{tok}/template").status_code == 404
        assert c.get(f"/u/{tok}/v/1/feedback").status_code == 404
        data, ctype = multipart({"csrf": csrf}, [("files", b"c.xlsx", b"PK\x03\x04 not a workbook")])
        assert c.post(f"/u/{tok}/upload", content=data, headers={"content-type": ctype}).status_code == 404

    r = office.post(f"/c/{CID}/u/C003/link", data={"csrf": csrf, "action": "revoke"})
    assert r.status_code == 303
    refused(old)
    assert app.state.web.state.unit_token(CID, "C003") is None
    r = office.post(f"/c/{CID}/u/C003/link", data={"csrf": csrf, "action": "reissue"})
    new = app.state.web.state.unit_token(CID, "C003")
    assert new and new != old and c.get(f"/u/{new}").status_code == 200
    refused(old)  # the old link stays dead after a new one is issued
    office.post(f"/c/{CID}/u/C003/link", data={"csrf": csrf, "action": "reissue"})
    refused(new)


def test_token_and_csrf_checks_compare_in_constant_time(site, monkeypatch):
    real = web_state.hmac.compare_digest
    calls: list[tuple[bytes, bytes]] = []

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(web_state.hmac, "compare_digest", spy)
    tok = token_for(site, "A001")
    c = client_for(site["app"])
    page = c.get(f"/u/{tok}")
    assert page.status_code == 200
    assert any(b == tok.encode() for _a, b in calls), "the link token was not compared with compare_digest"
    calls.clear()
    data, ctype = multipart({"csrf": "wrong"}, [("files", b"a.xlsx", b"x")])
    assert c.post(f"/u/{tok}/upload", content=data, headers={"content-type": ctype}).status_code == 403
    assert any(b == b"wrong" for _a, b in calls), "the CSRF token was not compared with compare_digest"


# --------------------------------------------------------------------------------------------
# CSRF


def _post_body(path: str, camp: Path) -> dict:
    """A form that would change something if its CSRF token were not checked."""
    if path.endswith("/upload") or path == "/new":
        files = [("files", b"A001.xlsx", workbook(camp, "A001", seed=11))]
        if path == "/new":
            files = [("roster", b"roster.csv", (camp / "roster.csv").read_bytes())]
        return {"files": files, "fields": {"year": "2025"}}
    return {
        "fields": {
            "username": "mallory" if path == "/accounts" else USER,
            "password": "mallory-pw-123" if path == "/accounts" else PASSWORD,
            "action": "revoke",
            "note": "已核实",
            "host": "smtp.evil.example",
            "port": "25",
            "security": "none",
            "kind": "send",
            "text": "x",
        }
    }


def test_every_post_needs_its_sessions_csrf_token(site):
    app, root, camp = site["app"], site["root"], site["camp"]
    office_cookie = site["client"].cookies.get(COOKIE)
    other = client_for(app)  # a second session of the same user: its token is not this session's
    other.follow_redirects = True
    other_csrf = login(other)
    assert other_csrf != site["csrf"]
    posts = [(p, m) for p, m in routes(app) if m == "POST" and p != "/setup"]
    assert len(posts) >= 12
    tok = token_for(site, "A001")
    params = {**OFFICE_PARAMS, "token": tok}
    checked = 0
    for path, _ in posts:
        url = fill(path, **params)
        body = _post_body(path, camp)
        for what, token in (("missing", None), ("wrong", "x" * 32), ("another session's", other_csrf)):
            c = client_for(app, cookies={COOKIE: office_cookie})
            fields = dict(body["fields"])
            if token is not None:
                fields["csrf"] = token
            data, ctype = multipart(fields, body.get("files", []))
            before = snapshot(root)
            r = c.post(url, content=data, headers={"content-type": ctype})
            assert r.status_code == 403 and CSRF_REFUSED in r.text, (what, path, r.status_code, r.text[:300])
            assert "text/html" in r.headers["content-type"]
            assert snapshot(root) == before, (what, path)
            checked += 1
    assert checked == 3 * len(posts)
    # a refused login made no session; a refused logout ended none
    r = client_for(app, cookies={COOKIE: office_cookie}).get(f"/c/{CID}/")
    assert r.status_code == 200
    # the control: with the right token a change is seen by the snapshot
    before = snapshot(root)
    r = client_for(app, cookies={COOKIE: office_cookie}).post(
        f"/c/{CID}/u/A001/link", data={"csrf": site["csrf"], "action": "reissue"}
    )
    assert r.status_code == 303 and snapshot(root) != before


def test_first_account_setup_needs_csrf(tmp_path):
    root = tmp_path / "served"
    make_site(root, n=1)
    app = build(root)
    c = client_for(app)
    assert c.get("/login").headers["location"] == "/setup"
    page = c.get("/setup")
    assert page.status_code == 200
    for token in (None, "x" * 32):
        data = {"username": "mallory", "password": "mallory-pw-1", "password2": "mallory-pw-1"}
        if token:
            data["csrf"] = token
        r = c.post("/setup", data=data)
        assert r.status_code == 403 and CSRF_REFUSED in r.text
    assert not app.state.web.state.has_accounts()
    # a valid form from whoever reached the new server first, without the start code printed by
    # `gkxlsx serve`: refused
    good = {"csrf": csrf_of(page.text), "username": "mallory", "password": "mallory-pw-1", "password2": "mallory-pw-1"}
    for code in (None, "", "WRONG999", "x" * 5000):
        r = c.post("/setup", data=good if code is None else {**good, "setup_code": code})
        assert "启动码不对" in r.text
    assert not app.state.web.state.has_accounts()


# --------------------------------------------------------------------------------------------
# uploads


def test_upload_limits(site):
    """A file over the per-file limit, and a request over the per-request limit, declared or not:
    a Chinese refusal (413), nothing recorded.  Small limits keep the test fast; the defaults are
    the documented ones."""
    default = build(site["root"]).state.web
    assert (default.max_file, default.max_request) == (20 * 1024 * 1024, 200 * 1024 * 1024)
    camp, root = site["camp"], site["root"]
    app = build(root, max_file=100_000, max_request=400_000)
    office = client_for(app, cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    tok = token_for(site, "A001")
    unit = client_for(app)
    unit_csrf = csrf_of(unit.get(f"/u/{tok}").text)
    wb = workbook(camp, "A001", seed=21)
    assert len(wb) < 100_000
    big = wb + b"\0" * (100_001 - len(wb))
    before = snapshot(root)
    for c, url, csrf in ((office, f"/c/{CID}/upload", site["csrf"]), (unit, f"/u/{tok}/upload", unit_csrf)):
        data, ctype = multipart({"csrf": csrf}, [("files", b"big.xlsx", big)])
        r = c.post(url, content=data, headers={"content-type": ctype})
        assert r.status_code == 413 and "文件超过 97 KB，未接收" in r.text, (url, r.text[:500])
        # the same through the page's script (one file per request): its row, with the status
        r = c.post(url, content=data, headers={"content-type": ctype, "hx-request": "true"})
        assert r.status_code == 413 and "文件超过 97 KB" in r.text
        # over the request's limit: five returns in one request (streamed, no length declared)
        files = [("files", f"{i}.xlsx".encode(), workbook(camp, "A001", seed=30 + i)) for i in range(5)]
        files += [("files", f"pad{j}.xlsx".encode(), b"\0" * 90_000) for j in range(3)]
        data, ctype = multipart({"csrf": csrf}, files)
        assert len(data) > 400_000

        def chunks(data=data):
            for i in range(0, len(data), 65536):
                yield data[i : i + 65536]

        r = c.post(url, content=chunks(), headers={"content-type": ctype})
        assert r.status_code == 413 and "一次上传的内容超过 390 KB，未接收" in r.text, (url, r.status_code)
        assert "content-security-policy" in r.headers
        # declared: refused before the body is read
        r = c.post(url, content=data, headers={"content-type": ctype})
        assert r.status_code == 413 and "一次上传的内容超过 390 KB" in r.text
        assert "text/html" in r.headers["content-type"] and "content-security-policy" in r.headers
    assert snapshot(root) == before
    assert not list((camp / ".uploads").glob("*"))  # nothing left staged (no folder at all: nothing was)


def test_zip_bombs_are_refused_per_member_in_bounded_memory(site):
    """Members that say 40 KB and inflate to 300 MB (deflate) or 150 MB (bzip2: slow to make), one
    that says 300 MB, 5,000 entries, and 380,000 entries in 20 MB of central directory: each refused
    with its reason, the honest member beside them recorded, peak memory (tracemalloc) below the
    bombs' size."""
    camp = site["camp"]
    client = client_for(site["app"], cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    honest = workbook(camp, "C003", seed=41, hostile_text=False)
    huge = 300 << 20
    deflated = zeros(zipfile.ZIP_DEFLATED, huge)
    bomb = _pack(
        [
            ("C003.xlsx", zipfile.ZIP_STORED, honest, zlib.crc32(honest), len(honest)),
            ("deflate.xlsx", zipfile.ZIP_DEFLATED, deflated, 0, 40_000),
            ("bzip2.xlsx", zipfile.ZIP_BZIP2, zeros(zipfile.ZIP_BZIP2, 150 << 20), 0, 40_000),
            ("huge.xlsx", zipfile.ZIP_DEFLATED, deflated, 0, huge),
        ]
    )
    many = many_entries_zip(5000)
    flood = many_entries_zip(380_000)
    assert len(flood) < 20 * 1024 * 1024 and len(bomb) < 4 * 1024 * 1024
    before = len(submissions(camp))
    tracemalloc.start()
    t = time.time()
    try:
        data, ctype = multipart({"csrf": site["csrf"]}, [("files", b"returns.zip", bomb)])
        r = client.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype})
        assert r.status_code == 200, r.text[:500]
        rows = dict(re.findall(r'<tr class="k-[^"]*">\s*<td>([^<]*)</td>.*?<td>(.*?)</td>\s*</tr>', r.text, re.S))
        assert "已登记为 C003" in rows["returns.zip → C003.xlsx"], rows
        assert "压缩炸弹" in rows["returns.zip → deflate.xlsx"], rows
        assert "压缩炸弹" in rows["returns.zip → bzip2.xlsx"], rows
        assert "解压后超过 20 MB，未接收" in rows["returns.zip → huge.xlsx"], rows
        for blob in (many, flood):
            data, ctype = multipart({"csrf": site["csrf"]}, [("files", b"many.zip", blob)])
            r = client.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype})
            assert r.status_code == 400 and "压缩包中的文件超过 2000 个，未接收" in r.text, r.text[:500]
        del data
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 120 * 1024 * 1024, peak  # ~60 MB measured: the test holds the 20 MB zips and their bodies
    assert time.time() - t < 30
    subs = submissions(camp)
    assert len(subs) == before + 1 and any(s["filename"] == "returns.zip → C003.xlsx" for s in subs)
    assert not list((camp / ".uploads").glob("*"))  # nothing left staged (no folder at all: nothing was)


HOSTILE_NAMES = [
    b"../../etc/passwd.xlsx",
    b"C:\\x\\..\\evil.xlsx",
    b"/abs/evil2.xlsx",
    b"nul\x00byte.xlsx",
    b"new\nline.xlsx",
    "rtl\u202eslx.xlsx".encode(),
    ("中" * 400 + ".xlsx").encode(),
    b"..",
    b'quo\\"te;.xlsx',  # quo"te;.xlsx, escaped as a client writes it
]


def test_uploaded_names_never_become_paths(site):
    camp, root = site["camp"], site["root"]
    client = client_for(site["app"], cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    outside = root.parent
    before = {p for p in outside.rglob("*")}
    files = [("files", n, workbook(camp, "A001", seed=50 + i)) for i, n in enumerate(HOSTILE_NAMES)]
    # and inside a zip, the same names for its members
    z = zip_bytes(
        [
            (
                n.decode("utf-8", "replace").replace("\x00", "_"),
                workbook(camp, "A001", seed=80 + i),
                zipfile.ZIP_DEFLATED,
            )
            for i, n in enumerate(HOSTILE_NAMES[:3])
        ]
    )
    files.append(("files", b"../../evil.zip", z))
    data, ctype = multipart({"csrf": site["csrf"]}, files)
    r = client.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype})
    assert r.status_code == 200, r.text
    assert r.text.count("已登记为 A001") == len(HOSTILE_NAMES) + 3, r.text
    # nothing was written outside the campaign's archive, ledger and staging
    new = {p for p in outside.rglob("*")} - before
    allowed = (camp / "原件归档", camp / ".uploads", root / ".gkxlsx-web")
    for p in new:
        assert any(p == a or a in p.parents for a in allowed) or p.name.startswith("ledger.sqlite"), p
    assert not list(outside.rglob("passwd.xlsx")) and not list(outside.rglob("evil*.xlsx"))
    assert not Path("/etc/passwd.xlsx").exists() and not Path("/abs").exists()
    # a raw CR in a part's header is no multipart at all: the request is refused, nothing recorded
    n = len(submissions(camp))
    data, ctype = multipart({"csrf": site["csrf"]}, [("files", b"cr\rreturn.xlsx", workbook(camp, "A001", seed=79))])
    r = client.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype})
    assert r.status_code == 400 and "提交的内容无法读取" in r.text and len(submissions(camp)) == n
    assert not list((camp / ".uploads").glob("*"))  # nothing left staged (no folder at all: nothing was)
    # the ledger records cleaned names: one component, printable, bounded
    names = [s["filename"] for s in submissions(camp) if s["unit_code"] == "A001"]
    assert len(names) >= len(HOSTILE_NAMES) + 3
    for n in names:
        for part in n.split(" → "):
            assert "/" not in part and "\\" not in part and part not in ("", ".", ".."), n
        assert n.isprintable() and "\u202e" not in n and len(n.encode()) <= 420, n
    assert "passwd.xlsx" in names and "evil.xlsx" in names
    # every download names its file safely: an ASCII fallback and the UTF-8 name, no CR/LF/quotes
    versions = [s["version"] for s in submissions(camp) if s["unit_code"] == "A001"]
    urls = [f"/c/{CID}/u/A001/v/{v}/original" for v in versions[:6]] + [
        f"/c/{CID}/u/A001/v/{versions[0]}/feedback",
        f"/c/{CID}/u/A001/template",  # the unit's name is <script>…
        f"/c/{CID}/u/B002/template",
        f"/c/{CID}/templates.zip",
        f"/c/{CID}/status.xlsx",
        f"/u/{token_for(site, 'A001')}/template",
    ]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        cd = r.headers["content-disposition"]
        assert re.fullmatch(r"attachment; filename=\"[A-Za-z0-9._-]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+", cd), (
            url,
            cd,
        )


# --------------------------------------------------------------------------------------------
# escaping, CSP, errors


def test_hostile_text_is_shown_as_text_everywhere(site):
    camp = site["camp"]
    office = client_for(site["app"], cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    tok_b = token_for(site, "B002")
    unit = client_for(site["app"])
    # a second version of B (hostile narrative and file name) through B's own link
    portal = unit.get(f"/u/{tok_b}")
    data, ctype = multipart(
        {"csrf": csrf_of(portal.text)},
        [("files", b'<script>alert(1)<\\script>"><img src=x onerror=alert(1)>.xlsx', workbook(camp, "B002", seed=2))],
    )
    r = unit.post(f"/u/{tok_b}/upload", content=data, headers={"content-type": ctype})
    assert r.status_code == 200 and "已登记为 B002 第" in r.text
    assert_escaped(r.text, XSS_IMG_SHOWN, "&lt;script&gt;alert(", where="portal upload result")
    data, ctype = multipart(
        {"csrf": site["csrf"]}, [("files", b"<img src=x onerror=alert(1)>.xlsx", workbook(camp, "B002", seed=3))]
    )
    r = office.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype})
    assert_escaped(r.text, "&lt;img src=x onerror=alert(1)&gt;.xlsx", where="office upload result")
    r = office.post(f"/c/{CID}/upload", content=data, headers={"content-type": ctype, "hx-request": "true"})
    assert_escaped(r.text, where="office upload rows")
    hist = [s["version"] for s in submissions(camp) if s["unit_code"] == "B002"]
    pages = {
        "dashboard": (office, f"/c/{CID}/", (XSS_SCRIPT_SHOWN, XSS_IMG_SHOWN)),
        "dashboard units": (office, f"/c/{CID}/?part=units&q=B002", (XSS_IMG_SHOWN,)),
        "unit page A": (office, f"/c/{CID}/u/A001", (XSS_SCRIPT_SHOWN,)),
        "unit page B": (office, f"/c/{CID}/u/B002?v={hist[0]}", (XSS_IMG_SHOWN, "“接照&lt;script&gt;alert(")),
        "diff": (office, f"/c/{CID}/u/B002/diff?a={hist[0]}&b={hist[-1]}", (XSS_IMG_SHOWN,)),
        "portal B": (unit, f"/u/{tok_b}?v={hist[0]}", (XSS_IMG_SHOWN, "“接照&lt;script&gt;alert(")),
        "portal A": (unit, f"/u/{token_for(site, 'A001')}", (XSS_SCRIPT_SHOWN,)),
        "mail": (office, f"/c/{CID}/mail", ()),
        "report": (office, f"/c/{CID}/report", ()),
    }
    for what, (c, url, shown) in pages.items():
        r = c.get(url, headers={"hx-request": "true"} if "part=" in url else {})
        assert r.status_code == 200, (what, r.status_code)
        assert_escaped(r.text, *shown, where=what)
    r = office.post(f"/c/{CID}/mail/preview", data={"csrf": site["csrf"], "kind": "send"})
    assert r.status_code == 200
    assert_escaped(r.text, XSS_SCRIPT_SHOWN, where="mail preview")


def test_every_html_response_has_a_csp_without_inline_script(site, monkeypatch):
    app = site["app"]
    office = client_for(app, cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    anon = client_for(app)
    tok = token_for(site, "A001")
    responses = []
    for path, method in routes(app):
        if method != "GET" or path == "/{rest:path}":
            continue
        url = fill(path, **OFFICE_PARAMS, token=tok)
        responses += [office.get(url), anon.get(url)]
    responses += [
        anon.get("/nothing/here"),
        anon.post("/login", data={}),  # 403
        office.delete(f"/c/{CID}/"),  # 405
        anon.get("/u/not-a-token"),  # 404
        office.get(f"/c/{CID}/u/NOPE"),
        anon.get("/static/..%2F..%2F.gkxlsx-web/secret.key"),
    ]
    monkeypatch.setattr(Campaign, "status", lambda self: 1 / 0)
    responses.append(office.get(f"/c/{CID}/"))  # 500
    html = [r for r in responses if r.headers.get("content-type", "").startswith("text/html")]
    assert len(html) >= 20 and {r.status_code for r in html} >= {200, 403, 404, 405, 500}
    for r in html:
        csp = r.headers.get("content-security-policy", "")
        directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
        script = directives.get("script-src", directives.get("default-src", ""))
        assert script and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, (r.url, csp)
        assert r.headers.get("x-content-type-options") == "nosniff"
        assert "<script>" not in r.text and " on" + "click=" not in r.text, r.url  # no inline script at all
    assert all(r.status_code != 200 for r in responses if "secret.key" in str(r.url))


PYTHON_WORDS = re.compile(r"Traceback|File \"|\.py\b|Error\b|Exception|gkxlsx\.|self\.|line \d+|_[a-z]+_")


def test_an_internal_error_is_a_chinese_page_with_a_reference(site, monkeypatch, caplog):
    app, camp = site["app"], site["camp"]
    office = client_for(app, cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    unit = client_for(app)
    tok = token_for(site, "A001")
    csrf = csrf_of(unit.get(f"/u/{tok}").text)

    def boom(*a, **k):
        raise RuntimeError("secret_marker_zq in /srv/gkxlsx/x.py")

    import gkxlsx.campaign.campaign as campaign_module

    monkeypatch.setattr(Campaign, "status", boom)
    monkeypatch.setattr(campaign_module, "import_files", boom)
    wb = workbook(camp, "A001", seed=90)
    data, ctype = multipart({"csrf": csrf}, [("files", b"a.xlsx", wb)])
    odata, octype = multipart({"csrf": site["csrf"]}, [("files", b"a.xlsx", wb)])
    caplog.set_level(logging.INFO)
    for what, r in (
        ("dashboard", office.get(f"/c/{CID}/")),
        ("portal upload", unit.post(f"/u/{tok}/upload", content=data, headers={"content-type": ctype})),
        ("office upload", office.post(f"/c/{CID}/upload", content=odata, headers={"content-type": octype})),
    ):
        assert r.status_code == 500, what
        m = re.search(r"处理时出现意外错误，已记录（编号 ([0-9a-f]{8})）", r.text)
        assert m, (what, r.text)
        assert not PYTHON_WORDS.search(r.text), (what, PYTHON_WORDS.search(r.text))
        assert "secret_marker" not in r.text and "RuntimeError" not in r.text
        assert "content-security-policy" in r.headers
        logged = [rec for rec in caplog.records if m.group(1) in rec.getMessage()]
        assert logged and logged[0].exc_info and "secret_marker_zq" in str(logged[0].exc_info[1]), what
    # the server's log never holds a unit's link (it is the unit's key); the test client's own
    # log (httpx) is not the server's
    server = [rec for rec in caplog.records if not rec.name.startswith("httpx")]
    assert server and not any(tok in rec.getMessage() for rec in server)


# --------------------------------------------------------------------------------------------
# secrets


def test_secrets_are_never_stored_or_logged_in_clear(site, caplog):
    root = site["root"]
    office = client_for(site["app"], cookies={COOKIE: site["client"].cookies.get(COOKIE)})
    smtp_pw = "Smtp-密码-7fq3Zx9Kp"
    caplog.set_level(logging.DEBUG)
    r = office.post(
        f"/c/{CID}/mail/settings",
        data={
            "csrf": site["csrf"],
            "host": "smtp.example.cn",
            "port": "465",
            "security": "ssl",
            "user": "office@example.cn",
            "sender": "office@example.cn",
            "sender_name": "政务公开办",
            "password": smtp_pw,
        },
    )
    assert r.status_code == 303
    page = office.get(f"/c/{CID}/mail")
    assert "已保存" in page.text and smtp_pw not in page.text
    assert site["app"].state.web.state.secret_setting(f"smtp_password:{CID}") == smtp_pw  # really kept
    needles = [smtp_pw.encode(), smtp_pw.encode("utf-16-le"), PASSWORD.encode(), PASSWORD.encode("utf-16-le")]
    walked = [p for p in root.rglob("*") if p.is_file()]
    assert {"web.sqlite", "secret.key", "campaign.toml", "ledger.sqlite"} <= {p.name for p in walked}
    for p in walked:
        data = p.read_bytes()
        for n in needles:
            assert n not in data, (p, n)
    for rec in caplog.records:
        assert smtp_pw not in rec.getMessage() and PASSWORD not in rec.getMessage()
    # office passwords only as argon2 hashes
    accounts = table_rows(root / ".gkxlsx-web" / "web.sqlite")["accounts"]
    assert accounts and all(str(a[1]).startswith("$argon2id$") for a in accounts)
    # the key and the state are private
    state_dir = root / ".gkxlsx-web"
    assert stat.S_IMODE((state_dir / "secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((state_dir / "web.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    # a key restored with loose permissions is made private again at the next start
    (state_dir / "secret.key").chmod(0o644)
    build(root)
    assert stat.S_IMODE((state_dir / "secret.key").stat().st_mode) == 0o600
