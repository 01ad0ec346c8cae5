"""The generator, seen from the files it writes.

Every test opens real generated workbooks (openpyxl, or the raw XML parts where openpyxl hides a
detail) and checks what a clerk and the importer rely on: sheet and structure protection, exactly the
entry cells unlocked and shaded, a validation on every entry cell, locked formulas in the derived
cells, cached results that agree with the Python rule engine, identity metadata stored three ways,
print set-up, deterministic bytes, roster errors, prefill and the previous-year carry-over.

Expected verdicts come from ``gkxlsx.rules.evaluate.check`` (the Python backend), never from the generator's
own helpers, so a disagreement between the two backends shows up here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from openpyxl.utils.cell import range_boundaries
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.form.cells import a1
from gkxlsx.form.identity import META_FIELDS, workbook_filename
from gkxlsx.form.layout import (
    CHECK_KIND,
    CHECKS_SHEET,
    GUIDE_SHEET,
    INFO_SHEET,
    META_SHEET,
    defined_name,
    layout,
)
from gkxlsx.form.model import load_form
from gkxlsx.form.roster import RosterError, Unit, load_roster
from gkxlsx.rules.engine import FAIL, INCOMPLETE, NOT_APPLICABLE, PASS, compute_derived
from gkxlsx.rules.evaluate import check
from gkxlsx.workbook.generate import (
    C_DERIVED,
    C_ENTRY,
    build_workbook,
    generate_all,
)

ROOT = Path(__file__).resolve().parents[1]
ROSTER = ROOT / "examples" / "roster.csv"
runner = CliRunner()

S3_COLS = ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org")


# --------------------------------------------------------------------------------------------
# data builders (test-side knowledge of the form, not the generator's)


def zero_values(form) -> dict:
    """Every numeric input of the form = 0 (tables and numeric fields)."""
    vals: dict = {k: 0 for k in form.entry_keys}
    for k, f in form.fields.items():
        if f.type.numeric and not k.startswith("meta."):
            vals[k] = 0
    return vals


def valid_2021() -> dict:
    """A complete, consistent 2021 report for a 乡镇 (every rule passes)."""
    form = load_form("2021")
    v = zero_values(form)
    v.update(
        {
            "s2.normative_doc.issued": 2,
            "s2.normative_doc.repealed": 1,
            "s2.normative_doc.in_force": 10,
            "s2.licensing.decisions": 120,
            "s2.penalty.decisions": 15,
            "s2.admin_fee.amount_wan": Decimal("0.25"),
            # natural: 10 + 2 = (6 + 1 + 1 + 2 + 1) + 1
            "s3.new.natural": 10,
            "s3.carried_in.natural": 2,
            "s3.r1_open.natural": 6,
            "s3.r2_partial.natural": 1,
            "s3.r3_1.natural": 1,
            "s3.r4_1.natural": 2,
            "s3.r5_2.natural": 1,
            "s3.carried_out.natural": 1,
            # commercial: 3 + 0 = (2 + 1) + 0
            "s3.new.commercial": 3,
            "s3.r1_open.commercial": 2,
            "s3.r6_1.commercial": 1,
            "s4.review.upheld": 1,
            "s1.active": "本年度主动公开政府信息 120 条。",
            "s1.on_request": "本年度收到政府信息公开申请 13 件。",
            "s5.problems": "公开内容不够全面。",
            "s5.improvements": "加强培训。",
            "meta.contact_phone": "0891-1234567",
        }
    )
    return v


def broken_2021() -> dict:
    """Unbalanced 自然人 column and every W-T2 warning, plus a fee mismatch (W-T3-FEE)."""
    v = valid_2021()
    v.update(
        {
            "s3.carried_out.natural": 3,  # 10 + 2 != 11 + 3
            "s2.normative_doc.issued": 20,  # 20 > 10 + 1
            "s2.regulation.issued": 1,  # a 乡镇 cannot make 规章; and 1 > 0 + 0
            "s2.admin_fee.amount_wan": 2500,  # entered in 元, not 万元
            "s3.r6_2.commercial": 1,  # dropped for unpaid fee, but no fee notice in 六
            "s3.new.commercial": 4,  # keep the commercial column balanced
        }
    )
    return v


def write_roster_csv(
    path: Path,
    rows: list[list[str]],
    header=("单位代码", "单位名称", "单位类型", "上级单位", "联系人", "邮箱"),
    encoding="utf-8",
) -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


TOWN = Unit(
    code="T001",
    name="测试县测试镇人民政府",
    type="乡镇",
    parent="测试县人民政府",
    contact="张三",
    email="t@example.gov.cn",
)


def gen_one(tmp_path: Path, form_id="2021", year=2025, unit=TOWN, **kw) -> Path:
    form = load_form(form_id)
    data, _ = build_workbook(form, unit, year, **kw)
    p = tmp_path / f"{unit.code}_{form_id}_{year}_{len(list(tmp_path.iterdir()))}.xlsx"
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------------------------
# readers


def cells_of(rng: str):
    c0, r0, c1, r1 = range_boundaries(rng)
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            yield (r - 1, c - 1)


def box_cells(b):
    for r in range(b.row, b.row + b.rows):
        for c in range(b.col, b.col + b.cols):
            yield (r, c)


def sheet_xml(path: Path, wb: openpyxl.Workbook, sheet: str) -> str:
    """Raw XML of one worksheet (sheets are written in order as sheetN.xml)."""
    idx = wb.sheetnames.index(sheet) + 1
    with zipfile.ZipFile(path) as z:
        return z.read(f"xl/worksheets/sheet{idx}.xml").decode("utf-8")


def verdicts(path: Path, form) -> dict[str, tuple]:
    """instance id → (status in the check cell beside the table, status on 校验结果), cached values."""
    lay = layout(form)
    wb = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for inst in form.rules:
        s, r, c = lay.checks[inst.iid]
        ss, sr, sc = lay.summary[inst.iid]
        out[inst.iid] = (wb[s].cell(r + 1, c + 1).value, wb[ss].cell(sr + 1, sc + 1).value)
    return out


def counts(path: Path, form) -> dict[str, int]:
    lay = layout(form)
    wb = openpyxl.load_workbook(path, data_only=True)
    return {k: wb[s].cell(r + 1, c + 1).value for k, (s, r, c) in lay.summary_counts.items()}


def python_verdicts(form, values, unit_type, prev=None, prev_format=None) -> dict[str, str]:
    """What the Python rule engine says, in the check cells' vocabulary."""
    ut = form.unit_type(unit_type)
    failing = {f.instance for f in check(form, values, unit=ut, prev=prev, prev_format=prev_format)}
    pf = prev_format or (form.id if prev is not None else None)
    out = {}
    for inst in form.rules:
        if not inst.applicable(ut, pf):
            out[inst.iid] = NOT_APPLICABLE
        elif inst.iid in failing:
            out[inst.iid] = FAIL
        else:
            out[inst.iid] = PASS
    return out


def expected_total(form, key, values):
    cell = form.cells[key]
    if not cell.derived:
        return values[key]
    return sum(expected_total(form, k, values) for k in cell.sum_of)


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The example roster through the real CLI (as a clerk at the county office would run it)."""
    out = tmp_path_factory.mktemp("batch") / "out"
    res = runner.invoke(
        app,
        [
            "generate",
            "--roster",
            str(ROSTER),
            "--year",
            "2025",
            "--out",
            str(out),
            "--office",
            "示例县政务公开办",
            "--contact",
            "0891-7654321",
            "--deadline",
            "2026-01-20",
        ],
    )
    assert res.exit_code == 0, res.output
    return out, res


@pytest.fixture(scope="module")
def blank(batch):
    out, _ = batch
    return next(out.glob("SLX001_*.xlsx"))


# --------------------------------------------------------------------------------------------
# batch, file names, manifest, progress


def test_one_workbook_per_unit_named_by_code_and_name(batch):
    out, res = batch
    units = load_roster(ROSTER)
    files = sorted(p.name for p in out.glob("*.xlsx"))
    assert len(files) == len(units) == 12
    for u in units:
        name = workbook_filename(u, 2025)
        assert name in files
        assert name.startswith(f"{u.code}_{u.name}_2025")
    assert "已为 12 个单位生成 2025 年度填报工作簿" in res.output
    assert "正在生成" in res.output  # the progress bar's label


def test_manifest_lists_unit_file_sha256_and_template(batch):
    out, _ = batch
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["format"] == "2021" and m["year"] == 2025
    units = {u.code: u for u in load_roster(ROSTER)}
    assert [e["unit_code"] for e in m["files"]] == list(units)
    for e in m["files"]:
        data = (out / e["file"]).read_bytes()
        assert e["sha256"] == hashlib.sha256(data).hexdigest()
        assert e["unit_name"] == units[e["unit_code"]].name
        assert e["unit_type"] == units[e["unit_code"]].type
        assert e["template_id"] == "gkxlsx:2021:2021.1:2025"
        wb = openpyxl.load_workbook(out / e["file"])
        assert wb.defined_names["GKX_FINGERPRINT"].attr_text  # resolvable
        assert wb[META_SHEET]["B" + str(2 + META_FIELDS.index("GKX_FINGERPRINT"))].value == e["fingerprint"]


def test_progress_callback_once_per_unit(tmp_path):
    units = load_roster(ROSTER)[:3]
    seen = []
    files = generate_all(units, 2025, tmp_path, progress=seen.append)
    assert seen == units
    assert [f.unit for f in files] == units


# --------------------------------------------------------------------------------------------
# sheets and their content


def test_sheets_in_order_and_metadata_sheet_very_hidden(blank):
    wb = openpyxl.load_workbook(blank)
    form = load_form("2021")
    assert wb.sheetnames == [GUIDE_SHEET, INFO_SHEET, *[s.sheet for s in form.sections], CHECKS_SHEET, META_SHEET]
    assert [s.sheet for s in form.sections] == [
        "一、总体情况",
        "二、主动公开",
        "三、依申请公开",
        "四、复议诉讼",
        "五、问题改进",
        "六、其他事项",
    ]
    assert wb[META_SHEET].sheet_state == "veryHidden"
    assert all(ws.sheet_state == "visible" for ws in wb.worksheets if ws.title != META_SHEET)
    assert wb.active.title == GUIDE_SHEET


def test_guide_sheet_has_deadline_office_contact_and_colour_legend(blank):
    ws = openpyxl.load_workbook(blank)[GUIDE_SHEET]
    text = "\n".join(str(c.value) for c in ws["A"] if c.value)
    assert "2026年1月20日前" in text
    assert "示例县政务公开办" in text and "0891-7654321" in text
    assert "示例县城关镇人民政府" in text
    fills = {str(c.value): c.fill.fgColor.rgb for c in ws["A"] if c.value}
    legend_entry = next(k for k in fills if k.startswith("浅黄色"))
    legend_derived = next(k for k in fills if k.startswith("浅蓝色"))
    assert fills[legend_entry] == "FF" + C_ENTRY[1:]
    assert fills[legend_derived] == "FF" + C_DERIVED[1:]
    assert any("✗" in k and fills[k] not in ("00000000", None) for k in fills)


def test_info_sheet_prefilled_and_locked_contact_to_fill(blank):
    ws = openpyxl.load_workbook(blank)[INFO_SHEET]
    rows = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value}
    assert rows["单位名称"].value == "示例县城关镇人民政府"
    assert rows["单位代码"].value == "SLX001"
    assert rows["单位类型"].value == "乡镇"
    assert rows["报告年度"].value == 2025
    for label in ("单位名称", "单位代码", "单位类型", "报告年度"):
        assert rows[label].protection.locked, label
    assert rows["联系人"].value == "张晓梅"  # from the roster, still editable
    for label in ("联系人", "联系电话"):
        assert rows[label].protection.locked is False, label


# official merged headers (docs/FORMAT.md §3.1–3.3), 1-based A1 ranges
OFFICIAL_MERGES_2021 = {
    "二、主动公开": [
        "A1:D1",
        "A5:D5",
        "B6:D6",
        "B7:D7",
        "A8:D8",
        "B9:D9",
        "B10:D10",
        "B11:D11",
        "A12:D12",
        "B13:D13",
        "B14:D14",
    ],
    "三、依申请公开": [
        "A1:C3",
        "D1:J1",
        "D2:D3",
        "E2:I2",
        "J2:J3",
        "A4:C4",
        "A5:C5",
        "A6:A27",
        "B6:C6",
        "B7:C7",
        "B8:B15",
        "B16:B18",
        "B19:B23",
        "B24:B26",
        "B27:C27",
        "A28:C28",
    ],
    "四、复议诉讼": ["A1:E1", "F1:O1", "A2:A3", "B2:B3", "C2:C3", "D2:D3", "E2:E3", "F2:J2", "K2:O2"],
}
OFFICIAL_TEXT_2021 = {
    "二、主动公开": {
        "A1": "第二十条第（一）项",
        "B2": "本年制发件数",
        "C2": "本年废止件数",
        "D2": "现行有效件数",
        "A3": "规章",
        "A4": "行政规范性文件",
        "A13": "信息内容",
        "B13": "本年收费金额（单位：万元）",
        "A14": "行政事业性收费",
    },
    "三、依申请公开": {
        "A1": "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）",
        "D1": "申请人情况",
        "D2": "自然人",
        "E2": "法人或其他组织",
        "J2": "总计",
        "E3": "商业企业",
        "F3": "科研机构",
        "G3": "社会公益组织",
        "H3": "法律服务机构",
        "I3": "其他",
        "A4": "一、本年新收政府信息公开申请数量",
        "A5": "二、上年结转政府信息公开申请数量",
        "A6": "三、本年度办理结果",
        "B7": "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
        "C10": "3.危及“三安全一稳定”",
        "C25": "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        "B27": "（七）总计",
        "A28": "四、结转下年度继续办理",
    },
    "四、复议诉讼": {
        "A1": "行政复议",
        "F1": "行政诉讼",
        "B2": "结果纠正",
        "E2": "总计",
        "F2": "未经复议直接起诉",
        "K2": "复议后起诉",
        "O3": "总计",
    },
}


@pytest.mark.parametrize("sheet", sorted(OFFICIAL_MERGES_2021))
def test_tables_in_the_exact_official_layout(blank, sheet):
    ws = openpyxl.load_workbook(blank)[sheet]
    merges = {str(m) for m in ws.merged_cells.ranges}
    missing = set(OFFICIAL_MERGES_2021[sheet]) - merges
    assert not missing, f"{sheet}: official merges missing {sorted(missing)}"
    for ref, text in OFFICIAL_TEXT_2021[sheet].items():
        assert ws[ref].value == text, f"{sheet}!{ref}"
    # no unofficial subtotal column/row: 法人或其他组织 has exactly the 5 official sub-columns
    if sheet == "三、依申请公开":
        assert [ws.cell(3, c).value for c in range(5, 10)] == [
            "商业企业",
            "科研机构",
            "社会公益组织",
            "法律服务机构",
            "其他",
        ]


def test_narrative_parts_are_large_wrapped_cells_with_guidance(blank):
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(blank)
    for sec in form.sections:
        if sec.kind != "text":
            continue
        ws = wb[sec.sheet]
        for f in sec.fields:
            s, r, c = lay.where[f.key]
            cell = ws.cell(r + 1, c + 1)
            assert cell.protection.locked is False
            assert ws.cell(r + 1, c).value == f.label  # label to the left
            assert ws.cell(r + 1, c + 2).value, f"{f.key}: no guidance note"  # guidance to the right
            if f.type.kind == "text":
                assert cell.alignment.wrap_text, f.key
                assert ws.row_dimensions[r + 1].height >= 100, f.key
                assert ws.column_dimensions[a1(0, c)[:-1]].width >= 60, f.key


# --------------------------------------------------------------------------------------------
# locking


def test_every_sheet_protected_and_structure_locked(blank):
    wb = openpyxl.load_workbook(blank)
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
        assert ws.protection.password, ws.title
        assert ws.protection.insertRows and ws.protection.deleteRows, ws.title  # not allowed
        assert ws.protection.insertColumns and ws.protection.deleteColumns, ws.title
    assert wb.security is not None and wb.security.lockStructure
    with zipfile.ZipFile(blank) as z:
        xml = z.read("xl/workbook.xml").decode()
    assert re.search(r'<workbookProtection [^>]*lockStructure="1"', xml)


def test_exactly_the_entry_cells_are_unlocked_and_shaded(blank):
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(blank)
    for sl in lay.sheets:
        ws = wb[sl.name]
        entry = {rc for b in sl.boxes if b.role == "entry" for rc in box_cells(b)}
        unlocked = {(r - 1, c - 1) for (r, c), cell in ws._cells.items() if cell.protection.locked is False}
        assert unlocked == entry, (
            f"{sl.name}: unlocked-but-not-entry {sorted(unlocked - entry)[:5]}, locked entry {sorted(entry - unlocked)[:5]}"
        )
        # shading: openpyxl keeps the fill of a merged range on its top-left cell only
        for b in sl.boxes:
            want = {"entry": C_ENTRY, "derived": C_DERIVED}.get(b.role)
            if want:
                assert ws.cell(b.row + 1, b.col + 1).fill.fgColor.rgb == "FF" + want[1:], f"{sl.name}!{b.ref}"
        # no column or row default style silently unlocks empty cells
        for dim in list(ws.column_dimensions.values()) + list(ws.row_dimensions.values()):
            if dim.style_id:
                assert (
                    wb._cell_styles[dim.style_id].protectionId == 0
                    or wb._protections[wb._cell_styles[dim.style_id].protectionId].locked
                )
    n_entry = sum(1 for sl in lay.sheets for b in sl.boxes if b.role == "entry")
    assert n_entry == 144 + 10 + 12 + 7 + 3 + 7 + 5  # s3, s2, s4, s1, s5, s6, 基本信息 to fill


def test_a_validation_on_every_entry_cell_with_chinese_messages(blank):
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(blank)
    for sl in lay.sheets:
        ws = wb[sl.name]
        dv_of = {}
        for dv in ws.data_validations.dataValidation:
            for rng in str(dv.sqref).split():
                for rc in cells_of(rng):
                    assert rc not in dv_of, f"{sl.name}!{a1(*rc)}: two validations"
                    dv_of[rc] = dv
        entry_boxes = [b for b in sl.boxes if b.role == "entry"]
        assert set(dv_of) == {rc for b in entry_boxes for rc in box_cells(b)}, sl.name
        for b in entry_boxes:
            dv = dv_of[(b.row, b.col)]
            vt = form.value_type(b.key)
            where = f"{sl.name}!{b.ref} {b.key}"
            assert dv.showErrorMessage and dv.errorStyle in (None, "stop"), where
            assert dv.showInputMessage and dv.prompt and dv.error, where
            assert re.search(r"[\u4e00-\u9fff]", dv.error) and re.search(r"[\u4e00-\u9fff]", dv.prompt), where
            if vt.kind == "int" and vt.min == 0:
                assert (dv.type, dv.operator, dv.formula1) == ("whole", "greaterThanOrEqual", "0"), where
            elif vt.kind == "int":
                assert dv.type == "whole" and dv.operator == "between" and int(dv.formula1) < 0, where
            elif vt.kind == "decimal":
                assert dv.type == "custom", where
                f = dv.formula1
                assert (
                    f"ROUND({b.ref},{vt.max_dp})={b.ref}" in f and f"{b.ref}>=0" in f and f"ISNUMBER({b.ref})" in f
                ), where
                assert vt.unit in dv.prompt, where
            elif vt.kind == "date":
                assert dv.type == "date", where
            else:
                assert (dv.type, dv.operator) == ("textLength", "lessThanOrEqual"), where
                assert int(dv.formula1) == vt.max_len, where


# --------------------------------------------------------------------------------------------
# formulas, check cells and cached values


def test_derived_cells_are_locked_sum_formulas(blank):
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(blank)
    assert len(form.derived_keys) == 34
    for key in form.derived_keys:
        s, r, c = lay.where[key]
        cell = wb[s].cell(r + 1, c + 1)
        assert isinstance(cell.value, str) and cell.value.startswith("=") and "SUM(" in cell.value, key
        assert cell.protection.locked, key
        # the summed cells are exactly the ones the form defines
        refs = set()
        for rng in re.findall(r"SUM\(([^)]*)\)", cell.value)[0].split(","):
            refs |= set(cells_of(rng))
        want = {lay.where[k][1:] for k in form.cells[key].sum_of}
        assert refs == want, key


def test_each_table_sheet_shows_its_rules_beside_the_table_and_turns_red(blank):
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(blank)
    ws = wb["三、依申请公开"]
    # the balance check, once per column, under its column
    row = next(
        r for r in range(1, ws.max_row + 1) if "第一项＋第二项＝第三项＋第四项" in str(ws.cell(r, 1).value or "")
    )
    for c in S3_COLS + ("total",):
        inst = next(i for i in form.rules if i.iid == f"E-T3-BAL[{c}]")
        s, r, col = lay.checks[inst.iid]
        assert (s, r + 1) == ("三、依申请公开", row)
        assert col == lay.where[f"s3.new.{c}"][2]
        assert "第一项加第二项之和等于第三项加第四项之和" in inst.title
        assert ws.cell(r + 1, col + 1).value.startswith("=IF(")
    # every sheet with checks turns ✗ red through conditional formatting over all its check cells
    for sheet in {s for s, _, _ in lay.checks.values()} | {CHECKS_SHEET}:
        ws = wb[sheet]
        red = [
            cf
            for cf in ws.conditional_formatting
            for rule in cf.rules
            if rule.operator == "equal" and rule.formula == [f'"{FAIL}"']
        ]
        assert red, sheet
        covered = {rc for cf in red for rng in str(cf.sqref).split() for rc in cells_of(rng)}
        rule = next(rule for cf in ws.conditional_formatting for rule in cf.rules if rule.formula == [f'"{FAIL}"'])
        assert rule.dxf.fill is not None and rule.dxf.font.color.rgb.upper().endswith("9C0006")
        for iid, (s, r, c) in list(lay.checks.items()) + list(lay.summary.items()):
            if s == sheet:
                assert (r, c) in covered, f"{sheet}!{a1(r, c)} ({iid}) not turned red when broken"


def test_checks_sheet_lists_every_rule_with_message_link_and_counts(blank):
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(blank)
    ws = wb[CHECKS_SHEET]
    for inst in form.rules:
        s, r, c = lay.summary[inst.iid]
        row = [ws.cell(r + 1, c + 1 + j).value for j in range(6)]
        cs, cr, cc = lay.checks[inst.iid]
        assert row[0] == f"='{cs}'!{a1(cr, cc)}"  # live: shows the check cell beside the table
        assert row[1] == CHECK_KIND[inst.severity]
        assert row[3] == inst.title and re.search(r"[\u4e00-\u9fff]", row[3])
        fs, fr, fc = lay.locate(inst.focus_keys[0])
        assert row[4] == f'=HYPERLINK("#\'{fs}\'!{a1(fr, fc)}","{fs}!{a1(fr, fc)}")'
        assert row[5] == inst.iid
    labels = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(3, 7)}
    assert labels["错误（必须通过的✗）"].startswith("=COUNTIFS(") and labels["警告（建议核实的✗）"].startswith(
        "=COUNTIFS("
    )


def test_every_formula_cell_has_a_cached_value_in_the_file(blank):
    wb = openpyxl.load_workbook(blank)
    n = 0
    for ws in wb.worksheets:
        xml = sheet_xml(blank, wb, ws.title)
        for m in re.finditer(r"<c [^>]*>(<f>.*?</f>)(.*?)</c>", xml):
            n += 1
            assert m.group(2).startswith("<v>") or m.group(2) == "<v></v>", (
                f"{ws.title}: formula without cached value: {m.group(0)[:120]}"
            )
    form = load_form("2021")
    assert n == len(form.derived_keys) + 3 * len(form.rules) + 4  # totals; check, summary, link per rule; counts


def test_blank_workbook_caches_pending_and_not_applicable(blank):
    form = load_form("2021")
    got = verdicts(blank, form)
    ut = form.unit_type("乡镇")
    for inst in form.rules:
        want = INCOMPLETE if inst.applicable(ut, None) else NOT_APPLICABLE
        assert got[inst.iid] == (want, want), inst.iid
    n_applicable = sum(1 for i in form.rules if i.applicable(ut, None))
    assert counts(blank, form) == {"error": 0, "warning": 0, "info": 0, "incomplete": n_applicable}
    # derived totals show nothing until their inputs are filled (blank is not 0)
    lay = layout(form)
    wb = openpyxl.load_workbook(blank, data_only=True)
    for key in form.derived_keys:
        s, r, c = lay.where[key]
        assert wb[s].cell(r + 1, c + 1).value in (None, ""), key


@pytest.mark.parametrize("case", ["valid", "broken"])
def test_cached_results_agree_with_python_rules(tmp_path, case):
    form = load_form("2021")
    values = valid_2021() if case == "valid" else broken_2021()
    path = gen_one(tmp_path, prefill=values)
    want = python_verdicts(form, values, "乡镇")
    got = verdicts(path, form)
    for iid, status in want.items():
        assert got[iid] == (status, status), f"{iid}: workbook {got[iid]}, Python {status}"
    findings = check(form, values, unit=form.unit_type("乡镇"))
    c = counts(path, form)
    assert c["error"] == sum(f.severity == "error" for f in findings)
    assert c["warning"] == sum(f.severity == "warning" for f in findings)
    assert c["info"] == sum(f.severity == "info" for f in findings)
    assert c["incomplete"] == 0
    if case == "valid":
        assert not findings and c["error"] == c["warning"] == 0
    else:
        failing = {f.instance for f in findings}
        assert {
            "E-T3-BAL[natural]",
            "E-T3-BAL[total]",
            "W-T2-INFORCE[normative_doc]",
            "W-T2-INFORCE[regulation]",
            "W-T2-GUIZHANG",
            "W-T2-FEE-UNIT",
            "W-T3-FEE",
        } <= failing
        assert "E-T3-BAL[commercial]" not in failing
    # the derived totals carry their sums
    lay = layout(form)
    wb = openpyxl.load_workbook(path, data_only=True)
    for key in form.derived_keys:
        s, r, c = lay.where[key]
        assert wb[s].cell(r + 1, c + 1).value == expected_total(form, key, values), key
    # and the prefilled inputs are in their cells, as numbers
    for key in ("s3.new.natural", "s2.admin_fee.amount_wan", "s4.review.upheld"):
        s, r, c = lay.where[key]
        assert wb[s].cell(r + 1, c + 1).value == values[key]


def test_decimal_prefill_keeps_its_value(tmp_path):
    form = load_form("2021")
    v = valid_2021()
    v["s2.admin_fee.amount_wan"] = Decimal("0.1234")
    path = gen_one(tmp_path, prefill=v)
    s, r, c = layout(form).where["s2.admin_fee.amount_wan"]
    cell = openpyxl.load_workbook(path)[s].cell(r + 1, c + 1)
    assert cell.value == pytest.approx(0.1234)
    assert cell.number_format == "0.####"


# --------------------------------------------------------------------------------------------
# identity


def test_identity_stored_in_hidden_sheet_defined_names_and_custom_properties(batch):
    out, _ = batch
    m = {e["unit_code"]: e for e in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["files"]}
    path = out / m["SLX101"]["file"]
    wb = openpyxl.load_workbook(path)
    meta_ws = wb[META_SHEET]
    sheet_vals = {meta_ws.cell(r, 1).value: meta_ws.cell(r, 2).value for r in range(2, 2 + len(META_FIELDS))}
    props = {p.name: p.value for p in wb.custom_doc_props.props}
    want = {
        "GKX_APP": "gkxlsx",
        "GKX_FORMAT": "2021",
        "GKX_TEMPLATE_VERSION": "2021.1",
        "GKX_YEAR": "2025",
        "GKX_UNIT_CODE": "SLX101",
        "GKX_UNIT_NAME": "示例县财政局",
        "GKX_UNIT_TYPE": "县级部门",
        "GKX_FINGERPRINT": m["SLX101"]["fingerprint"],
    }
    from gkxlsx import __version__

    want["GKX_GENERATOR"] = __version__
    for k, v in want.items():
        assert sheet_vals[k] == v, k
        assert props[k] == v, k
        dn = wb.defined_names[k]
        ((sheet, ref),) = list(dn.destinations)
        assert wb[sheet][ref.replace("$", "")].value == v, k
    assert re.fullmatch(r"[0-9a-f]{64}", want["GKX_FINGERPRINT"])
    # every key's cell has a defined name at the layout's position
    lay = layout(load_form("2021"))
    for key, (s, r, c) in lay.where.items():
        ((sheet, ref),) = list(wb.defined_names[defined_name(key)].destinations)
        assert (sheet, ref.replace("$", "")) == (s, a1(r, c)), key


def test_fingerprint_follows_structure_not_unit(tmp_path):
    form = load_form("2021")
    _, fp_a = build_workbook(form, TOWN, 2025)
    _, fp_b = build_workbook(form, Unit("T002", "另一个镇", "乡镇"), 2025, prefill={"s3.new.natural": 5})
    _, fp_dept = build_workbook(form, Unit("D001", "某局", "县级部门"), 2025)
    _, fp_2019 = build_workbook(load_form("2019"), TOWN, 2020)
    assert fp_a == fp_b  # same structure: values and unit names do not change it
    assert fp_a != fp_2019
    assert fp_a != fp_dept  # the unit type's thresholds are compiled into the check formulas


# --------------------------------------------------------------------------------------------
# print set-up


def test_print_ready_a4_fit_to_width_repeated_headers_header_footer(blank):
    wb = openpyxl.load_workbook(blank)
    for ws in wb.worksheets:
        if ws.title == META_SHEET:
            continue
        assert ws.page_setup.paperSize == 9, ws.title  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.page_setup.fitToWidth in (None, 1), ws.title  # 1 page wide (None = default 1)
        assert ws.page_setup.fitToHeight == 0, ws.title  # as many pages tall as needed
        assert "示例县城关镇人民政府" in ws.oddHeader.left.text, ws.title
        assert "&P" in ws.oddFooter.center.text, ws.title
    assert wb["三、依申请公开"].print_title_rows == "$1:$3"
    assert wb["四、复议诉讼"].print_title_rows == "$1:$3"
    assert wb[CHECKS_SHEET].print_title_rows == "$8:$8"
    assert wb["三、依申请公开"].page_setup.orientation == "landscape"


# --------------------------------------------------------------------------------------------
# determinism


def _cli_generate(out: Path, seed: str, *extra: str) -> None:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gkxlsx",
            "generate",
            "--roster",
            str(ROSTER),
            "--year",
            "2025",
            "--out",
            str(out),
            "-q",
            *extra,
        ],
        check=True,
        env=env,
        capture_output=True,
    )


def test_same_inputs_give_byte_identical_files_across_processes(tmp_path):
    prefill = tmp_path / "pre.json"
    prefill.write_text(
        json.dumps({"SLX001": {"s3.new.natural": 3, "s1.active": "主动公开 10 条"}}, ensure_ascii=False),
        encoding="utf-8",
    )
    a, b = tmp_path / "a", tmp_path / "b"
    _cli_generate(a, "1", "--prefill", str(prefill))
    _cli_generate(b, "12345", "--prefill", str(prefill))  # different hash seed: no set-order leaks
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and len(names) == 13
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


# --------------------------------------------------------------------------------------------
# roster


def test_bad_roster_lists_every_bad_line_in_chinese(tmp_path):
    p = write_roster_csv(
        tmp_path / "bad.csv",
        [
            ["A001", "甲镇人民政府", "乡镇", "", "", "a@example.gov.cn"],
            ["A001", "乙镇人民政府", "乡镇", "", "", ""],  # line 3: duplicate code
            ["A003", "", "乡镇", "", "", ""],  # line 4: missing name
            ["A004", "丁局", "县级部门", "", "", "not-an-email"],  # line 5: malformed e-mail
            ["A005", "戊单位", "事业单位", "", "", ""],  # line 6: unknown unit type
            ["A006", "己镇人民政府", "镇", "", "", ""],  # fine (alias)
        ],
    )
    with pytest.raises(RosterError) as ei:
        load_roster(p)
    msg = str(ei.value)
    assert "bad.csv" in msg and "4 处问题" in msg and "未生成任何文件" in msg
    assert re.search(r"第 3 行：.*A001.*与第 2 行重复", msg)
    assert re.search(r"第 4 行：.*缺少单位名称", msg)
    assert re.search(r"第 5 行：.*not-an-email.*格式不正确", msg)
    assert re.search(r"第 6 行：.*事业单位.*无法识别", msg)
    assert "第 7 行" not in msg and "第 2 行：" not in msg


def test_cli_bad_roster_exit_2_and_nothing_written(tmp_path):
    p = write_roster_csv(
        tmp_path / "bad.csv", [["A001", "甲镇", "乡镇", "", "", "x@@y"], ["A002", "乙镇", "乡镇", "", "", ""]]
    )
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", "--roster", str(p), "--year", "2025", "--out", str(out)])
    assert res.exit_code == 2
    assert "第 2 行" in res.stderr and "邮箱" in res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


def test_cli_missing_roster_and_wrong_format_year(tmp_path):
    res = runner.invoke(
        app, ["generate", "--roster", str(tmp_path / "nope.csv"), "--year", "2025", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "找不到名单文件" in res.stderr
    res = runner.invoke(
        app, ["generate", "--roster", str(ROSTER), "--year", "2020", "--format", "2021", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "不适用于 2020 年度" in res.stderr
    assert not (tmp_path / "o").exists()


def test_roster_missing_required_column(tmp_path):
    p = write_roster_csv(tmp_path / "r.csv", [["A001", "甲镇"]], header=("单位代码", "单位名称"))
    with pytest.raises(RosterError, match="缺少必需的列：单位类型"):
        load_roster(p)


def test_xlsx_roster_with_english_headers(tmp_path):
    p = tmp_path / "roster.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet("名单")
    ws.write_row(0, 0, ["Code", "Name", "Type", "Parent", "Contact", "E-mail", "Phone"])
    ws.write_row(1, 0, [1001, "甲镇人民政府", "镇人民政府", "某县人民政府", "王五", "w@example.gov.cn", "0891-1111111"])
    ws.write_row(2, 0, ["B-02", "某县财政局", "县直部门", "某县人民政府", "", "", ""])
    wb.close()
    units = load_roster(p)
    assert [(u.code, u.name, u.type) for u in units] == [
        ("1001", "甲镇人民政府", "乡镇"),
        ("B-02", "某县财政局", "县级部门"),
    ]
    assert units[0].contact == "王五" and units[0].email == "w@example.gov.cn" and units[0].phone == "0891-1111111"
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", "--roster", str(p), "--year", "2025", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    f = next(out.glob("1001_*.xlsx"))
    ws = openpyxl.load_workbook(f)[INFO_SHEET]
    vals = [ws.cell(r, 2).value for r in range(3, 10)]
    assert "0891-1111111" in vals and "王五" in vals  # the roster's phone and contact are prefilled


def test_xlsx_roster_errors_name_lines(tmp_path):
    p = tmp_path / "bad.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["单位代码", "单位名称", "单位类型", "邮箱"])
    ws.write_row(1, 0, ["X1", "甲", "乡镇", "ok@example.gov.cn"])
    ws.write_row(2, 0, ["X1", "乙", "火星", "bad"])
    wb.close()
    with pytest.raises(RosterError) as ei:
        load_roster(p)
    msg = str(ei.value)
    assert "bad.xlsx" in msg and "第 3 行" in msg
    assert "重复" in msg and "火星" in msg and "bad" in msg


def test_csv_roster_in_gbk_and_english_headers(tmp_path):
    p = write_roster_csv(
        tmp_path / "gbk.csv",
        [["C1", "某县教育局", "县级部门", "某县人民政府", "李四", "edu@example.gov.cn"]],
        header=("code", "name", "type", "parent", "contact", "email"),
        encoding="gb18030",
    )
    (u,) = load_roster(p)
    assert (u.code, u.name, u.type, u.parent, u.contact) == ("C1", "某县教育局", "县级部门", "某县人民政府", "李四")


# --------------------------------------------------------------------------------------------
# prefill and previous-year carry-over


def _write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def test_prefill_returned_values_through_cli(tmp_path):
    """A unit's returned values, sent back as a corrected copy: every value lands in its cell."""
    form = load_form("2021")
    values = broken_2021()
    pre = _write_json(
        tmp_path / "pre.json", {"SLX001": {k: (float(v) if isinstance(v, Decimal) else v) for k, v in values.items()}}
    )
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["generate", "--roster", str(ROSTER), "--year", "2025", "--out", str(out), "--prefill", str(pre), "-q"]
    )
    assert res.exit_code == 0, res.output
    path = next(out.glob("SLX001_*.xlsx"))
    lay = layout(form)
    wb = openpyxl.load_workbook(path)
    for key, v in values.items():
        s, r, c = lay.where[key]
        got = wb[s].cell(r + 1, c + 1).value
        assert got == (float(v) if isinstance(v, Decimal) else v), key
    assert verdicts(path, form) == {i: (s, s) for i, s in python_verdicts(form, values, "乡镇").items()}
    # other units are untouched
    other = openpyxl.load_workbook(next(out.glob("SLX002_*.xlsx")))
    s, r, c = lay.where["s3.new.natural"]
    assert other[s].cell(r + 1, c + 1).value is None


def test_prefill_csv_and_bad_prefill(tmp_path):
    pre = tmp_path / "pre.csv"
    pre.write_text("单位代码,s3.new.natural,s1.active\nSLX002,4,已公开\n", encoding="utf-8")
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["generate", "--roster", str(ROSTER), "--year", "2025", "--out", str(out), "--prefill", str(pre), "-q"]
    )
    assert res.exit_code == 0, res.output
    lay = layout(load_form("2021"))
    wb = openpyxl.load_workbook(next(out.glob("SLX002_*.xlsx")))
    s, r, c = lay.where["s3.new.natural"]
    assert wb[s].cell(r + 1, c + 1).value == 4
    s, r, c = lay.where["s1.active"]
    assert wb[s].cell(r + 1, c + 1).value == "已公开"
    bad = _write_json(tmp_path / "bad.json", {"SLX001": {"s3.nonsense.natural": 1}})
    out2 = tmp_path / "out2"
    res = runner.invoke(
        app, ["generate", "--roster", str(ROSTER), "--year", "2025", "--out", str(out2), "--prefill", str(bad)]
    )
    assert res.exit_code == 2 and "bad.json" in res.stderr and "s3.nonsense.natural" in res.stderr
    assert not out2.exists()
    bad = _write_json(tmp_path / "bad2.json", {"SLX001": {"s3.new.natural": "三"}})
    res = runner.invoke(
        app, ["generate", "--roster", str(ROSTER), "--year", "2025", "--out", str(out2), "--prefill", str(bad)]
    )
    assert res.exit_code == 2 and "不是数字" in res.stderr


PREV_2024 = {
    # last year's 结转下年度继续办理 per column, and 现行有效件数
    **{f"s3.carried_out.{c}": n for c, n in zip(S3_COLS, (2, 1, 0, 0, 0, 0))},
    "s3.carried_out.total": 3,
    "s2.regulation.in_force": 0,
    "s2.normative_doc.in_force": 9,
}


def test_previous_year_carried_into_this_years_carried_in_with_cross_year_checks(tmp_path):
    form = load_form("2021")
    prev_file = _write_json(tmp_path / "prev.json", {"SLX001": PREV_2024, "SLX002": PREV_2024})
    # SLX002 sends a corrected copy whose 上年结转 (自然人) disagrees with last year's report
    this_year = valid_2021()
    this_year.pop("s3.carried_in.natural")
    this_year.pop("s3.carried_in.commercial")
    wrong = dict(this_year, **{"s3.carried_in.natural": 5})
    pre = _write_json(
        tmp_path / "pre.json",
        {
            "SLX001": {k: float(v) if isinstance(v, Decimal) else v for k, v in this_year.items()},
            "SLX002": {k: float(v) if isinstance(v, Decimal) else v for k, v in wrong.items()},
        },
    )
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "generate",
            "--roster",
            str(ROSTER),
            "--year",
            "2025",
            "--out",
            str(out),
            "--previous",
            str(prev_file),
            "--prefill",
            str(pre),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    lay = layout(form)

    ok = next(out.glob("SLX001_*.xlsx"))
    wb = openpyxl.load_workbook(ok)
    for c, n in zip(S3_COLS, (2, 1, 0, 0, 0, 0)):
        s, r, col = lay.where[f"s3.carried_in.{c}"]
        assert wb[s].cell(r + 1, col + 1).value == n, c  # 上年结转 = last year's 结转下年度继续办理
    assert wb[META_SHEET]["B" + str(2 + META_FIELDS.index("GKX_PREVIOUS"))].value  # marked as checked against last year
    # every verdict (cross-year and this year's) agrees with the Python rules on the merged values
    got = verdicts(ok, form)
    merged = {**this_year, **{f"s3.carried_in.{c}": n for c, n in zip(S3_COLS, (2, 1, 0, 0, 0, 0))}}
    want = python_verdicts(form, merged, "乡镇", prev=PREV_2024, prev_format="2021")
    assert got == {i: (s, s) for i, s in want.items()}
    assert got["W-XY-CARRY[natural]"][0] == PASS
    assert got["W-XY-CARRY[total]"][0] == PASS
    # 现行有效 10 = 上年 9 + 制发 2 − 废止 1
    assert got["W-XY-INFORCE[normative_doc]"][0] == PASS

    bad = next(out.glob("SLX002_*.xlsx"))
    got = verdicts(bad, form)
    wrong_full = {**wrong, **{f"s3.carried_in.{c}": n for c, n in zip(S3_COLS[1:], (1, 0, 0, 0, 0))}}
    want = python_verdicts(form, wrong_full, "乡镇", prev=PREV_2024, prev_format="2021")
    assert want["W-XY-CARRY[natural]"] == FAIL
    assert got == {i: (s, s) for i, s in want.items()}
    assert got["W-XY-CARRY[natural]"] == (FAIL, FAIL)
    assert got["W-XY-CARRY[commercial]"] == (PASS, PASS)
    # the prefilled (corrected) value wins over the carry-over
    wb = openpyxl.load_workbook(bad)
    s, r, col = lay.where["s3.carried_in.natural"]
    assert wb[s].cell(r + 1, col + 1).value == 5

    # a unit without last year's data: cross-year checks say 不适用
    other = verdicts(next(out.glob("SLX003_*.xlsx")), form)
    assert other["W-XY-CARRY[natural]"] == (NOT_APPLICABLE, NOT_APPLICABLE)


def test_previous_2019_report_carries_into_2021_but_section_two_is_not_compared(tmp_path):
    prev = {"s3.carried_out.natural": 4, "s3.carried_out.commercial": 0, "s2.normative_doc.total_public": 3}
    f = _write_json(tmp_path / "prev2020.json", {"SLX001": prev})
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["generate", "--roster", str(ROSTER), "--year", "2021", "--out", str(out), "--previous", str(f), "-q"]
    )
    assert res.exit_code == 0, res.output
    form = load_form("2021")
    lay = layout(form)
    path = next(out.glob("SLX001_*.xlsx"))
    wb = openpyxl.load_workbook(path)
    s, r, c = lay.where["s3.carried_in.natural"]
    assert wb[s].cell(r + 1, c + 1).value == 4
    got = verdicts(path, form)
    # applicable (section 三 is comparable 2019 → 2021): the carried-over value agrees with last year
    assert got["W-XY-CARRY[natural]"] == (PASS, PASS)
    assert got["W-XY-CARRY[research]"] == (NOT_APPLICABLE, NOT_APPLICABLE)  # last year's figure not given
    assert got["W-XY-INFORCE[normative_doc]"][0] == NOT_APPLICABLE  # section 二 changed in 2021


# --------------------------------------------------------------------------------------------
# the grey 上年 column: last year's figures beside 二–四 (only with last year's values)


def last_year_2024() -> dict:
    """Last year's complete report (the cells only), a little different from this year's."""
    form = load_form("2021")
    v = {k: x for k, x in valid_2021().items() if k in form.cells}
    v.update({"s3.new.natural": 7, "s3.r1_open.natural": 3, "s4.lit_direct.corrected": 2, "s2.licensing.decisions": 98})
    return v


def prev_block(ws, sl):
    """(row, col) → value of every cell right of the sheet's layout (its table and check cells)."""
    return {
        (cell.row - 1, cell.column - 1): cell.value
        for row in ws.iter_rows()
        for cell in row
        if cell.column - 1 >= sl.max_col and cell.value is not None
    }


def test_previous_column_shows_last_years_figures_beside_sections_two_to_four(tmp_path):
    from gkxlsx.form.datafiles import data_file
    from gkxlsx.form.identity import fingerprint
    from gkxlsx.form.layout import expected_formulas, previous_column

    form = load_form("2021")
    lay = layout(form)
    prev = last_year_2024()
    data, fp = build_workbook(form, TOWN, 2025, prev=prev)
    path = tmp_path / "prev.xlsx"
    path.write_bytes(data)
    wb = openpyxl.load_workbook(path)
    texts = data_file("workbook")["previous_column"]
    head = texts["head"].format(last_year=2024)
    names = {str(d.attr_text) for d in wb.defined_names.values()}
    expected: dict[str, dict[tuple[int, int], object]] = {}
    # 三: last year's 总计 of every row, one column right of the check cells
    s3 = lay.sheet(form.section("s3").sheet)
    col = s3.max_col + 1
    full = {**prev, **compute_derived(form, prev)}  # (七) 总计 is a row of totals
    expected[s3.name] = {
        (lay.where[k][1], col): sum(full[k[: -len("total")] + c] for c in S3_COLS)
        for k in form.cells
        if k.startswith("s3.") and k.endswith(".total")
    }
    # 四: the three 总计
    s4 = lay.sheet(form.section("s4").sheet)
    expected[s4.name] = {
        (lay.where["s4.review.total"][1], s4.max_col + 1 + j): sum(
            prev[f"s4.{g}.{c}"] for c in ("upheld", "corrected", "other", "pending")
        )
        for j, g in enumerate(("review", "lit_direct", "lit_after_review"))
    }
    # 二: every column (no totals there), in the row of its cell
    s2 = lay.sheet(form.section("s2").sheet)
    expected[s2.name] = {}
    for t in form.section("s2").tables:
        for row in t.rows:
            for j, c in enumerate(t.columns):
                expected[s2.name][(lay.where[t.key(row, c)][1], s2.max_col + 1 + j)] = prev[t.key(row, c)]
    for sl in (s2, s3, s4):
        ws = wb[sl.name]
        got = prev_block(ws, sl)
        figures = {pos: v for pos, v in got.items() if not isinstance(v, str)}
        assert figures == pytest.approx(expected[sl.name]), sl.name
        assert got[(0, sl.max_col + 1)] == head  # headed in the top row, above the block
        assert not any(c == sl.max_col for _r, c in got)  # a narrow blank column before it
        for r, c in got:
            cell = ws.cell(r + 1, c + 1)
            assert cell.protection.locked is not False, (sl.name, r, c)  # not an entry cell
            assert cell.fill.fgColor.rgb[-6:] in ("E7E6E6", "D0CECE"), (sl.name, r, c)  # grey
            assert not any(a1(r, c) in n.replace("$", "") for n in names if sl.name in n)
        validated = {
            rc for dv in ws.data_validations.dataValidation for rng in str(dv.sqref).split() for rc in cells_of(rng)
        }
        assert not validated & set(got), sl.name
    assert wb[form.section("s4").sheet].cell(2, s4.max_col + 2).value == "行政复议"
    # the official grid, its check cells and labels did not move: every cell left of the block is
    # what a workbook without last year's values has there (apart from the cross-year formulas)
    plain = openpyxl.load_workbook(gen_one(tmp_path))
    for sl in (s2, s3, s4):
        for row in plain[sl.name].iter_rows():
            for cell in row:
                other = wb[sl.name][cell.coordinate]
                if not str(cell.value).startswith("="):
                    assert other.value == cell.value, (sl.name, cell.coordinate)
                assert other.protection.locked == cell.protection.locked, (sl.name, cell.coordinate)
    # 填报说明 explains the grey colour
    guide = [c.value for c in wb[GUIDE_SHEET]["A"]]
    assert texts["legend"].format(last_year=2024) in guide
    # the structure fingerprint covers the column
    pcol = previous_column(form, 2025, prev)
    formulas = expected_formulas(lay, form.unit_type(TOWN.type), prev, None)
    assert fp == fingerprint(lay, formulas, pcol.boxes) != fingerprint(lay, formulas)
    assert wb[META_SHEET]["B" + str(2 + META_FIELDS.index("GKX_FINGERPRINT"))].value == fp


def test_previous_column_only_where_last_years_figures_are_comparable(tmp_path):
    # a 2019 report: 三 and 四 compare with 2021's, 二 does not (docs/FORMAT.md); a row 2019 did
    # not have stays a blank grey cell
    form19 = load_form("2019")
    prev = {k: 0 for k, c in form19.cells.items() if not c.derived}
    prev.update({"s3.new.natural": 5, "s3.carried_out.natural": 4, "s2.normative_doc.new_made": 3})
    form = load_form("2021")
    lay = layout(form)
    wb = openpyxl.load_workbook(gen_one(tmp_path, prev=prev, prev_format="2019"))
    s2, s3, s4 = (lay.sheet(form.section(s).sheet) for s in ("s2", "s3", "s4"))
    assert prev_block(wb[s2.name], s2) == {}
    assert [v for v in prev_block(wb[s4.name], s4).values() if not isinstance(v, str)] == [0, 0, 0]
    got = prev_block(wb[s3.name], s3)
    col = s3.max_col + 1
    assert got[(lay.where["s3.carried_out.total"][1], col)] == 4
    assert got[(lay.where["s3.new.total"][1], col)] == 5
    only_2021 = [k for k in form.cells if k.endswith(".total") and k.startswith("s3.") and k not in form19.cells]
    assert only_2021  # rows 2021 added to 三
    for k in only_2021:
        r = lay.where[k][1]
        assert (r, col) not in got
        assert wb[s3.name].cell(r + 1, col + 1).fill.fgColor.rgb[-6:] == "E7E6E6"  # a blank grey cell


@pytest.mark.parametrize("form_id", ["2021", "2019"])
def test_checker_reads_no_cell_of_the_previous_column(form_id):
    """Every position the checker reads (entry cells, totals, labels, formulas, identity cells) lies
    outside the 上年 column, so nothing typed there can make a finding."""
    from gkxlsx.check.plan import form_plan, formula_plan
    from gkxlsx.form.layout import previous_column

    form = load_form(form_id)
    prev = {k: 1 for k in form.cells}
    year = 2025 if form_id == "2021" else 2020
    pcol = previous_column(form, year, prev)
    assert {b.sheet for b in pcol.boxes} == {form.section(s).sheet for s in ("s2", "s3", "s4")}
    column = {(b.sheet, a1(r, c)) for b in pcol.boxes for r, c in box_cells(b)}
    plan = form_plan(form)
    read = set(plan.key_pos.values()) | {(s, ref) for s, ref, _t, _r in plan.labels}
    read |= {(fc.sheet, fc.ref) for fc in formula_plan(form, None, True)}
    assert read and not read & column


# what a workbook without last year's values was before the 上年 column existed (sha256, gkxlsx
# 0.1.0): it must not change with it.  Update deliberately when a change means to alter every
# workbook (CONTRIBUTING.md, Tests).
BLANK_SHA256 = {
    "2021": "46ee0fe67479480a26d51702dcd868411909834f71ba282c7b96088586bf290c",
    "2019": "a04ccd5dc5d36b81477480c0c7f665ad4083e24ac72e525d8f7b3f0089acc77d",
}


@pytest.mark.parametrize("form_id,year", [("2021", 2025), ("2019", 2020)])
def test_without_last_years_values_no_previous_column_and_the_same_bytes(tmp_path, form_id, year):
    unit = Unit(code="SLX001", name="示例县城关镇人民政府", type="乡镇", parent="示例县人民政府")
    form = load_form(form_id)
    data, _ = build_workbook(form, unit, year)
    assert hashlib.sha256(data).hexdigest() == BLANK_SHA256[form_id]
    p = tmp_path / "blank.xlsx"
    p.write_bytes(data)
    wb = openpyxl.load_workbook(p)
    lay = layout(form)
    for sl in lay.sheets:
        if sl.kind == "table":
            assert prev_block(wb[sl.name], sl) == {}, sl.name


# --------------------------------------------------------------------------------------------
# the 2019 format


def test_2019_format_for_report_year_2020(tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", "--roster", str(ROSTER), "--year", "2020", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "格式 2019" in res.output
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["format"] == "2019" and {e["template_id"] for e in m["files"]} == {"gkxlsx:2019:2019.1:2020"}
    form = load_form("2019")
    lay = layout(form)
    path = next(out.glob("SLX001_*.xlsx"))
    wb = openpyxl.load_workbook(path)
    ws = wb["二、主动公开"]
    assert [ws.cell(2, c).value for c in (2, 3, 4)] == ["本年新制作数量", "本年新公开数量", "对外公开总数量"]
    # the signed 本年增/减 cells accept negative numbers, the others do not
    s, r, c = lay.where["s2.licensing.change"]
    dv = next(
        d
        for d in ws.data_validations.dataValidation
        if a1(r, c) in {a1(*rc) for rng in str(d.sqref).split() for rc in cells_of(rng)}
    )
    assert dv.type == "whole" and int(dv.formula1) < 0
    for sheet in wb.worksheets:
        assert sheet.protection.sheet
    assert wb.security.lockStructure
    # cached verdicts agree with the Python rules on all-zero and on unbalanced data
    zeros = zero_values(form)
    broken = dict(zeros, **{"s3.new.natural": 1})
    for values in (zeros, broken):
        p = gen_one(tmp_path, "2019", 2020, prefill=values)
        want = python_verdicts(form, values, "乡镇")
        assert verdicts(p, form) == {i: (s, s) for i, s in want.items()}
    assert verdicts(p, form)["E-T3-BAL[natural]"] == (FAIL, FAIL)


def test_2019_guide_sheet_names_the_2019_money_cell(tmp_path):
    """The 填报说明 must not describe cells that do not exist in the 2019 form."""
    p = gen_one(tmp_path, "2019", 2020)
    ws = openpyxl.load_workbook(p)[GUIDE_SHEET]
    text = "\n".join(str(c.value) for c in ws["A"] if c.value)
    labels_2019 = {load_form("2019").label(k) for k in load_form("2019").entry_keys}
    for quoted in re.findall(r"“([^”]+)”中“([^”]+)”", text):
        sheet, label = quoted
        assert any(label in lab for lab in labels_2019), (
            f"填报说明 mentions “{label}”, which the 2019 form does not have"
        )


def test_structure_password_matches_sheet_password(blank):
    """The hand-written workbookPassword verifier agrees with XlsxWriter's sheet password hash."""
    from openpyxl.workbook.protection import hash_password

    wb = openpyxl.load_workbook(blank)
    sheet_hashes = {ws.protection.password.upper() for ws in wb.worksheets}
    assert len(sheet_hashes) == 1
    assert wb.security.workbookPassword.upper() in sheet_hashes
    assert hash_password("abc").upper() != wb.security.workbookPassword.upper()  # not a trivial password


def test_unit_names_with_special_characters(tmp_path):
    p = write_roster_csv(
        tmp_path / "r.csv", [["Q1", "某县发展和改革局/粮食和物资储备局 & 能源局", "县级部门", "", "", ""]]
    )
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", "--roster", str(p), "--year", "2025", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    (f,) = out.glob("*.xlsx")
    assert f.name.startswith("Q1_") and "/" not in f.name[3:] and f.parent == out
    wb = openpyxl.load_workbook(f)
    assert wb[INFO_SHEET]["B3"].value == "某县发展和改革局/粮食和物资储备局 & 能源局"
    assert "&&" in wb["三、依申请公开"].oddHeader.left.text  # '&' escaped, not a header control code


def test_check_links_cached_with_their_target_text(blank):
    form = load_form("2021")
    lay = layout(form)
    ws = openpyxl.load_workbook(blank, data_only=True)[CHECKS_SHEET]
    for inst in form.rules:
        s, r, c = lay.summary[inst.iid]
        fs, fr, fc = lay.locate(inst.focus_keys[0])
        assert ws.cell(r + 1, c + 5).value == f"{fs}!{a1(fr, fc)}", inst.iid
