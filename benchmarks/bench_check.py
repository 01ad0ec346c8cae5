"""Benchmark: ``gkxlsx check`` on 1,000 returned workbooks, against reading their values with calamine.

    python benchmarks/bench_check.py                 # N = 1000, 3 rounds
    python benchmarks/bench_check.py --n 200 --rounds 1

*Corpus*: N returned workbooks of realistic variety, generated once by the generator with the
units' values and cached in a folder (``--dir``, default under the system temp folder): most are
complete and valid (every unit type, quiet and busy units); some have text in number cells ("/",
"3条", "无", full-width digits), blanks, a broken balance, a narrative that contradicts the table,
tampering (protection removed, a total typed over its formula, a label retyped), last year's
template, or are not workbooks at all (a renamed text file, a truncated package).

*Check*: ``gkxlsx.check.checker.check_paths`` with ``--jobs 1`` and ``--jobs 2`` — triage, identity,
labels, formulas, protection, values, every rule, cached results, narrative rules.

*Floor*: python-calamine reading every sheet's values of the same files, one process
(``CalamineWorkbook.from_path`` + ``to_python()`` per sheet) — "simply reading the values".
Calamine with two processes is shown for reference.

The variants run interleaved, round after round, so that all see the same load on a shared machine.
Wall time is what is compared (the check uses both cores); CPU time (this process plus its
workers) is shown too.  Prints a table and writes ``benchmarks/results/check.json``.
Target: ``check --jobs 2`` ≤ 1.5 × the calamine floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from gkxlsx import __version__
from gkxlsx.check.checker import check_paths
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.form.layout import layout
from gkxlsx.form.model import load_form
from gkxlsx.form.roster import Unit
from gkxlsx.workbook.generate import build_workbook

HERE = Path(__file__).resolve().parent
TARGET = 1.5
YEAR = 2025
TYPES = ("乡镇", "街道", "县级部门", "县级政府", "乡镇", "县级部门")
CORPUS_VERSION = "1"


# --------------------------------------------------------------------------------------------
# corpus


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


def make_corpus(folder: Path, n: int, seed: int = 1) -> list[Path]:
    stamp = folder / f".corpus-{CORPUS_VERSION}-{n}-{seed}-{__version__}"
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))
    if stamp.exists() and len(files) == n:
        return files
    folder.mkdir(parents=True, exist_ok=True)
    for p in folder.glob("*"):
        if p.is_file():
            p.unlink()
    form = load_form("2021")
    names = [s.name for s in layout(form).sheets]
    part = lambda sheet: f"xl/worksheets/sheet{names.index(sheet) + 1}.xml"  # noqa: E731
    rng = random.Random(seed)
    kinds: Counter = Counter()
    t0 = time.perf_counter()
    for i in range(n):
        unit = Unit(f"B{i:05d}", f"示例县第{i}号单位", TYPES[i % len(TYPES)], "示例县人民政府")
        year = YEAR
        v = sample_values(form, unit.name, unit.type, year, seed=i)
        roll = rng.random()
        kind = "clean"
        post = None
        if roll < 0.10:
            kind = "text-in-number"
            for k in rng.sample(list(form.entry_keys), rng.randint(1, 3)):
                v[k] = rng.choice(["/", "3条", "无", "１２", "—", "251000元"])
        elif roll < 0.18:
            kind = "imbalance"
            v["s3.new.natural"] = v["s3.new.natural"] + rng.randint(1, 5)
        elif roll < 0.24:
            kind = "blanks"
            for k in rng.sample(list(form.entry_keys), rng.randint(3, 10)):
                v[k] = None
        elif roll < 0.29:
            kind = "narrative"
            v["s1.on_request"] = f"{year}年未收到政府信息公开申请。"
            v["s3.new.natural"] = v["s3.new.natural"] + 2
            v["s3.r1_open.natural"] = v["s3.r1_open.natural"] + 2
        elif roll < 0.34:
            kind = "tampered"
            which = rng.randrange(3)
            if which == 0:
                post = (part("三、依申请公开"), lambda b: re.sub(rb"<sheetProtection[^>]*/>", b"", b))
            elif which == 1:
                post = (
                    part("三、依申请公开"),
                    lambda b: re.sub(
                        rb'<c r="J6"([^>]*)>.*?</c>', rb'<c r="J6"\1><v>99</v></c>', b, count=1, flags=re.S
                    ),
                )
            else:
                post = (
                    part("二、主动公开"),
                    lambda b: re.sub(
                        rb'<c r="B2" s="(\d+)" t="s"><v>\d+</v></c>',
                        '<c r="B2" s="\\1" t="inlineStr"><is><t>本年发件</t></is></c>'.encode(),
                        b,
                        count=1,
                    ),
                )
        elif roll < 0.37:
            kind = "last-year"
            year = YEAR - 1
            v = sample_values(form, unit.name, unit.type, year, seed=i)
        elif roll < 0.40:
            kind = "not-a-workbook"
        kinds[kind] += 1
        name = workbook_filename(unit, year)
        if kind == "not-a-workbook":
            if rng.random() < 0.5:
                (folder / (name[:-5] + ".xls")).write_text("单位,申请数\n城关镇,3\n", encoding="utf-8")
            else:
                data, _ = build_workbook(form, unit, year, prefill=v)
                (folder / name).write_bytes(data[: len(data) // 3])
            continue
        data, _ = build_workbook(form, unit, year, prefill=v)
        if post is not None:
            data = _zip_edit(data, post[0], post[1])
        (folder / name).write_bytes(data)
    stamp.write_text(json.dumps(dict(kinds), ensure_ascii=False))
    print(f"  生成测试文件 {n} 个，用时 {time.perf_counter() - t0:.1f} s：{dict(kinds)}", file=sys.stderr)
    return sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))


# --------------------------------------------------------------------------------------------
# the runs


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


def calamine(files: list[Path], jobs: int) -> None:
    paths = [str(p) for p in files]
    if jobs == 1:
        for p in paths:
            _calamine_one(p)
        return
    import multiprocessing as mp

    with mp.get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap(_calamine_one, paths, chunksize=max(1, len(paths) // (jobs * 8))):
            pass


def without_narrative(fn):
    """For the breakdown only: the same check without gkxlsx.text.narrative's rules."""
    from gkxlsx.check import checks

    orig = checks.CHECKS
    checks.CHECKS = tuple(s for s in orig if s.name != "narrative")
    try:
        return fn()
    finally:
        checks.CHECKS = orig


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def timed(fn) -> tuple[float, float]:
    c0, t0 = _cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, _cpu() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="corpus folder (reused when it matches)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "check.json")
    args = ap.parse_args(argv)
    folder = args.dir or Path(tempfile.gettempdir()) / f"gkxlsx-bench-check-{args.n}"
    files = make_corpus(folder, args.n)
    statuses = Counter(r.status for r in check_paths(files, jobs=2, year=YEAR))  # warm-up + sanity
    runs = {
        "calamine --jobs 1 (floor)": lambda: calamine(files, 1),
        "check --jobs 1": lambda: check_paths(files, jobs=1, year=YEAR),
        "check --jobs 2": lambda: check_paths(files, jobs=2, year=YEAR),
        "calamine --jobs 2": lambda: calamine(files, 2),
        "  (check --jobs 1, no W-TXT)": lambda: without_narrative(lambda: check_paths(files, jobs=1, year=YEAR)),
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for k, fn in runs.items():
            w, c = timed(fn)
            wall[k].append(w)
            cpu[k].append(c)
    n = len(files)
    med = {k: statistics.median(v) for k, v in wall.items()}
    medc = {k: statistics.median(v) for k, v in cpu.items()}
    floor = med["calamine --jobs 1 (floor)"]
    print(f"\n检查 {n} 个报送工作簿（{args.rounds} 轮取中位数；{os.cpu_count()} 核；负载 {os.getloadavg()[0]:.2f}）")
    print(f"检查结果：{dict(statuses)}\n")
    print(f"{'':30}{'files/s':>10}{'ms/file':>10}{'CPU ms/file':>13}{'× floor':>10}")
    for k in runs:
        print(f"{k:30}{n / med[k]:>10.1f}{med[k] / n * 1000:>10.2f}{medc[k] / n * 1000:>13.2f}{med[k] / floor:>10.2f}")
    ratio = med["check --jobs 2"] / floor
    verdict = "达到" if ratio <= TARGET else "未达到"
    print(f"\ncheck --jobs 2 ÷ calamine floor = {ratio:.2f}（目标 ≤ {TARGET}：{verdict}）")
    result = {
        "benchmark": "check",
        "gkxlsx": __version__,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_1min": os.getloadavg()[0],
        },
        "files": n,
        "rounds": args.rounds,
        "statuses": dict(statuses),
        "wall_s": wall,
        "cpu_s": cpu,
        "files_per_s": {k: n / v for k, v in med.items()},
        "ratio_to_floor": {k: v / floor for k, v in med.items()},
        "target": TARGET,
        "met": ratio <= TARGET,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"结果已写入 {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
