"""The review of a unit's return: its states, the office's actions between them, and the trail.

States (what the unit's return is now, :func:`unit_state`)::

    未报送 ──报送──► 待审核 ──退回──► 退回 ──报送──► 待审核 …
                      │  (no finding)        已通过 ─┐
                      │  (warnings explained) 已确认 ─┼─确认──► 已锁定 ──重新打开──► 已确认 / 已通过 / 待审核
                      └──────────────────────────────┘

* 报送 (``submit``): a checked file becomes the unit's current version.  It is **held** instead
  (``hold``: recorded, not current) when the unit's return is locked, or when it looks sent by
  mistake (疑似误发, :func:`misfire`: the blank template, far fewer filled cells than the current
  version, last year's file).
* 退回 (``return``): the office sends a version back with a reason (the caller writes the feedback
  workbook and, with mail set up, sends it).
* 确认 (``accept``): the office takes a version for the roll-up and locks it.  A version with
  errors (强制) cannot be accepted; each warning (核实) needs a written reason of at least
  :data:`MIN_REASON` characters — given now, or given before for the same finding of this unit —
  recorded per finding (``explanations``); a version without findings needs none.  A held version
  accepted becomes current.  Accepting again adds reasons, never replaces them.
* 重新打开 (``reopen``): the office's alone; unlocks the return (and, with a version, makes that
  held version current).

Every action is one row of the ledger's append-only ``review_log`` (who, when, action, reason,
version).  Status, aggregate and render read the current version, which only these rules change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gkxlsx.campaign.ledger import (
    REVIEW_LOCKED,
    REVIEW_RETURNED,
    STATUS_ACCEPTED,
    STATUS_PASS,
    Ledger,
    LedgerError,
    Submission,
    _log,
    load_values,
)
from gkxlsx.clock import shown, stamp

if TYPE_CHECKING:
    from gkxlsx.form.model import Form

#: the shortest reason that may explain a warning (核实)
MIN_REASON = 6

# the states of a unit's return, as people read them
STATE_NONE = "未报送"
STATE_PENDING = "待审核"
STATE_RETURNED = "退回"
STATE_PASSED = "已通过"
STATE_CONFIRMED = "已确认"
STATE_LOCKED = "已锁定"
STATES = (STATE_NONE, STATE_PENDING, STATE_RETURNED, STATE_PASSED, STATE_CONFIRMED, STATE_LOCKED)

# the actions of the review log, as people read them
ACTIONS = {
    "submit": "报送",
    "hold": "暂存",
    "return": "退回",
    "accept": "确认并锁定",
    "reopen": "重新打开",
}

# finding grades (联网直报): 错误 must be fixed, 警告 may stand with a written reason, 提示 informs
GRADES = {"error": "强制", "warning": "核实", "info": "提示"}

#: a re-send with fewer than this share of the current version's filled cells is held (疑似误发)
MISFIRE_SHARE = 0.5
MISFIRE = "疑似误发"


def unit_state(current: Submission | None) -> str:
    """The state of a unit's return from its current version (None: nothing received)."""
    if current is None:
        return STATE_NONE
    if current.review == REVIEW_LOCKED:
        return STATE_LOCKED
    if current.review == REVIEW_RETURNED:
        return STATE_RETURNED
    if current.status == STATUS_PASS:
        return STATE_PASSED
    if current.status == STATUS_ACCEPTED:
        return STATE_CONFIRMED
    return STATE_PENDING


# --------------------------------------------------------------------------------------------
# 疑似误发


def filled_count(form: Form, values: Mapping[str, Any]) -> int:
    """How many entry cells of the tables hold a value (a blank template: none, or only carry-over)."""
    return sum(1 for k in form.entry_keys if values.get(k) not in (None, ""))


def misfire(
    form: Form, year: int, new_year: int | None, new_values: Mapping[str, Any], current: Submission | None
) -> str:
    """Why a new version looks sent by mistake and is to be held rather than replace ``current``
    (the unit's current version), or "".  Only a re-send is judged: a first return has nothing to
    replace."""
    if current is None:
        return ""
    if new_year is not None and new_year != year:
        return f"{MISFIRE}：这是 {new_year} 年度的文件，不是 {year} 年度的"
    n_new = filled_count(form, new_values)
    n_cur = filled_count(form, current.values)
    carried = {k for a, _b in form.carry_over for k in form.entry_keys if k.startswith(a + ".")}
    if n_cur and all(new_values.get(k) in (None, "") for k in form.entry_keys if k not in carried):
        return f"{MISFIRE}：空白模板（未填数字；当前第 {current.version} 版已填 {n_cur} 格）"
    if n_cur and n_new < n_cur * MISFIRE_SHARE:
        return f"{MISFIRE}：只填了 {n_new} 格，远少于当前第 {current.version} 版的 {n_cur} 格"
    return ""


# --------------------------------------------------------------------------------------------
# findings and their reasons


def finding_key(f: Mapping[str, Any]) -> str:
    """One finding of a return, the same in every version that has it: rule instance and cells."""
    return f"{f.get('instance') or f.get('rule') or ''}|{','.join(f.get('keys') or ())}"


def _matches(ref: str, f: Mapping[str, Any]) -> bool:
    return ref in (f.get("rule"), f.get("instance"), finding_key(f))


@dataclass(frozen=True)
class Explanation:
    unit_code: str
    version: int
    finding: str
    rule: str
    message: str
    reason: str
    actor: str
    at: str


def explanations(ledger: Ledger, unit_code: str, version: int | None = None) -> list[Explanation]:
    """Every reason given for a warning of the unit (of one version), oldest first."""
    q = "SELECT * FROM explanations WHERE unit_code=?" + (" AND version=?" if version is not None else "")
    args: tuple = (unit_code,) if version is None else (unit_code, version)
    return [
        Explanation(
            r["unit_code"], r["version"], r["finding"], r["rule"], r["message"], r["reason"], r["actor"], r["at"]
        )
        for r in ledger.conn.execute(q + " ORDER BY id", args)
    ]


def accepted_reasons(ledger: Ledger, unit_code: str, sub: Submission) -> list[tuple[dict, list[Explanation]]]:
    """The accepted version's warnings, each with every reason recorded for it (this version's, and
    earlier versions' for the same finding with the same message)."""
    ex = explanations(ledger, unit_code)
    out = []
    for f in sub.findings:
        if f.get("severity") != "warning":
            continue
        k = finding_key(f)
        out.append(
            (f, [e for e in ex if e.finding == k and (e.version == sub.version or e.message == f.get("message"))])
        )
    return out


def note_text(reasons: Sequence[tuple[dict, list[Explanation]]], general: str = "") -> str:
    """The reasons as one note (status tables, the roll-up's notes): each distinct reason once."""
    seen: list[str] = []
    for r in [general] + [e.reason for _f, es in reasons for e in es]:
        r = (r or "").strip()
        if r and r not in seen:
            seen.append(r)
    return "；".join(seen)


# --------------------------------------------------------------------------------------------
# the office's actions


def _version(ledger: Ledger, unit_code: str, version: int | None) -> Submission:
    sub = ledger.current(unit_code) if version is None else ledger.submission_by_version(unit_code, version)
    if sub is None:
        if version is None:
            raise LedgerError(f"单位 {unit_code} 还没有报送记录。")
        raise LedgerError(f"单位 {unit_code} 没有第 {version} 版。")
    return sub


def _make_current(c, sub: Submission) -> None:
    c.execute("UPDATE submissions SET is_current=0 WHERE unit_code=? AND is_current=1", (sub.unit_code,))
    c.execute("UPDATE submissions SET is_current=1 WHERE id=?", (sub.id,))


def accept(
    ledger: Ledger,
    unit_code: str,
    note: str = "",
    version: int | None = None,
    *,
    explain: Mapping[str, str] | None = None,
    actor: str = "",
) -> Submission:
    """确认: take a version (default: the current one) for the roll-up and lock it.

    ``explain``: a reason per finding (by rule id, rule instance or :func:`finding_key`); ``note``:
    the reason for every warning not named in ``explain`` (and a note on the decision).  Refused
    (LedgerError, Chinese) for a version with errors, or a warning without a reason of at least
    :data:`MIN_REASON` characters now or before.  Earlier reasons are kept."""
    note = (note or "").strip()
    explain = {k.strip(): (v or "").strip() for k, v in (explain or {}).items()}
    sub = _version(ledger, unit_code, version)
    if sub.n_errors:
        raise LedgerError(
            f"单位 {unit_code} 第 {sub.version} 版有 {sub.n_errors} 个错误（强制），错误必须由单位修改后重新报送，不能确认。"
        )
    warnings = [f for f in sub.findings if f.get("severity") == "warning"]
    unknown = [k for k in explain if not any(_matches(k, f) for f in warnings)]
    if unknown:
        raise LedgerError(
            f"第 {sub.version} 版没有这些警告：{'、'.join(unknown)}。"
            f"可说明的警告：{'、'.join(finding_names(warnings)) or '无'}。"
        )
    short = [k for k, v in explain.items() if len(v) < MIN_REASON]
    if short:
        raise LedgerError(f"理由太短：{'、'.join(short)}。每条警告的理由至少 {MIN_REASON} 个字，写明核实的情况。")
    before = {e.finding: e for e in explanations(ledger, unit_code)}
    new: list[tuple[dict, str]] = []
    missing: list[dict] = []
    for f in warnings:
        reason = next((v for k, v in explain.items() if _matches(k, f)), "") or note
        if len(reason) >= MIN_REASON:
            new.append((f, reason))
            continue
        old = before.get(finding_key(f))
        if old is None or (old.version != sub.version and old.message != f.get("message")):
            missing.append(f)
    if missing:
        names = "、".join(sorted({str(f.get("instance") or f.get("rule")) for f in missing}))
        hint = f"（“{note}”不足 {MIN_REASON} 个字）" if note else ""
        raise LedgerError(
            f"单位 {unit_code} 第 {sub.version} 版有 {len(missing)} 个警告（核实）还没有理由{hint}：{names}。"
            f"请写明每个警告的理由（至少 {MIN_REASON} 个字）：--note “…” 用于全部警告，"
            f"或 --explain 规则编号=理由 逐条说明。"
        )
    at = stamp()
    with ledger.transaction() as c:
        log_id = _log(
            c,
            unit_code,
            sub.version,
            "accept",
            actor,
            note,
            {
                "explained": [str(f.get("instance") or f.get("rule")) for f, _r in new],
                "made_current": not sub.is_current,
            },
            at=at,
        )
        have = {(e.finding, e.version, e.reason) for e in before.values()}
        have |= {(e.finding, e.version, e.reason) for e in explanations(ledger, unit_code, sub.version)}
        for f, reason in new:
            k = finding_key(f)
            if (k, sub.version, reason) in have:
                continue
            have.add((k, sub.version, reason))
            c.execute(
                "INSERT INTO explanations(unit_code, version, finding, rule, message, reason, actor, at, log_id) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    unit_code,
                    sub.version,
                    k,
                    str(f.get("rule") or ""),
                    str(f.get("message") or ""),
                    reason,
                    actor,
                    at,
                    log_id,
                ),
            )
        if not sub.is_current:
            _make_current(c, sub)
        c.execute("UPDATE submissions SET review='' WHERE unit_code=? AND id<>?", (unit_code, sub.id))
        c.execute("UPDATE submissions SET hold='' WHERE id=?", (sub.id,))
    sub = ledger.submission(sub.id)  # type: ignore[assignment]
    text = note_text(accepted_reasons(ledger, unit_code, sub), note if not warnings else "")
    with ledger.transaction() as c:
        c.execute(
            "UPDATE submissions SET status=?, review=?, accepted_note=?, accepted_at=? WHERE id=?",
            (STATUS_ACCEPTED if warnings else sub.status, REVIEW_LOCKED, text or None, at, sub.id),
        )
    return ledger.submission(sub.id)  # type: ignore[return-value]


def return_(ledger: Ledger, unit_code: str, reason: str, version: int | None = None, *, actor: str = "") -> Submission:
    """退回: send a version (default: the current one) back to the unit with a reason.  A locked
    return must be reopened first."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise LedgerError("退回时必须写明理由（--reason “…”），单位会在修改意见中看到。")
    sub = _version(ledger, unit_code, version)
    if sub.review == REVIEW_LOCKED:
        raise LedgerError(f"单位 {unit_code} 第 {sub.version} 版已锁定，请先重新打开（gkxlsx reopen）再退回。")
    with ledger.transaction() as c:
        _log(c, unit_code, sub.version, "return", actor, reason)
        c.execute("UPDATE submissions SET review=? WHERE id=?", (REVIEW_RETURNED, sub.id))
    return ledger.submission(sub.id)  # type: ignore[return-value]


def reopen(ledger: Ledger, unit_code: str, reason: str, version: int | None = None, *, actor: str = "") -> Submission:
    """重新打开 (the office's alone): unlock the unit's return; with ``version``, make that version
    (a held one) current instead.  Returns the current version afterwards."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise LedgerError("重新打开时必须写明理由（--reason “…”）。")
    cur = ledger.current(unit_code)
    target = _version(ledger, unit_code, version) if version is not None else cur
    if target is None:
        raise LedgerError(f"单位 {unit_code} 还没有报送记录。")
    if (cur is None or cur.review != REVIEW_LOCKED) and target.is_current:
        raise LedgerError(f"单位 {unit_code} 的报告没有锁定，不需要重新打开。")
    with ledger.transaction() as c:
        _log(c, unit_code, target.version, "reopen", actor, reason, {"made_current": not target.is_current})
        c.execute("UPDATE submissions SET review='' WHERE unit_code=? AND review=?", (unit_code, REVIEW_LOCKED))
        if not target.is_current:
            _make_current(c, target)
            c.execute("UPDATE submissions SET hold='' WHERE id=?", (target.id,))
    return ledger.current(unit_code)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# the trail


@dataclass(frozen=True)
class Step:
    """One row of the review log."""

    id: int
    unit_code: str
    version: int | None
    action: str
    actor: str
    at: str
    reason: str
    detail: Mapping[str, Any]

    @property
    def action_zh(self) -> str:
        return ACTIONS.get(self.action, self.action)

    def line(self, deadline=None) -> str:
        """The step as ``gkxlsx history`` prints it (times in China time)."""
        from gkxlsx.clock import china_date

        parts = [shown(self.at), f"{self.action_zh:<5}", f"第 {self.version} 版" if self.version else ""]
        d = self.detail
        if self.action in ("submit", "hold"):
            rec = d.get("received_at")
            mark = ""
            if rec and deadline is not None:
                try:
                    mark = "，按时" if china_date(rec) <= deadline else "，逾期"
                except ValueError:
                    mark = ""
            parts.append(
                f"来源 {self.actor or '未知'}，收到 {shown(rec)}{mark}，{d.get('filename', '')}，{d.get('status', '')}"
            )
        else:
            parts.append(f"操作人 {self.actor or '未记录'}")
        if self.reason:
            parts.append(("原因：" if self.action == "hold" else "理由：") + self.reason)
        if d.get("explained"):
            parts.append("说明的警告：" + "、".join(d["explained"]))
        if d.get("made_current"):
            parts.append("设为当前版本")
        return "  ".join(p for p in parts if p)


def history(ledger: Ledger, unit_code: str | None = None) -> list[Step]:
    """The review log of one unit (or all units), in the order it was written."""
    q = "SELECT * FROM review_log" + (" WHERE unit_code=?" if unit_code else "") + " ORDER BY id"
    return [
        Step(
            r["id"],
            r["unit_code"],
            r["version"],
            r["action"],
            r["actor"],
            r["at"],
            r["reason"],
            json.loads(r["detail"]),
        )
        for r in ledger.conn.execute(q, (unit_code,) if unit_code else ())
    ]


def held_versions(ledger: Ledger, unit_code: str) -> list[Submission]:
    """The unit's versions recorded but held back (not current), oldest first."""
    return [s for s in ledger.history(unit_code) if s.held]


def held_counts(ledger: Ledger) -> dict[str, int]:
    """{unit code: number of held versions} for units that have any."""
    return {
        r[0]: r[1]
        for r in ledger.conn.execute(
            "SELECT unit_code, COUNT(*) FROM submissions WHERE hold<>'' AND is_current=0 GROUP BY unit_code"
        )
    }


def values_of(ledger: Ledger, sub_id: int) -> dict[str, Any]:
    r = ledger.conn.execute("SELECT vals FROM submissions WHERE id=?", (sub_id,)).fetchone()
    return load_values(r[0]) if r else {}


def first_and_latest(ledger: Ledger) -> dict[str, tuple[str, str, int]]:
    """{unit code: (first received, latest received, number of versions)}: times compared as
    instants (stored times carry different offsets)."""
    from gkxlsx.clock import parse_time

    out: dict[str, tuple[str, str, int]] = {}
    by_unit: dict[str, list[str]] = {}
    for code, at in ledger.conn.execute("SELECT unit_code, received_at FROM submissions"):
        by_unit.setdefault(code, []).append(at)
    for code, times in by_unit.items():

        def key(t: str):
            try:
                return (0, parse_time(t).timestamp())
            except ValueError:
                return (1, 0.0)

        ordered = sorted(times, key=key)
        out[code] = (ordered[0], ordered[-1], len(times))
    return out


def finding_names(findings: Iterable[Mapping[str, Any]]) -> list[str]:
    """The findings' rule instances (or ids), each once, in order: what ``--explain`` names."""
    seen: list[str] = []
    for f in findings:
        n = str(f.get("instance") or f.get("rule") or "")
        if n and n not in seen:
            seen.append(n)
    return seen
