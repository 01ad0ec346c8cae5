"""``gkxlsx check`` as a user runs it: terminal report, exit codes, --json, --feedback, --jobs."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from test_check_corpus import FORM, S2, S3, U1, U2, U3, YEAR, build, quiet_values, write
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.form.identity import workbook_filename
from gkxlsx.form.layout import layout
from gkxlsx.workbook.generate import C_MARK

runner = CliRunner()


@pytest.fixture(scope="module")
def returns(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    good = d / "good"
    good.mkdir()
    write(good, workbook_filename(U1, YEAR), build())
    write(good, workbook_filename(U3, YEAR), build(quiet_values(U3), unit=U3))
    mixed = d / "mixed"
    mixed.mkdir()
    write(mixed, workbook_filename(U1, YEAR), build())
    v = quiet_values(U2)
    v["s2.regulation.issued"] = "/"
    v["s3.r1_open.commercial"] = "3条"
    v["s3.new.natural"] = 1
    v["s1.on_request"] = f"{YEAR}年共收到政府信息公开申请1件。"
    write(mixed, workbook_filename(U2, YEAR), build(v, unit=U2))
    write(mixed, "说明.xls", "这不是表格".encode())
    roster = d / "roster.csv"
    roster.write_text(
        "单位代码,单位名称,单位类型\nSLX001,示例县城关镇人民政府,乡镇\nSLX101,示例县财政局,县级部门\n", encoding="utf-8"
    )
    return d


def run(*args):
    return runner.invoke(app, ["check", *map(str, args)])


def test_clean_folder_exits_0_with_a_chinese_report(returns):
    r = run(returns / "good", "--year", YEAR, "--roster", returns / "roster.csv")
    assert r.exit_code == 0, r.output
    assert "共检查 2 个文件：通过 2，有警告 0，有错误 0，无法识别 0" in r.output
    assert "单位：SLX001 示例县城关镇人民政府（乡镇）· 2025 年度" in r.output
    assert "结果：通过" in r.output


def test_errors_exit_1_and_are_listed_with_cell_and_fix(returns):
    r = run(returns / "mixed", "--year", YEAR)
    assert r.exit_code == 1
    out = r.output
    assert (
        f"错误 E-CELL-TEXT {S2}!B3：「规章·本年制发件数」填的是“/”，不是数字（没有的应填 0），应改为 0。 修改方法：数字单元格只填数字"
        in out
    )
    assert f"错误 E-CELL-TEXT {S3}!E6：" in out and "应改为 3" in out
    assert f"错误 E-T3-BAL {S3}!D4、D5：" in out  # same sheet written once
    assert "错误 E-FILE-TYPE：这是一个纯文本文件" in out
    assert "共检查 3 个文件：通过 1，有警告 0，有错误 1，无法识别 1" in out
    # findings sorted by severity within a file: every 错误 line before the first 警告 line
    block = out.split(workbook_filename(U2, YEAR))[1].split("[3/3]")[0]
    sev = [line.strip()[:2] for line in block.splitlines() if line.strip()[:2] in ("错误", "警告", "提示")]
    assert sev == sorted(sev, key=["错误", "警告", "提示"].index)


def test_roster_rejects_unknown_unit(returns):
    r = run(returns / "mixed" / workbook_filename(U2, YEAR), "--roster", returns / "roster.csv", "--year", YEAR)
    assert r.exit_code == 1
    assert (
        "错误 E-UNIT：工作簿是 SLX002 示例县青石镇人民政府 的填报模板，但单位代码 SLX002 不在本次收集名单中。"
        in r.output
    )


def test_bad_roster_is_a_usage_error(returns, tmp_path):
    bad = tmp_path / "roster.csv"
    bad.write_text("名称\n城关镇\n", encoding="utf-8")
    r = run(returns / "good", "--roster", bad)
    assert r.exit_code == 2
    assert "缺少必需的列" in r.output


def test_json_report_shape(returns):
    r = run(returns / "mixed", "--json", "--year", YEAR)
    assert r.exit_code == 1
    doc = json.loads(r.output)
    assert doc["schema"] == "gkxlsx.check/1" and doc["year"] == YEAR
    assert doc["summary"] == {"total": 3, "passed": 1, "warnings": 0, "errors": 1, "unreadable": 1}
    assert doc["exit_code"] == 1
    files = {f["file"]: f for f in doc["files"]}
    bad = files[workbook_filename(U2, YEAR)]
    assert set(bad) >= {"identity", "sha256", "application", "status", "findings", "timings_ms", "file_type", "counts"}
    assert (
        bad["identity"]["unit_code"] == "SLX002"
        and bad["identity"]["year"] == YEAR
        and bad["identity"]["format"] == "2021"
    )
    assert bad["status"] == "有错误" and len(bad["sha256"]) == 64 and bad["application"] == "gkxlsx"
    assert bad["timings_ms"]["total"] > 0
    f = next(x for x in bad["findings"] if x["rule"] == "E-CELL-TEXT" and x["locations"] == [f"{S3}!E6"])
    assert f["severity"] == "error" and f["severity_zh"] == "错误"
    assert f["raw"] == "3条" and f["suggestion"] == 3 and f["keys"] == ["s3.r1_open.commercial"]
    assert f["message"].startswith("「（一）予以公开·商业企业」") and f["fix"]
    bal = next(x for x in bad["findings"] if x["rule"] == "E-T3-BAL")
    assert bal["values"]["s3.new.natural"] == 1 and bal["delta"] == 1
    txt = files["说明.xls"]
    assert txt["status"] == "无法识别" and txt["identity"] is None and txt["findings"][0]["rule"] == "E-FILE-TYPE"


def test_feedback_workbooks(returns, tmp_path):
    out = tmp_path / "反馈"
    r = run(returns / "mixed", "--year", YEAR, "--feedback", out)
    assert r.exit_code == 1
    files = sorted(out.glob("*.xlsx"))
    assert [f.name for f in files] == [
        f"SLX002_示例县青石镇人民政府_{YEAR}年_校验反馈.xlsx"
    ]  # only the file with problems
    assert "已生成 1 个反馈工作簿" in r.output
    wb = openpyxl.load_workbook(files[0])
    # the unit's own entries, the bad ones highlighted with a note holding the message
    ws = wb[S2]
    assert ws["B3"].value == "/"
    assert ws["B3"].fill.fgColor.rgb.endswith(C_MARK.lstrip("#").upper())
    assert "E-CELL-TEXT" in ws["B3"].comment.text and "没有的填 0" in ws["B3"].comment.text
    ws3 = wb[S3]
    assert ws3["E6"].value == "3条" and "应改为 3" in ws3["E6"].comment.text
    assert ws3["D4"].value == 1 and "E-T3-BAL" in ws3["D4"].comment.text
    assert ws3["F6"].comment is None and not ws3["F6"].fill.fgColor.rgb.endswith(C_MARK.lstrip("#").upper())
    # the problem list on 校验结果, each with a link to its cell
    chk = wb["校验结果"]
    start = layout(FORM).sheet("校验结果").max_row + 2
    assert chk[f"A{start}"].value.startswith("本次校验发现的问题")
    rows = list(chk.iter_rows(min_row=start + 2, values_only=True))
    rules = [row[5] for row in rows if row[5]]
    assert {"E-CELL-TEXT", "E-T3-BAL"} <= set(rules)
    link = next(row[2] for row in rows if row[5] == "E-CELL-TEXT" and "E6" in str(row[2]))
    assert link == f'=HYPERLINK("#\'{S3}\'!E6","{S3}!E6")'
    assert chk["D3"].value.startswith("=HYPERLINK(\"#'校验结果'!A")
    # the sheets are still protected and the fresh workbook is itself a valid template
    assert wb[S3].protection.sheet
    from gkxlsx.check.checker import check_file

    again = check_file(files[0], year=YEAR)
    assert {(f.rule_id, f.locations) for f in again.findings if f.rule_id == "E-CELL-TEXT"} == {
        ("E-CELL-TEXT", (f"{S2}!B3",)),
        ("E-CELL-TEXT", (f"{S3}!E6",)),
    }
    assert not [f for f in again.findings if f.rule_id.startswith(("E-STRUCT", "E-META", "W-CACHE"))]


def test_jobs_2_gives_the_same_results(returns):
    a = json.loads(run(returns / "mixed", "--json", "--year", YEAR).output)
    b = json.loads(run(returns / "mixed", "--json", "--year", YEAR, "--jobs", "2").output)

    def strip(doc):
        return [(f["file"], f["status"], [(x["rule"], x["locations"]) for x in f["findings"]]) for f in doc["files"]]

    assert strip(a) == strip(b)


def test_all_flag_and_grouping_of_empty_cells(tmp_path):
    v = quiet_values()
    for c in ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org"):
        for row in ("r3_1", "r3_2", "r3_3"):
            v[f"s3.{row}.{c}"] = None
    write(tmp_path, "blank.xlsx", build(v))
    r = run(tmp_path / "blank.xlsx")
    assert r.exit_code == 1
    assert (
        f"错误 E-CELL-EMPTY {S3}!D8、E8、F8、G8、H8、I8、D9、E9……（共 18 处）：这些单元格为空。 修改方法：无数据请填0"
        in r.output
    )


def test_missing_path_is_reported_not_a_traceback(tmp_path):
    r = run(tmp_path / "nothing.xlsx")
    assert r.exit_code == 1
    assert "E-FILE-READ" in r.output and "找不到文件" in r.output
    assert "Traceback" not in r.output
