"""The form is the only source of its labels: no section title, sheet name, table label, row or
column label or field label of a built-in form (at least 4 CJK characters long) is written in a
string of the Python code — as the whole string, or quoted in it (“…”, 「…」, 《…》), or at its
start or end.  Code reads them from :mod:`gkxlsx.form.model`.  (Comments and docstrings may name
them; a label that is only part of a longer word or sentence, e.g. 行政复议 in “行政复议总计为”, is
prose, not a copy of the label.)"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import gkxlsx

PACKAGE = Path(gkxlsx.__file__).resolve().parent
FORMS = PACKAGE / "data" / "forms"
CJK = re.compile(r"[\u3400-\u9fff]")
LABEL_KEYS = ("title", "label", "sheet")
OPEN, CLOSE = "“「‘《", "”」’》"

# Copies in modules that other parts of issue 14 restructure (check/checks/identity.py, workbook/reader.py)
# and column headers of the roster and export files that coincide with the labels of the
# form's meta fields.  Each entry must still occur (so the list only shrinks): remove it together
# with the copy.
KNOWN = {
    ("campaign/campaign.py", "报告年度"),
    ("campaign/campaign.py", "上级单位"),
    ("campaign/campaign.py", "单位类型"),
    ("campaign/exports.py", "单位代码"),
    ("campaign/exports.py", "单位名称"),
    ("campaign/exports.py", "单位类型"),
    ("campaign/exports.py", "上级单位"),
    ("check/checks/identity.py", "报告年度"),
    ("check/checks/identity.py", "单位代码"),
    ("check/checks/identity.py", "单位名称"),
    ("check/checks/identity.py", "单位类型"),
    ("check/checks/identity.py", "一、总体情况"),
    ("check/checks/identity.py", "三、依申请公开"),
    ("check/checks/identity.py", "四、复议诉讼"),
    ("form/roster.py", "单位代码"),
    ("form/roster.py", "单位名称"),
    ("form/roster.py", "单位类型"),
    ("form/roster.py", "上级单位"),
    ("form/roster.py", "联系电话"),
    ("workbook/reader.py", "一、总体情况"),
}


def _labels(node: object) -> Iterator[str]:
    """Every title, sheet name and label in a part of a form definition (not in its rules)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in LABEL_KEYS and isinstance(v, str):
                yield v
            else:
                yield from _labels(v)
    elif isinstance(node, list):
        for v in node:
            yield from _labels(v)


def form_labels() -> set[str]:
    out: set[str] = set()
    for p in sorted(FORMS.glob("*.json")):
        raw = json.loads(p.read_text(encoding="utf-8"))
        for part in ("sections", "meta_fields"):
            out |= {s for s in _labels(raw.get(part, [])) if len(CJK.findall(s)) >= 4}
    return out


def _strings(tree: ast.AST) -> Iterator[str]:
    """The string constants of a module, docstrings left out (f-strings give their literal parts)."""
    docs = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            yield n.value


def _copies(text: str, label: str) -> bool:
    i = text.find(label)
    while i >= 0:
        before = text[i - 1] if i > 0 else ""
        j = i + len(label)
        after = text[j] if j < len(text) else ""
        if (not before or before in OPEN) and (not after or after in CLOSE):
            return True
        i = text.find(label, i + 1)
    return False


def label_copies() -> set[tuple[str, str]]:
    labels = form_labels()
    out = set()
    for py in sorted(PACKAGE.rglob("*.py")):
        for s in _strings(ast.parse(py.read_text(encoding="utf-8"))):
            out |= {(py.relative_to(PACKAGE).as_posix(), lab) for lab in labels if lab in s and _copies(s, lab)}
    return out


def test_forms_have_labels():
    labels = form_labels()
    assert {"一、总体情况", "一、本年新收政府信息公开申请数量", "（一）予以公开", "三、依申请公开"} <= labels
    assert len(labels) > 50


def test_copies_are_recognised():
    assert _copies("一、总体情况", "一、总体情况")
    assert _copies("表格“一、本年新收政府信息公开申请数量”的总计", "一、本年新收政府信息公开申请数量")
    assert not _copies("行政复议总计为", "行政复议")


def test_no_form_label_in_python():
    found = label_copies()
    new = sorted(found - KNOWN)
    assert not new, "form labels written in Python (read them from gkxlsx.form.model):\n" + "\n".join(
        f"{f}: {lab}" for f, lab in new
    )
    gone = sorted(KNOWN - found)
    assert not gone, "no longer copied — remove from KNOWN:\n" + "\n".join(f"{f}: {lab}" for f, lab in gone)
