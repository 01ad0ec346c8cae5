"""Write a roll-up return: the unit's own workbook (:func:`gkxlsx.workbook.generate.build_workbook`)
with the roll-up in its entry cells and the breakdown and excluded-units sheets of
:mod:`gkxlsx.form.rollup` after the form's sheets, declared in its identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from gkxlsx.form.cells import a1
from gkxlsx.form.layout import number_for_excel
from gkxlsx.form.model import Form
from gkxlsx.form.rollup import (
    CODE_COL,
    EXCLUDED_HEADER_ROW,
    FIRST_EXCLUDED_ROW,
    FIRST_KEY_COL,
    FIRST_UNIT_ROW,
    HEADER_ROW,
    KEYS_ROW,
    NAME_COL,
    NOTE_ROW,
    STATEMENT_ROW,
    STATUS_COL,
    TITLE_ROW,
    TYPE_COL,
    ChildRow,
    Excluded,
    declaration,
    digest,
    summed_keys,
    texts,
)
from gkxlsx.form.roster import Unit, column_name
from gkxlsx.workbook.generate import OfficeInfo, build_workbook


def build_rollup_workbook(
    form: Form,
    unit: Unit,
    year: int,
    *,
    values: Mapping[str, Any],
    children: Sequence[ChildRow],
    excluded: Sequence[Excluded],
    office: OfficeInfo | None = None,
) -> tuple[bytes, str]:
    """(xlsx bytes, structure fingerprint) of ``unit``'s roll-up return: ``values`` (the sums, and
    any text the office wrote) in the entry cells, ``children`` on the breakdown sheet, ``excluded``
    on the sheet of units left out."""
    keys = summed_keys(form)
    t = texts()
    expected = len(children) + len(excluded)
    facts = {"name": unit.name, "year": year, "included": len(children), "expected": expected, "missing": len(excluded)}

    def extra(wb, password: str, protect_opts: Mapping[str, Any]) -> dict[str, str]:
        base = {"font_name": "宋体", "font_size": 10, "valign": "vcenter"}
        title = wb.add_format(dict(base, bold=True, font_size=14))
        text = wb.add_format(dict(base, text_wrap=False))
        head = wb.add_format(dict(base, bold=True, border=1, bg_color="#F2F2F2", text_wrap=True, valign="top"))
        keyf = wb.add_format(dict(base, border=1, font_size=8, font_color="#7F7F7F"))
        cell = wb.add_format(dict(base, border=1))
        num = wb.add_format(dict(base, border=1, num_format="0.####"))
        total = wb.add_format(dict(base, border=1, bold=True, bg_color="#DDEBF7", num_format="0.####"))

        ws = wb.add_worksheet(str(t["breakdown_sheet"]))
        ws.write_string(TITLE_ROW, 0, str(t["breakdown_title"]).format(**facts), title)
        ws.write_string(STATEMENT_ROW, 0, str(t["statement" if excluded else "statement_all"]).format(**facts), text)
        ws.write_string(NOTE_ROW, 0, str(t["note"]), text)
        heads = {
            CODE_COL: column_name("code"),
            NAME_COL: column_name("name"),
            TYPE_COL: column_name("type"),
            STATUS_COL: str(t["status_column"]),
        }
        for col, h in heads.items():
            ws.write_string(HEADER_ROW, col, h, head)
        ws.write_string(KEYS_ROW, CODE_COL, str(t["keys_label"]), keyf)
        for col in (NAME_COL, TYPE_COL, STATUS_COL):
            ws.write_blank(KEYS_ROW, col, None, keyf)
        for j, k in enumerate(keys):
            ws.write_string(HEADER_ROW, FIRST_KEY_COL + j, form.label(k), head)
            ws.write_string(KEYS_ROW, FIRST_KEY_COL + j, k, keyf)
        ws.set_row(HEADER_ROW, 120)
        sums: dict[str, Any] = {k: 0 for k in keys}
        for i, ch in enumerate(children):
            r = FIRST_UNIT_ROW + i
            for col, t_ in ((CODE_COL, ch.code), (NAME_COL, ch.name), (TYPE_COL, ch.type), (STATUS_COL, ch.status)):
                ws.write_string(r, col, t_, cell)
            for j, k in enumerate(keys):
                v = ch.values.get(k)
                if v is None or v == "":
                    ws.write_blank(r, FIRST_KEY_COL + j, None, num)
                    continue
                ws.write_number(r, FIRST_KEY_COL + j, number_for_excel(v), num)
                sums[k] = sums[k] + (v if isinstance(v, (int, Decimal)) else Decimal(str(v)))
        last = FIRST_UNIT_ROW + len(children)
        ws.write_string(last, CODE_COL, str(t["total_label"]), total)
        for col in (NAME_COL, TYPE_COL, STATUS_COL):
            ws.write_blank(last, col, None, total)
        for j, k in enumerate(keys):
            col = FIRST_KEY_COL + j
            rng = f"{a1(FIRST_UNIT_ROW, col)}:{a1(max(last - 1, FIRST_UNIT_ROW), col)}"
            ws.write_formula(last, col, f"=SUM({rng})" if children else "=0", total, number_for_excel(sums[k]))
        ws.set_column(CODE_COL, CODE_COL, 12)
        ws.set_column(NAME_COL, NAME_COL, 30)
        ws.set_column(TYPE_COL, STATUS_COL, 10)
        ws.set_column(FIRST_KEY_COL, FIRST_KEY_COL + len(keys) - 1, 9)
        ws.freeze_panes(FIRST_UNIT_ROW, FIRST_KEY_COL)
        ws.protect(password, dict(protect_opts))

        ws2 = wb.add_worksheet(str(t["excluded_sheet"]))
        ws2.write_string(TITLE_ROW, 0, str(t["excluded_title"]).format(**facts), title)
        if not excluded:
            ws2.write_string(STATEMENT_ROW, 0, str(t["excluded_none"]), text)
        for col, h in enumerate(
            (column_name("code"), column_name("name"), column_name("type"), str(t["reason_column"]))
        ):
            ws2.write_string(EXCLUDED_HEADER_ROW, col, h, head)
        for i, ex in enumerate(excluded):
            for col, v in enumerate((ex.code, ex.name, ex.type, ex.reason)):
                ws2.write_string(FIRST_EXCLUDED_ROW + i, col, v, cell)
        ws2.set_column(0, 0, 12)
        ws2.set_column(1, 1, 30)
        ws2.set_column(2, 2, 10)
        ws2.set_column(3, 3, 36)
        ws2.protect(password, dict(protect_opts))
        return {"GKX_ROLLUP": declaration(len(children), expected), "GKX_ROLLUP_DIGEST": digest(keys, children)}

    return build_workbook(form, unit, year, prefill=values, office=office, extra_sheets=extra)
