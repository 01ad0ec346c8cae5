"""The rule language: tokenizer and recursive-descent parser, text → :mod:`gkxlsx.rules.nodes` tree.

A rule's ``expr`` is a tiny expression language over cell keys::

    s3.new.{c} + s3.carried_in.{c} == s3.r7_total.{c} + s3.carried_out.{c}
    s3.r6_2.total == 0 or s6.fee_notices > 0
    s3.carried_in.{c} == prev:s3.carried_out.{c}        # last year's report
    s2.admin_fee.amount_wan < unit.fee_warn_wan          # an attribute of the unit type

Grammar (lowest precedence first): ``or``, ``and``, ``not``, one comparison
(``== != < <= > >=``), ``+``/``-`` sums of terms; a term is a number, a key, ``prev:``key,
``unit.``attribute or a parenthesised expression.

A ``when`` condition of a field or a rule (``unit.government``, ``not unit.guizhang``) is the same
language restricted to the unit's attributes: :func:`parse_when`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from gkxlsx.rules.nodes import Add, BoolOp, Cmp, Node, Not, Num, Ref, RuleError, UnitAttr, walk

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<ref>(?:prev:)?[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)+)"
    r"|(?P<word>and|or|not)\b|(?P<op>==|!=|<=|>=|<|>|\+|-|\(|\)))"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; kind is num, ref, word (and/or/not) or op."""
    out: list[tuple[str, str]] = []
    pos = 0
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


class Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        t = self.peek()
        if t is None or (value is not None and t[1] != value):
            raise RuleError(f"表达式不完整：期望 {value or '更多内容'}")
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise RuleError(f"表达式多余的内容：{self.peek()[1]}")  # type: ignore[index]
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.peek() == ("word", "or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.peek() == ("word", "and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_(self) -> Node:
        if self.peek() == ("word", "not"):
            self.take()
            return Not(self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        left = self.add()
        t = self.peek()
        if t and t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return Cmp(t[1], left, self.add())
        return left

    def add(self) -> Node:
        terms = [(1, self.term())]
        while self.peek() in (("op", "+"), ("op", "-")):
            sign = 1 if self.take()[1] == "+" else -1
            terms.append((sign, self.term()))
        return terms[0][1] if len(terms) == 1 and terms[0][0] == 1 else Add(tuple(terms))

    def term(self) -> Node:
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


def parse_expr(text: str) -> Node:
    """A rule expression → its tree (:class:`RuleError` with a Chinese message if malformed)."""
    return Parser(text).parse()


@lru_cache(maxsize=256)
def parse_when(text: str) -> Node:
    """A ``when`` condition → its tree; it may refer to the unit's attributes only (no cell)."""
    node = parse_expr(text)
    for n in walk(node):
        if isinstance(n, Ref):
            raise RuleError(f"适用条件只能引用单位属性（unit.…），不能引用 {n.key}：{text}")
    return node
