"""The checks of one returned workbook, small and in order, each a function of a :class:`FileCheck`.

:data:`CHECKS` lists them in the order they run (the order of the findings within a severity);
:func:`run` takes a file from its bytes to its :class:`~gkxlsx.check.result.FileResult`:

1. file triage (:func:`gkxlsx.workbook.reader.load`: size, magic bytes, zip-bomb guard,
   encryption) — before any check, into the :class:`~gkxlsx.check.returned.ReturnedWorkbook`;
2. ``identity``: is it a gkxlsx template at all (custom properties, the hidden ``_gkxlsx`` sheet,
   cross-checked) → E-NOT-TEMPLATE / E-META-1;
3. ``template``, ``year_unit``: format and template version → E-TEMPLATE-VERSION; report year →
   E-YEAR; unit (roster, file name) → E-UNIT / W-UNIT-NAME;
4. ``layout`` … ``protection``: sheets, inserted or deleted rows and columns (defined names that
   moved), labels, sheet and workbook protection → E-STRUCT-*;
5. ``values``: every entry cell read by its key and parsed strictly (:mod:`gkxlsx.check.values`)
   → E-CELL-*;
6. ``formulas``, ``rules``, ``cached_results``: formulas and locked totals; every rule recomputed
   from the inputs (a total typed over its formula checked as shown) → E-T3-* …; cached formula
   results against the recomputation → W-CACHE-STALE;
7. ``narrative``, ``similar_to_last_year``: :mod:`gkxlsx.text.narrative` → W-TXT-*, W-XY-SIMILAR.

A check adds findings with :meth:`FileCheck.add` and leaves what later checks need on the
:class:`FileCheck` (positions, values, outcomes).  It returns None to go on, :data:`STOP` to end
the check of this file there, or :data:`UNREADABLE` to end it as 无法识别.  Checks of stage
``file`` run on every workbook; those of stage ``book`` once its form, year and unit are settled.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from gkxlsx.check.compiled import _all_int, _applicable, _derived, _fast_all, _fast_rules
from gkxlsx.check.context import CheckContext, prev_for
from gkxlsx.check.plan import (
    ITEM_BODY,
    MAX_LABEL_FINDINGS_PER_SHEET,
    FormPlan,
    FormulaRun,
    PlainStyles,
    bulk_formulas,
    bulk_ints,
    cache_plan,
    exact_formula_plan,
    form_plan,
    formula_plan,
    formula_runs,
    loc,
    normalize_formula,
    template_fingerprint,
    totals_locked,
)
from gkxlsx.check.result import SEVERITY_ORDER, STATUS_UNREADABLE, FileResult, Identity, status_of
from gkxlsx.check.returned import (
    ReturnedWorkbook,
    cached_fast,
    excel_number,
    json_value,
    prefill_value,
    raw_result,
    same_result,
    show,
    shown_number,
)
from gkxlsx.check.values import ValueProblem, date_like, display_raw, parse_value, problem_context
from gkxlsx.findings import Finding, fmt_num, make_finding
from gkxlsx.form.layout import GUIDE_SHEET, INFO_SHEET, META_SHEET
from gkxlsx.form.model import Form, FormError, UnitType, builtin_form_ids, form_for_year, load_form
from gkxlsx.form.roster import Unit
from gkxlsx.rules.engine import NOT_APPLICABLE, PASS, Outcome, as_number, compute_derived, parse_expr
from gkxlsx.workbook.reader import ReadError, a1, load, split_ref, xml_text

IDENTITY_FIELDS = (
    "GKX_APP",
    "GKX_FORMAT",
    "GKX_TEMPLATE_VERSION",
    "GKX_YEAR",
    "GKX_UNIT_CODE",
    "GKX_UNIT_NAME",
    "GKX_UNIT_TYPE",
)
_FILENAME = re.compile(r"^(?P<code>[0-9A-Za-z_\-]+?)_(?P<name>.+?)_(?P<year>\d{4})年政府信息公开工作年度报告")

STOP = "stop"  # a check's verdict: end the check of this file here (status from the findings)
UNREADABLE = "unreadable"  # … and the file is 无法识别


class FileCheck:
    """The context every check receives: the batch's :class:`CheckContext`, the workbook as read
    (:class:`ReturnedWorkbook`), the findings so far, and what earlier checks established."""

    __slots__ = (
        "path",
        "ctx",
        "wb",
        "res",
        "findings",
        "t0",
        # settled by the file checks
        "identity",
        "form",
        "unit_type",
        # the book checks' shared state
        "plan",
        "prev",
        "prev_format",
        "sheet_map",
        "shifted",
        "pos",
        "moved",
        "values",
        "excel_view",
        "shown_derived",
        "vals",
        "overrides",
        "pending",
        "exp_prev",
        "exp_pf",
        "outcomes",
    )

    path: Path
    ctx: CheckContext
    wb: ReturnedWorkbook
    identity: Identity
    form: Form
    unit_type: UnitType | None
    plan: FormPlan
    prev: Mapping[str, Any] | None
    prev_format: str | None
    sheet_map: dict[str, str]  # template sheet → sheet in the book
    shifted: dict[str, str]  # template sheet with moved cells → what moved
    pos: dict[str, tuple[str, str] | None]  # key → (sheet in the book, address), None where gone
    moved: bool  # any key not where the template put it
    values: dict[str, Any]  # parsed values (None where invalid)
    excel_view: dict[str, Any]  # what Excel computes with (numbers, also bad ones)
    shown_derived: dict[str, Any]  # totals: the number shown where typed over, None for a formula
    vals: dict[str, Any]  # values with the totals recomputed
    overrides: dict[str, Any]  # totals typed over their formula → the number shown
    pending: list  # cached formula results to compare (FormulaRun or (position, where, result))
    exp_prev: Mapping[str, Any] | None  # last year's values the template's formulas were built with
    exp_pf: str | None
    outcomes: list[Outcome]

    def __init__(self, path: Path, ctx: CheckContext):
        self.path = path
        self.ctx = ctx
        self.res = FileResult(path=path)
        self.findings: list[Finding] = []
        self.t0 = time.perf_counter()
        self.pending = []
        self.overrides = {}
        self.exp_prev = self.exp_pf = None
        self.vals = None  # type: ignore[assignment]

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def located(self, f: Finding) -> Finding:
        """A finding of the rule engine or the narrative checks with the cells of its keys."""
        pos = self.pos
        locs = tuple(loc(*pos[k]) for k in f.keys if pos.get(k))  # type: ignore[misc]
        return f.with_locations(locs)

    def begin_book(self) -> None:
        """Before the book checks: the form's plan, last year's values of the unit."""
        self.plan = form_plan(self.form)
        self.prev, self.prev_format = prev_for(self.ctx, self.identity.unit_code)

    def finish(self, status: str | None = None) -> FileResult:
        self.findings.sort(key=lambda x: SEVERITY_ORDER.get(x.severity, 3))
        self.res.findings = self.findings
        self.res.status = status or status_of(self.findings)
        self.res.timings["total"] = (time.perf_counter() - self.t0) * 1000
        return self.res


# --------------------------------------------------------------------------------------------
# 2. identity, 3. form, year and unit


def macros(c: FileCheck) -> None:
    if c.wb.macros:
        c.add(make_finding("I-FILE-MACROS"))


_META_ZH = {
    "GKX_FORMAT": "报告格式",
    "GKX_TEMPLATE_VERSION": "模板版本",
    "GKX_YEAR": "报告年度",
    "GKX_UNIT_CODE": "单位代码",
    "GKX_UNIT_NAME": "单位名称",
    "GKX_UNIT_TYPE": "单位类型",
}


def identity(c: FileCheck) -> str | None:
    """Who and what the workbook says it is (document properties first, the hidden sheet second)."""
    wb = c.wb
    custom, meta = wb.declared()
    c.res.timings["read"] = (time.perf_counter() - c.t0) * 1000
    is_ours = custom.get("GKX_APP") == "gkxlsx" or meta.get("GKX_APP") == "gkxlsx"
    if not is_ours:
        sections = {"一、总体情况", "三、依申请公开", "四、复议诉讼"}
        if sections & set(wb.sheet_names):
            what = "工作簿的工作表名称与填报模板相似，但缺少模板标识——可能是自己新建、复制或由其他软件转换的表格，无法确认是哪个单位、哪个年度的模板。"
        else:
            shown = "、".join(n for n in wb.sheet_names[:5]) + ("……" if len(wb.sheet_names) > 5 else "")
            what = f"这个工作簿不是本次下发的政府信息公开工作年度报告填报模板（工作表：{shown or '无'}）。"
        c.add(make_finding("E-NOT-TEMPLATE", what=what))
        return UNREADABLE
    src = custom if custom.get("GKX_APP") == "gkxlsx" else meta
    ident = Identity(
        format=src.get("GKX_FORMAT", ""),
        template_version=src.get("GKX_TEMPLATE_VERSION", ""),
        year=_int(src.get("GKX_YEAR")),
        unit_code=src.get("GKX_UNIT_CODE", ""),
        unit_name=src.get("GKX_UNIT_NAME", ""),
        unit_type=src.get("GKX_UNIT_TYPE", ""),
        generator=src.get("GKX_GENERATOR", ""),
        fingerprint=src.get("GKX_FINGERPRINT", ""),
        previous=src.get("GKX_PREVIOUS", ""),
        source="文档属性" if src is custom else "标识表",
    )
    if custom and meta:
        diffs = []
        for k in IDENTITY_FIELDS[1:]:
            a, b = _norm_meta(k, custom.get(k)), _norm_meta(k, meta.get(k))
            if a is not None and b is not None and a != b:
                diffs.append(f"{_META_ZH[k]}在文档属性中为“{a}”，在隐藏的标识表中为“{b}”")
        if diffs:
            c.add(
                make_finding(
                    "E-META-1",
                    what="模板标识不一致：" + "；".join(diffs) + "。标识表可能被改动过。",
                    locations=(META_SHEET,),
                )
            )
    c.identity = c.res.identity = ident
    return None


def template(c: FileCheck) -> str | None:
    """The report format and template version the workbook was generated for."""
    ident = c.identity
    try:
        # only built-in format ids: a string from the file is never used as a path
        if ident.format not in _builtin_ids():
            raise FormError(ident.format)
        form = load_form(ident.format)
    except FormError:
        c.add(
            make_finding(
                "E-TEMPLATE-VERSION",
                what=f"工作簿的报告格式“{ident.format}”无法识别（可能由其他版本的工具生成）。",
                year=c.ctx.year or ident.year or "",
            )
        )
        return STOP
    if ident.template_version != form.template_version:
        c.add(
            make_finding(
                "E-TEMPLATE-VERSION",
                what=f"工作簿的模板版本为 {ident.template_version or '（空）'}，当前使用的是 {form.template_version} 版本（{form.document_number}），两者的表格结构可能不同。",
                year=c.ctx.year or ident.year or "",
                expected=form.template_version,
                actual=ident.template_version,
            )
        )
        return STOP
    c.form = form
    c.res.form_id = form.id
    return None


def year_unit(c: FileCheck) -> str | None:
    """The report year (valid, the one collected, one the format covers) and the unit (in the
    roster, the file name's)."""
    ok = True
    form, ident, want_year = c.form, c.identity, c.ctx.year
    year = ident.year
    lo, hi = form.report_years
    if year is None or not 1990 <= year <= 2200:
        c.add(
            make_finding(
                "E-META-1", what=f"模板标识中的报告年度{'缺失' if year is None else '“' + str(year) + '”无效'}。"
            )
        )
        ok = False
    elif want_year is not None and year != want_year:
        c.add(
            make_finding(
                "E-YEAR",
                found=year,
                expected=want_year,
                expected_value=want_year,
                actual=year,
                locations=(f"{INFO_SHEET}!B7",),
            )
        )
    elif not lo <= year <= hi:
        c.add(
            make_finding(
                "E-TEMPLATE-VERSION",
                what=f"{form.name}（{form.document_number}）适用于 {lo}—{hi} 年度的报告，工作簿的报告年度却是 {year}。",
                year=year,
            )
        )
    if want_year is not None and ok:
        try:
            want = _form_for_year(want_year)
            if want.id != form.id:
                c.add(
                    make_finding(
                        "E-TEMPLATE-VERSION",
                        what=f"工作簿使用的是 {form.document_number} 格式，{want_year} 年度的报告应使用 {want.document_number} 格式。",
                        year=want_year,
                    )
                )
        except FormError:
            pass
    # unit: roster and file name
    code = ident.unit_code
    roster = c.ctx.roster
    if not code:
        c.add(make_finding("E-META-1", what="模板标识中缺少单位代码。"))
        ok = False
    if roster is not None and code:
        u = roster.get(code)
        if u is None:
            c.add(
                make_finding(
                    "E-UNIT",
                    what=f"工作簿是 {ident.label} 的填报模板，但单位代码 {code} 不在本次收集名单中。",
                    actual=code,
                )
            )
        elif u.name != ident.unit_name:
            c.add(make_finding("W-UNIT-NAME", found=ident.unit_name, expected=u.name, code=code))
    fcode, fname = _filename_unit(c.path.name, roster)
    if fcode and code and fcode != code:
        c.add(
            make_finding(
                "E-UNIT",
                what=f"文件名表明这是 {fcode} {fname} 的文件，但工作簿内是 {ident.label} 的填报模板——可能用了其他单位的文件填写，或文件名被改过。",
                expected=fcode,
                actual=code,
                locations=(f"{INFO_SHEET}!B4",),
            )
        )
    if not ok:
        return STOP
    c.unit_type = form.unit_type(ident.unit_type)
    return None


def _filename_unit(name: str, roster: dict[str, Unit] | None) -> tuple[str, str]:
    if roster:
        # the longest roster code followed by "_" that the name starts with: look up the name's
        # own prefixes (a few), not every code of the roster (10,000 in a national campaign)
        i = name.rfind("_")
        while i > 0:
            code = name[:i]
            if code in roster:
                return code, roster[code].name
            i = name.rfind("_", 0, i)
    m = _FILENAME.match(name)
    if m:
        return m.group("code"), m.group("name")
    return "", ""


# --------------------------------------------------------------------------------------------
# 4. structure: sheets, defined names, shifts, labels, protection

_LAYOUT_MEMO: dict[tuple, tuple] = {}


def layout_in_book(c: FileCheck) -> None:
    """Where the template's sheets and cells are in the book (a renamed sheet is found through the
    defined names; inserted or deleted rows and columns by the names that moved) → c.sheet_map,
    c.shifted, c.pos, c.moved.  A pure function of the form, the sheet names and the defined
    names: the returns of one template (the same workbook.xml but for its protection hash, parsed
    once by the reader) share the result."""
    plan, wb = c.plan, c.wb
    names_raw = wb.names_raw
    key = None
    if names_raw:
        key = (id(plan), id(names_raw), tuple(wb.sheet_names))
        got = _LAYOUT_MEMO.get(key)
        if got is not None and got[0] is plan and got[1] is names_raw:
            _p, _n, c.sheet_map, c.shifted, c.pos, c.moved, found = got
            c.findings.extend(found)
            return
    n0 = len(c.findings)
    c.sheet_map, c.shifted = _sheets_and_names(c)
    c.pos, c.moved = _positions(plan, wb, c.sheet_map, c.shifted)
    if key is not None:
        if len(_LAYOUT_MEMO) > 64:
            _LAYOUT_MEMO.clear()
        _LAYOUT_MEMO[key] = (plan, names_raw, c.sheet_map, c.shifted, c.pos, c.moved, tuple(c.findings[n0:]))


def _sheets_and_names(c: FileCheck) -> tuple[dict[str, str], dict[str, str]]:
    """Layout sheet → sheet in the book; sheets with inserted/deleted rows or columns → message."""
    plan, wb = c.plan, c.wb
    lay = plan.lay
    sheet_map: dict[str, str] = {}
    shifted: dict[str, str] = {}
    moved: dict[str, list[tuple[int, int, int, int, str]]] = {}
    renamed: dict[str, dict[str, int]] = {}
    deleted: dict[str, list[str]] = {}
    for key, (s, r, col) in lay.where.items():
        dn, variants = plan.name_text[key]
        raw = wb.name_raw(dn)
        if raw is None or raw in variants:
            continue
        parsed = _parse_name_ref(xml_text(raw))
        if parsed is None:
            deleted.setdefault(s, []).append(key)
            continue
        ps, pr, pc = parsed
        if ps != s:
            renamed.setdefault(s, {}).setdefault(ps, 0)
            renamed[s][ps] += 1
        if (pr, pc) != (r, col):
            moved.setdefault(s, []).append((r, col, pr - r, pc - col, key))
    for sl in lay.sheets:
        s = sl.name
        if s == GUIDE_SHEET:
            if wb.has_sheet(s):
                sheet_map[s] = s
            continue
        if wb.has_sheet(s):
            sheet_map[s] = s
            continue
        target = max(renamed.get(s, {}).items(), key=lambda x: x[1])[0] if renamed.get(s) else None
        found = "、".join(n for n in wb.sheet_names if n != META_SHEET)
        if target and wb.has_sheet(target):
            sheet_map[s] = target
            c.add(make_finding("E-STRUCT-SHEET", what=f"工作表“{s}”被改名为“{target}”。", locations=(target,)))
        elif s == META_SHEET:
            continue  # identity came from the document properties; reported there if inconsistent
        else:
            c.add(
                make_finding(
                    "E-STRUCT-SHEET", what=f"找不到工作表“{s}”（现有工作表：{found or '无'}）。", locations=(s,)
                )
            )
    for s, items in moved.items():
        items.sort()
        r0, c0, dr, dc, _ = items[0]
        shown = sheet_map.get(s, s)
        if dr and not dc:
            first = min(r for r, _c, d, _e, _k in items if d)
            what = f"工作表“{shown}”的表格从第 {first + 1} 行起整体{'下移' if dr > 0 else '上移'}了 {abs(dr)} 行——{'插入' if dr > 0 else '删除'}了行。"
            at = loc(shown, f"A{first + 1}")
        elif dc and not dr:
            first = min(col for _r, col, _d, e, _k in items if e)
            what = f"工作表“{shown}”的表格从第 {re.sub(r'[0-9]', '', a1(0, first))} 列起整体{'右移' if dc > 0 else '左移'}了 {abs(dc)} 列——{'插入' if dc > 0 else '删除'}了列。"
            at = loc(shown, a1(0, first))
        else:
            what = f"工作表“{shown}”中的单元格位置发生了移动——插入或删除了行列。"
            at = loc(shown, a1(r0, c0))
        shifted[s] = what
        c.add(make_finding("E-STRUCT-SHIFT", what=what, locations=(at,)))
    for s, keys in deleted.items():
        shown = sheet_map.get(s, s)
        refs = [plan.key_pos[k][1] for k in keys]
        what = f"工作表“{shown}”中删除了行或列，原来位于 {'、'.join(refs[:6])}{'等' if len(refs) > 6 else ''} 的 {len(refs)} 个填写单元格已不存在。"
        shifted.setdefault(s, what)
        c.add(make_finding("E-STRUCT-SHIFT", what=what, locations=tuple(loc(shown, r) for r in refs[:6]), keys=keys))
    return sheet_map, shifted


def _positions(
    plan: FormPlan, wb: ReturnedWorkbook, sheet_map: dict[str, str], shifted: dict[str, str]
) -> tuple[dict[str, tuple[str, str] | None], bool]:
    """(key → (sheet in the book, address): by defined name where it moved, else the layout;
    whether any moved)."""
    pos: dict[str, tuple[str, str] | None] = {}
    moved = bool(shifted) or any(sheet_map.get(sl) != sl for sl in plan.entry_sheets if sl != GUIDE_SHEET)
    for key, (s, ref) in plan.key_pos.items():
        bs = sheet_map.get(s)
        if bs is None:
            pos[key] = None
            continue
        if s in shifted or bs != s:
            raw = wb.name_raw(plan.name_text[key][0])
            if raw is not None:
                parsed = _parse_name_ref(xml_text(raw))
                if parsed is None:
                    pos[key] = None
                    continue
                ps, pr, pc = parsed
                pos[key] = (ps if wb.has_sheet(ps) else bs, a1(pr, pc))
                continue
        pos[key] = (bs, ref)
    return pos, moved


def reduced_format(c: FileCheck) -> None:
    """A format that keeps values only (.xls, .ods, .et): formulas and protection are not checked."""
    if not c.wb.full:
        from gkxlsx.workbook.reader import KIND_LABELS

        c.add(make_finding("I-FORMAT-REDUCED", kind=KIND_LABELS.get(c.res.file_type, c.res.file_type)))


def info_cells(c: FileCheck) -> None:
    """The identity cells on 基本信息 as the template wrote them."""
    form, ident, pos, cell = c.form, c.identity, c.pos, c.wb.cell
    expect = {
        "meta.name": ident.unit_name,
        "meta.code": ident.unit_code,
        "meta.type": ident.unit_type,
        "meta.year": str(ident.year or ""),
    }
    for key, want in expect.items():
        p = pos.get(key)
        if p is None or key not in form.fields:
            continue
        raw = cell(*p)
        got = "" if raw.kind == "blank" else str(display_raw(raw)).strip()
        if got != want:
            c.add(
                make_finding(
                    "E-META-1",
                    what=f"“基本信息”中的{form.label(key)}应为“{want}”（模板生成时写入），现为“{got}”。",
                    locations=(loc(*p),),
                    keys=(key,),
                    expected=want,
                    actual=got,
                )
            )


_LABEL_WHERE = {
    "header": "表头",
    "rowlabel": "项目名称",
    "caption": "表格标题",
    "corner": "表格说明",
    "fieldlabel": "栏目名称",
    "title": "标题",
}


def labels(c: FileCheck) -> None:
    """Titles, headers and row labels as the template wrote them (at most 12 findings a sheet)."""
    wb, sheet_map, shifted = c.wb, c.sheet_map, c.shifted
    per_sheet: dict[str, int] = {}
    fast = wb.xlsx
    if fast:
        strings, cut = wb.shared_items()
        n_strings = len(strings)
        shared_string = wb.shared_string
    for s, group in c.plan.label_groups:
        bs = sheet_map.get(s)
        if bs is None or s in shifted:
            continue
        get = wb.sheet_cells(bs).get if fast else None  # type: ignore[misc]
        for ref, rb, want, role, items_cut, items_exact in group:
            got = None
            if get is not None:
                # the common case without decoding: the cell is a shared string whose item
                # is byte for byte the label as writers write it
                item = get(rb)
                if item is not None and item[2] == b"s":
                    body = item[4]
                    if body[:3] == b"<v>" and body[-4:] == b"</v>" and body[3:-4].isdigit():
                        i = int(body[3:-4])
                        if i < n_strings and (strings[i].startswith(items_cut) if cut else strings[i] in items_exact):
                            continue
                        got = shared_string(i)  # type: ignore[misc]
                        if got == want:
                            continue
            if got is None:
                raw = wb.cell(bs, ref)
                got = "" if raw.kind == "blank" else str(display_raw(raw))
                if got == want:
                    continue
            if _norm_label(got) == _norm_label(want):
                continue
            n = per_sheet.get(s, 0)
            per_sheet[s] = n + 1
            if n < MAX_LABEL_FINDINGS_PER_SHEET:
                c.add(
                    make_finding(
                        "E-STRUCT-LABEL",
                        where=_LABEL_WHERE.get(role, "文字"),
                        expected=want,
                        found=got or "（空）",
                        locations=(loc(bs, ref),),
                        actual=got,
                    )
                )
    for s, n in per_sheet.items():
        if n > MAX_LABEL_FINDINGS_PER_SHEET:
            bs = sheet_map.get(s, s)
            c.add(
                make_finding(
                    "E-STRUCT-LABEL",
                    where=f"工作表“{bs}”中另有 {n - MAX_LABEL_FINDINGS_PER_SHEET} 处",
                    expected="模板原文",
                    found="已改动",
                    locations=(bs,),
                )
            )


# --------------------------------------------------------------------------------------------
# 5. values


def values(c: FileCheck) -> None:
    """Every entry cell and field parsed strictly → c.values (None where invalid), c.excel_view
    (what Excel computes with: numbers, also bad ones), c.shown_derived (the totals' shown values)
    and c.vals (the values with the totals recomputed)."""
    form, wb, ident = c.form, c.wb, c.identity
    values: dict[str, Any] = {}
    excel_view: dict[str, Any] = {}
    shown_derived: dict[str, Any] = {}
    c.values, c.excel_view, c.shown_derived = values, excel_view, shown_derived
    inputs = c.res.inputs
    year = ident.year
    unit = c.unit_type
    lo_serial, hi_serial = _date_window(year) if year else (0, -1)
    fast = wb.xlsx
    sheets_cells: dict[str, dict] | None = None
    if fast:
        sheets_cells = {}
        sheet_cells = wb.sheet_cells
    bulk = fast and not c.moved
    if bulk:
        plain = PlainStyles.of(wb.styles)
    for sheet, rows, in_keys, in_get, d_keys, d_get in c.plan.value_groups:
        if bulk:
            # the whole sheet at once (C-level), where every entry cell holds a plain
            # non-negative integer outside the date window in a plain style and every total
            # is a formula: exactly what the cell-by-cell path gives for them
            cells = sheets_cells.get(sheet)  # type: ignore[union-attr]
            if cells is None:
                cells = sheets_cells[sheet] = sheet_cells(sheet)  # type: ignore[index,misc]
            nums = bulk_ints(cells, in_get, plain, len(in_keys), lo_serial, hi_serial)
            ders = bool(d_keys) and bulk_formulas(cells, d_get)
            if nums is not None:
                values.update(zip(in_keys, nums))
                excel_view.update(zip(in_keys, nums))
                inputs.update(zip(in_keys, nums))
            if ders:
                shown_derived.update(dict.fromkeys(d_keys))
            if nums is not None and (ders or not d_keys):
                continue
            rows = tuple(r for r in rows if (r[2] and not ders) or (not r[2] and nums is None))
        _value_rows(c, rows, inputs, lo_serial, hi_serial, sheets_cells)
    _field_values(c, inputs, unit)
    derived = _derived(form, values)
    vals = dict(values)
    vals.update(derived)
    c.vals = vals


def _value_rows(c: FileCheck, rows, inputs: dict, lo_serial: int, hi_serial: int, sheets_cells) -> None:
    """Entry and total cells one by one (an .xlsx file's sheets cached in ``sheets_cells``)."""
    wb, pos, values, excel_view, shown_derived = c.wb, c.pos, c.values, c.excel_view, c.shown_derived
    year = c.identity.year
    fast = sheets_cells is not None
    is_formula = wb.is_formula if fast else None
    cell_of = wb.cell
    if fast:
        styles = wb.styles
        st_date, st_quote, n_styles = styles.date, styles.quote, len(styles.date)
        sheet_cells = wb.sheet_cells
    moved = c.moved
    for key, cell, derived, ls, lref, rb in rows:
        if moved:
            p = pos.get(key)
            if p is None:
                values[key] = None
                continue
            prb = p[1].encode()
        else:  # every cell where the template put it (the common case)
            p = (ls, lref)
            prb = rb
        if derived:
            if is_formula is not None and is_formula(*p):
                shown_derived[key] = None
                continue
            raw = cell_of(*p)
            shown_derived[key] = shown_number(raw) if raw.kind != "formula" else None
            continue
        n = None
        if fast:
            # a plain non-negative integer in a style that is neither a date nor text-forced
            cells = sheets_cells.get(p[0])
            if cells is None:
                cells = sheets_cells[p[0]] = sheet_cells(p[0])  # type: ignore[misc]
            item = cells.get(prb)
            if item is not None:
                _r, s_, t_, _x, body = item
                if (t_ == b"" or t_ == b"n") and body[:3] == b"<v>" and body[-4:] == b"</v>":
                    v_ = body[3:-4]
                    if v_.isdigit() and len(v_) <= 15:
                        i_ = int(s_) if s_.isdigit() else 0
                        if not (i_ < n_styles and (st_date[i_] or st_quote[i_])):
                            n = int(v_)
        if n is not None and not lo_serial <= n <= hi_serial:
            values[key] = excel_view[key] = inputs[key] = n  # the common case, decided at once
            continue
        raw = cell_of(*p)
        if raw.kind == "number" and isinstance(raw.value, str) and raw.value.isdigit():
            n = int(raw.value)
            excel_view[key] = inputs[key] = n
        else:
            excel_view[key] = excel_number(raw)
            inputs[key] = prefill_value(raw)
        v, prob = parse_value(cell.type, raw)
        if prob is None and year and cell.type.kind == "int":
            d = date_like(v, year)
            if d is not None:
                rid = "E-CELL-DATE" if cell.section in ("s3", "s4") else "W-CELL-DATELIKE"
                prob = ValueProblem(rid, f"{fmt_num(v)}（即日期 {d.isoformat()}）")
                if rid == "E-CELL-DATE":
                    v = None
        values[key] = v
        if prob is not None:
            _value_finding(c, key, c.form.label(key), cell.type, prob, p)


def _field_values(c: FileCheck, inputs: dict, unit: UnitType | None) -> None:
    """The fields (基本信息 and the narratives)."""
    wb, pos, values, excel_view = c.wb, c.pos, c.values, c.excel_view
    shared = wb.shared_text
    for key, fld in c.form.fields.items():
        p = pos.get(key)
        if shared is not None and p is not None and fld.type.kind == "text":
            # a shared string that is not blank: what cell() + parse_value give a text field
            got = shared(*p)
            if got is not None and got[0].strip():
                values[key] = got[0]
                if not fld.prefilled:
                    inputs[key] = got[0]
                continue
        if fld.prefilled:
            if p is not None:
                raw = wb.cell(*p)
                values[key] = parse_value(fld.type, raw)[0]
            continue
        if p is None:
            values[key] = None
            continue
        raw = wb.cell(*p)
        inputs[key] = prefill_value(raw)
        if fld.type.numeric:
            excel_view[key] = excel_number(raw)
        v, prob = parse_value(fld.type, raw)
        values[key] = v
        if prob is None:
            continue
        if prob.rule_id == "E-CELL-EMPTY":
            if not fld.required or not _applies(fld.when, unit):
                continue
            if not fld.type.numeric:
                if fld.section == "meta":  # narrative fields: gkxlsx.text.narrative's E-TXT-EMPTY
                    c.add(
                        make_finding(
                            "E-FIELD-EMPTY",
                            label=fld.label,
                            guide=fld.guide or "请填写。",
                            keys=(key,),
                            locations=(loc(*p),),
                        )
                    )
                continue
        _value_finding(c, key, fld.label, fld.type, prob, p)


def _value_finding(c: FileCheck, key: str, label: str, vt, prob: ValueProblem, p) -> None:
    ctx = problem_context(prob, vt)
    if prob.rule_id == "W-FIELD-DATE":
        ctx["example"] = f"{(c.res.identity.year or 2025) + 1}-01-15" if c.res.identity else "2026-01-15"
    c.add(
        make_finding(
            prob.rule_id,
            label=label,
            keys=(key,),
            locations=(loc(*p),),
            raw=prob.raw,
            suggestion=prob.suggestion,
            expected=prob.suggestion,
            actual=prob.raw,
            values={key: prob.raw},
            **ctx,
        )
    )


# --------------------------------------------------------------------------------------------
# protection, formulas and cached results (.xlsx)


def protection(c: FileCheck) -> None:
    """Every sheet protected, the workbook structure locked."""
    wb = c.wb
    if not wb.full:
        return
    off = []
    for sl in c.plan.lay.sheets:
        bs = c.sheet_map.get(sl.name)
        if bs is None or sl.name == GUIDE_SHEET:
            continue
        prot = wb.sheet_info(bs).protection
        if prot is None or (prot.get("sheet") or "").lower() not in ("1", "true"):
            off.append(bs)
    if off:
        c.add(
            make_finding(
                "E-STRUCT-PROTECT",
                what=f"工作表“{'”“'.join(off)}”的保护已被撤销，锁定的单元格（表头、项目名称、公式）可以被随意修改。",
                locations=tuple(off),
            )
        )
    wp = wb.workbook_protection
    if not wp or (wp.get("lockStructure") or "").lower() not in ("1", "true"):
        if wb.app_label == "LibreOffice":
            c.add(
                make_finding(
                    "W-STRUCT-LOCK",
                    detail="文件由 LibreOffice 保存，LibreOffice 保存时会去掉这一保护，这是正常现象。",
                    severity="info",
                )
            )
        else:
            c.add(make_finding("W-STRUCT-LOCK", detail="工作表可能被增删或改名。"))


def formulas(c: FileCheck) -> None:
    """Every formula of the section sheets against the template's → c.overrides (totals typed
    over their formula → the number shown), c.pending (cached results, compared by
    :func:`cached_results`), c.exp_prev/c.exp_pf (last year's data the template's formulas were
    built with); the totals still locked.  Values-only formats: the totals' shown numbers."""
    if not c.wb.full:
        c.overrides = {k: v for k, v in c.shown_derived.items() if v is not None}
        return
    form, plan, wb, ident, ut, prev, prev_format = c.form, c.plan, c.wb, c.identity, c.unit_type, c.prev, c.prev_format
    sheet_map, shifted, pos = c.sheet_map, c.shifted, c.pos
    has_prev_formulas = bool(ident.previous)
    if has_prev_formulas and prev is not None:
        cells = exact_formula_plan(form, ut, prev, prev_format or ident.previous.split(":")[0] or None)
        c.exp_prev, c.exp_pf = prev, prev_format or ident.previous.split(":")[0] or None
    else:
        cells = formula_plan(form, ut.name if ut else None, has_prev_formulas)
    if has_prev_formulas and prev is None:
        c.add(make_finding("I-PREV-UNVERIFIED", previous=ident.previous))
    # fingerprint: only when the formulas are exactly known
    if not has_prev_formulas and ident.fingerprint:
        from gkxlsx.workbook.generate import fingerprint

        if ident.fingerprint != template_fingerprint(form, ut.name if ut else None, fingerprint):
            c.add(make_finding("I-TEMPLATE-GENERATOR", generator=ident.generator or "?"))
    derived_at = {plan.key_pos[k]: k for k in form.derived_keys}
    pending = c.pending  # (position, where, cached result) or FormulaRun
    overrides = c.overrides
    loose_cached: set[tuple[str, str]] = set()
    if has_prev_formulas and prev is None:
        for fc in cells:
            if fc.loose:
                loose_cached.add((fc.sheet, fc.ref))
    shifted_names = set(shifted)
    fast = wb.xlsx
    bulk = fast and not shifted_names and not loose_cached
    for sheet, fcs, get, esc0s, pres in formula_runs(cells):
        if bulk and sheet_map.get(sheet) == sheet:
            # the whole run at once: every formula as the template wrote it (its cached
            # results compared in cached_results, at once where they are exactly as expected)
            try:
                items = get(wb.sheet_cells(sheet))  # type: ignore[misc]
            except KeyError:
                items = None
            if items is not None and all(map(bytes.__contains__, map(ITEM_BODY, items), esc0s)):
                pending.append(FormulaRun(fcs, items, *pres))
                continue
        for fc in fcs:
            bs = sheet_map.get(fc.sheet)
            if bs is None:
                continue
            if shifted_names and (fc.sheet in shifted_names or any(sn in fc.formula for sn in shifted_names)):
                continue  # positions moved: reported as E-STRUCT-SHIFT
            if fast:
                parts = wb.formula_parts(bs, fc.ref)  # type: ignore[misc]
                if parts is not None and (fc.esc[0] in parts[1] or (len(fc.esc) > 1 and fc.esc[1] in parts[1])):
                    if loose_cached and (fc.sheet, fc.ref) in loose_cached:
                        continue
                    pending.append((fc.pos, fc.where if bs == fc.sheet else loc(bs, fc.ref), cached_fast(wb, parts)))
                    continue
            raw = wb.cell(bs, fc.ref)
            key = derived_at.get((fc.sheet, fc.ref))
            if raw.kind != "formula":
                shown = display_raw(raw) if raw.kind != "blank" else ""
                if key is not None:
                    label = form.label(key)
                    if raw.kind == "blank":
                        what = f"「{label}」的公式被删除了，单元格现为空（应为公式 {fc.formula}）。"
                    else:
                        what = f"「{label}」的公式被改成了数值 {shown}（应为公式 {fc.formula}）。"
                        num = shown_number(raw)
                        if num is not None:
                            overrides[key] = num
                else:
                    what = f"校验单元格的公式被{'删除' if raw.kind == 'blank' else '改成了“' + str(shown) + '”'}（应为公式 {fc.formula}）。"
                c.add(
                    make_finding(
                        "E-STRUCT-FORMULA",
                        what=what,
                        locations=(loc(bs, fc.ref),),
                        keys=(key,) if key else (),
                        expected=fc.formula,
                        actual=shown,
                    )
                )
                continue
            if fc.loose:
                continue
            if normalize_formula(raw.formula or "") != fc.norm:
                key_label = f"「{form.label(key)}」" if key else "校验单元格"
                c.add(
                    make_finding(
                        "E-STRUCT-FORMULA",
                        what=f"{key_label}的公式被改动：现为 ={raw.formula}，应为 {fc.formula}。",
                        locations=(loc(bs, fc.ref),),
                        keys=(key,) if key else (),
                        expected=fc.formula,
                        actual="=" + (raw.formula or ""),
                    )
                )
                continue
            if (fc.sheet, fc.ref) in loose_cached:
                continue
            pending.append((fc.pos, loc(bs, fc.ref), raw_result(raw)))
    # formulas typed into unlocked input cells are found by the value parser (E-CELL-FORMULA);
    # locked flags of the cells that must stay locked
    if fast and not c.moved and totals_locked(wb, plan):
        return
    locked = wb.locked if fast else (lambda *p: wb.cell(*p).locked)
    unlocked = []
    for key in form.derived_keys:
        p = pos.get(key)
        if p is None:
            continue
        if locked(*p) is False:  # type: ignore[misc]
            unlocked.append(loc(*p))
    if unlocked:
        c.add(
            make_finding(
                "E-STRUCT-PROTECT",
                what=f"公式单元格被取消了锁定（{'、'.join(unlocked[:6])}{'等' if len(unlocked) > 6 else ''} 共 {len(unlocked)} 个），可以被随意改写。",
                locations=tuple(unlocked[:10]),
            )
        )


# --------------------------------------------------------------------------------------------
# 6. rules, and the cached results of the formulas against them


def rules(c: FileCheck) -> None:
    """Every rule instance on the recomputed values → c.outcomes; the rules of the totals
    themselves (E-T3-ROW/COL, E-T4-SUM) on a total typed over its formula as shown."""
    form, vals, overrides, ut, prev, prev_format = c.form, c.vals, c.overrides, c.unit_type, c.prev, c.prev_format
    shown = None
    if overrides:
        shown = dict(vals)
        shown.update(overrides)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    outcomes: list[Outcome] = []
    c.outcomes = outcomes
    pf_app = pf if prev is not None else None
    if shown is None and _all_int(vals, form.cells):
        # plain integers in every cell (the common case): every compiled test at once, in one
        # function; what fails or does not apply goes through the rule engine
        allf, passed, not_applicable = _fast_all(form)
        for inst, ok, ap, out, na in zip(
            form.rules, allf(vals), _applicable(form, ut.name if ut else None, pf_app), passed, not_applicable
        ):
            if not ap:  # what evaluate() says first of an instance that does not apply
                outcomes.append(na)
                continue
            if ok:
                outcomes.append(out)
                continue
            out = inst.evaluate(vals, prev, ut, pf)
            outcomes.append(out)
            if out.finding is not None:
                c.add(c.located(out.finding))
        return
    # plain integers in every cell: each compiled test is exact, no per-rule check
    ints = {id(d): _all_int(d, form.cells) for d in ((vals, shown) if shown is not None else (vals,))}
    for inst, fast in zip(form.rules, _fast_rules(form)):
        use = shown if (shown is not None and inst.target in overrides) else vals
        if fast is not None and inst.applicable(ut, pf_app):
            keys, test = fast
            get = use.get
            if (ints[id(use)] or all(type(get(k)) is int for k in keys)) and test(use):
                outcomes.append(Outcome(inst, PASS))  # what evaluate() gives, without the interpreter
                continue
        out = inst.evaluate(use, prev, ut, pf)
        outcomes.append(out)
        if out.finding is not None:
            c.add(c.located(out.finding))


def cached_results(c: FileCheck) -> None:
    """Cached formula results against what the formulas must show for the cells as the
    spreadsheet sees them (numbers, also bad ones; totals typed over as typed) → W-CACHE-STALE.
    The same computation as :func:`gkxlsx.form.layout.expected_results`, sharing the rule outcomes
    with the rules check when the spreadsheet sees exactly the parsed values."""
    pending = c.pending
    if not pending:
        return
    form, wb, values, excel_view, vals, overrides = c.form, c.wb, c.values, c.excel_view, c.vals, c.overrides
    prev, exp_prev, exp_pf = c.prev, c.exp_prev, c.exp_pf
    lay = c.plan.lay
    same = (
        not overrides
        and exp_prev is prev
        and (excel_view.items() <= values.items() or all(values.get(k) == v for k, v in excel_view.items()))
    )
    if same:
        view = vals
        statuses = [o.status for o in c.outcomes]
    else:
        view = dict(excel_view)
        view.update(compute_derived(form, excel_view))
        view.update(overrides)
        pf = exp_pf if exp_pf is not None else (form.id if exp_prev is not None else None)
        statuses = [inst.evaluate(view, exp_prev, c.unit_type, pf).status for inst in form.rules]
    dkeys, dpos, cpos, any_prev_keys = cache_plan(form)
    expected: dict[tuple[str, int, int], Any]
    if not overrides:  # (at C speed: the same as the loop below)
        dv = list(map(view.get, dkeys))
        if None in dv:
            dv = ["" if v is None else v for v in dv]
        expected = dict(zip(dpos, dv))
    else:
        expected = {}
        for key in form.derived_keys:
            if key not in overrides:
                v = view.get(key)
                expected[lay.where[key]] = "" if v is None else v
    if exp_prev is None or not any_prev_keys:
        expected.update(zip(cpos, statuses))
    else:
        for inst, st in zip(form.rules, statuses):
            if (
                st != NOT_APPLICABLE
                and inst.prev_keys
                and exp_prev is not None
                and any(as_number(exp_prev.get(k)) is None for k in inst.prev_keys)
            ):
                st = NOT_APPLICABLE
            expected[lay.checks[inst.iid]] = st
    stale = []
    for entry in pending:
        if type(entry) is FormulaRun:
            wants = list(map(expected.get, entry.positions))
            if entry.as_expected(wants):
                continue
            for fc, item, want in zip(entry.fcs, entry.items, wants):
                if want is not None:
                    got = cached_fast(wb, (item[2], item[4]))
                    if not same_result(got, want):
                        stale.append((fc.where, got, want))
            continue
        p, where, got = entry
        want = expected.get(p)
        if want is not None and not same_result(got, want):
            stale.append((where, got, want))
    if stale:
        where, got, want = stale[0]
        c.add(
            make_finding(
                "W-CACHE-STALE",
                n=len(stale),
                example=f"{where} 显示 {show(got)}，按所填数字应为 {show(want)}",
                locations=tuple(x[0] for x in stale[:10]),
                expected=json_value(want),
                actual=json_value(got),
            )
        )


# --------------------------------------------------------------------------------------------
# 7. narrative


def narrative(c: FileCheck) -> None:
    """FORMAT.md §5.2 narrative rules (gkxlsx.text.narrative) on this workbook's fields and tables.

    Called without ``fields_only``: a workbook has its tables, so the text-versus-table rules
    (W-TXT-APPL, W-TXT-REVIEW, W-TXT-DOCS) run too.  Empty required narratives are that
    module's E-TXT-EMPTY."""
    try:
        from gkxlsx.text import narrative
    except ModuleNotFoundError as e:  # pragma: no cover - the module is part of the package
        if e.name != "gkxlsx.text.narrative":
            raise
        return
    try:
        found = narrative.check_narrative(c.form, c.vals, unit=c.unit_type, year=c.identity.year or 0)
    except Exception as e:  # noqa: BLE001 - a bug there must not stop the batch
        c.add(make_finding("E-INTERNAL", reason=f"文字部分检查：{type(e).__name__}: {e}"[:200]))
        return
    pos = c.pos
    for f in found or ():
        locs = tuple(loc(*pos[k]) for k in f.keys if pos.get(k))  # type: ignore[misc]
        c.add(f.with_locations(locs) if locs else f)


def similar_to_last_year(c: FileCheck) -> None:
    """W-XY-SIMILAR: this year's narrative (一、五、六) nearly the same as last year's (内容雷同)."""
    if c.prev is None:
        return
    from gkxlsx.text.similarity import THRESHOLD, finding, jaccard, narrative_text, shingles

    name = c.identity.unit_name or ""
    a = shingles(narrative_text(c.vals), name)
    b = shingles(narrative_text(c.prev), name)
    score = jaccard(a, b)
    if score >= THRESHOLD:
        c.add(finding("上年度报告", score, last_year=True))


def other_generator(c: FileCheck) -> None:
    """The template itself differs from what this version generates (I-TEMPLATE-GENERATOR):
    structural comparisons are not the unit's fault — keep them, as warnings."""
    if any(f.rule_id == "I-TEMPLATE-GENERATOR" for f in c.findings):
        c.findings = [
            replace(f, severity="warning", message=f.message + "（模板由其他版本的工具生成，此项仅供参考）")
            if f.rule_id in ("E-STRUCT-LABEL", "E-STRUCT-FORMULA", "E-STRUCT-SHIFT")
            else f
            for f in c.findings
        ]


# --------------------------------------------------------------------------------------------
# the registry and the run


class Step(NamedTuple):
    name: str
    run: Callable[[FileCheck], str | None]
    stage: str  # "file": every workbook; "book": once its form, year and unit are settled


CHECKS: tuple[Step, ...] = (
    Step("macros", macros, "file"),
    Step("identity", identity, "file"),
    Step("template", template, "file"),
    Step("year_unit", year_unit, "file"),
    Step("layout", layout_in_book, "book"),
    Step("reduced_format", reduced_format, "book"),
    Step("info_cells", info_cells, "book"),
    Step("labels", labels, "book"),
    Step("values", values, "book"),
    Step("protection", protection, "book"),
    Step("formulas", formulas, "book"),
    Step("rules", rules, "book"),
    Step("cached_results", cached_results, "book"),
    Step("narrative", narrative, "book"),
    Step("similar_to_last_year", similar_to_last_year, "book"),
    Step("other_generator", other_generator, "book"),
)


def run(c: FileCheck, data: bytes | None = None, sha256: str | None = None) -> FileResult:
    """Read the file into a :class:`ReturnedWorkbook` and run :data:`CHECKS` on it."""
    res = c.res
    try:
        info, book = load(c.path, data=data, sha256=sha256 if data is not None else None)
    except ReadError as e:
        info = getattr(e, "info", None)
        if info is not None:
            res.sha256, res.size = info.sha256, info.size
        res.file_type = e.kind
        c.add(e.finding)
        res.timings["read"] = (time.perf_counter() - c.t0) * 1000
        return c.finish(STATUS_UNREADABLE)
    res.sha256, res.size, res.file_type = info.sha256, info.size, info.kind
    try:
        c.wb = ReturnedWorkbook(c.path, info, book)
        res.application = book.application
        t1 = None
        for step in CHECKS:
            if t1 is None and step.stage == "book":
                t1 = time.perf_counter()
                c.begin_book()
            verdict = step.run(c)
            if verdict is not None:
                return c.finish(STATUS_UNREADABLE if verdict == UNREADABLE else None)
        res.values = c.vals
        if t1 is not None:
            res.timings["check"] = (time.perf_counter() - t1) * 1000
        return c.finish()
    except ReadError as e:  # a part that turned out broken while reading cells
        c.add(e.finding)
        return c.finish(STATUS_UNREADABLE if res.identity is None else None)
    finally:
        close = getattr(book, "close", None)
        if close:
            close()


# --------------------------------------------------------------------------------------------
# helpers


def _norm_meta(k: str, v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if k == "GKX_YEAR" and re.fullmatch(r"\d{4}\.0+", v):
        v = v.split(".")[0]
    return v


def _int(v: Any) -> int | None:
    if v is None:
        return None
    try:
        return int(float(str(v).strip()))
    except ValueError:
        return None


_NAME_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Za-z]{1,3})\$?(\d+)$")


def _parse_name_ref(txt: str) -> tuple[str, int, int] | None:
    m = _NAME_REF.match(txt.strip().lstrip("="))
    if not m:
        return None
    sheet = (m.group(1) or "").replace("''", "'") if m.group(1) else m.group(2)
    try:
        r, col = split_ref(m.group(3) + m.group(4))
    except ValueError:
        return None
    return sheet, r, col


def _norm_label(s: str) -> str:
    import unicodedata

    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))


def _applies(when: str | None, unit: UnitType | None) -> bool:
    if not when:
        return True
    if unit is None:
        return False
    try:
        return bool(_eval_when(parse_expr(when), unit))
    except Exception:  # noqa: BLE001
        return False


def _eval_when(node, unit: UnitType) -> bool:
    from gkxlsx.rules.engine import BoolOp, Not, UnitAttr

    if isinstance(node, UnitAttr):
        return bool(unit.attr(node.name))
    if isinstance(node, Not):
        return not _eval_when(node.item, unit)
    if isinstance(node, BoolOp):
        vals = [_eval_when(i, unit) for i in node.items]
        return all(vals) if node.op == "and" else any(vals)
    raise ValueError(node)


@lru_cache(maxsize=8)
def _date_window(year: int) -> tuple[int, int]:
    from datetime import date

    from gkxlsx.check.values import date_serial

    return date_serial(date(year - 1, 1, 1)), date_serial(date(year + 1, 12, 31))


@lru_cache(maxsize=64)
def _form_for_year(year: int) -> Form:
    return form_for_year(year)


@lru_cache(maxsize=1)
def _builtin_ids() -> frozenset:
    """The built-in form ids (the forms folder is listed once, not for every file)."""
    return frozenset(builtin_form_ids())
