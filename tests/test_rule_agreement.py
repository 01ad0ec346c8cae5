"""The two backends of every rule agree: Python (``gkxlsx.rules.interpret``) and the compiled Excel formulas,
evaluated by a real formula engine (LibreOffice headless; the ``formulas`` package gives a second
opinion on a third of the data sets when it is installed).

A harness workbook is built with XlsxWriter from ``layout(form)``: the same sheet names, every label
text, every formula of ``expected_formulas(lay, unit, prev)`` at its position (derived cells, check
cells, the 校验结果 summary, its links and counts; cached results deliberately wrong), entry cells
left plain.  One LibreOffice session then puts ≥ 200 data sets per format into it — all zeros, all
blank, consistent random reports, random broken ones (single-cell perturbations, blanks, text,
huge numbers, decimals, negative numbers, double counting, cases without applications, totals
pasted over their formulas), last year's data for the W-XY rules (same format, 2019 → 2021, with
blanks) and unit types for W-T2-GUIZHANG / W-T2-FEE-UNIT — recalculates and reads back every
formula cell.  Each value must equal what Python computes for the same inputs
(``expected_results``; for pasted totals ``evaluate_all`` on the values as found).  A failure names
the data set, the cell and the rule instance.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from gkxlsx.form.cells import a1
from gkxlsx.form.layout import expected_formulas, expected_results, layout
from gkxlsx.form.model import Form, load_form
from gkxlsx.rules.engine import compute_derived
from gkxlsx.rules.evaluate import evaluate_all
from gkxlsx.rules.interpret import as_number

APPL = ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org")
MIN_DATASETS = 200


# --------------------------------------------------------------------------------------------
# LibreOffice session (one per module)


@pytest.fixture(scope="module")
def office():
    try:
        from gkxlsx.office import lo
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("gkxlsx.office.lo is missing")
        pytest.skip("gkxlsx.office.lo is not available")
    lo.require_or_skip()
    with lo.LibreOffice() as session:
        yield session


def lo_evaluate(
    office, path: Path, datasets: list[dict[tuple[str, str], Any]], cells: list[tuple[str, str]]
) -> list[list[Any]]:
    """Put each data set ({(sheet, "D4"): value}, None clears the cell) into the workbook as loaded,
    recalculate, and read ``cells``: one list of values per data set, in the order of ``cells``."""
    results = office.evaluate(str(path), datasets, cells)
    return [[r[c] for c in cells] for r in results]


# --------------------------------------------------------------------------------------------
# the harness workbook


def build_harness(
    path: Path, form: Form, unit=None, prev=None, prev_format=None, entry_zero=False
) -> dict[tuple[str, int, int], str]:
    """Write the harness; returns its formulas by position.  ``entry_zero`` writes 0 into every
    input cell (the ``formulas`` package only takes inputs for cells that exist)."""
    lay = layout(form)
    formulas = expected_formulas(lay, unit, prev, prev_format)
    wb = xlsxwriter.Workbook(str(path))
    sheets = {s.name: wb.add_worksheet(s.name) for s in lay.sheets}
    for s in lay.sheets:
        ws = sheets[s.name]
        for b in s.boxes:
            if b.text and (b.sheet, b.row, b.col) not in formulas:
                ws.write_string(b.row, b.col, b.text)
    if entry_zero:
        for k in zeros(form):
            sheet, r, c = lay.where[k]
            sheets[sheet].write_number(r, c, 0)
    for (sheet, r, c), f in formulas.items():
        # cached result deliberately wrong: the engine must recalculate, not trust the file
        sheets[sheet].write_formula(r, c, f, None, "#STALE")
    wb.close()
    return formulas


# --------------------------------------------------------------------------------------------
# data sets


@dataclass
class Case:
    name: str
    values: dict[str, Any]  # entry cells; for ``pasted`` cases also the derived cells typed over
    note: str = ""
    pasted: bool = False  # values were pasted over some formula (total) cells


@dataclass
class Scenario:
    name: str
    unit_name: str | None = None
    prev: dict[str, Any] | None = None
    prev_format: str | None = None
    cases: list[Case] = field(default_factory=list)


def result_rows(form: Form) -> list[str]:
    return [
        r.key for r in form.tables["s3"].rows if r.key not in ("new", "carried_in", "carried_out") and not r.derived
    ]


def zeros(form: Form) -> dict[str, Any]:
    v: dict[str, Any] = {k: 0 for k in form.entry_keys}
    for k in ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected"):
        if k in form.fields:
            v[k] = 0
    return v


def consistent(
    form: Form, rng: random.Random, *, guizhang=True, fee_max=Decimal("999"), carried_in=None, prev=None, scale=20
) -> dict[str, Any]:
    """A random report that passes every rule: per applicant column the results add up to
    new + carried in − carried out; section 二 is plausible; fees are reported."""
    v = zeros(form)
    rows = result_rows(form)
    for c in APPL:
        new = rng.randint(0, scale) if rng.random() < 0.8 else 0
        cin = carried_in[c] if carried_in else (rng.randint(0, scale // 4) if rng.random() < 0.5 else 0)
        out = rng.randint(0, new + cin) if rng.random() < 0.5 else 0
        v[f"s3.new.{c}"], v[f"s3.carried_in.{c}"], v[f"s3.carried_out.{c}"] = new, cin, out
        for _ in range(new + cin - out):
            v[f"s3.{rng.choice(rows)}.{c}"] += 1
    for g in ("review", "lit_direct", "lit_after_review"):
        for c in ("upheld", "corrected", "other", "pending"):
            v[f"s4.{g}.{c}"] = rng.choice((0, 0, 0, 1, 2, 3))
    if sum(v[f"s3.new.{c}"] + v[f"s3.carried_in.{c}"] for c in APPL) == 0:  # W-T4-ORPHAN is info only, keep it quiet
        for g in ("review", "lit_direct", "lit_after_review"):
            for c in ("upheld", "corrected", "other", "pending"):
                v[f"s4.{g}.{c}"] = 0
    if form.id.startswith("2021"):
        for r in ("regulation", "normative_doc"):
            if r == "regulation" and not guizhang:
                continue
            issued, repealed = rng.randint(0, 8), rng.randint(0, 4)
            base = prev[f"s2.{r}.in_force"] if prev else rng.randint(0, 60)
            v[f"s2.{r}.issued"], v[f"s2.{r}.repealed"] = issued, repealed
            v[f"s2.{r}.in_force"] = base + issued - repealed if prev else base + issued
            if prev and v[f"s2.{r}.in_force"] < 0:
                v[f"s2.{r}.in_force"] = 0
                v[f"s2.{r}.repealed"] = base + issued
        for k in ("s2.licensing.decisions", "s2.penalty.decisions", "s2.coercion.decisions"):
            v[k] = rng.randint(0, 3000)
        v["s2.admin_fee.amount_wan"] = (Decimal(rng.randint(0, int(fee_max * 10000))) / 10000).normalize()
        r62 = sum(v[f"s3.r6_2.{c}"] for c in APPL)
        v["s6.fee_notices"] = r62 + rng.randint(0, 2) if r62 else rng.randint(0, 1)
        amount = Decimal(rng.randint(0, 100000)) / 100 if v["s6.fee_notices"] else Decimal(0)
        v["s6.fee_notice_amount"] = amount
        v["s6.fee_collected"] = amount
    else:
        for r in ("regulation", "normative_doc"):
            if r == "regulation" and not guizhang:
                continue
            made = rng.randint(0, 8)
            pub = rng.randint(0, made)
            v[f"s2.{r}.new_made"], v[f"s2.{r}.new_published"] = made, pub
            v[f"s2.{r}.total_public"] = pub + rng.randint(0, 60)
        for r in ("licensing", "other_service", "penalty", "coercion", "admin_fee"):
            if prev:
                v[f"s2.{r}.prev_items"] = prev[f"s2.{r}.prev_items"] + prev[f"s2.{r}.change"]
            else:
                v[f"s2.{r}.prev_items"] = rng.randint(0, 200)
            v[f"s2.{r}.change"] = rng.randint(-10, 10)
            if f"s2.{r}.decisions" in v:
                v[f"s2.{r}.decisions"] = rng.randint(0, 2000)
        v["s2.procurement.items"] = rng.randint(0, 30)
        v["s2.procurement.amount"] = (Decimal(rng.randint(0, 99999999)) / 10000).normalize()
    return v


def broken(form: Form, base: dict[str, Any], rng: random.Random, kind: str) -> tuple[dict[str, Any], str]:
    """One random defect of the given kind; returns (values, description)."""
    v = dict(base)
    keys = list(v)
    s3keys = [k for k in keys if k.startswith("s3.")]
    if kind == "perturb":
        k = rng.choice(keys)
        d = rng.choice((-3, -2, -1, 1, 2, 5, 17))
        v[k] = (v[k] or 0) + d
        return v, f"{k} {d:+d}"
    if kind == "blank":
        k = rng.choice(keys)
        v[k] = None
        return v, f"{k} blank"
    if kind == "blanks":
        ks = rng.sample(keys, rng.randint(2, 12))
        for k in ks:
            v[k] = None
        return v, f"{len(ks)} blanks"
    if kind == "text":
        k = rng.choice(s3keys)
        v[k] = rng.choice(("/", "无", "—"))
        return v, f"{k} = {v[k]!r}"
    if kind == "big":
        k = rng.choice(keys)
        v[k] = 10 ** rng.randint(6, 13) + rng.randint(0, 999)
        return v, f"{k} = {v[k]}"
    if kind == "decimal":
        k = rng.choice(s3keys + [k for k in keys if k.startswith("s4.")])
        v[k] = Decimal(rng.randint(1, 999)) / Decimal(rng.choice((10, 100, 4)))
        return v, f"{k} = {v[k]}"
    if kind == "negative":
        k = rng.choice(keys)
        v[k] = -rng.randint(1, 9)
        return v, f"{k} = {v[k]}"
    if kind == "swap":  # an application counted in the wrong column
        c1, c2 = rng.sample(APPL, 2)
        r = rng.choice(result_rows(form))
        v[f"s3.{r}.{c1}"] += 1
        v[f"s3.new.{c2}"] += 1
        return v, f"s3.{r}.{c1}+1, s3.new.{c2}+1"
    if kind == "double":  # one application counted twice (两种办理结果)
        c = rng.choice(APPL)
        r = rng.choice(result_rows(form))
        v[f"s3.{r}.{c}"] += 1
        return v, f"s3.{r}.{c} counted twice"
    if kind == "orphan":
        for k in s3keys:
            v[k] = 0
        v[f"s4.{rng.choice(('review', 'lit_direct', 'lit_after_review'))}.{rng.choice(('upheld', 'pending'))}"] = (
            rng.randint(1, 4)
        )
        return v, "cases in 四 without applications"
    raise ValueError(kind)


BROKEN_KINDS = (
    "perturb",
    "perturb",
    "perturb",
    "blank",
    "blanks",
    "text",
    "big",
    "decimal",
    "negative",
    "swap",
    "double",
    "orphan",
)


def prev_report(form: Form, rng: random.Random, **kw) -> dict[str, Any]:
    """Last year's accepted report, with its totals (as the ledger keeps it)."""
    v = consistent(form, rng, **kw)
    v.update({k: x for k, x in compute_derived(form, v).items()})
    return v


def scenarios(form: Form, seed: int) -> list[Scenario]:
    rng = random.Random(seed)
    out: list[Scenario] = []
    is21 = form.id == "2021"

    # A: no unit type, no last year — the table rules
    a = Scenario("无单位类型、无上年数据")
    a.cases.append(Case("全部为 0", zeros(form)))
    a.cases.append(Case("全部留空", {k: None for k in zeros(form)}))
    v = zeros(form)
    v["s3.r1_open.natural"] = None
    a.cases.append(Case("一个空格", v))
    for i in range(25):
        a.cases.append(Case(f"一致的随机报告 {i}", consistent(form, rng, scale=rng.choice((3, 20, 60)))))
    for i in range(70):
        kind = BROKEN_KINDS[i % len(BROKEN_KINDS)]
        vals, note = broken(form, consistent(form, rng), rng, kind)
        a.cases.append(Case(f"错误数据 {i}（{kind}）", vals, note))
    # totals pasted over their formulas (protection broken): E-T3-ROW / E-T3-COL / E-T4-SUM can fail
    for i in range(24):
        base = consistent(form, rng)
        k = rng.choice(form.derived_keys)
        right = compute_derived(form, base)[k]
        v = dict(base)
        v[k] = rng.choice((right + rng.choice((-2, -1, 1, 4)), right, None, 0, right * 2 + 1))
        if i % 6 == 5:  # and a second one
            k2 = rng.choice(form.derived_keys)
            v[k2] = rng.randint(0, 50)
            k = f"{k}、{k2}"
        a.cases.append(Case(f"合计被覆盖 {i}", v, f"{k}", pasted=True))
    out.append(a)

    # B: a township (no 规章, fee warning at 1000 万元)
    b = Scenario("乡镇", "乡镇")
    for i in range(10):
        b.cases.append(Case(f"乡镇一致报告 {i}", consistent(form, rng, guizhang=False)))
    reg_cols = ("issued", "repealed", "in_force") if is21 else ("new_made", "new_published", "total_public")
    for i, col in enumerate(reg_cols * 3):
        v = consistent(form, rng, guizhang=False)
        v[f"s2.regulation.{col}"] = rng.randint(1, 3)
        b.cases.append(Case(f"乡镇填了规章 {i}", v, f"s2.regulation.{col}"))
    if is21:
        for amount in (
            "0",
            "0.0001",
            "0.25",
            "999.9999",
            "1000",
            "1000.0001",
            "2500",
            "12345.6789",
            "250000",
            "0.1",
            "0.3",
        ):
            v = consistent(form, rng, guizhang=False)
            v["s2.admin_fee.amount_wan"] = Decimal(amount)
            b.cases.append(Case(f"收费金额 {amount} 万元", v))
        for i in range(4):  # W-T3-FEE: fee-related refusals without / with fee notices, and blank
            v = consistent(form, rng, guizhang=False)
            c = rng.choice(APPL)
            v[f"s3.r6_2.{c}"] += 1
            v[f"s3.new.{c}"] += 1
            v["s6.fee_notices"] = (0, 1, None, 0)[i]
            b.cases.append(Case(f"逾期未缴费 {i}", v, f"fee_notices={v['s6.fee_notices']}"))
    for i, col in enumerate(reg_cols):
        v = consistent(form, rng, guizhang=False)
        v[f"s2.regulation.{col}"] = None
        b.cases.append(Case(f"乡镇规章留空 {i}", v, f"s2.regulation.{col}"))
    if is21:
        v = consistent(form, rng, guizhang=False)
        v["s2.admin_fee.amount_wan"] = None
        b.cases.append(Case("收费金额留空", v))
    for i in range(8):
        kind = BROKEN_KINDS[(i * 5) % len(BROKEN_KINDS)]
        vals, note = broken(form, consistent(form, rng, guizhang=False), rng, kind)
        b.cases.append(Case(f"乡镇错误数据 {i}（{kind}）", vals, note))
    out.append(b)

    # C: a city government with last year's report in the same format — the W-XY rules
    prev = prev_report(form, rng)
    cin = {c: prev[f"s3.carried_out.{c}"] for c in APPL}
    c_ = Scenario("市级政府、同格式上年数据", "市级政府", prev, form.id)
    for i in range(12):
        c_.cases.append(Case(f"与上年衔接 {i}", consistent(form, rng, carried_in=cin, prev=prev)))
    xy_keys = [f"s3.carried_in.{c}" for c in APPL]
    xy_keys += (
        [f"s2.{r}.{c}" for r in ("regulation", "normative_doc") for c in ("in_force", "issued", "repealed")]
        if is21
        else [f"s2.{r}.prev_items" for r in ("licensing", "other_service", "penalty", "coercion", "admin_fee")]
    )
    for i in range(30):
        v = consistent(form, rng, carried_in=cin, prev=prev)
        k = xy_keys[i % len(xy_keys)]
        d = rng.choice((-2, -1, 1, 3))
        v[k] = max(0, v[k] + d) if not k.endswith("change") else v[k] + d
        c_.cases.append(Case(f"与上年不衔接 {i}", v, f"{k} {d:+d}"))
    for i in range(8):
        v = consistent(form, rng, carried_in=cin, prev=prev)
        k = xy_keys[(i * 7) % len(xy_keys)]
        v[k] = None
        c_.cases.append(Case(f"与上年衔接的项目留空 {i}", v, k))
    for i in range(6):
        vals, note = broken(
            form, consistent(form, rng, carried_in=cin, prev=prev), rng, ("blank", "perturb", "big")[i % 3]
        )
        c_.cases.append(Case(f"上年衔接+错误 {i}", vals, note))
    out.append(c_)

    # D: last year's figures partly missing (old report imported with blanks)
    prev2 = prev_report(form, rng)
    for k in rng.sample(sorted(prev2), 40) + ["s3.carried_out.natural", "s3.carried_out.total"]:
        prev2[k] = None
    cin2 = {c: prev2[f"s3.carried_out.{c}"] or 0 for c in APPL}
    d = Scenario("县级部门、上年数据不全", "县级部门", prev2, form.id)
    for i in range(20):
        v = consistent(form, rng, carried_in=cin2)
        if i % 2:
            k = rng.choice(xy_keys)
            v[k] = (v[k] or 0) + 1
        d.cases.append(Case(f"上年数据不全 {i}", v))
    out.append(d)

    # E: (2021) last year's report in the 2019 format: W-XY-CARRY applies, W-XY-INFORCE does not
    if is21:
        f19 = load_form("2019")
        prev3 = prev_report(f19, rng)
        cin3 = {c: prev3[f"s3.carried_out.{c}"] for c in APPL}
        e = Scenario("街道、上年为2019格式", "街道", prev3, "2019")
        for i in range(16):
            v = consistent(form, rng, guizhang=False, carried_in=cin3)
            if i % 2:
                k = f"s3.carried_in.{rng.choice(APPL)}"
                v[k] += 1
            e.cases.append(Case(f"跨格式衔接 {i}", v))
        out.append(e)
    return out


# --------------------------------------------------------------------------------------------
# comparing


def same(lo_value: Any, py_value: Any) -> bool:
    if py_value is None or py_value == "":
        return lo_value is None or lo_value == ""
    if isinstance(py_value, str):
        return lo_value == py_value
    try:
        a, b = float(lo_value), float(py_value)
    except (TypeError, ValueError):
        return False
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def describe_pos(form: Form, pos: tuple[str, int, int]) -> str:
    lay = layout(form)
    s, r, c = pos
    what = ""
    for iid, p in lay.checks.items():
        if p == pos:
            what = iid
    for iid, p in lay.summary.items():
        if p == pos:
            what = "校验结果·" + iid
        elif (p[0], p[1], p[2] + 4) == pos:
            what = "校验结果链接·" + iid
    for k, p in lay.where.items():
        if p == pos:
            what = k
    for name, p in lay.summary_counts.items():
        if p == pos:
            what = "计数·" + name
    return f"{s}!{a1(r, c)} {what}".strip()


def formula_view(form: Form, values: dict[str, Any]) -> dict[str, Any]:
    """What the workbook holds when some totals were pasted over: pasted cells keep their values,
    every other total is its formula's result (blank while a summand is blank or text)."""
    full = dict(values)
    pending = [k for k in form.derived_keys if k not in values]
    while pending:
        ready = [k for k in pending if not any(d in pending for d in form.cells[k].sum_of)]
        assert ready, "circular totals"
        for k in ready:
            nums = [as_number(full.get(d)) for d in form.cells[k].sum_of]
            full[k] = None if any(x is None for x in nums) else sum(nums)
            pending.remove(k)
    return full


def expected_for(lay, case: Case, unit, prev, prev_format) -> dict[tuple[str, int, int], Any]:
    """Python's results for every formula cell of the harness."""
    exp = expected_results(lay, case.values, unit, prev, prev_format)
    if not case.pasted:
        return exp
    # pasted totals: the importer's check (evaluate_all on the values as found) decides
    assert unit is None and prev is None
    form = lay.form
    full = formula_view(form, case.values)
    for k in form.derived_keys:
        exp[lay.where[k]] = "" if full[k] is None else full[k]
    tally = {"error": 0, "warning": 0, "info": 0, "incomplete": 0}
    for o in evaluate_all(form, full):
        exp[lay.checks[o.instance.iid]] = exp[lay.summary[o.instance.iid]] = o.status
        if o.status == "✗":
            tally[o.instance.severity] += 1
        elif o.status == "待填":
            tally["incomplete"] += 1
    for name, pos in lay.summary_counts.items():
        exp[pos] = tally[name]
    return exp


def run_format(office, tmp_path: Path, fid: str, seed: int) -> None:
    form = load_form(fid)
    lay = layout(form)
    input_keys = list(zeros(form))
    total = 0
    problems: list[str] = []
    for n, sc in enumerate(scenarios(form, seed)):
        unit = form.unit_type(sc.unit_name) if sc.unit_name else None
        assert sc.unit_name is None or unit is not None, sc.unit_name
        path = tmp_path / f"harness_{fid}_{n}.xlsx"
        formulas = build_harness(path, form, unit, sc.prev, sc.prev_format)
        read_pos = sorted(formulas)
        read_cells = [(s, a1(r, c)) for s, r, c in read_pos]
        datasets = []
        for case in sc.cases:
            extra = set(case.values) - set(input_keys)
            assert extra <= (set(form.derived_keys) if case.pasted else set()), extra
            keys = input_keys + sorted(extra)
            datasets.append({(lay.where[k][0], a1(*lay.where[k][1:])): case.values.get(k) for k in keys})
        results = lo_evaluate(office, path, datasets, read_cells)
        assert len(results) == len(sc.cases)
        for case, got in zip(sc.cases, results):
            total += 1
            exp = expected_for(lay, case, unit, sc.prev, sc.prev_format)
            assert set(exp) == set(formulas), "expected_results and expected_formulas cover different cells"
            for pos, lo_value in zip(read_pos, got):
                if not same(lo_value, exp[pos]):
                    problems.append(
                        f"[{fid} · {sc.name} · {case.name}{'：' + case.note if case.note else ''}] "
                        f"{describe_pos(form, pos)}: LibreOffice {lo_value!r} ≠ Python {exp[pos]!r}"
                    )
    assert total >= MIN_DATASETS
    assert not problems, f"{len(problems)} disagreements in {total} data sets:\n" + "\n".join(problems[:40])


# --------------------------------------------------------------------------------------------
# the tests


def test_datasets_cover_every_status_of_every_rule():
    """The generated data sets (without LibreOffice) reach ✓ and ✗ for every rule id and 待填 /
    不适用 where a rule can have them — so the agreement test below exercises all of them."""
    for fid, seed in (("2021", 2021), ("2019", 2019)):
        form = load_form(fid)
        lay = layout(form)
        seen: dict[str, set[str]] = {}
        n = 0
        for sc in scenarios(form, seed):
            unit = form.unit_type(sc.unit_name) if sc.unit_name else None
            for case in sc.cases:
                n += 1
                exp = expected_for(lay, case, unit, sc.prev, sc.prev_format)
                for inst in form.rules:
                    seen.setdefault(inst.id, set()).add(exp[lay.checks[inst.iid]])
        assert n >= MIN_DATASETS, (fid, n)
        for rd in form.rule_defs:
            st = seen[rd.id]
            conditional = bool(rd.when or rd.needs_previous or "unit." in (rd.expr or ""))
            want = {"✓", "✗", "待填"} | ({"不适用"} if conditional else set())
            assert st == want, (fid, rd.id, st)


@pytest.mark.lo
@pytest.mark.parametrize("fid, seed", [("2021", 2021), ("2019", 2019)])
def test_python_and_libreoffice_agree(office, tmp_path, fid, seed):
    run_format(office, tmp_path, fid, seed)


@pytest.mark.parametrize("fid, seed", [("2021", 2021), ("2019", 2019)])
def test_python_and_formulas_package_agree(tmp_path, fid, seed):
    """Second opinion: the ``formulas`` package (a pure-Python Excel engine) on every third data
    set.  It has no HYPERLINK, so the 校验结果 link cells are left to LibreOffice."""
    formulas = pytest.importorskip("formulas")
    form = load_form(fid)
    lay = layout(form)
    input_keys = list(zeros(form))
    problems: list[str] = []
    total = 0
    for n, sc in enumerate(scenarios(form, seed)):
        unit = form.unit_type(sc.unit_name) if sc.unit_name else None
        path = tmp_path / f"fm_{fid}_{n}.xlsx"
        formulas_map = build_harness(path, form, unit, sc.prev, sc.prev_format, entry_zero=True)
        model = formulas.ExcelModel().loads(str(path)).finish()
        names = {k.upper(): k for k in model.cells}  # the engine's own spelling of each cell

        def ref(pos):
            s, r, c = pos
            return names[f"'[{path.name}]{s}'!{a1(r, c)}".upper()]

        for case in [c for c in sc.cases if not c.pasted][n % 3 :: 3]:
            total += 1
            inputs = {}
            for k in input_keys:
                v = case.values.get(k)
                inputs[ref(lay.where[k])] = float(v) if isinstance(v, (int, Decimal)) else v
            sol = {k.upper(): x for k, x in model.calculate(inputs=inputs).items()}
            exp = expected_results(lay, case.values, unit, sc.prev, sc.prev_format)
            for pos in formulas_map:
                if pos[0] == "校验结果" and pos[2] == 4:  # =HYPERLINK(...)
                    continue
                got = sol.get(ref(pos).upper())
                value = got.value[0, 0] if got is not None else "（未计算）"
                if isinstance(value, str) and value.startswith("#"):
                    value = f"错误值 {value}"
                if not same(value, exp[pos]):
                    problems.append(
                        f"[{fid} · {sc.name} · {case.name}{'：' + case.note if case.note else ''}] "
                        f"{describe_pos(form, pos)}: formulas {value!r} ≠ Python {exp[pos]!r}"
                    )
    assert total >= 60
    assert not problems, f"{len(problems)} disagreements in {total} data sets:\n" + "\n".join(problems[:40])
