"""Markdown made from a published PDF by an OCR or PDF-to-Markdown converter → the text the
extraction parser reads.

What such files look like: the tables as pipe tables (a merged cell written empty or repeated
into every cell it spans; a table cut at each page break, its header printed again or not; some
row labels lost), the page numbers and running headers of the PDF mixed into the text and between
the parts of a table, line breaks inside a cell as ``<br>``.  This module

* drops page marks (“—3—”, “第3页”, a bare page number next to a table) and running headers (a short
  line that comes back on several pages);
* joins the parts of a table cut by page breaks, without the header rows a part repeats;
* writes each table one cell per line (:func:`gkxlsx.published.tables.flatten_one`), empty data
  cells as the blank mark.

Rows whose label was lost stay unlabelled: the parser places them by order only when the count
of their numbers fits the rows exactly.  OCR confusions in labels are tolerated by the parser's
label matching (:mod:`gkxlsx.published.ocr`); numbers are never corrected.
"""

from __future__ import annotations

import re

from gkxlsx.published.tables import Grid, drop_repeated_header, flatten_one, is_bare_number, is_page_mark

_ROW = re.compile(r"^\s*\|.*\|\s*$")
_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BR = re.compile(r"<br\s*/?>", re.I)
_RUNNING_MAX = 40  # a running header is a short line


def has_pipe_tables(text: str) -> bool:
    """Whether the text holds a Markdown pipe table (a row followed by a separator row)."""
    lines = text.split("\n")
    return any(_ROW.match(a) and _SEP.match(b) for a, b in zip(lines, lines[1:]))


def _cells(line: str) -> list[str | None]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    parts = re.split(r"(?<!\\)\|", s)
    out: list[str | None] = []
    for p in parts:
        p = _BR.sub("\n", p.replace("\\|", "|"))
        p = re.sub(r"(\*\*|__)(.*?)\1", r"\2", p)
        out.append(p.strip())
    return out


def _is_table_line(line: str) -> bool:
    return bool(_ROW.match(line)) or bool(_SEP.match(line) and "|" in line)


def markdown_to_text(text: str) -> str:
    """Markdown with pipe tables → one cell per line for the tables, the rest as it is, without
    page marks and running headers."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    table = [_is_table_line(ln) for ln in lines]
    # running headers: a short non-table line printed again and again
    seen: dict[str, int] = {}
    for ln, t in zip(lines, table):
        s = ln.strip()
        if s and not t and len(s) <= _RUNNING_MAX:
            seen[s] = seen.get(s, 0) + 1
    drop = [False] * len(lines)
    first: set[str] = set()
    for i, (ln, t) in enumerate(zip(lines, table)):
        s = ln.strip()
        if t or not s:
            continue
        if is_page_mark(s):
            drop[i] = True
        elif seen.get(s, 0) >= 2 and not s.endswith(("。", "：", ":")):
            if s in first:
                drop[i] = True
            first.add(s)

    def neighbour_is_table(i: int, step: int) -> bool:
        j = i + step
        while 0 <= j < len(lines) and (not lines[j].strip() or drop[j]):
            j += step
        return 0 <= j < len(lines) and table[j]

    for i, ln in enumerate(lines):  # a bare page number next to a table (a page break in it)
        if (
            not table[i]
            and not drop[i]
            and is_bare_number(ln)
            and (neighbour_is_table(i, -1) or neighbour_is_table(i, 1))
        ):
            drop[i] = True

    out: list[str] = []
    i = 0
    n = len(lines)
    while i < n:
        if drop[i]:
            i += 1
            continue
        if not table[i]:
            out.append(lines[i])
            i += 1
            continue
        # a table, and the parts that continue it after page marks and blank lines
        grid: Grid = []
        head: Grid | None = None
        while i < n:
            part: Grid = []
            while i < n and table[i]:
                if not _SEP.match(lines[i]):
                    part.append(_cells(lines[i]))
                i += 1
            if head is None:
                head = part
                grid += part
            else:
                grid += drop_repeated_header(head, part)
            j = i
            while j < n and (not lines[j].strip() or drop[j]):
                j += 1
            if j < n and table[j] and len(_cells(lines[j])) == len(head[0] if head else ()):
                i = j
                continue
            break
        out += flatten_one(grid)
    return "\n".join(out)


__all__ = ["has_pipe_tables", "markdown_to_text"]
