"""Round trips: random valid data sets → a published report → extraction returns exactly the
data (every table cell, derived totals included; unit, year, format).

Two producers:
* reports written here in the shapes real pages have (one cell per line with blank lines, “|”
  separated cells, one row per line with tabs, an HTML table) — independent of the renderer;
* reports rendered by gkxlsx itself (:mod:`gkxlsx.render.renderer`) in every output format: text,
  Markdown, HTML and Word — and those, being correct, must audit without a single warning.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from gkxlsx.form.model import HeaderNode, Table, load_form
from gkxlsx.form.report import Report
from gkxlsx.published.audit import audit_text
from gkxlsx.published.extract import READ, extract_file, extract_text
from gkxlsx.rules.engine import compute_derived
from gkxlsx.rules.evaluate import check

UNITS = [
    ("2021", "示例县城关镇人民政府", "乡镇"),
    ("2021", "示例市某某街道办事处", "街道"),
    ("2021", "示例县财政局", "县级部门"),
    ("2019", "示例县河口乡人民政府", "乡镇"),
    ("2019", "示例市生态环境局", "市级部门"),
]


def random_tables(form, rng: random.Random, unit: str | None = None) -> dict:
    """A valid data set: every entry cell filled, totals computed, section 三 balanced; with
    ``unit`` (a unit type) also free of the table warnings for that unit."""

    def count(big: bool = False) -> int:
        r = rng.random()
        if r < 0.55:
            return 0
        if r < 0.9 or not big:
            return rng.randint(1, 12)
        return rng.randint(13, 99999)

    v: dict = {}
    for key, cell in form.cells.items():
        if cell.derived:
            continue
        t = cell.type
        if t.kind == "decimal":
            v[key] = (Decimal(rng.choice([0, 0, rng.randint(1, 9_999_999)])) / Decimal(10_000)).normalize()
            if v[key] == v[key].to_integral_value():
                v[key] = int(v[key])
        elif t.min is None:  # 2019 本年增/减: signed
            v[key] = rng.randint(-60, 60)
        else:
            v[key] = count(big=cell.section == "s2")
    # section 三: 一 + 二 = (七) + 四 for every applicant column
    t3 = form.tables["s3"]
    results = [r.key for r in t3.rows if any(n.id == "results" for n in r.path) and not r.derived]
    for c in (c.key for c in t3.columns if not c.derived):
        done = sum(v[f"s3.{r}.{c}"] for r in results)
        carried_in = v[f"s3.carried_in.{c}"]
        need = done + v[f"s3.carried_out.{c}"] - carried_in
        if need < 0:
            v[f"s3.carried_out.{c}"] -= need
            need = 0
        v[f"s3.new.{c}"] = need
    if "s2.regulation.issued" in form.cells:  # 2021: issued ≤ in force + repealed
        for r in ("regulation", "normative_doc"):
            v[f"s2.{r}.in_force"] = max(v[f"s2.{r}.in_force"], v[f"s2.{r}.issued"])
    if unit is not None:
        ut = form.unit_type(unit)
        for k in form.cells:
            if k.startswith("s2.regulation.") and not ut.guizhang:
                v[k] = 0  # W-T2-GUIZHANG
        if "s2.admin_fee.amount_wan" in v:
            v["s2.admin_fee.amount_wan"] = min(v["s2.admin_fee.amount_wan"], 999)  # W-T2-FEE-UNIT
        if "s2.normative_doc.total_public" in v:  # W-T2-2019-PUB
            v["s2.normative_doc.total_public"] = max(
                v["s2.normative_doc.total_public"], v["s2.normative_doc.new_published"]
            )
        if not any(v[f"s3.{r}.{c}"] for r in ("new", "carried_in") for c in ("natural", "commercial")):
            v["s3.carried_in.natural"] += 1  # W-T4-ORPHAN: one application carried in …
            v["s3.carried_out.natural"] += 1  # … and carried on (the balance holds)
    v.update(compute_derived(form, v))
    return v


def fmt(form, key, v) -> str:
    if form.cells[key].type.min is None and v > 0:
        return f"+{v}"
    return str(v)


def _header_labels(t: Table) -> list[str]:
    items = []

    def walk(n: HeaderNode, depth: int, pos: list[int]) -> None:
        start = pos[0]
        if n.is_leaf:
            pos[0] += 1
        for ch in n.children:
            walk(ch, depth + 1, pos)
        if n.label:
            items.append((depth, start, n.label))

    pos = [0]
    for n in t.col_tree:
        walk(n, 0, pos)
    out = [t.caption] if t.caption else []
    if t.corner:
        out.append(t.corner)
    return out + [lab for _, _, lab in sorted(items)]


def seed_shaped(form, name: str, year: int, values: dict, style: str) -> str:
    """A report as copied from a web page, in one of the shapes the seeds show."""
    cells: list[list[str]] = []  # rows of the table part: [label, v1, v2 …] or [header]

    def table_rows(t: Table) -> None:
        for lab in _header_labels(t):
            cells.append([lab])

        def walk(n: HeaderNode) -> None:
            if n.children:
                if n.label:
                    cells.append([n.label])
                for ch in n.children:
                    walk(ch)
                return
            leaf = next(r for r in t.rows if r.path[-1] is n)
            vals = [fmt(form, t.key(leaf, c), values[t.key(leaf, c)]) for c in t.columns]
            cells.append(([n.label] if n.label else []) + vals)

        for n in t.row_tree:
            walk(n)

    sec = {s.id: s for s in form.sections}
    parts = [
        f"{name}{year}年政府信息公开工作年度报告",
        f"发布时间：{year + 1}-01-20",
        f"根据《中华人民共和国政府信息公开条例》要求，现公布{name}{year}年政府信息公开工作年度报告。",
    ]
    body: list[str] = []
    for sid in ("s1", "s2", "s3", "s4", "s5", "s6"):
        body.append(("@@", sec[sid].title))
        if sec[sid].kind == "text":
            body.append(("p", "本年度工作有序开展。"))
            continue
        cells.clear()
        for t in sec[sid].tables:
            table_rows(t)
        body.append(("table", [list(r) for r in cells]))
    out = list(parts)
    if style == "html":
        html = ["<html><body>", *(f"<p>{p}</p>" for p in parts)]
        for kind, x in body:
            if kind == "@@":
                html.append(f"<h2>{x}</h2>")
            elif kind == "p":
                html.append(f"<p>{x}</p>")
            else:
                html.append("<table>")
                for row in x:
                    html.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
                html.append("</table>")
        return "\n".join(html + ["</body></html>"])
    for kind, x in body:
        if kind in ("@@", "p"):
            out.append(x)
            continue
        for row in x:
            if style == "lines":
                out.extend(row)
            elif style == "pipes":
                out.extend(c + " |" for c in row)
                out.append("||")
            elif style == "rows":
                out.append("\t".join(row))
    sep = "\n\n" if style == "lines" else "\n"
    return sep.join(out)


@pytest.mark.parametrize("style", ["lines", "pipes", "rows", "html"])
@pytest.mark.parametrize("fid, name, utype", UNITS)
def test_seed_shaped_round_trip(fid, name, utype, style):
    form = load_form(fid)
    year = 2020 if fid == "2019" else 2024
    for seed in range(6):
        rng = random.Random(f"{fid}|{style}|{seed}")
        values = random_tables(form, rng)
        assert not [f for f in check(form, values) if f.severity == "error"]  # a valid data set
        ex = extract_text(seed_shaped(form, name, year, values, style))
        assert (ex.report.unit_name, ex.report.year, ex.format_id) == (name, year, fid)
        assert ex.report.unit_type == utype
        assert ex.counts()[READ] == len(form.cells), [k for k, s in ex.status.items() if s != READ][:5]
        got = {k: ex.report.values[k] for k in form.cells}
        assert got == {k: values[k] for k in form.cells}


# --------------------------------------------------------------------------------------------
# reports rendered by gkxlsx


render = pytest.importorskip(
    "gkxlsx.render.renderer", reason="gkxlsx.render.renderer (render_text/markdown/html/docx) is not available yet"
)
samples = pytest.importorskip("gkxlsx.demo.samples", reason="gkxlsx.demo.samples is not available yet")


def rendered_reports(n: int):
    """(report, expected values) for n random valid data sets per unit: the sample narrative,
    random tables."""
    out = []
    for fid, name, utype in UNITS:
        form = load_form(fid)
        year = 2020 if fid == "2019" else 2023
        for seed in range(n):
            rng = random.Random(f"render|{fid}|{name}|{seed}")
            v = samples.sample_values(form, name, utype, year, seed=seed)
            v.update(random_tables(form, rng, utype))
            if "s6.fee_notices" in form.fields and v.get("s3.r6_2.total"):
                v["s6.fee_notices"] = max(1, v.get("s6.fee_notices") or 0)
                v["s6.fee_notice_amount"] = Decimal(100)
            v["s1.on_request"] = (
                f"{year}年共收到政府信息公开申请{v['s3.new.total']}件。"
                if v["s3.new.total"]
                else f"{year}年未收到政府信息公开申请。"
            )
            cases = sum(v[f"s4.{g}.total"] for g in ("review", "lit_direct", "lit_after_review"))
            v["s1.supervision"] = "明确专人负责，组织业务培训1次。" + (
                f"本年度被申请行政复议、提起行政诉讼共{cases}件。"
                if cases
                else "本年度未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。"
            )
            v["s1.active"] = "主动公开政府信息120条，按规定更新重点领域信息。"
            v["meta.name"] = name
            out.append((Report(form, year, name, f"U{seed}", utype, v), v))
    return out


def _same_tables(ex, v, form):
    assert (ex.report.unit_name, ex.report.year, ex.format_id) == (v["meta.name"], ex.report.year, form.id)
    assert ex.counts()[READ] == len(form.cells), [(k, ex.notes.get(k)) for k, s in ex.status.items() if s != READ][:5]
    assert {k: ex.report.values[k] for k in form.cells} == {k: v[k] for k in form.cells}


@pytest.mark.parametrize("kind", ["txt", "md", "html"])
def test_rendered_text_formats_round_trip(kind):
    fn = {"txt": render.render_text, "md": render.render_markdown, "html": render.render_html}[kind]
    for rep, v in rendered_reports(4):
        ex = extract_text(fn(rep))
        _same_tables(ex, v, rep.form)
        assert ex.report.year == rep.year and ex.title == f"{rep.unit_name}{rep.year}年政府信息公开工作年度报告"
        # narrative fields come back under their keys
        assert ex.report.values["s5.problems"].replace("\n", "") == v["s5.problems"].replace("\n", "")
        assert ex.report.values["s1.management"] == v["s1.management"]


def test_rendered_docx_round_trip(tmp_path):
    for i, (rep, v) in enumerate(rendered_reports(2)):
        p = render.render_docx(rep, tmp_path / f"r{i}.docx")
        ex = extract_file(p)
        _same_tables(ex, v, rep.form)


@pytest.mark.parametrize("kind", ["txt", "html"])
def test_rendered_reports_audit_clean(kind):
    """What gkxlsx renders from valid data is right: the audit finds nothing but the missing
    publication date (a rendered report has not been published yet)."""
    fn = {"txt": render.render_text, "html": render.render_html}[kind]
    for rep, _v in rendered_reports(3):
        res = audit_text(fn(rep))
        assert res.rule_ids() == ["W-PUB-DATE"], [f.text() for f in res.findings]


@pytest.mark.lo
def test_rendered_pdf_never_misreads(tmp_path):
    """PDF through pdftotext loses the table grid (wrapped labels, merged cells, page breaks), so
    many cells cannot be placed — but every cell that is read is right, and the rest are reported
    as missing or ambiguous, never shifted."""
    import shutil

    from gkxlsx.office import lo

    lo.require_writer_or_skip()  # the PDF is converted from the Word document
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) not installed")
    for i, (rep, v) in enumerate(rendered_reports(1)[:2]):
        p = render.render_pdf(rep, tmp_path / f"r{i}.pdf")
        ex = extract_file(p)
        assert ex.format_id == rep.form.id
        read = [k for k, s in ex.status.items() if s == READ]
        assert len(read) > 20
        assert {k: ex.report.values[k] for k in read} == {k: v[k] for k in read}
        unread = set(ex.status) - set(read)
        assert unread == {k for ri in ex.row_issues for k in ri.keys}
