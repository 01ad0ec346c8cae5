"""Plausibility rules (DHIS2's outlier checks): not arithmetic that must hold, but figures a person
should look at.  Declared in the form definition under ``plausibility`` (ids, thresholds, texts);
computed here.

* ``year_on_year`` — against the unit's own previous accepted values (last year's campaign, or
  ``--previous``): a figure that grows or shrinks more than ``factor`` times while the larger of the
  two is at least ``base``, or rises from 0 to ``from_zero`` or more.  A 核实 finding (warning)
  naming both values.  The workbook shows last year's figure beside the entry (the 上年 column).
* ``peers`` — against the other units of the same 单位类型 in the campaign: a robust outlier test
  (median and MAD, modified z-score above ``threshold``; with MAD 0, the mean absolute deviation)
  when at least ``min_peers`` units have the figure.  A 提示 finding (info) with the unit's rank.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from typing import TYPE_CHECKING, Any

from gkxlsx.findings import Finding, fmt_num
from gkxlsx.rules.interpret import as_number

if TYPE_CHECKING:
    from gkxlsx.form.model import Form


def spec(form: Form, which: str) -> Mapping[str, Any] | None:
    """The form's declaration of one plausibility rule (``year_on_year`` or ``peers``), or None."""
    got = (form.raw.get("plausibility") or {}).get(which)
    return got or None


def _ratio(a: Decimal, b: Decimal) -> str:
    r = a / b
    return fmt_num(r.quantize(Decimal(1)) if r >= 10 else r.quantize(Decimal("0.1")).normalize())


def jump(value: Any, prev: Any, s: Mapping[str, Any]) -> str | None:
    """The change key (``up``, ``down``, ``from_zero``; ``down`` also to 0) when ``value`` against ``prev`` is implausible."""
    v, p = as_number(value), as_number(prev)
    if v is None or p is None:
        return None
    v, p = Decimal(v), Decimal(p)
    factor, base, from_zero = Decimal(s["factor"]), Decimal(s["base"]), Decimal(s["from_zero"])
    if p == 0:
        return "from_zero" if v >= from_zero else None
    if max(v, p) < base:
        return None
    if v > p * factor:
        return "up"
    if v * factor < p:
        return "down"
    return None


def year_on_year(
    form: Form, values: Mapping[str, Any], prev: Mapping[str, Any] | None, prev_format: str | None = None
) -> list[Finding]:
    """The year-on-year findings of one return against the unit's previous values."""
    s = spec(form, "year_on_year")
    if s is None or not prev:
        return []
    out = []
    for key in s["keys"]:
        if prev_format and prev_format != form.id and not form.comparable_with(prev_format, key):
            continue
        how = jump(values.get(key), prev.get(key), s)
        if how is None:
            continue
        v, p = Decimal(as_number(values.get(key))), Decimal(as_number(prev.get(key)))  # type: ignore[arg-type]
        if how == "down" and not v:
            how = "to_zero"
        ratio = _ratio(v, p) if how == "up" else (_ratio(p, v) if how == "down" else "")
        change = s["change"][how].format(ratio=ratio)
        out.append(
            Finding(
                rule_id=s["id"],
                severity=s["severity"],
                title=s["title"],
                message=s["message"].format(label=form.label(key), value=fmt_num(v), prev=fmt_num(p), change=change),
                fix=s["fix"],
                instance=f"{s['id']}[{key}]",
                keys=(key,),
                values={key: v, "prev:" + key: p},
                expected=p,
                actual=v,
            )
        )
    return out


@dataclass(frozen=True)
class Peer:
    code: str
    unit_type: str
    values: Mapping[str, Any]


def _mad_scale(xs: Sequence[Decimal], med: Decimal) -> Decimal:
    mad = median(abs(x - med) for x in xs)
    if mad:
        return Decimal(mad) / Decimal("0.6745")
    mean_ad = sum((abs(x - med) for x in xs), Decimal(0)) / len(xs)
    return mean_ad / Decimal("0.7979")  # the mean absolute deviation of a normal law, as the MAD's stand-in


def peer_outliers(form: Form, peers: Iterable[Peer]) -> dict[str, list[Finding]]:
    """{unit code: 提示 findings} for figures far from the other units of the same 单位类型."""
    s = spec(form, "peers")
    if s is None:
        return {}
    by_type: dict[str, list[Peer]] = {}
    for p in peers:
        by_type.setdefault(p.unit_type, []).append(p)
    out: dict[str, list[Finding]] = {}
    threshold, least = Decimal(str(s["threshold"])), int(s["min_peers"])
    for unit_type, group in by_type.items():
        for key in s["keys"]:
            have = [(p.code, Decimal(n)) for p in group if (n := as_number(p.values.get(key))) is not None]
            if len(have) < least:
                continue
            xs = [x for _c, x in have]
            med = Decimal(median(xs))
            scale = _mad_scale(xs, med)
            if not scale:
                continue
            ordered = sorted(xs, reverse=True)
            for code, x in have:
                if abs(x - med) / scale <= threshold:
                    continue
                out.setdefault(code, []).append(
                    Finding(
                        rule_id=s["id"],
                        severity=s["severity"],
                        title=s["title"],
                        message=s["message"].format(
                            label=form.label(key),
                            value=fmt_num(x),
                            unit_type=unit_type,
                            n=len(have),
                            median=fmt_num(med),
                            rank=ordered.index(x) + 1,
                        ),
                        fix=s["fix"],
                        instance=f"{s['id']}[{key}]",
                        keys=(key,),
                        values={key: x},
                        expected=med,
                        actual=x,
                    )
                )
    return out
