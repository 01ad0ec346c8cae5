"""The data files are the only source of the words people see for the forms and the roster: no
section title, sheet name, table label, row or column label or field label of a built-in form, no
name or spelling of its unit types, no roster column header (gkxlsx/data/roster.json) and no words
for a unit condition (gkxlsx/data/conditions.json) — at least 4 CJK characters long — is written in
a string of the Python code: as the whole string, or quoted in it (“…”, 「…」, 《…》), or at its
start or end.  Code reads them from :mod:`gkxlsx.form.model`, :func:`gkxlsx.form.roster.column_name`
and :mod:`gkxlsx.rules.text`.  (Comments and docstrings may name them; a label that is only part of
a longer word or sentence, e.g. 行政复议 in “行政复议总计为”, is prose, not a copy of the label.)"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import gkxlsx

PACKAGE = Path(gkxlsx.__file__).resolve().parent
DATA = PACKAGE / "data"
FORMS = DATA / "forms"
CJK = re.compile(r"[\u3400-\u9fff]")
LABEL_KEYS = ("title", "label", "sheet")
OPEN, CLOSE = "“「‘《", "”」’》"


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
            out |= _long(_labels(raw.get(part, [])))
    return out


def _long(words: Iterable[str]) -> set[str]:
    return {s for s in words if len(CJK.findall(s)) >= 4}


def _texts(node: object) -> Iterator[str]:
    """Every string value in a part of a data file (``_about`` notes left out)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "_about":
                yield from _texts(v)
    elif isinstance(node, list):
        for v in node:
            yield from _texts(v)
    elif isinstance(node, str):
        yield node


def vocabulary() -> set[str]:
    """The form labels, the unit types' names and spellings, the roster headers and the condition words."""
    out = form_labels()
    for p in sorted(FORMS.glob("*.json")):
        for u in json.loads(p.read_text(encoding="utf-8")).get("unit_types", []):
            out |= _long([u["name"], *u.get("aliases", [])])
    roster = json.loads((DATA / "roster.json").read_text(encoding="utf-8"))
    out |= _long(_texts(roster["columns"]))
    out |= _long(_texts(json.loads((DATA / "conditions.json").read_text(encoding="utf-8"))))
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
    labels = vocabulary()
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


def test_vocabulary_has_the_data_words():
    words = vocabulary()
    assert form_labels() <= words
    assert {"单位代码", "单位名称", "单位类型", "上级单位", "联系电话"} <= words  # roster headers, meta labels
    assert {"街道办事处", "县直部门", "乡镇人民政府", "县级部门"} <= words  # unit types and their spellings
    assert {"仅各级人民政府", "各级人民政府必填，其他单位可不填", "按单位类型填写"} <= words  # condition words


def test_no_form_label_in_python():
    found = sorted(label_copies())
    assert not found, "words of the data files written in Python (read them from the data):\n" + "\n".join(
        f"{f}: {lab}" for f, lab in found
    )
