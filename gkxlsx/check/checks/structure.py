"""4. Structure: sheets (renamed ones found through the defined names), inserted or deleted rows
and columns (defined names that moved), the identity cells on 基本信息, labels, sheet and workbook
protection → E-STRUCT-* / W-STRUCT-LOCK / E-META-1."""

from __future__ import annotations

import re

from gkxlsx.check.checks.base import FileCheck
from gkxlsx.check.plan import MAX_LABEL_FINDINGS_PER_SHEET, FormPlan, loc
from gkxlsx.check.returned import ReturnedWorkbook
from gkxlsx.check.values import display_raw
from gkxlsx.findings import make_finding
from gkxlsx.form.cells import a1
from gkxlsx.form.layout import GUIDE_SHEET, META_SHEET
from gkxlsx.workbook.reader import split_ref, xml_text

_LAYOUT_MEMO: dict[tuple, tuple] = {}


def check_layout(c: FileCheck) -> None:
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


def check_reduced_format(c: FileCheck) -> None:
    """A format that keeps values only (.xls, .ods, .et): formulas and protection are not checked."""
    if not c.wb.full:
        from gkxlsx.workbook.reader import KIND_LABELS

        c.add(make_finding("I-FORMAT-REDUCED", kind=KIND_LABELS.get(c.res.file_type, c.res.file_type)))


def check_info_cells(c: FileCheck) -> None:
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


def check_labels(c: FileCheck) -> None:
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
                    if body[:3] == b"<v>" and body[-4:] == b"</v>" and len(body) < 30 and body[3:-4].isdigit():
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


def check_protection(c: FileCheck) -> None:
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
