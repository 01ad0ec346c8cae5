"""The review workflow (issue 17): states, office actions, the append-only trail, held re-sends
(疑似误发, after locking), per-finding reasons, on-time per version, and times in China time."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import Campaign, aggregate, import_files, init_campaign
from gkxlsx.campaign.ledger import LedgerError
from gkxlsx.campaign.review import history, reopen, return_
from gkxlsx.cli import app
from gkxlsx.form.identity import workbook_filename
from gkxlsx.workbook.generate import build_workbook
from tests._pg import both_backends
from tests.test_campaign import ROSTER, make_return

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
WARN = {"s2.regulation.issued": 1, "s2.regulation.in_force": 1}  # 规章 issued by a unit that makes none: a warning


@pytest.fixture
def camp(tmp_path, ledger_db):
    c = init_campaign(
        tmp_path / "c",
        year=2025,
        roster=ROSTER,
        office="示例县人民政府办公室",
        deadline=dt.date(2026, 1, 20),
        db=ledger_db,
    )
    assert c.ledger.backend == ("postgresql" if ledger_db else "sqlite")
    yield c
    c.close()


def cli(camp: Campaign, *args: str):
    res = runner.invoke(app, [*args, "-C", str(camp.root)])
    return res


def blank_template(camp: Campaign, code: str, out: Path) -> Path:
    data, _ = build_workbook(camp.form, camp.unit(code), camp.year)
    p = out / ("空白_" + workbook_filename(camp.unit(code), camp.year))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def total(camp: Campaign):
    """The county roll-up's figures and the units in it."""
    (agg,) = aggregate(camp)
    return {k: agg.report.values[k] for k in camp.form.entry_keys}, [u.code for u in agg.included]


@both_backends
def test_blank_resend_is_held_and_the_accepted_version_stays_in_the_roll_up(camp, tmp_path):
    good = make_return(camp, "SLX001", tmp_path / "a")
    assert import_files(camp, [good], received_at="2026-01-10T09:00")[0].status == "通过"
    before, included = total(camp)
    assert "SLX001" in included and any(before.values())
    # the unit re-sends its blank template by mistake
    (r,) = import_files(camp, [blank_template(camp, "SLX001", tmp_path / "b")], received_at="2026-01-12T09:00")
    assert r.kind == "new" and r.version == 2 and r.status == "有错误"
    assert r.held.startswith("疑似误发：空白模板")
    cur = camp.ledger.current("SLX001")
    assert cur.version == 1 and cur.status == "通过"
    assert total(camp) == (before, included)  # the county total is unchanged
    # accepting version 1 locks it; it stays the current one
    res = cli(camp, "accept", "SLX001", "--version", "1", "--by", "张科长")
    assert res.exit_code == 0, res.output
    assert "已确认并锁定" in res.output and "第 1 版" in res.output
    cur = camp.ledger.current("SLX001")
    assert (cur.version, cur.locked) == (1, True)
    # no reminder to a unit whose accepted return counts
    from gkxlsx.mail.mail import compose_remind

    assert "SLX001" not in {m.unit.code for m in compose_remind(camp) if m.unit}
    # status shows the held version
    res = cli(camp, "status", "--json")
    row = next(u for u in json.loads(res.output)["units"] if u["unit_code"] == "SLX001")
    assert (row["state"], row["version"], row["held"]) == ("已锁定", 1, 1)
    res = cli(camp, "status", "SLX001")
    assert "第 2 版（待审核，未替换当前版）" in res.output and "疑似误发" in res.output


@both_backends
def test_far_fewer_cells_and_last_years_file_are_held(camp, tmp_path):
    import_files(camp, [make_return(camp, "SLX001", tmp_path / "a")])

    def gut(v):
        for k in camp.form.entry_keys[20:]:
            v.pop(k, None)

    (r,) = import_files(camp, [make_return(camp, "SLX001", tmp_path / "b", edit=gut)])
    assert r.held.startswith("疑似误发：只填了")
    # last year's file: a workbook of 2024 for the same unit
    u = camp.unit("SLX001")
    from gkxlsx.demo.samples import sample_values

    data, _ = build_workbook(camp.form, u, 2024, prefill=sample_values(camp.form, u.name, u.type, 2024, seed=5))
    p = tmp_path / "last" / "上年.xlsx"
    p.parent.mkdir()
    p.write_bytes(data)
    (r,) = import_files(camp, [p])
    assert "2024 年度的文件" in r.held
    assert camp.ledger.current("SLX001").version == 1


def test_late_resubmission_is_marked_late_beside_the_on_time_first(camp, tmp_path):
    bad = make_return(camp, "SLX002", tmp_path / "a", edit=lambda v: v.__setitem__("s3.new.natural", 99999))
    import_files(camp, [bad], received_at="2026-01-15T10:00")
    import_files(camp, [make_return(camp, "SLX002", tmp_path / "b")], received_at="2026-01-22T10:00")
    d = json.loads(cli(camp, "status", "--json").output)
    row = next(u for u in d["units"] if u["unit_code"] == "SLX002")
    assert (row["on_time"], row["latest_on_time"]) == (True, False)
    assert row["first_received"].startswith("2026-01-15T10:00") and row["latest_received"].startswith("2026-01-22")
    out = cli(camp, "status").output
    line = next(x for x in out.splitlines() if "SLX002" in x)
    assert "首次 2026-01-15 10:00 按时" in line and "最近 2026-01-22 10:00 逾期" in line
    hist = cli(camp, "history", "SLX002").output
    assert "收到 2026-01-15 10:00，按时" in hist and "收到 2026-01-22 10:00，逾期" in hist


@both_backends
def test_a_warning_needs_a_reason_and_every_reason_is_kept(camp, tmp_path):
    import_files(camp, [make_return(camp, "SLX004", tmp_path / "w", edit=lambda v: v.update(WARN))])
    sub = camp.ledger.current("SLX004")
    assert sub.status == "有警告"
    warning = next(f for f in sub.findings if f["severity"] == "warning")
    rule = warning["rule"]
    res = cli(camp, "accept", "SLX004")
    assert res.exit_code == 1 and "还没有理由" in res.output and rule in res.output
    res = cli(camp, "accept", "SLX004", "--note", "已核实")  # too short
    assert res.exit_code == 1 and "至少 6 个字" in res.output
    assert camp.ledger.current("SLX004").status == "有警告"
    res = cli(camp, "accept", "SLX004", "--explain", f"{rule}=经电话核实，系转发上级规章", "--by", "李四")
    assert res.exit_code == 0, res.output
    assert "经电话核实，系转发上级规章" in res.output
    res = cli(camp, "accept", "SLX004", "--explain", f"{rule}=已要求单位在说明中写明", "--by", "王五")
    assert res.exit_code == 0, res.output
    cur = camp.ledger.current("SLX004")
    assert cur.status == "已确认" and cur.locked
    assert cur.accepted_note == "经电话核实，系转发上级规章；已要求单位在说明中写明"
    # both reasons are in the roll-up's notes
    from gkxlsx.campaign.exports import write_aggregate

    (agg,) = aggregate(camp)
    xlsx, data = write_aggregate(camp, agg, camp.path("reports"))
    notes = json.loads(data.read_text(encoding="utf-8"))["notes"]
    assert notes[0]["unit_code"] == "SLX004"
    assert notes[0]["reasons"] == ["经电话核实，系转发上级规章", "已要求单位在说明中写明"]
    import openpyxl

    ws = openpyxl.load_workbook(xlsx)["核实说明"]
    assert "已要求单位在说明中写明" in ws.cell(2, 6).value
    # and in the trail, with who gave them
    out = cli(camp, "history", "SLX004").output
    assert "操作人 李四" in out and "操作人 王五" in out and f"说明的警告：{rule}" in out


@both_backends
def test_reopen_then_a_new_version_accepted(camp, tmp_path):
    import_files(camp, [make_return(camp, "SLX003", tmp_path / "a", seed=1)], received_at="2026-01-10T09:00")
    camp.ledger.accept("SLX003", actor="张三")
    v1_total, _ = total(camp)
    # a corrected file after locking: recorded, held, the locked version still counts
    (r,) = import_files(camp, [make_return(camp, "SLX003", tmp_path / "b", seed=2)], received_at="2026-01-11T09:00")
    assert r.version == 2 and r.held == "单位报告已锁定，新版本待审核"
    assert camp.ledger.current("SLX003").version == 1 and total(camp)[0] == v1_total
    # returning a locked return needs a reopen first; reopen is refused without a reason
    with pytest.raises(LedgerError, match="重新打开"):
        return_(camp.ledger, "SLX003", "请修改")
    with pytest.raises(LedgerError, match="理由"):
        reopen(camp.ledger, "SLX003", "")
    res = cli(camp, "reopen", "SLX003", "--reason", "单位报告了更正的数字", "--by", "张三")
    assert res.exit_code == 0, res.output
    assert camp.ledger.current("SLX003").version == 1 and not camp.ledger.current("SLX003").locked
    res = cli(camp, "accept", "SLX003", "--version", "2", "--by", "张三")
    assert res.exit_code == 0, res.output
    cur = camp.ledger.current("SLX003")
    assert (cur.version, cur.locked, cur.hold) == (2, True, "")
    assert total(camp)[0] != v1_total
    # reopen of a return that is not locked is refused
    reopen(camp.ledger, "SLX003", "再次核对")
    with pytest.raises(LedgerError, match="没有锁定"):
        reopen(camp.ledger, "SLX003", "再次核对")


@both_backends
def test_history_lists_every_step(camp, tmp_path):
    bad = make_return(camp, "SLX005", tmp_path / "a", edit=lambda v: v.__setitem__("s3.new.natural", 99999))
    import_files(camp, [bad], source="邮件:a@example.cn", received_at="2026-01-10T09:00")
    res = cli(camp, "return", "SLX005", "--reason", "第三部分数字不平衡", "--by", "张三")
    assert res.exit_code == 0, res.output
    assert "修改意见工作簿" in res.output
    assert camp.ledger.current("SLX005").review == "returned"
    assert cli(camp, "status", "--json").output.count('"state": "退回"') == 1
    import_files(camp, [make_return(camp, "SLX005", tmp_path / "b")], received_at="2026-01-12T09:00")
    assert cli(camp, "accept", "SLX005", "--by", "张三").exit_code == 0
    import_files(camp, [make_return(camp, "SLX005", tmp_path / "c", seed=9)], received_at="2026-01-13T09:00")
    assert cli(camp, "reopen", "SLX005", "--version", "3", "--reason", "单位更正了数字", "--by", "李四").exit_code == 0
    steps = history(camp.ledger, "SLX005")
    assert [(s.action, s.version) for s in steps] == [
        ("submit", 1),
        ("return", 1),
        ("submit", 2),
        ("accept", 2),
        ("hold", 3),
        ("reopen", 3),
    ]
    out = cli(camp, "history", "SLX005").output
    assert out.splitlines()[0].startswith("SLX005") and "已通过（当前第 3 版）" in out.splitlines()[0]
    for word in (
        "报送",
        "退回",
        "确认并锁定",
        "暂存",
        "重新打开",
        "第三部分数字不平衡",
        "单位更正了数字",
        "来源 邮件:a@example.cn",
    ):
        assert word in out, out
    assert "2026-01-10 09:00" in out
    # every unit: no argument
    out = cli(camp, "history").output
    assert "SLX005" in out
    assert len(json.loads(cli(camp, "history", "--json").output)) == 6


@both_backends
def test_an_old_ledger_is_migrated_in_place(camp, tmp_path):
    import_files(camp, [make_return(camp, "SLX004", tmp_path / "w", edit=lambda v: v.update(WARN))])
    camp.ledger.accept("SLX004", "经核实为转发上级规章")
    root = camp.root
    # the ledger as an older gkxlsx wrote it: no review columns, no review tables (the same
    # statements on both backends; each runs by itself)
    con = camp.ledger.conn
    con.execute("UPDATE submissions SET received_at='2026-01-10T09:00:00', accepted_at='2026-01-11T10:00:00'")
    for col in ("hold", "review"):
        con.execute(f"ALTER TABLE submissions DROP COLUMN {col}")
    con.execute("DROP TABLE review_log")
    con.execute("DROP TABLE explanations")
    camp.close()
    with Campaign(root) as c:
        cur = c.ledger.current("SLX004")
        assert cur.locked and cur.accepted_note == "经核实为转发上级规章"
        assert [(s.action, s.at) for s in history(c.ledger, "SLX004")] == [
            ("submit", "2026-01-10T09:00:00"),
            ("accept", "2026-01-11T10:00:00"),
        ]
        assert "2026-01-10 09:00" in cli(c, "history", "SLX004").output
        assert total(c)[1] == ["SLX004"]


MAIL_DATE = "Tue, 18 Jan 2022 15:20:00 +0800"


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_a_mail_received_time_is_the_same_in_every_machine_zone(tmp_path, zone):
    from tests._mail_helpers import client_mail, make_campaign, returned_workbook

    camp = make_campaign(tmp_path / "m", generate=False)
    eml = tmp_path / "a.eml"
    eml.write_bytes(
        client_mail(
            "u1@test.example",
            "年报",
            [(workbook_filename(camp.unit(camp.units()[0].code), 2021), returned_workbook(camp, camp.units()[0].code))],
            date=MAIL_DATE,
        )
    )
    code = camp.units()[0].code
    root = camp.root
    camp.close()
    env = {**os.environ, "TZ": zone, "PYTHONPATH": str(ROOT)}

    def run(*args):
        r = subprocess.run(
            [sys.executable, "-m", "gkxlsx", *args, "-C", str(root)], env=env, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    run("fetch", str(eml))
    hist = json.loads(run("history", code, "--json"))
    assert dt.datetime.fromisoformat(hist[0]["received_at"]) == dt.datetime(
        2022, 1, 18, 15, 20, tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    assert "收到 2022-01-18 15:20" in run("history", code)
    assert "2022-01-18 15:20:00" in run("status", code)
