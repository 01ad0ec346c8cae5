"""Rule instances: the form's rules expanded per column, evaluated in Python, and the totals.

Rules are declared once in the form data (``expr``, ``foreach``, ``when``; see
:mod:`gkxlsx.rules.parser` for the language) and compiled to every backend from one tree.
``foreach`` binds ``{var}`` placeholders to lists of key segments (or set references such as
``@s3.cols``); ``derived`` rules are generated from the tables' derivations (“总计”): every derived
cell must equal the sum it is defined by.  :func:`expand_rules` gives the instances
(``Form.rules``); :meth:`RuleInstance.evaluate` is the Python check used by the importer, the
auditor and the aggregator, returning a :class:`Finding` with values, expected value, difference
and a Chinese message.  The check cell's formula is :func:`gkxlsx.rules.excel.excel_check`.

A blank (missing) input is not 0: a rule that refers to a missing or non-numeric value is not
evaluated (status ``incomplete``; the cell itself is reported by E-CELL-EMPTY), and the Excel check
shows 待填 in that case.

Nothing here imports the form model (the model imports this module for ``Form.rules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gkxlsx.findings import Finding, fmt_num
from gkxlsx.rules.interpret import Eval, Missing, as_number, number_function, truth_function, when_holds
from gkxlsx.rules.nodes import Add, Cmp, Node, Ref, RuleError, UnitAttr, walk
from gkxlsx.rules.parser import parse_expr
from gkxlsx.rules.text import terms_zh

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.form.model import Form, RuleDef, UnitType

PASS, FAIL, INCOMPLETE, NOT_APPLICABLE = "✓", "✗", "待填", "不适用"


def _comparisons(node: Node) -> list[Cmp]:
    return [n for n in walk(node) if isinstance(n, Cmp)]


@dataclass(frozen=True)
class Outcome:
    instance: RuleInstance
    status: str  # PASS | FAIL | INCOMPLETE | NOT_APPLICABLE
    finding: Finding | None = None


_COMPILED = ("_test", "_sides")  # RuleInstance's cached functions of the Python backend


class _Fmt(dict):
    def __missing__(self, k):  # unknown placeholders stay visible instead of crashing
        return "{" + k + "}"


@dataclass(frozen=True, eq=False)
class RuleInstance:
    """One rule with its placeholders bound (``E-T3-BAL[natural]``): its tree, the keys it reads,
    the cells it points the user at, and its evaluation by the Python backend."""

    rule: RuleDef
    form: Form
    iid: str
    expr: Node
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
        for n in walk(self.expr):
            if isinstance(n, Ref) and not n.prev:
                seen.setdefault(n.key, None)
        return tuple(seen)

    @cached_property
    def prev_keys(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for n in walk(self.expr):
            if isinstance(n, Ref) and n.prev:
                seen.setdefault(n.key, None)
        return tuple(seen)

    @cached_property
    def unit_attrs(self) -> tuple[str, ...]:
        return tuple(n.name for n in walk(self.expr) if isinstance(n, UnitAttr))

    def __getstate__(self) -> dict[str, Any]:  # the compiled functions are rebuilt, not pickled
        return {k: v for k, v in self.__dict__.items() if k not in _COMPILED}

    @cached_property
    def _test(self) -> Eval:
        """The Python backend's function of (values, prev, unit) for this instance."""
        return truth_function(self.expr)

    @cached_property
    def _sides(self) -> tuple[tuple[Cmp, Eval, Eval], ...]:
        """Each comparison with the functions of its two sides (for the finding's message)."""
        return tuple((c, number_function(c.left), number_function(c.right)) for c in _comparisons(self.expr))

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
            left = [n.key for n in walk(cmps[0].left) if isinstance(n, Ref) and not n.prev]
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
        if self.rule.when or self.unit_attrs:
            if unit is None:
                return False
            if self.rule.when:
                return when_holds(self.rule.when, unit) is True
        return True

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
            ok = self._test(values, prev, unit)
        except Missing:
            return Outcome(self, INCOMPLETE)
        except KeyError:
            return Outcome(self, NOT_APPLICABLE)
        if ok:
            return Outcome(self, PASS)
        return Outcome(self, FAIL, self._finding(values, prev, unit))

    def _finding(self, values, prev, unit) -> Finding:
        ctx: dict[str, Any] = self._label_ctx()
        cmps = self._sides
        delta = expected = actual = None
        for i, (c, left, right) in enumerate(cmps):
            try:
                lv, rv = left(values, prev, unit), right(values, prev, unit)
            except Missing:
                continue
            ctx[f"l{i}"], ctx[f"r{i}"] = fmt_num(lv), fmt_num(rv)
            if i == 0:
                delta = lv - rv
                ctx.update(
                    left=fmt_num(lv),
                    right=fmt_num(rv),
                    delta=fmt_num(abs(delta)),
                    left_terms=terms_zh(c.left, self.form, values, prev),
                    right_terms=terms_zh(c.right, self.form, values, prev),
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


# --------------------------------------------------------------------------------------------
# expansion and derived values


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
