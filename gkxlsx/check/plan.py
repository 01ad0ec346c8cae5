"""Per-form plans: what the template of a form says, computed once per process and shared by
every check of a batch — where each label, entry cell, total and formula is, as the bytes a
writer puts there (so most returns are compared without decoding a cell), and the helpers that
compare a whole sheet of :meth:`gkxlsx.workbook.reader.XlsxBook.sheet_cells` items at once."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from gkxlsx.form.cells import a1
from gkxlsx.form.layout import CHECKS_SHEET, GUIDE_SHEET, Layout, defined_name, expected_formulas, layout
from gkxlsx.form.model import Form, UnitType
from gkxlsx.workbook.reader import CellStyles, match_formula, si_text

if TYPE_CHECKING:
    from gkxlsx.check.returned import ReturnedWorkbook

_T = TypeVar("_T", bound="StyleTable")

LABEL_ROLES = frozenset({"title", "caption", "corner", "header", "rowlabel", "fieldlabel"})
MAX_LABEL_FINDINGS_PER_SHEET = 12


def loc(sheet: str, ref: str) -> str:
    return f"{sheet}!{ref}"


@dataclass
class FormPlan:
    form: Form
    lay: Layout
    labels: list[tuple[str, str, str, str]]  # (sheet, ref, text, role)
    key_pos: dict[str, tuple[str, str]]  # key → (sheet, ref)
    name_text: dict[str, tuple[bytes, tuple[bytes, ...]]]  # key → (name, expected XML text variants)
    entry_sheets: tuple[str, ...]
    # per sheet: (address, ASCII address, text, role, the shared-string items that say exactly
    # that text, as "<t>…</t></si>" (items cut at <si>) and as "<t>…</t>" (items by regex))
    label_groups: tuple[tuple[str, tuple[tuple[str, bytes, str, str, tuple[bytes, ...], tuple[bytes, ...]], ...]], ...]
    # every cell of the tables in form order: (key, cell, derived, sheet, address, ASCII address)
    cell_rows: tuple
    # the same by sheet: (sheet, rows, entry keys, their items getter, total keys, getter)
    value_groups: tuple


@lru_cache(maxsize=16)
def form_plan(form: Form) -> FormPlan:
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
        variants = tuple(dict.fromkeys(xml_escape(txt, q).encode() for q in (False, True)))
        name_text[k] = (defined_name(k).encode(), variants)
    return FormPlan(
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


ITEM_STYLE, ITEM_TYPE, ITEM_BODY = operator.itemgetter(1), operator.itemgetter(2), operator.itemgetter(4)
_PLAIN_INTS = re.compile(rb"(?:<v>[0-9]{1,8}</v>)*")  # longer: parse_value, which bounds them (values.FAST_DIGITS)
_DIGITS = re.compile(rb"[0-9]+")
_NUMBER_TYPES = frozenset((b"", b"n"))
_STYLE_TABLES: dict[tuple[type, int], StyleTable] = {}


class StyleTable(dict):
    """Raw style index → a flag of that style, as the cell-by-cell path decides it; filled as
    indexes are met.  One per styles part (the returns of a batch share one styles.xml, parsed
    once): :meth:`of`."""

    def __init__(self, styles: CellStyles):
        super().__init__()
        self.styles = styles

    @classmethod
    def of(cls: type[_T], styles: CellStyles) -> _T:
        got: Any = _STYLE_TABLES.get((cls, id(styles)))
        if got is None or got.styles is not styles:
            if len(_STYLE_TABLES) > 64:
                _STYLE_TABLES.clear()
            got = _STYLE_TABLES[cls, id(styles)] = cls(styles)
        return got


class PlainStyles(StyleTable):
    """… neither a date format nor text-forced (quote prefix)."""

    def __missing__(self, s: bytes) -> bool:
        st = self.styles
        i = int(s) if s.isdigit() else 0
        ok = self[s] = not (i < len(st.date) and (st.date[i] or st.quote[i]))
        return ok


class LockedStyles(StyleTable):
    """… locked (as XlsxBook.locked decides it)."""

    def __missing__(self, s: bytes) -> bool:
        st = self.styles
        i = int(s) if s.isdigit() else 0
        ok = self[s] = st.locked[i] if i < len(st.locked) else True
        return ok


def bulk_ints(cells: dict, get, plain: PlainStyles, n: int, lo: int, hi: int) -> list[int] | None:
    """The entry cells' values when every one is a plain non-negative integer (type n, value of at
    most 8 digits, a plain style) outside the date window [lo, hi]; else None."""
    try:
        items = get(cells)
    except KeyError:
        return None
    if not _NUMBER_TYPES.issuperset(map(ITEM_TYPE, items)):
        return None
    for s in set(map(ITEM_STYLE, items)):
        if not plain[s]:
            return None
    joined = b"".join(map(ITEM_BODY, items))
    if _PLAIN_INTS.fullmatch(joined) is None:
        return None
    nums = list(map(int, _DIGITS.findall(joined)))
    if len(nums) != n or (nums and max(nums) >= lo and any(lo <= x <= hi for x in nums)):
        return None
    return nums


def totals_locked(wb: ReturnedWorkbook, plan: FormPlan) -> bool:
    """Every total cell (derived key) of an .xlsx workbook is present and locked, at the
    template's positions."""
    got = LockedStyles.of(wb.styles)
    for sheet, _rows, _ik, _ig, d_keys, d_get in plan.value_groups:
        if not d_keys:
            continue
        try:
            items = d_get(wb.sheet_cells(sheet))  # type: ignore[misc]
        except KeyError:
            return False
        for s in set(map(ITEM_STYLE, items)):
            if not got[s]:
                return False
    return True


def bulk_formulas(cells: dict, get) -> bool:
    """Every one of the cells holds a formula (what XlsxBook.is_formula says of each)."""
    try:
        items = get(cells)
    except KeyError:
        return False
    return all(map(match_formula, map(ITEM_BODY, items)))


def _sst_items(text: str) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The shared-string items writers use for ``text`` (plain or xml:space="preserve"; quotes
    escaped or not), kept only where the reader decodes them back to exactly ``text``."""
    exact = []
    for q in (False, True):
        esc = xml_escape(text, q).encode("utf-8")
        for open_t in (b"<t>", b'<t xml:space="preserve">'):
            item = open_t + esc + b"</t>"
            if si_text(item) == text and item not in exact:
                exact.append(item)
    return tuple(i + b"</si>" for i in exact), tuple(exact)


@dataclass
class FormulaCell:
    pos: tuple[str, int, int]
    sheet: str
    ref: str
    where: str  # “三、依申请公开!J6”
    formula: str  # with leading "="
    norm: str
    esc: tuple[bytes, ...]  # ">FORMULA</f>" as writers escape it
    loose: bool = False  # embeds last year's figures we do not have: presence only
    iid: str | None = None


def xml_escape(s: str, quotes: bool) -> str:
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
def formula_plan(form: Form, unit_type: str | None, loose_prev: bool) -> tuple[FormulaCell, ...]:
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


def _mk_formula_cell(pos, f: str, loose: bool, iid: str | None) -> FormulaCell:
    s, r, c = pos
    body = f[1:] if f.startswith("=") else f
    esc = tuple(dict.fromkeys((">" + xml_escape(body, q) + "</f>").encode("utf-8") for q in (False, True)))
    return FormulaCell(pos, s, a1(r, c), loc(s, a1(r, c)), f, normalize_formula(f), esc, loose, iid)


_RUNS: dict[int, tuple] = {}


@lru_cache(maxsize=16)
def cache_plan(form: Form) -> tuple:
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


def formula_runs(cells: tuple[FormulaCell, ...]) -> tuple:
    """A formula plan cut into runs of consecutive cells on one sheet (the plan's order kept):
    (sheet, cells, their items getter, ">FORMULA</f>" each, "<f>FORMULA</f><v>" each)."""
    got = _RUNS.get(id(cells))
    if got is not None and got[0] is cells:
        return got[1]
    runs: list[list[FormulaCell]] = []
    for fc in cells:
        if runs and runs[-1][0].sheet == fc.sheet:
            runs[-1].append(fc)
        else:
            runs.append([fc])
    out: tuple = tuple(
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


class FormulaRun:
    """Formula cells of one sheet found as the template wrote them; their cached results are
    compared with the recomputation by :func:`gkxlsx.check.checks.formulas.check_cached_results`."""

    __slots__ = ("fcs", "items", "pres", "memo", "positions")

    def __init__(self, fcs, items, pres, memo, positions):
        self.fcs, self.items, self.pres, self.memo, self.positions = fcs, items, pres, memo, positions

    def as_expected(self, wants: list) -> bool:
        """Every cell is byte for byte ``<f>FORMULA</f><v>RESULT</v>`` with the expected result
        (a number without a type, a text of type str): what cached_fast + same_result accept.
        The expected bytes are kept per run for the results met (mostly the same in every file)."""
        key = tuple(wants)
        kinds = tuple(map(type, wants))
        got = self.memo.get(key)
        if got is None or got[0] != kinds:
            bodies: list[bytes] = []
            types: list[bytes] = []
            plain = True
            for pre, w in zip(self.pres, wants):
                tw = type(w)
                if tw is int:
                    bodies.append(pre + b"%d</v>" % w)
                    types.append(b"")
                elif tw is str:
                    bodies.append(pre + xml_escape(w, False).encode("utf-8") + b"</v>")
                    types.append(b"str")
                else:
                    plain = False
                    break
            if len(self.memo) > 256:
                self.memo.clear()
            got = self.memo[key] = (kinds, bodies if plain else None, types)
        if got[1] is None:
            return False
        return list(map(ITEM_BODY, self.items)) == got[1] and list(map(ITEM_TYPE, self.items)) == got[2]


def exact_formula_plan(
    form: Form, ut: UnitType | None, prev: Mapping[str, Any], prev_format: str | None
) -> tuple[FormulaCell, ...]:
    lay = layout(form)
    formulas = expected_formulas(lay, ut, prev, prev_format)
    iid_at = {lay.checks[i.iid]: i.iid for i in form.rules}
    return tuple(
        _mk_formula_cell(pos, f, False, iid_at.get(pos)) for pos, f in formulas.items() if pos[0] != CHECKS_SHEET
    )


# --------------------------------------------------------------------------------------------


_FP_CACHE: dict[tuple[str, str | None], str] = {}


def template_fingerprint(form: Form, unit_type: str | None, fingerprint) -> str:
    k = (form.id + "|" + form.template_version, unit_type)
    if k not in _FP_CACHE:
        lay = layout(form)
        _FP_CACHE[k] = fingerprint(lay, expected_formulas(lay, form.unit_type(unit_type), None, None))
    return _FP_CACHE[k]
