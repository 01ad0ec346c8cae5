"""8. A roll-up return (``gkxlsx aggregate --as-return``, :mod:`gkxlsx.form.rollup`): the breakdown
is there and as written (E-ROLLUP-SHEET, E-ROLLUP-EDITED), every summed cell is the sum of its
column (E-ROLLUP-SUM), every included unit passes the form's error rules over its numbers
(E-ROLLUP-CHILD); I-ROLLUP says what it sums.  What was read of the breakdown is kept with the
values (:data:`~gkxlsx.form.rollup.VALUES_KEY`), so the ledger lets the level above drill down.

An ordinary return costs one dictionary look-up and one sheet-name look-up here."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from gkxlsx.check.checks.base import FileCheck
from gkxlsx.check.plan import loc
from gkxlsx.check.returned import excel_number
from gkxlsx.check.values import display_raw
from gkxlsx.findings import fmt_num, make_finding
from gkxlsx.form.cells import a1
from gkxlsx.form.layout import META_SHEET
from gkxlsx.form.model import Form
from gkxlsx.form.rollup import (
    CODE_COL,
    FIRST_EXCLUDED_ROW,
    FIRST_KEY_COL,
    FIRST_UNIT_ROW,
    KEYS_ROW,
    NAME_COL,
    ROLLUP_FIELDS,
    ROLLUP_META_ROWS,
    STATUS_COL,
    TYPE_COL,
    VALUES_KEY,
    ChildRow,
    breakdown_sheet,
    digest,
    excluded_sheet,
    parse_declaration,
    summed_keys,
    texts,
)
from gkxlsx.rules.engine import with_derived
from gkxlsx.rules.interpret import as_number

MAX_ROWS = 100_000  # a breakdown longer than any real roster: the rest is not read
MAX_SUM_FINDINGS = 10
MAX_CHILD_FINDINGS = 20


def check_rollup(c: FileCheck) -> None:
    wb = c.wb
    sheet = breakdown_sheet()
    custom = wb.book.custom
    has_sheet = wb.has_sheet(sheet)
    if "GKX_ROLLUP" not in custom and not has_sheet:
        return None
    declared = _declared(c)
    decl = parse_declaration(declared.get("GKX_ROLLUP"))
    if decl is None or not has_sheet:
        what = (
            f"工作簿声明为汇总报送，但找不到工作表“{sheet}”。"
            if decl is not None
            else f"工作簿中有工作表“{sheet}”，但模板标识中没有（或写错了）汇总报送的声明。"
        )
        c.add(make_finding("E-ROLLUP-SHEET", what=what, locations=(sheet,)))
        return None
    form = c.form
    keys = summed_keys(form)
    cell = wb.cell

    def text(r: int, col: int, where: str = sheet) -> str:
        raw = cell(where, a1(r, col))
        return "" if raw.kind == "blank" else str(display_raw(raw)).strip()

    got_keys = []
    for j in range(len(keys) + 1):
        k = text(KEYS_ROW, FIRST_KEY_COL + j)
        if not k:
            break
        got_keys.append(k)
    if tuple(got_keys) != keys:
        c.add(
            make_finding(
                "E-ROLLUP-SHEET",
                what=f"工作表“{sheet}”第 {KEYS_ROW + 1} 行的数据项与本格式不一致（插入、删除或移动了列），无法逐项核对。",
                locations=(loc(sheet, a1(KEYS_ROW, FIRST_KEY_COL)),),
            )
        )
        return None
    total_label = str(texts()["total_label"])
    rows: list[ChildRow] = []
    bad: list[str] = []
    r = FIRST_UNIT_ROW
    while r < FIRST_UNIT_ROW + MAX_ROWS:
        code = text(r, CODE_COL)
        if not code or code == total_label:
            break
        vals: dict[str, Any] = {}
        for j, k in enumerate(keys):
            raw = cell(sheet, a1(r, FIRST_KEY_COL + j))
            if raw.kind == "blank":
                vals[k] = None
                continue
            v = excel_number(raw)
            if v is None or raw.kind == "formula":
                bad.append(loc(sheet, a1(r, FIRST_KEY_COL + j)))
            vals[k] = v
        rows.append(ChildRow(code, text(r, NAME_COL), text(r, TYPE_COL), text(r, STATUS_COL), vals))
        r += 1
    excluded = []
    ex_sheet = excluded_sheet()
    if wb.has_sheet(ex_sheet):
        r = FIRST_EXCLUDED_ROW
        while r < FIRST_EXCLUDED_ROW + MAX_ROWS:
            code = text(r, 0, ex_sheet)
            if not code:
                break
            excluded.append(
                {
                    "code": code,
                    "name": text(r, 1, ex_sheet),
                    "type": text(r, 2, ex_sheet),
                    "reason": text(r, 3, ex_sheet),
                }
            )
            r += 1
    n_in, n_all = decl
    problems = []
    if bad:
        problems.append(f"{'、'.join(bad[:5])}{'等' if len(bad) > 5 else ''} 不是数字")
    if len(rows) != n_in:
        problems.append(f"声明纳入汇总 {n_in} 个单位，明细中却有 {len(rows)} 行")
    if len(rows) + len(excluded) != n_all:
        problems.append(f"声明应报 {n_all} 个单位，明细与未纳入单位合计 {len(rows) + len(excluded)} 个")
    if problems:
        c.add(
            make_finding("E-ROLLUP-SHEET", what=f"工作表“{sheet}”：" + "；".join(problems) + "。", locations=(sheet,))
        )
    if declared.get("GKX_ROLLUP_DIGEST") != digest(keys, rows):
        c.add(make_finding("E-ROLLUP-EDITED", sheet=sheet, locations=(sheet,)))
    _check_sums(c, keys, rows, sheet)
    _check_children(c, form, rows, sheet)
    missing = ""
    if excluded:
        names = "、".join(e["name"] or e["code"] for e in excluded[:10]) + ("等" if len(excluded) > 10 else "")
        missing = f"，未纳入 {len(excluded)} 个：{names}"
    c.add(
        make_finding(
            "I-ROLLUP",
            name=c.identity.unit_name,
            expected=n_all,
            included=len(rows),
            missing=missing,
            sheet=sheet,
            code=c.identity.unit_code,
        )
    )
    if c.vals is not None:
        c.vals[VALUES_KEY] = {
            "included": len(rows),
            "expected": n_all,
            "children": [
                dict(ch.to_dict(), values={k: v for k, v in ch.values.items() if v is not None}) for ch in rows
            ],
            "excluded": excluded,
        }
    return None


def _declared(c: FileCheck) -> dict[str, str]:
    """The roll-up's identity fields: document properties, else the hidden identity sheet's rows."""
    custom = c.wb.book.custom
    out = {k: str(custom[k]).strip() for k in ROLLUP_FIELDS if k in custom}
    if len(out) < len(ROLLUP_FIELDS) and c.wb.has_sheet(META_SHEET):
        for k, row in ROLLUP_META_ROWS.items():
            if k in out:
                continue
            name = c.wb.cell(META_SHEET, f"A{row}")
            if name.kind == "text" and str(name.value).strip() == k:
                val = c.wb.cell(META_SHEET, f"B{row}")
                out[k] = "" if val.kind == "blank" else str(display_raw(val)).strip()
    return out


def _check_sums(c: FileCheck, keys: tuple[str, ...], rows: list[ChildRow], sheet: str) -> None:
    vals = c.vals or c.values or {}
    pos = c.pos or {}
    found = []
    for j, k in enumerate(keys):
        total: Any = 0
        for ch in rows:
            v = ch.values.get(k)
            if v is not None:
                total = total + v
        have = as_number(vals.get(k))
        if have is None:
            continue  # an empty or invalid cell is its own finding (E-CELL-*, E-FIELD-EMPTY)
        if Decimal(str(have)) != Decimal(str(total)):
            found.append((k, j, have, total))
    for k, j, have, total in found[:MAX_SUM_FINDINGS]:
        where = pos.get(k)
        locs = ((loc(*where),) if where else ()) + (loc(sheet, a1(KEYS_ROW, FIRST_KEY_COL + j)),)
        c.add(
            make_finding(
                "E-ROLLUP-SUM",
                label=c.form.label(k),
                keys=(k,),
                locations=locs,
                expected=total,
                actual=have,
                delta=Decimal(str(have)) - Decimal(str(total)),
                diff=fmt_num(Decimal(str(have)) - Decimal(str(total))),
                instance=f"E-ROLLUP-SUM[{k}]",
            )
        )
    if len(found) > MAX_SUM_FINDINGS:
        c.add(
            make_finding(
                "E-ROLLUP-SHEET",
                what=f"另有 {len(found) - MAX_SUM_FINDINGS} 个数字与分单位明细之和不一致（共 {len(found)} 个）。",
                locations=(sheet,),
            )
        )


@lru_cache(maxsize=8)
def _child_rules(form: Form) -> tuple:
    """The form's error rules a breakdown row can be checked by: over its numbers and totals only,
    without last year's figures."""
    allowed = set(summed_keys(form)) | set(form.derived_keys)
    return tuple(
        inst
        for inst in form.rules
        if inst.severity == "error" and not inst.prev_keys and inst.keys and all(k in allowed for k in inst.keys)
    )


def _check_children(c: FileCheck, form: Form, rows: list[ChildRow], sheet: str) -> None:
    rules = _child_rules(form)
    n = 0
    for i, ch in enumerate(rows):
        vals = with_derived(form, {k: v for k, v in ch.values.items() if v is not None})
        ut = form.unit_type(ch.type)
        failed = []
        for inst in rules:
            o = inst.evaluate(vals, None, ut, None)
            if o.finding is not None:
                failed.append(inst)
        if not failed:
            continue
        n += 1
        if n > MAX_CHILD_FINDINGS:
            continue
        titles = "；".join(dict.fromkeys(f"{inst.id} {inst.rule.title}" for inst in failed[:5]))
        c.add(
            make_finding(
                "E-ROLLUP-CHILD",
                unit=f"{ch.name}（{ch.code}）",
                n=len(failed),
                rules=titles + ("等" if len(failed) > 5 else ""),
                locations=(loc(sheet, a1(FIRST_UNIT_ROW + i, CODE_COL)),),
                instance=f"E-ROLLUP-CHILD[{ch.code}]",
            )
        )
    if n > MAX_CHILD_FINDINGS:
        c.add(
            make_finding(
                "E-ROLLUP-SHEET",
                what=f"另有 {n - MAX_CHILD_FINDINGS} 个纳入汇总的单位的数据不符合校验规则（共 {n} 个）。",
                locations=(sheet,),
            )
        )
