"""Hostile and unlucky text in rosters and reports (issue 15, items 7 and 10): text that looks like a
formula stays text in every workbook gkxlsx writes; control characters in a roster name do not
make a unit's own returns fail its identity check; a very long unit name still gets a file name."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from conftest import seed_files
from typer.testing import CliRunner

from gkxlsx.campaign.campaign import aggregate, import_files, init_campaign
from gkxlsx.check.checker import check_file
from gkxlsx.cli import app
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.form.roster import load_roster
from gkxlsx.published.audit import audit_file, summary_workbook
from gkxlsx.workbook.generate import build_workbook

runner = CliRunner()
YEAR = 2025

HOSTILE = {
    "HX001": '=HYPERLINK("http://x","y")',
    "HX002": "=1+1",
    "HX003": "+1+1",
    "HX004": "-1+1",
    "HX005": "@SUM(1)",
    "HX006": "=cmd|' /C calc'!A0",
}


def _csv_field(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def write_roster(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["单位代码,单位名称,单位类型,上级单位"]
    lines += [f"{code},{_csv_field(name)},{typ},{_csv_field('=2+2')}" for code, name, typ in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


def make_return(camp, code: str, out: Path, edit=None) -> Path:
    u = camp.unit(code)
    values = sample_values(camp.form, u.name, u.type, camp.year, seed=1)
    if edit:
        edit(values)
    data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    p = out / f"{code}.xlsx"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def no_formulas_hold(path: Path, texts) -> int:
    """Every cell of ``path`` whose text is one of ``texts`` is a string; returns how many were seen."""
    wb = openpyxl.load_workbook(path)
    seen = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    assert not any(t in str(c.value) for t in texts), (path.name, ws.title, c.coordinate, c.value)
                elif c.value in texts:
                    assert c.data_type == "s", (path.name, ws.title, c.coordinate, c.data_type)
                    seen += 1
    return seen


@pytest.fixture
def hostile_camp(tmp_path):
    rows = [(code, name, "乡镇") for code, name in HOSTILE.items()]
    roster = write_roster(tmp_path / "名单.csv", rows)
    camp = init_campaign(tmp_path / "c", year=YEAR, roster=roster, office="=1+1")
    yield camp
    camp.close()


def test_formula_like_names_stay_text_in_status_and_aggregate(hostile_camp, tmp_path):
    camp = hostile_camp
    assert [u.name for u in camp.units()] == list(HOSTILE.values())
    files = [make_return(camp, code, tmp_path / "in") for code in HOSTILE]
    res = import_files(camp, files, received_at="2026-01-10T09:00:00")
    assert all(r.status == "通过" for r in res), [(r.status, r.findings) for r in res]
    out = tmp_path / "s.xlsx"
    r = runner.invoke(app, ["status", "-C", str(camp.root), "--xlsx", str(out)])
    assert r.exit_code == 0, r.output
    assert no_formulas_hold(out, set(HOSTILE.values())) >= len(HOSTILE)
    r = runner.invoke(app, ["aggregate", "-C", str(camp.root)])
    assert r.exit_code == 0, r.output
    [agg_x] = list((camp.root / "报告").glob("*.xlsx"))
    assert no_formulas_hold(agg_x, set(HOSTILE.values())) >= 2 * len(HOSTILE)
    [agg] = aggregate(camp, by="上级单位")
    assert agg.name == "=2+2"
    r = runner.invoke(app, ["aggregate", "-C", str(camp.root), "--by", "上级单位"])
    assert r.exit_code == 0, r.output
    for x in (camp.root / "报告").glob("*.xlsx"):
        no_formulas_hold(x, set(HOSTILE.values()) | {"=2+2"})


def test_formula_like_names_stay_text_in_templates_and_feedback(hostile_camp, tmp_path):
    camp = hostile_camp
    texts = set(HOSTILE.values())
    bad = make_return(
        camp, "HX002", tmp_path / "in", edit=lambda v: v.__setitem__("s3.new.natural", v["s3.new.natural"] + 1)
    )
    roster = tmp_path / "名单.csv"
    fb = tmp_path / "反馈"
    r = runner.invoke(app, ["check", str(bad), "--roster", str(roster), "--year", str(YEAR), "--feedback", str(fb)])
    assert r.exit_code == 1, r.output
    [f] = list(fb.glob("*.xlsx"))
    assert no_formulas_hold(f, texts) >= 1
    u = camp.unit("HX001")
    data, _ = build_workbook(camp.form, u, YEAR)
    p = tmp_path / "t.xlsx"
    p.write_bytes(data)
    assert no_formulas_hold(p, texts) >= 1


def test_formula_like_text_stays_text_in_audit_summary(tmp_path):
    seed = seed_files()[0]
    res = audit_file(seed)
    assert res.extraction is not None
    res.path = '=HYPERLINK("http://x","y")'
    res.extraction.report.unit_name = "=1+1"
    broken = tmp_path / "x.txt"
    broken.write_bytes(b"\xff\xfe\x00")
    bad = audit_file(broken)
    bad.path = "@SUM(1)"
    out = summary_workbook([res, bad], tmp_path / "审核汇总.xlsx")
    assert no_formulas_hold(out, {res.path, "=1+1", "@SUM(1)"}) >= 3


@pytest.mark.parametrize("sep", ["\r", "\r\n", "\n", "\x0b", "\x1f", "\u2028"])
def test_control_character_in_roster_name_gives_no_false_identity_errors(tmp_path, sep):
    name = f"示例县{sep}城关镇人民政府"
    roster = write_roster(tmp_path / "名单.csv", [("SLX001", name, "乡镇")])
    [u] = load_roster(roster)
    assert u.name == "示例县 城关镇人民政府"
    camp = init_campaign(tmp_path / "c", year=YEAR, roster=roster)
    try:
        p = make_return(camp, "SLX001", tmp_path / "in")
        res = check_file(p, roster=load_roster(roster), year=YEAR)
        assert [f.rule_id for f in res.findings if f.severity in ("error", "warning")] == []
        [r] = import_files(camp, [p])
        assert r.status == "通过", r.findings
    finally:
        camp.close()


def test_long_unit_names_still_get_feedback_files(tmp_path):
    long_a = "示例县" + "很长的单位名称" * 17  # 122 characters, 366 bytes in UTF-8
    long_b = long_a[:-1] + "乙"
    roster = write_roster(
        tmp_path / "名单.csv",
        [("SLX001", long_a, "乡镇"), ("SLX002", long_b, "乡镇"), ("SLX003", "示例县白河乡人民政府", "乡镇")],
    )
    units = load_roster(roster)
    names = {workbook_filename(u, YEAR) for u in units}
    assert len(names) == 3 and all(len(n.encode()) <= 255 - len(".tmp") for n in names)
    camp = init_campaign(tmp_path / "c", year=YEAR, roster=roster)
    try:
        files = [
            make_return(
                camp, c, tmp_path / "in", edit=lambda v: v.__setitem__("s3.new.natural", v["s3.new.natural"] + 1)
            )
            for c in ("SLX001", "SLX002", "SLX003")
        ]
        r = runner.invoke(app, ["generate", "-C", str(camp.root)])
        assert r.exit_code == 0, r.output
        assert len(list((camp.root / "模板").glob("*.xlsx"))) == 3
    finally:
        camp.close()
    fb = tmp_path / "反馈"
    r = runner.invoke(
        app, ["check", *map(str, files), "--roster", str(roster), "--year", str(YEAR), "--feedback", str(fb)]
    )
    assert r.exit_code == 1, r.output
    assert "已生成 3 个反馈工作簿" in r.output, r.output
    out = sorted(fb.glob("*.xlsx"))
    assert len(out) == 3 and all(len(p.name.encode()) <= 255 for p in out)
    # the same unit twice: the second gets “（2）” and still fits
    r = runner.invoke(
        app,
        [
            "check",
            str(files[0]),
            str(files[0]),
            "--roster",
            str(roster),
            "--year",
            str(YEAR),
            "--feedback",
            str(fb / "2"),
        ],
    )
    assert len(list((fb / "2").glob("*.xlsx"))) == 2, r.output


def test_long_or_odd_parent_names_still_get_aggregate_files(tmp_path):
    parents = ["示例县" + "上级主管部门" * 25 + "甲", 'a\\b:c*?"<>|d']
    lines = ["单位代码,单位名称,单位类型,上级单位"]
    lines += [f"SLX00{i},单位{i},乡镇,{_csv_field(p)}" for i, p in enumerate(parents, 1)]
    roster = tmp_path / "名单.csv"
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    camp = init_campaign(tmp_path / "c", year=YEAR, roster=roster)
    try:
        import_files(camp, [make_return(camp, c, tmp_path / "in") for c in ("SLX001", "SLX002")])
        r = runner.invoke(app, ["aggregate", "-C", str(camp.root), "--by", "上级单位"])
        assert r.exit_code == 0, r.output
    finally:
        camp.close()
    out = sorted((camp.root / "报告").iterdir())
    assert len(out) == 4 and all(len(p.name.encode()) <= 255 for p in out), out
