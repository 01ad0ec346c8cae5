"""Rebuild the example workbooks of one unit, and the pictures of every sheet.

    python examples/workbooks/make_examples.py              # the two workbooks
    python examples/workbooks/make_examples.py --pictures   # + examples/pictures/*.png

Workbooks (unit SLX001 示例县城关镇人民政府 of examples/roster.csv, report year 2025, format 2021):

- ``blank.xlsx``  — what the unit receives;
- ``filled.xlsx`` — the same workbook with a complete, consistent report typed in (prefilled through
  the generator, so every total and check cell carries its computed result).

Pictures: each sheet of ``filled.xlsx`` printed by LibreOffice (xlsx → PDF → ``pdftoppm``), named
``NN_<sheet>.png``; plus two sheets of a copy with mistakes (``*_有误示例.png``) to show what a broken
rule looks like, and sheet 三 of a workbook generated with last year's values (``*_上年对照.png``: the grey
上年 column).  Needs ``soffice`` and ``pdftoppm`` (Debian: libreoffice-calc, poppler-utils,
fonts-noto-cjk).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from gkxlsx.form.model import load_form
from gkxlsx.form.roster import load_roster
from gkxlsx.workbook.generate import OfficeInfo, build_workbook

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent
PICTURES = EXAMPLES / "pictures"
YEAR = 2025
OFFICE = OfficeInfo(
    name="示例县人民政府办公室（政务公开办）", contact="王老师 0000-7654321", deadline=date(2026, 1, 20)
)
DPI = 100
DENSE = {"三、依申请公开": 150, "校验结果": 150}  # landscape table / long list: more pixels to stay readable

S3_COLS = ("natural", "commercial", "research", "public_welfare", "legal_service", "other_org")


def filled_values() -> dict:
    """A complete, consistent 2025 report of a town (every rule passes)."""
    form = load_form("2021")
    v: dict = {k: 0 for k in form.entry_keys}
    v.update({k: 0 for k in ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected")})
    v.update(
        {
            "s2.normative_doc.issued": 2,
            "s2.normative_doc.repealed": 1,
            "s2.normative_doc.in_force": 9,
            "s2.licensing.decisions": 36,
            "s2.penalty.decisions": 12,
            "s2.admin_fee.amount_wan": Decimal("0.35"),
            # 自然人: 8 + 1 = (4 + 1 + 1 + 2) + 1
            "s3.new.natural": 8,
            "s3.carried_in.natural": 1,
            "s3.r1_open.natural": 4,
            "s3.r2_partial.natural": 1,
            "s3.r3_4.natural": 1,
            "s3.r4_1.natural": 2,
            "s3.carried_out.natural": 1,
            # 商业企业: 1 + 0 = 1 + 0
            "s3.new.commercial": 1,
            "s3.r1_open.commercial": 1,
            "s4.review.upheld": 1,
            "meta.contact_person": "张晓梅",
            "meta.contact_phone": "0000-6612345",
            "meta.address": "示例县城关镇人民路1号",
            "meta.postcode": "000100",
            "meta.report_date": date(2026, 1, 15),
            "s1.overview": "2025年，城关镇深入贯彻落实《中华人民共和国政府信息公开条例》，围绕群众关切推进政务公开。",
            "s1.active": "全年通过县政府门户网站城关镇专栏主动公开政府信息 236 条，其中政策文件 18 条、政策解读 9 篇。",
            "s1.on_request": "全年新收政府信息公开申请 9 件，上年结转 1 件，均在法定期限内答复，结转下年度办理 1 件。",
            "s1.management": "严格落实公开前保密审查，清理行政规范性文件 3 件。",
            "s1.platform": "维护政府网站信息公开专栏和“城关发布”微信公众号，及时更新。",
            "s1.supervision": "将政务公开纳入年度目标考核，组织培训 2 次。",
            "s1.assessment": "年度考核结果为良好；未收到社会评议反馈；未发生责任追究情况。",
            "s5.problems": "一是政策解读形式较为单一；二是部分栏目更新不够及时。",
            "s5.last_year": "上年度报告提出的栏目更新问题已建立周更新机制。",
            "s5.improvements": "2026年将丰富图解、视频等解读形式，落实栏目专人维护。",
            "s6.superior_points": "按照县政务公开工作要点，完成基层政务公开标准目录梳理。",
        }
    )
    return v


def broken_values() -> dict:
    """The same report with typical mistakes: unbalanced 自然人 column, 制发 > 现行有效 + 废止,
    the fee entered in 元 instead of 万元."""
    v = filled_values()
    v.update({"s3.carried_out.natural": 2, "s2.normative_doc.issued": 12, "s2.admin_fee.amount_wan": 3500})
    return v


def last_year_values() -> dict:
    """The town's 2024 report (consistent; its 结转下年度 is the 2025 report's 上年结转) — last
    year's values of a campaign, shown in the grey 上年 column of the 2025 workbook."""
    form = load_form("2021")
    v: dict = {k: 0 for k in form.entry_keys if k in form.cells}
    v.update(
        {
            "s2.normative_doc.issued": 3,
            "s2.normative_doc.in_force": 8,
            "s2.licensing.decisions": 30,
            "s2.penalty.decisions": 15,
            "s2.admin_fee.amount_wan": Decimal("0.4"),
            # 自然人: 6 + 0 = (3 + 1 + 1) + 1
            "s3.new.natural": 6,
            "s3.r1_open.natural": 3,
            "s3.r2_partial.natural": 1,
            "s3.r4_1.natural": 1,
            "s3.carried_out.natural": 1,
            # 商业企业: 2 + 0 = 2 + 0
            "s3.new.commercial": 2,
            "s3.r1_open.commercial": 2,
            "s4.lit_direct.upheld": 1,
        }
    )
    return v


def build(out_dir: Path) -> dict[str, Path]:
    form = load_form("2021")
    unit = next(u for u in load_roster(EXAMPLES / "roster.csv", form) if u.code == "SLX001")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, values, prev in (
        ("blank", None, None),
        ("filled", filled_values(), None),
        ("broken", broken_values(), None),
        ("filled_prev", filled_values(), last_year_values()),  # a campaign that knows last year's report
    ):
        data, _ = build_workbook(form, unit, YEAR, prefill=values, prev=prev, office=OFFICE)
        p = out_dir / f"{name}.xlsx"
        p.write_bytes(data)
        paths[name] = p
    return paths


def _run(cmd: list[str], timeout: int = 180) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout).stdout


def render(
    xlsx: Path, sheet_names: list[str], out_dir: Path, suffix: str = "", only: set[str] | None = None
) -> list[Path]:
    """Print ``xlsx`` to PDF with LibreOffice and save one PNG per page, named by sheet."""
    written = []
    with tempfile.TemporaryDirectory(prefix="gkx_pic_") as tmp:
        t = Path(tmp)
        _run(
            [
                "soffice",
                f"-env:UserInstallation=file://{t}/profile",
                "--headless",
                "--norestore",
                "--nolockcheck",
                "--convert-to",
                "pdf",
                "--outdir",
                str(t),
                str(xlsx),
            ]
        )
        pdf = t / (xlsx.stem + ".pdf")
        pages = int(
            next(line.split()[-1] for line in _run(["pdfinfo", str(pdf)]).splitlines() if line.startswith("Pages:"))
        )
        seen: dict[str, int] = {}
        for page in range(1, pages + 1):
            text = _run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"])
            head = next((line for line in text.splitlines() if line.strip()), "")
            sheet = next((s for s in sheet_names if head.rstrip().endswith(s)), f"page{page}")  # header: … <sheet name>
            if only is not None and sheet not in only:
                continue
            seen[sheet] = seen.get(sheet, 0) + 1
            idx = sheet_names.index(sheet) + 1 if sheet in sheet_names else 0
            name = f"{idx:02d}_{sheet}{suffix}" + (f"_{seen[sheet]}" if seen[sheet] > 1 else "")
            _run(
                [
                    "pdftoppm",
                    "-r",
                    str(DENSE.get(sheet, DPI)),
                    "-png",
                    "-singlefile",
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    str(pdf),
                    str(t / name),
                ]
            )
            dst = out_dir / f"{name}.png"
            shutil.copyfile(t / f"{name}.png", dst)
            written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pictures", action="store_true", help="also render examples/pictures/*.png (needs soffice, pdftoppm)"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = build(Path(tmp))
        for name in ("blank", "filled"):
            shutil.copyfile(paths[name], HERE / f"{name}.xlsx")
            print(f"{HERE / (name + '.xlsx')}")
        if args.pictures:
            import openpyxl

            sheets = [
                ws.title for ws in openpyxl.load_workbook(paths["filled"]).worksheets if ws.sheet_state == "visible"
            ]
            PICTURES.mkdir(parents=True, exist_ok=True)
            for old in PICTURES.glob("*.png"):
                old.unlink()
            for p in render(paths["filled"], sheets, PICTURES):
                print(p)
            for p in render(
                paths["broken"],
                sheets,
                PICTURES,
                suffix="_有误示例",
                only={"二、主动公开", "三、依申请公开", "校验结果"},
            ):
                print(p)
            # the grey 上年 column of a workbook generated with last year's values
            for p in render(paths["filled_prev"], sheets, PICTURES, suffix="_上年对照", only={"三、依申请公开"}):
                print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
