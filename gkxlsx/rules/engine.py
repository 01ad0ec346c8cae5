"""The rule engine: rules are declared once in the form data and compiled twice.

A rule's ``expr`` is a tiny expression language over cell keys::

    s3.new.{c} + s3.carried_in.{c} == s3.r7_total.{c} + s3.carried_out.{c}
    s3.r6_2.total == 0 or s6.fee_notices > 0
    s3.carried_in.{c} == prev:s3.carried_out.{c}        # last year's report
    s2.admin_fee.amount_wan < unit.fee_warn_wan          # an attribute of the unit type

Grammar (lowest precedence first): ``or``, ``and``, ``not``, one comparison
(``== != < <= > >=``), ``+``/``-`` sums of terms; a term is a number, a key, ``prev:``key,
``unit.``attribute or a parenthesised expression.  ``foreach`` binds ``{var}`` placeholders to
lists of key segments (or set references such as ``@s3.cols``).  ``derived`` rules are generated
from the tables' derivations (“总计”): every derived cell must equal the sum it is defined by.

One parsed tree has two backends:

* :meth:`RuleInstance.evaluate` — the Python check used by the importer, the auditor and the
  aggregator, returning a :class:`Finding` with values, expected value, difference and a Chinese
  message;
* :meth:`RuleInstance.excel_check` — the formula of the workbook's check cell, built only from
  functions that Excel, WPS and LibreOffice compute identically (IF, COUNT, SUM, AND, OR, NOT, ROUND).

A blank (missing) input is not 0: a rule that refers to a missing or non-numeric value is not
evaluated (status ``incomplete``; the cell itself is reported by E-CELL-EMPTY), and the Excel check
shows 待填 in that case (``COUNT(...)<n``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gkxlsx.findings import Finding, fmt_num

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.form.model import Form, RuleDef, UnitType

PASS, FAIL, INCOMPLETE, NOT_APPLICABLE = "✓", "✗", "待填", "不适用"


class RuleError(ValueError):
    """A rule expression is malformed (message in Chinese, names the rule)."""


# --------------------------------------------------------------------------------------------
# expression tree


@dataclass(frozen=True)
class Num:
    value: Decimal


@dataclass(frozen=True)
class Ref:
    key: str
    prev: bool = False


@dataclass(frozen=True)
class UnitAttr:
    name: str


@dataclass(frozen=True)
class Add:
    terms: tuple[tuple[int, Any], ...]  # (sign, node)


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<ref>(?:prev:)?[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+)"
    r"|(?P<word>and|or|not)\b|(?P<op>==|!=|<=|>=|<|>|\+|-|\(|\)))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError(f"表达式第 {pos + 1} 个字符无法识别：{text[pos : pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))  # type: ignore[arg-type]
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        t = self.peek()
        if t is None or (value is not None and t[1] != value):
            raise RuleError(f"表达式不完整：期望 {value or '更多内容'}")
        self.i += 1
        return t

    def parse(self):
        node = self.or_()
        if self.peek() is not None:
            raise RuleError(f"表达式多余的内容：{self.peek()[1]}")  # type: ignore[index]
        return node

    def or_(self):
        items = [self.and_()]
        while self.peek() == ("word", "or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self):
        items = [self.not_()]
        while self.peek() == ("word", "and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_(self):
        if self.peek() == ("word", "not"):
            self.take()
            return Not(self.not_())
        return self.cmp()

    def cmp(self):
        left = self.add()
        t = self.peek()
        if t and t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return Cmp(t[1], left, self.add())
        return left

    def add(self):
        terms = [(1, self.term())]
        while self.peek() in (("op", "+"), ("op", "-")):
            sign = 1 if self.take()[1] == "+" else -1
            terms.append((sign, self.term()))
        return terms[0][1] if len(terms) == 1 and terms[0][0] == 1 else Add(tuple(terms))

    def term(self):
        kind, val = self.take()
        if kind == "num":
            return Num(Decimal(val))
        if kind == "ref":
            if val.startswith("unit."):
                return UnitAttr(val[5:])
            if val.startswith("prev:"):
                return Ref(val[5:], prev=True)
            return Ref(val)
        if val == "(":
            node = self.or_()
            self.take(")")
            return node
        if val == "-":
            return Add(((-1, self.term()),))
        raise RuleError(f"表达式中“{val}”的位置不对")


def parse_expr(text: str):
    return _Parser(text).parse()


def _walk(node) -> Iterable[Any]:
    yield node
    if isinstance(node, Add):
        for _, t in node.terms:
            yield from _walk(t)
    elif isinstance(node, Cmp):
        yield from _walk(node.left)
        yield from _walk(node.right)
    elif isinstance(node, BoolOp):
        for it in node.items:
            yield from _walk(it)
    elif isinstance(node, Not):
        yield from _walk(node.item)


def _comparisons(node) -> list[Cmp]:
    return [n for n in _walk(node) if isinstance(n, Cmp)]


# --------------------------------------------------------------------------------------------
# Python evaluation


class _Missing(Exception):
    pass


_SIX = Decimal("0.000001")


def as_number(v: Any) -> int | Decimal | None:
    """A usable numeric value, or None for blanks and anything that is not a number."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, Decimal)):
        return v
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None
        return int(v) if v.is_integer() else Decimal(repr(v))
    return None


def _num(node, cur: Mapping[str, Any], prev: Mapping[str, Any] | None, unit) -> int | Decimal:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ref):
        src = prev if node.prev else cur
        v = as_number(src.get(node.key)) if src is not None else None
        if v is None:
            raise _Missing(node.key)
        return v
    if isinstance(node, UnitAttr):
        v = unit.attr(node.name) if unit is not None else None
        if v is None:
            raise _Missing("unit." + node.name)
        return Decimal(str(v)) if isinstance(v, float) else v
    if isinstance(node, Add):
        total: int | Decimal = 0
        for sign, t in node.terms:
            total = total + sign * _num(t, cur, prev, unit)
        return total
    raise RuleError("数值表达式中出现了比较或逻辑运算")


def _truth(node, cur, prev, unit) -> bool:
    if isinstance(node, Cmp):
        a, b = _num(node.left, cur, prev, unit), _num(node.right, cur, prev, unit)
        if isinstance(a, Decimal) or isinstance(b, Decimal):
            # the workbook compares decimals as ROUND(a-b,6) against 0: do exactly the same here
            a, b = (Decimal(a) - Decimal(b)).quantize(_SIX, rounding=ROUND_HALF_UP), Decimal(0)
        return {
            "==": a == b,
            "!=": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[node.op]
    if isinstance(node, BoolOp):
        vals = [_truth(i, cur, prev, unit) for i in node.items]  # all evaluated: blanks block
        return all(vals) if node.op == "and" else any(vals)
    if isinstance(node, Not):
        return not _truth(node.item, cur, prev, unit)
    if isinstance(node, UnitAttr):
        v = unit.attr(node.name) if unit is not None else None
        if v is None:
            raise _Missing("unit." + node.name)
        return bool(v)
    raise RuleError("规则表达式必须是比较（如 a == b）或逻辑组合")


@dataclass(frozen=True)
class Outcome:
    instance: RuleInstance
    status: str  # PASS | FAIL | INCOMPLETE | NOT_APPLICABLE
    finding: Finding | None = None


# --------------------------------------------------------------------------------------------
# rule instances


class _Fmt(dict):
    def __missing__(self, k):  # unknown placeholders stay visible instead of crashing
        return "{" + k + "}"


@dataclass(frozen=True, eq=False)
class RuleInstance:
    rule: RuleDef
    form: Form
    iid: str
    expr: Any
    bindings: Mapping[str, str]
    target: str | None = None  # derived rules: the derived cell

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def severity(self) -> str:
        return self.rule.severity

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Current-year keys referenced, in order of appearance, without duplicates."""
        seen: dict[str, None] = {}
        for n in _walk(self.expr):
            if isinstance(n, Ref) and not n.prev:
                seen.setdefault(n.key, None)
        return tuple(seen)

    @cached_property
    def prev_keys(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for n in _walk(self.expr):
            if isinstance(n, Ref) and n.prev:
                seen.setdefault(n.key, None)
        return tuple(seen)

    @cached_property
    def unit_attrs(self) -> tuple[str, ...]:
        return tuple(n.name for n in _walk(self.expr) if isinstance(n, UnitAttr))

    @cached_property
    def _when(self):
        return parse_expr(self.rule.when) if self.rule.when else None

    @property
    def anchor(self) -> str:
        """The key next to which the generator places this rule's check cell."""
        return self.target or self.keys[0]

    @cached_property
    def focus_keys(self) -> tuple[str, ...]:
        """Cells to point the user at: the derived cell, else the left side of the first comparison."""
        if self.target:
            return (self.target,)
        cmps = _comparisons(self.expr)
        if cmps:
            left = [n.key for n in _walk(cmps[0].left) if isinstance(n, Ref) and not n.prev]
            if left:
                return tuple(dict.fromkeys(left))
        return self.keys

    @cached_property
    def title(self) -> str:
        return self.rule.title.format_map(_Fmt(self._label_ctx()))

    def _label_ctx(self) -> dict[str, str]:
        ctx = {var: self.form.segment_label(seg, self.rule.table) for var, seg in self.bindings.items()}
        if self.target:
            cell = self.form.cells[self.target]
            ctx.update(row=cell.row_label, col=cell.col_label, col_group=cell.col_group, cell=cell.label)
        return ctx

    def applicable(self, unit: UnitType | None = None, prev_format: str | None = None) -> bool:
        """Can this instance be evaluated for this unit (type) and this previous-year data?"""
        if self.rule.needs_previous or self.prev_keys:
            if prev_format is None:
                return False
            if self.rule.previous_same_format and prev_format != self.form.id:
                return False
            if not all(self.form.comparable_with(prev_format, k) for k in self.prev_keys):
                return False
        if self._when is not None or self.unit_attrs:
            if unit is None:
                return False
            if self._when is not None:
                try:
                    return _truth(self._when, {}, None, unit)
                except (_Missing, KeyError):
                    return False
        return True

    # -- Python backend --------------------------------------------------------------------

    def evaluate(
        self,
        values: Mapping[str, Any],
        prev: Mapping[str, Any] | None = None,
        unit: UnitType | None = None,
        prev_format: str | None = None,
    ) -> Outcome:
        if not self.applicable(unit, prev_format if prev is not None else None):
            return Outcome(self, NOT_APPLICABLE)
        if self.prev_keys and any(as_number(prev.get(k)) is None for k in self.prev_keys):  # type: ignore[union-attr]
            return Outcome(self, NOT_APPLICABLE)  # last year's figure unknown: nothing to compare with
        try:
            ok = _truth(self.expr, values, prev, unit)
        except _Missing:
            return Outcome(self, INCOMPLETE)
        except KeyError:
            return Outcome(self, NOT_APPLICABLE)
        if ok:
            return Outcome(self, PASS)
        return Outcome(self, FAIL, self._finding(values, prev, unit))

    def _side(self, node, values, prev, unit):
        return _num(node, values, prev, unit)

    def _terms(self, node, values, prev) -> str:
        """“自然人 10 + 商业企业 2”: the non-zero addends of one side, labelled."""
        if isinstance(node, Add):
            terms = list(node.terms)
        else:
            terms = [(1, node)]
        refs = [t for _, t in terms if isinstance(t, Ref)]
        cells = [self.form.cells.get(r.key) for r in refs]
        same_row = len({(c.table, c.row.key) for c in cells if c}) == 1 and all(cells)
        same_col = len({(c.table, c.col.key) for c in cells if c}) == 1 and all(cells)
        parts: list[str] = []
        for sign, t in terms:
            if isinstance(t, Ref):
                src = prev if t.prev else values
                v = as_number(src.get(t.key)) if src is not None else None
                if not v:
                    continue
                c = self.form.cells.get(t.key)
                if c is None:
                    lab = self.form.label(t.key)
                elif same_row and len(refs) > 1:
                    lab = c.col_label
                elif same_col and len(refs) > 1:
                    lab = c.row_label
                else:
                    lab = c.label
                if t.prev:
                    lab = "上年" + lab
            elif isinstance(t, Num):
                v, lab = t.value, ""
                if not v:
                    continue
            else:
                continue
            txt = f"{lab} {fmt_num(v)}".strip()
            if parts:
                parts.append(("+ " if sign > 0 else "− ") + txt)
            else:
                parts.append(txt if sign > 0 else "− " + txt)
        return " ".join(parts) if parts else "各项均为 0"

    def _finding(self, values, prev, unit) -> Finding:
        ctx: dict[str, Any] = self._label_ctx()
        cmps = _comparisons(self.expr)
        delta = expected = actual = None
        for i, c in enumerate(cmps):
            try:
                lv, rv = self._side(c.left, values, prev, unit), self._side(c.right, values, prev, unit)
            except _Missing:
                continue
            ctx[f"l{i}"], ctx[f"r{i}"] = fmt_num(lv), fmt_num(rv)
            if i == 0:
                delta = lv - rv
                ctx.update(
                    left=fmt_num(lv),
                    right=fmt_num(rv),
                    delta=fmt_num(abs(delta)),
                    left_terms=self._terms(c.left, values, prev),
                    right_terms=self._terms(c.right, values, prev),
                    left_value=fmt_num(lv),
                    right_value=fmt_num(rv),
                )
                if isinstance(c.left, Ref) and not c.left.prev:
                    expected, actual = rv, lv
                    ctx.update(expected=fmt_num(rv), actual=fmt_num(lv))
        if len(cmps) > 1:  # compound rules: left_value / right_value name the two conditions
            ctx["left_value"] = ctx.get("l0", "")
            ctx["right_value"] = ctx.get("l1", "")
        ctx["unit_type"] = unit.name if unit is not None else "本单位"
        involved = {k: values.get(k) for k in self.keys}
        for k in self.prev_keys:
            involved["prev:" + k] = prev.get(k) if prev is not None else None
        return Finding(
            rule_id=self.rule.id,
            severity=self.rule.severity,
            title=self.title,
            message=self.rule.message.format_map(_Fmt(ctx)),
            fix=self.rule.fix,
            instance=self.iid,
            keys=self.focus_keys,
            values=involved,
            expected=expected,
            actual=actual,
            delta=delta,
        )

    # -- Excel backend ---------------------------------------------------------------------

    def excel_condition(
        self,
        locate: Callable[[str], tuple[str, int, int]],
        home_sheet: str,
        prev: Mapping[str, Any] | None = None,
        unit: UnitType | None = None,
    ) -> str:
        """The rule as an Excel boolean expression (no leading '=')."""
        uses_decimal = any(self.form.value_type(k).kind == "decimal" for k in self.keys)
        return _excel(self.expr, locate, home_sheet, prev, unit, uses_decimal)

    def excel_check(
        self,
        locate: Callable[[str], tuple[str, int, int]],
        home_sheet: str,
        prev: Mapping[str, Any] | None = None,
        unit: UnitType | None = None,
    ) -> str:
        """Formula for the check cell: ✓ / ✗ / 待填 (any referenced cell blank or not a number)."""
        cond = self.excel_condition(locate, home_sheet, prev, unit)
        guard = excel_count_guard(self.keys, locate, home_sheet)
        return f'=IF({guard},"{INCOMPLETE}",IF({cond},"{PASS}","{FAIL}"))'

    def excel_status_for(self, outcome_status: str) -> str:
        """The string the check cell shows for a Python outcome (used as the cached result)."""
        return outcome_status


# --------------------------------------------------------------------------------------------
# cell references and ranges


def col_letter(col: int) -> str:
    """0-based column index → Excel letters (0 → A)."""
    s, n = "", col + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def a1(row: int, col: int) -> str:
    return f"{col_letter(col)}{row + 1}"


def sheet_ref(sheet: str, home: str) -> str:
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
            for r in rows[1:] + [None]:  # type: ignore[operator]
                if r is not None and r == prev + 1:
                    prev = r
                    continue
                if prev > start:
                    runs.append((start, c, prev, c))
                    used.update((x, c) for x in range(start, prev + 1))
                if r is not None:
                    start = prev = r
        rest = sorted((r, c) for r, c in pts if (r, c) not in used)
        rows_: dict[int, list[int]] = {}
        for r, c in rest:
            rows_.setdefault(r, []).append(c)
        for r, cs in rows_.items():
            start = prev = cs[0]
            for c in cs[1:] + [None]:  # type: ignore[operator]
                if c is not None and c == prev + 1:
                    prev = c
                    continue
                runs.append((r, start, r, prev))
                if c is not None:
                    start = prev = c
        runs.sort(key=lambda x: (x[1], x[0]))
        for r0, c0, r1, c1 in runs:
            ref = a1(r0, c0) if (r0, c0) == (r1, c1) else f"{a1(r0, c0)}:{a1(r1, c1)}"
            out.append(pre + ref)
    return out


def excel_count_guard(keys: Sequence[str], locate, home: str) -> str:
    """``COUNT(refs)<n``: true while any of the cells is blank or holds text."""
    cells = [locate(k) for k in keys]
    return f"COUNT({','.join(ranges(cells, home))})<{len(set(cells))}"


def excel_sum(keys: Sequence[str], locate, home: str) -> str:
    return f"SUM({','.join(ranges([locate(k) for k in keys], home))})"


def _excel_const(v) -> str:
    return fmt_num(v)


def _excel(node, locate, home, prev, unit, uses_decimal: bool) -> str:
    if isinstance(node, Num):
        return _excel_const(node.value)
    if isinstance(node, Ref):
        if node.prev:
            v = as_number(prev.get(node.key)) if prev is not None else None
            if v is None:
                raise RuleError(f"上年数据缺少 {node.key}，无法生成校验公式")
            return _excel_const(v)
        s, r, c = locate(node.key)
        return sheet_ref(s, home) + a1(r, c)
    if isinstance(node, UnitAttr):
        if unit is None:
            raise RuleError(f"未知单位类型，无法生成含 unit.{node.name} 的校验公式")
        v = unit.attr(node.name)
        if isinstance(v, bool):
            return "TRUE()" if v else "FALSE()"
        return _excel_const(Decimal(str(v)))
    if isinstance(node, Add):
        refs = [t for s, t in node.terms if s > 0 and isinstance(t, Ref) and not t.prev]
        if len(refs) == len(node.terms) and len(refs) > 3:
            return excel_sum([r.key for r in refs], locate, home)
        out = ""
        for i, (sign, t) in enumerate(node.terms):
            txt = _excel(t, locate, home, prev, unit, uses_decimal)
            if isinstance(t, (Add, Cmp, BoolOp)):
                txt = f"({txt})"
            if i == 0:
                out = txt if sign > 0 else f"-{txt}"
            else:
                out += ("+" if sign > 0 else "-") + txt
        return out
    if isinstance(node, Cmp):
        a = _excel(node.left, locate, home, prev, unit, uses_decimal)
        b = _excel(node.right, locate, home, prev, unit, uses_decimal)
        op = {"==": "=", "!=": "<>"}.get(node.op, node.op)
        if uses_decimal:
            # exact decimal arithmetic in Python, binary floats in Excel: compare at 6 places
            return f"ROUND(({a})-({b}),6){op}0"
        return f"({a}){op}({b})" if isinstance(node.left, Add) or isinstance(node.right, Add) else f"{a}{op}{b}"
    if isinstance(node, BoolOp):
        fn = "AND" if node.op == "and" else "OR"
        return f"{fn}({','.join(_excel(i, locate, home, prev, unit, uses_decimal) for i in node.items)})"
    if isinstance(node, Not):
        return f"NOT({_excel(node.item, locate, home, prev, unit, uses_decimal)})"
    raise RuleError(f"无法编译的表达式节点：{node!r}")


def excel_derived(form: Form, key: str, locate, home: str) -> str:
    """Formula of a derived cell: the sum, shown blank until every summed cell is filled."""
    cell = form.cells[key]
    guard = excel_count_guard(cell.sum_of, locate, home)
    return f'=IF({guard},"",{excel_sum(cell.sum_of, locate, home)})'


# --------------------------------------------------------------------------------------------
# expansion, derived values, checking


def expand_rules(form: Form) -> tuple[RuleInstance, ...]:
    out: list[RuleInstance] = []
    ids: set[str] = set()
    for rd in form.rule_defs:
        where = f"格式 {form.id} 的规则 {rd.id}"
        try:
            if rd.derived:
                insts = _expand_derived(form, rd)
            else:
                insts = _expand_expr(form, rd)
        except RuleError as e:
            raise RuleError(f"{where}：{e}") from None
        for inst in insts:
            if inst.iid in ids:
                raise RuleError(f"{where}：实例 {inst.iid} 重复")
            ids.add(inst.iid)
            for k in inst.keys + inst.prev_keys:
                if k not in form.cells and k not in form.fields:
                    raise RuleError(f"{where}：引用了不存在的单元格键 {k}")
                if k in form.fields and not form.fields[k].type.numeric:
                    raise RuleError(f"{where}：{k} 不是数值字段")
            _ = inst.title
            out.append(inst)
    return tuple(out)


def _expand_derived(form: Form, rd: RuleDef) -> list[RuleInstance]:
    table = rd.derived.get("table")  # type: ignore[union-attr]
    axis = rd.derived.get("axis")  # type: ignore[union-attr]
    if table not in form.tables or axis not in ("rows", "cols"):
        raise RuleError("derived 需要 table（表格编号）和 axis（rows 或 cols）")
    t = form.tables[table]
    out = []
    for r in t.rows:
        for c in t.columns:
            leaf = c if axis == "cols" else r
            if not leaf.derived:
                continue
            key = t.key(r, c)
            if axis == "cols":
                parts = [f"{t.prefix}.{r.key}.{s}" if r.key else f"{t.prefix}.{s}" for s in c.siblings]
            else:
                parts = [f"{t.prefix}.{s}.{c.key}" for s in r.siblings]
            expr = Cmp("==", Ref(key), Add(tuple((1, Ref(p)) for p in parts)))
            out.append(RuleInstance(rd, form, f"{rd.id}[{key}]", expr, {}, target=key))
    return out


def _expand_expr(form: Form, rd: RuleDef) -> list[RuleInstance]:
    combos: list[dict[str, str]] = [{}]
    for var, spec in (rd.foreach or {}).items():
        vals = list(form.key_set(spec)) if isinstance(spec, str) else [str(x) for x in spec]
        combos = [dict(c, **{var: v}) for c in combos for v in vals]
    out = []
    for b in combos:
        text = rd.expr or ""
        for var, v in b.items():
            text = text.replace("{" + var + "}", v)
        if "{" in text:
            raise RuleError(f"表达式中有未绑定的占位符：{text}")
        expr = parse_expr(text)
        iid = rd.id + ("[" + ",".join(b.values()) + "]" if b else "")
        out.append(RuleInstance(rd, form, iid, expr, b))
    return out


def compute_derived(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values of every derived cell recomputed from the inputs (None where an input is missing).

    Derived keys already present in ``values`` are *not* used: this is the recomputation.
    """
    out: dict[str, Any] = {}
    pending = list(form.derived_keys)
    derived = set(pending)
    for _ in range(len(pending) + 1):
        if not pending:
            break
        rest = []
        for k in pending:
            deps = form.cells[k].sum_of
            if any(d in derived and d not in out for d in deps):
                rest.append(k)
                continue
            total: int | Decimal = 0
            for d in deps:
                v = out[d] if d in derived else as_number(values.get(d))
                if v is None:
                    total = None  # type: ignore[assignment]
                    break
                total = total + v
            out[k] = total
        pending = rest
    return out


def with_derived(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` plus recomputed derived cells for every derived key the caller did not supply."""
    merged = dict(values)
    if any(k not in values for k in form.derived_keys):
        for k, v in compute_derived(form, values).items():
            merged.setdefault(k, v)
    return merged


def evaluate_all(
    form: Form,
    values: Mapping[str, Any],
    *,
    unit: UnitType | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
) -> list[Outcome]:
    """Evaluate every rule instance; derived cells missing from ``values`` are recomputed."""
    vals = with_derived(form, values)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    prev = complete_previous(prev, pf)
    return [inst.evaluate(vals, prev, unit, pf) for inst in form.rules]


def complete_previous(prev: Mapping[str, Any] | None, prev_format: str | None) -> Mapping[str, Any] | None:
    """Last year's values with their totals recomputed where they were not given."""
    if prev is None or prev_format is None:
        return prev
    from gkxlsx.form.model import FormError, load_form

    try:
        pform = load_form(prev_format)
    except FormError:
        return prev
    return with_derived(pform, prev)


def check(
    form: Form,
    values: Mapping[str, Any],
    *,
    unit: UnitType | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
) -> list[Finding]:
    """All rule findings for one report's values (errors first, in form order)."""
    found = [o.finding for o in evaluate_all(form, values, unit=unit, prev=prev, prev_format=prev_format) if o.finding]
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda f: order[f.severity])  # type: ignore[union-attr]
