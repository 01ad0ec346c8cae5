"""Formulas (.xlsx): every formula of the section sheets against the template's, the totals
still locked → E-STRUCT-FORMULA / E-STRUCT-PROTECT; their cached results against the
recomputation → W-CACHE-STALE."""

from __future__ import annotations

from typing import Any

from gkxlsx.check.checks.base import FileCheck
from gkxlsx.check.plan import (
    ITEM_BODY,
    FormulaRun,
    cache_plan,
    exact_formula_plan,
    formula_plan,
    formula_runs,
    loc,
    normalize_formula,
    template_fingerprint,
    totals_locked,
)
from gkxlsx.check.returned import cached_fast, json_value, raw_result, same_result, show, shown_number
from gkxlsx.check.values import display_raw
from gkxlsx.findings import make_finding
from gkxlsx.rules.engine import NOT_APPLICABLE, compute_derived
from gkxlsx.rules.evaluate import complete_previous
from gkxlsx.rules.interpret import as_number


def check_formulas(c: FileCheck) -> None:
    """Every formula of the section sheets against the template's → c.overrides (totals typed
    over their formula → the number shown), c.pending (cached results, compared by
    :func:`check_cached_results`), c.exp_prev/c.exp_pf (last year's data the template's formulas were
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
    # fingerprint: only when the formulas are exactly known.  A workbook generated with last year's
    # values has its own (the cross-year formulas and the grey 上年 column of
    # gkxlsx.form.layout.previous_column are hashed in); its cells lie right of everything the
    # plan reads, so they are never read, whoever typed into them.
    if not has_prev_formulas and ident.fingerprint:
        from gkxlsx.form.identity import fingerprint

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
            # results compared in check_cached_results, at once where they are exactly as expected)
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


def check_cached_results(c: FileCheck) -> None:
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
    # the template's formulas were written with last year's totals recomputed where the data had
    # none (layout.expected_results): so are the statuses expected of them
    full_prev = complete_previous(exp_prev, exp_pf if exp_pf is not None else form.id) if exp_prev is not None else None
    same = (
        not overrides
        and exp_prev is prev
        and (full_prev is None or full_prev == exp_prev)  # the rules ran on last year's data as given
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
        statuses = [inst.evaluate(view, full_prev, c.unit_type, pf).status for inst in form.rules]
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
                and full_prev is not None
                and any(as_number(full_prev.get(k)) is None for k in inst.prev_keys)
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
