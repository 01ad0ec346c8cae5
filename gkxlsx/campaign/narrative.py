"""The office's own words for its roll-up: a UTF-8 text file in the campaign folder it edits.

A roll-up adds up numbers; the text of a report — 总体情况, 存在的主要问题及改进情况, the contact
details, 成文日期 — is the collecting office's to write.  ``gkxlsx aggregate`` writes the file
(:data:`NARRATIVE_FILE`) once, with one heading a field, and never overwrites it; the office writes
under each heading in Notepad or WPS.  The roll-up return (``--as-return``) carries the text in its
entry cells and the aggregate report prints it.

The headings are derived from the form: 【{section title}·{field label}】 for the fields of a
section, 【{field label}】 for the unit's details.  Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from gkxlsx.campaign.campaign import CampaignError
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.model import Field, Form

NARRATIVE_FILE: str = data_file("aggregate")["narrative_file"]  # the office edits it; the fix texts name it

_HEAD = re.compile(r"^\s*【(.+?)】\s*$")


class NarrativeError(CampaignError):
    """The file cannot be read; the Chinese message says where and what to do."""


def narrative_fields(form: Form) -> list[Field]:
    """The fields an office writes itself: every field that is neither prefilled nor a number."""
    return [f for f in form.fields.values() if not f.prefilled and not f.type.numeric]


def heading(form: Form, f: Field) -> str:
    if f.section == "meta":
        return f.label
    return f"{form.section(f.section).title}·{f.label}"


def template_text(form: Form, office: str, year: int, values: Mapping[str, Any] | None = None) -> str:
    """The file as first written: comments, then every heading with nothing under it (or with the
    text of ``values``: the demo's and the tests' office)."""
    lines = [
        f"# {office or '本级'}{year}年度政府信息公开工作年度报告（汇总）的文字部分。",
        "# 在每个【标题】下面填写该部分的内容，可以写多段；不要修改【】中的标题。以 # 开头的行不会被使用。",
        "# 数字（各表、收费情况）由 gkxlsx 根据各单位报送的数据汇总，不需要在这里填写；日期写成 2026-01-20。",
        "",
    ]
    for f in narrative_fields(form):
        lines.append(f"【{heading(form, f)}】")
        if f.guide:
            lines.append(f"# {f.guide}")
        v = (values or {}).get(f.key)
        if v not in (None, ""):
            lines.append(v.isoformat() if isinstance(v, date) else str(v))
        lines.append("")
    return "\n".join(lines)


def ensure_file(
    root: Path, form: Form, office: str, year: int, values: Mapping[str, Any] | None = None
) -> tuple[Path, bool]:
    """(path, whether it was written now): the file in ``root``, written once and never overwritten."""
    p = Path(root) / NARRATIVE_FILE
    if p.exists():
        return p, False
    from gkxlsx.fsutil import write_text

    write_text(p, template_text(form, office, year, values))
    return p, True


def read_narrative(path: Path, form: Form) -> dict[str, Any]:
    """The values the office wrote, by key (only fields with text; 成文日期 as a date)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise NarrativeError(f"无法读取 {path}：{e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # saved by Notepad as ANSI on a Chinese Windows
        except UnicodeDecodeError:
            raise NarrativeError(f"{path} 不是文本文件，请用记事本打开后另存为 UTF-8 编码。") from None
    by_heading = {heading(form, f): f for f in narrative_fields(form)}
    out: dict[str, list[str]] = {}
    current: Field | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        m = _HEAD.match(line)
        if m:
            current = by_heading.get(m.group(1).strip())
            if current is None:
                raise NarrativeError(
                    f"{path} 第 {n} 行的标题“【{m.group(1)}】”不是报告的组成部分。可用的标题："
                    + "、".join(f"【{h}】" for h in by_heading)
                    + "。"
                )
            out.setdefault(current.key, [])
            continue
        if line.lstrip().startswith("#") or current is None:
            continue
        out[current.key].append(line.rstrip())
    values: dict[str, Any] = {}
    for key, lines in out.items():
        body = "\n".join(lines).strip("\n")
        body = re.sub(r"\n{3,}", "\n\n", body).strip()
        if not body:
            continue
        f = form.fields[key]
        if f.type.kind == "date":
            try:
                values[key] = date.fromisoformat(body.splitlines()[0].strip())
            except ValueError:
                raise NarrativeError(
                    f"{path} 中【{heading(form, f)}】的日期“{body}”格式不对，应写成 2026-01-20。"
                ) from None
        else:
            values[key] = "\n".join(ln.strip() for ln in body.splitlines())
    return values


def narrative_values(root: Path, form: Form) -> Mapping[str, Any]:
    """What the office wrote, or nothing when it has no file yet."""
    p = Path(root) / NARRATIVE_FILE
    return read_narrative(p, form) if p.exists() else {}
