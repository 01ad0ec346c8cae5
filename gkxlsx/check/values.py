"""Cell values of returned workbooks: strict parsing with a suggested correction, never coercion.

A returned workbook's entry cell is read as a :class:`RawCell` (what the file stores: a number, a
text, a logical value, a date, an error value, a formula, or nothing).  :func:`parse_value` turns it
into the value the rules work on — an ``int`` or ``Decimal`` for numeric cells, a ``str`` for text,
a ``date`` for date fields — or into a :class:`ValueProblem` naming the rule broken (E-CELL-EMPTY,
E-CELL-TEXT, E-CELL-INT, E-CELL-NEG, E-CELL-DEC, E-CELL-RANGE, E-CELL-DATE, E-CELL-BOOL,
E-CELL-FORMULA, E-CELL-ERROR), the raw value as the user sees it and, where it is unambiguous, a suggested
correction ("/" → 0, "３条" → 3, "251000元" in a 万元 cell → 25.1).  A problem value is never used by
the rules: a blank is not 0 and "3条" is not 3 until the unit corrects it.

Findings are built from the catalogue by :func:`gkxlsx.findings.make_finding`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

from gkxlsx.findings import fmt_num
from gkxlsx.form.model import ValueType

KINDS = ("blank", "number", "text", "bool", "date", "error", "formula")


class RawCell(NamedTuple):
    """One cell as stored in the file.

    ``kind``: blank | number | text | bool | date | error | formula.  ``value``: the number (``int``,
    ``float``, ``Decimal`` or the decimal string found in the XML), the text, the logical value, the
    date (``date``/``datetime``, or the serial number when only the number format says “date”), the
    error code (``#N/A``), or — for a formula — its cached result.  ``cached_kind`` is the kind of
    that cached result.  ``quote_prefix``: the cell's style forces text (typed with a leading ').
    ``locked``: the cell-protection flag of its style (``None`` when the reader cannot tell).
    """

    kind: str
    value: Any = None
    formula: str | None = None
    cached_kind: str | None = None
    quote_prefix: bool = False
    locked: bool | None = None

    @property
    def is_blank(self) -> bool:
        return self.kind == "blank" or (self.kind == "text" and not str(self.value).strip() and not self.quote_prefix)


BLANK = RawCell("blank")


@dataclass(frozen=True)
class ValueProblem:
    """Why a cell's content cannot be used, as the user sees it, with a suggested correction."""

    rule_id: str
    raw: Any = None  # the content as displayed (str for text, the number, "2026-01-02" for a date …)
    suggestion: Any = None  # int / Decimal / None
    hint: str = ""  # extra explanation inserted into the message


def excel_decimal(v: Any) -> Decimal | None:
    """A stored number as the Decimal a user sees in Excel (15 significant digits, so binary
    artefacts such as 0.30000000000000004 read as 0.3).  None when not a finite number."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str) and len(v) <= 15 and v.isdecimal():
        return Decimal(int(v))
    try:
        if isinstance(v, Decimal):
            d = v
        elif isinstance(v, int):
            return Decimal(v)
        elif isinstance(v, float):
            if v != v or v in (float("inf"), float("-inf")):
                return None
            d = Decimal(repr(v))
        else:
            d = Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite() or d.adjusted() > 307 or d.adjusted() < -307 and d != 0:
        return None  # not a number a spreadsheet can hold
    if len(d.as_tuple().digits) > 15:
        d = Decimal(format(float(d), ".15g"))
    return d


# The largest magnitude a numeric cell may hold (exclusive), by kind and unit.  A count is a
# non-negative integer of at most 12 digits (all applications of all of China in a year are about
# 10^6; 10^12 is impossible for one unit and still exact in a spreadsheet's 15 significant digits).
# An amount is below 1 万亿元 (10^12 元 = 10^8 万元): more than the whole country's administrative
# fees in a year, and with its 2 (元) or 4 (万元) decimals still within 15 significant digits.
# Beyond these a value is a typo (a key held down, a paste) or hostile, never a report.
_LIMITS = {"元": Decimal(10) ** 12, "万元": Decimal(10) ** 8}
_COUNT_LIMIT = Decimal(10) ** 12
FAST_DIGITS = 8  # a plain digit string this short is within every limit: int() it directly


def number_limit(vt: ValueType) -> Decimal:
    """The exclusive bound on the magnitude of a value of ``vt`` (see ``_LIMITS``)."""
    if vt.kind == "decimal":
        return _LIMITS.get(vt.unit or "", _COUNT_LIMIT)
    return _COUNT_LIMIT


def _limit_text(vt: ValueType) -> str:
    if vt.kind == "decimal" and vt.unit == "万元":
        return "金额不能达到 1 亿万元（即 1 万亿元）"
    if vt.kind == "decimal" and vt.unit == "元":
        return "金额不能达到 1 万亿元"
    if vt.kind == "decimal":
        return "不能达到 1 万亿"
    return "件数最多 12 位数字"


def _short(text: str) -> str:
    """A long literal as shown in a message: its start and how many characters it has."""
    text = text.strip()
    return text if len(text) <= 30 else f"{text[:20]}…（共 {len(text)} 位）"


def _is_number_literal(v: Any) -> bool:
    """The stored value is written as a number (NaN, infinity and absurd exponents included), as
    opposed to text that is no number at all."""
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        return True
    try:
        Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return False
    return True


def _range_problem(vt: ValueType, literal: Any, d: Decimal | None) -> ValueProblem:
    """E-CELL-RANGE: a stored number that is no valid number (d None) or beyond the limit."""
    hint = f"超出了合理范围（{_limit_text(vt)}）" if d is not None else "不是有效的数字（数值过大、过小或不是数）"
    return ValueProblem("E-CELL-RANGE", _short(str(literal)), None, hint)


def _norm_number(d: Decimal) -> int | Decimal:
    if d == d.to_integral_value():
        return int(d)
    return d.normalize()


def decimal_places(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


# text that means "nothing" → suggest 0
NULLISH = {
    "/",
    "//",
    "\\",
    "-",
    "--",
    "—",
    "——",
    "–",
    "－",
    "―",
    "一",
    "无",
    "空",
    "没有",
    "暂无",
    "未有",
    "零",
    "nil",
    "null",
    "none",
    "n/a",
    "na",
    "×",
    "x",
    "0件",
    "无件",
    "〇",
    "o",
}
COUNT_UNITS = ("人次", "件", "条", "个", "项", "次", "份", "起", "宗", "例", "篇", "家", "人")
_NUM_TEXT = re.compile(
    r"^(?P<sign>[+])?(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?P<unit>万元|元|万|[^\d.,]{1,2})?$"
)


def suggest_number(text: str, vt: ValueType) -> tuple[Decimal | None, str]:
    """The number a text most probably means in a cell of type ``vt`` and a short Chinese hint
    explaining the difference, or (None, hint) when the meaning is not unambiguous."""
    s = str(text)
    hint_parts: list[str] = []
    if s.startswith("'"):
        s = s[1:]
        hint_parts.append("（数字前面有单引号 '，被当成了文字）")
    nf = unicodedata.normalize("NFKC", s)
    if nf != s and any("０" <= ch <= "９" for ch in s):
        hint_parts.append("（是全角数字，请用半角数字）")
    compact = re.sub(r"(?<=\d)\s+(?=[^\d\s.,])", "", nf.strip())
    if compact.lower() in NULLISH or re.sub(r"\s+", "", compact).lower() in NULLISH:
        return Decimal(0), "（没有的应填 0）"
    m = _NUM_TEXT.match(compact)
    if not m:
        if re.match(r"^-\s*\d", compact):
            hint_parts.append("（而且不能是负数）")
        return None, "".join(hint_parts)
    num = Decimal(m.group("num").replace(",", "") + (m.group("frac") or ""))
    unit = m.group("unit") or ""
    cell_unit = vt.unit or ""
    if unit:
        if unit in ("元", "万元", "万"):
            factor = {"元": Decimal(1), "万元": Decimal(10000), "万": Decimal(10000)}[unit]
            if cell_unit == "万元":
                num = num * factor / Decimal(10000)
                hint_parts.append("（单位是万元：1 万元＝10000 元）" if unit == "元" else "（不要带单位“万元”）")
            elif cell_unit == "元":
                num = num * factor
                hint_parts.append("（单位是元）" if unit != "元" else "（不要带单位“元”）")
            else:
                return None, "（这里填件数，不是金额）"
        elif unit in COUNT_UNITS and vt.kind == "int":
            hint_parts.append(f"（不要带单位“{unit}”）")
        else:
            return None, "".join(hint_parts)
    elif "," in m.group("num"):
        hint_parts.append("（不要用千位分隔符）")
    elif not hint_parts:
        hint_parts.append("（数字被存成了文字，可能是单元格设成了文本格式）")
    return num, "".join(hint_parts)


def _valid_for(d: Decimal, vt: ValueType) -> bool:
    if not d.is_finite() or abs(d) >= number_limit(vt):
        return False
    if vt.min is not None and d < Decimal(str(vt.min)):
        return False
    if vt.kind == "int" and d != d.to_integral_value():
        return False
    if vt.kind == "decimal" and vt.max_dp is not None and decimal_places(d) > vt.max_dp:
        return False
    return True


def display_raw(raw: RawCell) -> Any:
    """The cell content the way the user sees it (for messages and feedback prefill)."""
    if raw.kind == "formula":
        return "=" + (raw.formula or "")
    if raw.kind == "number":
        d = excel_decimal(raw.value)
        return fmt_num(_norm_number(d)) if d is not None else _short(str(raw.value))
    if raw.kind == "date":
        return _date_text(raw.value)
    if raw.kind == "bool":
        return "TRUE" if raw.value else "FALSE"
    if raw.kind == "blank":
        return ""
    s = str(raw.value)
    return ("'" + s) if raw.quote_prefix and not s.startswith("'") else s


def _date_text(v: Any) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d") if v.time() == time(0) else v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time):
        return v.strftime("%H:%M")
    d = excel_decimal(v)
    if d is not None:
        dt = serial_to_date(d)
        if dt is not None:
            return _date_text(dt)
    return _short(str(v))


def date_serial(d: date) -> int:
    return (d - date(1899, 12, 30)).days


def date_like(v: Any, year: int) -> date | None:
    """The date an integer count would be if it were a date typed as “1/2” that the spreadsheet
    stored as its serial number (window: 1 Jan of year−1 … 31 Dec of year+1), else None.  A count
    cell in that range is almost certainly such a date (LibreOffice keeps the cell's “0” format)."""
    if not isinstance(v, int) or isinstance(v, bool) or not 1901 <= year <= 9998:
        return None
    if date_serial(date(year - 1, 1, 1)) <= v <= date_serial(date(year + 1, 12, 31)):
        dt = serial_to_date(v)
        return dt.date() if dt else None
    return None


def serial_to_date(serial: Decimal | float) -> datetime | None:
    try:
        s = float(serial)
        if not 0 <= s < 2958466:
            return None
        return datetime(1899, 12, 30) + timedelta(days=s)
    except (ValueError, OverflowError):
        return None


def as_raw(raw: Any, cell_kind: str | None = None) -> RawCell:
    """Wrap a plain Python value (from calamine or a test) as a RawCell."""
    if isinstance(raw, RawCell):
        return raw
    if cell_kind is not None:
        if cell_kind not in KINDS:
            raise ValueError(f"unknown cell kind {cell_kind!r}")
        return RawCell(cell_kind, raw)
    if raw is None or raw == "":
        return BLANK
    if isinstance(raw, bool):
        return RawCell("bool", raw)
    if isinstance(raw, (int, float, Decimal)):
        return RawCell("number", raw)
    if isinstance(raw, (date, datetime, time, timedelta)):
        return RawCell("date", raw)
    return RawCell("text", str(raw))


# --------------------------------------------------------------------------------------------
# parse


def parse_value(value_type: ValueType, raw: Any, *, cell_kind: str | None = None) -> tuple[Any, ValueProblem | None]:
    """Parse one entry cell strictly.  Returns (value, None) or (None, problem).

    ``raw`` is a :class:`RawCell` or a plain Python value; ``cell_kind`` forces how a plain value is
    interpreted (e.g. ``"date"`` for a number shown with a date format, ``"formula"``).  Numeric
    types (int, decimal) accept only real numbers within the type's limits; blanks give
    E-CELL-EMPTY (a blank is not 0).  Text types accept text (numbers are turned into their
    displayed text); date types accept dates and ISO / “2026年1月15日” text.
    """
    rc = as_raw(raw, cell_kind)
    vt = value_type
    if vt.kind in ("int", "decimal"):
        return _parse_numeric(vt, rc)
    if vt.kind == "date":
        return _parse_date(rc)
    # text
    if rc.is_blank:
        return None, ValueProblem("E-CELL-EMPTY", "")
    if rc.kind == "formula":
        return None, ValueProblem("E-CELL-FORMULA", display_raw(rc), hint="")
    if rc.kind == "error":
        return None, ValueProblem("E-CELL-ERROR", str(rc.value))
    if rc.kind == "text":
        return str(rc.value), None
    return display_raw(rc), None


def _parse_numeric(vt: ValueType, rc: RawCell) -> tuple[Any, ValueProblem | None]:
    if rc.kind == "blank":
        return None, ValueProblem("E-CELL-EMPTY", "")
    if rc.kind == "formula":
        cached = excel_decimal(rc.value) if rc.cached_kind in (None, "number") else None
        sugg = _norm_number(cached) if cached is not None and _valid_for(cached, vt) else None
        hint = f"（显示为 {fmt_num(sugg)}）" if sugg is not None else ""
        return None, ValueProblem("E-CELL-FORMULA", display_raw(rc), sugg, hint)
    if rc.kind == "bool":
        return None, ValueProblem("E-CELL-BOOL", display_raw(rc))
    if rc.kind == "date":
        return None, ValueProblem("E-CELL-DATE", display_raw(rc))
    if rc.kind == "error":
        return None, ValueProblem("E-CELL-ERROR", str(rc.value))
    if rc.kind == "text":
        text = str(rc.value)
        if not text.strip() and not rc.quote_prefix:
            return None, ValueProblem("E-CELL-EMPTY", "")
        shown = display_raw(rc)
        sugg, hint = suggest_number(("'" + text) if rc.quote_prefix and not text.startswith("'") else text, vt)
        if sugg is not None and not _valid_for(sugg, vt):
            sugg = None
        return None, ValueProblem("E-CELL-TEXT", shown, _norm_number(sugg) if sugg is not None else None, hint)
    # a real number
    v = rc.value
    if isinstance(v, str) and len(v) <= FAST_DIGITS and v.isdecimal():  # the common case: a plain count
        return int(v), None
    d = excel_decimal(v)
    if d is None:
        if _is_number_literal(v):  # NaN, infinity, 1E+999999, 5000 digits
            return None, _range_problem(vt, v, None)
        return None, ValueProblem("E-CELL-TEXT", str(rc.value))
    if abs(d) >= number_limit(vt):
        return None, _range_problem(vt, v, d)
    shown = fmt_num(_norm_number(d))
    if vt.min is not None and d < Decimal(str(vt.min)):
        sugg = -d if _valid_for(-d, vt) else None
        return None, ValueProblem("E-CELL-NEG", shown, _norm_number(sugg) if sugg is not None else None)
    if vt.kind == "int" and d != d.to_integral_value():
        return None, ValueProblem("E-CELL-INT", shown)
    if vt.kind == "decimal" and vt.max_dp is not None and decimal_places(d) > vt.max_dp:
        q = Decimal(1).scaleb(-vt.max_dp)
        sugg = d.quantize(q, rounding=ROUND_HALF_UP)
        hint = ""
        if vt.unit == "万元" and d >= 1:
            hint = "（如果填的是元，请换算为万元）"
        return None, ValueProblem("E-CELL-DEC", shown, _norm_number(sugg), hint)
    return _norm_number(d), None


_DATE_TEXT = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")


def _parse_date(rc: RawCell) -> tuple[Any, ValueProblem | None]:
    if rc.is_blank:
        return None, ValueProblem("E-CELL-EMPTY", "")
    v = rc.value
    if rc.kind == "date":
        if isinstance(v, datetime):
            return v.date(), None
        if isinstance(v, date):
            return v, None
        d = excel_decimal(v)
        dt = serial_to_date(d) if d is not None else None
        if dt is not None:
            return dt.date(), None
    if rc.kind == "text":
        m = _DATE_TEXT.match(unicodedata.normalize("NFKC", str(v)))
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), None
            except ValueError:
                pass
    return None, ValueProblem("W-FIELD-DATE", display_raw(rc))


def problem_context(problem: ValueProblem, vt: ValueType) -> dict[str, Any]:
    """Placeholders for the catalogue message of a value problem."""
    ctx: dict[str, Any] = {"hint": problem.hint, "unit": vt.unit or "", "dp": vt.max_dp or 0}
    if problem.rule_id == "E-CELL-TEXT" and problem.suggestion is not None:
        ctx["hint"] = f"{problem.hint}，应改为 {fmt_num(problem.suggestion)}"
    if problem.rule_id == "E-CELL-DEC":
        ctx["unit_hint"] = "；1 万元＝10000 元，例如 2500 元填 0.25。" if vt.unit == "万元" else "。"
        if problem.suggestion is not None:
            ctx["hint"] = f"{problem.hint}，四舍五入为 {fmt_num(problem.suggestion)}"
    return ctx
