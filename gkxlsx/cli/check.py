"""``gkxlsx check``: validate returned workbooks, print a Chinese report (or JSON), write feedback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gkxlsx.cli.common import fail

if TYPE_CHECKING:
    from gkxlsx.check.result import FileResult
    from gkxlsx.findings import Finding

SEV_COLOR = {"error": typer.colors.RED, "warning": typer.colors.YELLOW, "info": typer.colors.BLUE}
GROUPED = {"E-CELL-EMPTY"}  # many identical findings: one line per sheet in the terminal


def join_locations(locs) -> str:
    """“三、依申请公开!D4、D5、二、主动公开!B3”: the sheet name once per run of the same sheet."""
    out, last = [], None
    for x in locs:
        if "!" in x:
            s, ref = x.rsplit("!", 1)
            out.append(ref if s == last else x)
            last = s
        else:
            out.append(x)
            last = None
    return "、".join(out)


def finding_line(f: Finding) -> str:
    where = join_locations(f.locations)
    head = f"{f.severity_zh} {f.rule_id}" + (f" {where}" if where else "")
    fix = f" 修改方法：{f.fix}" if f.fix else ""
    return f"{head}：{f.message}{fix}"


def _grouped_lines(findings: list[Finding]) -> list[tuple[str, str]]:
    """(severity, line) for the terminal, E-CELL-EMPTY grouped per sheet."""
    lines: list[tuple[str, str]] = []
    groups: dict[tuple[str, str], list[Finding]] = {}
    order: list[Any] = []
    for f in findings:
        if f.rule_id in GROUPED and f.locations and "!" in f.locations[0]:
            sheet = f.locations[0].rsplit("!", 1)[0]
            k = (f.rule_id, sheet)
            if k not in groups:
                groups[k] = []
                order.append(k)
            groups[k].append(f)
        else:
            order.append(f)
    for item in order:
        if isinstance(item, tuple):
            g = groups[item]
            if len(g) <= 3:
                lines.extend((f.severity, finding_line(f)) for f in g)
                continue
            f0 = g[0]
            locs = [x for f in g for x in f.locations]
            shown = join_locations(locs[:8]) + ("……" if len(locs) > 8 else "")
            lines.append(
                (
                    f0.severity,
                    f"{f0.severity_zh} {f0.rule_id} {shown}（共 {len(g)} 处）：这些单元格为空。 修改方法：{f0.fix}",
                )
            )
        else:
            lines.append((item.severity, finding_line(item)))
    return lines


def _status_color(status: str) -> str | None:
    from gkxlsx.check.result import STATUS_ERR, STATUS_PASS, STATUS_UNREADABLE, STATUS_WARN

    return {
        STATUS_PASS: typer.colors.GREEN,
        STATUS_WARN: typer.colors.YELLOW,
        STATUS_ERR: typer.colors.RED,
        STATUS_UNREADABLE: typer.colors.MAGENTA,
    }.get(status)


def print_result(r: FileResult, i: int, n: int, *, limit: int | None = 40, batched: bool = False) -> None:
    """One file's result; ``batched``: leave out the findings a batch says once (batch notes)."""
    from gkxlsx.findings import is_batch_note, severity_counts

    findings = [f for f in r.findings if not (batched and is_batch_note(f))]
    typer.echo("")
    typer.secho(f"[{i}/{n}] {r.name}", bold=True)
    ident = r.identity
    if ident is not None:
        fmt = f"格式 {ident.format}（模板 {ident.template_version}）" if ident.format else ""
        typer.echo(f"  单位：{ident.label}（{ident.unit_type or '类型未知'}）· {ident.year or '?'} 年度 · {fmt}")
    from gkxlsx.workbook.reader import KIND_LABELS

    kind = KIND_LABELS.get(r.file_type, "")
    if r.app_label == "gkxlsx":
        saved = "，由 gkxlsx 直接生成（未经 Excel/WPS 等表格软件保存）"
    else:
        saved = f"，由 {r.app_label} 保存" if r.app_label else ""
    if kind or r.sha256:
        typer.echo(f"  文件：{kind or r.file_type}{saved}" + (f"，sha256 {r.sha256[:12]}…" if r.sha256 else ""))
    c = severity_counts(findings)
    typer.secho(
        f"  结果：{r.status}（错误 {c['error']}，警告 {c['warning']}，提示 {c['info']}）",
        fg=_status_color(r.status),
        bold=True,
    )
    lines = _grouped_lines(findings)
    shown = lines if limit is None else lines[:limit]
    for sev, text in shown:
        typer.secho("  " + text, fg=SEV_COLOR.get(sev))
    if len(shown) < len(lines):
        typer.echo(f"  ……另有 {len(lines) - len(shown)} 条，加 --all 显示全部，或用 --json 输出完整结果。")
    if r.feedback:
        typer.echo(f"  反馈工作簿：{r.feedback}")


def summary_line(results) -> str:
    from gkxlsx.check.checker import summary
    from gkxlsx.check.result import STATUS_ERR, STATUS_PASS, STATUS_UNREADABLE, STATUS_WARN

    s = summary(results)
    return (
        f"共检查 {s['total']} 个文件：通过 {s[STATUS_PASS]}，有警告 {s[STATUS_WARN]}，"
        f"有错误 {s[STATUS_ERR]}，无法识别 {s[STATUS_UNREADABLE]}"
    )


def check_cmd(
    paths: list[Path] = typer.Argument(
        ..., metavar="文件或文件夹...", help="要检查的文件或文件夹（文件夹内的文件都会检查） / files or folders"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出机器可读的 JSON 结果 / machine-readable report"),
    roster: Path | None = typer.Option(
        None, "--roster", "-r", help="单位名单：工作簿的单位必须在名单中 / roster the units must be in"
    ),
    year: int | None = typer.Option(None, "--year", "-y", help="本次收集的报告年度 / report year being collected"),
    feedback: Path | None = typer.Option(
        None, "--feedback", help="为有问题的文件生成反馈工作簿，放到这个文件夹 / write feedback workbooks here"
    ),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        min=1,
        help="同时检查的进程数（含本进程，不超过CPU核数；文件很多时用，如 --jobs 2）/ processes checking at once",
    ),
    previous: Path | None = typer.Option(
        None, "--previous", help="上年度数据（JSON 或 CSV/XLSX，按单位代码和键），启用跨年度校验 / last year's values"
    ),
    previous_format: str | None = typer.Option(
        None, "--previous-format", help="上年度数据的格式（默认按 年度-1 选择）"
    ),
    show_all: bool = typer.Option(False, "--all", help="显示每个文件的全部问题 / show every finding"),
) -> None:
    """检查报送回来的填报工作簿，给出可以照着改的中文意见。 / Validate returned workbooks.

    退出码：0 没有阻止接收的问题；1 有文件存在错误或无法识别；2 参数有误。
    """
    from gkxlsx.check.checker import check_paths, exit_code
    from gkxlsx.check.export import check_report
    from gkxlsx.form.model import FormError, form_for_year, load_form
    from gkxlsx.form.roster import RosterError, load_roster

    units = None
    if roster is not None:
        try:
            units = load_roster(roster, form_for_year(year) if year else load_form("2021"))
        except (RosterError, FormError) as e:
            fail(str(e))
        for line in units.notices:  # on stderr: stdout may be --json
            typer.secho(line, err=True, fg=typer.colors.YELLOW)
    prev_by_unit = None
    if previous is not None:
        from gkxlsx.workbook.prefill import PrefillError, load_values

        if year is None:
            fail("使用 --previous 时请同时用 --year 指定本次的报告年度。")
        try:
            pform = load_form(previous_format) if previous_format else form_for_year(year - 1)
            vals = load_values(previous, pform)
        except (PrefillError, FormError) as e:
            fail(str(e))
        prev_by_unit = {code: (pform.id, year - 1, v) for code, v in vals.items()}
    if not as_json:
        typer.echo(f"正在检查{('（报告年度 ' + str(year) + '）') if year else ''}……")
    results = check_paths(paths, jobs=jobs, roster=units, year=year, prev_by_unit=prev_by_unit)
    if not results:
        fail("没有找到要检查的文件。")
    if feedback is not None:
        from gkxlsx.workbook.feedback import write_feedback

        taken: set[str] = set()
        for r in results:
            prev = None
            pf = None
            if prev_by_unit and r.identity and r.identity.unit_code in prev_by_unit:
                pf, _y, prev = prev_by_unit[r.identity.unit_code]
            try:
                write_feedback(r, feedback, prev=prev, prev_format=pf, taken=taken)
            except OSError as e:  # this file's feedback only: the others are still written
                typer.secho(
                    f"无法为 {r.path.name} 写入反馈工作簿（{e.strerror or e}）：{feedback}",
                    err=True,
                    fg=typer.colors.RED,
                )
    if as_json:
        sys.stdout.write(
            json.dumps(check_report(results, year=year, roster=roster), ensure_ascii=False, indent=2) + "\n"
        )
    else:
        from gkxlsx.findings import batch_note_lines

        batched = not show_all and len(results) > 1  # --all: every finding on its file
        for i, r in enumerate(results, start=1):
            print_result(r, i, len(results), limit=None if show_all else 40, batched=batched)
        typer.echo("")
        typer.secho(summary_line(results), bold=True)
        if batched:
            for line in batch_note_lines(r.findings for r in results):
                typer.echo(line)
        if feedback is not None:
            n = sum(1 for r in results if r.feedback)
            typer.echo(f"已生成 {n} 个反馈工作簿：{feedback}")
    raise typer.Exit(exit_code(results))


def register(app: typer.Typer) -> None:
    app.command("check")(check_cmd)
