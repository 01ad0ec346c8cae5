"""``gkxlsx extract`` and ``gkxlsx audit``: read and check already-published reports.

Thin: everything is in :mod:`gkxlsx.published.extract` and :mod:`gkxlsx.published.audit`.

Exit codes: 0 — done (audit: no report has errors); 1 — audit: at least one report has errors;
2 — an input could not be read, or (extract) is not a 年度报告 at all (the others are still
processed), or bad options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gkxlsx.publication import government_deadline, month_day_zh, publication_facts

if TYPE_CHECKING:
    from gkxlsx.published.audit import AuditResult
    from gkxlsx.published.extract import Extraction

SEVERITY_MARK = {"error": "✗ 错误", "warning": "! 警告", "info": "· 提示"}


def _err(msg: str) -> None:
    typer.secho(msg, err=True, fg=typer.colors.RED)


def _head(ex: Extraction) -> str:
    from gkxlsx.published.extract import AMBIGUOUS, MISSING, READ

    r = ex.report
    c = ex.counts()
    unit = r.unit_name or "（未识别单位）"
    ut = f"（{r.unit_type}）" if r.unit_type else ""
    year = f"{r.year}年度" if r.year else "年度未识别"
    fmt = f"{ex.format_id}年版格式（{r.form.document_number}）"
    pub = f"，发布日期 {ex.publish_date.isoformat()}" if ex.publish_date else ""
    cells = f"表格 {len(ex.status)} 格：已读取 {c[READ]}，缺失 {c[MISSING]}，无法确定 {c[AMBIGUOUS]}"
    return f"{unit}{ut} {year}，{fmt}{pub}\n  {cells}"


def _print_not_report(ex: Extraction) -> None:
    from gkxlsx.published.notreport import finding

    f = finding(ex, ex.not_report or "other")
    typer.echo(f"  {SEVERITY_MARK[f.severity]} [{f.rule_id}] {f.message}")
    typer.echo(f"      改：{f.fix}")


def _print_extraction(ex: Extraction, verbose: bool) -> None:
    from gkxlsx.published.extract import READ, STATUS_ZH

    typer.echo(f"■ {ex.source}")
    if ex.not_report:
        _print_not_report(ex)
        return
    typer.echo("  " + _head(ex))
    if ex.title:
        typer.echo(f"  标题：{ex.title}")
    not_read = [k for k, s in ex.status.items() if s != READ]
    for k in not_read[: (None if verbose else 12)]:
        note = "；".join(ex.notes.get(k, []))
        typer.echo(f"  {STATUS_ZH[ex.status[k]]}  {ex.positions[k]}  {note}")
    if not verbose and len(not_read) > 12:
        typer.echo(f"  ……另有 {len(not_read) - 12} 格未读取（加 --verbose 显示全部）")
    noted = [k for k, s in ex.status.items() if s == READ and ex.notes.get(k)]
    if noted:
        shown = noted if verbose else noted[:6]
        for k in shown:
            typer.echo(f"  注：{ex.positions[k]}：{'；'.join(ex.notes[k])}")
        if len(noted) > len(shown):
            typer.echo(f"  ……另有 {len(noted) - len(shown)} 格有说明（加 --verbose 显示全部）")
    for w in ex.warnings:
        typer.echo(f"  注意：{w}")


def _print_audit(res: AuditResult) -> None:
    ex = res.extraction
    typer.echo(f"■ {res.path}")
    if ex is None:
        typer.echo(f"  无法读取：{res.error}")
        return
    if not ex.not_report:
        typer.echo("  " + _head(ex))
    due = f"，公开时限 {res.deadline.isoformat()}" if res.deadline else ""
    typer.echo(f"  审核结果：错误 {res.errors}，警告 {res.warnings}，提示 {res.infos}{due}")
    fixed: set[str] = set()
    for f in res.findings:
        loc = "、".join(f.locations[:3])
        where = f"【{loc}】" if loc else ""
        typer.echo(f"  {SEVERITY_MARK.get(f.severity, f.severity)} [{f.rule_id}] {where}{f.message}")
        if f.fix and f.fix not in fixed:
            fixed.add(f.fix)
            typer.echo(f"      改：{f.fix}")
    typer.echo("")


def extract_cmd(
    files: list[Path] = typer.Argument(
        ..., metavar="报告文件...", help="已公开的年度报告：文本（.txt）、网页（.html/.htm）、Word（.docx）或 PDF。"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出机器可读的 JSON（键值数据、每格状态、说明、位置）。"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="把每份报告的 JSON 写入此文件夹（文件名同报告，扩展名 .json）。"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="显示每一个未读取或有说明的单元格。"),
) -> None:
    """从已公开的年度报告中提取数据（单位、年度、格式、表格数字、各部分文字），每格标明已读取/缺失/无法确定。"""
    from gkxlsx.published.extract import ExtractError, extract_file

    results = []
    failed = 0
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            _err(f"无法创建输出文件夹 {out}：{e.strerror or e}")
            raise typer.Exit(2) from None
    for f in files:
        try:
            ex = extract_file(f)
        except ExtractError as e:
            _err(f"无法读取：{e}")
            failed += 1
            continue
        results.append(ex)
        if ex.not_report:
            failed += 1
        if out is not None:
            target = out / (Path(f).stem + ".json")
            target.write_text(json.dumps(ex.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        if not as_json:
            _print_extraction(ex, verbose)
            if out is not None:
                typer.echo(f"  已写入 {target}")
            typer.echo("")
    if as_json:
        payload = [ex.to_dict() for ex in results]
        typer.echo(json.dumps(payload[0] if len(files) == 1 and payload else payload, ensure_ascii=False, indent=1))
    if failed:
        raise typer.Exit(2) from None


def _similar(results: list[AuditResult], quiet: bool) -> None:
    """W-XY-SIMILAR across the reports audited together (内容雷同)."""
    from gkxlsx.text.similarity import cross_findings

    ok = [r for r in results if r.extraction is not None]
    reports = [r.extraction.report for r in results if r.extraction is not None]
    items = [(rep.unit_name or Path(r.path).name, rep.unit_name, rep.values) for r, rep in zip(ok, reports)]
    found = cross_findings(items)
    if not found:
        return
    if not quiet:
        typer.echo("■ 内容雷同检查")
    for i, fs in found.items():
        ok[i].findings.extend(fs)
        if not quiet:
            for f in fs:
                typer.echo(f"  ! 警告 [W-XY-SIMILAR] {Path(ok[i].path).name}：{f.message}")
    if not quiet:
        typer.echo("")


def _deadline_help() -> str:
    """The help of ``audit --deadline``: an MM-DD example (the form's deadline) and the defaults.
    The month and day are unpacked by name: spread into a positional format they would let any
    other length of ``deadline`` shift the default dates into the ``:02d`` fields."""
    facts = publication_facts()
    month, day = facts["deadline"]
    return (
        f"公开时限，MM-DD（报告年度的次年，如 {month:02d}-{day:02d}）或 YYYY-MM-DD；"
        f"默认部门和乡镇 {month_day_zh(facts['deadline'])}，县级以上政府 {month_day_zh(government_deadline(facts))}。"
    )


def audit_cmd(
    paths: list[Path] = typer.Argument(
        ..., metavar="报告文件或文件夹...", help="报告文件，或包含报告文件的文件夹（.txt/.html/.htm/.docx/.pdf）。"
    ),
    as_json: bool = typer.Option(False, "--json", help="输出机器可读的 JSON 审核结果。"),
    summary: Path | None = typer.Option(
        None,
        "--summary",
        help="汇总表（.xlsx）：每份报告一行。给出文件夹时默认写入当前目录的“审核汇总_<文件夹名>.xlsx”。",
    ),
    deadline: str | None = typer.Option(
        None,
        "--deadline",
        help=_deadline_help(),
    ),
    unit_type: str | None = typer.Option(
        None, "--unit-type", help="单位类型（乡镇、街道、县级部门、县级政府……）；默认按单位名称判断。"
    ),
) -> None:
    """审核已公开的年度报告：提取数据后运行全部校验规则（表格勾稽、文字与表格一致、格式、日期、引用、照搬痕迹等）。"""
    from gkxlsx.published.audit import AuditResult, audit_extraction, collect_files, summary_workbook
    from gkxlsx.published.extract import ExtractError, extract_file

    files, problems = collect_files(paths)
    for p in problems:
        _err(p)
    results: list[AuditResult] = []
    unreadable = len(problems)
    for f in files:
        try:
            ex = extract_file(f)
        except ExtractError as e:
            results.append(AuditResult(str(f), None, [], str(e)))
            unreadable += 1
            if not as_json:
                _err(f"无法读取：{e}")
            continue
        try:
            res = audit_extraction(ex, deadline=deadline, unit_type=unit_type)
        except ValueError as e:
            _err(str(e))
            raise typer.Exit(2) from None
        results.append(res)
        if not as_json:
            _print_audit(res)
    _similar(results, as_json)
    folder = next((Path(p) for p in paths if Path(p).is_dir()), None)
    target = summary
    if target is None and folder is not None:
        target = Path.cwd() / f"审核汇总_{folder.resolve().name}.xlsx"
    if target is not None and results:
        try:
            summary_workbook(results, target)
        except OSError as e:
            _err(f"无法写入汇总表 {target}：{e.strerror or e}")
            raise typer.Exit(2) from None
    n_err = sum(1 for r in results if r.errors)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "reports": [r.to_dict() for r in results],
                    "summary": {
                        "reports": len(results),
                        "with_errors": n_err,
                        "unreadable": unreadable,
                        "errors": sum(r.errors for r in results),
                        "warnings": sum(r.warnings for r in results),
                        "infos": sum(r.infos for r in results),
                        "workbook": str(target) if target is not None and results else None,
                    },
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        audited = [r for r in results if r.ok]
        typer.echo(
            f"共 {len(results)} 份报告：{n_err} 份有错误，"
            f"{sum(1 for r in audited if not r.errors and r.warnings)} 份只有警告，"
            f"{sum(1 for r in audited if not r.errors and not r.warnings)} 份未发现问题"
            + (f"，{unreadable} 份无法读取" if unreadable else "")
            + "。"
        )
        if target is not None and results:
            typer.echo(f"汇总表：{target}")
    if unreadable or not files:
        raise typer.Exit(2) from None
    if n_err:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("extract")(extract_cmd)
    app.command("audit")(audit_cmd)
