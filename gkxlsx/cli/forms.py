"""``gkxlsx forms``: list, show and export the report format definitions.

* ``gkxlsx forms list`` — the built-in formats (id, years, document, size);
* ``gkxlsx forms show FORMAT`` — a readable Chinese outline of one format
  (:func:`gkxlsx.form.describe.describe_form`);
* ``gkxlsx forms export FORMAT --json [--out FILE]`` — a stable JSON dump for other tools
  (:func:`gkxlsx.form.describe.export_form`, schema ``gkxlsx.form/1``).

FORMAT is a built-in id (``2021``, ``2019``) or the path of a variant definition (.json) that
``extends`` one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from gkxlsx.form.model import Form


def _load_or_exit(ref: str) -> Form:
    from gkxlsx.form.model import FormError, load_form
    from gkxlsx.rules.nodes import RuleError

    try:
        return load_form(ref)
    except (FormError, RuleError) as e:
        typer.echo(f"错误：{e}", err=True)
        raise typer.Exit(2) from None
    except (TypeError, ValueError, AttributeError) as e:  # malformed items the model did not name
        typer.echo(f"错误：格式定义 {ref} 有误，无法读取：{e}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    forms = typer.Typer(
        help="报告格式定义：列出、查看、导出（forms of the annual report: list, show, export）。",
        no_args_is_help=True,
    )

    @forms.command("list")
    def list_cmd() -> None:
        """列出内置的报告格式。"""
        from gkxlsx.form.describe import display_width, pad, years_text
        from gkxlsx.form.model import FormError, builtin_form_ids, load_form
        from gkxlsx.rules.nodes import RuleError

        rows, bad = [], []
        for fid in builtin_form_ids():
            try:
                f = load_form(fid)
            except (FormError, RuleError, TypeError, ValueError, AttributeError) as e:
                bad.append(f"错误：内置格式“{fid}”无法读取：{e}")
                continue
            rows.append((f.id, years_text(f), f.document_number, f"{len(f.entry_keys)}", f"{len(f.rule_defs)}", f.name))
        heads = ("格式", "适用", "依据文件", "填报格", "规则", "名称")
        widths = [max([display_width(h)] + [display_width(r[i]) for r in rows]) + 2 for i, h in enumerate(heads)]
        typer.echo("".join(pad(h, widths[i]) for i, h in enumerate(heads[:-1])) + heads[-1])
        for r in rows:
            typer.echo("".join(pad(v, widths[i]) for i, v in enumerate(r[:-1])) + r[-1])
        typer.echo("")
        typer.echo("查看某一格式：gkxlsx forms show 2021；导出给其他工具：gkxlsx forms export 2021 --json")
        typer.echo("本地变体（增加行或校验规则）：写一个 “extends”: “2021” 的 .json 文件，用它的路径代替格式编号。")
        for msg in bad:
            typer.echo(msg, err=True)
        if bad:
            raise typer.Exit(2) from None

    @forms.command("show")
    def show_cmd(
        format: str = typer.Argument(..., metavar="格式", help="格式编号（2021、2019）或格式定义文件（.json）的路径"),
    ) -> None:
        """以易读的方式显示一个报告格式：各部分、表格结构、字段和校验规则。"""
        from gkxlsx.form.describe import describe_form

        form = _load_or_exit(format)
        typer.echo(describe_form(form), nl=False)

    @forms.command("export")
    def export_cmd(
        format: str = typer.Argument(..., metavar="格式", help="格式编号（2021、2019）或格式定义文件（.json）的路径"),
        as_json: bool = typer.Option(False, "--json", help="导出为 JSON（目前唯一的导出格式，可省略）"),
        out: Path | None = typer.Option(None, "--out", "-o", help="写入该文件，而不是输出到屏幕"),
    ) -> None:
        """导出格式定义（键、标签、类型、规则）为 JSON，供其他工具使用。"""
        import json

        from gkxlsx.form.describe import export_form

        form = _load_or_exit(format)
        text = json.dumps(export_form(form), ensure_ascii=False, indent=1) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            typer.echo(f"错误：无法写入 {out}：{e.strerror or e}", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"已导出格式 {form.id} 到 {out}（{len(form.entry_keys)} 个填报单元格，{len(form.rules)} 个校验项）。"
        )

    app.add_typer(forms, name="forms")
