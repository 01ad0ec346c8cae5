"""Tables recovered from a page layout (a PDF's ruled tables, a Markdown pipe table written by an
OCR or PDF converter) → the one-cell-per-line text the extraction parser reads, the shape
:func:`gkxlsx.published.extract.docx_to_text` gives a Word table.

A grid is a list of rows, a row a list of cells: a string (``""`` for an empty cell) or ``None``
for the part of a merged cell that is not its first.  What the flattening does:

* the leading *label columns* (more text than numbers in them) keep only their text: an empty or
  repeated label cell is the rest of a merged cell, not a value;
* in a *body row* (its value cells hold numbers, value marks or nothing) every empty value cell is
  written as the blank mark, so that a missing number is missing, never filled by its neighbour;
* header rows keep their text only (a header repeated into each spanned cell is written once);
* the rows a table repeats at the top of a new page (its header) are dropped, so that the header
  does not land between two rows of data.

Page marks — “—3—”, “- 3 -”, “第3页 共5页”, a bare page number at the foot of a page — are
recognised by :func:`is_page_mark`.  Nothing here reads or places a number: that stays with the
parser, which places numbers only when their count leaves no doubt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from gkxlsx.form.datafiles import data_file

BLANK = "\ue000"  # an empty table cell (the same mark as gkxlsx.published.extract.BLANK)

Grid = list[list[str | None]]

_PAGE_MARK = re.compile(
    r"^\s*(?:[—\-－–~～_]+\s*\d{1,3}\s*[—\-－–~～_]+|第\s*\d{1,3}\s*页(?:\s*[,，/]?\s*共\s*\d{1,3}\s*页)?"
    r"|\d{1,3}\s*/\s*\d{1,3}|(?:page|Page|PAGE)\s*\d{1,3}(?:\s*of\s*\d{1,3})?)\s*$"
)
_BARE_NUMBER = re.compile(r"^\s*\d{1,3}\s*$")
_NUMBERISH = re.compile(r"^[+\-]?(?:\d+(?:\.\d+)?|\d{1,3}(?:,\d{3})+)\s*\S{0,2}$")


def is_page_mark(line: str) -> bool:
    """A page number or page footer line (“—3—”, “- 3 -”, “第3页”, “3/5”)."""
    return bool(_PAGE_MARK.match(line))


def is_bare_number(line: str) -> bool:
    return bool(_BARE_NUMBER.match(line))


@cache
def _marks() -> frozenset[str]:
    d = data_file("extract")
    return frozenset(d["zero_marks"]) | frozenset(m for m in d["blank_marks"] if m)


def clean(cell: str | None) -> str | None:
    """A cell's text with its wrapped lines joined (CJK lines without a space)."""
    if cell is None:
        return None
    parts = [p.strip() for p in str(cell).replace("\r", "\n").split("\n")]
    out = ""
    for p in parts:
        if not p:
            continue
        if out and out[-1].isascii() and out[-1].isalpha() and p[0].isascii() and p[0].isalpha():
            out += " "
        out += p
    return out.replace("\u3000", " ").strip()


def value_like(cell: str | None) -> bool:
    """A number, a value mark (“/”, “—”, “无”) or an empty cell."""
    if cell is None:
        return False
    s = cell.strip().strip("*").strip()
    return not s or s in _marks() or s == BLANK or bool(_NUMBERISH.match(s.replace(" ", "")))


def _numeric(cell: str | None) -> bool:
    return bool(cell) and value_like(cell)


def _label_columns(rows: Sequence[Sequence[str | None]]) -> int:
    """How many leading columns hold labels: in the rows that hold numbers, more text cells than
    numbers in them."""
    data = [r for r in rows if any(_numeric(c) for c in r)]
    width = max((len(r) for r in data), default=0)
    k = 0
    for c in range(width):
        text = nums = 0
        for r in data:
            v = r[c] if c < len(r) else None
            if not v:
                continue
            if value_like(v):
                nums += 1
            else:
                text += 1
        if text > nums:
            k += 1
        else:
            break
    return k


def _same(a: Sequence[str | None], b: Sequence[str | None]) -> bool:
    return [x or "" for x in a] == [x or "" for x in b] and any(a)


def flatten(tables: Sequence[Grid]) -> list[str]:
    """Tables (in reading order; a table that continues one on the previous page follows it) →
    lines, one cell per line."""
    out: list[str] = []
    for grid in tables:
        out += flatten_one(grid)
    return out


def drop_repeated_header(prev: Grid, grid: Grid) -> Grid:
    """``grid`` without the leading rows it repeats from the start of ``prev`` (a table continued
    on a new page with its header printed again)."""
    n = 0
    while n < len(grid) and n < len(prev) and _same(prev[n], grid[n]) and not _is_body(prev[n], _label_columns(prev)):
        n += 1
    return grid[n:]


def _is_body(row: Sequence[str | None], k: int) -> bool:
    """A data row: its value cells hold numbers, value marks or nothing, and one at least holds
    something."""
    present = [v for v in row[k:] if v is not None]
    return any(present) and all(value_like(v) for v in present)


def _header_width(row: Sequence[str | None]) -> int:
    """How far a header row reaches: one past its last cell that is neither empty nor the
    cell on its left repeated (a converter writes a spanned header into every cell it spans)."""
    w = 0
    for i, c in enumerate(row):
        if c and (i == 0 or c != row[i - 1]):
            w = i + 1
    return w


def flatten_one(grid: Grid) -> list[str]:
    rows = [[clean(c) for c in r] for r in grid]
    k = _label_columns(rows)
    out: list[str] = []
    above: list[str | None] = [None] * k
    width = 0  # how far the current header block reaches (0: not known)
    in_header = False
    for r in rows:
        if not any(c for c in r):
            continue
        body = _is_body(r, k)
        if not body:
            width = max(width, _header_width(r)) if in_header else _header_width(r)
            in_header = True
        else:
            in_header = False
        prev_cell = None
        for c, cell in enumerate(r):
            if cell is None:
                continue
            if c < k:
                # a label cell: an empty one or the same text as the cell above or to the left is
                # the rest of a merged cell (converters repeat or empty them)
                if cell and cell != above[c] and cell != prev_cell:
                    out.append(cell)
                if cell:
                    above[c] = cell
                prev_cell = cell
                continue
            if body:
                if cell or not width or c < width:
                    out.append(cell if cell else BLANK)
            elif cell and cell != prev_cell:
                out.append(cell)
            prev_cell = cell
        if not body:
            above = [None] * k
    return out


__all__ = ["BLANK", "Grid", "clean", "drop_repeated_header", "flatten", "flatten_one", "is_page_mark", "value_like"]
