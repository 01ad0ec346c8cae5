"""Checking with several processes (``iter_check``/``check_paths`` with ``jobs`` > 1, ``gkxlsx
check --jobs``): this process and its workers take files from a shared counter, workers send their
results as bytes, and the results come out in the order of the files, exactly as one process gives
them — also when a worker fails on a file, dies, or the caller stops reading."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
from decimal import Decimal
from pathlib import Path

import pytest
from test_check_corpus import ROSTER, S3, YEAR, build, quiet_values, set_cell, sheet_part, write, zip_edit

import gkxlsx.check.checker as C
import gkxlsx.check.result as R
from gkxlsx.check import parallel
from gkxlsx.check.checker import check_file, check_paths, iter_check
from gkxlsx.check.result import STATUS_ERR, STATUS_PASS, STATUS_UNREADABLE

needs_2_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="jobs are capped at the number of cores")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """36 returns of every kind: valid (with a fee amount and a report date, values that are not
    plain numbers or text), broken values, unbalanced tables, not a workbook at all."""
    base = tmp_path_factory.mktemp("parallel")
    for i in range(12):
        unit = ROSTER[i % 3]
        v = quiet_values(unit)
        if "meta.report_date" in v or i % 2:
            v["meta.report_date"] = dt.date(2026, 1, 10 + i % 9)
        if "s6.fee_notice_amount" in v and i % 4 == 1:
            v["s6.fee_notices"], v["s6.fee_notice_amount"], v["s6.fee_collected"] = 1, Decimal("0.35"), Decimal("0.35")
        write(base, f"{i:02d}_ok.xlsx", build(v, unit))
        bad = zip_edit(build(quiet_values(unit), unit), {sheet_part(S3): set_cell("E6", "3条", t="inlineStr")})
        write(base, f"{i:02d}_bad.xlsx", bad)
        (base / f"{i:02d}_junk.xlsx").write_bytes(b"not a workbook " * (i + 1))
    return base


def _same(r) -> tuple:
    d = r.to_dict()
    d.pop("timings_ms")
    return d, r.values, r.inputs, r.findings, r.path


@pytest.fixture(scope="module")
def one_process(folder):
    return list(iter_check([folder], jobs=1, year=YEAR))


def test_the_folder_has_every_kind(one_process):
    statuses = {r.status for r in one_process}
    assert {STATUS_PASS, STATUS_ERR, STATUS_UNREADABLE} <= statuses
    assert any(isinstance(v, Decimal) and v for r in one_process for v in (r.values or {}).values())
    assert any(isinstance(v, dt.date) for r in one_process for v in (r.values or {}).values())


@needs_2_cores
def test_two_processes_give_what_one_gives_in_the_same_order(folder, one_process):
    two = list(iter_check([folder], jobs=2, year=YEAR))
    assert [r.path for r in two] == [r.path for r in one_process]
    assert [_same(r) for r in two] == [_same(r) for r in one_process]
    # values keep their types across the process boundary
    for a, b in zip(one_process, two):
        assert [type(v) for v in (a.values or {}).values()] == [type(v) for v in (b.values or {}).values()]


@needs_2_cores
def test_check_paths_with_jobs_marks_duplicates_like_one_process(folder):
    a = check_paths([folder], jobs=1, year=YEAR, roster=ROSTER)
    b = check_paths([folder], jobs=2, year=YEAR, roster=ROSTER)
    assert [_same(r) for r in a] == [_same(r) for r in b]
    assert any(f.rule_id == "W-UNIT-DUP" for r in b for f in r.findings)


def test_wire_round_trip_keeps_every_field(one_process):
    for r in one_process:
        back = R.from_wire(R.to_wire(r), r.path)
        assert _same(back) == _same(r)
        assert back.identity == r.identity and back.form_id == r.form_id and back.timings == r.timings


@needs_2_cores
def test_a_worker_failing_on_a_file_leaves_it_to_this_process(folder, one_process, monkeypatch, tmp_path):
    parent = os.getpid()
    real = C.check_file

    def flaky(path, **kw):
        if os.getpid() != parent:  # every file the worker takes fails there
            (tmp_path / Path(path).name).touch()
            raise RuntimeError("worker trouble")
        return real(path, **kw)

    monkeypatch.setattr(C, "check_file", flaky)
    two = list(iter_check([folder], jobs=2, year=YEAR))
    assert [_same(r) for r in two] == [_same(r) for r in one_process]
    assert list(tmp_path.iterdir()), "the worker took no file: nothing was tested"


@needs_2_cores
def test_a_worker_that_dies_loses_no_file(folder, one_process, monkeypatch, tmp_path):
    parent = os.getpid()
    real = C.check_file

    def deadly(path, **kw):
        if os.getpid() != parent:  # the worker dies on the first file it takes
            (tmp_path / Path(path).name).touch()
            os._exit(3)
        return real(path, **kw)

    monkeypatch.setattr(C, "check_file", deadly)
    monkeypatch.setattr(parallel, "AHEAD", 4)  # the parent runs out of look-ahead and must notice the loss
    two = list(iter_check([folder], jobs=2, year=YEAR))
    assert [_same(r) for r in two] == [_same(r) for r in one_process]
    assert len(list(tmp_path.iterdir())) == 1
    assert not mp.active_children()


@needs_2_cores
def test_stopping_early_leaves_no_worker_behind(folder, one_process):
    it = iter_check([folder], jobs=2, year=YEAR)
    first = [next(it) for _ in range(3)]
    it.close()
    assert [_same(r) for r in first] == [_same(r) for r in one_process[:3]]
    assert not mp.active_children()


def test_one_file_or_one_job_needs_no_worker(folder, one_process):
    single = sorted(folder.iterdir())[:1]
    assert [_same(r) for r in iter_check(single, jobs=2, year=YEAR)] == [_same(check_file(single[0], year=YEAR))]
    assert not mp.active_children()


def _square_or_bytes(x: int):
    return str(x).encode() if x % 3 == 0 else x * x


@needs_2_cores
def test_ordered_map_in_order_with_results_of_any_kind():
    # results that are themselves bytes, as an import worker's are not, must not be taken for a worker's message
    items = list(range(500))
    assert list(parallel.ordered_map(_square_or_bytes, items, 2, ahead=8)) == [_square_or_bytes(x) for x in items]
    assert not mp.active_children()


def _fails_at_7(x: int) -> int:
    if x == 7:
        raise ValueError("bad item 7")
    return x


def test_an_error_comes_where_one_process_raises_it():
    for jobs in (1, 2):
        got = []
        with pytest.raises(ValueError, match="bad item 7"):
            for x in parallel.ordered_map(_fails_at_7, list(range(40)), jobs):
                got.append(x)
        assert got == list(range(7)), jobs
    assert not mp.active_children()


def _slow_first(x: int) -> int:
    import time

    if x == 0:
        time.sleep(0.3)
    return x


@needs_2_cores
def test_workers_leave_by_themselves_when_the_caller_stops(monkeypatch):
    procs = []
    real = mp.get_context

    def spy(method=None):
        ctx = real(method)

        class Ctx:
            def __getattr__(self, name):
                return getattr(ctx, name)

            def Process(self, *a, **kw):
                p = ctx.Process(*a, **kw)
                procs.append(p)
                return p

        return Ctx()

    monkeypatch.setattr(mp, "get_context", spy)
    it = parallel.ordered_map(_slow_first, list(range(100_000)), 2)
    assert next(it) == 0
    it.close()
    assert procs and [p.exitcode for p in procs] == [0]  # left on the closed pipe, not terminated


def _dies_holding_the_lock(task, items, encode, counter, claims, w, conn, inherited):
    import signal

    counter.get_lock().acquire()
    os.kill(os.getpid(), signal.SIGKILL)


@needs_2_cores
def test_a_worker_killed_inside_the_counter_lock_does_not_stop_the_rest(monkeypatch):
    import signal

    monkeypatch.setattr(parallel, "_worker", _dies_holding_the_lock)
    monkeypatch.setattr(parallel, "LOCK_PATIENCE_S", 0.2)

    def hung(*_):
        raise TimeoutError("ordered_map is stuck")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        assert list(parallel.ordered_map(_square_or_bytes, list(range(50)), 2)) == [
            _square_or_bytes(x) for x in range(50)
        ]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert not mp.active_children()
