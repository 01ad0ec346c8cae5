"""``gkxlsx extract`` and ``gkxlsx audit`` as a user runs them: readable output, JSON, exit codes
(0 / 1 errors / 2 unreadable), the summary workbook for a folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import seed_files
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.published.audit import SUMMARY_HEADERS

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("seeds")
    for p in seed_files():
        shutil.copy(p, d / p.name)
    return d


@pytest.fixture(scope="module")
def broken(seed_dir, tmp_path_factory) -> Path:
    """Seed 0 with 3 new applications in the table: table errors."""
    text = (seed_dir / sorted(x.name for x in seed_dir.glob("000_*"))[0]).read_text(encoding="utf-8")
    text = text.replace("一、本年新收政府信息公开申请数量\n\n0", "一、本年新收政府信息公开申请数量\n\n3", 1)
    p = tmp_path_factory.mktemp("broken") / "仲达镇_改.txt"
    p.write_text(text, encoding="utf-8")
    return p


def test_audit_folder_readable_output_and_summary(seed_dir, tmp_path):
    out = tmp_path / "汇总.xlsx"
    r = runner.invoke(app, ["audit", str(seed_dir), "--summary", str(out)])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert (
        "托克逊县夏镇人民政府（乡镇） 2024年度，2021年版格式（国办公开办函〔2021〕30号），发布日期 2025-01-23"
        in r.output
    )
    assert "表格 200 格：已读取 193，缺失 0，无法确定 7" in r.output
    assert "[W-EXT-AMBIGUOUS] 【三、表格第6行（（一）予以公开）】" in r.output
    assert "“20241月1日”缺少“年”" in r.output
    assert "共 5 份报告：0 份有错误，5 份只有警告" in r.output
    wb = openpyxl.load_workbook(out)
    ws = wb["审核汇总"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == SUMMARY_HEADERS
    assert len(rows) == 6
    by_unit = {row[1]: row for row in rows[1:]}
    assert set(by_unit) == {
        "朗县仲达镇",
        "垫江县周嘉镇人民政府",
        "额尔敦街道",
        "绵阳市机关事务管理局",
        "托克逊县夏镇人民政府",
    }
    assert by_unit["垫江县周嘉镇人民政府"][2:6] == (2020, "2019", 0, 7)
    assert by_unit["托克逊县夏镇人民政府"][2:6] == (2024, "2021", 0, 11)
    assert "W-TXT-FIVE" in by_unit["朗县仲达镇"][6]
    detail = list(wb["问题明细"].iter_rows(values_only=True))
    assert detail[0][:4] == ("文件", "单位", "级别", "规则")
    assert sum(1 for row in detail[1:] if row[1] == "托克逊县夏镇人民政府") == 15


def test_audit_folder_default_summary_in_cwd(seed_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["audit", str(seed_dir)])
    assert r.exit_code == 0, r.output
    target = tmp_path / f"审核汇总_{seed_dir.name}.xlsx"
    assert target.exists() and f"汇总表：{target}" in r.output
    assert not list(seed_dir.glob("*.xlsx"))  # nothing written into the input folder


def test_audit_json_shape(seed_dir, tmp_path):
    r = runner.invoke(app, ["audit", str(seed_dir), "--json", "--summary", str(tmp_path / "s.xlsx")])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert (
        data["summary"]["reports"] == 5 and data["summary"]["with_errors"] == 0 and data["summary"]["unreadable"] == 0
    )
    rep = next(x for x in data["reports"] if x["unit"] == "托克逊县夏镇人民政府")
    assert (rep["year"], rep["format"], rep["unit_type"], rep["publish_date"], rep["deadline"]) == (
        2024,
        "2021",
        "乡镇",
        "2025-01-23",
        "2025-01-31",
    )
    assert rep["cells"] == {"read": 193, "missing": 0, "ambiguous": 7}
    assert (rep["errors"], rep["warnings"], rep["infos"]) == (0, 11, 4)
    f = next(x for x in rep["findings"] if x["rule"] == "W-EXT-AMBIGUOUS")
    assert f["severity"] == "warning" and f["locations"] == ["三、表格第6行（（一）予以公开）"] and len(f["keys"]) == 7
    assert set(f) >= {"rule", "severity", "message", "fix", "keys", "locations", "quote"}
    cite = [x for x in rep["findings"] if x["rule"] == "W-TXT-CITE"]
    assert any(x["quote"] == "国办公开函202130号" for x in cite)


def test_audit_errors_exit_1(broken):
    r = runner.invoke(app, ["audit", str(broken)])
    assert r.exit_code == 1, r.output
    assert "✗ 错误 [E-T3-BAL]" in r.output and "✗ 错误 [E-T3-ROW]" in r.output
    assert "【三、表格第4行（一、本年新收政府信息公开申请数量）第7列（总计）】" in r.output
    assert "共 1 份报告：1 份有错误" in r.output
    r = runner.invoke(app, ["audit", str(broken), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["summary"]["with_errors"] == 1


def test_unreadable_inputs_exit_2_without_traceback(seed_dir, tmp_path):
    bad = tmp_path / "旧版.doc"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    broken_docx = tmp_path / "坏.docx"
    broken_docx.write_bytes(b"PK\x03\x04 not really a zip")
    one = sorted(seed_dir.glob("003_*"))[0]
    r = runner.invoke(
        app,
        [
            "audit",
            str(bad),
            str(broken_docx),
            str(tmp_path / "没有.txt"),
            str(one),
            "--summary",
            str(tmp_path / "s.xlsx"),
        ],
    )
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "旧版 Word（.doc）" in r.output and "不是有效的 Word（.docx）文件" in r.output and "文件不存在" in r.output
    assert "绵阳市机关事务管理局" in r.output  # the readable one is still audited
    rows = list(openpyxl.load_workbook(tmp_path / "s.xlsx")["审核汇总"].iter_rows(values_only=True))
    assert len(rows) == 4 and sum(1 for row in rows if row[6] and str(row[6]).startswith("无法读取")) == 2
    r = runner.invoke(app, ["audit", str(tmp_path / "empty_dir_that_is_missing")])
    assert r.exit_code == 2 and "文件不存在" in r.output


def test_bad_options_exit_2(seed_dir):
    one = str(sorted(seed_dir.glob("000_*"))[0])
    r = runner.invoke(app, ["audit", one, "--deadline", "明年"])
    assert r.exit_code == 2 and "无法识别的公开时限" in r.output
    r = runner.invoke(app, ["audit", one, "--unit-type", "火星"])
    assert r.exit_code == 2 and "未知的单位类型" in r.output


def test_deadline_option_makes_a_report_late(seed_dir):
    one = str(sorted(seed_dir.glob("004_*"))[0])
    r = runner.invoke(app, ["audit", one, "--deadline", "01-20", "--json"])
    rep = json.loads(r.output)["reports"][0]
    late = [f for f in rep["findings"] if f["rule"] == "W-PUB-LATE"]
    assert rep["deadline"] == "2025-01-20" and len(late) == 1 and "晚 3 天" in late[0]["message"]


def test_extract_json_and_out(seed_dir, tmp_path):
    one = sorted(seed_dir.glob("004_*"))[0]
    r = runner.invoke(app, ["extract", str(one), "--json"])
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["schema"] == "gkxlsx.published.extract/1" and d["unit"] == "托克逊县夏镇人民政府" and d["year"] == 2024
    assert d["status"]["s3.r1_open.total"] == "ambiguous" and d["values"]["s3.r1_open.total"] is None
    assert d["values"]["s3.r2_partial.total"] == 0 and d["status"]["s3.r2_partial.total"] == "read"
    assert d["positions"]["s3.r1_open.total"] == "三、表格第6行（（一）予以公开）第7列（总计）"
    assert d["values"]["s1.platform"].startswith("依托县政府信息公开网站")
    out = tmp_path / "json"
    r = runner.invoke(app, ["extract", *map(str, sorted(seed_dir.glob("*.txt"))), "--out", str(out)])
    assert r.exit_code == 0, r.output
    files = sorted(out.glob("*.json"))
    assert len(files) == 5
    d1 = json.loads((out / "001_f115db0abcc19756.json").read_text(encoding="utf-8"))
    assert d1["format"] == "2019" and d1["values"]["s2.other_service.change"] == -45
    assert "已读取 198，缺失 0，无法确定 0" in r.output


def test_extract_unreadable_exit_2(tmp_path):
    r = runner.invoke(app, ["extract", str(tmp_path / "none.txt")])
    assert r.exit_code == 2 and "文件不存在" in r.output


def test_console_script_subprocess(seed_dir, tmp_path):
    """The installed command, as a user runs it."""
    exe = shutil.which("gkxlsx")
    cmd = [exe] if exe else [sys.executable, "-m", "gkxlsx"]
    one = str(sorted(seed_dir.glob("002_*"))[0])
    p = subprocess.run(cmd + ["audit", one], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "额尔敦街道（街道）" in p.stdout and "[W-TXT-OLDSTRUCT]" in p.stdout


def test_a_text_that_is_not_a_report_gets_one_clear_error(tmp_path):
    p = tmp_path / "会议纪要.txt"
    p.write_text("关于召开季度工作会议的通知\n请各单位准时参加。\n", encoding="utf-8")
    res = runner.invoke(app, ["audit", str(p), "--json"])
    assert res.exit_code == 1, res.output
    data = json.loads(res.output)
    rep = data[0] if isinstance(data, list) else data["reports"][0]
    rules = [f["rule"] for f in rep["findings"]]
    assert rules == ["E-EXT-NOT-REPORT"]
