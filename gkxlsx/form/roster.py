"""The roster: the list of units a county office collects reports from (CSV or XLSX).

Headers are Chinese (单位代码, 单位名称, 单位类型, 上级单位, 联系人, 邮箱) with English aliases; the
accepted names are data (gkxlsx/data/roster.json, :func:`roster_columns`).
A bad roster is rejected as a whole with one message that lists every bad line.  Full-width
letters, digits and spaces in a unit code (typed with a Chinese input method) are read as their
ASCII forms, and the roster's ``notices`` say so.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gkxlsx.filekinds import SPREADSHEET_SUFFIXES
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.model import Form, load_form


class RosterError(ValueError):
    """The roster cannot be used; the message (Chinese) lists every problem with its line number."""


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    type: str  # canonical unit type name of the form (乡镇, 街道, 县级部门 …)
    parent: str = ""
    contact: str = ""
    email: str = ""
    phone: str = ""
    line: int = 0  # line in the roster file (for messages)

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"


@cache
def roster_columns() -> dict[str, tuple[str, ...]]:
    """The header names a roster may give each field of a unit (gkxlsx/data/roster.json, read once):
    ``{"code": ("单位代码", "代码", …, "code", …), …}``."""
    return {f: tuple(names) for f, names in data_file("roster")["columns"].items()}


def _message(key: str, **kw: object) -> str:
    """A message about the roster file (gkxlsx/data/roster.json ``messages``)."""
    return str(data_file("roster")["messages"][key]).format(**kw)


class Roster(list[Unit]):
    """The units of a roster, in file order, and ``notices``: Chinese lines telling what was read
    differently from what the file says (full-width codes), to show to the user."""

    notices: list[str]

    def __init__(self, units: Iterable[Unit] = (), notices: Iterable[str] = ()):
        super().__init__(units)
        self.notices = list(notices)


# full-width ASCII (U+FF01–U+FF5E) and the ideographic space (U+3000) → ASCII: their NFKC forms
_HALFWIDTH = {0xFF01 + i: 0x21 + i for i in range(0xFF5E - 0xFF01 + 1)} | {0x3000: 0x20}
_FULLWIDTH = re.compile(r"[\uff01-\uff5e\u3000]")
NOTICE_EXAMPLES = 5  # lines quoted in a notice


def halfwidth(code: str) -> str:
    """A unit code with full-width ASCII and ideographic spaces read as ASCII (ＱＹ００１ → QY001)."""
    return code.translate(_HALFWIDTH).strip()


def column_name(field: str) -> str:
    """A unit field's name for people (its first roster header): 单位代码 for ``code``; the status
    and roll-up tables of a campaign head their columns with it too."""
    return roster_columns()[field][0]


_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
_CODE = re.compile(r"^[0-9A-Za-z_\-]{1,40}$")


# control characters (a carriage return pasted into a cell, a line feed from Alt+Enter, U+2028 …):
# a generated workbook's meta sheet, defined names and properties would each keep them differently,
# so every return of the unit would fail its identity check; a roster value holds none of them
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_text(v: str) -> str:
    """A roster value as the unit's workbooks will carry it: control characters and the white
    space around them become one space, ends stripped (linear: split, never a backtracking scan)."""
    return " ".join(p for p in (part.strip() for part in _CONTROL.split(v)) if p)


def _norm_header(h: str) -> str:
    return re.sub(r"[\s（）()*:：]", "", str(h or "")).lower()


# the first bytes of an Excel or OpenDocument file: a zip (xlsx, xlsm, ods, new .et) or OLE (xls, et)
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\xd0\xcf\x11\xe0")


def _rows_from_file(path: Path) -> list[list[str]]:
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        try:
            with path.open("rb") as fh:
                head = fh.read(8)
        except OSError as e:
            raise RosterError(f"无法读取名单文件 {path.name}：{e.strerror or e}。") from None
        if not head:
            raise RosterError(_message("empty_file", file=path.name))
        if not head.startswith(_SPREADSHEET_MAGIC):
            raise RosterError(_message("not_excel", file=path.name))
        try:
            from python_calamine import CalamineWorkbook

            wb = CalamineWorkbook.from_path(str(path))
            rows = wb.get_sheet_by_index(0).to_python(skip_empty_area=False)
        except Exception:  # noqa: BLE001 - any reader failure becomes a user message
            raise RosterError(_message("unreadable", file=path.name)) from None
        out = []
        for r in rows:
            cells = []
            for v in r:
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                cells.append("" if v is None else str(v).strip())
            out.append(cells)
        return out
    data = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterError(f"名单文件 {path.name} 的编码无法识别，请另存为 UTF-8 编码的 CSV 或 Excel 文件。")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;，")
    except csv.Error:
        dialect = csv.excel
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect)]


def load_roster(path: str | Path, form: Form | None = None) -> Roster:
    """Read and validate a roster.  Raises RosterError listing every bad line."""
    form = form or load_form("2021")
    p = Path(path)
    if not p.exists():
        raise RosterError(f"找不到名单文件：{p}")
    rows = [r for r in _rows_from_file(p)]
    # first non-empty row is the header
    start = next((i for i, r in enumerate(rows) if any(c for c in r)), None)
    if start is None:
        raise RosterError(f"名单文件 {p.name} 是空的。")
    header = rows[start]
    colmap: dict[str, int] = {}
    vocab = data_file("roster")
    aliases = {_norm_header(a): field for field, names in roster_columns().items() for a in names}
    for i, h in enumerate(header):
        f = aliases.get(_norm_header(h))
        if f and f not in colmap:
            colmap[f] = i
    missing = [column_name(f) for f in vocab["required"] if f not in colmap]
    if missing:
        example = ",".join(column_name(f) for f in vocab["example"])
        raise RosterError(f"名单文件 {p.name} 缺少必需的列：{'、'.join(missing)}。第一行应为表头，例如：{example}")
    problems: list[str] = []
    units: list[Unit] = []
    widened: list[tuple[int, str, str]] = []  # (line, code as written, code as read)
    seen: dict[str, int] = {}
    type_names = "、".join(u.name for u in form.unit_types)
    h_code, h_name, h_type, h_email = (column_name(f) for f in ("code", "name", "type", "email"))
    for i, r in enumerate(rows[start + 1 :], start=start + 2):
        if not any(c for c in r):
            continue

        def get(f: str) -> str:
            j = colmap.get(f)
            return clean_text(r[j]) if j is not None and j < len(r) else ""

        code, name, typ, email = get("code"), get("name"), get("type"), get("email")
        written = code
        if _FULLWIDTH.search(code):
            code = halfwidth(code)
        line_problems = []
        if not code:
            line_problems.append(f"缺少{h_code}")
        elif not _CODE.match(code) and code != written:
            line_problems.append(_message("fullwidth_invalid", column=h_code, original=written, code=code))
        elif not _CODE.match(code):
            line_problems.append(f"{h_code}“{code}”只能由字母、数字、下划线和连字符组成")
        elif code in seen:
            line_problems.append(f"{h_code}“{code}”与第 {seen[code]} 行重复")
        if not name:
            line_problems.append(f"缺少{h_name}")
        ut = form.unit_type(typ)
        if not typ:
            line_problems.append(f"缺少{h_type}")
        elif ut is None:
            line_problems.append(f"{h_type}“{typ}”无法识别（可用：{type_names}）")
        if email and not all(_EMAIL.match(e.strip()) for e in re.split(r"[;；,，]", email) if e.strip()):
            line_problems.append(f"{h_email}“{email}”格式不正确")
        if line_problems:
            problems.append(f"第 {i} 行：" + "；".join(line_problems))
        else:
            if code != written:
                widened.append((i, written, code))
            seen[code] = i
            units.append(
                Unit(
                    code=code,
                    name=name,
                    type=ut.name,  # type: ignore[union-attr]
                    parent=get("parent"),
                    contact=get("contact"),
                    email=email,
                    phone=get("phone"),
                    line=i,
                )
            )
        if code and code not in seen:
            seen.setdefault(code, i)
    if problems:
        raise RosterError(
            f"名单文件 {p.name} 有 {len(problems)} 处问题，未生成任何文件：\n" + "\n".join("  " + x for x in problems)
        )
    if not units:
        raise RosterError(f"名单文件 {p.name} 中没有任何单位。")
    notices = []
    if widened:
        examples = "、".join(
            _message("fullwidth_example", line=line, original=w, code=c) for line, w, c in widened[:NOTICE_EXAMPLES]
        )
        if len(widened) > NOTICE_EXAMPLES:
            examples += _message("fullwidth_more")
        notices.append(_message("fullwidth_notice", file=p.name, count=len(widened), column=h_code, examples=examples))
    return Roster(units, notices)
