"""The ledger's guarantees through the web path (issue 16), against a real uvicorn server: two
uploads of one unit at once, and a server killed (SIGKILL) in the middle of uploads."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
from _web_helpers import (
    CID,
    csrf_of,
    free_port,
    login,
    make_site,
    multipart,
    serve_subprocess,
    server_in_thread,
    submissions,
    wait_up,
    workbook,
)

from gkxlsx.campaign.campaign import Campaign
from gkxlsx.web.app import build

NEW = re.compile(r"已登记为 (\w+) 第 (\d+) 版")
DUPLICATE = "未重复记录"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _integrity(camp_dir: Path) -> list[str]:
    with Campaign(camp_dir) as camp:
        return camp.ledger.integrity()


def _versions_by_unit(camp_dir: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for s in submissions(camp_dir):
        out.setdefault(s["unit_code"], []).append(s["version"])
    return out


def test_two_uploads_of_one_unit_at_once(tmp_path):
    """Pairs of uploads of one unit sent at the same moment — through its link and the office page,
    both through the link, and the same bytes twice: every distinct file recorded once, versions
    1…n without a gap or a double, the ledger consistent."""
    root = tmp_path / "served"
    camp_dir = make_site(root, n=2)
    books = [workbook(camp_dir, "A001", seed=s, hostile_text=False) for s in range(1, 8)]
    assert len({_sha(b) for b in books}) == len(books)
    app = build(root)
    with server_in_thread(app) as base, httpx.Client(base_url=base, follow_redirects=True, timeout=60) as office:
        csrf = login(office, root=root)
        tok = app.state.web.state.unit_token(CID, "A001")
        unit = httpx.Client(base_url=base, timeout=60)
        ucsrf = csrf_of(unit.get(f"/u/{tok}").text)

        def post(kind: str, data: bytes, out: list, barrier: threading.Barrier) -> None:
            body, ctype = multipart({"csrf": ucsrf if kind == "unit" else csrf}, [("files", b"a.xlsx", data)])
            url = f"/u/{tok}/upload" if kind == "unit" else f"/c/{CID}/upload"
            client = unit if kind == "unit" else office
            barrier.wait()
            out.append(client.post(url, content=body, headers={"content-type": ctype}))

        rounds = [
            [("unit", books[0]), ("office", books[1])],
            [("unit", books[2]), ("unit", books[3])],
            [("office", books[4]), ("office", books[5])],
            [("unit", books[6]), ("office", books[6])],  # the same bytes twice
        ]
        seen: list[int] = []
        for pair in rounds:
            out: list[httpx.Response] = []
            barrier = threading.Barrier(len(pair))
            threads = [threading.Thread(target=post, args=(k, d, out, barrier)) for k, d in pair]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert len(out) == 2 and all(r.status_code == 200 for r in out), [r.text[:300] for r in out]
            got = [NEW.search(r.text) for r in out]
            if pair[0][1] == pair[1][1]:
                assert sum(1 for g in got if g) == 1 and sum(DUPLICATE in r.text for r in out) == 1
            else:
                assert all(got), [r.text[-800:] for r in out]
            seen += [int(g.group(2)) for g in got if g]
        unit.close()
    assert sorted(seen) == list(range(1, len(books) + 1))
    subs = submissions(camp_dir)
    assert [s["version"] for s in subs] == list(range(1, len(books) + 1))
    assert sorted(s["sha256"] for s in subs) == sorted(_sha(b) for b in books)
    assert _integrity(camp_dir) == []


def _stray(camp_dir: Path) -> list[Path]:
    """Temporary files an upload may leave in a campaign: staged uploads, half-written archive copies."""
    return list((camp_dir / ".uploads").glob("*")) + list(camp_dir.rglob("*.tmp"))


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, what
        time.sleep(0.01)


def _check_after_restart(camp_dir: Path, books: list[bytes]) -> set[str]:
    """Every file recorded whole (its archived copy intact, checked by integrity()) or absent; per unit
    versions 1…n; returns the recorded hashes."""
    assert _integrity(camp_dir) == []
    subs = submissions(camp_dir)
    recorded = {s["sha256"] for s in subs}
    assert recorded <= {_sha(b) for b in books} and len(recorded) == len(subs)
    for code, vs in _versions_by_unit(camp_dir).items():
        assert vs == list(range(1, len(vs) + 1)), (code, vs)
    return recorded


def test_a_server_killed_mid_upload_loses_nothing_and_leaves_nothing(tmp_path):
    root = tmp_path / "served"
    camp_dir = make_site(root, n=4)
    codes = ["A001", "B002", "C003", "C004"]
    books = [workbook(camp_dir, c, seed=s, hostile_text=False) for s in (1, 2, 3) for c in codes]
    log = tmp_path / "server.log"
    archive = camp_dir / "原件归档"
    procs: list = []

    def start() -> str:
        port = free_port()
        procs.append(serve_subprocess(root, port, log))
        base = f"http://127.0.0.1:{port}"
        wait_up(base, proc=procs[-1])
        return base

    def kill() -> None:
        procs[-1].send_signal(signal.SIGKILL)
        procs[-1].wait(timeout=30)

    def archived() -> int:
        return sum(1 for p in archive.rglob("*") if p.is_file()) if archive.exists() else 0

    try:
        # 1. one request with every file, killed while they are checked (staged, not yet recorded)
        base = start()
        client = httpx.Client(base_url=base, follow_redirects=True, timeout=60)
        csrf = login(client, root=root)
        body, ctype = multipart({"csrf": csrf}, [("files", f"{i}.xlsx".encode(), b) for i, b in enumerate(books)])
        errors: list[Exception] = []

        def send_batch() -> None:
            try:
                client.post(f"/c/{CID}/upload", content=body, headers={"content-type": ctype})
            except httpx.TransportError as e:
                errors.append(e)

        t = threading.Thread(target=send_batch)
        t.start()
        _wait(lambda: archived() >= 2, 60, "the import never started")
        kill()
        t.join(timeout=30)
        assert errors, "the upload finished before the kill: nothing was tested"
        staged = _stray(camp_dir)
        assert staged, "nothing was staged when the server died"
        # as if it had been killed while writing an archived copy (its pid is gone) — and one of a
        # process still running, which must be left alone
        dead_pid = procs[-1].pid
        (archive / "ab").mkdir(parents=True, exist_ok=True)
        dead = archive / "ab" / f".{'ab' * 32}.xlsx.{dead_pid}.123.tmp"
        live = archive / "ab" / f".{'ab' * 32}.xlsx.{os.getpid()}.456.tmp"
        dead.write_bytes(b"half")
        live.write_bytes(b"busy")
        client.close()

        base = start()
        assert not dead.exists() and live.exists()
        live.unlink()
        assert _stray(camp_dir) == [], _stray(camp_dir)
        first = _check_after_restart(camp_dir, books)

        # 2. one file per request, as the upload page's script sends them, killed after a few
        client = httpx.Client(base_url=base, follow_redirects=True, timeout=60)
        csrf = login(client, root=root)

        def send_each() -> None:
            try:
                for i, b in enumerate(books):
                    bd, ct = multipart({"csrf": csrf}, [("files", f"{i}.xlsx".encode(), b)])
                    client.post(f"/c/{CID}/upload", content=bd, headers={"content-type": ct, "hx-request": "true"})
            except httpx.TransportError as e:
                errors.append(e)

        errors.clear()
        t = threading.Thread(target=send_each)
        t.start()
        _wait(lambda: len(submissions(camp_dir)) >= len(first) + 4, 60, "nothing was recorded")
        kill()
        t.join(timeout=30)
        assert errors, "every file was sent before the kill: nothing was tested"
        client.close()

        base = start()
        assert _stray(camp_dir) == [], _stray(camp_dir)
        second = _check_after_restart(camp_dir, books)
        assert first < second < {_sha(b) for b in books}

        # 3. everything again: the missing files are recorded, the others recognised
        client = httpx.Client(base_url=base, follow_redirects=True, timeout=60)
        csrf = login(client, root=root)
        r = client.post(f"/c/{CID}/upload", content=body, headers={"content-type": ctype})
        assert r.status_code == 403  # the first session's token: refused, nothing done
        body, ctype = multipart({"csrf": csrf}, [("files", f"{i}.xlsx".encode(), b) for i, b in enumerate(books)])
        r = client.post(f"/c/{CID}/upload", content=body, headers={"content-type": ctype})
        assert r.status_code == 200
        assert len(NEW.findall(r.text)) == len(books) - len(second)
        assert r.text.count(DUPLICATE) == len(second)
        client.close()
        final = _check_after_restart(camp_dir, books)
        assert final == {_sha(b) for b in books}
        assert _versions_by_unit(camp_dir) == {c: [1, 2, 3] for c in codes}
        assert _stray(camp_dir) == []
        assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except Exception:
                    p.kill()


def test_request_limits_over_a_real_server(tmp_path):
    """Over uvicorn, a body over the request limit — declared or streamed — gets the Chinese 413
    page with its headers (the server answers before reading the rest), and nothing is recorded."""
    root = tmp_path / "served"
    camp_dir = make_site(root, n=1)
    app = build(root, max_file=100_000, max_request=400_000)
    with server_in_thread(app) as base, httpx.Client(base_url=base, follow_redirects=True, timeout=60) as c:
        csrf = login(c, root=root)
        files = [
            ("files", f"{i}.xlsx".encode(), workbook(camp_dir, "A001", seed=i, hostile_text=False)) for i in (1, 2)
        ]
        files += [("files", f"pad{i}.xlsx".encode(), b"\0" * 90_000) for i in range(4)]
        body, ctype = multipart({"csrf": csrf}, files)
        assert len(body) > 400_000
        for content in (body, (body[i : i + 65536] for i in range(0, len(body), 65536))):
            r = c.post(f"/c/{CID}/upload", content=content, headers={"content-type": ctype})
            assert r.status_code == 413 and "一次上传的内容超过 390 KB，未接收" in r.text
            assert "content-security-policy" in r.headers and r.headers["content-type"].startswith("text/html")
        big, ctype = multipart({"csrf": csrf}, [("files", b"big.xlsx", b"\0" * 8_000_000)])
        r = c.post(f"/c/{CID}/upload", content=big, headers={"content-type": ctype})
        assert r.status_code == 413
    assert submissions(camp_dir) == []
    assert not list((camp_dir / ".uploads").glob("*"))  # (a folder that does not exist globs empty)
