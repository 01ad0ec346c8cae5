"""A collection campaign: one county office, one report year, one folder.

::

    DIR/
      campaign.toml   readable settings (year, format, office, deadline, mail)
      roster.csv      the units (a copy of the roster given to ``init``)
      ledger.sqlite   the ledger (gkxlsx.campaign.ledger); or, with ``db = "postgresql://…"`` in
                      campaign.toml, the campaign's schema ``db_schema`` in that shared database
      模板/           generated workbooks
      原件归档/       every received file, by sha256, never overwritten
      反馈/           feedback workbooks
      报告/           status exports, roll-up, rendered reports
      发件箱/         e-mails written by ``mail send --dry-run``
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import threading
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gkxlsx.campaign.ledger import (
    ACCEPTED_STATUSES,
    STATUS_ACCEPTED,
    STATUS_ERR,
    STATUS_PASS,
    STATUS_WARN,
    Ledger,
    NewSubmission,
    Received,
    Submission,
)
from gkxlsx.form.model import Form, check_report_year, form_for_year, load_form
from gkxlsx.form.report import Report
from gkxlsx.form.rollup import summed_keys
from gkxlsx.form.roster import Unit, column_name, load_roster
from gkxlsx.rules.engine import compute_derived
from gkxlsx.rules.evaluate import check
from gkxlsx.rules.interpret import as_number

if TYPE_CHECKING:
    from gkxlsx.workbook.generate import OfficeInfo

CONFIG = "campaign.toml"
DB = "ledger.sqlite"
DIRS = {"templates": "模板", "archive": "原件归档", "feedback": "反馈", "reports": "报告", "outbox": "发件箱"}


class CampaignError(RuntimeError):
    """A campaign operation cannot be done; Chinese message says why and what to do."""


def _toml_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps("" if v is None else str(v), ensure_ascii=False)


def write_config(path: Path, cfg: Mapping[str, Mapping[str, Any]], comments: Mapping[str, str] | None = None) -> None:
    comments = comments or {}
    lines = ["# gkxlsx 收集任务配置文件（UTF-8，可用记事本编辑；密码不要写在这里）", ""]
    for section, items in cfg.items():
        lines.append(f"[{section}]")
        for k, v in items.items():
            c = comments.get(f"{section}.{k}")
            lines.append(f"{k} = {_toml_str(v)}" + (f"  # {c}" if c else ""))
        lines.append("")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, path)


CONFIG_COMMENTS = {
    "campaign.format": "报告格式：2021（国办公开办函〔2021〕30号）或 2019",
    "campaign.office": "收集单位（政务公开办）名称",
    "campaign.contact": "收集单位联系方式，显示在填报说明中",
    "campaign.deadline": "报送截止日期 YYYY-MM-DD",
    "campaign.previous": "上年度收集任务目录（用于跨年度校验），可为空",
    "campaign.db": "账本数据库 postgresql://用户@主机:端口/库名（密码不要写在这里：用环境变量 PGPASSWORD 或 .pgpass）",
    "campaign.db_schema": "本任务在该数据库中的模式（schema）名，由 init 生成，请勿修改",
    "mail.host": "SMTP 服务器，如 smtp.qq.com",
    "mail.port": "端口：SSL 一般为 465，STARTTLS 一般为 587",
    "mail.security": "ssl、starttls 或 none",
    "mail.user": "登录用户名（一般为邮箱地址）",
    "mail.sender": "发件人邮箱地址",
    "mail.sender_name": "发件人名称",
    "mail.password_env": "密码从这个环境变量读取；未设置时运行时询问",
    "mail.rate_per_minute": "每分钟最多发送的邮件数",
    "mail.imap_host": "收件 IMAP 服务器（IMAPS），如 imap.qq.com",
    "mail.imap_port": "IMAPS 端口，一般为 993",
    "mail.imap_folder": "收件文件夹",
}


@dataclass
class UnitStatus:
    unit: Unit
    current: Submission | None  # the version that counts (status, aggregate, render)
    first_received: str | None  # the first version's received time (stored, with its offset)
    versions: int
    latest_received: str | None = None  # the latest version's, held or not
    held: int = 0  # versions recorded but held back (待审核 after locking, 疑似误发)

    @property
    def returned(self) -> bool:
        return self.current is not None

    @property
    def status(self) -> str:
        return self.current.status if self.current else "未报送"

    @property
    def state(self) -> str:
        """The review state (:mod:`gkxlsx.campaign.review`): 未报送, 待审核, 退回, 已通过, 已确认, 已锁定."""
        from gkxlsx.campaign.review import unit_state

        return unit_state(self.current)


def headline_text(total: int, by_status: Mapping[str, int], late: int, quarantined: int) -> str:
    """The one-line state of a campaign (``gkxlsx status``, the web's upload page): ``by_status``
    counts the current submissions by status."""
    returned = sum(by_status.values())
    accepted = sum(by_status.get(s, 0) for s in ACCEPTED_STATUSES)
    return (
        f"已报 {returned}/{total}，通过 {accepted}"
        f"（其中确认 {by_status.get(STATUS_ACCEPTED, 0)}），有警告 {by_status.get(STATUS_WARN, 0)}，"
        f"有错误 {by_status.get(STATUS_ERR, 0)}，未报 {total - returned}，逾期 {late}"
        + (f"；待处理的无法识别文件 {quarantined} 个" if quarantined else "")
    )


@dataclass
class StatusSummary:
    units: list[UnitStatus]
    deadline: date | None
    quarantined: int

    def in_time(self, received: str | None) -> bool | None:
        """Whether a version received at ``received`` came by the deadline (its day in China time)."""
        from gkxlsx.clock import china_date

        if not received or not self.deadline:
            return None
        try:
            return china_date(received) <= self.deadline
        except ValueError:
            return None

    def on_time(self, us: UnitStatus) -> bool | None:
        """Whether the unit's first version came in time."""
        return self.in_time(us.first_received)

    def latest_on_time(self, us: UnitStatus) -> bool | None:
        """Whether the unit's latest version came in time."""
        return self.in_time(us.latest_received)

    @property
    def total(self) -> int:
        return len(self.units)

    @property
    def returned(self) -> int:
        return sum(1 for u in self.units if u.returned)

    def count(self, *statuses: str) -> int:
        return sum(1 for u in self.units if u.status in statuses)

    @property
    def late(self) -> int:
        return sum(1 for u in self.units if self.on_time(u) is False)

    def headline(self) -> str:
        return headline_text(
            self.total, Counter(u.current.status for u in self.units if u.current), self.late, self.quarantined
        )

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for u in self.units:
            c = u.current
            rows.append(
                {
                    "unit_code": u.unit.code,
                    "unit_name": u.unit.name,
                    "unit_type": u.unit.type,
                    "parent": u.unit.parent,
                    "returned": u.returned,
                    "status": u.status,
                    "version": c.version if c else None,
                    "versions": u.versions,
                    "errors": c.n_errors if c else None,
                    "warnings": c.n_warnings if c else None,
                    "received_at": c.received_at if c else None,
                    "first_received": u.first_received,
                    "on_time": self.on_time(u),
                    "latest_received": u.latest_received,
                    "latest_on_time": self.latest_on_time(u),
                    "state": u.state,
                    "held": u.held,
                    "accepted_note": c.accepted_note if c else None,
                }
            )
        return {
            "total": self.total,
            "returned": self.returned,
            "passed": self.count(*ACCEPTED_STATUSES),
            "accepted": self.count("已确认"),
            "warnings": self.count(STATUS_WARN),
            "errors": self.count(STATUS_ERR),
            "missing": self.total - self.returned,
            "late": self.late,
            "quarantined": self.quarantined,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "headline": self.headline(),
            "units": rows,
        }


@dataclass
class ImportOutcome:
    path: Path
    kind: str  # new | duplicate | quarantine | failed
    unit_code: str | None = None
    version: int | None = None
    status: str | None = None
    message: str = ""
    findings: list[dict] = field(default_factory=list)
    held: str = ""  # recorded but held back, not made current: why (疑似误发, the unit's return is locked)

    @property
    def name(self) -> str:
        """The file's name as people read it (see :func:`_shown`)."""
        return _shown(self.path.name)

    @property
    def shown_path(self) -> str:
        return _shown(self.path)


def _shown(p: str | Path) -> str:
    """A file name or path fit for the terminal, JSON and the ledger: a name that is not UTF-8 (GBK
    bytes unzipped from a Windows archive) decoded readably.  The file is still read by its real
    name; only what is shown and recorded of it is this."""
    from gkxlsx.workbook.reader import readable_name

    return readable_name(str(p))


class Campaign:
    def __init__(self, root: Path):
        self.root = Path(root)
        cfg_path = self.root / CONFIG
        if not cfg_path.exists():
            raise CampaignError(
                f"{self.root} 不是收集任务目录（没有 {CONFIG}）。请先运行 gkxlsx init 目录 --year 年度 --roster 名单。"
            )
        try:
            self.config = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise CampaignError(
                f"配置文件 {cfg_path} 有语法错误：{e}。请用记事本打开修改，或重新运行 gkxlsx init。"
            ) from None
        c = self.config.get("campaign", {})
        try:
            self.year = int(c["year"])
            self.form: Form = load_form(c.get("format") or form_for_year(self.year).id)
        except (KeyError, ValueError) as e:
            raise CampaignError(f"配置文件 {cfg_path} 缺少或写错了 year/format：{e}") from None
        self.office = c.get("office", "")
        self.contact = c.get("contact", "")
        dl = c.get("deadline") or ""
        try:
            self.deadline = date.fromisoformat(dl) if dl else date(self.year + 1, *self.form.publication_deadline(None))
        except ValueError:
            raise CampaignError(f"配置文件中的截止日期“{dl}”格式不对，应为 YYYY-MM-DD。") from None
        self.notices: list[str] = []  # what init read differently from the roster file (for the user)
        #: the shared database's URL (``db`` in campaign.toml) or "" for the ledger.sqlite in the folder
        self.db_url = str(c.get("db") or "")
        self.db_schema = str(c.get("db_schema") or "")
        if self.db_url:
            self.ledger = _open_shared(self.root, self.db_url, self.db_schema, self.path("archive"))
            return
        try:
            self.ledger = Ledger(self.root / DB, self.path("archive"))
        except (OSError, sqlite3.Error) as e:
            from gkxlsx.fsutil import write_problem

            problem = write_problem(e)
            if problem is None:
                raise
            raise CampaignError(
                f"无法打开账本 {self.root / DB}：{problem}（{e}）。账本中已保存的数据没有丢失；请腾出磁盘空间后重试。"
            ) from None

    @property
    def office_info(self) -> OfficeInfo:
        """What every unit's workbook tells it about this campaign (who collects, contact, deadline)."""
        from gkxlsx.workbook.generate import OfficeInfo

        return OfficeInfo(name=self.office, contact=self.contact, deadline=self.deadline)

    def path(self, which: str) -> Path:
        p = self.root / DIRS[which]
        p.mkdir(parents=True, exist_ok=True)
        return p

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def mail_config(self) -> dict[str, Any]:
        return dict(self.config.get("mail", {}))

    # -- units ---------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        return [self._unit(r) for r in self.ledger.units()]

    @staticmethod
    def _unit(r: sqlite3.Row) -> Unit:
        return Unit(
            code=r["code"],
            name=r["name"],
            type=r["type"],
            parent=r["parent"],
            contact=r["contact"],
            email=r["email"],
            phone=r["phone"],
        )

    def unit(self, ref: str) -> Unit:
        """Find a unit by code or (unique part of its) name."""
        r = self.ledger.unit(ref)
        if r is not None:  # a code: one indexed lookup
            return self._unit(r)
        units = self.units()
        hits = [u for u in units if ref and ref in u.name]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise CampaignError(f"名单中没有代码或名称为“{ref}”的单位。")
        raise CampaignError(f"“{ref}”对应多个单位：{'、'.join(u.label for u in hits)}，请使用单位代码。")

    # -- previous year ---------------------------------------------------------------------

    def previous_for(self, code: str) -> tuple[Form, dict[str, Any]] | None:
        p = self.ledger.previous(code)
        if p is None:
            return None
        fmt, _year, vals = p
        return load_form(fmt), vals

    # -- status ----------------------------------------------------------------------------

    def status(self) -> StatusSummary:
        from gkxlsx.campaign.review import first_and_latest, held_counts

        cur = self.ledger.currents()
        times = first_and_latest(self.ledger)
        held = held_counts(self.ledger)
        rows = []
        for u in self.units():
            f, last, n = times.get(u.code, (None, None, 0))
            rows.append(UnitStatus(u, cur.get(u.code), f, n, last, held.get(u.code, 0)))
        return StatusSummary(rows, self.deadline, self.ledger.quarantine_count())

    def headline(self) -> str:
        """``status().headline()`` without reading every submission's values and findings (a server
        answers it after every upload): the current statuses counted by the database, lateness
        from the receipt times alone, judged as :class:`StatusSummary` judges them."""
        from gkxlsx.campaign.review import first_and_latest

        c = self.ledger.conn
        codes = {r[0] for r in c.execute("SELECT code FROM units")}
        by_status = Counter(
            st
            for code, st in c.execute("SELECT unit_code, status FROM submissions WHERE is_current=1")
            if code in codes
        )
        summary = StatusSummary([], self.deadline, self.ledger.quarantine_count())
        late = sum(
            1
            for code, (first, _latest, _n) in first_and_latest(self.ledger).items()
            if code in codes and summary.in_time(first) is False
        )
        return headline_text(len(codes), by_status, late, summary.quarantined)

    def peer_findings(self) -> dict[str, list]:
        """{unit code: 提示 findings} for figures of a unit's current return far from those of the
        other units of its 单位类型 (:func:`gkxlsx.rules.plausibility.peer_outliers`)."""
        from gkxlsx.rules.plausibility import Peer, peer_outliers, spec

        s = spec(self.form, "peers")
        if s is None:
            return {}
        types = dict(self.ledger.conn.execute("SELECT code, type FROM units").fetchall())
        # only the compared figures of each current return (a unit page asks this at every view:
        # parsing every return's values took 25 ms with 500 units)
        return peer_outliers(
            self.form,
            (Peer(code, types[code], vals) for code, vals in self.ledger.current_figures(s["keys"]) if code in types),
        )

    def similar(self) -> list[tuple[Unit, Unit, float]]:
        """W-XY-SIMILAR (内容雷同) across the campaign: pairs of units whose current returns' narrative
        parts (一、五、六) are nearly the same, most similar first (each unit's own name ignored)."""
        from gkxlsx.text.similarity import join, narrative_text, shingles, token_ids

        by_code = {u.code: u for u in self.units()}
        units, sets = [], []
        vocab: dict[str, int] = {}
        for code, _status, vals in self.ledger.iter_currents():
            u = by_code.get(code)
            if u is not None:
                units.append(u)
                sets.append(token_ids(shingles(narrative_text(vals), u.name), vocab))
        return [(units[i], units[j], sc) for i, j, sc in join(sets)]


def _open_shared(root: Path, url: str, schema: str, archive: Path) -> Ledger:
    """The ledger of a campaign kept in a shared PostgreSQL database; CampaignError (Chinese) when
    it cannot be reached."""
    from gkxlsx.campaign.store import SCHEMA_NAME, is_url, redact

    if not is_url(url):
        raise CampaignError(f"配置文件中的数据库地址“{redact(url)}”不对，应以 postgresql:// 开头。")
    if not SCHEMA_NAME.match(schema):
        raise CampaignError(
            f"配置文件中的 db_schema“{schema}”不对：应为小写字母、数字和下划线（由 gkxlsx init --db 生成）。"
        )
    try:
        return Ledger(url, archive, schema=schema, root=root)
    except ImportError:
        raise CampaignError(
            "使用 PostgreSQL 数据库需要 psycopg：请运行 pip install 'psycopg[binary]' 后重试。"
        ) from None
    except Exception as e:
        if not type(e).__module__.startswith("psycopg"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CampaignError(
            f"无法连接账本数据库 {redact(url)}（模式 {schema}）：{msg}。请检查数据库地址、用户和密码（PGPASSWORD 或 .pgpass），"
            "以及数据库服务器是否在运行。"
        ) from None


def new_schema_name(year: int) -> str:
    """A fresh schema name for a campaign in a shared database: ``gkx_2025_1a2b3c4d``."""
    import secrets

    return f"gkx_{int(year)}_{secrets.token_hex(4)}"


# --------------------------------------------------------------------------------------------
# init


def init_campaign(
    root: str | Path,
    *,
    year: int,
    roster: str | Path,
    fmt: str | None = None,
    office: str = "",
    contact: str = "",
    deadline: date | None = None,
    previous: str | Path | None = None,
    db: str | None = None,
) -> Campaign:
    """Make a campaign folder.  ``db``: a PostgreSQL URL — the ledger is then a new schema of that
    (shared) database, named in campaign.toml, instead of ledger.sqlite in the folder."""
    root = Path(root)
    if db:
        from gkxlsx.campaign.store import is_url, redact

        if not is_url(db):
            raise CampaignError(
                f"数据库地址“{redact(db)}”不对：应为 postgresql://用户@主机:端口/库名。不写 --db 时账本是目录中的 ledger.sqlite。"
            )
    if (root / CONFIG).exists():
        raise CampaignError(f"{root} 已经是一个收集任务目录，不会覆盖。如需重新开始，请换一个目录。")
    check_report_year(year)  # raises FormError naming the valid range
    form = load_form(fmt) if fmt else form_for_year(year)
    lo, hi = form.report_years
    if not lo <= year <= hi:
        raise CampaignError(f"格式 {form.id} 适用于 {lo}—{hi} 年度，不适用于 {year} 年度。")
    units = load_roster(roster, form)  # raises RosterError listing every bad line
    prev_camp = None
    if previous:
        prev_camp = Campaign(Path(previous))
        if prev_camp.year != year - 1:
            prev_camp.close()
            raise CampaignError(f"上年度收集任务 {previous} 的年度是 {prev_camp.year}，不是 {year - 1}。")
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(roster, root / ("roster" + Path(roster).suffix.lower()))
    cfg = {
        "campaign": {
            "year": year,
            "format": form.id,
            "office": office,
            "contact": contact,
            "deadline": (deadline or date(year + 1, *form.publication_deadline(None))).isoformat(),
            "previous": str(Path(previous).resolve()) if previous else "",
            **({"db": db, "db_schema": new_schema_name(year)} if db else {}),
        },
        "mail": {
            "host": "",
            "port": 465,
            "security": "ssl",
            "user": "",
            "sender": "",
            "sender_name": office,
            "password_env": "GKXLSX_SMTP_PASSWORD",
            "rate_per_minute": 30,
            "imap_host": "",
            "imap_port": 993,
            "imap_folder": "INBOX",
        },
    }
    # the year is the form's 报告年度 (the meta field every workbook is stamped with)
    write_config(root / CONFIG, cfg, {**CONFIG_COMMENTS, "campaign.year": form.fields["meta.year"].label})
    try:
        camp = Campaign(root)
    except CampaignError:
        if db:  # the database could not be reached: no half-made campaign, init may be run again
            (root / CONFIG).unlink(missing_ok=True)
        if prev_camp is not None:
            prev_camp.close()
        raise
    camp.notices = list(units.notices)
    camp.ledger.set_units(units)
    camp.ledger.set_meta(created=datetime.now().isoformat(timespec="seconds"), year=year, format=form.id)
    for d in DIRS:
        camp.path(d)
    if prev_camp is not None:
        try:
            copy_previous(prev_camp, camp)
        finally:
            prev_camp.close()
    return camp


def copy_previous(prev: Campaign, camp: Campaign) -> int:
    """Take last year's accepted current submissions as this campaign's previous-year baseline."""
    n = 0
    for code, sub in prev.ledger.currents().items():
        if sub.status not in ACCEPTED_STATUSES and sub.n_errors:
            continue
        camp.ledger.set_previous(code, sub.format or prev.form.id, prev.year, sub.values, f"campaign:{prev.root}")
        n += 1
    return n


def find_campaign(start: str | Path | None = None) -> Campaign:
    """The campaign in ``start`` or the current directory (or one of its parents)."""
    if start:
        return Campaign(Path(start))
    here = Path.cwd()
    for d in [here, *here.parents]:
        if (d / CONFIG).exists():
            return Campaign(d)
    raise CampaignError(
        "当前目录不是收集任务目录。请在收集任务目录中运行，或用 --campaign 目录 指定（先用 gkxlsx init 创建）。"
    )


# --------------------------------------------------------------------------------------------
# diff, aggregate


def diff_values(form: Form, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Cell-level changes between two submissions' values: (key, old, new), in form order."""
    keys = list(form.cells) + [k for k in form.fields if k not in form.cells]
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if k in form.cells:
            na, nb = as_number(va), as_number(vb)
            if na is not None and nb is not None:
                if na != nb:
                    out.append((k, va, vb))
                continue
        if (va if va not in ("",) else None) != (vb if vb not in ("",) else None):
            out.append((k, va, vb))
    return out


@dataclass
class Aggregate:
    name: str
    report: Report
    included: list[Unit]
    missing: list[tuple[Unit, str]]
    per_unit: PerUnit
    findings: list

    @property
    def completeness(self) -> dict[str, Any]:
        return {
            "expected": len(self.included) + len(self.missing),
            "included": [u.name for u in self.included],
            "missing": [{"unit": u.name, "reason": r} for u, r in self.missing],
            "statement": completeness_statement(
                len(self.included), len(self.included) + len(self.missing), [u.name for u, _ in self.missing]
            ),
        }


def completeness_statement(n_in: int, n_all: int, missing: Sequence[str]) -> str:
    if n_in == n_all:
        return f"本报告汇总了全部 {n_all} 个单位的数据。"
    return f"本报告汇总了 {n_all} 个单位中 {n_in} 个单位的数据；未纳入汇总的单位：{'、'.join(missing)}。"


def aggregate(camp: Campaign, by: str | None = None) -> list[Aggregate]:
    """Sum the accepted current submissions (通过 / 已确认), per group when ``by`` is 上级单位 or 单位类型.

    The current submissions are read from the ledger one at a time and only their sums are kept,
    so memory does not grow with the number of units (a province's tens of thousands); the
    per-unit figures (:attr:`Aggregate.per_unit`) are read again when they are asked for."""
    form = camp.form
    if by in (None, "", "全部"):
        group_of = lambda u: camp.office or "汇总"  # noqa: E731
    elif by in (column_name("parent"), "parent"):
        group_of = lambda u: u.parent or f"（无{column_name('parent')}）"  # noqa: E731
    elif by in (column_name("type"), "type"):
        group_of = lambda u: u.type  # noqa: E731
    else:
        raise CampaignError(f"--by 只能是 {column_name('parent')} 或 {column_name('type')}，不能是“{by}”。")
    units = camp.units()
    groups: dict[str, list[Unit]] = {}
    unit_group: dict[str, str] = {}
    for u in units:
        g = group_of(u)
        groups.setdefault(g, []).append(u)
        unit_group[u.code] = g
    numeric = list(summed_keys(form))
    sums: dict[str, dict[str, Any]] = {g: {k: 0 for k in numeric} for g in groups}
    current: dict[str, str] = {}  # unit code → status of its current submission
    for code, status, vals in camp.ledger.iter_currents():
        g = unit_group.get(code)
        if g is None:
            continue
        current[code] = status
        if status not in ACCEPTED_STATUSES:
            continue
        acc = sums[g]
        for k in numeric:
            v = as_number(vals.get(k))
            if v is not None:
                acc[k] = acc[k] + v
    out = []
    for name, members in groups.items():
        included, missing = [], []
        for u in members:
            st = current.get(u.code)
            if st is None:
                missing.append((u, "未报送"))
            elif st not in ACCEPTED_STATUSES:
                missing.append((u, f"当前报送{st}，尚未通过或确认"))
            else:
                included.append(u)
        values: dict[str, Any] = dict(sums[name])
        values.update({k: v for k, v in compute_derived(form, values).items()})
        values["meta.name"] = name
        values["meta.year"] = camp.year
        rep = Report(
            form=form,
            year=camp.year,
            unit_name=name,
            unit_code="",
            unit_type="",
            values=values,
            source=f"aggregate:{camp.root}",
        )
        findings = check(form, values)
        out.append(
            Aggregate(name, rep, included, missing, PerUnit(camp.ledger, [u.code for u in included], numeric), findings)
        )
    return out


class PerUnit:
    """The included units' figures, in roster order, read from the ledger as they are iterated
    (the roll-up workbook's 分单位明细 sheet) — not held in memory."""

    def __init__(self, ledger, codes: list[str], keys: list[str]):
        self.ledger, self.codes, self.keys = ledger, codes, keys

    def __len__(self) -> int:
        return len(self.codes)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for code in self.codes:
            vals = self.ledger.current_values(code) or {}
            yield code, {k: vals.get(k) for k in self.keys}

    def __getitem__(self, code: str) -> dict[str, Any]:
        if code not in self.codes:
            raise KeyError(code)
        vals = self.ledger.current_values(code) or {}
        return {k: vals.get(k) for k in self.keys}


# --------------------------------------------------------------------------------------------
# import


IMPORT_BATCH = 200
_SWEPT: set[str] = set()  # archive folders this process has swept for a killed import's temporary files
SMALL_IMPORT = 16  # up to this many files (with one process), lookups instead of whole tables


class _LedgerUnits(Mapping[str, Unit]):
    """{code: Unit} of the campaign's roster, each unit read from the ledger when first asked."""

    def __init__(self, camp: Campaign):
        self.camp = camp
        self._seen: dict[str, Unit | None] = {}

    def __getitem__(self, code: str) -> Unit:
        if code not in self._seen:
            r = self.camp.ledger.unit(code) if isinstance(code, str) else None
            self._seen[code] = None if r is None else Campaign._unit(r)
        u = self._seen[code]
        if u is None:
            raise KeyError(code)
        return u

    def __iter__(self) -> Iterator[str]:
        return iter([u.code for u in self.camp.units()])

    def __len__(self) -> int:
        return self.camp.ledger.conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]


class _LedgerHashes:
    """``sha in known``: whether the ledger holds these bytes (recorded or set aside), asked of it."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def __contains__(self, sha: object) -> bool:
        return isinstance(sha, str) and self.ledger.knows(sha)


_DUPLICATE = "该文件此前已导入（内容完全相同），未重复记录。"


class _Taken(NamedTuple):
    """What an import job did with one file (a tuple: cheap to send back from a worker process).
    ``kind``: ok (archived and checked), internal (archived; the checker failed: ``message``),
    duplicate (bytes the ledger already holds), failed (not archived: ``message``)."""

    kind: str
    sha: str = ""
    archived: str = ""
    message: str = ""
    unit_code: str | None = None
    status: str = ""
    headline: str = ""
    application: str = ""
    format: str = ""
    year: int | None = None
    findings: list[dict] | None = None
    findings_json: str = ""
    values_json: str = ""


class _ImportJob:
    """What one import needs to take a file as far as the ledger: archive it, skip it when its
    bytes were imported before, check it, and serialise what will be recorded.  Runs in the
    importing process and in each worker process.  ``known``: the sha256 of every file the ledger
    holds when the import starts (one query, instead of two per file in every process); a file
    recorded since — the same bytes twice in one import — is found when it is recorded."""

    def __init__(
        self,
        archive_dir: Path,
        known: Container[str],
        ctx,
        contents: Mapping[str, bytes] | None = None,
        inline: bool = False,
    ):
        self.archive_dir, self.ctx = archive_dir, ctx
        self.known = known
        self.contents = contents
        self.inline = inline

    def _writer(self) -> _Writer:
        return _Writer.shared()

    def __call__(self, path: str) -> _Taken:
        import hashlib
        from concurrent.futures import Future

        from gkxlsx.campaign.ledger import archive_file, dump_findings, dump_values
        from gkxlsx.check.checker import check_file

        p = Path(path)

        def failed(e: OSError) -> _Taken:
            return _Taken(
                "failed",
                message=f"无法保存原件（{e.strerror or e}）：{_shown(p)}。账本未改动，请检查磁盘空间后重新导入。",
            )

        try:  # read once: archived and checked from memory
            data = self.contents[path] if self.contents is not None and path in self.contents else p.read_bytes()
        except OSError as e:
            return failed(e)
        sha = hashlib.sha256(data).hexdigest()
        # the archived copy is written by this process's writer thread while the file is checked
        # (file creation waits on the file system, checking on the CPU); the result is returned
        # only once the copy is written (it is synced per batch, before recording).  A small
        # import (an upload) writes it here: handing one file to the thread and back costs more
        # than the overlap gains, in a server that has other requests to overlap with.
        pending: Future = Future()
        if self.inline:
            try:
                pending.set_result(archive_file(self.archive_dir, p, sha, sync=False, data=data))
            except OSError as e:
                pending.set_exception(e)
        else:
            pending = self._writer().submit(archive_file, self.archive_dir, p, sha, sync=False, data=data)
        known = sha in self.known
        res = err = None
        if not known:
            try:
                res = check_file(p, context=self.ctx, data=data, sha256=sha)
            except Exception as e:  # noqa: BLE001 - a checker bug must not lose the file
                err = e
        try:
            sha, archived = pending.result()
        except OSError as e:
            return failed(e)
        if known:
            return _Taken("duplicate")
        if res is None:
            return _Taken("internal", sha, str(archived), str(err))
        ident = res.identity
        findings = [f.to_dict() for f in res.findings]
        values = dict(res.report.values) if res.report is not None else {}
        return _Taken(
            "ok",
            sha,
            str(archived),
            unit_code=getattr(ident, "unit_code", None) if ident is not None else None,
            status=res.status,
            headline=res.headline() if hasattr(res, "headline") else res.status,
            application=res.application or "",
            format=(getattr(ident, "format", "") or "") if ident is not None else "",
            year=getattr(ident, "year", None) if ident is not None else None,
            findings=findings,
            findings_json=dump_findings(findings),
            values_json=dump_values(values),
        )


class _Writer:
    """One daemon thread that runs submitted calls in order (file writes, which release the GIL).
    One per process, shared by every import in it (a server imports an upload per request: a
    thread per import would never end)."""

    _shared: _Writer | None = None
    _guard = threading.Lock()

    @classmethod
    def shared(cls) -> _Writer:
        w = cls._shared
        if w is None or w.pid != os.getpid():  # threads do not survive a fork
            with cls._guard:
                w = cls._shared
                if w is None or w.pid != os.getpid():
                    w = cls._shared = cls()
        return w

    def __init__(self) -> None:
        import queue

        self.pid = os.getpid()
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="gkxlsx-archive", daemon=True).start()

    def _run(self) -> None:
        while True:
            fut, fn, args, kw = self.q.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args, **kw))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)

    def submit(self, fn, *args, **kw):
        from concurrent.futures import Future

        fut: Future = Future()
        self.q.put((fut, fn, args, kw))
        return fut


def import_files(
    camp: Campaign,
    paths: Iterable[str | Path],
    *,
    source: str = "文件",
    received_at: str | None = None,
    jobs: int = 1,
    progress: Callable[[ImportOutcome], None] | None = None,
    keep: bool = True,
    batch: int = IMPORT_BATCH,
    names: Mapping[str, str] | None = None,
    only_unit: str | None = None,
    contents: Mapping[str, bytes] | None = None,
) -> list[ImportOutcome]:
    """Validate and record returned files.  Never raises for a bad file: each gets an outcome, in
    the order of the files.

    Each file is archived (read once, sha256, written under its hash and synced to disk) before
    anything about it is recorded; a file whose bytes were imported before is not checked again;
    the others are checked — with ``jobs`` > 1 by this process and ``jobs - 1`` workers, which
    archive and check (:mod:`gkxlsx.check.parallel`) while this process also records — and recorded ``batch`` files per ledger transaction (a savepoint
    per file).  ``progress`` is called with each outcome as it is decided; with ``keep=False``
    outcomes are not collected (an import of tens of thousands of files keeps flat memory) and the
    returned list is empty.

    ``names``: the name to record and show for a file (by its path as given) instead of its own —
    an upload is staged under a name the server chose.  ``only_unit``: record only returns of this
    unit; a file of any other unit is refused (a unit's own upload page).  ``contents``: the bytes of
    files held in memory (an upload), by their path as given: read from here, not from the disk (such
    a path is a name only: it is not expanded as a folder)."""
    import time

    from gkxlsx.campaign.ledger import clean_archive, sync_archive
    from gkxlsx.check.checker import expand_paths
    from gkxlsx.check.context import CheckContext, roster_dict

    # an import killed while archiving (kill -9, a power cut) left temporary files: never finished.
    # Swept once per process and archive (a scan of its 256 folders: a server importing every
    # upload sweeps at its first; a command, one process, at each run)
    swept = str(camp.ledger.archive_dir)
    if swept not in _SWEPT:
        clean_archive(camp.ledger.archive_dir, time.time())
        _SWEPT.add(swept)

    if contents is not None:
        files = [f for p in paths for f in ([Path(p)] if str(p) in contents else expand_paths([p]))]
    else:
        files = expand_paths(paths)
    jobs = max(1, min(int(jobs or 1), os.cpu_count() or 1, len(files) or 1))
    by_code: Mapping[str, Unit]
    known: Container[str]
    small = jobs == 1 and len(files) <= SMALL_IMPORT
    if small:
        # a few files (an upload): the units, last year's values and the known hashes they need,
        # looked up in the ledger, instead of reading the whole roster and every hash each time
        by_code, known = _LedgerUnits(camp), _LedgerHashes(camp.ledger)
        ctx = CheckContext(roster=by_code, year=camp.year, prev_lookup=camp.ledger.previous)
    else:
        units = camp.units()
        by_code = {u.code: u for u in units}
        known = camp.ledger.known_hashes()
        ctx = CheckContext(roster=roster_dict(units), year=camp.year, prev_by_unit=camp.ledger.previous_all())
    job = _ImportJob(camp.ledger.archive_dir, known, ctx, contents, inline=small)
    out: list[ImportOutcome] = []
    when = received_time(received_at)
    judge = _misfire_judge(camp)
    batch = max(1, int(batch or IMPORT_BATCH))

    def flush(items: list[tuple[Path, _Taken]]) -> None:
        """Record one batch in one transaction; outcomes in file order."""
        decided: list[ImportOutcome] = []
        try:  # the batch's archived files reach the disk before the ledger refers to them
            sync_archive(camp.ledger.archive_dir, [Path(r.archived) for _, r in items if r.kind in ("ok", "internal")])
        except OSError as e:
            for p, r in items:
                o = (
                    ImportOutcome(
                        p,
                        "failed",
                        message=f"无法保存原件（{e.strerror or e}）：{_shown(p)}。账本未改动，请检查磁盘空间后重新导入。",
                    )
                    if r.kind in ("ok", "internal")
                    else ImportOutcome(p, r.kind, message=r.message if r.kind == "failed" else _DUPLICATE)
                )
                if keep:
                    out.append(o)
                if progress is not None:
                    progress(o)
            return
        try:
            with camp.ledger.batch() as b:
                for p, r in items:
                    try:
                        decided.append(_record_one(b, by_code, p, r, source, when, names, only_unit, judge))
                    except camp.ledger.Error as e:  # this file only (its savepoint was rolled back)
                        decided.append(
                            ImportOutcome(
                                p,
                                "failed",
                                message=f"无法写入账本（{e}）：{_shown(p)}。原件已归档；请检查磁盘空间后重新导入。",
                            )
                        )
        except camp.ledger.Error as e:  # the commit itself: nothing of this batch was recorded
            decided = [
                ImportOutcome(p, r.kind, message=r.message if r.kind == "failed" else _DUPLICATE)
                if r.kind in ("failed", "duplicate")
                else ImportOutcome(
                    p,
                    "failed",
                    message=f"无法写入账本（{e}）：{_shown(p)}。账本保持导入前的状态，原件已归档；请检查磁盘空间后重新导入。",
                )
                for p, r in items
            ]
        for o in decided:
            if keep:
                out.append(o)
            if progress is not None:
                progress(o)

    def consume(results: Iterable[_Taken]) -> None:
        buf: list[tuple[Path, _Taken]] = []
        for p, r in zip(files, results):
            buf.append((p, r))
            if len(buf) >= batch:
                flush(buf)
                buf = []
        if buf:
            flush(buf)

    if jobs == 1:
        consume(job(str(p)) for p in files)
    else:  # this process and jobs - 1 workers archive and check; this one also records
        from gkxlsx.check.parallel import ordered_map

        consume(ordered_map(job, [str(p) for p in files], jobs))
    return out


def _record_one(
    b,
    by_code: Mapping[str, Unit],
    p: Path,
    r: _Taken,
    source: str,
    when: str,
    names: Mapping[str, str] | None = None,
    only_unit: str | None = None,
    judge: Callable[[Any, str, _Taken], str] | None = None,
) -> ImportOutcome:
    if r.kind in ("failed", "duplicate"):
        return ImportOutcome(p, r.kind, message=r.message if r.kind == "failed" else _DUPLICATE)
    shown = (names or {}).get(str(p)) or _shown(p.name)
    if only_unit is not None and r.unit_code != only_unit:
        found = f"单位代码 {r.unit_code} 的报告" if r.unit_code else "无法识别是哪个单位的报告"
        return ImportOutcome(
            p,
            "failed",
            message=f"{shown} 是{found}，不是本单位（{only_unit}）的，未登记。请上传本单位的工作簿。",
            findings=r.findings or [],
        )
    received = Received(r.sha, Path(r.archived), shown, source, when)

    def set_aside(reason: str, findings: list[dict], message: str) -> ImportOutcome:
        if not b.quarantine(received, reason, findings):
            return ImportOutcome(p, "duplicate", message=_DUPLICATE)  # the same bytes, set aside earlier in this import
        return ImportOutcome(p, "quarantine", message=message, findings=findings)

    if r.kind == "internal":
        return set_aside(
            f"检查时出现内部错误：{r.message}", [], f"检查时出现内部错误，文件已保存待人工处理：{r.message}"
        )
    findings = r.findings or []
    code = r.unit_code
    if not code or code not in by_code:
        reason = f"单位代码 {code} 不在本次收集名单中" if code else r.headline
        return set_aside(reason, findings, reason)
    status = r.status if r.status in (STATUS_PASS, STATUS_WARN, STATUS_ERR) else STATUS_ERR
    hold = judge(b.ledger, code, r) if judge is not None else ""
    got = b.record(
        NewSubmission(
            received,
            unit_code=code,
            application=r.application,
            format=r.format,
            year=r.year,
            status=status,
            findings=findings,
            findings_json=r.findings_json,
            values_json=r.values_json,
            hold=hold,
        )
    )
    if got is None:  # the same bytes were recorded earlier in this batch: as if known before checking
        return ImportOutcome(p, "duplicate", message=_DUPLICATE)
    held = b.ledger.submission_by_version(code, got[1])
    return ImportOutcome(
        p, "new", code, got[1], status, findings=findings, held=held.hold if held is not None and held.held else ""
    )


def received_time(text: str | None) -> str:
    """A received time as the ledger stores it (with its offset; typed without one: China time);
    none given: now."""
    from gkxlsx.clock import parse_time, stamp

    if not text:
        return stamp()
    try:
        return stamp(parse_time(text))
    except ValueError:
        raise CampaignError(f"收到时间“{text}”格式不对，应为 YYYY-MM-DDTHH:MM（北京时间）。") from None


def _misfire_judge(camp: Campaign) -> Callable[[Any, str, _Taken], str]:
    """(ledger, unit code, checked file) → why to hold the file as 疑似误发, or "" (see review.misfire)."""
    from gkxlsx.campaign.ledger import load_values
    from gkxlsx.campaign.review import misfire

    def judge(ledger, code: str, r: _Taken) -> str:
        cur = ledger.current(code)
        if cur is None:
            return ""
        return misfire(camp.form, camp.year, r.year, load_values(r.values_json) if r.values_json else {}, cur)

    return judge


def generate_for_campaign(camp: Campaign, *, only: Sequence[str] | None = None, progress=None):
    """Generate every unit's workbook into the campaign's 模板/ folder, with last year's carry-over
    prefilled and the cross-year checks compiled in where last year's data is known."""
    from gkxlsx.workbook.generate import generate_all
    from gkxlsx.workbook.prefill import carry_over

    units = [u for u in camp.units() if not only or u.code in only]
    prefill: dict[str, dict[str, Any]] = {}
    prev: dict[str, dict[str, Any]] = {}
    prev_fmt = None
    for u in units:
        p = camp.previous_for(u.code)
        if p is None:
            continue
        pform, vals = p
        prefill[u.code] = carry_over(camp.form, vals, pform)
        prev[u.code] = vals
        prev_fmt = pform.id
    return generate_all(
        units,
        camp.year,
        camp.path("templates"),
        form=camp.form,
        prefill=prefill,
        prev=prev or None,
        prev_format=prev_fmt,
        office=camp.office_info,
        progress=progress,
    )
