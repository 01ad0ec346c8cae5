"""Render the publishable report: HTML, Markdown, plain text, Word (and PDF through LibreOffice).

Everything a reader sees is generated from the form definition and the keyed data, never typed:
the title ``{单位名称}{年度}年政府信息公开工作年度报告``, the preamble with the legal basis and the
correct citation of the format notice (〔2021〕30号, or 〔2019〕60号 for 2019–2020 data), the
statistics period, the six canonical headings, every table (labels and official merges computed
from the form's header trees), the 信息处理费 sentence of section 六 and the sign-off.  Only the
narrative paragraphs come from the unit, paragraph breaks kept and escaped.

The pipeline::

    Report ──► report_context() ──► Jinja templates (templates/report.*.j2)
                  │   title, preamble, sections[blocks], tables (grids with rowspan/colspan,
                  │   and flat label paths for Markdown), sign-off, draft notes
                  └── per-form table structure, computed once and cached

Word is produced by Jinja as well: ``report.docx.xml.j2`` renders the WordprocessingML body
(real ``gridSpan``/``vMerge`` merges, ``tblHeader`` rows), ``docx_styles.xml.j2`` the 公文
typography, ``docx_footer.xml.j2`` the “— 1 —” page numbers; :func:`render_docx` zips them with
fixed package parts into a deterministic .docx.  PDF converts that .docx with LibreOffice.

Rendering refuses data with unresolved errors (:class:`RenderRefused`, a Chinese message listing
the blocking findings) unless ``draft=True``, which stamps every page 草稿.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from gkxlsx.findings import Finding, make_finding, severity_counts
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.layout import stack_tables
from gkxlsx.form.model import Form, FormError, Section, Table, form_for_year, load_form
from gkxlsx.form.report import Report
from gkxlsx.fsutil import atomic_path, write_bytes, write_text
from gkxlsx.rules.engine import INCOMPLETE, compute_derived
from gkxlsx.rules.evaluate import check
from gkxlsx.rules.interpret import as_number, when_holds

FORMATS = ("html", "md", "txt", "docx", "pdf")
DRAFT_MARK = "草稿"
BLANK_DATE = "\u3000\u3000年\u3000\u3000月\u3000\u3000日"
FEE_HEADING = "信息处理费收取情况"
OTHER_HEADING = "其他事项"
NO_OTHER = "本年度无其他需要报告的事项。"
ZH_NUM = "一二三四五六七八九十"
_SUBNUM_RE = re.compile(r"^[（(][一二三四五六七八九十]+[）)]\s*")


class RenderError(Exception):
    """Rendering failed for a reason the user can fix (message in Chinese)."""


class PdfUnavailable(RenderError):
    """No PDF can be made on this machine (LibreOffice, or its Writer component, is not installed):
    trying again for another report is pointless.  The message says what to install."""


class PdfFailed(RenderError):
    """The report's other formats were written (``written``), its PDF was not (the message says why);
    ``unavailable``: no PDF can be made on this machine at all (see :class:`PdfUnavailable`)."""

    def __init__(self, message: str, written: Sequence[Path], unavailable: bool = False):
        super().__init__(message)
        self.written = list(written)
        self.unavailable = unavailable


class RenderRefused(RenderError):
    """The data have unresolved errors: a formal report must not be produced from them."""

    def __init__(self, report: Report, findings: Sequence[Finding]):
        self.report = report
        self.findings = tuple(findings)
        who = f"{report.unit_name}{report.year}年"
        n = severity_counts(self.findings)["error"]
        lines = [f"不能生成正式报告：{who}的数据有 {n} 个错误尚未解决："]
        for i, f in enumerate(self.findings, 1):
            lines.append(f"  {i}. [{f.rule_id}] {f.text()}")
        lines.append("请修正数据后重新导入；如只需内部审阅，可加 --draft 生成每页标有“草稿”的草稿。")
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Chinese-aware filters


def _to_decimal(v: Any) -> Decimal | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, Decimal):
        return v
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, str):
        try:
            return Decimal(v.strip().replace(",", ""))
        except InvalidOperation:
            return None
    return None


def zh_date(v: Any) -> str:
    """2026-01-15 (date, datetime or ISO text) → 2026年1月15日; anything else is returned as text."""
    if v is None or v == "":
        return ""
    d: dt.date | None = None
    if isinstance(v, dt.datetime):
        d = v.date()
    elif isinstance(v, dt.date):
        d = v
    elif isinstance(v, str):
        m = re.fullmatch(r"\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?\s*", v)
        if m:
            try:
                d = dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                d = None
    if d is None:
        return str(v)
    return f"{d.year}年{d.month}月{d.day}日"


def wan(v: Any) -> str:
    """A 万元 amount as entered, without padding: 0.25, 12, 1.5."""
    d = _to_decimal(v)
    if d is None:
        return "" if v is None else str(v)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def thousands(v: Any) -> str:
    """12345 → 12,345; 1234.5 → 1,234.5."""
    d = _to_decimal(v)
    if d is None:
        return "" if v is None else str(v)
    if d == d.to_integral_value():
        return f"{int(d):,}"
    s = format(d.normalize(), "f")
    whole, frac = s.split(".")
    return f"{int(whole):,}.{frac}" if not whole.startswith("-") else f"-{int(whole[1:]):,}.{frac}"


def yuan(v: Any) -> str:
    """An amount in 元: whole amounts plainly (300), others with two decimals (12.50)."""
    d = _to_decimal(v)
    if d is None:
        return "" if v is None else str(v)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.quantize(Decimal("0.01")), "f")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(v: Any) -> str:
    """Escape text for Markdown so that unit-typed text cannot inject markup or HTML."""
    s = "" if v is None else str(v)
    s = s.replace("&", "&amp;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    # a paragraph starting with "1. " or "- " would become a list
    s = re.sub(r"^(\d+)\.(\s)", r"\1\\.\2", s)
    s = re.sub(r"^([-+])(\s)", r"\\\1\2", s)
    return s


FILTERS = {"zh_date": zh_date, "wan": wan, "thousands": thousands, "yuan": yuan, "md": md_escape}


# --------------------------------------------------------------------------------------------
# per-form table structure (computed once per form)


@dataclass(frozen=True)
class Box:
    """A printed table cell (possibly merged) in a section's grid."""

    row: int
    col: int
    rows: int
    cols: int
    role: str  # caption | corner | header | rowlabel | num
    text: str = ""
    key: str | None = None
    derived: bool = False
    kind: str = "int"  # int | decimal | signed (value formatting of num cells)


@dataclass(frozen=True)
class FlatTable:
    """One official table flattened for Markdown: full label paths instead of merges."""

    caption: str | None
    corner: str | None  # header of the label column (None: no label column, section 四)
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int, ...]], ...]  # (row label path, indexes of the row's boxes)


@dataclass(frozen=True)
class Grid:
    """One printed table.  Section 二's sub-tables are stacked in one grid, as officially printed."""

    width: int
    height: int
    boxes: tuple[Box, ...]
    rows: tuple[tuple[int, ...], ...]  # per grid row: indexes of the boxes starting there
    slots: tuple[tuple[tuple[int, bool], ...], ...]  # per grid row: (box index, starts here) — Word
    header_rows: int  # leading rows to repeat on every page (0: none)
    widths: tuple[float, ...]  # relative column widths, sum 1
    flat: tuple[FlatTable, ...]


def _cell_kind(form: Form, key: str) -> str:
    vt = form.cells[key].type
    if vt.kind == "decimal":
        return "decimal"
    if vt.min is None or vt.min < 0:
        return "signed"
    return "int"


def _grid(form: Form, tables: Sequence[Table]) -> Grid:
    """The printed grid, from the same geometry as the workbook (:func:`gkxlsx.form.layout.stack_tables`)."""
    placed, where, width, top = stack_tables(tables)
    max_ld = max(t.label_depth for t in tables)
    boxes: list[Box] = []
    index: dict[str, int] = {}
    for pb in placed:
        if pb.key is not None:
            index[pb.key] = len(boxes)
            boxes.append(
                Box(
                    pb.row,
                    pb.col,
                    pb.rows,
                    pb.cols,
                    "num",
                    key=pb.key,
                    derived=pb.role == "derived",
                    kind=_cell_kind(form, pb.key),
                )
            )
        else:
            boxes.append(Box(pb.row, pb.col, pb.rows, pb.cols, pb.role, pb.text or ""))
    flats: list[FlatTable] = []
    for t in tables:
        flat_rows = tuple(("·".join(rl.labels), tuple(index[t.key(rl, cl)] for cl in t.columns)) for rl in t.rows)
        # column label paths; a root spanning every column (申请人情况) adds nothing
        roots_all = {id(n) for n in t.col_tree if len(t.col_tree) == 1 and not n.is_leaf}
        cols = tuple("·".join(n.label for n in cl.path if n.label and id(n) not in roots_all) for cl in t.columns)
        flats.append(FlatTable(t.caption, (t.corner or "") if t.label_depth else None, cols, flat_rows))
    height = top
    # index boxes by row start and by covered grid positions
    cover: dict[tuple[int, int], int] = {}
    for i, b in enumerate(boxes):
        for rr in range(b.row, b.row + b.rows):
            for cc in range(b.col, b.col + b.cols):
                if (rr, cc) in cover:
                    raise FormError(f"表格布局重叠：第 {rr + 1} 行第 {cc + 1} 列")
                cover[(rr, cc)] = i
    rows = []
    slots = []
    for rr in range(height):
        starts = tuple(sorted((i for i, b in enumerate(boxes) if b.row == rr), key=lambda i: boxes[i].col))
        rows.append(starts)
        line = []
        cc = 0
        while cc < width:
            at = cover.get((rr, cc))
            if at is None:
                raise FormError(f"表格布局缺格：第 {rr + 1} 行第 {cc + 1} 列")
            b = boxes[at]
            line.append((at, b.row == rr))
            cc = b.col + b.cols
        slots.append(tuple(line))
    header_rows = (1 if tables[0].caption else 0) + tables[0].header_depth if len(tables) == 1 else 0
    return Grid(
        width, height, tuple(boxes), tuple(rows), tuple(slots), header_rows, _widths(width, max_ld), tuple(flats)
    )


# share of the printed width taken by the label columns, and their relative weights
_LABEL_SHARE = {0: 0.0, 1: 0.31, 2: 0.44, 3: 0.49}
_LABEL_WEIGHTS = {1: (1.0,), 2: (0.35, 0.65), 3: (0.15, 0.29, 0.56)}


def _widths(width: int, ld: int) -> tuple[float, ...]:
    share = _LABEL_SHARE.get(ld, 0.5)
    lw = _LABEL_WEIGHTS.get(ld, tuple(1.0 / ld for _ in range(ld)) if ld else ())
    data = width - ld
    out = [share * w for w in lw] + [(1 - share) / data] * data
    return tuple(out)


@dataclass(frozen=True)
class FormStructure:
    form: Form
    grids: Mapping[str, Grid]  # section id → grid


@lru_cache(maxsize=16)
def form_structure(form: Form) -> FormStructure:
    grids = {s.id: _grid(form, s.tables) for s in form.sections if s.tables}
    return FormStructure(form, grids)


# --------------------------------------------------------------------------------------------
# the report context (what the templates see)


class CellView:
    """A printed cell of one report: ``text``, ``rowspan``, ``colspan``, ``role``, ``key``…"""

    __slots__ = ("text", "rowspan", "colspan", "role", "key", "derived", "blank", "col", "width")

    def __init__(self, b: Box, text: str, blank: bool, width: float):
        self.text = text
        self.rowspan = b.rows
        self.colspan = b.cols
        self.role = b.role
        self.key = b.key
        self.derived = b.derived
        self.blank = blank
        self.col = b.col
        self.width = width  # relative width of the merged cell (Word needs it per cell)

    @property
    def numeric(self) -> bool:
        return self.role == "num"

    @property
    def header(self) -> bool:
        return self.role in ("caption", "corner", "header")

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"CellView({self.role}, {self.text!r}, {self.rowspan}x{self.colspan})"


class TableView:
    """A grid filled with one report's numbers."""

    __slots__ = ("rows", "slots", "header_rows", "widths", "width", "flat")

    def __init__(self, rows, slots, header_rows, widths, width, flat):
        self.rows = rows  # list of rows of CellView (HTML order: merged cells once)
        self.slots = slots  # list of rows of (CellView, starts_here) covering every grid column
        self.header_rows = header_rows
        self.widths = widths
        self.width = width
        self.flat = flat  # list of dicts: caption, corner, columns, rows [(label, [texts])]


def fmt_cell(v: Any, kind: str) -> str:
    """A table number as printed: plain integers, 万元 without padding, explicit sign for 增/减."""
    n = as_number(v)
    if n is None:
        return "" if v is None else str(v)
    if kind == "decimal":
        return wan(n)
    if isinstance(n, Decimal):
        s = wan(n)  # a whole Decimal prints as an integer
        if kind == "signed" and not s.startswith("-") and s != "0":
            return "+" + s
        return s
    if kind == "signed" and n > 0:
        return f"+{n}"
    return str(n)


def _table_view(grid: Grid, values: Mapping[str, Any], draft: bool) -> TableView:
    views = []
    for b in grid.boxes:
        w = sum(grid.widths[b.col : b.col + b.cols])
        if b.role == "num":
            v = values.get(b.key)  # type: ignore[arg-type]
            blank = as_number(v) is None
            text = (INCOMPLETE if draft else "") if blank else fmt_cell(v, b.kind)
            views.append(CellView(b, text, blank, w))
        else:
            views.append(CellView(b, b.text, False, w))
    rows = [[views[i] for i in r] for r in grid.rows]
    slots = [[(views[i], s) for i, s in line] for line in grid.slots]
    flat = [
        {
            "caption": ft.caption,
            "corner": ft.corner,
            "columns": list(ft.columns),
            "rows": [(label, [views[i].text for i in idx]) for label, idx in ft.rows],
        }
        for ft in grid.flat
    ]
    return TableView(rows, slots, grid.header_rows, list(grid.widths), grid.width, flat)


def paragraphs(text: Any) -> list[str]:
    """Unit-typed text → paragraphs: one per non-empty line, surrounding (full-width) spaces removed."""
    if text is None:
        return []
    s = str(text).replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for line in s.split("\n"):
        line = line.strip(" \t\u3000\u00a0")
        if line:
            out.append(line)
    return out


def _section_body(title: str) -> str:
    return re.sub(r"^[一二三四五六七八九十]+、", "", title)


def fee_sentence(values: Mapping[str, Any], form: Form) -> str | None:
    """The 信息处理费 sentence of section 六, built from the three numbers (None: not in this format)."""
    keys = ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected")
    if not all(k in form.fields for k in keys):
        return None
    n, amount, got = (as_number(values.get(k)) for k in keys)
    if n is None or amount is None or got is None:
        return None
    if n == 0 and amount == 0 and got == 0:
        return "本年度未发出政府信息公开信息处理费收费通知，未收取信息处理费。"
    head = f"本年度依据《政府信息公开信息处理费管理办法》发出收费通知{n}件，通知金额{yuan(amount)}元，"
    if got == 0:
        return head + "未收取信息处理费。"
    return head + f"实际收取信息处理费{yuan(got)}元。"


def _subitems(items: list[tuple[str, list[str]]]) -> list[dict]:
    """Blocks of numbered sub-items（一）（二）… — numbers follow what is printed, so none is skipped."""
    blocks: list[dict] = []
    if len(items) == 1:
        return [{"type": "paragraph", "text": p} for p in items[0][1]]
    for i, (label, paras) in enumerate(items):
        num = ZH_NUM[i] if i < len(ZH_NUM) else str(i + 1)
        blocks.append({"type": "heading", "level": 2, "text": f"（{num}）{label}"})
        blocks.extend({"type": "paragraph", "text": p} for p in paras)
    return blocks


def _text_blocks(section: Section, values: Mapping[str, Any], form: Form, draft: bool) -> list[dict]:
    lead: list[str] = []
    items: list[tuple[str, list[str]]] = []
    body = _section_body(section.title)
    fee = fee_sentence(values, form) if section.id == "s6" else None
    if section.id == "s6" and any(f.key == "s6.fee_notices" for f in section.fields):
        if fee is None and draft:
            fee = f"（{INCOMPLETE}：信息处理费三项数字）"
        if fee:
            items.append((FEE_HEADING, [fee]))
    for f in section.fields:
        if f.type.kind != "text":
            continue
        paras = paragraphs(values.get(f.key))
        if not paras:
            continue
        if f.key.endswith(".overview"):
            lead.extend(paras)
            continue
        label = _SUBNUM_RE.sub("", f.label).strip()
        if label == body:
            label = OTHER_HEADING
        items.append((label, paras))
    blocks = [{"type": "paragraph", "text": p} for p in lead]
    blocks.extend(_subitems(items))
    if not blocks and section.id == "s6":
        blocks.append({"type": "paragraph", "text": NO_OTHER})
    return blocks


def completeness_findings(
    report: Report, *, texts: bool = True, known: Collection[str] = (), aggregate: bool = False
) -> list[Finding]:
    """Preconditions of printing: every table cell is a number, every required text is written
    (``texts=False`` for a roll-up, which has numbers only).  Cells in ``known`` — those an error
    finding already points at — are left out: one problem is counted once.  ``aggregate``: a
    roll-up's texts are the collecting office's own, written in its narrative file — the fix says so."""
    form, values = report.form, report.values
    out: list[Finding] = []
    for s in form.sections:
        missing = [k for k in form.section_entry_keys(s.id) if as_number(values.get(k)) is None and k not in known]
        if missing:
            names = "、".join(f"“{form.cells[k].label}”" for k in missing[:5])
            more = f"等 {len(missing)} 个单元格" if len(missing) > 5 else ""
            out.append(
                make_finding(
                    "E-CELL-EMPTY",
                    variant="render_table",
                    section=s.title,
                    names=names,
                    more=more,
                    instance=f"E-CELL-EMPTY[{s.id}]",
                    keys=tuple(missing),
                )
            )
        for f in s.fields:
            if not f.required or f.key in known or when_holds(f.when, report.unit) is not True:
                continue
            if not texts and f.type.kind == "text":
                continue
            v = values.get(f.key)
            empty = (as_number(v) is None) if f.type.numeric else not paragraphs(v)
            if empty:
                office_text = aggregate and f.type.kind == "text"
                out.append(
                    make_finding(
                        "E-CELL-EMPTY",
                        variant="render_field_aggregate" if office_text else "render_field",
                        section=s.title,
                        label=f.label,
                        file=data_file("aggregate")["narrative_file"],
                        instance=f"E-CELL-EMPTY[{f.key}]",
                        keys=(f.key,),
                    )
                )
    return out


def blocking_findings(
    report: Report, findings: Sequence[Finding] | None = None, *, aggregate: bool = False
) -> list[Finding]:
    """The errors that forbid a formal report: ``findings`` (or :func:`gkxlsx.rules.evaluate.check`) plus
    the printing preconditions of :func:`completeness_findings`."""
    if findings is None:
        findings = check(report.form, report.values, unit=report.unit)
    errs = [f for f in findings if f.severity == "error"]
    seen = {f.instance or f.rule_id for f in errs}
    known = {k for f in errs for k in f.keys}  # an empty cell the checker reported is not reported twice
    # a roll-up's text is the collecting office's own (gkxlsx.campaign.narrative): required as for any report
    for f in completeness_findings(report, texts=True, known=known, aggregate=aggregate):
        if f.instance not in seen:
            errs.append(f)
    return errs


def _completeness_sentence(agg: Mapping[str, Any] | None) -> str | None:
    """“本报告汇总了N个单位中的M个单位的数据，未报送：…。” from an aggregate's completeness.

    Accepts ``{"included": [names], "missing": [names | {"unit", "reason"}], "expected"|"total": N}``
    (optionally nested under ``"completeness"``), as produced by :func:`gkxlsx.campaign.campaign.aggregate`.
    """
    if not agg:
        return None
    comp = agg.get("completeness", agg)
    included = list(comp.get("included", []) or [])
    missing_raw = list(comp.get("missing", []) or [])
    missing: list[tuple[str, str]] = []
    for m in missing_raw:
        if isinstance(m, Mapping):
            missing.append((str(m.get("unit") or m.get("name") or ""), str(m.get("reason") or "未报送")))
        else:
            missing.append((str(m), "未报送"))
    total = comp.get("expected") or comp.get("total") or (len(included) + len(missing))
    n_in = comp.get("count", len(included))
    if not total:
        return None
    if not missing and n_in == total:
        return f"本报告汇总了全部{total}个单位的数据。"
    s = f"本报告汇总了{total}个单位中的{n_in}个单位的数据"
    if missing:
        if all(r == "未报送" for _, r in missing):
            s += "，未报送：" + "、".join(n for n, _ in missing)
        else:
            s += "，未纳入汇总：" + "、".join(f"{n}（{r}）" for n, r in missing)
    return s + "。"


def aggregate_summary(values: Mapping[str, Any]) -> str:
    """A roll-up's section 一 when no narrative was written: the headline figures, from the data."""

    def n(k: str) -> str:
        v = as_number(values.get(k))
        return wan(v) if v is not None else "0"

    lit = (as_number(values.get("s4.lit_direct.total")) or 0) + (
        as_number(values.get("s4.lit_after_review.total")) or 0
    )
    return (
        f"本年度纳入汇总的单位共新收政府信息公开申请{n('s3.new.total')}件，上年结转{n('s3.carried_in.total')}件，"
        f"办理完毕{n('s3.r7_total.total')}件，结转下年度继续办理{n('s3.carried_out.total')}件；"
        f"因政府信息公开工作被申请行政复议{n('s4.review.total')}件，被提起行政诉讼{wan(lit)}件。"
    )


def aggregate_text(
    form: Form, values: Mapping[str, Any], aggregate: Mapping[str, Any], area: str, year: int, templates=None
) -> dict[str, list[str]]:
    """The roll-up's sentences made from its figures (``aggregate_text.j2``), by part: ``preamble``,
    and section ids (``s2`` …) whose paragraphs come before the section's table."""
    keys = set(form.cells) | set(form.fields)

    def num(k: str) -> Any:
        v = as_number(values.get(k))
        return 0 if v is None else v

    def n(k: str) -> str:
        return fmt_cell(num(k), _cell_kind(form, k)) if k in form.cells else wan(num(k))

    def rows(prefix: str) -> str:
        ks = [k for k in form.derived_keys if k.startswith(f"s3.{prefix}") and k.endswith(".total")]
        return wan(sum((num(k) for k in ks), 0))

    ctx = {
        "area": area,
        "office": aggregate.get("office") or area,
        "year": year,
        "units": aggregate.get("units") or len(aggregate.get("included", []) or []),
        "types": aggregate.get("types") or "",
        "n": n,
        "num": num,
        "rows": rows,
        "has": lambda k: k in keys,
    }
    out: dict[str, list[str]] = {}
    pieces = re.split(r"@@[ \t]*(\w+)", _render("aggregate_text.j2", ctx, templates))
    for part, body in zip(pieces[1::2], pieces[2::2]):
        out.setdefault(part, []).extend(ln.strip() for ln in body.splitlines() if ln.strip())
    return out


def _parts_sentence(form: Form) -> str:
    names = [_section_body(s.title).replace("、", "和") for s in form.sections]
    return f"本报告由{'、'.join(names)}{ZH_NUM[len(names) - 1] if len(names) <= 10 else len(names)}个部分组成。"


def _text_width_em(s: str) -> float:
    return sum(0.5 if ord(ch) < 0x2E80 else 1.0 for ch in s)


def report_title(report: Report) -> str:
    return f"{report.unit_name}{report.year}年政府信息公开工作年度报告"


def report_context(
    report: Report,
    *,
    draft: bool = False,
    findings: Sequence[Finding] | None = None,
    aggregate: Mapping[str, Any] | None = None,
    blocking: Sequence[Finding] | None = None,
    templates=None,
) -> dict[str, Any]:
    """Everything the templates need, derived from the form and the report's keyed data.

    With ``aggregate`` (a roll-up: ``office`` the compiling office, ``units`` how many returns were
    summed, ``types`` their unit types, and the completeness the office keeps to itself) the report
    is the area's: ``report.unit_name`` is the area (青岩县), the office signs it, the sentences made
    from its figures come from ``aggregate_text.j2``, and who was left out is not printed."""
    form = report.form
    st = form_structure(form)
    values = dict(report.values)
    derived = compute_derived(form, values)
    for k, v in derived.items():
        if as_number(values.get(k)) is None:
            values[k] = v
    year = int(report.year)
    name = report.unit_name
    period = f"{year}年1月1日至{year}年12月31日"
    preamble = [
        f"根据《中华人民共和国政府信息公开条例》（以下简称《条例》）和《{form.document_title}》"
        f"（{form.document_number}）要求，现将{name}{period}政府信息公开工作情况报告如下。",
    ]
    p2 = _parts_sentence(form)
    comp = _completeness_sentence(aggregate)  # internal: in the context, not in the public text
    agg_text: dict[str, list[str]] = {}
    signer = name
    if aggregate:
        signer = str(aggregate.get("office") or name)
        agg_text = aggregate_text(form, values, aggregate, name, year, templates)
        p2 += "".join(agg_text.get("preamble", []))
    contact = []
    for key, lab in (("meta.address", "地址"), ("meta.postcode", "邮编"), ("meta.contact_phone", "电话")):
        v = values.get(key)
        if v not in (None, ""):
            contact.append(f"{lab}：{str(v).strip()}")
    if contact:
        p2 += f"如对本报告有疑问，请与{signer}联系（{'，'.join(contact)}）。"
    preamble.append(p2)

    sections = []
    tables = {}
    for s in form.sections:
        blocks: list[dict] = [{"type": "paragraph", "text": p} for p in agg_text.get(s.id, [])]
        if s.id in st.grids:
            tv = _table_view(st.grids[s.id], values, draft)
            tables[s.id] = tv
            blocks.append({"type": "table", "table": tv})
        if s.fields:
            blocks.extend(_text_blocks(s, values, form, draft))
        if aggregate and not blocks and s.n == 1:
            blocks.append({"type": "paragraph", "text": aggregate_summary(values)})
        sections.append({"n": s.n, "id": s.id, "title": s.title, "kind": s.kind, "blocks": blocks})

    date_raw = values.get("meta.report_date")
    date = zh_date(date_raw) if date_raw not in (None, "") else ""
    date_text = date or BLANK_DATE
    # GB/T 9704: the date is 4 characters from the right margin; the signature centred above it
    dw, nw = _text_width_em(date_text), _text_width_em(signer)
    name_indent = max(0.0, 4 + (dw - nw) / 2)
    signoff = {
        "unit": signer,
        "date": date_text,
        "dated": bool(date),
        "date_indent_em": 4.0,
        "unit_indent_em": round(name_indent, 2),
    }
    # every number and field as printed, for custom templates: v["s3.new.total"]
    printed = {}
    for k, _c in form.cells.items():
        printed[k] = fmt_cell(values.get(k), _cell_kind(form, k)) if as_number(values.get(k)) is not None else ""
    for k, f in form.fields.items():
        v = values.get(k)
        if f.type.kind == "date":
            printed[k] = zh_date(v) if v not in (None, "") else ""
        elif f.type.unit == "元":
            printed[k] = yuan(v) if v is not None else ""
        else:
            printed[k] = "" if v is None else str(v)
    return {
        "title": report_title(report),
        "unit_name": name,
        "unit_code": report.unit_code,
        "unit_type": report.unit_type,
        "year": year,
        "period": period,
        "form_id": form.id,
        "form_name": form.name,
        "document_number": form.document_number,
        "document_title": form.document_title,
        "preamble": preamble,
        "sections": sections,
        "tables": tables,
        "fee_sentence": fee_sentence(values, form),
        "signoff": signoff,
        "draft": bool(draft),
        "draft_mark": DRAFT_MARK,
        "draft_notes": [f"[{f.rule_id}] {f.text()}" for f in (blocking or [])] if draft else [],
        "aggregate": dict(aggregate) if aggregate else None,
        "completeness": comp,
        "v": printed,
        "n": values,
        "generator": "gkxlsx",
    }


# --------------------------------------------------------------------------------------------
# Jinja environment


def builtin_templates_dir() -> Path:
    """The shipped templates of the gkxlsx that is running: beside its package (an installed
    ``gkxlsx/templates``, or the source tree's ``templates/``), else the ``gkxlsx.templates``
    resources.  The package's own folder comes first: with another checkout installed in editable
    mode, ``gkxlsx.templates`` names that checkout's templates, not this code's."""
    here = Path(__file__).resolve().parents[1]
    for cand in (here / "templates", here.parent / "templates"):
        if (cand / "report.html.j2").is_file():
            return cand
    try:
        from importlib.resources import files

        p = files("gkxlsx.templates")
        for cand in (Path(str(p)), *(Path(str(x)) for x in getattr(p, "_paths", ()))):
            if (cand / "report.html.j2").is_file():
                return cand
    except Exception:  # not installed as a package either
        pass
    raise RenderError("找不到报告模板目录 templates/（安装可能不完整）")


@lru_cache(maxsize=16)
def _environment(user_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if user_dir:
        loaders.append(jinja2.FileSystemLoader(user_dir))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "xml.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
    return env


def environment(templates: str | os.PathLike | None = None) -> jinja2.Environment:
    """The Jinja environment: a user's template directory first, then the shipped templates."""
    if templates is not None:
        p = Path(templates)
        if not p.is_dir():
            raise RenderError(f"模板目录不存在：{p}")
        return _environment(str(p.resolve()))
    return _environment(None)


def render_template(env: jinja2.Environment, name: str, ctx: Mapping[str, Any], *, what: str = "模板") -> str:
    """Render the template ``name``.  A template that is missing, has a syntax error or names data
    that is not there raises a RenderError in Chinese naming it (``what``: what users call it)."""
    try:
        return env.get_template(name).render(ctx)
    except jinja2.TemplateNotFound as e:
        raise RenderError(f"找不到{what} {e.name}") from None
    except jinja2.TemplateSyntaxError as e:
        raise RenderError(f"{what} {e.filename or e.name or name} 第 {e.lineno} 行有语法错误：{e.message}") from None
    except jinja2.UndefinedError as e:
        raise RenderError(f"{what} {name} 引用了不存在的数据：{e.message}") from None


def _render(name: str, ctx: Mapping[str, Any], templates) -> str:
    return render_template(environment(templates), name, ctx)


def _prepare(report: Report, draft: bool, findings, aggregate, templates=None) -> dict[str, Any]:
    blocking = blocking_findings(report, findings, aggregate=bool(aggregate))
    if blocking and not draft:
        raise RenderRefused(report, blocking)
    return report_context(report, draft=draft, aggregate=aggregate, blocking=blocking, templates=templates)


def render_html(report: Report, *, draft: bool = False, templates=None, findings=None, aggregate=None) -> str:
    """The report as a standalone HTML page (inline CSS, print-friendly, official merges)."""
    return _render("report.html.j2", _prepare(report, draft, findings, aggregate, templates), templates)


def render_markdown(report: Report, *, draft: bool = False, templates=None, findings=None, aggregate=None) -> str:
    """The report as Markdown (tables flattened: full row/column label paths instead of merges)."""
    return _render("report.md.j2", _prepare(report, draft, findings, aggregate, templates), templates)


def render_text(report: Report, *, draft: bool = False, templates=None, findings=None, aggregate=None) -> str:
    """The report as plain text, in the shape published reports have when copied from a web page:
    one table cell per line, in reading order."""
    return _render("report.txt.j2", _prepare(report, draft, findings, aggregate, templates), templates)


# --------------------------------------------------------------------------------------------
# Word

# GB/T 9704-2012 page: A4, 版心 156 mm × 225 mm (top 37, bottom 35, left 28, right 26 mm)
MM = 1440 / 25.4


def _twips(mm: float) -> int:
    return int(round(mm * MM))


DOCX_PAGE = {
    "width": 11906,
    "height": 16838,
    "top": _twips(37),
    "bottom": _twips(35),
    "left": _twips(28),
    "right": _twips(26),
    "header": _twips(15),
    "footer": _twips(28),
    "text_width": 11906 - _twips(28) - _twips(26),
}
# fonts: name, and the substitute Word/LibreOffice should use when it is missing
DOCX_FONTS = {
    "title": ("方正小标宋简体", "宋体"),
    "body": ("仿宋_GB2312", "仿宋"),
    "h1": ("黑体", "SimHei"),
    "h2": ("楷体_GB2312", "楷体"),
    "latin": ("Times New Roman", "Times New Roman"),
    "pagenum": ("宋体", "SimSun"),
}

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>
<Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/>
<Override PartName="/word/fontTable.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.fontTable+xml"/>
<Override PartName="/word/footer1.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"/>
<Override PartName="/word/footer2.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"/>
{headers}<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>
</Types>
"""
_HEADER_CT = '<Override PartName="/word/{name}" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"/>\n'

_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>
</Relationships>
"""

_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_DOC_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rIdStyles" Type="{r}/styles" Target="styles.xml"/>
<Relationship Id="rIdSettings" Type="{r}/settings" Target="settings.xml"/>
<Relationship Id="rIdFonts" Type="{r}/fontTable" Target="fontTable.xml"/>
<Relationship Id="rIdFooterOdd" Type="{r}/footer" Target="footer1.xml"/>
<Relationship Id="rIdFooterEven" Type="{r}/footer" Target="footer2.xml"/>
{headers}</Relationships>
"""

_SETTINGS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:zoom w:percent="100"/>
<w:evenAndOddHeaders/>
<w:defaultTabStop w:val="420"/>
<w:characterSpacingControl w:val="compressPunctuation"/>
<w:compat><w:compatSetting w:name="compatibilityMode" w:uri="http://schemas.microsoft.com/office/word" w:val="15"/></w:compat>
<w:themeFontLang w:val="en-US" w:eastAsia="zh-CN"/>
</w:settings>
"""

_APP = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>gkxlsx</Application></Properties>
"""


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _font_table() -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        '<w:fonts xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">',
    ]
    seen = set()
    for name, alt in DOCX_FONTS.values():
        if name in seen:
            continue
        seen.add(name)
        latin = name == "Times New Roman"
        out.append(
            f'<w:font w:name="{_xml_text(name)}">'
            + (f'<w:altName w:val="{_xml_text(alt)}"/>' if alt != name else "")
            + f'<w:charset w:val="{"00" if latin else "86"}"/><w:family w:val="{"roman" if latin else "modern"}"/>'
            + '<w:pitch w:val="variable"/></w:font>'
        )
    out.append("</w:fonts>")
    return "\n".join(out) + "\n"


def _core(ctx: Mapping[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{_xml_text(ctx['title'])}</dc:title><dc:creator>gkxlsx</dc:creator>"
        f"<dc:subject>{_xml_text(ctx['document_number'])}</dc:subject>"
        "</cp:coreProperties>\n"
    )


def docx_parts(ctx: Mapping[str, Any], templates=None) -> dict[str, bytes]:
    """All parts of the .docx package for a report context (rendered templates + fixed parts)."""
    page = dict(DOCX_PAGE)
    wctx = dict(ctx)
    wctx["page"] = page
    wctx["fonts"] = {k: v[0] for k, v in DOCX_FONTS.items()}
    # absolute column widths (twips) of every table, from its relative widths
    tw = page["text_width"]
    wctx["twips"] = lambda frac: int(round(frac * tw))
    headers = bool(ctx.get("draft"))
    parts: dict[str, str] = {
        "[Content_Types].xml": _CONTENT_TYPES.format(
            headers="".join(_HEADER_CT.format(name=n) for n in ("header1.xml", "header2.xml")) if headers else ""
        ),
        "_rels/.rels": _ROOT_RELS,
        "docProps/core.xml": _core(ctx),
        "docProps/app.xml": _APP,
        "word/_rels/document.xml.rels": _DOC_RELS.format(
            r=_R,
            headers=(
                f'<Relationship Id="rIdHeaderOdd" Type="{_R}/header" Target="header1.xml"/>\n'
                f'<Relationship Id="rIdHeaderEven" Type="{_R}/header" Target="header2.xml"/>\n'
            )
            if headers
            else "",
        ),
        "word/settings.xml": _SETTINGS,
        "word/fontTable.xml": _font_table(),
        "word/document.xml": _render("report.docx.xml.j2", wctx, templates).lstrip(),
        "word/styles.xml": _render("docx_styles.xml.j2", wctx, templates).lstrip(),
        "word/footer1.xml": _render("docx_footer.xml.j2", dict(wctx, odd=True), templates).lstrip(),
        "word/footer2.xml": _render("docx_footer.xml.j2", dict(wctx, odd=False), templates).lstrip(),
    }
    if headers:
        parts["word/header1.xml"] = _render("docx_header.xml.j2", dict(wctx, odd=True), templates).lstrip()
        parts["word/header2.xml"] = _render("docx_header.xml.j2", dict(wctx, odd=False), templates).lstrip()
    return {k: v.encode("utf-8") for k, v in parts.items()}


def _zip_bytes(parts: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    order = ["[Content_Types].xml", "_rels/.rels"] + sorted(
        k for k in parts if k not in ("[Content_Types].xml", "_rels/.rels")
    )
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, parts[name])
    return buf.getvalue()


def render_docx_bytes(report: Report, *, draft: bool = False, templates=None, findings=None, aggregate=None) -> bytes:
    """The Word document as bytes (deterministic: the same data give the same bytes)."""
    ctx = _prepare(report, draft, findings, aggregate, templates)
    return _zip_bytes(docx_parts(ctx, templates))


def render_docx(report: Report, path, *, draft: bool = False, templates=None, findings=None, aggregate=None) -> Path:
    """Write the report as a Word document (A4, GB/T 9704 typography, real merged tables)."""
    data = render_docx_bytes(report, draft=draft, templates=templates, findings=findings, aggregate=aggregate)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes(p, data)


# --------------------------------------------------------------------------------------------
# PDF through LibreOffice


def libreoffice_available() -> bool:
    from gkxlsx.office import lo

    return lo.available()


NO_LIBREOFFICE = (
    "无法生成 PDF：本机没有安装 LibreOffice。请安装 LibreOffice（例如 apt-get install libreoffice-writer）"
    "后重试，或先生成 Word 文件（--to docx）再另行转换。"
)


def docx_to_pdf(docx: Path, out_dir: Path, office: Any = None) -> Path:
    """Convert a .docx to PDF with LibreOffice: ``office`` (a running :class:`gkxlsx.office.lo.LibreOffice`),
    else a session started for this one file.  :class:`PdfUnavailable` when LibreOffice or its
    Writer is not installed, :class:`RenderError` when the conversion fails."""
    from gkxlsx.office import lo

    docx, out_dir = Path(docx), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (docx.stem + ".pdf")
    try:
        if office is not None:
            office.convert(docx, "pdf", out_dir)
        else:
            if not lo.available():
                raise PdfUnavailable(NO_LIBREOFFICE)
            with lo.LibreOffice() as session:
                session.convert(docx, "pdf", out_dir)
    except lo.LibreOfficeError as e:
        if e.missing == "writer":
            raise PdfUnavailable(f"无法生成 PDF：{lo.WRITER_MISSING}") from None
        raise RenderError(f"LibreOffice 没能把 {docx.name} 转换成 PDF：{e.message}") from None
    if not target.is_file():
        raise RenderError(f"LibreOffice 没有把 {docx.name} 转换成 PDF（未生成 {target.name}）。")
    return target


def render_pdf(
    report: Report, path, *, draft: bool = False, templates=None, findings=None, aggregate=None, office=None
) -> Path:
    """Write the report as PDF: the Word document converted by LibreOffice."""
    p = Path(path)
    with tempfile.TemporaryDirectory(prefix="gkxlsx-pdf-") as tmp:
        docx = render_docx(
            report,
            Path(tmp) / (p.stem + ".docx"),
            draft=draft,
            templates=templates,
            findings=findings,
            aggregate=aggregate,
        )
        pdf = docx_to_pdf(docx, Path(tmp), office=office)
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as t:
            shutil.copyfile(pdf, t)
    return p


# --------------------------------------------------------------------------------------------
# files


_BAD_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def report_basename(report: Report) -> str:
    """``{单位代码}_{单位名称}_{年度}年政府信息公开工作年度报告`` (no code: the name first)."""
    name = _BAD_CHARS.sub("_", report.unit_name.strip()) or "未命名单位"
    code = _BAD_CHARS.sub("_", (report.unit_code or "").strip())
    base = f"{name}_{report.year}年政府信息公开工作年度报告"
    return f"{code}_{base}" if code else base


def parse_formats(spec: str | Iterable[str]) -> list[str]:
    """``"html,docx"`` → ["html", "docx"] (word→docx, markdown→md, text→txt); Chinese error otherwise."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    alias = {"word": "docx", "markdown": "md", "text": "txt", "htm": "html"}
    out: list[str] = []
    for it in items:
        f = alias.get(it.strip().lower(), it.strip().lower())
        if not f:
            continue
        if f not in FORMATS:
            raise RenderError(f"不支持的输出格式“{it.strip()}”。可用：{', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise RenderError("没有指定输出格式（--to），例如 --to html,docx")
    return out


def render_files(
    report: Report,
    formats: str | Iterable[str],
    out_dir,
    *,
    draft: bool = False,
    templates=None,
    findings: Sequence[Finding] | None = None,
    aggregate: Mapping[str, Any] | None = None,
    office: Any = None,
) -> list[Path]:
    """Write the report in each of ``formats`` into ``out_dir``; returns the files written.

    Refuses (:class:`RenderRefused`) before writing anything when the data have errors and
    ``draft`` is false.  PDF is converted by LibreOffice from the Word document, last: when it
    cannot be made, :class:`PdfFailed` says why and lists the other formats, which were written.
    Each file is written to a temporary name and renamed: a full disk leaves no half-written file.
    """
    fmts = parse_formats(formats)
    ctx = _prepare(report, draft, findings, aggregate, templates)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = report_basename(report) + ("_草稿" if draft else "")
    written: list[Path] = []
    docx: bytes | None = None
    for f in fmts:
        if f == "pdf":
            continue
        p = out / f"{base}.{f}"
        if f == "html":
            write_text(p, _render("report.html.j2", ctx, templates))
        elif f == "md":
            write_text(p, _render("report.md.j2", ctx, templates))
        elif f == "txt":
            write_text(p, _render("report.txt.j2", ctx, templates))
        elif f == "docx":
            docx = _zip_bytes(docx_parts(ctx, templates))
            write_bytes(p, docx)
        written.append(p)
    if "pdf" in fmts:
        target = out / f"{base}.pdf"
        try:
            if office is None and not libreoffice_available():
                raise PdfUnavailable(NO_LIBREOFFICE)
            # converted in a private folder and renamed into place (a full disk leaves no half PDF)
            with tempfile.TemporaryDirectory(prefix="gkxlsx-pdf-") as tmp:
                d = Path(tmp) / f"{base}.docx"
                d.write_bytes(docx if docx is not None else _zip_bytes(docx_parts(ctx, templates)))
                with atomic_path(target) as t:
                    shutil.copyfile(docx_to_pdf(d, Path(tmp), office=office), t)
        except RenderError as e:
            raise PdfFailed(str(e), written, unavailable=isinstance(e, PdfUnavailable)) from None
        written.insert(fmts.index("pdf"), target)
    return written


# --------------------------------------------------------------------------------------------
# report data files (JSON)


_NUM_RE = re.compile(r"[+-]?\d+(\.\d+)?")


def _coerce(form: Form, key: str, v: Any, where: str) -> Any:
    if key in form.cells or (key in form.fields and form.fields[key].type.numeric):
        if isinstance(v, bool):
            raise RenderError(f"{where}：“{form.label(key)}”（{key}）应为数字，现为 {v}")
        if isinstance(v, float):
            v = Decimal(repr(v))
        if isinstance(v, str):
            s = v.strip()
            if s == "":
                return None
            if not _NUM_RE.fullmatch(s):
                raise RenderError(f"{where}：“{form.label(key)}”（{key}）应为数字，现为“{v}”")
            v = Decimal(s)
        if isinstance(v, Decimal) and v == v.to_integral_value() and form.value_type(key).kind == "int":
            v = int(v)
        return v
    return v


def report_from_dict(data: Mapping[str, Any], source: str = "") -> Report:
    """A :class:`Report` from the JSON shape ``{"format", "year", "unit": {...}, "values": {...}}``.

    ``unit`` may hold ``name``, ``code``, ``type`` and any ``meta.*`` field without its prefix
    (``contact_phone``, ``address``, ``report_date`` …).  Unknown keys are an error (typos).
    """
    where = f"数据文件 {source}" if source else "报告数据"
    if not isinstance(data, Mapping):
        raise RenderError(f'{where} 的顶层必须是对象（{{"format", "year", "unit", "values"}}）')
    if "report" in data and isinstance(data["report"], Mapping) and "values" not in data:
        data = data["report"]
    values_in = data.get("values")
    if not isinstance(values_in, Mapping):
        raise RenderError(f"{where} 缺少 values（各项数据，键如 s3.new.natural）")
    unit = data.get("unit") or {}
    if not isinstance(unit, Mapping):
        raise RenderError(f"{where} 的 unit 必须是对象")
    year_raw = data.get("year", values_in.get("meta.year"))
    try:
        year = int(year_raw)
    except (TypeError, ValueError):
        raise RenderError(f"{where} 缺少有效的报告年度（year）") from None
    fmt = data.get("format") or data.get("form")
    try:
        form = load_form(str(fmt)) if fmt else form_for_year(year)
    except FormError as e:
        raise RenderError(f"{where}：{e}") from None
    lo, hi = form.report_years
    if not lo <= year <= hi:
        raise RenderError(f"{where}：{year} 年度的报告不能使用 {form.id} 格式（适用于 {lo}–{hi} 年度）")
    values: dict[str, Any] = {}
    unknown = []
    for k, v in values_in.items():
        if k not in form.cells and k not in form.fields:
            unknown.append(k)
            continue
        values[k] = _coerce(form, k, v, where)
    for k, v in unit.items():
        key = k if k.startswith("meta.") else f"meta.{k}"
        if key not in form.fields:
            unknown.append(f"unit.{k}")
            continue
        values.setdefault(key, v)
    if unknown:
        raise RenderError(f"{where} 中有本格式（{form.id}）没有的项：{'、'.join(unknown[:10])}")
    name = str(unit.get("name") or values.get("meta.name") or "").strip()
    if not name:
        raise RenderError(f"{where} 缺少单位名称（unit.name）")
    values.setdefault("meta.name", name)
    values.setdefault("meta.year", year)
    return Report(
        form=form,
        year=year,
        unit_name=name,
        unit_code=str(unit.get("code") or values.get("meta.code") or ""),
        unit_type=str(unit.get("type") or values.get("meta.type") or ""),
        values=values,
        source=source,
    )


def load_report_json(path) -> Report:
    """Read a report data file (see :func:`report_from_dict`); Chinese errors name the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RenderError(f"找不到数据文件：{p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RenderError(f"无法读取数据文件 {p}：{e}") from None
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise RenderError(f"数据文件 {p} 不是有效的 JSON（第 {e.lineno} 行第 {e.colno} 列）：{e.msg}") from None
    return report_from_dict(data, str(p))
