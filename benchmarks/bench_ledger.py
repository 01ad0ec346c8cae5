"""Benchmark: importing N returns into a campaign whose ledger is SQLite, and into one whose ledger
is a real PostgreSQL server, in the same run (issue 18 item 4).

    python benchmarks/bench_ledger.py                 # N = 10,000, --jobs 2
    python benchmarks/bench_ledger.py --n 1000 --repeat 2

*Data*: the returns of ``benchmarks/run.py`` (N returned workbooks of every kind, good and broken,
with their roster), built by ``run.py --steps generate`` under ``$TMPDIR/gkxlsx-run-N`` when not
there yet (``--data`` to point elsewhere).

*Server*: PostgreSQL from Debian's ``postgresql`` package, started for the run in a temporary
folder (``tests/_pg.py``: initdb, pg_ctl, a unix socket) with its default settings — every commit
synced to disk (``fsync``, ``synchronous_commit`` on) — on the same machine as the import, or an
existing database with ``--pg-url``.  SQLite is the ledger as every campaign opens it (WAL,
``synchronous=NORMAL``).

*Measured*, the backends in turns (sqlite, postgresql, sqlite, …, ``--repeat`` rounds, the fastest
of each being its figure), each in a fresh campaign:

- ``import``: :func:`gkxlsx.campaign.campaign.import_files` of the N files with ``--jobs`` processes —
  archive, check, record — what an office waits for; files per second;
- ``ledger``: the ledger alone — the N checked returns recorded through ``Ledger.batch`` (200 per
  transaction, a savepoint each, as an import does) with the findings and values of real checks,
  nothing read or archived; returns per second.

Prints one line per measure with the ratio PostgreSQL ÷ SQLite (time) and writes
``benchmarks/results/ledger_N.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # a checkout runs without an install; tests/_pg.py starts the server

YEAR = 2025
BACKENDS = ("sqlite", "postgresql")


def _data(n: int, data: Path | None) -> Path:
    sys.path.insert(0, str(HERE))
    import run  # benchmarks/run.py: the returns and their roster

    d = (data or Path(tempfile.gettempdir()) / f"gkxlsx-run-{n}").resolve()
    if not (d / f".data-{run.DATA_VERSION}-{n}").exists():
        print(f"[data] generating {n} returns in {d} …", file=sys.stderr, flush=True)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        subprocess.run(
            [sys.executable, str(HERE / "run.py"), "--n", str(n), "--data", str(d), "--steps", "generate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return d


def _campaign(work: Path, name: str, data: Path, url: str | None):
    from gkxlsx.campaign.campaign import init_campaign

    root = work / name
    if root.exists():
        shutil.rmtree(root)
    return init_campaign(root, year=YEAR, roster=data / "roster.csv", office="合成县人民政府办公室", db=url)


def _drop(camp) -> None:
    """A PostgreSQL campaign's schema removed after its round (the database keeps no garbage)."""
    if camp.db_url:
        from gkxlsx.campaign.store import drop_schema

        drop_schema(camp.db_url, camp.db_schema)


def measure_import(work: Path, data: Path, backend: str, url: str | None, jobs: int, rnd: int) -> dict:
    from gkxlsx.campaign.campaign import import_files

    camp = _campaign(work, f"import-{backend}-{rnd}", data, url)
    files = sorted(p for p in (data / "returns").iterdir() if p.is_file() and not p.name.startswith("."))
    t0 = time.perf_counter()
    out = import_files(camp, [data / "returns"], jobs=jobs, received_at="2026-01-15T09:00:00", keep=True)
    wall = time.perf_counter() - t0
    kinds: dict[str, int] = {}
    for o in out:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    recorded = len(camp.ledger.all_submissions()) + len(camp.ledger.quarantined())
    _drop(camp)
    camp.close()
    shutil.rmtree(work / f"import-{backend}-{rnd}", ignore_errors=True)
    return {"files": len(files), "wall_s": wall, "per_s": len(files) / wall, "outcomes": kinds, "recorded": recorded}


def _checked(data: Path, k: int = 60) -> list[tuple[str, str, str, str, str]]:
    """(unit code, status, application, findings JSON, values JSON) of the first ``k`` returns that
    name a unit of the roster, checked once: the payloads the ledger measure records."""
    from gkxlsx.campaign.ledger import dump_findings, dump_values
    from gkxlsx.check.checker import check_file

    out = []
    for p in sorted((data / "returns").iterdir()):
        if len(out) >= k:
            break
        r = check_file(p, year=YEAR)
        code = getattr(r.identity, "unit_code", None) if r.identity is not None else None
        if code and r.report is not None:
            out.append(
                (
                    code,
                    r.status,
                    r.application or "",
                    dump_findings([f.to_dict() for f in r.findings]),
                    dump_values(dict(r.report.values)),
                )
            )
    return out


def measure_ledger(work: Path, data: Path, backend: str, url: str | None, n: int, payloads, rnd: int) -> dict:
    """N checked returns recorded through Ledger.batch, 200 per transaction, nothing archived."""
    from gkxlsx.campaign.campaign import IMPORT_BATCH
    from gkxlsx.campaign.ledger import NewSubmission, Received

    camp = _campaign(work, f"ledger-{backend}-{rnd}", data, url)
    codes = [u.code for u in camp.units()]
    arch = camp.ledger.archive_dir
    subs = []
    for i in range(n):
        _code, status, app, fj, vj = payloads[i % len(payloads)]
        sha = f"{i:064x}"
        rc = Received(sha, arch / sha[:2] / f"{sha}.xlsx", f"return-{i}.xlsx", "文件夹", "2026-01-15T09:00:00+08:00")
        subs.append(NewSubmission(rc, codes[i % len(codes)], app, "2021", YEAR, status, [], None, fj, vj))
    t0 = time.perf_counter()
    for s in range(0, n, IMPORT_BATCH):
        with camp.ledger.batch() as b:
            for new in subs[s : s + IMPORT_BATCH]:
                b.record(new)
    wall = time.perf_counter() - t0
    rows = camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    _drop(camp)
    camp.close()
    shutil.rmtree(work / f"ledger-{backend}-{rnd}", ignore_errors=True)
    assert rows == n, (rows, n)
    return {"returns": n, "wall_s": wall, "per_s": n / wall}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the backends in turns; the fastest counts")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--pg-url", default=None, help="an existing PostgreSQL database (default: start a server)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    data = _data(args.n, args.data)
    server = None
    url = args.pg_url
    pg_version = ""
    if url is None:
        from tests._pg import PgServer, unavailable

        why = unavailable()
        if why:
            raise SystemExit(f"cannot start PostgreSQL: {why}")
        server = PgServer()
        url = server.start()
        pg_version = server.version
    work = Path(tempfile.mkdtemp(prefix="gkx-bench-ledger-"))
    try:
        import sqlite3

        payloads = _checked(data)
        best: dict[str, dict[str, dict]] = {"import": {}, "ledger": {}}
        for rnd in range(args.repeat):
            for backend in BACKENDS if rnd % 2 == 0 else reversed(BACKENDS):
                db = url if backend == "postgresql" else None
                for what in ("ledger", "import"):
                    if hasattr(os, "sync"):
                        os.sync()
                    if what == "import":
                        r = measure_import(work, data, backend, db, args.jobs, rnd)
                    else:
                        r = measure_ledger(work, data, backend, db, args.n, payloads, rnd)
                    print(f"[{what} {backend} round {rnd + 1}] {r['per_s']:.0f}/s", file=sys.stderr, flush=True)
                    if backend not in best[what] or r["wall_s"] < best[what][backend]["wall_s"]:
                        best[what][backend] = r
        lines = []
        for what, unit in (("import", "files/s"), ("ledger", "returns/s")):
            s, p = best[what]["sqlite"], best[what]["postgresql"]
            ratio = p["wall_s"] / s["wall_s"]
            label = f"import {args.n} (--jobs {args.jobs})" if what == "import" else f"ledger only, {args.n} records"
            lines.append(
                f"{label:<32} SQLite {s['per_s']:7.0f} {unit} ({s['wall_s']:.1f} s)   "
                f"PostgreSQL {p['per_s']:7.0f} {unit} ({p['wall_s']:.1f} s)   PostgreSQL ÷ SQLite {ratio:.2f}× time"
            )
        if pg_version == "" and url:
            import psycopg

            with psycopg.connect(url) as c:
                pg_version = c.execute("SHOW server_version").fetchone()[0]
        title = (
            f"gkxlsx ledger · N = {args.n} · {platform.machine()} × {os.cpu_count()} cores · Python "
            f"{platform.python_version()} · SQLite {sqlite3.sqlite_version} · PostgreSQL {pg_version}"
        )
        print(title)
        print("\n".join(lines))
        out = args.out or HERE / "results" / f"ledger_{args.n}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "benchmark": "ledger",
                    "n": args.n,
                    "jobs": args.jobs,
                    "repeat": args.repeat,
                    "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "title": title,
                    "results": best,
                    "lines": lines,
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
