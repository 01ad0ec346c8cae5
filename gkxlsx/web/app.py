"""``gkxlsx serve``: the office's console and every unit's own page, as one Starlette app.

Pages are server-side Jinja templates (``templates/web/``, overridable with ``--templates``);
htmx (shipped in ``gkxlsx/web/static``) swaps the unit table when a filter changes and the upload
page sends files one by one to show progress.  Every page works without script.

Every campaign operation goes through the same library calls as the CLI (import_files, status,
accept, aggregate, render, mail), on the same folder and ledger: nothing is stored twice, and the
CLI may run at the same time (the ledger serialises writers).

Security: office pages need a signed session (argon2-hashed accounts); a unit's page needs its
link token (HMAC, stored only as a hash); every POST carries a CSRF token; request bodies are
bounded; no uploaded name becomes a path; every response carries a CSP without inline script;
an unexpected error is logged and shown as a Chinese page, never a stack trace.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from html import escape as html_escape
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import anyio
import anyio.to_thread
import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gkxlsx.web.site import SINGLE, STAGING, Site
from gkxlsx.web.state import AccountError, WebState, csrf_ok, csrf_token
from gkxlsx.web.uploads import MAX_FILE, MAX_REQUEST, Stager, size_text

log = logging.getLogger("gkxlsx.web")

STATIC = Path(__file__).resolve().parent / "static"
FILTERS = ("全部", "未报", "有错误", "有警告", "通过", "已确认", "逾期")
SESSION_HOURS = 12


class Refused(Exception):
    """A request the app answers with a Chinese page and a status code (no stack trace)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# --------------------------------------------------------------------------------------------
# middleware


CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
# the rendered report shown in the report page's frame: its own inline styles, nothing else, no script
REPORT_PREVIEW_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the security headers; a route's own (stricter) CSP is kept."""
    own_csp = any(k.lower() == b"content-security-policy" for k, _ in headers)
    return list(headers) + [(k, v) for k, v in SECURITY_HEADERS if not (own_csp and k == b"content-security-policy")]


class SecurityHeaders:
    """CSP without inline script, no framing by others, no sniffing; bounded request bodies.

    ``error_page(status, message)`` renders the Chinese page sent when a body is too large."""

    def __init__(self, app, max_body: int = MAX_REQUEST, error_page=None):
        self.app, self.max_body, self.error_page = app, max_body, error_page

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(msg):
            if msg["type"] == "http.response.start":
                msg = {**msg, "headers": with_security_headers(list(msg.get("headers") or []))}
            await send(msg)

        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body:
            return await self._too_large(send_with_headers)
        seen = 0

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise Refused(413, too_large_text(self.max_body))
            return msg

        await self.app(scope, limited_receive, send_with_headers)

    async def _too_large(self, send) -> None:
        text = too_large_text(self.max_body)
        body = (self.error_page(413, text) if self.error_page else text).encode()
        media = b"text/html; charset=utf-8" if self.error_page else b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", media), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def too_large_text(limit: int) -> str:
    return f"一次上传的内容超过 {size_text(limit)}，未接收。请分批上传。"


# --------------------------------------------------------------------------------------------
# the app


# Uploads and unit pages run in this many worker threads of a process at once (every other
# request in the usual pool of 40).  Their work is CPU under one GIL: more at once only made each
# wait for the others, and for a ledger transaction whose thread waited for the GIL while holding
# the write lock.  20 clients, 500 units, alternating on a quiet machine: 1 → 123–128 uploads/s,
# 6.9–8.2 ms of CPU per upload; 2 → 108–120/s, 8.4–9.5 ms; unbounded → 78–85/s, 12–13 ms.  One at
# a time means a long one (a zip of hundreds of returns sent without the page's script, which
# sends files one by one) holds the others for its seconds.  More cores: ``--workers N``.
HOT_AT_ONCE = 1


class WebApp:
    def __init__(
        self, root: Path, templates: Path | None = None, *, max_file: int = MAX_FILE, max_request: int = MAX_REQUEST
    ):
        self.max_file, self.max_request = max_file, max_request
        self.hot_limiter = anyio.CapacityLimiter(HOT_AT_ONCE)
        self.site = Site(root)
        self.state = WebState(self.site.root)
        self.state.setup_code()  # made now, so the code exists before anyone opens the page
        from gkxlsx.render.renderer import builtin_templates_dir

        loaders: list[jinja2.BaseLoader] = []
        if templates is not None:
            loaders.append(jinja2.FileSystemLoader(str(Path(templates) / "web")))
            loaders.append(jinja2.FileSystemLoader(str(templates)))
        loaders.append(jinja2.FileSystemLoader(str(builtin_templates_dir() / "web")))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["dt"] = _dt
        self.env.filters["urlq"] = lambda s: quote(str(s), safe="")
        self.templates_dir = templates

    async def hot(self, fn, *args) -> Any:
        """``fn(*args)`` in a worker thread of the uploads' and unit pages' own small pool."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=self.hot_limiter)

    # -- responses ---------------------------------------------------------------------------

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        user = request.session.get("user") if "session" in request.scope else None
        host = request.url.hostname or ""
        base = {
            # unit links are made from the address the office uses; on 127.0.0.1 no unit can open them
            "local_host": host if _loopback(host) else "",
            "user": user,
            # a unit's page brings its own token (bound to its link); office pages the session's
            "csrf": ctx.pop("csrf") if "csrf" in ctx else (self.office_csrf(request) if user else ""),
            "flash": request.session.pop("flash", None) if "session" in request.scope else None,
            "single": self.site.single,
            "now": datetime.now().astimezone(),
        }
        base.update(ctx)
        html = self.env.get_template(name).render(base)
        return HTMLResponse(html, status_code=status)

    def error_html(self, status: int, message: str) -> str:
        """The Chinese error page, rendered without a request (nothing of a session in it)."""
        try:
            return self.env.get_template("error.html").render(
                user=None,
                csrf="",
                flash=None,
                single=self.site.single,
                now=datetime.now().astimezone(),
                message=message,
            )
        except Exception:  # a broken custom template: still a Chinese page, never a stack trace
            log.exception("error page cannot be rendered")
            return (
                '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>无法完成</title></head>'
                f'<body><p role="alert">{html_escape(message)}</p><p><a href="/">返回首页</a></p></body></html>'
            )

    def office_csrf(self, request: Request) -> str:
        sid = request.session.get("sid") or ""
        return csrf_token(self.state.key("csrf"), "office:" + sid)

    @staticmethod
    def flash(request: Request, text: str, kind: str = "ok") -> None:
        request.session["flash"] = {"text": text, "kind": kind}

    # -- guards ------------------------------------------------------------------------------

    def require_office(self, request: Request) -> str:
        """The signed-in user: the cookie's session must be open in the state database, unexpired,
        of an existing account; otherwise a redirect to the login page (nothing else is done)."""
        user = request.session.get("user")
        expired = False
        if user:
            if self.state.session_user(str(request.session.get("sid") or ""), SESSION_HOURS * 3600) == user:
                return str(user)
            request.session.clear()  # signed out elsewhere, expired, or the account is gone
            expired = True
        login = "/login" if expired else "/login?next=" + quote(request.url.path, safe="")
        if request.headers.get("hx-request"):
            # a part of a page (htmx, app.js's uploads): a redirect would be followed and the login
            # page put inside the page; say so instead, and let htmx load the login page whole
            raise Refused(401, "登录已过期或已退出，未完成操作。请刷新页面，重新登录后再试。", {"HX-Redirect": login})
        raise HTTPException(303, headers={"Location": login})

    async def form(self, request: Request, *, office: bool = True, binding: str = "") -> Any:
        """The posted form, after the CSRF check (office session, or a unit link's ``binding``)."""
        try:
            form = await request.form(max_files=1000, max_fields=200, max_part_size=self.max_file + 1024)
        except Refused:
            raise
        except Exception:  # malformed multipart
            log.warning("unreadable form on %s", redact(request.url.path), exc_info=True)
            raise Refused(400, "提交的内容无法读取，请刷新页面后重试。") from None
        given = form.get("csrf") or request.headers.get("x-csrf-token")
        if office:
            ok = csrf_ok(self.state.key("csrf"), "office:" + (request.session.get("sid") or ""), str(given or ""))
        else:
            ok = csrf_ok(self.state.key("csrf"), "unit:" + binding, str(given or ""))
        if not ok:
            raise Refused(403, "页面已过期或来源不明（安全校验未通过）。请刷新页面后重新提交。")
        return form

    def campaign(self, cid: str):
        if self.site.ref(cid) is None:
            raise Refused(404, "找不到这个收集任务。")
        return self.site.open(cid)


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def redact(path: str) -> str:
    """A URL path for the log: a unit's link token is a key and never written down."""
    return re.sub(r"^/u/[^/]+", "/u/…", path)


def _dt(v: Any) -> str:
    """A stored time in China time (``2026-01-10 15:20``), whatever the server's zone."""
    from gkxlsx.clock import shown

    return shown(v)


def _content_disposition(name: str) -> str:
    """attachment with an ASCII fallback and the UTF-8 name (RFC 6266); never a path."""
    from gkxlsx.form.identity import fit_bytes, safe_filename

    # no control, format (RTL override) or separator characters: what is shown is what is saved
    shown = "".join(ch if ch.isprintable() else "_" for ch in name)
    safe = fit_bytes(safe_filename(shown), 200)
    stem, dot, suffix = safe.rpartition(".")
    if not dot:
        stem, suffix = safe, ""
    keep = "".join(ch for ch in stem if ch.isascii() and (ch.isalnum() or ch in "._-")).strip("._")
    ext = "".join(ch for ch in suffix if ch.isascii() and ch.isalnum())[:10]
    ascii_name = (keep or "download") + (f".{ext}" if ext else "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe, safe='')}"


def download(data: bytes, name: str, media: str = "application/octet-stream") -> Response:
    return Response(data, media_type=media, headers={"content-disposition": _content_disposition(name)})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --------------------------------------------------------------------------------------------
# view models


def _finding_view(form, f: dict) -> dict[str, Any]:
    from gkxlsx.findings import SEVERITY_ZH, fmt_num

    locs = list(f.get("locations") or [])
    sheet = locs[0].split("!")[0] if locs and "!" in locs[0] else "（整个文件）"
    vals = f.get("values") or {}
    return {
        "severity": f.get("severity", "info"),
        "severity_zh": SEVERITY_ZH.get(f.get("severity", "info"), "提示"),
        "rule_id": f.get("rule", ""),  # Finding.to_dict, as the ledger keeps it
        "message": f.get("message", ""),
        "fix": f.get("fix", ""),
        "locations": locs,
        "sheet": sheet,
        # not "values": a template's f.values would be the dict's method (every page with findings failed)
        "cell_values": [
            (form.label(k) if k in form.fields or k in form.cells else k, fmt_num(v)) for k, v in vals.items()
        ][:12],
        "expected": None if f.get("expected") is None else fmt_num(f.get("expected")),
        "actual": None if f.get("actual") is None else fmt_num(f.get("actual")),
    }


def findings_by_sheet(form, findings: list[dict]) -> list[tuple[str, list[dict]]]:
    order = {"error": 0, "warning": 1, "info": 2}
    views = sorted((_finding_view(form, f) for f in findings), key=lambda v: order.get(v["severity"], 3))
    groups: dict[str, list[dict]] = {}
    for v in views:
        groups.setdefault(v["sheet"], []).append(v)
    return list(groups.items())


def _bars(items: Sequence[tuple[str, float]], width: int = 520, bar_h: int = 22) -> dict[str, Any]:
    """Geometry of a horizontal bar chart drawn as SVG by the template."""
    top = max([v for _, v in items] + [1])
    rows = []
    for i, (label, v) in enumerate(items):
        rows.append({"label": label, "value": v, "y": i * (bar_h + 6), "w": round((width - 180) * v / top, 1)})
    return {"rows": rows, "height": max(1, len(items)) * (bar_h + 6), "width": width, "bar_h": bar_h}


def dashboard_model(camp, summary, flt: str, q: str) -> dict[str, Any]:
    from gkxlsx.clock import china_date, china_now

    today = china_now().date()
    rows = []
    for us in summary.units:
        on_time = summary.on_time(us)
        c = us.current
        status = us.status
        late_missing = not us.returned and camp.deadline < today
        tags = {"全部"}
        if not us.returned:
            tags.add("未报")
        else:
            tags.add(status)
        if on_time is False or late_missing:
            tags.add("逾期")
        rows.append(
            {
                "code": us.unit.code,
                "name": us.unit.name,
                "type": us.unit.type,
                "parent": us.unit.parent,
                "status": status,
                "version": c.version if c else None,
                "errors": c.n_errors if c else None,
                "warnings": c.n_warnings if c else None,
                "received": c.received_at if c else None,
                "state": us.state,
                "held": us.held,
                "late": on_time is False or late_missing,
                "tags": tags,
            }
        )
    counts = {f: sum(1 for r in rows if f in r["tags"]) for f in FILTERS}
    shown = [r for r in rows if flt in r["tags"]]
    if q:
        ql = q.lower()
        shown = [r for r in shown if ql in r["code"].lower() or ql in r["name"].lower() or ql in (r["type"] or "")]
    # returns over time (first arrival per unit, by day) and by 单位类型
    per_day = Counter(china_date(us.first_received).isoformat() for us in summary.units if us.first_received)
    days = sorted(per_day)
    by_type: dict[str, list[int]] = {}
    for us in summary.units:
        t = by_type.setdefault(us.unit.type or "（未分类）", [0, 0])
        t[0] += 1
        t[1] += 1 if us.returned else 0
    cum = 0
    timeline = []
    for d in days[-30:]:
        cum += per_day[d]
        timeline.append((d[5:], per_day[d]))
    days_left = (camp.deadline - today).days
    return {
        "rows": shown,
        "counts": counts,
        "filters": FILTERS,
        "flt": flt,
        "q": q,
        "total": summary.total,
        "returned": summary.returned,
        "rate": 0 if not summary.total else round(100 * summary.returned / summary.total),
        "days_left": days_left,
        "late": [r for r in rows if r["late"]],
        "chart_days": _bars(timeline),
        "chart_types": _bars([(f"{t}（{v[1]}/{v[0]}）", v[1]) for t, v in sorted(by_type.items())]),
        "quarantined": summary.quarantined,
    }


# --------------------------------------------------------------------------------------------
# routes


ENV_ROOT, ENV_TEMPLATES = "GKXLSX_WEB_ROOT", "GKXLSX_WEB_TEMPLATES"


def app_from_env() -> Starlette:
    """The app of one worker process of ``gkxlsx serve --workers N`` (its folder and templates
    handed down in the environment by the command)."""
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    templates = os.environ.get(ENV_TEMPLATES) or None
    return build(Path(os.environ[ENV_ROOT]), Path(templates) if templates else None)


def build(
    root: Path, templates: Path | None = None, *, max_file: int = MAX_FILE, max_request: int = MAX_REQUEST
) -> Starlette:
    """The app serving ``root`` (a campaign folder or a folder of them).  ``max_file``: one uploaded
    file (or a zip's member); ``max_request``: one request's body."""
    web = WebApp(root, templates, max_file=max_file, max_request=max_request)
    site, state = web.site, web.state
    site.clean_staging()  # what a server killed mid-upload left behind

    # -- account -----------------------------------------------------------------------------

    async def setup(request: Request):
        if state.has_accounts():
            return RedirectResponse("/login", 303)
        if "sid" not in request.session:
            request.session["sid"] = secrets.token_urlsafe(16)
        error = ""
        if request.method == "POST":
            form = await web.form(request)
            pw, pw2 = str(form.get("password") or ""), str(form.get("password2") or "")
            try:
                if not await run_in_threadpool(state.check_setup_code, str(form.get("setup_code") or "")):
                    raise AccountError(
                        "启动码不对。启动码显示在运行 gkxlsx serve 的窗口中，"
                        "也保存在服务目录的 .gkxlsx-web/setup-code 文件里。"
                    )
                if pw != pw2:
                    raise AccountError("两次输入的密码不一致。")
                await run_in_threadpool(state.add_account, str(form.get("username") or ""), pw, first=True)
            except AccountError as e:
                error = str(e)
            else:
                await run_in_threadpool(_login, request, str(form.get("username")).strip())
                web.flash(request, "办公室账号已建立。")
                return RedirectResponse("/", 303)
        return web.page(request, "setup.html", error=error, csrf=web.office_csrf(request))

    def _login(request: Request, user: str) -> None:
        request.session.clear()  # a new session id: none chosen before signing in survives it
        sid = state.open_session(user, SESSION_HOURS * 3600)
        request.session.update({"user": user, "sid": sid, "at": datetime.now().timestamp()})

    async def login(request: Request):
        if not state.has_accounts():
            return RedirectResponse("/setup", 303)
        if "sid" not in request.session:
            request.session["sid"] = secrets.token_urlsafe(16)
        error = ""
        nxt = request.query_params.get("next") or "/"
        # only a path of this site: not //host, nor /\host or a tab or newline inside (browsers
        # read them as //host)
        if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt or not nxt.isprintable() or len(nxt) > 500:
            nxt = "/"
        if request.method == "POST":
            form = await web.form(request)
            user = str(form.get("username") or "").strip()
            ok = await run_in_threadpool(state.verify, user, str(form.get("password") or ""))
            if ok:
                await run_in_threadpool(_login, request, user)
                return RedirectResponse(nxt, 303)
            log.warning("failed login for %r from %s", user[:40], request.client.host if request.client else "?")
            error = "用户名或密码不对。"
        return web.page(request, "login.html", error=error, next=nxt, csrf=web.office_csrf(request))

    async def logout(request: Request):
        await web.form(request)
        await run_in_threadpool(state.close_session, str(request.session.get("sid") or ""))
        request.session.clear()
        return RedirectResponse("/login", 303)

    async def accounts(request: Request):
        web.require_office(request)
        error = ""
        if request.method == "POST":
            form = await web.form(request)
            try:
                await run_in_threadpool(
                    state.add_account, str(form.get("username") or ""), str(form.get("password") or "")
                )
                web.flash(request, f"已添加办公室账号“{str(form.get('username')).strip()}”。")
                return RedirectResponse("/accounts", 303)
            except AccountError as e:
                error = str(e)
        return web.page(request, "accounts.html", accounts=state.accounts(), error=error)

    # -- campaigns ---------------------------------------------------------------------------

    def _campaign_rows():
        rows = []
        for r in site.campaigns():
            try:
                with site.open(r.id) as camp:
                    s = camp.status()
                    rows.append(
                        {
                            "id": r.id,
                            "year": camp.year,
                            "office": camp.office,
                            "format": camp.form.id,
                            "deadline": camp.deadline.isoformat(),
                            "headline": s.headline(),
                            "error": "",
                        }
                    )
            except Exception as e:  # one broken campaign folder must not hide the others
                log.exception("campaign %s cannot be opened", r.id)
                from gkxlsx.campaign.campaign import CampaignError

                # a CampaignError says in Chinese what is wrong; anything else is in the log only
                rows.append(
                    {"id": r.id, "error": str(e) if isinstance(e, CampaignError) else "无法读取，详见服务器日志。"}
                )
        return rows

    async def home(request: Request):
        web.require_office(request)
        if site.single:
            return RedirectResponse(f"/c/{SINGLE}/", 303)
        rows = await run_in_threadpool(_campaign_rows)
        from gkxlsx.form.model import builtin_form_ids as available_forms

        return web.page(
            request, "campaigns.html", campaigns=rows, formats=available_forms(), year=date.today().year - 1, error=""
        )

    async def new_campaign(request: Request):
        web.require_office(request)
        form = await web.form(request)
        if site.single:
            raise Refused(
                400, "当前只服务一个收集任务；要新建任务，请用一个存放多个任务的文件夹启动（gkxlsx serve 文件夹）。"
            )
        upload = form.get("roster")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Refused(400, "请选择单位名单文件（CSV 或 XLSX）。")
        data = await upload.read(web.max_file + 1)
        result = await run_in_threadpool(_create_campaign, dict(form), upload.filename, data)
        if isinstance(result, str):
            from gkxlsx.form.model import builtin_form_ids as available_forms

            rows = await run_in_threadpool(_campaign_rows)
            return web.page(
                request,
                "campaigns.html",
                status=400,
                campaigns=rows,
                formats=available_forms(),
                year=date.today().year - 1,
                error=result,
            )
        web.flash(request, f"已创建收集任务（{result[1]} 个单位）。下一步：生成填报工作簿。")
        return RedirectResponse(f"/c/{quote(result[0])}/", 303)

    def _create_campaign(form: dict, filename: str, data: bytes) -> tuple[str, int] | str:
        from gkxlsx.campaign.campaign import CampaignError, init_campaign
        from gkxlsx.campaign.ledger import LedgerError
        from gkxlsx.form.model import FormError
        from gkxlsx.form.roster import RosterError
        from gkxlsx.web.uploads import clean_name

        if len(data) > web.max_file:
            return f"名单文件超过 {size_text(web.max_file)}，未接收。"
        suffix = ".xlsx" if clean_name(filename).lower().endswith((".xlsx", ".xlsm")) else ".csv"
        year = _small_int(str(form.get("year") or "").strip())
        if year is None or not 2000 <= year <= 2100:
            return "请填写报告年度（如 2025）。"
        dl = None
        if str(form.get("deadline") or "").strip():
            try:
                dl = date.fromisoformat(str(form.get("deadline")).strip())
            except ValueError:
                return "截止日期格式不对，应为 YYYY-MM-DD。"
        cid, folder = site.new_campaign_dir(year)
        with tempfile.TemporaryDirectory(prefix="gkxlsx-roster-") as tmp:
            p = Path(tmp) / ("roster" + suffix)
            p.write_bytes(data)
            try:
                camp = init_campaign(
                    folder,
                    year=year,
                    roster=p,
                    fmt=str(form.get("format") or "") or None,
                    office=str(form.get("office") or "").strip()[:100],
                    contact=str(form.get("contact") or "").strip()[:200],
                    deadline=dl,
                )
            except (CampaignError, RosterError, FormError, LedgerError, OSError) as e:
                shutil.rmtree(folder, ignore_errors=True)
                return str(e)
        with camp:
            return cid, len(camp.units())

    # -- dashboard ---------------------------------------------------------------------------

    similar_cache: dict[str, tuple[Any, Any]] = {}

    def _similar(cid: str, camp, returned: int):
        """内容雷同 pairs, computed again only when a new submission arrived (not on every page)."""
        if returned > 2000:
            return None
        key = tuple(camp.ledger.conn.execute("SELECT max(id), count(*) FROM submissions").fetchone())
        hit = similar_cache.get(cid)
        if hit is not None and hit[0] == key:
            return hit[1]
        pairs = camp.similar()
        similar_cache[cid] = (key, pairs)
        return pairs

    def _dashboard(cid: str, flt: str, q: str, part: bool = False):
        with web.campaign(cid) as camp:
            s = camp.status()
            model = dashboard_model(camp, s, flt if flt in FILTERS else "全部", q)
            similar = None if part else _similar(cid, camp, s.returned)
            return {
                "cid": cid,
                "camp": {
                    "year": camp.year,
                    "office": camp.office,
                    "format": camp.form.id,
                    "deadline": camp.deadline.isoformat(),
                    "headline": s.headline(),
                    "n_templates": len(list(camp.path("templates").glob("*.xlsx"))),
                },
                "similar": [(a.code, a.name, b.code, b.name, f"{sc:.0%}") for a, b, sc in (similar or [])],
                "similar_checked": similar is not None,
                **model,
            }

    async def dashboard(request: Request):
        web.require_office(request)
        cid = request.path_params["cid"]
        flt = request.query_params.get("f", "全部")
        q = request.query_params.get("q", "").strip()[:50]
        part = bool(request.headers.get("hx-request")) and request.query_params.get("part") == "units"
        ctx = await run_in_threadpool(_dashboard, cid, flt, q, part)
        if part:
            return web.page(request, "_units.html", **ctx)
        return web.page(request, "dashboard.html", **ctx)

    # -- templates ---------------------------------------------------------------------------

    def _generate(cid: str) -> int:
        from gkxlsx.campaign.campaign import generate_for_campaign

        with web.campaign(cid) as camp:
            return len(generate_for_campaign(camp))

    async def generate(request: Request):
        web.require_office(request)
        await web.form(request)
        cid = request.path_params["cid"]
        n = await run_in_threadpool(_generate, cid)
        web.flash(request, f"已生成 {n} 个单位的填报工作簿。")
        return RedirectResponse(f"/c/{quote(cid)}/", 303)

    def _template_bytes(cid: str, code: str) -> tuple[str, bytes]:
        from gkxlsx.campaign.campaign import generate_for_campaign
        from gkxlsx.form.identity import workbook_filename

        with web.campaign(cid) as camp:
            u = _unit(camp, code)
            p = camp.path("templates") / workbook_filename(u, camp.year)
            if not p.is_file():
                generate_for_campaign(camp, only=[u.code])
            return p.name, p.read_bytes()

    async def template_one(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(_template_bytes, request.path_params["cid"], request.path_params["code"])
        return download(data, name, XLSX)

    def _templates_zip(cid: str) -> tuple[str, bytes]:
        from gkxlsx.campaign.campaign import generate_for_campaign

        with web.campaign(cid) as camp:
            files = sorted(camp.path("templates").glob("*.xlsx"))
            if len(files) < len(camp.units()):
                generate_for_campaign(camp)
                files = sorted(camp.path("templates").glob("*.xlsx"))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in files:
                    zf.write(f, f.name)
            return f"{camp.year}年度填报工作簿.zip", buf.getvalue()

    async def templates_zip(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(_templates_zip, request.path_params["cid"])
        return download(data, name, "application/zip")

    # -- upload --------------------------------------------------------------------------------

    def _import(cid: str, files: list[tuple[str, BinaryIO]], who: str, only_unit: str | None = None) -> dict:
        """Stage the uploaded files (one at a time from the request's spooled upload) and import them;
        the rows to show, and (for the office, not a unit) the campaign's headline.  The first
        256 KB stay in memory and are imported from there; what does not fit is staged in a
        folder that carries this process's id: a server killed mid-upload leaves it to the next
        start (:meth:`Site.clean_staging`)."""
        from gkxlsx.campaign.campaign import import_files

        with web.campaign(cid) as camp:
            tmp = camp.root / STAGING / f"up-{os.getpid()}-{secrets.token_hex(6)}"  # made only if needed
            try:
                st = Stager(tmp, web.max_file)
                for name, f in files:
                    st.add_file(name, f)
                rows: list[dict] = [
                    {"name": r.name, "kind": "refused", "message": r.message, "unit": None, "too_large": r.too_large}
                    for r in st.refused
                ]
                plain = [s for s in st.items if s.kind == "file"]
                mails = [s for s in st.items if s.kind == "mail"]
                if plain:
                    names = {str(s.path): s.name for s in plain}
                    lock = site.unit_lock(cid, only_unit) if only_unit else None
                    if lock:
                        lock.acquire()
                    try:
                        outs = import_files(
                            camp,
                            [s.path for s in plain],
                            source=who,
                            names=names,
                            only_unit=only_unit,
                            contents={str(s.path): s.data for s in plain if s.data is not None},
                        )
                    finally:
                        if lock:
                            lock.release()
                    for s, o in zip(plain, outs):
                        rows.append(_outcome_row(s.name, o))
                if mails and only_unit is None:
                    from gkxlsx.mail.mail import RawMail, process_messages

                    rep = process_messages(camp, [RawMail(s.read(), f"上传 {s.name}") for s in mails])
                    for m in rep.mails:
                        if not m.attachments:
                            rows.append(
                                {
                                    "name": m.origin.removeprefix("上传 "),
                                    "kind": "seen" if m.kind == "seen" else "refused",
                                    "unit": None,
                                    "message": {
                                        "seen": "这封邮件以前已处理过，跳过。",
                                        "no_attachment": "邮件没有附件。",
                                        "no_spreadsheet": "邮件没有表格附件：" + "、".join(m.ignored),
                                    }.get(m.kind, m.note or "邮件无法处理。"),
                                }
                            )
                        for a in m.attachments:
                            if a.outcome is not None:
                                rows.append(_outcome_row(f"{m.origin.removeprefix('上传 ')} → {a.filename}", a.outcome))
                elif mails:
                    rows += [
                        {
                            "name": s.name,
                            "kind": "refused",
                            "unit": None,
                            "message": "请直接上传工作簿文件（不是邮件）。",
                        }
                        for s in mails
                    ]
                return {"rows": rows, "headline": camp.headline() if only_unit is None else ""}
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)

    def _files(form) -> list[tuple[str, BinaryIO]]:
        """The uploaded files: their names and spooled file objects (read one by one when staged)."""
        return [(u.filename, u.file) for u in form.getlist("files") if isinstance(u, UploadFile) and u.filename]

    def _upload_status(rows: list[dict]) -> int:
        """200 when anything was taken; 413 when nothing was and a file was too large; else 400."""
        if any(r["kind"] not in ("refused", "failed") for r in rows):
            return 200
        return 413 if any(r.get("too_large") for r in rows) else 400

    async def upload(request: Request):
        user = web.require_office(request)
        cid = request.path_params["cid"]
        if web.site.ref(cid) is None:
            raise Refused(404, "找不到这个收集任务。")
        if request.method == "GET":
            return web.page(request, "upload.html", cid=cid, rows=None, headline="", max_size=size_text(web.max_file))
        form = await web.form(request)
        files = _files(form)
        if not files:
            raise Refused(400, "请选择要上传的文件。")
        res = await web.hot(_import, cid, files, f"网页上传（{user}）")
        status = _upload_status(res["rows"])
        if request.headers.get("hx-request"):
            resp = web.page(request, "_upload_rows.html", status=status, cid=cid, **res)
            resp.headers["x-upload-rows"] = "1"  # result rows, also when nothing was taken (app.js)
            return resp
        return web.page(request, "upload.html", status=status, cid=cid, max_size=size_text(web.max_file), **res)

    # -- a unit --------------------------------------------------------------------------------

    def _unit_ctx(cid: str, code: str, version: int | None = None) -> dict:
        with web.campaign(cid) as camp:
            return _unit_view(camp, cid, code, version)

    def _unit_view(camp, cid: str, code: str, version: int | None = None, peers: bool = True) -> dict:
        """A unit's versions and findings; ``peers``: and the comparison with the units of its type
        (the office's page shows it, a unit's own page does not)."""
        u = _unit(camp, code)
        hist = camp.ledger.history(u.code)
        sub = None
        if hist:
            sub = next((h for h in hist if h.version == version), None) if version else None
            sub = sub or next((h for h in hist if h.is_current), hist[-1])
        token = state.unit_token(cid, u.code)
        from gkxlsx.campaign.review import GRADES, MIN_REASON, accepted_reasons, history, unit_state

        current = next((h for h in hist if h.is_current), None)
        reasons = {}
        if sub is not None:
            for f, es in accepted_reasons(camp.ledger, u.code, sub):
                reasons[str(f.get("instance") or f.get("rule"))] = es
        return {
            "cid": cid,
            "unit": u,
            "history": hist,
            "sub": sub,
            "groups": findings_by_sheet(camp.form, sub.findings) if sub else [],
            "token": token,
            "year": camp.year,
            "state": unit_state(current),
            "locked": current is not None and current.locked,
            "warnings": [f for f in sub.findings if f.get("severity") == "warning"] if sub else [],
            "reasons": reasons,
            "min_reason": MIN_REASON,
            "grades": GRADES,
            "steps": list(reversed(history(camp.ledger, u.code))),
            "peers": camp.peer_findings().get(u.code, []) if peers and current is not None else [],
        }

    async def unit_page(request: Request):
        web.require_office(request)
        v = _small_int(request.query_params.get("v"))
        ctx = await web.hot(_unit_ctx, request.path_params["cid"], request.path_params["code"], v)
        return web.page(request, "unit.html", base_url=str(request.base_url).rstrip("/"), **ctx)

    def _diff(cid: str, code: str, a: int, b: int) -> dict:
        from gkxlsx.campaign.campaign import diff_values
        from gkxlsx.findings import fmt_num
        from gkxlsx.form.layout import layout

        with web.campaign(cid) as camp:
            u = _unit(camp, code)
            sa = camp.ledger.submission_by_version(u.code, a)
            sb = camp.ledger.submission_by_version(u.code, b)
            if sa is None or sb is None:
                raise Refused(404, f"{u.name} 没有第 {a if sa is None else b} 版。")
            lay = layout(camp.form)

            def show(v):
                return fmt_num(v) if not isinstance(v, str) else v

            changes = [
                {
                    "addr": lay.address(k) if k in lay.where else "",
                    "label": camp.form.label(k),
                    "old": show(o),
                    "new": show(n),
                }
                for k, o, n in diff_values(camp.form, sa.values, sb.values)
            ]
            return {"cid": cid, "unit": u, "a": a, "b": b, "changes": changes}

    async def diff(request: Request):
        web.require_office(request)
        qp = request.query_params
        a, b = _small_int(qp.get("a")), _small_int(qp.get("b"))
        if a is None or b is None:
            raise Refused(400, "请选择要比较的两个版本。")
        ctx = await run_in_threadpool(_diff, request.path_params["cid"], request.path_params["code"], a, b)
        return web.page(request, "diff.html", **ctx)

    def _accept(
        cid: str, code: str, note: str, version: int | None, user: str, explain: dict[str, str] | None = None
    ) -> str:
        from gkxlsx.campaign.ledger import LedgerError
        from gkxlsx.campaign.review import MIN_REASON

        with web.campaign(cid) as camp:
            u = _unit(camp, code)
            try:
                sub = camp.ledger.accept(u.code, note, version, explain=explain, actor=user)
            except LedgerError as e:
                msg = str(e)
                if "--note" in msg:  # the ledger's words name the command line's options: say it as the page does
                    msg = (
                        msg.split("请写明")[0]
                        + f"请在每个警告下面写明理由（至少 {MIN_REASON} 个字），或在“其余警告的理由”中写一条用于全部警告。"
                    )
                raise Refused(400, msg) from None
            return f"已确认并锁定 {u.name} 第 {sub.version} 版（{sub.n_warnings} 个警告），汇总将使用这一版。"

    async def accept(request: Request):
        user = web.require_office(request)
        form = await web.form(request)
        cid, code = request.path_params["cid"], request.path_params["code"]
        v = _small_int(str(form.get("version") or ""))
        # a reason per warning: fields explain.<rule instance>; the empty ones are left to the note
        explain = {
            k.removeprefix("explain."): str(val)[:500]
            for k, val in form.multi_items()
            if k.startswith("explain.") and str(val).strip()
        }
        msg = await run_in_threadpool(_accept, cid, code, str(form.get("note") or "")[:500], v, user, explain)
        web.flash(request, msg)
        return RedirectResponse(f"/c/{quote(cid)}/u/{quote(code)}", 303)

    def _review(cid: str, code: str, action: str, reason: str, version: int | None, user: str) -> str:
        from gkxlsx.campaign.ledger import LedgerError
        from gkxlsx.campaign.review import reopen, return_, unit_state

        with web.campaign(cid) as camp:
            u = _unit(camp, code)
            try:
                if action == "return":
                    sub = return_(camp.ledger, u.code, reason, version, actor=user)
                    from gkxlsx.mail.mail import feedback_workbook

                    feedback_workbook(camp, u, sub)
                    return f"已退回 {u.name} 第 {sub.version} 版，修改意见工作簿已生成。"
                cur = reopen(camp.ledger, u.code, reason, version, actor=user)
            except LedgerError as e:
                raise Refused(400, str(e)) from None
            return f"已重新打开 {u.name}：当前为第 {cur.version} 版，状态 {unit_state(cur)}。"

    def review_action(action: str):
        async def handler(request: Request):
            user = web.require_office(request)
            form = await web.form(request)
            cid, code = request.path_params["cid"], request.path_params["code"]
            v = str(form.get("version") or "")
            msg = await run_in_threadpool(
                _review, cid, code, action, str(form.get("reason") or "")[:500], int(v) if v.isdigit() else None, user
            )
            web.flash(request, msg)
            return RedirectResponse(f"/c/{quote(cid)}/u/{quote(code)}", 303)

        return handler

    def _original(cid: str, code: str, version: int) -> tuple[str, bytes]:
        with web.campaign(cid) as camp:
            u = _unit(camp, code)
            sub = camp.ledger.submission_by_version(u.code, version)
            if sub is None:
                raise Refused(404, f"{u.name} 没有第 {version} 版。")
            p = Path(sub.archive_path)
            if not p.is_absolute():
                p = camp.root / p
            if not p.is_file():
                p = camp.ledger.archive_dir / sub.sha256[:2] / Path(sub.archive_path).name
            try:
                return sub.filename, p.read_bytes()
            except OSError:
                raise Refused(404, "原件在归档中找不到（原件归档文件夹可能被移动或删除）。") from None

    async def original(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(
            _original, request.path_params["cid"], request.path_params["code"], _version(request)
        )
        return download(data, name)

    def _feedback(cid: str, code: str, version: int) -> tuple[str, bytes]:
        from gkxlsx.mail.mail import feedback_workbook

        with web.campaign(cid) as camp:
            u = _unit(camp, code)
            sub = camp.ledger.submission_by_version(u.code, version)
            if sub is None:
                raise Refused(404, f"{u.name} 没有第 {version} 版。")
            return feedback_workbook(camp, u, sub)

    async def feedback(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(
            _feedback, request.path_params["cid"], request.path_params["code"], _version(request)
        )
        return download(data, name, XLSX)

    async def link(request: Request):
        web.require_office(request)
        form = await web.form(request)
        cid, code = request.path_params["cid"], request.path_params["code"]

        def act():
            with web.campaign(cid) as camp:
                u = _unit(camp, code)
                if form.get("action") == "revoke":
                    state.revoke(cid, u.code)
                    return f"已停用 {u.name} 的填报链接。"
                state.reissue(cid, u.code)
                return f"已为 {u.name} 重新生成填报链接，旧链接已失效。"

        web.flash(request, await run_in_threadpool(act))
        return RedirectResponse(f"/c/{quote(cid)}/u/{quote(code)}", 303)

    # -- roll-up and reports -------------------------------------------------------------------

    def _aggregate(cid: str) -> dict:
        from gkxlsx.campaign.campaign import aggregate as do_aggregate
        from gkxlsx.findings import fmt_num

        with web.campaign(cid) as camp:
            aggs = do_aggregate(camp)
            out = []
            for agg in aggs:
                v = agg.report.values
                out.append(
                    {
                        "name": agg.name,
                        "statement": agg.completeness["statement"],
                        "missing": agg.completeness["missing"],
                        "errors": [f.message for f in agg.findings if f.severity == "error"],
                        "figures": [
                            (camp.form.label(k), fmt_num(v.get(k)))
                            for k in ("s3.new.total", "s3.r7_total.total", "s4.review.total")
                            if k in camp.form.fields or k in camp.form.cells
                        ],
                    }
                )
            return {"cid": cid, "aggs": out, "year": camp.year}

    async def report_page(request: Request):
        web.require_office(request)
        ctx = await run_in_threadpool(_aggregate, request.path_params["cid"])
        return web.page(request, "report.html", **ctx)

    def _render(cid: str, fmt: str) -> tuple[str, bytes, str]:
        from gkxlsx.campaign.publish import report_jobs
        from gkxlsx.render.renderer import RenderError, RenderRefused, render_files

        with web.campaign(cid) as camp:
            jobs, _, _ = report_jobs(camp, [], all_units=False, aggregate=True, by=None)
            rep, findings, agg, _ = jobs[0]
            with tempfile.TemporaryDirectory(prefix="gkxlsx-web-render-") as tmp:
                try:  # the publishable report when the data allow it, else a draft marked as such
                    try:
                        files = render_files(rep, [fmt], tmp, findings=findings, aggregate=agg)
                    except RenderRefused:
                        files = render_files(rep, [fmt], tmp, draft=True, findings=findings, aggregate=agg)
                except RenderError as e:
                    raise Refused(400, str(e)) from None
                f = files[0]
                media = {
                    "html": "text/html; charset=utf-8",
                    "md": "text/markdown; charset=utf-8",
                    "txt": "text/plain; charset=utf-8",
                    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    "pdf": "application/pdf",
                }[fmt]
                return f.name, f.read_bytes(), media

    async def render(request: Request):
        web.require_office(request)
        fmt = request.path_params["fmt"]
        if fmt not in ("html", "md", "txt", "docx", "pdf"):
            raise Refused(404, "不支持的格式。")
        name, data, media = await run_in_threadpool(_render, request.path_params["cid"], fmt)
        if fmt == "html" and request.query_params.get("preview"):
            return Response(data, media_type=media, headers={"content-security-policy": REPORT_PREVIEW_CSP})
        return download(data, name, media)

    def _status_xlsx(cid: str) -> tuple[str, bytes]:
        from gkxlsx.campaign.exports import write_status_xlsx

        with web.campaign(cid) as camp, tempfile.TemporaryDirectory(prefix="gkxlsx-web-") as tmp:
            p = Path(tmp) / f"{camp.year}年度报送情况.xlsx"
            write_status_xlsx(camp, camp.status(), p, similar=camp.similar())
            return p.name, p.read_bytes()

    async def status_xlsx(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(_status_xlsx, request.path_params["cid"])
        return download(data, name, XLSX)

    def _aggregate_xlsx(cid: str) -> tuple[str, bytes]:
        from gkxlsx.campaign.campaign import aggregate as do_aggregate
        from gkxlsx.campaign.exports import write_aggregate

        with web.campaign(cid) as camp, tempfile.TemporaryDirectory(prefix="gkxlsx-web-") as tmp:
            xlsx, _ = write_aggregate(camp, do_aggregate(camp)[0], Path(tmp))
            return xlsx.name, xlsx.read_bytes()

    async def aggregate_xlsx(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(_aggregate_xlsx, request.path_params["cid"])
        return download(data, name, XLSX)

    def _return_xlsx(cid: str) -> tuple[str, bytes]:
        """The office's roll-up return to the level above (as ``gkxlsx aggregate --as-return``): who
        the office is comes from campaign.toml's [return] table."""
        from gkxlsx.campaign.as_return import return_unit, write_return
        from gkxlsx.campaign.campaign import CampaignError

        with web.campaign(cid) as camp, tempfile.TemporaryDirectory(prefix="gkxlsx-web-") as tmp:
            try:
                rr = write_return(camp, Path(tmp), return_unit(camp))
            except CampaignError as e:
                raise Refused(400, str(e)) from None
            return rr.path.name, rr.path.read_bytes()

    async def return_xlsx(request: Request):
        web.require_office(request)
        name, data = await run_in_threadpool(_return_xlsx, request.path_params["cid"])
        return download(data, name, XLSX)

    # -- audit of a published report -----------------------------------------------------------

    async def audit(request: Request):
        web.require_office(request)
        if request.method == "GET":
            return web.page(request, "audit.html", result=None, text="")
        form = await web.form(request)
        text = str(form.get("text") or "")[:2_000_000]
        up = form.get("file")

        def run():
            from gkxlsx.published.audit import audit_file, audit_text
            from gkxlsx.web.uploads import clean_name, staged_suffix

            if isinstance(up, UploadFile) and up.filename:
                name = clean_name(up.filename)
                with tempfile.TemporaryDirectory(prefix="gkxlsx-audit-") as tmp:
                    low = name.lower()
                    suffix = next(
                        (s for s in (".html", ".htm", ".txt", ".md", ".docx", ".pdf") if low.endswith(s)),
                        staged_suffix(name) if staged_suffix(name) != ".bin" else ".txt",
                    )
                    p = Path(tmp) / f"report{suffix}"
                    p.write_bytes(data)
                    res = audit_file(p)
                    if res.error:  # told by the user's name of the file, not the server's
                        res.error = res.error.replace(str(p), name).replace(p.name, name)
                    return name, res
            if text.strip():
                return "粘贴的文字", audit_text(text)
            raise Refused(400, "请上传报告文件，或把报告全文粘贴到文本框中。")

        data = await up.read(web.max_file + 1) if isinstance(up, UploadFile) and up.filename else b""
        if len(data) > web.max_file:
            raise Refused(413, f"报告文件超过 {size_text(web.max_file)}，未接收。")
        try:
            name, res = await run_in_threadpool(run)
        except Refused:
            raise
        except Exception:  # an unreadable document: say so, never a stack trace
            log.exception("audit failed")
            raise Refused(400, "无法读取这份报告。请换成网页、Word、PDF 或纯文本格式。") from None
        ex = res.extraction
        result = {
            "name": name,
            "title": (ex.title if ex is not None else "") or "",
            "error": res.error or "",  # a file that could not be read: never "没有发现问题"
            "counts": (res.errors, res.warnings, res.infos),
            "findings": [
                {
                    "severity_zh": f.severity_zh,
                    "severity": f.severity,
                    "rule_id": f.rule_id,
                    "message": f.message,
                    "fix": f.fix,
                }
                for f in res.findings
            ],
        }
        return web.page(request, "audit.html", result=result, text=text)

    # -- mail ------------------------------------------------------------------------------------

    from gkxlsx.web.mailpage import mail_routes

    # -- a unit's own page (no password: the link is the key) -------------------------------------

    def _portal_ctx(token: str, version: int | None = None) -> dict:
        got = state.resolve(token)
        if got is None:
            raise Refused(404, "这个填报链接无效或已停用。请向收集单位索取新的链接。")
        cid, code = got
        with web.campaign(cid) as camp:
            ctx = _unit_view(camp, cid, code, version, peers=False)  # not shown on a unit's own page
            ctx.update(
                {
                    "office": camp.office,
                    "contact": camp.contact,
                    "deadline": camp.deadline.isoformat(),
                    "form_title": camp.form.title if hasattr(camp.form, "title") else "",
                }
            )
        ctx["ucsrf"] = ctx["csrf"] = csrf_token(state.key("csrf"), "unit:" + token)
        ctx["tok"] = token
        return ctx

    async def portal(request: Request):
        token = request.path_params["token"]
        ctx = await web.hot(_portal_ctx, token, _small_int(request.query_params.get("v")))
        return web.page(request, "portal.html", rows=None, headline="", max_size=size_text(web.max_file), **ctx)

    async def portal_upload(request: Request):
        token = request.path_params["token"]
        got = state.resolve(token)
        if got is None:
            raise Refused(404, "这个填报链接无效或已停用。请向收集单位索取新的链接。")
        form = await web.form(request, office=False, binding=token)
        files = _files(form)
        if not files:
            raise Refused(400, "请选择要上传的工作簿。")
        cid, code = got

        def run() -> dict:  # one hop to a worker thread for the import and the page after it
            res = _import(cid, files, "网页上传（单位填报链接）", code)
            # the findings of what was just sent (a version held for review is not the current one)
            sent = [r["version"] for r in res["rows"] if r.get("kind") == "new" and r.get("version")]
            ctx = _portal_ctx(token, max(sent) if sent else None)
            ctx["rows"] = res["rows"]  # not the campaign's headline: a unit sees nothing of the other units
            return ctx

        ctx = await web.hot(run)
        status = _upload_status(ctx["rows"])
        return web.page(request, "portal.html", status=status, headline="", max_size=size_text(web.max_file), **ctx)

    async def portal_template(request: Request):
        got = state.resolve(request.path_params["token"])
        if got is None:
            raise Refused(404, "这个填报链接无效或已停用。")
        name, data = await run_in_threadpool(_template_bytes, *got)
        return download(data, name, XLSX)

    async def portal_feedback(request: Request):
        got = state.resolve(request.path_params["token"])
        if got is None:
            raise Refused(404, "这个填报链接无效或已停用。")
        name, data = await run_in_threadpool(_feedback, got[0], got[1], _version(request))
        return download(data, name, XLSX)

    # -- errors ----------------------------------------------------------------------------------

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        """The Chinese error page, leading back to where its reader belongs: a unit to its own page
        (when its link is valid), the office to the start page; a unit with a dead link nowhere."""
        parts = request.url.path.split("/")
        if len(parts) > 2 and parts[1] == "u":
            ok = state.resolve(parts[2]) is not None
            home, back = (f"/u/{parts[2]}", "返回本单位的填报页面") if ok else ("", "")
        else:
            home, back = "/", "返回首页"
        return web.page(request, "error.html", status=status, message=message, home=home, back=back)

    async def refused(request: Request, exc: Exception):
        assert isinstance(exc, Refused)
        response = error_page(request, exc.status, exc.message)
        response.headers.update(exc.headers)
        return response

    async def http_error(request: Request, exc: Exception):
        assert isinstance(exc, HTTPException)
        if exc.status_code in (301, 302, 303, 307) and exc.headers:
            return RedirectResponse(exc.headers["Location"], exc.status_code)
        text = {404: "找不到这个页面。", 405: "不支持这种操作。"}.get(exc.status_code, "请求无法处理。")
        return error_page(request, exc.status_code, text)

    async def crashed(request: Request, exc: Exception):
        # sent by Starlette's outermost middleware, past SecurityHeaders: the headers are added here;
        # nothing of the session is shown (the page is the same for everyone)
        ref = secrets.token_hex(4)
        log.error("error %s on %s %s", ref, request.method, redact(request.url.path), exc_info=exc)
        text = f"处理时出现意外错误，已记录（编号 {ref}）。已保存的数据不受影响；请稍后重试，或把编号告诉技术人员。"
        resp = HTMLResponse(web.error_html(500, text), status_code=500)
        resp.raw_headers.extend(SECURITY_HEADERS)
        return resp

    async def favicon(request: Request):
        # browsers ask for /favicon.ico by themselves (downloads, the report preview): no 404 in their console
        return RedirectResponse("/static/favicon.svg", 301)

    async def not_found(request: Request):
        raise Refused(404, "找不到这个页面。")

    C = "/c/{cid}"
    U = C + "/u/{code}"
    routes = [
        Route("/setup", setup, methods=["GET", "POST"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/accounts", accounts, methods=["GET", "POST"]),
        Route("/", home),
        Route("/new", new_campaign, methods=["POST"]),
        Route("/audit", audit, methods=["GET", "POST"]),
        Route(C + "/", dashboard),
        Route(C + "/generate", generate, methods=["POST"]),
        Route(C + "/templates.zip", templates_zip),
        Route(C + "/upload", upload, methods=["GET", "POST"]),
        Route(C + "/report", report_page),
        Route(C + "/report.{fmt}", render),
        Route(C + "/status.xlsx", status_xlsx),
        Route(C + "/aggregate.xlsx", aggregate_xlsx),
        Route(C + "/return.xlsx", return_xlsx),
        *mail_routes(web, C),
        Route(U, unit_page),
        Route(U + "/template", template_one),
        Route(U + "/diff", diff),
        Route(U + "/accept", accept, methods=["POST"]),
        Route(U + "/return", review_action("return"), methods=["POST"]),
        Route(U + "/reopen", review_action("reopen"), methods=["POST"]),
        Route(U + "/link", link, methods=["POST"]),
        Route(U + "/v/{v:int}/original", original),
        Route(U + "/v/{v:int}/feedback", feedback),
        Route("/u/{token}", portal),
        Route("/u/{token}/upload", portal_upload, methods=["POST"]),
        Route("/u/{token}/template", portal_template),
        Route("/u/{token}/v/{v:int}/feedback", portal_feedback),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        Route("/{rest:path}", not_found),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, max_body=max_request, error_page=web.error_html),
            Middleware(
                SessionMiddleware,
                secret_key=state.key("session").hex(),
                session_cookie="gkxlsx_session",
                max_age=SESSION_HOURS * 3600,
                same_site="lax",
                https_only=False,
            ),
        ],
        exception_handlers={Refused: refused, HTTPException: http_error, Exception: crashed},
    )
    app.state.web = web
    return app


def _small_int(s: str | None, limit: int = 10**9) -> int | None:
    """A version or year typed into a URL or form: ASCII digits up to ``limit``, else None."""
    s = (s or "").strip()
    if not s or len(s) > 10 or not s.isascii() or not s.isdigit():
        return None
    n = int(s)
    return n if n <= limit else None


def _version(request: Request) -> int:
    v = _small_int(str(request.path_params.get("v", "")))
    if v is None:
        raise Refused(404, "没有这个版本。")
    return v


def _unit(camp, code: str):
    from gkxlsx.campaign.campaign import CampaignError

    try:
        u = camp.unit(code)
    except CampaignError:
        raise Refused(404, "找不到这个单位。") from None
    if u.code != code:  # a name or partial match: pages are addressed by the exact code
        raise Refused(404, "找不到这个单位。")
    return u


def _outcome_row(name: str, o) -> dict[str, Any]:
    e = sum(1 for f in o.findings if f.get("severity") == "error")
    w = sum(1 for f in o.findings if f.get("severity") == "warning")
    kind = o.kind
    if kind == "new":
        message = f"已登记为 {o.unit_code} 第 {o.version} 版：{o.status}" + (
            f"（错误 {e}，警告 {w}）" if e or w else ""
        )
    elif kind == "duplicate":
        message = o.message or "此前已导入过相同文件，未重复登记。"
    elif kind == "quarantine":
        message = f"无法对应到名单中的单位，已隔离待处理：{o.message}"
    else:
        message = o.message
    return {
        "name": name,
        "kind": kind,
        "unit": o.unit_code,
        "version": o.version,
        "status": o.status,
        "errors": e,
        "warnings": w,
        "message": message,
    }
