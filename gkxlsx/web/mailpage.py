"""The mail page: SMTP settings (entered once; the password kept encrypted), a preview of every
message, then sending with one result per address — the same composing and sending code as
``gkxlsx mail``, and the same mail log in the ledger."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

KINDS = {
    "send": "发送填报通知和工作簿",
    "remind": "催报（未报送或有错误的单位）",
    "feedback": "发送修改意见（有错误或警告的单位）",
}
SETTING_KEYS = ("host", "port", "security", "user", "sender", "sender_name")


def _password_key(cid: str) -> str:
    return f"smtp_password:{cid}"


def mail_routes(web, prefix: str) -> list[Route]:
    from gkxlsx.web.app import Refused

    def links(request: Request, cid: str, camp) -> dict[str, str]:
        base = str(request.base_url).rstrip("/")
        out = {}
        for u in camp.units():
            tok = web.state.unit_token(cid, u.code)
            if tok:
                out[u.code] = f"{base}/u/{tok}"
        return out

    def compose(request: Request, cid: str, camp, kind: str, only: list[str] | None):
        from gkxlsx.mail.mail import MailError, compose_feedback, compose_remind, compose_send

        lk = links(request, cid, camp)
        try:
            if kind == "send":
                mails, _ = compose_send(camp, only=only, resend=True, links=lk)
            elif kind == "remind":
                mails = compose_remind(camp, only=only, links=lk)
            else:
                mails = compose_feedback(camp, only=only, links=lk)
        except MailError as e:
            raise Refused(400, str(e)) from None
        return mails

    def _settings_view(cid: str) -> dict[str, Any]:
        from gkxlsx.mail.mail import MailError, mail_settings

        with web.campaign(cid) as camp:
            try:
                st = mail_settings(camp)
                error = ""
            except MailError as e:
                st, error = None, str(e)
            return {
                "cid": cid,
                "settings": {k: getattr(st, k, "") for k in SETTING_KEYS} if st else dict.fromkeys(SETTING_KEYS, ""),
                "has_password": web.state.secret_setting(_password_key(cid)) is not None,
                "settings_error": error,
                "kinds": KINDS,
            }

    async def mail_page(request: Request):
        web.require_office(request)
        ctx = await run_in_threadpool(_settings_view, request.path_params["cid"])
        return web.page(request, "mail.html", preview=None, results=None, kind="", **ctx)

    async def save_settings(request: Request):
        web.require_office(request)
        form = await web.form(request)
        cid = request.path_params["cid"]

        def save():
            from gkxlsx.campaign.campaign import CONFIG, CONFIG_COMMENTS, write_config

            with web.campaign(cid) as camp:
                cfg = {k: dict(v) for k, v in camp.config.items()}
                mail = cfg.setdefault("mail", {})
                for k in SETTING_KEYS:
                    v = str(form.get(k) or "").strip()[:200]
                    if k == "port":
                        if not v.isdigit():
                            raise Refused(400, "端口应为数字，如 465 或 587。")
                        mail[k] = int(v)
                    elif k == "security":
                        if v not in ("ssl", "starttls", "none"):
                            raise Refused(400, "加密方式只能是 ssl、starttls 或 none。")
                        mail[k] = v
                    else:
                        mail[k] = v
                write_config(camp.root / CONFIG, cfg, CONFIG_COMMENTS)
            pw = str(form.get("password") or "")
            if pw:
                web.state.set_secret_setting(_password_key(cid), pw)

        await run_in_threadpool(save)
        web.flash(request, "邮件设置已保存（密码已加密保存，不会显示）。")
        return RedirectResponse(f"/c/{quote(cid)}/mail", 303)

    def _preview(request: Request, cid: str, kind: str, only: list[str] | None) -> list[dict[str, Any]]:
        with web.campaign(cid) as camp:
            mails = compose(request, cid, camp, kind, only)
        out = []
        for m in mails:
            body = ""
            if m.message is not None:
                part = m.message.get_body(("plain",))
                body = part.get_content() if part is not None else ""
            out.append(
                {
                    "code": m.unit.code if m.unit else "",
                    "label": m.label,
                    "to": "、".join(m.recipients),
                    "subject": m.subject,
                    "body": body,
                    "attachments": m.attachments,
                    "problem": m.problem,
                }
            )
        return out

    async def mail_form(request: Request) -> tuple[str, str, list[str] | None]:
        """(campaign id, kind of mail, the units named) of a preview or send form."""
        web.require_office(request)
        form = await web.form(request)
        kind = str(form.get("kind") or "")
        if kind not in KINDS:
            raise Refused(400, "请选择要发送的邮件种类。")
        only = [x for x in str(form.get("only") or "").split() if x][:1000] or None
        return request.path_params["cid"], kind, only

    async def preview(request: Request):
        cid, kind, only = await mail_form(request)
        ctx = await run_in_threadpool(_settings_view, cid)
        rows = await run_in_threadpool(_preview, request, cid, kind, only)
        return web.page(request, "mail.html", preview=rows, results=None, kind=kind, only=" ".join(only or []), **ctx)

    def _send(request: Request, cid: str, kind: str, only: list[str] | None) -> list[dict[str, Any]]:
        import os

        from gkxlsx.mail.mail import MailError, mail_settings, send_and_record

        with web.campaign(cid) as camp:
            mails = compose(request, cid, camp, kind, only)
            try:
                st = mail_settings(camp)
                st.require_smtp()
            except MailError as e:
                raise Refused(400, str(e)) from None
            pw = web.state.secret_setting(_password_key(cid)) or os.environ.get(st.password_env) or None
            results = send_and_record(camp, mails, st, pw, max_retries=1, backoff=0.5)
            rows = []
            for d in results:
                for a in d.sent:
                    rows.append({"label": d.mail.label, "address": a, "ok": True, "reason": ""})
                for a, r in d.failed.items():
                    rows.append({"label": d.mail.label, "address": a or "（无邮箱）", "ok": False, "reason": r})
            return rows

    async def send(request: Request):
        cid, kind, only = await mail_form(request)
        rows = await run_in_threadpool(_send, request, cid, kind, only)
        ctx = await run_in_threadpool(_settings_view, cid)
        return web.page(request, "mail.html", preview=None, results=rows, kind=kind, **ctx)

    return [
        Route(prefix + "/mail", mail_page),
        Route(prefix + "/mail/settings", save_settings, methods=["POST"]),
        Route(prefix + "/mail/preview", preview, methods=["POST"]),
        Route(prefix + "/mail/send", send, methods=["POST"]),
    ]
