"""The compiled fast path: the rules and the derived cells as Python code, for the common case of
plain integers in every cell.

A rule tree becomes Python source (``(v['s3.a'] + v['s3.b'] == v['s3.total'])``), compiled once per
form into code objects with no builtins; a test is exact when every key it reads holds a plain int
(no blank, decimal or bool) — anything else goes through :mod:`gkxlsx.rules.interpret` unchanged.
The checker runs every test of a form in one call (:func:`all_tests`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gkxlsx.rules.engine import NOT_APPLICABLE, PASS, Outcome, compute_derived
from gkxlsx.rules.nodes import Add, BoolOp, Cmp, Node, Not, Num, Ref, Visitor

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.form.model import Form


class NotCompiled(Exception):
    """The tree has something the integer fast path does not do (a decimal, ``prev:``, ``unit.``)."""


class NumberSource(Visitor[str]):
    """A numeric expression as Python source over ``v`` (the values), for int values."""

    def visit_Num(self, node: Num) -> str:
        if node.value != node.value.to_integral_value():
            raise NotCompiled
        return str(int(node.value))

    def visit_Ref(self, node: Ref) -> str:
        if node.prev:
            raise NotCompiled
        return f"v[{node.key!r}]"

    def visit_Add(self, node: Add) -> str:
        return "(0" + "".join(f" {'+' if sign > 0 else '-'} {self.visit(t)}" for sign, t in node.terms) + ")"

    def generic_visit(self, node: Node) -> str:
        raise NotCompiled


class ConditionSource(Visitor[str]):
    """A condition as Python source over ``v`` (the values), for int values."""

    def __init__(self) -> None:
        self.num = NumberSource().visit

    def visit_Cmp(self, node: Cmp) -> str:
        if node.op not in ("==", "!=", "<", "<=", ">", ">="):
            raise NotCompiled
        return f"({self.num(node.left)} {node.op} {self.num(node.right)})"

    def visit_BoolOp(self, node: BoolOp) -> str:
        if node.op not in ("and", "or"):
            raise NotCompiled
        return "(" + f" {node.op} ".join(self.visit(i) for i in node.items) + ")"

    def visit_Not(self, node: Not) -> str:
        return f"(not {self.visit(node.item)})"

    def generic_visit(self, node: Node) -> str:
        raise NotCompiled


def condition_source(node: Node) -> str:
    """Python source of a rule's test over ``v``; :class:`NotCompiled` if there is none."""
    return ConditionSource().visit(node)


def _code(src: str, name: str) -> Any:
    return eval(compile(src, name, "eval"), {"__builtins__": {}})


@lru_cache(maxsize=16)
def rule_tests(form: Form) -> tuple:
    """Per rule instance of ``form`` (same order): (keys, compiled test) — the test is exact
    when every key holds a plain int (no blanks, decimals or bools) — or None."""
    out: list[tuple[tuple[str, ...], Callable[[Mapping[str, Any]], bool]] | None] = []
    for inst in form.rules:
        if inst.prev_keys or inst.rule.needs_previous:
            out.append(None)
            continue
        try:
            src = condition_source(inst.expr)
        except NotCompiled:
            out.append(None)
            continue
        out.append((inst.keys, _code("lambda v: " + src, f"<rule {inst.iid}>")))
    return tuple(out)


@lru_cache(maxsize=16)
def all_tests(form: Form) -> tuple[Callable[[Mapping[str, Any]], tuple], tuple, tuple]:
    """(one function giving every rule instance's compiled test at once — False where there is
    none —, each instance's PASS and NOT_APPLICABLE outcomes), for values that are plain ints in
    every cell."""
    parts = []
    for inst in form.rules:
        src = "False"
        if not (inst.prev_keys or inst.rule.needs_previous) and set(inst.keys) <= set(form.cells):
            try:
                src = condition_source(inst.expr)
            except NotCompiled:
                pass
        parts.append(src)
    fn = _code("lambda v: (" + ", ".join(parts) + ",)", f"<rules {form.id}>")
    return (
        fn,
        tuple(Outcome(inst, PASS) for inst in form.rules),
        tuple(Outcome(inst, NOT_APPLICABLE) for inst in form.rules),
    )


@lru_cache(maxsize=256)
def applicable(form: Form, unit_type: str | None, prev_format: str | None) -> tuple[bool, ...]:
    """Per rule instance of ``form``: does it apply to this unit type and last year's format?"""
    ut = form.unit_type(unit_type) if unit_type else None
    return tuple(inst.applicable(ut, prev_format) for inst in form.rules)


_INT_ONLY = {int}


def all_int(values: Mapping[str, Any], keys) -> bool:
    """Every one of ``keys`` holds a plain int (not a bool, a Decimal or None) — at C speed."""
    return set(map(type, map(values.get, keys))) == _INT_ONLY


@lru_cache(maxsize=16)
def derived_function(form: Form):
    """(input keys, compiled function) giving what :func:`compute_derived` gives, in the same
    order, when every input holds a plain int."""
    pending = list(form.derived_keys)
    derived = set(pending)
    done: list[str] = []
    for _ in range(len(pending) + 1):
        if not pending:
            break
        rest = []
        for k in pending:
            if any(d in derived and d not in done for d in form.cells[k].sum_of):
                rest.append(k)
            else:
                done.append(k)
        pending = rest
    if pending:
        return None
    inputs = tuple(dict.fromkeys(d for k in done for d in form.cells[k].sum_of if d not in derived))
    lines = ["def f(v):", "    d = {}"]
    for k in done:
        terms = " + ".join(f"d[{d!r}]" if d in derived else f"v[{d!r}]" for d in form.cells[k].sum_of) or "0"
        lines.append(f"    d[{k!r}] = 0 + {terms}")
    lines.append("    return d")
    ns: dict = {}
    exec(compile("\n".join(lines), f"<derived {form.id}>", "exec"), {"__builtins__": {}}, ns)
    return inputs, ns["f"]


def derived_values(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`compute_derived` gives, through the compiled function when every input is a
    plain int."""
    fast = derived_function(form)
    if fast is not None:
        inputs, fn = fast
        if all_int(values, inputs):
            return fn(values)
    return compute_derived(form, values)
