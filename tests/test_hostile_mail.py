"""Hostile and unlucky mail (issue 15, items 6 and 9).

Item 6: attachment names too long for a file system once made safe, UTF-7 names and subjects that
decode to a lone surrogate, charsets that are not character sets (``unicode_escape``, ``rot13``,
``base64_codec``, ``zlib_codec``, ``idna``, unknown names) in headers and MIME parts, and a mail the
parser cannot read at all: every mail and every attachment gets a Chinese answer, the good ones are
imported — through .eml files, an mbox and a real IMAP server — and a seeded fuzzer mixes it all.

Item 9: an SMTP server whose refusal echoes the login (user name and password, AUTH PLAIN / LOGIN
base64): the password never reaches ledger.sqlite or the terminal, the reason is still recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from _mail_helpers import XLSX_MIME, free_port, fuzz_mails, fuzz_problems, make_campaign, returned_workbook
from test_mail_imap import PASSWORD as IMAP_PASSWORD
from test_mail_imap import USER as IMAP_USER
from test_mail_imap import _client as imap_client
from test_mail_imap import dovecot  # noqa: F401 - the real IMAP server (a module-scoped fixture)

from gkxlsx.campaign.campaign import CONFIG, DB, Campaign, write_config
from gkxlsx.mail.mail import RawMail, fetch_eml, fetched_log, imap_utf7, process_messages

ROOT = Path(__file__).resolve().parents[1]
LONG_NAME = "长" * 85  # 255 bytes of UTF-8, more than a file name may have with its suffix
LONE = b"+2AA-"  # UTF-7 for U+D800, a lone surrogate


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real command line with a strict UTF-8 stdout: a lone surrogate printed would be an error."""
    e = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8:strict", **(env or {}))
    return subprocess.run([sys.executable, "-m", "gkxlsx", *args], env=e, capture_output=True, timeout=300)


def ok_output(cp: subprocess.CompletedProcess, codes=(0,)) -> str:
    err = cp.stderr.decode("utf-8")
    assert "Traceback" not in err, err
    out = cp.stdout.decode("utf-8")  # strict: valid UTF-8
    assert "Traceback" not in out
    assert cp.returncode in codes, out + err
    return out


def words(text: str | bytes, charset: str) -> str:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def mail(
    sender: str,
    subject: str,
    attachments: list[tuple[str, bytes]],
    message_id: str,
    *,
    from_name: str = "填报人",
    body_charset: str = "utf-8",
) -> bytes:
    """A mail with raw header texts (already encoded as the case wants) and xlsx attachments whose
    Content-Disposition parameters are given as written (``filename=...`` or ``filename*=...``)."""
    b = "==hostile=="
    head = [
        f"From: {from_name} <{sender}>",
        "To: office@test.example",
        f"Subject: {subject}",
        "Date: Tue, 18 Jan 2022 10:30:00 +0800",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{b}"',
        "",
        f"--{b}",
        f'Content-Type: text/plain; charset="{body_charset}"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode("您好，报告见附件。\\ud800".encode()).decode(),
    ]
    for params, data in attachments:
        head += [
            f"--{b}",
            f"Content-Type: {XLSX_MIME}",
            "Content-Transfer-Encoding: base64",
            f"Content-Disposition: attachment; {params}",
            "",
            base64.encodebytes(data).decode().strip(),
        ]
    head.append(f"--{b}--")
    return ("\r\n".join(head) + "\r\n").encode("utf-8", "surrogateescape")


def nested_mail(message_id: str, depth: int = 3000) -> bytes:
    """multipart inside multipart, ``depth`` times: Python's mail parser gives up (RecursionError)."""
    inner = "".join(f'Content-Type: multipart/mixed; boundary="n{i}"\r\n\r\n--n{i}\r\n' for i in range(depth))
    return (
        f"From: u2@test.example\r\nSubject: =?utf-8?B?{base64.b64encode('套娃邮件'.encode()).decode()}?=\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n{inner}Content-Type: text/plain\r\n\r\nhi\r\n"
    ).encode("ascii")


# (id, subject header, attachment name parameters, the subject shown, the name shown, refused charset)
CASES = [
    (
        "long_name_2047",
        words("长名字的附件", "utf-8"),
        'filename="' + words(LONG_NAME + ".xlsx", "utf-8") + '"',
        "长名字的附件",
        LONG_NAME + ".xlsx",
        None,
    ),
    (
        "long_name_2231",
        "long",
        "filename*=utf-8''" + quote(("报" * 300 + ".xlsx").encode(), safe=""),
        "long",
        "报" * 194 + "….xlsx",
        None,
    ),
    (
        "utf7_name",
        "utf7",
        'filename="' + words(LONE + "年报".encode("utf-7") + b".xlsx", "utf-7") + '"',
        "utf7",
        "\ufffd年报.xlsx",
        None,
    ),
    (
        "utf7_name_2231",
        "utf7",
        "filename*=utf-7''" + quote(LONE + "年报.xlsx".encode("utf-7"), safe=""),
        "utf7",
        "\ufffd年报.xlsx",
        None,
    ),
    (
        "utf7_subject",
        words(LONE + "城关镇年报".encode("utf-7"), "utf-7"),
        'filename="a.xlsx"',
        "\ufffd城关镇年报",
        "a.xlsx",
        None,
    ),
    (
        "unicode_escape",
        "=?unicode_escape?Q?=5Cud800=5CN{BOM}?=",
        'filename="=?unicode_escape?Q?=5Cud800=E5=B9=B4=E6=8A=A5?=.xlsx"',
        "\\ud800\\N{BOM}",
        "ud800年报.xlsx",  # the name after the last “\\” (a Windows path as some clients send it)
        "unicode_escape",
    ),
    ("rot13", words("城关镇年报", "rot13"), "filename*=rot13''abc.xlsx", "城关镇年报", "abc.xlsx", "rot13"),
    (
        "base64_codec",
        words("5Z+O5YWz", "base64_codec"),
        'filename="' + words("5Z+O5YWz.xlsx", "base64_codec") + '"',
        "5Z+O5YWz",
        "5Z+O5YWz.xlsx",
        "base64_codec",
    ),
    (
        "zlib_codec",
        words(__import__("zlib").compress("城关镇".encode()), "zlib_codec"),
        'filename="' + words(__import__("zlib").compress(b"abc"), "zlib_codec") + '.xlsx"',
        None,
        None,
        "zlib_codec",
    ),
    ("idna", words(b"xn--a..b." + b"x" * 70, "idna"), "filename*=idna''a..b.xlsx", None, "a..b.xlsx", "idna"),
    (
        "unknown",
        words("城关镇年报", "x-no-such-charset"),
        "filename*=x-no-such-charset''%E5%B9%B4%E6%8A%A5.xlsx",
        "城关镇年报",
        "年报.xlsx",
        "x-no-such-charset",
    ),
]


@pytest.fixture
def camp(tmp_path):
    c = make_campaign(tmp_path, n=3, generate=False)
    yield c
    c.close()


def _assert_printable(rep) -> str:
    text = "\n".join(rep.lines())
    text.encode("utf-8")  # strict: no lone surrogate
    json.dumps([m.summary() for m in rep.mails], ensure_ascii=False).encode("utf-8")
    for ch in text:
        assert ch in "\n" or ch >= " ", repr(text)  # no control character reaches the terminal
    return text


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_mail_is_imported_with_a_clear_answer(camp, tmp_path, case):
    cid, subject, params, shown_subject, shown_name, refused = case
    wb = returned_workbook(camp, "SLX002")
    p = tmp_path / f"{cid}.eml"
    p.write_bytes(mail("u2@test.example", subject, [(params, wb)], f"<{cid}@x>", body_charset=refused or "utf-7"))
    rep = process_messages(camp, fetch_eml([p]))
    (m,) = rep.mails
    assert m.kind == "imported", m
    if shown_subject is not None:
        assert m.subject == shown_subject
    (a,) = m.attachments
    if shown_name is not None:
        assert a.filename == shown_name
    assert a.outcome.kind == "new" and a.outcome.unit_code == "SLX002"
    assert len(a.saved_as.encode("utf-8")) <= 200 and a.saved_as.endswith(".xlsx")
    sub = camp.ledger.current("SLX002")
    assert sub.filename == a.saved_as and Path(sub.archive_path).read_bytes() == wb
    text = _assert_printable(rep)
    assert "u2@test.example" in text and f"{a.filename}：已登记 SLX002 第 1 版" in text
    if refused:
        assert f"字符集“{refused}”不是文字编码" in m.note
    if len(shown_name or "") > 100:
        assert "文件名过长，已缩短保存为" in text
    assert fetched_log(camp)[0]["message_id"] == f"<{cid}@x>"


def _hostile_mails(camp) -> dict[str, tuple[bytes, str | None]]:
    """name -> (mail, the unit whose new version it brings): every case, each with its own workbook."""
    out: dict[str, tuple[bytes, str | None]] = {}
    codes = ["SLX001", "SLX002", "SLX003"]
    for i, (cid, subject, params, *_rest) in enumerate(CASES):
        code = codes[i % 3]
        wb = returned_workbook(camp, code, seed=10 + i)
        sender = camp.unit(code).email
        from_name = words(LONE + "填报人".encode("utf-7"), "utf-7")
        out[cid] = (mail(sender, subject, [(params, wb)], f"<{cid}@x>", from_name=from_name), code)
    return out


def test_cli_eml_folder_of_hostile_mails(camp, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mails = _hostile_mails(camp)
    for cid, (data, _code) in mails.items():
        (inbox / f"{cid}.eml").write_bytes(data)
    (inbox / "zz_nested.eml").write_bytes(nested_mail("<nested@x>"))
    out = ok_output(run_cli("fetch", "--eml", str(inbox), "-C", str(camp.root)))
    assert f"新邮件 {len(mails) + 1} 封，登记报送 {len(mails)} 份" in out
    assert "（文件名过长，已缩短保存为“" in out and "不是文字编码" in out
    # the mail no parser can read: its own line, the others imported
    assert "✗" in out and "这封邮件（文件 zz_nested.eml）无法处理（RecursionError）" in out
    assert "有 1 封邮件未能全部处理" in out
    with Campaign(camp.root) as c:
        n = c.ledger.conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
        assert n == len(mails) and c.ledger.integrity() == []
        names = [r[0] for r in c.ledger.conn.execute("SELECT filename FROM submissions")]
        assert all(len(x.encode("utf-8")) <= 200 for x in names)
    # again: the imported ones are known, the unreadable one is tried (and answered) again
    again = ok_output(run_cli("fetch", "--eml", str(inbox), "-C", str(camp.root), "--json"))
    kinds = {m["message_id"]: m["kind"] for m in json.loads(again)}
    assert kinds.pop("<nested@x>") == "failed" and set(kinds.values()) == {"seen"}


def _mbox(path: Path, mails: list[bytes]) -> Path:
    mb = mailbox.mbox(str(path))
    for m in mails:
        mb.add(m)
    mb.flush()
    mb.close()
    return path


def _good_hostile_good(camp) -> list[bytes]:
    """good (SLX001) / hostile of every kind at once (SLX002) / unreadable / good (SLX003)."""
    hostile = mail(
        "u2@test.example",
        words(LONE + "青石镇".encode("utf-7"), "utf-7"),
        [
            ('filename="' + words(LONG_NAME + ".xlsx", "utf-8") + '"', returned_workbook(camp, "SLX002")),
            ("filename*=rot13''%E5%B9%B4%E6%8A%A5.xlsx", returned_workbook(camp, "SLX002", seed=5)),
        ],
        "<hostile@x>",
        from_name="=?unicode_escape?Q?=5Cud800?=",
        body_charset="zlib_codec",
    )
    return [
        mail("u1@test.example", "城关镇年报", [('filename="good1.xlsx"', returned_workbook(camp, "SLX001"))], "<g1@x>"),
        hostile,
        nested_mail("<nested@x>"),
        mail("u3@test.example", "白河乡年报", [('filename="good3.xlsx"', returned_workbook(camp, "SLX003"))], "<g3@x>"),
    ]


def _check_good_hostile_good(out: str, root: Path, slx001_version: int = 1) -> None:
    assert f"good1.xlsx：已登记 SLX001 第 {slx001_version} 版" in out
    assert "good3.xlsx：已登记 SLX003 第 1 版" in out  # the mail after the hostile ones
    assert "“\ufffd青石镇”" in out and f"{LONG_NAME}.xlsx：已登记 SLX002 第 1 版" in out
    assert "年报.xlsx：已登记 SLX002 第 2 版" in out and "rot13”不是文字编码" in out
    # the unreadable mail: named by its sender and subject (read from its headers alone)
    (line,) = [x for x in out.splitlines() if "“套娃邮件”" in x]
    assert line.startswith("✗") and "u2@test.example（SLX002" in line
    assert "无法处理（RecursionError）" in out
    with Campaign(root) as c:
        assert sorted(c.ledger.currents()) == ["SLX001", "SLX002", "SLX003"]
        assert c.ledger.current("SLX002").version == 2 and c.ledger.integrity() == []


def test_mbox_good_hostile_good_imports_every_good_mail(camp, tmp_path):
    # something stored before: it must survive
    earlier = tmp_path / "earlier.eml"
    earlier.write_bytes(
        mail("u1@test.example", "旧", [('filename="old.xlsx"', returned_workbook(camp, "SLX001", seed=8))], "<old@x>")
    )
    ok_output(run_cli("fetch", str(earlier), "-C", str(camp.root)))
    box = _mbox(tmp_path / "Inbox", _good_hostile_good(camp))
    before = box.read_bytes()
    out = ok_output(run_cli("fetch", "--mbox", str(box), "-C", str(camp.root)))
    _check_good_hostile_good(out, camp.root, slx001_version=2)
    assert "Inbox 第 3 封" in out  # the unreadable mail is named by its place in the mbox
    with Campaign(camp.root) as c:
        versions = sorted((s.unit_code, s.version, s.filename) for s in map(c.ledger.submission, _ids(c)))
    assert ("SLX001", 1, "old.xlsx") in versions and ("SLX001", 2, "good1.xlsx") in versions
    assert box.read_bytes() == before  # the mailbox is untouched
    # a second fetch: nothing new, nothing lost, the unreadable mail answered again
    again = ok_output(run_cli("fetch", "--mbox", str(box), "-C", str(camp.root)))
    assert "登记报送 0 份" in again and "以前已处理过 3 封" in again and "无法处理（RecursionError）" in again


def _ids(c: Campaign) -> list[int]:
    return [r[0] for r in c.ledger.conn.execute("SELECT id FROM submissions ORDER BY id")]


def test_one_unreadable_mail_never_stops_the_next(camp):
    """The library path: a generator of mails (as IMAP gives them) goes on after the bad one."""
    mails = _good_hostile_good(camp)
    rep = process_messages(camp, (RawMail(m, f"第 {i} 封") for i, m in enumerate(mails, 1)))
    assert [m.kind for m in rep.mails] == ["imported", "imported", "failed", "imported"]
    bad = rep.mails[2]
    assert bad.message_id == "<nested@x>" and bad.subject == "套娃邮件" and bad.sender == "u2@test.example"
    assert "第 3 封" in bad.note and "RecursionError" in bad.note
    _assert_printable(rep)
    # a mail the IMAP server would not hand over: answered too, and not remembered as processed
    lost = process_messages(camp, [RawMail(b"", "IMAP 收件箱 UID 9", problem="无法从收件服务器读取这封邮件（NO）")])
    assert [m.kind for m in lost.mails] == ["failed"]
    assert "IMAP 收件箱 UID 9：无法从收件服务器读取这封邮件（NO），其他邮件不受影响" in _assert_printable(lost)
    assert fetched_log(camp) and all(r["kind"] != "failed" for r in fetched_log(camp))


# -- IMAP: the real server --------------------------------------------------------------------------


def test_imap_fetch_good_hostile_good(request, camp, tmp_path):
    port, cafile = request.getfixturevalue("dovecot")
    folder = f"敌意{tmp_path.name[-12:]}"
    M = imap_client(port, cafile)
    try:
        assert M.create('"' + imap_utf7(folder) + '"')[0] == "OK"
        for m in _good_hostile_good(camp):
            assert M.append('"' + imap_utf7(folder) + '"', None, None, m)[0] == "OK"
    finally:
        M.logout()
    cfg = {k: dict(v) for k, v in camp.config.items()}
    cfg["mail"].update(
        imap_host="127.0.0.1",
        imap_port=port,
        imap_folder=folder,
        user=IMAP_USER,
        ca_file=str(cafile),
        password_env="TEST_IMAP_PW",
    )
    camp.close()
    write_config(camp.root / CONFIG, cfg)
    out = ok_output(run_cli("fetch", "--imap", "-C", str(camp.root), env={"TEST_IMAP_PW": IMAP_PASSWORD}))
    _check_good_hostile_good(out, camp.root)
    assert f"IMAP {folder} UID 3" in out
    again = ok_output(run_cli("fetch", "--imap", "-C", str(camp.root), env={"TEST_IMAP_PW": IMAP_PASSWORD}))
    assert "登记报送 0 份" in again and "无法处理（RecursionError）" in again


# -- the fuzzer ------------------------------------------------------------------------------------

FUZZ_SEED = int(os.environ.get("GKXLSX_MAIL_FUZZ_SEED", "20250615"))
FUZZ_N = min(300, int(os.environ.get("GKXLSX_MAIL_FUZZ_N", "150")))  # benchmarks/fuzz_mail.py runs longer


def test_mail_fuzz(camp):
    wbs = {c: [returned_workbook(camp, c, seed=s) for s in (3, 4)] for c in ("SLX001", "SLX002", "SLX003")}
    senders = {c: camp.unit(c).email for c in wbs}
    mails = list(fuzz_mails(FUZZ_SEED, FUZZ_N, wbs, senders))
    rep = process_messages(camp, (RawMail(m.data, f"fuzz {i}") for i, m in enumerate(mails)))
    counts, problems = fuzz_problems(camp, mails, rep)
    assert problems == [], f"seed {FUZZ_SEED}: " + "\n".join(problems[:20])
    assert counts.get("mail imported", 0) > FUZZ_N // 3 and counts.get("attachment quarantine", 0) > 0
    _assert_printable(rep)
    wanted = {hashlib.sha256(wb).hexdigest() for m in mails for _c, wb in m.good}
    assert wanted <= {r[0] for r in camp.ledger.conn.execute("SELECT sha256 FROM submissions")}


# -- item 9: a server that echoes the login ----------------------------------------------------------

SMTP_USER, SMTP_PASSWORD = "office@gov.test", "hunter2-Pa55!"


def secret_forms(user: str, password: str) -> list[bytes]:
    """The password as it must never be stored or printed: in clear, AUTH LOGIN's base64 of it,
    AUTH PLAIN's base64 of ``\\0user\\0password`` (and ``user\\0user\\0password``), with and without
    padding."""
    pw, u = password.encode(), user.encode()
    forms = [pw]
    for blob in (pw, b"\0" + u + b"\0" + pw, u + b"\0" + u + b"\0" + pw):
        enc = base64.b64encode(blob)
        forms += [enc, enc.rstrip(b"=")]
    return forms


def _echo_authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    login, pw = auth_data.login.decode(), auth_data.password.decode()
    plain = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password).decode()
    echo = f"535 5.7.8 auth failed for user {login} password {pw} ({mechanism} {plain} {base64.b64encode(auth_data.password).decode()})"
    return AuthResult(success=False, handled=False, message=echo)


class _EchoRcpt:
    """Accepts the login, then refuses every recipient repeating the login it was given."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        plain = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()).decode()
        return f"550 5.7.1 <{address}> not allowed for {SMTP_USER}:{SMTP_PASSWORD} [{plain}]"


def _smtp_camp(camp: Campaign, port: int) -> Path:
    cfg = {k: dict(v) for k, v in camp.config.items()}
    cfg["mail"].update(
        host="127.0.0.1",
        port=port,
        security="none",
        user=SMTP_USER,
        sender=SMTP_USER,
        rate_per_minute=0,
        password_env="TEST_SMTP_PW",
    )
    camp.close()
    write_config(camp.root / CONFIG, cfg)
    return camp.root


def _no_secret_anywhere(root: Path, *outputs: bytes) -> None:
    forms = secret_forms(SMTP_USER, SMTP_PASSWORD)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == DB for p in files)
    for p in files:  # ledger.sqlite (and any journal) read raw, every other file of the campaign too
        data = p.read_bytes()
        for f in forms:
            assert f not in data, f"{f!r} in {p}"
    for out in outputs:
        for f in forms:
            assert f not in out, f"{f!r} in the output"


@pytest.mark.parametrize("refusal", ["login", "recipient"])
def test_smtp_refusal_echoing_the_password_is_redacted(camp, refusal):
    if os.environ.get("CI") != "true":
        pytest.importorskip("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def accept(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=True)

    port = free_port()
    handler = _EchoRcpt() if refusal == "recipient" else object()
    auth = accept if refusal == "recipient" else _echo_authenticator
    ctl = Controller(handler, hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False)
    ctl.start()
    try:
        root = _smtp_camp(camp, port)
        cp = run_cli("mail", "send", "--only", "SLX001", "-C", str(root), env={"TEST_SMTP_PW": SMTP_PASSWORD})
    finally:
        ctl.stop()
    out = ok_output(cp, codes=(1,))
    _no_secret_anywhere(root, cp.stdout, cp.stderr)
    assert "〔已隐去〕" in out
    with Campaign(root) as c:
        (row,) = [r for r in c.ledger.conn.execute("SELECT status, error FROM mail_log")]
    assert row["status"] == "failed" and "〔已隐去〕" in row["error"]
    if refusal == "login":  # the reason, in Chinese, with what the server said otherwise
        assert "登录邮件服务器" in row["error"] and "授权码" in row["error"] and "535" in row["error"]
        assert f"user {SMTP_USER}" in row["error"]
    else:
        assert row["error"].startswith("服务器拒绝（550 5.7.1") and "not allowed" in row["error"]
    assert len(row["error"]) < 600  # a server's text is bounded
