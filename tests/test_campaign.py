"""The collection campaign: ledger, status, diff, accept, aggregate, cross-year, and abuse."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import Campaign, aggregate, generate_for_campaign, import_files, init_campaign
from gkxlsx.campaign.ledger import LedgerError
from gkxlsx.cli import app
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.workbook.generate import build_workbook
from tests._pg import both_backends

ROOT = Path(__file__).resolve().parents[1]
ROSTER = ROOT / "examples" / "roster.csv"
runner = CliRunner()


def make_return(camp: Campaign, code: str, out: Path, edit=None, seed: int = 1, name: str | None = None) -> Path:
    u = camp.unit(code)
    values = sample_values(camp.form, u.name, u.type, camp.year, seed=seed)
    if edit:
        edit(values)
    data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    p = out / (name or workbook_filename(u, camp.year))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


@pytest.fixture
def camp(tmp_path, ledger_db):
    """A campaign of the example roster; its ledger in ledger.sqlite, or — in a test parametrised
    with ``both_backends`` — also in its own schema of the session's PostgreSQL database."""
    c = init_campaign(
        tmp_path / "c",
        year=2025,
        roster=ROSTER,
        office="示例县人民政府办公室",
        deadline=__import__("datetime").date(2026, 1, 20),
        db=ledger_db,
    )
    assert c.ledger.backend == ("postgresql" if ledger_db else "sqlite")
    yield c
    c.close()


def test_init_writes_config_db_and_folders(camp):
    root = camp.root
    assert camp.ledger.backend == "sqlite" and "db =" not in (root / "campaign.toml").read_text(encoding="utf-8")
    assert (root / "campaign.toml").read_text(encoding="utf-8").count("year = 2025") == 1
    assert (root / "ledger.sqlite").exists()
    for d in ("模板", "原件归档", "反馈", "报告"):
        assert (root / d).is_dir()
    assert len(camp.units()) == 12
    with pytest.raises(Exception) as e:
        init_campaign(root, year=2025, roster=ROSTER)
    assert "不会覆盖" in str(e.value)


@both_backends
def test_import_records_versions_and_reimport_is_noop(camp, tmp_path):
    p1 = make_return(
        camp, "SLX001", tmp_path / "in", edit=lambda v: v.__setitem__("s3.r1_open.natural", v["s3.r1_open.natural"] + 1)
    )
    r = import_files(camp, [p1], received_at="2026-01-10T09:00:00")
    assert [x.kind for x in r] == ["new"] and r[0].status == "有错误" and r[0].version == 1
    assert any(f["rule"] == "E-T3-BAL" for f in r[0].findings)
    # same bytes again: no-op
    r = import_files(camp, [p1])
    assert r[0].kind == "duplicate"
    assert len(camp.ledger.history("SLX001")) == 1
    # corrected version becomes current, the old one stays
    p2 = make_return(camp, "SLX001", tmp_path / "in2")
    r = import_files(camp, [p2], received_at="2026-01-12T09:00:00")
    assert r[0].kind == "new" and r[0].version == 2 and r[0].status == "通过"
    hist = camp.ledger.history("SLX001")
    assert [h.version for h in hist] == [1, 2]
    assert [h.is_current for h in hist] == [False, True]
    # both originals archived by sha256, byte-identical
    for h in hist:
        assert Path(h.archive_path).read_bytes() in (p1.read_bytes(), p2.read_bytes())
    assert camp.ledger.integrity() == []


def test_many_imports_in_one_process_start_no_thread_each(camp, tmp_path):
    """A server imports every upload in the same process: the archive writer thread is shared."""
    import threading

    import_files(camp, [make_return(camp, "SLX001", tmp_path / "a")])
    before = threading.active_count()
    for k, code in enumerate(["SLX002", "SLX003", "SLX004", "SLX005"]):
        assert import_files(camp, [make_return(camp, code, tmp_path / f"b{k}")])[0].kind == "new"
    assert threading.active_count() == before


@both_backends
def test_unknown_files_are_quarantined_not_lost(camp, tmp_path):
    stray = tmp_path / "回执.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "参会回执"
    wb.save(stray)
    txt = tmp_path / "说明.txt"
    txt.write_text("不是表格", encoding="utf-8")
    r = import_files(camp, [stray, txt])
    assert [x.kind for x in r] == ["quarantine", "quarantine"]
    q = camp.ledger.quarantined()
    assert len(q) == 2 and all(Path(x["archive_path"]).exists() for x in q)
    assert all(x["reason"] for x in q)
    assert camp.headline() == camp.status().headline()


@both_backends
def test_status_counts_late_and_rate(camp, tmp_path):
    import_files(camp, [make_return(camp, "SLX001", tmp_path / "a")], received_at="2026-01-10T09:00:00")
    import_files(camp, [make_return(camp, "SLX002", tmp_path / "b")], received_at="2026-01-25T09:00:00")  # late
    bad = make_return(camp, "SLX003", tmp_path / "c", edit=lambda v: v.__setitem__("s2.regulation.issued", "/"))
    import_files(camp, [bad], received_at="2026-01-11T09:00:00")
    s = camp.status()
    assert (s.total, s.returned, s.count("通过"), s.count("有错误"), s.late) == (12, 3, 2, 1, 1)
    assert s.headline().startswith("已报 3/12，通过 2")
    assert camp.headline() == s.headline()  # counted by the database, the same line
    res = runner.invoke(app, ["status", "-C", str(camp.root), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["returned"] == 3 and d["late"] == 1
    row = next(u for u in d["units"] if u["unit_code"] == "SLX002")
    assert row["on_time"] is False and row["status"] == "通过"
    out_x, out_h = tmp_path / "s.xlsx", tmp_path / "s.html"
    res = runner.invoke(app, ["status", "-C", str(camp.root), "--xlsx", str(out_x), "--html", str(out_h)])
    assert res.exit_code == 0, res.output
    ws = openpyxl.load_workbook(out_x).active
    assert ws["A2"].value.startswith("已报 3/12")
    assert "示例县青石镇人民政府" in out_h.read_text(encoding="utf-8")
    # three independently written returns: compared, nothing copied
    assert "各单位当前报送的文字之间未发现内容雷同。" in out_h.read_text(encoding="utf-8")
    assert openpyxl.load_workbook(out_x)["内容雷同"]["A1"].value == "内容雷同：0 对"
    # one unit's history shows cell addresses of its problems
    res = runner.invoke(app, ["status", "SLX003", "-C", str(camp.root)])
    assert res.exit_code == 0 and "二、主动公开!B3" in res.output


@both_backends
def test_accept_warnings_only_with_a_note(camp, tmp_path):
    warn = make_return(
        camp,
        "SLX004",
        tmp_path / "w",
        edit=lambda v: v.update({"s2.regulation.issued": 1, "s2.regulation.in_force": 1}),
    )
    r = import_files(camp, [warn])
    assert r[0].status == "有警告"
    err = make_return(
        camp, "SLX005", tmp_path / "e", edit=lambda v: v.__setitem__("s3.new.natural", v["s3.new.natural"] + 5)
    )
    assert import_files(camp, [err])[0].status == "有错误"
    with pytest.raises(LedgerError, match="错误必须由单位修改"):
        camp.ledger.accept("SLX005", "无所谓")
    with pytest.raises(LedgerError, match="理由"):
        camp.ledger.accept("SLX004", " ")
    res = runner.invoke(app, ["accept", "SLX004", "--note", "经核实为转发上级规章", "-C", str(camp.root)])
    assert res.exit_code == 0, res.output
    cur = camp.ledger.current("SLX004")
    assert cur.status == "已确认" and cur.accepted_note == "经核实为转发上级规章"
    assert camp.headline() == camp.status().headline()
    res = runner.invoke(app, ["accept", "SLX005", "--note", "x", "-C", str(camp.root)])
    assert res.exit_code == 1 and "不能确认" in res.output


def test_diff_lists_changed_cells(camp, tmp_path):
    import_files(
        camp, [make_return(camp, "SLX001", tmp_path / "a", edit=lambda v: v.__setitem__("s3.r1_open.natural", 99))]
    )
    import_files(camp, [make_return(camp, "SLX001", tmp_path / "b")])
    res = runner.invoke(app, ["diff", "SLX001", "-C", str(camp.root)])
    assert res.exit_code == 0, res.output
    assert "三、依申请公开!D6" in res.output and "→" in res.output and "99" in res.output


@both_backends
def test_aggregate_sums_accepted_and_states_completeness(camp, tmp_path):
    codes = ["SLX001", "SLX002", "SLX101"]
    for c in codes:
        import_files(camp, [make_return(camp, c, tmp_path / c)])
    import_files(
        camp,
        [
            make_return(
                camp, "SLX003", tmp_path / "x", edit=lambda v: v.__setitem__("s3.new.natural", v["s3.new.natural"] + 1)
            )
        ],
    )
    [agg] = aggregate(camp)
    assert sorted(u.code for u in agg.included) == codes
    assert len(agg.missing) == 9 and any("有错误" in why for _, why in agg.missing)
    expected = sum(camp.ledger.current(c).values["s3.new.natural"] for c in codes)
    assert agg.report.values["s3.new.natural"] == expected
    from gkxlsx.rules.engine import compute_derived

    totals = [compute_derived(camp.form, camp.ledger.current(c).values)["s3.new.total"] for c in codes]
    assert agg.report.values["s3.new.total"] == sum(totals)
    assert [f for f in agg.findings if f.severity == "error"] == []
    assert "12 个单位中 3 个单位" in agg.completeness["statement"]
    # per-unit figures are read back from the ledger when asked for, in roster order
    per = dict(agg.per_unit.items())
    assert list(per) == codes and len(agg.per_unit) == 3
    assert all(per[c]["s3.new.natural"] == camp.ledger.current(c).values["s3.new.natural"] for c in codes)
    res = runner.invoke(app, ["aggregate", "-C", str(camp.root), "--by", "单位类型"])
    assert res.exit_code == 0, res.output
    files = sorted((camp.root / "报告").glob("*.xlsx"))
    assert any("县级部门" in f.name for f in files)
    wb = openpyxl.load_workbook(next(f for f in files if "乡镇" in f.name))
    assert wb.sheetnames == ["汇总", "分单位明细", "完整性", "校验"]
    detail = [r for r in wb["分单位明细"].iter_rows(min_row=2, values_only=True)]
    assert [r[0] for r in detail] == ["SLX001", "SLX002"]
    col = 2 + list(camp.form.cells).index("s3.new.natural")
    assert [r[col] for r in detail] == [camp.ledger.current(c).values["s3.new.natural"] for c in ("SLX001", "SLX002")]


@both_backends
def test_cross_year_carry_over_and_mismatch(tmp_path, ledger_db):
    last = init_campaign(tmp_path / "2024", year=2024, roster=ROSTER, db=ledger_db)
    p = make_return(
        last,
        "SLX001",
        tmp_path / "l",
        edit=lambda v: (
            v.update({"s3.carried_out.natural": 3, "s3.r1_open.natural": v["s3.r1_open.natural"] - 3})
            if v["s3.r1_open.natural"] >= 3
            else v.update({"s3.carried_out.natural": 0})
        ),
    )
    import_files(last, [p])
    carried = last.ledger.current("SLX001").values["s3.carried_out.natural"]
    last.close()
    cur = init_campaign(tmp_path / "2025", year=2025, roster=ROSTER, previous=tmp_path / "2024", db=ledger_db)
    # the template of this year has 上年结转 prefilled from last year's 结转下年度
    files = generate_for_campaign(cur, only=["SLX001"])
    ws = openpyxl.load_workbook(files[0].path)["三、依申请公开"]
    assert ws["D5"].value == carried

    # a return whose 上年结转 differs from last year's 结转 gets W-XY-CARRY with both years' figures
    def wrong(v):
        v["s3.carried_in.natural"] = carried + 2
        v["s3.carried_out.natural"] = v.get("s3.carried_out.natural", 0) + 2

    r = import_files(cur, [make_return(cur, "SLX001", tmp_path / "n", edit=wrong)])
    f = next(f for f in r[0].findings if f["rule"] == "W-XY-CARRY")
    assert f["locations"] == ["三、依申请公开!D5"]
    assert str(carried) in f["message"] and str(carried + 2) in f["message"]
    cur.close()


def test_a_small_import_looks_up_what_a_large_one_reads_whole(tmp_path, monkeypatch):
    """An upload (a few files) asks the ledger for its units, last year's values and known hashes;
    a large import reads them whole first: the same outcomes either way."""
    import shutil

    import gkxlsx.campaign.campaign as C

    seen = []
    for small in (16, 0):
        monkeypatch.setattr(C, "SMALL_IMPORT", small)
        c = init_campaign(tmp_path / f"c{small}", year=2025, roster=ROSTER)
        c.ledger.set_previous("SLX001", "2021", 2024, {"s3.carried_out.natural": 5}, "test")
        src = tmp_path / f"in{small}"
        first = make_return(c, "SLX001", src)  # 上年结转 differs from last year's 结转 (W-XY-CARRY)
        twice = shutil.copyfile(first, src / "again.xlsx")
        bad = make_return(c, "SLX002", src, edit=lambda v: v.__setitem__("s3.new.natural", v["s3.new.natural"] + 1))
        stray = make_return(c, "SLX003", src, name="SLX003_copy.xlsx")
        c.ledger.conn.execute("PRAGMA foreign_keys=OFF")
        c.ledger.conn.execute("UPDATE units SET code='GONE' WHERE code='SLX003'")  # no longer in the roster
        import_files(c, [make_return(c, "SLX004", tmp_path / f"old{small}")])  # known before this import
        again = shutil.copyfile(tmp_path / f"old{small}" / workbook_filename(c.unit("SLX004"), 2025), src / "old.xlsx")
        out = import_files(c, [first, twice, bad, stray, again])
        seen.append([(o.kind, o.unit_code, o.status, sorted(f["rule"] for f in o.findings)) for o in out])
        c.close()
    assert seen[0] == seen[1]
    assert [k for k, *_ in seen[0]] == ["new", "duplicate", "new", "quarantine", "duplicate"]
    assert "W-XY-CARRY" in seen[0][0][3] and "E-UNIT" in seen[0][3][3]


def test_current_figures_read_as_the_whole_values_read_them(camp, tmp_path):
    """The few figures a unit page compares across units, read by SQLite alone: what parsing each
    current return's whole values gives (decimals, texts, blanks, keys absent)."""
    from decimal import Decimal

    edits = {
        "SLX001": lambda v: v.update({"s6.fee_collected": Decimal("12.5")}),
        "SLX002": lambda v: v.update({"s3.new.natural": "3条"}),
        "SLX003": lambda v: v.update({"s6.fee_collected": None}),
    }
    for code, edit in edits.items():
        import_files(camp, [make_return(camp, code, tmp_path / code, edit=edit)])
    keys = ["s3.new.total", "s3.new.natural", "s6.fee_collected", "meta.name", "no.such.key"]
    whole = {code: {k: v[k] for k in keys if k in v} for code, _s, v in camp.ledger.iter_currents()}
    got = dict(camp.ledger.current_figures(keys))
    assert got == whole and len(got) == 3
    assert any(isinstance(v.get("s6.fee_collected"), Decimal) for v in got.values())


def test_import_of_files_held_in_memory(camp, tmp_path):
    """An upload is imported from memory under a name the server chose: nothing on disk before
    the archive, recorded under the name given."""
    data = make_return(camp, "SLX001", tmp_path / "in").read_bytes()
    staged = tmp_path / "never-written" / "00001.xlsx"
    out = import_files(camp, [staged], names={str(staged): "青石镇.xlsx"}, contents={str(staged): data})
    assert [(o.kind, o.unit_code) for o in out] == [("new", "SLX001")]
    sub = camp.ledger.current("SLX001")
    assert sub.filename == "青石镇.xlsx" and Path(sub.archive_path).read_bytes() == data
    assert not staged.parent.exists()


def test_previous_column_of_campaign_workbooks_matches_the_ledger(tmp_path):
    """A campaign that knows last year's report of a unit sends it a workbook with the grey 上年
    column holding exactly the ledger's previous values; a unit without gets today's workbook."""
    from gkxlsx.form.layout import layout, previous_column
    from gkxlsx.mail.mail import feedback_workbook

    last = init_campaign(tmp_path / "2024", year=2024, roster=ROSTER)
    import_files(last, [make_return(last, "SLX001", tmp_path / "l", seed=5)])
    last.close()
    cur = init_campaign(tmp_path / "2025", year=2025, roster=ROSTER, previous=tmp_path / "2024")
    assert cur.ledger.previous("SLX001") is not None and cur.ledger.previous("SLX002") is None
    files = {f.unit.code: f for f in generate_for_campaign(cur, only=["SLX001", "SLX002"])}
    fmt, _year, ledger_vals = cur.ledger.previous("SLX001")
    form = cur.form
    lay = layout(form)
    shown = [b for b in previous_column(form, 2025, ledger_vals, fmt).boxes if b.role == "prev"]
    assert {b.sheet for b in shown} == {form.section(s).sheet for s in ("s2", "s3", "s4")}

    def figures(data: bytes) -> dict:
        p = tmp_path / "x.xlsx"
        p.write_bytes(data)
        wb = openpyxl.load_workbook(p)
        return {b.key: wb[b.sheet].cell(b.row + 1, b.col + 1).value for b in shown}

    want = {b.key: ledger_vals[b.key] for b in shown}
    assert figures(files["SLX001"].path.read_bytes()) == want
    assert any(k.endswith(".total") for k in want) and all(v is not None for v in want.values())
    for b in shown:  # right of everything the sheet had: no official cell moved
        assert b.col > lay.sheet(b.sheet).max_col
    # no previous values: byte for byte the workbook without the column
    u2 = cur.unit("SLX002")
    plain, _ = build_workbook(form, u2, 2025, office=cur.office_info)
    assert files["SLX002"].path.read_bytes() == plain
    # the feedback workbook of a return shows the column too
    bad = make_return(
        cur, "SLX001", tmp_path / "n", edit=lambda v: v.update({"s3.new.natural": v["s3.new.natural"] + 5})
    )
    import_files(cur, [bad])
    sub = cur.ledger.current("SLX001")
    assert sub.findings
    _name, data = feedback_workbook(cur, cur.unit("SLX001"), sub)
    assert figures(data) == want
    cur.close()


# -- abuse: concurrency, killed process, disk full -------------------------------------------

IMPORT_SCRIPT = """
import sys
from gkxlsx.campaign.campaign import Campaign, import_files
camp = Campaign(sys.argv[1])
for p in sys.argv[2:]:
    import_files(camp, [p])
camp.close()
"""


def _returns(camp, tmp_path, n_versions=2) -> list[Path]:
    paths = []
    for _i, u in enumerate(camp.units()):
        for v in range(n_versions):
            paths.append(make_return(camp, u.code, tmp_path / f"r{v}", seed=100 + v))
    return paths


@both_backends
def test_two_imports_at_once_keep_the_ledger_consistent(camp, tmp_path):
    paths = _returns(camp, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen([sys.executable, "-c", IMPORT_SCRIPT, str(camp.root), *map(str, paths)], env=env),
        subprocess.Popen([sys.executable, "-c", IMPORT_SCRIPT, str(camp.root), *map(str, reversed(paths))], env=env),
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert camp.ledger.integrity() == []
    rows = camp.ledger.all_submissions()
    assert len(rows) == len(paths)  # every file exactly once
    assert len({r["sha256"] for r in rows}) == len(paths)
    for u in camp.units():
        assert [h.version for h in camp.ledger.history(u.code)] == [1, 2]


def test_imports_from_many_threads_of_one_process(camp, tmp_path):
    """A server's request threads, each with its own campaign object, import at once: their
    writes queue in the process (no SQLite busy wait), every file is recorded once."""
    import threading

    codes = [u.code for u in camp.units()][:8]
    files = {c: make_return(camp, c, tmp_path / c) for c in codes}
    got: dict[str, list] = {}

    def upload(code: str) -> None:
        with Campaign(camp.root) as c:
            got[code] = [o.kind for o in import_files(c, [files[code], files[code]])]

    threads = [threading.Thread(target=upload, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {c: ["new", "duplicate"] for c in codes}
    assert len(camp.ledger.all_submissions()) == len(codes) and camp.ledger.integrity() == []


@both_backends
def test_killed_import_leaves_consistent_ledger_and_reimport_completes(camp, tmp_path):
    paths = _returns(camp, tmp_path, n_versions=3)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", IMPORT_SCRIPT, str(camp.root), *map(str, paths)], env=env)
    # wait until at least one submission is recorded, then kill hard
    deadline = time.time() + 120
    while time.time() < deadline:
        n = camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
        if n >= 3:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert camp.ledger.integrity() == []
    done = camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert 0 < done <= len(paths)
    import_files(camp, paths)
    assert camp.ledger.integrity() == []
    assert len(camp.ledger.all_submissions()) == len(paths)


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


DISKFULL_SCRIPT = """
import sys, json
from gkxlsx.campaign.campaign import Campaign, import_files
camp = Campaign(sys.argv[1])
out = import_files(camp, sys.argv[2:])
print(json.dumps([(r.kind, r.message) for r in out], ensure_ascii=False))
"""


def test_disk_full_during_import_loses_nothing(camp, tmp_path):
    good = make_return(camp, "SLX001", tmp_path / "a")
    import_files(camp, [good])
    big = make_return(camp, "SLX002", tmp_path / "b")
    assert big.stat().st_size > 20_000
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [sys.executable, "-c", DISKFULL_SCRIPT, str(camp.root), str(big)],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    kinds = json.loads(res.stdout.strip().splitlines()[-1])
    assert kinds[0][0] == "failed" and "磁盘" in kinds[0][1]
    assert camp.ledger.integrity() == []
    assert [h.version for h in camp.ledger.history("SLX001")] == [1]
    assert camp.ledger.history("SLX002") == []
    # with space again the same file imports normally
    assert import_files(camp, [big])[0].kind == "new"


def test_narrative_copied_from_last_year_is_flagged_on_import(tmp_path):
    last = init_campaign(tmp_path / "2024", year=2024, roster=ROSTER)
    import_files(last, [make_return(last, "SLX001", tmp_path / "l", seed=3)])
    import_files(last, [make_return(last, "SLX002", tmp_path / "l2", seed=3)])
    old = last.ledger.current("SLX001").values
    last.close()
    cur = init_campaign(tmp_path / "2025", year=2025, roster=ROSTER, previous=tmp_path / "2024")
    narrative = {k: v for k, v in old.items() if k.startswith(("s1.", "s5.", "s6.")) and isinstance(v, str)}
    copied = import_files(cur, [make_return(cur, "SLX001", tmp_path / "n", edit=lambda v: v.update(narrative))])
    sim = [f for f in copied[0].findings if f["rule"] == "W-XY-SIMILAR"]
    assert sim and "上年度报告" in sim[0]["message"] and copied[0].status == "有警告"
    fresh = import_files(cur, [make_return(cur, "SLX002", tmp_path / "m", seed=99)])
    assert not [f for f in fresh[0].findings if f["rule"] == "W-XY-SIMILAR"]
    cur.close()
