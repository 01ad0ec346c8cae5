"""Pre-filters for the narrative rules: the literal text every match of a pattern must contain.

Most rules find nothing in most reports.  For each pattern, :func:`gate` works out a few sets of
strings such that every match contains (consumes) one string of each set.  A text that lacks
them cannot match, so the rule's search is skipped — with exactly the same result.  Only
consumed characters and positive lookaheads (which cannot see past ``endpos``) are used, never
lookbehinds.

For a workbook's narrative fields, :func:`joined_rx` finds a separator that the pattern can
neither consume nor see differently from a field's start or end (for "\\n": "^"/"$" of a
multi-line pattern; a non-word character for \\b).  Each step of the matcher then has the same
outcome within a field alone and within the fields joined by it, so a pattern that finds nothing
in the joined text finds nothing in any field.

Both analyses read the pattern with their own small reader of the regular-expression syntax
(:func:`parse`), which builds the tree CPython's parser builds — the same node kinds, the same
folding of non-capturing groups, of common branch prefixes and of one-character branches into a
class — so that the pre-filters do not depend on a private module of the standard library.  A
pattern the reader does not understand (verbose or locale flags, named character escapes,
two-digit back-references, an unknown escape, invalid syntax) is "unreadable": it gets no
pre-filter and is always searched, like a case-insensitive pattern.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, NamedTuple

from gkxlsx.form.datafiles import compiled

# --------------------------------------------------------------------------------------------
# the reader: pattern text → a tree of (op, argument) nodes
#
#   LITERAL ch · NOT_LITERAL ch · ANY None · IN (items…) · AT code
#   SUBPATTERN (group or None, added flags, removed flags, Seq) · ATOMIC Seq
#   BRANCH (None, [Seq, …]) · REPEAT (min, max or None, Seq)
#   ASSERT (1 ahead / -1 behind, Seq) · ASSERT_NOT (direction, Seq)
#   GROUPREF group · GROUPREF_EXISTS (group, Seq, Seq or None)
#
# Class items: (LITERAL, ch), (RANGE, (lo, hi)) with code points, (CATEGORY, "d" | "D" | "s" |
# "S" | "w" | "W"), and (NEGATE, None) first in a negated class.  Lazy and possessive repeats are
# REPEAT like greedy ones: neither analysis depends on the order in which a matcher tries them.

LITERAL, NOT_LITERAL, ANY, IN, AT = "literal", "not_literal", "any", "in", "at"
SUBPATTERN, ATOMIC, BRANCH, REPEAT = "subpattern", "atomic", "branch", "repeat"
ASSERT, ASSERT_NOT, GROUPREF, GROUPREF_EXISTS = "assert", "assert_not", "groupref", "groupref_exists"
RANGE, CATEGORY, NEGATE = "range", "category", "negate"
AT_BEGINNING, AT_END, AT_BEGINNING_STRING, AT_END_STRING = "^", "$", r"\A", r"\Z"
AT_BOUNDARY, AT_NON_BOUNDARY = r"\b", r"\B"

Node = tuple[str, Any]


class Seq(list):
    """A sequence of nodes.  Two sequences are equal only when they are the same object, as in
    CPython's parser — which decides which branch prefixes are shared."""

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__  # type: ignore[assignment]


class Unreadable(Exception):
    """The pattern uses syntax the reader does not know (or is not a valid pattern)."""


_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "a": re.ASCII, "u": re.UNICODE}
_ESCAPES = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_CATEGORIES = frozenset("dDsSwW")
_AT_ESCAPES = {"A": AT_BEGINNING_STRING, "Z": AT_END_STRING, "b": AT_BOUNDARY, "B": AT_NON_BOUNDARY}
_HEX = frozenset("0123456789abcdefABCDEF")
_SPECIAL = frozenset(".\\[{()*+?^$|")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Reader:
    def __init__(self, pattern: str, flags: int):
        if flags & (re.VERBOSE | re.LOCALE | re.DEBUG):
            raise Unreadable
        self.s = pattern
        self.i = 0
        self.flags = flags  # the pattern's global flags, with a leading (?…) group's
        self.widths: list[int | None] = [None]  # min width of each closed group; None: open
        self.names: dict[str, int] = {}
        self.behind = 0  # depth of lookbehinds being read

    # characters

    def peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def get(self) -> str:
        if self.i >= len(self.s):
            raise Unreadable
        ch = self.s[self.i]
        self.i += 1
        return ch

    def match(self, ch: str) -> bool:
        if self.peek() == ch:
            self.i += 1
            return True
        return False

    def until(self, end: str) -> str:
        j = self.s.find(end, self.i)
        if j < 0:
            raise Unreadable
        got, self.i = self.s[self.i : j], j + 1
        return got

    def hex_escape(self, c: str) -> str:
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = self.s[self.i : self.i + n]
        if len(digits) != n or not all(d in _HEX for d in digits):
            raise Unreadable
        self.i += n
        code = int(digits, 16)
        if code > 0x10FFFF:
            raise Unreadable
        return chr(code)

    # the grammar

    def alternation(self, first: bool = False) -> Seq:
        """branch | branch | … — with CPython's folding of shared prefixes and of branches of
        one character into a class."""
        items = [self.sequence(first)]
        while self.match("|"):
            items.append(self.sequence())
        if len(items) == 1:
            return items[0]
        out = Seq()
        while all(items) and all(it[0] == items[0][0] for it in items[1:]):
            prefix = items[0][0]
            for it in items:
                del it[0]
            out.append(prefix)
        chars: list[Node] = []
        for it in items:
            if len(it) != 1:
                break
            op, av = it[0]
            if op is LITERAL:
                chars.append(it[0])
            elif op is IN and av[0][0] is not NEGATE:
                chars.extend(av)
            else:
                break
        else:
            out.append((IN, tuple(dict.fromkeys(chars))))
            return out
        out.append((BRANCH, (None, items)))
        return out

    def sequence(self, first: bool = False) -> Seq:
        seq = Seq()
        while True:
            ch = self.peek()
            if ch is None or ch in "|)":
                break
            self.i += 1
            if ch == "\\":
                seq.append(self.escape())
            elif ch not in _SPECIAL:
                seq.append((LITERAL, ch))
            elif ch == "[":
                seq.append(self.char_class())
            elif ch in "*+?{":
                self.repeat(seq, ch)
            elif ch == ".":
                seq.append((ANY, None))
            elif ch == "(":
                node = self.group(first and not seq)
                if node is not None:
                    seq.append(node)
            elif ch == "^":
                seq.append((AT, AT_BEGINNING))
            else:  # "$"
                seq.append((AT, AT_END))
        # non-capturing groups without flags become part of the sequence
        for k in range(len(seq) - 1, -1, -1):
            op, av = seq[k]
            if op is SUBPATTERN and av[0] is None and not av[1] and not av[2]:
                seq[k : k + 1] = av[3]
        return seq

    def escape(self) -> Node:
        c = self.get()
        if c in _AT_ESCAPES:
            return (AT, _AT_ESCAPES[c])
        if c in _CATEGORIES:
            return (IN, ((CATEGORY, c),))
        if c in _ESCAPES:
            return (LITERAL, _ESCAPES[c])
        if c in "xuU":
            return (LITERAL, self.hex_escape(c))
        if c == "0":
            digits = c
            while len(digits) < 3 and self.peek() in tuple("01234567"):
                digits += self.get()
            return (LITERAL, chr(int(digits, 8)))
        if c in "123456789":
            if self.peek() in tuple("0123456789"):
                raise Unreadable  # two digits: a group or an octal escape
            return self.groupref(int(c))
        if c in _ASCII_LETTERS or c in "0123456789":
            raise Unreadable  # \N{…} and unknown escapes
        return (LITERAL, c)

    def class_escape(self) -> Node:
        c = self.get()
        if c == "b":
            return (LITERAL, "\b")
        if c in _ESCAPES:
            return (LITERAL, _ESCAPES[c])
        if c in _CATEGORIES:
            return (IN, ((CATEGORY, c),))
        if c in "xuU":
            return (LITERAL, self.hex_escape(c))
        if c in "01234567":
            digits = c
            while len(digits) < 3 and self.peek() in tuple("01234567"):
                digits += self.get()
            code = int(digits, 8)
            if code > 0o377:
                raise Unreadable
            return (LITERAL, chr(code))
        if c in _ASCII_LETTERS or c in "89":
            raise Unreadable
        return (LITERAL, c)

    def char_class(self) -> Node:
        items: list[Node] = []
        negate = self.match("^")
        while True:
            ch = self.get()
            if ch == "]" and items:
                break
            code1: Node = self.class_escape() if ch == "\\" else (LITERAL, ch)
            if self.match("-"):
                that = self.get()
                if that == "]":
                    items.append(code1[1][0] if code1[0] is IN else code1)
                    items.append((LITERAL, "-"))
                    break
                code2 = self.class_escape() if that == "\\" else (LITERAL, that)
                if code1[0] is not LITERAL or code2[0] is not LITERAL or code2[1] < code1[1]:
                    raise Unreadable
                items.append((RANGE, (ord(code1[1]), ord(code2[1]))))
            else:
                items.append(code1[1][0] if code1[0] is IN else code1)
        items = list(dict.fromkeys(items))
        if len(items) == 1 and items[0][0] is LITERAL:
            return (NOT_LITERAL, items[0][1]) if negate else items[0]
        if negate:
            items.insert(0, (NEGATE, None))
        return (IN, tuple(items))

    def repeat(self, seq: Seq, ch: str) -> None:
        here = self.i
        if ch == "?":
            lo, hi = 0, 1
        elif ch == "*":
            lo, hi = 0, None
        elif ch == "+":
            lo, hi = 1, None
        else:  # "{": a repeat {m}, {m,}, {,n}, {m,n} — or a literal "{"
            if self.peek() == "}":
                seq.append((LITERAL, "{"))
                return
            a = b = ""
            while (d := self.peek()) is not None and d in "0123456789":
                a += self.get()
            if self.match(","):
                while (d := self.peek()) is not None and d in "0123456789":
                    b += self.get()
            else:
                b = a
            if not self.match("}"):
                seq.append((LITERAL, "{"))
                self.i = here
                return
            lo = int(a) if a else 0
            hi = int(b) if b else None
            if hi is not None and hi < lo:
                raise Unreadable
        if not seq or seq[-1][0] in (AT, REPEAT):
            raise Unreadable  # nothing to repeat, or a repeat of a repeat
        item = seq[-1]
        sub = Seq([item])
        if item[0] is SUBPATTERN and item[1][0] is None and not item[1][1] and not item[1][2]:
            sub = item[1][3]
        if not self.match("?"):
            self.match("+")
        seq[-1] = (REPEAT, (lo, hi, sub))

    def group(self, first: bool) -> Node | None:
        gid: int | None = None
        add = remove = 0
        if not self.match("?"):
            gid = self.open_group(None)
        else:
            c = self.get()
            if c == "P":
                if self.match("<"):
                    name = self.until(">")
                    if not name.isidentifier() or name in self.names:
                        raise Unreadable
                    gid = self.open_group(name)
                elif self.match("="):
                    name = self.until(")")
                    if name not in self.names:
                        raise Unreadable
                    return self.groupref(self.names[name])
                else:
                    raise Unreadable
            elif c == ":":
                pass
            elif c == "#":
                self.until(")")
                return None
            elif c in "=!<":
                direction = 1
                if c == "<":
                    c = self.get()
                    if c not in "=!":
                        raise Unreadable
                    direction = -1
                    self.behind += 1
                sub = self.alternation()
                if direction < 0:
                    self.behind -= 1
                if not self.match(")"):
                    raise Unreadable
                return (ASSERT if c == "=" else ASSERT_NOT, (direction, sub))
            elif c == "(":
                ref = self.until(")")
                if not (ref.isdecimal() and ref.isascii()) or int(ref) < 1 or self.behind:
                    raise Unreadable  # named conditions: not read
                yes = self.sequence()
                no = self.sequence() if self.match("|") else None
                if self.peek() == "|" or not self.match(")"):
                    raise Unreadable
                if int(ref) >= len(self.widths):
                    raise Unreadable  # a group not (yet) defined
                return (GROUPREF_EXISTS, (int(ref), yes, no))
            elif c == ">":
                sub = self.alternation()
                if not self.match(")"):
                    raise Unreadable
                return (ATOMIC, sub)
            elif c in _FLAGS or c == "-":
                flags = self.inline_flags(c)
                if flags is None:  # global flags, only at the start
                    if not first:
                        raise Unreadable
                    return None
                add, remove = flags
            else:
                raise Unreadable
        sub = self.alternation()
        if not self.match(")"):
            raise Unreadable
        if gid is not None:
            self.widths[gid] = min_width(sub, self.widths)
        return (SUBPATTERN, (gid, add, remove, sub))

    def open_group(self, name: str | None) -> int:
        gid = len(self.widths)
        self.widths.append(None)
        if name is not None:
            self.names[name] = gid
        return gid

    def groupref(self, gid: int) -> Node:
        if gid >= len(self.widths) or self.widths[gid] is None or self.behind:
            raise Unreadable  # unknown or open group; a reference inside a lookbehind
        return (GROUPREF, gid)

    def inline_flags(self, c: str) -> tuple[int, int] | None:
        """(?aimsu) → None (global flags: added to the pattern's); (?ims-ims:…) → (added, removed)."""
        add = remove = 0
        while c != "-":
            if c not in _FLAGS:
                raise Unreadable  # (?x), (?L), unknown flags
            if _FLAGS[c] & (re.ASCII | re.UNICODE) and add & (re.ASCII | re.UNICODE):
                raise Unreadable
            add |= _FLAGS[c]
            c = self.get()
            if c == ")":
                self.flags |= add
                return None
            if c == ":":
                return add, 0
        c = self.get()
        while c != ":":
            if c not in "ims":
                raise Unreadable
            remove |= _FLAGS[c]
            c = self.get()
        if not remove or add & remove:
            raise Unreadable
        return add, remove


class Parsed(NamedTuple):
    seq: Seq  # the pattern's tree
    flags: int  # the flags it is compiled with, the global inline ones included
    widths: list[int | None]  # the shortest text each group matches, by group number


def parse(pattern: str, flags: int = 0) -> Parsed:
    """The tree of ``pattern``; raises :class:`Unreadable`."""
    reader = _Reader(pattern, flags)
    seq = reader.alternation(first=True)
    if reader.peek() is not None:
        raise Unreadable  # an unbalanced ")"
    if reader.flags & re.ASCII and reader.flags & re.UNICODE:
        raise Unreadable
    return Parsed(seq, reader.flags, reader.widths)


def min_width(seq: Seq, widths: list[int | None]) -> int:
    """The length of the shortest text ``seq`` can match (``widths``: that of each group)."""
    lo = 0
    for op, av in seq:
        if op is BRANCH:
            lo += min(min_width(b, widths) for b in av[1])
        elif op is ATOMIC:
            lo += min_width(av, widths)
        elif op is SUBPATTERN:
            lo += min_width(av[3], widths)
        elif op is REPEAT:
            lo += min_width(av[2], widths) * av[0]
        elif op in (LITERAL, NOT_LITERAL, ANY, IN):
            lo += 1
        elif op is GROUPREF:
            lo += widths[av] or 0
        elif op is GROUPREF_EXISTS:
            lo += min(min_width(av[1], widths), min_width(av[2], widths)) if av[2] is not None else 0
    return lo


# --------------------------------------------------------------------------------------------
# what every match must contain

_FINITE_MAX = 64  # largest set of alternative strings followed
_CLASS_MAX = 16  # largest character class expanded


def _gate_item(op: str, av: Any) -> tuple[set[str] | None, list[set[str]]]:
    """(every string the node can consume, when few; sets of which every match contains one)."""
    if op is LITERAL:
        return {av}, []
    if op is IN:
        chars: set[str] = set()
        for o, a in av:
            if o is LITERAL:
                chars.add(a)
            elif o is RANGE and a[1] - a[0] < _CLASS_MAX:
                chars.update(chr(c) for c in range(a[0], a[1] + 1))
            else:  # NEGATE, CATEGORY, wide ranges
                return None, []
        return (chars, []) if len(chars) <= _CLASS_MAX else (None, [])
    if op is SUBPATTERN:
        if av[1] & re.IGNORECASE:
            raise Unreadable
        return _gate_seq(av[3])
    if op is ATOMIC:
        return _gate_seq(av)
    if op is BRANCH:
        branches = [_gate_seq(b) for b in av[1]]
        fin: set[str] | None = None
        finite = [f for f, _ in branches if f is not None]
        if len(finite) == len(branches) and sum(len(f) for f in finite) <= _FINITE_MAX:
            fin = set().union(*finite)
        chosen = [_best(r + ([f] if f and "" not in f else [])) for f, r in branches]
        known = [c for c in chosen if c is not None]
        req = [set().union(*known)] if len(known) == len(chosen) else []
        return fin, req
    if op is REPEAT:
        lo, hi, sub = av
        f, r = _gate_seq(sub)
        fin = None
        if f is not None and hi is not None and hi <= 4:
            out: set[str] = set()
            cur = {""}
            for k in range(hi + 1):
                if k >= lo:
                    out |= cur
                if k < hi:
                    cur = {a + b for a in cur for b in f}
                    if len(cur) > _FINITE_MAX:
                        out = set()
                        break
            fin = out if out and len(out) <= _FINITE_MAX else None
        req = (r + ([f] if f and "" not in f else [])) if lo >= 1 else []
        return fin, req
    # ANY, NOT_LITERAL, GROUPREF, GROUPREF_EXISTS: nothing known
    return None, []


def _gate_seq(items: Seq) -> tuple[set[str] | None, list[set[str]]]:
    req: list[set[str]] = []
    run = {""}  # the strings consumed since the last node of unknown text
    finite = True
    for op, av in items:
        if op is AT or op is ASSERT_NOT:
            continue  # zero-width: consumed text stays contiguous
        if op is ASSERT:
            direction, sub = av
            if direction == 1:  # lookahead: what follows, within endpos
                f, _ = _gate_seq(sub)
                if f is not None and len(run) * len(f) <= _FINITE_MAX:
                    req.append({a + b for a in run for b in f})
            continue  # lookbehinds may look before pos: ignored
        f, r = _gate_item(op, av)
        req.extend(r)
        if f is not None and len(run) * len(f) <= _FINITE_MAX:
            run = {a + b for a in run for b in f}
            continue
        req.append(run)
        finite = False
        run = set(f) if f is not None else {""}
    req.append(run)
    return (run if finite else None), [s for s in req if s and "" not in s]


def requirements(pattern: str, flags: int = 0) -> tuple[set[str] | None, list[set[str]]] | None:
    """(every string a match can be, when few; sets of which every match contains one string),
    or None when the pattern is unreadable or case-insensitive."""
    if flags & re.IGNORECASE:
        return None
    try:
        parsed = parse(pattern, flags)
        if parsed.flags & re.IGNORECASE:
            return None
        return _gate_seq(parsed.seq)
    except (Unreadable, RecursionError):
        return None


def _weight(s: str) -> int:
    return sum(1 if ord(ch) < 128 else 2 for ch in s)


def _score(s: set[str] | frozenset[str]) -> tuple[int, int]:
    return min(_weight(x) for x in s), -len(s)


def _best(sets: list[set[str]]) -> set[str] | None:
    sets = [s for s in sets if s and "" not in s]
    return max(sets, key=_score) if sets else None


# A pre-filter: a tuple of tests that must all pass — a str (occurs), a tuple of str (one
# occurs), a compiled regex (matches).
Gate = tuple[str | tuple[str, ...] | re.Pattern, ...]


@cache
def gate(pattern: str, flags: int = 0) -> Gate | None:
    """What a text must contain for ``pattern`` to match in it; None: no pre-filter."""
    got = requirements(pattern, flags)
    if got is None:
        return None
    fin, req = got
    cands = {_minimal(c) for c in req + ([fin] if fin else []) if c and "" not in c}
    if not cands:
        return None
    # the most selective set (after a test for a substring its strings share); a second single
    # string is a cheap extra test
    ranked = sorted(cands, key=lambda c: (_score(c), sorted(c)), reverse=True)
    best = ranked[0]
    checks: list[Any] = []
    if len(best) > 1:
        common = _common_substring(best)
        if common:
            checks.append(common)
    checks.append(_one_of(best))
    single = next((next(iter(c)) for c in ranked[1:] if len(c) == 1), None)
    if single is not None and single not in checks:
        checks.insert(0, single)
    return tuple(checks)


def _one_of(strings: frozenset[str] | set[str]) -> Any:
    """A test for “contains one of ``strings``”, as :func:`passes` runs it: the string itself, a
    tuple of a few (``in`` each: faster than a regex on short texts), or a regex of many."""
    ordered = sorted(strings, key=lambda x: (-len(x), x))
    if len(ordered) == 1:
        return ordered[0]
    if len(ordered) <= 6:
        return tuple(ordered)
    return re.compile("|".join(re.escape(x) for x in ordered))


def passes(gate: Gate, text: str) -> bool:
    """Whether ``text`` passes every test of ``gate`` (False: the pattern cannot match in it)."""
    for c in gate:
        k = c.__class__
        if k is str:
            if c not in text:  # type: ignore[operator]
                return False
        elif k is tuple:
            for x in c:  # type: ignore[union-attr]
                if x in text:
                    break
            else:
                return False
        elif c.search(text) is None:  # type: ignore[union-attr]
            return False
    return True


def _minimal(strings: set[str]) -> frozenset[str]:
    """The same condition (“contains one of them”) without the strings that contain another."""
    return frozenset(s for s in strings if not any(o != s and o in s for o in strings))


def _common_substring(strings: frozenset[str]) -> str:
    """The longest substring of the shortest string that occurs in all of them ("" if none)."""
    short = min(strings, key=len)
    for n in range(len(short), 0, -1):
        for i in range(len(short) - n + 1):
            sub = short[i : i + n]
            if all(sub in s for s in strings):
                return sub
    return ""


_GATES: dict[tuple[str, int], Gate | None] = {}


@cache
def first_literals(patterns: tuple[str, ...]) -> Gate | None:
    """A test for a string each of the patterns needs (None when one of them needs none): a
    first test before the patterns' own pre-filters, when several are asked at once."""
    if not patterns:
        return None
    lits = set()
    for p in patterns:
        g = gate(p)
        strs = [c for c in g or () if c.__class__ is str]
        if not strs:
            return None
        lits.add(max(strs, key=_weight))
    return (_one_of(_minimal(lits)),)


def may_match(pattern: str, text: str, flags: int = 0) -> bool:
    """False only when ``pattern`` cannot match anywhere in ``text``."""
    try:
        g = _GATES[pattern, flags]
    except KeyError:
        g = _GATES[pattern, flags] = gate(pattern, flags)
    return g is None or passes(g, text)


# --------------------------------------------------------------------------------------------
# the exact test on a workbook's fields joined by a separator

_SEPARATORS = ("\x00", "\n", "。")


def _class_has(items: tuple[Node, ...], ch: str, flags: int) -> bool:
    """Whether the character class ``items`` matches ``ch``."""
    negate = hit = False
    for op, av in items:
        if op is NEGATE:
            negate = True
        elif op is LITERAL:
            hit = hit or av == ch
        elif op is RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        else:  # CATEGORY
            hit = hit or re.fullmatch("\\" + av, ch, flags & re.ASCII) is not None
    return hit != negate


def _sep_safe(items: Seq, sep: str, flags: int) -> bool:
    if flags & re.IGNORECASE:
        return False
    for op, av in items:
        if op is LITERAL:
            ok = av != sep
        elif op is NOT_LITERAL:
            ok = av == sep
        elif op is ANY:
            ok = sep == "\n" and not flags & re.DOTALL
        elif op is IN:
            ok = _class_has(av, sep, flags) is False
        elif op is AT:
            if av in (AT_BEGINNING, AT_END):
                ok = sep == "\n" and bool(flags & re.MULTILINE)
            else:
                ok = av in (AT_BOUNDARY, AT_NON_BOUNDARY) and re.match(r"\w", sep, flags & re.ASCII) is None
        elif op is SUBPATTERN:
            ok = _sep_safe(av[3], sep, (flags | av[1]) & ~av[2])
        elif op is BRANCH:
            ok = all(_sep_safe(b, sep, flags) for b in av[1])
        elif op is REPEAT:
            ok = _sep_safe(av[2], sep, flags)
        elif op is ATOMIC:
            ok = _sep_safe(av, sep, flags)
        elif op is ASSERT or op is ASSERT_NOT:
            ok = _sep_safe(av[1], sep, flags)
        elif op is GROUPREF:
            ok = True  # a group's text, which cannot hold the separator
        elif op is GROUPREF_EXISTS:
            ok = _sep_safe(av[1], sep, flags) and (av[2] is None or _sep_safe(av[2], sep, flags))
        else:
            ok = False
        if not ok:
            return False
    return True


def joined_separator(pattern: str, flags: int = 0) -> str | None:
    """A separator for the exact test on the joined fields; None: none is safe for this pattern
    (or it is unreadable)."""
    try:
        parsed = parse(pattern, flags)
        if min_width(parsed.seq, parsed.widths) < 1:
            return None  # empty matches: the separators' places would count
        for sep in _SEPARATORS:
            if _sep_safe(parsed.seq, sep, parsed.flags):
                return sep
    except (Unreadable, RecursionError):
        pass
    return None


@cache
def joined_rx(pattern: str, flags: int = 0) -> tuple[str, re.Pattern] | None:
    """(separator, compiled pattern) for the exact test on the joined fields; None: no separator
    is safe for this pattern."""
    sep = joined_separator(pattern, flags)
    return None if sep is None else (sep, compiled(pattern, flags))
