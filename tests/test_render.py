"""The publishable report: golden files per format, read-back of every number, Word structure,
draft stamping, refusal, template override, escaping, aggregate, CLI, LibreOffice PDF.

Golden files live in tests/golden/render/.  They are only rewritten when the environment variable
GKXLSX_UPDATE_GOLDEN=1 is set; review the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.findings import Finding
from gkxlsx.form.model import load_form
from gkxlsx.form.report import Report
from gkxlsx.render import renderer as R
from gkxlsx.rules.engine import compute_derived
from gkxlsx.rules.evaluate import check

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "report_data"
GOLDEN = Path(__file__).resolve().parent / "golden" / "render"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
NUM = re.compile(r"^[+-]?\d+(\.\d+)?$")


def load(name: str = "cgz_chengguanzhen") -> Report:
    return R.load_report_json(DATA / f"{name}.json")


def expected_numbers(rep: Report) -> dict:
    """Every table cell's value, derived totals recomputed from the inputs."""
    vals = {k: rep.values[k] for k in rep.form.entry_keys}
    vals.update(compute_derived(rep.form, rep.values))
    return vals


def golden(name: str, text: str) -> None:
    p = GOLDEN / name
    if os.environ.get("GKXLSX_UPDATE_GOLDEN") == "1":
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    assert p.exists(), f"缺少 golden 文件 {p}：确认输出无误后用 GKXLSX_UPDATE_GOLDEN=1 生成"
    want = p.read_text(encoding="utf-8")
    if text != want:
        a, b = text.splitlines(), want.splitlines()
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        pytest.fail(
            f"{name} 与 golden 不同，第 {first + 1} 行：\n  得到：{a[first : first + 1]}\n  应为：{b[first : first + 1]}"
        )


# --------------------------------------------------------------------------------------------
# independent parsers used for read-back (they know the form's labels, not the renderer's grids)


class _Tables(HTMLParser):
    """Collects every <table> as a list of rows of (text, rowspan, colspan)."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row, self._text = [], None, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
            self.tables[-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = (int(a.get("rowspan", 1)), int(a.get("colspan", 1)))
            self._text = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell:
            self._row.append(("".join(self._text).strip(), *self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell:
            self._text.append(data)


def html_grids(html: str) -> list[list[list]]:
    """Each table as a full grid: grid[r][c] = (cell id, text, rowspan, colspan)."""
    p = _Tables()
    p.feed(html)
    grids = []
    for t in p.tables:
        occ: dict[tuple[int, int], tuple] = {}
        cid = 0
        for r, row in enumerate(t):
            c = 0
            for text, rs, cs in row:
                while (r, c) in occ:
                    c += 1
                for dr in range(rs):
                    for dc in range(cs):
                        occ[(r + dr, c + dc)] = (cid, text, rs, cs)
                cid += 1
                c += cs
        h = max(r for r, _ in occ) + 1
        w = max(c for _, c in occ) + 1
        grids.append([[occ.get((r, c)) for c in range(w)] for r in range(h)])
    return grids


def label_index(form) -> dict:
    out = {}
    for t in form.tables.values():
        for r in t.rows:
            for c in t.columns:
                out[(r.labels, c.labels)] = t.key(r, c)
    return out


def read_html_numbers(html: str, form) -> dict:
    """Numbers of every table, keyed by matching row/column label paths against the form."""
    idx = label_index(form)
    out = {}
    for g in html_grids(html):
        # split stacked sub-tables at caption rows (one cell across the whole width)
        blocks, cur = [], []
        for row in g:
            if (
                len({x[0] for x in row}) == 1
                and not NUM.match(row[0][1])
                and cur
                and any(NUM.match(x[1]) for rr in cur for x in rr)
            ):
                blocks.append(cur)
                cur = []
            cur.append(row)
        blocks.append(cur)
        for b in blocks:
            if len({x[0] for x in b[0]}) == 1:  # caption row
                b = b[1:]
            nhead = next(i for i, row in enumerate(b) if any(NUM.match(x[1]) for x in row))
            head, body = b[:nhead], b[nhead:]
            for row in body:
                seen = set()
                labels, cells = [], []
                for c, x in enumerate(row):
                    if NUM.match(x[1]):
                        if x[0] not in seen:
                            cells.append((c, x))
                    elif x[0] not in seen and x[1]:
                        labels.append(x[1])
                    seen.add(x[0])
                for c, x in cells:
                    col_ids = []
                    col = []
                    for hr in head:
                        if hr[c][0] not in col_ids:
                            col_ids.append(hr[c][0])
                            col.append(hr[c][1])
                    # the corner cell never covers a data column
                    key = idx[(tuple(labels), tuple(col))]
                    v = x[1]
                    out[key] = Decimal(v) if "." in v else int(v)
    return out


def read_text_numbers(text: str, form) -> dict:
    """The seed-shaped text: one cell per line; a row label is followed by that row's numbers."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    out = {}
    i = 0
    for s in form.sections:
        i = lines.index(s.title, i)
        for t in s.tables:
            labelled = {r.label: r for r in t.rows if r.label and not r.derived} | {
                r.label: r for r in t.rows if r.label and r.derived
            }
            if not labelled:  # section 四: headers, then one row of numbers
                while not NUM.match(lines[i]):
                    i += 1
                for c in t.columns:
                    out[t.key(t.rows[0], c)] = int(lines[i])
                    i += 1
                continue
            todo = list(t.rows)
            while todo:
                line = lines[i]
                i += 1
                r = labelled.get(line)
                if r is None or r not in todo:
                    continue
                todo.remove(r)
                for c in t.columns:
                    v = lines[i]
                    out[t.key(r, c)] = Decimal(v) if "." in v else int(v)
                    i += 1
    return out


def _extractor():
    try:
        from gkxlsx.published.extract import extract_text  # the published-report extractor, when it exists
    except ImportError:
        return None
    return extract_text


# --------------------------------------------------------------------------------------------
# golden files


@pytest.mark.parametrize("fmt,fn", [("html", R.render_html), ("md", R.render_markdown), ("txt", R.render_text)])
def test_golden_outputs(fmt, fn):
    golden(f"cgz_chengguanzhen.{fmt}", fn(load()))


def test_golden_word_body():
    parts = R.docx_parts(R.report_context(load()))
    golden("cgz_chengguanzhen.document.xml", parts["word/document.xml"].decode("utf-8"))


def test_docx_is_deterministic(tmp_path):
    a = R.render_docx(load(), tmp_path / "a.docx").read_bytes()
    b = R.render_docx(load(), tmp_path / "b.docx").read_bytes()
    assert a == b


# --------------------------------------------------------------------------------------------
# what is generated, never typed


def test_generated_title_preamble_period_citation_signoff():
    rep = load()
    txt = R.render_text(rep)
    assert txt.splitlines()[0] == "示例县城关镇人民政府2025年政府信息公开工作年度报告"
    assert "（国办公开办函〔2021〕30号）" in txt
    assert "《国务院办公厅政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》" in txt
    assert "2025年1月1日至2025年12月31日" in txt
    assert "60号" not in txt
    assert "（地址：示例县城关镇人民路1号，邮编：000100，电话：0000-6612345）" in txt
    assert txt.rstrip().endswith("示例县城关镇人民政府\n\n2026年1月20日")
    # the six canonical headings, in order
    pos = [txt.index(s.title) for s in rep.form.sections]
    assert pos == sorted(pos) and len(pos) == 6


def test_2019_format_cites_60hao_and_has_its_tables():
    form = load_form("2019")
    vals = {k: 0 for k in form.entry_keys}
    vals["s2.licensing.change"] = 5
    vals["s2.other_service.change"] = -45
    vals.update(
        {
            "s1.active": "主动公开情况。",
            "s1.on_request": "未收到申请。",
            "s1.management": "管理。",
            "s1.platform": "平台。",
            "s1.supervision": "监督。",
            "s5.problems": "问题。",
            "s5.improvements": "措施。",
        }
    )
    rep = Report(form, 2020, "示例县青石镇人民政府", "SLX002", "", vals)
    html = R.render_html(rep)
    assert "（国办公开办函〔2019〕60号）" in html and "30号" not in html
    assert "2020年1月1日至2020年12月31日" in html
    assert "信息处理费" not in html  # the 2019 format has no fee numbers
    assert "本年度无其他需要报告的事项。" in html
    g = html_grids(html)
    cells = {x[1]: x for row in g[1] for x in row}
    assert cells["三、本年度办理结果"][2] == 20  # 2019: rowspan 20
    assert cells["（六）其他处理"][3] == 2  # a single row merged over two label columns
    assert "+5" in html and "-45" in html  # 本年增/减 keeps its sign


@pytest.mark.parametrize(
    "n,amount,got,sentence",
    [
        (0, 0, 0, "本年度未发出政府信息公开信息处理费收费通知，未收取信息处理费。"),
        (
            3,
            Decimal("700"),
            400,
            "本年度依据《政府信息公开信息处理费管理办法》发出收费通知3件，通知金额700元，实际收取信息处理费400元。",
        ),
        (
            2,
            Decimal("250.5"),
            0,
            "本年度依据《政府信息公开信息处理费管理办法》发出收费通知2件，通知金额250.50元，未收取信息处理费。",
        ),
    ],
)
def test_fee_sentence_from_the_three_numbers(n, amount, got, sentence):
    rep = load()
    rep.values.update({"s6.fee_notices": n, "s6.fee_notice_amount": amount, "s6.fee_collected": got})
    assert sentence in R.render_text(rep, findings=[])


def test_subitems_numbered_without_gaps_and_empty_ones_omitted():
    txt = R.render_text(load("czj_caizhengju"))
    s5 = txt[txt.index("五、存在的主要问题及改进情况") : txt.index("六、其他需要报告的事项")]
    assert "（一）存在的主要问题" in s5 and "（二）改进措施" in s5  # 上年度整改 empty: not printed
    assert "上年度问题整改情况" not in s5
    s6 = txt[txt.index("六、其他需要报告的事项") :]
    assert "（一）信息处理费收取情况" in s6 and "（二）人大代表建议和政协提案办理结果公开情况" in s6
    assert "落实上级" not in s6 and "创新" not in s6
    s1 = txt[txt.index("一、总体情况") : txt.index("二、主动公开政府信息情况")]
    assert "（六）工作考核" not in s1  # a department has no 考核 item, and its blank is not printed


def test_section_six_with_only_the_fee_sentence_has_no_subheading():
    rep = load()
    rep.values["s6.superior_points"] = ""
    txt = R.render_text(rep, findings=[])
    s6 = txt[txt.index("六、其他需要报告的事项") :]
    assert "（一）" not in s6
    assert "本年度未发出政府信息公开信息处理费收费通知，未收取信息处理费。" in s6


def test_paragraph_breaks_kept():
    rep = load()
    html = R.render_html(rep)
    assert "<p>一是部分重点领域信息更新不够及时，个别惠民补贴信息公开滞后。</p>\n<p>二是依申请公开答复文书" in html
    xml = R.docx_parts(R.report_context(rep))["word/document.xml"].decode()
    assert (
        '<w:t xml:space="preserve">一是部分重点领域信息更新不够及时，个别惠民补贴信息公开滞后。</w:t></w:r></w:p>'
        in xml
    )


def test_amounts_printed_as_entered():
    rep = load("czj_caizhengju")
    html = R.render_html(rep)
    assert 'data-key="s2.admin_fee.amount_wan">3.25<' in html
    rep.values["s2.admin_fee.amount_wan"] = Decimal("12.50")
    assert 'data-key="s2.admin_fee.amount_wan">12.5<' in R.render_html(rep)


# --------------------------------------------------------------------------------------------
# tables: official merges and read-back


def test_html_tables_have_the_official_merges():
    g = html_grids(R.render_html(load()))
    assert len(g) == 3
    s2, s3, s4 = g
    # section 二: four sub-tables stacked in one 4-column grid, captions across all columns
    assert len(s2[0]) == 4 and s2[0][0][1] == "第二十条第（一）项" and s2[0][0][3] == 4
    assert [x[1] for x in s2[1]] == ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"]
    decisions = [row for row in s2 if row[1][1] == "本年处理决定数量"]
    assert decisions and all(row[1][3] == 3 for row in decisions)
    # section 三: corner A1:C3, 申请人情况 D1:J1, 总计 J2:J3, group rowspan 22 / 8 / 3 / 5 / 3
    assert len(s3) == 28 and len(s3[0]) == 10
    assert s3[0][0][1].startswith("（本列数据的勾稽关系为") and s3[0][0][2:] == (3, 3)
    assert s3[0][3][1] == "申请人情况" and s3[0][3][3] == 7
    assert s3[1][3][1] == "自然人" and s3[1][3][2] == 2
    assert s3[1][4][1] == "法人或其他组织" and s3[1][4][3] == 5
    assert s3[1][9][1] == "总计" and s3[1][9][2] == 2
    assert s3[5][0][1] == "三、本年度办理结果" and s3[5][0][2] == 22
    spans = {s3[r][1][1]: s3[r][1][2] for r in range(5, 27)}
    assert spans["（三）不予公开"] == 8 and spans["（四）无法提供"] == 3
    assert spans["（五）不予处理"] == 5 and spans["（六）其他处理"] == 3
    assert s3[3][0][1] == "一、本年新收政府信息公开申请数量" and s3[3][0][3] == 3
    assert "法人或其他组织小计" not in {x[1] for row in s3 for x in row}
    # section 四: no label column; 行政复议 A1:E1, 行政诉讼 F1:O1, leaves of 复议 span rows 2–3
    assert len(s4) == 4 and len(s4[0]) == 15
    assert s4[0][0][1] == "行政复议" and s4[0][0][3] == 5
    assert s4[0][5][1] == "行政诉讼" and s4[0][5][3] == 10
    assert s4[1][0][1] == "结果维持" and s4[1][0][2] == 2
    assert s4[1][5][1] == "未经复议直接起诉" and s4[1][10][1] == "复议后起诉"


@pytest.mark.parametrize("name", ["cgz_chengguanzhen", "czj_caizhengju", "xzf_renminzhengfu"])
def test_numbers_read_back_from_html_and_text(name):
    rep = load(name)
    want = expected_numbers(rep)
    got_html = read_html_numbers(R.render_html(rep), rep.form)
    assert got_html == want
    text = R.render_text(rep)
    extract = _extractor()
    if extract is not None:
        got_text = {k: v for k, v in extract(text).report.values.items() if k in rep.form.cells}
    else:
        got_text = read_text_numbers(text, rep.form)
    assert got_text == want


def test_read_back_detects_a_changed_number():
    """The read-back is not vacuous: a different number in the data shows up as a difference."""
    rep = load()
    rep.values["s3.new.natural"] = 9
    rep.values["s3.carried_out.natural"] = 2
    got = read_html_numbers(R.render_html(rep), rep.form)
    assert got["s3.new.natural"] == 9 and got["s3.new.total"] == 10
    assert got != expected_numbers(load())


def test_markdown_tables_have_full_label_paths():
    md = R.render_markdown(load())
    assert "| 三、本年度办理结果·（三）不予公开·4.保护第三方合法权益 | 1 | 0 | 0 | 0 | 0 | 0 | 1 |" in md
    assert "| 行政复议·结果维持 |" in md
    assert "**第二十条第（八）项**" in md


# --------------------------------------------------------------------------------------------
# Word structure


def _docx(rep, tmp_path, **kw) -> zipfile.ZipFile:
    p = R.render_docx(rep, tmp_path / "r.docx", **kw)
    return zipfile.ZipFile(p)


def test_docx_page_fonts_and_page_numbers(tmp_path):
    z = _docx(load(), tmp_path)
    doc = ET.fromstring(z.read("word/document.xml"))
    sect = doc.find(f"{W}body/{W}sectPr")
    sz = sect.find(f"{W}pgSz")
    assert (sz.get(f"{W}w"), sz.get(f"{W}h")) == ("11906", "16838")  # A4
    mar = sect.find(f"{W}pgMar")
    mm = {k: round(int(mar.get(f"{W}{k}")) * 25.4 / 1440) for k in ("top", "bottom", "left", "right")}
    assert mm == {"top": 37, "bottom": 35, "left": 28, "right": 26}
    styles = ET.fromstring(z.read("word/styles.xml"))

    def style(sid):
        s = next(x for x in styles.findall(f"{W}style") if x.get(f"{W}styleId") == sid)
        rf = s.find(f"{W}rPr/{W}rFonts")
        szv = s.find(f"{W}rPr/{W}sz")
        return (rf.get(f"{W}eastAsia") if rf is not None else None, szv.get(f"{W}val") if szv is not None else None)

    assert style("Title") == ("方正小标宋简体", "44")
    assert style("Heading1")[0] == "黑体"
    assert style("Heading2")[0] == "楷体_GB2312"
    defaults = styles.find(f"{W}docDefaults/{W}rPrDefault/{W}rPr")
    assert defaults.find(f"{W}rFonts").get(f"{W}eastAsia") == "仿宋_GB2312"
    assert defaults.find(f"{W}sz").get(f"{W}val") == "32"  # 三号
    fonts = z.read("word/fontTable.xml").decode()
    assert '<w:font w:name="仿宋_GB2312"><w:altName w:val="仿宋"/>' in fonts
    assert '<w:font w:name="方正小标宋简体"><w:altName w:val="宋体"/>' in fonts
    titles = [
        p
        for p in doc.iter(f"{W}p")
        if (p.find(f"{W}pPr/{W}pStyle") is not None and p.find(f"{W}pPr/{W}pStyle").get(f"{W}val") == "Title")
    ]
    assert "".join(t.text for t in titles[0].iter(f"{W}t")) == "示例县城关镇人民政府2025年政府信息公开工作年度报告"
    h1 = [
        "".join(t.text for t in p.iter(f"{W}t"))
        for p in doc.iter(f"{W}p")
        if p.find(f"{W}pPr/{W}pStyle") is not None and p.find(f"{W}pPr/{W}pStyle").get(f"{W}val") == "Heading1"
    ]
    assert h1 == [s.title for s in load().form.sections]
    for part in ("word/footer1.xml", "word/footer2.xml"):
        ftr = z.read(part).decode()
        assert '<w:instrText xml:space="preserve"> PAGE </w:instrText>' in ftr
        assert "— </w:t>" in ftr and "> —</w:t>" in ftr
    assert "<w:evenAndOddHeaders/>" in z.read("word/settings.xml").decode()
    assert "word/header1.xml" not in z.namelist()  # no draft header in a formal report


def _tables(z):
    doc = ET.fromstring(z.read("word/document.xml"))
    return doc.findall(f".//{W}tbl")


def _row_cells(tr):
    out = []
    for tc in tr.findall(f"{W}tc"):
        pr = tc.find(f"{W}tcPr")
        gs = pr.find(f"{W}gridSpan")
        vm = pr.find(f"{W}vMerge")
        text = "".join(t.text or "" for t in tc.iter(f"{W}t"))
        out.append(
            (
                text,
                int(gs.get(f"{W}val")) if gs is not None else 1,
                None if vm is None else (vm.get(f"{W}val") or "continue"),
            )
        )
    return out


def test_docx_tables_have_real_merges_and_repeated_headers(tmp_path):
    z = _docx(load(), tmp_path)
    tbls = _tables(z)
    assert len(tbls) == 3
    s2, s3, s4 = tbls
    # every row of every table covers the whole grid
    for t in tbls:
        ncols = len(t.findall(f"{W}tblGrid/{W}gridCol"))
        for tr in t.findall(f"{W}tr"):
            assert sum(c[1] for c in _row_cells(tr)) == ncols
            assert tr.find(f"{W}trPr/{W}cantSplit") is not None
    rows = s3.findall(f"{W}tr")
    assert len(rows) == 28
    header = [tr.find(f"{W}trPr/{W}tblHeader") is not None for tr in rows]
    assert header == [True] * 3 + [False] * 25
    first = _row_cells(rows[0])
    assert first[0][0].startswith("（本列数据的勾稽关系为") and first[0][1:] == (3, "restart")
    assert first[1] == ("申请人情况", 7, None)
    group = [(_row_cells(tr)[0]) for tr in rows[5:27]]
    assert group[0] == ("三、本年度办理结果", 1, "restart")
    assert all(c == ("", 1, "continue") for c in group[1:])
    assert _row_cells(rows[28 - 1])[0] == ("四、结转下年度继续办理", 3, None)
    assert _row_cells(rows[3])[1:] == [(x, 1, None) for x in ("8", "1", "0", "0", "0", "0", "9")]
    h4 = _row_cells(s4.findall(f"{W}tr")[0])
    assert h4[0] == ("行政复议", 5, None) and h4[1] == ("行政诉讼", 10, None)
    assert [tr.find(f"{W}trPr/{W}tblHeader") is not None for tr in s4.findall(f"{W}tr")] == [True, True, True, False]
    assert s2.find(f"{W}tr/{W}trPr/{W}tblHeader") is None  # stacked sub-tables: nothing to repeat
    assert _row_cells(s2.findall(f"{W}tr")[0]) == [("第二十条第（一）项", 4, None)]


def test_docx_parts_are_well_formed(tmp_path):
    z = _docx(load("xzf_renminzhengfu"), tmp_path, draft=True)
    ct = z.read("[Content_Types].xml").decode()
    for name in z.namelist():
        if name.endswith(".xml") or name.endswith(".rels"):
            ET.fromstring(z.read(name))  # raises on malformed XML
        if name.startswith("word/") and name.endswith(".xml"):
            assert f'PartName="/{name}"' in ct
    rels = z.read("word/_rels/document.xml.rels").decode()
    doc = z.read("word/document.xml").decode()
    for rid in re.findall(r'r:id="([^"]+)"', doc):
        assert f'Id="{rid}"' in rels


# --------------------------------------------------------------------------------------------
# validation gate: refusal and drafts


def broken() -> Report:
    rep = load("czj_caizhengju")
    rep.values["s3.new.natural"] = 15  # column 自然人 no longer balances
    return rep


def test_refuses_data_with_errors_and_names_the_finding(tmp_path):
    with pytest.raises(R.RenderRefused) as e:
        R.render_files(broken(), "html,docx,txt", tmp_path / "out")
    msg = str(e.value)
    assert "E-T3-BAL" in msg and "「自然人」列不平衡" in msg and "相差 1" in msg
    assert "--draft" in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    for fn in (R.render_html, R.render_text, R.render_markdown):
        with pytest.raises(R.RenderRefused):
            fn(broken())


def test_refuses_blank_cells_and_missing_required_text():
    rep = load()
    del rep.values["s3.r1_open.research"]
    rep.values["s5.problems"] = "  \n "
    with pytest.raises(R.RenderRefused) as e:
        R.render_html(rep)
    msg = str(e.value)
    assert "“（一）予以公开·科研机构”没有填写数字" in msg
    assert "“（一）存在的主要问题”没有填写" in msg


def test_given_findings_are_used_and_warnings_do_not_block():
    rep = load()
    warn = Finding(rule_id="W-T2-INFORCE", severity="warning", message="提示而已。")
    assert "示例县城关镇人民政府" in R.render_text(rep, findings=[warn])
    err = Finding(rule_id="E-TEST", severity="error", message="导入时发现的错误。")
    with pytest.raises(R.RenderRefused, match="E-TEST"):
        R.render_text(rep, findings=[err])


def test_draft_stamps_every_format(tmp_path):
    files = R.render_files(broken(), "html,md,txt,docx", tmp_path, draft=True)
    assert all("_草稿." in f.name for f in files)
    html, md, txt = (f.read_text(encoding="utf-8") for f in files[:3])
    assert '<div class="draft-mark" aria-hidden="true">草稿</div>' in html
    assert "<title>示例县财政局2025年政府信息公开工作年度报告（草稿）</title>" in html
    assert "「自然人」列不平衡" in html and "「自然人」列不平衡" in txt
    assert txt.startswith("【草稿】") and txt.rstrip().endswith("【草稿】")
    assert md.startswith("> **草稿**")
    z = zipfile.ZipFile(files[3])
    doc = z.read("word/document.xml").decode()
    assert 'r:id="rIdHeaderOdd"' in doc and 'r:id="rIdHeaderEven"' in doc
    for h in ("word/header1.xml", "word/header2.xml"):
        hdr = z.read(h).decode()
        assert 'string="草稿"' in hdr and "PowerPlusWaterMarkObject" in hdr and "<w:t>草稿</w:t>" in hdr


def test_draft_shows_blank_cells_as_to_be_filled():
    rep = load()
    del rep.values["s4.review.upheld"]
    html = R.render_html(rep, draft=True)
    assert 'class="n blank" data-key="s4.review.upheld">待填<' in html
    assert 'data-key="s4.review.total">待填<' in html  # its total cannot be computed


# --------------------------------------------------------------------------------------------
# escaping, templates, filters


def test_narrative_is_escaped_in_html_markdown_and_word():
    rep = load()
    rep.values["s1.platform"] = '网站<script>alert("x")</script>改版 & 上线'
    html = R.render_html(rep)
    assert "<script>" not in html
    assert "网站&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;改版 &amp; 上线" in html
    md = R.render_markdown(rep)
    assert "<script>" not in md and r"\<script\>" in md
    xml = R.docx_parts(R.report_context(rep))["word/document.xml"]
    ET.fromstring(xml)
    assert "网站&lt;script&gt;" in xml.decode()


def test_user_template_overrides_a_heading(tmp_path):
    builtin = R.builtin_templates_dir() / "report.html.j2"
    custom = tmp_path / "tpl"
    custom.mkdir()
    src = builtin.read_text(encoding="utf-8")
    assert "<h2>{{ s.title }}</h2>" in src
    (custom / "report.html.j2").write_text(
        src.replace("<h2>{{ s.title }}</h2>", '<h2 class="mine">第{{ s.n }}部分 {{ s.title }}</h2>'), encoding="utf-8"
    )
    (custom / "report.txt.j2").write_text(
        "{{ title }}\n自定义：{% for s in sections %}{{ s.title }}；{% endfor %}\n", encoding="utf-8"
    )
    rep = load()
    html = R.render_html(rep, templates=custom)
    assert '<h2 class="mine">第3部分 三、收到和处理政府信息公开申请情况</h2>' in html
    assert "自定义：一、总体情况；" in R.render_text(rep, templates=custom)
    # templates not in the user's folder still come from the package
    assert R.render_markdown(rep, templates=custom) == R.render_markdown(rep)
    # and the default output is unchanged
    assert '<h2 class="mine">' not in R.render_html(rep)


def test_broken_user_template_gives_a_chinese_error(tmp_path):
    (tmp_path / "report.html.j2").write_text("{% for x in %}", encoding="utf-8")
    with pytest.raises(R.RenderError, match="第 1 行有语法错误"):
        R.render_html(load(), templates=tmp_path)
    with pytest.raises(R.RenderError, match="模板目录不存在"):
        R.render_html(load(), templates=tmp_path / "nope")


@pytest.mark.parametrize(
    "fn,value,want",
    [
        (R.zh_date, "2026-01-15", "2026年1月15日"),
        (R.zh_date, "2026/3/5", "2026年3月5日"),
        (R.wan, Decimal("0.2500"), "0.25"),
        (R.wan, Decimal("12.000"), "12"),
        (R.wan, 3, "3"),
        (R.thousands, 1234567, "1,234,567"),
        (R.thousands, Decimal("1234.5"), "1,234.5"),
        (R.yuan, 400, "400"),
        (R.yuan, Decimal("250.5"), "250.50"),
    ],
)
def test_filters(fn, value, want):
    assert fn(value) == want


def test_missing_report_date_leaves_a_blank_date_line():
    rep = load()
    del rep.values["meta.report_date"]
    txt = R.render_text(rep)
    assert txt.rstrip().endswith("示例县城关镇人民政府\n\n\u3000\u3000年\u3000\u3000月\u3000\u3000日")


# --------------------------------------------------------------------------------------------
# aggregate


def _aggregate_report() -> Report:
    reps = [load(n) for n in ("cgz_chengguanzhen", "czj_caizhengju", "xzf_renminzhengfu")]
    form = reps[0].form
    keys = list(form.entry_keys) + ["s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected"]
    vals = {k: sum(r.values[k] for r in reps) for k in keys}
    return Report(form, 2025, "示例县", "", "", vals, source="aggregate:test")


def test_aggregate_report_is_the_areas_with_the_offices_text_and_no_internal_lists():
    rep = _aggregate_report()
    info = {
        "expected": 5,
        "included": ["甲", "乙", "丙"],
        "missing": [{"unit": "示例县教育局", "reason": "未报送"}, {"unit": "示例县白河乡人民政府", "reason": "未报送"}],
        "office": "示例县人民政府办公室",
        "units": 3,
        "types": "乡镇、县级部门和县级政府",
    }
    # numbers only: the office has not written its part yet — no formal report, a draft saying why
    with pytest.raises(R.RenderRefused, match="E-CELL-EMPTY"):
        R.render_text(rep, aggregate=info)
    draft = R.render_text(rep, aggregate=info, draft=True)
    assert "本年度纳入汇总的单位共新收政府信息公开申请66件" in draft  # 9 + 22 + 35, section 一 from the figures
    # the office's own words (its narrative file) make it publishable
    words = {k: v for k, v in load("xzf_renminzhengfu").values.items() if k.startswith(("s1.", "s5.", "s6.o", "s6.s"))}
    words.update({"s1.on_request": "全县依申请公开工作规范有序。", "meta.contact_phone": "0000-1234567"})
    rep.values.update(words)
    txt = R.render_text(rep, aggregate=info)
    assert txt.startswith("示例县2025年政府信息公开工作年度报告")  # the area's report, not the office's
    assert "本报告由示例县人民政府办公室根据示例县3个乡镇、县级部门和县级政府报送的2025年" in txt
    assert "请与示例县人民政府办公室联系" in txt and txt.rstrip().splitlines()[-3] == "示例县人民政府办公室"
    assert "本年度示例县各单位新收政府信息公开申请66件" in txt  # sentences made from the figures
    for internal in ("示例县教育局", "白河乡", "5个单位中", "未报送", "各单位的具体情况见其"):
        assert internal not in txt, internal
    assert "发出收费通知3件，通知金额700元，实际收取信息处理费400元。" in txt
    got = read_text_numbers(txt, rep.form)
    assert got["s3.new.total"] == 66 and got["s4.review.total"] == 1 + 2 + 4


# --------------------------------------------------------------------------------------------
# data files and CLI


runner = CliRunner()


def test_cli_renders_data_files(tmp_path):
    r = runner.invoke(
        app, ["render", "--data", str(DATA / "czj_caizhengju.json"), "--to", "html,md,txt,docx", "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in tmp_path.iterdir())
    base = "SLX101_示例县财政局_2025年政府信息公开工作年度报告"
    assert names == sorted(f"{base}.{e}" for e in ("html", "md", "txt", "docx"))
    assert f"已生成 {tmp_path / (base + '.html')}" in r.output


def test_cli_template_override(tmp_path):
    custom = tmp_path / "tpl"
    custom.mkdir()
    src = (R.builtin_templates_dir() / "report.txt.j2").read_text(encoding="utf-8")
    (custom / "report.txt.j2").write_text(src.replace("{{ s.title }}\n", "【{{ s.title }}】\n"), encoding="utf-8")
    r = runner.invoke(
        app,
        [
            "render",
            "-d",
            str(DATA / "cgz_chengguanzhen.json"),
            "--to",
            "txt",
            "-o",
            str(tmp_path / "o"),
            "--templates",
            str(custom),
        ],
    )
    assert r.exit_code == 0, r.output
    txt = next((tmp_path / "o").iterdir()).read_text(encoding="utf-8")
    assert "\n【四、政府信息公开行政复议、行政诉讼情况】\n" in txt


def test_cli_refuses_and_drafts(tmp_path):
    data = json.loads((DATA / "czj_caizhengju.json").read_text(encoding="utf-8"))
    data["values"]["s3.new.natural"] = 15
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    r = runner.invoke(app, ["render", "-d", str(f), "--to", "html", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1
    assert "不能生成正式报告" in r.output and "E-T3-BAL" in r.output
    r = runner.invoke(app, ["render", "-d", str(f), "--to", "html", "-o", str(tmp_path / "o"), "--draft"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "o").iterdir()] == [
        "SLX101_示例县财政局_2025年政府信息公开工作年度报告_草稿.html"
    ]


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "不是有效的 JSON（第 1 行"),
        ('{"year": 2025, "unit": {"name": "甲"}, "values": {"s3.nwe.natural": 1}}', "没有的项：s3.nwe.natural"),
        ('{"year": 2025, "unit": {"name": "甲"}, "values": {"s3.new.natural": "3件"}}', "应为数字，现为“3件”"),
        ('{"unit": {"name": "甲"}, "values": {}}', "缺少有效的报告年度"),
        ('{"year": 2025, "format": "2019", "unit": {"name": "甲"}, "values": {}}', "2025 年度的报告不能使用 2019 格式"),
    ],
)
def test_cli_bad_data_file_messages(tmp_path, content, message):
    f = tmp_path / "x.json"
    f.write_text(content, encoding="utf-8")
    r = runner.invoke(app, ["render", "-d", str(f), "-o", str(tmp_path / "o")])
    assert r.exit_code == 1
    assert message in r.output and str(f) in r.output
    assert "Traceback" not in r.output


def test_cli_needs_a_source_or_a_campaign(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["render", "SLX001"])
    assert r.exit_code == 2 and "需要在收集任务目录中运行" in r.output
    r = runner.invoke(app, ["render"])
    assert r.exit_code == 2 and "--data" in r.output
    r = runner.invoke(app, ["render", "-d", str(DATA / "cgz_chengguanzhen.json"), "--to", "html,odt"])
    assert r.exit_code == 2 and "不支持的输出格式“odt”" in r.output


def test_cli_renders_from_a_campaign(tmp_path):
    campaign = pytest.importorskip("gkxlsx.campaign.campaign")
    from gkxlsx.campaign.ledger import STATUS_ERR, STATUS_PASS, STATUS_WARN, NewSubmission, Received
    from gkxlsx.demo.demo import example_roster

    camp = campaign.init_campaign(tmp_path / "c", year=2025, roster=example_roster(), office="示例县人民政府办公室")
    good = load("cgz_chengguanzhen").values
    bad = dict(load("czj_caizhengju").values)
    bad["s3.new.natural"] = 15
    fin = check(load("czj_caizhengju").form, bad)
    for i, (code, status, vals, findings) in enumerate(
        [
            ("SLX001", STATUS_PASS, good, []),
            ("SLX101", STATUS_ERR, bad, [f.to_dict() for f in fin]),
            (
                "SLX102",
                STATUS_WARN,
                load("xzf_renminzhengfu").values,
                [{"rule": "W-T2-INFORCE", "severity": "warning", "message": "警告。"}],
            ),
        ]
    ):
        camp.ledger.record(
            NewSubmission(
                Received(
                    sha=f"{i:064d}",
                    archive_path=tmp_path / f"{i}.xlsx",
                    filename=f"{i}.xlsx",
                    source="测试",
                    received_at="2026-01-10T09:00:00",
                ),
                unit_code=code,
                application="test",
                format="2021",
                year=2025,
                status=status,
                findings=findings,
                values=vals,
            )
        )
    camp.close()
    c = str(tmp_path / "c")
    r = runner.invoke(app, ["render", "SLX001", "-C", c, "--to", "html,txt"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "c" / "报告"
    assert (out / "SLX001_示例县城关镇人民政府_2025年政府信息公开工作年度报告.html").exists()
    r = runner.invoke(app, ["render", "--all", "-C", c, "--to", "txt", "-o", str(tmp_path / "all")])
    assert r.exit_code == 1
    assert "E-T3-BAL" in r.output  # 财政局: errors recorded at import
    assert "W-NOT-ACCEPTED" in r.output and "gkxlsx accept SLX102" in r.output  # warnings not confirmed
    assert "跳过 示例县青石镇人民政府（SLX002）：尚未报送" in r.output
    assert [p.name for p in (tmp_path / "all").iterdir()] == [
        "SLX001_示例县城关镇人民政府_2025年政府信息公开工作年度报告.txt"
    ]
    r = runner.invoke(app, ["render", "--aggregate", "-C", c, "--to", "txt", "-o", str(tmp_path / "agg")])
    assert r.exit_code == 1 and "E-CELL-EMPTY" in r.output  # the office's own text is not written yet
    assert "汇总报告文字.txt" in r.output  # and the message says where it is written
    r = runner.invoke(app, ["render", "--aggregate", "--draft", "-C", c, "--to", "txt", "-o", str(tmp_path / "agg")])
    assert r.exit_code == 0, r.output
    [f] = (tmp_path / "agg").iterdir()
    assert f.name == "示例县_2025年政府信息公开工作年度报告_草稿.txt"  # titled after the area, not the office
    txt = f.read_text(encoding="utf-8")
    assert "\n示例县2025年政府信息公开工作年度报告\n" in txt
    assert "个单位中的1个单位的数据" not in txt and "示例县财政局（" not in txt  # internal lists stay internal


# --------------------------------------------------------------------------------------------
# LibreOffice


def _require_libreoffice():
    try:
        from gkxlsx.office import lo
    except ImportError:
        if shutil.which("soffice") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("CI 上必须有 LibreOffice")
            pytest.skip("没有 LibreOffice")
        return
    lo.require_writer_or_skip()  # the report's PDF is converted from its Word document by Writer


@pytest.mark.lo
def test_docx_converts_to_pdf_with_libreoffice(tmp_path):
    _require_libreoffice()
    files = R.render_files(load(), "docx,pdf", tmp_path)
    pdf = files[1]
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:" in info and int(re.search(r"Pages:\s+(\d+)", info)[1]) >= 3
    assert re.search(r"Page size:\s+595(\.\d+)? x 841(\.\d+)? pts \(A4\)", info)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    assert "示例县城关镇人民政府2025年政府信息公开工作年度报告" in flat
    assert "三、收到和处理政府信息公开申请情况" in flat and "1.属于国家秘密" in flat
    assert "—1—" in flat and "—2—" in flat  # page numbers in the footer
