"""The command line itself: what a command imports before it runs, and the library's words in Chinese."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gkxlsx.cli import app

REPO = Path(__file__).resolve().parents[1]
RETURN = next((REPO / "examples" / "returns").glob("SLX001_*.xlsx"))

runner = CliRunner()

# what no command may import before it runs, and what `--help` must not import at all
HEAVY = ("rich", "pydantic", "xlsxwriter", "jinja2", "openpyxl", "python_calamine", "docx", "multiprocessing")
LAYERS = ("form", "rules", "workbook", "check", "text", "published", "campaign", "render", "mail", "office", "demo")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, encoding="utf-8", check=False
    )


def _modules_after(argv: list[str]) -> tuple[set[str], subprocess.CompletedProcess]:
    """The modules loaded after running ``gkxlsx argv`` in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "sys.argv = ['gkxlsx'] + json.loads(sys.argv[1])\n"
        "from gkxlsx.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    r = _python(code, json.dumps(argv))
    assert "MODULES " in r.stderr, r.stderr
    return set(json.loads(r.stderr.rsplit("MODULES ", 1)[1])), r


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_importing_the_cli_imports_no_layer_and_no_heavy_library():
    r = _python("import gkxlsx.cli, sys, json; print(json.dumps(sorted(sys.modules)))")
    assert r.returncode == 0, r.stderr
    mods = set(json.loads(r.stdout))
    assert not _top(mods) & set(HEAVY)
    assert not {m for m in mods if m.split(".")[:2][-1] in LAYERS and m.startswith("gkxlsx.")}


@pytest.mark.parametrize("argv", [["--help"], ["mail", "--help"], ["forms", "show", "--help"], ["check", "--help"]])
def test_help_runs_without_heavy_modules(argv):
    mods, r = _modules_after(argv)
    assert r.stdout.startswith("用法：") and "选项：" in r.stdout, r.stdout + r.stderr
    assert not _top(mods) & set(HEAVY), _top(mods) & set(HEAVY)
    assert not {m for m in mods if m.startswith("gkxlsx.") and m.split(".")[1] in LAYERS}


def test_checking_one_file_imports_only_what_one_file_needs():
    mods, r = _modules_after(["check", str(RETURN)])
    assert "共检查 1 个文件" in r.stdout, r.stdout + r.stderr
    assert "gkxlsx.check.checker" in mods
    not_needed = {
        "gkxlsx.check.parallel",
        "gkxlsx.workbook.feedback",
        "gkxlsx.workbook.prefill",
        "gkxlsx.render.renderer",
        "gkxlsx.campaign.campaign",
        "gkxlsx.mail.mail",
        "gkxlsx.published.extract",
        "gkxlsx.text.similarity",
    }
    assert not mods & not_needed, mods & not_needed
    assert not _top(mods) & {"rich", "pydantic", "xlsxwriter", "jinja2", "openpyxl", "multiprocessing", "docx"}


# --------------------------------------------------------------------------------------------
# the library's words in Chinese

ENGLISH = ("Usage:", "Error", "Options", "Commands", "Arguments", "Show this message", "Try '", "[default", "required]")


def _no_english(text: str) -> None:
    for word in ENGLISH:
        assert word not in text, (word, text)


@pytest.mark.parametrize("argv", [["--help"], ["-h"], [], ["forms"], ["mail", "--help"]])
def test_group_help_is_in_chinese(argv):
    r = runner.invoke(app, argv)
    assert "用法：" in r.output and "选项：" in r.output and "命令：" in r.output, r.output
    assert "显示本帮助并退出。" in r.output
    _no_english(r.output)


@pytest.mark.parametrize("command", ["check", "generate", "init", "status", "render", "extract", "audit", "fetch"])
def test_command_help_is_in_chinese(command):
    r = runner.invoke(app, [command, "--help"])
    assert r.exit_code == 0
    assert r.output.startswith("用法：") and f" {command} [选项]" in r.output.splitlines()[0], r.output
    assert "选项：" in r.output and "显示本帮助并退出。" in r.output
    _no_english(r.output)


@pytest.mark.parametrize("argv", [[], ["forms"], ["mail"]])
def test_a_group_without_a_command_shows_its_help_and_no_error(argv):
    r = runner.invoke(app, argv)
    assert r.output.startswith("用法：") and "命令：" in r.output and "错误：" not in r.output, r.output


def test_check_help_shows_arguments_defaults_and_types_in_chinese():
    r = runner.invoke(app, ["check", "--help"])
    flat = "".join(r.output.split())
    assert "参数：" in r.output and "[必填]" in flat and "[默认：1；x>=1]" in flat and "--roster<路径>" in flat


@pytest.mark.parametrize(
    "argv, words",
    [
        (["check", "--nope", "x.xlsx"], ["没有这个选项：--nope"]),
        (["--nope"], ["没有这个选项：--nope"]),
        (["check"], ["缺少参数 '文件或文件夹'"]),
        (["forms", "show"], ["缺少参数 '格式'"]),
        (["check", "x.xlsx", "--jobs", "a"], ["'--jobs' / '-j' 的值无效：应为整数"]),
        (["check", "x.xlsx", "--jobs", "0"], ["'--jobs' / '-j' 的值无效：不能小于 1"]),
        (["check", "x.xlsx", "--year"], ["选项 '--year' 后面要跟一个值"]),
        (["chek"], ["没有这个命令：chek", "'check'"]),
        (["status", "a", "b", "c"], ["多余的参数：b c"]),
    ],
)
def test_usage_errors_are_in_chinese_with_exit_code_2(argv, words):
    r = runner.invoke(app, argv)
    assert r.exit_code == 2, r.output
    assert "错误：" in r.output
    for w in words:
        assert w in r.output, (w, r.output)
    _no_english(r.output)


def test_usage_error_from_the_shell_is_in_chinese():
    r = _python("from gkxlsx.cli import main; main()", "check", "--nope")
    assert r.returncode == 2
    assert "用法：" in r.stderr and "错误：没有这个选项：--nope" in r.stderr and "查看帮助" in r.stderr
    _no_english(r.stderr)
