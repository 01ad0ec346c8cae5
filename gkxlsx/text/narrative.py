"""The narrative rules of docs/FORMAT.md §5.2, and the text handling they share with the extractor.

Two callers:

* the importer (a unit's workbook): ``values`` holds the narrative fields (``s1.*``, ``s5.*``,
  ``s6.*``) and the table numbers; every field is checked on its own, required fields must not
  be empty (E-TXT-EMPTY);
* the auditor (a published report): ``full_text`` is the whole report as published (preamble,
  headings, tables, sign-off) and the narrative fields may be empty — the text is split into
  its six sections and the sub-parts of sections 一/五/六 here.

Every finding quotes the offending text («“20241月1日”缺少“年”») and names the section (and the
field key when known).  Keyword lists, patterns, document titles and numbers live in
``gkxlsx/data/narrative.json``; nothing here is specific to one report.

Text normalisation (:func:`normalize`) is one character in, one character out — NFKC (full-width
punctuation and digits become ASCII), a small traditional→simplified map and nothing else — after
the romanisation some mirror sites inject (“鎮(zhèn)”) has been removed.  Matching runs on the
normalised text; quotes are cut from the original at the same offsets, so a reviewer can find them
in the published page.

Most rules find nothing in most reports, so a search is skipped when it provably cannot match:
every pattern is analysed once for the strings each of its matches must contain, and a workbook's
fields, joined, are searched once per pattern when the separator cannot change the outcome (both
in :mod:`gkxlsx.text.prefilter`).  Skipping changes no finding; tests/test_narrative.py checks
the findings with every pre-filter switched off.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, Protocol

from gkxlsx.findings import Finding, fmt_num, make_finding
from gkxlsx.form.datafiles import compiled, data_file
from gkxlsx.form.model import Form, UnitType, builtin_form_ids, load_form
from gkxlsx.rules.engine import with_derived
from gkxlsx.rules.interpret import as_number, when_holds
from gkxlsx.text import prefilter

SECTION_IDS = ("s1", "s2", "s3", "s4", "s5", "s6")
NUMERALS = "一二三四五六七八九十"


@cache
def canonical_titles() -> dict[str, str]:
    """{section id: title} of the six parts, from the current built-in form (every format has the same)."""
    return load_form(builtin_form_ids()[-1]).section_titles


@cache
def _text_ctx() -> dict[str, str]:
    """The form's words that every narrative finding may quote: the part titles {s1} … {s6} and
    the parts as a sentence lists them ({parts})."""
    return {**canonical_titles(), "parts": load_form(builtin_form_ids()[-1]).part_names}


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def data() -> dict[str, Any]:
    return data_file("narrative")


_re = compiled


# --------------------------------------------------------------------------------------------
# normalisation


@cache
def _t2s() -> dict[str, str]:
    s = data()["normalize"]["t2s"]
    return {s[i]: s[i + 1] for i in range(0, len(s) - 1, 2)}


_CHAR_CACHE: dict[str, str] = {}


def _char(ch: str) -> str:
    r = _CHAR_CACHE.get(ch)
    if r is None:
        n = unicodedata.normalize("NFKC", ch)
        if len(n) != 1:  # “…” → "...", “㎡” → "m2": keep one-to-one offsets
            n = ch
        if n == "\u2212":  # minus sign
            n = "-"
        r = _t2s().get(n, n)
        _CHAR_CACHE[ch] = r
    return r


@dataclass(frozen=True)
class NormText:
    """A text and its normalised twin of the same length (offsets are shared)."""

    display: str  # the original, line breaks unified, injected romanisation removed
    norm: str

    def quote(self, start: int, end: int) -> str:
        return self.display[start:end]

    def __len__(self) -> int:
        return len(self.norm)


def strip_romanisation(text: str) -> str:
    """Remove pinyin injected after characters by some mirror sites: “鎮(zhèn)” → “鎮”."""
    return _re(data()["normalize"]["romanisation"]).sub("", text)


@cache
def _bmp_table() -> str:
    """:func:`_char` of every character of the Basic Multilingual Plane, as one string indexed by
    code point (the reference :func:`_bmp_changes` is tested against; not used at run time)."""
    return "".join(chr(i) if 0xD800 <= i < 0xE000 else _char(chr(i)) for i in range(0x10000))


def _bmp_changed() -> dict[str, str]:
    """Every BMP character that :func:`_char` changes, and what it becomes.  NFKC can change only a
    character that has a decomposition (canonical or compatibility); the other changes are the minus
    sign and the traditional → simplified table.  So only those ~5,000 characters are tried, not all
    65,536 (this runs once in every process that reads a text: ~8 ms instead of ~30 ms)."""
    t2s = _t2s()
    dec = unicodedata.decomposition
    out: dict[str, str] = {}
    for i in range(0x10000):
        ch = chr(i)
        if (dec(ch) or ch in t2s or ch == "\u2212") and not 0xD800 <= i < 0xE000:
            r = _char(ch)
            if r != ch:
                out[ch] = r
    return out


@cache
def _bmp_changes() -> tuple[re.Pattern | None, Any]:
    """(one character class of the BMP characters :func:`_char` changes, the replacement for a
    match of it): ``sub`` with them gives what ``translate(_bmp_table())`` gives, in half the
    time on Chinese text, where few characters change (，；（）)."""
    changed = _bmp_changed()
    if not changed:
        return None, None
    ranges: list[list[int]] = []
    for i in sorted(map(ord, changed)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])

    def esc(i: int) -> str:
        return "\\" + chr(i) if chr(i) in "\\]^-[" else re.escape(chr(i))

    rx = re.compile("[" + "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges) + "]")
    get = changed.__getitem__
    return rx, lambda m: get(m.group())


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@lru_cache(maxsize=512)
def normalize(text: str) -> NormText:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    display = strip_romanisation(text) if "(" in text else text
    rx, repl = _bmp_changes()
    n = rx.sub(repl, display) if rx is not None else display  # = display.translate(_bmp_table())
    if not display.isascii() and _ASTRAL.search(display):
        n = n.translate({ord(ch): _char(ch) for ch in set(_ASTRAL.findall(display))})
    return NormText(display, n)


def norm(text: str) -> str:
    """Normalised text (see :func:`normalize`)."""
    return normalize(text).norm


_LABEL_DROP = re.compile(r"[\s\"'“”‘’「」『』]")
_LABEL_COMMA = re.compile(r",+(?=[、.])|(?<=、),+")


@lru_cache(maxsize=65536)
def label_key(text: str) -> str:
    """A label as compared: normalised, no whitespace or quotes, stray commas before “、” removed."""
    return _LABEL_COMMA.sub("", _LABEL_DROP.sub("", norm(text)))


def q(text: str, limit: int = 60) -> str:
    """Quote a piece of text for a message: “…”, shortened in the middle when long."""
    t = re.sub(r"\s+", " ", text).strip()
    if len(t) > limit:
        t = t[: limit - 12] + "……" + t[-10:]
    return f"“{t}”"


# --------------------------------------------------------------------------------------------
# sections and their parts


@dataclass
class Part:
    """A sub-part of a section: its heading line (may be empty for the lead) and its span."""

    start: int
    end: int
    heading: str  # normalised heading text (“(一)主动公开情况”), "" for the lead paragraph(s)
    number: int | None  # 1 for (一) …
    key: str | None = None  # field key assigned
    titled: bool = False  # the heading names the field: leave it out of the field's text


@dataclass
class Document:
    """A published report split into preamble, six sections, their parts and the sign-off."""

    nt: NormText
    headings: dict[str, tuple[int, int]]  # sid → (start, end) of the heading line
    bodies: dict[str, tuple[int, int]]  # "pre", "s1".."s6" → body span (s6 without sign-off)
    parts: dict[str, list[Part]]  # "s1"/"s5"/"s6" → parts
    signoff: tuple[int, int] | None = None
    signoff_date: tuple[int, int, int] | None = None
    aspect_structured: bool = False

    def text(self, sid: str) -> str:
        span = self.bodies.get(sid)
        return self.nt.norm[span[0] : span[1]] if span else ""

    def display(self, sid: str) -> str:
        span = self.bodies.get(sid)
        return self.nt.display[span[0] : span[1]] if span else ""

    def field_text(self, key: str, display: bool = True) -> str:
        """Text of a narrative field (paragraphs joined by newlines), from the original."""
        src = self.nt.display if display else self.nt.norm
        out = []
        for pid, parts in self.parts.items():
            if pid.endswith("_numbering"):
                continue
            for p in parts:
                if p.key != key:
                    continue
                start = p.start
                if p.titled and p.heading:
                    # drop the heading (after any “### ” mark): its own line, or up to its full stop
                    idx = self.nt.norm.find(p.heading, start, p.end)
                    start = (idx if idx >= 0 else start) + len(p.heading)
                    while start < p.end and self.nt.norm[start] in "。.:：*# \t\n":
                        start += 1
                out.append(src[start : p.end])
        lines = (ln.strip(" \t\u3000\xa0") for chunk in out for ln in chunk.split("\n"))
        return "\n".join(ln for ln in lines if ln)


def _lines(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    end = len(text) if end is None else end
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        if nl < 0:
            yield pos, end
            return
        yield pos, nl
        pos = nl + 1


def split_sections(nt: NormText) -> Document:
    """Find the six headings (in order) and cut the text into preamble, sections and sign-off."""
    hd = data()["headings"]
    line_re = _re(hd["line"], re.M)
    cands: dict[str, list[tuple[int, int, int]]] = {s: [] for s in SECTION_IDS}
    text = nt.norm
    for m in line_re.finditer(text):
        sid = "s" + str("一二三四五六".index(m.group(1)) + 1)
        rest = _LABEL_COMMA.sub("", re.sub(r"[\s*#|]+", "", m.group(2)))
        if not rest or len(rest) > hd["max_len"]:
            continue
        full = m.group(1) + "、" + rest
        if label_key(full).rstrip("。.") == label_key(canonical_titles()[sid]):
            score = 2
        elif any(k in rest for k in hd["keywords"][sid]):
            score = 1
        else:
            continue
        cands[sid].append((m.start(), m.end(), score))
    headings: dict[str, tuple[int, int]] = {}
    pos = 0
    for i, sid in enumerate(SECTION_IDS):
        options = [c for c in cands[sid] if c[0] >= pos]
        if not options:
            continue
        # a later section's canonical heading bounds where this one may be
        limit = min(
            (c[0] for s2 in SECTION_IDS[i + 1 :] for c in cands[s2] if c[2] == 2 and c[0] >= pos), default=len(text)
        )
        options = [c for c in options if c[0] < limit] or options[:1]
        best = max(options, key=lambda c: (c[2], -c[0]))
        headings[sid] = (best[0], best[1])
        pos = best[1]
    bodies: dict[str, tuple[int, int]] = {}
    found = sorted(headings.items(), key=lambda kv: kv[1][0])
    first = found[0][1][0] if found else len(text)
    bodies["pre"] = (0, first)
    for j, (sid, (_hs, he)) in enumerate(found):
        end = found[j + 1][1][0] if j + 1 < len(found) else len(text)
        bodies[sid] = (min(he + 1, end), end)
    doc = Document(nt, headings, bodies, {})
    if not found:  # no structure at all: everything is preamble
        bodies["pre"] = (0, len(text))
    _find_signoff(doc)
    _split_parts(doc)
    return doc


def _find_signoff(doc: Document) -> None:
    so = data()["signoff"]
    last = max(doc.bodies, key=lambda s: doc.bodies[s][1]) if doc.bodies else None
    if last is None:
        return
    start, end = doc.bodies[last]
    text = doc.nt.norm
    lines = [(a, b) for a, b in _lines(text, start, end) if text[a:b].strip()]
    cut = None
    date = None
    chrome = _re(so["chrome"])
    for a, b in reversed(lines):
        line = text[a:b].strip()
        if chrome.match(line) and len(line) <= so["max_len"]:
            cut = a
            continue
        if len(line) > so["max_len"] or "。" in line:
            break
        m = _re(so["date"]).match(line)
        if m:
            if date is None:
                date = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            cut = a
            continue
        # a malformed date such as “20251月8” also belongs to the sign-off
        if _re(r"^\d{4,6}\s*年?\s*\d{1,2}\s*月?\s*\d{0,2}\s*日?$").match(line):
            cut = a
            continue
        if _re(so["unit"]).search(line):
            cut = a
            continue
        break
    if cut is not None and cut > start:
        doc.signoff = (cut, end)
        doc.signoff_date = date
        doc.bodies[last] = (start, cut)


def _parts(doc: Document, sid: str) -> list[Part]:
    span = doc.bodies.get(sid)
    if not span:
        return []
    hd = data()["headings"]
    text = doc.nt.norm
    sub = _re(hd["subheading"], re.M)
    marks: list[tuple[int, int, str]] = []
    for a, b in _lines(text, *span):
        m = sub.match(text, a, b)
        if m:
            line = text[a:b].strip()
            head = re.split(r"[。;]", line, maxsplit=1)[0][: hd["subheading_max_len"]]
            marks.append((a, _zh_int(m.group(1)), re.sub(r"^[#*>\s]+", "", head)))
    parts: list[Part] = []
    first = marks[0][0] if marks else span[1]
    if text[span[0] : first].strip():
        parts.append(Part(span[0], first, "", None))
    for i, (a, n, head) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else span[1]
        parts.append(Part(a, end, head, n))
    return parts


def _zh_int(s: str) -> int:
    if s == "十":
        return 10
    if s.startswith("十"):
        return 10 + NUMERALS.index(s[1]) + 1
    if len(s) >= 2 and s[1] == "十":
        return (NUMERALS.index(s[0]) + 1) * 10 + (NUMERALS.index(s[2]) + 1 if len(s) > 2 else 0)
    return NUMERALS.index(s[0]) + 1


def _split_parts(doc: Document) -> None:
    d = data()
    # section 一: the lead → overview; headed parts → the aspect they name
    parts = _parts(doc, "s1")
    aspects = d["aspects"]
    matched = 0
    prev_key = "s1.overview"
    for p in parts:
        if not p.heading:
            p.key = "s1.overview"
            continue
        body = re.sub(r"^[#*>\s]*\([一二三四五六七八九十]+\)", "", p.heading)
        hit = next((a for a in aspects if _re(a["heading"]).search(body)), None)
        if hit:
            matched += 1
            p.key = hit["field"]
            p.titled = True
        else:
            p.key = prev_key
        prev_key = p.key
    doc.aspect_structured = matched >= d["aspect_min_headings"]
    doc.parts["s1"] = parts
    # section 五: headings when they name problems/improvements, else the first sentence with an
    # improvement cue starts the improvements
    parts = _parts(doc, "s5")
    heads = d["s5_parts"]["headings"]
    keyed = False
    prev_key = "s5.problems"
    for p in parts:
        hit = next((k for k, rx in heads.items() if p.heading and _re(rx).search(p.heading)), None)
        if hit:
            keyed = True
            p.titled = True
        p.key = hit or prev_key
        prev_key = p.key
    if not keyed and "s5" in doc.bodies:
        start, end = doc.bodies["s5"]
        text = doc.nt.norm
        cue = _re(d["s5_parts"]["improvement_cue"])
        cut = None
        for s, e in _sentences(text, start, end):
            if cue.search(text, s, e):
                cut = s
                break
        parts = []
        if cut is None:
            parts.append(Part(start, end, "", None, "s5.problems"))
        else:
            if text[start:cut].strip():
                parts.append(Part(start, cut, "", None, "s5.problems"))
            parts.append(Part(cut, end, "", None, "s5.improvements"))
        # keep the numbering information of headed parts for the numbering rule
        doc.parts["s5_numbering"] = _parts(doc, "s5")
    doc.parts["s5"] = parts
    # section 六
    parts = _parts(doc, "s6")
    heads6 = d["s6_parts"]["headings"]
    for p in parts:
        hit = next((k for k, rx in heads6.items() if p.heading and _re(rx).search(p.heading)), None)
        p.key = hit or d["s6_parts"]["default"]
        p.titled = bool(hit)
    doc.parts["s6"] = parts


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Sentence spans (ending after 。！？!? or a line break) within [start, end)."""
    pos = start
    for m in _re(r"[。!?！？\n]+").finditer(text, start, end):
        if m.end() > pos:
            yield pos, m.end()
        pos = m.end()
    if pos < end:
        yield pos, end


def parse_document(text: str) -> Document:
    return split_sections(normalize(text))


# --------------------------------------------------------------------------------------------
# segments: what the rules look at


@dataclass
class Segment:
    section: str  # "pre", "s1".."s6", "signoff"
    key: str | None
    loc: str
    nt: NormText
    start: int
    end: int
    text: str = field(init=False, repr=False, compare=False)  # the normalised text of [start, end)

    def __post_init__(self) -> None:
        self.text = self.nt.norm[self.start : self.end]


class _Joined:
    """A workbook's narrative fields joined by separators, for the exact test of
    :func:`prefilter.joined_rx`."""

    __slots__ = ("_joined", "hay", "texts")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.hay = "\x00".join(texts)
        self._joined = {"\x00": self.hay}

    def search(self, sep: str, rx: re.Pattern) -> bool:
        """Whether ``rx`` matches in the fields joined by ``sep``."""
        text = self._joined.get(sep)
        if text is None:
            text = self._joined[sep] = sep.join(self.texts)
        return rx.search(text) is not None


# (pattern, flags) → (its pre-filter, its exact test on joined fields) — see _Doc.may
_DOC_TESTS: dict[tuple[str, int], tuple[prefilter.Gate | None, tuple[str, re.Pattern] | None]] = {}


def _gated(table: dict, make: Callable[[str, int], Any], pattern: str, flags: int) -> tuple:
    """(pre-filter of ``pattern``, ``make(pattern, flags)``), built once per pattern in ``table``."""
    try:
        return table[pattern, flags]
    except KeyError:
        got = table[pattern, flags] = (prefilter.gate(pattern, flags), make(pattern, flags))
        return got


@dataclass
class _Doc:
    published: bool
    segments: list[Segment]
    document: Document | None = None
    hay: str = ""  # a text containing every segment's text: where the pre-filters look first
    fields: _Joined | None = None  # a workbook's fields

    def sec(self, *sids: str) -> list[Segment]:
        return [s for s in self.segments if s.section in sids]

    def may(self, pattern: str, flags: int = 0) -> bool:
        """False only when ``pattern`` matches in none of the segments (for a workbook's fields,
        exactly when it matches in none, when :func:`prefilter.joined_rx` accepts the pattern)."""
        gate, joined = _gated(_DOC_TESTS, prefilter.joined_rx, pattern, flags)
        if gate is not None and not prefilter.passes(gate, self.hay):
            return False
        if joined is None or self.fields is None:
            return True
        return self.fields.search(*joined)

    def may_any(self, patterns: tuple[str, ...]) -> bool:
        """False only when none of ``patterns`` matches in any segment."""
        first = prefilter.first_literals(patterns)
        if first is not None and not prefilter.passes(first, self.hay):
            return False
        return any(self.may(p) for p in patterns)


def _loc(sid: str, extra: str = "") -> str:
    if sid == "pre":
        return "序言"
    if sid == "signoff":
        return "落款"
    base = canonical_titles().get(sid, sid)
    return f"{base}·{extra}" if extra else base


def _published_doc(full_text: str) -> _Doc:
    doc = parse_document(full_text)
    segs: list[Segment] = []
    nt = doc.nt
    if "pre" in doc.bodies:
        segs.append(Segment("pre", None, _loc("pre"), nt, *doc.bodies["pre"]))
    for sid in SECTION_IDS:
        if sid not in doc.bodies:
            continue
        if sid in ("s1", "s5", "s6") and doc.parts.get(sid):
            for p in doc.parts[sid]:
                extra = p.heading if p.heading else ""
                segs.append(Segment(sid, p.key, _loc(sid, extra), nt, p.start, p.end))
        else:
            segs.append(Segment(sid, None, _loc(sid), nt, *doc.bodies[sid]))
    if doc.signoff:
        segs.append(Segment("signoff", None, _loc("signoff"), nt, *doc.signoff))
    return _Doc(True, segs, doc, nt.norm)


@dataclass(frozen=True)
class _FormPlan:
    """What the rules need of a form, worked out once per form."""

    text_fields: tuple[tuple[str, str, str], ...]  # narrative text fields: (key, section, location)
    required: tuple[tuple[Any, str | None], ...]  # required narrative text fields, their section title
    aspects: tuple[tuple[dict, Any], ...]  # (aspect, its required field) for W-TXT-FIVE
    cells: frozenset[str]
    derived: frozenset[str]
    docs_keys: tuple[str, ...]  # the cells of the normative-documents row (W-TXT-DOCS)
    total_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a total and its parts
    cell_totals: dict[str, bool] = field(default_factory=dict)  # total → all_cells()

    def all_cells(self, form: Form, total: str) -> bool:
        """Whether the total and its parts are all table cells."""
        ok = self.cell_totals.get(total)
        if ok is None:
            ok = self.cell_totals[total] = all(k in self.cells for k in self.with_parts(form, total))
        return ok

    def with_parts(self, form: Form, *totals: str) -> tuple[str, ...]:
        """The keys :func:`_total_candidates` reads for these totals."""
        out: tuple[str, ...] = ()
        for key in totals:
            keys = self.total_keys.get(key)
            if keys is None:
                cell = form.cells.get(key)
                keys = self.total_keys[key] = (key,) + (cell.sum_of if cell is not None and cell.sum_of else ())
            out += keys
        return out


_PLANS: dict[int, tuple[Form, _FormPlan]] = {}


def _plan(form: Form) -> _FormPlan:
    hit = _PLANS.get(id(form))
    if hit is not None and hit[0] is form:
        return hit[1]
    text_fields = []
    required = []
    for f in form.fields.values():
        if f.section not in ("s1", "s5", "s6") or f.type.kind != "text":
            continue
        label = re.sub(r"^（[一二三四五六七八九十]+）", "", f.label)
        text_fields.append((f.key, f.section, _loc(f.section, label)))
        if f.required:
            try:
                title: str | None = form.section(f.section).title
            except KeyError:
                title = None  # looked up (and the error raised) when the field is empty
            required.append((f, title))
    aspects = []
    for a in data()["aspects"]:
        aspect_field = form.fields.get(a["field"])
        if aspect_field is not None and aspect_field.required:
            aspects.append((a, aspect_field))
    row = data()["docs"]["row"]
    docs_keys = tuple(k for k, c in form.cells.items() if c.table == "a20_1" and c.row.key == row)
    plan = _FormPlan(
        tuple(text_fields),
        tuple(required),
        tuple(aspects),
        frozenset(form.cells),
        frozenset(form.derived_keys),
        docs_keys,
    )
    if len(_PLANS) > 64:
        _PLANS.clear()
    _PLANS[id(form)] = (form, plan)
    return plan


def _fields_doc(form: Form, values: Mapping[str, Any]) -> _Doc:
    segs = []
    for key, section, loc in _plan(form).text_fields:
        v = values.get(key)
        if not isinstance(v, str) or not v.strip():
            continue
        nt = normalize(v)
        segs.append(Segment(section, key, loc, nt, 0, len(nt)))
    joined = _Joined([seg.text for seg in segs])
    return _Doc(False, segs, None, joined.hay, joined)


# --------------------------------------------------------------------------------------------
# findings


def _finding(
    rule_id: str,
    variant: str | None,
    *,
    severity: str | None = None,
    seg: Segment | None = None,
    keys: Sequence[str] = (),
    quote: str | None = None,
    instance: str = "",
    values: Mapping[str, Any] | None = None,
    expected: Any = None,
    actual: Any = None,
    locations: Sequence[str] = (),
    **ctx: Any,
) -> Finding:
    """A catalogue finding (its ``variant`` wording, placeholders from ``ctx`` and the part titles
    ``{s1}`` … ``{s6}`` and ``{parts}``) at ``seg``."""
    if not keys and seg is not None and seg.key:
        keys = (seg.key,)
    locs = tuple(locations) or ((seg.loc,) if seg is not None else ())
    delta = None
    if isinstance(expected, (int, Decimal)) and isinstance(actual, (int, Decimal)):
        delta = actual - expected
    for k, v in _text_ctx().items():
        ctx.setdefault(k, v)
    return make_finding(
        rule_id,
        variant=variant,
        severity=severity,
        instance=instance,
        keys=keys,
        values=values,
        expected=expected,
        actual=actual,
        delta=delta,
        locations=locs,
        raw=quote,
        **ctx,
    )


_WHITESPACE = re.compile(r"\s")
_BOUNDARY = re.compile(r"[。;!?\n]")
_CLAUSE = re.compile(r"[。;!?\n,、:]")


def _ctx(seg: Segment, s: int, e: int, before: int = 12, after: int = 12) -> str:
    """The original text of [s, e) with a little context: up to ``before``/``after`` characters,
    stopping at the clause punctuation (，、：；。) around it."""
    text = seg.nt.norm
    s, e = max(seg.start, s), min(seg.end, e)
    lo = max(seg.start, s - before)
    for i in range(s - 1, lo - 1, -1):
        if _CLAUSE.match(text, i):
            lo = i + 1
            break
    hi = min(seg.end, e + after)
    for i in range(e, hi):
        if _CLAUSE.match(text, i):
            hi = i
            break
    # never cut a number in two (“2025年未收到…”, not “025年未收到…”)
    while lo > seg.start and lo < len(text) and text[lo].isdigit() and text[lo - 1].isdigit():
        lo -= 1
    while hi < seg.end and hi > 0 and text[hi - 1].isdigit() and text[hi].isdigit():
        hi += 1
    return seg.nt.quote(lo, hi).strip()


_UP_TO_BOUNDARY = re.compile(r"[\s\S]*[。;!?\n]")  # greedy: up to the last boundary


def _sentence_at(seg: Segment, pos: int) -> tuple[int, int]:
    """The sentence around ``pos``: after the boundary before it, up to the one after it (a full
    stop included)."""
    text = seg.nt.norm
    m = _UP_TO_BOUNDARY.match(text, seg.start, pos) if pos > seg.start else None
    a = m.end() if m else min(pos, seg.start)
    m = _BOUNDARY.search(text, pos, seg.end)
    b = m.start() if m else max(pos, seg.end)
    return a, min(b + 1, seg.end) if b < seg.end and text[b] == "。" else b


_NO_MATCHES: Iterator[re.Match] = iter(())


def _finditer(seg: Segment, pattern: str, flags: int = 0) -> Iterator[re.Match]:
    gate, rx = _gated(_SCANS, _re, pattern, flags)
    if gate is not None and not prefilter.passes(gate, seg.text):
        return _NO_MATCHES
    return rx.finditer(seg.nt.norm, seg.start, seg.end)


_SCANS: dict[tuple[str, int], tuple[prefilter.Gate | None, re.Pattern]] = {}


# --------------------------------------------------------------------------------------------
# the rules


def _empty_fields(form: Form, values: Mapping[str, Any], unit: UnitType | None) -> list[Finding]:
    out = []
    for f, title in _plan(form).required:
        if f.when and when_holds(f.when, unit) is not True:
            continue
        v = values.get(f.key)
        if isinstance(v, str) and v.strip():
            continue
        if title is None:
            title = form.section(f.section).title
        out.append(
            _finding(
                "E-TXT-EMPTY",
                None,
                section=title,
                label=f.label,
                severity="error",
                keys=(f.key,),
                locations=(f"{title}·{f.label}",),
                instance=f"E-TXT-EMPTY[{f.key}]",
            )
        )
    return out


def _five(form: Form, doc: _Doc, values: Mapping[str, Any], unit: UnitType | None) -> list[Finding]:
    d = data()
    out = []
    gov = bool(unit is not None and unit.government)
    if doc.published:
        document = doc.document
        if document is None or "s1" not in document.bodies:
            return []
        s1 = doc.sec("s1")
        if not s1:
            return []
        text = document.text("s1")
        heads = [p.heading for p in document.parts.get("s1", []) if p.heading]
        found_keys = {p.key for p in document.parts.get("s1", []) if p.heading}
        shown = "".join(q(h, 24) for h in heads[:8]) if heads else "（无小标题）"
        for a in d["aspects"]:
            if a.get("government_only"):
                if not gov:
                    continue
                covered = any(k in text for k in a["keywords"])
            elif document.aspect_structured:
                covered = a["field"] in found_keys
            else:
                covered = any(k in text for k in a["keywords"])
            if covered:
                continue
            out.append(
                _finding(
                    "W-TXT-FIVE",
                    "headed" if document.aspect_structured else None,
                    section=canonical_titles()["s1"],
                    aspect=a["name"],
                    headings=shown,
                    keys=(a["field"],),
                    locations=(canonical_titles()["s1"],),
                    quote=" ".join(heads) or None,
                    instance=f"W-TXT-FIVE[{a['field']}]",
                )
            )
        return out
    # a workbook: every aspect has its own field; flag required ones that say nothing
    trivial = _re(d["trivial_text"])
    min_len = d["trivial_min_len"]
    for a, f in _plan(form).aspects:
        if f.when and when_holds(f.when, unit) is not True:
            continue
        v = values.get(f.key)
        if not isinstance(v, str) or not v.strip():
            continue  # E-TXT-EMPTY
        t = norm(v).strip()
        if trivial.match(t) or len(_WHITESPACE.sub("", t) if len(t) >= min_len else t) < min_len:
            out.append(
                _finding(
                    "W-TXT-FIVE",
                    "trivial",
                    label=f.label,
                    text=q(v.strip(), 20),
                    aspect=a["name"],
                    keys=(f.key,),
                    locations=(f"{canonical_titles()['s1']}·{f.label}",),
                    quote=v.strip(),
                    instance=f"W-TXT-FIVE[{f.key}]",
                )
            )
    return out


class _Values(Protocol):
    """What the rules comparing the text with the tables read of the values: ``get`` only —
    a dict, or a :class:`_TableView` of the caller's values."""

    def get(self, key: str, default: Any = None, /) -> Any: ...


class _TableView:
    """The table values and ``s6.fee_notices`` of ``values``, read through — what
    :func:`_table_values` would copy when every derived cell is already there."""

    __slots__ = ("cells", "values")

    def __init__(self, values: Mapping[str, Any], cells: frozenset[str]):
        self.values = values
        self.cells = cells

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.cells or key == "s6.fee_notices":
            return self.values.get(key, default)
        return default


def _table_values(form: Form, values: Mapping[str, Any]) -> _Values:
    """The table numbers (derived cells recomputed where missing) and ``s6.fee_notices``."""
    plan = _plan(form)
    if values.keys() >= plan.derived:  # nothing to recompute: no copy
        return _TableView(values, plan.cells)
    vals = with_derived(form, {k: v for k, v in values.items() if k in form.cells})
    for k in ("s6.fee_notices",):
        if k in values:
            vals[k] = values[k]
    return vals


def _plain(vals: _Values, keys: Sequence[str]) -> bool:
    """Every value blank or a plain int: the totals of them can be computed late (or not at all),
    as nothing about them can raise."""
    for k in keys:
        v = vals.get(k)
        if v is not None and v.__class__ is not int and v.__class__ is not bool:
            return False
    return True


def _num(values: _Values, key: str) -> int | Decimal | None:
    return as_number(values.get(key))


def _total_candidates(form: Form, vals: _Values, key: str) -> list[int | Decimal]:
    """A total as printed and as the sum of its cells (they differ when E-T3-ROW fails)."""
    out: list[int | Decimal] = []
    get: Callable[[str], Any] = vals.get
    if vals.__class__ is _TableView and _plan(form).all_cells(form, key):
        get = vals.values.get  # the view answers the same for cells
    v = get(key)
    if v is not None and v.__class__ is not int:  # as_number(an int) is the int
        v = as_number(v)
    if v is not None:
        out.append(v)
    cell = form.cells.get(key)
    if cell is not None and cell.sum_of:
        parts = [v if v.__class__ is int else as_number(v) for v in map(get, cell.sum_of)]
        if all(p is not None for p in parts):
            s = sum(parts)  # type: ignore[arg-type]  # no None: all() above; mypy cannot narrow a list
            if s not in out:
                out.append(s)
    return out


def _appl(form: Form, doc: _Doc, vals: _Values) -> list[Finding]:
    d = data()["applications"]
    counts = [rx for rx in d["count"] if doc.may(rx)]
    zeros = [rx for rx in d["zero"] if doc.may(rx)]
    if not counts and not zeros and _plain(vals, _plan(form).with_parts(form, "s3.new.total")):
        return []  # the text says nothing about applications
    totals = _total_candidates(form, vals, "s3.new.total")
    if not totals:
        return []
    shown = " / ".join(fmt_num(t) for t in totals)
    label = form.cells["s3.new.total"].row_label
    if len(totals) > 1:
        shown += "（表中总计 / 各列之和）"
    out = []
    seen: set[tuple[int, int]] = set()
    first = prefilter.first_literals(tuple(counts + zeros))
    for seg in doc.sec("pre", "s1", "s3", "s5", "s6"):
        if first is not None and not prefilter.passes(first, seg.text):
            continue  # none of the patterns can match here
        for rx in counts:
            for m in _finditer(seg, rx):
                sent = _sentence_at(seg, m.start())
                if sent in seen:
                    continue
                seen.add(sent)
                n = int(m.group(1))
                if n not in totals:
                    quote = _ctx(seg, m.start(), m.end(), 4, 4)
                    out.append(
                        _finding(
                            "W-TXT-APPL",
                            None,
                            text=q(quote),
                            n=n,
                            label=label,
                            shown=shown,
                            seg=seg,
                            keys=("s3.new.total",) + ((seg.key,) if seg.key else ()),
                            quote=quote,
                            expected=totals[0],
                            actual=n,
                            values={"s3.new.total": totals[0]},
                        )
                    )
        if not any(totals):
            continue
        for rx in zeros:
            for m in _finditer(seg, rx):
                sent = _sentence_at(seg, m.start())
                if sent in seen:
                    continue
                seen.add(sent)
                quote = _ctx(seg, m.start(), m.end(), 4, 4)
                out.append(
                    _finding(
                        "W-TXT-APPL",
                        "zero",
                        text=q(quote),
                        label=label,
                        shown=shown,
                        seg=seg,
                        keys=("s3.new.total",) + ((seg.key,) if seg.key else ()),
                        quote=quote,
                        expected=max(totals),
                        actual=0,
                        values={"s3.new.total": totals[0]},
                    )
                )
    return out


_REVIEW_TOTALS = ("s4.review.total", "s4.lit_direct.total", "s4.lit_after_review.total")


def _review(form: Form, doc: _Doc, vals: _Values) -> list[Finding]:
    d = data()["review"]
    if not doc.may(d["none"]) and _plain(vals, _plan(form).with_parts(form, *_REVIEW_TOTALS)):
        return []  # no “no review / litigation” statement
    review = max(_total_candidates(form, vals, "s4.review.total"), default=None)
    lits = [
        max(_total_candidates(form, vals, k), default=None)
        for k in ("s4.lit_direct.total", "s4.lit_after_review.total")
    ]
    # no None in the sum: any() tests it; mypy cannot narrow a list's items
    lit = None if any(v is None for v in lits) else sum(lits)  # type: ignore[arg-type]
    out = []
    for seg in doc.sec("pre", "s1", "s4", "s5", "s6"):
        for m in _finditer(seg, d["none"]):
            a, b = _sentence_at(seg, m.start())
            clause = seg.nt.norm[m.start() : b]
            problems = []
            keys = []
            if d["review_word"] in clause and review:
                problems.append(f"行政复议总计为 {fmt_num(review)}")
                keys.append("s4.review.total")
            if d["litigation_word"] in clause and lit:
                problems.append(f"行政诉讼总计为 {fmt_num(lit)}")
                keys += ["s4.lit_direct.total", "s4.lit_after_review.total"]
            if not problems:
                continue
            quote = _ctx(seg, m.start(), b, 2, 0)
            out.append(
                _finding(
                    "W-TXT-REVIEW",
                    None,
                    text=q(quote),
                    problems="，".join(problems),
                    seg=seg,
                    keys=tuple(keys) + ((seg.key,) if seg.key else ()),
                    quote=quote,
                    values={k: vals.get(k) for k in keys},
                )
            )
    return out


def _docs(form: Form, doc: _Doc, vals: _Values) -> list[Finding]:
    d = data()["docs"]
    counts = [rx for rx in d["count"] if doc.may(rx)]
    if not counts:
        return []  # no count of normative documents in the text
    keys = list(_plan(form).docs_keys)
    nums = {k: _num(vals, k) for k in keys}
    if not keys or all(v is None for v in nums.values()):
        return []
    label = form.cells[keys[0]].row_label
    out = []
    seen: set[tuple[int, int]] = set()
    first = prefilter.first_literals(tuple(counts))
    for seg in doc.sec("pre", "s1", "s2"):
        if first is not None and not prefilter.passes(first, seg.text):
            continue  # none of the patterns can match here
        for rx in counts:
            for m in _finditer(seg, rx):
                if (m.start(), m.end()) in seen:
                    continue
                seen.add((m.start(), m.end()))
                n = int(m.group(1))
                if any(v == n for v in nums.values()):
                    continue
                shown = "、".join(f"{form.cells[k].col_label} {fmt_num(v)}" for k, v in nums.items())
                quote = _ctx(seg, m.start(), m.end(), 2, 2)
                out.append(
                    _finding(
                        "W-TXT-DOCS",
                        None,
                        text=q(quote),
                        label=label,
                        shown=shown,
                        n=n,
                        seg=seg,
                        keys=tuple(keys),
                        quote=quote,
                        actual=n,
                        values=nums,
                    )
                )
    return out


def _fee_era(form: Form, year: int | None) -> bool:
    if year:
        return year >= data()["fee"]["from_year"]
    return "s6.fee_notices" in form.fields


def _fee(form: Form, doc: _Doc, values: Mapping[str, Any], year: int | None) -> list[Finding]:
    if not _fee_era(form, year):
        return []
    if not doc.published and as_number(values.get("s6.fee_notices")) is not None:
        return []  # the renderer writes the sentence from the three numbers
    d = data()["fee"]
    rx = _re(d["statement"])
    s6 = doc.sec("s6")
    if any(rx.search(s.nt.norm, s.start, s.end) for s in s6):
        return []
    elsewhere = [s for s in doc.segments if s.section in ("pre", "s1", "s5") and rx.search(s.nt.norm, s.start, s.end)]
    if doc.published and doc.document is not None and "s6" not in doc.document.bodies:
        what = f"报告中没有“{canonical_titles()['s6']}”部分"
        quote = None
    elif s6:
        body = "".join(s.nt.quote(s.start, s.end) for s in s6).strip()
        what = f"第六部分只写了{q(body, 50)}" if body else "第六部分没有内容"
        quote = body or None
    else:
        what = "第六部分没有内容"
        quote = None
    if elsewhere:
        seg = elsewhere[0]
        m = rx.search(seg.nt.norm, seg.start, seg.end)
        # ``elsewhere`` holds only segments ``rx`` matches: ``m`` is never None
        where = _ctx(seg, m.start(), m.end(), 10, 10)  # type: ignore[union-attr]
        return [
            _finding(
                "W-TXT-FEE",
                "elsewhere",
                what=what,
                where=seg.loc,
                text=q(where),
                severity="info",
                keys=("s6.other",),
                locations=(canonical_titles()["s6"],),
                quote=quote,
            )
        ]
    return [
        _finding(
            "W-TXT-FEE",
            None,
            what=what,
            keys=("s6.other",),
            locations=(canonical_titles()["s6"],),
            quote=quote,
        )
    ]


def _t3_fee(form: Form, doc: _Doc, vals: _Values) -> list[Finding]:
    if "s3.r6_2.total" not in form.cells:
        return []
    n = _num(vals, "s3.r6_2.total")
    if not n:
        return []
    if not doc.published and as_number(vals.get("s6.fee_notices")) is not None:
        return []  # the table rule W-T3-FEE compares the numbers
    d = data()["fee"]
    s6 = doc.sec("s6")
    label = form.cells["s3.r6_2.total"].row_label
    rule = form.rule_def("W-T3-FEE") or load_form(builtin_form_ids()[-1]).rule_def("W-T3-FEE")
    assert rule is not None  # the text side of the form rule: its severity, title and fix
    for seg in s6:
        m = _re(d["no_notice"]).search(seg.nt.norm, seg.start, seg.end)
        if m:
            quote = _ctx(seg, m.start(), m.end(), 6, 4)
            return [
                _finding(
                    "W-T3-FEE",
                    "text_contradicts",
                    rule=rule,
                    label=label,
                    n=fmt_num(n),
                    text=q(quote),
                    seg=seg,
                    keys=("s3.r6_2.total",),
                    quote=quote,
                    values={"s3.r6_2.total": n},
                )
            ]
    if any(_re(d["notice"]).search(s.nt.norm, s.start, s.end) for s in s6):
        return []
    return [
        _finding(
            "W-T3-FEE",
            None,
            rule=rule,
            label=label,
            n=fmt_num(n),
            keys=("s3.r6_2.total", "s6.other"),
            locations=(canonical_titles()["s6"],),
            values={"s3.r6_2.total": n},
        )
    ]


# the sentence patterns of W-TXT-DATE whose group 1 is four digits (\d) right before “年”: a
# report year can only come from such a pair, so the pairs in the text tell which years can be
# flagged
_YEAR_NIAN_PATTERNS = (
    r"[ \t]*(\d{4})年(?:度)?(?=[,、\u4e00-\u9fff])",
    r"[ \t]*(?:\([一二三四五六七八九十]\)[^。;\n]{0,20}?)?(\d{4})年(?:度)?",
)


def _nian_years(text: str) -> Iterator[int]:
    """The number of every “dddd年” in ``text`` (what ``(\\d{4})年`` finds: ``\\d`` is
    ``str.isdecimal``), from the text before each “年”."""
    for p in text.split("年")[:-1]:
        if len(p) >= 4 and p[-4:].isdecimal():
            yield int(p[-4:])


def _stale_years(text: str, d: Mapping[str, Any], year: int) -> bool:
    """False when no sentence of ``text`` can begin with one of the years before ``year`` that
    the stale-sentence check flags."""
    if d["stale_sentence"] not in _YEAR_NIAN_PATTERNS:
        return True
    lo = year - d["stale_years_back"]
    return any(lo <= y < year for y in _nian_years(text))


def _plan_years(text: str, d: Mapping[str, Any], year: int) -> bool:
    """False when no sentence of ``text`` can begin with a year up to ``year`` (the plan check)."""
    if d["plan_sentence"] not in _YEAR_NIAN_PATTERNS:
        return True
    return any(y <= year for y in _nian_years(text))


def _dates(doc: _Doc, year: int | None) -> list[Finding]:
    d = data()["dates"]
    out: list[Finding] = []
    covered: list[tuple[int, int, int]] = []  # (id(nt), start, end) already reported

    def add(seg: Segment, s: int, e: int, variant: str, **ctx: Any) -> None:
        for nid, a, b in covered:
            if nid == id(seg.nt) and a < e and s < b:
                return
        covered.append((id(seg.nt), s, e))
        out.append(_finding("W-TXT-DATE", variant, seg=seg, quote=seg.nt.quote(s, e), **ctx))

    # which checks can find anything at all: most find nothing in most reports
    runon, missing_day, missing_nian = doc.may(d["runon"]), doc.may(d["missing_day"]), doc.may(d["missing_nian"])
    period = as_of = stale = plan = False
    if year:
        period, as_of = doc.may(d["period"]), doc.may(d["as_of"])
        stale = _stale_years(doc.hay, d, year)
        plan = _plan_years("\x00".join(s.text for s in doc.segments if s.section == "s5"), d, year)
    for seg in doc.segments:
        text = seg.nt.norm
        for m in _finditer(seg, d["runon"]) if runon else ():
            y, mo = m.group(1), m.group(2)
            day, ri = m.group(3), m.group(4)
            raw = seg.nt.quote(m.start(), m.end())
            if day and not ri:
                fixed = f"{y}年{mo}月{day}日"
                variant = "runon_both"
            else:
                fixed = f"{y}年{mo}月" + (f"{day}{ri}" if day else "")
                variant = "runon"
            add(seg, m.start(), m.end(), variant, text=q(raw), fixed=fixed)
        for m in _finditer(seg, d["missing_day"]) if missing_day else ():
            raw = seg.nt.quote(m.start(), m.end())
            add(seg, m.start(), m.end(), "missing_day", text=q(raw), date=raw)
        for m in _finditer(seg, d["missing_nian"]) if missing_nian else ():
            raw = _ctx(seg, m.start(), m.end() + 4, 0, 0)
            add(seg, m.start(), m.end(), "missing_nian", text=q(raw), y=m.group(1))
        if not year:
            continue
        for m in _finditer(seg, d["period"]) if period else ():
            y1 = int(m.group(1))
            y2 = int(m.group(2)) if m.group(2) else y1
            if y1 != year or y2 != year:
                raw = seg.nt.quote(m.start(), m.end())
                add(seg, m.start(), m.end(), "period", text=q(raw), year=year)
        for m in _finditer(seg, d["as_of"]) if as_of else ():
            if int(m.group(1)) != year:
                raw = seg.nt.quote(m.start(), m.end())
                add(seg, m.start(), m.end(), "as_of", text=q(raw), year=year)
        if stale and seg.section in ("s1", "s2") and _stale_years(seg.text, d, year):
            stale_rx = _re(d["stale_sentence"])
            for a, b in _sentences(text, seg.start, seg.end):
                sm = stale_rx.match(text, a, b)
                if not sm:
                    continue
                y = int(sm.group(1))
                if year - d["stale_years_back"] <= y < year:
                    s = sm.start(1)
                    raw = _ctx(seg, s, sm.end(), 0, 16)
                    add(seg, s, sm.end(), "stale", text=q(raw), y=y, year=year)
        if plan and seg.section == "s5" and _plan_years(seg.text, d, year):
            cue = _re(d["plan_cue"])
            plan_rx = _re(d["plan_sentence"])
            for a, b in _sentences(text, seg.start, seg.end):
                sm = plan_rx.match(text, a, b)
                if not sm:
                    continue
                y = int(sm.group(1))
                if y > year or not cue.search(text, sm.end(), b):
                    continue
                s = sm.start(1)
                raw = seg.nt.quote(s, b).strip()
                add(seg, s, sm.end(), "plan", text=q(raw, 40), y=y, year=year, next=year + 1)
    return out


def _strip_map(text: str, drop: str) -> tuple[str, list[int]]:
    keep = [i for i, ch in enumerate(text) if ch not in drop]
    return "".join(text[i] for i in keep), keep


@cache
def _cite_titles() -> tuple[dict[int, None], re.Pattern, re.Pattern | None]:
    """(translate table deleting the title_strip characters, one regex of every title key, a
    regex of the text before deletion that matches wherever a key would match after it — None
    when there is no such pre-filter)."""
    d = data()
    strip = d["cite"]["title_strip"]
    table = {ord(ch): None for ch in strip}
    keys = sorted({x["title_key"] for x in d["documents"]}, key=len, reverse=True)
    raw: re.Pattern | None = None
    if keys and all(keys):
        # a key can only be found in the stripped text if it has no stripped character; in the
        # original its characters are then separated by stripped characters only
        gap = ("[" + "".join(re.escape(ch) for ch in sorted(set(strip))) + "]*") if strip else ""
        usable = [k for k in keys if not any(ch in strip for ch in k)]
        raw = re.compile("|".join(gap.join(re.escape(ch) for ch in k) for k in usable) if usable else "(?!)")
    return table, re.compile("|".join(re.escape(k) for k in keys)), raw


def _cite(doc: _Doc, year: int | None) -> list[Finding]:
    d = data()
    c = d["cite"]
    docs = d["documents"]
    num_re = _re(c["number"])
    out: list[Finding] = []
    by_num = {(x["num_year"], x["num"]): x for x in docs}
    paired: set[tuple[int, int]] = set()  # number spans already judged with their title
    titled: set[str] = set()  # document ids cited by title and judged as a pair
    table, titles_rx, titles_raw = _cite_titles()
    any_title = titles_raw is None or titles_raw.search(doc.hay) is not None
    any_number = doc.may(c["number"])
    if not any_title and not any_number and not doc.may(c["regulation_unbracketed"]):
        return out  # most reports cite nothing

    for seg in doc.segments:
        text = seg.nt.norm
        sub = seg.text
        # 1. titles and the number that follows them (most texts cite none: one search decides)
        if any_title and (titles_raw is None or titles_raw.search(sub)) and titles_rx.search(sub.translate(table)):
            stripped, idx = _strip_map(sub, c["title_strip"])
        else:
            stripped, idx = "", []
        for x in docs if stripped else ():
            for m in re.finditer(re.escape(x["title_key"]), stripped):
                t_end = seg.start + idx[m.end() - 1] + 1
                t_start = seg.start + idx[m.start()]
                # the full title usually begins before the key (国务院办公厅…): back up to 《
                lb = text.rfind("《", seg.start, t_start)
                if lb >= 0 and t_start - lb < 40:
                    t_start = lb
                n = num_re.search(text, t_end, min(seg.end, t_end + c["pair_window"] + 12))
                if n and n.start() - t_end <= c["pair_window"]:
                    paired.add((n.start(), n.end()))
                    other = by_num.get((int(n.group(4)), int(n.group(6))))
                    if other is not None and other["id"] != x["id"]:
                        raw = seg.nt.quote(t_start, n.end()).strip()
                        out.append(
                            _finding(
                                "W-TXT-CITE",
                                "mismatch",
                                text=q(raw, 90),
                                number=x["number"],
                                other=other["number"],
                                other_title=other["title"],
                                seg=seg,
                                quote=raw,
                            )
                        )
                        titled.add(x["id"])
                        titled.add(other["id"])
                        continue
                if year and not (x["report_years"][0] <= year <= x["report_years"][1]) and x["id"] not in titled:
                    titled.add(x["id"])
                    raw = seg.nt.quote(t_start, t_end + 1 if t_end < len(text) and text[t_end] == "》" else t_end)
                    right = next((y for y in docs if y["report_years"][0] <= year <= y["report_years"][1]), None)
                    tail = f"，{year} 年度报告应依据{right['number']}" if right else ""
                    out.append(
                        _finding(
                            "W-TXT-CITE",
                            "wrong_year_title",
                            text=q(raw, 70),
                            number=x["number"],
                            first=x["report_years"][0],
                            last=min(x["report_years"][1], 2020) if x["report_years"][1] < 2099 else "今",
                            tail=tail,
                            seg=seg,
                            quote=raw,
                        )
                    )
        # 2. every document number: written out in full, and applicable to the report year
        for m in _finditer(seg, c["number"]) if any_number else ():
            key = (int(m.group(4)), int(m.group(6)))
            x = by_num.get(key)
            if x is None:
                continue
            raw = seg.nt.quote(m.start(), m.end())
            written = re.sub(r"\s+", "", m.group(0))
            canonical = x["number"]
            if written != canonical:
                missing_ban = m.group(2) is None
                no_brackets = not m.group(3) and not m.group(5)
                severity = "warning" if (missing_ban or no_brackets or m.group(1) is None) else "info"
                problems = []
                if m.group(1) is None or missing_ban:
                    problems.append("机关代字不全")
                if no_brackets:
                    problems.append("年份缺少六角括号〔〕")
                elif (m.group(3), m.group(5)) != ("〔", "〕"):
                    problems.append("年份应使用六角括号〔〕")
                out.append(
                    _finding(
                        "W-TXT-CITE",
                        "miswritten",
                        text=q(raw),
                        problems="，".join(problems) or "格式不规范",
                        canonical=canonical,
                        severity=severity,
                        seg=seg,
                        quote=raw,
                    )
                )
            if (m.start(), m.end()) in paired or x["id"] in titled:
                continue
            if year and not (x["report_years"][0] <= year <= x["report_years"][1]):
                titled.add(x["id"])
                right = next((y for y in docs if y["report_years"][0] <= year <= y["report_years"][1]), None)
                tail = f"，应为{right['number']}" if right else ""
                out.append(
                    _finding(
                        "W-TXT-CITE",
                        "wrong_year_number",
                        year=year,
                        text=q(raw),
                        tail=tail,
                        seg=seg,
                        quote=raw,
                    )
                )
        # 3. the regulation's order number belongs in brackets after its title
        for m in _finditer(seg, c["regulation_unbracketed"]):
            raw = _ctx(seg, m.start() - 10, m.end(), 0, 0)
            out.append(
                _finding(
                    "W-TXT-CITE",
                    "regulation",
                    text=q(raw),
                    canonical=c["regulation_canonical"],
                    severity="info",
                    seg=seg,
                    quote=raw,
                )
            )
    return out


def _oldstruct(doc: _Doc) -> list[Finding]:
    d = data()["oldstruct"]
    if not doc.may(d["sentence"]):
        return []  # no sentence about the report's parts
    segs = doc.sec("pre") if doc.published else doc.sec("s1")
    if doc.published:
        segs = segs + [s for s in doc.sec("s1") if s.key == "s1.overview"]
    out = []
    for seg in segs:
        for m in _finditer(seg, d["sentence"]):
            sent = m.group(0)
            markers = [x for x in d["markers"] if x in sent]
            lacks = [x for x in d["required"] if x not in sent]
            wrong = _re(d["wrong_count"]).search(sent)
            if not (markers or lacks or wrong):
                continue
            quote = seg.nt.quote(m.start(), m.end())
            why = []
            if markers:
                why.append("含有旧格式的" + "、".join(f"“{x}”" for x in markers))
            if wrong:
                why.append(f"写成了“{wrong.group(0)}”")
            elif lacks and not markers:
                why.append("未列出" + "、".join(f"“{x}”" for x in lacks))
            out.append(
                _finding(
                    "W-TXT-OLDSTRUCT",
                    None,
                    text=q(quote, 90),
                    why="；".join(why),
                    seg=seg,
                    quote=quote,
                )
            )
            return out
    return out


@cache
def _foreign_rx() -> tuple[re.Pattern | None, tuple[str, ...]]:
    """(one regex of every domain's terms — None when some pattern does not name a term —, each
    domain's full pattern), built once."""
    d = data()["foreign"]
    rxs = []
    every = all("{t}" in p for p in d["patterns"])
    terms: list[str] = []
    for dom in d["domains"]:
        pats = d["patterns"] + dom.get("extra_patterns", [])
        every = every and all("{t}" in p for p in dom.get("extra_patterns", []))
        alt = "|".join(re.escape(norm(t)) for t in dom["terms"])
        terms += [norm(t) for t in dom["terms"]]
        rxs.append("|".join("(?:" + p.replace("{t}", f"(?:{alt})") + ")" for p in pats))
    terms_rx = (
        re.compile("|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True)))
        if every and terms
        else None
    )
    return terms_rx, tuple(rxs)


def _foreign(doc: _Doc, values: Mapping[str, Any], unit: UnitType | None) -> list[Finding]:
    d = data()["foreign"]
    name = values.get("meta.name") or ""
    name_n = norm(str(name)) if name else ""
    if unit is not None and unit.name not in d["apply_to_types"]:
        return []
    if unit is None and not name_n:
        return []
    out = []
    segs = [seg for seg in doc.segments if seg.section not in ("s2", "s3", "s4", "signoff")]
    # every pattern names a domain's term: one search for all terms decides most reports
    terms_rx, rxs = _foreign_rx()
    if terms_rx is not None and (
        terms_rx.search(doc.hay) is None or not any(terms_rx.search(seg.text) for seg in segs)
    ):
        return []
    for i, dom in enumerate(d["domains"]):
        if name_n and _re(dom["owner"]).search(name_n):
            continue
        if dom.get("only_types") and (unit is None or unit.name not in dom["only_types"]):
            continue
        rx = rxs[i]
        hits: list[tuple[Segment, int, int]] = []
        for seg in segs:
            for m in _finditer(seg, rx):
                if not any(h[0] is seg and h[1] < m.end() and m.start() < h[2] for h in hits):
                    hits.append((seg, m.start(), m.end()))
        if not hits:
            continue
        quotes = []
        for seg, s, e in hits[:3]:
            quotes.append(q(_ctx(seg, s, e, 6, 8)))
        who = f"“{name}”" if name else (f"{unit.name}" if unit else "本单位")
        more = f"等 {len(hits)} 处" if len(hits) > 3 else ""
        seg0 = hits[0][0]
        locs = tuple(dict.fromkeys(h[0].loc for h in hits))
        keys = tuple(dict.fromkeys(h[0].key for h in hits if h[0].key))
        out.append(
            _finding(
                "W-TXT-FOREIGN",
                None,
                quotes="、".join(quotes),
                more=more,
                domain=dom["name"],
                who=who,
                seg=seg0,
                keys=keys,
                locations=locs,
                quote=_ctx(seg0, hits[0][1], hits[0][2], 6, 8),
                instance=f"W-TXT-FOREIGN[{dom['name']}]",
            )
        )
    return out


def _numbering(doc: _Doc) -> list[Finding]:
    out: list[Finding] = []
    if doc.published and doc.document is not None:
        groups = []
        for sid in ("s1", "s5", "s6"):
            parts = doc.document.parts.get(
                "s5_numbering" if sid == "s5" and "s5_numbering" in doc.document.parts else sid, []
            )
            groups.append((sid, [p for p in parts if p.number is not None]))
    else:
        groups = []
        pattern = data()["headings"]["subheading"]
        if not doc.may(pattern, re.M):
            return out  # no numbered sub-heading anywhere
        for seg in doc.segments:
            ps = []
            for m in _finditer(seg, pattern, re.M):
                a, b = m.start(), seg.nt.norm.find("\n", m.start())
                b = seg.end if b < 0 else b
                ps.append(Part(a, b, seg.nt.norm[a:b][:40], _zh_int(m.group(1)), seg.key))
            groups.append((seg.key or seg.section, ps))
    for gid, parts in groups:
        if len(parts) < 2:
            continue
        # every part in ``groups`` has a number (the filter drops none; it tells the type checker so)
        nums = [p.number for p in parts if p.number is not None]
        expected = list(range(1, len(nums) + 1))
        if nums == expected:
            continue
        problems = []
        for i, n in enumerate(nums):
            prev = nums[i - 1] if i else 0
            if n == prev:
                problems.append(f"“（{NUMERALS[n - 1] if n <= 10 else n}）”重复")
            elif n != prev + 1:
                problems.append(
                    f"“（{NUMERALS[prev] if prev < 10 else prev + 1}）”之后是“（{NUMERALS[n - 1] if n <= 10 else n}）”"
                )
        if not problems:
            continue
        nt = doc.document.nt if doc.published and doc.document is not None else None
        if nt is None:
            seg = next(s for s in doc.segments if (s.key or s.section) == gid)
            nt = seg.nt
        heads = [q(nt.quote(p.start, p.start + len(p.heading)).strip(), 24) for p in parts]
        sid = gid.split(".")[0] if "." in gid else gid
        loc = canonical_titles().get(sid, gid)
        out.append(
            _finding(
                "W-TXT-NUMBERING",
                None,
                where=loc,
                problems="、".join(problems),
                headings="".join(heads),
                keys=(gid,) if "." in gid else (),
                locations=(loc,),
                quote=" ".join(nt.quote(p.start, p.start + len(p.heading)).strip() for p in parts),
                instance=f"W-TXT-NUMBERING[{gid}]",
            )
        )
    return out


@cache
def _filler_categories() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((cat, tuple(pats)) for cat, pats in data()["filler"]["categories"].items())


def _filler(doc: _Doc) -> list[Finding]:
    d = data()["filler"]
    # the categories the text can mention at all; fewer than the minimum: nothing to report
    cats = [(cat, pats) for cat, pats in _filler_categories() if doc.may_any(pats)]
    if len(cats) < d["min_categories"]:
        return []
    segs = doc.sec("s1")
    hits: list[tuple[str, Segment, int, int]] = []
    for cat, pats in cats:
        for seg in segs:
            m = None
            for p in pats:
                m = _re(p).search(seg.nt.norm, seg.start, seg.end) if prefilter.may_match(p, seg.text) else None
                if m:
                    break
            if m:
                hits.append((cat, seg, m.start(), m.end()))
                break
    if len(hits) < d["min_categories"]:
        return []
    shown = "、".join(f"{cat}{q(_ctx(seg, s, e, 6, 6), 30)}" for cat, seg, s, e in hits[:4])
    return [
        _finding(
            "W-TXT-FILLER",
            None,
            section=canonical_titles()["s1"],
            cats="、".join(h[0] for h in hits),
            shown=shown,
            seg=hits[0][1],
            locations=(canonical_titles()["s1"],),
            quote=_ctx(hits[0][1], hits[0][2], hits[0][3], 6, 6),
        )
    ]


def _dupperiod(doc: _Doc) -> list[Finding]:
    d = data()["period"]
    out = []
    segs = doc.sec("pre", "s1") if doc.published else doc.sec("s1")
    hits = [(seg, m) for seg in segs for m in _finditer(seg, d["statement"])] if doc.may(d["statement"]) else []
    if len(hits) >= 2:
        quotes = list(dict.fromkeys(q(_ctx(seg, m.start(), m.end(), 16, 2), 50) for seg, m in hits[:3]))
        where = "、".join(dict.fromkeys(seg.loc.split("·")[0] for seg, _ in hits))
        out.append(
            _finding(
                "W-TXT-DUPPERIOD",
                None,
                where=where,
                n=len(hits),
                quotes="、".join(quotes),
                severity="info",
                seg=hits[1][0],
                locations=tuple(dict.fromkeys(seg.loc for seg, _ in hits)),
                quote=hits[1][0].nt.quote(hits[1][1].start(), hits[1][1].end()),
            )
        )
    for seg in doc.segments if doc.may(d["time_point"]) else ():
        m = next(_finditer(seg, d["time_point"]), None)
        if m:
            raw = _ctx(seg, m.start(), m.end() + 12, 4, 0)
            out.append(
                _finding(
                    "W-TXT-DUPPERIOD",
                    "point",
                    text=q(raw),
                    severity="info",
                    seg=seg,
                    quote=raw,
                )
            )
            break
    return out


def _typos(doc: _Doc) -> list[Finding]:
    out = []
    for t in data()["typos"]:
        if not doc.may(t["pattern"]):
            continue
        hits = [(seg, m) for seg in doc.segments for m in _finditer(seg, t["pattern"])]
        if not hits:
            continue
        seg, m = hits[0]
        raw = _ctx(seg, m.start(), m.end(), 6, 14)
        more = f"（共 {len(hits)} 处）" if len(hits) > 1 else ""
        out.append(
            _finding(
                "W-TXT-TYPO",
                None,
                text=q(raw),
                problem=t["message"],
                more=more,
                severity="info",
                seg=seg,
                locations=tuple(dict.fromkeys(s.loc for s, _ in hits))[:3],
                quote=raw,
                instance=f"W-TXT-TYPO[{t['fix']}]",
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# entry point


def check_narrative(
    form: Form,
    values: Mapping[str, Any],
    *,
    unit: UnitType | None = None,
    year: int,
    full_text: str | None = None,
    fields_only: bool = False,
) -> list[Finding]:
    """Narrative findings for one report (errors first, then warnings, then infos).

    ``values``: the narrative fields (``s1.*``, ``s5.*``, ``s6.*``), ``meta.name`` (for
    W-TXT-FOREIGN) and the table numbers (for the text-versus-table rules).
    ``full_text``: a published report's whole text; the sections are found in it and the
    per-field emptiness check (E-TXT-EMPTY) is not run.  Without it, every narrative field is
    checked on its own.
    ``fields_only``: check the texts only — skip the rules that compare the text with the tables
    (W-TXT-APPL, W-TXT-REVIEW, W-TXT-DOCS, the text part of W-T3-FEE).
    """
    doc = _published_doc(full_text) if full_text is not None else _fields_doc(form, values)
    out: list[Finding] = []
    if full_text is None:
        out += _empty_fields(form, values, unit)
    out += _five(form, doc, values, unit)
    if not fields_only:
        vals = _table_values(form, values)
        out += _appl(form, doc, vals)
        out += _review(form, doc, vals)
        out += _docs(form, doc, vals)
        out += _t3_fee(form, doc, vals)
    out += _fee(form, doc, values, year)
    out += _dates(doc, year)
    out += _cite(doc, year)
    out += _oldstruct(doc)
    out += _foreign(doc, values, unit)
    out += _numbering(doc)
    out += _filler(doc)
    out += _dupperiod(doc)
    out += _typos(doc)
    return sorted(out, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))


__all__ = [
    "canonical_titles",
    "Document",
    "NormText",
    "Part",
    "check_narrative",
    "data",
    "label_key",
    "norm",
    "normalize",
    "parse_document",
    "q",
    "split_sections",
    "strip_romanisation",
]
