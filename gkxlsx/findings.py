"""Findings: one problem each — which rule, how bad, which cells, which values, what to do.

Every finding id that any code emits is declared once in the catalogue ``gkxlsx/data/findings.json``
(severity, Chinese title, message template, fix, description, further wordings as ``variants``);
:func:`make_finding` builds a :class:`Finding` from it, and every module (reader, checker, values,
narrative, similarity, audit, renderer) builds its findings that way.  Rules of a form declare
their own texts in the form definition; ``tests/test_findings.py`` checks that every id in the
code is declared in one of the two places and that callers fill every placeholder.
A :class:`Finding` goes to JSON with :meth:`Finding.to_dict` and back with :meth:`Finding.from_dict`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gkxlsx.form.model import RuleDef

CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "findings.json"
SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}


def fmt_num(v: Any) -> str:
    """Format a number the way a report prints it: 12, 0.25, -3 (no exponent, no padding)."""
    if v is None:
        return "（空）"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, Decimal):
        if not v.is_finite() or not -30 <= v.adjusted() <= 30:
            return str(v)  # NaN, Infinity, 1E+999999: never a valid value, shown as stored
        if v == v.to_integral_value():
            return str(int(v))
        s = format(v.normalize(), "f")
        return s
    if isinstance(v, float):
        return fmt_num(Decimal(repr(v)))
    if isinstance(v, int) and v.bit_length() > 100:  # past 10^30: 1E+30 rather than 4,300+ digits
        return str(Decimal(v).normalize())
    return str(v)


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, how bad, which cells, which values, what to do."""

    rule_id: str
    severity: str  # error | warning | info
    message: str  # full Chinese sentence, without location
    fix: str = ""
    title: str = ""
    instance: str = ""  # e.g. E-T3-BAL[natural]
    keys: tuple[str, ...] = ()  # the cells to point at (and highlight)
    values: Mapping[str, Any] = field(default_factory=dict)
    expected: Any = None
    actual: Any = None
    delta: Any = None
    locations: tuple[str, ...] = ()  # “三、依申请公开!J6” — filled in by the workbook reader
    raw: Any = None  # the raw cell content for value findings
    suggestion: Any = None  # suggested correction for value findings

    @property
    def severity_zh(self) -> str:
        return SEVERITY_ZH[self.severity]

    def __reduce__(self):  # positional: no field names in every pickled result
        return (
            Finding,
            (
                self.rule_id,
                self.severity,
                self.message,
                self.fix,
                self.title,
                self.instance,
                self.keys,
                self.values,
                self.expected,
                self.actual,
                self.delta,
                self.locations,
                self.raw,
                self.suggestion,
            ),
        )

    def with_locations(self, locations: Sequence[str]) -> Finding:
        return replace(self, locations=tuple(locations))

    def text(self) -> str:
        """A one-paragraph Chinese rendering: where, what, how to fix."""
        loc = "、".join(self.locations)
        head = f"{loc}：" if loc else ""
        tail = f"{self.fix}" if self.fix else ""
        return f"{head}{self.message}{tail}"

    def to_dict(self) -> dict[str, Any]:
        def j(v):
            if isinstance(v, Decimal):
                return float(v) if v != v.to_integral_value() else int(v)
            return v

        return {
            "rule": self.rule_id,
            "instance": self.instance,
            "severity": self.severity,
            "severity_zh": self.severity_zh,
            "locations": list(self.locations),
            "keys": list(self.keys),
            "values": {k: j(v) for k, v in self.values.items()},
            "expected": j(self.expected),
            "actual": j(self.actual),
            "delta": j(self.delta),
            "raw": self.raw if isinstance(self.raw, (str, int, float, type(None))) else str(self.raw),
            "suggestion": j(self.suggestion),
            "message": self.message,
            "fix": self.fix,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        """The :class:`Finding` that :meth:`to_dict` wrote (as stored in the ledger or a JSON report).

        ``to_dict`` leaves the title out (its JSON is a published format); a ``title`` key is read
        when present, else the catalogue's title is taken for a catalogue id.  Numbers come back as
        int or float."""
        rule_id = str(d.get("rule") or d.get("rule_id") or "")
        title = d.get("title")
        if title is None:
            spec = catalogue().get(rule_id)
            title = spec.get("title", "") if spec else ""
        return cls(
            rule_id=rule_id,
            severity=str(d.get("severity") or "error"),
            message=str(d.get("message") or ""),
            fix=str(d.get("fix") or ""),
            title=str(title),
            instance=str(d.get("instance") or ""),
            keys=tuple(d.get("keys") or ()),
            values=dict(d.get("values") or {}),
            expected=d.get("expected"),
            actual=d.get("actual"),
            delta=d.get("delta"),
            locations=tuple(d.get("locations") or ()),
            raw=d.get("raw"),
            suggestion=d.get("suggestion"),
        )


def severity_counts(findings: Iterable[Finding | Mapping[str, Any]]) -> dict[str, int]:
    """``{"error": n, "warning": n, "info": n}`` of findings (or their :meth:`Finding.to_dict`): the
    one count of a file's problems — what the ledger records as a submission's errors and warnings,
    and what import, check, status and render print."""
    out = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        sev = f.severity if isinstance(f, Finding) else str(f.get("severity") or "info")
        out[sev] = out.get(sev, 0) + 1
    return out


# --------------------------------------------------------------------------------------------
# catalogue

FIELDS = ("severity", "title", "message", "fix", "description")  # every catalogue entry has these


@lru_cache(maxsize=1)
def _data() -> Mapping[str, Any]:
    return json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))


def catalogue() -> Mapping[str, Mapping[str, Any]]:
    """Every finding id the code can emit: {id: {severity, title, message, fix, description[, variants]}}
    (from findings.json).  ``variants`` {name: {message[, title, fix]}} are further wordings, chosen
    by ``variant``."""
    return _data()["findings"]


def is_batch_note(f: Finding | Mapping[str, Any]) -> bool:
    """Whether a finding (or its :meth:`Finding.to_dict`) only says what the software that saved the
    file always does — LibreOffice drops the workbook structure protection (findings.json
    ``batch_notes``): a batch says it once (:func:`batch_note_lines`), not on every file's line."""
    if isinstance(f, Finding):
        rid, sev = f.rule_id, f.severity
    else:
        rid, sev = str(f.get("rule") or f.get("rule_id") or ""), str(f.get("severity") or "")
    note = _data()["batch_notes"].get(rid)
    return note is not None and note["severity"] == sev


def batch_note_lines(files: Iterable[Iterable[Finding | Mapping[str, Any]]]) -> list[str]:
    """One line per batch note found in a batch of files (each file's findings): “…{n} 个文件…”."""
    notes = _data()["batch_notes"]
    n: dict[str, int] = {}
    for findings in files:
        for rid in {str(f.rule_id if isinstance(f, Finding) else f.get("rule")) for f in findings if is_batch_note(f)}:
            n[rid] = n.get(rid, 0) + 1
    return [notes[rid]["summary"].format(n=k) for rid, k in n.items()]


def form_rule_wordings() -> Mapping[str, Mapping[str, Any]]:
    """{id: {message, description[, variants]}}: wordings for a rule of a form that code checks too
    (the text side of W-T3-FEE); severity, title and fix are the form rule's."""
    return _data()["form_rules"]


class _Fmt(dict):
    def __missing__(self, k):
        return ""


def make_finding(
    rule_id: str,
    *,
    variant: str | None = None,
    keys=(),
    locations=(),
    values=None,
    expected=None,
    actual=None,
    delta=None,
    raw=None,
    suggestion=None,
    severity: str | None = None,
    instance: str = "",
    rule: RuleDef | None = None,
    **ctx: Any,
) -> Finding:
    """A :class:`Finding` for one of the catalogue's ids, its message and fix (the ``variant``'s
    wording when given) filled from ``ctx``.  With ``rule`` (a rule of the form that code checks
    too), the wording comes from :func:`form_rule_wordings` and severity, title and fix from the rule."""
    spec: Mapping[str, Any]
    if rule is not None:
        spec = {"severity": rule.severity, "title": rule.title, "fix": rule.fix, **form_rule_wordings()[rule_id]}
    else:
        spec = catalogue()[rule_id]
    c = _Fmt({k: ("" if v is None else v) for k, v in ctx.items()})
    for k, v in (("expected", expected), ("actual", actual), ("raw", raw), ("suggestion", suggestion)):
        if k not in c and v is not None:
            c[k] = fmt_num(v) if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) else v
    v = spec["variants"][variant] if variant else spec
    return Finding(
        rule_id=rule_id,
        severity=severity or spec["severity"],
        message=v.get("message", spec["message"]).format_map(c),
        fix=v.get("fix", spec["fix"]).format_map(c),
        title=v.get("title", spec["title"]),
        instance=instance or rule_id,
        keys=tuple(keys),
        values=dict(values or {}),
        expected=expected,
        actual=actual,
        delta=delta,
        locations=tuple(locations),
        raw=raw,
        suggestion=suggestion,
    )


# --------------------------------------------------------------------------------------------
# numbers
