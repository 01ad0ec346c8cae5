"""Command-line interface: ``gkxlsx <command>``.

The CLI is thin: every command lives in a ``gkxlsx/cli/<name>.py`` module that defines
``register(app)`` and calls library functions that the tests call directly.
"""

from __future__ import annotations

import sys

import typer

from gkxlsx import __version__
from gkxlsx.cli.zh import ZhGroup

HELP = (
    "gkxlsx — 政府信息公开工作年度报告 收集、校验、汇总与生成工具。\n\n"
    "Collects, validates, rolls up and renders China's annual government information "
    "disclosure reports (国办公开办函〔2021〕30号 / 〔2019〕60号)."
)

# plain help (no rich) in Chinese for this command and every command below it: gkxlsx/cli/zh.py
app = typer.Typer(
    cls=ZhGroup,
    rich_markup_mode=None,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gkxlsx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="显示版本号 / show version"
    ),
) -> None:
    pass


# command modules, registered in the order they appear in --help; an import error is an error
from gkxlsx.cli import campaign, check, demo, extract, forms, generate, mail, render, serve  # noqa: E402

for _module in (demo, forms, generate, check, campaign, render, mail, extract, serve):
    _module.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("已取消。", err=True)
        sys.exit(130)
    except Exception as e:  # a full disk where no command expected one: words, never a traceback
        from gkxlsx.fsutil import failed_file, write_problem

        problem = write_problem(e)
        if problem is None:
            raise
        name = failed_file(e)
        typer.secho(
            f"无法写入{f'文件 {name}' if name else '磁盘'}：{problem}。请腾出磁盘空间后重试。",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
