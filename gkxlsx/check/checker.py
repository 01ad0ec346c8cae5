"""Import and validate returned workbooks: one :class:`FileResult` per file, never an exception.

:func:`check_file` runs, in this order (ENGINEERING.md pitfall 12), each step with its own plain
Chinese message:

1. file triage (:mod:`gkxlsx.workbook.reader`: size, magic bytes, zip-bomb guard, encryption);
2. is it a gkxlsx template at all (identity in custom properties, the hidden ``_gkxlsx`` sheet and
   defined names, cross-checked) → E-NOT-TEMPLATE / E-META-1;
3. format and template version → E-TEMPLATE-VERSION; report year → E-YEAR; unit (roster, file
   name) → E-UNIT / W-UNIT-NAME;
4. structure: sheets, labels, formulas, locked cells, sheet and workbook protection, inserted or
   deleted rows and columns (defined names that moved) → E-STRUCT-* / W-STRUCT-LOCK;
5. values: every entry cell read by its key and parsed strictly (:mod:`gkxlsx.check.values`) → E-CELL-*;
6. rules: every rule of the rule engine, recomputed from the inputs (derived cells recomputed,
   never taken from the file; a total typed over its formula is checked as shown) → E-T3-* …;
   cached formula results compared with the recomputation → W-CACHE-STALE / E-STRUCT-FORMULA;
7. narrative checks of :mod:`gkxlsx.text.narrative` (fields only) → W-TXT-*.

Every finding carries its rule id, severity, the cells as the user sees them
(``三、依申请公开!J6``), the values involved, the expected value and the fix in the workbook's words.
:func:`check_paths` checks files and folders, in parallel with ``jobs > 1``.
"""

from __future__ import annotations

import operator
import os
import pickle
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from gkxlsx.check.values import (
    RawCell,
    ValueProblem,
    date_like,
    display_raw,
    excel_decimal,
    parse_value,
    problem_context,
)
from gkxlsx.findings import Finding, fmt_num, make_finding
from gkxlsx.form.identity import META_FIELDS
from gkxlsx.form.layout import (
    CHECKS_SHEET,
    GUIDE_SHEET,
    INFO_SHEET,
    META_SHEET,
    Layout,
    defined_name,
    expected_formulas,
    layout,
)
from gkxlsx.form.model import Form, FormError, UnitType, builtin_form_ids, form_for_year, load_form
from gkxlsx.form.report import Report
from gkxlsx.form.roster import Unit
from gkxlsx.rules.engine import (
    NOT_APPLICABLE,
    PASS,
    Add,
    BoolOp,
    Cmp,
    Not,
    Num,
    Outcome,
    Ref,
    as_number,
    compute_derived,
    parse_expr,
)
from gkxlsx.workbook.reader import _F, Book, FileInfo, ReadError, XlsxBook, a1, app_label, load, split_ref

STATUS_PASS, STATUS_WARN, STATUS_ERR, STATUS_UNREADABLE = "通过", "有警告", "有错误", "无法识别"
STATUSES = (STATUS_PASS, STATUS_WARN, STATUS_ERR, STATUS_UNREADABLE)
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
LABEL_ROLES = frozenset({"title", "caption", "corner", "header", "rowlabel", "fieldlabel"})
MAX_LABEL_FINDINGS_PER_SHEET = 12
IDENTITY_FIELDS = (
    "GKX_APP",
    "GKX_FORMAT",
    "GKX_TEMPLATE_VERSION",
    "GKX_YEAR",
    "GKX_UNIT_CODE",
    "GKX_UNIT_NAME",
    "GKX_UNIT_TYPE",
)
_FILENAME = re.compile(r"^(?P<code>[0-9A-Za-z_\-]+?)_(?P<name>.+?)_(?P<year>\d{4})年政府信息公开工作年度报告")


# --------------------------------------------------------------------------------------------
# results


@dataclass
class Identity:
    """Who and what a returned workbook says it is."""

    format: str = ""
    template_version: str = ""
    year: int | None = None
    unit_code: str = ""
    unit_name: str = ""
    unit_type: str = ""
    generator: str = ""
    fingerprint: str = ""
    previous: str = ""
    source: str = ""  # where the identity was read: 文档属性 / 标识表 / 单元格位置

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "template_version": self.template_version,
            "year": self.year,
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "unit_type": self.unit_type,
            "generator": self.generator,
            "previous": self.previous,
        }

    @property
    def label(self) -> str:
        return f"{self.unit_code} {self.unit_name}".strip()

    def __reduce__(self):  # positional: no field names in every pickled result
        return (
            Identity,
            (
                self.format,
                self.template_version,
                self.year,
                self.unit_code,
                self.unit_name,
                self.unit_type,
                self.generator,
                self.fingerprint,
                self.previous,
                self.source,
            ),
        )


@dataclass
class FileResult:
    """The outcome of checking one file (picklable; the Report is rebuilt on demand)."""

    path: Path
    sha256: str = ""
    size: int = 0
    file_type: str = "unknown"
    application: str = ""
    identity: Identity | None = None
    status: str = STATUS_UNREADABLE
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    form_id: str | None = None
    feedback: Path | None = None
    # ``values``: parsed values by key (None where invalid), derived recomputed; ``inputs``: key →
    # content as the user sees it (feedback prefill) — properties below: a result that came from
    # a worker process unpacks them when they are first used (many consumers never do)
    _values: dict[str, Any] | None = field(default=None, repr=False)
    _inputs: dict[str, Any] | None = field(default=None, repr=False)
    _packed: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def values(self) -> dict[str, Any] | None:
        if self._packed is not None:
            self._unpack()
        return self._values

    @values.setter
    def values(self, v: dict[str, Any] | None) -> None:
        if self._packed is not None:
            self._unpack()
        self._values = v

    @property
    def inputs(self) -> dict[str, Any]:
        if self._packed is not None:
            self._unpack()
        if self._inputs is None:
            self._inputs = {}
        return self._inputs

    def _unpack(self) -> None:
        v, i = self._packed  # type: ignore[misc]
        self._packed = None
        if type(v) is _Packed or type(i) is _Packed:
            ov, oi = _key_orders(self.form_id)  # type: ignore[arg-type]
            v = dict(zip(ov, v)) if type(v) is _Packed else v
            i = dict(zip(oi, i)) if type(i) is _Packed else i
        self._values, self._inputs = v, i

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def app_label(self) -> str:
        return app_label(self.application) if self.application else ""

    @property
    def form(self) -> Form | None:
        return load_form(self.form_id) if self.form_id else None

    @property
    def report(self) -> Report | None:
        if self.form_id is None or self.values is None or self.identity is None:
            return None
        return Report(
            form=load_form(self.form_id),
            year=self.identity.year or 0,
            unit_name=self.identity.unit_name,
            unit_code=self.identity.unit_code,
            unit_type=self.identity.unit_type,
            values=dict(self.values),
            source=str(self.path),
        )

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("error", "warning", "info")}

    def headline(self) -> str:
        """One line for lists: “有错误：错误 2，警告 1” or the first finding for unreadable files."""
        if self.status == STATUS_UNREADABLE and self.findings:
            return f"{self.status}：{self.findings[0].message}"
        c = self.counts
        return f"{self.status}：错误 {c['error']}，警告 {c['warning']}，提示 {c['info']}"

    # pickling (results of worker processes): positional, and values and inputs in the order a
    # clean check produces them travel as bare tuples — the keys are known to both sides

    def _packed_state(self) -> tuple:
        v, i = self.values, self.inputs
        if self.form_id is not None:
            ov, oi = _key_orders(self.form_id)
            if v is not None and len(v) == len(ov) and tuple(v) == ov:
                v = _Packed(v.values())
            if len(i) == len(oi) and tuple(i) == oi:
                i = _Packed(i.values())
        return v, i

    def _state(self) -> tuple:
        """Everything but the path, positionally (see :func:`_file_result`)."""
        v, i = self._packed_state()
        return (
            self.sha256,
            self.size,
            self.file_type,
            self.application,
            self.identity,
            self.status,
            self.findings,
            self.timings,
            self.form_id,
            str(self.feedback) if self.feedback else None,
            v,
            i,
        )

    def __reduce__(self):
        return (_file_result, (str(self.path), *self._state()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "file_type": self.file_type,
            "application": self.application,
            "application_label": self.app_label,
            "identity": self.identity.to_dict() if self.identity else None,
            "status": self.status,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
            "feedback": str(self.feedback) if self.feedback else None,
        }


class _Packed(tuple):
    """Values in the order of :func:`_key_orders` (a pickled FileResult's)."""


def _file_result(
    path, sha256, size, file_type, application, identity, status, findings, timings, form_id, feedback, values, inputs
) -> FileResult:
    return FileResult(
        Path(path),
        sha256,
        size,
        file_type,
        application,
        identity,
        status,
        findings,
        timings,
        form_id,
        Path(feedback) if feedback else None,
        _packed=(values, inputs),
    )


# The stream from worker processes to the parent (:mod:`gkxlsx.check.parallel`): a result crosses as the
# bytes of its state, without the path (the parent has it), and is unpickled in the parent's
# consuming thread (unpickling in multiprocessing.Pool's result thread cost half as much again in
# GIL hand-overs, time the parent takes from the workers when they have one core each).


def _to_wire(r: FileResult) -> bytes:
    return pickle.dumps(r._state(), protocol=pickle.HIGHEST_PROTOCOL)


def _from_wire(blob: bytes, path: Path) -> FileResult:
    return _file_result(path, *pickle.loads(blob))


@lru_cache(maxsize=16)
def _key_orders(form_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The order of a clean check's ``values`` (entry cells, fields, then totals in the order
    they are computed) and ``inputs`` (entry cells, fields that are not prefilled)."""
    form = load_form(form_id)
    entries = [k for k, c in form.cells.items() if not c.derived]
    totals = list(compute_derived(form, dict.fromkeys(entries, 0)))
    values = tuple(dict.fromkeys(entries + list(form.fields) + totals))
    inputs = tuple(entries + [k for k, f in form.fields.items() if not f.prefilled])
    return values, inputs


def _status(findings: Sequence[Finding]) -> str:
    if any(f.severity == "error" for f in findings):
        return STATUS_ERR
    if any(f.severity == "warning" for f in findings):
        return STATUS_WARN
    return STATUS_PASS


# --------------------------------------------------------------------------------------------
# per-form plans (computed once per process)


def loc(sheet: str, ref: str) -> str:
    return f"{sheet}!{ref}"


@dataclass
class _Plan:
    form: Form
    lay: Layout
    labels: list[tuple[str, str, str, str]]  # (sheet, ref, text, role)
    key_pos: dict[str, tuple[str, str]]  # key → (sheet, ref)
    name_text: dict[str, tuple[bytes, bytes, tuple[bytes, ...]]]  # key → (name, expected XML text variants)
    entry_sheets: tuple[str, ...]
    # per sheet: (address, ASCII address, text, role, the shared-string items that say exactly
    # that text, as "<t>…</t></si>" (items cut at <si>) and as "<t>…</t>" (items by regex))
    label_groups: tuple[tuple[str, tuple[tuple[str, bytes, str, str, tuple[bytes, ...], tuple[bytes, ...]], ...]], ...]
    # every cell of the tables in form order: (key, cell, derived, sheet, address, ASCII address)
    cell_rows: tuple
    # the same by sheet: (sheet, rows, entry keys, their items getter, total keys, getter)
    value_groups: tuple


@lru_cache(maxsize=16)
def _plan(form: Form) -> _Plan:
    lay = layout(form)
    labels = []
    for sl in lay.sheets:
        if sl.name in (GUIDE_SHEET, CHECKS_SHEET):
            continue
        for b in sl.boxes:
            if b.role in LABEL_ROLES and b.text:
                labels.append((sl.name, b.ref, b.text, b.role))
    key_pos = {k: (s, a1(r, c)) for k, (s, r, c) in lay.where.items()}
    groups: dict[str, list] = {}
    for s, ref, text, role in labels:
        groups.setdefault(s, []).append((ref, ref.encode(), text, role, *_sst_items(text)))
    cell_rows = tuple((k, c, c.derived, *key_pos[k], key_pos[k][1].encode()) for k, c in form.cells.items())
    by_sheet: dict[str, list] = {}
    for row in cell_rows:
        by_sheet.setdefault(row[3], []).append(row)
    value_groups = []
    for sheet, rows in by_sheet.items():
        ins = [r for r in rows if not r[2]]
        ders = [r for r in rows if r[2]]
        value_groups.append(
            (
                sheet,
                tuple(rows),
                tuple(r[0] for r in ins),
                _getter([r[5] for r in ins]),
                tuple(r[0] for r in ders),
                _getter([r[5] for r in ders]),
            )
        )
    name_text = {}
    for k, (s, r, c) in lay.where.items():
        ref = a1(r, c)
        col = re.sub(r"\d", "", ref)
        txt = f"'{s}'!${col}${r + 1}"
        variants = tuple(dict.fromkeys(_xml_escape(txt, q).encode() for q in (False, True)))
        name_text[k] = (defined_name(k).encode(), variants)
    return _Plan(
        form,
        lay,
        labels,
        key_pos,
        name_text,
        tuple(s.name for s in lay.sheets),
        tuple((s, tuple(g)) for s, g in groups.items()),
        cell_rows,
        tuple(value_groups),
    )


def _getter(refs: list[bytes]) -> Callable[[dict], tuple]:
    """cells → the items at ``refs`` as a tuple (KeyError where one is missing)."""
    if not refs:
        return lambda cells: ()
    if len(refs) == 1:
        only = refs[0]
        return lambda cells: (cells[only],)
    return operator.itemgetter(*refs)


_ITEM_STYLE, _ITEM_TYPE, _ITEM_BODY = operator.itemgetter(1), operator.itemgetter(2), operator.itemgetter(4)
_PLAIN_INTS = re.compile(rb"(?:<v>[0-9]{1,15}</v>)*")
_DIGITS = re.compile(rb"[0-9]+")
_F_MATCH = _F.match
_NUMBER_TYPES = frozenset((b"", b"n"))
_STYLE_TABLES: dict[tuple[type, int], _StyleTable] = {}


class _StyleTable(dict):
    """Raw style index → a flag of that style, as the cell-by-cell path decides it; filled as
    indexes are met.  One per styles part (the returns of a batch share one styles.xml, parsed
    once): :meth:`of`."""

    def __init__(self, styles):
        super().__init__()
        self.styles = styles

    @classmethod
    def of(cls, styles) -> _StyleTable:
        got = _STYLE_TABLES.get((cls, id(styles)))
        if got is None or got.styles is not styles:
            if len(_STYLE_TABLES) > 64:
                _STYLE_TABLES.clear()
            got = _STYLE_TABLES[cls, id(styles)] = cls(styles)
        return got


class _PlainStyles(_StyleTable):
    """… neither a date format nor text-forced (quote prefix)."""

    def __missing__(self, s: bytes) -> bool:
        st = self.styles
        i = int(s) if s.isdigit() else 0
        ok = self[s] = not (i < len(st.date) and (st.date[i] or st.quote[i]))
        return ok


class _LockedStyles(_StyleTable):
    """… locked (as XlsxBook.locked decides it)."""

    def __missing__(self, s: bytes) -> bool:
        st = self.styles
        i = int(s) if s.isdigit() else 0
        ok = self[s] = st.locked[i] if i < len(st.locked) else True
        return ok


def _bulk_ints(cells: dict, get, plain: _PlainStyles, n: int, lo: int, hi: int) -> list[int] | None:
    """The entry cells' values when every one is a plain non-negative integer (type n, value of at
    most 15 digits, a plain style) outside the date window [lo, hi]; else None."""
    try:
        items = get(cells)
    except KeyError:
        return None
    if not _NUMBER_TYPES.issuperset(map(_ITEM_TYPE, items)):
        return None
    for s in set(map(_ITEM_STYLE, items)):
        if not plain[s]:
            return None
    joined = b"".join(map(_ITEM_BODY, items))
    if _PLAIN_INTS.fullmatch(joined) is None:
        return None
    nums = list(map(int, _DIGITS.findall(joined)))
    if len(nums) != n or (nums and max(nums) >= lo and any(lo <= x <= hi for x in nums)):
        return None
    return nums


def _totals_locked(book: XlsxBook, plan: _Plan) -> bool:
    """Every total cell (derived key) is present and locked, at the template's positions."""
    got = _LockedStyles.of(book._load_styles())
    for sheet, _rows, _ik, _ig, d_keys, d_get in plan.value_groups:
        if not d_keys:
            continue
        try:
            items = d_get(book._load_sheet(sheet))
        except KeyError:
            return False
        for s in set(map(_ITEM_STYLE, items)):
            if not got[s]:
                return False
    return True


def _bulk_formulas(cells: dict, get) -> bool:
    """Every one of the cells holds a formula (what XlsxBook.is_formula says of each)."""
    try:
        items = get(cells)
    except KeyError:
        return False
    return all(map(_F_MATCH, map(_ITEM_BODY, items)))


def _sst_items(text: str) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The shared-string items writers use for ``text`` (plain or xml:space="preserve"; quotes
    escaped or not), kept only where the reader decodes them back to exactly ``text``."""
    from gkxlsx.workbook.reader import _si_text

    exact = []
    for q in (False, True):
        esc = _xml_escape(text, q).encode("utf-8")
        for open_t in (b"<t>", b'<t xml:space="preserve">'):
            item = open_t + esc + b"</t>"
            if _si_text(item) == text and item not in exact:
                exact.append(item)
    return tuple(i + b"</si>" for i in exact), tuple(exact)


# compiled fast paths: the rules and the derived cells as Python expressions, for the common
# case of plain integers everywhere (anything else goes through gkxlsx.rules.engine unchanged)


class _NoFast(Exception):
    pass


def _py_num(node) -> str:
    if isinstance(node, Num):
        if node.value != node.value.to_integral_value():
            raise _NoFast
        return str(int(node.value))
    if isinstance(node, Ref) and not node.prev:
        return f"v[{node.key!r}]"
    if isinstance(node, Add):
        return "(0" + "".join(f" {'+' if sign > 0 else '-'} {_py_num(t)}" for sign, t in node.terms) + ")"
    raise _NoFast


def _py_truth(node) -> str:
    if isinstance(node, Cmp) and node.op in ("==", "!=", "<", "<=", ">", ">="):
        return f"({_py_num(node.left)} {node.op} {_py_num(node.right)})"
    if isinstance(node, BoolOp) and node.op in ("and", "or"):
        return "(" + f" {node.op} ".join(_py_truth(i) for i in node.items) + ")"
    if isinstance(node, Not):
        return f"(not {_py_truth(node.item)})"
    raise _NoFast


@lru_cache(maxsize=16)
def _fast_rules(form: Form) -> tuple:
    """Per rule instance of ``form`` (same order): (keys, compiled test) — the test is exact
    when every key holds a plain int (no blanks, decimals or bools) — or None."""
    out = []
    for inst in form.rules:
        if inst.prev_keys or inst.rule.needs_previous:
            out.append(None)
            continue
        try:
            src = _py_truth(inst.expr)
        except _NoFast:
            out.append(None)
            continue
        out.append((inst.keys, eval(compile("lambda v: " + src, f"<rule {inst.iid}>", "eval"), {"__builtins__": {}})))
    return tuple(out)


_INT_ONLY = {int}


def _all_int(values: Mapping[str, Any], keys) -> bool:
    """Every one of ``keys`` holds a plain int (not a bool, a Decimal or None) — at C speed."""
    return set(map(type, map(values.get, keys))) == _INT_ONLY


@lru_cache(maxsize=16)
def _fast_all(form: Form) -> tuple[Callable[[Mapping[str, Any]], tuple], tuple, tuple]:
    """(one function giving every rule instance's compiled test at once — False where there is
    none —, each instance's PASS and NOT_APPLICABLE outcomes), for values that are plain ints in
    every cell."""
    parts = []
    for inst in form.rules:
        src = "False"
        if not (inst.prev_keys or inst.rule.needs_previous) and set(inst.keys) <= set(form.cells):
            try:
                src = _py_truth(inst.expr)
            except _NoFast:
                pass
        parts.append(src)
    fn = eval(compile("lambda v: (" + ", ".join(parts) + ",)", f"<rules {form.id}>", "eval"), {"__builtins__": {}})
    return (
        fn,
        tuple(Outcome(inst, PASS) for inst in form.rules),
        tuple(Outcome(inst, NOT_APPLICABLE) for inst in form.rules),
    )


@lru_cache(maxsize=256)
def _applicable(form: Form, unit_type: str | None, prev_format: str | None) -> tuple[bool, ...]:
    ut = form.unit_type(unit_type) if unit_type else None
    return tuple(inst.applicable(ut, prev_format) for inst in form.rules)


@lru_cache(maxsize=16)
def _fast_derived(form: Form):
    """(input keys, compiled function) giving what :func:`compute_derived` gives, in the same
    order, when every input holds a plain int."""
    pending = list(form.derived_keys)
    derived = set(pending)
    done: list[str] = []
    for _ in range(len(pending) + 1):
        if not pending:
            break
        rest = []
        for k in pending:
            if any(d in derived and d not in done for d in form.cells[k].sum_of):
                rest.append(k)
            else:
                done.append(k)
        pending = rest
    if pending:
        return None
    inputs = tuple(dict.fromkeys(d for k in done for d in form.cells[k].sum_of if d not in derived))
    lines = ["def f(v):", "    d = {}"]
    for k in done:
        terms = " + ".join(f"d[{d!r}]" if d in derived else f"v[{d!r}]" for d in form.cells[k].sum_of) or "0"
        lines.append(f"    d[{k!r}] = 0 + {terms}")
    lines.append("    return d")
    ns: dict = {}
    exec(compile("\n".join(lines), f"<derived {form.id}>", "exec"), {"__builtins__": {}}, ns)
    return inputs, ns["f"]


def _derived(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    fast = _fast_derived(form)
    if fast is not None:
        inputs, fn = fast
        if _all_int(values, inputs):
            return fn(values)
    return compute_derived(form, values)


@dataclass
class _FormulaCell:
    pos: tuple[str, int, int]
    sheet: str
    ref: str
    where: str  # “三、依申请公开!J6”
    formula: str  # with leading "="
    norm: str
    esc: tuple[bytes, ...]  # ">FORMULA</f>" as writers escape it
    loose: bool = False  # embeds last year's figures we do not have: presence only
    iid: str | None = None


def _xml_escape(s: str, quotes: bool) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quotes:
        s = s.replace('"', "&quot;").replace("'", "&apos;")
    return s


_STR_OR_OTHER = re.compile(r"(\"(?:[^\"]|\"\")*\")|('(?:[^']|'')*')|([^\"']+)")


def normalize_formula(f: str) -> str:
    """Compare formulas as Excel, WPS and LibreOffice write them: no '=', no '$', no spaces or
    _xlfn. prefixes outside strings, sheet names unquoted, upper case outside strings."""
    f = (f or "").strip()
    if f.startswith("="):
        f = f[1:]
    out = []
    for m in _STR_OR_OTHER.finditer(f):
        if m.group(1):
            out.append(m.group(1))
        elif m.group(2):
            out.append(m.group(2)[1:-1].replace("''", "'"))
        else:
            t = re.sub(r"\s+", "", m.group(3)).replace("$", "")
            t = re.sub(r"_xl(?:fn|ws)\.", "", t, flags=re.I)
            out.append(t.upper())
    return "".join(out)


# The 校验结果 sheet only mirrors the check cells of the section sheets (status, link, counts): its
# formulas are not compared one by one (its sheet protection is checked like every sheet's); every
# formula on the section sheets is.  This keeps a check of a file near the cost of reading it.
@lru_cache(maxsize=64)
def _formula_plan(form: Form, unit_type: str | None, loose_prev: bool) -> tuple[_FormulaCell, ...]:
    """Every formula of the template for a unit type (without last year's data)."""
    lay = layout(form)
    ut = form.unit_type(unit_type)
    formulas = expected_formulas(lay, ut, None, None)
    loose_cells: set[tuple[str, int, int]] = set()
    iid_at: dict[tuple[str, int, int], str] = {}
    for inst in form.rules:
        iid_at[lay.checks[inst.iid]] = inst.iid
        if loose_prev and (inst.rule.needs_previous or inst.prev_keys):
            loose_cells.add(lay.checks[inst.iid])
    return tuple(
        _mk_formula_cell(pos, f, pos in loose_cells, iid_at.get(pos))
        for pos, f in formulas.items()
        if pos[0] != CHECKS_SHEET
    )


def _mk_formula_cell(pos, f: str, loose: bool, iid: str | None) -> _FormulaCell:
    s, r, c = pos
    body = f[1:] if f.startswith("=") else f
    esc = tuple(dict.fromkeys((">" + _xml_escape(body, q) + "</f>").encode("utf-8") for q in (False, True)))
    return _FormulaCell(pos, s, a1(r, c), loc(s, a1(r, c)), f, normalize_formula(f), esc, loose, iid)


_RUNS: dict[int, tuple] = {}


@lru_cache(maxsize=16)
def _cache_plan(form: Form) -> tuple:
    """(total keys, their positions, the check cells' positions in rule order, any rule with
    last-year keys) for the expected results of the formulas."""
    lay = layout(form)
    keys = tuple(form.derived_keys)
    return (
        keys,
        tuple(lay.where[k] for k in keys),
        tuple(lay.checks[i.iid] for i in form.rules),
        any(i.prev_keys for i in form.rules),
    )


_LAYOUT_MEMO: dict[tuple, tuple] = {}


def _formula_runs(cells: tuple[_FormulaCell, ...]) -> tuple:
    """A formula plan cut into runs of consecutive cells on one sheet (the plan's order kept):
    (sheet, cells, their items getter, ">FORMULA</f>" each, "<f>FORMULA</f><v>" each)."""
    got = _RUNS.get(id(cells))
    if got is not None and got[0] is cells:
        return got[1]
    runs: list[list[_FormulaCell]] = []
    for fc in cells:
        if runs and runs[-1][0].sheet == fc.sheet:
            runs[-1].append(fc)
        else:
            runs.append([fc])
    out = tuple(
        (
            r[0].sheet,
            tuple(r),
            _getter([fc.ref.encode() for fc in r]),
            [fc.esc[0] for fc in r],
            ([b"<f" + fc.esc[0] + b"<v>" for fc in r], {}, tuple(fc.pos for fc in r)),
        )
        for r in runs
    )
    if len(_RUNS) > 64:
        _RUNS.clear()
    _RUNS[id(cells)] = (cells, out)
    return out


class _Run:
    """Formula cells of one sheet found as the template wrote them; their cached results are
    compared with the recomputation in :meth:`_Check._cache`."""

    __slots__ = ("fcs", "items", "pres", "memo", "positions")

    def __init__(self, fcs, items, pres, memo, positions):
        self.fcs, self.items, self.pres, self.memo, self.positions = fcs, items, pres, memo, positions

    def as_expected(self, wants: list) -> bool:
        """Every cell is byte for byte ``<f>FORMULA</f><v>RESULT</v>`` with the expected result
        (a number without a type, a text of type str): what _cached_fast + _same_result accept.
        The expected bytes are kept per run for the results met (mostly the same in every file)."""
        key = tuple(wants)
        kinds = tuple(map(type, wants))
        got = self.memo.get(key)
        if got is None or got[0] != kinds:
            bodies = []
            types = []
            for pre, w in zip(self.pres, wants):
                tw = type(w)
                if tw is int:
                    bodies.append(pre + b"%d</v>" % w)
                    types.append(b"")
                elif tw is str:
                    bodies.append(pre + _xml_escape(w, False).encode("utf-8") + b"</v>")
                    types.append(b"str")
                else:
                    bodies = None
                    break
            if len(self.memo) > 256:
                self.memo.clear()
            got = self.memo[key] = (kinds, bodies, types)
        if got[1] is None:
            return False
        return list(map(_ITEM_BODY, self.items)) == got[1] and list(map(_ITEM_TYPE, self.items)) == got[2]


def _exact_formula_plan(
    form: Form, ut: UnitType | None, prev: Mapping[str, Any], prev_format: str | None
) -> tuple[_FormulaCell, ...]:
    lay = layout(form)
    formulas = expected_formulas(lay, ut, prev, prev_format)
    iid_at = {lay.checks[i.iid]: i.iid for i in form.rules}
    return tuple(
        _mk_formula_cell(pos, f, False, iid_at.get(pos)) for pos, f in formulas.items() if pos[0] != CHECKS_SHEET
    )


# --------------------------------------------------------------------------------------------
# context shared by a batch


@dataclass
class CheckContext:
    roster: dict[str, Unit] | None = None
    year: int | None = None
    prev: Mapping[str, Any] | None = None  # last year's values for a single file
    prev_format: str | None = None
    prev_by_unit: Mapping[str, Any] | None = None  # code → (format, year, values) or values
    prev_lookup: Callable[[str], Any] | None = None


def _roster_dict(roster) -> dict[str, Unit] | None:
    if roster is None:
        return None
    if isinstance(roster, (str, Path)):
        from gkxlsx.form.roster import load_roster

        units = load_roster(roster)
    elif isinstance(roster, Mapping):
        units = list(roster.values())
    else:
        units = list(roster)
    return {u.code: u for u in units}


def _prev_for(ctx: CheckContext, code: str) -> tuple[Mapping[str, Any] | None, str | None]:
    if ctx.prev is not None:
        return ctx.prev, ctx.prev_format
    item = None
    if ctx.prev_lookup is not None and code:
        item = ctx.prev_lookup(code)
    elif ctx.prev_by_unit is not None and code:
        item = ctx.prev_by_unit.get(code)
    if item is None:
        return None, None
    if isinstance(item, tuple) and len(item) == 3:
        fmt, _year, vals = item
        return vals, str(fmt) if fmt else None
    if isinstance(item, tuple) and len(item) == 2:
        return item[1], str(item[0])
    return item, ctx.prev_format


# --------------------------------------------------------------------------------------------
# the check


class _Check:
    def __init__(self, path: Path, ctx: CheckContext, data: bytes | None = None, sha256: str | None = None):
        self.path = path
        self.data = data
        self.sha256 = sha256
        self.ctx = ctx
        self.res = FileResult(path=path)
        self.f: list[Finding] = []
        self.t0 = time.perf_counter()

    def add(self, finding: Finding) -> None:
        self.f.append(finding)

    def finish(self, status: str | None = None) -> FileResult:
        self.f.sort(key=lambda x: SEVERITY_ORDER.get(x.severity, 3))
        self.res.findings = self.f
        self.res.status = status or _status(self.f)
        self.res.timings["total"] = (time.perf_counter() - self.t0) * 1000
        return self.res

    # -- 1. triage ---------------------------------------------------------------------------

    def run(self) -> FileResult:
        res = self.res
        try:
            info, book = load(self.path, data=self.data, sha256=self.sha256 if self.data is not None else None)
            self.data = None
        except ReadError as e:
            info = getattr(e, "info", None)
            if info is not None:
                res.sha256, res.size = info.sha256, info.size
            res.file_type = e.kind
            self.add(e.finding)
            res.timings["read"] = (time.perf_counter() - self.t0) * 1000
            return self.finish(STATUS_UNREADABLE)
        res.sha256, res.size, res.file_type = info.sha256, info.size, info.kind
        try:
            return self._run_book(info, book)
        except ReadError as e:  # a part that turned out broken while reading cells
            self.add(e.finding)
            return self.finish(STATUS_UNREADABLE if self.res.identity is None else None)
        finally:
            close = getattr(book, "close", None)
            if close:
                close()

    def _run_book(self, info: FileInfo, book: Book) -> FileResult:
        res = self.res
        res.application = book.application
        if book.macros:
            self.add(make_finding("I-FILE-MACROS"))
        # -- 2. identity --------------------------------------------------------------------
        ident = self._identity(book)
        res.timings["read"] = (time.perf_counter() - self.t0) * 1000
        if ident is None:
            return self.finish(STATUS_UNREADABLE)
        res.identity = ident
        # -- 3. format, version, year, unit -------------------------------------------------
        try:
            # only built-in format ids: a string from the file is never used as a path
            if ident.format not in _builtin_ids():
                raise FormError(ident.format)
            form = load_form(ident.format)
        except FormError:
            self.add(
                make_finding(
                    "E-TEMPLATE-VERSION",
                    what=f"工作簿的报告格式“{ident.format}”无法识别（可能由其他版本的工具生成）。",
                    year=self.ctx.year or ident.year or "",
                )
            )
            return self.finish()
        if ident.template_version != form.template_version:
            self.add(
                make_finding(
                    "E-TEMPLATE-VERSION",
                    what=f"工作簿的模板版本为 {ident.template_version or '（空）'}，当前使用的是 {form.template_version} 版本（{form.document_number}），两者的表格结构可能不同。",
                    year=self.ctx.year or ident.year or "",
                    expected=form.template_version,
                    actual=ident.template_version,
                )
            )
            return self.finish()
        res.form_id = form.id
        if not self._year_unit(form, ident):
            return self.finish()
        ut = form.unit_type(ident.unit_type)
        t1 = time.perf_counter()
        self._check_book(form, book, ident, ut)
        res.timings["check"] = (time.perf_counter() - t1) * 1000
        return self.finish()

    # -- 2. identity --------------------------------------------------------------------------

    def _identity(self, book: Book) -> Identity | None:
        custom = {k: (book.custom.get(k) or "").strip() for k in META_FIELDS if k in book.custom}
        meta: dict[str, str] = {}
        if book.has_sheet(META_SHEET):
            shared = book.shared_text if isinstance(book, XlsxBook) else None
            for i, k in enumerate(META_FIELDS):
                if shared is not None:  # the common case: both are shared strings
                    name = shared(META_SHEET, f"A{2 + i}")
                    if name is not None:
                        if name[0] != k:
                            continue
                        val = shared(META_SHEET, f"B{2 + i}")
                        if val is not None:  # display_raw(cell) of a text cell
                            txt, quote = val
                            meta[k] = (("'" + txt) if quote and not txt.startswith("'") else txt).strip()
                            continue
                name_cell = book.cell(META_SHEET, f"A{2 + i}")
                val_cell = book.cell(META_SHEET, f"B{2 + i}")
                if name_cell.kind == "text" and name_cell.value == k:
                    meta[k] = "" if val_cell.kind == "blank" else str(display_raw(val_cell)).strip()
        is_ours = custom.get("GKX_APP") == "gkxlsx" or meta.get("GKX_APP") == "gkxlsx"
        if not is_ours:
            sections = {"一、总体情况", "三、依申请公开", "四、复议诉讼"}
            if sections & set(book.sheet_names):
                what = "工作簿的工作表名称与填报模板相似，但缺少模板标识——可能是自己新建、复制或由其他软件转换的表格，无法确认是哪个单位、哪个年度的模板。"
            else:
                shown = "、".join(n for n in book.sheet_names[:5]) + ("……" if len(book.sheet_names) > 5 else "")
                what = f"这个工作簿不是本次下发的政府信息公开工作年度报告填报模板（工作表：{shown or '无'}）。"
            self.add(make_finding("E-NOT-TEMPLATE", what=what))
            return None
        src = custom if custom.get("GKX_APP") == "gkxlsx" else meta
        ident = Identity(
            format=src.get("GKX_FORMAT", ""),
            template_version=src.get("GKX_TEMPLATE_VERSION", ""),
            year=_int(src.get("GKX_YEAR")),
            unit_code=src.get("GKX_UNIT_CODE", ""),
            unit_name=src.get("GKX_UNIT_NAME", ""),
            unit_type=src.get("GKX_UNIT_TYPE", ""),
            generator=src.get("GKX_GENERATOR", ""),
            fingerprint=src.get("GKX_FINGERPRINT", ""),
            previous=src.get("GKX_PREVIOUS", ""),
            source="文档属性" if src is custom else "标识表",
        )
        if custom and meta:
            diffs = []
            for k in IDENTITY_FIELDS[1:]:
                a, b = _norm_meta(k, custom.get(k)), _norm_meta(k, meta.get(k))
                if a is not None and b is not None and a != b:
                    diffs.append(f"{_META_ZH[k]}在文档属性中为“{a}”，在隐藏的标识表中为“{b}”")
            if diffs:
                self.add(
                    make_finding(
                        "E-META-1",
                        what="模板标识不一致：" + "；".join(diffs) + "。标识表可能被改动过。",
                        locations=(META_SHEET,),
                    )
                )
        return ident

    # -- 3. year and unit -----------------------------------------------------------------------

    def _year_unit(self, form: Form, ident: Identity) -> bool:
        ok = True
        year = ident.year
        lo, hi = form.report_years
        if year is None or not 1990 <= year <= 2200:
            self.add(
                make_finding(
                    "E-META-1", what=f"模板标识中的报告年度{'缺失' if year is None else '“' + str(year) + '”无效'}。"
                )
            )
            ok = False
        elif self.ctx.year is not None and year != self.ctx.year:
            self.add(
                make_finding(
                    "E-YEAR",
                    found=year,
                    expected=self.ctx.year,
                    expected_value=self.ctx.year,
                    actual=year,
                    locations=(f"{INFO_SHEET}!B7",),
                )
            )
        elif not lo <= year <= hi:
            self.add(
                make_finding(
                    "E-TEMPLATE-VERSION",
                    what=f"{form.name}（{form.document_number}）适用于 {lo}—{hi} 年度的报告，工作簿的报告年度却是 {year}。",
                    year=year,
                )
            )
        if self.ctx.year is not None and ok:
            try:
                want = _form_for_year(self.ctx.year)
                if want.id != form.id:
                    self.add(
                        make_finding(
                            "E-TEMPLATE-VERSION",
                            what=f"工作簿使用的是 {form.document_number} 格式，{self.ctx.year} 年度的报告应使用 {want.document_number} 格式。",
                            year=self.ctx.year,
                        )
                    )
            except FormError:
                pass
        # unit: roster and file name
        code = ident.unit_code
        roster = self.ctx.roster
        if not code:
            self.add(make_finding("E-META-1", what="模板标识中缺少单位代码。"))
            ok = False
        if roster is not None and code:
            u = roster.get(code)
            if u is None:
                self.add(
                    make_finding(
                        "E-UNIT",
                        what=f"工作簿是 {ident.label} 的填报模板，但单位代码 {code} 不在本次收集名单中。",
                        actual=code,
                    )
                )
            elif u.name != ident.unit_name:
                self.add(make_finding("W-UNIT-NAME", found=ident.unit_name, expected=u.name, code=code))
        fcode, fname = self._filename_unit(roster)
        if fcode and code and fcode != code:
            self.add(
                make_finding(
                    "E-UNIT",
                    what=f"文件名表明这是 {fcode} {fname} 的文件，但工作簿内是 {ident.label} 的填报模板——可能用了其他单位的文件填写，或文件名被改过。",
                    expected=fcode,
                    actual=code,
                    locations=(f"{INFO_SHEET}!B4",),
                )
            )
        return ok

    def _filename_unit(self, roster: dict[str, Unit] | None) -> tuple[str, str]:
        name = self.path.name
        if roster:
            # the longest roster code followed by "_" that the name starts with: look up the name's
            # own prefixes (a few), not every code of the roster (10,000 in a national campaign)
            i = name.rfind("_")
            while i > 0:
                code = name[:i]
                if code in roster:
                    return code, roster[code].name
                i = name.rfind("_", 0, i)
        m = _FILENAME.match(name)
        if m:
            return m.group("code"), m.group("name")
        return "", ""

    # -- 4–7. the workbook ------------------------------------------------------------------------

    def _check_book(self, form: Form, book: Book, ident: Identity, ut: UnitType | None) -> None:
        plan = self._plan = _plan(form)
        res = self.res
        prev, prev_format = _prev_for(self.ctx, ident.unit_code)
        # sheets (a renamed sheet is found through the defined names)
        sheet_map, shifted, pos = self._layout_in_book(plan, book)
        if not book.full:
            self.add(make_finding("I-FORMAT-REDUCED", kind=self._kind_label()))
        # meta cells on 基本信息
        self._info_cells(form, book, ident, pos)
        # labels
        self._labels(plan, book, sheet_map, shifted)
        # values
        values, excel_view, shown_derived = self._values(form, book, pos, ident)
        derived = _derived(form, values)
        vals = dict(values)
        vals.update(derived)
        # integrity: formulas (typed-over totals are found here), then the rules, then the cached
        # results of the formulas against what the rules computed
        pending: list[tuple[tuple[str, int, int], str, Any]] = []
        exp_prev = exp_pf = None
        if book.full:
            self._protection(plan, book, sheet_map)
            overrides, pending, exp_prev, exp_pf = self._formulas(
                form, plan, book, ident, ut, prev, prev_format, sheet_map, shifted, pos
            )
        else:
            overrides = {k: v for k, v in shown_derived.items() if v is not None}
        outcomes = self._rules(form, vals, overrides, ut, prev, prev_format, pos)
        if pending:
            self._cache(
                book, form, plan, pending, values, excel_view, vals, overrides, outcomes, ut, prev, exp_prev, exp_pf
            )
        # narrative
        self._narrative(form, vals, ident, ut, pos)
        if prev is not None:
            self._similar_to_last_year(vals, prev, ident)
        res.values = vals
        if any(f.rule_id == "I-TEMPLATE-GENERATOR" for f in self.f):
            # the template itself differs from what this version generates: structural comparisons
            # are not the unit's fault — keep them, as warnings
            self.f = [
                replace(f, severity="warning", message=f.message + "（模板由其他版本的工具生成，此项仅供参考）")
                if f.rule_id in ("E-STRUCT-LABEL", "E-STRUCT-FORMULA", "E-STRUCT-SHIFT")
                else f
                for f in self.f
            ]

    def _kind_label(self) -> str:
        from gkxlsx.workbook.reader import KIND_LABELS

        return KIND_LABELS.get(self.res.file_type, self.res.file_type)

    # sheets, defined names, shifts

    def _layout_in_book(self, plan: _Plan, book: Book):
        """(sheet map, shifted sheets, key positions) and their findings.  A pure function of the
        form, the sheet names and the defined names: the returns of one template (the same
        workbook.xml but for its protection hash, parsed once by the reader) share the result."""
        names_raw = getattr(book, "_names_raw", None)
        key = None
        if names_raw:
            key = (id(plan), id(names_raw), tuple(book.sheet_names))
            got = _LAYOUT_MEMO.get(key)
            if got is not None and got[0] is plan and got[1] is names_raw:
                _p, _n, sheet_map, shifted, pos, moved, found = got
                self._moved = moved
                self.f.extend(found)
                return sheet_map, shifted, pos
        n0 = len(self.f)
        sheet_map, shifted = self._sheets_and_names(plan, book)
        pos = self._positions(plan, book, sheet_map, shifted)
        if key is not None:
            if len(_LAYOUT_MEMO) > 64:
                _LAYOUT_MEMO.clear()
            _LAYOUT_MEMO[key] = (plan, names_raw, sheet_map, shifted, pos, self._moved, tuple(self.f[n0:]))
        return sheet_map, shifted, pos

    def _sheets_and_names(self, plan: _Plan, book: Book) -> tuple[dict[str, str], dict[str, str]]:
        """Layout sheet → sheet in the book; sheets with inserted/deleted rows or columns → message."""
        lay = plan.lay
        sheet_map: dict[str, str] = {}
        shifted: dict[str, str] = {}
        moved: dict[str, list[tuple[int, int, int, int, str]]] = {}
        renamed: dict[str, dict[str, int]] = {}
        deleted: dict[str, list[str]] = {}
        for key, (s, r, c) in lay.where.items():
            dn, variants = plan.name_text[key]
            raw = book.name_raw(dn)
            if raw is None or raw in variants:
                continue
            parsed = _parse_name_ref(_unescape(raw))
            if parsed is None:
                deleted.setdefault(s, []).append(key)
                continue
            ps, pr, pc = parsed
            if ps != s:
                renamed.setdefault(s, {}).setdefault(ps, 0)
                renamed[s][ps] += 1
            if (pr, pc) != (r, c):
                moved.setdefault(s, []).append((r, c, pr - r, pc - c, key))
        for sl in lay.sheets:
            s = sl.name
            if s == GUIDE_SHEET:
                if book.has_sheet(s):
                    sheet_map[s] = s
                continue
            if book.has_sheet(s):
                sheet_map[s] = s
                continue
            target = max(renamed.get(s, {}).items(), key=lambda x: x[1])[0] if renamed.get(s) else None
            found = "、".join(n for n in book.sheet_names if n != META_SHEET)
            if target and book.has_sheet(target):
                sheet_map[s] = target
                self.add(make_finding("E-STRUCT-SHEET", what=f"工作表“{s}”被改名为“{target}”。", locations=(target,)))
            elif s == META_SHEET:
                continue  # identity came from the document properties; reported there if inconsistent
            else:
                self.add(
                    make_finding(
                        "E-STRUCT-SHEET", what=f"找不到工作表“{s}”（现有工作表：{found or '无'}）。", locations=(s,)
                    )
                )
        for s, items in moved.items():
            items.sort()
            r0, c0, dr, dc, _ = items[0]
            shown = sheet_map.get(s, s)
            if dr and not dc:
                first = min(r for r, c, d, e, k in items if d)
                what = f"工作表“{shown}”的表格从第 {first + 1} 行起整体{'下移' if dr > 0 else '上移'}了 {abs(dr)} 行——{'插入' if dr > 0 else '删除'}了行。"
                at = loc(shown, f"A{first + 1}")
            elif dc and not dr:
                first = min(c for r, c, d, e, k in items if e)
                what = f"工作表“{shown}”的表格从第 {re.sub(r'[0-9]', '', a1(0, first))} 列起整体{'右移' if dc > 0 else '左移'}了 {abs(dc)} 列——{'插入' if dc > 0 else '删除'}了列。"
                at = loc(shown, a1(0, first))
            else:
                what = f"工作表“{shown}”中的单元格位置发生了移动——插入或删除了行列。"
                at = loc(shown, a1(r0, c0))
            shifted[s] = what
            self.add(make_finding("E-STRUCT-SHIFT", what=what, locations=(at,)))
        for s, keys in deleted.items():
            shown = sheet_map.get(s, s)
            refs = [plan.key_pos[k][1] for k in keys]
            what = f"工作表“{shown}”中删除了行或列，原来位于 {'、'.join(refs[:6])}{'等' if len(refs) > 6 else ''} 的 {len(refs)} 个填写单元格已不存在。"
            shifted.setdefault(s, what)
            self.add(
                make_finding("E-STRUCT-SHIFT", what=what, locations=tuple(loc(shown, r) for r in refs[:6]), keys=keys)
            )
        return sheet_map, shifted

    def _positions(
        self, plan: _Plan, book: Book, sheet_map: dict[str, str], shifted: dict[str, str]
    ) -> dict[str, tuple[str, str] | None]:
        """key → (sheet in the book, address): by defined name where it moved, else the layout."""
        pos: dict[str, tuple[str, str] | None] = {}
        self._moved = bool(shifted) or any(sheet_map.get(sl) != sl for sl in plan.entry_sheets if sl != GUIDE_SHEET)
        for key, (s, ref) in plan.key_pos.items():
            bs = sheet_map.get(s)
            if bs is None:
                pos[key] = None
                continue
            if s in shifted or bs != s:
                raw = book.name_raw(plan.name_text[key][0])
                if raw is not None:
                    parsed = _parse_name_ref(_unescape(raw))
                    if parsed is None:
                        pos[key] = None
                        continue
                    ps, pr, pc = parsed
                    pos[key] = (ps if book.has_sheet(ps) else bs, a1(pr, pc))
                    continue
            pos[key] = (bs, ref)
        return pos

    # identity cells on 基本信息

    def _info_cells(self, form: Form, book: Book, ident: Identity, pos) -> None:
        expect = {
            "meta.name": ident.unit_name,
            "meta.code": ident.unit_code,
            "meta.type": ident.unit_type,
            "meta.year": str(ident.year or ""),
        }
        for key, want in expect.items():
            p = pos.get(key)
            if p is None or key not in form.fields:
                continue
            raw = book.cell(*p)
            got = "" if raw.kind == "blank" else str(display_raw(raw)).strip()
            if got != want:
                self.add(
                    make_finding(
                        "E-META-1",
                        what=f"“基本信息”中的{form.label(key)}应为“{want}”（模板生成时写入），现为“{got}”。",
                        locations=(loc(*p),),
                        keys=(key,),
                        expected=want,
                        actual=got,
                    )
                )

    # labels

    def _labels(self, plan: _Plan, book: Book, sheet_map: dict[str, str], shifted: dict[str, str]) -> None:
        per_sheet: dict[str, int] = {}
        fast = isinstance(book, XlsxBook)
        if fast:
            strings = book._load_strings()  # type: ignore[union-attr]
            n_strings = len(strings)
            cut = book._si_cut  # type: ignore[union-attr]
        for s, group in plan.label_groups:
            bs = sheet_map.get(s)
            if bs is None or s in shifted:
                continue
            get = book._load_sheet(bs).get if fast else None  # type: ignore[union-attr]
            for ref, rb, want, role, items_cut, items_exact in group:
                got = None
                if get is not None:
                    # the common case without decoding: the cell is a shared string whose item
                    # is byte for byte the label as writers write it
                    item = get(rb)
                    if item is not None and item[2] == b"s":
                        body = item[4]
                        if body[:3] == b"<v>" and body[-4:] == b"</v>" and body[3:-4].isdigit():
                            i = int(body[3:-4])
                            if i < n_strings and (
                                strings[i].startswith(items_cut) if cut else strings[i] in items_exact
                            ):
                                continue
                            got = book.shared_string(i)  # type: ignore[union-attr]
                            if got == want:
                                continue
                if got is None:
                    raw = book.cell(bs, ref)
                    got = "" if raw.kind == "blank" else str(display_raw(raw))
                    if got == want:
                        continue
                if _norm_label(got) == _norm_label(want):
                    continue
                n = per_sheet.get(s, 0)
                per_sheet[s] = n + 1
                if n < MAX_LABEL_FINDINGS_PER_SHEET:
                    where = {
                        "header": "表头",
                        "rowlabel": "项目名称",
                        "caption": "表格标题",
                        "corner": "表格说明",
                        "fieldlabel": "栏目名称",
                        "title": "标题",
                    }.get(role, "文字")
                    self.add(
                        make_finding(
                            "E-STRUCT-LABEL",
                            where=where,
                            expected=want,
                            found=got or "（空）",
                            locations=(loc(bs, ref),),
                            actual=got,
                        )
                    )
        for s, n in per_sheet.items():
            if n > MAX_LABEL_FINDINGS_PER_SHEET:
                bs = sheet_map.get(s, s)
                self.add(
                    make_finding(
                        "E-STRUCT-LABEL",
                        where=f"工作表“{bs}”中另有 {n - MAX_LABEL_FINDINGS_PER_SHEET} 处",
                        expected="模板原文",
                        found="已改动",
                        locations=(bs,),
                    )
                )

    # values

    def _values(
        self, form: Form, book: Book, pos, ident: Identity
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Parsed values (None where invalid) + what Excel computes with (numbers incl. bad ones) +
        the derived cells' shown values."""
        values: dict[str, Any] = {}
        excel_view: dict[str, Any] = {}
        shown_derived: dict[str, Any] = {}
        inputs = self.res.inputs
        year = ident.year
        unit = form.unit_type(ident.unit_type)
        lo_serial, hi_serial = _date_window(year) if year else (0, -1)
        fast = isinstance(book, XlsxBook)
        if fast:
            sheets_cells: dict[str, dict] = {}
            styles = book._load_styles()  # type: ignore[union-attr]
        moved = self._moved
        bulk = fast and not moved
        if bulk:
            plain = _PlainStyles.of(styles)
        for sheet, rows, in_keys, in_get, d_keys, d_get in self._plan.value_groups:
            if bulk:
                # the whole sheet at once (C-level), where every entry cell holds a plain
                # non-negative integer outside the date window in a plain style and every total
                # is a formula: exactly what the cell-by-cell path gives for them
                cells = sheets_cells.get(sheet)
                if cells is None:
                    cells = sheets_cells[sheet] = book._load_sheet(sheet)  # type: ignore[union-attr]
                nums = _bulk_ints(cells, in_get, plain, len(in_keys), lo_serial, hi_serial)
                ders = bool(d_keys) and _bulk_formulas(cells, d_get)
                if nums is not None:
                    values.update(zip(in_keys, nums))
                    excel_view.update(zip(in_keys, nums))
                    inputs.update(zip(in_keys, nums))
                if ders:
                    shown_derived.update(dict.fromkeys(d_keys))
                if nums is not None and (ders or not d_keys):
                    continue
                rows = tuple(r for r in rows if (r[2] and not ders) or (not r[2] and nums is None))
            self._value_rows(
                form,
                book,
                rows,
                pos,
                values,
                excel_view,
                shown_derived,
                inputs,
                year,
                lo_serial,
                hi_serial,
                sheets_cells if fast else None,
            )
        shared = book.shared_text if fast else None
        for key, fld in form.fields.items():
            p = pos.get(key)
            if shared is not None and p is not None and fld.type.kind == "text":
                # a shared string that is not blank: what cell() + parse_value give a text field
                got = shared(*p)
                if got is not None and got[0].strip():
                    values[key] = got[0]
                    if not fld.prefilled:
                        inputs[key] = got[0]
                    continue
            if fld.prefilled:
                if p is not None:
                    raw = book.cell(*p)
                    values[key] = parse_value(fld.type, raw)[0]
                continue
            if p is None:
                values[key] = None
                continue
            raw = book.cell(*p)
            inputs[key] = _prefill_value(raw)
            if fld.type.numeric:
                excel_view[key] = _excel_number(raw)
            v, prob = parse_value(fld.type, raw)
            values[key] = v
            if prob is None:
                continue
            if prob.rule_id == "E-CELL-EMPTY":
                if not fld.required or not _applies(fld.when, unit):
                    continue
                if not fld.type.numeric:
                    if fld.section == "meta":  # narrative fields: gkxlsx.text.narrative's E-TXT-EMPTY
                        self.add(
                            make_finding(
                                "E-FIELD-EMPTY",
                                label=fld.label,
                                guide=fld.guide or "请填写。",
                                keys=(key,),
                                locations=(loc(*p),),
                            )
                        )
                    continue
            self._value_finding(key, fld.label, fld.type, prob, p)
        return values, excel_view, shown_derived

    def _value_rows(
        self, form, book, rows, pos, values, excel_view, shown_derived, inputs, year, lo_serial, hi_serial, sheets_cells
    ) -> None:
        """Entry and total cells one by one (an XlsxBook's sheets cached in ``sheets_cells``)."""
        fast = sheets_cells is not None
        is_formula = book.is_formula if fast else None
        if fast:
            styles = book._load_styles()
            st_date, st_quote, n_styles = styles.date, styles.quote, len(styles.date)
        moved = self._moved
        for key, cell, derived, ls, lref, rb in rows:
            if moved:
                p = pos.get(key)
                if p is None:
                    values[key] = None
                    continue
                prb = p[1].encode()
            else:  # every cell where the template put it (the common case)
                p = (ls, lref)
                prb = rb
            if derived:
                if is_formula is not None and is_formula(*p):
                    shown_derived[key] = None
                    continue
                raw = book.cell(*p)
                shown_derived[key] = _shown_number(raw) if raw.kind != "formula" else None
                continue
            n = None
            if fast:
                # a plain non-negative integer in a style that is neither a date nor text-forced
                cells = sheets_cells.get(p[0])
                if cells is None:
                    cells = sheets_cells[p[0]] = book._load_sheet(p[0])  # type: ignore[union-attr]
                item = cells.get(prb)
                if item is not None:
                    _r, s_, t_, _x, body = item
                    if (t_ == b"" or t_ == b"n") and body[:3] == b"<v>" and body[-4:] == b"</v>":
                        v_ = body[3:-4]
                        if v_.isdigit() and len(v_) <= 15:
                            i_ = int(s_) if s_.isdigit() else 0
                            if not (i_ < n_styles and (st_date[i_] or st_quote[i_])):
                                n = int(v_)
            if n is not None and not lo_serial <= n <= hi_serial:
                values[key] = excel_view[key] = inputs[key] = n  # the common case, decided at once
                continue
            raw = book.cell(*p)
            if raw.kind == "number" and isinstance(raw.value, str) and raw.value.isdigit():
                n = int(raw.value)
                excel_view[key] = inputs[key] = n
            else:
                excel_view[key] = _excel_number(raw)
                inputs[key] = _prefill_value(raw)
            v, prob = parse_value(cell.type, raw)
            if prob is None and year and cell.type.kind == "int":
                d = date_like(v, year)
                if d is not None:
                    rid = "E-CELL-DATE" if cell.section in ("s3", "s4") else "W-CELL-DATELIKE"
                    prob = ValueProblem(rid, f"{fmt_num(v)}（即日期 {d.isoformat()}）")
                    if rid == "E-CELL-DATE":
                        v = None
            values[key] = v
            if prob is not None:
                self._value_finding(key, form.label(key), cell.type, prob, p)

    def _value_finding(self, key: str, label: str, vt, prob: ValueProblem, p) -> None:
        ctx = problem_context(prob, vt)
        if prob.rule_id == "W-FIELD-DATE":
            ctx["example"] = f"{(self.res.identity.year or 2025) + 1}-01-15" if self.res.identity else "2026-01-15"
        self.add(
            make_finding(
                prob.rule_id,
                label=label,
                keys=(key,),
                locations=(loc(*p),),
                raw=prob.raw,
                suggestion=prob.suggestion,
                expected=prob.suggestion,
                actual=prob.raw,
                values={key: prob.raw},
                **ctx,
            )
        )

    # protection

    def _protection(self, plan: _Plan, book: Book, sheet_map: dict[str, str]) -> None:
        off = []
        for sl in plan.lay.sheets:
            bs = sheet_map.get(sl.name)
            if bs is None or sl.name == GUIDE_SHEET:
                continue
            prot = book.sheet_info(bs).protection
            if prot is None or (prot.get("sheet") or "").lower() not in ("1", "true"):
                off.append(bs)
        if off:
            self.add(
                make_finding(
                    "E-STRUCT-PROTECT",
                    what=f"工作表“{'”“'.join(off)}”的保护已被撤销，锁定的单元格（表头、项目名称、公式）可以被随意修改。",
                    locations=tuple(off),
                )
            )
        wp = book.workbook_protection
        if not wp or (wp.get("lockStructure") or "").lower() not in ("1", "true"):
            if book.app_label == "LibreOffice":
                self.add(
                    make_finding(
                        "W-STRUCT-LOCK",
                        detail="文件由 LibreOffice 保存，LibreOffice 保存时会去掉这一保护，这是正常现象。",
                        severity="info",
                    )
                )
            else:
                self.add(make_finding("W-STRUCT-LOCK", detail="工作表可能被增删或改名。"))

    # formulas and cached results

    def _formulas(self, form, plan: _Plan, book: Book, ident: Identity, ut, prev, prev_format, sheet_map, shifted, pos):
        """Compare every formula of the section sheets with the template's.  Returns (totals typed
        over their formula → shown number, cached results to compare later, and the previous-year
        data the template's formulas were built with)."""
        has_prev_formulas = bool(ident.previous)
        if has_prev_formulas and prev is not None:
            cells = _exact_formula_plan(form, ut, prev, prev_format or ident.previous.split(":")[0] or None)
            exp_prev, exp_pf = prev, prev_format or ident.previous.split(":")[0] or None
        else:
            cells = _formula_plan(form, ut.name if ut else None, has_prev_formulas)
            exp_prev, exp_pf = None, None
        if has_prev_formulas and prev is None:
            self.add(make_finding("I-PREV-UNVERIFIED", previous=ident.previous))
        # fingerprint: only when the formulas are exactly known
        if not has_prev_formulas and ident.fingerprint:
            from gkxlsx.form.identity import fingerprint

            if ident.fingerprint != _fingerprint_cached(form, ut.name if ut else None, fingerprint):
                self.add(make_finding("I-TEMPLATE-GENERATOR", generator=ident.generator or "?"))
        derived_at = {plan.key_pos[k]: k for k in form.derived_keys}
        pending: list[tuple[tuple[str, int, int], str, Any]] = []  # (position, where, cached result)
        loose_cached: set[tuple[str, str]] = set()
        if has_prev_formulas and prev is None:
            for c in cells:
                if c.loose:
                    loose_cached.add((c.sheet, c.ref))
        shifted_names = set(shifted)
        overrides: dict[str, Any] = {}
        fast = isinstance(book, XlsxBook)
        bulk = fast and not shifted_names and not loose_cached
        for sheet, fcs, get, esc0s, pres in _formula_runs(cells):
            if bulk and sheet_map.get(sheet) == sheet:
                # the whole run at once: every formula as the template wrote it (its cached
                # results compared in _cache, at once where they are exactly as expected)
                try:
                    items = get(book._load_sheet(sheet))  # type: ignore[union-attr]
                except KeyError:
                    items = None
                if items is not None and all(map(bytes.__contains__, map(_ITEM_BODY, items), esc0s)):
                    pending.append(_Run(fcs, items, *pres))
                    continue
            for fc in fcs:
                bs = sheet_map.get(fc.sheet)
                if bs is None:
                    continue
                if shifted_names and (fc.sheet in shifted_names or any(sn in fc.formula for sn in shifted_names)):
                    continue  # positions moved: reported as E-STRUCT-SHIFT
                if fast:
                    parts = book.formula_parts(bs, fc.ref)
                    if parts is not None and (fc.esc[0] in parts[1] or (len(fc.esc) > 1 and fc.esc[1] in parts[1])):
                        if loose_cached and (fc.sheet, fc.ref) in loose_cached:
                            continue
                        pending.append(
                            (fc.pos, fc.where if bs == fc.sheet else loc(bs, fc.ref), _cached_fast(book, parts))
                        )
                        continue
                raw = book.cell(bs, fc.ref)
                key = derived_at.get((fc.sheet, fc.ref))
                if raw.kind != "formula":
                    shown = display_raw(raw) if raw.kind != "blank" else ""
                    if key is not None:
                        label = form.label(key)
                        if raw.kind == "blank":
                            what = f"「{label}」的公式被删除了，单元格现为空（应为公式 {fc.formula}）。"
                        else:
                            what = f"「{label}」的公式被改成了数值 {shown}（应为公式 {fc.formula}）。"
                            num = _shown_number(raw)
                            if num is not None:
                                overrides[key] = num
                    else:
                        what = f"校验单元格的公式被{'删除' if raw.kind == 'blank' else '改成了“' + str(shown) + '”'}（应为公式 {fc.formula}）。"
                    self.add(
                        make_finding(
                            "E-STRUCT-FORMULA",
                            what=what,
                            locations=(loc(bs, fc.ref),),
                            keys=(key,) if key else (),
                            expected=fc.formula,
                            actual=shown,
                        )
                    )
                    continue
                if fc.loose:
                    continue
                if normalize_formula(raw.formula or "") != fc.norm:
                    key_label = f"「{form.label(key)}」" if key else "校验单元格"
                    self.add(
                        make_finding(
                            "E-STRUCT-FORMULA",
                            what=f"{key_label}的公式被改动：现为 ={raw.formula}，应为 {fc.formula}。",
                            locations=(loc(bs, fc.ref),),
                            keys=(key,) if key else (),
                            expected=fc.formula,
                            actual="=" + (raw.formula or ""),
                        )
                    )
                    continue
                if (fc.sheet, fc.ref) in loose_cached:
                    continue
                pending.append((fc.pos, loc(bs, fc.ref), _raw_result(raw)))
        # formulas typed into unlocked input cells are found by the value parser (E-CELL-FORMULA);
        # locked flags of the cells that must stay locked
        unlocked = []
        if fast and not self._moved and _totals_locked(book, plan):
            return overrides, pending, exp_prev, exp_pf
        locked = book.locked if fast else (lambda *p: book.cell(*p).locked)
        for key in form.derived_keys:
            p = pos.get(key)
            if p is None:
                continue
            if locked(*p) is False:
                unlocked.append(loc(*p))
        if unlocked:
            self.add(
                make_finding(
                    "E-STRUCT-PROTECT",
                    what=f"公式单元格被取消了锁定（{'、'.join(unlocked[:6])}{'等' if len(unlocked) > 6 else ''} 共 {len(unlocked)} 个），可以被随意改写。",
                    locations=tuple(unlocked[:10]),
                )
            )
        return overrides, pending, exp_prev, exp_pf

    def _cache(
        self,
        book,
        form,
        plan: _Plan,
        pending,
        values,
        excel_view,
        vals,
        overrides,
        outcomes,
        ut,
        prev,
        exp_prev,
        exp_pf,
    ) -> None:
        """Cached formula results against what the formulas must show for the cells as the
        spreadsheet sees them (numbers, also bad ones; totals typed over as typed) → W-CACHE-STALE.
        The same computation as :func:`gkxlsx.form.layout.expected_results`, sharing the rule outcomes
        with the rules step when the spreadsheet sees exactly the parsed values."""
        lay = plan.lay
        same = (
            not overrides
            and exp_prev is prev
            and (excel_view.items() <= values.items() or all(values.get(k) == v for k, v in excel_view.items()))
        )
        if same:
            view = vals
            statuses = [o.status for o in outcomes]
        else:
            view = dict(excel_view)
            view.update(compute_derived(form, excel_view))
            view.update(overrides)
            pf = exp_pf if exp_pf is not None else (form.id if exp_prev is not None else None)
            statuses = [inst.evaluate(view, exp_prev, ut, pf).status for inst in form.rules]
        dkeys, dpos, cpos, any_prev_keys = _cache_plan(form)
        expected: dict[tuple[str, int, int], Any]
        if not overrides:  # (at C speed: the same as the loop below)
            dv = list(map(view.get, dkeys))
            if None in dv:
                dv = ["" if v is None else v for v in dv]
            expected = dict(zip(dpos, dv))
        else:
            expected = {}
            for key in form.derived_keys:
                if key not in overrides:
                    v = view.get(key)
                    expected[lay.where[key]] = "" if v is None else v
        if exp_prev is None or not any_prev_keys:
            expected.update(zip(cpos, statuses))
        else:
            for inst, st in zip(form.rules, statuses):
                if (
                    st != NOT_APPLICABLE
                    and inst.prev_keys
                    and exp_prev is not None
                    and any(as_number(exp_prev.get(k)) is None for k in inst.prev_keys)
                ):
                    st = NOT_APPLICABLE
                expected[lay.checks[inst.iid]] = st
        stale = []
        for entry in pending:
            if type(entry) is _Run:
                wants = list(map(expected.get, entry.positions))
                if entry.as_expected(wants):
                    continue
                for fc, item, want in zip(entry.fcs, entry.items, wants):
                    if want is not None:
                        got = _cached_fast(book, (item[2], item[4]))
                        if not _same_result(got, want):
                            stale.append((fc.where, got, want))
                continue
            p, where, got = entry
            want = expected.get(p)
            if want is not None and not _same_result(got, want):
                stale.append((where, got, want))
        if stale:
            where, got, want = stale[0]
            self.add(
                make_finding(
                    "W-CACHE-STALE",
                    n=len(stale),
                    example=f"{where} 显示 {_show(got)}，按所填数字应为 {_show(want)}",
                    locations=tuple(x[0] for x in stale[:10]),
                    expected=_json_value(want),
                    actual=_json_value(got),
                )
            )

    # rules

    def _rules(self, form: Form, vals, overrides, ut, prev, prev_format, pos) -> list:
        """Every rule instance on the recomputed values; the rules of the totals themselves
        (E-T3-ROW/COL, E-T4-SUM) on a total typed over its formula as shown."""
        shown = None
        if overrides:
            shown = dict(vals)
            shown.update(overrides)
        pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
        outcomes = []
        pf_app = pf if prev is not None else None
        if shown is None and _all_int(vals, form.cells):
            # plain integers in every cell (the common case): every compiled test at once, in one
            # function; what fails or does not apply goes through the rule engine
            allf, passed, not_applicable = _fast_all(form)
            for inst, ok, ap, out, na in zip(
                form.rules, allf(vals), _applicable(form, ut.name if ut else None, pf_app), passed, not_applicable
            ):
                if not ap:  # what evaluate() says first of an instance that does not apply
                    outcomes.append(na)
                    continue
                if ok:
                    outcomes.append(out)
                    continue
                out = inst.evaluate(vals, prev, ut, pf)
                outcomes.append(out)
                if out.finding is not None:
                    f = out.finding
                    self.add(f.with_locations(tuple(loc(*pos[k]) for k in f.keys if pos.get(k))))
            return outcomes
        # plain integers in every cell: each compiled test is exact, no per-rule check
        ints = {id(d): _all_int(d, form.cells) for d in ((vals, shown) if shown is not None else (vals,))}
        for inst, fast in zip(form.rules, _fast_rules(form)):
            use = shown if (shown is not None and inst.target in overrides) else vals
            if fast is not None and inst.applicable(ut, pf_app):
                keys, test = fast
                get = use.get
                if (ints[id(use)] or all(type(get(k)) is int for k in keys)) and test(use):
                    outcomes.append(Outcome(inst, PASS))  # what evaluate() gives, without the interpreter
                    continue
            out = inst.evaluate(use, prev, ut, pf)
            outcomes.append(out)
            if out.finding is None:
                continue
            f = out.finding
            locs = tuple(loc(*pos[k]) for k in f.keys if pos.get(k))
            self.add(f.with_locations(locs))
        return outcomes

    # narrative

    def _narrative(self, form: Form, values, ident: Identity, ut, pos) -> None:
        """FORMAT.md §5.2 narrative rules (gkxlsx.text.narrative) on this workbook's fields and tables.

        Called without ``fields_only``: a workbook has its tables, so the text-versus-table rules
        (W-TXT-APPL, W-TXT-REVIEW, W-TXT-DOCS) run too.  Empty required narratives are that
        module's E-TXT-EMPTY."""
        try:
            from gkxlsx.text import narrative
        except ModuleNotFoundError as e:  # pragma: no cover - the module is part of the package
            if e.name != "gkxlsx.text.narrative":
                raise
            return
        try:
            found = narrative.check_narrative(form, values, unit=ut, year=ident.year or 0)
        except Exception as e:  # noqa: BLE001 - a bug there must not stop the batch
            self.add(make_finding("E-INTERNAL", reason=f"文字部分检查：{type(e).__name__}: {e}"[:200]))
            return
        for f in found or ():
            locs = tuple(loc(*pos[k]) for k in f.keys if pos.get(k))
            self.add(f.with_locations(locs) if locs else f)

    def _similar_to_last_year(self, values, prev, ident: Identity) -> None:
        """W-XY-SIMILAR: this year's narrative (一、五、六) nearly the same as last year's (内容雷同)."""
        from gkxlsx.text.similarity import THRESHOLD, finding, jaccard, narrative_text, shingles

        name = ident.unit_name or ""
        a = shingles(narrative_text(values), name)
        b = shingles(narrative_text(prev), name)
        score = jaccard(a, b)
        if score >= THRESHOLD:
            self.add(finding("上年度报告", score, last_year=True))


# --------------------------------------------------------------------------------------------
# helpers


_META_ZH = {
    "GKX_FORMAT": "报告格式",
    "GKX_TEMPLATE_VERSION": "模板版本",
    "GKX_YEAR": "报告年度",
    "GKX_UNIT_CODE": "单位代码",
    "GKX_UNIT_NAME": "单位名称",
    "GKX_UNIT_TYPE": "单位类型",
}


def _norm_meta(k: str, v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if k == "GKX_YEAR" and re.fullmatch(r"\d{4}\.0+", v):
        v = v.split(".")[0]
    return v


def _int(v: Any) -> int | None:
    if v is None:
        return None
    try:
        return int(float(str(v).strip()))
    except ValueError:
        return None


_NAME_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!\$?([A-Za-z]{1,3})\$?(\d+)$")


def _unescape(raw: bytes) -> str:
    from gkxlsx.workbook.reader import xml_text

    return xml_text(raw)


def _parse_name_ref(txt: str) -> tuple[str, int, int] | None:
    m = _NAME_REF.match(txt.strip().lstrip("="))
    if not m:
        return None
    sheet = (m.group(1) or "").replace("''", "'") if m.group(1) else m.group(2)
    try:
        r, c = split_ref(m.group(3) + m.group(4))
    except ValueError:
        return None
    return sheet, r, c


def _norm_label(s: str) -> str:
    import unicodedata

    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))


def _applies(when: str | None, unit: UnitType | None) -> bool:
    if not when:
        return True
    if unit is None:
        return False
    try:
        return bool(_eval_when(parse_expr(when), unit))
    except Exception:  # noqa: BLE001
        return False


def _eval_when(node, unit: UnitType) -> bool:
    from gkxlsx.rules.engine import BoolOp, Not, UnitAttr

    if isinstance(node, UnitAttr):
        return bool(unit.attr(node.name))
    if isinstance(node, Not):
        return not _eval_when(node.item, unit)
    if isinstance(node, BoolOp):
        vals = [_eval_when(i, unit) for i in node.items]
        return all(vals) if node.op == "and" else any(vals)
    raise ValueError(node)


@lru_cache(maxsize=8)
def _date_window(year: int) -> tuple[int, int]:
    from datetime import date

    from gkxlsx.check.values import date_serial

    return date_serial(date(year - 1, 1, 1)), date_serial(date(year + 1, 12, 31))


def _excel_number(raw: RawCell) -> Any:
    """The value Excel's COUNT/SUM see: numbers (dates as serials), formula results; else None."""
    if raw.kind == "number" and isinstance(raw.value, str) and raw.value.isdigit():
        return int(raw.value)
    if raw.kind in ("number", "date"):
        d = excel_decimal(raw.value)
        if d is None and raw.kind == "date":
            return None
        return _num(d)
    if raw.kind == "formula" and raw.cached_kind == "number":
        return _num(excel_decimal(raw.value))
    return None


def _num(d: Decimal | None) -> Any:
    if d is None:
        return None
    return int(d) if d == d.to_integral_value() else d


def _shown_number(raw: RawCell) -> Any:
    if raw.kind == "number":
        return _num(excel_decimal(raw.value))
    return None


def _prefill_value(raw: RawCell) -> Any:
    """The content to put back into a fresh workbook so the unit sees what it typed."""
    if raw.kind == "blank":
        return None
    if raw.kind == "number":
        if isinstance(raw.value, str) and raw.value.isdigit():
            return int(raw.value)
        d = excel_decimal(raw.value)
        return _num(d) if d is not None else str(raw.value)
    if raw.kind == "text":
        return str(raw.value)
    return str(display_raw(raw))


def _raw_result(raw: RawCell) -> Any:
    k = raw.cached_kind
    if k == "number":
        return _num(excel_decimal(raw.value))
    if k in (None, "blank"):
        return ""
    if k == "bool":
        return bool(raw.value)
    return str(raw.value)


_V_FAST = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v(?:\s[^>]*)?>(.*?)</(?:[A-Za-z_][\w.-]*:)?v>", re.S)


def _cached_fast(book: XlsxBook, parts: tuple[bytes, bytes]) -> Any:
    t, body = parts
    i = body.find(b"<v>")
    if i >= 0:
        j = body.find(b"</v>", i)
        v = body[i + 3 : j] if j > 0 else b""
    else:
        m = _V_FAST.search(body)
        v = m.group(1) if m else b""
    if v == b"":
        return ""
    if t in (b"str", b"e", b"inlineStr"):
        from gkxlsx.workbook.reader import xml_text

        return xml_text(v)
    if t == b"s":
        try:
            return book.shared_string(int(v)) or ""
        except ValueError:
            return ""
    if t == b"b":
        return v.strip() in (b"1", b"true")
    if v.isdigit() and len(v) < 16:  # a plain integer (the common case): what the next line gives
        return int(v)
    return _num(excel_decimal(v.decode("ascii", "replace")))


def _same_result(got: Any, want: Any) -> bool:
    if type(got) is int and type(want) is int:
        return got == want
    if want is None or want == "":
        return got in (None, "")
    if isinstance(want, (int, float, Decimal)) and not isinstance(want, bool):
        if isinstance(got, (int, float, Decimal)) and not isinstance(got, bool):
            return abs(Decimal(str(got)) - Decimal(str(want))) < Decimal("0.000001")
        return False
    return str(got) == str(want)


def _show(v: Any) -> str:
    if v is None or v == "":
        return "空白"
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        return fmt_num(v)
    return f"“{v}”"


def _json_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    return v


_FP_CACHE: dict[tuple[str, str | None], str] = {}


def _fingerprint_cached(form: Form, unit_type: str | None, fingerprint) -> str:
    k = (form.id + "|" + form.template_version, unit_type)
    if k not in _FP_CACHE:
        lay = layout(form)
        _FP_CACHE[k] = fingerprint(lay, expected_formulas(lay, form.unit_type(unit_type), None, None))
    return _FP_CACHE[k]


# --------------------------------------------------------------------------------------------
# public API


@lru_cache(maxsize=64)
def _form_for_year(year: int) -> Form:
    return form_for_year(year)


@lru_cache(maxsize=1)
def _builtin_ids() -> frozenset:
    """The built-in form ids (the forms folder is listed once, not for every file)."""
    return frozenset(builtin_form_ids())


def check_file(
    path: str | Path,
    *,
    roster=None,
    year: int | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
    prev_lookup: Callable[[str], Any] | None = None,
    context: CheckContext | None = None,
    data: bytes | None = None,
    sha256: str | None = None,
) -> FileResult:
    """Check one returned file.  Never raises for a bad file (and not for an internal error
    either: that becomes an E-INTERNAL finding, status 无法识别).

    ``roster``: a roster path, a list of :class:`Unit` or {code: Unit} — the unit must be in it;
    ``year``: the report year being collected; ``prev``/``prev_format``: last year's values of this
    unit (cross-year checks); ``prev_lookup``: code → (format, year, values) or values;
    ``data``: the file's bytes when the caller has already read them (``sha256``: and hashed).
    """
    ctx = context or CheckContext(
        roster=_roster_dict(roster), year=year, prev=prev, prev_format=prev_format, prev_lookup=prev_lookup
    )
    chk = _Check(Path(path), ctx, data, sha256)
    try:
        return chk.run()
    except Exception as e:  # noqa: BLE001 - never a traceback, never a stopped batch
        chk.f = [f for f in chk.f]
        chk.add(make_finding("E-INTERNAL", reason=f"{type(e).__name__}: {e}"[:200]))
        return chk.finish(STATUS_UNREADABLE)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, and the files inside folders given (recursively; hidden files, Office lock
    files ~$…, manifest.json and the documentation or scripts kept beside returns — .md, .json,
    .py — skipped).  Sorted within each folder."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                sorted(
                    x
                    for x in p.rglob("*")
                    if x.is_file()
                    and not x.name.startswith((".", "~$", ".~lock"))
                    and x.name != "manifest.json"
                    and x.suffix.lower() not in (".md", ".json", ".py")
                )
            )
        else:
            out.append(p)
    return out


class _CheckTask:
    """check_file with one context: what each process of a parallel check runs (picklable)."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx

    def __call__(self, path: Path) -> FileResult:
        return check_file(path, context=self.ctx)


def check_paths(
    paths: Iterable[str | Path],
    *,
    jobs: int = 1,
    roster=None,
    year: int | None = None,
    prev_by_unit: Mapping[str, Any] | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Check files and folders; ``jobs`` > 1: that many processes check (this one and ``jobs - 1``
    workers, at most one per core; see :mod:`gkxlsx.check.parallel`).  Results are in
    the order of the files.  Files of the same unit get a W-UNIT-DUP warning."""
    results: list[FileResult] = []
    for r in iter_check(paths, jobs=jobs, roster=roster, year=year, prev_by_unit=prev_by_unit):
        results.append(r)
        if progress:
            progress(r)
    _mark_duplicates(results)
    return results


def iter_check(
    paths: Iterable[str | Path],
    *,
    jobs: int = 1,
    roster=None,
    year: int | None = None,
    prev_by_unit: Mapping[str, Any] | None = None,
) -> Iterator[FileResult]:
    """:func:`check_paths` as a stream: each result as soon as it is ready, in the order of the
    files, none kept — memory stays flat however many files (no W-UNIT-DUP: that needs them all)."""
    files = expand_paths(paths)
    ctx = CheckContext(roster=_roster_dict(roster), year=year, prev_by_unit=prev_by_unit)
    jobs = max(1, min(int(jobs or 1), os.cpu_count() or 1, len(files) or 1))
    if jobs == 1 or len(files) < 2:
        for p in files:
            yield check_file(p, context=ctx)
        return
    from gkxlsx.check.parallel import ordered_map

    yield from ordered_map(_CheckTask(ctx), files, jobs, encode=_to_wire, decode=_from_wire)


def _mark_duplicates(results: list[FileResult]) -> None:
    by_unit: dict[tuple[str, int | None], list[FileResult]] = {}
    for r in results:
        if r.identity and r.identity.unit_code:
            by_unit.setdefault((r.identity.unit_code, r.identity.year), []).append(r)
    for (code, _y), group in by_unit.items():
        if len(group) < 2:
            continue
        names = "、".join(g.name for g in group)
        for g in group:
            g.findings.append(
                make_finding(
                    "W-UNIT-DUP", code=code, name=g.identity.unit_name if g.identity else "", n=len(group), files=names
                )
            )
            g.findings.sort(key=lambda x: SEVERITY_ORDER.get(x.severity, 3))
            if g.status == STATUS_PASS:
                g.status = STATUS_WARN


def summary(results: Sequence[FileResult]) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    out["total"] = len(results)
    return out


def exit_code(results: Sequence[FileResult]) -> int:
    """0 when nothing blocks, 1 when any file has errors or could not be read."""
    return 1 if any(r.status in (STATUS_ERR, STATUS_UNREADABLE) for r in results) else 0
