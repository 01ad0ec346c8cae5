"""``gkxlsx demo``: a whole collection campaign on the bundled example roster.

init → generate → simulated returns of realistic variety (made by prefilling the templates: clean,
broken, with "/" and "3条" in number cells, with warnings, one late, one resubmitted, one never
returned, one stray file) → import → status → accept → aggregate → render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from gkxlsx.campaign.campaign import Campaign, aggregate, generate_for_campaign, import_files, init_campaign
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.workbook.generate import build_workbook

INBOX = "收到的文件"


def example_roster() -> Path:
    """The bundled example roster (examples/roster.csv in the repository, shipped in the package)."""
    here = Path(__file__).resolve().parents[1]
    for p in (here / "data" / "roster.csv", here.parent / "examples" / "roster.csv"):
        if p.exists():
            return p
    raise FileNotFoundError("找不到示例名单 roster.csv")


@dataclass
class Scenario:
    code: str
    note: str
    received: str  # ISO time
    edit: Callable[[dict[str, Any]], None] | None = None
    resubmit: str | None = None  # received time of a corrected second version


def _unbalance(v: dict[str, Any]) -> None:
    v["s3.r1_open.natural"] = (v.get("s3.r1_open.natural") or 0) + 1


def _bad_values(v: dict[str, Any]) -> None:
    v["s2.regulation.issued"] = "/"
    v["s2.regulation.repealed"] = "/"
    v["s3.new.commercial"] = "3条"


def _guizhang(v: dict[str, Any]) -> None:
    v["s2.regulation.issued"] = 1
    v["s2.regulation.in_force"] = (v.get("s2.regulation.in_force") or 0) + 1


def _contradiction(v: dict[str, Any]) -> None:
    v["s3.new.natural"] = (v.get("s3.new.natural") or 0) + 2
    v["s3.r1_open.natural"] = (v.get("s3.r1_open.natural") or 0) + 2
    v["s1.on_request"] = "本年度未收到政府信息公开申请。"


def _fee_unit(v: dict[str, Any]) -> None:
    v["s2.admin_fee.amount_wan"] = Decimal("25000")


SCENARIOS = [
    Scenario("SLX001", "按时报送，数据正确", "2026-01-12T09:30:00"),
    Scenario(
        "SLX002",
        "第一次报送勾稽关系不平衡，修改后重新报送",
        "2026-01-13T10:00:00",
        _unbalance,
        resubmit="2026-01-16T15:20:00",
    ),
    Scenario("SLX003", "数字单元格里填了“/”和“3条”", "2026-01-14T11:00:00", _bad_values),
    Scenario("SLX004", "街道填了规章（警告），政务公开办核实后确认", "2026-01-15T16:45:00", _guizhang),
    Scenario("SLX005", "逾期报送（截止日后）", "2026-01-25T09:00:00"),
    Scenario("SLX101", "按时报送，数据正确", "2026-01-10T14:00:00"),
    Scenario("SLX102", "文字说未收到申请，但表格中有申请", "2026-01-17T10:10:00", _contradiction),
    Scenario("SLX103", "按时报送，数据正确", "2026-01-18T08:50:00"),
    Scenario("SLX105", "按时报送，数据正确", "2026-01-19T17:30:00"),
    Scenario("SLX106", "收费金额把“元”当成了“万元”（警告）", "2026-01-16T09:40:00", _fee_unit),
    Scenario("SLX200", "按时报送，数据正确", "2026-01-19T11:15:00"),
]
NOT_RETURNED = ("SLX104",)


def run_demo(directory: str | Path, echo: Callable[[str], None] = print, render: bool = True) -> Campaign:
    root = Path(directory)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"目录 {root} 已存在且不为空。请换一个目录，或先删除它。")
    echo(f"① 新建收集任务：{root}")
    camp = init_campaign(
        root,
        year=2025,
        roster=example_roster(),
        office="示例县人民政府办公室",
        contact="政务公开办 0000-1234567",
        deadline=date(2026, 1, 20),
    )
    echo(f"   名单 {len(camp.units())} 个单位，格式 {camp.form.id}（{camp.form.document_number}），截止 2026-01-20")
    files = generate_for_campaign(camp)
    echo(f"② 已生成 {len(files)} 个填报工作簿：{camp.path('templates')}")
    inbox = root / INBOX
    inbox.mkdir(exist_ok=True)
    units = {u.code: u for u in camp.units()}
    echo("③ 模拟各单位填报（用生成器预填工作簿，与单位在 WPS/Excel 中填写后保存的文件结构相同）：")
    arrivals: list[tuple[str, Path, str]] = []
    for sc in SCENARIOS:
        u = units[sc.code]
        values = sample_values(camp.form, u.name, u.type, camp.year, seed=7)
        clean = dict(values)
        if sc.edit:
            sc.edit(values)
        data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
        path = inbox / workbook_filename(u, camp.year)
        path.write_bytes(data)
        arrivals.append((sc.received, path, sc.note))
        if sc.resubmit:
            data2, _ = build_workbook(camp.form, u, camp.year, prefill=clean)
            p2 = inbox / workbook_filename(u, camp.year).replace(".xlsx", "（修改后）.xlsx")
            p2.write_bytes(data2)
            arrivals.append((sc.resubmit, p2, "修改后重新报送"))
        echo(f"   {u.name}：{sc.note}")
    for code in NOT_RETURNED:
        echo(f"   {units[code].name}：未报送")
    stray = inbox / "会议通知回执.xlsx"
    _write_stray(stray)
    arrivals.append(("2026-01-15T12:00:00", stray, "不是填报模板的文件"))
    echo("④ 导入收到的文件（校验并登记，原件按 sha256 归档）：")
    for received, path, _note in sorted(arrivals):
        for r in import_files(camp, [path], source="邮件", received_at=received):
            if r.kind == "new":
                extra = (
                    f"，错误 {sum(f['severity'] == 'error' for f in r.findings)}，警告 {sum(f['severity'] == 'warning' for f in r.findings)}"
                    if r.findings
                    else ""
                )
                echo(f"   {path.name} → {r.unit_code} 第 {r.version} 版：{r.status}{extra}")
            elif r.kind == "quarantine":
                echo(f"   {path.name} → 已隔离：{r.message}")
            else:
                echo(f"   {path.name} → {r.message}")
    again = import_files(camp, [arrivals[0][1]], source="邮件")
    echo(f"   再次导入同一文件：{again[0].message}")
    camp.ledger.accept("SLX004", "经电话核实：该街道本年度转发了上级规章 1 件，已要求其在报告中改填为 0 并说明。")
    echo("⑤ 已确认东街街道的警告（记录了理由）。")
    s = camp.status()
    echo("⑥ 报送情况：" + s.headline())
    from gkxlsx.campaign.exports import write_aggregate, write_status_html, write_status_xlsx

    reports = camp.path("reports")
    similar = camp.similar()
    write_status_xlsx(camp, s, reports / "报送情况.xlsx", similar=similar)
    write_status_html(camp, s, reports / "报送情况.html", similar=similar)
    aggs = aggregate(camp)
    for agg in aggs:
        xlsx, _data = write_aggregate(camp, agg, reports)
        echo(f"⑦ 汇总：{agg.completeness['statement']}")
        echo(f"   汇总工作簿：{xlsx.name}")
    if render:
        from gkxlsx.form.report import Report
        from gkxlsx.render.renderer import render_files

        sub = camp.ledger.current("SLX001")
        if sub is not None:  # imported above: the demo's first, clean return
            u = units["SLX001"]
            rep = Report(camp.form, camp.year, u.name, u.code, u.type, dict(sub.values), source=sub.archive_path)
            out = render_files(rep, ["html", "docx", "md", "txt"], reports)
            echo(f"⑧ 已生成 {u.name} 的年度报告：{'、'.join(p.name for p in out)}")
            from gkxlsx.campaign.narrative import ensure_file
            from gkxlsx.campaign.publish import aggregate_report, area_name

            # the office writes its own part of the roll-up report (here: the sample text of a county)
            county = units["SLX200"].type  # the county government's type: the office's level
            words = sample_values(camp.form, area_name(camp), county, camp.year, seed=7, figures=aggs[0].report.values)
            ensure_file(camp.root, camp.form, camp.office, camp.year, words)
            rep, info = aggregate_report(camp, aggs[0])
            out = render_files(rep, ["html", "txt"], reports, aggregate=info, draft=False)
            echo(f"   汇总报告：{'、'.join(p.name for p in out)}")
    echo("")
    echo("接下来可以看：")
    echo(f"  gkxlsx status -C {root}            各单位报送情况")
    echo(f"  gkxlsx status SLX003 -C {root}     某单位的问题清单（单元格位置 + 修改方法）")
    echo(f"  gkxlsx diff SLX002 -C {root}       重新报送前后的变化")
    echo(f"  gkxlsx serve {root}                网页版：办公室的管理页面和各单位的填报页面")
    echo(f"  {reports}                          报送情况表、汇总工作簿、生成的报告")
    return camp


def _write_stray(path: Path) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("回执")
    ws.write_row(0, 0, ["单位", "参会人", "电话"])
    ws.write_row(1, 0, ["示例县教育局", "吴婷", "0000-7654321"])
    wb.close()
