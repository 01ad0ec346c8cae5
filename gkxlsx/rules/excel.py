"""The Excel backend: a rule tree → the formula of the workbook's check cell.

Only functions that Excel, WPS and LibreOffice compute identically are used (IF, COUNT, SUM, AND,
OR, NOT, ROUND).  The check cell shows ✓ / ✗, or 待填 while any referenced cell is blank or holds
text (``COUNT(...)<n``): a blank is not 0, as in the Python backend.  Last year's figures and the
unit type's attributes are written into the formula as constants.  Derived cells (“总计”) are
``SUM`` formulas, blank until every summed cell is filled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gkxlsx.findings import fmt_num
from gkxlsx.form.cells import a1
from gkxlsx.rules.engine import FAIL, INCOMPLETE, PASS, RuleInstance
from gkxlsx.rules.interpret import as_number
from gkxlsx.rules.nodes import Add, BoolOp, Cmp, Not, Num, Ref, RuleError, UnitAttr, Visitor

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.form.model import Form, UnitType

Locate = Callable[[str], tuple[str, int, int]]  # key → (sheet, row, col)

# --------------------------------------------------------------------------------------------
# cell references and ranges


def sheet_ref(sheet: str, home: str) -> str:
    """``'三、依申请公开'!`` for a cell on another sheet than ``home``; "" on the same sheet."""
    if sheet == home:
        return ""
    return "'" + sheet.replace("'", "''") + "'!"


def ranges(cells: Sequence[tuple[str, int, int]], home: str) -> list[str]:
    """Compress cell addresses into as few rectangular A1 ranges as possible (runs in a column or row)."""
    by_sheet: dict[str, list[tuple[int, int]]] = {}
    for s, r, c in cells:
        by_sheet.setdefault(s, []).append((r, c))
    out: list[str] = []
    for s, pts in by_sheet.items():
        pre = sheet_ref(s, home)
        pts = sorted(set(pts))
        used: set[tuple[int, int]] = set()
        # vertical runs first (most sums are column sums), then horizontal runs
        cols: dict[int, list[int]] = {}
        for r, c in pts:
            cols.setdefault(c, []).append(r)
        runs: list[tuple[int, int, int, int]] = []
        for c, rows in cols.items():
            start = prev = rows[0]
            nexts: list[int | None] = [*rows[1:], None]
            for nr in nexts:
                if nr is not None and nr == prev + 1:
                    prev = nr
                    continue
                if prev > start:
                    runs.append((start, c, prev, c))
                    used.update((x, c) for x in range(start, prev + 1))
                if nr is not None:
                    start = prev = nr
        rest = sorted((r, c) for r, c in pts if (r, c) not in used)
        rows_: dict[int, list[int]] = {}
        for r, c in rest:
            rows_.setdefault(r, []).append(c)
        for r, cs in rows_.items():
            start = prev = cs[0]
            nexts = [*cs[1:], None]
            for nc in nexts:
                if nc is not None and nc == prev + 1:
                    prev = nc
                    continue
                runs.append((r, start, r, prev))
                if nc is not None:
                    start = prev = nc
        runs.sort(key=lambda x: (x[1], x[0]))
        for r0, c0, r1, c1 in runs:
            ref = a1(r0, c0) if (r0, c0) == (r1, c1) else f"{a1(r0, c0)}:{a1(r1, c1)}"
            out.append(pre + ref)
    return out


def excel_count_guard(keys: Sequence[str], locate: Locate, home: str) -> str:
    """``COUNT(refs)<n``: true while any of the cells is blank or holds text."""
    cells = [locate(k) for k in keys]
    return f"COUNT({','.join(ranges(cells, home))})<{len(set(cells))}"


def excel_sum(keys: Sequence[str], locate: Locate, home: str) -> str:
    return f"SUM({','.join(ranges([locate(k) for k in keys], home))})"


# --------------------------------------------------------------------------------------------
# the compiler


class ExcelCompiler(Visitor[str]):
    """A rule tree as an Excel expression (no leading '='), cells addressed from sheet ``home``.

    ``decimal``: a key of the rule holds decimals — comparisons are made at 6 places, as the
    Python backend makes them (exact decimals there, binary floats in Excel)."""

    def __init__(
        self,
        locate: Locate,
        home: str,
        prev: Mapping[str, Any] | None = None,
        unit: UnitType | None = None,
        decimal: bool = False,
    ):
        self.locate, self.home, self.prev, self.unit, self.decimal = locate, home, prev, unit, decimal

    def visit_Num(self, node: Num) -> str:
        return fmt_num(node.value)

    def visit_Ref(self, node: Ref) -> str:
        if node.prev:
            v = as_number(self.prev.get(node.key)) if self.prev is not None else None
            if v is None:
                raise RuleError(f"上年数据缺少 {node.key}，无法生成校验公式")
            return fmt_num(v)
        s, r, c = self.locate(node.key)
        return sheet_ref(s, self.home) + a1(r, c)

    def visit_UnitAttr(self, node: UnitAttr) -> str:
        if self.unit is None:
            raise RuleError(f"未知单位类型，无法生成含 unit.{node.name} 的校验公式")
        v = self.unit.attr(node.name)
        if isinstance(v, bool):
            return "TRUE()" if v else "FALSE()"
        return fmt_num(Decimal(str(v)))

    def visit_Add(self, node: Add) -> str:
        refs = [t for s, t in node.terms if s > 0 and isinstance(t, Ref) and not t.prev]
        if len(refs) == len(node.terms) and len(refs) > 3:
            return excel_sum([r.key for r in refs], self.locate, self.home)
        out = ""
        for i, (sign, t) in enumerate(node.terms):
            txt = self.visit(t)
            if isinstance(t, (Add, Cmp, BoolOp)):
                txt = f"({txt})"
            if i == 0:
                out = txt if sign > 0 else f"-{txt}"
            else:
                out += ("+" if sign > 0 else "-") + txt
        return out

    def visit_Cmp(self, node: Cmp) -> str:
        a, b = self.visit(node.left), self.visit(node.right)
        op = {"==": "=", "!=": "<>"}.get(node.op, node.op)
        if self.decimal:
            # exact decimal arithmetic in Python, binary floats in Excel: compare at 6 places
            return f"ROUND(({a})-({b}),6){op}0"
        return f"({a}){op}({b})" if isinstance(node.left, Add) or isinstance(node.right, Add) else f"{a}{op}{b}"

    def visit_BoolOp(self, node: BoolOp) -> str:
        fn = "AND" if node.op == "and" else "OR"
        return f"{fn}({','.join(self.visit(i) for i in node.items)})"

    def visit_Not(self, node: Not) -> str:
        return f"NOT({self.visit(node.item)})"


def excel_condition(
    inst: RuleInstance,
    locate: Locate,
    home: str,
    prev: Mapping[str, Any] | None = None,
    unit: UnitType | None = None,
) -> str:
    """A rule instance as an Excel boolean expression (no leading '=')."""
    decimal = any(inst.form.value_type(k).kind == "decimal" for k in inst.keys)
    return ExcelCompiler(locate, home, prev, unit, decimal).visit(inst.expr)


def excel_check(
    inst: RuleInstance,
    locate: Locate,
    home: str,
    prev: Mapping[str, Any] | None = None,
    unit: UnitType | None = None,
) -> str:
    """Formula of a rule instance's check cell: ✓ / ✗ / 待填 (any referenced cell blank or not a number)."""
    cond = excel_condition(inst, locate, home, prev, unit)
    guard = excel_count_guard(inst.keys, locate, home)
    return f'=IF({guard},"{INCOMPLETE}",IF({cond},"{PASS}","{FAIL}"))'


def excel_derived(form: Form, key: str, locate: Locate, home: str) -> str:
    """Formula of a derived cell: the sum, shown blank until every summed cell is filled."""
    cell = form.cells[key]
    guard = excel_count_guard(cell.sum_of, locate, home)
    return f'=IF({guard},"",{excel_sum(cell.sum_of, locate, home)})'
