"""Issue 15 items 3 and 10: absurd numbers in a returned workbook's number cells.

A number cell holding thousands of digits (past Python's 4,300-digit int-string limit), NaN,
Infinity, 1E+999999, 1e400 — or a plausible typo such as a 24-digit 收费金额 or 1E+23 元 collected
on a notice of 100 元 — is an E-CELL-RANGE finding at its cell, never E-INTERNAL.  Counts may have
at most 12 digits; amounts must stay below 1 万亿元 (10^12 元 = 10^8 万元).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from test_check_corpus import FORM, S2, S3, S6, YEAR, build, check, quiet_values, set_cell, sheet_part, write, zip_edit
from typer.testing import CliRunner

from gkxlsx.check.returned import excel_number, prefill_value
from gkxlsx.check.values import RawCell, parse_value, problem_context
from gkxlsx.findings import fmt_num, make_finding
from gkxlsx.form.layout import a1, layout
from gkxlsx.rules.interpret import truth_function
from gkxlsx.rules.parser import parse_expr

LAYOUT = layout(FORM)
HUGE = "9" * 5000  # past sys.get_int_max_str_digits() (4300)
BAD = [HUGE, "9" * 4301 + ".5", "1E+999999", "1e400", "1e-400", "NaN", "Infinity", "-Infinity", "1" * 24, "1E+23"]
INT, YUAN, WAN = FORM.types["int"], FORM.types["yuan"], FORM.types["amount_wan"]


def short(s: object) -> str:
    s = str(s)
    return s if len(s) <= 30 else f"{s[:8]}...({len(s)} chars)"


def address(key: str) -> tuple[str, str, str]:
    sheet, r, c = LAYOUT.where[key]
    return sheet, a1(r, c), f"{sheet}!{a1(r, c)}"


def patched(key: str, literal: str, values=None) -> bytes:
    sheet, ref, _ = address(key)
    return zip_edit(build(values), {sheet_part(sheet): set_cell(ref, f"<v>{literal}</v>")})


def range_findings(r, where: str) -> list:
    ids = [f.rule_id for f in r.findings]
    assert "E-INTERNAL" not in ids, [f.text() for f in r.findings]
    found = [f for f in r.findings if f.rule_id == "E-CELL-RANGE"]
    assert [f.locations for f in found] == [(where,)], [f.text() for f in r.findings]
    return found


# --------------------------------------------------------------------------------------------
# whole returns


@pytest.fixture(scope="module")
def returns(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile_numbers")


@pytest.mark.parametrize("key", ["s3.new.natural", "s6.fee_collected"])
@pytest.mark.parametrize("literal", BAD, ids=short)
def test_absurd_number_in_the_xml_is_a_cell_finding(returns, key, literal):
    _, _, where = address(key)
    r = check(write(returns, "r.xlsx", patched(key, literal)))
    (f,) = range_findings(r, where)
    assert f.severity == "error" and f.message.startswith("「") and len(f.message) < 200
    assert f.fix and "12 位" in f.fix


def test_fee_collected_1e23_with_a_notice_of_100_is_reported(returns):
    """Item 10: 1E+23 元 collected on notices of 100 元 passed every check."""
    assert address("s6.fee_collected")[0] == S6
    v = quiet_values()
    v["s6.fee_notices"], v["s6.fee_notice_amount"], v["s6.fee_collected"] = 1, Decimal(100), Decimal(100)
    p = write(returns, "fee.xlsx", patched("s6.fee_collected", "1E+23", v))
    (f,) = range_findings(check(p), address("s6.fee_collected")[2])
    assert "1E+23" in f.message and "万亿元" in f.message


def test_24_digit_amount_in_wan_yuan(returns):
    """The plausible typo: a 24-digit 收费金额 (单位：万元); 12345678 万元 is still a number."""
    key = "s2.admin_fee.amount_wan"
    assert address(key)[0] == S2
    p = write(returns, "wan.xlsx", patched(key, "123456789012345678901234"))
    (f,) = range_findings(check(p), address(key)[2])
    assert "1 万亿元" in f.message
    r = check(write(returns, "wan_ok.xlsx", patched(key, "12345678")))
    assert "E-CELL-RANGE" not in [f.rule_id for f in r.findings]
    assert r.report.values[key] == 12345678


def test_count_bound_is_12_digits(returns):
    key = "s3.new.natural"
    assert address(key)[0] == S3
    r = check(write(returns, "c12.xlsx", patched(key, "123456789012")))
    assert "E-CELL-RANGE" not in [f.rule_id for f in r.findings] and r.report.values[key] == 123456789012
    range_findings(check(write(returns, "c13.xlsx", patched(key, "1234567890123"))), address(key)[2])


def test_check_json_reports_the_cell(returns):
    from gkxlsx.cli import app

    p = write(returns, "json.xlsx", patched("s6.fee_collected", HUGE))
    res = CliRunner().invoke(app, ["check", str(p), "--json", "--year", str(YEAR)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    out = json.loads(res.output)
    found = out["files"][0]["findings"]
    assert "E-INTERNAL" not in [f["rule"] for f in found]
    (f,) = [f for f in found if f["rule"] == "E-CELL-RANGE"]
    assert f["locations"] == [address("s6.fee_collected")[2]]
    assert "（共 5000 位）" in f["message"]


# --------------------------------------------------------------------------------------------
# the parser on each bad literal


@pytest.mark.parametrize("vt", [INT, YUAN, WAN], ids=["int", "yuan", "wan"])
@pytest.mark.parametrize("literal", [*BAD, "-1E+23", "1E+12", "1000000000000"], ids=short)
def test_parser_on_bad_literals(vt, literal):
    v, prob = parse_value(vt, RawCell("number", literal))
    assert v is None and prob is not None and prob.rule_id == "E-CELL-RANGE"
    assert len(prob.raw) <= 40 and prob.suggestion is None
    f = make_finding("E-CELL-RANGE", label="x", raw=prob.raw, **problem_context(prob, vt))
    assert prob.hint in f.message


@pytest.mark.parametrize("value", [float("inf"), float("nan"), Decimal("NaN"), Decimal("sNaN"), Decimal("1E+30")])
def test_parser_on_non_finite_python_numbers(value):
    assert parse_value(INT, RawCell("number", value))[1].rule_id == "E-CELL-RANGE"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "vt, literal, want",
    [
        (INT, "99999999", 99999999),
        (INT, "999999999999", 999999999999),
        (YUAN, "999999999999.99", Decimal("999999999999.99")),
        (WAN, "99999999.9999", Decimal("99999999.9999")),
        (WAN, "100000000", None),
        (YUAN, "1000000000000", None),
    ],
)
def test_bounds(vt, literal, want):
    v, prob = parse_value(vt, RawCell("number", literal))
    assert v == want
    assert (prob is None) == (want is not None)


def test_text_suggestions_stay_within_the_bound():
    v, prob = parse_value(INT, RawCell("text", HUGE))
    assert prob is not None and prob.rule_id == "E-CELL-TEXT" and prob.suggestion is None
    _, prob = parse_value(INT, RawCell("formula", HUGE, "1+1", "number"))
    assert prob is not None and prob.rule_id == "E-CELL-FORMULA" and prob.suggestion is None


def test_other_number_readers_survive():
    raw = RawCell("number", HUGE)
    assert excel_number(raw) is None
    assert prefill_value(raw) == HUGE


def test_fmt_num_of_absurd_numbers():
    assert fmt_num(Decimal("1E+999999")) == "1E+999999"
    assert fmt_num(Decimal("NaN")) == "NaN" and fmt_num(Decimal("sNaN")) == "sNaN"
    assert fmt_num(10**5000) == "1E+5000"
    assert fmt_num(Decimal("1E+23")) == "100000000000000000000000" and fmt_num(12) == "12"


def test_rule_comparison_beyond_28_digits():
    f = truth_function(parse_expr("a.b < c.d"))
    assert f({"a.b": Decimal("1E+30"), "c.d": Decimal("0.5")}, None, None) is False
    assert f({"a.b": Decimal("0.25"), "c.d": Decimal("1E+300")}, None, None) is True


def test_other_findings_show_an_absurd_number_short(returns):
    """A total overwritten with 5,000 digits, a date field holding them: the messages stay short."""
    for key in ("s3.new.total", "meta.report_date"):
        r = check(write(returns, "short.xlsx", patched(key, HUGE)))
        mine = [f for f in r.findings if address(key)[2] in f.locations]
        assert mine and all(len(f.message) < 300 for f in mine), [f.text()[:300] for f in r.findings]
        assert "E-INTERNAL" not in [f.rule_id for f in r.findings]
