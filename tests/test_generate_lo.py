"""Generated workbooks in a real spreadsheet program: LibreOffice headless as the unit's clerk.

Values are typed into the input cells through LibreOffice (``.uno:EnterString`` on the selected cell,
the same path as typing and pressing Enter — not written with openpyxl), LibreOffice recalculates and
saves, and the check cells it computed are read back and compared with the Python rule engine
(``gkxlsx.rules.interpret``) on the same inputs: on valid data, on broken data (unbalanced column, W-T2
warnings), and on many random data sets put in through the API.  Writing into locked cells is refused;
the data validation marks bad numbers invalid.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from test_generate import expected_total
from test_generate import valid_2021 as _full_valid_2021

from gkxlsx.form.cells import a1
from gkxlsx.form.identity import META_FIELDS
from gkxlsx.form.layout import INFO_SHEET, META_SHEET, layout
from gkxlsx.form.model import load_form
from gkxlsx.form.roster import Unit
from gkxlsx.office import lo
from gkxlsx.rules.engine import FAIL, INCOMPLETE, NOT_APPLICABLE, PASS
from gkxlsx.rules.evaluate import evaluate_all
from gkxlsx.workbook.generate import build_workbook

pytestmark = pytest.mark.lo
lo.require_or_skip()

TOWN = Unit(code="T001", name="测试县测试镇人民政府", type="乡镇", parent="测试县人民政府")
S3_COLS = ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org")


# --------------------------------------------------------------------------------------------
# data


def valid_2021() -> dict:
    """A complete, consistent report of a 乡镇 (the numbers of test_generate's; every rule passes)."""
    form = load_form("2021")
    return {
        k: v
        for k, v in _full_valid_2021().items()
        if k in form.cells or (k in form.fields and form.fields[k].type.numeric)
    }


BROKEN_CHANGES = {
    "s3.carried_out.natural": 3,  # 自然人: 10 + 2 ≠ 11 + 3 (and so the 总计 column)
    "s2.normative_doc.issued": 20,  # 20 > 10 + 1 (W-T2-INFORCE)
    "s2.regulation.issued": 1,  # a 乡镇 makes no 规章 (W-T2-GUIZHANG) and 1 > 0 + 0
    "s2.admin_fee.amount_wan": 2500,  # 元 typed as 万元 (W-T2-FEE-UNIT)
    "s3.r6_2.commercial": 1,  # dropped for an unpaid fee, but no fee notice in 六 (W-T3-FEE)
    "s3.new.commercial": 4,  # keeps the 商业企业 column balanced
}


def text_of(v) -> str:
    return format(v, "f") if isinstance(v, Decimal) else str(v)


def edits_for(form, values: dict) -> list[tuple[str, str, str]]:
    lay = layout(form)
    out = []
    for key, v in values.items():
        s, r, c = lay.where[key]
        out.append((s, a1(r, c), text_of(v)))
    return out


# --------------------------------------------------------------------------------------------
# reading verdicts


def python_status(form, values, unit_type="乡镇", prev=None, prev_format=None) -> dict[str, str]:
    ut = form.unit_type(unit_type)
    return {o.instance.iid: o.status for o in evaluate_all(form, values, unit=ut, prev=prev, prev_format=prev_format)}


def check_cells(form) -> list[tuple[str, str]]:
    """Every check cell beside the tables and every status cell on 校验结果, in rule order."""
    lay = layout(form)
    out = []
    for inst in form.rules:
        for s, r, c in (lay.checks[inst.iid], lay.summary[inst.iid]):
            out.append((s, a1(r, c)))
    return out


def workbook_status(form, got: dict) -> dict[str, tuple]:
    lay = layout(form)
    out = {}
    for inst in form.rules:
        s, r, c = lay.checks[inst.iid]
        ss, sr, sc = lay.summary[inst.iid]
        out[inst.iid] = (got[(s, a1(r, c))], got[(ss, a1(sr, sc))])
    return out


def saved_status(path: Path, form) -> tuple[dict, dict, openpyxl.Workbook]:
    """Check-cell values and counts as LibreOffice computed and saved them."""
    wb = openpyxl.load_workbook(path, data_only=True)
    lay = layout(form)
    got = {}
    for sheet, ref in check_cells(form):
        got[(sheet, ref)] = wb[sheet][ref].value
    counts = {k: wb[s].cell(r + 1, c + 1).value for k, (s, r, c) in lay.summary_counts.items()}
    return workbook_status(form, got), counts, wb


# --------------------------------------------------------------------------------------------
# fixtures: one LibreOffice for the module


@pytest.fixture(scope="module")
def office():
    with lo.LibreOffice(timeout=300) as o:
        yield o


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("lo_generate")


@pytest.fixture(scope="module")
def blank(work):
    data, _ = build_workbook(load_form("2021"), TOWN, 2025)
    p = work / "blank.xlsx"
    p.write_bytes(data)
    return p


@pytest.fixture(scope="module")
def typed_valid(office, blank, work):
    """The clerk types the whole valid report, plus contact details, into the blank workbook."""
    form = load_form("2021")
    lay = layout(form)
    extra = {
        "meta.contact_person": "张三",
        "meta.contact_phone": "0891-1234567",
        "meta.postcode": "000100",
        "meta.report_date": "2026-01-15",
        "s1.active": "本年度主动公开政府信息 120 条。",
    }
    edits = edits_for(form, valid_2021())
    for key, text in extra.items():
        s, r, c = lay.where[key]
        edits.append((s, a1(r, c), text))
    dst = work / "typed_valid.xlsx"
    results = office.fill(blank, dst, edits)
    return dst, results, extra


@pytest.fixture(scope="module")
def typed_broken(office, typed_valid, work):
    """Then changes a few numbers into typical mistakes (typed over the saved valid workbook)."""
    form = load_form("2021")
    dst = work / "typed_broken.xlsx"
    results = office.fill(typed_valid[0], dst, edits_for(form, BROKEN_CHANGES))
    return dst, results


# --------------------------------------------------------------------------------------------
# typing valid and broken data


def test_typed_valid_report_all_checks_pass_like_python(typed_valid):
    form = load_form("2021")
    path, results, extra = typed_valid
    assert all(r["ok"] and not r["refused"] for r in results), [r for r in results if not r["ok"]][:3]
    assert not [r for r in results if r["invalid"]], "valid input marked invalid by the data validation"
    got, counts, wb = saved_status(path, form)
    want = python_status(form, valid_2021())
    assert set(want.values()) <= {PASS, NOT_APPLICABLE}
    assert got == {i: (s, s) for i, s in want.items()}
    assert counts == {"error": 0, "warning": 0, "info": 0, "incomplete": 0}
    # totals computed by LibreOffice from the typed numbers
    lay = layout(form)
    values = valid_2021()
    for key in form.derived_keys:
        s, r, c = lay.where[key]
        assert wb[s].cell(r + 1, c + 1).value == pytest.approx(float(expected_total(form, key, values))), key
    # typed numbers are numbers; text cells keep what was typed (leading zeros, dashes)
    s, r, c = lay.where["s3.new.natural"]
    assert wb[s].cell(r + 1, c + 1).value == 10
    s, r, c = lay.where["s2.admin_fee.amount_wan"]
    assert wb[s].cell(r + 1, c + 1).value == pytest.approx(0.25)
    for key in ("meta.contact_phone", "meta.postcode", "s1.active"):
        s, r, c = lay.where[key]
        assert wb[s].cell(r + 1, c + 1).value == extra[key], key
    s, r, c = lay.where["meta.report_date"]
    assert wb[s].cell(r + 1, c + 1).value.date() == date(2026, 1, 15)


def test_typed_mistakes_turn_the_same_checks_red_as_python(typed_broken):
    form = load_form("2021")
    path, results = typed_broken
    assert all(r["ok"] for r in results)
    values = dict(valid_2021(), **BROKEN_CHANGES)
    want = python_status(form, values)
    got, counts, _ = saved_status(path, form)
    assert got == {i: (s, s) for i, s in want.items()}
    failing = {i for i, s in want.items() if s == FAIL}
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
    by_sev = {inst.iid: inst.severity for inst in form.rules}
    assert counts["error"] == sum(by_sev[i] == "error" for i in failing) == 2
    assert counts["warning"] == sum(by_sev[i] == "warning" for i in failing) == 5
    # the red highlighting is still attached to the check cells after LibreOffice saved the file
    wb = openpyxl.load_workbook(path)
    ws = wb["三、依申请公开"]
    lay = layout(form)
    s, r, c = lay.checks["E-T3-BAL[natural]"]
    red = [
        cf
        for cf in ws.conditional_formatting
        for rule in cf.rules
        if rule.formula and rule.formula[0].strip('"') == FAIL
    ]
    assert any(a1(r, c) in cf.sqref for cf in red)


def test_typing_back_to_valid_clears_the_errors(office, typed_broken, work):
    form = load_form("2021")
    fixed = {k: valid_2021()[k] for k in BROKEN_CHANGES}
    dst = work / "typed_fixed.xlsx"
    office.fill(typed_broken[0], dst, edits_for(form, fixed))
    got, counts, _ = saved_status(dst, form)
    assert got == {i: (s, s) for i, s in python_status(form, valid_2021()).items()}
    assert counts["error"] == counts["warning"] == 0


def test_partly_filled_report_shows_pending_like_python(office, blank, work):
    form = load_form("2021")
    partial = {f"s3.new.{c}": n for c, n in zip(S3_COLS, (3, 1, 0, 0, 0, 2))}
    partial["s3.carried_in.natural"] = 1
    dst = work / "typed_partial.xlsx"
    office.fill(blank, dst, edits_for(form, partial))
    got, counts, wb = saved_status(dst, form)
    want = python_status(form, partial)
    assert got == {i: (s, s) for i, s in want.items()}
    assert want["E-T3-ROW[s3.new.total]"] == PASS and want["E-T3-BAL[natural]"] == INCOMPLETE
    assert counts["incomplete"] == sum(1 for s in want.values() if s == INCOMPLETE)
    lay = layout(form)
    s, r, c = lay.where["s3.new.total"]
    assert wb[s].cell(r + 1, c + 1).value == 6
    s, r, c = lay.where["s3.carried_in.total"]
    assert wb[s].cell(r + 1, c + 1).value in (None, "")  # not all six filled: no total yet


# --------------------------------------------------------------------------------------------
# locking and validation as LibreOffice enforces them


def test_typing_into_locked_cells_is_refused(office, blank, work):
    form = load_form("2021")
    lay = layout(form)
    s, r, c = lay.where["s3.new.total"]
    total = (s, a1(r, c))
    ks, kr, kc = lay.checks["E-T3-BAL[natural]"]
    edits = [
        (*total, "99"),  # a derived total
        ("三、依申请公开", "A4", "改掉标签"),  # a label
        (ks, a1(kr, kc), "✓"),  # a check cell
        (INFO_SHEET, a1(*lay.where["meta.name"][1:]), "别的单位"),  # prefilled unit name
        ("三、依申请公开", "D4", "5"),  # an entry cell, for contrast
    ]
    dst = work / "typed_locked.xlsx"
    results = office.fill(blank, dst, edits)
    assert [r["refused"] for r in results] == [True, True, True, True, False]
    assert all(r["message"] for r in results[:4])
    wb = openpyxl.load_workbook(dst)
    assert str(wb[total[0]][total[1]].value).startswith("=IF(COUNT(D4:I4)")
    assert wb["三、依申请公开"]["A4"].value == "一、本年新收政府信息公开申请数量"
    assert str(wb[ks][a1(kr, kc)].value).startswith("=IF(")
    assert wb[INFO_SHEET][a1(*lay.where["meta.name"][1:])].value == TOWN.name
    assert wb["三、依申请公开"]["D4"].value == 5


def test_data_validation_marks_bad_numbers_invalid(office, blank, work):
    form = load_form("2021")
    lay = layout(form)

    def at(key):
        s, r, c = lay.where[key]
        return s, a1(r, c)

    cases = [
        ("s3.new.natural", "-3", True),
        ("s3.new.commercial", "1.5", True),
        ("s3.new.research", "两件", True),
        ("s3.new.public_welfare", "7", False),
        ("s2.admin_fee.amount_wan", "0.12345", True),  # 5 decimal places
        ("s2.coercion.decisions", "3", False),
        ("s2.licensing.decisions", "-1", True),
        ("s2.penalty.decisions", "0", False),
        ("s6.fee_collected", "12.5", False),
        ("s6.fee_collected", "12.555", True),  # 元: 2 places
        ("meta.contact_person", "张" * 201, True),  # longer than 200
    ]
    dst = work / "typed_invalid.xlsx"
    results = office.fill(blank, dst, [(*at(k), t) for k, t, _ in cases])
    for (key, text, bad), res in zip(cases, results):
        assert res["ok"], key  # LibreOffice lets typed input in; Excel would stop it (alert "stop")
        assert res["invalid"] is bad, f"{key} ← {text[:10]!r}: invalid={res['invalid']}"
        if bad:
            assert res["alert"] == "stop", key


def test_libreoffice_save_keeps_protection_validations_and_identity(typed_valid, blank):
    form = load_form("2021")
    lay = layout(form)
    before = openpyxl.load_workbook(blank)
    after = openpyxl.load_workbook(typed_valid[0])
    for sl in lay.sheets:
        ws = after[sl.name]
        assert ws.protection.sheet, sl.name
        unlocked = {(r - 1, c - 1) for (r, c), cell in ws._cells.items() if cell.protection.locked is False}
        entry = {
            (b.row + i, b.col + j) for b in sl.boxes if b.role == "entry" for i in range(b.rows) for j in range(b.cols)
        }
        assert unlocked == entry, sl.name
        n_dv = lambda w: sum(len(str(dv.sqref).split()) for dv in w.data_validations.dataValidation)  # noqa: E731
        assert n_dv(ws) >= n_dv(before[sl.name]) > 0 or not entry, sl.name
    meta = after[META_SHEET]
    assert meta.sheet_state in ("hidden", "veryHidden")  # LibreOffice turns veryHidden into hidden
    assert meta["B" + str(2 + META_FIELDS.index("GKX_UNIT_CODE"))].value == TOWN.code
    props = {p.name: p.value for p in after.custom_doc_props.props}
    assert props["GKX_UNIT_CODE"] == TOWN.code and props["GKX_FORMAT"] == "2021"
    ((sheet, ref),) = list(after.defined_names["GKX_FINGERPRINT"].destinations)
    assert after[sheet][ref.replace("$", "")].value == props["GKX_FINGERPRINT"]


# --------------------------------------------------------------------------------------------
# the grey 上年 column: a return typed into a workbook that has it imports cleanly


def _consistent_last_year(form, this_year: dict) -> dict:
    """Last year's report as the ledger keeps it (totals included) that agrees with this year's
    carry-over and 现行有效 (no cross-year warning), otherwise this year's figures."""
    from gkxlsx.rules.engine import with_derived

    prev = {k: v for k, v in this_year.items() if k in form.cells and not form.cells[k].derived}
    for col in S3_COLS:
        prev[f"s3.carried_out.{col}"] = this_year[f"s3.carried_in.{col}"]
    for row in ("regulation", "normative_doc"):
        k = f"s2.{row}."
        prev[k + "in_force"] = this_year[k + "in_force"] - this_year[k + "issued"] + this_year[k + "repealed"]
    prev["s2.licensing.decisions"] = this_year["s2.licensing.decisions"] + 3  # a figure that differs
    return with_derived(form, prev)


def _without_sheet_protection(src: Path, dst: Path) -> None:
    """The workbook as a clerk leaves it after removing every sheet's protection (what unlocking
    the sheets in a spreadsheet program saves)."""
    import re
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                body = re.sub(rb"<sheetProtection[^>]*/>", b"", body)
            zout.writestr(info, body)


def test_return_typed_into_a_workbook_with_the_previous_column_imports_cleanly(office, work):
    from gkxlsx.check.checker import check_file
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.form.layout import previous_column

    form = load_form("2021")
    this_year = sample_values(form, TOWN.name, TOWN.type, 2025, seed=7)
    prev = _consistent_last_year(form, this_year)
    data, _ = build_workbook(form, TOWN, 2025, prev=prev)
    src = work / "with_previous_column.xlsx"
    src.write_bytes(data)
    pcol = previous_column(form, 2025, prev)
    shown = [b for b in pcol.boxes if b.role == "prev"]
    assert shown
    prev_refs = {
        f"{b.sheet}!{a1(r, c)}"
        for b in pcol.boxes
        for r in range(b.row, b.row + b.rows)
        for c in range(b.col, b.col + b.cols)
    }

    def in_column(result) -> list:
        return [(f.rule_id, loc) for f in result.findings for loc in f.locations if loc in prev_refs]

    # the clerk types the whole report; typing over a 上年 figure is refused (locked)
    typed = {k: v for k, v in this_year.items() if not (k in form.cells and form.cells[k].derived)}
    edits = edits_for(form, typed)
    target = shown[len(shown) // 2]
    edits.append((target.sheet, a1(target.row, target.col), "999"))
    dst = work / "with_previous_column_typed.xlsx"
    results = office.fill(src, dst, edits)
    assert [r["refused"] for r in results] == [False] * (len(edits) - 1) + [True]
    res = check_file(dst, year=2025, prev=prev)
    assert res.status == "通过", [(f.rule_id, f.message) for f in res.findings]
    assert not [f for f in res.findings if f.severity in ("error", "warning")]
    assert in_column(res) == []
    assert {k: res.values[k] for k in typed} == pytest.approx(typed)
    wb = openpyxl.load_workbook(dst)
    assert {b.key: wb[b.sheet].cell(b.row + 1, b.col + 1).value for b in shown} == {b.key: prev[b.key] for b in shown}

    # sheets unlocked and saved by LibreOffice, the 上年 figures typed over: the protection
    # finding, nothing from the column, the same values
    unlocked = work / "with_previous_column_unlocked.xlsx"
    _without_sheet_protection(dst, unlocked)
    over = [
        (b.sheet, a1(b.row, b.col), t)
        for b, t in zip(shown[:3] + shown[-3:], ("0", "12345", "改过", "-1", "x", "=1+1"))
    ]
    dst2 = work / "with_previous_column_overwritten.xlsx"
    results = office.fill(unlocked, dst2, over)
    assert all(r["ok"] and not r["refused"] for r in results)
    wb2 = openpyxl.load_workbook(dst2)
    assert wb2[over[1][0]][over[1][1]].value == 12345 and wb2[over[2][0]][over[2][1]].value == "改过"
    res2 = check_file(dst2, year=2025, prev=prev)
    assert in_column(res2) == []
    assert {f.rule_id for f in res2.findings} <= {"E-STRUCT-PROTECT", "W-STRUCT-LOCK"}
    assert "E-STRUCT-PROTECT" in {f.rule_id for f in res2.findings}
    assert res2.values == res.values


# --------------------------------------------------------------------------------------------
# many data sets through the API: both backends agree everywhere


def random_datasets(form, rng: random.Random, n: int) -> list[dict]:
    """Balanced section-三 tables, then random damage: a cell off by one, blanks, W-T2 breaches."""
    out = []
    decimals = [Decimal("0"), Decimal("0.25"), Decimal("999.9999"), Decimal("1000"), Decimal("2500"), Decimal("0.0001")]
    result_rows = [
        r.key for r in form.tables["s3"].rows if r.key not in ("new", "carried_in", "carried_out") and not r.derived
    ]
    for i in range(n):
        v: dict = {}
        for k in form.entry_keys:
            vt = form.value_type(k)
            if vt.kind == "decimal":
                v[k] = rng.choice(decimals)
            elif k.startswith("s3."):
                continue
            elif vt.min is None:
                v[k] = rng.randint(-3, 3)
            else:
                v[k] = rng.choice((0, 0, 1, 2, 5))
        for c in S3_COLS:
            new, cin = rng.randint(0, 6), rng.randint(0, 2)
            left = new + cin
            out_ = rng.randint(0, min(2, left))
            left -= out_
            counts = {r: 0 for r in result_rows}
            for _ in range(left):
                counts[rng.choice(result_rows)] += 1
            v[f"s3.new.{c}"], v[f"s3.carried_in.{c}"], v[f"s3.carried_out.{c}"] = new, cin, out_
            for r, n_ in counts.items():
                v[f"s3.{r}.{c}"] = n_
        for k, f in form.fields.items():
            if f.type.numeric and not k.startswith("meta."):
                v[k] = rng.choice((0, 1)) if f.type.kind == "int" else rng.choice((0, 12.5))
        if i % 3 == 1:  # one cell off by one
            k = rng.choice([k for k in v if k.startswith("s3.")])
            v[k] += 1
        if i % 4 == 2:  # a few blanks
            for k in rng.sample(sorted(v), 3):
                v[k] = None
        out.append(v)
    return out


@pytest.mark.parametrize(
    "form_id,year,unit_type,with_prev",
    [("2021", 2025, "乡镇", False), ("2021", 2025, "县级部门", True), ("2019", 2020, "街道", False)],
)
def test_random_data_sets_same_verdict_in_libreoffice_and_python(office, work, form_id, year, unit_type, with_prev):
    form = load_form(form_id)
    lay = layout(form)
    rng = random.Random(f"{form_id}-{unit_type}-{with_prev}")
    prev = None
    if with_prev:
        prev = {k: rng.randint(0, 3) for k in form.cells if k.startswith(("s3.carried_out.", "s2."))}
        prev["s3.carried_out.total"] = sum(prev[f"s3.carried_out.{c}"] for c in S3_COLS)
    data, _ = build_workbook(
        form, Unit("R1", "随机单位", unit_type), year, prev=prev, prev_format=form.id if prev else None
    )
    src = work / f"random_{form_id}_{unit_type}.xlsx"
    src.write_bytes(data)
    datasets = random_datasets(form, rng, 24)
    if with_prev:  # make some cross-year checks pass
        for v in datasets[::2]:
            for c in S3_COLS:
                v[f"s3.carried_in.{c}"] = prev[f"s3.carried_out.{c}"]
    cells = check_cells(form)
    derived = [(lay.where[k][0], a1(*lay.where[k][1:])) for k in form.derived_keys]
    count_cells = [(s, a1(r, c)) for s, r, c in lay.summary_counts.values()]
    api = []
    for v in datasets:
        api.append(
            {
                (lay.where[k][0], a1(*lay.where[k][1:])): (float(x) if isinstance(x, Decimal) else x)
                for k, x in v.items()
            }
        )
    results = office.evaluate(src, api, cells + derived + count_cells)
    seen = set()
    for v, got in zip(datasets, results):
        want = python_status(form, v, unit_type, prev=prev, prev_format=form.id if prev else None)
        status = workbook_status(form, got)
        assert status == {i: (s, s) for i, s in want.items()}, {
            i: (status[i], s) for i, s in want.items() if status[i] != (s, s)
        }
        seen |= set(want.values())
        for key, cell in zip(form.derived_keys, derived):
            vals = [v.get(k) for k in form.cells[key].sum_of]
            if all(x is not None for x in vals) and all(not form.cells[k].derived for k in form.cells[key].sum_of):
                assert got[cell] == pytest.approx(float(sum(Decimal(str(x)) for x in vals))), key
        tally = {"error": 0, "warning": 0, "info": 0, "incomplete": 0}
        for inst in form.rules:
            if want[inst.iid] == FAIL:
                tally[inst.severity] += 1
            elif want[inst.iid] == INCOMPLETE:
                tally["incomplete"] += 1
        assert [got[c] for c in count_cells] == [float(tally[k]) for k in lay.summary_counts]
    assert {PASS, FAIL, INCOMPLETE} <= seen  # the data sets exercise every outcome
