"""``gkxlsx demo``: run a whole campaign on the bundled example."""

from __future__ import annotations

from pathlib import Path

import typer


def demo_cmd(
    directory: Path = typer.Argument(
        Path("gkxlsx-演示"), metavar="目录", help="演示用的收集任务目录（须不存在或为空） / demo folder"
    ),
    no_render: bool = typer.Option(False, "--no-render", help="不生成报告文件"),
) -> None:
    """用自带的示例名单完整演示一次收集：建任务、生成模板、模拟报送、导入校验、统计、汇总、生成报告。 / Run a whole demo campaign."""
    from gkxlsx.demo.demo import run_demo

    try:
        camp = run_demo(directory, echo=typer.echo, render=not no_render)
    except FileExistsError as e:
        typer.secho(str(e), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    camp.close()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
