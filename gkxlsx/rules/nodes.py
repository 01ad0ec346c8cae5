"""The rule expression tree: its node classes and the visitor base of every backend.

:mod:`gkxlsx.rules.parser` builds the tree from a rule's ``expr`` (or a ``when`` condition); each
backend is one :class:`Visitor` subclass with a ``visit_<Node>`` method per node class it handles:

* :mod:`gkxlsx.rules.interpret` — Python evaluation on one report's values;
* :mod:`gkxlsx.rules.codegen` — the compiled fast path (Python source → code objects);
* :mod:`gkxlsx.rules.excel` — the formulas of the workbook's check cells;
* :mod:`gkxlsx.rules.text` — the rule language printed back, and conditions in Chinese.

This module depends on nothing else in gkxlsx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar


class RuleError(ValueError):
    """A rule expression is malformed (message in Chinese, names the rule)."""


class Node:
    """Base of the node classes; ``children()`` gives the direct sub-expressions."""

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class Num(Node):
    """A number written in the expression."""

    value: Decimal


@dataclass(frozen=True)
class Ref(Node):
    """A cell (or field) key; ``prev``: the value of last year's report (``prev:key``)."""

    key: str
    prev: bool = False


@dataclass(frozen=True)
class UnitAttr(Node):
    """An attribute of the unit type (``unit.government``, ``unit.fee_warn_wan``)."""

    name: str


@dataclass(frozen=True)
class Add(Node):
    """A sum: (sign, term) pairs, sign +1 or -1."""

    terms: tuple[tuple[int, Node], ...]

    def children(self) -> tuple[Node, ...]:
        return tuple(t for _, t in self.terms)


@dataclass(frozen=True)
class Cmp(Node):
    """One comparison: ``op`` is one of == != < <= > >=."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class BoolOp(Node):
    """``and`` / ``or`` of two or more conditions."""

    op: str  # and | or
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True)
class Not(Node):
    item: Node

    def children(self) -> tuple[Node, ...]:
        return (self.item,)


NODE_TYPES: tuple[type[Node], ...] = (Num, Ref, UnitAttr, Add, Cmp, BoolOp, Not)


def walk(node: Node) -> Iterator[Node]:
    """The node and every sub-expression, depth first, in the order written."""
    yield node
    for child in node.children():
        yield from walk(child)


R = TypeVar("R")


class Visitor(Generic[R]):
    """Dispatch by node class, as :class:`ast.NodeVisitor` does: ``visit(node)`` calls the
    subclass's ``visit_Num``, ``visit_Ref``, … and :meth:`generic_visit` for a node class the
    subclass has no method for.  The table is built once per subclass: one dict lookup per node."""

    _table: ClassVar[dict[type, Callable[[Any, Any], Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._table = {t: getattr(cls, "visit_" + t.__name__, cls.generic_visit) for t in NODE_TYPES}

    def visit(self, node: Node) -> R:
        fn = self._table.get(type(node), type(self).generic_visit)
        return fn(self, node)

    def generic_visit(self, node: Node) -> R:
        raise RuleError(f"无法编译的表达式节点：{node!r}")
