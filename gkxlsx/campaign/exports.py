"""Tables for people: the status list (.xlsx / .html) and the roll-up workbook and data."""

from __future__ import annotations

import html
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gkxlsx.campaign.campaign import Aggregate, Campaign, StatusSummary
from gkxlsx.clock import CHINA_TZ, china_now, shown
from gkxlsx.form.identity import MAX_NAME_BYTES, fit_bytes, safe_filename
from gkxlsx.form.layout import number_for_excel
from gkxlsx.form.roster import column_name
from gkxlsx.fsutil import write_bytes, write_text


def _mark(ot: bool | None) -> str:
    return "" if ot is None else ("按时" if ot else "逾期")


def _on_time_text(summary: StatusSummary, us) -> str:
    return _mark(summary.on_time(us))


_SUBMISSION_COLUMNS = (
    "状态",
    "审核状态",
    "当前版本",
    "错误",
    "警告",
    "首次报送时间",
    "首次是否按时",
    "最近报送时间",
    "最近是否按时",
    "待审核新版本",
    "确认说明",
)


def status_columns() -> tuple[str, ...]:
    """The status table's column headers: the unit's fields named as in the roster, then its submission's."""
    return (
        *(column_name(f) for f in ("code", "name", "type", "parent")),
        *_SUBMISSION_COLUMNS,
    )


def status_rows(summary: StatusSummary) -> list[list[Any]]:
    rows = []
    for us in summary.units:
        c = us.current
        rows.append(
            [
                us.unit.code,
                us.unit.name,
                us.unit.type,
                us.unit.parent,
                us.status,
                us.state,
                c.version if c else "",
                c.n_errors if c else "",
                c.n_warnings if c else "",
                shown(us.first_received, seconds=True),
                _on_time_text(summary, us),
                shown(us.latest_received, seconds=True),
                _mark(summary.latest_on_time(us)),
                us.held or "",
                (c.accepted_note or "") if c else "",
            ]
        )
    return rows


SIMILAR_NOTE = "当前版本第一、五、六部分的文字高度相似（已去掉各自的单位名称）；国办公开办函〔2021〕30号将“内容雷同”列为应追究责任的问题，请核实。"


def similar_columns() -> tuple[str, ...]:
    """The 内容雷同 table's column headers: a unit's code and name, the other unit's, the similarity."""
    code, name = column_name("code"), column_name("name")
    return (code, name, f"雷同{code}", f"雷同{name}", "相似度")


def similar_rows(similar) -> list[tuple[str, str, str, str, str]]:
    return [(a.code, a.name, b.code, b.name, f"{sc:.0%}") for a, b, sc in similar or ()]


# User text (unit names, codes, finding messages) is never a formula or a link: XlsxWriter's write()
# turns any string starting with '=' into a live formula unless told otherwise.
TEXT_ONLY = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def generated_text(when: datetime | None = None) -> str:
    """“生成时间：2026年1月20日 09:05（北京时间）”: when a status page was made (``when``: now), in China time."""
    t = (when or china_now()).astimezone(CHINA_TZ)
    return f"生成时间：{t.year}年{t.month}月{t.day}日 {t:%H:%M}（北京时间）"


def write_status_xlsx(
    camp: Campaign, summary: StatusSummary, path: Path, similar=None, generated: datetime | None = None
) -> Path:
    """The status table; with ``similar`` (pairs from :meth:`Campaign.similar`) a 内容雷同 sheet too;
    ``generated``: the time it states it was made (default: now)."""
    return write_bytes(path, _status_workbook(camp, summary, similar, generated))


def _status_workbook(camp: Campaign, summary: StatusSummary, similar, generated: datetime | None) -> bytes:
    import io

    import xlsxwriter

    buf = io.BytesIO()  # written to disk in one go, by write_bytes (no half file on a full disk)
    wb = xlsxwriter.Workbook(buf, TEXT_ONLY)
    ws = wb.add_worksheet("报送情况")
    title = wb.add_format({"bold": True, "font_size": 14, "font_name": "宋体"})
    head = wb.add_format({"bold": True, "border": 1, "bg_color": "#F2F2F2", "font_name": "宋体", "align": "center"})
    cell = wb.add_format({"border": 1, "font_name": "宋体"})
    colours = {"通过": "#E2EFDA", "已确认": "#E2EFDA", "有警告": "#FFF2CC", "有错误": "#F8CBAD", "未报送": "#EDEDED"}
    fmts = {k: wb.add_format({"border": 1, "font_name": "宋体", "bg_color": v}) for k, v in colours.items()}
    ws.write(0, 0, f"{camp.year}年度政府信息公开工作年度报告报送情况", title)
    ws.write(1, 0, summary.headline())
    ws.write(2, 0, generated_text(generated))
    columns = status_columns()
    for j, h in enumerate(columns):
        ws.write(3, j, h, head)
    for i, row in enumerate(status_rows(summary)):
        for j, v in enumerate(row):
            ws.write(4 + i, j, v, fmts.get(row[4], cell) if j == 4 else cell)
    for j, w in enumerate((10, 30, 10, 20, 8, 8, 8, 6, 6, 20, 8, 20, 8, 8, 40)):
        ws.set_column(j, j, w)
    ws.freeze_panes(4, 2)
    ws.autofilter(3, 0, 3 + len(summary.units), len(columns) - 1)
    if similar is not None:
        ws = wb.add_worksheet("内容雷同")
        ws.write(0, 0, f"内容雷同：{len(similar)} 对", title)
        ws.write(1, 0, SIMILAR_NOTE)
        for j, h in enumerate(similar_columns()):
            ws.write(3, j, h, head)
        for i, pair in enumerate(similar_rows(similar)):
            for j, v in enumerate(pair):
                ws.write(4 + i, j, v, cell)
        for j, w in enumerate((10, 30, 12, 30, 8)):
            ws.set_column(j, j, w)
        ws.freeze_panes(4, 0)
    wb.close()
    return buf.getvalue()


def write_status_html(
    camp: Campaign, summary: StatusSummary, path: Path, similar=None, generated: datetime | None = None
) -> Path:
    from gkxlsx.render.renderer import environment, render_template

    ctx = dict(
        year=camp.year,
        office=camp.office,
        headline=summary.headline(),
        generated=generated_text(generated),
        columns=status_columns(),
        rows=status_rows(summary),
        similar=None if similar is None else similar_rows(similar),
        similar_columns=similar_columns(),
        similar_note=SIMILAR_NOTE,
    )
    return write_text(path, render_template(environment(), "status.html.j2", ctx))


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def write_aggregate(camp: Campaign, agg: Aggregate, out_dir: Path) -> tuple[Path, Path]:
    """The roll-up as a workbook (汇总 / 分单位明细 / 完整性 / 校验) and as report data JSON for ``render``."""
    form = camp.form
    safe = fit_bytes(safe_filename(agg.name), MAX_NAME_BYTES - 40)  # a long or odd 上级单位 still names a file
    xlsx = out_dir / f"{camp.year}年度汇总_{safe}.xlsx"
    write_bytes(xlsx, _aggregate_workbook(camp, agg))
    data = out_dir / f"{camp.year}年度汇总_{safe}.json"
    payload = {
        "format": form.id,
        "year": camp.year,
        "unit": {"name": agg.name, "code": "", "type": ""},
        "aggregate": agg.completeness,
        "values": {k: _jsonable(v) for k, v in agg.report.values.items() if v is not None},
    }
    notes = explained_warnings(camp, agg)
    if notes:
        payload["notes"] = notes
    write_text(data, json.dumps(payload, ensure_ascii=False, indent=2))
    return xlsx, data


def explained_warnings(camp: Campaign, agg: Aggregate) -> list[dict[str, Any]]:
    """The roll-up's notes: each warning (核实) that stands in an included unit's accepted version,
    with every reason recorded for it."""
    from gkxlsx.campaign.review import accepted_reasons

    out = []
    for u in agg.included:
        sub = camp.ledger.current(u.code)
        if sub is None or not sub.n_warnings:
            continue
        for f, reasons in accepted_reasons(camp.ledger, u.code, sub):
            out.append(
                {
                    "unit_code": u.code,
                    "unit_name": u.name,
                    "version": sub.version,
                    "rule": str(f.get("instance") or f.get("rule") or ""),
                    "message": str(f.get("message") or ""),
                    "reasons": [e.reason for e in reasons],
                }
            )
    return out


def _aggregate_workbook(camp: Campaign, agg: Aggregate) -> bytes:
    import io

    import xlsxwriter

    form = camp.form
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, TEXT_ONLY)
    bold = wb.add_format({"bold": True, "font_name": "宋体"})
    head = wb.add_format(
        {"bold": True, "border": 1, "bg_color": "#F2F2F2", "font_name": "宋体", "text_wrap": True, "valign": "top"}
    )
    cell = wb.add_format({"border": 1, "font_name": "宋体"})
    ws = wb.add_worksheet("汇总")
    ws.write(0, 0, f"{agg.name}{camp.year}年度政府信息公开工作年度报告数据汇总", bold)
    ws.write(1, 0, agg.completeness["statement"])
    for j, h in enumerate(("部分", "项目", "键", "合计")):
        ws.write(3, j, h, head)
    keys = list(form.cells) + [k for k, f in form.fields.items() if f.type.numeric and k.startswith("s6.")]
    for i, k in enumerate(keys):
        sec = form.cells[k].section if k in form.cells else "s6"
        ws.write(4 + i, 0, form.section(sec).title, cell)
        ws.write(4 + i, 1, form.label(k), cell)
        ws.write(4 + i, 2, k, cell)
        v = agg.report.values.get(k)
        ws.write(4 + i, 3, number_for_excel(v) if v is not None else "", cell)
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 2, 26)
    ws.set_column(3, 3, 10)
    ws2 = wb.add_worksheet("分单位明细")
    ws2.write(0, 0, column_name("code"), head)
    ws2.write(0, 1, column_name("name"), head)
    for j, k in enumerate(keys):
        ws2.write(0, 2 + j, form.label(k), head)
    ws2.set_row(0, 90)
    units = {u.code: u for u in agg.included}
    for i, (code, vals) in enumerate(agg.per_unit.items()):
        ws2.write(1 + i, 0, code, cell)
        ws2.write(1 + i, 1, units[code].name, cell)
        for j, k in enumerate(keys):
            v = vals.get(k)
            ws2.write(1 + i, 2 + j, number_for_excel(v) if v is not None else "", cell)
    # 舍位平衡: amounts also shown in the unit and precision of their type's ``shown`` (万元, two
    # decimals), each unit's rounded so that they add up to the total shown on 汇总 (gkxlsx.rounding)
    shown_keys = [k for k in keys if form.value_type(k).shown is not None]
    if shown_keys:
        from gkxlsx.rounding import balanced_round, scaled

        per = list(agg.per_unit.items())
        col = 2 + len(keys)
        ws.write(3, 4, "显示值（舍位平衡）", head)
        ws.set_column(4, 4, 24)
        for k in shown_keys:
            sh = form.value_type(k).shown
            assert sh is not None
            parts = [scaled(vals.get(k) or 0, sh.factor) for _code, vals in per]
            rounded, total = balanced_round(parts, sh.dp)
            shown_label = f"{form.label(k)}（{sh.unit}，保留{sh.dp}位小数，舍位平衡）"
            ws2.write(0, col, shown_label, head)
            for i, v in enumerate(rounded):
                ws2.write(1 + i, col, float(v), cell)
            ws.write(4 + keys.index(k), 4, f"{total}（{sh.unit}）", cell)
            col += 1
    ws2.freeze_panes(1, 2)
    ws3 = wb.add_worksheet("完整性")
    ws3.write(0, 0, agg.completeness["statement"], bold)
    ws3.write(2, 0, "已纳入", head)
    ws3.write(2, 1, "未纳入", head)
    ws3.write(2, 2, "原因", head)
    for i, u in enumerate(agg.included):
        ws3.write(3 + i, 0, u.name, cell)
    for i, (u, why) in enumerate(agg.missing):
        ws3.write(3 + i, 1, u.name, cell)
        ws3.write(3 + i, 2, why, cell)
    ws3.set_column(0, 2, 36)
    ws4 = wb.add_worksheet("校验")
    if agg.findings:
        for i, f in enumerate(agg.findings):
            ws4.write(i, 0, f.severity_zh)
            ws4.write(i, 1, f.rule_id)
            ws4.write(i, 2, f.message)
    else:
        ws4.write(0, 0, "汇总数据通过全部勾稽关系校验。")
    notes = explained_warnings(camp, agg)
    if notes:
        ws5 = wb.add_worksheet("核实说明")
        for j, h in enumerate((column_name("code"), column_name("name"), "版本", "警告", "内容", "理由")):
            ws5.write(0, j, h, head)
        for i, n in enumerate(notes):
            for j, k in enumerate(("unit_code", "unit_name", "version", "rule", "message", "reasons")):
                ws5.write(1 + i, j, "；".join(n[k]) if k == "reasons" else n[k], cell)
        for j, w in enumerate((10, 30, 6, 16, 60, 60)):
            ws5.set_column(j, j, w)
    wb.close()
    return buf.getvalue()


def display_width(text: str) -> int:
    """Terminal columns of a text: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def status_text(summary: StatusSummary) -> str:
    lines = [summary.headline(), ""]
    w = max((display_width(u.unit.name) for u in summary.units), default=4)
    cw = max((display_width(u.unit.code) for u in summary.units), default=4)
    for us in summary.units:
        c = us.current
        detail = ""
        if c:
            detail = f"第{c.version}版  错误{c.n_errors} 警告{c.n_warnings}  首次 {shown(us.first_received)} {_on_time_text(summary, us)}"
            if us.versions > 1:
                detail += f"  最近 {shown(us.latest_received)} {_mark(summary.latest_on_time(us))}"
            if us.held:
                detail += f"  另有 {us.held} 个新版本待审核"
        lines.append(
            f"  {pad(us.unit.code, cw)}  {pad(us.unit.name, w)}  {pad(us.status, 6)}  {pad(us.state, 6)}  {detail}".rstrip()
        )
    return "\n".join(lines)


def esc(s: str) -> str:
    return html.escape(s)
