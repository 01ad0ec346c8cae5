"""Feedback workbooks: a fresh template, prefilled with the unit's own entries, problems marked.

The unit's returned file is never edited or re-saved (ENGINEERING.md pitfall 5: openpyxl would drop
validations and cached results).  Instead the generator builds a new workbook for the same unit,
year and format, prefilled with what the unit typed — bad entries included, as text, so the unit
sees exactly what it wrote — with every problem cell highlighted and carrying a note (the message
and the fix).  The 校验结果 sheet then gets the list of problems found in the returned file, each
with a link to its cell, below the rule list, and a link to that list at the top.

Structural problems of the returned file (protection removed, a formula overwritten, rows
inserted) are listed too; the fresh workbook itself no longer has them.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping
from xml.sax.saxutils import escape

from .checker import STATUS_ERR, STATUS_WARN, FileResult
from .generate import build_workbook, safe_filename
from .layout import CHECKS_SHEET, layout, text_units
from .model import Form
from .roster import Unit
from .rules import Finding, fmt_num

MAX_LISTED = 500


def feedback_filename(result: FileResult) -> str:
    ident = result.identity
    assert ident is not None
    return f"{safe_filename(ident.unit_code)}_{safe_filename(ident.unit_name)}_{ident.year}年_校验反馈.xlsx"


def mark_text(f: Finding) -> str:
    """The note on a marked cell: severity, rule, message, fix (in the workbook's words)."""
    sugg = ""
    if f.suggestion is not None and "应改为" not in f.message and "四舍五入为" not in f.message:
        sugg = f"建议改为 {fmt_num(f.suggestion)}。"
    return f"【{f.severity_zh} {f.rule_id}】{f.message}{sugg}修改方法：{f.fix}"


def _prefill(form: Form, result: FileResult) -> dict[str, Any]:
    """What to put back in the entry cells: the unit's entries as it typed them."""
    out: dict[str, Any] = {}
    vals = result.values or {}
    for key, v in result.inputs.items():
        if key in form.cells and form.cells[key].derived:
            continue
        if key in form.fields and form.fields[key].prefilled:
            continue
        if key not in form.cells and key not in form.fields:
            continue
        vt = form.value_type(key)
        if vt.kind == "date" and isinstance(vals.get(key), (date, datetime)):
            out[key] = vals[key]
        elif isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) and not abs(v) < 10**15:
            out[key] = fmt_num(v)  # beyond a spreadsheet's precision: show it as text
        elif v is not None:
            out[key] = v
    return out


def write_feedback(
    result: FileResult,
    out_dir: str | Path,
    *,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
    unit: Unit | None = None,
    taken: set[str] | None = None,
) -> Path | None:
    """Write the feedback workbook of one checked file into ``out_dir``; returns its path, or None
    when there is nothing to send back (the file passed) or the file could not be identified (then
    there is no template to regenerate — the findings say what to send instead).

    ``taken``: file names already written in this batch (several files of one unit get
    “…_校验反馈（2）.xlsx” and so on instead of overwriting each other); updated in place."""
    form = result.form
    ident = result.identity
    if form is None or ident is None or result.values is None or ident.year is None:
        return None
    if result.status not in (STATUS_ERR, STATUS_WARN):
        return None  # passed (at most notes): nothing to send back
    vals = result.values
    u = unit or Unit(
        code=ident.unit_code,
        name=ident.unit_name,
        type=ident.unit_type,
        parent=str(vals.get("meta.parent") or ""),
    )
    marks: dict[str, list[str]] = {}
    entry_like = set(form.entry_keys) | {k for k, f in form.fields.items() if not f.prefilled}
    for f in result.findings:
        for k in f.keys:
            if k in entry_like:
                marks.setdefault(k, []).append(mark_text(f))
    data, _fp = build_workbook(
        form,
        u,
        ident.year,
        prefill=_prefill(form, result),
        prev=prev,
        prev_format=prev_format,
        marks={k: "\n".join(dict.fromkeys(v)) for k, v in marks.items()},
    )
    data = add_problem_list(data, form, result)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = feedback_filename(result)
    if taken is not None:
        base, n = name[: -len(".xlsx")], 2
        while name in taken:
            name = f"{base}（{n}）.xlsx"
            n += 1
        taken.add(name)
    path = out / name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    result.feedback = path
    return path


# --------------------------------------------------------------------------------------------
# the problem list on 校验结果 (added to the generated XML: the sheet stays protected, nothing
# else in the package changes)


def _style_of(xml: str, ref: str, default: str = "0") -> str:
    m = re.search(r'<c r="' + ref + r'"(?: s="(\d+)")?', xml)
    return m.group(1) if m and m.group(1) else default


def _istr(ref: str, text: str, style: str) -> str:
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'


def _link(ref: str, target_sheet: str, target_ref: str, label: str, style: str) -> str:
    sheet_q = target_sheet.replace("'", "''")
    formula = f'HYPERLINK("#\'{sheet_q}\'!{target_ref}","{label.replace(chr(34), chr(34) * 2)}")'
    return f'<c r="{ref}" s="{style}" t="str"><f>{escape(formula)}</f><v>{escape(label)}</v></c>'


def _row_height(texts_widths: list[tuple[str, float]]) -> float:
    lines = 1
    for text, width in texts_widths:
        per_line = max(1.0, width / 1.9)
        n = sum(max(1, -(-int(text_units(part) * 100) // int(per_line * 100))) for part in text.split("\n"))
        lines = max(lines, n)
    return min(409.0, 14.0 * lines + 4)


def _split_location(location: str) -> tuple[str, str] | None:
    if "!" not in location:
        return None
    s, ref = location.rsplit("!", 1)
    if not re.fullmatch(r"[A-Z]{1,3}\d+", ref):
        return None
    return s, ref


def add_problem_list(data: bytes, form: Form, result: FileResult) -> bytes:
    """Append “本次校验发现的问题” with links to 校验结果 of a generated workbook."""
    lay = layout(form)
    idx = [s.name for s in lay.sheets].index(CHECKS_SHEET) + 1
    part = f"xl/worksheets/sheet{idx}.xml"
    src = zipfile.ZipFile(io.BytesIO(data))
    xml = src.read(part).decode("utf-8")
    sl = lay.sheet(CHECKS_SHEET)
    widths = sl.col_widths
    head_row = next(b.row for b in sl.boxes if b.role == "panelhead")
    first_rule_row = head_row + 1
    st_title = _style_of(xml, "A1")
    st_head = _style_of(xml, f"A{head_row + 1}")
    st_text = _style_of(xml, f"D{first_rule_row + 1}")
    st_link = _style_of(xml, f"E{first_rule_row + 1}")
    findings = result.findings[:MAX_LISTED]
    start = sl.max_row + 2  # 1-based Excel row of the list title (one blank row after the rules)
    rows: list[str] = []
    c = result.counts
    title = f"本次校验发现的问题（原文件：{result.name}；错误 {c['error']} 项，警告 {c['warning']} 项，提示 {c['info']} 项）"
    rows.append(f'<row r="{start}" ht="22" customHeight="1">{_istr(f"A{start}", title, st_title)}</row>')
    hdr = ("级别", "序号", "位置", "问题和修改方法", "原文件中填写的内容", "规则编号")
    r = start + 1
    rows.append(f'<row r="{r}">' + "".join(_istr(f"{col}{r}", h, st_head) for col, h in zip("ABCDEF", hdr)) + "</row>")
    for n, f in enumerate(findings, start=1):
        r += 1
        text = f"{f.message}\n修改方法：{f.fix}"
        if f.suggestion is not None and "应改为" not in f.message and "四舍五入为" not in f.message:
            text = f"{f.message}建议改为 {fmt_num(f.suggestion)}。\n修改方法：{f.fix}"
        raw = "" if f.raw is None else str(f.raw)
        if not raw and f.actual not in (None, ""):
            raw = str(fmt_num(f.actual) if not isinstance(f.actual, str) else f.actual)
        cells = [_istr(f"A{r}", f.severity_zh, st_text), _istr(f"B{r}", str(n), st_text)]
        target = _split_location(f.locations[0]) if f.locations else None
        where = "、".join(f.locations[:3]) + ("等" if len(f.locations) > 3 else "") if f.locations else "整个文件"
        if target is not None and any(target[0] == s.name for s in lay.sheets):
            cells.append(_link(f"C{r}", target[0], target[1], where, st_link))
        else:
            cells.append(_istr(f"C{r}", where, st_text))
        cells.append(_istr(f"D{r}", text, st_text))
        cells.append(_istr(f"E{r}", raw[:500], st_text))
        cells.append(_istr(f"F{r}", f.rule_id, st_text))
        ht = _row_height([(text, widths.get(3, 70)), (where, widths.get(2, 16)), (raw[:500], widths.get(4, 24))])
        rows.append(f'<row r="{r}" ht="{ht:.2f}" customHeight="1">' + "".join(cells) + "</row>")
    if len(result.findings) > MAX_LISTED:
        r += 1
        rows.append(f'<row r="{r}">{_istr(f"D{r}", f"另有 {len(result.findings) - MAX_LISTED} 项未列出。", st_text)}</row>')
    last = r
    xml = xml.replace("</sheetData>", "".join(rows) + "</sheetData>", 1)
    # a pointer at the top (row 3, column D is free)
    pointer = _link("D3", CHECKS_SHEET, f"A{start}", f"本次校验发现 {len(result.findings)} 个问题，问题清单见第 {start} 行起（点此跳转）", st_link)
    xml = re.sub(r'(<row r="3"[^>]*>.*?)(</row>)', lambda m: m.group(1) + pointer + m.group(2), xml, count=1, flags=re.S)
    xml = re.sub(r'<dimension ref="A1:[A-Z]+\d+"/>', f'<dimension ref="A1:F{last}"/>', xml, count=1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = xml.encode("utf-8") if info.filename == part else src.read(info.filename)
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = info.external_attr
            dst.writestr(zi, body)
    return out.getvalue()


def write_all(results, out_dir: str | Path) -> list[Path]:
    """Feedback workbooks for every result with errors or warnings and a known template."""
    paths = []
    taken: set[str] = set()
    for r in results:
        p = write_feedback(r, out_dir, taken=taken)
        if p is not None:
            paths.append(p)
    return paths
