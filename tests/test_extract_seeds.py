"""The five real published reports (tests/data/seeds): each is extracted as completely as its text
allows, and the audit lists what a careful reviewer lists (docs/FORMAT.md §7) — and nothing else.

Also: the same seeds as real pages vary them (full-width punctuation, HTML tables with blank
cells and “/”, GB18030, cells run together, a row with a missing cell in another place).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import seed_files

from gkxlsx.published.audit import audit_file, audit_text
from gkxlsx.published.extract import AMBIGUOUS, MISSING, READ, extract_file, extract_text

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seeds() -> dict[int, Path]:
    return {int(p.name[:3]): p for p in seed_files()}


@pytest.fixture(scope="module")
def audits(seeds):
    return {n: audit_file(p) for n, p in seeds.items()}


def rule_counts(res) -> Counter:
    return Counter(f.rule_id for f in res.findings)


def findings(res, rule):
    return [f for f in res.findings if f.rule_id == rule]


# --------------------------------------------------------------------------------------------
# seed 0: 朗县仲达镇 2023


def test_seed0_identity_and_tables(audits):
    res = audits[0]
    ex = res.extraction
    r = ex.report
    assert (r.unit_name, r.unit_type, r.year, ex.format_id) == ("朗县仲达镇", "乡镇", 2023, "2021")
    assert ex.title == "朗县仲达镇2023年政府信息公开工作年度报告"
    assert ex.publish_date == dt.date(2024, 1, 30)
    assert ex.counts() == {READ: 200, MISSING: 0, AMBIGUOUS: 0}
    assert all(r.values[k] == 0 for k in r.form.cells)
    assert r.values["meta.postcode"] == "860000" and r.values["meta.contact_phone"] == "0894-5462550"


def test_seed0_findings(audits):
    res = audits[0]
    assert rule_counts(res) == Counter(
        {"W-TXT-FIVE": 1, "W-TXT-FEE": 1, "W-TXT-DATE": 1, "W-TXT-FOREIGN": 1, "W-TXT-TYPO": 2}
    )
    five = findings(res, "W-TXT-FIVE")[0]
    assert five.keys == ("s1.platform",) and "平台建设" in five.message
    assert "“(一)主动公开情况”" in five.message  # quotes the headings that are there
    fee = findings(res, "W-TXT-FEE")[0]
    assert fee.severity == "warning" and "本年度没有其他需要报告的事项" in fee.message
    date = findings(res, "W-TXT-DATE")[0]
    assert "“2023我们" in date.message and "缺少“年”" in date.message
    foreign = findings(res, "W-TXT-FOREIGN")[0]
    assert "政务服务中心政府信息公开工作" in foreign.message and "仲达镇政务服务中心将进一步" in foreign.message
    assert foreign.locations == ("五、存在的主要问题及改进情况",)
    typos = " ".join(f.message for f in findings(res, "W-TXT-TYPO"))
    assert "截止2023年12月31日" in typos and "3050多余人次" in typos
    assert res.errors == 0 and res.deadline == dt.date(2024, 1, 31)


# --------------------------------------------------------------------------------------------
# seed 1: 垫江县周嘉镇 2020, 2019 format, mojibake with romanisation, labels replaced by "0"


def test_seed1_identity_and_2019_tables(audits):
    ex = audits[1].extraction
    r = ex.report
    assert (r.unit_name, r.unit_type, r.year, ex.format_id) == ("垫江县周嘉镇人民政府", "乡镇", 2020, "2019")
    assert "(zhèn)" not in ex.title and ex.title.startswith("墊江縣周嘉鎮")
    assert ex.counts() == {READ: 198, MISSING: 0, AMBIGUOUS: 0}
    v = r.values
    assert [v[f"s2.licensing.{c}"] for c in ("prev_items", "change", "decisions")] == [4, 5, 1496]
    assert [v[f"s2.other_service.{c}"] for c in ("prev_items", "change", "decisions")] == [175, -45, 11536]
    assert [v[f"s2.penalty.{c}"] for c in ("prev_items", "change", "decisions")] == [6, 8, 0]
    assert [v[f"s2.coercion.{c}"] for c in ("prev_items", "change", "decisions")] == [9, -4, 0]
    assert v["s2.admin_fee.prev_items"] == 0 and v["s2.procurement.amount"] == 0
    assert all(v[k] == 0 for k in r.form.cells if k.startswith(("s3.", "s4.")))
    # the sub-item rows were recognised from the count, consistently for (三), (四), (五)
    for row in ("r3_1", "r3_8", "r4_3", "r5_5"):
        assert any("被替换为“0”" in n for n in ex.notes[f"s3.{row}.natural"])
    assert not any("替换" in n for n in ex.notes.get("s3.r6.natural", []))


def test_seed1_findings(audits):
    res = audits[1]
    assert rule_counts(res) == Counter(
        {"W-TXT-FIVE": 3, "W-TXT-DOCS": 1, "W-TXT-LABEL": 3, "W-TXT-TYPO": 2, "W-PUB-DATE": 1}
    )
    assert {f.keys for f in findings(res, "W-TXT-FIVE")} == {("s1.on_request",), ("s1.management",), ("s1.platform",)}
    docs = findings(res, "W-TXT-DOCS")[0]
    assert "公開規范性文件4條" in docs.message and "没有一项是 4" in docs.message
    labels = findings(res, "W-TXT-LABEL")
    assert sorted(len(f.keys) for f in labels) == [21, 35, 56]  # 8 + 3 + 5 rows of 7 cells
    assert all("被“0”代替" in f.message for f in labels)
    assert "环保保护" in " ".join(f.message for f in findings(res, "W-TXT-TYPO")) or "環保保護" in " ".join(
        f.message for f in findings(res, "W-TXT-TYPO")
    )
    # 2020: no fee statement required, and 60号 is the right notice — no W-TXT-FEE, no W-TXT-CITE
    assert not findings(res, "W-TXT-FEE") and not findings(res, "W-TXT-CITE")


# --------------------------------------------------------------------------------------------
# seed 2: 额尔敦街道 2023, no title, truncated section-四 headers


def test_seed2_identity_and_tables(audits):
    ex = audits[2].extraction
    r = ex.report
    assert ex.title == "" and ex.publish_date is None
    assert (r.unit_name, r.unit_type, r.year, ex.format_id) == ("额尔敦街道", "街道", 2023, "2021")
    assert ex.counts()[READ] == 200
    assert r.values["s2.licensing.decisions"] == 8
    assert sum(1 for k in r.form.cells if r.values[k]) == 1
    # “商业 企业” split by a space is read as the label, not reported
    assert not any("商业" in li.found for li in ex.label_issues)


def test_seed2_findings(audits):
    res = audits[2]
    assert rule_counts(res) == Counter(
        {
            "W-TXT-OLDSTRUCT": 1,
            "W-TXT-FILLER": 1,
            "W-TXT-LABEL": 4,
            "W-PUB-TITLE": 1,
            "W-TXT-DUPPERIOD": 1,
            "W-TXT-TYPO": 1,
            "W-PUB-DATE": 1,
        }
    )
    assert "本报告由概述" in findings(res, "W-TXT-OLDSTRUCT")[0].message
    filler = findings(res, "W-TXT-FILLER")[0].message
    assert "总面积57.06平" in filler and "常住人口" in filler
    labels = {(f.raw, re.search(r"应为“(.+?)”", f.message).group(1)) for f in findings(res, "W-TXT-LABEL")}
    assert labels == {("结果", "结果纠正"), ("其他", "其他结果"), ("尚未", "尚未审结"), ("结果", "结果维持")}
    assert "时间点" in findings(res, "W-TXT-DUPPERIOD")[0].message
    # the fee statement is right; a 街道 is not a government (no 考核/评议 aspect required)
    assert not findings(res, "W-TXT-FEE") and not findings(res, "W-TXT-FIVE")


# --------------------------------------------------------------------------------------------
# seed 3: 绵阳市机关事务管理局 2022


def test_seed3(audits):
    res = audits[3]
    ex = res.extraction
    r = ex.report
    assert (r.unit_name, r.unit_type, r.year) == ("绵阳市机关事务管理局", "市级部门", 2022)
    assert ex.publish_date == dt.date(2023, 1, 13) and ex.counts()[READ] == 200
    assert r.values["s6.other"] == "本年度未收取信息处理费。"  # page chrome (浏览次数) is not part of it
    # “商业\n\n企业” split over lines is joined, noted, not reported
    assert any("被拆开" in n for n in ex.notes["s3.new.commercial"])
    assert rule_counts(res) == Counter({"W-TXT-FOREIGN": 1, "W-TXT-LABEL": 1, "W-TXT-DUPPERIOD": 1})
    assert "医保政府信息公开" in findings(res, "W-TXT-FOREIGN")[0].message
    label = findings(res, "W-TXT-LABEL")[0]
    assert label.raw == "现行有效件" and set(label.keys) == {"s2.regulation.in_force", "s2.normative_doc.in_force"}
    assert "重复说明了 2 次" in findings(res, "W-TXT-DUPPERIOD")[0].message


# --------------------------------------------------------------------------------------------
# seed 4: 托克逊县夏镇 2024 — a row with 6 values for 7 cells, dates, citation


def test_seed4_short_row_is_ambiguous_not_shifted(audits):
    ex = audits[4].extraction
    r = ex.report
    row = [
        f"s3.r1_open.{c}"
        for c in ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org", "total")
    ]
    assert [ex.status[k] for k in row] == [AMBIGUOUS] * 7
    assert [r.values[k] for k in row] == [None] * 7
    assert ex.counts() == {READ: 193, MISSING: 0, AMBIGUOUS: 7}
    assert all(ex.status[k] == READ and r.values[k] == 0 for k in r.form.cells if k not in row)
    assert ex.positions["s3.r1_open.total"] == "三、表格第6行（（一）予以公开）第7列（总计）"
    assert r.values["meta.report_date"] == "2025-01-08"


def test_seed4_findings(audits):
    res = audits[4]
    assert rule_counts(res) == Counter(
        {
            "W-EXT-AMBIGUOUS": 1,
            "W-TXT-LABEL": 2,
            "W-TXT-DATE": 3,
            "W-TXT-CITE": 3,
            "W-TXT-FOREIGN": 1,
            "W-TXT-NUMBERING": 1,
            "W-TXT-FIVE": 1,
            "W-TXT-TYPO": 3,
        }
    )
    amb = findings(res, "W-EXT-AMBIGUOUS")[0]
    assert amb.locations == ("三、表格第6行（（一）予以公开）",) and "应有 7 个数字，文中是 6 个" in amb.message
    assert {f.raw for f in findings(res, "W-TXT-LABEL")} == {"本年发件", "现行有效件"}
    dates = " ".join(f.message for f in findings(res, "W-TXT-DATE"))
    assert "“20241月1日”缺少“年”" in dates and "“20251月8”缺少“年”和“日”" in dates
    assert "2024年夏镇主要从以下方面作进一步改进" in dates and "2025 年" in dates
    cites = findings(res, "W-TXT-CITE")
    assert any("文号却写成了国办公开办函〔2021〕30号" in f.message for f in cites)
    assert any("“国办公开函202130号”书写有误" in f.message for f in cites)
    assert any(f.severity == "info" and "国务院令第711号" in f.message for f in cites)
    assert "围绕市场监管工作" in findings(res, "W-TXT-FOREIGN")[0].message
    assert "“（二）”重复" in findings(res, "W-TXT-NUMBERING")[0].message
    assert findings(res, "W-TXT-FIVE")[0].keys == ("s1.assessment",)  # a 镇 is a government
    typos = " ".join(f.message for f in findings(res, "W-TXT-TYPO"))
    assert "接照" in typos and "我认真贯彻" in typos and "报告如下" in typos
    # published 2025-01-23, before the 1月31日 deadline; the fee statement is right
    assert not findings(res, "W-PUB-LATE") and not findings(res, "W-TXT-FEE")


# --------------------------------------------------------------------------------------------
# what is right does not fire, on all five


def test_no_false_alarms_on_correct_things(audits):
    for n, res in audits.items():
        assert res.errors == 0, (n, [f.text() for f in res.findings if f.severity == "error"])
        ids = rule_counts(res)
        # every seed says it received no applications and had no cases; the tables agree
        assert not ids["W-TXT-APPL"] and not ids["W-TXT-REVIEW"], n
        assert not ids["W-PUB-LATE"], n
    # correct citations: seed 0 (30号 with its title), seed 1 (60号 for 2020)
    assert not findings(audits[0], "W-TXT-CITE") and not findings(audits[1], "W-TXT-CITE")
    # the fee statements of seeds 2, 3, 4 are accepted
    for n in (2, 3, 4):
        assert not findings(audits[n], "W-TXT-FEE")


def test_every_finding_says_where(audits):
    for res in audits.values():
        for f in res.findings:
            assert f.locations, f
            assert f.message and f.message.endswith("。"), f.message


# --------------------------------------------------------------------------------------------
# the seeds as other pages would show them


def _text(seeds, n) -> str:
    return seeds[n].read_text(encoding="utf-8")


def test_table_errors_in_real_text_are_found(seeds):
    """Seed 0 with 3 new applications typed into the table: the balance fails and the text's
    “未收到过公开申请” now contradicts the table."""
    text = _text(seeds, 0)
    head = "一、本年新收政府信息公开申请数量\n\n0"
    assert head in text
    text = text.replace(head, "一、本年新收政府信息公开申请数量\n\n3", 1)
    res = audit_text(text, source="seed0-modified")
    ids = rule_counts(res)
    assert ids["E-T3-ROW"] == 1 and ids["E-T3-BAL"] == 1
    row = findings(res, "E-T3-ROW")[0]
    assert row.locations == ("三、表格第4行（一、本年新收政府信息公开申请数量）第7列（总计）",)
    appl = findings(res, "W-TXT-APPL")
    assert appl and "未收到过公开申请" in appl[0].message and "总计为 0 / 3" in appl[0].message


def test_full_width_punctuation_gives_the_same_data(seeds):
    text = _text(seeds, 3)
    wide = text.translate(str.maketrans({"(": "（", ")": "）", ":": "：", ",": "，", "0": "０"}))
    a, b = extract_text(text), extract_text(wide)
    cells = a.report.form.cells
    assert b.counts() == a.counts() and b.status == a.status
    assert {k: b.report.values[k] for k in cells} == {k: a.report.values[k] for k in cells}
    assert (b.report.unit_name, b.report.year, b.format_id, b.publish_date) == (
        a.report.unit_name,
        a.report.year,
        a.format_id,
        a.publish_date,
    )
    assert [li.found for li in b.label_issues] == ["现行有效件"]


def test_gb18030_file(seeds, tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes(_text(seeds, 2).encode("gb18030"))
    ex = extract_file(p)
    assert ex.report.unit_name == "额尔敦街道" and ex.report.values["s2.licensing.decisions"] == 8
    assert ex.counts()[READ] == 200


def _as_html(text: str, cell_edit=None) -> str:
    """A seed turned into a page: paragraphs as <p>, the table part as one <td> per cell."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    out = ["<html><head><title>x</title><script>var a='一、总体情况';</script></head><body>"]
    in_table = False
    for i, ln in enumerate(lines):
        if ln.startswith("二、主动公开"):
            in_table = True
            out.append(f"<h2>{ln}</h2><table><tr>")
            continue
        if ln.startswith("五、"):
            in_table = False
            out.append(f"</tr></table><h2>{ln}</h2>")
            continue
        if in_table:
            cell = cell_edit(i, ln) if cell_edit else ln
            out.append(f"<td>{cell}</td>")
        else:
            out.append(f"<p>{ln}</p>")
    out.append("</body></html>")
    return "\n".join(out)


def test_html_page_with_blank_and_slash_cells(seeds, tmp_path):
    text = _text(seeds, 0)
    zeros = []

    def edit(i, ln):
        if ln == "0":
            zeros.append(i)
            n = len(zeros)
            if n == 1:
                return "/"  # 规章·本年制发件数
            if n == 2:
                return "&nbsp;"  # 规章·本年废止件数: blank
        return ln

    p = tmp_path / "page.html"
    p.write_text(_as_html(text, edit), encoding="utf-8")
    ex = extract_file(p)
    assert ex.report.unit_name == "朗县仲达镇" and ex.format_id == "2021"
    assert ex.report.values["s2.regulation.issued"] == 0 and ex.status["s2.regulation.issued"] == READ
    assert "“/”视为 0" in ex.notes["s2.regulation.issued"]
    assert ex.status["s2.regulation.repealed"] == MISSING and ex.report.values["s2.regulation.repealed"] is None
    assert "空白" in ex.notes["s2.regulation.repealed"]
    assert ex.counts() == {READ: 199, MISSING: 1, AMBIGUOUS: 0}
    res = audit_file(p)
    ids = rule_counts(res)
    assert ids["W-EXT-SLASH"] == 1 and ids["W-EXT-BLANK"] == 1
    assert "二、表格第3行（规章）第2列（本年废止件数）" in findings(res, "W-EXT-BLANK")[0].message


def test_cells_run_together_when_unambiguous(seeds):
    text = _text(seeds, 0)
    block = "一、本年新收政府信息公开申请数量\n\n0\n\n0\n\n0\n\n0\n\n0\n\n0\n\n0\n"
    assert block in text
    ex = extract_text(text.replace(block, "一、本年新收政府信息公开申请数量0000000\n"))
    assert all(ex.status[f"s3.new.{c}"] == READ for c in ("natural", "total"))
    assert any("唯一拆分" in n for n in ex.notes["s3.new.natural"])
    # “1200” for the two cells of 2019's 行政事业性收费 row could be 1|200 or 120|0: not read
    t1 = _text(seeds, 1)
    ex1 = extract_text(t1.replace("行政事業(yè)性收費(fèi) |\n0 |\n0 | ||", "行政事業(yè)性收費(fèi) |\n1200 | ||"))
    assert ex1.status["s2.admin_fee.prev_items"] == AMBIGUOUS and ex1.report.values["s2.admin_fee.change"] is None


def test_a_missing_cell_elsewhere_is_never_shifted(seeds):
    """Seed 3 with one value of 「2.重复申请」 deleted: that row is ambiguous, its neighbours read."""
    text = _text(seeds, 3)
    head = "2.重复申请\n\n0\n\n"
    assert head in text
    ex = extract_text(text.replace(head, "2.重复申请\n\n", 1))
    assert {ex.status[f"s3.r5_2.{c}"] for c in ("natural", "total")} == {AMBIGUOUS}
    assert ex.status["s3.r5_1.total"] == READ and ex.status["s3.r5_3.natural"] == READ
    assert ex.counts()[AMBIGUOUS] == 7


def test_one_cell_per_line_and_one_row_per_line_agree(seeds):
    """Rows printed on one line (label, then the numbers separated by spaces or tabs)."""
    text = _text(seeds, 4)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    out, i = [], 0
    while i < len(lines):
        ln = lines[i]
        nums = []
        j = i + 1
        while j < len(lines) and re.fullmatch(r"\d+", lines[j].strip()):
            nums.append(lines[j].strip())
            j += 1
        if nums and not re.fullmatch(r"\d+", ln.strip()) and len(nums) in (1, 3, 6, 7):
            out.append(ln + "\t" + "\t".join(nums))
            i = j
        else:
            out.append(ln)
            i += 1
    a, b = extract_text(text), extract_text("\n".join(out))
    assert b.status == a.status and b.report.values == a.report.values
