"""The web app at a deadline rush: N units upload their returns through ``gkxlsx serve`` with C
concurrent clients, against ``gkxlsx import`` of the same files on a fresh copy of the campaign.

    python benchmarks/bench_web.py --n 500 --clients 20 --repeat 3   # ≈ 1 minute on 2 cores (data built once: +20 s)
    python benchmarks/bench_web.py --n 500 --workers 2               # gkxlsx serve --workers 2
    python benchmarks/bench_web.py --n 50 --clients 4 --repeat 1     # while working

*Data* (built once under ``--data``, default ``$TMPDIR/gkxlsx-web-N``): a roster of N units of
every type and one return per unit made by the generator with the unit's data
(:func:`gkxlsx.demo.samples.sample_values`); every fourth return is broken in its numbers (text in
number cells such as "3条" or "/", or a broken balance), and every tenth unit uploads its return
twice (the same bytes: a double click, a second browser tab), half of them right after the first
upload, so that the two are recorded at the same time.

*A pass*: a fresh campaign (``init_campaign``), a real ``gkxlsx serve`` subprocess on 127.0.0.1
(free port; the first POST /setup makes the office account); each unit's link is read from its
page by the office (untimed) and opened once by the unit (untimed: it gives the upload form's
CSRF token).  Then the rush, timed: C client threads (httpx, one connection each) take the
uploads in a fixed shuffled order; one upload is ``POST /u/{token}/upload`` (multipart ``files``
+ ``csrf``) followed by ``GET /u/{token}`` (the unit's page with its findings) — with ``--via
office`` the office's ``POST /c/_/upload`` and ``GET /c/_/u/{code}`` instead.  The server's
resident memory is sampled from /proc every 20 ms (and its high-water mark read at the end).

*Floor*: ``gkxlsx import`` (one process, its default ``--jobs 1``) of the very same files — the
uploads in the same order, duplicates included — on another fresh copy of the campaign, wall
time of the command (start-up included); and ``import_files`` alone in a fresh process (no
start-up), for reference.  With ``--repeat R`` the floor and the rush are measured in turns, R
times each; the fastest pass of each is the figure.

*Checks*: every request answered 200; the ledger holds exactly one submission per distinct file
sent — the sha256 of the bytes sent against the ledger's submissions (nothing lost, nothing
doubled, nothing quarantined) — and the ledger's own integrity check passes; the CLI's ledger the
same.  Requests go only to 127.0.0.1, each with a timeout, and the rush stops at a deadline.

Results: ``benchmarks/results/web_N.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO))  # a checkout runs without an install, as the server process does

from run import unit_name  # noqa: E402 - the same synthetic unit names as the other benchmarks

YEAR = 2025
TYPES = ("乡镇", "街道", "县级部门", "县级政府", "乡镇", "县级部门", "乡镇", "街道")
DATA_VERSION = "1"
HOST = "127.0.0.1"  # the only address this benchmark sends to
TARGETS = {"rate_vs_cli": 0.7, "p95_s": 1.0}
PASSWORD = "bench-web-password"
REQUEST_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------
# data


def build_data(n: int, data: Path, seed: int = 16) -> dict:
    """Roster and one return per unit under ``data`` (kept for later runs); returns the plan:
    per unit its code, file and kind, and the upload order."""
    marker = data / f".web-data-{DATA_VERSION}-{n}"
    if marker.exists():
        return json.loads(marker.read_text(encoding="utf-8"))
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.identity import workbook_filename
    from gkxlsx.form.model import load_form
    from gkxlsx.form.roster import Unit
    from gkxlsx.workbook.generate import generate_all

    form = load_form("2021")
    if data.exists():
        shutil.rmtree(data)
    returns = data / "returns"
    returns.mkdir(parents=True)
    rng = random.Random(seed)
    entry = list(form.entry_keys)
    units, prefill, plan = [], {}, []
    for i in range(n):
        t = TYPES[i % len(TYPES)]
        u = Unit(f"W{i:05d}", unit_name(i, t), t, "合成县人民政府")
        v = sample_values(form, u.name, t, YEAR, seed=i, busy=rng.random() < 0.08)
        kind = "clean"
        if i % 4 == 1:  # a quarter broken in the numbers
            if rng.random() < 0.5:
                kind = "text-in-number"
                for k in rng.sample(entry, rng.randint(1, 3)):
                    v[k] = rng.choice(["/", "3条", "无", "１２", "—", "251000元"])
            else:
                kind = "imbalance"
                v["s3.new.natural"] = (v["s3.new.natural"] or 0) + rng.randint(1, 5)
        units.append(u)
        prefill[u.code] = v
        plan.append({"code": u.code, "file": workbook_filename(u, YEAR), "kind": kind, "twice": i % 10 == 3})
    with (data / "roster.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["单位代码", "单位名称", "单位类型", "上级单位", "联系人", "邮箱"])
        for u in units:
            w.writerow([u.code, u.name, u.type, u.parent, f"联系人{u.code}", f"{u.code.lower()}@example.gov.cn"])
    generate_all(units, YEAR, returns, form=form, prefill=prefill)
    (returns / "manifest.json").unlink(missing_ok=True)
    # the upload order: every unit once, shuffled; a second upload of every tenth unit, half of
    # them right behind the first (recorded at the same time), half somewhere later
    order = [p["code"] for p in plan]
    rng.shuffle(order)
    for k, p in enumerate(x for x in plan if x["twice"]):
        at = order.index(p["code"])
        order.insert(at + 1 if k % 2 == 0 else rng.randint(at + 1, len(order)), p["code"])
    for p in plan:
        p["sha256"] = hashlib.sha256((returns / p["file"]).read_bytes()).hexdigest()
    got = {"n": n, "units": plan, "order": order, "kinds": dict(Counter(p["kind"] for p in plan))}
    marker.write_text(json.dumps(got, ensure_ascii=False), encoding="utf-8")
    return got


def fresh_campaign(data: Path, dest: Path) -> Path:
    from gkxlsx.campaign.campaign import init_campaign

    if dest.exists():
        shutil.rmtree(dest)
    init_campaign(dest, year=YEAR, roster=data / "roster.csv", office="合成县人民政府办公室").close()
    return dest


# --------------------------------------------------------------------------------------------
# the ledger check


def ledger_check(campaign: Path, sent: list[str]) -> dict:
    """Exactly one submission per distinct file sent: nothing lost, nothing doubled, nothing set
    aside; and the ledger's own integrity check."""
    from gkxlsx.campaign.ledger import Ledger

    conn = sqlite3.connect(f"file:{campaign / 'ledger.sqlite'}?mode=ro", uri=True)
    try:
        rows = [r[0] for r in conn.execute("SELECT sha256 FROM submissions")]
        quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM submissions GROUP BY status").fetchall())
        currents = conn.execute("SELECT COUNT(*) FROM submissions WHERE is_current=1").fetchone()[0]
    finally:
        conn.close()
    want = set(sent)
    counts = Counter(rows)
    led = Ledger(campaign / "ledger.sqlite", campaign / "原件归档")
    try:
        problems = led.integrity()
    finally:
        led.close()
    out = {
        "sent": len(sent),
        "distinct_sent": len(want),
        "rows": len(rows),
        "current_rows": currents,
        "missing": sorted(want - set(counts)),
        "doubled": sorted(s for s, k in counts.items() if k > 1),
        "unexpected": sorted(set(counts) - want),
        "quarantined": quarantined,
        "integrity_problems": problems,
        "statuses": statuses,
    }
    out["ok"] = (
        not out["missing"]
        and not out["doubled"]
        and not out["unexpected"]
        and not quarantined
        and not problems
        and len(rows) == len(want)
    )
    return out


# --------------------------------------------------------------------------------------------
# the server


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _proc_kb(pid: int, field: str) -> int:
    try:
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _die_with_parent() -> None:
    """In the server's process before it starts: end it when the benchmark's process ends, however
    that ends (Linux; elsewhere the ``finally`` of a pass stops it)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """``gkxlsx serve CAMPAIGN --host 127.0.0.1 --port P`` in a subprocess, its memory sampled."""

    command = [sys.executable, "-m", "gkxlsx", "serve"]  # a profiling harness may put its own here

    def __init__(self, campaign: Path, log: Path, workers: int = 1):
        import httpx

        self.port = _free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = log
        self._fh = log.open("wb")
        cmd = [*self.command, str(campaign), "--host", HOST, "--port", str(self.port)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        self.proc = subprocess.Popen(
            cmd,
            env={**_env(), "PYTHONUNBUFFERED": "1"},  # its output (the start code) as it is printed
            cwd=tempfile.gettempdir(),
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gkxlsx serve exited {self.proc.returncode}: {self.tail()}")
            try:
                httpx.get(self.base + "/login", timeout=2.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gkxlsx serve did not answer within 60 s: {self.tail()}") from None
                time.sleep(0.1)

    def pids(self) -> list[int]:
        """The server's process and its descendants (``--workers N``: the supervisor and workers)."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except (OSError, ValueError):
                pass
        return out

    def _sample(self) -> None:
        while not self._stop.is_set():
            kb = sum(_proc_kb(p, "VmRSS") for p in self.pids())
            if kb:
                self.samples.append(kb)
            self._stop.wait(0.02)

    def cpu_s(self) -> float:
        """CPU time (user + system) of the server's processes so far, from /proc."""
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, ValueError, IndexError):
                pass
        return total

    def memory(self) -> dict:
        pids = self.pids()
        return {
            "processes": len(pids),
            "rss_peak_sampled_mb": round(max(self.samples) / 1024, 1) if self.samples else None,
            "rss_hwm_mb": round(sum(_proc_kb(p, "VmHWM") for p in pids) / 1024, 1),
            "rss_samples": len(self.samples),
        }

    def tail(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self._fh.close()


_START_CODE = re.compile(r"启动码 ([0-9A-Z]{8,})")
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
_CSRF_INPUT = re.compile(r'name="csrf" value="([^"]*)"')
_UNIT_LINK = re.compile(r'href="/u/([A-Za-z0-9_\-]+)" id="unit-link"')
_UNIT_FORM = re.compile(r'action="/u/[A-Za-z0-9_\-]+/upload"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"')
_KIND = re.compile(r'<tr class="k-(\w+)')


def _csrf(html: str) -> str:
    m = _CSRF_INPUT.search(html) or _CSRF_META.search(html)
    if not m or not m.group(1):
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


def _setup_code(server: Server) -> str:
    """The one-time start code, from the server's output as the office reads it."""
    deadline = time.monotonic() + 10
    while True:
        m = _START_CODE.search(server.tail())
        if m:
            return m.group(1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no start code in the output of gkxlsx serve: {server.tail()}")
        time.sleep(0.05)


def _office_client(server: Server):
    """A client logged in as the office (the first POST /setup makes the account)."""
    import httpx

    c = httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT, follow_redirects=False)
    r = c.get("/setup")
    if r.status_code == 200:
        form = {"username": "bench", "password": PASSWORD, "password2": PASSWORD, "csrf": _csrf(r.text)}
        r = c.post("/setup", data={**form, "setup_code": _setup_code(server)})
        if r.status_code != 303:
            raise RuntimeError(f"POST /setup answered {r.status_code}")
    else:
        r = c.get("/login")
        r = c.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": _csrf(r.text)})
        if r.status_code != 303:
            raise RuntimeError(f"POST /login answered {r.status_code}")
    return c


def _parallel(fn, items: list, clients: int) -> list:
    """fn(client_index, item) over items with ``clients`` threads; results in the items' order."""
    out: list = [None] * len(items)
    q: queue.SimpleQueue = queue.SimpleQueue()
    for i in range(len(items)):
        q.put(i)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        while not errors:
            try:
                i = q.get_nowait()
            except queue.Empty:
                return
            try:
                out[i] = fn(k, items[i])
            except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


# --------------------------------------------------------------------------------------------
# one pass of the rush


def rush(
    plan: dict, data: Path, work: Path, clients: int, via: str = "unit", deadline_s: float = 900.0, workers: int = 1
) -> dict:
    """A fresh campaign, a real server, the uploads with ``clients`` concurrent clients."""
    import httpx

    camp = fresh_campaign(data, work / "campaign-web")
    returns = data / "returns"
    by_code = {p["code"]: p for p in plan["units"]}
    files = {c: (p["file"], (returns / p["file"]).read_bytes()) for c, p in by_code.items()}
    server = Server(camp, work / "server.log", workers)
    try:
        office = _office_client(server)
        cookies = dict(office.cookies)
        office_csrf = _csrf(office.get("/c/_/upload").text)
        # the office's clients share its session; a unit's client has none (a unit has only its link)
        offices = [
            httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT, follow_redirects=False, cookies=cookies)
            for _ in range(clients)
        ]
        units = [
            httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT, follow_redirects=False) for _ in range(clients)
        ]
        pool = units if via == "unit" else offices
        codes = [p["code"] for p in plan["units"]]
        # untimed: the office reads each unit's link from the unit's page, the unit opens it once
        links: dict[str, tuple[str, str]] = {}
        if via == "unit":

            def link(k: int, code: str) -> tuple[str, str]:
                r = offices[k].get(f"/c/_/u/{code}")
                m = _UNIT_LINK.search(r.text)
                if r.status_code != 200 or not m:
                    raise RuntimeError(f"no link on the page of {code} ({r.status_code})")
                r = units[k].get(f"/u/{m.group(1)}")
                f = _UNIT_FORM.search(r.text)
                if r.status_code != 200 or not f:
                    raise RuntimeError(f"no upload form on the page of {code} ({r.status_code})")
                return m.group(1), f.group(1)

            links = dict(zip(codes, _parallel(link, codes, clients)))
        mem_before = server.memory()
        order = plan["order"]
        stop_at = time.monotonic() + deadline_s

        def upload(k: int, code: str) -> dict:
            if time.monotonic() > stop_at:
                return {"code": code, "skipped": True}
            c = pool[k]
            name, body = files[code]
            t0 = time.perf_counter()
            try:
                if via == "unit":
                    # the answer to a unit's upload is its findings page (第 N 版的校验结果 with every
                    # finding): what the unit sees at once — no second request
                    tok, csrf = links[code]
                    r1 = c.post(f"/u/{tok}/upload", data={"csrf": csrf}, files=[("files", (name, body))])
                    t1 = time.perf_counter()
                    r2 = r1
                else:
                    r1 = c.post("/c/_/upload", data={"csrf": office_csrf}, files=[("files", (name, body))])
                    t1 = time.perf_counter()
                    r2 = c.get(f"/c/_/u/{code}")
            except httpx.HTTPError as e:  # counted as a failed upload, the rush goes on
                t = time.perf_counter() - t0
                return {"code": code, "upload_s": t, "page_s": t, "status": (0, 0), "kind": repr(e)[:200]}
            t2 = time.perf_counter()
            kinds = _KIND.findall(r1.text)
            return {
                "code": code,
                "t0": t0,
                "upload_s": t1 - t0,
                "page_s": t2 - t0,
                "status": (r1.status_code, r2.status_code),
                "kind": kinds[0] if len(kinds) == 1 else ",".join(kinds) or "?",
                "page_has_findings": ("的校验结果：" if via == "unit" else "的问题（错误") in r2.text,
            }

        cpu0, me0, t_start = server.cpu_s(), time.process_time(), time.perf_counter()
        done = _parallel(upload, order, clients)
        wall = time.perf_counter() - t_start
        cpu, me = server.cpu_s() - cpu0, time.process_time() - me0
        mem = server.memory()
        for c in offices + units:
            c.close()
        office.close()
    finally:
        server.stop()
    sent = [by_code[d["code"]]["sha256"] for d in done if not d.get("skipped")]
    skipped = sum(1 for d in done if d.get("skipped"))
    lat = sorted(d["page_s"] for d in done if not d.get("skipped"))
    up = sorted(d["upload_s"] for d in done if not d.get("skipped"))
    bad = [d for d in done if not d.get("skipped") and d["status"] != (200, 200)]
    return {
        "via": via,
        "clients": clients,
        "workers": workers,
        "uploads": len(done) - skipped,
        "skipped_at_deadline": skipped,
        "wall_s": wall,
        "uploads_per_s": (len(done) - skipped) / wall,
        "server_cpu_s": cpu,
        "server_cpu_ms_per_upload": 1000 * cpu / max(1, len(done) - skipped),
        "clients_cpu_ms_per_upload": 1000 * me / max(1, len(done) - skipped),  # this process: httpx, 20 threads
        "latency_p50_s": _pct(lat, 50),
        "latency_p95_s": _pct(lat, 95),
        "latency_max_s": lat[-1] if lat else None,
        "upload_p50_s": _pct(up, 50),
        "upload_p95_s": _pct(up, 95),
        "http_not_200": len(bad),
        "outcomes": dict(Counter(d["kind"] for d in done if not d.get("skipped"))),
        "pages_without_findings": sum(1 for d in done if not d.get("skipped") and not d.get("page_has_findings")),
        "memory": {**mem, "rss_before_rush_mb": mem_before["rss_peak_sampled_mb"]},
        "ledger": ledger_check(camp, sent),
        "server_log_tail": server.tail()[-1500:] if bad else "",
        "load_1min": round(os.getloadavg()[0], 2),
    }


def _pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1]


# --------------------------------------------------------------------------------------------
# the floor: gkxlsx import of the same files


_IMPORT_ALONE = """
import sys, time
from pathlib import Path
from gkxlsx.campaign.campaign import Campaign, import_files
from gkxlsx.check.checker import check_file
camp = Campaign(Path(sys.argv[1]))
check_file(sorted(Path(sys.argv[2]).iterdir())[0], year=camp.year)  # warm-up: imports, the form's plan
t0, c0 = time.perf_counter(), time.process_time()
out = import_files(camp, [Path(sys.argv[2])], source="文件")
print("WALL", time.perf_counter() - t0, time.process_time() - c0, len(out))
camp.close()
"""


def _cli_files(plan: dict, data: Path, work: Path) -> Path:
    """The uploads as files in one folder, in the upload order (hard links: the same bytes)."""
    folder = work / "cli-files"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    by_code = {p["code"]: p for p in plan["units"]}
    for i, code in enumerate(plan["order"]):
        src = data / "returns" / by_code[code]["file"]
        dst = folder / f"{i:05d}-{src.name}"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return folder


def _children_cpu() -> float:
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ch.ru_utime + ch.ru_stime


def cli(plan: dict, data: Path, work: Path, alone: bool = False) -> dict:
    """``gkxlsx import`` of the same files on a fresh campaign, wall time of the command (or, with
    ``alone``, of ``import_files`` inside a fresh process: no start-up)."""
    folder = _cli_files(plan, data, work)
    camp = fresh_campaign(data, work / "campaign-cli")
    if alone:
        cmd = [sys.executable, "-c", _IMPORT_ALONE, str(camp), str(folder)]
    else:
        cmd = [sys.executable, "-m", "gkxlsx", "import", "--campaign", str(camp), str(folder)]
    c0, t0 = _children_cpu(), time.perf_counter()
    p = subprocess.run(cmd, env=_env(), cwd=tempfile.gettempdir(), capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:5]} exited {p.returncode}: {p.stderr[-2000:]}")
    if alone:
        got = next(ln.split() for ln in p.stdout.splitlines() if ln.startswith("WALL "))
        wall, cpu = float(got[1]), float(got[2])
    by_code = {x["code"]: x for x in plan["units"]}
    n = len(plan["order"])
    return {
        "files": n,
        "wall_s": wall,
        "files_per_s": n / wall,
        "cpu_s": cpu,
        "cpu_ms_per_file": 1000 * cpu / n,
        "ledger": ledger_check(camp, [by_code[c]["sha256"] for c in plan["order"]]),
        "load_1min": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------------------------


def _compile_package() -> None:
    import compileall

    compileall.compile_dir(str(REPO / "gkxlsx"), quiet=1)


def measure(
    n: int,
    clients: int,
    data: Path,
    repeat: int = 1,
    via: str = "unit",
    floor: bool = True,
    log=None,
    workers: int = 1,
) -> dict:
    """The whole benchmark: data, then (floor, rush) ``repeat`` times in turns; the fastest of each."""
    say = log or (lambda s: None)
    _compile_package()
    plan = build_data(n, data)
    say(f"data: {n} units, {len(plan['order'])} uploads, {plan['kinds']}")
    work = Path(tempfile.mkdtemp(prefix="gkxlsx-webbench-", dir=data))
    passes: dict[str, list] = {"cli": [], "cli_alone": [], "web": []}
    try:
        for k in range(max(1, repeat)):
            if floor:
                passes["cli"].append(cli(plan, data, work))
                say(f"[{k + 1}] gkxlsx import: {passes['cli'][-1]['files_per_s']:.0f} files/s")
                passes["cli_alone"].append(cli(plan, data, work, alone=True))
                say(f"[{k + 1}] import_files alone: {passes['cli_alone'][-1]['files_per_s']:.0f} files/s")
            passes["web"].append(rush(plan, data, work, clients, via, workers=workers))
            w = passes["web"][-1]
            say(
                f"[{k + 1}] web: {w['uploads_per_s']:.0f} uploads/s, p50 {w['latency_p50_s']:.3f} s, "
                f"p95 {w['latency_p95_s']:.3f} s, peak RSS {w['memory']['rss_peak_sampled_mb']} MB, "
                f"ledger {'ok' if w['ledger']['ok'] else 'NOT OK'}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    web = max(passes["web"], key=lambda x: x["uploads_per_s"])
    out: dict = {
        "n": n,
        "uploads": len(plan["order"]),
        "kinds": plan["kinds"],
        "clients": clients,
        "via": via,
        "workers": workers,
        "web": web,
        "passes": {
            "web_uploads_per_s": [round(x["uploads_per_s"], 1) for x in passes["web"]],
            "web_p95_s": [round(x["latency_p95_s"], 3) for x in passes["web"]],
            "cli_files_per_s": [round(x["files_per_s"], 1) for x in passes["cli"]],
            "cli_alone_files_per_s": [round(x["files_per_s"], 1) for x in passes["cli_alone"]],
            "web_load_1min": [x["load_1min"] for x in passes["web"]],
            "cli_load_1min": [x["load_1min"] for x in passes["cli"]],
        },
        "ledger_ok": all(x["ledger"]["ok"] for x in passes["web"] + passes["cli"] + passes["cli_alone"]),
    }
    if floor:
        c = max(passes["cli"], key=lambda x: x["files_per_s"])
        a = max(passes["cli_alone"], key=lambda x: x["files_per_s"])
        out["cli"], out["cli_alone"] = c, a
        out["ratio_vs_cli"] = web["uploads_per_s"] / c["files_per_s"]
        out["ratio_vs_import_alone"] = web["uploads_per_s"] / a["files_per_s"]
        # the same ratio from CPU time alone (each bound by one core): steadier on a shared machine
        out["cpu_ratio_vs_cli"] = c["cpu_ms_per_file"] / web["server_cpu_ms_per_upload"]
    out["met"] = {
        "rate_vs_cli": out.get("ratio_vs_cli", 0) >= TARGETS["rate_vs_cli"] if floor else None,
        "p95": (web["latency_p95_s"] or 1e9) < TARGETS["p95_s"],
        "ledger": out["ledger_ok"],
    }
    return out


def table(r: dict) -> str:
    w = r["web"]
    m = w["memory"]
    lines = [
        f"{r['uploads']} uploads of {r['n']} units ({r['kinds']}), {r['clients']} clients, via {r['via']}, "
        f"gkxlsx serve --workers {r['workers']}",
        f"web (gkxlsx serve)        {w['uploads_per_s']:7.1f} uploads/s   ({w['wall_s']:.1f} s)",
    ]
    if "cli" in r:
        ok = "✓" if r["met"]["rate_vs_cli"] else "✗"
        lines += [
            f"gkxlsx import (command)   {r['cli']['files_per_s']:7.1f} files/s     ({r['cli']['wall_s']:.1f} s, start-up included)",
            f"import_files alone        {r['cli_alone']['files_per_s']:7.1f} files/s     ({r['cli_alone']['wall_s']:.1f} s, warmed up)",
            f"web ÷ gkxlsx import       {r['ratio_vs_cli']:7.2f}×            target ≥ {TARGETS['rate_vs_cli']}× {ok}",
            f"web ÷ import_files alone  {r['ratio_vs_import_alone']:7.2f}×",
            f"CPU per file              server {w['server_cpu_ms_per_upload']:.2f} ms (upload + page), gkxlsx import "
            f"{r['cli']['cpu_ms_per_file']:.2f} ms (start-up included), import_files {r['cli_alone']['cpu_ms_per_file']:.2f} ms; "
            f"the clients {w['clients_cpu_ms_per_upload']:.2f} ms",
            f"web ÷ gkxlsx import by CPU {r['cpu_ratio_vs_cli']:.2f}× (rate each would have on one core of its own)",
        ]
    ok = "✓" if r["met"]["p95"] else "✗"
    lines += [
        f"upload → findings page    p50 {w['latency_p50_s']:.3f} s, p95 {w['latency_p95_s']:.3f} s, max "
        f"{w['latency_max_s']:.3f} s   target p95 < {TARGETS['p95_s']:.0f} s {ok}",
        f"upload alone              p50 {w['upload_p50_s']:.3f} s, p95 {w['upload_p95_s']:.3f} s",
        f"server memory             peak RSS {m['rss_peak_sampled_mb']} MB sampled ({m['rss_samples']} samples, "
        f"{m['processes']} process{'es' if m['processes'] > 1 else ''}), "
        f"high-water {m['rss_hwm_mb']} MB; {m['rss_before_rush_mb']} MB before the rush",
        f"outcomes                  {w['outcomes']}; HTTP not 200: {w['http_not_200']}",
        f"ledger                    {w['ledger']['rows']} rows for {w['ledger']['distinct_sent']} distinct files of "
        f"{w['ledger']['sent']} sent; lost {len(w['ledger']['missing'])}, doubled {len(w['ledger']['doubled'])}, "
        f"quarantined {w['ledger']['quarantined']}, integrity problems {len(w['ledger']['integrity_problems'])} "
        f"{'✓' if r['ledger_ok'] else '✗'}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=500, help="units (default 500)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument("--repeat", type=int, default=3, help="passes of the floor and the rush, in turns (default 3)")
    ap.add_argument("--via", choices=("unit", "office"), default="unit", help="the unit's link or the office's upload")
    ap.add_argument("--workers", type=int, default=1, help="gkxlsx serve --workers (default 1)")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default: $TMPDIR/gkxlsx-web-N)")
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default benchmarks/results/web_N.json)")
    args = ap.parse_args(argv)
    data = (args.data or Path(tempfile.gettempdir()) / f"gkxlsx-web-{args.n}").resolve()
    t0 = time.perf_counter()
    r = measure(
        args.n,
        args.clients,
        data,
        args.repeat,
        args.via,
        log=lambda s: print(s, file=sys.stderr, flush=True),
        workers=args.workers,
    )
    from run import machine

    mach = machine()
    text = table(r)
    print(f"gkxlsx {mach['gkxlsx']} · {mach['cpu']} × {mach['cores']} cores · Python {mach['python']}")
    print(text)
    out = args.out or HERE / "results" / f"web_{args.n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "web",
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": mach,
                "load_1min": round(os.getloadavg()[0], 2),
                "targets": TARGETS,
                **r,
                "table": text,
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"total {time.perf_counter() - t0:.0f} s; results: {out}")
    return 0 if r["ledger_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
