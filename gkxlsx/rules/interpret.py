"""The Python backend: a rule tree evaluated on one report's values, and the one ``when`` evaluator.

The tree is compiled once into nested Python functions of ``(cur, prev, unit)`` — this year's
values, last year's, the unit type — one closure per node, so that evaluating a rule on a report
walks no tree and dispatches nothing.  A blank (missing) input is not 0: a number that is missing
or not a number raises :class:`Missing` (the rule is ``incomplete``).  Decimals compare as the
workbook does, ``ROUND(a-b,6)`` against 0.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gkxlsx.rules.nodes import Add, BoolOp, Cmp, Node, Not, Num, Ref, RuleError, UnitAttr, Visitor
from gkxlsx.rules.parser import parse_when

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.form.model import UnitType


class Missing(Exception):
    """A value the expression needs is blank or not a number (args: the key or ``unit.name``)."""


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


def _unit_attr(unit: UnitType | None, name: str) -> Any:
    v = unit.attr(name) if unit is not None else None  # KeyError: no such attribute
    if v is None:
        raise Missing("unit." + name)
    return v


Values = Mapping[str, Any]
Eval = Callable[[Values, "Values | None", "UnitType | None"], Any]  # (cur, prev, unit) → value

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _raising(message: str) -> Eval:
    def fail(cur: Values, prev: Values | None, unit: UnitType | None) -> Any:
        raise RuleError(message)

    return fail


class NumberCompiler(Visitor[Eval]):
    """A numeric expression (number, key, ``prev:``key, unit attribute, sum) → a function of
    ``(cur, prev, unit)``: this year's values, last year's, the unit type."""

    def visit_Num(self, node: Num) -> Eval:
        value = node.value
        return lambda cur, prev, unit: value

    def visit_Ref(self, node: Ref) -> Eval:
        key = node.key

        if node.prev:

            def ref(cur: Values, prev: Values | None, unit: UnitType | None) -> int | Decimal:
                v = as_number(prev.get(key)) if prev is not None else None
                if v is None:
                    raise Missing(key)
                return v

        else:

            def ref(cur: Values, prev: Values | None, unit: UnitType | None) -> int | Decimal:
                v = as_number(cur.get(key)) if cur is not None else None
                if v is None:
                    raise Missing(key)
                return v

        return ref

    def visit_UnitAttr(self, node: UnitAttr) -> Eval:
        name = node.name

        def attr(cur: Values, prev: Values | None, unit: UnitType | None) -> int | Decimal:
            v = _unit_attr(unit, name)
            return Decimal(str(v)) if isinstance(v, float) else v

        return attr

    def visit_Add(self, node: Add) -> Eval:
        terms = tuple((sign, self.visit(t)) for sign, t in node.terms)

        def add(cur: Values, prev: Values | None, unit: UnitType | None) -> int | Decimal:
            total: int | Decimal = 0
            for sign, term in terms:
                total = total + sign * term(cur, prev, unit)
            return total

        return add

    def generic_visit(self, node: Node) -> Eval:
        return _raising("数值表达式中出现了比较或逻辑运算")  # raised when evaluated, as a blank is found first


class TruthCompiler(Visitor[Eval]):
    """A condition (comparison, and / or / not, a unit attribute) → a function of
    ``(cur, prev, unit)`` giving True or False."""

    def visit_Cmp(self, node: Cmp) -> Eval:
        left, right, op = _NUMBER.visit(node.left), _NUMBER.visit(node.right), _OPS[node.op]

        def cmp(cur: Values, prev: Values | None, unit: UnitType | None) -> bool:
            a, b = left(cur, prev, unit), right(cur, prev, unit)
            if isinstance(a, Decimal) or isinstance(b, Decimal):
                # the workbook compares decimals as ROUND(a-b,6) against 0: do exactly the same here
                try:
                    a, b = (Decimal(a) - Decimal(b)).quantize(_SIX, rounding=ROUND_HALF_UP), Decimal(0)
                except InvalidOperation:  # a difference beyond 28 digits: rounding to 6 places changes nothing
                    pass
            return op(a, b)

        return cmp

    def visit_BoolOp(self, node: BoolOp) -> Eval:
        items = tuple(self.visit(i) for i in node.items)
        combine = all if node.op == "and" else any

        def boolop(cur: Values, prev: Values | None, unit: UnitType | None) -> bool:
            return combine([item(cur, prev, unit) for item in items])  # all evaluated: blanks block

        return boolop

    def visit_Not(self, node: Not) -> Eval:
        item = self.visit(node.item)
        return lambda cur, prev, unit: not item(cur, prev, unit)

    def visit_UnitAttr(self, node: UnitAttr) -> Eval:
        name = node.name
        return lambda cur, prev, unit: bool(_unit_attr(unit, name))

    def generic_visit(self, node: Node) -> Eval:
        return _raising("规则表达式必须是比较（如 a == b）或逻辑组合")


_NUMBER, _TRUTH = NumberCompiler(), TruthCompiler()


def number_function(node: Node) -> Eval:
    """``f(cur, prev, unit)``: the value of a numeric expression; :class:`Missing` if a value it
    needs is blank."""
    return _NUMBER.visit(node)


def truth_function(node: Node) -> Eval:
    """``f(cur, prev, unit)``: does the condition hold?  :class:`Missing` if a value it needs is
    blank; KeyError for an attribute the unit type does not have."""
    return _TRUTH.visit(node)


def when_holds(when: str | None, unit: UnitType | None) -> bool | None:
    """Does a field's or rule's ``when`` condition (``unit.government``, ``not unit.guizhang``)
    hold for this unit type?  True without a condition; None when it cannot be told: the unit
    type is unknown (or lacks an attribute the condition names).

    The one evaluator of ``when``: rules, checker, generator, renderer and narrative checks."""
    if not when:
        return True
    if unit is None:
        return None
    return _when_holds(when, unit)


@lru_cache(maxsize=256)
def _when_holds(when: str, unit: UnitType) -> bool | None:
    try:
        return truth_function(parse_when(when))({}, None, unit)
    except (Missing, KeyError):
        return None
