"""Sending mail against a real SMTP server on loopback (aiosmtpd, started by the test)."""

from __future__ import annotations

import io
import os
import re
import ssl
from contextlib import contextmanager
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

import pytest
from _mail_helpers import free_port, make_campaign, self_signed_cert
from typer.testing import CliRunner

try:
    import aiosmtpd  # noqa: F401
except ImportError:  # pragma: no cover
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("aiosmtpd is not installed (pip install aiosmtpd)", allow_module_level=True)
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult  # noqa: E402

from gkxlsx.campaign.campaign import CONFIG, Campaign, write_config  # noqa: E402
from gkxlsx.campaign.ledger import NewSubmission, Received  # noqa: E402
from gkxlsx.cli import app  # noqa: E402
from gkxlsx.form.identity import workbook_filename  # noqa: E402
from gkxlsx.mail.mail import (  # noqa: E402
    MailError,
    MailSettings,
    compose_feedback,
    compose_remind,
    compose_send,
    get_password,
    mail_log,
    part_filename,
    send_and_record,
    send_messages,
)

SENDER = "office@gov.test"


class Recorder:
    """An aiosmtpd handler that keeps every message and can refuse or greylist addresses."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.tempfail: dict[str, int] = {}
        self.rcpt_attempts: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        self.rcpt_attempts.append(a)
        if a in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if self.tempfail.get(a, 0) > 0:
            self.tempfail[a] -= 1
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        )
        return "250 2.0.0 Ok: queued"

    def parsed(self):
        return [(frm, to, BytesParser(policy=policy.default).parsebytes(raw), raw) for frm, to, raw in self.messages]


@contextmanager
def smtp_server(handler, **kw):
    port = free_port()
    c = Controller(handler, hostname="127.0.0.1", port=port, **kw)
    c.start()
    try:
        yield port
    finally:
        c.stop()


def configure(camp: Campaign, **mail) -> Campaign:
    """Rewrite the [mail] table of campaign.toml and reopen the campaign."""
    cfg = {k: dict(v) for k, v in camp.config.items()}
    cfg["mail"].update(mail)
    root = camp.root
    camp.close()
    write_config(root / CONFIG, cfg)
    return Campaign(root)


@pytest.fixture
def camp(tmp_path):
    c = make_campaign(tmp_path, emails={"SLX004": "u4a@test.example; U4B@test.example"})
    c = configure(
        c, host="127.0.0.1", security="none", user="", sender=SENDER, sender_name="示例县政务公开办", rate_per_minute=0
    )
    yield c
    c.close()


def no_sleep(_s):
    pass


def _attachments(msg):
    return [p for p in msg.walk() if not p.is_multipart() and p.get_content_disposition() == "attachment"]


def _header(raw_part_header: str, name: str) -> str:
    """One header of a raw header block, unfolded."""
    unfolded = re.sub(r"\r\n[ \t]", " ", raw_part_header)
    (line,) = [x for x in unfolded.split("\r\n") if x.lower().startswith(name.lower() + ":")]
    return line


def _legacy_name(raw_part_header: str, param: str) -> str:
    """Decode only the legacy ``param="=?..?= =?..?="`` form (what Foxmail/QQ/Outlook read)."""
    h = _header(raw_part_header, "Content-Type" if param == "name" else "Content-Disposition")
    m = re.search(r"[; ]" + param + r'="([^"]*)"', h)
    assert m, f"no legacy {param}= parameter in {raw_part_header!r}"
    return str(make_header(decode_header(m.group(1))))


def _rfc2231_name(raw_part_header: str) -> str:
    """Decode only the RFC 2231 ``filename*0*=utf-8''..;filename*1*=..`` continuations."""
    from urllib.parse import unquote

    h = _header(raw_part_header, "Content-Disposition")
    pieces = sorted((int(n or 0), v) for n, v in re.findall(r"filename\*(?:(\d+)\*)?=([^;\s]+)", h))
    assert pieces, f"no RFC 2231 filename* in {raw_part_header!r}"
    joined = "".join(v for _, v in pieces)
    charset, _lang, value = joined.split("'", 2)
    assert charset.lower() == "utf-8"
    return unquote(value, encoding="utf-8")


def _part_headers(raw: bytes) -> list[str]:
    """The raw header blocks of the attachment parts, exactly as they travelled."""
    text = raw.decode("ascii")
    blocks = [b.split("\r\n\r\n", 1)[0] for b in re.split(r"\r\n--=+\d+==\r\n", text)]
    return [b for b in blocks if "Content-Disposition: attachment" in b]


def test_every_unit_receives_its_own_workbook_intact(camp):
    handler = Recorder()
    mails, skipped = compose_send(camp)
    assert skipped == [] and len(mails) == 4 and not any(m.problem for m in mails)
    settings = MailSettings.from_config(camp.mail_config)
    with smtp_server(handler) as port:
        settings.port = port
        results = send_and_record(camp, mails, settings, None, sleep=no_sleep)
    assert all(d.ok for d in results), [d.failed for d in results]
    got = handler.parsed()
    assert len(got) == 4
    by_id = {str(m["Message-ID"]): (frm, to, m, raw) for frm, to, m, raw in got}
    log = mail_log(camp)
    for u in camp.units():
        rows = [r for r in log if r["unit_code"] == u.code]
        assert rows and all(r["status"] == "sent" and r["kind"] == "send" for r in rows)
        frm, to, msg, raw = by_id[rows[0]["message_id"]]  # the ledger's Message-ID is the one received
        assert frm == SENDER
        expected_to = [a.strip() for a in u.email.split(";")]
        assert sorted(a.lower() for a in to) == sorted(a.lower() for a in expected_to)
        # the subject arrives RFC 2047-encoded and decodes to the Chinese text
        assert raw.isascii() and re.search(rb"^Subject: =\?utf-8\?b\?", raw, re.M)
        assert str(msg["Subject"]) == f"【请填报】{u.name}2021年政府信息公开工作年度报告"
        assert msg["From"].addresses[0].display_name == "示例县政务公开办"
        body = msg.get_body(("plain",)).get_content()
        assert u.name in body and "2022年1月31日" in body
        (att,) = _attachments(msg)
        name = workbook_filename(u, 2021)
        assert att.get_filename() == name  # modern parser (RFC 2231 preferred)
        assert att.get_content() == (camp.path("templates") / name).read_bytes()
        (hdr,) = _part_headers(raw)
        assert _rfc2231_name(hdr) == name  # Thunderbird / Gmail / Apple Mail
        assert _legacy_name(hdr, "filename") == name  # Outlook
        assert _legacy_name(hdr, "name") == name  # Foxmail, QQ 邮箱, 163 邮箱
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert {r["message_id"] for r in log} == set(by_id)


def test_refused_recipient_is_reported_and_the_rest_still_go_out(camp):
    handler = Recorder()
    handler.refuse = {"u2@test.example", "u4b@test.example"}
    mails, _ = compose_send(camp)
    settings = MailSettings.from_config(camp.mail_config)
    with smtp_server(handler) as port:
        settings.port = port
        results = send_and_record(camp, mails, settings, None, sleep=no_sleep)
    res = {d.mail.unit.code: d for d in results}
    assert "u2@test.example" in res["SLX002"].failed and not res["SLX002"].sent
    assert (
        "550" in res["SLX002"].failed["u2@test.example"] and "User unknown" in res["SLX002"].failed["u2@test.example"]
    )
    # a unit with two addresses: the good one still receives it
    assert res["SLX004"].sent == ["u4a@test.example"] and "U4B@test.example" in res["SLX004"].failed
    assert res["SLX001"].ok and res["SLX003"].ok
    delivered = sorted(a.lower() for _, to, _ in handler.messages for a in to)
    assert delivered == ["u1@test.example", "u3@test.example", "u4a@test.example"]
    failed_rows = [(r["unit_code"], r["address"]) for r in mail_log(camp) if r["status"] == "failed"]
    assert sorted(failed_rows) == [("SLX002", "u2@test.example"), ("SLX004", "U4B@test.example")]
    assert all("550" in r["error"] for r in mail_log(camp) if r["status"] == "failed")


def test_cli_reports_failed_addresses_with_reasons_and_skips_already_sent(camp, tmp_path):
    handler = Recorder()
    handler.refuse = {"u3@test.example"}
    runner = CliRunner()
    with smtp_server(handler) as port:
        c = configure(camp, port=port)
        c.close()
        r = runner.invoke(app, ["mail", "send", "-C", str(camp.root)])
        assert r.exit_code == 1, r.output  # some failed
        assert "已发送 3 封，失败 1 个地址" in r.output
        assert re.search(r"✗ SLX003 示例县白河乡人民政府\s+u3@test\.example：服务器拒绝（550", r.output), r.output
        # a second run sends only to the unit that failed; the server now accepts it
        handler.refuse = set()
        r2 = runner.invoke(app, ["mail", "send", "-C", str(camp.root)])
        assert r2.exit_code == 0, r2.output
        assert "跳过" in r2.output and "已发送 1 封，失败 0 个地址" in r2.output
    assert sorted(a for _, to, _ in handler.messages for a in to).count("u3@test.example") == 1
    assert len(handler.messages) == 4  # SLX004 gets one message for its two addresses


def test_temporary_failure_is_retried_with_backoff(camp):
    handler = Recorder()
    handler.tempfail = {"u1@test.example": 1}  # greylisting: 451 the first time
    mails, _ = compose_send(camp, only=["SLX001", "SLX002"])
    settings = MailSettings.from_config(camp.mail_config)
    sleeps: list[float] = []
    with smtp_server(handler) as port:
        settings.port = port
        results = send_messages(mails, settings, None, sleep=sleeps.append, backoff=1.5)
    assert [d.ok for d in results] == [True, True]
    assert results[0].attempts == 2 and results[1].attempts == 1
    assert sleeps == [1.5]
    assert handler.rcpt_attempts.count("u1@test.example") == 2
    assert sum(1 for _, to, _ in handler.messages if to == ["u1@test.example"]) == 1  # delivered once


def test_persistent_temporary_failure_gives_up_after_retries(camp):
    handler = Recorder()
    handler.tempfail = {"u1@test.example": 99}
    mails, _ = compose_send(camp, only=["SLX001"])
    settings = MailSettings.from_config(camp.mail_config)
    sleeps: list[float] = []
    with smtp_server(handler) as port:
        settings.port = port
        (d,) = send_messages(mails, settings, None, sleep=sleeps.append, max_retries=3, backoff=2)
    assert sleeps == [2, 4, 8]
    assert "451" in d.failed["u1@test.example"] and "已重试 3 次" in d.failed["u1@test.example"]
    assert handler.messages == []


def test_rate_limit_spaces_messages(camp):
    handler = Recorder()
    mails, _ = compose_send(camp)
    settings = MailSettings.from_config(camp.mail_config)
    settings.rate_per_minute = 20  # one every 3 s
    now = [1000.0]
    sleeps: list[float] = []

    def sleep(s):
        sleeps.append(round(s, 6))
        now[0] += s

    with smtp_server(handler) as port:
        settings.port = port
        results = send_messages(mails, settings, None, sleep=sleep, clock=lambda: now[0])
    assert all(d.ok for d in results) and len(handler.messages) == 4
    assert sleeps == [3.0, 3.0, 3.0]


def test_server_down_fails_every_mail_without_stopping(camp):
    mails, _ = compose_send(camp)
    settings = MailSettings.from_config(camp.mail_config)
    settings.port = free_port()  # nothing listens there
    sleeps: list[float] = []
    results = send_messages(mails, settings, None, sleep=sleeps.append, max_retries=2, backoff=1)
    assert len(results) == 4 and not any(d.sent for d in results)
    assert all("无法连接邮件服务器" in r for d in results for r in d.failed.values())
    assert sleeps == [1, 2]  # retried for the first mail only, then the rest fail at once


def test_dry_run_writes_eml_files_that_parse_back(camp):
    r = CliRunner().invoke(app, ["mail", "send", "--dry-run", "-C", str(camp.root)])
    assert r.exit_code == 0, r.output
    files = sorted(camp.path("outbox").rglob("*.eml"))
    assert len(files) == 4 and "未发送" in r.output
    for f, u in zip(files, camp.units()):
        raw = f.read_bytes()
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert f.name.startswith(u.code)
        assert str(msg["Subject"]) == f"【请填报】{u.name}2021年政府信息公开工作年度报告"
        (att,) = _attachments(msg)
        assert att.get_filename() == workbook_filename(u, 2021)
        assert att.get_content() == (camp.path("templates") / workbook_filename(u, 2021)).read_bytes()
        legacy = BytesParser(policy=policy.compat32).parsebytes(raw)
        assert [part_filename(p) for p in legacy.walk() if p.get_filename()] == [workbook_filename(u, 2021)]
    assert mail_log(camp) == []  # nothing recorded as sent


def test_templates_can_be_overridden(camp, tmp_path):
    tdir = tmp_path / "my_templates"
    tdir.mkdir()
    (tdir / "mail_send.subject.j2").write_text("请{{ unit.name }}于{{ deadline }}前报送", encoding="utf-8")
    mails, _ = compose_send(camp, only=["SLX002"], templates=tdir)
    assert mails[0].subject == "请示例县青石镇人民政府于2022年1月31日前报送"
    assert "填报说明" in mails[0].message.get_body(("plain",)).get_content()  # shipped body still used
    (tdir / "mail_send.subject.j2").write_text("{{ unit.nonexistent }", encoding="utf-8")
    with pytest.raises(MailError, match="mail_send.subject.j2"):
        compose_send(camp, only=["SLX002"], templates=tdir)


def test_unit_without_address_is_reported_not_sent(tmp_path):
    c = make_campaign(tmp_path, emails={"SLX002": ""}, n=2)
    c = configure(c, host="127.0.0.1", security="none", sender=SENDER, rate_per_minute=0)
    handler = Recorder()
    mails, _ = compose_send(c)
    settings = MailSettings.from_config(c.mail_config)
    with smtp_server(handler) as port:
        settings.port = port
        results = send_messages(mails, settings, None, sleep=no_sleep)
    c.close()
    assert results[0].ok and len(handler.messages) == 1
    assert results[1].failed == {"": "名单中没有该单位的邮箱，未发送"}


# -- TLS and login -----------------------------------------------------------------------------


def _tls(tmp_path):
    pair = self_signed_cert(tmp_path)
    if pair is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cannot make a test certificate: neither the cryptography package nor openssl is available")
        pytest.skip("neither the cryptography package nor openssl is available")
    cert, key = pair
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return cert, ctx


def _auth(logins):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"office", b"s3cret")
        logins.append((mechanism, auth_data.login, ok))
        return AuthResult(success=ok, handled=False)

    return authenticator


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: the session is encrypted
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_login_and_password_from_environment(camp, tmp_path, security):
    cert, server_ctx = _tls(tmp_path)
    handler = Recorder()
    logins: list = []
    kw = dict(authenticator=_auth(logins), auth_required=True)
    if security == "ssl":
        kw["ssl_context"] = server_ctx
        kw["auth_require_tls"] = False  # the whole session is TLS already
    else:
        kw.update(tls_context=server_ctx, require_starttls=True)
    with smtp_server(handler, **kw) as port:
        c = configure(camp, port=port, security=security, user="office", ca_file=str(cert), password_env="TEST_SMTP_PW")
        c.close()
        runner = CliRunner()
        r = runner.invoke(
            app, ["mail", "send", "--only", "SLX001,SLX003", "-C", str(camp.root)], env={"TEST_SMTP_PW": "s3cret"}
        )
        assert r.exit_code == 0, r.output
        assert "已发送 2 封，失败 0 个地址" in r.output
        bad = runner.invoke(
            app, ["mail", "send", "--only", "SLX002", "-C", str(camp.root)], env={"TEST_SMTP_PW": "wrong"}
        )
    assert bad.exit_code == 1
    assert "登录邮件服务器" in bad.output and "授权码" in bad.output
    assert len(handler.messages) == 2
    oks = [ok for _m, _l, ok in logins]
    assert oks[0] is True and len(oks) >= 2 and not any(oks[1:])  # smtplib tries each mechanism once
    assert "s3cret" not in (camp.root / CONFIG).read_text(encoding="utf-8")


def test_untrusted_certificate_is_refused_clearly(camp, tmp_path):
    _cert, server_ctx = _tls(tmp_path)
    handler = Recorder()
    with smtp_server(handler, ssl_context=server_ctx) as port:
        mails, _ = compose_send(camp, only=["SLX001", "SLX002"])
        settings = MailSettings.from_config({**camp.mail_config, "port": port, "security": "ssl"})
        results = send_messages(mails, settings, None, sleep=no_sleep)
    assert handler.messages == []
    assert all("证书无法验证" in r and "ca_file" in r for d in results for r in d.failed.values())


def test_password_only_from_environment_or_prompt():
    s = MailSettings(user="office@gov.test", password_env="MY_PW")
    assert get_password(s, env={"MY_PW": "abc"}, interactive=False) == "abc"
    asked = []
    assert get_password(s, env={}, interactive=True, prompt=lambda p: asked.append(p) or "typed") == "typed"
    assert "office@gov.test" in asked[0]
    with pytest.raises(MailError, match="环境变量 MY_PW"):
        get_password(s, env={}, interactive=False)


def test_send_refuses_without_server_settings(tmp_path):
    c = make_campaign(tmp_path, n=1)
    c.close()
    r = CliRunner().invoke(app, ["mail", "send", "-C", str(c.root)])
    assert r.exit_code == 2
    assert "host" in r.output and "--dry-run" in r.output
    assert "Traceback" not in r.output


# -- reminders and feedback ---------------------------------------------------------------------


def _record(camp, code, values, findings, version_status):
    """Record a return in the ledger directly (what the importer does after checking)."""
    import json

    blob = json.dumps([code, findings], ensure_ascii=False, default=str).encode()
    p = camp.root / f"{code}.xlsx"
    p.write_bytes(blob)
    sha, arch = camp.ledger.archive(p)
    return camp.ledger.record(
        NewSubmission(
            Received(sha=sha, archive_path=arch, filename=p.name, source="邮件", received_at="2022-01-10T09:00:00"),
            unit_code=code,
            application="WPS",
            format="2021",
            year=2021,
            status=version_status,
            findings=findings,
            values=values,
        )
    )


def _bad_return(camp, code):
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.rules.evaluate import check

    u = camp.unit(code)
    v = sample_values(camp.form, u.name, u.type, 2021, seed=5)
    v["s3.new.natural"] = (v.get("s3.new.natural") or 0) + 7  # rows no longer balance
    findings = [f.to_dict() for f in check(camp.form, v, unit=camp.form.unit_type(u.type))]
    assert any(f["severity"] == "error" for f in findings)
    return v, findings


def test_remind_goes_to_missing_and_failing_units_with_what_is_wrong(camp):
    from gkxlsx.demo.samples import sample_values

    good = sample_values(camp.form, "x", "乡镇", 2021, seed=1)
    _record(camp, "SLX001", good, [], "通过")
    v, findings = _bad_return(camp, "SLX002")
    _record(camp, "SLX002", v, findings, "有错误")
    handler = Recorder()
    mails = compose_remind(camp)
    assert sorted(m.unit.code for m in mails) == ["SLX002", "SLX003", "SLX004"]
    settings = MailSettings.from_config(camp.mail_config)
    with smtp_server(handler) as port:
        settings.port = port
        results = send_and_record(camp, mails, settings, None, sleep=no_sleep)
    assert all(d.ok for d in results)
    got = {str(m["Subject"]): m for _, _, m, _ in handler.parsed()}
    s2 = got["【请修改后重新报送】示例县青石镇人民政府2021年政府信息公开工作年度报告"]
    body = s2.get_body(("plain",)).get_content()
    first_error = next(f for f in findings if f["severity"] == "error")
    assert first_error["message"] in body and "第 1 版" in body
    s3 = got["【催报】示例县白河乡人民政府2021年政府信息公开工作年度报告"]
    assert "尚未收到" in s3.get_body(("plain",)).get_content()
    (att,) = _attachments(s3)
    assert att.get_filename() == workbook_filename(camp.unit("SLX003"), 2021)
    assert {r["kind"] for r in mail_log(camp)} == {"remind"}


def test_feedback_lists_findings_and_attaches_marked_workbook(camp):
    import openpyxl

    from gkxlsx.form.layout import layout

    v, findings = _bad_return(camp, "SLX003")
    _record(camp, "SLX003", v, findings, "有错误")
    mails = compose_feedback(camp)
    assert [m.unit.code for m in mails] == ["SLX003"]
    handler = Recorder()
    settings = MailSettings.from_config(camp.mail_config)
    with smtp_server(handler) as port:
        settings.port = port
        (d,) = send_and_record(camp, mails, settings, None, sleep=no_sleep)
    assert d.ok
    (_, to, msg, raw) = handler.parsed()[0]
    assert to == ["u3@test.example"]
    n_err = sum(f["severity"] == "error" for f in findings)
    assert str(msg["Subject"]).startswith(
        f"【退回修改】示例县白河乡人民政府2021年政府信息公开工作年度报告（第1版：{n_err}处错误"
    )
    body = msg.get_body(("plain",)).get_content()
    for f in findings:
        if f["severity"] in ("error", "warning"):
            assert f["message"] in body
    (att,) = _attachments(msg)
    assert "修改意见" in att.get_filename()
    data = att.get_content()
    assert data == (camp.path("feedback") / att.get_filename()).read_bytes()
    wb = openpyxl.load_workbook(io.BytesIO(data))
    lay = layout(camp.form)
    err = next(f for f in findings if f["severity"] == "error")
    entry_keys = [k for k in err["keys"] if k in camp.form.entry_keys]
    assert entry_keys
    sheet, row, col = lay.where[entry_keys[0]]
    cell = wb[sheet].cell(row=row + 1, column=col + 1)
    assert cell.comment is not None and err["message"] in cell.comment.text
    assert cell.value == v[entry_keys[0]]  # the unit's own figure is prefilled


def test_bad_input_gives_clear_messages(camp):
    runner = CliRunner()
    r = runner.invoke(app, ["mail", "send", "--only", "SLX999", "--dry-run", "-C", str(camp.root)])
    assert r.exit_code == 2 and "SLX999" in r.output and "Traceback" not in r.output
    c = configure(camp, security="tls1.3", port="abc")
    c.close()
    r = runner.invoke(app, ["mail", "remind", "--dry-run", "-C", str(camp.root)])
    assert r.exit_code == 2 and "security" in r.output and "port" in r.output
    c = configure(Campaign(camp.root), security="ssl", port=465, ca_file=str(camp.root / "missing.pem"))
    mails, _ = compose_send(c, only=["SLX001"])
    (d,) = send_messages(mails, MailSettings.from_config(c.mail_config), None, sleep=no_sleep)
    c.close()
    assert "missing.pem" in d.failed["u1@test.example"]
