"""Feedback workbooks: a fresh template, prefilled with the unit's own entries, problems marked.

The unit's returned file is never edited or re-saved (docs/ENGINEERING.md pitfall 5: openpyxl would drop
validations and cached results).  Instead the generator builds a new workbook for the same unit,
year and format, prefilled with what the unit typed — bad entries included, as text, so the unit
sees exactly what it wrote — with every problem cell highlighted and carrying a note (the message
and the fix).  The 校验结果 sheet then gets the list of problems found in the returned file, each
with a link to its cell, below the rule list, and a link to that list at the top.

Structural problems of the returned file (protection removed, a formula overwritten, rows
inserted) are listed too; the fresh workbook itself no longer has them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gkxlsx.check.result import STATUS_ERR, STATUS_WARN, FileResult
from gkxlsx.findings import SEVERITY_ZH, Finding, fmt_num
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.identity import unit_filename
from gkxlsx.form.model import Form
from gkxlsx.form.roster import Unit
from gkxlsx.workbook.generate import OfficeInfo, Problem, build_workbook

MAX_LISTED = 500


def feedback_filename(result: FileResult) -> str:
    ident = result.identity
    assert ident is not None
    return unit_filename(ident.unit_code, ident.unit_name, f"_{ident.year}年_校验反馈.xlsx")


def mark_text(f: Finding) -> str:
    """The note on a marked cell: severity, rule, message, fix (in the workbook's words)."""
    return _texts()["note"].format(
        severity=f.severity_zh, rule=f.rule_id, message=f.message, suggestion=_suggestion(f), fix=f.fix
    )


def _texts() -> dict[str, Any]:
    return data_file("workbook")["problems"]


def _suggestion(f: Finding) -> str:
    """“建议改为 …。” when the finding suggests a value its message does not already name."""
    if f.suggestion is not None and "应改为" not in f.message and "四舍五入为" not in f.message:
        return _texts()["suggestion"].format(value=fmt_num(f.suggestion))
    return ""


def _prefill(form: Form, result: FileResult) -> dict[str, Any]:
    """What to put back in the entry cells: the unit's entries as it typed them."""
    out: dict[str, Any] = {}
    vals = result.values or {}
    for key, v in result.inputs.items():
        if key in form.cells and form.cells[key].derived:
            continue
        if key in form.fields and form.fields[key].prefilled:
            continue
        if key not in form.cells and key not in form.fields:
            continue
        vt = form.value_type(key)
        if vt.kind == "date" and isinstance(vals.get(key), (date, datetime)):
            out[key] = vals[key]
        elif isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) and not -(10**15) < v < 10**15:
            out[key] = fmt_num(v)  # beyond a spreadsheet's precision: show it as text
        elif v is not None:
            out[key] = v
    return out


def feedback_workbook(
    form: Form,
    unit: Unit,
    year: int,
    findings: Sequence[Finding],
    prefill: Mapping[str, Any],
    *,
    source: str,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
    office: OfficeInfo | None = None,
) -> bytes:
    """The feedback workbook of one returned file (named ``source``): a fresh workbook for ``unit``
    prefilled with ``prefill``, every entry cell a finding points at marked with its note, and
    the problem list on 校验结果."""
    marks: dict[str, list[str]] = {}
    entry_like = set(form.cells) | {k for k, f in form.fields.items() if not f.prefilled}
    for f in findings:
        for k in f.keys:
            if k in entry_like:
                marks.setdefault(k, []).append(mark_text(f))
    counts = Counter(f.severity for f in findings)
    data, _fp = build_workbook(
        form,
        unit,
        year,
        prefill=prefill,
        prev=prev,
        prev_format=prev_format,
        office=office,
        marks={k: "\n".join(dict.fromkeys(v)) for k, v in marks.items()},
        problems=problems_of(findings),
        problems_title=_texts()["title_of_file"].format(
            source=source, errors=counts["error"], warnings=counts["warning"], infos=counts["info"]
        ),
    )
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it: never a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_feedback(
    result: FileResult,
    out_dir: str | Path,
    *,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
    unit: Unit | None = None,
    taken: set[str] | None = None,
) -> Path | None:
    """Write the feedback workbook of one checked file into ``out_dir``; returns its path, or None
    when there is nothing to send back (the file passed) or the file could not be identified (then
    there is no template to regenerate — the findings say what to send instead).

    ``taken``: file names already written in this batch (several files of one unit get
    “…_校验反馈（2）.xlsx” and so on instead of overwriting each other); updated in place."""
    form = result.form
    ident = result.identity
    if form is None or ident is None or result.values is None or ident.year is None:
        return None
    if result.status not in (STATUS_ERR, STATUS_WARN):
        return None  # passed (at most notes): nothing to send back
    u = unit or Unit(
        code=ident.unit_code,
        name=ident.unit_name,
        type=ident.unit_type,
        parent=str(result.values.get("meta.parent") or ""),
    )
    data = feedback_workbook(
        form,
        u,
        ident.year,
        result.findings,
        _prefill(form, result),
        source=result.name,
        prev=prev,
        prev_format=prev_format,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = feedback_filename(result)
    if taken is not None:
        base, n = name[: -len(".xlsx")], 2
        while name in taken:
            name = f"{base}（{n}）.xlsx"
            n += 1
        taken.add(name)
    path = out / name
    write_atomic(path, data)
    result.feedback = path
    return path


def problems_of(findings: Sequence[Finding]) -> list[Problem]:
    """The problem list a feedback workbook carries on 校验结果, one line per finding."""
    out = []
    for f in findings[:MAX_LISTED]:
        text = _texts()["problem"].format(message=f.message, suggestion=_suggestion(f), fix=f.fix)
        raw = "" if f.raw is None else str(f.raw)
        if not raw and f.actual not in (None, ""):
            raw = str(fmt_num(f.actual) if not isinstance(f.actual, str) else f.actual)
        out.append(Problem(f.severity_zh, tuple(f.locations), text, raw, f.rule_id))
    if len(findings) > MAX_LISTED:
        out.append(Problem(SEVERITY_ZH["info"], (), _texts()["not_listed"].format(n=len(findings) - MAX_LISTED)))
    return out
