"""Benchmark: ``generate_all`` for a synthetic roster, against plain XlsxWriter writing the same workbooks.

    python benchmarks/bench_generate.py            # N = 1000 units
    python benchmarks/bench_generate.py --n 200 --filled

*Generator*: ``gkxlsx.workbook.generate.generate_all`` — layout, formulas compiled from the rules, cached
results computed in Python, fingerprint, structure lock (re-zip), file + manifest written.

*Floor*: XlsxWriter alone, with no logic at all.  Every XlsxWriter call the generator makes for a
unit (formats, strings, merges, formulas with their cached values, validations, conditional formats,
protection, names, properties, page set-up) is recorded once, outside the timing, and replayed into a
fresh ``xlsxwriter.Workbook`` per unit, which is then written to disk.  So the floor writes the same
cells, merges, formulas and validations, byte for byte the same XML, minus the generator's own work.
Recorded units cycle over every unit type of the roster.

The two run interleaved in blocks (generator, floor, generator, …) so that both see the same load on
a shared machine; wall and CPU (process) time are both reported, the ratio is judged on CPU time.

Prints a table and writes ``benchmarks/results/generate.json``.  Target: generator ≤ 1.5 × floor.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import xlsxwriter

import gkxlsx.workbook.generate as gen
from gkxlsx import __version__
from gkxlsx.form.model import load_form
from gkxlsx.form.roster import load_roster

HERE = Path(__file__).resolve().parent
TARGET = 1.5
TYPES = ("乡镇", "街道", "县级部门", "县级政府", "乡镇", "县级部门")


def synthetic_roster(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["单位代码", "单位名称", "单位类型", "上级单位", "联系人", "邮箱"])
        for i in range(n):
            t = TYPES[i % len(TYPES)]
            name = {
                "乡镇": f"合成县第{i:04d}镇人民政府",
                "街道": f"合成县第{i:04d}街道办事处",
                "县级政府": f"合成第{i:04d}县人民政府",
            }.get(t, f"合成县第{i:04d}局")
            w.writerow([f"B{i:05d}", name, t, "合成县人民政府", f"联系人{i}", f"u{i}@example.gov.cn"])
    return path


def filled_values(form) -> dict:
    """A complete data set (every numeric input) so cached results are real numbers, not blanks."""
    v: dict[str, Any] = {k: (i % 7) for i, k in enumerate(form.entry_keys)}
    for k, f in form.fields.items():
        if k.startswith("meta."):
            continue
        v[k] = 1 if f.type.numeric else f"{f.label}：本年度情况说明。" * 5
    return v


# --------------------------------------------------------------------------------------------
# recording the generator's XlsxWriter calls, and replaying them


class _Fmt:
    """Placeholder for the n-th format of a recorded workbook."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i


def _freeze(x, fmt_ids: dict[int, int]):
    if isinstance(x, xlsxwriter.format.Format):
        return _Fmt(fmt_ids[id(x)])
    if isinstance(x, dict):
        return {k: _freeze(v, fmt_ids) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_freeze(v, fmt_ids) for v in x)
    return x


def _thaw(x, fmts: list):
    if isinstance(x, _Fmt):
        return fmts[x.i]
    if isinstance(x, dict):
        return {k: _thaw(v, fmts) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_thaw(v, fmts) for v in x)
    return x


class _RecSheet:
    def __init__(self, real, idx: int, log: list, fmt_ids: dict):
        self._real, self._idx, self._log, self._fmt_ids = real, idx, log, fmt_ids

    def __getattr__(self, name):
        fn = getattr(self._real, name)

        def call(*a, **kw):
            self._log.append(("ws", self._idx, name, _freeze(a, self._fmt_ids), _freeze(kw, self._fmt_ids)))
            return fn(*a, **kw)

        return call


class _RecBook:
    def __init__(self, target, options, log: list):
        self._real = xlsxwriter.Workbook(target, options)
        self._log = log
        self._fmt_ids: dict[int, int] = {}
        self._nsheets = 0
        log.append(("new", options))

    def add_format(self, props=None):
        f = self._real.add_format(props)
        self._fmt_ids[id(f)] = len(self._fmt_ids)
        self._log.append(("wb", "add_format", (dict(props) if props else None,), {}))
        return f

    def add_worksheet(self, *a, **kw):
        ws = self._real.add_worksheet(*a, **kw)
        self._log.append(("wb", "add_worksheet", a, kw))
        self._nsheets += 1
        return _RecSheet(ws, self._nsheets - 1, self._log, self._fmt_ids)

    def __getattr__(self, name):
        fn = getattr(self._real, name)

        def call(*a, **kw):
            self._log.append(("wb", name, _freeze(a, self._fmt_ids), _freeze(kw, self._fmt_ids)))
            return fn(*a, **kw)

        return call


def record(form, units, year: int, prefill) -> list[list]:
    """The XlsxWriter calls of ``build_workbook`` for each unit (run outside any timing)."""
    logs = []
    real_module = gen.xlsxwriter
    for u in units:
        log: list = []
        gen.xlsxwriter = types.SimpleNamespace(
            Workbook=lambda target, options=None, _l=log: _RecBook(target, options, _l)
        )
        try:
            gen.build_workbook(form, u, year, prefill=prefill)
        finally:
            gen.xlsxwriter = real_module
        logs.append(log)
    return logs


def compile_log(log: list) -> list:
    """Turn a recorded log into (target, method, args, kwargs, format slots) so that replaying does no
    more than substitute this workbook's formats: top-level format arguments by position, anything
    nested (conditional-format dicts) by a full walk."""
    out = []
    for op in log:
        if op[0] == "new":
            out.append(("new", None, op[1], None, None))
            continue
        if op[0] == "wb":
            target, (name, a, kw) = -1, op[1:]
        else:
            target, name, a, kw = op[1], op[2], op[3], op[4]
        slots = [(j, v.i) for j, v in enumerate(a) if isinstance(v, _Fmt)]
        nested = any(isinstance(v, (dict, list, tuple)) and _has_fmt(v) for v in a) or _has_fmt(kw)
        out.append((target, name, a, kw, "nested" if nested else (slots or None)))
    return out


def _has_fmt(x) -> bool:
    if isinstance(x, _Fmt):
        return True
    if isinstance(x, dict):
        return any(_has_fmt(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(_has_fmt(v) for v in x)
    return False


def replay(ops: list) -> bytes:
    """Plain XlsxWriter: make exactly the recorded calls, nothing else."""
    buf = io.BytesIO()
    wb = None
    fmts: list = []
    sheets: list = []
    for target, name, a, kw, slots in ops:
        if target == "new":
            wb = xlsxwriter.Workbook(buf, a)
            continue
        if slots == "nested":
            a, kw = _thaw(a, fmts), _thaw(kw, fmts)
        elif slots:
            a = list(a)
            for j, i in slots:
                a[j] = fmts[i]
        if target == -1:
            r = getattr(wb, name)(*a, **kw)
            if name == "add_format":
                fmts.append(r)
            elif name == "add_worksheet":
                sheets.append(r)
        else:
            getattr(sheets[target], name)(*a, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="generate_all vs plain XlsxWriter")
    ap.add_argument("--n", type=int, default=1000, help="number of units (default 1000)")
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--filled", action="store_true", help="prefill every unit with a complete data set")
    ap.add_argument(
        "--blocks", type=int, default=10, help="interleave generator and floor in this many blocks (default 10)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results" / "generate.json")
    args = ap.parse_args(argv)

    form = load_form("2021")
    work = Path(tempfile.mkdtemp(prefix="gkx_bench_"))
    try:
        roster = synthetic_roster(work / "roster.csv", args.n)
        t0 = time.perf_counter()
        units = load_roster(roster, form)
        t_roster = time.perf_counter() - t0
        values = filled_values(form) if args.filled else None
        prefill = {u.code: values for u in units} if values else None

        # warm-up (imports, layout cache) and the recording for the floor, both untimed
        sample = []
        for t in dict.fromkeys(u.type for u in units):
            sample += [u for u in units if u.type == t][:3]
        logs = [compile_log(log) for log in record(form, sample, args.year, values)]
        ws_ops = [op for op in logs[0] if isinstance(op[0], int) and op[0] >= 0]
        n_ops = len(ws_ops)
        n_cells = sum(1 for op in ws_ops if op[1].startswith(("write", "merge_range")))
        n_dv = sum(1 for op in ws_ops if op[1] == "data_validation")

        # interleaved blocks (generator, floor, generator, floor, …): both see the same machine load
        out_gen, out_floor = work / "gen", work / "floor"
        out_floor.mkdir()
        t_gen = c_gen = t_floor = c_floor = 0.0
        files = []
        step = -(-args.n // args.blocks)
        for b0 in range(0, args.n, step):
            block = units[b0 : b0 + step]
            t0, c0 = time.perf_counter(), time.process_time()
            files += gen.generate_all(block, args.year, out_gen / f"block{b0}", form=form, prefill=prefill)
            t_gen += time.perf_counter() - t0
            c_gen += time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            for i, u in enumerate(block, start=b0):
                data = replay(logs[i % len(logs)])
                (out_floor / f"{u.code}.xlsx").write_bytes(data)
            t_floor += time.perf_counter() - t0
            c_floor += time.process_time() - c0
        assert len(files) == args.n

        size_gen = sum(f.path.stat().st_size for f in files) / len(files)
        size_floor = sum(p.stat().st_size for p in out_floor.iterdir()) / args.n
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = args.n
    ratio_cpu = c_gen / c_floor
    ratio_wall = t_gen / t_floor
    print(
        f"gkxlsx {__version__} · XlsxWriter {xlsxwriter.__version__} · Python {platform.python_version()} · {os.cpu_count()} CPU"
    )
    print(
        f"{n} units, format {form.id}, year {args.year}, {'filled' if args.filled else 'blank'} workbooks; "
        f"per workbook: {n_cells} cell/merge writes, {n_dv} validations, {n_ops} worksheet calls"
    )
    print()
    print(f"{'step':<32}{'wall s':>9}{'CPU s':>9}{'ms/wb wall':>12}{'ms/wb CPU':>11}")
    print("-" * 73)
    print(f"{'load_roster (CSV)':<32}{t_roster:>9.2f}{'':>9}{t_roster / n * 1000:>12.2f}")
    for name, w, c in (("generate_all (gkxlsx)", t_gen, c_gen), ("plain XlsxWriter, same calls", t_floor, c_floor)):
        print(f"{name:<32}{w:>9.2f}{c:>9.2f}{w / n * 1000:>12.1f}{c / n * 1000:>11.1f}")
    print("-" * 73)
    print(f"{'ratio generator / floor':<32}{'':>18}{ratio_wall:>11.2f}×{ratio_cpu:>10.2f}×")
    print(
        f"target ≤ {TARGET}× (judged on CPU time, which other processes on the machine disturb least): "
        f"{'met' if ratio_cpu <= TARGET else 'NOT met'}"
    )
    print(f"seconds per workbook: generator {t_gen / n:.4f} s, floor {t_floor / n:.4f} s (wall)")
    print(f"average file size: generator {size_gen / 1024:.1f} KiB, floor {size_floor / 1024:.1f} KiB")

    result = {
        "benchmark": "generate",
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "python": platform.python_version(),
            "xlsxwriter": xlsxwriter.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_1min": round(os.getloadavg()[0], 2),
        },
        "gkxlsx": __version__,
        "n_units": n,
        "format": form.id,
        "year": args.year,
        "filled": args.filled,
        "blocks": args.blocks,
        "per_workbook": {"cell_and_merge_writes": n_cells, "data_validations": n_dv, "worksheet_calls": n_ops},
        "wall_seconds": {
            "load_roster": round(t_roster, 4),
            "generate_all": round(t_gen, 3),
            "xlsxwriter_floor": round(t_floor, 3),
        },
        "cpu_seconds": {"generate_all": round(c_gen, 3), "xlsxwriter_floor": round(c_floor, 3)},
        "seconds_per_workbook": {"generate_all": round(t_gen / n, 5), "xlsxwriter_floor": round(t_floor / n, 5)},
        "cpu_seconds_per_workbook": {"generate_all": round(c_gen / n, 5), "xlsxwriter_floor": round(c_floor / n, 5)},
        "ratio_wall": round(ratio_wall, 3),
        "ratio_cpu": round(ratio_cpu, 3),
        "target_ratio": TARGET,
        "target_met": ratio_cpu <= TARGET,
        "avg_file_kib": {"generate_all": round(size_gen / 1024, 1), "xlsxwriter_floor": round(size_floor / 1024, 1)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
