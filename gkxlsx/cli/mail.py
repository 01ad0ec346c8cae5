"""Mail commands: ``gkxlsx mail send|remind|feedback`` and ``gkxlsx fetch``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gkxlsx.cli.common import CAMPAIGN_OPT, fail, open_campaign

if TYPE_CHECKING:
    from gkxlsx.mail.mail import Delivery

ONLY_OPT = typer.Option(None, "--only", help="只发给这些单位（单位代码或名称，可重复，也可用逗号分隔）")
DRY_OPT = typer.Option(False, "--dry-run", help="不发送，只把邮件写成 .eml 文件保存到“发件箱”文件夹，供检查")
TEMPLATES_OPT = typer.Option(None, "--templates", help="邮件模板文件夹（覆盖自带的 mail_*.j2 模板）")

mail_app = typer.Typer(
    help="发送邮件：填报通知（附工作簿）、催报、退回修改。SMTP 设置在 campaign.toml 的 [mail] 中，密码从环境变量读取或运行时输入。",
    no_args_is_help=True,
)


def _progress(d: Delivery) -> None:
    label = d.mail.label
    for a in d.sent:
        typer.echo(f"  ✓ {label} → {a}")
    for a, r in d.failed.items():
        typer.secho(f"  ✗ {label} → {a or '（无邮箱）'}：{r}", fg=typer.colors.RED)


def _run(kind: str, only, dry_run: bool, templates, campaign, resend: bool = False) -> None:
    from gkxlsx.campaign.campaign import CampaignError
    from gkxlsx.mail.mail import (
        KINDS,
        MailError,
        compose_feedback,
        compose_remind,
        compose_send,
        delivery_report,
        get_password,
        mail_settings,
        send_and_record,
        write_outbox,
    )

    camp = open_campaign(campaign)
    with camp:
        try:
            settings = mail_settings(camp)
            skipped: list = []
            if kind == "send":
                mails, skipped = compose_send(camp, only=only, templates=templates, resend=resend)
            elif kind == "remind":
                mails = compose_remind(camp, only=only, templates=templates)
            else:
                mails = compose_feedback(camp, only=only, templates=templates)
        except (MailError, CampaignError) as e:
            fail(str(e))
        if skipped:
            typer.echo(
                f"已发送过{KINDS[kind]}的 {len(skipped)} 个单位本次跳过（如需重发请加 --resend 或 --only 单位代码）。"
            )
        if not mails:
            what = {
                "send": "需要发送填报通知的单位",
                "remind": "需要催报的单位（都已报送且没有错误）",
                "feedback": "需要退回修改的单位（没有带错误或警告的当前报送）",
            }[kind]
            typer.echo(f"没有{what}。")
            return
        problems = [m for m in mails if m.problem]
        if dry_run:
            paths = write_outbox(camp, mails)
            if paths:
                typer.echo(f"预览：已生成 {len(paths)} 封{KINDS[kind]}邮件，保存在 {paths[0].parent}（未发送）：")
                for p in paths:
                    typer.echo(f"  {p.name}")
            for m in problems:
                typer.secho(f"  ✗ {m.label}：{m.problem}", fg=typer.colors.RED)
            return
        try:
            settings.require_smtp()
            password = get_password(settings) if settings.user else None
        except MailError as e:
            fail(str(e))
        n = len(mails) - len(problems)
        rate = f"，每分钟最多 {settings.rate_per_minute:g} 封" if settings.rate_per_minute else ""
        typer.echo(
            f"正在通过 {settings.host}:{settings.port}（{settings.security}）发送 {n} 封{KINDS[kind]}邮件{rate}……"
        )
        results = send_and_record(camp, mails, settings, password, on_result=_progress)
        for line in delivery_report(results):
            typer.echo(line)
        if any(d.failed for d in results):
            raise typer.Exit(1)


@mail_app.command("send")
def send_cmd(
    only: list[str] | None = ONLY_OPT,
    dry_run: bool = DRY_OPT,
    templates: Path | None = TEMPLATES_OPT,
    resend: bool = typer.Option(False, "--resend", help="已发送过的单位也重新发送"),
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """给每个单位发送填报通知，附上该单位的填报工作簿。 / Send each unit its workbook."""
    _run("send", only, dry_run, templates, campaign, resend)


@mail_app.command("remind")
def remind_cmd(
    only: list[str] | None = ONLY_OPT,
    dry_run: bool = DRY_OPT,
    templates: Path | None = TEMPLATES_OPT,
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """催报：发给尚未报送、或当前报送有错误的单位，写明缺什么、错在哪。 / Remind units."""
    _run("remind", only, dry_run, templates, campaign)


@mail_app.command("feedback")
def feedback_cmd(
    only: list[str] | None = ONLY_OPT,
    dry_run: bool = DRY_OPT,
    templates: Path | None = TEMPLATES_OPT,
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """退回修改：把校验发现的问题和标注了问题的工作簿发给有错误或警告的单位。 / Send feedback."""
    _run("feedback", only, dry_run, templates, campaign)


def fetch_cmd(
    paths: list[Path] = typer.Argument(None, metavar="邮件文件...", help=".eml 邮件文件或包含 .eml 的文件夹"),
    eml: list[Path] | None = typer.Option(None, "--eml", help=".eml 邮件文件或文件夹（可重复）"),
    mbox: list[Path] | None = typer.Option(None, "--mbox", help="mbox 邮箱文件（可重复），如 Thunderbird 的收件箱文件"),
    imap: bool = typer.Option(False, "--imap", help="从 campaign.toml 中设置的 IMAP 邮箱（IMAPS）读取"),
    campaign: Path | None = CAMPAIGN_OPT,
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
) -> None:
    """从邮件中收取报送的工作簿并导入（只读取，不删除任何邮件；处理过的邮件不会重复导入）。 / Import returns from mail."""
    from gkxlsx.mail.mail import (
        MailError,
        fetch_eml,
        fetch_from_imap,
        fetch_mbox,
        get_password,
        mail_settings,
        process_messages,
    )

    camp = open_campaign(campaign)
    with camp:
        files = list(paths or []) + list(eml or [])
        boxes = list(mbox or [])
        settings = None
        try:
            settings = mail_settings(camp)
            if not files and not boxes and not imap:
                if settings.imap_host:
                    imap = True
                else:
                    fail(
                        "请指定要读取的邮件：.eml 文件（--eml）、mbox 文件（--mbox），或在 campaign.toml 中设置 imap_host 后使用 --imap。"
                    )
            reports = []
            if files:
                reports.append(process_messages(camp, fetch_eml(files)))
            for b in boxes:
                reports.append(process_messages(camp, fetch_mbox(b)))
            if imap:
                settings.require_imap()
                typer.echo(
                    f"正在读取 {settings.imap_host}:{settings.imap_port} 的“{settings.imap_folder}”文件夹（只读）……"
                )
                pw = get_password(settings, what="收件邮箱")
                reports.append(fetch_from_imap(camp, pw, settings=settings))
        except MailError as e:
            fail(str(e))
        if as_json:
            typer.echo(
                json.dumps(
                    [{"message_id": m.message_id, **m.summary()} for r in reports for m in r.mails],
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        for r in reports:
            for line in r.lines():
                typer.echo(line)


def register(app: typer.Typer) -> None:
    app.add_typer(mail_app, name="mail")
    app.command("fetch")(fetch_cmd)
