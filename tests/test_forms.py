"""The form definitions against docs/FORMAT.md, the rule engine on hand-made data, variants, bad form
files, and the ``gkxlsx forms`` commands.

Expected labels, merges and counts are read from docs/FORMAT.md itself at test time (the §2 heading
block, the §3.1 grid, the §3.2 header/body tables, the §3.3 grid, the §3.5 machine-readable block,
the §4.1 table, the §8 counts), so a drift between the spec and the form data fails here.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gkxlsx.cli import app
from gkxlsx.form.describe import describe_form, export_form
from gkxlsx.form.layout import expected_formulas, layout
from gkxlsx.form.model import FormError, builtin_form_ids, form_for_year, load_form
from gkxlsx.rules.engine import INCOMPLETE, NOT_APPLICABLE, PASS
from gkxlsx.rules.evaluate import check, evaluate_all
from gkxlsx.rules.interpret import when_holds
from gkxlsx.rules.parser import parse_expr
from gkxlsx.rules.text import requirement_zh, rule_text, when_zh

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# docs/FORMAT.md access and parsing

FORMAT_MD = REPO / "docs" / "FORMAT.md"


@pytest.fixture(scope="module")
def md() -> str:
    return FORMAT_MD.read_text(encoding="utf-8")


def md_section(md: str, heading: str) -> str:
    """Text under the markdown heading that starts with ``heading`` up to the next heading of the
    same or a higher level."""
    lines = md.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and m.group(2).startswith(heading):
            level = len(m.group(1))
            body = []
            for nxt in lines[i + 1 :]:
                m2 = re.match(r"(#+) ", nxt)
                if m2 and len(m2.group(1)) <= level:
                    break
                body.append(nxt)
            return "\n".join(body)
    raise AssertionError(f"docs/FORMAT.md has no heading starting with {heading!r}")


def table_rows(text: str) -> list[list[str]]:
    """Cells of the markdown table rows of ``text`` (header and separator rows included)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            out.append([c.strip() for c in line[1:-1].split("|")])
    return out


def ticks(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, re.S)


COLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def col_range(a: str, b: str, row: int) -> str:
    return f"{a}{row}" if a == b else f"{a}{row}:{b}{row}"


def parse_grid_21_s2(md: str) -> tuple[dict[str, str], set[str]]:
    """§3.1: {range: label} of every label box and the set of entry ranges of section 二."""
    labels: dict[str, str] = {}
    entries: set[str] = set()
    for cells in table_rows(md_section(md, "3.1 ")):
        if not cells[0].isdigit():
            continue
        n = int(cells[0])
        for j, cell in enumerate(cells[1:5]):
            col = COLS[j]
            merged = re.search(r"\(merged ([A-Z]):([A-Z])\)", cell)
            rng = col_range(merged.group(1), merged.group(2), n) if merged else f"{col}{n}"
            if cell.startswith("`"):
                labels[rng] = ticks(cell)[0]
            elif cell.startswith("E "):
                entries.add(rng)
    return labels, entries


def parse_s3_header(md: str) -> dict[str, str]:
    """§3.2 “Header rows 1–3”: {range: label}."""
    out: dict[str, str] = {}
    text = md_section(md, "3.2 ")
    for cells in table_rows(text):
        if len(cells) != 2 or not ticks(cells[1]):
            continue
        refs = [r.replace(" merged", "").strip() for r in cells[0].split(",")]
        labs = ticks(cells[1])
        if not re.fullmatch(r"[A-Z]+\d+(:[A-Z]+\d+)?", refs[0]):
            continue
        assert len(refs) == len(labs), cells
        out.update(zip(refs, labs))
    return out


def parse_s3_body(md: str) -> list[dict]:
    """§3.2 “Body rows 4–28”: per grid row: labels {range: label}, entry cols, derived cols."""
    out = []
    for cells in table_rows(md_section(md, "3.2 ")):
        if len(cells) != 6 or not cells[0].isdigit():
            continue
        n = int(cells[0])
        labels = {}
        for j, cell in enumerate(cells[1:4]):
            col = COLS[j]
            if not cell.startswith("`"):
                continue
            lab = ticks(cell)[0]
            ann = re.search(r"`\s*\(([^)]*)\)\s*$", cell)
            if not ann:
                labels[f"{col}{n}"] = lab
                continue
            a = ann.group(1).split(",")[0].strip()
            if re.fullmatch(r"[A-Z]:[A-Z]", a):
                labels[col_range(a[0], a[2], n)] = lab
            else:
                assert re.fullmatch(r"[A-Z]\d+:[A-Z]\d+", a), a
                labels[a] = lab
        data = cells[4]
        entry = [c for c in "DEFGHI"] if data == "E" else []
        derived = [c for c in "DEFGHI"] if data.startswith("D") else []
        if cells[5] == "D":
            derived.append("J")
        out.append({"n": n, "labels": labels, "entry": entry, "derived": derived})
    return out


def parse_s4_grid(md: str) -> tuple[dict[str, str], set[str], set[str]]:
    """§3.3: ({range: label}, entry cells, derived cells) of section 四."""
    rows = table_rows(md_section(md, "3.3 "))
    head = rows[0]
    blocks = []
    for h in head[1:]:
        a, b = re.split(r"[–-]", h)
        blocks.append((COLS.index(a), COLS.index(b)))
    labels: dict[str, str] = {}
    entry: set[str] = set()
    derived: set[str] = set()
    for cells in rows[1:]:
        if not cells[0].isdigit():
            continue
        n = int(cells[0])
        for (c0, _c1), cell in zip(blocks, cells[1:]):
            labs = ticks(cell)
            explicit = re.search(r"\(([A-Z]\d+:[A-Z]\d+)\)", cell)
            if labs and explicit:
                labels[explicit.group(1)] = labs[0]
            elif labs and "each merged rows 2–3" in cell:
                for k, lab in enumerate(labs):
                    labels[f"{COLS[c0 + k]}2:{COLS[c0 + k]}3"] = lab
            elif labs:
                for k, lab in enumerate(labs):
                    labels[f"{COLS[c0 + k]}{n}"] = lab
            elif re.fullmatch(r"(E|\*\*D\*\*)(, (E|\*\*D\*\*))*", cell):
                for k, tok in enumerate(cell.split(", ")):
                    (derived if "D" in tok else entry).add(f"{COLS[c0 + k]}{n}")
    return labels, entry, derived


def parse_machine_block(md: str) -> dict:
    """§3.5: the yaml-like canonical definition, parsed by pattern (it is not strict YAML)."""
    block = code_blocks(md_section(md, "3.5 "))[0]
    pairs = lambda s: dict(re.findall(r'(\w+): "([^"]*)"', s))  # noqa: E731
    out: dict = {
        "sections": [(int(n), t, k) for n, t, k in re.findall(r'\{n: (\d), title: "([^"]+)", kind: (\w+)\}', block)]
    }
    sec2_text = block.split("sec2:")[1].split("sec3:")[0]
    sec2 = {}
    for tid, body in re.findall(r"^  (a20_\d+): \{(.*?)(?=^  a20_|\Z)", sec2_text, re.S | re.M):
        sec2[tid] = {
            "caption": re.search(r'caption: "([^"]+)"', body).group(1),
            "head": (re.search(r'head: "([^"]+)"', body) or [None, None])[1],
            "cols": pairs(re.search(r"cols: \{([^}]*)\}", body).group(1)),
            "rows": pairs(re.search(r"rows: \{([^}]*)\}", body).group(1)),
            "type": re.search(r"type: (\w+)", body.split("rows:")[1]).group(1),
        }
    out["sec2"] = sec2
    sec3_text = block.split("sec3:")[1].split("sec4:")[0]
    s3: dict = {"note": re.search(r'note: "([^"]+)"', sec3_text).group(1)}
    s3["cols"] = pairs(re.search(r"cols: \{([^}]*)\}", sec3_text, re.S).group(1))
    cg = re.search(r'col_groups: \{"([^"]+)": \[([^\]]*)\]\}', sec3_text)
    s3["col_groups"] = {cg.group(1): [x.strip() for x in cg.group(2).split(",")]}
    rows_text = sec3_text.split("rows:")[1]
    rows: list[tuple] = []  # (kind, key, label, group)
    top_group = None
    for line in rows_text.splitlines():
        m = re.match(r'\s+# group "([^"]+)"', line)
        if m:
            top_group = m.group(1)
            continue
        m = re.match(r'\s+(r\d)_1 \.\. r\d_(\d+): group "([^"]+)" -> \[(.*)\]', line)
        if m:
            labels = re.findall(r'"([^"]+)"', m.group(4))
            assert len(labels) == int(m.group(2)), line
            for i, lab in enumerate(labels, 1):
                rows.append((f"{m.group(1)}_{i}", lab, (top_group, m.group(3))))
            continue
        m = re.match(r'\s+(\w+):\s+"([^"]+)"', line)
        if m:
            key = m.group(1)
            grp = (top_group,) if key.startswith("r") else ()
            rows.append((key, m.group(2), grp))
    s3["rows"] = rows
    out["sec3"] = s3
    sec4_text = block.split("sec4:")[1]
    out["sec4"] = {
        "groups": pairs(re.search(r"groups: \{([^}]*)\}", sec4_text).group(1)),
        "parent_of_lit": re.search(r'parent_of_lit: "([^"]+)"', sec4_text).group(1),
        "cols": pairs(re.search(r"cols: \{([^}]*)\}", sec4_text).group(1)),
    }
    return out


def layout_boxes(form, sid: str, roles=("caption", "corner", "header", "rowlabel")) -> dict[str, str]:
    lay = layout(form)
    sheet = form.section(sid).sheet
    return {b.range: b.text for b in lay.sheet(sheet).boxes if b.role in roles}


def layout_cells(form, sid: str, role: str) -> set[str]:
    lay = layout(form)
    return {b.range for b in lay.sheet(form.section(sid).sheet).boxes if b.role == role}


F21 = load_form("2021")
F19 = load_form("2019")

# --------------------------------------------------------------------------------------------
# labels and structure vs docs/FORMAT.md


def all_labels(form):
    """Every label text of the form's tables and sections."""
    out = [s.title for s in form.sections]
    for t in form.tables.values():
        out += [x for x in (t.caption, t.corner) if x]
        stack = list(t.col_tree + t.row_tree)
        while stack:
            n = stack.pop()
            if n.label:
                out.append(n.label)
            stack.extend(n.children)
    return out


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_section_headings_are_the_canonical_six(md, fid):
    heads = code_blocks(md_section(md, "2. "))[0].split()
    form = load_form(fid)
    assert [s.title for s in form.sections] == heads
    assert [s.n for s in form.sections] == [1, 2, 3, 4, 5, 6]
    assert [s.id for s in form.sections] == ["s1", "s2", "s3", "s4", "s5", "s6"]


def test_machine_block_sections_match(md):
    spec = parse_machine_block(md)
    assert len(spec["sections"]) == 6
    for (n, title, kind), s in zip(spec["sections"], F21.sections):
        assert (s.n, s.title) == (n, title)
        assert s.kind == ("text" if kind == "text" else "tables")


def test_2021_section2_labels_match_grid_and_machine_block(md):
    labels, entries = parse_grid_21_s2(md)
    assert len(labels) >= 20 and len(entries) == 10  # the parser really read the grid
    assert layout_boxes(F21, "s2") == labels
    assert layout_cells(F21, "s2", "entry") == entries
    spec = parse_machine_block(md)["sec2"]
    tables = [t for t in F21.tables.values() if t.section == "s2"]
    assert [t.id for t in tables] == list(spec)
    for t in tables:
        exp = spec[t.id]
        assert t.caption == exp["caption"]
        assert t.corner == (exp["head"] or "信息内容")
        assert {c.key: c.label for c in t.columns} == exp["cols"]
        assert [c.key for c in t.columns] == list(exp["cols"])
        assert {r.key: r.label for r in t.rows} == exp["rows"]
        assert [r.key for r in t.rows] == list(exp["rows"])
        kind = F21.types[t.type].kind
        assert kind == exp["type"]
    fee = F21.cells["s2.admin_fee.amount_wan"].type
    assert (fee.kind, fee.max_dp, fee.unit, fee.min) == ("decimal", 4, "万元", 0)


def test_2021_section3_labels_and_merges_match(md):
    header = parse_s3_header(md)
    body = parse_s3_body(md)
    assert len(header) == 10 and len(body) == 25
    expected = dict(header)
    for row in body:
        expected.update(row["labels"])
    assert layout_boxes(F21, "s3") == expected
    entry = {f"{c}{r['n']}" for r in body for c in r["entry"]}
    derived = {f"{c}{r['n']}" for r in body for c in r["derived"]}
    assert layout_cells(F21, "s3", "entry") == entry
    assert layout_cells(F21, "s3", "derived") == derived
    assert len(entry) == 144 and len(derived) == 31
    # the spots the brief names, for a readable failure
    boxes = layout_boxes(F21, "s3")
    assert boxes["A1:C3"].startswith("（本列数据的勾稽关系为")
    assert boxes["D1:J1"] == "申请人情况" and boxes["D2:D3"] == "自然人"
    assert boxes["E2:I2"] == "法人或其他组织" and boxes["J2:J3"] == "总计"
    assert boxes["A6:A27"] == "三、本年度办理结果" and boxes["B8:B15"] == "（三）不予公开"
    assert layout(F21).address("s3.r1_open.total") == "三、依申请公开!J6"
    assert layout(F21).address("s3.carried_out.natural") == "三、依申请公开!D28"


def test_2021_section3_keys_and_labels_match_machine_block(md):
    spec = parse_machine_block(md)["sec3"]
    t = F21.tables["s3"]
    assert t.corner == spec["note"]
    assert [(c.key, c.label) for c in t.columns] == list(spec["cols"].items())
    ((group, members),) = spec["col_groups"].items()
    assert [c.key for c in t.columns if group in c.labels] == members
    assert [c.key for c in t.columns if c.derived] == ["total"]
    assert [(r.key, r.label) for r in t.rows] == [(k, lab) for k, lab, _ in spec["rows"]]
    for r, (_, _, groups) in zip(t.rows, spec["rows"]):
        assert r.labels[:-1] == groups, r.key  # the group labels above each row
    assert [r.key for r in t.rows if r.derived] == ["r7_total"]


def test_2019_section3_is_2021_with_single_row_six(md):
    text = md_section(md, "4.2 ")
    assert "`（六）其他处理` has no sub-items — it is one data row, merged B:C" in text
    assert "spans 20 rows (A6:A25)" in text and "23 data rows" in text
    body21 = parse_s3_body(md)
    # docs/FORMAT.md §4.2: rows 24–26 of 2021 become one row （六）其他处理 merged B:C; the rest move up 2
    body19 = []
    for row in body21:
        n = row["n"]
        if n in (25, 26):
            continue
        if n == 24:
            body19.append(
                {"n": 24, "labels": {"B24:C24": "（六）其他处理"}, "entry": row["entry"], "derived": row["derived"]}
            )
            continue
        shift = 2 if n > 26 else 0
        labels = {}
        for rng, lab in row["labels"].items():
            if rng == "A6:A27":
                rng = "A6:A25"
            else:
                rng = re.sub(r"\d+", lambda m: str(int(m.group()) - shift), rng)
            labels[rng] = lab
        body19.append({"n": n - shift, "labels": labels, "entry": row["entry"], "derived": row["derived"]})
    expected = dict(parse_s3_header(md))
    for row in body19:
        expected.update(row["labels"])
    assert layout_boxes(F19, "s3") == expected
    assert layout_cells(F19, "s3", "entry") == {f"{c}{r['n']}" for r in body19 for c in r["entry"]}
    assert layout_cells(F19, "s3", "derived") == {f"{c}{r['n']}" for r in body19 for c in r["derived"]}
    rows19 = [r.key for r in F19.tables["s3"].rows]
    rows21 = [r.key for r in F21.tables["s3"].rows]
    assert rows19 == [k for k in rows21 if k not in ("r6_1", "r6_2", "r6_3")][:20] + ["r6", "r7_total", "carried_out"]
    assert len(rows19) == 23


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_section4_grid_matches(md, fid):
    labels, entry, derived = parse_s4_grid(md)
    assert len(labels) == 19 and len(entry) == 12 and len(derived) == 3
    form = load_form(fid)
    assert layout_boxes(form, "s4") == labels
    assert layout_cells(form, "s4", "entry") == entry
    assert layout_cells(form, "s4", "derived") == derived
    boxes = layout_boxes(form, "s4")
    assert boxes["A1:E1"] == "行政复议" and boxes["F1:O1"] == "行政诉讼"
    assert boxes["F2:J2"] == "未经复议直接起诉" and boxes["K2:O2"] == "复议后起诉"
    assert boxes["A2:A3"] == "结果维持" and boxes["B2:B3"] == "结果纠正"
    if fid == "2021":
        spec = parse_machine_block(md)["sec4"]
        t = form.tables["s4"]
        groups = {n.key: n.label for n in t.col_tree[0:1]}
        groups.update({c.key: c.label for c in t.col_tree[1].children})
        assert groups == spec["groups"]
        assert t.col_tree[1].label == spec["parent_of_lit"]
        for node in (t.col_tree[0], *t.col_tree[1].children):
            assert {c.key: c.label for c in node.children} == spec["cols"]
            assert node.children[-1].derived


def test_2019_section2_labels_match(md):
    rows = [c for c in table_rows(md_section(md, "4.1 ")) if c and c[0].startswith("`")]
    tables = [t for t in F19.tables.values() if t.section == "s2"]
    assert len(rows) == 5 == len(tables)
    for cells, t in zip(rows, tables):
        assert t.caption == ticks(cells[0])[0]
        assert [r.label for r in t.rows] == ticks(cells[1])
        assert [c.label for c in t.columns] == [ticks(c)[0] for c in cells[2:] if ticks(c)]
        assert t.corner == "信息内容"
    assert F19.tables["a20_1"].rows[1].label == "规范性文件"  # not 行政规范性文件
    assert F19.cells["s2.licensing.decisions"].col_label == "处理决定数量"  # not 本年处理决定数量
    change = F19.cells["s2.licensing.change"].type
    assert change.kind == "int" and change.min is None  # 本年增/减 is signed


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_labels_use_full_width_punctuation(fid):
    form = load_form(fid)
    labels = all_labels(form) + [f.label for f in form.fields.values()]
    for lab in labels:
        assert not re.search(r"[():,;]", lab), f"ASCII punctuation in {lab!r}"
        assert lab == lab.strip() and not re.search(r"\s", lab), f"whitespace in {lab!r}"
        m = re.match(r"(\d)(.)", lab)
        if m:  # sub-items: ASCII digit + ASCII full stop (docs/FORMAT.md §3.0)
            assert m.group(2) == ".", lab
    assert "（" in form.tables["s3"].corner and "：" in form.tables["s3"].corner
    quote = form.cells["s3.r3_3.natural"].row_label
    assert quote == "3.危及\u201c三安全一稳定\u201d"
    assert [unicodedata.name(ch) for ch in quote if ch in "\u201c\u201d"] == [
        "LEFT DOUBLE QUOTATION MARK",
        "RIGHT DOUBLE QUOTATION MARK",
    ]


def test_counts_match_format_md(md):
    def num(pattern, text):
        m = re.search(pattern, text)
        assert m, pattern
        return [int(g) for g in m.groups()]

    (s2_21,) = num(r"Cell count: (\d+) entry, 0 derived \(part 二 has no totals\)", md_section(md, "3.1 "))
    e3, d3 = num(
        r"\*\*(\d+) entry cells\*\* \(24 rows × 6 applicant columns\), plus (\d+) derived", md_section(md, "3.2 ")
    )
    e4, d4 = num(r"Cell count: (\d+) entry, (\d+) derived", md_section(md, "3.3 "))
    (s2_19,) = num(r"Cell count: (\d+) entry \(6 \+ 6 \+ 6 \+ 2 \+ 2\), 0 derived", md_section(md, "4.1 "))
    (rows19,) = num(r"; (\d+) data rows in all", md_section(md, "4.2 "))
    sec8 = md_section(md, "8. ")
    a, b, c = num(r"2021: (\d+) in sec2, (\d+) in sec3, (\d+) in sec4", sec8)
    x, y, z = num(r"2019: (\d+) in sec2, (\d+) in sec3 \(\d+ entry rows × 6\), (\d+) in sec4", sec8)
    assert (a, b, c) == (s2_21, e3, e4) == (10, 144, 12)
    assert (x, y, z) == (s2_19, 132, e4) == (22, 132, 12)

    def counts(form, sid):
        return len(form.section_entry_keys(sid)), sum(1 for k in form.derived_keys if form.cells[k].section == sid)

    assert counts(F21, "s2") == (s2_21, 0)
    assert counts(F21, "s3") == (e3, d3)
    assert counts(F21, "s4") == (e4, d4)
    assert counts(F19, "s2") == (s2_19, 0)
    assert len(F19.tables["s3"].rows) == rows19
    # 2019: 22 entry rows × 6 entry columns, plus the 总计 column (23) and the (七) row (6 more)
    assert counts(F19, "s3") == (y, rows19 + 6)
    assert counts(F19, "s4") == (e4, d4)


def test_documents_and_years(md):
    sec1 = md_section(md, "1. ")
    t21 = re.search(r"国办公开办函〔2021〕30号 《([^》]+)》", sec1).group(1)
    t19 = re.search(r"国办公开办函〔2019〕60号 《([^》]+)》", sec1).group(1)
    assert F21.document_number == "国办公开办函〔2021〕30号" and F21.document_title == t21
    assert F19.document_number == "国办公开办函〔2019〕60号" and F19.document_title.endswith(t19)
    assert form_for_year(2019).id == "2019" and form_for_year(2020).id == "2019"
    assert form_for_year(2021).id == "2021" and form_for_year(2025).id == "2021"
    with pytest.raises(FormError, match="2018"):
        form_for_year(2018)
    assert builtin_form_ids() == ["2019", "2021"]


def test_narrative_fields_cover_the_official_aspects(md):
    sec = md_section(md, "3.4 ")
    aspects = re.search(r"主要包括(.+?)（含", sec).group(1).rstrip("等方面内容").split("、")
    assert aspects == ["主动公开", "依申请公开", "政府信息管理", "政府信息公开平台建设", "监督保障"]
    for form in (F21, F19):
        required = [f for f in form.section("s1").fields if f.required and not f.when]
        assert [re.sub(r"^（[一二三四五六]）", "", f.label) for f in required] == aspects
        gov = [f for f in form.section("s1").fields if f.when]
        assert [f.label for f in gov] == ["（六）工作考核、社会评议和责任追究结果情况"]
        assert gov[0].required and gov[0].when == "unit.government"
        sub = re.findall(r"（[二三四]）([^;；.]+)[;.]", sec)
        assert sub == [
            "落实上级年度政务公开工作要点情况",
            "人大代表建议和政协提案办理结果公开情况",
            "年度政务公开工作创新情况",
        ]
        labels6 = [f.label for f in form.section("s6").fields]
        assert all(s in labels6 for s in sub)
    fee = [F21.fields[k] for k in ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected")]
    assert [f.type.kind for f in fee] == ["int", "decimal", "decimal"] and all(f.required for f in fee)
    assert not any(k.startswith("s6.fee") for k in F19.fields)  # fee rules only from 2021


# --------------------------------------------------------------------------------------------
# the rule engine on hand-made data


def zeros(form) -> dict:
    v = {k: 0 for k in form.entry_keys}
    if "s6.fee_notices" in form.fields:
        v.update({"s6.fee_notices": 0, "s6.fee_notice_amount": 0, "s6.fee_collected": 0})
    return v


def realistic(form) -> dict:
    """A consistent report: 12 new + 2 carried in = results 13 + 1 carried out (自然人), etc."""
    v = zeros(form)
    v.update(
        {
            "s3.new.natural": 12,
            "s3.carried_in.natural": 2,
            "s3.r1_open.natural": 6,
            "s3.r2_partial.natural": 2,
            "s3.r3_4.natural": 1,
            "s3.r4_1.natural": 3,
            "s3.r5_2.natural": 1,
            "s3.carried_out.natural": 1,
            "s3.new.commercial": 3,
            "s3.r1_open.commercial": 2,
            "s3.carried_out.commercial": 1,
            "s4.review.upheld": 1,
            "s4.lit_direct.pending": 1,
        }
    )
    if form.id == "2021":
        v.update(
            {
                "s2.normative_doc.issued": 4,
                "s2.normative_doc.in_force": 30,
                "s2.normative_doc.repealed": 1,
                "s2.licensing.decisions": 120,
                "s2.admin_fee.amount_wan": Decimal("0.25"),
            }
        )
    else:
        v.update(
            {
                "s2.normative_doc.new_made": 4,
                "s2.normative_doc.new_published": 4,
                "s2.normative_doc.total_public": 30,
                "s2.licensing.prev_items": 10,
                "s2.licensing.change": -2,
                "s2.licensing.decisions": 120,
            }
        )
    return v


def statuses(form, values, **kw) -> dict[str, str]:
    return {o.instance.iid: o.status for o in evaluate_all(form, values, **kw)}


def fails(form, values, **kw) -> dict:
    return {f.instance: f for f in check(form, values, **kw)}


def is_chinese(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s) and "{" not in s and "}" not in s


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_valid_data_passes_every_applicable_rule(fid):
    form = load_form(fid)
    for values in (zeros(form), realistic(form)):
        assert check(form, values) == []
        st = statuses(form, values)
        assert set(st.values()) <= {PASS, NOT_APPLICABLE}
        # rules needing a unit type or last year's data are not applicable without them
        assert st.get("W-XY-CARRY[natural]") == NOT_APPLICABLE
        assert st["E-T3-BAL[natural]"] == PASS


def test_e_t3_row_pasted_total():
    v = realistic(F21)
    v["s3.r1_open.total"] = 11  # 6 + 2 = 8
    f = fails(F21, v)
    assert set(f) == {"E-T3-ROW[s3.r1_open.total]", "E-T3-COL[s3.r7_total.total]"}
    x = f["E-T3-ROW[s3.r1_open.total]"]
    assert (x.rule_id, x.severity, x.expected, x.actual, x.delta) == ("E-T3-ROW", "error", 8, 11, 3)
    assert x.keys == ("s3.r1_open.total",)
    assert x.message == "「（一）予以公开」的总计应为 8（自然人 6 + 商业企业 2），现为 11。"
    assert is_chinese(x.fix) and x.text().endswith(x.fix)


def test_e_t3_col_pasted_total():
    v = realistic(F21)
    v["s3.r7_total.natural"] = 10  # 6+2+1+3+1 = 13
    f = fails(F21, v)
    x = f["E-T3-COL[s3.r7_total.natural]"]
    assert (x.expected, x.actual, x.delta) == (13, 10, -3)
    assert "「自然人」列的（七）总计应为 13" in x.message and "现为 10" in x.message
    assert "E-T3-BAL[natural]" in f  # 12 + 2 ≠ 10 + 1
    assert f["E-T3-BAL[natural]"].delta == 3


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_e_t3_bal(fid):
    form = load_form(fid)
    v = realistic(form)
    v["s3.new.research"] = 2
    f = fails(form, v)
    assert set(f) == {"E-T3-BAL[research]", "E-T3-BAL[total]"}
    x = f["E-T3-BAL[research]"]
    assert x.severity == "error" and x.delta == 2
    assert (
        x.message
        == "「科研机构」列不平衡：第一项加第二项之和为 2（一、本年新收政府信息公开申请数量 2），第三项加第四项之和为 0（各项均为 0），相差 2。"
    )
    assert x.keys == ("s3.new.research", "s3.carried_in.research")
    assert f["E-T3-BAL[total]"].delta == 2


def test_e_t3_col_2019_counts_single_row_six():
    v = realistic(F19)
    v["s3.r6.natural"] = 1
    v["s3.new.natural"] = 13
    assert check(F19, v) == []
    v["s3.r7_total.natural"] = 13  # pasted over: (六) forgotten
    x = fails(F19, v)["E-T3-COL[s3.r7_total.natural]"]
    assert (x.expected, x.actual) == (14, 13)


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_e_t4_sum(fid):
    form = load_form(fid)
    v = realistic(form)
    v["s4.lit_after_review.total"] = 2
    f = fails(form, v)
    assert set(f) == {"E-T4-SUM[s4.lit_after_review.total]"}
    x = f["E-T4-SUM[s4.lit_after_review.total]"]
    assert (x.expected, x.actual, x.delta) == (0, 2, 2)
    assert x.message == "「复议后起诉」的总计应为 0（各项均为 0），现为 2。"


def test_w_t2_inforce():
    v = realistic(F21)
    v.update({"s2.normative_doc.issued": 5, "s2.normative_doc.in_force": 2, "s2.normative_doc.repealed": 1})
    f = fails(F21, v)
    assert set(f) == {"W-T2-INFORCE[normative_doc]"}
    x = f["W-T2-INFORCE[normative_doc]"]
    assert x.severity == "warning" and x.delta == 2 and x.expected == 3 and x.actual == 5
    assert "「行政规范性文件」本年制发 5 件，多于现行有效件数与本年废止件数之和 3" in x.message


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_w_t2_guizhang(fid):
    form = load_form(fid)
    v = realistic(form)
    col = "in_force" if fid == "2021" else "total_public"
    v[f"s2.regulation.{col}"] = 2
    town, city = form.unit_type("镇人民政府"), form.unit_type("市级政府")
    assert town.name == "乡镇"
    f = fails(form, v, unit=town)
    assert set(f) == {"W-T2-GUIZHANG"}
    assert f["W-T2-GUIZHANG"].message == "“规章”一行合计为 2，但乡镇没有规章制定权。"
    assert f["W-T2-GUIZHANG"].delta == 2
    assert fails(form, v, unit=city) == {}
    assert statuses(form, v, unit=city)["W-T2-GUIZHANG"] == NOT_APPLICABLE
    assert statuses(form, v)["W-T2-GUIZHANG"] == NOT_APPLICABLE  # unknown unit type


def test_w_t2_fee_unit():
    v = realistic(F21)
    town, dept = F21.unit_type("乡镇"), F21.unit_type("县级部门")
    v["s2.admin_fee.amount_wan"] = 2500  # 2500 元 typed into the 万元 cell
    x = fails(F21, v, unit=town)["W-T2-FEE-UNIT"]
    assert x.severity == "warning" and x.delta == 1500
    assert x.message == "本年收费金额填了 2500 万元，对乡镇来说异常偏大，可能把“元”当成了“万元”。"
    assert fails(F21, v, unit=dept) == {}
    v["s2.admin_fee.amount_wan"] = Decimal("999.9999")
    assert fails(F21, v, unit=town) == {}
    v["s2.admin_fee.amount_wan"] = 12000.5
    assert set(fails(F21, v, unit=dept)) == {"W-T2-FEE-UNIT"}
    assert statuses(F21, v)["W-T2-FEE-UNIT"] == NOT_APPLICABLE


def test_w_t3_fee():
    v = realistic(F21)
    v["s3.r6_2.natural"] = 1
    v["s3.new.natural"] = 13
    f = fails(F21, v)
    assert set(f) == {"W-T3-FEE"}
    assert (
        f["W-T3-FEE"].message
        == "（六）其他处理第2项“逾期未按收费通知要求缴纳费用”有 1 件，但第六部分发出收费通知件数为 0。"
    )
    v["s6.fee_notices"] = 1
    assert fails(F21, v) == {}
    v["s6.fee_notices"] = None
    assert statuses(F21, v)["W-T3-FEE"] == INCOMPLETE


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_w_t4_orphan(fid):
    form = load_form(fid)
    v = zeros(form)
    v["s4.review.corrected"] = 2
    f = fails(form, v)
    assert set(f) == {"W-T4-ORPHAN"}
    assert f["W-T4-ORPHAN"].severity == "info"
    assert f["W-T4-ORPHAN"].message == "第四部分有复议诉讼案件 2 件，但第三部分本年新收和上年结转申请均为 0。"
    v["s3.carried_in.natural"] = 1
    v["s3.carried_out.natural"] = 1
    assert fails(form, v) == {}


def test_w_xy_carry_and_across_formats():
    v = realistic(F21)  # carried in: natural 2, total 2
    prev = {k: 0 for k in F19.entry_keys}  # last year's report in the 2019 format
    prev.update({"s3.carried_out.natural": 3, "s3.carried_out.total": 3})
    f = fails(F21, v, prev=prev, prev_format="2019")
    assert set(f) == {"W-XY-CARRY[natural]", "W-XY-CARRY[total]"}
    x = f["W-XY-CARRY[natural]"]
    assert (x.rule_id, x.severity) == ("W-XY-CARRY", "warning")
    assert (x.expected, x.actual, x.delta) == (3, 2, -1)
    assert x.message == "「自然人」列的上年结转为 2，但上年度报告的“四、结转下年度继续办理”为 3，相差 1。"
    assert x.values == {"s3.carried_in.natural": 2, "prev:s3.carried_out.natural": 3}
    st = statuses(F21, v, prev=prev, prev_format="2019")
    assert st["W-XY-CARRY[commercial]"] == PASS
    assert st["W-XY-INFORCE[normative_doc]"] == NOT_APPLICABLE  # section 二 not comparable 2019 → 2021
    prev["s3.carried_out.natural"] = 2
    prev["s3.carried_out.total"] = 2
    assert fails(F21, v, prev=prev, prev_format="2019") == {}
    assert statuses(F21, v)["W-XY-CARRY[natural]"] == NOT_APPLICABLE  # no last-year data


def test_w_xy_inforce_same_format_only():
    v = realistic(F21)  # normative_doc: in_force 30, issued 4, repealed 1
    prev = zeros(F21)
    prev["s2.normative_doc.in_force"] = 28  # 28 + 4 − 1 = 31 ≠ 30
    f = fails(F21, v, prev=prev)
    assert "W-XY-INFORCE[normative_doc]" in f
    x = f["W-XY-INFORCE[normative_doc]"]
    assert (x.expected, x.actual, x.delta) == (31, 30, -1)
    assert "「行政规范性文件」现行有效件数为 30，按上年现行有效件数和本年制发、废止推算应为 31，相差 1。" == x.message
    prev["s2.normative_doc.in_force"] = 27
    assert "W-XY-INFORCE[normative_doc]" not in fails(F21, v, prev=prev)


def test_w_t2_2019_pub():
    v = realistic(F19)
    v["s2.normative_doc.new_published"] = 31
    f = fails(F19, v)
    assert set(f) == {"W-T2-2019-PUB[normative_doc]"}
    x = f["W-T2-2019-PUB[normative_doc]"]
    assert (x.expected, x.actual, x.delta) == (30, 31, 1)
    assert x.message == "「规范性文件」本年新公开 31 件，多于对外公开总数量 30 件。"


def test_w_xy_items_2019_signed_change():
    v = realistic(F19)  # licensing prev_items 10
    prev = zeros(F19)
    prev.update({"s2.licensing.prev_items": 4, "s2.licensing.change": 5})  # 4 + 5 = 9 ≠ 10
    f = fails(F19, v, prev=prev)
    x = f["W-XY-ITEMS-2019[licensing]"]
    assert (x.expected, x.actual, x.delta) == (9, 10, 1)
    assert "「行政许可」上一年项目数量为 10，按上年度报告推算应为 9" in x.message
    prev["s2.licensing.change"] = 6
    assert "W-XY-ITEMS-2019[licensing]" not in fails(F19, v, prev=prev)
    prev.update({"s2.licensing.prev_items": 15, "s2.licensing.change": -5})  # a decrease
    assert "W-XY-ITEMS-2019[licensing]" not in fails(F19, v, prev=prev)
    # 2021 data are not comparable to 2019 items
    assert statuses(F19, v, prev=prev, prev_format="2021")["W-XY-ITEMS-2019[licensing]"] == NOT_APPLICABLE


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_every_rule_id_fires_somewhere(fid):
    """Each rule id of the form is exercised by one of the crafted data sets above."""
    form = load_form(fid)
    ids = {r.id for r in form.rule_defs}
    fired = set()
    town = form.unit_type("乡镇")
    base = realistic(form)
    prev = dict(base)
    prev["s3.carried_out.natural"] = 5
    cases = []
    for key in form.entry_keys:  # one broken cell at a time, +7
        v = dict(base)
        v[key] = (v[key] or 0) + 7
        cases.append(v)
    for key in form.derived_keys:  # pasted totals
        v = dict(base)
        v[key] = 999
        cases.append(v)
    for v in cases:
        for f in check(form, v, unit=town, prev=prev):
            fired.add(f.rule_id)
            assert is_chinese(f.message), f.message
            assert f.delta is not None or f.rule_id in ("W-T3-FEE", "W-T4-ORPHAN")
    if fid == "2021":
        v = dict(base)
        v["s2.admin_fee.amount_wan"] = 5000
        fired |= {f.rule_id for f in check(form, v, unit=town)}
        v = dict(base)
        v["s3.r6_2.natural"], v["s3.new.natural"] = 1, 13
        fired |= {f.rule_id for f in check(form, v, unit=town)}
    v = zeros(form)
    v["s4.review.upheld"] = 1
    fired |= {f.rule_id for f in check(form, v)}
    assert fired == ids


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_blank_is_not_zero(fid):
    form = load_form(fid)
    v = realistic(form)
    v["s3.r4_2.legal_service"] = None
    st = statuses(form, v)
    affected = {i for i, s in st.items() if s == INCOMPLETE}
    assert affected == {
        "E-T3-ROW[s3.r4_2.total]",
        "E-T3-COL[s3.r7_total.legal_service]",
        "E-T3-BAL[legal_service]",
        "E-T3-COL[s3.r7_total.total]",
        "E-T3-BAL[total]",
        "E-T3-ROW[s3.r7_total.total]",
    }
    assert check(form, v) == []  # incomplete is not failed
    # the same cell as 0 is consistent; as 1 it breaks the balance
    v["s3.r4_2.legal_service"] = 0
    assert INCOMPLETE not in statuses(form, v).values()
    v["s3.r4_2.legal_service"] = 1
    assert {"E-T3-BAL[legal_service]", "E-T3-BAL[total]"} == set(fails(form, v))
    # text in a number cell is not a number either
    v["s3.r4_2.legal_service"] = "/"
    assert statuses(form, v)["E-T3-BAL[legal_service]"] == INCOMPLETE
    # a blank figure of last year leaves nothing to compare with: the cross-year rule does not
    # apply (and does not fail); a blank figure of this year makes it incomplete
    prev = zeros(form)
    prev.update({"s3.carried_out.natural": None, "s3.carried_out.total": 2})
    st = statuses(form, realistic(form), prev=prev)
    assert st["W-XY-CARRY[natural]"] == NOT_APPLICABLE and st["W-XY-CARRY[total]"] == PASS
    assert st["W-XY-CARRY[commercial]"] == PASS
    prev["s3.carried_out.natural"] = 2
    cur = dict(realistic(form), **{"s3.carried_in.commercial": None})
    st = statuses(form, cur, prev=prev)
    assert st["W-XY-CARRY[commercial]"] == INCOMPLETE and st["W-XY-CARRY[natural]"] == PASS


def test_decimal_amounts_are_exact():
    v = realistic(F21)
    town = F21.unit_type("乡镇")
    v["s2.admin_fee.amount_wan"] = 0.1 + 0.2  # a float artefact still compares sanely
    assert fails(F21, v, unit=town) == {}
    v["s2.admin_fee.amount_wan"] = Decimal("1000.0000")
    assert set(fails(F21, v, unit=town)) == {"W-T2-FEE-UNIT"}


# --------------------------------------------------------------------------------------------
# variants: a local definition in a file outside the package


def write_variant(tmp_path: Path, data: dict, name="variant.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return p


VARIANT = {
    "extends": "2021",
    "id": "2021-本省",
    "name": "政府信息公开工作年度报告格式（2021年版，本省补充）",
    "add_rows": [
        {"table": "a20_5", "after": "licensing", "row": {"key": "other_service", "label": "其他对外管理服务事项"}}
    ],
    "add_tables": [
        {
            "section": "s2",
            "after": "a20_8",
            "table": {
                "id": "a20_13",
                "prefix": "s2",
                "caption": "第二十条第（十三）项",
                "corner": "信息内容",
                "type": "int",
                "tooltip": "突发公共事件的应急预案、预警信息及应对情况",
                "columns": [
                    {"key": "issued", "label": "本年制发件数"},
                    {"key": "in_force", "label": "现行有效件数", "span": 2},
                ],
                "rows": [{"key": "emergency_plan", "label": "应急预案"}],
            },
        }
    ],
    "add_rules": [
        {
            "id": "L-EMERG",
            "severity": "warning",
            "label": "制发≤现行有效",
            "table": "a20_13",
            "place": "right",
            "expr": "s2.emergency_plan.issued <= s2.emergency_plan.in_force",
            "title": "应急预案：本年制发件数不大于现行有效件数",
            "message": "应急预案本年制发 {left} 件，多于现行有效件数 {right} 件，相差 {delta}。",
            "fix": "本年制发的应急预案应计入现行有效件数。",
        },
        {
            "id": "L-SERVICE",
            "severity": "info",
            "label": "服务事项有决定",
            "table": "a20_5",
            "place": "panel",
            "expr": "s2.other_service.decisions <= s2.licensing.decisions + 1000",
            "title": "其他对外管理服务事项的决定数量在合理范围内",
            "message": "其他对外管理服务事项 {left} 件，比行政许可多出 1000 件以上。",
        },
    ],
}


def test_variant_loads_and_validates_without_code_change(tmp_path):
    form = load_form(write_variant(tmp_path, VARIANT))
    assert form.id == "2021-本省" and form.source.endswith("variant.json")
    assert [r.key for r in form.tables["a20_5"].rows] == ["licensing", "other_service"]
    assert [t.id for t in form.section("s2").tables] == ["a20_1", "a20_5", "a20_6", "a20_8", "a20_13"]
    assert len(form.section_entry_keys("s2")) == 10 + 1 + 2
    assert form.label("s2.other_service.decisions") == "其他对外管理服务事项·本年处理决定数量"
    # the base form is untouched
    assert len(load_form("2021").section_entry_keys("s2")) == 10
    assert {r.id for r in form.rule_defs} == {r.id for r in F21.rule_defs} | {"L-EMERG", "L-SERVICE"}

    v = realistic(F21)
    v.update({"s2.other_service.decisions": 30, "s2.emergency_plan.issued": 2, "s2.emergency_plan.in_force": 5})
    st = statuses(form, v)
    assert st["L-EMERG"] == PASS and st["L-SERVICE"] == PASS
    assert check(form, v) == []
    v["s2.emergency_plan.in_force"] = 1
    f = fails(form, v)
    assert set(f) == {"L-EMERG"}
    assert f["L-EMERG"].message == "应急预案本年制发 2 件，多于现行有效件数 1 件，相差 1。"
    assert (f["L-EMERG"].expected, f["L-EMERG"].actual, f["L-EMERG"].delta) == (1, 2, 1)
    assert f["L-EMERG"].fix == "本年制发的应急预案应计入现行有效件数。"
    v["s2.emergency_plan.in_force"] = None
    assert statuses(form, v)["L-EMERG"] == INCOMPLETE
    v["s2.emergency_plan.in_force"] = 5
    v["s2.other_service.decisions"] = 2000
    assert set(fails(form, v)) == {"L-SERVICE"}
    # the base rules still work on the variant
    v["s3.new.natural"] = 99
    assert "E-T3-BAL[natural]" in fails(form, v)


def test_variant_layout_places_the_new_row_and_table(tmp_path):
    form = load_form(write_variant(tmp_path, VARIANT, "v2.json"))
    lay = layout(form)
    boxes = layout_boxes(form, "s2")
    # a20_5: caption A5, header A6, 行政许可 A7, the new row A8; everything below moves down one row
    assert boxes["A5:D5"] == "第二十条第（五）项"
    assert boxes["A7"] == "行政许可" and boxes["A8"] == "其他对外管理服务事项"
    assert lay.address("s2.other_service.decisions") == "二、主动公开!B8"
    assert boxes["A9:D9"] == "第二十条第（六）项"
    assert boxes["A13:D13"] == "第二十条第（八）项"
    assert boxes["A16:D16"] == "第二十条第（十三）项"
    assert boxes["A17"] == "信息内容" and boxes["B17"] == "本年制发件数" and boxes["C17:D17"] == "现行有效件数"
    assert boxes["A18"] == "应急预案"
    assert lay.address("s2.emergency_plan.issued") == "二、主动公开!B18"
    assert lay.address("s2.emergency_plan.in_force") == "二、主动公开!C18"
    # the local rule has its check cell and a compiled formula on the same sheet
    s, r, c = lay.checks["L-EMERG"]
    assert s == "二、主动公开" and r == 17
    formula = expected_formulas(lay)[(s, r, c)]
    assert formula == '=IF(COUNT(B18:C18)<2,"待填",IF(B18<=C18,"✓","✗"))'
    # section 三 did not move
    assert lay.address("s3.r1_open.total") == "三、依申请公开!J6"


def test_variant_remove_rules_and_unit_types(tmp_path):
    data = {
        "extends": "2021",
        "id": "2021-无规章校验",
        "remove_rules": ["W-T2-GUIZHANG"],
        "add_unit_types": [
            {"name": "开发区管委会", "aliases": ["管委会"], "government": False, "guizhang": False, "fee_warn_wan": 500}
        ],
    }
    form = load_form(write_variant(tmp_path, data))
    assert "W-T2-GUIZHANG" not in {r.id for r in form.rule_defs}
    unit = form.unit_type("管委会")
    assert unit is not None and unit.name == "开发区管委会"
    v = realistic(F21)
    v["s2.regulation.in_force"] = 1
    v["s2.admin_fee.amount_wan"] = 600
    assert set(fails(form, v, unit=unit)) == {"W-T2-FEE-UNIT"}


def test_variant_extending_a_variant_by_relative_path(tmp_path):
    write_variant(tmp_path, VARIANT, "base.json")
    child = {"extends": "base.json", "id": "2021-本市", "remove_rules": ["L-SERVICE"]}
    form = load_form(write_variant(tmp_path, child, "child.json"))
    ids = {r.id for r in form.rule_defs}
    assert "L-EMERG" in ids and "L-SERVICE" not in ids
    assert "s2.emergency_plan.issued" in form.entry_keys


# --------------------------------------------------------------------------------------------
# bad form files


def test_bad_json_gives_chinese_form_error(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"extends": "2021", "id": ', encoding="utf-8")
    with pytest.raises(FormError) as e:
        load_form(p)
    assert "不是有效的 JSON" in str(e.value) and "bad.json" in str(e.value)


@pytest.mark.parametrize(
    "patch, words",
    [
        ({"remove_rules": []}, ["必须有自己的 id"]),
        ({"id": "x", "add_rows": [{"table": "a20_99", "row": {"key": "k", "label": "行"}}]}, ["找不到表格", "a20_99"]),
        (
            {"id": "x", "add_rows": [{"table": "a20_5", "after": "nope", "row": {"key": "k", "label": "行"}}]},
            ["找不到行", "nope"],
        ),
        (
            {
                "id": "x",
                "add_rows": [{"table": "a20_5", "after": "licensing", "row": {"key": "licensing", "label": "重复"}}],
            },
            ["s2.licensing.decisions", "重复"],
        ),
        (
            {
                "id": "x",
                "add_rules": [
                    {
                        "id": "L",
                        "severity": "fatal",
                        "title": "t",
                        "message": "m",
                        "expr": "s2.licensing.decisions >= 0",
                    }
                ],
            },
            ["severity"],
        ),
        ({"id": "x", "add_tables": [{"section": "s1", "table": {}}]}, ["找不到表格类部分"]),
    ],
)
def test_bad_variants_give_form_error(tmp_path, patch, words):
    """Each mistake gives a FormError in Chinese that names the file and the item."""
    data = {"extends": "2021", **patch}
    p = write_variant(tmp_path, data)
    with pytest.raises(FormError) as e:
        load_form(p)
    msg = str(e.value)
    assert re.search(r"[\u4e00-\u9fff]", msg) and str(p) in msg
    for w in words:
        assert w in msg


def test_unknown_key_in_rule_expression_gives_form_error(tmp_path):
    data = {
        "extends": "2021",
        "id": "2021-x",
        "add_rules": [
            {"id": "L-1", "severity": "warning", "title": "t", "message": "m", "expr": "s2.nonexistent.decisions >= 0"}
        ],
    }
    p = write_variant(tmp_path, data)
    with pytest.raises(FormError) as e:
        load_form(p)
    assert "s2.nonexistent.decisions" in str(e.value) and str(p) in str(e.value)


def test_rule_syntax_error_gives_form_error(tmp_path):
    data = {
        "extends": "2021",
        "id": "2021-x",
        "add_rules": [
            {"id": "L-1", "severity": "warning", "title": "t", "message": "m", "expr": "s2.licensing.decisions >= "}
        ],
    }
    with pytest.raises(FormError, match="L-1"):
        load_form(write_variant(tmp_path, data))


def test_duplicate_cell_key_gives_form_error(tmp_path):
    data = {
        "extends": "2021",
        "id": "x",
        "add_rows": [{"table": "s3", "after": "r6_3", "row": {"key": "r1_open", "label": "重复"}}],
    }
    with pytest.raises(FormError, match="s3.r1_open.natural"):
        load_form(write_variant(tmp_path, data))


def test_duplicate_field_key_gives_form_error(tmp_path):
    data = {
        "extends": "2021",
        "id": "2021-x",
        "add_fields": [{"section": "s6", "field": {"key": "s1.active", "label": "重复", "type": "text"}}],
    }
    with pytest.raises(FormError, match="s1.active"):
        load_form(write_variant(tmp_path, data))


def test_duplicate_rule_id_gives_form_error(tmp_path):
    data = {
        "extends": "2021",
        "id": "2021-x",
        "add_rules": [
            {"id": "E-T3-BAL", "severity": "error", "title": "t", "message": "m", "expr": "s2.licensing.decisions >= 0"}
        ],
    }
    with pytest.raises(FormError, match="E-T3-BAL"):
        load_form(write_variant(tmp_path, data))


@pytest.mark.parametrize(
    "when, words",
    [
        ("unit.nonexistent", "unit.nonexistent"),  # an attribute no unit type has
        ("s2.licensing.decisions > 0", "s2.licensing.decisions"),  # a cell: conditions are on the unit
        ("unit.government and", "表达式不完整"),
        ("1 + 2", "规则表达式必须是比较"),
    ],
)
def test_bad_when_gives_form_error(tmp_path, when, words):
    """A ``when`` the evaluator cannot decide for every unit type is refused when the form loads
    (a rule's and a field's alike), instead of being read differently by each caller."""
    rule = {"id": "L-1", "severity": "warning", "title": "t", "message": "m", "expr": "s2.licensing.decisions >= 0"}
    field = {"key": "s6.extra", "label": "其他说明", "type": "text", "required": True}
    for patch, name in (
        ({"add_rules": [dict(rule, when=when)]}, "L-1"),
        ({"add_fields": [{"section": "s6", "field": dict(field, when=when)}]}, "s6.extra"),
    ):
        p = write_variant(tmp_path, {"extends": "2021", "id": "2021-x", **patch})
        with pytest.raises(FormError) as e:
            load_form(p)
        msg = str(e.value)
        assert name in msg and words in msg and "when" in msg and str(p) in msg


def test_one_when_evaluator_three_answers():
    """``when_holds``: True / False for a known unit type, None when the unit type is unknown; the
    rules, the checker, the generator, the renderer and the narrative checks all ask it."""
    form = load_form("2021")
    gov, town, dept = form.unit_type("县级政府"), form.unit_type("乡镇"), form.unit_type("县级部门")
    assert when_holds(None, None) is True and when_holds("", dept) is True
    assert when_holds("unit.government", None) is None
    assert when_holds("unit.government", gov) is True and when_holds("unit.government", dept) is False
    assert when_holds("not unit.government", dept) is True
    assert when_holds("unit.government and not unit.guizhang", town) is (town.government and not town.guizhang)
    assert when_holds("unit.fee_warn_wan > 0", gov) is (gov.fee_warn_wan > 0)
    # the rules' applicability is the same answer (unknown: not applicable)
    for inst in form.rules:
        if inst.rule.when and not inst.rule.needs_previous and not inst.prev_keys:
            for ut in (gov, town, dept, None):
                assert inst.applicable(ut, None) is (when_holds(inst.rule.when, ut) is True), inst.iid


def test_conditions_in_chinese():
    assert when_zh("unit.government") == "仅各级人民政府"
    assert when_zh(" not  unit.guizhang ") == "没有规章制定权的单位"
    assert when_zh("unit.fee_warn_wan > 1") == "条件：unit.fee_warn_wan > 1"
    assert when_zh(None) == ""
    assert requirement_zh("unit.government") == "各级人民政府必填，其他单位可不填"
    assert requirement_zh("not unit.guizhang") == "按单位类型填写"


# --------------------------------------------------------------------------------------------
# the CLI

runner = CliRunner()


def test_cli_forms_list():
    r = runner.invoke(app, ["forms", "list"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    row21 = next(line for line in lines if line.startswith("2021"))
    row19 = next(line for line in lines if line.startswith("2019"))
    assert "国办公开办函〔2021〕30号" in row21 and "2021年度起" in row21 and F21.name in row21
    assert "国办公开办函〔2019〕60号" in row19 and "2019—2020年度" in row19
    assert "166" in row21  # entry cells


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_cli_forms_show(fid):
    form = load_form(fid)
    r = runner.invoke(app, ["forms", "show", fid])
    assert r.exit_code == 0, r.output
    text = r.output
    assert text == describe_form(form)
    flat = re.sub(r"\n +", "", text)  # long lines are wrapped with a hanging indent
    assert form.name in text and form.document_number in text and form.document_title in flat
    for s in form.sections:
        assert s.title in text
    for lab in all_labels(form):
        assert lab in text, lab
    for f in form.fields.values():
        assert f.key in text and f.label in text
    for r_ in form.rule_defs:
        n = sum(1 for i in form.rules if i.id == r_.id)
        assert re.search(
            rf"^  {re.escape(r_.id)} +{('错误', '警告', '提示')[('error', 'warning', 'info').index(r_.severity)]} +{n} 项  ",
            text,
            re.M,
        ), r_.id
    # derived cells are marked, entry keys are shown
    assert re.search(r"^ +total +总计　〔合计·公式〕", text, re.M)
    assert re.search(r"^ +r7_total +（七）总计　〔合计·公式〕", text, re.M)
    assert re.search(r"^ +r3_3 +3\.危及“三安全一稳定”$", text, re.M)
    assert "s1.assessment   条件必填" in text and "〔仅各级人民政府〕" in text
    # readable in a 100-column terminal
    widths = [sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) for line in text.splitlines()]
    assert max(widths) <= 100


def test_cli_forms_show_variant(tmp_path):
    p = write_variant(tmp_path, VARIANT, "show.json")
    r = runner.invoke(app, ["forms", "show", str(p)])
    assert r.exit_code == 0, r.output
    assert "其他对外管理服务事项" in r.output and "第二十条第（十三）项" in r.output
    assert re.search(r"^  L-EMERG +警告 +1 项  制发≤现行有效", r.output, re.M)


def test_cli_forms_export_json(tmp_path):
    out = tmp_path / "sub" / "f.json"
    r = runner.invoke(app, ["forms", "export", "2021", "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "已导出" in r.output
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d == export_form(F21)
    r2 = runner.invoke(app, ["forms", "export", "2021", "--json"])
    assert json.loads(r2.output) == d
    assert d["schema"] == "gkxlsx.form/1" and d["format"] == "2021" and d["version"] == F21.template_version
    assert d["document"] == {"number": F21.document_number, "title": F21.document_title}
    assert d["counts"]["per_section"] == {
        "s2": {"entry": 10, "derived": 0},
        "s3": {"entry": 144, "derived": 31},
        "s4": {"entry": 12, "derived": 3},
    }
    assert [s["title"] for s in d["sections"]] == [s.title for s in F21.sections]
    cells = {c["key"]: c for t in d["tables"] for c in t["cells"]}
    assert list(cells) == list(F21.cells)
    assert [k for k, c in cells.items() if not c["derived"]] == d["entry_keys"] == list(F21.entry_keys)
    assert cells["s3.r1_open.total"]["address"] == "三、依申请公开!J6"
    assert cells["s3.r1_open.total"]["sum_of"] == [
        f"s3.r1_open.{c}" for c in ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org")
    ]
    assert cells["s2.admin_fee.amount_wan"]["kind"] == "decimal"
    assert cells["s3.r3_3.natural"]["row_label"] == "3.危及“三安全一稳定”"
    s3 = next(t for t in d["tables"] if t["id"] == "s3")
    assert s3["range"] == "A1:J28" and s3["corner"] == F21.tables["s3"].corner
    assert [c["key"] for c in s3["columns"]] == [c.key for c in F21.tables["s3"].columns]
    fields = {f["key"]: f for f in d["fields"]}
    assert fields["s1.assessment"]["when"] == "unit.government" and fields["s1.assessment"]["required"] is True
    insts = [i["id"] for rd in d["rules"] for i in rd["instances"]]
    assert sorted(insts) == sorted(i.iid for i in F21.rules)
    bal = next(rd for rd in d["rules"] if rd["id"] == "E-T3-BAL")
    assert bal["severity"] == "error" and bal["severity_zh"] == "错误" and bal["foreach"] == {"c": "@s3.cols"}
    assert (
        bal["instances"][0]["expr"]
        == "s3.new.natural + s3.carried_in.natural == s3.r7_total.natural + s3.carried_out.natural"
    )
    assert bal["instances"][0]["check_cell"] == "三、依申请公开!D30"
    assert {u["name"] for u in d["unit_types"]} == {u.name for u in F21.unit_types}


@pytest.mark.parametrize("fid", ["2021", "2019"])
def test_exported_expressions_round_trip(fid):
    """Every instance's exported expression parses back to the same tree."""
    form = load_form(fid)
    for inst in form.rules:
        assert parse_expr(rule_text(inst.expr)) == inst.expr, inst.iid


@pytest.mark.parametrize(
    "args",
    [["forms", "show", "2022"], ["forms", "export", "2018", "--json"], ["forms", "show", "missing.json"]],
)
def test_cli_bad_format_exit_2(args):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert "错误：" in r.output and ("找不到" in r.output)


def test_cli_bad_variant_file_exit_2(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{not json", encoding="utf-8")
    r = runner.invoke(app, ["forms", "show", str(p)])
    assert r.exit_code == 2 and "不是有效的 JSON" in r.output and "broken.json" in r.output
    bad_rule = write_variant(
        tmp_path,
        {
            "extends": "2021",
            "id": "x",
            "add_rules": [{"id": "L", "severity": "error", "title": "t", "message": "m", "expr": "s9.x.y == 0"}],
        },
        "badrule.json",
    )
    r = runner.invoke(app, ["forms", "export", str(bad_rule), "--json"])
    assert r.exit_code == 2 and "s9.x.y" in r.output and "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


# --------------------------------------------------------------------------------------------
# properties of the rule engine (hypothesis)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def consistent_s3(draw, form):
    """Section 三 figures that balance in every column, drawn column by column."""
    t = form.tables["s3"]
    results = [r.key for r in t.rows if r.key not in ("new", "carried_in", "carried_out") and not r.derived]
    v = zeros(form)
    for c in ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org"):
        counts = draw(st.lists(st.integers(0, 40), min_size=len(results), max_size=len(results)))
        out = draw(st.integers(0, 40))
        total = sum(counts) + out
        cin = draw(st.integers(0, total))
        v.update({f"s3.{r}.{c}": n for r, n in zip(results, counts)})
        v.update({f"s3.new.{c}": total - cin, f"s3.carried_in.{c}": cin, f"s3.carried_out.{c}": out})
    if "s6.fee_notices" in v:
        v["s6.fee_notices"] = sum(
            v[f"s3.r6_2.{c}"]
            for c in ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org")
        )
    return v


@pytest.mark.parametrize("fid", ["2021", "2019"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_balanced_tables_pass_and_one_change_is_caught(fid, data):
    form = load_form(fid)
    v = data.draw(consistent_s3(form))
    assert check(form, v) == []
    key = data.draw(st.sampled_from([k for k in form.entry_keys if k.startswith("s3.")]))
    d = data.draw(st.integers(-5, 5).filter(bool))
    col = key.split(".")[-1]
    broken = dict(v, **{key: v[key] + d})
    f = {x.instance: x for x in check(form, broken) if x.severity == "error"}
    sign = 1 if key.split(".")[1] in ("new", "carried_in") else -1
    assert set(f) == {f"E-T3-BAL[{col}]", "E-T3-BAL[total]"}
    assert f[f"E-T3-BAL[{col}]"].delta == f["E-T3-BAL[total]"].delta == sign * d
    blank = dict(v, **{key: None})
    st_ = statuses(form, blank)
    assert st_[f"E-T3-BAL[{col}]"] == INCOMPLETE and st_["E-T3-BAL[total]"] == INCOMPLETE
    assert not [x for x in check(form, blank) if x.severity == "error"]


def test_forms_and_outcomes_pickle_after_evaluation():
    """The Python backend's compiled functions stay out of a pickle (a spawned worker gets the form)."""
    import pickle

    form = load_form("2021")
    outcomes = evaluate_all(form, {"s3.new.natural": 1})
    again = pickle.loads(pickle.dumps(outcomes))
    assert [o.status for o in again] == [o.status for o in outcomes]
    assert [o.instance.evaluate({"s3.new.natural": 1}).status for o in again] == [o.status for o in outcomes]
    assert pickle.loads(pickle.dumps(form)).rules[0].iid == form.rules[0].iid
