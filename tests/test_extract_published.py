"""Published reports as they really appear (issue 19, text side): run-together table cells,
headings glued to the text or in variant wordings, files that are not reports, the 信息处理费
numbers of part 六 — and the corpus targets (tests/data/published, benchmarks/corpus_score.py)."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.form.model import load_form
from gkxlsx.published import runtogether
from gkxlsx.published.audit import audit_text
from gkxlsx.published.extract import AMBIGUOUS, READ, extract_text
from gkxlsx.published.fees import read_fees
from gkxlsx.published.headings import unglue
from gkxlsx.text.narrative import normalize, split_sections

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "data" / "published"
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(CORPUS))

import corpus_score  # noqa: E402
from make_corpus import runon_text, values_for  # noqa: E402

runner = CliRunner()
F21 = load_form("2021")


# --------------------------------------------------------------------------------------------
# the corpus


@pytest.fixture(scope="module")
def scored():
    return corpus_score.score(CORPUS)


def test_corpus_never_reads_a_number_wrong(scored):
    kinds, files = scored
    wrong = [(f["file"], w) for f in files for w in f["wrong"]]
    assert not wrong
    assert set(kinds) >= {"html", "runon", "glued", "badtotal", "real"}


def test_corpus_read_targets(scored):
    kinds, _ = scored
    assert kinds["html"]["read_pct"] >= 99.5
    run = [k for name, k in kinds.items() if name in corpus_score.RUN_KINDS]
    certain = sum(k["certain"] for k in run)
    assert certain > 5000
    assert 100.0 * sum(k["read_certain"] for k in run) / certain >= 90.0


def test_corpus_headings_and_format(scored):
    _, files = scored
    assert [(f["file"], f["headings_missing"]) for f in files if f["headings_missing"]] == []
    assert [f["file"] for f in files if not f["format_ok"]] == []


# --------------------------------------------------------------------------------------------
# splitting a run


def kinds(n: int, **kw) -> list[runtogether.CellKind]:
    return [runtogether.CellKind(**kw)] * n


def test_splits_without_leading_zeros():
    assert runtogether.candidates("0000000", kinds(7)) == [(0,) * 7]
    assert runtogether.candidates("100", kinds(2)) == [(10, 0)]  # “1|00” has a leading zero
    assert sorted(runtogether.candidates("2140", kinds(3))) == [(2, 1, 40), (2, 14, 0), (21, 4, 0)]
    assert runtogether.candidates("12", kinds(3)) == []


def test_splits_with_signs_and_decimals():
    signed = [runtogether.CellKind(), runtogether.CellKind(signed=True), runtogether.CellKind()]
    assert runtogether.candidates("3-25", signed) == [(3, -2, 5)]
    assert runtogether.candidates("3-25", kinds(3)) == []  # no sign where a cell cannot be negative
    money = [runtogether.CellKind(), runtogether.CellKind(decimal=True)]
    assert sorted(runtogether.candidates("312.5", money), key=str) == [(3, Decimal("12.5")), (31, Decimal("2.5"))]


def test_a_run_that_explodes_is_bounded():
    assert runtogether.candidates("1" * 60, kinds(7)) is None


# --------------------------------------------------------------------------------------------
# run-together tables


def _runon(seed: int = 3) -> tuple[str, dict]:
    from gkxlsx.render.renderer import render_html

    rep, v = values_for(F21, seed)
    return runon_text(render_html(rep)), v


def test_relations_decide_and_are_named():
    text, v = _runon()
    ex = extract_text(text)
    row = next(p for p in ex.runon if p.keys[0] == "s3.new.natural")
    assert row.initial > 1 and len(row.cands or []) == 1 and row.decided_by
    assert all(ex.status[k] == READ and ex.report.values[k] == v[k] for k in row.keys)
    assert "勾稽关系" in ex.notes["s3.new.natural"][-1]
    res = audit_text(text)
    info = [f for f in res.findings if f.rule_id == "I-EXT-RUNON"]
    assert len(info) == 1 and row.decided_by[0].split("[")[0] in info[0].message
    assert not [f for f in res.findings if f.rule_id.startswith("E-")]


def test_unused_relations_still_reported():
    """A published （七）总计 that does not add up is read as printed, and reported."""
    text = (CORPUS / "text" / "badtotal_2021_01.txt").read_text(encoding="utf-8")
    res = audit_text(text)
    assert "E-T3-COL" in res.rule_ids()
    ex = res.extraction
    assert ex is not None and ex.status["s3.r7_total.total"] == READ


def test_ambiguous_run_lists_its_splits():
    text = "2023年政府信息公开工作年度报告\n二、主动公开政府信息情况\n规章000行政规范性文件2140行政许可175\n"
    ex = extract_text(text)
    assert [ex.status[f"s2.normative_doc.{c}"] for c in ("issued", "repealed", "in_force")] == [AMBIGUOUS] * 3
    assert ex.status["s2.regulation.in_force"] == READ and ex.report.values["s2.regulation.in_force"] == 0
    res = audit_text(text)
    w = next(f for f in res.findings if f.rule_id == "W-EXT-RUNON")
    assert "（2，1，40）" in w.message and "（21，4，0）" in w.message


def test_cells_all_splits_agree_on_are_read():
    text = "2023年政府信息公开工作年度报告\n二、主动公开政府信息情况\n规章000行政规范性文件1520行政许可3\n"
    ex = extract_text(text)
    # 1|5|20, 1|52|0, 15|2|0: no cell is the same in all three
    assert ex.status["s2.normative_doc.issued"] == AMBIGUOUS
    text = text.replace("1520", "1100")  # 1|10|0 or 11|0|0 … and 1|1|00 is no number
    ex = extract_text(text)
    assert ex.status["s2.normative_doc.in_force"] == READ and ex.report.values["s2.normative_doc.in_force"] == 0
    assert ex.status["s2.normative_doc.issued"] == AMBIGUOUS


# --------------------------------------------------------------------------------------------
# headings


def _headings(text: str) -> set[str]:
    return set(split_sections(unglue(normalize(text))).headings)


def test_glued_and_variant_headings():
    text = "\n".join(
        [
            "某镇2023年政府信息公开工作年度报告",
            "现将报告如下：一、总体情况2019年，在省政府办公厅的指导下，我镇认真做好工作。",
            "二、主动公开政府信息情况规章000",
            "三、收到和处理政府信息公开申请情况",
            "四、因政府信息公开工作被申请行政复议、提起行政诉讼情况",
            "五、政府信息公开工作存在的主要问题及整改措施（一）存在的主要问题。一是不及时。",
            "六、其他需要说明的事项无。",
        ]
    )
    assert _headings(text) == {"s1", "s2", "s3", "s4", "s5", "s6"}
    res = audit_text(text)
    assert "W-TXT-SECTION" not in res.rule_ids()


def test_a_missing_heading_is_still_reported():
    text = "某镇2023年政府信息公开工作年度报告\n一、总体情况\n本年度工作有序开展。\n二、主动公开政府信息情况\n规章000\n"
    res = audit_text(text)
    assert [f.instance for f in res.findings if f.rule_id == "W-TXT-SECTION"] == [
        f"W-TXT-SECTION[s{i}]" for i in range(3, 7)
    ]


def test_a_preamble_listing_the_parts_is_not_a_heading():
    nt = normalize("本报告包括：一、总体情况；二、主动公开政府信息情况；三、收到和处理政府信息公开申请情况。\n")
    assert unglue(nt).norm == nt.norm


# --------------------------------------------------------------------------------------------
# not a report


def test_roster_is_not_a_report(tmp_path):
    roster = REPO / "examples" / "roster.csv"
    target = tmp_path / "名单.csv"
    target.write_bytes(roster.read_bytes())
    r = runner.invoke(app, ["extract", str(target)])
    assert r.exit_code == 2
    assert "E-EXT-NOT-REPORT" in r.output and "缺失" not in r.output and "格式（" not in r.output
    r = runner.invoke(app, ["audit", str(target)])
    assert r.exit_code == 1 and r.output.count("E-EXT-NOT-REPORT") == 1


def test_notice_is_not_a_report():
    text = "关于做好2023年度政府信息公开工作年度报告编制发布工作的通知\n各乡镇人民政府：\n一、总体情况\n二、主动公开政府信息情况\n"
    res = audit_text(text)
    assert res.rule_ids() == ["E-EXT-NOT-REPORT"] and "通知" in res.findings[0].message


def test_seed_reports_are_reports():
    for p in sorted((REPO / "tests" / "data" / "seeds").glob("*.txt")):
        assert extract_text(p.read_text(encoding="utf-8")).not_report is None, p.name


# --------------------------------------------------------------------------------------------
# 信息处理费


@pytest.mark.parametrize(
    "text, want",
    [
        ("本年度未发出政府信息公开信息处理费收费通知，未收取信息处理费。", (0, 0, 0)),
        (
            "本年度依据《政府信息公开信息处理费管理办法》发出收费通知3件，通知金额300元，实际收取信息处理费200元。",
            (3, 300, 200),
        ),
        ("发出收费通知书2件，金额共计0.03万元，实际收取300元。", (2, 300, 300)),
        ("本年度未收取政府信息公开信息处理费。", (None, None, 0)),
        ("本年度没有其他需要报告的事项。", (None, None, None)),
    ],
)
def test_fee_numbers_from_part_six(text, want):
    got = read_fees(F21, text)
    keys = ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected")
    assert tuple(got[k][0] if k in got else None for k in keys) == want
    assert read_fees(load_form("2019"), text) == {}


def test_fee_numbers_reach_the_report():
    text, v = _runon(1)
    ex = extract_text(text)
    for k in ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected"):
        assert ex.report.values[k] == v[k]


def _html_parser_text(src: str) -> str:
    """html_to_text through html.parser alone (what the plain-markup scan must reproduce)."""
    import re

    from gkxlsx.published.extract import _HTMLText

    p = _HTMLText()
    p.feed(src)
    p.close()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", ln).strip() for ln in "".join(p.out).split("\n")]
    return "\n".join(ln for ln in lines if ln)


def test_plain_markup_scan_reads_html_as_html_parser_does():
    import random

    from gkxlsx.published.extract import _plain_markup_text, html_to_text

    frags = [
        "<td>", "</td>", "<th >", "</TH>", "<tr>", "<p/>", "<br/>", "<br />", "<p class=x/>", "<a href=x/y>",
        "<a b='c>d'>", '<a b="c>d">', "<td\xa0>", "<script>", "</script>", "<style>x</style>", "<script>a<b</script>",
        "<!-- c -->", "<!-- a-b -->", "<!--->", "<!-- -- -->", "<!DOCTYPE html>", "<?xml x?>", "<", ">", "&amp;",
        "&lt;td&gt;", "&#20;", "&", "&am", "一、", "12", " ", "\n", "\xa0", "\u3000", "<title>t</title>", "<head>",
        '<div a=1 b="2">', "</div >", "</ div>", "<my-tag>", "<td/ >", "<x a b c>", "<a b= c>", "<a =b>", "<script/>",
        "<a b='c'd>", "<td\n>", "</", "<!", "</>", "a<b",
    ]  # fmt: skip
    rng = random.Random(19)
    plain = 0
    for _ in range(3000):
        src = "".join(rng.choice(frags) for _ in range(rng.randint(1, 20)))
        plain += _plain_markup_text(src) is not None
        assert html_to_text(src) == _html_parser_text(src), repr(src)
    assert plain > 100  # both paths were exercised
    for f in sorted((CORPUS / "html").glob("*.html")):
        src = f.read_text(encoding="utf-8")
        assert _plain_markup_text(src) is not None, f.name  # gkxlsx's own pages take the fast path
        assert html_to_text(src) == _html_parser_text(src)
