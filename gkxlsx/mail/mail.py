"""Mail: send each unit its workbook, reminders and feedback; take returns from the mailbox.

Sending::

    compose_send / compose_remind / compose_feedback ──► [Outgoing] ──► send_messages (SMTP)
                                                               └──────► write_outbox (.eml, --dry-run)

Every message is built with :class:`email.message.EmailMessage` and flattened once to bytes
(CRLF, 7-bit): the subject as RFC 2047 encoded words, the body as UTF-8 base64, and each
attachment named twice — RFC 2231 ``filename*`` (with continuations; Thunderbird, Gmail, Apple
Mail) and the legacy RFC 2047-in-quotes ``name=``/``filename=`` that Outlook, Foxmail, QQ 邮箱 and
163 邮箱 read.  :func:`send_messages` reuses one SMTP connection (SSL, STARTTLS or plain), keeps
to the rate limit, retries temporary failures (4xx, dropped connections) with exponential
backoff, and records per-recipient refusals without stopping the batch.

Fetching::

    fetch_eml(paths) / fetch_mbox(path) / fetch_imap(...) ──► [RawMail] ──► process_messages(camp)

The sender is matched to the roster (case-insensitive; an unknown sender is still imported — the
checker identifies the unit from the workbook), spreadsheet attachments are saved under their
decoded names and handed to :func:`gkxlsx.campaign.campaign.import_files`, processed Message-IDs are
remembered in the ledger table ``fetched``, and nothing is ever deleted: IMAP folders are opened
read-only (EXAMINE) and read with ``BODY.PEEK`` so not even the \\Seen flag changes.
"""

from __future__ import annotations

import base64
import codecs
import getpass
import hashlib
import imaplib
import json
import mailbox
import os
import re
import smtplib
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email import policy as email_policy
from email.header import Header, decode_header
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gkxlsx.campaign.campaign import Campaign, ImportOutcome, import_files
from gkxlsx.campaign.ledger import ACCEPTED_STATUSES, STATUS_ERR, Submission
from gkxlsx.clock import shown, stamp
from gkxlsx.filekinds import SPREADSHEET_SUFFIXES
from gkxlsx.findings import SEVERITY_ZH
from gkxlsx.form.identity import MAX_NAME_BYTES, fit_bytes, safe_filename, unit_filename, workbook_filename
from gkxlsx.form.roster import Unit


class _Policy(email_policy.EmailPolicy):
    """policy.SMTP, except that header values stored raw (``set_raw``, pre-folded ASCII: the
    attachment names and the subject, whose encoding we control exactly) are written verbatim."""

    def fold(self, name, value):
        if type(value) is str:
            return name + ": " + self.linesep.join(value.splitlines()) + self.linesep
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if type(value) is str:
            return self.fold(name, value).encode("ascii", "surrogateescape")
        return super().fold_binary(name, value)


SMTP_POLICY = _Policy(linesep="\r\n")  # CRLF, 7-bit headers, 78 columns
DEFAULT_PASSWORD_ENV = "GKXLSX_SMTP_PASSWORD"
KINDS = {"send": "填报通知", "remind": "催报", "feedback": "退回修改"}
SPREADSHEET_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": ".xlsm",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/wps-office.et": ".et",
    "application/kset": ".et",
}
MIME_OF_SUFFIX = {v: k for k, v in reversed(list(SPREADSHEET_TYPES.items()))}


class MailError(RuntimeError):
    """A mail operation cannot be done; the message is Chinese and says what to do."""


# --------------------------------------------------------------------------------------------
# settings and password


@dataclass
class MailSettings:
    host: str = ""
    port: int = 465
    security: str = "ssl"  # ssl | starttls | none
    user: str = ""
    sender: str = ""
    sender_name: str = ""
    password_env: str = DEFAULT_PASSWORD_ENV
    rate_per_minute: float = 30
    imap_host: str = ""
    imap_port: int = 993
    imap_folder: str = "INBOX"
    imap_user: str = ""
    ca_file: str = ""  # extra CA certificate (PEM) to trust, e.g. an internal server's own certificate
    templates: str = ""  # folder of mail templates overriding the shipped ones
    timeout: float = 30

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> MailSettings:
        s = cls()
        problems = []
        for k in (
            "host",
            "security",
            "user",
            "sender",
            "sender_name",
            "password_env",
            "imap_host",
            "imap_folder",
            "imap_user",
            "ca_file",
            "templates",
        ):
            if cfg.get(k) is not None:
                setattr(s, k, str(cfg[k]).strip())
        for k, typ in (("port", int), ("imap_port", int), ("rate_per_minute", float), ("timeout", float)):
            if cfg.get(k) not in (None, ""):
                try:
                    setattr(s, k, typ(cfg[k]))
                except (TypeError, ValueError):
                    problems.append(f"[mail] {k} 应为数字，现在是“{cfg[k]}”")
        s.security = (s.security or "ssl").lower()
        if s.security not in ("ssl", "starttls", "none"):
            problems.append(f"[mail] security 只能是 ssl、starttls 或 none，现在是“{s.security}”")
        s.password_env = s.password_env or DEFAULT_PASSWORD_ENV
        s.imap_folder = s.imap_folder or "INBOX"
        if problems:
            raise MailError("campaign.toml 的邮件设置有误：" + "；".join(problems) + "。")
        return s

    def require_smtp(self) -> None:
        missing = [k for k in ("host", "sender") if not getattr(self, k)]
        if missing:
            raise MailError(
                "campaign.toml 的 [mail] 中还没有填写 "
                + "、".join(missing)
                + "（SMTP 服务器和发件人邮箱）。请用记事本打开 campaign.toml 填写后再发送；只想预览邮件可加 --dry-run。"
            )
        if not valid_address(self.sender):
            raise MailError(f"[mail] sender 发件人邮箱“{self.sender}”格式不正确。")

    def require_imap(self) -> None:
        if not self.imap_host:
            raise MailError("campaign.toml 的 [mail] 中还没有填写 imap_host（收件 IMAP 服务器，如 imap.qq.com）。")
        if not (self.imap_user or self.user):
            raise MailError("campaign.toml 的 [mail] 中还没有填写 user（邮箱登录用户名）。")

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.ca_file:
            try:
                ctx.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as e:
                raise MailError(f"无法读取 [mail] ca_file 指定的证书文件 {self.ca_file}：{e}") from None
        return ctx


def mail_settings(camp: Campaign) -> MailSettings:
    return MailSettings.from_config(camp.mail_config)


def get_password(
    settings: MailSettings,
    *,
    env: Mapping[str, str] | None = None,
    interactive: bool | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
    what: str = "邮箱",
) -> str:
    """The password: from the environment variable named by ``password_env``, else an interactive
    prompt when stdin is a terminal, else a MailError saying how to provide it.  Never from a file."""
    env = os.environ if env is None else env
    name = settings.password_env or DEFAULT_PASSWORD_ENV
    pw = env.get(name)
    if pw:
        return pw
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if interactive:
        pw = prompt(
            f"请输入{what} {settings.imap_user or settings.user or settings.sender} 的密码（或授权码，输入时不显示）："
        )
        if pw:
            return pw
    raise MailError(
        f"没有邮箱密码：请先设置环境变量 {name}（例如 export {name}=授权码；Windows 用 set {name}=授权码），"
        "或在终端中运行以便输入密码。密码不会也不应写在配置文件中。"
    )


_ADDR = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")


def valid_address(a: str) -> bool:
    return bool(_ADDR.match(a or ""))


def split_addresses(text: str | None) -> list[str]:
    """A roster cell may hold several addresses separated by ; , ；，or spaces."""
    out: list[str] = []
    for a in re.split(r"[;,；，\s]+", text or ""):
        a = a.strip().strip("<>")
        if a and a.lower() not in (x.lower() for x in out):
            out.append(a)
    return out


# --------------------------------------------------------------------------------------------
# building messages


def _encoded_words(text: str, width: int = 64, header_name: str | None = None) -> list[str]:
    """``text`` as RFC 2047 base64 encoded words (each line at most ``width`` columns), split on
    character boundaries (never inside a UTF-8 sequence)."""
    if text.isascii():
        return [text]
    enc = Header(text, "utf-8", header_name=header_name).encode(maxlinelen=width, linesep="\n")
    return [w.strip() for w in enc.split("\n") if w.strip()]


def _legacy_param(name: str, value: str) -> str:
    """A ``name="=?utf-8?b?...?= =?utf-8?b?...?="`` parameter, folded between encoded words."""
    words = _encoded_words(value.replace('"', "'"))
    return f'{name}="' + "\r\n ".join(words) + '"'


def _rfc2231_params(name: str, value: str, width: int = 70) -> list[str]:
    """RFC 2231 ``name*0*=utf-8''%E4..; name*1*=%..`` continuations of at most ``width`` columns."""
    if value.isascii() and '"' not in value and "\\" not in value:
        return [f'{name}="{value}"']
    enc = quote(value.encode("utf-8"), safe="")
    chunks: list[str] = []
    cur = "utf-8''"
    i = 0
    while i < len(enc):
        tok = enc[i : i + 3] if enc[i] == "%" else enc[i]
        if len(cur) + len(tok) > width - len(name) - 6 and cur not in ("", "utf-8''"):
            chunks.append(cur)
            cur = ""
        cur += tok
        i += len(tok)
    chunks.append(cur)
    if len(chunks) == 1:
        return [f"{name}*={chunks[0]}"]
    return [f"{name}*{n}*={c}" for n, c in enumerate(chunks)]


def attachment_part(filename: str, data: bytes, mime_type: str | None = None) -> MIMEPart:
    """One attachment with both the RFC 2231 and the legacy RFC 2047 file name."""
    if mime_type is None:
        mime_type = MIME_OF_SUFFIX.get(Path(filename).suffix.lower(), "application/octet-stream")
    maintype, subtype = mime_type.split("/", 1)
    part = MIMEPart(policy=SMTP_POLICY)
    part.set_content(data, maintype=maintype, subtype=subtype, cte="base64")
    for h in ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding"):
        del part[h]
    if filename.isascii() and '"' not in filename:
        part.set_raw("Content-Type", f'{mime_type};\r\n name="{filename}"')
        part.set_raw("Content-Disposition", f'attachment;\r\n filename="{filename}"')
    else:
        part.set_raw("Content-Type", f"{mime_type};\r\n " + _legacy_param("name", filename))
        part.set_raw(
            "Content-Disposition",
            "attachment;\r\n "
            + ";\r\n ".join([_legacy_param("filename", filename), *_rfc2231_params("filename", filename)]),
        )
    part.set_raw("Content-Transfer-Encoding", "base64")
    return part


def build_message(
    *,
    sender: str,
    sender_name: str = "",
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[tuple[str, bytes]] = (),
    reply_to: str = "",
    when: datetime | None = None,
) -> EmailMessage:
    """A complete message: From/To/Subject/Date/Message-ID, a UTF-8 text body and attachments."""
    msg = EmailMessage(policy=SMTP_POLICY)
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else None
    msg["From"] = Address(display_name=sender_name or "", addr_spec=sender)
    msg["To"] = ", ".join(to)
    subject = " ".join(subject.split())
    msg.set_raw("Subject", "\r\n ".join(_encoded_words(subject, 76, "Subject")) if not subject.isascii() else subject)
    msg["Date"] = formatdate(when.timestamp() if when else None, localtime=True)
    msg["Message-ID"] = make_msgid(idstring="gkxlsx", domain=domain)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["X-Mailer"] = "gkxlsx"
    msg.set_content(body, subtype="plain", charset="utf-8", cte="base64")
    if attachments:
        msg.make_mixed()
        for name, data in attachments:
            msg.attach(attachment_part(name, data))  # type: ignore[arg-type]  # typeshed: EmailMessage only
    return msg


def message_bytes(msg: Message) -> bytes:
    return msg.as_bytes(policy=SMTP_POLICY)


# --------------------------------------------------------------------------------------------
# composing the campaign's mails


@dataclass
class Outgoing:
    """One mail to one unit (possibly several addresses); ``problem`` when it cannot be sent."""

    kind: str  # send | remind | feedback
    unit: Unit | None
    recipients: list[str]
    message: EmailMessage | None
    attachments: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"]) if self.message is not None else ""

    @property
    def subject(self) -> str:
        return decode_text(str(self.message["Subject"])) if self.message is not None else ""

    @property
    def label(self) -> str:
        return self.unit.label if self.unit else "、".join(self.recipients)


def _templates(camp: Campaign, templates: str | os.PathLike | None):
    from gkxlsx.render.renderer import RenderError, environment

    tdir = templates or mail_settings(camp).templates or None
    try:
        return environment(tdir)
    except RenderError as e:
        raise MailError(str(e)) from None


def _render_pair(env, kind: str, ctx: Mapping[str, Any]) -> tuple[str, str]:
    from gkxlsx.render.renderer import RenderError, render_template

    try:
        subject, body = (
            render_template(env, f"mail_{kind}.{part}.j2", ctx, what="邮件模板") for part in ("subject", "body")
        )
    except RenderError as e:
        raise MailError(str(e)) from None
    return " ".join(subject.split()), body


def _finding_ctx(camp: Campaign, f: Mapping[str, Any]) -> dict[str, Any]:
    locs = f.get("locations") or []
    if not locs:
        locs = [camp.form.label(k) for k in (f.get("keys") or []) if k in camp.form.cells or k in camp.form.fields][:3]
    return {
        "severity": f.get("severity", ""),
        "severity_zh": f.get("severity_zh") or SEVERITY_ZH.get(f.get("severity", ""), ""),
        "rule": f.get("rule", ""),
        "message": f.get("message", ""),
        "fix": f.get("fix") or "",
        "locations": "、".join(str(x) for x in locs),
    }


def _base_ctx(camp: Campaign, unit: Unit, kind: str) -> dict[str, Any]:
    from gkxlsx.render.renderer import zh_date

    return {
        "kind": kind,
        "unit": {
            "code": unit.code,
            "name": unit.name,
            "type": unit.type,
            "contact": unit.contact,
            "parent": unit.parent,
        },
        "year": camp.year,
        "office": camp.office or mail_settings(camp).sender_name or "",
        "contact": camp.contact,
        "deadline": zh_date(camp.deadline),
        "overdue": date.today() > camp.deadline if camp.deadline else False,
        "format_number": camp.form.document_number,
        "attachments": [],
        "link": "",  # the unit's own web page (gkxlsx serve), when the mail is sent from there
    }


def _outgoing(
    camp: Campaign, env, kind: str, unit: Unit, ctx: dict[str, Any], attachments: list[tuple[str, bytes]]
) -> Outgoing:
    st = mail_settings(camp)
    to = split_addresses(unit.email)
    ctx["attachments"] = [n for n, _ in attachments]
    if not to:
        return Outgoing(kind, unit, [], None, ctx["attachments"], problem="名单中没有该单位的邮箱，未发送")
    bad = [a for a in to if not valid_address(a)]
    if bad:
        return Outgoing(kind, unit, to, None, ctx["attachments"], problem=f"名单中的邮箱格式不正确：{'、'.join(bad)}")
    subject, body = _render_pair(env, kind, ctx)
    msg = build_message(
        sender=st.sender or "gkxlsx@localhost",
        sender_name=st.sender_name or camp.office,
        to=to,
        subject=subject,
        body=body,
        attachments=attachments,
    )
    return Outgoing(kind, unit, to, msg, ctx["attachments"])


def _select(camp: Campaign, only: Sequence[str] | None) -> list[Unit]:
    units = camp.units()
    if not only:
        return units
    from gkxlsx.campaign.campaign import CampaignError

    wanted = []
    for ref in only:
        for r in re.split(r"[,，;；\s]+", ref):
            if r:
                try:
                    wanted.append(camp.unit(r).code)
                except CampaignError as e:
                    raise MailError(str(e)) from None
    return [u for u in units if u.code in wanted]


def already_sent(camp: Campaign, kind: str) -> set[str]:
    """Units to which a mail of ``kind`` was delivered to at least one address."""
    return {
        r[0]
        for r in camp.ledger.conn.execute(
            "SELECT DISTINCT unit_code FROM mail_log WHERE kind=? AND status='sent'", (kind,)
        )
        if r[0]
    }


def mail_log(camp: Campaign, unit_code: str | None = None) -> list[dict[str, Any]]:
    q = "SELECT * FROM mail_log" + (" WHERE unit_code=?" if unit_code else "") + " ORDER BY id"
    return [dict(r) for r in camp.ledger.conn.execute(q, (unit_code,) if unit_code else ())]


def compose_send(
    camp: Campaign,
    *,
    only: Sequence[str] | None = None,
    templates=None,
    resend: bool = False,
    generate_missing: bool = True,
    links: Mapping[str, str] | None = None,
) -> tuple[list[Outgoing], list[Unit]]:
    """Each selected unit's workbook (from 模板/) attached to the 填报通知.  Returns (mails, units
    skipped because they already received it — only when neither ``only`` nor ``resend``)."""
    env = _templates(camp, templates)
    units = _select(camp, only)
    skipped: list[Unit] = []
    if not only and not resend:
        done = already_sent(camp, "send")
        skipped = [u for u in units if u.code in done]
        units = [u for u in units if u.code not in done]
    tdir = camp.path("templates")
    missing = [u.code for u in units if not (tdir / workbook_filename(u, camp.year)).is_file()]
    if missing and generate_missing:
        from gkxlsx.campaign.campaign import generate_for_campaign

        generate_for_campaign(camp, only=missing)
    out = []
    for u in units:
        p = tdir / workbook_filename(u, camp.year)
        ctx = _base_ctx(camp, u, "send")
        ctx["link"] = (links or {}).get(u.code, "")
        if not p.is_file():
            out.append(
                Outgoing(
                    "send",
                    u,
                    split_addresses(u.email),
                    None,
                    [],
                    problem=f"找不到该单位的工作簿 {p.name}，请先运行 gkxlsx generate",
                )
            )
            continue
        out.append(_outgoing(camp, env, "send", u, ctx, [(p.name, p.read_bytes())]))
    return out, skipped


def feedback_filename(unit: Unit, year: int, version: int) -> str:
    return unit_filename(unit.code, unit.name, f"_{year}年政府信息公开工作年度报告_修改意见_第{version}版.xlsx")


def feedback_workbook(camp: Campaign, unit: Unit, sub: Submission) -> tuple[str, bytes]:
    """The feedback workbook of a return, regenerated from the ledger (the same workbook
    ``gkxlsx check --feedback`` writes, see :mod:`gkxlsx.workbook.feedback`), with the campaign's
    office and deadline.  Also saved in the campaign's 反馈/ folder."""
    from gkxlsx.findings import Finding
    from gkxlsx.workbook.feedback import feedback_workbook as build_feedback
    from gkxlsx.workbook.feedback import write_atomic

    prev = camp.previous_for(unit.code)
    pv, pf = (prev[1], prev[0].id) if prev else (None, None)
    findings = [Finding.from_dict(f) for f in sub.findings]
    data = build_feedback(
        camp.form,
        unit,
        camp.year,
        findings,
        sub.values,
        source=sub.filename,
        prev=pv,
        prev_format=pf,
        office=camp.office_info,
    )
    name = feedback_filename(unit, camp.year, sub.version)
    write_atomic(camp.path("feedback") / name, data)
    return name, data


def _submission_ctx(camp: Campaign, sub: Submission) -> dict[str, Any]:
    fs = [_finding_ctx(camp, f) for f in sub.findings]
    return {
        "version": sub.version,
        "received_at": shown(sub.received_at),
        "status": sub.status,
        "filename": sub.filename,
        "errors": [f for f in fs if f["severity"] == "error"],
        "warnings": [f for f in fs if f["severity"] == "warning"],
    }


def compose_remind(
    camp: Campaign, *, only: Sequence[str] | None = None, templates=None, links: Mapping[str, str] | None = None
) -> list[Outgoing]:
    """A 催报 to every (selected) unit that has not returned, or whose current return has errors:
    the blank workbook again for the former, the errors and the feedback workbook for the latter."""
    env = _templates(camp, templates)
    wanted = {u.code for u in _select(camp, only)}
    out = []
    for us in camp.status().units:
        u = us.unit
        if u.code not in wanted:
            continue
        sub = us.current
        if sub is not None and not (sub.n_errors and sub.status == STATUS_ERR):
            continue
        ctx = _base_ctx(camp, u, "remind")
        ctx["link"] = (links or {}).get(u.code, "")
        ctx["returned"] = sub is not None
        atts: list[tuple[str, bytes]] = []
        if sub is None:
            ctx.update(version=None, received_at="", status="未报送", filename="", errors=[], warnings=[])
            p = camp.path("templates") / workbook_filename(u, camp.year)
            if not p.is_file():
                from gkxlsx.campaign.campaign import generate_for_campaign

                generate_for_campaign(camp, only=[u.code])
            if p.is_file():
                atts.append((p.name, p.read_bytes()))
        else:
            ctx.update(_submission_ctx(camp, sub))
            atts.append(feedback_workbook(camp, u, sub))
        out.append(_outgoing(camp, env, "remind", u, ctx, atts))
    return out


def compose_feedback(
    camp: Campaign, *, only: Sequence[str] | None = None, templates=None, links: Mapping[str, str] | None = None
) -> list[Outgoing]:
    """A 退回修改 mail to every (selected) unit whose current return has errors or warnings (not yet
    accepted): the findings in the body, the feedback workbook attached."""
    env = _templates(camp, templates)
    wanted = {u.code for u in _select(camp, only)}
    out = []
    for us in camp.status().units:
        u, sub = us.unit, us.current
        if u.code not in wanted or sub is None or sub.status in ACCEPTED_STATUSES:
            continue
        if not any(f.get("severity") in ("error", "warning") for f in sub.findings):
            continue
        ctx = _base_ctx(camp, u, "feedback")
        ctx["link"] = (links or {}).get(u.code, "")
        ctx["returned"] = True
        ctx.update(_submission_ctx(camp, sub))
        out.append(_outgoing(camp, env, "feedback", u, ctx, [feedback_workbook(camp, u, sub)]))
    return out


# --------------------------------------------------------------------------------------------
# dry run: the outbox


def write_outbox(camp: Campaign, mails: Sequence[Outgoing], *, when: datetime | None = None) -> list[Path]:
    """Write each composable mail as an .eml file into 发件箱/<time>_<kind>/; returns the paths."""
    when = when or datetime.now()
    paths = []
    for m in mails:
        if m.message is None:
            continue
        d = camp.path("outbox") / f"{when:%Y%m%d-%H%M%S}_{KINDS.get(m.kind, m.kind)}"
        d.mkdir(parents=True, exist_ok=True)
        if m.unit:
            name = unit_filename(m.unit.code, m.unit.name, ".eml")
        else:
            name = fit_bytes(safe_filename(m.recipients[0] if m.recipients else "mail"), 200) + ".eml"
        p = d / name
        p.write_bytes(message_bytes(m.message))
        paths.append(p)
    return paths


# --------------------------------------------------------------------------------------------
# sending over SMTP


@dataclass
class Delivery:
    mail: Outgoing
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # address -> reason (Chinese)
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.sent) and not self.failed


class _Fatal(Exception):
    """The server cannot be used at all (login refused, TLS failure, unknown host)."""


class _NoConnection(Exception):
    """No connection could be made this time (refused, timeout, 4xx greeting): worth retrying."""


def _text(b: Any) -> str:
    if isinstance(b, bytes):
        return b.decode("utf-8", "replace")
    return str(b)


REDACTED = "〔已隐去〕"
SERVER_TEXT_LIMIT = 300  # characters of a server's reply kept in a reason (ledger, terminal)
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]{4,}={0,2}")


class Redactor:
    """Takes the login secret out of a text a server sent, before it is stored or printed: some
    servers echo what they were given (``535 auth failed for user x password hunter2``, or the
    base64 of AUTH PLAIN's ``\\0user\\0password``).  Removed: the password in clear, its base64
    (AUTH LOGIN), the AUTH PLAIN blobs, and any base64 word that decodes to something containing
    the password; the text is then made printable and bounded (:func:`shown_text`)."""

    def __init__(self, user: str | None, password: str | None):
        self.secret = (password or "").encode("utf-8")
        forms: set[str] = set()
        if password:
            u = (user or "").encode("utf-8")
            forms.add(password)
            for blob in (self.secret, b"\0" + u + b"\0" + self.secret, u + b"\0" + u + b"\0" + self.secret):
                enc = base64.b64encode(blob).decode("ascii")
                forms.update((enc, enc.rstrip("=")))
            # the password's base64 wherever it starts inside a longer base64 text: the characters
            # made of its bits only, for each of the three alignments
            n = len(self.secret)
            for k in range(3):
                enc = base64.b64encode(b"\0" * k + self.secret).decode("ascii")
                part = enc[-(-8 * k // 6) : 8 * (k + n) // 6]
                if len(part) >= 6:
                    forms.add(part)
        self.pattern = (
            re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.I) if forms else None
        )

    def _encoded(self, m: re.Match[str]) -> str:
        word = m.group(0)
        try:
            data = base64.b64decode(word + "=" * (-len(word) % 4))
        except ValueError:
            return word
        return REDACTED if self.secret in data else word

    def __call__(self, text: Any, limit: int | None = SERVER_TEXT_LIMIT) -> str:
        s = _text(text)
        for _ in range(2):  # again after white space is collapsed
            if self.pattern is not None:
                s = self.pattern.sub(REDACTED, s)
                s = _BASE64_TOKEN.sub(self._encoded, s)
            s = shown_text(s, limit if limit is not None else 1_000_000)
        return s


def _refusal(code: int, msg: Any, redact: Redactor) -> str:
    return f"服务器拒绝（{code} {redact(msg)}）"


class _Connection:
    def __init__(
        self, settings: MailSettings, password: str | None, ssl_context: ssl.SSLContext | None, timeout: float
    ):
        self.s = settings
        self.password = password
        self.ctx = ssl_context
        self.timeout = timeout
        self.conn: smtplib.SMTP | None = None
        self.redact = Redactor(settings.user, password)

    def get(self) -> smtplib.SMTP:
        if self.conn is not None:
            return self.conn
        s = self.s
        where = f"{s.host}:{s.port}"
        ctx = self.ctx
        if ctx is None and s.security != "none":
            try:
                ctx = s.ssl_context()
            except MailError as e:
                raise _Fatal(str(e)) from None
        try:
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=ctx)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            try:
                conn.ehlo()
                if s.security == "starttls":
                    conn.starttls(context=ctx)
                    conn.ehlo()
                if s.user and self.password is not None:
                    conn.login(s.user, self.password)
            except BaseException:
                conn.close()
                raise
        except smtplib.SMTPAuthenticationError as e:
            raise _Fatal(
                f"登录邮件服务器 {where} 失败（{e.smtp_code} {self.redact(e.smtp_error)}）：请检查用户名和密码；QQ、163 等邮箱需使用“授权码”并在网页版设置中开启 SMTP 服务"
            ) from None
        except smtplib.SMTPNotSupportedError as e:
            raise _Fatal(
                f"邮件服务器 {where} 不支持 {'STARTTLS' if s.security == 'starttls' else '登录'}（{self.redact(e)}）：请检查 [mail] security 和 port"
            ) from None
        except ssl.SSLCertVerificationError as e:
            raise _Fatal(
                f"邮件服务器 {where} 的证书无法验证（{e.verify_message}）：如为单位内部服务器，可在 [mail] ca_file 中指定其证书"
            ) from None
        except ssl.SSLError as e:
            raise _Fatal(
                f"与邮件服务器 {where} 建立加密连接失败（{e.reason or e}）：请检查 [mail] security（ssl 一般用 465 端口，starttls 用 587）"
            ) from None
        except smtplib.SMTPResponseException as e:
            if 400 <= e.smtp_code < 500:
                raise _NoConnection(
                    f"邮件服务器 {where} 暂时不可用（{e.smtp_code} {self.redact(e.smtp_error)}）"
                ) from None
            raise _Fatal(f"邮件服务器 {where} 拒绝连接（{e.smtp_code} {self.redact(e.smtp_error)}）") from None
        except socket.gaierror:
            raise _Fatal(f"找不到邮件服务器 {s.host}：请检查 [mail] host 是否写对、网络是否正常") from None
        except (OSError, smtplib.SMTPException) as e:
            raise _NoConnection(f"无法连接邮件服务器 {where}（{self.redact(_os_reason(e))}）") from None
        self.conn = conn
        return conn

    def drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.conn = None

    def quit(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except Exception:  # noqa: BLE001
                pass
        self.drop()


def _os_reason(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "连接被拒绝"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "连接超时"
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return "服务器断开了连接"
    if isinstance(e, ConnectionError):
        return "连接中断"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def send_messages(
    mails: Sequence[Outgoing],
    settings: MailSettings,
    password: str | None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_retries: int = 3,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_result: Callable[[Delivery], None] | None = None,
) -> list[Delivery]:
    """Send ``mails`` over one reused SMTP connection.

    At most ``settings.rate_per_minute`` messages a minute.  A temporary failure — a 4xx reply or a
    dropped connection — is retried up to ``max_retries`` times after ``backoff``·2ⁿ seconds (only
    to the addresses still pending; a reconnect when needed).  A permanent refusal (5xx) of one
    address is recorded against that address and the batch goes on.  When the server cannot be
    used at all (login refused, TLS failure, still no connection after the retries) every mail
    left is reported failed with that reason.  Never raises for a delivery problem.
    """
    conn = _Connection(settings, password, ssl_context, settings.timeout)
    interval = 60.0 / settings.rate_per_minute if settings.rate_per_minute and settings.rate_per_minute > 0 else 0.0
    results: list[Delivery] = []
    fatal: str | None = None
    last_start: float | None = None
    try:
        for m in mails:
            d = Delivery(m)
            if m.problem or m.message is None:
                for a in m.recipients or [""]:
                    d.failed[a] = m.problem or "无法生成邮件"
            elif fatal:
                for a in m.recipients:
                    d.failed[a] = fatal
            else:
                if interval and last_start is not None:
                    wait = last_start + interval - clock()
                    if wait > 0:
                        sleep(wait)
                last_start = clock()
                fatal = _deliver(conn, m, d, settings, max_retries, backoff, sleep)
            # nothing a server said reaches the ledger or the terminal with the password in it
            d.failed = {a: conn.redact(r, limit=None) for a, r in d.failed.items()}
            results.append(d)
            if on_result:
                on_result(d)
    finally:
        conn.quit()
    return results


def _deliver(
    conn: _Connection, m: Outgoing, d: Delivery, settings: MailSettings, max_retries: int, backoff: float, sleep
) -> str | None:
    data = message_bytes(m.message)  # type: ignore[arg-type]
    pending = list(m.recipients)
    temp: dict[str, str] = {}
    retry = 0
    while pending:
        d.attempts += 1
        temp = {}
        connect_failed = False
        try:
            smtp = conn.get()
            refused = smtp.sendmail(settings.sender, pending, data)
            for a in pending:
                if a in refused:
                    code, msg = refused[a]
                    (temp if 400 <= code < 500 else d.failed)[a] = _refusal(code, msg, conn.redact)
                else:
                    d.sent.append(a)
        except _Fatal as e:
            for a in pending:
                d.failed[a] = str(e)
            return str(e)
        except smtplib.SMTPRecipientsRefused as e:
            for a in pending:
                code, msg = e.recipients.get(a, (550, b"refused"))
                (temp if 400 <= code < 500 else d.failed)[a] = _refusal(code, msg, conn.redact)
        except smtplib.SMTPResponseException as e:  # sender refused, data refused, …
            reason = _refusal(e.smtp_code, e.smtp_error, conn.redact)
            for a in pending:
                (temp if 400 <= e.smtp_code < 500 else d.failed)[a] = reason
            if e.smtp_code in (421,):
                conn.drop()
        except _NoConnection as e:
            connect_failed = True
            for a in pending:
                temp[a] = str(e)
        except (smtplib.SMTPException, OSError) as e:  # dropped connection, timeout, protocol error
            conn.drop()
            for a in pending:
                temp[a] = f"发送时{conn.redact(_os_reason(e))}"
        pending = list(temp)
        if not pending:
            break
        retry += 1
        if retry > max_retries:
            for a, r in temp.items():
                d.failed[a] = f"{r}；已重试 {max_retries} 次"
            if connect_failed:
                return f"{next(iter(temp.values()))}；已重试 {max_retries} 次，未再尝试"
            break
        sleep(backoff * (2 ** (retry - 1)))
    return None


def record_delivery(camp: Campaign, d: Delivery) -> None:
    """One mail_log row per address: status sent | failed, with the Message-ID and the reason."""
    code = d.mail.unit.code if d.mail.unit else None
    for a in d.sent:
        camp.ledger.log_mail(code, d.mail.kind, a, "sent", d.mail.message_id)
    for a, reason in d.failed.items():
        camp.ledger.log_mail(code, d.mail.kind, a, "failed", d.mail.message_id if d.mail.message else "", reason)


def send_and_record(
    camp: Campaign, mails: Sequence[Outgoing], settings: MailSettings, password: str | None, **kw
) -> list[Delivery]:
    user_cb = kw.pop("on_result", None)

    def cb(d: Delivery) -> None:
        record_delivery(camp, d)
        if user_cb:
            user_cb(d)

    return send_messages(mails, settings, password, on_result=cb, **kw)


def delivery_report(results: Sequence[Delivery]) -> list[str]:
    """Chinese lines: totals, then every failed address with its reason."""
    ok = [d for d in results if d.sent]
    bad = [(d, a, r) for d in results for a, r in d.failed.items()]
    lines = [f"已发送 {len(ok)} 封，失败 {len(bad)} 个地址。"]
    if bad:
        lines.append("发送失败：")
        for d, a, r in bad:
            lines.append(f"  ✗ {d.mail.label}  {a or '（无邮箱）'}：{r}")
        lines.append("失败的单位可修正后用 --only 单位代码 重新发送。")
    return lines


# --------------------------------------------------------------------------------------------
# reading mail


@dataclass
class RawMail:
    data: bytes
    origin: str  # where it came from, for the report: a file, an mbox entry, an IMAP UID
    problem: str = ""  # why it could not be read (then ``data`` is empty): reported, tried again next time


def fetch_eml(paths: Iterable[str | Path]) -> Iterator[RawMail]:
    """.eml files (a folder means every .eml in it)."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() == ".eml")
        elif p.is_file():
            files = [p]
        else:
            raise MailError(f"找不到邮件文件：{p}")
        for f in files:
            try:
                yield RawMail(f.read_bytes(), f"文件 {f.name}")
            except OSError as e:
                raise MailError(f"无法读取邮件文件 {f}：{e.strerror or e}") from None


def fetch_mbox(path: str | Path) -> Iterator[RawMail]:
    """Every message of an mbox file (read only; the file is never modified)."""
    p = Path(path)
    if not p.is_file():
        raise MailError(f"找不到 mbox 文件：{p}")
    mb = mailbox.mbox(str(p), create=False)
    try:
        for i, key in enumerate(mb.iterkeys(), start=1):
            yield RawMail(mb.get_bytes(key), f"{p.name} 第 {i} 封")
    finally:
        mb.close()


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 §5.1.3), e.g. 收件箱 → &ZTZO9nux-."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode("ascii").rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def _imap_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


_MSGID_RE = re.compile(rb"Message-ID:\s*(<[^>\r\n]*>|\S+)", re.I)


def fetch_imap(
    host: str,
    port: int,
    user: str,
    password: str,
    folder: str = "INBOX",
    *,
    ssl: bool = True,
    ssl_context=None,
    known: Callable[[str], bool] | None = None,
    timeout: float = 60,
) -> Iterator[RawMail]:
    """Messages of an IMAP folder over IMAPS.  The folder is opened read-only (EXAMINE) and
    messages are read with BODY.PEEK, so nothing is deleted, moved or even marked as read.
    ``known(message_id)`` lets already-processed messages be skipped without downloading them."""
    import ssl as _ssl

    where = f"{host}:{port}"
    redact = Redactor(user, password)
    try:
        M: imaplib.IMAP4
        if ssl:
            M = imaplib.IMAP4_SSL(host, port, ssl_context=ssl_context or _ssl.create_default_context(), timeout=timeout)
        else:
            M = imaplib.IMAP4(host, port, timeout=timeout)
    except _ssl.SSLCertVerificationError as e:
        raise MailError(
            f"收件服务器 {where} 的证书无法验证（{e.verify_message}）：如为单位内部服务器，可在 [mail] ca_file 中指定其证书。"
        ) from None
    except socket.gaierror:
        raise MailError(f"找不到收件服务器 {host}：请检查 [mail] imap_host。") from None
    except (OSError, imaplib.IMAP4.error) as e:
        raise MailError(
            f"无法连接收件服务器 {where}（{redact(_os_reason(e))}）：请检查 [mail] imap_host 和 imap_port（IMAPS 一般为 993）。"
        ) from None
    try:
        try:
            M.login(user, password)
        except imaplib.IMAP4.error as e:
            raise MailError(
                f"登录收件服务器 {where} 失败（{redact(e.args[0] if e.args else e)}）：请检查用户名和密码；QQ、163 等邮箱需使用“授权码”并开启 IMAP 服务。"
            ) from None
        typ, data = M.select(_imap_quote(imap_utf7(folder)), readonly=True)
        if typ != "OK":
            raise MailError(
                f"收件服务器上没有文件夹“{folder}”（{redact(data[0] if data else '')}）：请检查 [mail] imap_folder。"
            )
        typ, data = M.uid("SEARCH", "ALL")
        if typ != "OK":
            raise MailError(f"无法列出文件夹“{folder}”中的邮件：{redact(data[0] if data else '')}")
        uids = [u for u in (data[0] or b"").split()]
        ids: dict[bytes, str] = {}
        if uids and known is not None:
            typ, resp = M.uid("FETCH", b",".join(uids).decode(), "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            if typ == "OK":
                for item in resp:
                    if isinstance(item, tuple):
                        m_uid = re.search(rb"UID (\d+)", item[0])
                        m_id = _MSGID_RE.search(item[1] or b"")
                        if m_uid and m_id:
                            ids[m_uid.group(1)] = m_id.group(1).decode("ascii", "replace").strip()
        for uid in uids:
            mid = ids.get(uid)
            if mid and known is not None and known(mid):
                continue
            origin = f"IMAP {folder} UID {uid.decode()}"
            typ, resp = M.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            body = next((bytes(i[1]) for i in resp if isinstance(i, tuple) and i[1]), None) if typ == "OK" else None
            if body is None:
                why = redact(resp[0] if typ != "OK" and resp else "") or "服务器没有返回邮件内容"
                yield RawMail(b"", origin, problem=f"无法从收件服务器读取这封邮件（{why}）")
            else:
                yield RawMail(body, origin)
    except (OSError, imaplib.IMAP4.abort) as e:
        raise MailError(
            f"读取收件服务器 {where} 时连接中断（{redact(_os_reason(e))}），已导入的邮件已记录，可稍后重新运行。"
        ) from None
    finally:
        try:
            M.logout()
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------------------------
# decoding names and headers


# the GBK family is read as GB18030, its superset: clients label GBK text "gb2312"
_GBK_FAMILY = frozenset({"gb2312", "gbk", "x-gbk", "gb_2312-80", "cp936", "euc-cn", "gb18030"})
# codecs Python decodes bytes with that are not character sets: backslash escapes, domain names,
# punycode (the byte-to-byte ones — rot13, base64_codec, zlib_codec … — are not text encodings at all)
_NOT_CHARSETS = frozenset({"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "mbcs", "oem"})
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_ESCAPED_BYTES = re.compile(r"[\udc80-\udcff]")  # undecoded 8-bit bytes (surrogateescape)
# shown as U+FFFD: control characters (a terminal would obey them), the bidirectional overrides that
# make “xslx.exe” read as “exe.xlsx”, and lone surrogates
_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def text_codec(charset: str | None) -> str | None:
    """The Python codec of a MIME charset when it names a real character set (GBK family → GB18030);
    None for an unknown name and for codecs that are not character sets (``unicode_escape``,
    ``idna``, ``rot13``, ``base64_codec``, ``zlib_codec`` …): a mail's text is never run through them."""
    cs = (charset or "").strip().lower().split("*", 1)[0]  # RFC 2231 ``charset*language``
    if not cs or len(cs) > 40:
        return None
    if cs in _GBK_FAMILY:
        return "gb18030"
    try:
        info = codecs.lookup(cs)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _NOT_CHARSETS:
        return None
    return info.name


def _no_surrogates(text: str) -> str:
    return _SURROGATES.sub("\ufffd", text)


def decode_bytes(data: bytes, charset: str | None, refused: list[str] | None = None) -> str:
    """``data`` as text in its declared charset, else UTF-8, else GB18030, else UTF-8 with U+FFFD
    for what does not decode; lone surrogates (UTF-7 can make them) become U+FFFD.  A declared
    charset that is not a character set is not used, and its name is added to ``refused``."""
    codec = text_codec(charset)
    if codec is None and charset and refused is not None:
        shown = shown_text(charset, 40)
        if shown not in refused:
            refused.append(shown)
    for enc in dict.fromkeys(c for c in (codec, "utf-8", "gb18030") if c):
        try:
            return _no_surrogates(data.decode(enc))
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
    try:
        return _no_surrogates(data.decode(codec or "utf-8", "replace"))
    except (UnicodeError, LookupError, ValueError, TypeError):
        return data.decode("utf-8", "replace")


def shown_text(text: str, limit: int = 200) -> str:
    """``text`` fit to be shown, printed and stored: white space collapsed, control characters,
    bidirectional overrides and lone surrogates as U+FFFD, at most ``limit`` characters."""
    s = _UNSHOWABLE.sub("\ufffd", " ".join(str(text).split()))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _raw_bytes_text(s: str) -> str:
    """A header value parsed from bytes may hold undecoded 8-bit bytes (surrogate escapes): some
    clients send raw GBK or UTF-8 file names.  Recover them."""
    if not _ESCAPED_BYTES.search(s):
        return s
    b = s.encode("ascii", "surrogateescape")
    for enc in ("utf-8", "gb18030"):
        try:
            return b.decode(enc)
        except UnicodeDecodeError:
            continue
    return b.decode("utf-8", "replace")


def decode_text(value: str | None, refused: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words (also inside quotes, as legacy clients write them) and raw
    8-bit GBK/UTF-8 (see :func:`decode_bytes`; charsets that are not character sets go to
    ``refused``).  The result never holds a lone surrogate."""
    if value is None:
        return ""
    value = _raw_bytes_text(str(value))
    if "=?" not in value:
        return _no_surrogates(value)
    try:
        parts = decode_header(value)
    except Exception:  # noqa: BLE001 - malformed encoded words: keep the text
        return _no_surrogates(value)
    out = []
    for text, cs in parts:
        if isinstance(text, str):
            out.append(text)
        else:
            out.append(decode_bytes(text, cs or "utf-8", refused))
    # decode_header keeps spaces between an encoded word and plain text as separate chunks;
    # between adjacent encoded words they are already dropped
    return _no_surrogates("".join(out))


def raw_header(msg: Message, name: str) -> str:
    """A header's text as sent (first occurrence), raw 8-bit bytes decoded as UTF-8 or GBK."""
    for k, v in msg.raw_items():
        if k.lower() == name.lower():
            return _raw_bytes_text(str(v))
    return ""


def part_filename(part: Message, refused: list[str] | None = None) -> str:
    """The attachment's file name: RFC 2231 ``filename*`` first, then ``filename=``, then the
    Content-Type ``name``, each decoded (RFC 2047 in quotes, raw GBK/UTF-8; see :func:`decode_bytes`
    for the charsets, ``refused`` collecting those that are not character sets)."""
    headers = {k.lower(): v for k, v in reversed(list(part.raw_items()))}
    for header in ("content-disposition", "content-type"):
        value = headers.get(header)
        if value is None:
            continue
        # raw 8-bit names (GBK or UTF-8 bytes, as some clients send them) decoded before parsing
        tmp = Message()
        tmp[header] = _raw_bytes_text(str(value))
        params = tmp.get_params(header=header, unquote=True) or []
        plain = None
        for k, v in params[1:]:
            k = k.lower()
            if k not in ("filename", "name") or (header == "content-disposition") != (k == "filename"):
                continue
            if isinstance(v, tuple):  # RFC 2231: (charset, language, value)
                cs, _lang, val = v
                try:
                    data = val.encode("latin-1", "surrogateescape") if isinstance(val, str) else bytes(val)
                except (UnicodeError, TypeError, ValueError):
                    return _no_surrogates(_raw_bytes_text(str(val)))
                return decode_bytes(data, cs or "utf-8", refused)
            if plain is None:
                plain = v
        if plain:
            return decode_text(plain, refused).strip()
    return ""


def _is_spreadsheet(part: Message, name: str) -> str | None:
    """The suffix to save the attachment under when it is a spreadsheet, else None."""
    suffix = Path(name).suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        return suffix
    ctype = part.get_content_type().lower()
    if ctype in SPREADSHEET_TYPES and not suffix:
        return SPREADSHEET_TYPES[ctype]
    return None


def attachment_names(part: Message, name: str, i: int) -> tuple[str, str | None, str]:
    """(the name as shown, the spreadsheet suffix or None, the name the file is saved and recorded
    under) of attachment ``i`` sent as ``name``: the last component of a sent path, shown without
    control characters and at most about 200 characters; saved as a safe file name
    (:func:`~gkxlsx.form.identity.safe_filename`) of at most ``MAX_NAME_BYTES`` bytes that keeps the
    spreadsheet suffix.  Not a spreadsheet: nothing is saved (``""``)."""
    base = shown_text(name.replace("\\", "/").split("/")[-1], 4000).strip(" .") or f"附件{i}"
    suffix = _is_spreadsheet(part, base)
    if suffix is None:
        return shown_text(base, 200), None, ""
    stem = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    safe = safe_filename(stem)
    if safe == "unit" and stem != "unit":  # nothing usable left of the name
        safe = f"附件{i}"
    return shown_text(stem, 195) + suffix, suffix, fit_bytes(safe, MAX_NAME_BYTES - len(suffix)) + suffix


# --------------------------------------------------------------------------------------------
# processing fetched mail


@dataclass
class AttachmentResult:
    filename: str  # as shown (decoded, made printable, bounded)
    outcome: ImportOutcome | None = None
    saved_as: str = ""  # the safe, length-bounded name it was saved and recorded under


@dataclass
class MailResult:
    origin: str
    message_id: str
    sender: str
    sender_name: str
    sender_unit: Unit | None
    subject: str
    date: str
    kind: str  # imported | seen | no_attachment | no_spreadsheet | failed
    attachments: list[AttachmentResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # attachments that are not spreadsheets
    note: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "sender": self.sender,
            "sender_unit": self.sender_unit.code if self.sender_unit else None,
            "subject": self.subject,
            "date": self.date,
            "kind": self.kind,
            "attachments": [
                {
                    "filename": a.filename,
                    "saved_as": a.saved_as,
                    "result": a.outcome.kind if a.outcome else None,
                    "unit": a.outcome.unit_code if a.outcome else None,
                    "version": a.outcome.version if a.outcome else None,
                    "status": a.outcome.status if a.outcome else None,
                    "message": a.outcome.message if a.outcome else "",
                }
                for a in self.attachments
            ],
            "ignored": self.ignored,
            "note": self.note,
        }


@dataclass
class FetchReport:
    mails: list[MailResult] = field(default_factory=list)

    def of(self, kind: str) -> list[MailResult]:
        return [m for m in self.mails if m.kind == kind]

    @property
    def outcomes(self) -> list[ImportOutcome]:
        return [a.outcome for m in self.mails for a in m.attachments if a.outcome is not None]

    def lines(self) -> list[str]:
        out = []
        for m in self.mails:
            if m.kind == "seen":
                continue
            who = m.sender + (
                f"（{m.sender_unit.label}）"
                if m.sender_unit
                else ""
                if m.sender == "（无发件人）"
                else "（发件人不在名单中）"
            )
            subject = f"“{m.subject}”" if m.subject else "（无主题）"
            head = "  ".join(x for x in (shown(m.date), who, subject) if x)
            if m.kind == "no_attachment":
                out.append(f"— 无附件：{head}")
            elif m.kind == "no_spreadsheet":
                out.append(f"— 没有表格附件（{'、'.join(m.ignored)}）：{head}")
            else:
                mark = "✗" if m.kind == "failed" else "✓"
                out.append(f"{mark} {head}")
                for a in m.attachments:
                    o = a.outcome
                    if o is None:
                        continue
                    if o.kind == "new":
                        extra = f"已登记 {o.unit_code} 第 {o.version} 版，{o.status}"
                    elif o.kind == "duplicate":
                        extra = "此前已导入过相同文件，未重复登记"
                    elif o.kind == "quarantine":
                        extra = f"无法识别，已存入待处理：{o.message}"
                    else:
                        extra = f"导入失败：{o.message}"
                    if a.saved_as and a.saved_as != a.filename and len(a.saved_as) < len(a.filename):
                        extra += f"（文件名过长，已缩短保存为“{a.saved_as}”）"
                    out.append(f"    {a.filename}：{extra}")
                if m.ignored:
                    out.append(f"    忽略的非表格附件：{'、'.join(m.ignored)}")
            if m.note:
                out.append(f"    注意：{m.note}")
        n_new = len(self.mails) - len(self.of("seen"))
        n_files = sum(1 for o in self.outcomes if o.kind == "new")
        out.append(
            f"新邮件 {n_new} 封，登记报送 {n_files} 份，无附件 {len(self.of('no_attachment'))} 封，"
            f"无表格附件 {len(self.of('no_spreadsheet'))} 封，以前已处理过 {len(self.of('seen'))} 封（跳过）。"
        )
        if self.of("failed"):
            out.append(f"有 {len(self.of('failed'))} 封邮件未能全部处理（见上面标 ✗ 的邮件），下次收取时会再试。")
        return out


def is_fetched(camp: Campaign, message_id: str) -> bool:
    return camp.ledger.conn.execute("SELECT 1 FROM fetched WHERE message_id=?", (message_id,)).fetchone() is not None


def fetched_log(camp: Campaign) -> list[dict[str, Any]]:
    return [
        {"message_id": r["message_id"], "fetched_at": r["fetched_at"], **json.loads(r["summary"] or "{}")}
        for r in camp.ledger.conn.execute(f"SELECT * FROM fetched ORDER BY fetched_at, {camp.ledger.conn.insert_order}")
    ]


def _mark_fetched(camp: Campaign, mr: MailResult) -> None:
    with camp.ledger.transaction() as c:  # writers are serialised: looked up, then inserted
        if c.execute("SELECT 1 FROM fetched WHERE message_id=?", (mr.message_id,)).fetchone() is None:
            c.execute(
                "INSERT INTO fetched(message_id, fetched_at, summary) VALUES (?,?,?)",
                (mr.message_id, stamp(), json.dumps(mr.summary(), ensure_ascii=False)),
            )


def _roster_index(units: Sequence[Unit]) -> dict[str, Unit]:
    idx: dict[str, Unit] = {}
    for u in units:
        for a in split_addresses(u.email):
            idx.setdefault(a.lower(), u)
    return idx


def _mail_date(msg: Message) -> str:
    """The mail's own Date, kept with the zone it was written in (the ledger's received time; shown
    in China time whatever this machine's zone); a Date without a zone is China time; none or
    unreadable: now."""
    from gkxlsx.clock import stamp

    raw = raw_header(msg, "Date")
    if raw:
        try:
            return stamp(parsedate_to_datetime(str(raw)))
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return stamp()


def normalize_message_id(text: str) -> str:
    """A Message-ID as the ledger keys it: white space collapsed, printable; a very long one by its
    hash.  ``""`` when there is none."""
    mid = shown_text(text, 100_000)
    if len(mid) > 250:
        return f"<sha256.{hashlib.sha256(mid.encode('utf-8')).hexdigest()}@gkxlsx>"
    return mid


def _add_note(mr: MailResult, note: str) -> None:
    mr.note = f"{mr.note}；{note}" if mr.note else note


def process_messages(camp: Campaign, mails: Iterable[RawMail]) -> FetchReport:
    """Import the spreadsheet attachments of every mail not processed before; remember each
    processed Message-ID.  Every mail gets its result — one that cannot be read is reported and
    the others go on.  A mail whose attachment could not be stored (disk error) or that could not
    be processed is not marked processed, so the next fetch tries it again."""
    report = FetchReport()
    index = _roster_index(camp.units())
    parser = BytesParser(policy=email_policy.compat32)
    for raw in mails:
        mr = MailResult(
            origin=shown_text(raw.origin),
            message_id=f"<sha256.{hashlib.sha256(raw.data).hexdigest()}@gkxlsx>",
            sender="（无发件人）",
            sender_name="",
            sender_unit=None,
            subject="",
            date="",
            kind="failed",
        )
        if raw.problem:
            _add_note(mr, f"{mr.origin}：{raw.problem}，其他邮件不受影响；下次收取时会再试")
            report.mails.append(mr)
            continue
        try:
            _process_one(camp, raw, index, parser, mr)
        except Exception as e:  # noqa: BLE001 - one unreadable mail never stops the others
            mr.kind = "failed"
            if not mr.date:  # not even its headers were read: try them alone, to name the mail
                try:
                    _read_headers(parser.parsebytes(raw.data, headersonly=True), mr, index, [])
                except Exception:  # noqa: BLE001 - the origin still names it
                    pass
            _add_note(
                mr,
                f"这封邮件（{mr.origin}）无法处理（{type(e).__name__}），其他邮件不受影响；"
                "下次收取时会再试，如仍不行请在邮件程序中把附件另存后用 gkxlsx import 导入",
            )
        report.mails.append(mr)
    return report


def _read_headers(msg: Message, mr: MailResult, index: Mapping[str, Unit], refused: list[str]) -> None:
    """Message-ID, sender (and the unit of that address), subject and date of ``msg`` into ``mr``."""
    mid = normalize_message_id(raw_header(msg, "Message-ID"))
    if mid:
        mr.message_id = mid
    addrs = getaddresses([raw_header(msg, "From")])
    sender_name, sender = addrs[0] if addrs else ("", "")
    sender = shown_text(sender, 254).lower()
    mr.sender = sender or "（无发件人）"
    mr.sender_name = shown_text(decode_text(sender_name, refused), 100)
    mr.sender_unit = index.get(sender)
    mr.subject = shown_text(decode_text(raw_header(msg, "Subject"), refused))
    mr.date = _mail_date(msg)


def _process_one(camp: Campaign, raw: RawMail, index: Mapping[str, Unit], parser: BytesParser, mr: MailResult) -> None:
    """Fill ``mr`` with what ``raw`` is and what became of its attachments; record it as fetched."""
    msg = parser.parsebytes(raw.data)
    refused: list[str] = []
    _read_headers(msg, mr, index, refused)
    sender, unit = ("" if mr.sender == "（无发件人）" else mr.sender), mr.sender_unit
    if is_fetched(camp, mr.message_id):
        mr.kind = "seen"
        return
    saved: list[tuple[Path, AttachmentResult]] = []
    failed: list[AttachmentResult] = []
    with tempfile.TemporaryDirectory(prefix="gkxlsx-mail-") as tmp:
        for i, part in enumerate(msg.walk()):
            if part.is_multipart():
                continue
            name = part_filename(part, refused)
            disp = raw_header(part, "Content-Disposition").split(";")[0].strip().lower()
            if not name and disp != "attachment":
                continue  # the text or HTML body
            shown, suffix, saved_as = attachment_names(part, name or f"附件{i}", i)
            if suffix is None:
                mr.ignored.append(shown)
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes) or not payload:
                mr.ignored.append(f"{shown}（空文件）")
                continue
            p = Path(tmp) / str(i) / saved_as
            try:
                p.parent.mkdir()
                p.write_bytes(payload)
            except OSError as e:
                msg_zh = f"无法临时保存附件（{e.strerror or type(e).__name__}），请检查磁盘空间后重新收取"
                failed.append(AttachmentResult(shown, ImportOutcome(p, "failed", message=msg_zh), saved_as))
                continue
            saved.append((p, AttachmentResult(shown, None, saved_as)))
        if saved:
            outcomes = import_files(
                camp, [p for p, _ in saved], source=f"邮件:{sender or '未知发件人'}", received_at=mr.date
            )
            for (_, a), o in zip(saved, outcomes):
                a.outcome = o
        mr.attachments = [a for _, a in saved] + failed
        outcomes = [a.outcome for a in mr.attachments if a.outcome is not None]
        if not mr.attachments:
            mr.kind = "no_spreadsheet" if mr.ignored else "no_attachment"
        else:
            mr.kind = "failed" if any(o.kind == "failed" for o in outcomes) else "imported"
            if unit is not None:
                others = sorted(
                    {o.unit_code for o in outcomes if o.kind == "new" and o.unit_code and o.unit_code != unit.code}
                )
                if others:
                    _add_note(mr, f"发件人是 {unit.label} 的邮箱，但附件是单位 {'、'.join(others)} 的报告")
            elif sender:
                _add_note(mr, f"发件人 {sender} 不在名单中，已按工作簿中的单位信息登记")
    if refused:
        _add_note(
            mr,
            f"邮件声明的字符集“{'、'.join(refused)}”不是文字编码，相关的主题或附件名已按 UTF-8/GBK 读取，可能显示为乱码",
        )
    if mr.kind != "failed":
        _mark_fetched(camp, mr)


def fetch_from_imap(
    camp: Campaign, password: str, *, settings: MailSettings | None = None, ssl_context=None
) -> FetchReport:
    st = settings or mail_settings(camp)
    st.require_imap()
    mails = fetch_imap(
        st.imap_host,
        st.imap_port,
        st.imap_user or st.user,
        password,
        st.imap_folder,
        ssl_context=ssl_context or st.ssl_context(),
        known=lambda mid: is_fetched(camp, normalize_message_id(mid)),
        timeout=st.timeout,
    )
    return process_messages(camp, mails)
