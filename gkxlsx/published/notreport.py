"""Is an extracted file a 政府信息公开工作年度报告 at all?

A roster (``名单.csv``), a notice about the reports (``关于做好…年度报告…工作的通知``) or any other
table read as a report gives 200 “missing” cells and a format it does not have.  :func:`verdict`
tells such files apart — no table cell read, and neither a report title nor the parts' headings —
and :func:`finding` gives the one finding (E-EXT-NOT-REPORT, with what the file looks like
instead) that replaces all the consequences.  The patterns are in ``gkxlsx/data/extract.json``
(``not_report``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from gkxlsx.findings import Finding, make_finding
from gkxlsx.form.datafiles import compiled, data_file

if TYPE_CHECKING:  # pragma: no cover
    from gkxlsx.published.extract import Extraction


def _data() -> dict[str, Any]:
    return data_file("extract")["not_report"]


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.split("\n") if ln.strip()), "")


def table_shape(text: str) -> tuple[int, int, str] | None:
    """(rows, columns, first line) when the text is a delimited table (CSV, tab- or “|”-separated)."""
    d = _data()
    lines = [ln for ln in text.split("\n") if ln.strip()][: d["table_lines"]]
    if len(lines) < d["table_min_rows"]:
        return None
    for sep in d["table_separators"]:
        counts = Counter(ln.count(sep) for ln in lines)
        n, times = counts.most_common(1)[0]
        if n >= 1 and times >= d["table_share"] * len(lines):
            return len([ln for ln in text.split("\n") if ln.strip()]), n + 1, lines[0].strip()
    return None


def verdict(ex: Extraction) -> str | None:
    """None for a report; else what the file looks like: ``table``, ``notice`` or ``other``."""
    d = _data()
    doc = ex.document
    text = ex.full_text
    notice = compiled(d["notice"])
    title = ex.title or _first_line(text)
    is_notice = bool(notice.search(title.strip()))
    if ex.counts()["read"] > 0 and not is_notice:
        return None
    headings = len(doc.headings) if doc is not None else 0
    if not is_notice and (ex.title or headings >= d["min_headings"]):
        return None
    if ex.counts()["read"] > 0:  # numbers under the headings of a notice's example table
        return None
    if is_notice:
        return "notice"
    if table_shape(text) is not None:
        return "table"
    return "other"


def finding(ex: Extraction, kind: str) -> Finding:
    ctx: dict[str, Any] = {}
    variant: str | None = None
    if kind == "table":
        shape = table_shape(ex.full_text)
        rows, cols, head = shape if shape is not None else (0, 0, "")
        variant = "table"
        ctx = {"rows": rows, "cols": cols, "head": head[:60]}
    elif kind == "notice":
        variant = "notice"
        ctx = {"title": (ex.title or _first_line(ex.full_text))[:80]}
    return make_finding("E-EXT-NOT-REPORT", variant=variant, locations=("全文",), **ctx)


__all__ = ["finding", "table_shape", "verdict"]
