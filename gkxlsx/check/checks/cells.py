"""5. Values: every entry cell read by its key and parsed strictly (:mod:`gkxlsx.check.values`)
→ E-CELL-* / E-FIELD-*; whole sheets of plain integers decided at once."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gkxlsx.check.checks.base import FileCheck
from gkxlsx.check.plan import PlainStyles, bulk_formulas, bulk_ints, loc
from gkxlsx.check.returned import excel_number, prefill_value, shown_number
from gkxlsx.check.values import FAST_DIGITS, ValueProblem, date_like, parse_value, problem_context
from gkxlsx.findings import fmt_num, make_finding
from gkxlsx.form.model import UnitType
from gkxlsx.rules.codegen import derived_values
from gkxlsx.rules.interpret import when_holds


def check_values(c: FileCheck) -> None:
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
    derived = derived_values(form, values)
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
                    if len(v_) <= FAST_DIGITS and v_.isdigit():  # longer: parse_value bounds it
                        i_ = int(s_) if s_.isdigit() else 0
                        if not (i_ < n_styles and (st_date[i_] or st_quote[i_])):
                            n = int(v_)
        if n is not None and not lo_serial <= n <= hi_serial:
            values[key] = excel_view[key] = inputs[key] = n  # the common case, decided at once
            continue
        raw = cell_of(*p)
        if raw.kind == "number" and isinstance(raw.value, str) and len(raw.value) < 16 and raw.value.isdecimal():
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
            if not fld.required or when_holds(fld.when, unit) is not True:
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


@lru_cache(maxsize=8)
def _date_window(year: int) -> tuple[int, int]:
    from datetime import date

    from gkxlsx.check.values import date_serial

    return date_serial(date(year - 1, 1, 1)), date_serial(date(year + 1, 12, 31))
