"""Helpers shared by the web app's tests: a campaign whose unit names and narratives are hostile,
returned workbooks, signing in, CSRF tokens, hand-made multipart bodies, a snapshot of everything a
request could change, and a real uvicorn server in a thread or a subprocess."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gkxlsx.campaign.campaign import Campaign, init_campaign

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_ROSTER = ROOT / "examples" / "roster.csv"

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
# escaped as the templates print them (Jinja escapes < > & " ')
XSS_SCRIPT_SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt;"
XSS_IMG_SHOWN = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
RAW_MARKUP = ("<script>alert", "<img src=x", "onerror=alert(1)>")

USER, PASSWORD = "admin", "pw-Office-2025"
CID = "c1"


def roster_rows(n: int = 3) -> list[list[str]]:
    """The example roster's header and first ``n`` units, the first two renamed to hostile HTML."""
    with open(EXAMPLE_ROSTER, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1 : n + 1]
    body[0][0], body[0][1] = "A001", XSS_SCRIPT + body[0][1]
    if n > 1:
        body[1][0], body[1][1] = "B002", XSS_IMG + body[1][1]
    for i, r in enumerate(body[2:], start=3):
        r[0] = f"C{i:03d}"
    return [header, *body]


def make_site(root: Path, n: int = 3) -> Path:
    """A folder of campaigns (served as ``root``) holding one campaign ``c1`` of ``n`` units."""
    root.mkdir(parents=True, exist_ok=True)
    roster = root.parent / f"{root.name}-roster.csv"
    with open(roster, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(roster_rows(n))
    camp = init_campaign(root / CID, year=2025, roster=roster, office="示例县政务公开办", deadline=dt.date(2099, 1, 20))
    camp.close()
    return root / CID


def workbook(camp_dir: Path, code: str, seed: int = 1, hostile_text: bool = True) -> bytes:
    """A unit's filled-in workbook; with ``hostile_text`` its narrative carries HTML, placed where
    the typo check quotes it back in a finding (W-TXT-TYPO)."""
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.workbook.generate import build_workbook

    with Campaign(camp_dir) as camp:
        u = camp.unit(code)
        values = sample_values(camp.form, u.name, u.type, camp.year, seed=seed)
        if hostile_text:
            values["s1.overview"] = f"接照{XSS_SCRIPT}要求，截止2025年底{XSS_IMG}。" + values["s1.overview"]
        data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    return data


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]*)"', html) or re.search(r'name="csrf-token" content="([^"]*)"', html)
    assert m and m.group(1), "no CSRF token on the page"
    return m.group(1)


def setup_code(root: Path) -> str:
    """The one-time start code of a served folder (``gkxlsx serve`` prints it; it is kept there too)."""
    return (Path(root) / ".gkxlsx-web" / "setup-code").read_text(encoding="ascii").strip()


def login(client: Any, user: str = USER, password: str = PASSWORD, root: Path | None = None) -> str:
    """Sign in (making the first account when there is none: ``root`` is the served folder, for the
    start code; a TestClient knows it); returns the session's CSRF token."""
    r = client.get("/login")
    if "/setup" in str(r.url):
        if root is None:
            root = client.app.state.web.site.root
        r = client.post(
            "/setup",
            data={
                "csrf": csrf_of(r.text),
                "setup_code": setup_code(root),
                "username": user,
                "password": password,
                "password2": password,
            },
        )
    else:
        r = client.post("/login", data={"csrf": csrf_of(r.text), "username": user, "password": password})
    assert r.status_code == 200 and "/login" not in str(r.url), r.text[:500]
    return csrf_of(client.get("/audit").text)


def multipart(fields: dict[str, str], files: list[tuple[str, bytes, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body written by hand, so a file name reaches the server byte for byte
    (an HTTP client would escape it).  ``files``: (field, raw file name bytes, content)."""
    boundary = "gkxlsxBoundary" + hashlib.sha256(os.urandom(8)).hexdigest()[:16]
    out = bytearray()
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for field, raw_name, data in files:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="'.encode()
        out += raw_name + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def table_rows(db: Path, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of every table of a SQLite file (read-only)."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(map(tuple, c.execute(f'SELECT * FROM "{t}"')), key=repr) for t in tables if t not in skip}
    finally:
        c.close()


def files_under(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` (SQLite files and their journals left out: compared by their rows)
    with its size and sha256."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not re.search(r"\.sqlite(-wal|-shm|-journal)?$", p.name):
            out[p.relative_to(root).as_posix()] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def snapshot(root: Path) -> dict[str, Any]:
    """What a request could change under a served folder: the ledger's and the web state's rows and
    every other file."""
    snap: dict[str, Any] = {"files": files_under(root)}
    for db in sorted(root.rglob("*.sqlite")):
        snap[db.relative_to(root).as_posix()] = table_rows(db)
    return snap


def submissions(camp_dir: Path) -> list[sqlite3.Row]:
    c = sqlite3.connect(f"file:{camp_dir / 'ledger.sqlite'}?mode=ro", uri=True)
    c.row_factory = sqlite3.Row
    try:
        return list(c.execute("SELECT * FROM submissions ORDER BY unit_code, version"))
    finally:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(base: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(base + "/login", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(base)


@contextmanager
def server_in_thread(app: Any) -> Iterator[str]:
    """A real uvicorn server for ``app`` in a thread of this process; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base)
        yield base
    finally:
        server.should_exit = True
        t.join(timeout=10)
        sock.close()


def serve_subprocess(root: Path, port: int, log: Path) -> subprocess.Popen:
    """``gkxlsx serve root`` as its own process (to be killed); its output appended to ``log``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gkxlsx", "serve", str(root), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


# -- a TestClient signed in, for the functional tests (tests/test_web.py) ------------------------

with warnings.catch_warnings():  # starlette's notice about httpx versions, not about gkxlsx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def office_client(root: Path, app: Any = None) -> tuple[TestClient, str]:
    """(a client signed in as the first office account, its CSRF token) on the served ``root``."""
    from gkxlsx.web.app import build

    app = app or build(root)
    c = TestClient(app, follow_redirects=False)
    r = c.get("/setup")
    if r.status_code == 200:
        r = c.post(
            "/setup",
            data={
                "csrf": csrf_of(r.text),
                "setup_code": setup_code(app.state.web.site.root),
                "username": USER,
                "password": PASSWORD,
                "password2": PASSWORD,
            },
        )
        assert r.status_code == 303, r.text
    else:
        r = c.get("/login")
        r = c.post("/login", data={"csrf": csrf_of(r.text), "username": USER, "password": PASSWORD})
        assert r.status_code == 303, r.text
    page = c.get("/accounts")
    assert page.status_code == 200
    return c, csrf_of(page.text)
