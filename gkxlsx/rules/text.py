"""The text backends: a rule tree printed back in the rule language, and rules and conditions in
Chinese (``gkxlsx forms show``, the workbook's 填报说明, the findings' “自然人 10 + 商业企业 2”)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from gkxlsx.findings import fmt_num
from gkxlsx.form.datafiles import data_file
from gkxlsx.rules.interpret import as_number
from gkxlsx.rules.nodes import Add, BoolOp, Cmp, Node, Not, Num, Ref, RuleError, UnitAttr, Visitor
from gkxlsx.rules.parser import parse_when

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.form.model import Form


class RuleText(Visitor[str]):
    """A tree printed back in the rule language (``s3.a + s3.b == s3.total``), the form of
    ``gkxlsx forms export``."""

    def visit_Num(self, node: Num) -> str:
        return fmt_num(node.value)

    def visit_Ref(self, node: Ref) -> str:
        return ("prev:" if node.prev else "") + node.key

    def visit_UnitAttr(self, node: UnitAttr) -> str:
        return "unit." + node.name

    def visit_Add(self, node: Add) -> str:
        out = ""
        for i, (sign, t) in enumerate(node.terms):
            txt = self.visit(t)
            if isinstance(t, (Add, Cmp, BoolOp)):
                txt = f"({txt})"
            out += (txt if sign > 0 else "-" + txt) if i == 0 else (" + " if sign > 0 else " - ") + txt
        return out

    def visit_Cmp(self, node: Cmp) -> str:
        return f"{self.visit(node.left)} {node.op} {self.visit(node.right)}"

    def visit_BoolOp(self, node: BoolOp) -> str:
        parts = [f"({self.visit(i)})" if isinstance(i, BoolOp) else self.visit(i) for i in node.items]
        return f" {node.op} ".join(parts)

    def visit_Not(self, node: Not) -> str:
        inner = self.visit(node.item)
        return f"not ({inner})" if isinstance(node.item, BoolOp) else f"not {inner}"

    def generic_visit(self, node: Node) -> str:
        return repr(node)


def rule_text(node: Node) -> str:
    """A parsed rule expression printed back in the rule language."""
    return RuleText().visit(node)


# --------------------------------------------------------------------------------------------
# conditions in Chinese

# (unit attribute, holds) → words: who a condition selects, as ``gkxlsx forms show`` says it, and what
# the workbook's 填报说明 says of a field required under it (gkxlsx/data/conditions.json, read once)
_Words = dict[tuple[str, bool], str]


@cache
def _words(part: str) -> _Words:
    by_attr = data_file("conditions")[part]
    return {(attr, holds == "true"): w for attr, by_holds in by_attr.items() for holds, w in by_holds.items()}


class _NoWords(Exception):
    pass


class UnitCondition(Visitor[tuple[str, bool]]):
    """A condition on one unit attribute, reduced to (attribute, holds): ``not unit.guizhang`` →
    ("guizhang", False); anything else has no words of its own (:class:`_NoWords`)."""

    def visit_UnitAttr(self, node: UnitAttr) -> tuple[str, bool]:
        return node.name, True

    def visit_Not(self, node: Not) -> tuple[str, bool]:
        name, holds = self.visit(node.item)
        return name, not holds

    def generic_visit(self, node: Node) -> tuple[str, bool]:
        raise _NoWords


def _condition(when: str) -> tuple[str, bool] | None:
    try:
        return UnitCondition().visit(parse_when(when))
    except (_NoWords, RuleError):
        return None


def when_zh(when: str | None) -> str:
    """Who a ``when`` condition selects, in Chinese (“仅各级人民政府”); “条件：…” when there are
    no words for it; "" without a condition."""
    if not when:
        return ""
    words = _words("who").get(_condition(when))  # type: ignore[arg-type]
    return words if words is not None else f"条件：{when}"


def requirement_zh(when: str) -> str:
    """What the workbook's guide says of a field required only under ``when``."""
    words = _words("required").get(_condition(when))  # type: ignore[arg-type]
    return words if words is not None else str(data_file("conditions")["required_other"])


# --------------------------------------------------------------------------------------------
# one side of a failed comparison, in Chinese


class TermsText(Visitor[tuple[Any, str] | None]):
    """The addends of one side of a comparison, labelled with their values: “自然人 10 + 商业企业 2”
    (zeros and blanks left out; the row or column label alone when all share a row or column)."""

    def __init__(self, form: Form, values: Mapping[str, Any], prev: Mapping[str, Any] | None):
        self.form, self.values, self.prev = form, values, prev
        self.same_row = self.same_col = False

    def text(self, node: Node) -> str:
        terms = node.terms if isinstance(node, Add) else ((1, node),)
        refs = [t for _, t in terms if isinstance(t, Ref)]
        cells = [self.form.cells.get(r.key) for r in refs]
        several = len(refs) > 1
        self.same_row = several and len({(c.table, c.row.key) for c in cells if c}) == 1 and all(cells)
        self.same_col = several and len({(c.table, c.col.key) for c in cells if c}) == 1 and all(cells)
        parts: list[str] = []
        for sign, t in terms:
            term = self.visit(t)
            if term is None:
                continue
            v, lab = term
            txt = f"{lab} {fmt_num(v)}".strip()
            if parts:
                parts.append(("+ " if sign > 0 else "− ") + txt)
            else:
                parts.append(txt if sign > 0 else "− " + txt)
        return " ".join(parts) if parts else "各项均为 0"

    def visit_Ref(self, node: Ref) -> tuple[Any, str] | None:
        src = self.prev if node.prev else self.values
        v = as_number(src.get(node.key)) if src is not None else None
        if not v:
            return None
        c = self.form.cells.get(node.key)
        if c is None:
            lab = self.form.label(node.key)
        elif self.same_row:
            lab = c.col_label
        elif self.same_col:
            lab = c.row_label
        else:
            lab = c.label
        return v, ("上年" + lab if node.prev else lab)

    def visit_Num(self, node: Num) -> tuple[Any, str] | None:
        return (node.value, "") if node.value else None

    def generic_visit(self, node: Node) -> tuple[Any, str] | None:
        return None


def terms_zh(node: Node, form: Form, values: Mapping[str, Any], prev: Mapping[str, Any] | None) -> str:
    """One side of a comparison as its non-zero addends, labelled (see :class:`TermsText`)."""
    return TermsText(form, values, prev).text(node)
