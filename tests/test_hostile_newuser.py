"""Hostile and unlucky input, tried as a new user would (issue 15): full-width unit codes in a
roster, an empty or fake .xlsx roster, a report year typed wrong, the import line's mark, the
error counts of status and render, the status page's 生成时间 and LibreOffice's removed sheet
protection across a batch.  Every test runs the real command and reads what the user sees."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from test_campaign import ROSTER
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.clock import china_now
from gkxlsx.form.model import builtin_form_ids, load_form
from gkxlsx.form.roster import halfwidth

runner = CliRunner()


def _init(tmp_path: Path, roster: Path, year: int = 2025, name: str = "c"):
    return runner.invoke(app, ["init", str(tmp_path / name), "--year", str(year), "--roster", str(roster)])


# --------------------------------------------------------------------------------------------
# item 1: full-width codes


def test_fullwidth_codes_are_read_as_ascii_with_a_notice(tmp_path):
    roster = tmp_path / "名单.csv"
    roster.write_text(
        "单位代码,单位名称,单位类型\nＱＹ００１,甲乡人民政府,乡镇\nＱＹ－００２,乙镇人民政府,乡镇\nQY003,丙镇人民政府,乡镇\n",
        encoding="utf-8",
    )
    res = _init(tmp_path, roster)
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    notice = next(line for line in res.output.splitlines() if "全角" in line)
    assert "名单.csv" in notice and "2 行" in notice
    assert "第 2 行“ＱＹ００１”→“QY001”" in notice and "第 3 行“ＱＹ－００２”→“QY-002”" in notice
    assert "第 4 行" not in notice
    res = runner.invoke(app, ["status", "QY001", "-C", str(tmp_path / "c")])
    assert res.exit_code == 0 and "QY001 甲乡人民政府" in res.output, res.output
    res = runner.invoke(app, ["status", "QY-002", "-C", str(tmp_path / "c")])
    assert res.exit_code == 0 and "QY-002 乙镇人民政府" in res.output, res.output


def test_fullwidth_code_that_stays_invalid_says_why_and_which_line(tmp_path):
    roster = tmp_path / "r.csv"
    # an ideographic space inside the code: read as a space, which a code may not hold
    roster.write_text(
        "单位代码,单位名称,单位类型\nQY001,甲乡人民政府,乡镇\nＱＹ　００２,乙镇人民政府,乡镇\n", encoding="utf-8"
    )
    res = _init(tmp_path, roster)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "第 3 行" in res.stderr and "全角字符" in res.stderr and "“ＱＹ　００２”" in res.stderr
    assert "第 2 行" not in res.stderr
    assert not (tmp_path / "c").exists()


def test_fullwidth_duplicate_of_an_ascii_code_is_a_duplicate(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text(
        "单位代码,单位名称,单位类型\nQY001,甲乡人民政府,乡镇\nＱＹ００１,乙镇人民政府,乡镇\n", encoding="utf-8"
    )
    res = _init(tmp_path, roster)
    assert res.exit_code == 2 and "第 3 行" in res.stderr and "与第 2 行重复" in res.stderr


def test_halfwidth_is_nfkc_of_fullwidth_ascii():
    for cp in [*range(0xFF01, 0xFF5F), 0x3000]:
        ch = chr(cp)
        assert halfwidth("A" + ch + "B") == unicodedata.normalize("NFKC", "A" + ch + "B")
    assert halfwidth("数据①") == "数据①"  # nothing else is touched


def test_fullwidth_notice_in_generate_and_check(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("单位代码,单位名称,单位类型\nＡ１,甲乡人民政府,乡镇\n", encoding="utf-8")
    res = runner.invoke(app, ["generate", "--roster", str(roster), "--year", "2025", "-o", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 0, res.output
    assert "全角" in res.output and "“Ａ１”→“A1”" in res.output
    assert next((tmp_path / "o").glob("A1_*.xlsx"))
    res = runner.invoke(app, ["check", str(next((tmp_path / "o").glob("A1_*.xlsx"))), "--roster", str(roster)])
    assert "Traceback" not in res.output and "“Ａ１”→“A1”" in res.stderr


# --------------------------------------------------------------------------------------------
# item 2: an empty or fake .xlsx roster


@pytest.mark.parametrize("content", [b"", b"hello, this is not a workbook\n", b"PK\x03\x04" + b"\0" * 20])
def test_empty_or_fake_xlsx_roster_is_named_in_chinese(tmp_path, content):
    roster = tmp_path / "单位名单.xlsx"
    roster.write_bytes(content)
    res = _init(tmp_path, roster)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "单位名单.xlsx" in res.stderr
    assert "EOCD" not in res.stderr and "Zip" not in res.stderr and "zip" not in res.stderr
    if not content:
        assert "空文件" in res.stderr
    else:
        assert "不是有效的 Excel 文件" in res.stderr, res.stderr
    assert not (tmp_path / "c").exists()


# --------------------------------------------------------------------------------------------
# item 3: the report year


def _valid_years() -> tuple[int, int]:
    spans = [load_form(f).report_years for f in builtin_form_ids()]
    return min(a for a, _ in spans), min(max(b for _, b in spans), china_now().year + 1)


@pytest.mark.parametrize("year", ["2099", "2018", "1999", "next+1"])
def test_init_refuses_a_report_year_out_of_range(tmp_path, year):
    lo, hi = _valid_years()
    y = hi + 1 if year == "next+1" else int(year)
    res = _init(tmp_path, ROSTER, year=y)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert f"报告年度 {y} 不在可用范围内" in res.stderr
    assert f"{lo}—{hi} 年度" in res.stderr, res.stderr
    assert not (tmp_path / "c").exists()


def test_init_accepts_the_ends_of_the_range(tmp_path):
    lo, hi = _valid_years()
    assert lo == 2019
    for y in (lo, hi):
        res = _init(tmp_path, ROSTER, year=y, name=f"c{y}")
        assert res.exit_code == 0, res.output
        assert f"已创建 {y} 年度收集任务" in res.output


def test_generate_refuses_a_report_year_out_of_range(tmp_path):
    res = runner.invoke(app, ["generate", "--roster", str(ROSTER), "--year", "2099", "-o", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 2 and "报告年度 2099 不在可用范围内" in res.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------------------
# items 4-6: a campaign with returns that pass, warn and fail


@pytest.fixture
def camp(tmp_path):
    from gkxlsx.campaign.campaign import init_campaign

    c = init_campaign(tmp_path / "c", year=2025, roster=ROSTER)
    yield c
    c.close()


def _several_errors(v: dict) -> None:
    v["s3.new.natural"] = None  # an empty number cell
    v["s2.regulation.issued"] = "/"  # text in a number cell
    v["s3.new.commercial"] = v["s3.new.commercial"] + 5  # an unbalanced column
    v["s1.on_request"] = ""  # a required text left empty


def test_import_mark_follows_the_outcome(camp, tmp_path):
    from test_campaign import make_return

    ok = make_return(camp, "SLX001", tmp_path / "in")
    warn = make_return(
        camp,
        "SLX002",
        tmp_path / "in",
        edit=lambda v: v.update({"s2.regulation.issued": 1, "s2.regulation.in_force": 1}),
    )
    err = make_return(camp, "SLX003", tmp_path / "in", edit=_several_errors)
    res = runner.invoke(app, ["import", "-C", str(camp.root), str(ok), str(warn), str(err)])
    assert res.exit_code == 0, res.output
    lines = {line.split("：", 1)[0][2:]: line for line in res.output.splitlines() if "第 1 版" in line}
    assert lines[ok.name].startswith("✓ ") and lines[ok.name].endswith("通过"), lines
    assert lines[warn.name].startswith("⚠ ") and "有警告" in lines[warn.name], lines
    assert lines[err.name].startswith("✗ ") and "有错误（错误" in lines[err.name], lines
    assert res.output.count("✓") == 1


def _status_errors(root: Path, code: str) -> int:
    import re

    res = runner.invoke(app, ["status", code, "-C", str(root)])
    assert res.exit_code == 0, res.output
    return int(re.search(r"（当前）：.*错误 (\d+) 警告", res.output).group(1))


def test_status_and_render_count_the_same_errors(camp, tmp_path):
    import json
    import re

    from test_campaign import make_return

    p = make_return(camp, "SLX001", tmp_path / "in", edit=_several_errors)
    res = runner.invoke(app, ["import", "-C", str(camp.root), str(p)])
    n = _status_errors(camp.root, "SLX001")
    kinds = {f["rule"] for f in camp.ledger.current("SLX001").findings if f["severity"] == "error"}
    assert len(kinds) >= 3, kinds  # several kinds: empty cell, text in a number cell, a rule, an empty text
    listed = runner.invoke(app, ["status", "-C", str(camp.root), "--json"])
    row = next(u for u in json.loads(listed.output)["units"] if u["unit_code"] == "SLX001")
    assert row["errors"] == n
    assert f"错误{n} " in runner.invoke(app, ["status", "-C", str(camp.root)]).output
    assert f"（错误 {n}）" in res.output  # the import line
    res = runner.invoke(app, ["render", "SLX001", "-C", str(camp.root), "-o", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert f"的数据有 {n} 个错误尚未解决" in res.stderr, res.stderr
    assert len(re.findall(r"^  \d+\. \[", res.stderr, re.M)) == n  # and lists as many, none twice


def test_render_still_refuses_what_the_checker_never_saw(tmp_path):
    """A report whose data never went through the checker: the printing preconditions still count."""
    import json

    from gkxlsx.demo.samples import sample_values

    form = load_form("2021")
    vals = sample_values(form, "测试镇人民政府", "乡镇", 2025, seed=1)
    vals["s3.new.natural"] = None
    data = tmp_path / "r.json"
    data.write_text(
        json.dumps(
            {"year": 2025, "unit": {"name": "测试镇人民政府", "type": "乡镇"}, "values": vals},
            ensure_ascii=False,
            default=str,
        ),
        encoding="utf-8",
    )
    res = runner.invoke(app, ["render", "--data", str(data), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "尚未解决" in res.stderr and "自然人" in res.stderr, res.output


def test_status_pages_say_when_they_were_made(camp, tmp_path):
    import re
    from datetime import datetime, timedelta

    import openpyxl

    from gkxlsx.clock import CHINA_TZ

    before = datetime.now(CHINA_TZ).replace(second=0, microsecond=0)
    out_x, out_h = tmp_path / "s.xlsx", tmp_path / "s.html"
    res = runner.invoke(app, ["status", "-C", str(camp.root), "--xlsx", str(out_x), "--html", str(out_h)])
    assert res.exit_code == 0, res.output
    after = datetime.now(CHINA_TZ)
    pat = r"生成时间：(\d{4})年(\d{1,2})月(\d{1,2})日 (\d\d):(\d\d)（北京时间）"
    html = out_h.read_text(encoding="utf-8")
    cells = [c.value for row in openpyxl.load_workbook(out_x)["报送情况"].iter_rows(max_row=4) for c in row if c.value]
    for text in (html, "\n".join(map(str, cells))):
        m = re.search(pat, text)
        assert m, text[:2000]
        t = datetime(*map(int, m.groups()), tzinfo=CHINA_TZ)
        assert before <= t <= after + timedelta(minutes=1)  # China time, whatever the machine's zone


# --------------------------------------------------------------------------------------------
# item 7: a batch of returns saved by LibreOffice


@pytest.fixture(scope="module")
def office():
    from gkxlsx.office import lo

    lo.require_or_skip()
    with lo.LibreOffice(timeout=180) as o:
        yield o


@pytest.mark.lo
def test_libreoffice_protection_notice_said_once_per_batch(office, camp, tmp_path):
    import json

    from test_campaign import make_return

    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.cells import a1
    from gkxlsx.form.layout import layout

    sheet, r, c = layout(camp.form).where["s3.new.natural"]
    saved = []
    for code in ("SLX001", "SLX002", "SLX003"):
        src = make_return(camp, code, tmp_path / "src")
        u = camp.unit(code)
        typed = sample_values(camp.form, u.name, u.type, camp.year, seed=1)["s3.new.natural"]
        dst = tmp_path / "lo" / src.name
        dst.parent.mkdir(exist_ok=True)
        office.fill(src, dst, [(sheet, a1(r, c), str(typed))])  # the clerk retypes a number and saves
        saved.append(dst)

    res = runner.invoke(app, ["import", "-C", str(camp.root), *map(str, saved)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    file_lines = [line for line in res.output.splitlines() if "第 1 版" in line]
    assert len(file_lines) == 3
    for line in file_lines:  # the notice was each file's only finding: nothing on its line
        assert line.startswith("✓ ") and line.endswith("通过") and "提示" not in line, res.output
    notes = [line for line in res.output.splitlines() if "W-STRUCT-LOCK" in line]
    assert len(notes) == 1 and "3 个文件由 LibreOffice 保存" in notes[0], res.output

    # kept in each file's detail and JSON
    res = runner.invoke(app, ["status", "SLX002", "-C", str(camp.root)])
    assert "W-STRUCT-LOCK" in res.output and "LibreOffice" in res.output
    assert all(
        "W-STRUCT-LOCK" in {f["rule"] for f in camp.ledger.current(code).findings}
        for code in ("SLX001", "SLX002", "SLX003")
    )

    # check: once for the batch, on every file with --all, in every file's JSON
    res = runner.invoke(app, ["check", *map(str, saved)])
    assert "Traceback" not in res.output
    assert res.output.count("W-STRUCT-LOCK") == 1 and "3 个文件由 LibreOffice 保存" in res.output, res.output
    assert res.output.count("结果：通过（错误 0，警告 0，提示 0）") == 3
    res = runner.invoke(app, ["check", "--all", *map(str, saved)])
    assert res.output.count("W-STRUCT-LOCK") == 3, res.output
    res = runner.invoke(app, ["check", "--json", *map(str, saved)])
    doc = json.loads(res.stdout)
    assert sum(f["rule"] == "W-STRUCT-LOCK" for x in doc["files"] for f in x["findings"]) == 3
