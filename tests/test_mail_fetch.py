"""Taking returns from mail: .eml files and mbox (the IMAP path is in test_mail_imap.py)."""

from __future__ import annotations

import mailbox
from datetime import datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser

import pytest
from _mail_helpers import client_mail, make_campaign, returned_workbook
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.mail.mail import decode_text, fetch_eml, fetch_mbox, fetched_log, part_filename, process_messages

NAME = "{code}_{name}_2021年政府信息公开工作年度报告（已填）.xlsx"


@pytest.fixture
def camp(tmp_path):
    c = make_campaign(tmp_path, n=4, generate=False, emails={"SLX004": "U4@Test.Example; u4b@test.example"})
    yield c
    c.close()


def _name(camp, code):
    u = camp.unit(code)
    return NAME.format(code=u.code, name=u.name)


def _mails(camp):
    """What arrives in the office's inbox: a Foxmail return, a mail carrying two units' workbooks,
    a mail with no attachment, a mail with only a Word file, a return from an address not in the
    roster, and a Thunderbird return with an RFC 2231 name."""
    wb = {c: returned_workbook(camp, c) for c in ("SLX001", "SLX002", "SLX003", "SLX004")}
    return {
        "one.eml": client_mail(
            "u1@test.example",
            "城关镇2021年年报",
            [(_name(camp, "SLX001"), wb["SLX001"])],
            style="foxmail",
            message_id="<m1@client.test>",
        ),
        "two.eml": client_mail(
            "U2@TEST.EXAMPLE",
            "青石镇和白河乡的报告",
            [(_name(camp, "SLX002"), wb["SLX002"]), (_name(camp, "SLX003"), wb["SLX003"])],
            style="foxmail",
            message_id="<m2@client.test>",
        ),
        "none.eml": client_mail(
            "u3@test.example", "报告稍后发送", [], message_id="<m3@client.test>", date="Wed, 19 Jan 2022 08:00:00 +0800"
        ),
        "word.eml": client_mail(
            "u3@test.example",
            "说明材料",
            [("情况说明.docx", b"PK\x03\x04not a spreadsheet")],
            style="octet",
            message_id="<m4@client.test>",
        ),
        "tb.eml": client_mail(
            "u4b@test.example",
            "东街街道年报",
            [(_name(camp, "SLX004"), wb["SLX004"])],
            style="thunderbird",
            message_id="<m5@client.test>",
        ),
    }, wb


def _write(tmp_path, mails):
    d = tmp_path / "inbox"
    d.mkdir()
    for n, data in mails.items():
        (d / n).write_bytes(data)
    return d


def test_eml_returns_imported_once_and_listed(camp, tmp_path):
    mails, wb = _mails(camp)
    inbox = _write(tmp_path, mails)
    rep = process_messages(camp, fetch_eml([inbox]))
    by_id = {m.message_id: m for m in rep.mails}
    # one workbook, from a roster address
    m1 = by_id["<m1@client.test>"]
    assert m1.kind == "imported" and m1.sender_unit.code == "SLX001" and m1.subject == "城关镇2021年年报"
    assert [(a.filename, a.outcome.kind, a.outcome.unit_code) for a in m1.attachments] == [
        (_name(camp, "SLX001"), "new", "SLX001")
    ]
    # a mail with two workbooks imports both (sender matched case-insensitively)
    m2 = by_id["<m2@client.test>"]
    assert m2.sender_unit.code == "SLX002"
    assert sorted((a.outcome.kind, a.outcome.unit_code) for a in m2.attachments) == [
        ("new", "SLX002"),
        ("new", "SLX003"),
    ]
    assert "SLX003" in m2.note  # the sender is SLX002's mailbox, one file is SLX003's
    # no attachment / no spreadsheet: listed as such
    assert by_id["<m3@client.test>"].kind == "no_attachment"
    assert by_id["<m4@client.test>"].kind == "no_spreadsheet" and by_id["<m4@client.test>"].ignored == ["情况说明.docx"]
    # the second address of a unit is matched too; RFC 2231 name decoded
    m5 = by_id["<m5@client.test>"]
    assert m5.sender_unit.code == "SLX004" and m5.attachments[0].filename == _name(camp, "SLX004")
    # the ledger: every unit current, original bytes archived under the decoded name, source and time from the mail
    cur = camp.ledger.currents()
    assert sorted(cur) == ["SLX001", "SLX002", "SLX003", "SLX004"]
    s1 = cur["SLX001"]
    assert s1.filename == _name(camp, "SLX001") and s1.source == "邮件:u1@test.example"
    # received at = the mail's Date (10:30 Beijing time), stored in local time like every import
    assert datetime.fromisoformat(s1.received_at).astimezone() == datetime(
        2022, 1, 18, 10, 30, tzinfo=timezone(timedelta(hours=8))
    )
    from pathlib import Path

    assert Path(s1.archive_path).read_bytes() == wb["SLX001"]
    lines = "\n".join(rep.lines())
    assert "无附件" in lines and "报告稍后发送" in lines
    assert "新邮件 5 封，登记报送 4 份，无附件 1 封，无表格附件 1 封" in lines

    # a second fetch of the same mail imports nothing new
    n_sub = camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    again = process_messages(camp, fetch_eml([inbox]))
    assert [m.kind for m in again.mails] == ["seen"] * 5
    assert again.outcomes == []
    assert camp.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == n_sub == 4
    assert "以前已处理过 5 封（跳过）" in again.lines()[-1]
    assert {r["message_id"] for r in fetched_log(camp)} == set(by_id)
    assert all(p.exists() for p in inbox.iterdir()) and len(list(inbox.iterdir())) == 5  # nothing deleted


def test_mbox_fetch_is_read_only_and_idempotent(camp, tmp_path):
    mails, _ = _mails(camp)
    path = tmp_path / "Inbox"
    mb = mailbox.mbox(str(path))
    for data in mails.values():
        mb.add(data)
    mb.flush()
    mb.close()
    before = path.read_bytes()
    rep = process_messages(camp, fetch_mbox(path))
    assert sum(1 for o in rep.outcomes if o.kind == "new") == 4
    assert sorted(m.kind for m in rep.mails) == ["imported", "imported", "imported", "no_attachment", "no_spreadsheet"]
    again = process_messages(camp, fetch_mbox(path))
    assert [m.kind for m in again.mails] == ["seen"] * 5
    assert path.read_bytes() == before  # the mailbox is untouched


def test_mail_without_message_id_is_remembered_by_content(camp, tmp_path):
    wb = returned_workbook(camp, "SLX002")
    raw = client_mail(
        "u2@test.example", "无 Message-ID", [(_name(camp, "SLX002"), wb)], style="foxmail", message_id=None
    )
    p = tmp_path / "x.eml"
    p.write_bytes(raw)
    first = process_messages(camp, fetch_eml([p]))
    assert first.mails[0].kind == "imported" and first.mails[0].message_id.startswith("<sha256.")
    assert process_messages(camp, fetch_eml([p])).mails[0].kind == "seen"


def test_unknown_sender_still_imported_and_recorded(camp, tmp_path):
    wb = returned_workbook(camp, "SLX003")
    p = tmp_path / "x.eml"
    p.write_bytes(
        client_mail(
            "someone@private.test",
            "白河乡报告（代发）",
            [(_name(camp, "SLX003"), wb)],
            style="raw8bit",
            message_id="<x@y>",
        )
    )
    rep = process_messages(camp, fetch_eml([p]))
    m = rep.mails[0]
    assert m.sender_unit is None and m.sender == "someone@private.test"
    assert m.attachments[0].filename == _name(camp, "SLX003")  # raw 8-bit UTF-8 name recovered
    assert m.attachments[0].outcome.kind == "new" and m.attachments[0].outcome.unit_code == "SLX003"
    assert "不在名单中" in "\n".join(rep.lines())
    (logged,) = fetched_log(camp)
    assert logged["sender"] == "someone@private.test" and logged["sender_unit"] is None


def test_same_workbook_in_two_mails_is_a_duplicate_not_a_new_version(camp, tmp_path):
    wb = returned_workbook(camp, "SLX001")
    a = tmp_path / "a.eml"
    b = tmp_path / "b.eml"
    a.write_bytes(client_mail("u1@test.example", "报告", [(_name(camp, "SLX001"), wb)], message_id="<a@x>"))
    b.write_bytes(client_mail("u1@test.example", "转发：报告", [(_name(camp, "SLX001"), wb)], message_id="<b@x>"))
    rep = process_messages(camp, fetch_eml([a, b]))
    assert [m.attachments[0].outcome.kind for m in rep.mails] == ["new", "duplicate"]
    assert camp.ledger.current("SLX001").version == 1


def test_octet_stream_with_spreadsheet_name_is_imported(camp, tmp_path):
    wb = returned_workbook(camp, "SLX004")
    p = tmp_path / "x.eml"
    p.write_bytes(
        client_mail("u4@test.example", "report", [("SLX004-return.xlsx", wb)], style="octet", message_id="<o@x>")
    )
    rep = process_messages(camp, fetch_eml([p]))
    assert rep.mails[0].attachments[0].outcome.unit_code == "SLX004"


# -- decoding of names and subjects as common clients write them --------------------------------


NAMES = ["SLX001_示例县城关镇人民政府_2021年政府信息公开工作年度报告.xlsx", "报告（修改稿）第2版.xls", "短.ods"]


@pytest.mark.parametrize("style", ["foxmail", "thunderbird", "raw8bit", "octet"])
@pytest.mark.parametrize("name", NAMES)
def test_attachment_names_decoded(style, name):
    raw = client_mail("a@b.test", "主题：政府信息公开年报（2021）", [(name, b"data")], style=style, message_id="<n@x>")
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    names = [part_filename(p) for p in msg.walk() if not p.is_multipart() and p.get_content_maintype() != "text"]
    assert names == [name]
    assert decode_text(msg["Subject"]) == "主题：政府信息公开年报（2021）"


def test_subject_and_name_in_gb2312_quoted_printable():
    """Outlook (Chinese) style: =?gb2312?Q?...?= words, and a GBK name split over two words."""
    import quopri

    def q(s):
        return "=?gb2312?Q?" + quopri.encodestring(s.encode("gbk"), header=True).decode() + "?="

    name = "白河乡年度报告.xlsx"
    half = len(name) // 2
    enc_name = f"=?GB2312?B?{__import__('base64').b64encode(name[:half].encode('gbk')).decode()}?= =?GB2312?B?{__import__('base64').b64encode(name[half:].encode('gbk')).decode()}?="
    raw = (
        f"From: a@b.test\r\nSubject: {q('关于报送年报的回复')}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: application/vnd.ms-excel; name="{enc_name}"\r\nContent-Transfer-Encoding: base64\r\n\r\nZGF0YQ==\r\n'
    ).encode("ascii")
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    assert decode_text(msg["Subject"]) == "关于报送年报的回复"
    assert part_filename(msg) == name


def test_cli_fetch_reports_and_second_run_is_empty(camp, tmp_path):
    mails, _ = _mails(camp)
    inbox = _write(tmp_path, mails)
    mbox_path = tmp_path / "box"
    mb = mailbox.mbox(str(mbox_path))
    mb.add(client_mail("u1@test.example", "再发一次", [], message_id="<extra@x>"))
    mb.flush()
    mb.close()
    runner = CliRunner()
    r = runner.invoke(app, ["fetch", "--eml", str(inbox), "--mbox", str(mbox_path), "-C", str(camp.root)])
    assert r.exit_code == 0, r.output
    assert "已登记 SLX001 第 1 版" in r.output
    assert "— 无附件" in r.output and "再发一次" in r.output
    assert "情况说明.docx" in r.output
    r2 = runner.invoke(app, ["fetch", str(inbox), "-C", str(camp.root)])
    assert r2.exit_code == 0
    assert "新邮件 0 封，登记报送 0 份" in r2.output and "以前已处理过 5 封" in r2.output
    bad = runner.invoke(app, ["fetch", "--mbox", str(tmp_path / "nope"), "-C", str(camp.root)])
    assert bad.exit_code == 2 and "找不到 mbox 文件" in bad.output
    none = runner.invoke(app, ["fetch", "-C", str(camp.root)])
    assert none.exit_code == 2 and "--eml" in none.output
