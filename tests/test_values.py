"""Strict parsing of entry cells (gkxlsx.check.values): what a unit typed → value, or rule id + raw value
+ suggested correction.  Nothing is coerced: a problem value is never returned as a value."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from gkxlsx.check.values import RawCell, date_like, parse_value, problem_context
from gkxlsx.findings import catalogue, make_finding


@pytest.fixture(scope="module")
def types():
    from gkxlsx.form.model import load_form

    f = load_form("2021")
    return {
        "count": f.cells["s3.new.natural"].type,
        "wan": f.cells["s2.admin_fee.amount_wan"].type,
        "yuan": f.fields["s6.fee_collected"].type,
        "text": f.fields["s1.active"].type,
        "date": f.fields["meta.report_date"].type,
    }


@pytest.mark.parametrize(
    "kind,raw,suggestion",
    [
        ("count", "/", 0),
        ("count", "—", 0),
        ("count", "-", 0),
        ("count", "无", 0),
        ("count", "3条", 3),
        ("count", "0件", 0),
        ("count", "12 件", 12),
        ("count", "１２", 12),
        ("count", "'12", 12),
        ("count", " 12 ", 12),
        ("count", "1,234", 1234),
        ("count", "+5", 5),
        ("wan", "251000元", Decimal("25.1")),
        ("wan", "2.5万元", Decimal("2.5")),
        ("yuan", "2.5万元", 25000),
        ("count", "1 2", None),  # two numbers? ambiguous: no suggestion
        ("count", "约三件", None),
        ("count", "-3", None),  # negative: no valid suggestion for a count
        ("count", "251000元", None),  # money in a count cell
        ("count", "3.5条", None),  # not a whole number
    ],
)
def test_text_in_number_cell_is_an_error_with_suggestion(types, kind, raw, suggestion):
    value, problem = parse_value(types[kind], raw)
    assert value is None
    assert problem.rule_id == "E-CELL-TEXT"
    assert problem.raw == raw
    assert problem.suggestion == suggestion
    if suggestion is not None:
        assert type(problem.suggestion) is type(suggestion)


def test_hints_name_the_cause(types):
    assert "全角" in parse_value(types["count"], "１２")[1].hint
    assert "单引号" in parse_value(types["count"], "'12")[1].hint
    assert "条" in parse_value(types["count"], "3条")[1].hint
    assert "万元" in parse_value(types["wan"], "251000元")[1].hint
    assert "0" in parse_value(types["count"], "/")[1].hint


@pytest.mark.parametrize(
    "kind,raw,rule,suggestion",
    [
        ("count", 3.5, "E-CELL-INT", None),
        ("count", RawCell("number", "3.5"), "E-CELL-INT", None),  # a number as stored in the XML
        ("count", -2, "E-CELL-NEG", 2),
        ("wan", -0.5, "E-CELL-NEG", Decimal("0.5")),
        ("wan", 0.12345, "E-CELL-DEC", Decimal("0.1235")),  # rounded half up, as Excel does
        ("wan", 251000.12345, "E-CELL-DEC", Decimal("251000.1235")),
        ("yuan", 10.555, "E-CELL-DEC", Decimal("10.56")),
    ],
)
def test_bad_numbers(types, kind, raw, rule, suggestion):
    value, problem = parse_value(types[kind], raw)
    assert value is None
    assert (problem.rule_id, problem.suggestion) == (rule, suggestion)


@pytest.mark.parametrize(
    "kind,raw,expected",
    [
        ("count", 0, 0),
        ("count", 7, 7),
        ("count", 7.0, 7),
        ("count", RawCell("number", "7"), 7),
        ("wan", 0.25, Decimal("0.25")),
        ("wan", 0.30000000000000004, Decimal("0.3")),  # binary artefact: Excel shows 0.3
        ("wan", RawCell("number", "25.099999999999998"), Decimal("25.1")),
        ("wan", 12, 12),
        ("yuan", RawCell("number", "400"), 400),
    ],
)
def test_good_numbers(types, kind, raw, expected):
    value, problem = parse_value(types[kind], raw)
    assert problem is None
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw", [None, "", RawCell("blank")])
def test_blank_is_not_zero(types, raw):
    value, problem = parse_value(types["count"], raw)
    assert value is None and problem.rule_id == "E-CELL-EMPTY"


def test_whitespace_only_is_blank(types):
    assert parse_value(types["count"], "   ")[1].rule_id == "E-CELL-EMPTY"


def test_types_that_are_not_numbers(types):
    assert parse_value(types["count"], True)[1].rule_id == "E-CELL-BOOL"
    assert parse_value(types["count"], True)[1].raw == "TRUE"
    p = parse_value(types["count"], date(2026, 1, 2))[1]
    assert (p.rule_id, p.raw) == ("E-CELL-DATE", "2026-01-02")
    # a number whose style is a date format: the reader says kind "date"
    p = parse_value(types["count"], "46024", cell_kind="date")[1]
    assert (p.rule_id, p.raw) == ("E-CELL-DATE", "2026-01-02")
    p = parse_value(types["count"], RawCell("formula", "2", formula="1+1", cached_kind="number"))[1]
    assert (p.rule_id, p.raw, p.suggestion) == ("E-CELL-FORMULA", "=1+1", 2)
    p = parse_value(types["count"], RawCell("error", "#N/A"))[1]
    assert (p.rule_id, p.raw) == ("E-CELL-ERROR", "#N/A")
    # a quote-prefixed number (typed as '12 in Excel) is text
    p = parse_value(types["count"], RawCell("text", "12", quote_prefix=True))[1]
    assert (p.rule_id, p.raw, p.suggestion) == ("E-CELL-TEXT", "'12", 12)


def test_text_and_date_fields(types):
    assert parse_value(types["text"], "本年度未收到申请。") == ("本年度未收到申请。", None)
    assert parse_value(types["text"], "")[1].rule_id == "E-CELL-EMPTY"
    assert parse_value(types["text"], RawCell("formula", "x", formula="A1"))[1].rule_id == "E-CELL-FORMULA"
    assert parse_value(types["date"], datetime(2026, 1, 15)) == (date(2026, 1, 15), None)
    assert parse_value(types["date"], "2026-01-15") == (date(2026, 1, 15), None)
    assert parse_value(types["date"], "2026年1月15日") == (date(2026, 1, 15), None)
    assert parse_value(types["date"], "46037", cell_kind="date") == (date(2026, 1, 15), None)
    p = parse_value(types["date"], "20261月15日")[1]
    assert (p.rule_id, p.raw) == ("W-FIELD-DATE", "20261月15日")


def test_signed_integer_of_the_2019_format():
    from gkxlsx.form.model import load_form

    f = load_form("2019")
    change = next(c for c in f.cells.values() if c.col.key == "change").type
    assert parse_value(change, -45) == (-45, None)
    assert parse_value(change, "+5")[1].rule_id == "E-CELL-TEXT"  # typed as text: still text
    assert parse_value(change, "+5")[1].suggestion == 5


def test_date_like_counts():
    # "1/2" typed into a cell formatted "0" is stored as 46024 (2026-01-02) with no trace of a date
    assert date_like(46024, 2025) == date(2026, 1, 2)
    assert date_like(45658, 2025) == date(2025, 1, 1)
    assert date_like(45291, 2025) is None  # 2023-12-31: outside year-1 … year+1
    assert date_like(12, 2025) is None
    assert date_like(True, 2025) is None


def test_catalogue_is_complete_and_messages_fill():
    cat = catalogue()
    assert len(cat) >= 30
    for rid, spec in cat.items():
        assert spec["severity"] in ("error", "warning", "info"), rid
        assert rid.split("-")[0] == {"error": "E", "warning": "W", "info": "I"}[spec["severity"]], rid
        assert spec["title"] and spec["message"] and spec["fix"], rid
    f = make_finding("E-YEAR", found=2024, expected=2025, locations=("基本信息!B7",))
    assert f.message == "这是 2024 年度的填报工作簿，本次收集的是 2025 年度的报告。"
    assert "2025 年度填报工作簿" in f.fix
    assert f.severity_zh == "错误" and f.locations == ("基本信息!B7",)


def test_problem_context_puts_the_suggestion_in_the_message(types):
    _, p = parse_value(types["count"], "3条")
    f = make_finding(
        p.rule_id,
        label="（一）予以公开·商业企业",
        raw=p.raw,
        suggestion=p.suggestion,
        **problem_context(p, types["count"]),
    )
    assert f.message == "「（一）予以公开·商业企业」填的是“3条”，不是数字（不要带单位“条”），应改为 3。"
    assert "不要带“件”“条”“元”等单位" in f.fix
