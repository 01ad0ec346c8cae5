"""Tests of gkxlsx.office.lo against a real headless LibreOffice.

One LibreOffice session serves the whole module (module-scoped fixture); only
the lifecycle test starts a second one.  Without LibreOffice the tests are
skipped, except in CI (CI == "true") where they fail.
"""

from __future__ import annotations

import os
import random
import zipfile

import pytest
import xlsxwriter

from gkxlsx.office import lo

pytestmark = pytest.mark.lo

SHEET = "表一"


def make_workbook(path, protect=True):
    """A protected sheet: A1:A3 unlocked, A4 =SUM(A1:A3), B1 locked text,
    C1 unlocked with validation "whole number >= 0", D1 a text formula."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(SHEET)
    unlocked = wb.add_format({"locked": False})
    for row in range(3):
        ws.write_blank(row, 0, None, unlocked)
    ws.write_formula("A4", "=SUM(A1:A3)", None, 0)
    ws.write("B1", "锁定")
    ws.write_blank("C1", None, unlocked)
    ws.data_validation("C1", {"validate": "integer", "criteria": ">=", "value": 0})
    ws.write_formula("D1", '=IF(A4>10,"大","小")', None, "小")
    ws.merge_range("E1:F1", None, unlocked)  # a merged input area
    ws2 = wb.add_worksheet("第二页")
    ws2.write_formula("A1", f"='{SHEET}'!A4*2", None, 0)
    if protect:
        ws.protect()
    wb.close()
    return path


@pytest.fixture(scope="module")
def office():
    lo.require_or_skip()
    with lo.LibreOffice(timeout=120) as office:
        yield office


@pytest.fixture()
def book(tmp_path):
    folder = tmp_path / "中文目录"
    folder.mkdir()
    return make_workbook(folder / "年度报表.xlsx")


def test_require_or_skip_fails_in_ci(monkeypatch):
    monkeypatch.setattr(lo, "_probe", lambda: (False, "测试"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        lo.require_or_skip()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        lo.require_or_skip()
    assert lo.available() is False
    assert lo.unavailable_reason() == "测试"


def test_require_writer_or_skip_fails_in_ci(monkeypatch):
    monkeypatch.setattr(lo, "_probe", lambda: (True, ""))
    monkeypatch.setattr(lo, "writer_available", lambda: False)  # LibreOffice with Calc, without Writer
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="libreoffice-writer"):
        lo.require_writer_or_skip()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="libreoffice-writer"):
        lo.require_writer_or_skip()


def test_fill_types_like_a_user(office, book, tmp_path):
    dst = tmp_path / "输出" / "已填写.xlsx"
    res = office.fill(
        book,
        dst,
        [
            (SHEET, "A1", "5"),
            (SHEET, "B1", "改不了"),  # locked: refused
            (SHEET, "A2", "7"),  # a later edit still works (view replaced / soffice restarted)
            (SHEET, "B1", "还是改不了"),  # a second refusal in the same session does not crash
            (SHEET, "A3", "1"),
            (SHEET, "A4", "99"),  # the formula cell is locked too
        ],
    )
    assert [r["ok"] for r in res] == [True, False, True, False, True, False]
    assert [r["refused"] for r in res] == [False, True, False, True, False, True]
    assert res[0] == {
        "sheet": SHEET,
        "cell": "A1",
        "text": "5",
        "ok": True,
        "refused": False,
        "value": 5.0,
        "invalid": False,
        "message": None,
    }
    assert res[1]["value"] == "锁定"
    assert res[1]["message"]  # LibreOffice's own message box text
    assert res[2]["value"] == 7.0
    assert res[5]["value"] == 13.0  # autocalc kept the formula up to date
    assert dst.is_file()
    got = office.read(dst, [(SHEET, "A1"), (SHEET, "A2"), (SHEET, "A3"), (SHEET, "A4"), (SHEET, "B1"), (SHEET, "D1")])
    assert got == {
        (SHEET, "A1"): 5.0,
        (SHEET, "A2"): 7.0,
        (SHEET, "A3"): 1.0,
        (SHEET, "A4"): 13.0,
        (SHEET, "B1"): "锁定",
        (SHEET, "D1"): "大",
    }


def test_fill_parses_input_like_a_user(office, book, tmp_path):
    res = office.fill(
        book,
        tmp_path / "解析.xlsx",
        [(SHEET, "A1", "1,234"), (SHEET, "A2", "50%"), (SHEET, "A3", "'007"), (SHEET, "C1", "abc")],
        recalc=False,
    )
    assert all(r["ok"] for r in res)
    assert [r["value"] for r in res] == [1234.0, 0.5, "007", "abc"]
    assert res[3]["invalid"] is True  # text in a whole-number cell


@pytest.mark.parametrize("suffix", ["xlsx", "xls", "ods"])
def test_fill_saves_each_format(office, book, tmp_path, suffix):
    dst = tmp_path / f"保存结果.{suffix}"
    res = office.fill(book, dst, [(SHEET, "A1", "5"), (SHEET, "A2", "6"), (SHEET, "A3", "2.5")])
    assert all(r["ok"] for r in res)
    assert dst.is_file() and dst.stat().st_size > 0
    cells = [(SHEET, "A1"), (SHEET, "A2"), (SHEET, "A3"), (SHEET, "A4"), (SHEET, "D1"), ("第二页", "A1")]
    # no recalc on read: the stored (cached) formula results must already be right
    got = office.read(dst, cells)
    assert got == {
        (SHEET, "A1"): 5.0,
        (SHEET, "A2"): 6.0,
        (SHEET, "A3"): 2.5,
        (SHEET, "A4"): 13.5,
        (SHEET, "D1"): "大",
        ("第二页", "A1"): 27.0,
    }
    # the saved file keeps its protection: locked cells are still refused
    again = office.fill(dst, tmp_path / f"再次.{suffix}", [(SHEET, "B1", "x"), (SHEET, "A1", "1")])
    assert [r["refused"] for r in again] == [True, False]


def test_fill_merged_cells(office, book, tmp_path):
    res = office.fill(book, tmp_path / "合并.xlsx", [(SHEET, "F1", "隐藏格"), (SHEET, "E1", "说明文字")])
    assert res[0]["refused"] is True and "E1:F1" in res[0]["message"]
    assert res[0]["value"] is None
    assert res[1]["ok"] is True and res[1]["value"] == "说明文字"


def test_stale_lock_file_is_removed(office, book):
    lock = book.parent / f".~lock.{book.name}#"
    lock.write_text(",root,host,01.01.2026 00:00,file:///tmp/gkxlsx-lo-gone/profile-x;", encoding="utf-8")
    assert office.read(book, [(SHEET, "B1")]) == {(SHEET, "B1"): "锁定"}
    assert not lock.exists()


def test_data_validation_reports_invalid(office, book, tmp_path):
    res = office.fill(book, tmp_path / "校验.xlsx", [(SHEET, "C1", "-3"), (SHEET, "A1", "2"), (SHEET, "C1", "4")])
    bad, plain, good = res
    assert bad["ok"] is True and bad["refused"] is False
    assert bad["value"] == -3.0
    assert bad["invalid"] is True
    assert bad["alert"] == "stop"  # Excel would reject it
    assert plain["invalid"] is False
    assert good["invalid"] is False and good["value"] == 4.0


def test_read_recalc(office, tmp_path):
    path = tmp_path / "缓存.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("数据")
    ws.write("A1", 2)
    ws.write("A2", 3)
    ws.write_formula("A3", "=A1*A2", None, 999)  # stale cached value
    ws.write_formula("B1", "=1/0", None, 0)
    ws.write_formula("B2", '=""', None, 0)
    ws.write_formula("B3", '="合计"&A3', None, "")
    ws.write("C1", "文本")
    wb.close()
    cells = [("数据", c) for c in ("A1", "A3", "B1", "B2", "B3", "C1", "C9")]
    cached = office.read(path, cells)
    assert cached[("数据", "A3")] == 999.0
    fresh = office.read(path, cells, recalc=True)
    assert fresh == {
        ("数据", "A1"): 2.0,
        ("数据", "A3"): 6.0,
        ("数据", "B1"): "#DIV/0!",
        ("数据", "B2"): "",
        ("数据", "B3"): "合计6",
        ("数据", "C1"): "文本",
        ("数据", "C9"): None,
    }


def test_evaluate_many_datasets(office, book):
    rnd = random.Random(7)
    datasets = []
    for i in range(50):
        ds = {(SHEET, "A1"): rnd.randint(-5, 10), (SHEET, "A2"): rnd.random() * 10}
        if i % 3 == 0:
            ds[(SHEET, "A3")] = 4
        elif i % 3 == 1:
            ds[(SHEET, "A3")] = None
        # i % 3 == 2: A3 not set -> back to its original (empty) content
        if i % 10 == 9:
            ds[(SHEET, "A2")] = "文本"  # SUM ignores text
        datasets.append(ds)
    results = office.evaluate(book, datasets, [(SHEET, "A4"), (SHEET, "D1"), ("第二页", "A1")])
    assert len(results) == 50
    for ds, got in zip(datasets, results):
        total = sum(v for v in ds.values() if isinstance(v, (int, float)))
        assert got[(SHEET, "A4")] == pytest.approx(total)
        assert got[(SHEET, "D1")] == ("大" if total > 10 else "小")
        assert got[("第二页", "A1")] == pytest.approx(total * 2)


def test_evaluate_parse_text(office, book):
    datasets = [
        {(SHEET, "A1"): "12", (SHEET, "A2"): "50%", (SHEET, "A3"): "1,000"},
        {(SHEET, "A1"): "", (SHEET, "A2"): "'7", (SHEET, "A3"): "=2*3"},
    ]
    cells = [(SHEET, "A1"), (SHEET, "A2"), (SHEET, "A4")]
    typed = office.evaluate(book, datasets, cells, parse_text=True)
    assert typed[0] == {(SHEET, "A1"): 12.0, (SHEET, "A2"): 0.5, (SHEET, "A4"): 1012.5}
    assert typed[1] == {(SHEET, "A1"): None, (SHEET, "A2"): "7", (SHEET, "A4"): 6.0}
    literal = office.evaluate(book, datasets[:1], cells)  # default: str is stored as text
    assert literal[0] == {(SHEET, "A1"): "12", (SHEET, "A2"): "50%", (SHEET, "A4"): 0.0}


def test_convert_xlsx_to_pdf_and_ods(office, book, tmp_path):
    out = tmp_path / "导出"
    pdf = office.convert(book, "pdf", out)
    assert pdf == out / "年度报表.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    ods = office.convert(book, "ods", out)
    assert ods.suffix == ".ods" and ods.is_file()
    assert office.read(ods, [(SHEET, "B1")]) == {(SHEET, "B1"): "锁定"}


def _make_docx(path):
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="word/document.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
            "</Relationships>",
        )
        z.writestr(
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{ns}"><w:body>'
            "<w:p><w:r><w:t>政府信息公开工作年度报告</w:t></w:r></w:p>"
            "</w:body></w:document>",
        )


def test_convert_docx_to_pdf(office, tmp_path):
    lo.require_writer_or_skip()
    assert office.has_writer()
    src = tmp_path / "年度报告.docx"
    _make_docx(src)
    pdf = office.convert(src, "pdf", tmp_path)
    assert pdf.name == "年度报告.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    with pytest.raises(lo.LibreOfficeError, match="LibreOffice 转换失败"):
        office.convert(src, "xlsx", tmp_path / "x")


def test_errors_are_chinese_and_session_survives(office, book, tmp_path):
    with pytest.raises(lo.LibreOfficeError, match="找不到工作表"):
        office.read(book, [("不存在", "A1")])
    with pytest.raises(lo.LibreOfficeError, match="无效的单元格地址"):
        office.read(book, [(SHEET, "!!")])
    with pytest.raises(lo.LibreOfficeError, match="文件不存在"):
        office.read(tmp_path / "没有.xlsx", [(SHEET, "A1")])
    with pytest.raises(lo.LibreOfficeError, match="不支持的输出格式"):
        office.fill(book, tmp_path / "a.pdf", [])
    with pytest.raises(lo.LibreOfficeError, match="转换失败"):
        office.convert(book, "docx", tmp_path)
    with pytest.raises(lo.LibreOfficeError, match="字典"):
        office.evaluate(book, [[(SHEET, "A1", 1)]], [(SHEET, "A4")])
    assert office.read(book, [(SHEET, "B1")]) == {(SHEET, "B1"): "锁定"}


def test_lifecycle_restart_and_cleanup(book, tmp_path):
    lo.require_or_skip()
    with lo.LibreOffice(timeout=60) as office:
        first = office.ping()
        office._request("crash_soffice", {})  # soffice dies behind our back
        assert office.read(book, [(SHEET, "B1")]) == {(SHEET, "B1"): "锁定"}
        second = office.ping()
        assert second["soffice_pid"] != first["soffice_pid"]
        os.kill(office._proc.pid, 9)  # the worker itself dies: restarted once
        assert office.read(book, [(SHEET, "B1")]) == {(SHEET, "B1"): "锁定"}
        assert office.worker_starts == 2
        pids = list(office.soffice_pids) + [first["pid"], office.ping()["pid"]]
    for pid in pids:  # nothing left running
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        with open(f"/proc/{pid}/stat") as fh:
            assert fh.read().split(") ")[1].startswith("Z"), f"process {pid} still running"
    assert not list(book.parent.glob(".~lock.*"))
