"""Findings: one problem each — which rule, how bad, which cells, which values, what to do.

Every finding id that any code emits is declared once in the catalogue ``gkxlsx/data/findings.json``
(severity, Chinese title, message template, fix); :func:`make_finding` builds a :class:`Finding`
from it.  Rules of a form declare their own texts in the form definition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "findings.json"


def fmt_num(v: Any) -> str:
    """Format a number the way a report prints it: 12, 0.25, -3 (no exponent, no padding)."""
    if v is None:
        return "（空）"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, Decimal):
        if v == v.to_integral_value():
            return str(int(v))
        s = format(v.normalize(), "f")
        return s
    if isinstance(v, float):
        return fmt_num(Decimal(repr(v)))
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
        from gkxlsx.form.model import SEVERITY_ZH

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
        """The finding :meth:`to_dict` wrote (as the ledger keeps it); numbers come back as int or float."""
        return cls(
            rule_id=d["rule"],
            severity=d["severity"],
            message=d.get("message", ""),
            fix=d.get("fix") or "",
            instance=d.get("instance", ""),
            keys=tuple(d.get("keys") or ()),
            values=dict(d.get("values") or {}),
            expected=d.get("expected"),
            actual=d.get("actual"),
            delta=d.get("delta"),
            locations=tuple(d.get("locations") or ()),
            raw=d.get("raw"),
            suggestion=d.get("suggestion"),
        )


# --------------------------------------------------------------------------------------------
# catalogue


@lru_cache(maxsize=1)
def catalogue() -> Mapping[str, Mapping[str, str]]:
    """The importer's finding ids: {id: {severity, title, message, fix}} (from findings.json)."""
    data = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    return data["findings"]


class _Fmt(dict):
    def __missing__(self, k):
        return ""


def make_finding(
    rule_id: str,
    *,
    keys=(),
    locations=(),
    values=None,
    expected=None,
    actual=None,
    raw=None,
    suggestion=None,
    severity: str | None = None,
    instance: str = "",
    **ctx: Any,
) -> Finding:
    """A :class:`Finding` for one of the catalogue's ids, its message and fix filled from ``ctx``."""
    spec = catalogue()[rule_id]
    c = _Fmt({k: ("" if v is None else v) for k, v in ctx.items()})
    for k, v in (("expected", expected), ("actual", actual), ("raw", raw), ("suggestion", suggestion)):
        if k not in c and v is not None:
            c[k] = fmt_num(v) if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) else v
    return Finding(
        rule_id=rule_id,
        severity=severity or spec["severity"],
        message=spec["message"].format_map(c),
        fix=spec["fix"].format_map(c),
        title=spec["title"],
        instance=instance or rule_id,
        keys=tuple(keys),
        values=dict(values or {}),
        expected=expected,
        actual=actual,
        locations=tuple(locations),
        raw=raw,
        suggestion=suggestion,
    )


# --------------------------------------------------------------------------------------------
# numbers
