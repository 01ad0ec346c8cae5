"""Render 1,000 reports to HTML and to text (and a sample to Word); print reports per second.

    python benchmarks/bench_render.py [N]

The reports are varied, complete and valid (gkxlsx.demo.samples), one per fictional unit; each render
runs the validation gate (gkxlsx.rules.evaluate.check) as `gkxlsx render` does.  The Jinja environment and
each form's table structure are built once and reused.
"""

from __future__ import annotations

import sys
import time

from gkxlsx.demo.samples import sample_values
from gkxlsx.form.model import load_form
from gkxlsx.form.report import Report
from gkxlsx.render import renderer as R

TYPES = ("乡镇", "街道", "县级部门", "县级政府")


def make_reports(n: int) -> list[Report]:
    form = load_form("2021")
    out = []
    for i in range(n):
        ut = TYPES[i % len(TYPES)]
        name = f"示例县第{i + 1}单位" + ("人民政府" if ut in ("乡镇", "县级政府") else "")
        vals = sample_values(form, name, ut, 2025, seed=i)
        vals["meta.report_date"] = "2026-01-20"
        out.append(Report(form, 2025, name, f"B{i:04d}", ut, vals))
    return out


def bench(label: str, fn, reports) -> float:
    t0 = time.perf_counter()
    size = 0
    for rep in reports:
        size += len(fn(rep))
    dt = time.perf_counter() - t0
    rate = len(reports) / dt
    print(f"{label}：{len(reports)} 份，{dt:.2f} s，{rate:.1f} 份/秒（平均每份 {size / len(reports):,.0f} 字符/字节）")
    return rate


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    t0 = time.perf_counter()
    reports = make_reports(n)
    print(f"准备 {n} 份报告数据：{time.perf_counter() - t0:.2f} s")
    R.render_html(reports[0])  # warm-up: compile the templates once
    R.render_text(reports[0])
    bench("HTML（含校验）", R.render_html, reports)
    bench("纯文本（含校验）", R.render_text, reports)
    bench("Markdown（含校验）", R.render_markdown, reports)
    bench("HTML（已校验，findings=[]）", lambda r: R.render_html(r, findings=[]), reports)
    k = min(n, 200)
    bench("Word .docx（含校验）", lambda r: R.render_docx_bytes(r), reports[:k])


if __name__ == "__main__":
    main()
