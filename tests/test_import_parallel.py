"""Importing many returns at once: worker processes check, the parent archives and records in
batched transactions — and the ledger ends exactly as a one-by-one import leaves it (versions,
current version, quarantine, duplicates, outcomes in file order), also when the import is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import Campaign, import_files, init_campaign
from gkxlsx.cli import app
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.workbook.generate import build_workbook
from tests._pg import both_backends

ROOT = Path(__file__).resolve().parents[1]
ROSTER = ROOT / "examples" / "roster.csv"


def make_return(camp: Campaign, code: str, out: Path, seed: int = 1, edit=None) -> Path:
    u = camp.unit(code)
    values = sample_values(camp.form, u.name, u.type, camp.year, seed=seed)
    if edit:
        edit(values)
    data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    p = out / workbook_filename(u, camp.year)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _unbalance(v):
    v["s3.new.natural"] = (v["s3.new.natural"] or 0) + 3


@pytest.fixture(scope="module")
def returns(tmp_path_factory):
    """Two versions of every unit's return (the second of some with an imbalance), a stray
    workbook, a text file and a byte-identical copy of one return: 28 files."""
    base = tmp_path_factory.mktemp("returns")
    c = init_campaign(base / "proto", year=2025, roster=ROSTER, office="示例县人民政府办公室")
    paths: list[Path] = []
    for v in (1, 2):
        for i, u in enumerate(c.units()):
            paths.append(
                make_return(
                    c, u.code, base / f"v{v}", seed=10 * v + i, edit=_unbalance if v == 2 and i % 3 == 0 else None
                )
            )
    stray = base / "回执.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "参会回执"
    wb.save(stray)
    note = base / "说明.txt"
    note.write_text("不是表格", encoding="utf-8")
    copy = base / "copy" / paths[3].name
    copy.parent.mkdir()
    copy.write_bytes(paths[3].read_bytes())
    c.close()
    return paths[:12] + [stray] + paths[12:] + [note, copy]


def _camp(path: Path, db: str | None = None) -> Campaign:
    c = init_campaign(path, year=2025, roster=ROSTER, office="示例县人民政府办公室", db=db)
    assert c.ledger.backend == ("postgresql" if db else "sqlite")
    return c


def _ledger_state(camp: Campaign):
    subs = [
        (
            r["unit_code"],
            r["version"],
            r["sha256"],
            r["status"],
            r["is_current"],
            r["n_errors"],
            r["n_warnings"],
            r["filename"],
        )
        for r in camp.ledger.conn.execute("SELECT * FROM submissions ORDER BY unit_code, version")
    ]
    quar = sorted((r["sha256"], r["reason"]) for r in camp.ledger.quarantined())
    return subs, quar


def _outcomes(out):
    return [(o.path.name, o.kind, o.unit_code, o.version, o.status, len(o.findings)) for o in out]


@both_backends
def test_parallel_batched_import_equals_one_by_one(returns, tmp_path, ledger_db):
    one = _camp(tmp_path / "one", ledger_db)
    seq = [o for p in returns for o in import_files(one, [p], received_at="2026-01-10T09:00:00")]
    par = _camp(tmp_path / "par", ledger_db)
    seen = []
    out = import_files(par, returns, received_at="2026-01-10T09:00:00", jobs=2, batch=5, progress=seen.append)
    assert _outcomes(out) == _outcomes(seq)
    assert [o.path for o in seen] == [o.path for o in out] == returns  # streamed, in file order
    kinds = [o.kind for o in out]
    assert kinds.count("new") == 24 and kinds.count("quarantine") == 2 and kinds.count("duplicate") == 1
    assert kinds[-1] == "duplicate"  # the byte-identical copy, in the last batch
    assert _ledger_state(par) == _ledger_state(one)
    assert par.ledger.integrity() == []
    for u in par.units():
        hist = par.ledger.history(u.code)
        assert [h.version for h in hist] == [1, 2] and [h.is_current for h in hist] == [False, True]
    assert {par.ledger.current(u.code).status for u in par.units()} == {"通过", "有错误"}
    # a re-import changes nothing, whatever the jobs and batch
    again = import_files(par, returns, jobs=2, batch=7)
    assert {o.kind for o in again} == {"duplicate"}
    assert _ledger_state(par) == _ledger_state(one)
    one.close()
    par.close()


@both_backends
def test_keep_false_streams_outcomes_without_collecting(returns, tmp_path, ledger_db):
    c = _camp(tmp_path / "c", ledger_db)
    seen = []
    assert import_files(c, returns[:12], jobs=2, batch=4, keep=False, progress=seen.append) == []
    assert [o.kind for o in seen] == ["new"] * 12
    assert len(c.ledger.currents()) == 12
    c.close()


KILL_SCRIPT = """
import sys
from gkxlsx.campaign.campaign import Campaign, import_files
camp = Campaign(sys.argv[1])
import_files(camp, sys.argv[2:], jobs=2, batch=2)
camp.close()
"""


@both_backends
def test_killed_parallel_import_leaves_whole_batches_and_reimport_completes(returns, tmp_path, ledger_db):
    c = _camp(tmp_path / "k", ledger_db)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(c.root), *map(str, returns)], env=env, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        n = c.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
        if n >= 2 or proc.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers
    proc.wait()
    assert c.ledger.integrity() == []
    done = c.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert 0 < done <= 24
    # every recorded file was archived first
    for r in c.ledger.all_submissions():
        assert Path(r["archive_path"]).exists()
    out = import_files(c, returns, jobs=2, batch=5)
    assert c.ledger.integrity() == []
    assert len(c.ledger.all_submissions()) == 24
    assert sum(o.kind == "new" for o in out) == 24 - done
    for u in c.units():
        assert [h.version for h in c.ledger.history(u.code)] == [1, 2]
    c.close()


@both_backends
def test_cli_import_jobs(returns, tmp_path, ledger_db):
    c = _camp(tmp_path / "cli", ledger_db)
    c.close()
    res = CliRunner().invoke(
        app, ["import", "--campaign", str(tmp_path / "cli"), "--jobs", "2", *map(str, returns[:12])]
    )
    assert res.exit_code == 0, res.output
    assert res.output.count("✓") == 12 and "第 1 版" in res.output
    c = Campaign(tmp_path / "cli")
    assert len(c.ledger.currents()) == 12
    c.close()


@both_backends
@pytest.mark.parametrize("jobs", [1, 2])
def test_identical_files_set_aside_in_one_import_are_one_quarantine_and_duplicates(returns, tmp_path, jobs, ledger_db):
    """Byte-identical files that cannot be recorded (not a return), in one batch and across
    batches: the first is set aside, the others are duplicates — every outcome says what the
    ledger holds."""
    junk = []
    for i in range(5):
        p = tmp_path / f"junk{i}" / "回执.txt"
        p.parent.mkdir()
        p.write_text("不是表格", encoding="utf-8")
        junk.append(p)
    c = _camp(tmp_path / "j", ledger_db)
    out = import_files(c, junk[:3] + returns[:4] + junk[3:], jobs=jobs, batch=3)
    kinds = [o.kind for o in out]
    assert kinds == ["quarantine", "duplicate", "duplicate", "new", "new", "new", "new", "duplicate", "duplicate"]
    assert len(c.ledger.quarantined()) == kinds.count("quarantine") == 1
    c.close()
