"""Audit already-published reports: extract, then run every rule.

``audit_file(path) -> AuditResult`` = :func:`gkxlsx.published.extract.extract_file` + the table rules
(:func:`gkxlsx.rules.evaluate.check`, unit type guessed from the unit's name) + the narrative rules
(:func:`gkxlsx.text.narrative.check_narrative` on the whole text) + findings about the extraction
itself (cells that could not be read, label typos W-TXT-LABEL, “/” for zero, missing title or
date) + W-PUB-LATE when a publication date is printed (the default deadline is the form's
``publication`` fact for the unit type, in the year after the report year).

:func:`summary_workbook` writes one row per report (文件, 单位, 年度, 格式, 错误数, 警告数, 主要问题)
and a sheet with every finding.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gkxlsx.findings import Finding, make_finding
from gkxlsx.form.model import SEVERITY_ZH, Form, UnitType, form_for_year
from gkxlsx.publication import government_deadline, month_day_zh, publication_facts
from gkxlsx.published import notreport, runtogether
from gkxlsx.published.extract import (
    AMBIGUOUS,
    MISSING,
    READ,
    SUPPORTED,
    ExtractError,
    Extraction,
    extract_file,
    extract_text,
)
from gkxlsx.rules.evaluate import check
from gkxlsx.text.narrative import SEVERITY_ORDER, check_narrative, q

LABEL_KIND_ZH = {
    "typo": "有错字或漏字",
    "older": "是2019年版格式的写法",
    "newer": "是2021年版格式的写法",
    "truncated": "不完整",
    "fuzzy": "与官方标签不一致",
    "unrecognised": "无法识别",
}


@dataclass
class AuditResult:
    path: str
    extraction: Extraction | None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the file could not be read
    unit: UnitType | None = None
    deadline: dt.date | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def errors(self) -> int:
        return self.count("error")

    @property
    def warnings(self) -> int:
        return self.count("warning")

    @property
    def infos(self) -> int:
        return self.count("info")

    def rule_ids(self) -> list[str]:
        return [f.rule_id for f in self.findings]

    def top(self, n: int = 3) -> list[Finding]:
        return sorted(self.findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))[:n]

    def to_dict(self) -> dict[str, Any]:
        ex = self.extraction
        r = ex.report if ex else None
        out: dict[str, Any] = {
            "file": self.path,
            "error": self.error,
            "unit": r.unit_name if r else None,
            "unit_type": r.unit_type if r else None,
            "year": (r.year or None) if r else None,
            "format": ex.format_id if ex else None,
            "title": ex.title if ex else None,
            "publish_date": ex.publish_date.isoformat() if ex and ex.publish_date else None,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "errors": self.errors,
            "warnings": self.warnings,
            "infos": self.infos,
            "cells": ex.counts() if ex else None,
            "findings": [
                dict(f.to_dict(), title=f.title, quote=f.raw if isinstance(f.raw, str) else None) for f in self.findings
            ],
        }
        return out


# --------------------------------------------------------------------------------------------


def _label_findings(ex: Extraction) -> list[Finding]:
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for li in ex.label_issues:
        groups[(li.kind, li.found, li.expected)].append(li)
    out = []
    for (kind, found, expected), items in groups.items():
        variant: str | None
        ctx: dict[str, Any]
        where = "、".join(dict.fromkeys(li.where for li in items))
        keys = tuple(dict.fromkeys(k for li in items for k in li.keys))
        times = f"（共 {len(items)} 处）" if len(items) > 1 else ""
        if kind == "replaced":
            rows = expected.split("、")
            shown = "、".join(f"“{r}”" for r in rows[:3]) + ("等" if len(rows) > 3 else "")
            variant, ctx = "replaced", {"shown": shown, "n": len(rows), "text": found}
        elif kind == "absent":
            rows = expected.split("、")
            shown = "、".join(f"“{r}”" for r in rows[:3]) + ("等" if len(rows) > 3 else "")
            variant, ctx = "absent", {"shown": shown}
        else:
            what = "表头" if "表头" in where else "行标签"
            variant = None
            ctx = {
                "what": what,
                "text": q(found),
                "kind": LABEL_KIND_ZH.get(kind, "与官方标签不一致"),
                "expected_label": expected,
                "times": times,
            }
        out.append(
            make_finding(
                "W-TXT-LABEL",
                variant=variant,
                keys=keys,
                locations=tuple(dict.fromkeys(li.where for li in items)),
                raw=found,
                instance=f"W-TXT-LABEL[{found}→{expected}]",
                **ctx,
            )
        )
    return out


def _cell_findings(ex: Extraction) -> list[Finding]:
    out = []
    for ri in ex.row_issues:
        if ri.kind not in (AMBIGUOUS, MISSING):
            continue
        rows = "、".join(f"“{r}”" for r in ri.rows[:3]) + ("等" if len(ri.rows) > 3 else "")
        pos = ex.positions.get(ri.keys[0], ri.where) if ri.keys else ri.where
        pos = re.sub(r"第\d+列（[^）]*）$", "", pos)
        if ri.kind == AMBIGUOUS:
            shown = "".join(f"“{t}”" for t in ri.found[:10]) + ("…" if len(ri.found) > 10 else "")
            out.append(
                make_finding(
                    "W-EXT-AMBIGUOUS",
                    keys=ri.keys,
                    locations=(pos,),
                    raw=" ".join(ri.found),
                    rows=rows,
                    cells=ri.expected,
                    found=len(ri.found),
                    shown=shown,
                )
            )
        else:
            out.append(make_finding("W-EXT-MISSING", keys=ri.keys, locations=(pos,), rows=rows, cells=ri.expected))
    blanks = [k for k, s in ex.status.items() if s == MISSING and "空白" in ex.notes.get(k, [])]
    if blanks:
        shown = "、".join(ex.positions[k] for k in blanks[:3]) + ("等" if len(blanks) > 3 else "")
        out.append(
            make_finding(
                "W-EXT-BLANK",
                n=len(blanks),
                shown=shown,
                keys=blanks,
                locations=tuple(ex.positions[k] for k in blanks[:5]),
            )
        )
    marks: dict[str, list[str]] = defaultdict(list)
    for k, notes in ex.notes.items():
        for n in notes:
            m = re.match(r"“(.+)”视为 0", n)
            if m and ex.status.get(k) == READ:
                marks[m.group(1)].append(k)
    for mark, keys in marks.items():
        shown = "、".join(ex.positions[k] for k in keys[:3]) + ("等" if len(keys) > 3 else "")
        out.append(
            make_finding(
                "W-EXT-SLASH",
                n=len(keys),
                mark=mark,
                shown=shown,
                keys=keys,
                locations=tuple(ex.positions[k] for k in keys[:5]),
                raw=mark,
                instance=f"W-EXT-SLASH[{mark}]",
            )
        )
    units = [
        k
        for k, notes in ex.notes.items()
        if any(n.startswith("单元格内写有单位") or "单元格内写有单位" in n for n in notes)
    ]
    if units:
        shown = "、".join(ex.positions[k] for k in units[:3])
        out.append(
            make_finding(
                "W-EXT-UNIT",
                severity="info",
                n=len(units),
                shown=shown,
                keys=units,
                locations=tuple(ex.positions[k] for k in units[:5]),
            )
        )
    return out


def _meta_findings(ex: Extraction, deadline: dt.date | None) -> list[Finding]:
    out = []
    doc = ex.document
    r = ex.report
    if doc is not None:
        titles = r.form.section_titles
        missing = [sid for sid in titles if sid not in doc.headings]
        for sid in missing:
            out.append(
                make_finding(
                    "W-TXT-SECTION",
                    section=titles[sid],
                    parts=r.form.part_names,
                    locations=(titles[sid],),
                    instance=f"W-TXT-SECTION[{sid}]",
                )
            )
    if not ex.title:
        hint = f"（单位名称取自正文：“{r.unit_name}”）" if r.unit_name else ""
        out.append(make_finding("W-PUB-TITLE", hint=hint, locations=("标题",)))
    if not r.year:
        out.append(make_finding("W-EXT-YEAR", locations=("标题",)))
    if not ex.publish_date:
        out.append(make_finding("W-PUB-DATE", severity="info", locations=("标题",)))
    elif deadline is not None and ex.publish_date > deadline:
        days = (ex.publish_date - deadline).days
        out.append(
            make_finding(
                "W-PUB-LATE",
                date=ex.publish_date.isoformat(),
                due=f"{deadline.year}年{deadline.month}月{deadline.day}日",
                days=days,
                locations=("发布日期",),
                raw=ex.publish_date.isoformat(),
                **_publication_ctx(r.form),
            )
        )
    for w in ex.warnings:
        out.append(make_finding("W-EXT-FORMAT", what=w, locations=(r.form.section_titles["s2"],)))
    return out


def default_deadline(year: int, unit: UnitType | None, form: Form | None = None) -> dt.date | None:
    """The publication deadline the form declares for ``unit`` (in the year after ``year``)."""
    if not year:
        return None
    m, day = (form or form_for_year(year)).publication_deadline(unit.name if unit else None)
    return dt.date(year + 1, m, day)


def _publication_ctx(form: Form) -> dict[str, Any]:
    """The publication facts of ``form`` for the W-PUB-LATE fix: the deadline of departments and
    of local governments (month and day), and the article of the 条例 that sets them."""
    p = form.publication
    return {
        "deadline": month_day_zh(p["deadline"]),
        "government_deadline": month_day_zh(government_deadline(p)),
        "basis": p["basis"],
    }


def parse_deadline(spec: str | None, year: int) -> dt.date | None:
    """“MM-DD” (of the year after the report year) or a full “YYYY-MM-DD”."""
    if not spec:
        return None
    s = spec.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if m:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})", s)
    if m and year:
        return dt.date(year + 1, int(m.group(1)), int(m.group(2)))
    if m:
        return None
    example = "{:02d}-{:02d}".format(*publication_facts()["deadline"])
    raise ValueError(f"无法识别的公开时限“{spec}”，应写作 MM-DD（如 {example}）或 YYYY-MM-DD。")


def audit_extraction(
    ex: Extraction, *, deadline: str | dt.date | None = None, unit_type: str | None = None
) -> AuditResult:
    r = ex.report
    form = r.form
    unit = form.unit_type(unit_type) if unit_type else r.unit
    if unit_type and unit is None:
        raise ValueError(f"未知的单位类型“{unit_type}”。可用：{'、'.join(u.name for u in form.unit_types)}。")
    if unit is not None and unit_type:
        r.unit_type = unit.name
    due: dt.date | None
    if isinstance(deadline, dt.date):
        due = deadline
    else:
        due = parse_deadline(deadline, r.year) if deadline else default_deadline(r.year, unit, form)
    findings: list[Finding] = []
    if ex.not_report:
        # not a report: one clear finding instead of dozens of consequences
        findings.append(notreport.finding(ex, ex.not_report))
        return AuditResult(ex.source or r.source, ex, findings, None, unit, due)
    for f in check(form, r.values, unit=unit):
        locs = [ex.positions[k] for k in f.keys if k in ex.positions]
        findings.append(f.with_locations(locs) if locs else f)
    findings += check_narrative(form, r.values, unit=unit, year=r.year, full_text=ex.full_text)
    findings += _cell_findings(ex)
    findings += runtogether.findings(form, ex.runon, ex.positions)
    findings += _label_findings(ex)
    findings += _meta_findings(ex, due)
    findings.sort(key=lambda f: SEVERITY_ORDER.get(f.severity, 3))
    return AuditResult(ex.source or r.source, ex, findings, None, unit, due)


def audit_text(
    text: str, *, source: str = "", deadline: str | dt.date | None = None, unit_type: str | None = None
) -> AuditResult:
    return audit_extraction(extract_text(text, source=source), deadline=deadline, unit_type=unit_type)


def audit_file(path: str | Path, *, deadline: str | dt.date | None = None, unit_type: str | None = None) -> AuditResult:
    """Audit one report file; an unreadable file gives a result with ``error`` set."""
    try:
        ex = extract_file(path)
    except ExtractError as e:
        return AuditResult(str(path), None, [], str(e))
    return audit_extraction(ex, deadline=deadline, unit_type=unit_type)


def collect_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Files to audit: the files given, and the report files inside given folders (recursively,
    sorted).  Returns (files, problems) — problems are Chinese messages for paths that do not exist."""
    files: list[Path] = []
    problems: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                x
                for x in p.rglob("*")
                if x.is_file() and x.suffix.lower() in SUPPORTED and not x.name.startswith((".", "~$"))
            )
            if not found:
                problems.append(f"{p}：文件夹中没有可读取的报告文件（{'、'.join(SUPPORTED)}）。")
            files += found
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{p}：文件不存在。")
    return files, problems


# --------------------------------------------------------------------------------------------
# summary workbook


SUMMARY_HEADERS = ("文件", "单位", "年度", "格式", "错误数", "警告数", "主要问题")


def summary_rows(results: Sequence[AuditResult]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for res in results:
        ex = res.extraction
        if res.error or ex is None:  # no extraction: the file could not be read
            rows.append([res.path, "", "", "", "", "", f"无法读取：{res.error}"])
            continue
        r = ex.report
        top = [f for f in res.top(3) if f.severity in ("error", "warning")] or res.top(3)
        text = "\n".join(f"[{SEVERITY_ZH[f.severity]}·{f.rule_id}] {f.message}" for f in top)
        rows.append([res.path, r.unit_name, r.year or "", ex.format_id, res.errors, res.warnings, text])
    return rows


def summary_workbook(results: Sequence[AuditResult], path: str | Path) -> Path:
    """One row per report, plus a sheet listing every finding."""
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # report text (file names, unit names, messages) is never a formula or a link
    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )
    wb.set_properties({"title": "政府信息公开工作年度报告审核汇总", "created": dt.datetime(2000, 1, 1)})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top", "border": 1})
    num = wb.add_format({"valign": "top", "border": 1, "align": "center"})
    red = wb.add_format({"valign": "top", "border": 1, "align": "center", "font_color": "#C00000", "bold": True})
    ws = wb.add_worksheet("审核汇总")
    widths = (36, 26, 8, 8, 8, 8, 90)
    for c, (h, w) in enumerate(zip(SUMMARY_HEADERS, widths)):
        ws.write(0, c, h, head)
        ws.set_column(c, c, w)
    for i, row in enumerate(summary_rows(results), 1):
        for c, v in enumerate(row):
            if c in (2, 3, 5):
                ws.write(i, c, v, num)
            elif c == 4:
                ws.write(i, c, v, red if isinstance(v, int) and v > 0 else num)
            else:
                ws.write(i, c, v, wrap)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(1, len(results)), len(SUMMARY_HEADERS) - 1)
    ws2 = wb.add_worksheet("问题明细")
    heads2 = ("文件", "单位", "级别", "规则", "位置", "问题", "修改建议")
    for c, (h, w) in enumerate(zip(heads2, (30, 22, 6, 18, 30, 80, 60))):
        ws2.write(0, c, h, head)
        ws2.set_column(c, c, w)
    i = 1
    for res in results:
        unit = res.extraction.report.unit_name if res.extraction else ""
        if res.error:
            f = make_finding("E-READ", reason=res.error)
            ws2.write_row(
                i,
                0,
                [res.path, unit, SEVERITY_ZH[f.severity], f.rule_id, "", f.message, f.fix],
                wrap,
            )
            i += 1
            continue
        for f in res.findings:
            ws2.write_row(
                i,
                0,
                [res.path, unit, SEVERITY_ZH[f.severity], f.rule_id, "、".join(f.locations), f.message, f.fix],
                wrap,
            )
            i += 1
    ws2.freeze_panes(1, 0)
    ws2.autofilter(0, 0, max(1, i - 1), len(heads2) - 1)
    wb.close()
    return path


__all__ = [
    "AuditResult",
    "SUMMARY_HEADERS",
    "audit_extraction",
    "audit_file",
    "audit_text",
    "collect_files",
    "default_deadline",
    "parse_deadline",
    "summary_rows",
    "summary_workbook",
]
