"""Write the published-report corpus of tests/data/published/{html,text}/ (see README.md there).

Reports rendered by gkxlsx from sample data (``gkxlsx.demo.samples.sample_values``, many seeds,
both formats), then degraded the way crawlers degrade them:

* ``html/render_*.html`` — the rendered page as it is (some with the part titles in common
  variant wordings);
* ``text/runon_*.txt`` — the page's text with every table cell glued to the next (no separator
  at all: ``一、本年新收政府信息公开申请数量801000081二、…``), paragraphs on lines, some headings
  glued to the paragraph after them;
* ``text/glued_*.txt`` — the same with every line break removed: the whole page on one line;
* ``text/badtotal_*.txt`` — run-together pages whose （七）总计 row does not add up (as printed
  on real pages): the row must be read as printed and the column total reported;
* ``text/real_*.txt`` — numbers of real published reports (hand-transcribed, README.md) under the
  form's own labels, run together.

Each file has ``<name>.expected.json``: the format and every table value as printed (plus the
信息处理费 numbers).  Run from the repository: ``python tests/data/published/make_corpus.py``.
"""

from __future__ import annotations

import json
import random
import re
import sys
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from gkxlsx.demo.samples import sample_values  # noqa: E402
from gkxlsx.form.model import load_form  # noqa: E402
from gkxlsx.form.report import Report  # noqa: E402
from gkxlsx.published.extract import html_to_text  # noqa: E402
from gkxlsx.render.renderer import render_html  # noqa: E402
from gkxlsx.rules.engine import compute_derived  # noqa: E402

UNITS = [
    ("示例县城关镇人民政府", "乡镇"),
    ("示例市某某街道办事处", "街道"),
    ("示例县财政局", "县级部门"),
    ("示例县河口乡人民政府", "乡镇"),
    ("示例市生态环境局", "市级部门"),
]
N = 8  # seeds per format


def _j(v):
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else str(v)
    return v


def runon_text(html: str, glue_headings: bool = False) -> str:
    """A crawler's text of a page: each table's cells joined without any separator."""

    def table(m: re.Match) -> str:
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", m.group(0), re.S)
        return "<p>" + "".join(re.sub(r"<[^>]+>|\s+", "", c) for c in cells) + "</p>"

    text = html_to_text(re.sub(r"<table.*?</table>", table, html, flags=re.S))
    if glue_headings:  # “一、总体情况本年度，…”
        text = re.sub(r"(?m)^([一二三四五六]、[^\n]{2,30})\n", r"\1", text)
    return text


def variant_titles(html: str, form, rng: random.Random) -> str:
    """Part titles in the wordings real pages use."""
    t = form.section_titles
    swaps = {
        "s5": [
            "五、存在的主要问题及整改措施",
            "五、政府信息公开工作存在的主要问题及改进情况",
            "五、存在的问题及改进措施",
        ],
        "s6": ["六、其他需要报告的事项", "六、其他需要说明的事项", "六、其它需报告的事项"],
        "s4": ["四、因政府信息公开工作被申请行政复议、提起行政诉讼情况", t["s4"]],
    }
    for sid, choices in swaps.items():
        html = html.replace(f">{t[sid]}<", f">{rng.choice(choices)}<", 1)
    return html


def values_for(form, seed: int) -> tuple[Report, dict]:
    name, utype = UNITS[seed % len(UNITS)]
    year = 2020 if form.id == "2019" else 2023
    v = sample_values(form, name, utype, year, seed=seed, busy=seed % 3 != 2)
    v.update(compute_derived(form, v))
    return Report(form, year, name, f"U{seed}", utype, v), v


def expected(form, v: dict, kind: str, source: str) -> dict:
    keys = list(form.cells) + [
        k for k in ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected") if k in form.fields
    ]
    return {"kind": kind, "format": form.id, "source": source, "values": {k: _j(v.get(k)) for k in keys}}


def bad_total(form, v: dict, rng: random.Random) -> dict:
    """（七）总计 of one applicant column printed one more than its items (the row still adds up)."""
    v = dict(v)
    col = rng.choice(["natural", "commercial"])
    v[f"s3.r7_total.{col}"] += 1
    v["s3.r7_total.total"] += 1
    return v


def write(name: str, sub: str, text: str, exp: dict) -> None:
    d = HERE / sub
    d.mkdir(exist_ok=True)
    (d / name).write_text(text, encoding="utf-8")
    (d / (Path(name).stem + ".expected.json")).write_text(
        json.dumps(exp, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )


REAL = HERE / "real.json"


def real_text(form, rec: dict) -> str:
    """A real report's numbers under the form's labels, every cell glued (as its page reads when
    the cells lose their separators); only the rows transcribed are printed."""
    vals = rec["values"]
    lines = [rec["title"]]
    for sec in form.sections:
        lines.append(sec.title)
        if sec.kind == "text":
            lines.append(rec.get(sec.id, ""))
            continue
        buf = []
        groups: set[int] = set()
        for t in sec.tables:
            for r in t.rows:
                keys = [t.key(r, c) for c in t.columns]
                if not all(k in vals for k in keys):
                    continue
                for node in r.path[:-1]:
                    if node.label and id(node) not in groups:
                        groups.add(id(node))
                        buf.append(node.label)
                buf.append((r.label or "") + "".join(str(vals[k]) for k in keys))
        lines.append("".join(buf))
    return "\n".join(lines) + "\n"


def main() -> None:
    for fid in ("2021", "2019"):
        form = load_form(fid)
        for seed in range(N):
            rng = random.Random(f"{fid}|{seed}")
            rep, v = values_for(form, seed)
            html = render_html(rep)
            if seed % 2:
                html = variant_titles(html, form, rng)
            write(f"render_{fid}_{seed:02d}.html", "html", html, expected(form, v, "html", f"render seed {seed}"))
            write(
                f"runon_{fid}_{seed:02d}.txt",
                "text",
                runon_text(html, glue_headings=seed % 2 == 1),
                expected(form, v, "runon", f"render seed {seed}"),
            )
            if seed % 2 == 0:
                flat = runon_text(html).replace("\n", "")
                write(f"glued_{fid}_{seed:02d}.txt", "text", flat, expected(form, v, "glued", f"render seed {seed}"))
            if seed % 4 == 1:
                bad = bad_total(form, v, rng)
                rep_bad = Report(form, rep.year, rep.unit_name, rep.unit_code, rep.unit_type, bad)
                write(
                    f"badtotal_{fid}_{seed:02d}.txt",
                    "text",
                    runon_text(render_html(rep_bad, draft=True)),
                    expected(form, bad, "badtotal", f"render seed {seed}, （七）总计 off by one"),
                )
    for rec in json.loads(REAL.read_text(encoding="utf-8")):
        form = load_form(rec["format"])
        exp = {"kind": "real", "format": form.id, "source": rec["url"], "values": rec["values"]}
        write(f"real_{rec['id']}.txt", "text", real_text(form, rec), exp)


if __name__ == "__main__":
    main()
