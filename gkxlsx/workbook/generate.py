"""Generate one locked, formula-checked workbook per unit.

Everything placed in the workbook comes from :func:`gkxlsx.form.layout.layout` (positions, merges, labels)
and from the rule engine (formulas of totals and check cells, and their Python-computed cached
results).  Identity — format, template version, year, unit, generator version, structure
fingerprint — is stored three times: a very-hidden sheet, workbook defined names and custom
document properties.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import xlsxwriter

from gkxlsx import __version__
from gkxlsx.form.cells import a1, col_letter
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.identity import APP_ID, META_FIELDS, fingerprint, template_id, workbook_filename
from gkxlsx.form.layout import (
    CHECKS_SHEET,
    GUIDE_SHEET,
    META_SHEET,
    Box,
    Layout,
    defined_name,
    expected_formulas,
    expected_results,
    layout,
    number_for_excel,
    previous_column,
    text_units,
)
from gkxlsx.form.model import Form, ValueType, load_form
from gkxlsx.form.roster import Unit
from gkxlsx.fsutil import write_bytes, write_text
from gkxlsx.rules.engine import FAIL, INCOMPLETE, NOT_APPLICABLE, PASS
from gkxlsx.rules.interpret import when_holds

# colours (a legend on 填报说明 explains them)
C_ENTRY = "#FFF2CC"  # input cells: light yellow
C_DERIVED = "#DDEBF7"  # formula totals: light blue
C_HEADER = "#F2F2F2"
C_PREV = "#E7E6E6"  # the 上年 column (last year's figures, locked): grey
C_PREV_HEAD = "#D0CECE"
C_MARK = "#F8CBAD"  # feedback: problem cells
C_BAD = "#C00000"


@dataclass(frozen=True)
class OfficeInfo:
    """What the collecting office tells every unit on 填报说明: who collects, whom to ask, by when."""

    name: str = ""
    contact: str = ""
    deadline: date | None = None


@dataclass(frozen=True)
class GeneratedFile:
    unit: Unit
    path: Path
    sha256: str
    template_id: str
    fingerprint: str


def _password(form: Form, year: int, code: str) -> str:
    # deterministic (same inputs → same bytes) and not guessable from the file; protection only
    # guides users — tampering is detected on import, not prevented here.
    return hashlib.sha256(f"gkxlsx|{form.id}|{year}|{code}|protect".encode()).hexdigest()[:12]


class _Formats:
    """All cell formats of one workbook, created once."""

    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "宋体", "font_size": 10, "valign": "vcenter", "text_wrap": True}
        border = dict(base, border=1)
        self.title = wb.add_format(dict(base, bold=True, font_size=14, text_wrap=False))
        self.guide = wb.add_format(dict(base, font_color="#595959", align="left", valign="top"))
        self.text = wb.add_format(dict(base, align="left", valign="top"))
        self.bold = wb.add_format(dict(base, bold=True, align="left"))
        self.caption = wb.add_format(dict(border, bold=True, align="center", bg_color=C_HEADER))
        self.header = wb.add_format(dict(border, bold=True, align="center", bg_color=C_HEADER))
        self.corner = wb.add_format(dict(border, font_size=9, align="center"))
        self.rowlabel = wb.add_format(dict(border, align="left"))
        self.grouplabel = wb.add_format(dict(border, align="center"))
        self.info = wb.add_format(dict(border, align="left", bg_color=C_HEADER))
        self.fieldlabel = wb.add_format(dict(border, bold=True, align="left", valign="top"))
        self.fieldguide = wb.add_format(dict(base, font_size=9, font_color="#7F7F7F", align="left", valign="top"))
        self.checklabel = wb.add_format(dict(base, font_size=9, italic=True, align="right", font_color="#404040"))
        self.panelhead = wb.add_format(dict(border, bold=True, align="center", bg_color=C_HEADER))
        self.paneltext = wb.add_format(dict(border, font_size=9, align="left"))
        self.check = wb.add_format(dict(border, align="center", bold=True))
        self.link = wb.add_format(dict(border, font_color="#0563C1", underline=1, font_size=9))
        self.derived = wb.add_format(dict(border, align="right", bg_color=C_DERIVED, num_format="0"))
        self.derived_dec = wb.add_format(dict(border, align="right", bg_color=C_DERIVED, num_format="0.####"))
        self.derived_marked = wb.add_format(
            dict(border, align="right", bg_color=C_MARK, num_format="0.####", border_color=C_BAD)
        )
        self.cf_fail = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006", "bold": True})
        self.cf_pass = wb.add_format({"font_color": "#006100"})
        self.cf_todo = wb.add_format({"font_color": "#7F7F7F"})
        self.cf_na = wb.add_format({"font_color": "#A6A6A6", "bold": False})
        self._entry: dict[tuple, Any] = {}
        self._prev: dict[str, Any] = {}
        self._wb = wb
        self._base = border

    def prev(self, kind: str):
        """The 上年 column's formats (head, int, decimal; legend on 填报说明), added only to a workbook that has
        one: a workbook without stays byte-identical."""
        if kind not in self._prev:
            grey = dict(self._base, locked=True, font_color="#404040")
            props = {
                "head": dict(grey, bold=True, align="center", bg_color=C_PREV_HEAD, font_size=9),
                "int": dict(grey, align="right", bg_color=C_PREV, num_format="0"),
                "decimal": dict(grey, align="right", bg_color=C_PREV, num_format="0.####"),
                "legend": {"bg_color": C_PREV, "border": 1, "font_name": "宋体", "font_size": 10},
            }[kind]
            self._prev[kind] = self._wb.add_format(props)
        return self._prev[kind]

    def entry(self, vt: ValueType, marked: bool = False, left: bool = False):
        k = (vt.name, marked, left)
        if k not in self._entry:
            props = dict(self._base, locked=False, bg_color=C_MARK if marked else C_ENTRY)
            if vt.kind == "int":
                props.update(num_format="0", align="left" if left else "right")
            elif vt.kind == "decimal":
                props.update(num_format="0.####", align="left" if left else "right")
            elif vt.kind == "date":
                props.update(num_format="yyyy-mm-dd", align="left")
            else:
                props.update(align="left", valign="top", num_format="@")
            if marked:
                props.update(border=2, border_color=C_BAD)
            self._entry[k] = self._wb.add_format(props)
        return self._entry[k]


def _validation(vt: ValueType, label: str, year: int, top_left: str) -> dict:
    """The data validation of an entry cell (its messages from gkxlsx/data/workbook.json)."""
    dv: dict[str, Any]
    if vt.kind == "int" and vt.min is not None:
        dv = {"validate": "integer", "criteria": ">=", "value": int(vt.min)}
    elif vt.kind == "int":
        dv = {"validate": "integer", "criteria": "between", "minimum": -1_000_000_000, "maximum": 1_000_000_000}
    elif vt.kind == "decimal":
        dp = vt.max_dp or 0
        dv = {
            "validate": "custom",
            "value": f"=AND(ISNUMBER({top_left}),{top_left}>=0,ROUND({top_left},{dp})={top_left})",
        }
    elif vt.kind == "date":
        dv = {"validate": "date", "criteria": "between", "minimum": date(year, 1, 1), "maximum": date(year + 2, 12, 31)}
    else:
        dv = {"validate": "length", "criteria": "<=", "value": vt.max_len or 32767}
    input_message, error_title, error_message = _validation_texts(vt, label, year)
    dv.update(input_title=label[:30], input_message=input_message, error_title=error_title, error_message=error_message)
    return dv


@lru_cache(maxsize=4096)
def _validation_texts(vt: ValueType, label: str, year: int) -> tuple[str, str, str]:
    """(input message, error title, error message) of an entry cell; the same for every unit."""
    texts = data_file("workbook")
    if vt.kind == "int":
        t = texts["validation"]["count" if vt.min is not None else "signed"]
        facts: dict[str, Any] = {"label": label[:60]}
        hint = ""
    elif vt.kind == "decimal":
        t = texts["validation"]["decimal"]
        facts = {"label": label[:50], "dp": vt.max_dp or 0, "unit": vt.unit or ""}
        hint = texts["wan_hint"] if vt.unit == "万元" else ""
    elif vt.kind == "date":
        t = texts["validation"]["date"]
        facts = {"year": year, "next_year": year + 1, "last_year": year + 2}
        hint = ""
    else:
        t = texts["validation"]["text"]
        facts = {"max_len": vt.max_len or 32767}
        hint = ""
    return t["input"].format(**facts) + hint, t["error_title"], t["error"].format(**facts)


def _guide_lines(form: Form, unit: Unit, year: int, office: OfficeInfo) -> list[tuple[str, str]]:
    """The rows of 填报说明: (kind, text), the texts from gkxlsx/data/workbook.json."""
    g = data_file("workbook")["guide"]
    d = office.deadline or date(year + 1, *form.publication_deadline(None))  # default: the form's deadline
    deadline = g["deadline"].format(year=d.year, month=d.month, day=d.day)
    wan_cells = [c for c in form.cells.values() if c.type.unit == "万元" and not c.derived]
    money_tip = (
        g["money_tip_wan"].format(
            row_label=wan_cells[0].row_label,
            col_label=wan_cells[0].col_label,
            wan_hint=data_file("workbook")["wan_hint"],
        )
        if wan_cells
        else g["money_tip"]
    )
    facts = {
        "unit_name": unit.name,
        "unit_code": unit.code,
        "unit_type": unit.type,
        "year": year,
        "form_name": form.name,
        "document_number": form.document_number,
        "deadline": deadline,
        "s3_sheet": form.section("s3").sheet,
        "office": office.name or g["default_office"],
        "contact": g["contact"].format(contact=office.contact) if office.contact else "",
        "money_tip": money_tip,
        "template_id": template_id(form, year),
        "version": __version__,
    }
    return [(kind, text.format(**facts)) for kind, text in g["lines"]]


_STATIC: dict[tuple[int, str | None], tuple[Layout, Any, Mapping[tuple[str, int, int], str], str]] = {}


def _static_formulas(lay: Layout, ut) -> tuple[Mapping[tuple[str, int, int], str], str]:
    """(formulas, fingerprint) of a workbook without last year's data, per layout and unit type
    (read-only: shared by every workbook of that type)."""
    key = (id(lay), ut.name if ut is not None else None)
    got = _STATIC.get(key)
    if got is None or got[0] is not lay or got[1] != ut:
        if len(_STATIC) > 64:
            _STATIC.clear()
        formulas = MappingProxyType(dict(expected_formulas(lay, ut, None, None)))
        got = _STATIC[key] = (lay, ut, formulas, fingerprint(lay, formulas))
    return got[2], got[3]


def build_workbook(
    form: Form,
    unit: Unit,
    year: int,
    *,
    prefill: Mapping[str, Any] | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
    office: OfficeInfo | None = None,
    marks: Mapping[str, str] | None = None,
    problems: Sequence[Problem] | None = None,
    problems_title: str = "",
    extra_sheets: Callable[[xlsxwriter.Workbook, str, Mapping[str, Any]], Mapping[str, str]] | None = None,
) -> tuple[bytes, str]:
    """Build one unit's workbook in memory.  Returns (xlsx bytes, structure fingerprint).

    ``prefill``: values by key written into the entry cells (numbers, text); ``prev``: last year's
    values by key (enables the cross-year checks, whose constants are compiled into the check
    formulas); ``marks``: key → message — cells to highlight with a note (feedback workbooks);
    ``problems``: rows listed under the rules on 校验结果 (the importer's findings, with links);
    ``extra_sheets``: called with (workbook, sheet password, protection options) after the form's
    sheets are written, adds sheets of its own (a roll-up's breakdown, :mod:`gkxlsx.workbook.rollup`)
    and returns identity fields to stamp beside :data:`META_FIELDS` (document properties and the
    rows below them on the hidden identity sheet).
    """
    office = office or OfficeInfo()
    prefill = dict(prefill or {})
    marks = dict(marks or {})
    lay = layout(form)
    ut = form.unit_type(unit.type)
    meta_values = {
        "meta.name": unit.name,
        "meta.code": unit.code,
        "meta.type": unit.type,
        "meta.parent": unit.parent,
        "meta.year": year,
    }
    if unit.contact and "meta.contact_person" not in prefill:
        prefill["meta.contact_person"] = unit.contact
    if unit.phone and "meta.contact_phone" not in prefill:
        prefill["meta.contact_phone"] = unit.phone
    # last year's figures beside 二–四 (nothing without last year's values)
    prev_col = previous_column(form, year, prev, prev_format)
    if prev is None:  # the same for every unit of a type: compiled once
        formulas, fp = _static_formulas(lay, ut)
    else:
        formulas = expected_formulas(lay, ut, prev, prev_format)
        fp = fingerprint(lay, formulas, prev_col.boxes)
    numeric_inputs = {k: v for k, v in prefill.items() if k in form.cells or k in form.fields}
    results = expected_results(lay, numeric_inputs, ut, prev, prev_format)

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    )
    fixed = datetime(year + 1, 1, 1, 0, 0, 0)
    wb.set_properties(
        {
            "title": f"{unit.name}{year}年政府信息公开工作年度报告填报表",
            "subject": f"{form.document_number} {year}",
            "author": office.name or "gkxlsx",
            "company": office.name or "",
            "keywords": "gkxlsx",
            "comments": template_id(form, year),
            "created": fixed,
        }
    )
    meta = {
        "GKX_APP": APP_ID,
        "GKX_FORMAT": form.id,
        "GKX_TEMPLATE_VERSION": form.template_version,
        "GKX_YEAR": str(year),
        "GKX_UNIT_CODE": unit.code,
        "GKX_UNIT_NAME": unit.name,
        "GKX_UNIT_TYPE": unit.type,
        "GKX_GENERATOR": __version__,
        "GKX_FINGERPRINT": fp,
        "GKX_PREVIOUS": f"{prev_format or form.id}:{year - 1}" if prev is not None else "",
    }
    for k in META_FIELDS:
        wb.set_custom_property(k, meta[k])
    fm = _Formats(wb)
    password = _password(form, year, unit.code)
    protect_opts = {
        "select_locked_cells": True,
        "select_unlocked_cells": True,
        "format_columns": True,  # let clerks widen columns and rows to read long text
        "format_rows": True,
        "objects": False,
        "autofilter": True,  # 校验结果 can be filtered to the ✗ rows
    }
    sheets: dict[str, Any] = {}
    for sl in lay.sheets:
        ws = wb.add_worksheet(sl.name)
        sheets[sl.name] = ws
        for c, w in {**sl.col_widths, **prev_col.widths.get(sl.name, {})}.items():
            ws.set_column(c, c, w)
        for r, h in {**sl.row_heights, **prev_col.heights.get(sl.name, {})}.items():
            ws.set_row(r, h)
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        section_title = form.section(sl.section).title if sl.section else sl.name
        ws.set_header(f"&L&9{_hf(unit.name)}  {year}年度&C&10{_hf(section_title)}&R&9{_hf(sl.name)}")
        ws.set_footer("&C&9第 &P 页，共 &N 页")
        if sl.header_rows:
            ws.repeat_rows(*sl.header_rows)
        if sl.kind == "table" and sl.max_col > 6:
            ws.set_landscape()
        ws.hide_gridlines(2 if sl.kind in ("guide", "checks") else 1)
        ws.protect(password, protect_opts)

    # 填报说明
    ws = sheets[GUIDE_SHEET]
    width = lay.sheet(GUIDE_SHEET).col_widths[0]
    legend = {
        "legend_entry": wb.add_format({"bg_color": C_ENTRY, "border": 1, "font_name": "宋体", "font_size": 10}),
        "legend_derived": wb.add_format({"bg_color": C_DERIVED, "border": 1, "font_name": "宋体", "font_size": 10}),
        "legend_fail": fm.cf_fail,
    }
    guide = _guide_lines(form, unit, year, office)
    if prev_col:  # the 上年 column's colour, after the other colours
        at = next((i + 1 for i, (kind, _t) in enumerate(guide) if kind == "legend_derived"), len(guide))
        legend_text = data_file("workbook")["previous_column"]["legend"].format(last_year=year - 1)
        guide.insert(at, ("legend_prev", legend_text))
        legend["legend_prev"] = fm.prev("legend")
    for r, (kind, text) in enumerate(guide):
        if kind == "title":
            ws.write_string(r, 0, text, fm.title)
            ws.set_row(r, 26)
        elif kind == "head":
            ws.write_string(r, 0, text, fm.bold)
            ws.set_row(r, 20)
        elif kind in legend:
            ws.write_string(r, 0, text, legend[kind])
        else:
            ws.write_string(r, 0, text, fm.text)
            lines = -(-text_units(text) // (width / 1.9))
            ws.set_row(r, 14 * lines + 4)
    ws.activate()

    # fixed boxes, entry and derived cells, check cells
    for sl in lay.sheets:
        ws = sheets[sl.name]
        check_cells: list[tuple[int, int]] = []
        for b in sl.boxes:
            if b.role in ("entry", "info"):
                _write_input(ws, b, form, fm, prefill, meta_values, marks, year, ut)
                continue
            if b.role in ("derived", "check"):
                pos = (sl.name, b.row, b.col)
                formula = formulas.get(pos)
                if formula is None:
                    continue
                val = results.get(pos, "")
                if b.role == "derived":
                    vt = form.cells[b.key].type  # type: ignore[index]
                    f = fm.derived_dec if vt.kind == "decimal" else fm.derived
                    if b.key in marks:
                        f = fm.derived_marked
                        ws.write_comment(
                            b.row, b.col, marks[b.key], {"x_scale": 2.2, "y_scale": 2.0, "font_name": "宋体"}
                        )
                    if b.merged:
                        ws.merge_range(b.row, b.col, b.row + b.rows - 1, b.col + b.cols - 1, "", f)
                    ws.write_formula(b.row, b.col, formula, f, number_for_excel(val))
                else:
                    is_link = (b.iid or "").startswith("#link:")
                    ws.write_formula(b.row, b.col, formula, fm.link if is_link else fm.check, val)
                    if not is_link:
                        check_cells.append((b.row, b.col))
                continue
            fmt = {
                "title": fm.title,
                "guide": fm.guide,
                "caption": fm.caption,
                "corner": fm.corner,
                "header": fm.header,
                "rowlabel": fm.grouplabel if b.rows > 1 else fm.rowlabel,
                "checklabel": fm.checklabel,
                "fieldlabel": fm.fieldlabel,
                "fieldguide": fm.fieldguide,
                "panelhead": fm.panelhead,
                "paneltext": fm.paneltext,
            }[b.role]
            if b.merged:
                ws.merge_range(b.row, b.col, b.row + b.rows - 1, b.col + b.cols - 1, b.text or "", fmt)
            else:
                ws.write_string(b.row, b.col, b.text or "", fmt)
        _write_previous_column(ws, prev_col, sl.name, form, fm)
        if check_cells:
            r0 = min(r for r, _ in check_cells)
            r1 = max(r for r, _ in check_cells)
            c0 = min(c for _, c in check_cells)
            c1 = max(c for _, c in check_cells)
            rng = f"{a1(r0, c0)}:{a1(r1, c1)}"
            ws.conditional_format(rng, {"type": "cell", "criteria": "==", "value": f'"{FAIL}"', "format": fm.cf_fail})
            ws.conditional_format(rng, {"type": "cell", "criteria": "==", "value": f'"{PASS}"', "format": fm.cf_pass})
            ws.conditional_format(
                rng, {"type": "cell", "criteria": "==", "value": f'"{INCOMPLETE}"', "format": fm.cf_todo}
            )
            ws.conditional_format(
                rng, {"type": "cell", "criteria": "==", "value": f'"{NOT_APPLICABLE}"', "format": fm.cf_na}
            )
        if sl.kind == "table":
            first = next((b for b in sl.boxes if b.role in ("entry", "derived")), None)
            if first is not None:
                hdr_end = min(b.row for b in sl.boxes if b.role in ("entry", "derived"))
                label_cols = min(b.col for b in sl.boxes if b.role in ("entry", "derived"))
                if sl.section in ("s3",):
                    ws.freeze_panes(hdr_end, label_cols)

    cl = lay.sheet(CHECKS_SHEET)
    head_row = cl.header_rows[0] if cl.header_rows else 0
    sheets[CHECKS_SHEET].autofilter(head_row, 0, cl.max_row - 1, 5)
    if problems:
        _write_problems(sheets[CHECKS_SHEET], cl, fm, problems, problems_title, lay)

    extra_meta = dict(extra_sheets(wb, password, protect_opts)) if extra_sheets is not None else {}

    # hidden metadata sheet + defined names
    ws = sheets[META_SHEET]
    ws.write_string(0, 0, "gkxlsx 模板标识（请勿修改）", fm.bold)
    for i, k in enumerate(META_FIELDS):
        ws.write_string(1 + i, 0, k)
        ws.write_string(1 + i, 1, meta[k])
        wb.define_name(k, f"='{META_SHEET}'!$B${2 + i}")
    for i, (k, v) in enumerate(extra_meta.items(), start=len(META_FIELDS)):
        ws.write_string(1 + i, 0, k)
        ws.write_string(1 + i, 1, v)
        wb.set_custom_property(k, v)
    ws.very_hidden()
    for key, (s, r, c) in lay.where.items():
        wb.define_name(defined_name(key), f"='{s}'!${col_letter(c)}${r + 1}")
    wb.close()
    data = _lock_structure(buf.getvalue(), password)
    return data, fp


def _write_previous_column(ws, prev_col, sheet: str, form: Form, fm: _Formats) -> None:
    """The grey 上年 column of one sheet: locked headers and last year's figures (plain numbers,
    no formulas, no validation, no defined names: nothing the checker reads)."""
    for b in prev_col.on(sheet):
        if b.role == "prevhead":
            f = fm.prev("head")
            text = b.text or ""
        else:
            f = fm.prev("decimal" if form.value_type(b.key or "").kind == "decimal" else "int")
            text = None
        if b.merged:
            ws.merge_range(b.row, b.col, b.row + b.rows - 1, b.col + b.cols - 1, text or "", f)
        if text is not None:
            if not b.merged:
                ws.write_string(b.row, b.col, text, f)
            continue
        v = prev_col.values.get((sheet, b.row, b.col))
        if v is None:
            ws.write_blank(b.row, b.col, None, f)
        else:
            ws.write_number(b.row, b.col, number_for_excel(v), f)


def _hf(text: str) -> str:
    """Escape text for an Excel header/footer (& starts a control code)."""
    return text.replace("&", "&&")


@dataclass(frozen=True)
class Problem:
    """One line of the problem list a feedback workbook carries on 校验结果."""

    severity: str  # 错误 / 警告 / 提示
    locations: tuple[str, ...]  # “三、依申请公开!J6”
    text: str  # the message and how to fix it
    raw: str = ""  # what the unit's file held
    rule: str = ""


def _write_problems(ws, sl, fm: _Formats, problems: Sequence[Problem], title: str, lay: Layout) -> None:
    texts = data_file("workbook")["problems"]
    widths = sl.col_widths
    start = sl.max_row + 1  # one blank row after the rules
    ws.write_string(start, 0, title or texts["title"].format(n=len(problems)), fm.title)
    ws.set_row(start, 22)
    for j, h in enumerate(texts["columns"]):
        ws.write_string(start + 1, j, h, fm.panelhead)
    sheets = {s.name for s in lay.sheets}
    for n, p in enumerate(problems, start=1):
        r = start + 1 + n
        ws.write_string(r, 0, p.severity, fm.paneltext)
        ws.write_string(r, 1, str(n), fm.paneltext)
        where = (
            "、".join(p.locations[:3]) + (texts["more_places"] if len(p.locations) > 3 else "")
            if p.locations
            else texts["whole_file"]
        )
        target = p.locations[0].rsplit("!", 1) if p.locations and "!" in p.locations[0] else None
        if target is not None and target[0] in sheets and re.fullmatch(r"[A-Z]{1,3}\d+", target[1]):
            sq = target[0].replace("'", "''")
            label = where.replace('"', '""')
            ws.write_formula(r, 2, f'=HYPERLINK("#\'{sq}\'!{target[1]}","{label}")', fm.link, where)
        else:
            ws.write_string(r, 2, where, fm.paneltext)
        ws.write_string(r, 3, p.text, fm.paneltext)
        ws.write_string(r, 4, p.raw[:500], fm.paneltext)
        ws.write_string(r, 5, p.rule, fm.paneltext)
        lines = max(
            -(-text_units(part) // (widths.get(col, 10) / 1.9)) or 1
            for col, txt in ((3, p.text), (2, where), (4, p.raw[:500]))
            for part in (txt.split("\n") or [""])
        )
        ws.set_row(r, min(409.0, 14.0 * max(1, lines) + 4))
    jump = texts["jump"].format(n=len(problems), row=start + 1)
    ws.write_formula(2, 3, f'=HYPERLINK("#\'{CHECKS_SHEET}\'!A{start + 1}","{jump}")', fm.link, jump)


def _write_input(ws, b: Box, form: Form, fm: _Formats, prefill, meta_values, marks, year: int, unit_type=None) -> None:
    key = b.key or ""
    vt = form.value_type(key)
    label = form.label(key)
    if b.role == "info":
        v = meta_values.get(key, "")
        ws.write(b.row, b.col, v if v is not None else "", fm.info)
        return
    f = fm.entry(vt, marked=key in marks, left=key in form.fields)
    if b.merged:
        ws.merge_range(b.row, b.col, b.row + b.rows - 1, b.col + b.cols - 1, "", f)
    v = prefill.get(key)
    if v is None or v == "":
        ws.write_blank(b.row, b.col, None, f)
    elif isinstance(v, bool):
        ws.write_string(b.row, b.col, str(v), f)
    elif isinstance(v, (int, float, Decimal)):
        ws.write_number(b.row, b.col, number_for_excel(v), f)
    elif isinstance(v, (date, datetime)):
        ws.write_datetime(b.row, b.col, v if isinstance(v, datetime) else datetime(v.year, v.month, v.day), f)
    else:
        ws.write_string(b.row, b.col, str(v), f)
    ref = a1(b.row, b.col)
    last = a1(b.row + b.rows - 1, b.col + b.cols - 1)
    dv = _validation(vt, label, year, ref)
    fld = form.fields.get(key)
    if fld is not None and when_holds(fld.when, unit_type) is False:  # unknown unit type: applicable
        dv["input_message"] = data_file("workbook")["validation"]["not_for_unit"] + dv["input_message"]
    elif fld is not None and not fld.required:
        dv["input_message"] = data_file("workbook")["validation"]["optional"] + dv["input_message"]
    ws.data_validation(f"{ref}:{last}" if b.merged else ref, dv)
    if key in marks:
        ws.write_comment(b.row, b.col, marks[key], {"x_scale": 2.2, "y_scale": 2.0, "font_name": "宋体"})


_WB_PROT = re.compile(rb"<bookViews>")


def _legacy_hash(password: str) -> str:
    """The legacy 16-bit Excel password verifier (what workbookPassword / sheet password store)."""
    h = 0
    for ch in reversed(password):
        h = ((h >> 14) & 0x01) | ((h << 1) & 0x7FFF)
        h ^= ord(ch)
    h = ((h >> 14) & 0x01) | ((h << 1) & 0x7FFF)
    h ^= len(password)
    h ^= 0xCE4B
    return f"{h:04X}"


APPLICATION = "gkxlsx"


def _lock_structure(data: bytes, password: str) -> bytes:
    """Insert <workbookProtection lockStructure="1"> (XlsxWriter has no API for it) and stamp
    docProps/app.xml, keeping every other zip entry byte-identical so output stays deterministic."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                prot = f'<workbookProtection workbookPassword="{_legacy_hash(password)}" lockStructure="1"/>'.encode()
                body = _WB_PROT.sub(prot + b"<bookViews>", body, count=1)
            elif info.filename == "docProps/app.xml":
                # say who wrote the file: a return still stamped gkxlsx was never saved by a spreadsheet
                body = re.sub(
                    rb"<Application>[^<]*</Application>",
                    b"<Application>" + APPLICATION.encode() + b"</Application>",
                    body,
                    count=1,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, body)
    return out.getvalue()


def generate_all(
    units: Iterable[Unit],
    year: int,
    out_dir: str | Path,
    *,
    form: Form | None = None,
    prefill: Mapping[str, Mapping[str, Any]] | None = None,
    prev: Mapping[str, Mapping[str, Any]] | None = None,
    prev_format: str | None = None,
    office: OfficeInfo | None = None,
    progress: Callable[[Unit], None] | None = None,
) -> list[GeneratedFile]:
    """Write one workbook per unit and ``manifest.json``; returns the manifest entries."""
    form = form or load_form("2021")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[GeneratedFile] = []
    for u in units:
        data, fp = build_workbook(
            form,
            u,
            year,
            prefill=(prefill or {}).get(u.code),
            prev=(prev or {}).get(u.code),
            prev_format=prev_format,
            office=office,
        )
        path = write_bytes(out / workbook_filename(u, year), data)  # a full disk leaves no half workbook
        files.append(GeneratedFile(u, path, hashlib.sha256(data).hexdigest(), template_id(form, year), fp))
        if progress:
            progress(u)
    manifest = {
        "generator": f"gkxlsx {__version__}",
        "format": form.id,
        "template_version": form.template_version,
        "year": year,
        "files": [
            {
                "unit_code": f.unit.code,
                "unit_name": f.unit.name,
                "unit_type": f.unit.type,
                "file": f.path.name,
                "sha256": f.sha256,
                "template_id": f.template_id,
                "fingerprint": f.fingerprint,
            }
            for f in files
        ],
    }
    write_text(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return files
