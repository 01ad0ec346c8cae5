"""Hostile and unlucky text (issue 15, items 1 and 2): a lone surrogate in a cell and a file name
that is not UTF-8 must reach the terminal, ``--json``, the ledger and feedback readably — never as a
UnicodeEncodeError that stops a whole batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_campaign import ROSTER, make_return
from test_check_corpus import build, set_cell, sheet_part, zip_edit

from gkxlsx.campaign.campaign import import_files, init_campaign
from gkxlsx.form.layout import layout
from gkxlsx.form.model import load_form
from gkxlsx.workbook.reader import ooxml_text, readable_name

ROOT = Path(__file__).resolve().parents[1]
FORM = load_form("2021")
GBK_NAME = "城关镇政务公开年报.xlsx"
ODD = os.fsdecode(GBK_NAME.encode("gbk"))  # what Python makes of the GBK bytes on Linux


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real command line with a strict UTF-8 stdout: a lone surrogate printed is an error."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8:strict")
    return subprocess.run([sys.executable, "-m", "gkxlsx", *args], env=env, capture_output=True, timeout=120)


def ok_output(cp: subprocess.CompletedProcess) -> str:
    err = cp.stderr.decode("utf-8")
    assert "Traceback" not in err and "E-INTERNAL" not in cp.stdout.decode("utf-8", "replace"), err
    assert cp.returncode in (0, 1), err
    return cp.stdout.decode("utf-8")  # strict: the output is valid UTF-8


def surrogate_returns(tmp: Path) -> list[Path]:
    """A number cell holding ``1&#xD800;2`` (sheet XML), one holding ``1_xDBFF_2`` (Excel's escape),
    and a narrative with ``&#xDFFF;`` in the shared strings."""
    data = build()
    sheet, _r, _c = layout(FORM).locate("s3.new.natural")
    part, ref = sheet_part(sheet), layout(FORM).address("s3.new.natural").split("!")[-1]

    def sst(xml: bytes) -> bytes:
        word = "未收到政府信息公开申请".encode()
        assert word in xml
        return xml.replace(word, "未收到&#xDFFF;政府信息公开申请".encode(), 1)

    files = {
        "entity.xlsx": zip_edit(data, {part: set_cell(ref, "<is><t>1&#xD800;2</t></is>", t="inlineStr")}),
        "escape.xlsx": zip_edit(data, {part: set_cell(ref, "<is><t>1_xDBFF_2</t></is>", t="inlineStr")}),
        "shared.xlsx": zip_edit(data, {"xl/sharedStrings.xml": sst}),
    }
    out = []
    for name, body in files.items():
        p = tmp / name
        p.write_bytes(body)
        out.append(p)
    return out


# -- item 1: lone surrogates ---------------------------------------------------------------------


def test_reader_replaces_lone_surrogates_and_keeps_pairs():
    assert ooxml_text(b"a&#xD800;b") == "a\ufffdb"
    assert ooxml_text(b"a_xD800_b_xDFFF_") == "a\ufffdb\ufffd"
    assert ooxml_text(b"_xD83D__xDE00_") == "\U0001f600"  # a pair written as two escapes is one character
    assert ooxml_text("政务_x000D_公开".encode()) == "政务\r公开"


def test_check_and_json_survive_lone_surrogates(tmp_path):
    files = surrogate_returns(tmp_path)
    out = ok_output(run_cli("check", "--year", "2025", *map(str, files)))
    assert out.count("1\ufffd2") == 2 and "共检查 3 个文件" in out
    data = json.loads(ok_output(run_cli("check", "--json", "--year", "2025", *map(str, files))))
    assert data["summary"]["total"] == 3
    assert [f["file"] for f in data["files"]] == ["entity.xlsx", "escape.xlsx", "shared.xlsx"]
    text = json.dumps(data, ensure_ascii=False)
    assert "1\ufffd2" in text


def test_shared_string_with_a_lone_surrogate_is_read_with_a_replacement(tmp_path):
    from gkxlsx.check.checker import check_file

    r = check_file(surrogate_returns(tmp_path)[2], year=2025)
    assert r.values is not None and "未收到\ufffd政府信息公开申请" in r.values["s1.on_request"]


def test_feedback_is_written_for_a_file_with_a_lone_surrogate(tmp_path):
    files = surrogate_returns(tmp_path)
    fb = tmp_path / "反馈"
    out = ok_output(run_cli("check", "--year", "2025", "--feedback", str(fb), str(files[0])))
    assert "已生成 1 个反馈工作簿" in out
    assert len(list(fb.glob("*.xlsx"))) == 1


@pytest.fixture
def camp(tmp_path):
    import datetime

    c = init_campaign(
        tmp_path / "c", year=2025, roster=ROSTER, office="示例县人民政府办公室", deadline=datetime.date(2026, 1, 20)
    )
    yield c
    c.close()


def test_import_records_every_file_of_a_batch_with_a_lone_surrogate(camp, tmp_path):
    inn = tmp_path / "in"
    good = [make_return(camp, "SLX001", inn), make_return(camp, "SLX003", inn)]
    u = camp.unit("SLX002")
    sheet, _r, _c = layout(camp.form).locate("s3.new.natural")
    ref = layout(camp.form).address("s3.new.natural").split("!")[-1]
    bad = make_return(camp, "SLX002", inn, name="青石镇.xlsx")
    bad.write_bytes(
        zip_edit(bad.read_bytes(), {sheet_part(sheet): set_cell(ref, "<is><t>1&#xD800;2</t></is>", t="inlineStr")})
    )
    r = import_files(camp, [good[0], bad, good[1]])
    assert [o.kind for o in r] == ["new", "new", "new"], [o.message for o in r]
    assert r[1].unit_code == u.code and r[1].status == "有错误"
    assert any("1\ufffd2" in f["message"] for f in r[1].findings)
    assert len(camp.ledger.all_submissions()) == 3
    assert camp.ledger.integrity() == []


# -- item 2: file names that are not UTF-8 -------------------------------------------------------

needs_bytes_names = pytest.mark.skipif(
    sys.platform == "win32" or sys.getfilesystemencoding().lower() != "utf-8",
    reason="names that are not UTF-8 exist only on a byte file system read as UTF-8",
)


def test_readable_name():
    assert readable_name(ODD) == GBK_NAME
    assert readable_name("收件箱/" + ODD) == "收件箱/" + GBK_NAME  # a UTF-8 folder holding a GBK name
    assert readable_name(os.fsdecode(b"\xff\xfe.xlsx")) == "\ufffd\ufffd.xlsx"
    assert readable_name("好.xlsx") == "好.xlsx"


def three_returns(camp, inn: Path) -> tuple[list[Path], Path]:
    """Two good returns and, between them, one whose name is the GBK bytes of ``GBK_NAME``."""
    a = make_return(camp, "SLX001", inn)
    odd = make_return(camp, "SLX002", inn, name=ODD)
    b = make_return(camp, "SLX003", inn)
    assert os.fsencode(odd.name) == GBK_NAME.encode("gbk")
    return [a, odd, b], odd


@needs_bytes_names
def test_check_shows_a_gbk_file_name_readably(camp, tmp_path):
    inn = tmp_path / "收件"
    _files, odd = three_returns(camp, inn)
    out = ok_output(run_cli("check", "--year", "2025", str(inn)))
    assert GBK_NAME in out and "共检查 3 个文件：通过 3" in out
    data = json.loads(ok_output(run_cli("check", "--json", "--year", "2025", str(inn))))
    assert sorted(f["file"] for f in data["files"]) == sorted([GBK_NAME, *(p.name for p in _files if p != odd)])
    assert any(f["path"] == str(inn / GBK_NAME) for f in data["files"])


@needs_bytes_names
def test_import_records_every_file_beside_a_gbk_name(camp, tmp_path):
    files, odd = three_returns(camp, tmp_path / "收件")
    r = import_files(camp, files)
    assert [o.kind for o in r] == ["new", "new", "new"], [o.message for o in r]
    assert r[1].name == GBK_NAME and r[1].unit_code == "SLX002"
    rows = camp.ledger.conn.execute("SELECT filename, sha256, archive_path FROM submissions ORDER BY id").fetchall()
    assert len(rows) == 3 and rows[1]["filename"] == GBK_NAME
    import hashlib

    sha = hashlib.sha256(odd.read_bytes()).hexdigest()
    assert rows[1]["sha256"] == sha and Path(rows[1]["archive_path"]).name == f"{sha}.xlsx"
    assert camp.ledger.archived(rows[1]["archive_path"]).read_bytes() == odd.read_bytes()
    assert camp.ledger.integrity() == []


@needs_bytes_names
def test_import_command_prints_a_gbk_name_readably(camp, tmp_path):
    inn = tmp_path / "收件"
    three_returns(camp, inn)
    root = str(camp.root)
    camp.close()
    out = ok_output(run_cli("import", "--campaign", root, str(inn)))
    assert f"{GBK_NAME}：SLX002 第 1 版" in out
    data = json.loads(ok_output(run_cli("import", "--campaign", root, "--json", str(inn))))
    assert [d["result"] for d in data] == ["duplicate"] * 3
    assert str(inn / GBK_NAME) in [d["file"] for d in data]


@needs_bytes_names
def test_a_gbk_suffix_is_archived_as_bin(camp, tmp_path):
    odd = make_return(camp, "SLX002", tmp_path, name=os.fsdecode("报表.表格".encode("gbk")))
    r = import_files(camp, [odd])
    assert r[0].kind == "new", r[0].message
    row = camp.ledger.conn.execute("SELECT filename, archive_path FROM submissions").fetchone()
    assert row["filename"] == "报表.表格" and row["archive_path"].endswith(".bin")
