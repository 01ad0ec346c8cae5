"""``gkxlsx generate``: one locked workbook per unit of a roster."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from gkxlsx.cli.common import fail, writing


def parse_deadline(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(f"截止日期“{text}”格式不对，应为 YYYY-MM-DD，例如 2026-01-20。")
    return None


def generate_cmd(
    roster: Path | None = typer.Option(
        None,
        "--roster",
        "-r",
        help="单位名单（CSV 或 XLSX，表头：单位代码,单位名称,单位类型,上级单位,联系人,邮箱）；在收集任务目录中可省略 / roster file",
    ),
    year: int | None = typer.Option(
        None, "--year", "-y", help="报告年度，如 2025；在收集任务目录中可省略 / report year"
    ),
    campaign: Path | None = typer.Option(
        None, "--campaign", "-C", help="收集任务目录：按任务的名单、年度生成到其“模板”文件夹"
    ),
    only: list[str] | None = typer.Option(None, "--only", help="只生成这些单位（单位代码，可重复）"),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="报告格式：2021 或 2019，或格式定义文件（默认按年度选择） / format id or variant .json",
    ),
    out: Path = typer.Option(Path("填报模板"), "--out", "-o", help="输出文件夹 / output folder"),
    prefill: Path | None = typer.Option(
        None, "--prefill", help="预填数据（JSON 或 CSV/XLSX，按单位代码和键） / per-unit values to prefill"
    ),
    previous: Path | None = typer.Option(
        None, "--previous", help="上年度数据（同上格式）：预填“上年结转”并启用跨年度校验 / last year's values"
    ),
    previous_format: str | None = typer.Option(
        None, "--previous-format", help="上年度数据的格式（默认按 年度-1 选择）"
    ),
    office: str = typer.Option("", "--office", help="收集单位名称，显示在填报说明中 / collecting office"),
    contact: str = typer.Option("", "--contact", help="收集单位联系方式 / office contact"),
    deadline: str | None = typer.Option(None, "--deadline", help="报送截止日期 YYYY-MM-DD / deadline"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="不显示进度条"),
) -> None:
    """按名单为每个单位生成锁定的、带实时校验的填报工作簿。 / Generate one locked workbook per unit."""
    if roster is None or year is None:
        _generate_in_campaign(campaign, only, quiet)
        return
    from gkxlsx.form.model import FormError, check_report_year, form_for_year, load_form
    from gkxlsx.form.roster import RosterError, load_roster
    from gkxlsx.workbook.generate import OfficeInfo, generate_all
    from gkxlsx.workbook.prefill import PrefillError, carry_over, load_values

    try:
        check_report_year(year)
        form = load_form(fmt) if fmt else form_for_year(year)
    except FormError as e:
        fail(str(e))
    lo, hi = form.report_years
    if not lo <= year <= hi:
        fail(f"格式 {form.id}（{form.document_number}）适用于 {lo}—{hi} 年度的报告，不适用于 {year} 年度。")
    try:
        units = load_roster(roster, form)
        pre = load_values(prefill, form) if prefill else {}
        prev = None
        pf = None
        if previous:
            pform = load_form(previous_format) if previous_format else form_for_year(year - 1)
            prev = load_values(previous, pform)
            pf = pform.id
            for code, vals in prev.items():
                merged = carry_over(form, vals, pform)
                merged.update(pre.get(code, {}))
                pre[code] = merged
    except (RosterError, PrefillError, FormError) as e:
        fail(str(e))
    for line in units.notices:
        typer.secho(line, fg=typer.colors.YELLOW)
    codes = {u.code for u in units}
    unknown = sorted(set(pre) - codes) + sorted(set(prev or {}) - codes - set(pre))
    if unknown:
        fail(f"预填/上年度数据中有名单里没有的单位代码：{'、'.join(unknown)}。请核对单位代码（例如字母 l 与数字 1）。")
    # what the guide sheet says about the collection (not the --campaign folder, which is unused here)
    info = OfficeInfo(name=office, contact=contact, deadline=parse_deadline(deadline))
    if quiet:
        with writing(f"输出文件夹 {out}"):
            files = generate_all(units, year, out, form=form, prefill=pre, prev=prev, prev_format=pf, office=info)
    else:
        with writing(f"输出文件夹 {out}"), typer.progressbar(length=len(units), label="正在生成", file=None) as bar:
            files = generate_all(
                units,
                year,
                out,
                form=form,
                prefill=pre,
                prev=prev,
                prev_format=pf,
                office=info,
                progress=lambda u: bar.update(1),
            )
    typer.echo(f"已为 {len(files)} 个单位生成 {year} 年度填报工作簿（格式 {form.id}，{form.document_number}）：{out}")
    typer.echo(f"清单：{out / 'manifest.json'}")
    for f in files[:5]:
        typer.echo(f"  {f.path.name}")
    if len(files) > 5:
        typer.echo(f"  …… 共 {len(files)} 个文件")


def _generate_in_campaign(campaign: Path | None, only, quiet: bool) -> None:
    from gkxlsx.campaign.campaign import CampaignError, find_campaign, generate_for_campaign

    try:
        camp = find_campaign(campaign)
    except CampaignError as e:
        fail("请给出 --roster 和 --year，或在收集任务目录中运行（" + str(e) + "）")
    with camp:
        units = [u for u in camp.units() if not only or u.code in only]
        if only and len(units) != len(set(only)):
            known = {u.code for u in units}
            fail("名单中没有这些单位代码：" + "、".join(c for c in only if c not in known))
        if quiet:
            with writing(f"模板文件夹 {camp.root}"):
                files = generate_for_campaign(camp, only=only)
        else:
            with writing(f"模板文件夹 {camp.root}"), typer.progressbar(length=len(units), label="正在生成") as bar:
                files = generate_for_campaign(camp, only=only, progress=lambda u: bar.update(1))
        n_prev = sum(1 for u in units if camp.ledger.previous(u.code))
        typer.echo(f"已为 {len(files)} 个单位生成 {camp.year} 年度填报工作簿：{camp.path('templates')}")
        if n_prev:
            typer.echo(f"其中 {n_prev} 个单位已预填“上年结转”，并启用跨年度校验。")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
