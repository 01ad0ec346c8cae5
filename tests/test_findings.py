"""The findings catalogue (gkxlsx/data/findings.json): every finding id that code can emit is declared
there once, or is a rule of a built-in form; every entry is complete and its callers fill its
placeholders; a Finding serialises both ways."""

from __future__ import annotations

import ast
import re
import string
from decimal import Decimal
from pathlib import Path

import pytest

import gkxlsx
import gkxlsx.findings as findings_mod
from gkxlsx.findings import FIELDS, Finding, catalogue, form_rule_wordings, make_finding
from gkxlsx.form.model import builtin_form_ids, load_form

PACKAGE = Path(gkxlsx.__file__).resolve().parent
ID = re.compile(r"(?<![A-Za-z0-9-])[EWI]-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*(?![a-z])")
SEVERITIES = {"error", "warning", "info"}
# the wrappers that pass their keywords on to make_finding (narrative's adds the part titles)
BUILDERS = {"make_finding": set(), "_finding": {f"s{i}" for i in range(1, 7)} | {"parts"}}


def form_rule_ids() -> set[str]:
    """The ids a built-in form declares: its rules and its plausibility rules."""
    out = set()
    for fid in builtin_form_ids():
        form = load_form(fid)
        out |= {r.id for r in form.rule_defs}
        out |= {p["id"] for p in (form.raw.get("plausibility") or {}).values()}
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            first = n.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def code_ids() -> dict[str, set[str]]:
    """{finding id: the modules whose strings (not docstrings) name it}."""
    out: dict[str, set[str]] = {}
    for py in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                for m in ID.finditer(n.value):
                    out.setdefault(m.group(0), set()).add(py.relative_to(PACKAGE).as_posix())
    return out


def placeholders(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def _spec(rule_id: str, form_rule: bool = False) -> dict:
    if not form_rule:
        return dict(catalogue()[rule_id])
    rule = next(r for fid in builtin_form_ids() if (r := load_form(fid).rule_def(rule_id)))
    return {"title": rule.title, "fix": rule.fix, **form_rule_wordings()[rule_id]}


def entry_placeholders(rule_id: str, variant: str | None, form_rule: bool = False) -> set[str]:
    spec = _spec(rule_id, form_rule)
    v = spec["variants"][variant] if variant else spec
    return placeholders(v.get("message", spec["message"])) | placeholders(v.get("fix", spec["fix"]))


# --------------------------------------------------------------------------------------------


def test_every_id_in_code_is_declared():
    declared = set(catalogue()) | form_rule_ids()
    ids = code_ids()
    assert {"E-FILE-READ", "W-TXT-FIVE", "W-PUB-LATE", "W-XY-SIMILAR", "W-T3-FEE"} <= set(ids)
    unknown = {i: sorted(m) for i, m in ids.items() if i not in declared}
    assert not unknown, f"finding ids used in code but declared nowhere: {unknown}"


def test_catalogue_is_not_a_copy_of_form_rules():
    rules = form_rule_ids()
    for rid in catalogue():
        assert rid not in rules, f"{rid} is a rule of a form: declare it there only"
    for rid, spec in form_rule_wordings().items():
        assert rid in rules, rid  # the code side of a form rule: severity, title and fix from the form
        assert set(spec) <= {"message", "description", "variants"} and spec["message"] and spec["description"]


@pytest.mark.parametrize("rule_id", sorted(catalogue()))
def test_entry_is_complete(rule_id):
    spec = catalogue()[rule_id]
    missing = [f for f in FIELDS if f not in spec]
    assert not missing, f"{rule_id} lacks {missing}"
    assert spec["severity"] in SEVERITIES
    assert spec["description"].strip()
    assert spec["title"].strip() and spec["message"].strip() and spec["fix"].strip()
    for name, v in spec.get("variants", {}).items():
        assert set(v) <= {"message", "title", "fix"} and v, (rule_id, name)
    # every template parses
    for name in [None, *spec.get("variants", {})]:
        entry_placeholders(rule_id, name)


def _const_variants(node: ast.AST | None) -> list[str | None] | None:
    """The variant names a call's argument can take (None: the default wording); None if unknown."""
    if node is None:
        return [None]
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str)):
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _const_variants(node.body), _const_variants(node.orelse)
        return None if a is None or b is None else a + b
    return None


def builder_calls():
    """(module:line, id, variants, keywords) of every make_finding / narrative _finding call with a
    literal id and no ``**`` keywords."""
    for py in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for n in ast.walk(tree):
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in BUILDERS):
                continue
            if not n.args or not isinstance(n.args[0], ast.Constant) or py.name == "findings.py":
                continue
            if any(k.arg is None for k in n.keywords):
                continue  # **ctx: checked by the run over the corpus
            kws = {k.arg for k in n.keywords if k.arg}
            form_rule = "rule" in kws
            var = next((k.value for k in n.keywords if k.arg == "variant"), None)
            if var is None and n.func.id == "_finding" and len(n.args) > 1:
                var = n.args[1]
            where = f"{py.relative_to(PACKAGE)}:{n.lineno}"
            yield where, n.args[0].value, _const_variants(var), kws | BUILDERS[n.func.id], form_rule


def test_callers_fill_every_placeholder():
    calls = list(builder_calls())
    assert len(calls) > 40
    problems = []
    for where, rid, variants, kws, form_rule in calls:
        assert rid in (form_rule_wordings() if form_rule else catalogue()), (where, rid)
        for v in variants or []:
            if v is not None and v not in _spec(rid, form_rule).get("variants", {}):
                problems.append(f"{where}: {rid} has no variant {v!r}")
                continue
            # expected/actual/raw/suggestion fill their placeholders when they are passed
            missing = entry_placeholders(rid, v, form_rule) - kws
            if missing:
                problems.append(f"{where}: {rid}[{v}] not filled: {sorted(missing)}")
    assert not problems, "\n".join(problems)


def test_every_variant_is_used():
    used = {(rid, v) for _, rid, vs, _, _ in builder_calls() for v in vs or []}
    # variants chosen at run time (narrative's W-TXT-DATE runon/runon_both) are named in the code as strings
    text = "\n".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    for rid, spec in [*catalogue().items(), *form_rule_wordings().items()]:
        for name in spec.get("variants", {}):
            assert (rid, name) in used or f'"{name}"' in text, f"{rid} variant {name} is never chosen"


# --------------------------------------------------------------------------------------------
# the ids emitted over the demo and the published seeds: declared, and every placeholder filled


@pytest.fixture
def unfilled(monkeypatch):
    missing: list[str] = []

    def record(self, key):
        missing.append(key)
        return ""

    monkeypatch.setattr(findings_mod._Fmt, "__missing__", record)
    return missing


def test_demo_findings_are_declared_and_filled(tmp_path, unfilled):
    from gkxlsx.demo.demo import run_demo

    camp = run_demo(tmp_path / "demo", echo=lambda s: None, render=False)
    with camp:
        emitted = {f["rule"] for u in camp.units() for s in camp.ledger.history(u.code) for f in s.findings}
    assert {"E-T3-BAL", "E-CELL-TEXT", "W-TXT-APPL"} <= emitted
    assert emitted <= set(catalogue()) | form_rule_ids()
    assert not unfilled


def test_audit_findings_are_declared_and_filled(unfilled):
    from conftest import seed_files

    from gkxlsx.published.audit import audit_file

    emitted = {f.rule_id for p in seed_files() for f in audit_file(p).findings}
    assert {"W-TXT-LABEL", "W-TXT-FIVE", "W-PUB-TITLE"} <= emitted
    assert emitted <= set(catalogue()) | form_rule_ids()
    assert not unfilled


# --------------------------------------------------------------------------------------------
# serialisation


def test_finding_round_trips_through_a_dict():
    f = make_finding(
        "E-CELL-TEXT",
        keys=("s3.new.total",),
        locations=("三!C5",),
        values={"s3.new.total": 3},
        raw="三件",
        suggestion=3,
        label="总计",
        instance="E-CELL-TEXT[s3.new.total]",
    )
    d = f.to_dict()
    assert Finding.from_dict(d) == f
    assert Finding.from_dict(d).to_dict() == d


def test_rule_finding_round_trips_with_its_title():
    f = Finding(
        rule_id="E-T3-BAL",
        severity="error",
        message="m",
        fix="x",
        title="t",
        instance="E-T3-BAL[natural]",
        keys=("a", "b"),
        values={"a": 1, "b": Decimal("2.5")},
        expected=3,
        actual=2,
        delta=-1,
        locations=("L",),
    )
    d = dict(f.to_dict(), title=f.title)
    assert Finding.from_dict(d) == f
    assert Finding.from_dict(f.to_dict()).title == ""  # to_dict leaves the title out, as before
    assert Finding.from_dict(d).to_dict() == f.to_dict()


def test_variant_overrides_title_and_fix():
    f = make_finding("E-CELL-EMPTY", variant="render_table", section="S", names="“a”", more="")
    assert f.title == catalogue()["E-CELL-EMPTY"]["variants"]["render_table"]["title"]
    assert f.message == "“S”的表格中“a”没有填写数字。"
