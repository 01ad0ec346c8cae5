"""The pre-filters of gkxlsx/text/prefilter.py: the same analysis as the one they replace (which
read patterns with CPython's private regex parser), and never a pre-filter that hides a match."""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gkxlsx.text import prefilter as P

PKG = Path(P.__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# the patterns: every string of the narrative and extraction data, every string constant of the
# modules that search text, the patterns built at run time, and a few of every syntax kind

TRICKY_SEPARATOR = [  # also the separator test of tests/test_narrative.py
    "年。",
    "年\\x00",
    "年\n",
    "年[。;]",
    "年[^,]",
    "年.",
    "(?s)年.",
    r"\b年",
    r"年\B",
    "(?<=。)年",
    "(?<!\n)年",
    "年(?!。)",
    r"年\s",
    r"年\W",
    r"年(?=[\u4e00-\u9fff])",
    r"(\d)年\1",
    r"(a)?(?(1)b|年)",
    "(?m)^年",
    "(?m)年$",
    "^年",
    "年$",
    r"\A年",
    r"年\Z",
]
TRICKY = TRICKY_SEPARATOR + [
    "(?i)abc",
    "(?i:年)份",
    "(?-i:年)份",
    "(?a)年\\w",
    "(?>ab|c)d",
    "a++b",
    "a{2,3}?b",
    "a{,2}b",
    "a{2}",
    "a{x}",
    "{",
    "a{}",
    "[]a]",
    "[^]a]",
    "[a-]",
    "[\\d-]",
    "[\\b]",
    "[\\x41-\\x43]",
    "[\\101]",
    "\\0",
    "\\012a",
    "(?P<y>\\d{4})年(?P=y)",
    "(?#comment)年",
    "ab|ac",
    "ab|ab",
    "a|b|[cd]",
    "a|[^b]",
    "(?:ab)c|(?:ab)d",
    "(a)(b)|(a)(c)",
    "\\u5e74|\\U00005e74",
    "\\d{4}年(?:1[0-2]|[1-9])月",
    "(?:a|b)(?:c|d)(?:e|f)(?:g|h)(?:i|j)(?:k|l)(?:m|n)",
    "(?:ab){1,4}",
    "(?:ab){0,5}",
    "x(?=yz)",
    "x(?=y|z)w",
    "(?<=q)x",
    "a(?:b)?c",
    "\\d+",
    "a*",
    "(?x) a b",
    "\\N{EM DASH}",
    "\\10",
    "(?(y)a|b)",
    "\\q",
    "a)",
    "(a",
    "[a",
    "a**",
]


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


@cache
def patterns() -> tuple[str, ...]:
    from gkxlsx.text import narrative as N

    found = set(TRICKY)
    for name in ("narrative", "extract"):
        found.update(_strings(json.loads((PKG / "data" / f"{name}.json").read_text(encoding="utf-8"))))
    for path in [*(PKG / "text").glob("*.py"), *(PKG / "published").glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.update(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    found.update(N._foreign_rx()[1])
    return tuple(sorted(found))


FLAGS = (0, re.MULTILINE, re.DOTALL, re.ASCII, re.IGNORECASE)


def _compiles(pattern: str, flags: int = 0) -> bool:
    try:
        re.compile(pattern, flags)
    except (re.error, ValueError, OverflowError):
        return False
    return True


def test_no_private_regex_module_is_used():
    """The standard library's regex parser is private (re._parser in 3.11, sre_parse before):
    nothing in gkxlsx imports it."""
    private = re.compile(r"\b(?:re\s*\.\s*_parser|re\s*\.\s*_constants|sre_parse|sre_constants|sre_compile)\b")
    private_from = re.compile(r"from\s+re\s+import[^\n]*\b_(?:parser|constants|compiler)\b")
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not private.search(text) and not private_from.search(text), path


def test_the_patterns_are_collected():
    from gkxlsx.text import narrative as N

    pats = set(patterns())
    d = N.data()
    for p in [d["headings"]["subheading"], d["fee"]["statement"], d["cite"]["number"], *N._foreign_rx()[1]]:
        assert p in pats
    readable = [p for p in pats if _compiles(p) and P.gate(p) is not None]
    assert len(readable) > 150


# --------------------------------------------------------------------------------------------
# the analysis it replaces, as it was in gkxlsx/text/narrative.py (CPython's private parser)

try:
    from re import _constants as _sc  # Python ≥ 3.11
    from re import _parser as _sp
except ImportError:  # pragma: no cover
    try:
        import sre_constants as _sc  # type: ignore[no-redef]
        import sre_parse as _sp  # type: ignore[no-redef]
    except ImportError:
        _sp = None  # type: ignore[assignment]

old = pytest.mark.skipif(_sp is None, reason="no CPython regex parser to compare with")


class _OldUnreadable(Exception):
    pass


def _old_gate_item(op, av):
    if op is _sc.LITERAL:
        return {chr(av)}, []
    if op is _sc.IN:
        chars: set[str] = set()
        for o, a in av:
            if o is _sc.LITERAL:
                chars.add(chr(a))
            elif o is _sc.RANGE and a[1] - a[0] < 16:
                chars.update(chr(c) for c in range(a[0], a[1] + 1))
            else:
                return None, []
        return (chars, []) if len(chars) <= 16 else (None, [])
    if op is _sc.SUBPATTERN:
        if av[1] & _sc.SRE_FLAG_IGNORECASE:
            raise _OldUnreadable
        return _old_gate_seq(av[-1])
    if op is getattr(_sc, "ATOMIC_GROUP", None):
        return _old_gate_seq(av)
    if op is _sc.BRANCH:
        branches = [_old_gate_seq(b) for b in av[1]]
        fin = None
        if all(f is not None for f, _ in branches) and sum(len(f) for f, _ in branches) <= 64:
            fin = set().union(*(f for f, _ in branches))
        chosen = [_old_best(r + ([f] if f and "" not in f else [])) for f, r in branches]
        req = [set().union(*chosen)] if all(c is not None for c in chosen) else []
        return fin, req
    if op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT, getattr(_sc, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        f, r = _old_gate_seq(sub)
        fin = None
        if f is not None and hi is not _sc.MAXREPEAT and hi <= 4:
            out: set[str] = set()
            cur = {""}
            for k in range(hi + 1):
                if k >= lo:
                    out |= cur
                if k < hi:
                    cur = {a + b for a in cur for b in f}
                    if len(cur) > 64:
                        out = set()
                        break
            fin = out if out and len(out) <= 64 else None
        req = (r + ([f] if f and "" not in f else [])) if lo >= 1 else []
        return fin, req
    return None, []


def _old_best(sets):
    sets = [s for s in sets if s and "" not in s]
    return max(sets, key=_old_score) if sets else None


def _old_gate_seq(items):
    req: list[set[str]] = []
    run = {""}
    finite = True
    for op, av in items:
        if op is _sc.AT or op is _sc.ASSERT_NOT:
            continue
        if op is _sc.ASSERT:
            direction, sub = av
            if direction == 1:
                f, _ = _old_gate_seq(sub)
                if f is not None and len(run) * len(f) <= 64:
                    req.append({a + b for a in run for b in f})
            continue
        f, r = _old_gate_item(op, av)
        req.extend(r)
        if f is not None and len(run) * len(f) <= 64:
            run = {a + b for a in run for b in f}
            continue
        req.append(run)
        finite = False
        run = set(f) if f is not None else {""}
    req.append(run)
    return (run if finite else None), [s for s in req if s and "" not in s]


def old_requirements(pattern: str, flags: int = 0):
    if flags & re.IGNORECASE:
        return None
    try:
        parsed = _sp.parse(pattern, flags)
        if parsed.state.flags & re.IGNORECASE:
            return None
        return _old_gate_seq(parsed)
    except (_OldUnreadable, re.error, RecursionError, TypeError, ValueError, OverflowError):
        return None


def _old_class_has(items, ch, flags):
    rx = {
        _sc.CATEGORY_DIGIT: r"\d",
        _sc.CATEGORY_NOT_DIGIT: r"\D",
        _sc.CATEGORY_SPACE: r"\s",
        _sc.CATEGORY_NOT_SPACE: r"\S",
        _sc.CATEGORY_WORD: r"\w",
        _sc.CATEGORY_NOT_WORD: r"\W",
    }
    negate = hit = False
    for op, av in items:
        if op is _sc.NEGATE:
            negate = True
        elif op is _sc.LITERAL:
            hit = hit or chr(av) == ch
        elif op is _sc.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op is _sc.CATEGORY and av in rx:
            hit = hit or re.fullmatch(rx[av], ch, flags & re.ASCII) is not None
        else:
            return None
    return hit != negate


def _old_sep_safe(items, sep, flags):
    if flags & re.IGNORECASE:
        return False
    for op, av in items:
        if op is _sc.LITERAL:
            ok = chr(av) != sep
        elif op is _sc.NOT_LITERAL:
            ok = chr(av) == sep
        elif op is _sc.ANY:
            ok = sep == "\n" and not flags & re.DOTALL
        elif op is _sc.IN:
            ok = _old_class_has(av, sep, flags) is False
        elif op is _sc.AT:
            if av in {_sc.AT_BEGINNING, _sc.AT_END}:
                ok = sep == "\n" and bool(flags & re.MULTILINE)
            else:
                ok = av in {_sc.AT_BOUNDARY, _sc.AT_NON_BOUNDARY} and re.match(r"\w", sep, flags & re.ASCII) is None
        elif op is _sc.SUBPATTERN:
            ok = _old_sep_safe(av[-1], sep, (flags | av[1]) & ~av[2])
        elif op is _sc.BRANCH:
            ok = all(_old_sep_safe(b, sep, flags) for b in av[1])
        elif op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT, getattr(_sc, "POSSESSIVE_REPEAT", None)):
            ok = _old_sep_safe(av[2], sep, flags)
        elif op is getattr(_sc, "ATOMIC_GROUP", None):
            ok = _old_sep_safe(av, sep, flags)
        elif op is _sc.ASSERT or op is _sc.ASSERT_NOT:
            ok = _old_sep_safe(av[1], sep, flags)
        elif op is _sc.GROUPREF:
            ok = True
        elif op is _sc.GROUPREF_EXISTS:
            ok = _old_sep_safe(av[1], sep, flags) and (av[2] is None or _old_sep_safe(av[2], sep, flags))
        else:
            ok = False
        if not ok:
            return False
    return True


def old_joined_separator(pattern: str, flags: int = 0):
    try:
        parsed = _sp.parse(pattern, flags)
        eff = flags | parsed.state.flags
        if parsed.getwidth()[0] < 1:
            return None
        for sep in ("\x00", "\n", "。"):
            if _old_sep_safe(parsed, sep, eff):
                return sep
    except (re.error, RecursionError, TypeError, ValueError, OverflowError):
        pass
    return None


def _comparable(gate):
    return None if gate is None else tuple(c.pattern if isinstance(c, re.Pattern) else c for c in gate)


def _old_weight(s):
    return sum(1 if ord(ch) < 128 else 2 for ch in s)


def _old_score(s):
    return min(_old_weight(x) for x in s), -len(s)


def _old_minimal(strings):
    return frozenset(s for s in strings if not any(o != s and o in s for o in strings))


def _old_common_substring(strings):
    short = min(strings, key=len)
    for n in range(len(short), 0, -1):
        for i in range(len(short) - n + 1):
            sub = short[i : i + n]
            if all(sub in s for s in strings):
                return sub
    return ""


def _old_one_of(strings):
    ordered = sorted(strings, key=lambda x: (-len(x), x))
    if len(ordered) == 1:
        return ordered[0]
    if len(ordered) <= 6:
        return tuple(ordered)
    return "|".join(re.escape(x) for x in ordered)  # compiled in the old code


def old_gate(pattern: str, flags: int = 0):
    """The pre-filter narrative._gate built (a regex test as its pattern text)."""
    got = old_requirements(pattern, flags)
    if got is None:
        return None
    fin, req = got
    cands = {_old_minimal(c) for c in req + ([fin] if fin else []) if c and "" not in c}
    if not cands:
        return None
    ranked = sorted(cands, key=lambda c: (_old_score(c), sorted(c)), reverse=True)
    best = ranked[0]
    checks = []
    if len(best) > 1:
        common = _old_common_substring(best)
        if common:
            checks.append(common)
    checks.append(_old_one_of(best))
    single = next((next(iter(c)) for c in ranked[1:] if len(c) == 1), None)
    if single is not None and single not in checks:
        checks.insert(0, single)
    return tuple(checks)


# Where the reader declines on purpose: syntax no pattern of the rules uses and CPython reads.
DECLINED = {"(?x) a b", "\\N{EM DASH}", "\\10", "(?(y)a|b)"}


@old
def test_same_prefilters_as_cpythons_parser_gave():
    """For every pattern of the rules and the extraction, in every flag, the new reader gives the
    same requirement sets, the same pre-filter and the same separator as the analysis on
    CPython's parser did."""
    compared = 0
    for pattern in patterns():
        for flags in FLAGS:
            want = old_requirements(pattern, flags)
            got = P.requirements(pattern, flags)
            if pattern in DECLINED:
                assert got is None and P.joined_separator(pattern, flags) is None
                continue
            assert got == want, (pattern, flags)
            assert _comparable(P.gate(pattern, flags)) == old_gate(pattern, flags), (pattern, flags)
            assert P.joined_separator(pattern, flags) == old_joined_separator(pattern, flags), (pattern, flags)
            compared += want is not None
    assert compared > 500


# random patterns of the syntax the reader knows

_ATOMS = st.sampled_from(
    [
        "a",
        "b",
        "年",
        "月",
        "\\d",
        "\\s",
        "\\w",
        "\\W",
        "\\.",
        "\\(",
        "\\n",
        "\\x00",
        "\\u5e74",
        ".",
        "[ab]",
        "[^a]",
        "[a-c]",
        "[0-9]",
        "[\\d,]",
        "[^。;\\n]",
        "[\\u4e00-\\u9fff]",
        "[年月]",
        "[-a]",
        "[a-]",
        "^",
        "$",
        "\\b",
        "\\B",
        "\\A",
        "\\Z",
        "。",
        "\x00",
        "\n",
        "{",
        "}",
        "]",
    ]
)
_QUANT = st.sampled_from(
    ["", "", "", "?", "*", "+", "{2}", "{1,3}", "{0,2}", "{,2}", "{3,}", "??", "*?", "+?", "{1,2}?"]
)


def _regexes():
    def extend(inner):
        return st.one_of(
            st.tuples(st.lists(inner, min_size=1, max_size=4), _QUANT).map(lambda t: "".join(t[0]) + t[1]),
            st.tuples(st.sampled_from(["(", "(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>", "(?P<g>"]), inner, _QUANT).map(
                lambda t: t[0] + t[1] + ")" + t[2]
            ),
            st.lists(inner, min_size=2, max_size=4).map("|".join),
        )

    base = st.tuples(_ATOMS, _QUANT).map("".join)
    return st.recursive(base, extend, max_leaves=12)


@old
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_regexes(), prefix=st.sampled_from(["", "(?m)", "(?s)", "(?i)", "(?a)"]), flags=st.sampled_from(FLAGS))
def test_random_patterns_read_as_cpython_reads_them(body, prefix, flags):
    pattern = prefix + body
    assert P.requirements(pattern, flags) == old_requirements(pattern, flags), pattern
    assert _comparable(P.gate(pattern, flags)) == old_gate(pattern, flags), pattern
    assert P.joined_separator(pattern, flags) == old_joined_separator(pattern, flags), pattern


# --------------------------------------------------------------------------------------------
# never a pre-filter that hides a match


@cache
def _gated_patterns() -> list[str]:
    """The patterns with a pre-filter, but for plain strings (a test for themselves)."""
    return [p for p in patterns() if _compiles(p) and P.gate(p) is not None and P.gate(p) != (p,)]


@cache
def _pieces(pattern: str) -> list[str]:
    """The pattern's own literals: the strings of its requirement sets and the characters it names."""
    got = P.requirements(pattern)
    assert got is not None
    fin, req = got
    out = {s for r in req + ([fin] if fin else []) for s in r}
    out.update(ch for ch in pattern if ch not in "\\()[]{}|?*+^$.")
    out.update(["2024", "1", "12", " ", "\n", "。", ",", "\x00"])
    return sorted(out)


def test_every_pattern_on_texts_of_its_own_literals():
    """Each pattern with a pre-filter, on 150 random texts of its own literals: every text with a
    match passes the pre-filter."""
    import random

    rng = random.Random(7)
    rejected = matched = 0
    for pattern in _gated_patterns():
        rx, pieces = re.compile(pattern), _pieces(pattern)
        for _ in range(150):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
            if rx.search(text):
                matched += 1
                assert P.may_match(pattern, text), (pattern, text)
            else:
                rejected += not P.may_match(pattern, text)
    assert matched > 8000 and rejected > 20000  # the texts do exercise the pre-filters


@st.composite
def _pattern_and_text(draw):
    pattern = draw(st.sampled_from(_gated_patterns()))
    pieces = st.sampled_from(_pieces(pattern))
    return pattern, "".join(draw(st.lists(pieces, max_size=14)))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pattern_and_text())
def test_a_text_the_prefilter_rejects_never_matches(case):
    """The same, as a property: a text the pre-filter rejects has no match."""
    pattern, text = case
    if not P.may_match(pattern, text):
        assert re.search(pattern, text) is None, (pattern, text)


@st.composite
def _pattern_and_match(draw):
    pattern = draw(st.sampled_from(_gated_patterns()))
    pieces = st.sampled_from(_pieces(pattern))
    core = draw(st.from_regex(re.compile(pattern)))  # a text with a match somewhere
    return pattern, "".join(draw(st.lists(pieces, max_size=4))) + core + "".join(draw(st.lists(pieces, max_size=4)))


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(_pattern_and_match())
def test_a_text_with_a_match_passes_the_prefilter(case):
    """Texts made around a match of the pattern (hypothesis's from_regex) pass its pre-filter."""
    pattern, text = case
    if re.search(pattern, text):
        assert P.may_match(pattern, text), (pattern, text)
