"""Table rows whose cells lost their separators (docs/FORMAT.md §7): a crawler that keeps only the
text of a page prints the table as ``一、本年新收政府信息公开申请数量801000081二、上年结转…``.

Two steps, both without guessing:

* :func:`split_glued` cuts such a line into its row labels and its runs of digits, at the labels
  the forms know (a run that ends in a label's numbering, ``…00000002.其他法律…``, gives the
  ``2`` back to the label);
* :func:`candidates` lists every way to split one run into the row's cells — non-negative integers
  without leading zeros (a lone ``0`` is fine), a sign only where the cell may be negative, a
  decimal point only in a decimal cell — bounded (a run with too many splits is left ambiguous);
  :func:`resolve` then keeps the splits the form's hard relations allow (the ``error`` rules: row
  totals, column totals, the balance of part 三), propagated between rows until nothing changes.
  A row left with one split is read; with several, the cells on which all of them agree are read
  and the others are ambiguous, the candidate splits listed.  A relation that removes no split is
  not used; a relation that would remove every split is one the page violates, so it is not used
  either (and the audit reports it as usual).

Nothing here imports :mod:`gkxlsx.published.extract`: the reader passes labels and cell kinds in.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from gkxlsx.findings import Finding, make_finding
from gkxlsx.form.model import Form
from gkxlsx.rules.codegen import all_int, rule_tests
from gkxlsx.rules.engine import RuleInstance
from gkxlsx.rules.interpret import Eval, Missing, truth_function

MAX_CANDIDATES = 5000  # splits of one run kept at most; more: the row is ambiguous
MAX_STEPS = 400_000  # search steps for one run
MAX_COMBINATIONS = 20_000  # joint splits of several rows tried for one relation
SHOWN = 4  # candidate splits shown in a note

_RUN = re.compile(r"[+\-]?\d+(?:\.\d+)?(?:[+\-]?\d+(?:\.\d+)?)*")
_DROP = re.compile(r"[\s\"'“”‘’「」『』]")


@dataclass(frozen=True)
class CellKind:
    signed: bool = False
    decimal: bool = False


def cell_kind(form: Form, key: str) -> CellKind:
    t = form.cells[key].type
    return CellKind(signed=t.min is None, decimal=t.kind == "decimal")


# --------------------------------------------------------------------------------------------
# cutting a glued line into labels and runs


def _filtered(s: str) -> tuple[str, list[int]]:
    """``s`` without the characters labels ignore, and for each kept character its index in ``s``."""
    keep = [i for i, ch in enumerate(s) if not _DROP.match(ch)]
    return "".join(s[i] for i in keep), keep


def _ends_with(s: str, labels: Sequence[str]) -> str | None:
    f, _ = _filtered(s)
    for lab in labels:  # longest first
        if f.endswith(lab):
            return lab
    return None


def _cut_labels(s: str, labels: Sequence[str]) -> list[str]:
    """A text piece → [leading text, label, label …]: known labels peeled off its end."""
    f, keep = _filtered(s)
    end = len(f)
    s_end = len(s)
    cuts: list[tuple[int, int]] = []
    while end > 0:
        lab = next((x for x in labels if len(x) <= end and f.startswith(x, end - len(x))), None)
        if lab is None:
            break
        end -= len(lab)
        a = keep[end]
        cuts.append((a, s_end))
        s_end = a
    out = [s[:s_end]] + [s[a:b] for a, b in reversed(cuts)]
    return [p for p in out if p.strip()]


@lru_cache(maxsize=8)
def _label_sets(anchors: tuple[str, ...], headers: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the row labels that start with a digit, every label longest first) for :func:`split_glued`."""
    numbered = tuple(lab for lab in anchors if lab[0].isdigit())
    return numbered, tuple(sorted(set(anchors) | set(headers), key=len, reverse=True))


def split_glued(norm: str, anchors: Sequence[str], headers: Sequence[str]) -> list[tuple[str, int, int]] | None:
    """A line of a table part whose cells are glued → pieces ``(kind, start, end)`` (kind ``text`` or
    ``run``, offsets into ``norm``); None when the line does not look like a glued table (fewer
    than two runs of digits right after a known label, or one run ending the line after one).

    ``anchors``: row labels as compared (longest first); ``headers``: header labels (longest first)."""
    if not any(map(str.isdigit, norm)):
        return None
    numbered, known = _label_sets(tuple(anchors), tuple(headers))
    runs: list[tuple[int, int]] = []
    for m in _RUN.finditer(norm):
        a, b = m.start(), m.end()
        before = norm[a - 1] if a else ""
        after = norm[b] if b < len(norm) else ""
        if (before and before in "(（第") or (after and after in ")）年月日%"):
            continue
        if after and after in ".、" and norm[b - 1].isdigit():
            # the last digit is the next label's numbering (“…00000002.其他法律…”)?
            f, _ = _filtered(norm[b - 1 : b + 90])
            if f.startswith(numbered):
                b -= 1
                if b <= a or not norm[b - 1].isdigit():
                    continue
        runs.append((a, b))
    if not runs:
        return None
    glued = 0
    prev = 0
    for a, _b in runs:
        if _ends_with(norm[prev:a], known):
            glued += 1
        prev = _b
    last_a, last_b = runs[-1]
    alone_at_end = glued == 1 and not norm[last_b:].strip() and _ends_with(norm[:last_a], known)
    if glued < 2 and not alone_at_end:
        return None
    out: list[tuple[str, int, int]] = []
    pos = 0
    for a, b in runs:
        if a > pos:
            out += _text_pieces(norm, pos, a, anchors)
        out.append(("run", a, b))
        pos = b
    if pos < len(norm):
        out += _text_pieces(norm, pos, len(norm), anchors)
    return out


def _text_pieces(norm: str, a: int, b: int, anchors: Sequence[str]) -> list[tuple[str, int, int]]:
    s = norm[a:b]
    out = []
    pos = 0
    for piece in _cut_labels(s, anchors):
        i = s.find(piece, pos)
        out.append(("text", a + i, a + i + len(piece)))
        pos = i + len(piece)
    return out


# --------------------------------------------------------------------------------------------
# the splits of one run


def _pieces(run: str, kind: CellKind) -> list[tuple[int, Any]]:
    """(length, value) of every number ``run`` may start with for a cell of this kind."""
    out: list[tuple[int, Any]] = []
    i = 0
    sign = 1
    if run[:1] in "+-":
        if not kind.signed:
            return out
        sign = -1 if run[0] == "-" else 1
        i = 1
    if i >= len(run) or not run[i].isdigit():
        return out
    j = i
    while j < len(run) and run[j].isdigit():
        j += 1
        digits = run[i:j]
        if len(digits) > 1 and digits[0] == "0":
            break
        if i == 1 and int(digits) == 0 and run[0] == "-":
            continue
        out.append((j, sign * int(digits)))
        if kind.decimal and j < len(run) - 1 and run[j] == "." and run[j + 1].isdigit():
            k = j + 1
            while k < len(run) and run[k].isdigit():
                k += 1
                out.append((k, sign * Decimal(run[i:k])))
    return out


def candidates(run: str, kinds: Sequence[CellKind]) -> list[tuple[Any, ...]] | None:
    """Every split of ``run`` into ``len(kinds)`` cells; None when there are more than
    :data:`MAX_CANDIDATES` or the search takes more than :data:`MAX_STEPS` steps."""
    n = len(kinds)
    out: list[tuple[Any, ...]] = []
    steps = 0
    stack: list[Any] = []
    # the last cell must take what is left; a cell takes at least one character
    minimum = [0] * (n + 1)
    for c in range(n - 1, -1, -1):
        minimum[c] = minimum[c + 1] + 1

    size = len(run)
    # per distinct kind and position: (end, value) of the numbers a cell may take there, the cuts
    # that would leave a point at the start of the next cell already left out
    kind_no = {k: i for i, k in enumerate(dict.fromkeys(kinds))}
    cell_kind_no = [kind_no[k] for k in kinds]
    pieces: list[dict[int, list[tuple[int, Any]]]] = [{} for _ in kind_no]

    def walk(pos: int, c: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > MAX_STEPS:
            return False
        if c == n:
            if pos == size:
                out.append(tuple(stack))
                if len(out) > MAX_CANDIDATES:
                    return False
            return True
        if size - pos < minimum[c]:
            return True
        memo = pieces[cell_kind_no[c]]
        here = memo.get(pos)
        if here is None:
            here = memo[pos] = [
                (pos + e, v) for e, v in _pieces(run[pos:], kinds[c]) if not (pos + e < size and run[pos + e] == ".")
            ]
        rest, last = minimum[c + 1], c == n - 1
        for end, value in here:
            if size - end < rest:
                break
            if last and end != size:
                continue
            stack.append(value)
            ok = walk(end, c + 1)
            stack.pop()
            if not ok:
                return False
        return True

    if not walk(0, 0):
        return None
    return out


# --------------------------------------------------------------------------------------------
# deciding with the form's relations


@dataclass
class Pending:
    """A run of digits that holds the cells ``keys`` (one row or several consecutive rows)."""

    keys: tuple[str, ...]
    rows: tuple[str, ...]  # official row labels
    run: str  # as printed
    section: str
    where: str
    line: int
    cands: list[tuple[Any, ...]] | None  # None: too many splits
    initial: int = 0  # how many splits before the relations
    decided_by: list[str] = field(default_factory=list)  # rule instance ids used
    read: tuple[str, ...] = ()  # keys read after resolution
    ambiguous: tuple[str, ...] = ()  # keys left ambiguous

    @property
    def status(self) -> str:
        if self.cands is None:
            return "exploded"
        if not self.cands:
            return "none"
        return "unique" if len(self.cands) == 1 else "several"


@cache
def _tests(form: Form) -> dict[str, Eval]:
    return {r.iid: truth_function(r.expr) for r in _hard_rules(form)}


def holds(form: Form, r: RuleInstance, values: Mapping[str, Any]) -> bool | None:
    """Does the hard relation ``r`` hold on ``values``?  None when a value it needs is missing."""
    try:
        return bool(_tests(form)[r.iid](values, None, None))
    except (Missing, KeyError):
        return None


@cache
def _int_tests(form: Form) -> dict[str, Callable[[Mapping[str, Any]], bool]]:
    """The compiled tests (:mod:`gkxlsx.rules.codegen`) of the rule instances that have one, by id:
    exact when every key an instance reads holds a plain int."""
    return {inst.iid: fast[1] for inst, fast in zip(form.rules, rule_tests(form)) if fast is not None}


@cache
def _hard_rules(form: Form) -> tuple[RuleInstance, ...]:
    """The relations that may decide a split: errors on this year's values only, for every unit."""
    return tuple(
        r
        for r in form.rules
        if r.severity == "error" and not r.prev_keys and not r.rule.needs_previous and not r.rule.when
        if not r.unit_attrs
    )


def fmt_split(values: Sequence[Any]) -> str:
    return "（" + "，".join(str(v) for v in values) + "）"


def resolve(form: Form, values: dict[str, Any], pending: list[Pending]) -> None:
    """Narrow every pending row's splits by the hard relations (to a fixpoint); ``values`` holds
    the cells already read (None for the others) and is not changed."""
    if not pending:
        return
    owner: dict[str, int] = {}
    for i, p in enumerate(pending):
        p.initial = len(p.cands) if p.cands is not None else 0
        for k in p.keys:
            owner[k] = i
    rules = [r for r in _hard_rules(form) if any(k in owner for k in r.keys)]
    changed = True
    rounds = 0
    while changed and rounds < 20:
        changed = False
        rounds += 1
        for r in rules:
            rows = sorted({owner[k] for k in r.keys if k in owner})
            if any(pending[i].cands is None or not pending[i].cands for i in rows):
                continue
            if all(len(pending[i].cands or ()) == 1 for i in rows):
                continue
            if any(values.get(k) is None for k in r.keys if k not in owner):
                continue  # a cell outside the runs is not known: the relation cannot be evaluated
            sizes = [len(pending[i].cands or ()) for i in rows]
            total = 1
            for s in sizes:
                total *= s
            if total > MAX_COMBINATIONS:
                continue
            support: list[set[int]] = [set() for _ in rows]
            base = {k: values.get(k) for k in r.keys}  # what the relation reads, outside the runs
            fast = _int_tests(form).get(r.iid)
            for combo in itertools.product(*(range(s) for s in sizes)):
                cur = dict(base)
                for ri, ci in zip(rows, combo):
                    p = pending[ri]
                    cur.update(zip(p.keys, (p.cands or [])[ci]))
                if fast is not None and all_int(cur, r.keys):
                    ok: bool | None = bool(fast(cur))  # plain integers: the compiled test, exact
                else:
                    ok = holds(form, r, cur)
                if ok:
                    for j, ci in enumerate(combo):
                        support[j].add(ci)
                elif ok is None:
                    support = []
                    break
            if not support or not any(support):
                continue  # not evaluable, or violated by every split: not used
            for j, ri in enumerate(rows):
                p = pending[ri]
                cands = p.cands or []
                if len(support[j]) < len(cands):
                    p.cands = [c for ci, c in enumerate(cands) if ci in support[j]]
                    if r.iid not in p.decided_by:
                        p.decided_by.append(r.iid)
                    changed = True


def agreed(p: Pending) -> dict[str, Any]:
    """The cells on which every remaining split agrees."""
    if not p.cands:
        return {}
    out = {}
    for j, k in enumerate(p.keys):
        vals = {c[j] for c in p.cands}
        if len(vals) == 1:
            out[k] = next(iter(vals))
    return out


def rule_titles(form: Form, iids: Sequence[str]) -> list[str]:
    by_id = {r.iid: r for r in form.rules}
    return [f"{by_id[i].title}（{i}）" if i in by_id else i for i in iids]


def notes(form: Form, p: Pending) -> dict[str, str]:
    """The note on each cell of a pending row after :func:`resolve`."""
    run = f"数字连写为“{p.run}”"
    out: dict[str, str] = {}
    agree = agreed(p)
    if p.cands is None:
        return {k: f"{run}，可能的拆分超过 {MAX_CANDIDATES} 种，无法确定" for k in p.keys}
    if not p.cands:
        return {k: f"{run}，无法拆成 {len(p.keys)} 个数字" for k in p.keys}
    by = "、".join(p.decided_by)
    if len(p.cands) == 1:
        if p.decided_by:
            text = f"{run}，有 {p.initial} 种拆分方式，按勾稽关系（{by}）确定为{fmt_split(p.cands[0])}"
        else:
            text = f"{run}，按唯一拆分方式读取"
        return dict.fromkeys(p.keys, text)
    shown = "、".join(fmt_split(c) for c in p.cands[:SHOWN]) + ("等" if len(p.cands) > SHOWN else "")
    for k in p.keys:
        if k in agree:
            out[k] = f"{run}，有 {len(p.cands)} 种可能的拆分，此格在各种拆分中都是 {agree[k]}"
        else:
            out[k] = f"{run}，有 {len(p.cands)} 种可能的拆分（{shown}），无法确定"
    return out


def to_dict(p: Pending) -> dict[str, Any]:
    def j(v: Any) -> Any:
        return int(v) if isinstance(v, int) else str(v)

    return {
        "keys": list(p.keys),
        "rows": list(p.rows),
        "run": p.run,
        "where": p.where,
        "status": p.status,
        "splits": p.initial,
        "candidates": [[j(v) for v in c] for c in (p.cands or [])[:20]],
        "decided_by": list(p.decided_by),
        "read": list(p.read),
        "ambiguous": list(p.ambiguous),
    }


def findings(form: Form, pending: Sequence[Pending], positions: Mapping[str, str]) -> list[Finding]:
    """For the audit: the rows read from runs (and the relations that decided them, which are then
    taken as holding for those rows), and the runs that stay ambiguous."""
    out: list[Finding] = []

    def rows_of(p: Pending) -> str:
        return "、".join(f"“{r}”" for r in p.rows[:3]) + ("等" if len(p.rows) > 3 else "")

    read = [p for p in pending if p.read]
    if read:
        shown = "、".join(rows_of(p) for p in read[:4]) + ("等" if len(read) > 4 else "")
        decided = [p for p in read if p.decided_by]
        ctx: dict[str, Any] = {"n": len(read), "rows": shown}
        variant = None
        if decided:
            variant = "relations"
            ctx["decided_rows"] = "、".join(rows_of(p) for p in decided[:4]) + ("等" if len(decided) > 4 else "")
            ids = list(dict.fromkeys(i for p in decided for i in p.decided_by))
            ctx["rules"] = "；".join(rule_titles(form, ids[:4])) + ("等" if len(ids) > 4 else "")
        keys = tuple(k for p in read for k in p.read)
        out.append(
            make_finding(
                "I-EXT-RUNON",
                variant=variant,
                keys=keys,
                locations=tuple(dict.fromkeys(p.where for p in read))[:5],
                **ctx,
            )
        )
    for p in pending:
        if not p.ambiguous:
            continue
        ctx = {"rows": rows_of(p), "run": p.run, "cells": len(p.keys), "unread": len(p.ambiguous)}
        if p.cands is None:
            variant, ctx["n"] = "exploded", MAX_CANDIDATES
        elif not p.cands:
            variant = "none"
        else:
            variant = None
            ctx["n"] = len(p.cands)
            ctx["shown"] = "、".join(fmt_split(c) for c in p.cands[:SHOWN]) + ("等" if len(p.cands) > SHOWN else "")
        pos = positions.get(p.ambiguous[0], p.where)
        out.append(
            make_finding(
                "W-EXT-RUNON",
                variant=variant,
                keys=p.ambiguous,
                locations=(re.sub(r"第\d+列（[^）]*）$", "", pos),),
                raw=p.run,
                instance=f"W-EXT-RUNON[{p.keys[0]}]",
                **ctx,
            )
        )
    return out


def digits_of(values: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The run a row of values prints when its cells lose their separators."""
    return "".join(str(values[k]) for k in keys)


__all__ = [
    "CellKind",
    "MAX_CANDIDATES",
    "Pending",
    "agreed",
    "candidates",
    "cell_kind",
    "digits_of",
    "findings",
    "fmt_split",
    "notes",
    "resolve",
    "rule_titles",
    "split_glued",
    "to_dict",
]
