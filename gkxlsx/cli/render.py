"""``gkxlsx render``: the publishable report in HTML, Word, Markdown, text and PDF.

Data come from the campaign (``UNIT…``, ``--all``, ``--aggregate``; run inside the campaign folder
or give ``-C``) or from report data files (``--data FILE.json``, the shape of
:func:`gkxlsx.render.renderer.report_from_dict`).  Thin: everything is in :mod:`gkxlsx.render.renderer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gkxlsx.cli.common import fail, writing


def _campaign_jobs(units: list[str], all_units: bool, aggregate: bool, campaign: Path | None, by: str | None):
    """(report, findings, aggregate-info, label) for each requested campaign report, plus skip notes."""
    try:
        from gkxlsx.campaign.campaign import CampaignError, find_campaign
        from gkxlsx.campaign.publish import report_jobs
    except ImportError:
        fail(
            "需要在收集任务目录中运行 gkxlsx render 单位…/--all/--aggregate（先用 gkxlsx init 创建收集任务）；"
            "也可以用 --data 报告数据.json 直接生成。"
        )

    try:
        camp = find_campaign(campaign)
    except CampaignError as e:
        fail(
            f"需要在收集任务目录中运行 gkxlsx render 单位…/--all/--aggregate：{e}\n也可以用 --data 报告数据.json 直接生成。"
        )
    with camp:
        try:
            jobs, notes, refused = report_jobs(camp, units, all_units=all_units, aggregate=aggregate, by=by)
        except CampaignError as e:
            fail(str(e), 1)
        out_default = camp.path("reports")
    return jobs, notes, refused, out_default


def render_cmd(
    units: list[str] = typer.Argument(
        None, metavar="单位...", help="单位代码或名称（收集任务中的单位） / units of the campaign"
    ),
    all_units: bool = typer.Option(False, "--all", help="收集任务中所有已报送的单位"),
    aggregate: bool = typer.Option(False, "--aggregate", help="汇总报告（已通过或已确认的单位之和，附汇总完整性说明）"),
    by: str | None = typer.Option(None, "--by", help="分组汇总：上级单位 或 单位类型（与 --aggregate 一起用）"),
    data: list[Path] = typer.Option(None, "--data", "-d", help="报告数据文件（JSON），可重复 / report data file"),
    to: str = typer.Option("html,docx,md,txt", "--to", "-t", help="输出格式：html,docx,md,txt,pdf（逗号分隔）"),
    out: Path | None = typer.Option(None, "--out", "-o", help="输出目录（默认：任务目录/报告，或当前目录）"),
    templates: Path | None = typer.Option(None, "--templates", help="自定义模板目录：其中的同名模板优先于内置模板"),
    draft: bool = typer.Option(False, "--draft", help="数据有错误时也生成，每页标注“草稿”（不得公开发布）"),
    campaign: Path | None = typer.Option(None, "--campaign", "-C", help="收集任务目录（默认：当前目录）"),
) -> None:
    """生成可公开发布的年度报告（网页、Word、Markdown、纯文本、PDF）。 / Render the publishable report."""
    from gkxlsx.render.renderer import (
        PdfFailed,
        RenderError,
        RenderRefused,
        load_report_json,
        parse_formats,
        render_files,
    )

    try:
        fmts = parse_formats(to)
    except RenderError as e:
        fail(str(e))
    if templates is not None and not templates.is_dir():
        fail(f"模板目录不存在：{templates}")
    if not (units or all_units or aggregate or data):
        fail(
            "请指定要生成报告的单位（单位代码…、--all 或 --aggregate，在收集任务目录中运行），或用 --data 报告数据.json。"
        )
    jobs: list[tuple[Any, Any, Any, str]] = []
    notes: list[str] = []
    refused: list[str] = []
    out_dir = out
    if units or all_units or aggregate:
        cjobs, notes, refused, out_default = _campaign_jobs(units or [], all_units, aggregate, campaign, by)
        jobs.extend(cjobs)
        out_dir = out_dir or out_default
    for p in data or []:
        try:
            rep = load_report_json(p)
        except RenderError as e:
            refused.append(str(e))
            continue
        jobs.append((rep, None, None, rep.unit_name))
    out_dir = out_dir or Path(".")
    n_files = 0
    no_pdf: list[str] = []  # reports whose other formats were written, not their PDF
    pdf_why = ""  # why no PDF can be made on this machine (said once, not per report)
    pdf_errors: list[str] = []  # a report whose PDF conversion failed
    for rep, findings, agg, label in jobs:
        want = [f for f in fmts if f != "pdf"] if pdf_why else fmts
        if not want:
            no_pdf.append(label)
            continue
        try:
            with writing(f"输出目录 {out_dir}"):
                files = render_files(
                    rep, want, out_dir, draft=draft, templates=templates, findings=findings, aggregate=agg
                )
        except PdfFailed as e:
            files = e.written
            no_pdf.append(label)
            if e.unavailable:
                pdf_why = str(e)  # the other reports get their other formats, without trying again
            else:
                pdf_errors.append(f"{label}：{e}")
        except RenderRefused as e:
            refused.append(str(e))
            continue
        except RenderError as e:
            refused.append(f"{label}：{e}")
            continue
        if pdf_why and "pdf" in fmts and label not in no_pdf:
            no_pdf.append(label)
        n_files += len(files)
        if files:
            typer.echo(f"{label}{'（草稿）' if draft else ''}：")
        for f in files:
            typer.echo(f"  已生成 {f}")
    for n in notes:
        typer.echo(f"跳过 {n}")
    if pdf_why:
        typer.secho(pdf_why, err=True, fg=typer.colors.RED)
    for r in pdf_errors + refused:
        typer.secho(r, err=True, fg=typer.colors.RED)
    if jobs or refused:
        typer.echo(
            f"共生成 {n_files} 个文件"
            + (f"；{len(refused)} 份未生成（见上）" if refused else "")
            + (f"；{len(no_pdf)} 份未生成 PDF（{'、'.join(no_pdf)}），其他格式已生成" if no_pdf else "")
            + "。"
        )
    if refused or no_pdf:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("render")(render_cmd)
