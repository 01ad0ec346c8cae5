"""The command-line library's own words in Chinese: help headings, the usage line, usage errors.

Typer (with the click it builds on) writes "Usage:", "Options", "Show this message and exit.",
"Error: No such option: …" in English; some of it through gettext, most as plain f-strings, and its
rich help panels have titles of their own.  gkxlsx uses typer's plain help (``rich_markup_mode=None``:
no rich panels, and no rich to import at start-up) and puts Chinese in at the two places everything
passes through:

* :class:`ZhFormatter`, the help formatter: the usage line, the section headings, the help of
  ``--help``, the ``[default: …]`` / ``[required]`` notes and the value types (``<path>``);
* :class:`ZhGroup`, the root command: a usage error raised while parsing or running any command
  is printed in Chinese (usage line, a hint where to find help, ``错误：`` and the reason), with the
  exit code typer gives it (2); an abort prints “已取消。” and exits 1.

Only public typer/click surfaces are used (``typer.Context.formatter_class``, ``TyperGroup``,
exception class names and attributes), so this works with typer's bundled click as with click itself.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import typer
from typer.core import TyperGroup

HEADINGS = {"Usage": "用法", "Arguments": "参数", "Options": "选项", "Commands": "命令"}

# value types shown after an option in the help (typer's ``display_type``)
TYPES = {
    "path": "路径",
    "list[Path]": "路径",
    "str": "文字",
    "list[str]": "文字",
    "int": "整数",
    "int range": "整数",
    "float": "数",
    "bool": "是/否",
}

# typer's notes after an option's help: "  [default: 1; x>=1]", "  [required]"
NOTE_WORDS = [("required", "必填"), ("default: ", "默认："), ("; ", "；")]


def _zh_usage_args(args: str) -> str:
    return args.replace("[OPTIONS]", "[选项]").replace("COMMAND [ARGS]...", "命令 [参数]...")


def _zh_types(text: str) -> str:
    return re.sub(r"<([^<>]+)>", lambda m: f"<{TYPES.get(m.group(1), m.group(1))}>", text)


def _zh_note(m: re.Match) -> str:
    note = m.group(0)
    for en, zh in NOTE_WORDS:
        note = note.replace(en, zh)
    return note


def _zh_help(text: str) -> str:
    if text == "Show this message and exit.":
        return "显示本帮助并退出。"
    return re.sub(r"\[[^\[\]]*\]$", _zh_note, text)


def _width(s: str) -> int:
    """Terminal columns of ``s`` (CJK and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


_NO_LINE_START = set("，。、；：）〕」』”！？》")  # kept at the end of the line before


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns; ASCII words and notes in brackets are not split."""
    lines: list[str] = []
    cur = ""
    for tok in re.findall(r"\[[^\[\]\s]*\]|[!-~]+| |.", " ".join(text.split())):
        if cur and _width(cur) + _width(tok) > width and tok not in _NO_LINE_START:
            lines.append(cur.rstrip())
            cur = "" if tok == " " else tok
        else:
            cur += tok
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


class ZhFormatter(typer.Context.formatter_class):  # type: ignore[misc,valid-type]
    """Click's help formatter with Chinese headings and library words, measuring Chinese as two columns."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, _zh_usage_args(args), "用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{HEADINGS.get(heading, heading)}：\n")

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        for i, para in enumerate(paragraphs):
            if i:
                self.write("\n")
            for line in _wrap(para, max(self.width - self.current_indent, 11)):
                self.write(f"{indent}{line}\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = [(_zh_types(first), _zh_help(second)) for first, second in rows]
        first_w = min(max((_width(first) for first, _ in rows), default=0), col_max) + col_spacing
        text_w = max(self.width - first_w - 2, 10)
        hang = " " * (first_w + self.current_indent)
        for first, second in rows:
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if _width(first) <= first_w - col_spacing:
                self.write(" " * (first_w - _width(first)))
            else:
                self.write("\n" + hang)
            lines = _wrap(second, text_w) or [""]
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(hang + line + "\n")


class ZhContext(typer.Context):
    formatter_class = ZhFormatter


# --------------------------------------------------------------------------------------------
# usage errors


def _kind(e: BaseException) -> str:
    """The click class an exception is (NoSuchOption, MissingParameter, …), by name; "" for one
    that is not a usage error or that shows the help itself (NoArgsIsHelpError)."""
    names = [c.__name__ for c in type(e).__mro__]
    if "NoArgsIsHelpError" in names:
        return ""
    for name in ("NoSuchOption", "MissingParameter", "BadOptionUsage", "BadArgumentUsage", "BadParameter"):
        if name in names:
            return name
    return "UsageError" if "UsageError" in names else ""


def _hint(e: Any) -> str:
    """“'--jobs' / '-j'” for the parameter of an error, or ""."""
    if getattr(e, "param_hint", None):
        h = e.param_hint
        return " / ".join(f"'{x}'" for x in h) if isinstance(h, (list, tuple)) else str(h)
    param = getattr(e, "param", None)
    if param is None:
        return ""
    # a list argument's name ends in "..." in usage; not in a message about it
    return param.get_error_hint(e.ctx).replace("...'", "'")


_PATH_REASONS = [
    (r"^(?:File|Directory|Path) (.+) does not exist\.$", "{0} 不存在"),
    (r"^(?:File|Directory|Path) (.+) is a file\.$", "{0} 是文件，应为文件夹"),
    (r"^(?:File|Directory|Path) (.+) is a directory\.$", "{0} 是文件夹，应为文件"),
    (r"^(?:File|Directory|Path) (.+) is not readable\.$", "{0} 无法读取"),
    (r"^(?:File|Directory|Path) (.+) is not writable\.$", "{0} 无法写入"),
]


# the reasons of the click bundled in typer 0.28 for a bad value (its parameter types)
_CLICK_REASONS = [
    (r"^.+ is not a valid (?:int|integer|int range)\.$", "应为整数"),
    (r"^.+ is not a valid (?:float|float range)\.$", "应为数字"),
    (r"^.+ is not a valid boolean\..*$", "应为是或否（true/false）"),
    (r"^.+ is not in the range x>=(\S+)\.$", "不能小于 {0}"),
    (r"^.+ is not in the range x>(\S+)\.$", "应大于 {0}"),
    (r"^.+ is not in the range x<=(\S+)\.$", "不能大于 {0}"),
    (r"^.+ is not in the range x<(\S+)\.$", "应小于 {0}"),
    (r"^.+ is not in the range (\S+?)<=?x<=?(\S+)\.$", "应在 {0} 到 {1} 之间"),
]


def _value_reason(e: Any) -> str:
    msg = str(getattr(e, "message", "") or "")
    for rx, zh in _CLICK_REASONS + _PATH_REASONS:
        m = re.match(rx, msg)
        if m:
            return zh.format(*m.groups())
    m = re.match(r"^(.+) is not one of (.+)\.$", msg)
    if m:
        return f"{m.group(1)} 不是可选的值（{m.group(2)}）"
    return msg


def message_zh(e: Any) -> str:
    """The reason of a click usage error in Chinese (without “错误：”)."""
    kind = _kind(e)
    msg = str(getattr(e, "message", "") or "")
    if kind == "NoSuchOption":
        text = f"没有这个选项：{e.option_name}"
        if e.possibilities:
            text += f"。您是不是要用：{'、'.join(sorted(e.possibilities))}"
        return text + "。"
    if kind == "MissingParameter":
        what = {"argument": "参数", "option": "选项"}.get(
            e.param_type or getattr(e.param, "param_type_name", ""), "参数"
        )
        return f"缺少{what} {_hint(e)}。".replace("  ", " ")
    if kind == "BadParameter":
        hint = _hint(e)
        what = f"{hint} 的值" if hint else "值"
        return f"{what}无效：{_value_reason(e)}。".replace("。。", "。")
    m = re.match(r"^Option '(.+)' requires (an argument|(\d+) arguments)\.$", msg)
    if m:
        return f"选项 '{m.group(1)}' 后面要跟{'一个值' if m.group(3) is None else m.group(3) + ' 个值'}。"
    m = re.match(r"^Option '(.+)' does not take a value\.$", msg)
    if m:
        return f"选项 '{m.group(1)}' 不带值。"
    m = re.match(r"^Argument '(.+)' takes (\d+) values\.$", msg)
    if m:
        return f"参数 '{m.group(1)}' 要 {m.group(2)} 个值。"
    m = re.match(r"^Got unexpected extra argument(?:s|\(s\))? \((.*)\)$", msg)
    if m:
        return f"多余的参数：{m.group(1)}。"
    m = re.match(r"^No such command '(.+?)'(?:\. Did you mean (.+)\?|\.)$", msg)
    if m:
        text = f"没有这个命令：{m.group(1)}。"
        return text + (f"您是不是要用：{m.group(2).replace(', ', '、')}？" if m.group(2) else "")
    if msg == "Missing command.":
        return "缺少命令。"
    return e.format_message()


def show_zh(e: Any, file: Any = None) -> None:
    """Print a usage error the way click does, in Chinese: usage line, where to find help, the reason."""
    ctx = getattr(e, "ctx", None)
    color = None
    if ctx is not None:
        color = ctx.color
        hint = ""
        if ctx.command.get_help_option(ctx) is not None:
            hint = f"用 {ctx.command_path} {ctx.help_option_names[0]} 查看帮助。\n"
        typer.echo(f"{ctx.get_usage()}\n{hint}", err=file is None, file=file, color=color)
    typer.echo(f"错误：{message_zh(e)}", err=file is None, file=file, color=color)


def _in_chinese(e: Exception) -> None:
    """Make a usage error print itself in Chinese when typer shows it."""
    if _kind(e) and hasattr(e, "show"):
        e.show = lambda file=None: show_zh(e, file)


class ZhGroup(TyperGroup):
    """The root command: Chinese help for it and every command below it, Chinese usage errors."""

    context_class = ZhContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _chinese_help(self)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except Exception as e:
            _in_chinese(e)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Abort:
            typer.echo("已取消。", err=True)
            raise typer.Exit(1) from None
        except Exception as e:
            _in_chinese(e)
            raise


def _chinese_help(cmd: Any) -> None:
    """Every command below ``cmd`` formats its help and usage with :class:`ZhFormatter` (and
    without rich, whatever its Typer was given)."""
    cmd.context_class = ZhContext
    cmd.rich_markup_mode = None
    for sub in getattr(cmd, "commands", {}).values():
        _chinese_help(sub)
