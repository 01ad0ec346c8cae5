"""Rebuild the example returned workbooks of this folder (and the check output in README.md).

    python examples/returns/make_returns.py

Four units of examples/roster.csv send back their 2025 workbooks, made the way the generator
makes them and filled with the units' values (gkxlsx.demo.samples), each with one kind of problem:

* SLX001 城关镇 — complete and correct;
* SLX002 青石镇 — section 三 does not balance (one application counted twice);
* SLX101 财政局 — "/" and "3条" typed into number cells;
* SLX004 东街街道 — the text says no application was received, the table shows three.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.form.model import load_form
from gkxlsx.form.roster import Unit
from gkxlsx.workbook.generate import build_workbook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
YEAR = 2025


def units() -> dict[str, Unit]:
    with open(ROOT / "examples" / "roster.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {
        r["单位代码"]: Unit(r["单位代码"], r["单位名称"], r["单位类型"], r["上级单位"], r["联系人"], r["邮箱"])
        for r in rows
    }


def quiet(form, u: Unit) -> dict:
    v = sample_values(form, u.name, u.type, YEAR, seed=11, busy=False)
    for k, c in form.cells.items():
        if not c.derived and c.section in ("s3", "s4"):
            v[k] = 0
    v["s6.fee_notices"], v["s6.fee_notice_amount"], v["s6.fee_collected"] = 0, 0, 0
    v["s1.on_request"] = f"{YEAR}年未收到政府信息公开申请。"
    v["s1.supervision"] = (
        "明确分管领导和专人负责政府信息公开工作，组织业务培训2次。本年度未发生因政府信息公开工作被申请行政复议、提起行政诉讼的情况。"
    )
    return v


def main() -> None:
    form = load_form("2021")
    us = units()
    files = {}
    # 1. complete and correct
    u = us["SLX001"]
    files[u] = sample_values(form, u.name, u.type, YEAR, seed=3, busy=True)
    # 2. section 三 does not balance
    u = us["SLX002"]
    v = sample_values(form, u.name, u.type, YEAR, seed=4, busy=True)
    v["s3.r1_open.natural"] += 1
    files[u] = v
    # 3. "/" and "3条" in number cells
    u = us["SLX101"]
    v = quiet(form, u)
    v["s2.regulation.issued"] = "/"
    v["s3.new.natural"], v["s3.r1_open.natural"] = 3, "3条"
    v["s1.on_request"] = f"{YEAR}年共收到政府信息公开申请3件，均已按期答复。"
    files[u] = v
    # 4. the text contradicts the table
    u = us["SLX004"]
    v = quiet(form, u)
    v["s3.new.natural"], v["s3.r1_open.natural"] = 3, 3
    files[u] = v
    for p in HERE.glob("*.xlsx"):
        p.unlink()
    for u, v in files.items():
        data, _ = build_workbook(form, u, YEAR, prefill=v)
        (HERE / workbook_filename(u, YEAR)).write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-m", "gkxlsx", "check", str(HERE.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True
    )
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, _, rest = text.partition("```text\n")
    _, _, tail = rest.partition("```\n")
    readme.write_text(
        head + "```text\n$ gkxlsx check examples/returns\n" + out.stdout + f"$ echo $?\n{out.returncode}\n```\n" + tail,
        encoding="utf-8",
    )
    print(out.stdout)


if __name__ == "__main__":
    main()
