"""Campaign commands: init, import, status, diff, accept, return, reopen, history, aggregate."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from gkxlsx.cli.common import CAMPAIGN_OPT, fail, open_campaign, writing
from gkxlsx.publication import month_day_zh, publication_facts

LEDGER = "账本（ledger.sqlite）"


def init_cmd(
    directory: Path = typer.Argument(..., metavar="目录", help="新建的收集任务目录 / new campaign folder"),
    year: int = typer.Option(..., "--year", "-y", help="报告年度 / report year"),
    roster: Path = typer.Option(..., "--roster", "-r", help="单位名单 CSV/XLSX / roster"),
    fmt: str | None = typer.Option(None, "--format", "-f", help="报告格式（默认按年度） / format"),
    office: str = typer.Option("", "--office", help="收集单位名称 / collecting office"),
    contact: str = typer.Option("", "--contact", help="收集单位联系方式"),
    deadline: str | None = typer.Option(
        None, "--deadline", help=f"报送截止日期 YYYY-MM-DD（默认次年{month_day_zh(publication_facts()['deadline'])}）"
    ),
    previous: Path | None = typer.Option(None, "--previous", help="上年度收集任务目录：启用跨年度校验并预填上年结转"),
    db: str | None = typer.Option(
        None,
        "--db",
        help="账本放在共享的 PostgreSQL 数据库（也可用人大金仓、openGauss）：postgresql://用户@主机:端口/库名；"
        "不写时账本是目录中的 ledger.sqlite",
    ),
) -> None:
    """新建一个收集任务（配置文件、账本数据库、文件夹）。 / Create a collection campaign."""
    from gkxlsx.campaign.campaign import CampaignError, init_campaign
    from gkxlsx.campaign.ledger import LedgerError
    from gkxlsx.form.model import FormError
    from gkxlsx.form.roster import RosterError

    dl = None
    if deadline:
        try:
            dl = date.fromisoformat(deadline)
        except ValueError:
            fail(f"截止日期“{deadline}”格式不对，应为 YYYY-MM-DD。")
    try:
        camp = init_campaign(
            directory,
            year=year,
            roster=roster,
            fmt=fmt,
            office=office,
            contact=contact,
            deadline=dl,
            previous=previous,
            db=db,
        )
    except (CampaignError, RosterError, FormError, LedgerError) as e:
        fail(str(e))
    with camp:
        for line in camp.notices:
            typer.secho(line, fg=typer.colors.YELLOW)
        n = len(camp.units())
        prev = len(camp.ledger.previous_all())
        typer.echo(
            f"已创建 {year} 年度收集任务：{camp.root}（{n} 个单位，格式 {camp.form.id}，截止 {camp.deadline.isoformat()}）"
        )
        if camp.db_url:
            typer.echo(f"账本：{camp.ledger.describe()}")
        if prev:
            typer.echo(f"已载入上年度数据 {prev} 个单位：将预填“上年结转”并进行跨年度校验。")
        typer.echo("下一步：在该目录中运行 gkxlsx generate 生成填报工作簿。")


def import_cmd(
    paths: list[Path] = typer.Argument(
        None, metavar="文件或文件夹...", help="收到的文件或文件夹 / returned files or folders"
    ),
    campaign: Path | None = CAMPAIGN_OPT,
    source: str = typer.Option("文件", "--source", help="来源说明，如“邮件”“U盘”"),
    received: str | None = typer.Option(None, "--received", help="收到时间 YYYY-MM-DDTHH:MM（默认现在）"),
    previous_data: Path | None = typer.Option(
        None, "--previous-data", help="导入上年度数据（JSON/CSV，按单位代码和键）作为跨年度校验基准"
    ),
    published: list[Path] | None = typer.Option(
        None, "--published", help="导入上年度已发布的报告（文本/HTML/Word）作为跨年度校验基准"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="并行检查的进程数（文件很多时用，如 --jobs 2）"),
) -> None:
    """校验并登记收到的报告文件（原件按 sha256 归档，不覆盖）。 / Validate and record returned files."""
    from gkxlsx.campaign.campaign import CampaignError, import_files, received_time

    if received:
        try:
            received = received_time(received)
        except CampaignError as e:
            fail(str(e))
    camp = open_campaign(campaign)
    with camp, writing(LEDGER):
        if previous_data:
            from gkxlsx.form.model import form_for_year
            from gkxlsx.workbook.prefill import PrefillError, load_values

            pform = form_for_year(camp.year - 1)
            try:
                vals = load_values(previous_data, pform)
            except PrefillError as e:
                fail(str(e))
            for code, v in vals.items():
                camp.ledger.set_previous(code, pform.id, camp.year - 1, v, f"file:{previous_data}")
            typer.echo(f"已导入 {len(vals)} 个单位的上年度数据（{previous_data.name}）。")
        if published:
            from gkxlsx.campaign.baseline import import_published

            for line in import_published(camp, published):
                typer.echo(line)
        if not paths:
            if not previous_data and not published:
                fail("请给出要导入的文件或文件夹。")
            return
        missing = [p for p in paths if not p.exists()]
        if missing:
            fail("找不到：" + "、".join(str(p) for p in missing))
        results = import_files(camp, paths, source=source, received_at=received, jobs=jobs)
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {
                            "file": r.shown_path,
                            "result": r.kind,
                            "unit": r.unit_code,
                            "version": r.version,
                            "status": r.status,
                            "message": r.message,
                            "findings": r.findings,
                        }
                        for r in results
                    ],
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            from gkxlsx.campaign.ledger import STATUS_ERR, STATUS_PASS, STATUS_WARN
            from gkxlsx.findings import batch_note_lines, is_batch_note

            # the mark of a recorded file's line follows what was recorded
            marks = {
                STATUS_PASS: ("✓", None),
                STATUS_WARN: ("⚠", typer.colors.YELLOW),
                STATUS_ERR: ("✗", typer.colors.RED),
            }
            for r in results:
                if r.kind == "new":
                    shown = [f for f in r.findings if not is_batch_note(f)]  # said once below
                    mark, color = marks.get(r.status or "", ("✗", typer.colors.RED))
                    typer.secho(
                        f"{mark} {r.name}：{r.unit_code} 第 {r.version} 版，{r.status}"
                        + (f"（{_count_text(shown)}）" if shown else ""),
                        fg=color,
                    )
                    if r.held:
                        typer.secho(
                            f"  ! 已登记但未替换当前版本：{r.held}。核实后用 gkxlsx accept {r.unit_code} --version {r.version} "
                            f"或 gkxlsx reopen {r.unit_code} --version {r.version} 采用这一版。",
                            fg=typer.colors.YELLOW,
                        )
                elif r.kind == "duplicate":
                    typer.echo(f"= {r.name}：{r.message}")
                elif r.kind == "quarantine":
                    typer.echo(f"? {r.name}：无法对应到名单中的单位，已隔离待处理：{r.message}")
                else:
                    typer.secho(f"✗ {r.name}：{r.message}", fg=typer.colors.RED)
            for line in batch_note_lines(r.findings for r in results if r.kind == "new"):
                typer.echo(line)
            s = camp.status()
            typer.echo(s.headline())
        if any(r.kind == "failed" for r in results):
            raise typer.Exit(1)


def _count_text(findings) -> str:
    from gkxlsx.findings import severity_counts

    c = severity_counts(findings)
    e, w = c["error"], c["warning"]
    parts = []
    if e:
        parts.append(f"错误 {e}")
    if w:
        parts.append(f"警告 {w}")
    return "，".join(parts) or "提示"


SIMILAR_SHOWN = 30
SIMILAR_AUTO = 2000  # status compares the texts of at most this many returns unless asked (--similar)


def status_cmd(
    unit: str | None = typer.Argument(None, metavar="单位", help="单位代码或名称：显示该单位的报送历史和问题"),
    campaign: Path | None = CAMPAIGN_OPT,
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="导出为 Excel 文件"),
    html: Path | None = typer.Option(None, "--html", help="导出为网页文件"),
    similar: bool | None = typer.Option(
        None, "--similar/--no-similar", help=f"比较各单位当前报送的文字是否雷同（默认：不超过 {SIMILAR_AUTO} 份时比较）"
    ),
) -> None:
    """报送情况：谁已报、谁通过、谁需要修改，哪些单位的文字雷同；或某单位的历史。 / Who has returned, who passed."""
    from gkxlsx.campaign.campaign import CampaignError
    from gkxlsx.campaign.exports import SIMILAR_NOTE, status_text, write_status_html, write_status_xlsx

    camp = open_campaign(campaign)
    with camp:
        if unit:
            try:
                u = camp.unit(unit)
            except CampaignError as e:
                fail(str(e))
            hist = camp.ledger.history(u.code)
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "unit": u.__dict__,
                            "history": [
                                {
                                    k: getattr(h, k)
                                    for k in (
                                        "version",
                                        "received_at",
                                        "source",
                                        "filename",
                                        "sha256",
                                        "application",
                                        "status",
                                        "n_errors",
                                        "n_warnings",
                                        "accepted_note",
                                        "hold",
                                        "review",
                                        "is_current",
                                        "findings",
                                    )
                                }
                                for h in hist
                            ],
                            "rollup": _rollup_of(camp, u.code),
                        },
                        ensure_ascii=False,
                        indent=2,
                        default=str,
                    )
                )
                return
            from gkxlsx.campaign.review import unit_state
            from gkxlsx.clock import shown

            current = next((h for h in hist if h.is_current), None)
            typer.echo(f"{u.code} {u.name}（{u.type}）：{unit_state(current)}")
            if not hist:
                typer.echo("  尚未报送。")
                return
            s = camp.status()
            for h in hist:
                cur = "（当前）" if h.is_current else ("（待审核，未替换当前版）" if h.held else "")
                mark = {True: "按时", False: "逾期", None: ""}[s.in_time(h.received_at)]
                typer.echo(
                    f"  第 {h.version} 版{cur}：{shown(h.received_at, seconds=True)} {mark}  {h.status}  错误 {h.n_errors} 警告 {h.n_warnings}  {h.filename}  [{h.application or '未知软件'}]"
                )
                if h.held:
                    typer.echo(f"    {h.hold}")
                if h.accepted_note:
                    typer.echo(f"    确认说明：{h.accepted_note}")
            cur = current or hist[-1]
            _echo_rollup(camp, u.code)
            from gkxlsx.campaign.review import GRADES
            from gkxlsx.findings import Finding

            if cur.findings:
                typer.echo("  当前版本的问题：")
                for f in map(Finding.from_dict, cur.findings):
                    typer.echo(
                        f"    {f.severity_zh}（{GRADES[f.severity]}） {f.instance or f.rule_id} {'、'.join(f.locations)}：{f.message}"
                    )
            peers = camp.peer_findings().get(u.code, []) if current is not None else []
            if peers:
                typer.echo("  与同类单位比较：")
                for f in peers:
                    typer.echo(f"    {f.severity_zh}（{GRADES[f.severity]}） {f.instance}：{f.message}")
            return
        s = camp.status()
        too_many = similar is None and s.returned > SIMILAR_AUTO
        if similar is None:
            similar = not too_many
        pairs = camp.similar() if similar else None
        if as_json:
            doc = s.to_dict()
            doc["similar"] = (
                None
                if pairs is None
                else [
                    {
                        "rule": "W-XY-SIMILAR",
                        "a": {"unit_code": a.code, "unit_name": a.name},
                        "b": {"unit_code": b.code, "unit_name": b.name},
                        "score": round(sc, 3),
                    }
                    for a, b, sc in pairs
                ]
            )
            typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        else:
            typer.echo(status_text(s))
            if too_many:
                typer.echo(
                    f"\n已报送 {s.returned} 份，超过 {SIMILAR_AUTO} 份，未比较各单位的文字是否雷同；需要时加 --similar（份数很多时需要几秒到几十秒）。"
                )
            elif pairs:
                typer.echo(f"\n内容雷同 {len(pairs)} 对：{SIMILAR_NOTE}")
                for a, b, sc in pairs[:SIMILAR_SHOWN]:
                    typer.echo(f"  ! {a.code} {a.name} 与 {b.code} {b.name}：相似度 {sc:.0%}")
                if len(pairs) > SIMILAR_SHOWN:
                    typer.echo(f"  …另有 {len(pairs) - SIMILAR_SHOWN} 对（--json 列出全部）")
        if xlsx:
            with writing(f"文件 {xlsx}"):
                write_status_xlsx(camp, s, xlsx, similar=pairs)
            typer.echo(f"已导出：{xlsx}")
        if html:
            with writing(f"文件 {html}"):
                write_status_html(camp, s, html, similar=pairs)
            typer.echo(f"已导出：{html}")


def diff_cmd(
    unit: str = typer.Argument(..., metavar="单位", help="单位代码或名称"),
    v1: int | None = typer.Argument(None, metavar="旧版本", help="旧版本号（默认：倒数第二版）"),
    v2: int | None = typer.Argument(None, metavar="新版本", help="新版本号（默认：当前版）"),
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """比较同一单位两次报送之间逐个单元格的变化。 / Cell-level changes between two submissions."""
    from gkxlsx.campaign.campaign import CampaignError, diff_values
    from gkxlsx.findings import fmt_num
    from gkxlsx.form.layout import layout

    camp = open_campaign(campaign)
    with camp:
        try:
            u = camp.unit(unit)
        except CampaignError as e:
            fail(str(e))
        hist = camp.ledger.history(u.code)
        if len(hist) < 2 and (v1 is None or v2 is None):
            fail(f"{u.name} 只有 {len(hist)} 个版本，无法比较。")
        a = camp.ledger.submission_by_version(u.code, v1) if v1 else hist[-2]
        b = camp.ledger.submission_by_version(u.code, v2) if v2 else hist[-1]
        if a is None or b is None:
            fail(f"{u.name} 没有第 {v1 if a is None else v2} 版。")
        lay = layout(camp.form)
        changes = diff_values(camp.form, a.values, b.values)
        typer.echo(f"{u.name}：第 {a.version} 版 → 第 {b.version} 版，共 {len(changes)} 处变化")
        for k, old, new in changes:
            addr = lay.address(k) if k in lay.where else k
            o = fmt_num(old) if not isinstance(old, str) else (old[:30] + "…" if len(old) > 30 else old)
            n = fmt_num(new) if not isinstance(new, str) else (new[:30] + "…" if len(new) > 30 else new)
            typer.echo(f"  {addr}  {camp.form.label(k)}：{o} → {n}")


def _actor(by: str | None) -> str:
    """Who does an office action: ``--by``, else the account running the command."""
    if by and by.strip():
        return by.strip()
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


BY_OPT = typer.Option(None, "--by", help="操作人（记入审核记录；默认当前登录的用户名）")


def _parse_explain(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        rule, sep, reason = item.partition("=")
        if not sep or not rule.strip():
            fail(f"--explain 应写成 规则编号=理由，如 --explain W-XY-INFORCE=“经核实…”，而不是“{item}”。")
        out[rule.strip()] = reason.strip()
    return out


def _rollup_of(camp, code: str):
    from gkxlsx.campaign.as_return import drill_down

    return drill_down(camp, code)


def _echo_rollup(camp, code: str) -> None:
    """A roll-up return's units (checked on import): who is in it, with what status, who is not."""
    got = _rollup_of(camp, code)
    if not got:
        return
    children, excluded = got.get("children") or [], got.get("excluded") or []
    typer.echo(f"  当前版本是汇总报送：应报 {got.get('expected')} 个单位，纳入汇总 {got.get('included')} 个：")
    for ch in children:
        typer.echo(f"    {ch.get('code')}  {ch.get('name')}（{ch.get('type')}）  {ch.get('status')}")
    if excluded:
        typer.echo(f"  未纳入汇总 {len(excluded)} 个：")
        for ex in excluded:
            typer.echo(f"    {ex.get('code')}  {ex.get('name')}（{ex.get('type')}）  {ex.get('reason')}")


def accept_cmd(
    unit: str = typer.Argument(..., metavar="单位", help="单位代码或名称"),
    note: str = typer.Option("", "--note", "-m", help="确认理由：用于全部未逐条说明的警告（每条至少 6 个字）"),
    explain: list[str] | None = typer.Option(
        None, "--explain", "-e", help="逐条说明警告：规则编号=理由（可多次使用），如 W-YOY-JUMP=“经电话核实…”"
    ),
    version: int | None = typer.Option(
        None, "--version", help="确认指定版本（默认当前版；待审核的新版本确认后成为当前版）"
    ),
    by: str | None = BY_OPT,
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """确认并锁定一份报送：有错误（强制）的不能确认，每条警告（核实）须写明理由。 / Accept and lock a return."""
    from gkxlsx.campaign.campaign import CampaignError
    from gkxlsx.campaign.ledger import LedgerError
    from gkxlsx.campaign.review import accepted_reasons

    reasons = _parse_explain(explain)
    camp = open_campaign(campaign)
    with camp:
        try:
            u = camp.unit(unit)
            with writing(LEDGER):
                sub = camp.ledger.accept(u.code, note, version, explain=reasons, actor=_actor(by))
        except (CampaignError, LedgerError) as e:
            fail(str(e), 1)
        typer.echo(f"已确认并锁定 {u.name} 第 {sub.version} 版（{sub.n_warnings} 个警告），汇总将使用这一版。")
        for f, es in accepted_reasons(camp.ledger, u.code, sub):
            typer.echo(f"  {f.get('instance') or f.get('rule')}：{f.get('message')}")
            for ex in es:
                typer.echo(f"    理由（第 {ex.version} 版，{ex.actor or '未记录'}）：{ex.reason}")


def _office_action(camp, unit: str, act):
    """The unit named and what ``act(unit)`` — an office action that writes the ledger — returned;
    an unknown unit, a refused action or an unwritable ledger is a Chinese message and exit 1."""
    from gkxlsx.campaign.campaign import CampaignError
    from gkxlsx.campaign.ledger import LedgerError

    try:
        u = camp.unit(unit)
        with writing(LEDGER):
            return u, act(u)
    except (CampaignError, LedgerError) as e:
        fail(str(e), 1)


def return_cmd(
    unit: str = typer.Argument(..., metavar="单位", help="单位代码或名称"),
    reason: str = typer.Option(..., "--reason", "-m", help="退回理由（写入审核记录，单位会看到）"),
    version: int | None = typer.Option(None, "--version", help="退回指定版本（默认当前版）"),
    by: str | None = BY_OPT,
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """退回一份报送并写明理由，生成修改意见工作簿。 / Send a return back with a reason."""
    from gkxlsx.campaign.review import return_

    camp = open_campaign(campaign)
    with camp:
        u, sub = _office_action(camp, unit, lambda u: return_(camp.ledger, u.code, reason, version, actor=_actor(by)))
        from gkxlsx.mail.mail import feedback_workbook

        with writing(f"修改意见工作簿（{camp.path('feedback')}）"):
            name, _data = feedback_workbook(camp, u, sub)
        typer.echo(f"已退回 {u.name} 第 {sub.version} 版，理由：{reason.strip()}")
        typer.echo(f"修改意见工作簿：{camp.path('feedback') / name}")
        if camp.mail_config.get("host"):
            typer.echo(f"发送给单位：gkxlsx mail feedback --only {u.code}")


def reopen_cmd(
    unit: str = typer.Argument(..., metavar="单位", help="单位代码或名称"),
    reason: str = typer.Option(..., "--reason", "-m", help="重新打开的理由（写入审核记录）"),
    version: int | None = typer.Option(None, "--version", help="同时把这一待审核的版本设为当前版"),
    by: str | None = BY_OPT,
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """重新打开已锁定的报送（只有收集单位可以）。 / Reopen a locked return."""
    from gkxlsx.campaign.review import reopen, unit_state

    camp = open_campaign(campaign)
    with camp:
        u, cur = _office_action(camp, unit, lambda u: reopen(camp.ledger, u.code, reason, version, actor=_actor(by)))
        typer.echo(f"已重新打开 {u.name}：当前为第 {cur.version} 版，状态 {unit_state(cur)}。")


def history_cmd(
    unit: str | None = typer.Argument(None, metavar="单位", help="单位代码或名称（默认全部单位）"),
    campaign: Path | None = CAMPAIGN_OPT,
    as_json: bool = typer.Option(False, "--json", help="输出 JSON"),
) -> None:
    """审核记录：每次报送、退回、确认、重新打开，谁、何时、为什么（北京时间）。 / The review trail."""
    from gkxlsx.campaign.campaign import CampaignError
    from gkxlsx.campaign.review import history, unit_state

    camp = open_campaign(campaign)
    with camp:
        code = None
        if unit:
            try:
                code = camp.unit(unit).code
            except CampaignError as e:
                fail(str(e))
        steps = history(camp.ledger, code)
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {
                            "unit_code": s.unit_code,
                            "version": s.version,
                            "action": s.action,
                            "action_zh": s.action_zh,
                            "actor": s.actor,
                            "at": s.at,
                            "reason": s.reason,
                            **s.detail,
                        }
                        for s in steps
                    ],
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        names = {u.code: u for u in camp.units()}
        codes = [code] if code else list(dict.fromkeys(s.unit_code for s in steps))
        if not codes:
            typer.echo("还没有任何审核记录。")
        for c in codes:
            u = names.get(c)
            cur = camp.ledger.current(c)
            head = f"{c} {u.name if u else ''}：{unit_state(cur)}"
            if cur is not None:
                head += f"（当前第 {cur.version} 版）"
            typer.echo(head)
            mine = [s for s in steps if s.unit_code == c]
            if not mine:
                typer.echo("  尚未报送。")
            for s in mine:
                typer.echo("  " + s.line(camp.deadline))


def aggregate_cmd(
    by: str | None = typer.Option(None, "--by", help="分组汇总：上级单位 或 单位类型（默认全部汇总为一份）"),
    out: Path | None = typer.Option(None, "--out", "-o", help="输出目录（默认：任务目录/报告）"),
    as_return: bool = typer.Option(
        False, "--as-return", help="同时生成报送上级的本级汇总工作簿（上级下发的同一模板，附分单位明细和未纳入单位）"
    ),
    template: Path | None = typer.Option(
        None, "--template", help="上级下发给本单位的空白工作簿：从中读取本单位在上级名单中的代码、名称和类型"
    ),
    unit: str | None = typer.Option(
        None, "--unit", help="本单位在上级名单中的代码（或在 campaign.toml 的 [return] 中填写）"
    ),
    unit_name: str | None = typer.Option(None, "--unit-name", help="本单位在上级名单中的名称"),
    unit_type: str | None = typer.Option(None, "--unit-type", help="本单位的单位类型，如 县级政府"),
    unit_parent: str | None = typer.Option(None, "--unit-parent", help="本单位的上级单位"),
    campaign: Path | None = CAMPAIGN_OPT,
) -> None:
    """汇总已通过或已确认的报送，生成汇总工作簿和可用于生成报告的数据；--as-return 生成报送上级的本级工作簿。 / County roll-up."""
    from gkxlsx.campaign.campaign import DIRS, CampaignError, aggregate
    from gkxlsx.campaign.exports import write_aggregate
    from gkxlsx.campaign.narrative import ensure_file
    from gkxlsx.findings import fmt_num

    if as_return and by:
        fail("--as-return 汇总的是本级全部单位，不能与 --by 一起使用。")
    camp = open_campaign(campaign)
    with camp:
        try:
            aggs = aggregate(camp, by)
        except CampaignError as e:
            fail(str(e))
        out_dir = out or camp.root / DIRS["reports"]
        for agg in aggs:
            with writing(f"汇总文件（{out_dir}）"):
                out_dir.mkdir(parents=True, exist_ok=True)
                xlsx, data = write_aggregate(camp, agg, out_dir)
            typer.echo(f"{agg.name}：{agg.completeness['statement']}")
            v = agg.report.values
            typer.echo(
                f"  本年新收申请 {fmt_num(v.get('s3.new.total'))} 件，办理结果合计 {fmt_num(v.get('s3.r7_total.total'))} 件，"
                f"行政复议 {fmt_num(v.get('s4.review.total'))} 件，行政诉讼 {fmt_num((v.get('s4.lit_direct.total') or 0) + (v.get('s4.lit_after_review.total') or 0))} 件"
            )
            errs = [f for f in agg.findings if f.severity == "error"]
            typer.echo("  汇总数据校验：" + ("通过" if not errs else f"{len(errs)} 个错误"))
            typer.echo(f"  已写出：{xlsx.name}、{data.name}")
        with writing(f"任务目录 {camp.root}"):
            text_file, new = ensure_file(camp.root, camp.form, camp.office, camp.year)
        if new:
            typer.echo(f"已建立文字部分文件 {text_file.name}：请在其中填写汇总报告的总体情况、存在的问题和改进措施等。")
        if as_return:
            _write_as_return(camp, out_dir, template, unit, unit_name, unit_type, unit_parent, text_file)


def _write_as_return(camp, out_dir: Path, template, code, name, unit_type, parent, text_file: Path) -> None:
    from gkxlsx.campaign.as_return import return_unit, write_return
    from gkxlsx.campaign.campaign import CampaignError
    from gkxlsx.campaign.narrative import NarrativeError
    from gkxlsx.check.checker import check_file

    try:
        u = return_unit(camp, code=code, name=name, unit_type=unit_type, parent=parent, template=template)
        with writing(f"输出目录 {out_dir}"):
            rr = write_return(camp, out_dir, u)
    except (CampaignError, NarrativeError) as e:
        fail(str(e))
    n, m = len(rr.children), len(rr.children) + len(rr.excluded)
    typer.echo(f"报送上级的本级汇总工作簿（{u.code} {u.name}，纳入 {n}/{m} 个单位）：{rr.path.name}")
    res = check_file(rr.path, year=camp.year)  # what the level above will see, but for its roster
    bad = [f for f in res.findings if f.severity in ("error", "warning")]
    typer.echo(f"  自检：{res.headline()}")
    for f in bad[:8]:
        typer.echo(f"    {f.severity_zh} {f.rule_id}：{f.message}")
    if len(bad) > 8:
        typer.echo(f"    ……另有 {len(bad) - 8} 项")
    if not rr.narrative:
        typer.echo(f"  文字部分尚未填写：请编辑 {text_file} 后重新运行，或在工作簿中直接填写后报送。")


def register(app: typer.Typer) -> None:
    app.command("init")(init_cmd)
    app.command("import")(import_cmd)
    app.command("status")(status_cmd)
    app.command("diff")(diff_cmd)
    app.command("accept")(accept_cmd)
    app.command("return")(return_cmd)
    app.command("reopen")(reopen_cmd)
    app.command("history")(history_cmd)
    app.command("aggregate")(aggregate_cmd)
