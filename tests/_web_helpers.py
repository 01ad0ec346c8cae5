"""Helpers shared by the web tests: an app on a campaign folder, the first office account made
the way a person makes it (the one-time start code from the server's folder), a logged-in client."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from gkxlsx.web.app import build

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

USER, PASSWORD = "办公室", "correct horse 1"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]*)"', html) or re.search(r'name="csrf" value="([^"]*)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def setup_code(root: Path) -> str:
    return (Path(root) / ".gkxlsx-web" / "setup-code").read_text(encoding="ascii").strip()


def office_client(root: Path, app=None) -> tuple[TestClient, str]:
    """(client logged in as the first office account, its CSRF token)."""
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
