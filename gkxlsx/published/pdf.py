"""A PDF's text with its tables read along their ruling lines.

Published reports are mostly PDFs printed from Word or WPS (or converted by LibreOffice): their
tables have ruling lines, and the lines say which number sits in which cell — what ``pdftotext
-layout`` loses (wrapped labels, merged cells, columns that drift).  pdfplumber (pure Python, on
pdfminer.six) finds the tables by those lines and gives each cell's text, ``None`` for the covered
part of a merged cell.  The page is read from top to bottom: the text between tables as lines, each
table one cell per line (:mod:`gkxlsx.published.tables`), so that the extraction parser reads it as
it reads a Word document.  Page numbers and footers outside the tables are dropped; a table that
continues on the next page loses the header it prints again.

:func:`pdf_to_text` returns ``None`` when pdfplumber is not installed, the file cannot be parsed or
no ruled table is found; the caller then falls back to ``pdftotext -layout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gkxlsx.published.tables import Grid, drop_repeated_header, flatten_one, is_bare_number, is_page_mark

# pdfplumber's table settings: ruling lines only (text alignment would invent columns in prose);
# lines a little apart still join (Word draws a cell border as two strokes at some zooms)
TABLE_SETTINGS: dict[str, Any] = {
    "vertical_strategy": "lines",
    "horizontal_strategy": "lines",
    "snap_tolerance": 3,
    "join_tolerance": 3,
    "intersection_tolerance": 3,
}
MAX_PAGES = 200


def available() -> bool:
    try:
        import pdfplumber  # noqa: F401
    except ImportError:
        return False
    return True


_END = tuple("。：:；;！!？?")


def _size(line: dict) -> float:
    return max((c.get("size", 0) for c in line.get("chars", ())), default=0) or 10.0


def _text_lines(page: Any, top: float, bottom: float) -> list[str]:
    """The lines of a band of the page, a paragraph's wrapped lines joined: a line that reaches
    the right margin and does not end a sentence goes on in the next one of the same size, and a
    title printed larger than the text on two or three lines is one line."""
    if bottom - top < 1:
        return []
    region = page.crop((0, max(0, top), page.width, min(page.height, bottom)), strict=False)
    raw = [ln for ln in region.extract_text_lines(x_tolerance=1.5, y_tolerance=3) if ln["text"].strip()]
    if not raw:
        return []
    right = max(ln["x1"] for ln in raw)
    sizes = sorted(_size(ln) for ln in raw)
    body = sizes[len(sizes) // 2]
    out: list[str] = []
    prev: dict | None = None
    for ln in raw:
        text = ln["text"].strip()
        join = False
        if prev is not None and abs(_size(prev) - _size(ln)) < 0.5 and not is_page_mark(text):
            big = _size(ln) > body * 1.15
            wrapped = prev["x1"] >= right - 1.5 * _size(prev) and not out[-1].endswith(_END)
            join = big or wrapped
        if join:
            out[-1] += text
        else:
            out.append(text)
        prev = ln
    return out


def pdf_pages(path: Path) -> list[list[tuple[str, Any]]] | None:
    """Per page, its blocks in reading order: ("text", [lines]) and ("table", grid)."""
    try:
        import pdfplumber
    except ImportError:
        return None
    pages: list[list[tuple[str, Any]]] = []
    try:
        with pdfplumber.open(str(path)) as pdf:
            for page in pdf.pages[:MAX_PAGES]:
                blocks: list[tuple[str, Any]] = []
                tables = sorted(page.find_tables(TABLE_SETTINGS), key=lambda t: t.bbox[1])
                y = 0.0
                for t in tables:
                    x0, top, x1, bottom = t.bbox
                    blocks.append(("text", _text_lines(page, y, top)))
                    grid = [list(r) for r in t.extract(x_tolerance=1.5, y_tolerance=3)]
                    if grid and max(len(r) for r in grid) >= 2:
                        blocks.append(("table", grid))
                    else:  # a one-column box (a framed paragraph): its text
                        blocks.append(("text", _text_lines(page, top, bottom)))
                    y = bottom
                blocks.append(("text", _text_lines(page, y, page.height)))
                pages.append(blocks)
    except Exception:  # pdfminer raises many kinds on damaged files; pdftotext reports them
        return None
    return pages


def _drop_page_marks(pages: list[list[tuple[str, Any]]]) -> None:
    """Page numbers and footers: a page-mark line anywhere outside the tables, a bare number as
    the first or last line of a page."""
    for blocks in pages:
        for kind, content in blocks:
            if kind == "text":
                content[:] = [ln for ln in content if not is_page_mark(ln)]
        texts = [c for k, c in blocks if k == "text" and c]
        if texts and blocks[-1][0] == "text" and blocks[-1][1] and is_bare_number(blocks[-1][1][-1]):
            blocks[-1][1].pop()
        if texts and blocks[0][0] == "text" and blocks[0][1] and is_bare_number(blocks[0][1][0]):
            blocks[0][1].pop(0)


def pdf_to_text(path: str | Path) -> str | None:
    """The PDF's text, its ruled tables one cell per line (``None``: no pdfplumber, an unreadable
    file, no text or no ruled table — use pdftotext)."""
    pages = pdf_pages(Path(path))
    if not pages or not any(k == "table" for blocks in pages for k, _ in blocks):
        return None
    _drop_page_marks(pages)
    lines: list[str] = []
    head: Grid | None = None  # the first part of the table the next page's first table may continue
    for blocks in pages:
        first_on_page = True
        for kind, content in blocks:
            if kind == "text":
                lines += content
                if content:
                    head = None
                continue
            grid: Grid = content
            if head is not None and first_on_page:
                grid = drop_repeated_header(head, grid)
            else:
                head = content
            first_on_page = False
            lines += flatten_one(grid)
    text = "\n".join(lines)
    return text if text.strip() else None


__all__ = ["TABLE_SETTINGS", "available", "pdf_pages", "pdf_to_text"]
