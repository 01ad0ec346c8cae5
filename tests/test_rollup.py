"""One tool at every level (issue 18): a county's roll-up return (``gkxlsx aggregate --as-return``)
imported by the city, the city's by the province; the roll-up re-checked (breakdown sums, each
unit's rules, edits); drill-down; 舍位平衡; the aggregate report."""

from __future__ import annotations

import random
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from gkxlsx.campaign.as_return import drill_down
from gkxlsx.campaign.campaign import Campaign, aggregate, generate_for_campaign, import_files, init_campaign
from gkxlsx.campaign.narrative import NARRATIVE_FILE, ensure_file, read_narrative
from gkxlsx.cli import app
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.form.rollup import FIRST_KEY_COL, FIRST_UNIT_ROW, breakdown_sheet, summed_keys
from gkxlsx.rounding import balanced_round, round_half_up
from gkxlsx.workbook.generate import build_workbook

runner = CliRunner()
HEAD = "单位代码,单位名称,单位类型,上级单位\n"


def _campaign(root: Path, rows: str, office: str) -> Campaign:
    roster = root.parent / f"{root.name}.csv"
    roster.write_text(HEAD + rows, encoding="utf-8")
    return init_campaign(root, year=2025, roster=roster, office=office)


def _return(camp: Campaign, code: str, out: Path, seed: int, edit=None) -> Path:
    u = camp.unit(code)
    values = sample_values(camp.form, u.name, u.type, camp.year, seed=seed)
    if edit:
        edit(values)
    data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    p = out / workbook_filename(u, camp.year)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _office_text(camp: Campaign, name: str, unit_type: str) -> None:
    """The office writes its own part of the report (sample text of a unit of its level)."""
    [agg] = aggregate(camp)
    words = sample_values(camp.form, name, unit_type, camp.year, seed=3, figures=agg.report.values)
    ensure_file(camp.root, camp.form, camp.office, camp.year, words)


def _as_return(camp: Campaign, *args: str) -> Path:
    out = camp.root / "上报"
    r = runner.invoke(app, ["aggregate", "-C", str(camp.root), "--as-return", "-o", str(out), *args])
    assert r.exit_code == 0, r.output
    assert "自检：通过" in r.output, r.output
    [p] = [p for p in out.glob("*.xlsx") if not p.name.startswith("2025年度汇总")]
    return p


@pytest.fixture
def chain(tmp_path):
    """乡镇 → 县 → 市 → 省: two townships (and one that never returns) in the county, the county and
    a city department in the city, the city in the province."""
    county = _campaign(
        tmp_path / "county",
        "T1,甲镇人民政府,乡镇,青岩县人民政府\nT2,乙镇人民政府,乡镇,青岩县人民政府\nT3,丙乡人民政府,乡镇,青岩县人民政府\n",
        "青岩县人民政府办公室",
    )
    city = _campaign(
        tmp_path / "city",
        "C01,青岩县人民政府,县级政府,某某市人民政府\nD01,某某市财政局,市级部门,某某市人民政府\n",
        "某某市人民政府办公室",
    )
    province = _campaign(tmp_path / "province", "P01,某某市人民政府,市级政府,某某省人民政府\n", "某某省人民政府办公厅")
    yield county, city, province, tmp_path
    for c in (county, city, province):
        c.close()


def test_three_levels_import_pass_drill_down_and_catch_edits(chain):
    county, city, province, tmp = chain
    for code, seed in (("T1", 1), ("T2", 2)):
        [o] = import_files(county, [_return(county, code, tmp / "returns", seed)])
        assert o.status == "通过", o.findings
    _office_text(county, "青岩县人民政府", "县级政府")
    # the city sends the county its workbook; the county returns its roll-up in that very workbook
    sent = generate_for_campaign(city, only=["C01"])[0].path
    county_return = _as_return(county, "--template", str(sent))
    assert county_return.name == sent.name
    wb = openpyxl.load_workbook(county_return)
    assert breakdown_sheet() in wb.sheetnames and "未纳入汇总单位" in wb.sheetnames
    ws = wb[breakdown_sheet()]
    assert [ws.cell(FIRST_UNIT_ROW + 1 + i, 1).value for i in range(3)] == ["T1", "T2", "合计"]

    [o] = import_files(city, [county_return])
    assert o.kind == "new" and o.status == "通过", [(f["rule"], f["message"]) for f in o.findings]
    assert any(f["rule"] == "I-ROLLUP" and "纳入汇总 2 个" in f["message"] for f in o.findings)
    # the city's figures are the townships' sums
    keys = summed_keys(city.form)
    cur = city.ledger.current("C01").values
    for k in keys[:40]:
        want = sum(county.ledger.current(c).values.get(k) or 0 for c in ("T1", "T2"))
        assert cur.get(k) == want, k
    # drill-down: library, status text, status --json
    got = drill_down(city, "C01")
    assert [c["code"] for c in got["children"]] == ["T1", "T2"] and got["expected"] == 3
    assert got["excluded"][0]["code"] == "T3" and got["excluded"][0]["reason"] == "未报送"
    r = runner.invoke(app, ["status", "C01", "-C", str(city.root)])
    assert r.exit_code == 0 and "T1  甲镇人民政府（乡镇）  通过" in r.output and "丙乡人民政府" in r.output, r.output
    r = runner.invoke(app, ["status", "C01", "-C", str(city.root), "--json"])
    assert '"rollup"' in r.output and "乙镇人民政府" in r.output

    # the city's own roll-up goes to the province (identity from the command line this time)
    import_files(city, [_return(city, "D01", tmp / "city-returns", 5)])
    _office_text(city, "某某市人民政府", "市级政府")
    city_return = _as_return(
        city,
        "--unit",
        "P01",
        "--unit-name",
        "某某市人民政府",
        "--unit-type",
        "市级政府",
        "--unit-parent",
        "某某省人民政府",
    )
    [o] = import_files(province, [city_return])
    assert o.status == "通过", [(f["rule"], f["message"]) for f in o.findings]
    got = drill_down(province, "P01")
    assert [c["code"] for c in got["children"]] == ["C01", "D01"] and got["excluded"] == []
    p_vals = province.ledger.current("P01").values
    t_sum = sum(county.ledger.current(c).values["s3.new.natural"] for c in ("T1", "T2"))
    assert p_vals["s3.new.natural"] == t_sum + city.ledger.current("D01").values["s3.new.natural"]

    # a person edits the breakdown of the county's workbook (openpyxl, as a script or Excel would)
    def edited(name: str, change) -> Path:
        p = tmp / name / county_return.name
        p.parent.mkdir()
        shutil.copyfile(county_return, p)
        book = openpyxl.load_workbook(p)
        ws = book[breakdown_sheet()]
        col = {ws.cell(FIRST_UNIT_ROW, c).value: c for c in range(FIRST_KEY_COL + 1, ws.max_column + 1)}
        change(ws, col)
        book.save(p)
        return p

    def bump(ws, col):  # one township's new applications +5: no longer adds up
        c = ws.cell(FIRST_UNIT_ROW + 1, col["s3.new.natural"])
        c.value = c.value + 5

    [o] = import_files(city, [edited("bump", bump)])
    ids = {f["rule"] for f in o.findings}
    assert o.status == "有错误" and {"E-ROLLUP-SUM", "E-ROLLUP-EDITED", "E-ROLLUP-CHILD"} <= ids, ids
    msg = next(f["message"] for f in o.findings if f["rule"] == "E-ROLLUP-SUM")
    assert "分单位明细中各单位之和为" in msg and "相差 -5" in msg

    def shift(ws, col):  # 1 moved from one township to the other: the sums still match
        a, b = ws.cell(FIRST_UNIT_ROW + 1, col["s3.new.natural"]), ws.cell(FIRST_UNIT_ROW + 2, col["s3.new.natural"])
        a.value, b.value = a.value + 1, b.value - 1

    [o] = import_files(city, [edited("shift", shift)])
    ids = [f["rule"] for f in o.findings]
    assert "E-ROLLUP-SUM" not in ids and "E-ROLLUP-EDITED" in ids
    assert ids.count("E-ROLLUP-CHILD") == 2  # each township's 新收+结转=办结+结转 broken
    assert city.status().units[0].status == "有错误"


def test_declared_roll_up_without_its_sheet_and_plain_returns_untouched(chain):
    county, city, _province, tmp = chain
    import_files(county, [_return(county, "T1", tmp / "r", 1)])
    _office_text(county, "青岩县人民政府", "县级政府")
    p = _as_return(county, "--unit", "C01", "--unit-name", "青岩县人民政府", "--unit-type", "县级政府")
    book = openpyxl.load_workbook(p)
    del book[breakdown_sheet()]
    book.save(p)
    [o] = import_files(city, [p])
    assert any(f["rule"] == "E-ROLLUP-SHEET" for f in o.findings), o.findings
    # an ordinary return has no roll-up finding and nothing to drill down to
    [o] = import_files(city, [_return(city, "D01", tmp / "d", 4)])
    assert o.status == "通过" and not any(f["rule"].startswith(("E-ROLLUP", "I-ROLLUP")) for f in o.findings)
    assert drill_down(city, "D01") is None


def test_as_return_needs_to_know_who_the_office_is(chain):
    county, *_ = chain
    r = runner.invoke(app, ["aggregate", "-C", str(county.root), "--as-return"])
    assert r.exit_code != 0 and "--template" in r.output and "[return]" in r.output
    r = runner.invoke(
        app,
        [
            "aggregate",
            "-C",
            str(county.root),
            "--as-return",
            "--unit",
            "C01",
            "--unit-name",
            "x",
            "--unit-type",
            "县府",
        ],
    )
    assert r.exit_code != 0 and "不是本格式的单位类型" in r.output


def test_narrative_file_round_trip_and_errors(tmp_path, chain):
    county, *_ = chain
    p, new = ensure_file(county.root, county.form, county.office, county.year)
    assert new and p.name == NARRATIVE_FILE and not ensure_file(county.root, county.form, county.office, 2025)[1]
    text = p.read_text(encoding="utf-8")
    assert "【五、存在的主要问题及改进情况·（一）存在的主要问题】" in text and "【联系人】" in text
    text = text.replace("【联系人】\n", "【联系人】\n张三\n").replace("【成文日期】\n", "【成文日期】\n2026-01-20\n")
    p.write_text(text, encoding="gb18030")  # saved by Notepad as ANSI
    got = read_narrative(p, county.form)
    assert got["meta.contact_person"] == "张三" and str(got["meta.report_date"]) == "2026-01-20"
    p.write_text("【不存在的标题】\n文字\n", encoding="utf-8")
    with pytest.raises(Exception, match="不是报告的组成部分"):
        read_narrative(p, county.form)


# --------------------------------------------------------------------------------------------
# 舍位平衡


def test_balanced_rounding_where_naive_rounding_breaks_the_sum():
    parts = [Decimal("0.005")] * 3  # 0.015 → 0.02; each 0.01 naively → 0.03
    assert sum(round_half_up(p, 2) for p in parts) == Decimal("0.03")
    shown, total = balanced_round(parts, 2)
    assert total == Decimal("0.02") and sum(shown) == total and shown == [Decimal("0.01"), Decimal("0.01"), 0]
    # 元 → 万元: 12,345.67 + 23,456.78 + 34,567.89 元 = 7.037034 万元 → 7.04; naive 1.23 + 2.35 + 3.46 = 7.04?
    parts = [Decimal("1.234567"), Decimal("2.345678"), Decimal("3.456789")]
    shown, total = balanced_round(parts, 2)
    assert sum(shown) == total == Decimal("7.04")
    # a case where naive rounding is off by two units
    parts = [Decimal("0.4")] * 5 + [Decimal("0.0")]
    assert sum(round_half_up(p, 0) for p in parts) == 0
    shown, total = balanced_round(parts, 0)
    assert total == 2 and sum(shown) == 2 and sorted(shown) == [0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError):
        balanced_round([Decimal("-1")], 2)


def test_balanced_rounding_property():
    rng = random.Random(18)
    for _ in range(500):
        dp = rng.choice([0, 1, 2])
        parts = [Decimal(rng.randint(0, 99999)).scaleb(-rng.choice([2, 3, 4])) for _ in range(rng.randint(1, 30))]
        shown, total = balanced_round(parts, dp)
        unit = Decimal(1).scaleb(-dp)
        assert sum(shown) == total == round_half_up(sum(parts), dp)
        assert all(abs(s - p) < unit for s, p in zip(shown, parts))


def test_aggregate_workbook_shows_amounts_with_balanced_rounding(chain):
    county, _city, _province, tmp = chain

    def fee(yuan):
        def edit(v):
            v["s6.fee_notices"], v["s6.fee_notice_amount"], v["s6.fee_collected"] = 1, yuan, yuan

        return edit

    # 50 元 = 0.005 万元 each: shown to 2 decimals the total is 0.02, not 0.01 + 0.01 + 0.01
    for code, seed in (("T1", 1), ("T2", 2), ("T3", 3)):
        [o] = import_files(county, [_return(county, code, tmp / "fee", seed, fee(Decimal("50")))])
        assert o.status == "通过", o.findings
    [agg] = aggregate(county)
    from gkxlsx.campaign.exports import write_aggregate

    (tmp / "out").mkdir()
    xlsx, _ = write_aggregate(county, agg, tmp / "out")
    book = openpyxl.load_workbook(xlsx)
    ws = book["分单位明细"]
    heads = {ws.cell(1, c).value: c for c in range(1, ws.max_column + 1)}
    col = next(c for h, c in heads.items() if h and h.startswith("实际收取金额（元）（万元"))
    vals = [Decimal(str(ws.cell(r, col).value)) for r in range(2, 5)]
    assert ws.max_row == 4  # one row a unit
    summary = book["汇总"]
    [row] = [r for r in summary.iter_rows(min_row=5, values_only=True) if r[2] == "s6.fee_collected"]
    assert row[3] == 150 and row[4] == "0.02（万元）"  # 150 元 = 0.015 万元 → 0.02
    assert sum(vals) == Decimal("0.02") and vals == [Decimal("0.01"), Decimal("0.01"), 0]
