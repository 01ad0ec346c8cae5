"""Compiled fast paths: the rules and the derived cells as Python expressions, for the common
case of plain integers everywhere (anything else goes through gkxlsx.rules.engine unchanged)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from gkxlsx.form.model import Form
from gkxlsx.rules.engine import NOT_APPLICABLE, PASS, Add, BoolOp, Cmp, Not, Num, Outcome, Ref, compute_derived


class _NoFast(Exception):
    pass


def _py_num(node) -> str:
    if isinstance(node, Num):
        if node.value != node.value.to_integral_value():
            raise _NoFast
        return str(int(node.value))
    if isinstance(node, Ref) and not node.prev:
        return f"v[{node.key!r}]"
    if isinstance(node, Add):
        return "(0" + "".join(f" {'+' if sign > 0 else '-'} {_py_num(t)}" for sign, t in node.terms) + ")"
    raise _NoFast


def _py_truth(node) -> str:
    if isinstance(node, Cmp) and node.op in ("==", "!=", "<", "<=", ">", ">="):
        return f"({_py_num(node.left)} {node.op} {_py_num(node.right)})"
    if isinstance(node, BoolOp) and node.op in ("and", "or"):
        return "(" + f" {node.op} ".join(_py_truth(i) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"(not {_py_truth(node.item)})"
    raise _NoFast


@lru_cache(maxsize=16)
def _fast_rules(form: Form) -> tuple:
    """Per rule instance of ``form`` (same order): (keys, compiled test) — the test is exact
    when every key holds a plain int (no blanks, decimals or bools) — or None."""
    out = []
    for inst in form.rules:
        if inst.prev_keys or inst.rule.needs_previous:
            out.append(None)
            continue
        try:
            src = _py_truth(inst.expr)
        except _NoFast:
            out.append(None)
            continue
        out.append((inst.keys, eval(compile("lambda v: " + src, f"<rule {inst.iid}>", "eval"), {"__builtins__": {}})))
    return tuple(out)


_INT_ONLY = {int}


def _all_int(values: Mapping[str, Any], keys) -> bool:
    """Every one of ``keys`` holds a plain int (not a bool, a Decimal or None) — at C speed."""
    return set(map(type, map(values.get, keys))) == _INT_ONLY


@lru_cache(maxsize=16)
def _fast_all(form: Form) -> tuple[Callable[[Mapping[str, Any]], tuple], tuple, tuple]:
    """(one function giving every rule instance's compiled test at once — False where there is
    none —, each instance's PASS and NOT_APPLICABLE outcomes), for values that are plain ints in
    every cell."""
    parts = []
    for inst in form.rules:
        src = "False"
        if not (inst.prev_keys or inst.rule.needs_previous) and set(inst.keys) <= set(form.cells):
            try:
                src = _py_truth(inst.expr)
            except _NoFast:
                pass
        parts.append(src)
    fn = eval(compile("lambda v: (" + ", ".join(parts) + ",)", f"<rules {form.id}>", "eval"), {"__builtins__": {}})
    return (
        fn,
        tuple(Outcome(inst, PASS) for inst in form.rules),
        tuple(Outcome(inst, NOT_APPLICABLE) for inst in form.rules),
    )


@lru_cache(maxsize=256)
def _applicable(form: Form, unit_type: str | None, prev_format: str | None) -> tuple[bool, ...]:
    ut = form.unit_type(unit_type) if unit_type else None
    return tuple(inst.applicable(ut, prev_format) for inst in form.rules)


@lru_cache(maxsize=16)
def _fast_derived(form: Form):
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


def _derived(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    fast = _fast_derived(form)
    if fast is not None:
        inputs, fn = fast
        if _all_int(values, inputs):
            return fn(values)
    return compute_derived(form, values)
