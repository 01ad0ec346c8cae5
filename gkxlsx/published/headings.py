"""Part headings as published pages really print them (docs/FORMAT.md §7).

:func:`gkxlsx.text.narrative.split_sections` finds the six headings on lines of their own.  Pages
copied by crawlers glue a heading to the text after it (``一、总体情况2019年，在省政府办公厅…``) or
before it (``…情况报告如下：一、总体情况…``, ``…000五、存在的主要问题…``), and write the titles
with small variations (``五、政府信息公开工作存在的主要问题及改进情况``, ``五、存在的主要问题及
整改措施``).  :func:`unglue` finds a part's number followed by a title that matches the form's
title or one of its known variants — compared after dropping the filler words and mapping the
synonyms of ``gkxlsx/data/extract.json`` (``headings``) — and puts it on a line of its own, so
that the sections are cut as if the page had kept its line breaks.  A numbered title followed by
a list separator (``一、总体情况；二、…`` in a preamble that lists the parts) is left alone.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from gkxlsx.form.datafiles import data_file
from gkxlsx.form.model import builtin_form_ids, load_form
from gkxlsx.text.narrative import SECTION_IDS, NormText, label_key

NUMERALS = "一二三四五六"


def _data() -> dict:
    return data_file("extract")["headings"]


@cache
def _replacements() -> tuple[tuple[str, str], ...]:
    """The synonyms (in order), then the filler words (longest first) → ""."""
    d = _data()
    fillers = sorted(d["fillers"], key=len, reverse=True)
    return tuple((a, b) for a, b in d["synonyms"]) + tuple((f, "") for f in fillers)


def title_key(text: str) -> str:
    """A part title as compared: normalised, synonyms mapped, filler words dropped."""
    s = label_key(text)
    for a, b in _replacements():
        s = s.replace(a, b)
    return s


@cache
def title_keys() -> dict[str, frozenset[str]]:
    """{section id: the keys of its title and variants} over the built-in forms."""
    out: dict[str, set[str]] = {sid: set() for sid in SECTION_IDS}
    for fid in builtin_form_ids():
        for sid, title in load_form(fid).section_titles.items():
            if sid in out:
                out[sid].add(title_key(re.sub(f"^[{NUMERALS}]、", "", title)))
    for sid, variants in _data()["variants"].items():
        out[sid] |= {title_key(v) for v in variants}
    return {sid: frozenset(k for k in keys if k) for sid, keys in out.items()}


@cache
def _start_re() -> re.Pattern:
    return re.compile(rf"(?<![{NUMERALS}七八九十])([{NUMERALS}])\s*[、.．:：]\s*")


def match_title(norm: str, start: int) -> tuple[str, int] | None:
    """The part heading whose number is at ``start``: (section id, end of the title) or None."""
    m = _start_re().match(norm, start)
    if not m:
        return None
    sid = SECTION_IDS[NUMERALS.index(m.group(1))]
    line_end = norm.find("\n", m.end())
    stop = min(len(norm) if line_end < 0 else line_end, m.end() + _data()["max_len"])
    n = _title_len(sid, norm[m.end() : stop])
    return None if n is None else (sid, m.end() + n)


@lru_cache(maxsize=4096)
def _title_len(sid: str, text: str) -> int | None:
    """The length of the longest start of ``text`` (two characters or more) that is a title of the
    part ``sid``.  Cached: the row labels of the tables (“一、本年新收…”) recur in every report."""
    keys = title_keys()[sid]
    for end in range(len(text), 1, -1):
        if title_key(text[:end]) in keys:
            return end
    return None


def unglue(nt: NormText) -> NormText:
    """``nt`` with line breaks put around part headings glued to other text."""
    norm = nt.norm
    d = _data()
    cuts: set[int] = set()
    for m in _start_re().finditer(norm):
        a = m.start()
        line_start = norm.rfind("\n", 0, a) + 1
        before = norm[line_start:a].strip(" \t#*>|")
        line_end = norm.find("\n", a)
        line_end = len(norm) if line_end < 0 else line_end
        hit = match_title(norm, a)
        if hit is None:
            continue
        _sid, end = hit
        rest = norm[end:line_end]
        lead = rest.lstrip(" \t")
        if (lead[:1] and lead[0] in d["list_separators"]) or (before and before[-1] in d["list_separators"]):
            continue  # a preamble listing the parts
        if not before and not lead.strip(d["trailing"] + " \t"):
            continue  # already a line of its own
        if before:
            cuts.add(a)
        if lead.strip(d["trailing"] + " \t"):
            k = end
            while k < line_end and norm[k] in d["trailing"] + " \t":
                k += 1
            cuts.add(k)
    if not cuts:
        return nt
    disp = nt.display
    out_d, out_n = [], []
    prev = 0
    for c in sorted(cuts):
        out_d.append(disp[prev:c])
        out_n.append(norm[prev:c])
        out_d.append("\n")
        out_n.append("\n")
        prev = c
    out_d.append(disp[prev:])
    out_n.append(norm[prev:])
    return NormText("".join(out_d), "".join(out_n))


__all__ = ["match_title", "title_key", "title_keys", "unglue"]
