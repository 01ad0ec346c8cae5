"""The national-scale benchmark: generate, check, import, render and aggregate N units, each step
against its floor, with peak memory; one table, written as JSON so runs can be compared.

    python benchmarks/run.py --n 1000                 # ≈ 2 minutes on 2 cores
    python benchmarks/run.py --n 10000                # ≈ 15 minutes
    python benchmarks/run.py --n 1000 --steps check-1,check-2   # some steps again, on the data already built

*Data* (built by the run, under ``--data``, default ``$TMPDIR/gkxlsx-run-N``; reused by later
steps and by a later run with ``--steps`` that skips ``generate``): a roster of N units of every
type, and N returned workbooks made by the generator with each unit's data
(:func:`gkxlsx.demo.samples.sample_values`): mostly zeros, about 8 % busy units with up to hundreds of
applications, and broken returns — text in number cells ("/", "3条", "１２"), blanks, a broken
balance, a narrative that contradicts the table, tampering (protection removed, a total typed
over, a label retyped), last year's template, files that are not workbooks at all.

*Steps*, each in a fresh process so that its peak memory is its own (main process and the largest
worker process are both shown):

- ``generate``: :func:`gkxlsx.workbook.generate.generate_all` writing the N workbooks, seconds per workbook
  (wall and CPU), against the floor of plain XlsxWriter making the very same calls (recorded from
  the generator, replayed with no other logic; see ``bench_generate.py``).  With N > 1,000 the
  floor replays a 1-in-(N/1,000) sample, interleaved block by block with the generator.
- ``check --jobs 1/2``: :func:`gkxlsx.check.checker.iter_check` over the N files (results streamed, not
  kept), files per second, against the floor of python-calamine reading every sheet's values of
  the same files with the same number of processes — the two measured in turns in one process
  (calamine, check, calamine, check …, ``--repeat`` times, default 3), the fastest pass of each
  being its figure, so that both see the same machine.
- ``import --jobs 1/2``: :func:`gkxlsx.campaign.campaign.import_files` of the N files into a fresh campaign
  (archive, check, ledger), files per second, against the same floor and against the check alone
  (issue 5: the ledger adds at most 10 %).
- ``shell-generate``: what a user runs, measured from outside: ``gkxlsx generate --prefill`` in a
  fresh process for (at most) 1,000 units with every entry prefilled (as a unit sends its return),
  wall time including start-up, against a fresh process replaying plain XlsxWriter's calls for the
  same workbooks (``bench_generate.replay``, one recorded unit per unit type, start-up included).
- ``shell-check-1/2``: ``gkxlsx check --jobs 1/2`` of the returns in a fresh process, wall time
  including start-up, against a fresh process where python-calamine reads every sheet's values of
  the same files with as many processes; in turns, the fastest of ``--repeat`` passes each.
- ``render``: reports per second to HTML and to text (validation gate included), for the units
  whose current return passed (at most 2,000 of them).
- ``aggregate``: seconds for the roll-up of the whole campaign.
- ``status``: seconds for ``gkxlsx status`` — who has returned, and the units whose returns copy
  each other's narrative (内容雷同, every current return against every other).
- ``web``: the deadline rush of ``bench_web.py`` — (at most) 500 units upload their returns
  through a real ``gkxlsx serve`` on 127.0.0.1 with 20 concurrent clients, uploads per second
  against ``gkxlsx import`` of the same files (in turns, ``--repeat`` passes, the fastest of
  each), upload → findings page p50/p95, the server's peak RSS, and the ledger check (one row per
  distinct file sent).  Its own data, under ``--data``/web-500.

The variants of a step run one after the other on a shared machine; the load is printed.
Results: ``benchmarks/results/run_N.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # a checkout runs without an install, as the step processes do

YEAR = 2025
TYPES = ("乡镇", "街道", "县级部门", "县级政府", "乡镇", "县级部门", "乡镇", "街道")
TARGETS = {
    "generate": 1.3,
    "check_per_core": 1.5,
    "check_scaling": 1.7,
    "import_10k_s": 180.0,
    "import_mem_mb": 500.0,
    "render_html": 200.0,
    "ledger_overhead": 1.10,
    "shell_generate": 1.3,
    "shell_check_1": 1.3,
    "shell_check_2": 1.4,
    "web_vs_import": 1 / 0.7,  # time per upload ÷ gkxlsx import's time per file (rate ≥ 0.7×)
    "web_p95_s": 1.0,
}
STEPS = (
    "generate",
    "check-1",
    "check-2",
    "shell-generate",
    "shell-check-1",
    "shell-check-2",
    "import-1",
    "import-2",
    "render",
    "aggregate",
    "status",
    "web",
)
SHELL_UNITS = 1000  # the shell-level steps work on (at most) this many units
WEB_UNITS, WEB_CLIENTS = 500, 20  # the web step's campaign and concurrent clients
DATA_VERSION = "1"


# --------------------------------------------------------------------------------------------
# helpers


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _peaks() -> dict:
    """Peak resident memory (MB) of this process and of its largest finished child (a worker)."""
    return {
        "peak_main_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def unit_name(i: int, t: str) -> str:
    return {
        "乡镇": f"合成县第{i:05d}镇人民政府",
        "街道": f"合成县第{i:05d}街道办事处",
        "县级政府": f"合成第{i:05d}县人民政府",
    }.get(t, f"合成县第{i:05d}局")


def _returns(data: Path) -> Path:
    return data / "returns"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
    except OSError:
        pass
    mem = 0
    try:
        mem = (
            int(
                next(
                    ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")
                )
            )
            // 1024
            // 1024
        )
    except (OSError, StopIteration, ValueError):
        pass
    import xlsxwriter

    from gkxlsx import __version__

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "gkxlsx": __version__,
        "xlsxwriter": xlsxwriter.__version__,
        "python-calamine": _version("python-calamine"),
    }


# --------------------------------------------------------------------------------------------
# step: generate (and build the data)


def _plan(n: int, seed: int = 9):
    """Per unit: (Unit, year, values, kind) — the variety of returns, reproducible."""
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.model import load_form
    from gkxlsx.form.roster import Unit

    form = load_form("2021")
    rng = random.Random(seed)
    entry = list(form.entry_keys)
    for i in range(n):
        t = TYPES[i % len(TYPES)]
        unit = Unit(f"U{i:05d}", unit_name(i, t), t, "合成县人民政府")
        roll = rng.random()
        year = YEAR - 1 if 0.37 <= roll < 0.39 else YEAR
        v = sample_values(form, unit.name, t, year, seed=i, busy=rng.random() < 0.08)
        kind = "clean"
        if roll < 0.06:
            kind = "text-in-number"
            for k in rng.sample(entry, rng.randint(1, 3)):
                v[k] = rng.choice(["/", "3条", "无", "１２", "—", "251000元"])
        elif roll < 0.11:
            kind = "imbalance"
            v["s3.new.natural"] = (v["s3.new.natural"] or 0) + rng.randint(1, 5)
        elif roll < 0.15:
            kind = "blanks"
            for k in rng.sample(entry, rng.randint(3, 10)):
                v[k] = None
        elif roll < 0.18:
            kind = "narrative"
            v["s1.on_request"] = f"{year}年未收到政府信息公开申请。"
            v["s3.new.natural"] = (v["s3.new.natural"] or 0) + 2
            v["s3.r1_open.natural"] = (v["s3.r1_open.natural"] or 0) + 2
        elif roll < 0.21:
            kind = "tampered"
        elif roll < 0.37:
            kind = "clean"
        elif roll < 0.39:
            kind = "last-year"
        elif roll < 0.41:
            kind = "not-a-workbook"
        yield unit, year, v, kind, rng.randrange(3)


def _zip_edit(data: bytes, part: str, fn) -> bytes:
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            dst.writestr(info.filename, fn(body) if info.filename == part else body)
    return out.getvalue()


def _break(path: Path, kind: str, which: int, part) -> None:
    """Post-generation damage (untimed)."""
    data = path.read_bytes()
    if kind == "not-a-workbook":
        path.unlink()
        if which == 0:
            path.with_suffix(".xls").write_text("单位,申请数\n城关镇,3\n", encoding="utf-8")
        else:
            path.write_bytes(data[: len(data) // 3])
        return
    if which == 0:
        data = _zip_edit(data, part("三、依申请公开"), lambda b: re.sub(rb"<sheetProtection[^>]*/>", b"", b))
    elif which == 1:
        data = _zip_edit(
            data,
            part("三、依申请公开"),
            lambda b: re.sub(rb'<c r="J6"([^>]*)>.*?</c>', rb'<c r="J6"\1><v>99</v></c>', b, count=1, flags=re.S),
        )
    else:
        data = _zip_edit(
            data,
            part("二、主动公开"),
            lambda b: re.sub(
                rb'<c r="B2" s="(\d+)" t="s"><v>\d+</v></c>',
                '<c r="B2" s="\\1" t="inlineStr"><is><t>本年发件</t></is></c>'.encode(),
                b,
                count=1,
            ),
        )
    path.write_bytes(data)


def step_generate(n: int, data: Path) -> dict:
    import bench_generate as bg

    import gkxlsx.workbook.generate as gen
    from gkxlsx.form.identity import workbook_filename
    from gkxlsx.form.layout import layout
    from gkxlsx.form.model import load_form

    form = load_form("2021")
    out = _returns(data)
    if data.exists():
        shutil.rmtree(data)
    out.mkdir(parents=True)
    plan = _plan(n)  # lazily, block by block: the values of 10,000 units are never all in memory
    first = list(itertools.islice(plan, 250))
    meta: list[tuple] = []
    fh = (data / "roster.csv").open("w", newline="", encoding="utf-8")
    roster = csv.writer(fh)
    roster.writerow(["单位代码", "单位名称", "单位类型", "上级单位", "联系人", "邮箱"])
    # the floor's recorded calls: two units of every type, a quiet one and a busy one (untimed)
    sample = []
    for t in dict.fromkeys(TYPES):
        sample += [x for x in first if x[0].type == t and x[3] == "clean"][:2]
    logs = []
    for u, year, v, _k, _w in sample:
        logs += [bg.compile_log(lg) for lg in bg.record(form, [u], year, v)]
    floor_dir = data / "floor"
    floor_dir.mkdir()
    every = max(1, n // 1000)
    t_gen = c_gen = t_floor = c_floor = 0.0
    n_floor = 0
    block = 250
    b0 = 0
    chunk = first
    while chunk:
        for u, year, _v, kind, which in chunk:
            roster.writerow([u.code, u.name, u.type, u.parent, f"联系人{u.code}", f"{u.code.lower()}@example.gov.cn"])
            meta.append((u, year, kind, which))
        by_year: dict[int, list] = {}
        for x in chunk:
            by_year.setdefault(x[1], []).append(x)
        t0, c0 = time.perf_counter(), time.process_time()
        for year, xs in by_year.items():
            gen.generate_all([x[0] for x in xs], year, out, form=form, prefill={x[0].code: x[2] for x in xs})
        t_gen += time.perf_counter() - t0
        c_gen += time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(b0, b0 + len(chunk), every):
            (floor_dir / f"{i}.xlsx").write_bytes(bg.replay(logs[i % len(logs)]))
            n_floor += 1
        t_floor += time.perf_counter() - t0
        c_floor += time.process_time() - c0
        b0 += len(chunk)
        chunk = list(itertools.islice(plan, block))
    fh.close()
    shutil.rmtree(floor_dir)
    (out / "manifest.json").unlink(missing_ok=True)
    names = [s.name for s in layout(form).sheets]
    part = lambda sheet: f"xl/worksheets/sheet{names.index(sheet) + 1}.xml"  # noqa: E731
    kinds = Counter()
    for u, year, kind, which in meta:
        kinds[kind] += 1
        if kind in ("tampered", "not-a-workbook"):
            _break(out / workbook_filename(u, year), kind, which, part)
    (data / f".data-{DATA_VERSION}-{n}").write_text(json.dumps(dict(kinds), ensure_ascii=False))
    return {
        "n": n,
        "kinds": dict(kinds),
        "floor_sample": n_floor,
        "gen_ms_wall": t_gen / n * 1000,
        "gen_ms_cpu": c_gen / n * 1000,
        "floor_ms_wall": t_floor / n_floor * 1000,
        "floor_ms_cpu": c_floor / n_floor * 1000,
        "ratio_wall": (t_gen / n) / (t_floor / n_floor),
        "ratio_cpu": (c_gen / n) / (c_floor / n_floor),
        **_peaks(),
    }


# --------------------------------------------------------------------------------------------
# steps: check and its floor


def _files(data: Path) -> list[Path]:
    return sorted(p for p in _returns(data).iterdir() if p.is_file() and not p.name.startswith("."))


def _calamine_one(path: str) -> int:
    from python_calamine import CalamineWorkbook

    n = 0
    try:
        wb = CalamineWorkbook.from_path(path)
        for name in wb.sheet_names:
            n += len(wb.get_sheet_by_name(name).to_python())
    except Exception:  # noqa: BLE001 - corrupt files count as read
        pass
    return n


def _calamine_pass(files: list[str], jobs: int) -> None:
    if jobs == 1:
        for p in files:
            _calamine_one(p)
        return
    import multiprocessing as mp

    with mp.get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap(_calamine_one, files, chunksize=max(1, min(32, len(files) // (jobs * 8) or 1))):
            pass


def step_check(data: Path, jobs: int, repeat: int = 3) -> dict:
    """The check and its floor, measured in turns in one process (calamine, check, calamine,
    check …) so that both see the same machine; the fastest pass of each is its figure, every
    pass's wall time is kept.  Returns {"calamine": …, "check": …}."""
    from gkxlsx.check.checker import iter_check

    files = _files(data)
    names = [str(p) for p in files]
    for p in names[:20]:
        _calamine_one(p)
    list(iter_check(files[:30], jobs=1, year=YEAR))  # warm-up: imports, form, layout, caches
    passes: dict[str, list] = {"calamine": [], "check": []}
    statuses: Counter = Counter()
    for _ in range(max(1, repeat)):
        for what in ("calamine", "check"):
            c0, t0 = _cpu(), time.perf_counter()
            if what == "calamine":
                _calamine_pass(names, jobs)
            else:
                statuses = Counter(r.status for r in iter_check(files, jobs=jobs, year=YEAR))
            passes[what].append((time.perf_counter() - t0, _cpu() - c0))
    out = {}
    peaks = _peaks()
    for what, ps in passes.items():
        wall, cpu = min(ps)
        out[what] = {
            "files": len(files),
            "wall_s": wall,
            "cpu_s": cpu,
            "files_per_s": len(files) / wall,
            "passes_wall_s": [round(w, 3) for w, _ in ps],
            **peaks,
        }
    out["check"]["statuses"] = dict(statuses)
    return out


# --------------------------------------------------------------------------------------------
# steps: import, render, aggregate, status


def step_import(data: Path, jobs: int) -> dict:
    from gkxlsx.campaign.campaign import import_files, init_campaign

    root = data / f"campaign-j{jobs}"
    if root.exists():
        shutil.rmtree(root)
    camp = init_campaign(root, year=YEAR, roster=data / "roster.csv", office="合成县人民政府办公室")
    files = _files(data)
    from gkxlsx.check.checker import iter_check

    list(iter_check(files[:30], jobs=1, year=YEAR))  # the same warm-up as the check step
    kinds: Counter = Counter()
    c0, t0 = _cpu(), time.perf_counter()
    out = import_files(camp, [_returns(data)], jobs=jobs, received_at="2026-01-15T09:00:00")
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    kinds.update(o.kind for o in out)
    del out
    problems = camp.ledger.integrity() if len(files) <= 2000 else []
    camp.close()
    return {
        "files": len(files),
        "wall_s": wall,
        "cpu_s": cpu,
        "files_per_s": len(files) / wall,
        "outcomes": dict(kinds),
        "integrity_problems": len(problems),
        **_peaks(),
    }


def step_render(data: Path, limit: int = 2000) -> dict:
    from gkxlsx.campaign.campaign import Campaign
    from gkxlsx.campaign.ledger import load_values
    from gkxlsx.form.report import Report
    from gkxlsx.render import renderer as R

    camp = Campaign(data / "campaign-j2")
    units = {u.code: u for u in camp.units()}
    reports = []
    for code, vals in camp.ledger.conn.execute(
        "SELECT unit_code, vals FROM submissions WHERE is_current=1 AND status IN ('通过', '有警告') ORDER BY unit_code LIMIT ?",
        (limit,),
    ):
        u = units[code]
        reports.append(Report(camp.form, camp.year, u.name, u.code, u.type, load_values(vals), source=code))
    camp.close()
    R.render_html(reports[0])
    R.render_text(reports[0])
    out = {"reports": len(reports)}
    for fmt, fn in (("html", R.render_html), ("text", R.render_text)):
        t0 = time.perf_counter()
        size = sum(len(fn(r)) for r in reports)
        dt = time.perf_counter() - t0
        out[f"{fmt}_s"] = dt
        out[f"{fmt}_per_s"] = len(reports) / dt
        out[f"{fmt}_avg_chars"] = size / len(reports)
    return {**out, **_peaks()}


def step_aggregate(data: Path) -> dict:
    from gkxlsx.campaign.campaign import Campaign, aggregate

    camp = Campaign(data / "campaign-j2")
    t0 = time.perf_counter()
    aggs = aggregate(camp)
    wall = time.perf_counter() - t0
    a = aggs[0]
    out = {"wall_s": wall, "included": len(a.included), "missing": len(a.missing), **_peaks()}
    camp.close()
    return out


def step_status(data: Path) -> dict:
    """``gkxlsx status``: who has returned, and the pairs of units whose returns copy each other
    (every current return's narrative against every other's, by the prefix-filtered join)."""
    from gkxlsx.campaign.campaign import Campaign

    camp = Campaign(data / "campaign-j2")
    t0 = time.perf_counter()
    s = camp.status()
    t1 = time.perf_counter()
    pairs = camp.similar()
    t2 = time.perf_counter()
    out = {
        "status_s": t1 - t0,
        "similar_s": t2 - t1,
        "units": s.total,
        "returned": s.returned,
        "similar_pairs": len(pairs),
        **_peaks(),
    }
    camp.close()
    return out


def step_web(n: int, data: Path, repeat: int = 1) -> dict:
    """The deadline rush through ``gkxlsx serve`` against ``gkxlsx import`` (bench_web.py)."""
    import bench_web

    units = min(n, WEB_UNITS)
    out = bench_web.measure(units, WEB_CLIENTS, data / f"web-{units}", repeat=max(1, repeat))
    out.pop("table", None)
    return out


# --------------------------------------------------------------------------------------------
# steps measured from the shell: what a user runs, start-up included


def _shell_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))


def _compile_package() -> None:
    """Byte-compile the package first, as an install does: a user's command does not compile its
    modules on every start (with PYTHONDONTWRITEBYTECODE set, nothing else would write them)."""
    import compileall

    compileall.compile_dir(str(HERE.parent / "gkxlsx"), quiet=1)


def _timed(cmd: list[str], ok=(0,)) -> float:
    # run from a neutral folder: `python -m`/`-c` put the working directory first on sys.path
    t0 = time.perf_counter()
    p = subprocess.run(
        cmd, env=_shell_env(), cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - t0
    if p.returncode not in ok:
        raise SystemExit(f"{cmd[:4]} … exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    return wall


_FLOOR_GENERATE = """
import pickle, sys
sys.path.insert(0, sys.argv[3])
import bench_generate as bg
logs = pickle.load(open(sys.argv[1], "rb"))
out = sys.argv[2]
for i in range(int(sys.argv[4])):
    with open(f"{out}/{i}.xlsx", "wb") as fh:
        fh.write(bg.replay(logs[i % len(logs)]))
"""

_FLOOR_CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import run
files = [l for l in open(sys.argv[2], encoding="utf-8").read().split("\\n") if l]
run._calamine_pass(files, int(sys.argv[3]))
"""


def step_shell_generate(data: Path, repeat: int = 3) -> dict:
    """``gkxlsx generate --prefill`` (every entry filled) against replayed plain XlsxWriter calls, both
    in fresh processes, in turns; the fastest pass of each."""
    import pickle

    import bench_generate as bg

    from gkxlsx.form.model import load_form
    from gkxlsx.form.roster import load_roster

    _compile_package()
    form = load_form("2021")
    work = data / "shell-generate"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    with (data / "roster.csv").open(encoding="utf-8") as fh:
        rows = list(itertools.islice(csv.reader(fh), SHELL_UNITS + 1))
    roster = work / "roster.csv"
    with roster.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    units = load_roster(roster, form=form)
    filled = bg.filled_values(form)
    prefill = {"units": {u.code: filled for u in units}}
    (work / "prefill.json").write_text(json.dumps(prefill, ensure_ascii=False), encoding="utf-8")
    # the floor's calls: one unit of every type, recorded with the same values (untimed)
    sample = list({u.type: u for u in units}.values())
    logs = [bg.compile_log(lg) for lg in bg.record(form, sample, YEAR, filled)]
    by_type = {u.type: i for i, u in enumerate(sample)}
    ordered = [logs[by_type[u.type]] for u in units]
    (work / "floor.pickle").write_bytes(pickle.dumps(ordered))
    gen_cmd = [sys.executable, "-m", "gkxlsx", "generate", "--roster", str(roster), "--year", str(YEAR)]
    gen_cmd += ["--prefill", str(work / "prefill.json"), "--quiet", "--out"]
    passes: dict[str, list] = {"gkxlsx": [], "floor": []}
    for k in range(max(1, repeat)):
        for what in ("floor", "gkxlsx"):
            out = work / f"{what}-{k}"
            out.mkdir()
            if what == "floor":
                cmd = [sys.executable, "-c", _FLOOR_GENERATE, str(work / "floor.pickle"), str(out), str(HERE)]
                wall = _timed(cmd + [str(len(units))])
            else:
                wall = _timed(gen_cmd + [str(out)])
            passes[what].append(wall)
            shutil.rmtree(out)
    g, f = min(passes["gkxlsx"]), min(passes["floor"])
    return {
        "units": len(units),
        "gkxlsx_s": g,
        "floor_s": f,
        "ratio": g / f,
        "passes": {k: [round(x, 3) for x in v] for k, v in passes.items()},
    }


def step_shell_check(data: Path, jobs: int, repeat: int = 3) -> dict:
    """``gkxlsx check --jobs N`` of the returns against python-calamine reading them with N processes,
    both in fresh processes, in turns; the fastest pass of each."""
    _compile_package()
    files = [str(p) for p in _files(data)]
    lst = data / "shell-check-files.txt"
    lst.write_text("\n".join(files), encoding="utf-8")
    chk = [sys.executable, "-m", "gkxlsx", "check", "--jobs", str(jobs), "--year", str(YEAR), str(_returns(data))]
    floor = [sys.executable, "-c", _FLOOR_CHECK, str(HERE), str(lst), str(jobs)]
    passes: dict[str, list] = {"gkxlsx": [], "floor": []}
    for _ in range(max(1, repeat)):
        passes["floor"].append(_timed(floor))
        passes["gkxlsx"].append(_timed(chk, ok=(0, 1)))
    g, f = min(passes["gkxlsx"]), min(passes["floor"])
    return {
        "files": len(files),
        "jobs": jobs,
        "gkxlsx_s": g,
        "floor_s": f,
        "ratio": g / f,
        "passes": {k: [round(x, 3) for x in v] for k, v in passes.items()},
    }


def run_step(name: str, n: int, data: Path, repeat: int = 1) -> dict:
    if name == "generate":
        return step_generate(n, data)
    if name.startswith("check-"):
        return step_check(data, int(name.split("-")[1]), repeat)
    if name == "shell-generate":
        return step_shell_generate(data, repeat)
    if name.startswith("shell-check-"):
        return step_shell_check(data, int(name.rsplit("-", 1)[1]), repeat)
    if name.startswith("import-"):
        return step_import(data, int(name.split("-")[1]))
    if name == "render":
        return step_render(data)
    if name == "aggregate":
        return step_aggregate(data)
    if name == "status":
        return step_status(data)
    if name == "web":
        return step_web(n, data, repeat)
    raise SystemExit(f"unknown step {name}")


# --------------------------------------------------------------------------------------------
# the table


def table(n: int, r: dict) -> tuple[str, dict]:
    rows = []
    verdict = {}

    def row(step, value, unit, floor="", ratio="", mem=None, target="", ok=None):
        m = f"{mem['peak_main_mb']:.0f} / {mem['peak_worker_mb']:.0f}" if mem else ""
        okt = "" if ok is None else ("✓" if ok else "✗")
        rows.append((step, value, unit, floor, ratio, m, f"{target} {okt}".strip()))

    if "generate" in r:
        g = r["generate"]
        ok = g["ratio_wall"] <= TARGETS["generate"]
        verdict["generate"] = ok
        row(
            "generate (wall)",
            f"{g['gen_ms_wall']:.1f}",
            "ms/workbook",
            f"{g['floor_ms_wall']:.1f}",
            f"{g['ratio_wall']:.2f}×",
            g,
            f"≤ {TARGETS['generate']}×",
            ok,
        )
        row(
            "generate (CPU)",
            f"{g['gen_ms_cpu']:.1f}",
            "ms/workbook",
            f"{g['floor_ms_cpu']:.1f}",
            f"{g['ratio_cpu']:.2f}×",
        )
    for j in (1, 2):
        c, f = r.get(f"check-{j}"), r.get(f"calamine-{j}")
        if c and f:
            ratio = f["files_per_s"] / c["files_per_s"]
            ok = ratio <= TARGETS["check_per_core"]
            verdict[f"check-{j}"] = ok
            row(
                f"check --jobs {j}",
                f"{c['files_per_s']:.0f}",
                "files/s",
                f"{f['files_per_s']:.0f}",
                f"{ratio:.2f}×",
                c,
                f"≤ {TARGETS['check_per_core']}×",
                ok,
            )
    if r.get("check-1") and r.get("check-2"):
        s = r["check-2"]["files_per_s"] / r["check-1"]["files_per_s"]
        ok = s >= TARGETS["check_scaling"]
        verdict["check-scaling"] = ok
        row("check scaling 1 → 2 jobs", f"{s:.2f}×", "", "", "", None, f"≥ {TARGETS['check_scaling']}×", ok)
    if "shell-generate" in r:
        g = r["shell-generate"]
        ok = g["ratio"] <= TARGETS["shell_generate"]
        verdict["shell-generate"] = ok
        row(
            f"$ gkxlsx generate --prefill ({g['units']})",
            f"{g['gkxlsx_s']:.2f}",
            "s",
            f"{g['floor_s']:.2f}",
            f"{g['ratio']:.2f}×",
            None,
            f"≤ {TARGETS['shell_generate']}×",
            ok,
        )
    for j in (1, 2):
        x = r.get(f"shell-check-{j}")
        if x:
            ok = x["ratio"] <= TARGETS[f"shell_check_{j}"]
            verdict[f"shell-check-{j}"] = ok
            row(
                f"$ gkxlsx check --jobs {j} ({x['files']})",
                f"{x['gkxlsx_s']:.2f}",
                "s",
                f"{x['floor_s']:.2f}",
                f"{x['ratio']:.2f}×",
                None,
                f"≤ {TARGETS[f'shell_check_{j}']}×",
                ok,
            )
    for j in (1, 2):
        im, f, c = r.get(f"import-{j}"), r.get(f"calamine-{j}"), r.get(f"check-{j}")
        if im:
            ratio = f"{f['files_per_s'] / im['files_per_s']:.2f}×" if f else ""
            row(
                f"import --jobs {j}",
                f"{im['files_per_s']:.0f}",
                "files/s",
                f"{f['files_per_s']:.0f}" if f else "",
                ratio,
                im,
            )
            if c:
                over = c["files_per_s"] / im["files_per_s"]
                ok = over <= TARGETS["ledger_overhead"]
                verdict[f"import-{j}-ledger"] = ok
                row(
                    f"  import ÷ check --jobs {j}",
                    f"{over:.2f}×",
                    "time",
                    "",
                    "",
                    None,
                    f"≤ {TARGETS['ledger_overhead']}×",
                    ok,
                )
            row(f"  import --jobs {j}, whole", f"{im['wall_s']:.1f}", "s")
    if r.get("import-2") and n >= 10000:
        im = r["import-2"]
        ok = (
            im["wall_s"] < TARGETS["import_10k_s"]
            and max(im["peak_main_mb"], im["peak_worker_mb"]) < TARGETS["import_mem_mb"]
        )
        verdict["import-10k"] = ok
        row(
            f"import {n} (--jobs 2)",
            f"{im['wall_s']:.0f}",
            "s",
            "",
            "",
            im,
            f"< {TARGETS['import_10k_s']:.0f} s, < {TARGETS['import_mem_mb']:.0f} MB",
            ok,
        )
    if "render" in r:
        x = r["render"]
        ok = x["html_per_s"] >= TARGETS["render_html"]
        verdict["render-html"] = ok
        row(
            f"render HTML ({x['reports']} reports)",
            f"{x['html_per_s']:.0f}",
            "reports/s",
            "",
            "",
            x,
            f"≥ {TARGETS['render_html']:.0f}/s",
            ok,
        )
        row(f"render text ({x['reports']} reports)", f"{x['text_per_s']:.0f}", "reports/s")
    if "aggregate" in r:
        a = r["aggregate"]
        row(
            f"aggregate ({a['included']} of {a['included'] + a['missing']} units)", f"{a['wall_s']:.2f}", "s", "", "", a
        )
    if "status" in r:
        x = r["status"]
        row(f"status ({x['returned']} of {x['units']} units)", f"{x['status_s']:.2f}", "s", "", "", x)
        row(f"  内容雷同 across units ({x['similar_pairs']} pairs)", f"{x['similar_s']:.2f}", "s")
    if "web" in r:
        x = r["web"]
        w = x["web"]
        ok = x["cli"]["files_per_s"] / w["uploads_per_s"] <= TARGETS["web_vs_import"]
        verdict["web-rate"] = ok
        row(
            f"web: {x['uploads']} uploads of {x['n']} units, {x['clients']} clients",
            f"{w['uploads_per_s']:.0f}",
            "uploads/s",
            f"{x['cli']['files_per_s']:.0f}",
            f"{x['cli']['files_per_s'] / w['uploads_per_s']:.2f}×",
            None,
            f"≤ {TARGETS['web_vs_import']:.2f}× (rate ≥ 0.7×)",
            ok,
        )
        ok = w["latency_p95_s"] < TARGETS["web_p95_s"]
        verdict["web-p95"] = ok
        row("  upload → findings page p95", f"{w['latency_p95_s']:.2f}", "s", "", "", None, "< 1 s", ok)
        row("  upload → findings page p50", f"{w['latency_p50_s']:.2f}", "s")
        row("  server peak RSS", f"{w['memory']['rss_peak_sampled_mb']:.0f}", "MB")
        verdict["web-ledger"] = bool(x["ledger_ok"])
        row(
            f"  ledger: {w['ledger']['rows']} rows for {w['ledger']['distinct_sent']} distinct files",
            "lost 0, doubled 0" if x["ledger_ok"] else "NOT OK",
            "",
            "",
            "",
            None,
            "exact",
            bool(x["ledger_ok"]),
        )
    head = ("step", "figure", "unit", "floor", "× floor", "peak MB main / worker", "target")
    widths = [max(_w(x[i]) for x in rows + [head]) for i in range(len(head))]
    lines = [
        "  ".join(_pad(x[i], widths[i], right=i in (1, 3, 4)) for i in range(len(head))).rstrip() for x in [head] + rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines), verdict


def _w(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, w: int, right: bool = False) -> str:
    fill = " " * (w - _w(s))
    return fill + s if right else s + fill


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=None, help="data folder (default: $TMPDIR/gkxlsx-run-N)")
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated: " + ",".join(STEPS))
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default benchmarks/results/run_N.json)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="passes of the check and calamine steps; the fastest is the figure (default 3)",
    )
    ap.add_argument("--step", help=argparse.SUPPRESS)  # internal: run one step in this process
    args = ap.parse_args(argv)
    data = (args.data or Path(tempfile.gettempdir()) / f"gkxlsx-run-{args.n}").resolve()
    if args.step:
        res = run_step(args.step, args.n, data, args.repeat)
        print("RESULT " + json.dumps(res, ensure_ascii=False))
        return 0
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    own_data = {"web"}  # steps that build their own data
    if (
        "generate" not in steps
        and not set(steps) <= own_data
        and not (data / f".data-{DATA_VERSION}-{args.n}").exists()
    ):
        steps.insert(0, "generate")
    out_path = args.out or HERE / "results" / f"run_{args.n}.json"
    results: dict = {}
    if out_path.exists() and not set(STEPS) <= set(steps):  # a partial re-run keeps the other steps' figures
        try:
            results = json.loads(out_path.read_text(encoding="utf-8")).get("steps", {})
        except (OSError, ValueError):
            results = {}
    t_all = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    for s in steps:
        if hasattr(os, "sync"):
            os.sync()  # untimed: what earlier steps wrote is on disk, not flushed by this step's syncs
        t0 = time.perf_counter()
        print(f"[{s}] …", file=sys.stderr, flush=True)
        p = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--step",
                s,
                "--n",
                str(args.n),
                "--data",
                str(data),
                "--repeat",
                str(args.repeat),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if p.returncode != 0 or line is None:
            print(p.stdout[-3000:], p.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"step {s} failed")
        got = json.loads(line[7:])
        if s.startswith("check-"):  # the check and its floor, measured in turns
            j = s.split("-")[1]
            results[f"calamine-{j}"], results[s] = got["calamine"], got["check"]
            results[f"calamine-{j}"]["load_1min"] = round(os.getloadavg()[0], 2)
        else:
            results[s] = got
        results[s]["load_1min"] = round(os.getloadavg()[0], 2)
        print(f"[{s}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    text, verdict = table(args.n, results)
    mach = machine()
    title = (
        f"gkxlsx {mach['gkxlsx']} · N = {args.n} · {mach['cpu']} × {mach['cores']} cores, {mach['memory_gb']} GB · "
        f"Python {mach['python']} · XlsxWriter {mach['xlsxwriter']} · python-calamine {mach['python-calamine']}"
    )
    print(title)
    print(text)
    if "generate" in results:
        print(f"data: {results['generate']['kinds']}")
    print(f"total {time.perf_counter() - t_all:.0f} s; results: {out_path}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps(
            {
                "benchmark": "run",
                "n": args.n,
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": mach,
                "targets": TARGETS,
                "met": verdict,
                "steps": results,
                "table": text,
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
