"""Workbook layout: a pure function of the form definition.

``layout(form)`` places every label, entry cell, derived cell and check cell of the workbook.
The generator writes exactly these boxes; the reader finds every value by the same positions
(and by the defined names the generator stores for them) and uses :func:`expected_formulas` to
verify that no formula was changed.  Nothing here depends on a unit except the formulas, whose
constants (unit-type thresholds, last year's figures) come from :func:`expected_formulas`'s
arguments.

Table sheets put the official table at A1, so a cell address in the workbook is the address of the
official grid in docs/FORMAT.md (e.g. 三、依申请公开!J6 is （一）予以公开 · 总计).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from gkxlsx.form.cells import a1
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.model import Form, Leaf, Table, UnitType
from gkxlsx.rules.engine import FAIL, INCOMPLETE, NOT_APPLICABLE, RuleInstance, compute_derived
from gkxlsx.rules.evaluate import complete_previous
from gkxlsx.rules.excel import excel_check, excel_derived, sheet_ref
from gkxlsx.rules.interpret import as_number
from gkxlsx.rules.text import requirement_zh

GUIDE_SHEET = "填报说明"
INFO_SHEET = "基本信息"
CHECKS_SHEET = "校验结果"
META_SHEET = "_gkxlsx"  # very hidden: the identity fields of gkxlsx.form.identity

# check-panel columns, relative to the panel's first column
PANEL_GAP = 1
# how 校验结果 names a rule's severity (a ✓ next to “错误” confused clerks)
CHECK_KIND = {"error": "必须通过", "warning": "建议核实", "info": "提示"}


@dataclass(frozen=True)
class Box:
    """A cell (or merged range) of the workbook."""

    sheet: str
    row: int  # 0-based
    col: int  # 0-based
    role: str  # see ROLES
    text: str | None = None
    key: str | None = None  # entry / derived / field cells
    iid: str | None = None  # check cells: rule instance id
    rows: int = 1
    cols: int = 1

    @property
    def merged(self) -> bool:
        return self.rows > 1 or self.cols > 1

    @property
    def ref(self) -> str:
        return a1(self.row, self.col)

    @property
    def range(self) -> str:
        return self.ref if not self.merged else f"{self.ref}:{a1(self.row + self.rows - 1, self.col + self.cols - 1)}"


ROLES = {
    "title": "sheet title",
    "guide": "instruction text",
    "caption": "table caption (第二十条第（一）项)",
    "corner": "table corner / note",
    "header": "column header",
    "rowlabel": "row label",
    "entry": "input cell (unlocked)",
    "derived": "formula total (locked)",
    "check": "rule check cell (formula ✓/✗/待填)",
    "checklabel": "caption of a row/column of check cells",
    "fieldlabel": "label of a narrative / info field",
    "fieldguide": "guidance beside a field",
    "info": "prefilled locked value (unit name, year …)",
    "panelhead": "header of a check panel",
    "paneltext": "rule description in a panel",
    "prevhead": "header of the 上年 column (locked; only with last year's values)",
    "prev": "last year's figure of an official cell (locked; never read by the checker)",
}


@dataclass(frozen=True)
class SheetLayout:
    name: str
    kind: str  # guide | info | text | table | checks | meta
    section: str | None
    boxes: tuple[Box, ...]
    col_widths: Mapping[int, float] = field(default_factory=dict)
    row_heights: Mapping[int, float] = field(default_factory=dict)
    header_rows: tuple[int, int] | None = None  # rows to repeat when printing
    max_row: int = 0
    max_col: int = 0


@dataclass(frozen=True)
class Layout:
    form: Form
    sheets: tuple[SheetLayout, ...]
    where: Mapping[str, tuple[str, int, int]]  # key → (sheet, row, col)
    checks: Mapping[str, tuple[str, int, int]]  # rule instance id → primary check cell
    summary: Mapping[str, tuple[str, int, int]]  # rule instance id → its status cell on 校验结果
    summary_counts: Mapping[str, tuple[str, int, int]]  # "error"/"warning"/"info"/"incomplete" → count cell

    def sheet(self, name: str) -> SheetLayout:
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)

    def locate(self, key: str) -> tuple[str, int, int]:
        return self.where[key]

    def address(self, key: str) -> str:
        """“三、依申请公开!J6” — the address a user sees."""
        s, r, c = self.where[key]
        return f"{s}!{a1(r, c)}"

    def addresses(self, keys) -> tuple[str, ...]:
        return tuple(self.address(k) for k in keys if k in self.where)

    @property
    def section_sheets(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sheets if s.section)


def defined_name(key: str) -> str:
    """Workbook defined name of a key's cell: ``s3.new.natural`` → ``K_s3.new.natural``? No dots
    are allowed in some readers, so: ``GKX_K_S3_NEW_NATURAL``."""
    return "GKX_K_" + key.replace(".", "_").upper()


def _requirement(f) -> str:
    if f.when:
        return f"【{requirement_zh(f.when)}】"
    return "【必填】" if f.required else "【选填】"


# --------------------------------------------------------------------------------------------
# table geometry


def _col_width(node) -> int:
    return sum(leaf.span for leaf in node.leaves())


def _table_boxes(t: Table, sheet: str, top: int, grid_width: int, out: list[Box], where: dict) -> int:
    """Place one table at row ``top``; returns the next free row.  A table narrower than the grid
    (stacked sub-tables of section 二) gives the spare columns to its last column."""
    r = top
    ld = t.label_depth
    extra = grid_width - (ld + t.data_width)
    if t.caption:
        out.append(Box(sheet, r, 0, "caption", t.caption, cols=grid_width))
        r += 1
    depth = t.header_depth
    if ld:
        out.append(Box(sheet, r, 0, "corner", t.corner or "", rows=depth, cols=ld))

    def place_header(node, level: int, col: int, last: bool) -> None:
        w = _col_width(node) + (extra if last else 0)
        if node.is_leaf:
            out.append(Box(sheet, r + level, col, "header", node.label or "", rows=depth - level, cols=w))
            return
        out.append(Box(sheet, r + level, col, "header", node.label or "", cols=w))
        c = col
        for i, ch in enumerate(node.children):
            place_header(ch, level + 1, c, last and i == len(node.children) - 1)
            c += _col_width(ch)

    c = ld
    for i, node in enumerate(t.col_tree):
        place_header(node, 0, c, i == len(t.col_tree) - 1)
        c += _col_width(node)
    r += depth
    body_top = r

    # row labels
    def place_rows(node, level: int, row: int) -> int:
        if node.is_leaf:
            if node.label:
                out.append(Box(sheet, row, level, "rowlabel", node.label, cols=ld - level))
            return row + 1
        n = sum(1 for _ in node.leaves())
        out.append(Box(sheet, row, level, "rowlabel", node.label or "", rows=n))
        for ch in node.children:
            row = place_rows(ch, level + 1, row)
        return row

    rr = body_top
    for node in t.row_tree:
        rr = place_rows(node, 0, rr)
    # data cells
    last = len(t.columns) - 1
    for i, rowleaf in enumerate(t.rows):
        c = ld
        for j, colleaf in enumerate(t.columns):
            key = t.key(rowleaf, colleaf)
            derived = colleaf.derived or rowleaf.derived
            span = colleaf.span + (extra if j == last else 0)
            out.append(Box(sheet, body_top + i, c, "derived" if derived else "entry", key=key, cols=span))
            where[key] = (sheet, body_top + i, c)
            c += span
    return body_top + len(t.rows)


def stack_tables(tables, sheet: str = "") -> tuple[list[Box], dict[str, tuple[str, int, int]], int, int]:
    """The official grid of a section: its tables stacked from A1 as officially printed.

    Returns (boxes, key → (sheet, row, col), grid width, grid height).  The workbook layout and the
    renderer (HTML rowspan/colspan, Word merges) both use it, so the two cannot drift apart.
    """
    width = max(t.label_depth + t.data_width for t in tables)
    boxes: list[Box] = []
    where: dict[str, tuple[str, int, int]] = {}
    r = 0
    for t in tables:
        r = _table_boxes(t, sheet, r, width, boxes, where)
    return boxes, where, width, r


def _place_checks(
    form: Form,
    sheet: str,
    insts: list[RuleInstance],
    where: dict,
    grid_width: int,
    table_bottom: int,
    label_cols: int,
    out: list[Box],
    checks: dict,
) -> tuple[int, int]:
    """Place the primary check cells of the rules anchored on this sheet; returns (max_row, max_col)."""
    max_row, max_col = table_bottom, grid_width
    # "right": one column per rule id right of the table
    right_ids = list(dict.fromkeys(i.id for i in insts if i.rule.place == "right"))
    for j, rid in enumerate(right_ids):
        col = grid_width + j
        rd = next(i.rule for i in insts if i.id == rid)
        first_row = min(where[i.anchor][1] for i in insts if i.id == rid)
        # caption above the first check cell of this column (in the header area when there is room)
        cap_row = 0 if first_row > 0 else None
        if cap_row is not None:
            out.append(
                Box(
                    sheet,
                    cap_row,
                    col,
                    "checklabel",
                    rd.label,
                    rows=max(1, first_row - cap_row) if first_row - cap_row <= 3 else 1,
                )
            )
        for inst in (i for i in insts if i.id == rid):
            r = where[inst.anchor][1]
            out.append(Box(sheet, r, col, "check", iid=inst.iid))
            checks[inst.iid] = (sheet, r, col)
        max_col = max(max_col, col + 1)
    # "below": one row per rule id under the table, each check under its anchor's column
    below_ids = list(dict.fromkeys(i.id for i in insts if i.rule.place == "below"))
    for j, rid in enumerate(below_ids):
        row = table_bottom + j
        rd = next(i.rule for i in insts if i.id == rid)
        cols = sorted(where[i.anchor][2] for i in insts if i.id == rid)
        lab_cols = label_cols if label_cols else max(1, cols[0])
        out.append(Box(sheet, row, 0, "checklabel", rd.label, cols=lab_cols))
        for inst in (i for i in insts if i.id == rid):
            c = where[inst.anchor][2]
            out.append(Box(sheet, row, c, "check", iid=inst.iid))
            checks[inst.iid] = (sheet, row, c)
        max_row = max(max_row, row + 1)
    # "panel": further rows below the table, the rule's title in the label columns and its status
    # in the first data column (kept inside the table's width so printing stays legible)
    panel = [i for i in insts if i.rule.place == "panel"]
    lab = max(label_cols, 1)
    for k, inst in enumerate(panel):
        row = max(max_row, table_bottom + len(below_ids)) + k
        out.append(Box(sheet, row, 0, "checklabel", inst.title, cols=lab))
        out.append(Box(sheet, row, lab, "check", iid=inst.iid))
        checks[inst.iid] = (sheet, row, lab)
        max_row = max(max_row, row + 1)
    return max_row, max_col


# --------------------------------------------------------------------------------------------
# row heights: labels wrap inside fixed column widths, so rows must be tall enough to show them


def text_units(text: str) -> float:
    """Display width of a text in character units of a 10-pt CJK font (ASCII counts about half)."""
    return sum(1.0 if ord(ch) > 0x2E80 else 0.55 for ch in text)


def _fit_heights(
    boxes: list[Box], widths: Mapping[int, float], heights: dict[int, float], default_width: float = 8.43
) -> None:
    line = 14.0
    for b in boxes:
        if not b.text or b.role not in (
            "rowlabel",
            "header",
            "corner",
            "paneltext",
            "guide",
            "fieldlabel",
            "fieldguide",
            "caption",
            "checklabel",
            "prevhead",
        ):
            continue
        width = sum(widths.get(c, default_width) for c in range(b.col, b.col + b.cols))
        per_line = max(1.0, width / 1.9)
        lines = -(-text_units(b.text) // per_line)
        need = line * lines + 4
        per_row = need / b.rows
        for r in range(b.row, b.row + b.rows):
            if per_row > heights.get(r, 15.0):
                heights[r] = min(per_row, 300.0)


# --------------------------------------------------------------------------------------------
# the whole workbook


@lru_cache(maxsize=32)
def layout(form: Form) -> Layout:
    sheets: list[SheetLayout] = []
    where: dict[str, tuple[str, int, int]] = {}
    checks: dict[str, tuple[str, int, int]] = {}

    sheets.append(SheetLayout(GUIDE_SHEET, "guide", None, (), {0: 70}))

    # 基本信息
    boxes: list[Box] = [Box(INFO_SHEET, 0, 0, "title", "基本信息", cols=3)]
    for i, f in enumerate(form.meta_fields):
        r = 2 + i
        boxes.append(Box(INFO_SHEET, r, 0, "fieldlabel", f.label))
        boxes.append(Box(INFO_SHEET, r, 1, "info" if f.prefilled else "entry", key=f.key))
        if f.guide:
            boxes.append(Box(INFO_SHEET, r, 2, "fieldguide", f.guide))
        where[f.key] = (INFO_SHEET, r, 1)
    info_heights: dict[int, float] = {}
    _fit_heights(boxes, {0: 14, 1: 40, 2: 60}, info_heights)
    sheets.append(
        SheetLayout(
            INFO_SHEET,
            "info",
            None,
            tuple(boxes),
            {0: 14, 1: 40, 2: 60},
            info_heights,
            None,
            2 + len(form.meta_fields),
            3,
        )
    )

    # rule instances by the sheet of their anchor
    by_sheet: dict[str, list[RuleInstance]] = {}
    sheet_of_section = {s.id: s.sheet for s in form.sections}

    def anchor_sheet(inst: RuleInstance) -> str:
        k = inst.anchor
        if k in form.cells:
            return sheet_of_section[form.cells[k].section]
        return sheet_of_section[form.fields[k].section]

    for s in form.sections:
        boxes = []
        heights: dict[int, float] = {}
        if s.kind == "tables":
            label_cols = max(t.label_depth for t in s.tables)
            boxes, placed, grid_width, table_bottom = stack_tables(s.tables, s.sheet)
            where.update(placed)
            insts = []
            for inst in form.rules:
                if anchor_sheet(inst) == s.sheet:
                    insts.append(inst)
            by_sheet[s.sheet] = insts
            max_row, max_col = _place_checks(
                form, s.sheet, insts, where, grid_width, table_bottom, label_cols, boxes, checks
            )
            # guidance under the table and its check rows
            boxes.append(Box(s.sheet, max_row + 1, 0, "guide", s.guide, cols=grid_width))
            heights[max_row + 1] = 36
            if label_cols == 3:  # section 三: wide label column C
                widths = {0: 6, 1: 14, 2: 40}
                widths.update({c: 9 for c in range(3, grid_width)})
            elif label_cols == 0:  # section 四
                widths = {c: 8 for c in range(grid_width)}
            else:
                widths = {0: 22}
                widths.update({c: 16 for c in range(1, grid_width)})
            for b in boxes:
                if b.role == "check":
                    widths.setdefault(b.col, 13)
                if b.role == "paneltext":
                    widths[b.col] = 50
            _fit_heights(boxes, widths, heights)
            first_table = s.tables[0]
            hdr_top = 1 if first_table.caption else 0
            sheets.append(
                SheetLayout(
                    s.sheet,
                    "table",
                    s.id,
                    tuple(boxes),
                    widths,
                    heights,
                    (hdr_top, hdr_top + first_table.header_depth - 1) if len(s.tables) == 1 else None,
                    max_row + 2,
                    max_col,
                )
            )
        else:
            boxes.append(Box(s.sheet, 0, 0, "title", s.title, cols=3))
            boxes.append(Box(s.sheet, 1, 0, "guide", s.guide, cols=3))
            heights[1] = 36
            for i, f in enumerate(s.fields):
                r = 2 + i
                boxes.append(Box(s.sheet, r, 0, "fieldlabel", f.label))
                boxes.append(Box(s.sheet, r, 1, "entry", key=f.key))
                boxes.append(Box(s.sheet, r, 2, "fieldguide", _requirement(f) + f.guide))
                where[f.key] = (s.sheet, r, 1)
                heights[r] = 150 if f.type.kind == "text" else 22
            insts = [i for i in form.rules if anchor_sheet(i) == s.sheet]
            by_sheet[s.sheet] = insts
            max_row, max_col = 2 + len(s.fields), 3
            if insts:
                max_row, max_col = _place_checks(form, s.sheet, insts, where, 3, max_row, 1, boxes, checks)
            widths = {0: 22, 1: 80, 2: 36}
            _fit_heights(boxes, widths, heights)
            sheets.append(SheetLayout(s.sheet, "text", s.id, tuple(boxes), widths, heights, None, max_row, max_col))

    # 校验结果: one row per rule instance, pointing at its primary check cell
    boxes = [
        Box(CHECKS_SHEET, 0, 0, "title", "校验结果", cols=6),
        Box(
            CHECKS_SHEET,
            1,
            0,
            "guide",
            "本表自动汇总各工作表的校验结果：✓ 通过，✗ 有误，待填 表示相关单元格尚未填完，不适用 表示该项对本单位不适用。点击“位置”可跳转到相关单元格。",
            cols=6,
        ),
        Box(CHECKS_SHEET, 2, 0, "fieldlabel", "错误（必须通过的✗）"),
        Box(CHECKS_SHEET, 3, 0, "fieldlabel", "警告（建议核实的✗）"),
        Box(CHECKS_SHEET, 4, 0, "fieldlabel", "提示"),
        Box(CHECKS_SHEET, 5, 0, "fieldlabel", "待填项"),
    ]
    counts = {}
    for i, sev in enumerate(("error", "warning", "info", "incomplete")):
        boxes.append(Box(CHECKS_SHEET, 2 + i, 1, "check", iid=f"#count:{sev}"))
        counts[sev] = (CHECKS_SHEET, 2 + i, 1)
    head = 7
    for j, h in enumerate(("状态", "类别", "工作表", "校验内容", "位置", "规则编号")):
        boxes.append(Box(CHECKS_SHEET, head, j, "panelhead", h))
    summary = {}
    for n, inst in enumerate(form.rules):
        r = head + 1 + n
        boxes.append(Box(CHECKS_SHEET, r, 0, "check", iid=inst.iid))
        boxes.append(Box(CHECKS_SHEET, r, 1, "paneltext", CHECK_KIND[inst.severity]))
        boxes.append(Box(CHECKS_SHEET, r, 2, "paneltext", checks[inst.iid][0]))
        boxes.append(Box(CHECKS_SHEET, r, 3, "paneltext", inst.title))
        boxes.append(Box(CHECKS_SHEET, r, 4, "check", iid="#link:" + inst.iid))
        boxes.append(Box(CHECKS_SHEET, r, 5, "paneltext", inst.iid))
        summary[inst.iid] = (CHECKS_SHEET, r, 0)
    check_heights: dict[int, float] = {1: 36}
    _fit_heights(boxes, {0: 8, 1: 8, 2: 16, 3: 70, 4: 24, 5: 30}, check_heights)
    sheets.append(
        SheetLayout(
            CHECKS_SHEET,
            "checks",
            None,
            tuple(boxes),
            {0: 8, 1: 8, 2: 16, 3: 70, 4: 24, 5: 30},
            check_heights,
            (head, head),
            head + 1 + len(form.rules),
            6,
        )
    )
    sheets.append(SheetLayout(META_SHEET, "meta", None, (), {0: 24, 1: 60}))
    return Layout(form, tuple(sheets), where, checks, summary, counts)


# --------------------------------------------------------------------------------------------
# the 上年 column: last year's figures beside sections 二–四 (only with last year's values)


@dataclass(frozen=True)
class PreviousColumn:
    """The grey 上年 column(s) of one workbook: boxes (roles ``prevhead`` and ``prev``; a ``prev``
    box's key is the official cell whose last-year figure it shows), their values by (sheet, row,
    col), and the column widths they need by sheet.  Empty without last year's values."""

    boxes: tuple[Box, ...] = ()
    values: Mapping[tuple[str, int, int], Any] = field(default_factory=dict)
    widths: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    heights: Mapping[str, Mapping[int, float]] = field(default_factory=dict)  # rows its headers make taller

    def __bool__(self) -> bool:
        return bool(self.boxes)

    def on(self, sheet: str) -> tuple[Box, ...]:
        return tuple(b for b in self.boxes if b.sheet == sheet)


def _prev_shown(t: Table) -> tuple[Leaf, ...]:
    """The columns whose last-year figure is shown: a table's total column(s) where it has them
    (三: 总计; 四: the three 总计), else every column (二: at most three)."""
    return tuple(c for c in t.columns if c.derived) or t.columns


@lru_cache(maxsize=32)
def _prev_slots(
    form: Form, last_year: int
) -> tuple[tuple[str, tuple[Box, ...], tuple[tuple[int, float], ...], tuple[tuple[int, float], ...]], ...]:
    """Per sheet of the sections named in gkxlsx/data/workbook.json: the 上年 boxes and widths.

    The block starts one (narrow) column right of everything the sheet already has (the table and
    its check cells: :attr:`SheetLayout.max_col`), so no official cell or check cell moves.  Each
    table of the sheet gets a header in its own caption / header rows (``上年数（年）`` over the block,
    the columns' labels below it) and one cell per data row, in that row."""
    texts = data_file("workbook")["previous_column"]
    lay = layout(form)
    out = []
    for s in form.sections:
        if s.kind != "tables" or s.id not in texts["sections"]:
            continue
        sl = lay.sheet(s.sheet)
        start = sl.max_col + 1
        shown = {t.id: _prev_shown(t) for t in s.tables}
        width = max(len(v) for v in shown.values())
        boxes: list[Box] = []
        data_width = 12.0  # “上年数（年）” on one line
        for t in s.tables:
            cols = shown[t.id]
            _s, body_top, first_col = lay.where[t.key(t.rows[0], t.columns[0])]
            data_width = max(data_width, float(sl.col_widths.get(first_col, 10)))
            top = body_top - t.header_depth - (1 if t.caption else 0)
            boxes.append(Box(s.sheet, top, start, "prevhead", texts["head"].format(last_year=last_year), cols=width))
            below = body_top - top - 1  # header rows under the block's title
            for j, col in enumerate(cols):
                c = start + j
                span = 1 + (width - len(cols) if j == len(cols) - 1 else 0)
                # the column's labels, without a group that spans the whole table (三: 申请人情况)
                labels = [
                    n.label
                    for n in col.path
                    if n.label and (n is col.path[-1] or not all(any(n is x for x in o.path) for o in t.columns))
                ]
                labels = labels[-below:] if below > 0 else []
                r = top + 1
                for i, text in enumerate(labels):
                    rows = 1 if i < len(labels) - 1 else body_top - r
                    boxes.append(Box(s.sheet, r, c, "prevhead", text, rows=rows, cols=span))
                    r += rows
                for i, row in enumerate(t.rows):
                    boxes.append(Box(s.sheet, body_top + i, c, "prev", key=t.key(row, col), cols=span))
        widths = ((start - 1, 2.0),) + tuple((start + j, data_width) for j in range(width))
        heights = dict(sl.row_heights)
        _fit_heights(boxes, {**sl.col_widths, **dict(widths)}, heights)
        taller = tuple((r, h) for r, h in sorted(heights.items()) if h != sl.row_heights.get(r))
        out.append((s.sheet, tuple(boxes), widths, taller))
    return tuple(out)


def previous_column(
    form: Form, year: int, prev: Mapping[str, Any] | None, prev_format: str | None = None
) -> PreviousColumn:
    """The 上年 column of a workbook of ``year`` generated with last year's values ``prev`` (in
    ``prev_format``, default the form's own): a sheet gets it when last year's report has a figure
    comparable with this year's for at least one of its cells (docs/FORMAT.md: 二 of a 2019 report
    is not comparable with 2021's); cells without one stay blank.  The generator writes it and
    hashes it into the structure fingerprint; the checker never reads these cells."""
    if prev is None:
        return PreviousColumn()
    pf = prev_format or form.id
    full = complete_previous(prev, pf) or {}
    boxes: list[Box] = []
    values: dict[tuple[str, int, int], Any] = {}
    widths: dict[str, Mapping[int, float]] = {}
    heights: dict[str, Mapping[int, float]] = {}
    for sheet, bxs, w, taller in _prev_slots(form, year - 1):
        got = {}
        for b in bxs:
            if b.role == "prev" and b.key and form.comparable_with(pf, b.key):
                v = as_number(full.get(b.key))
                if v is not None:
                    got[(sheet, b.row, b.col)] = v
        if got:
            boxes.extend(bxs)
            values.update(got)
            widths[sheet] = dict(w)
            heights[sheet] = dict(taller)
    return PreviousColumn(tuple(boxes), values, widths, heights)


# --------------------------------------------------------------------------------------------
# formulas and their cached results


def expected_formulas(
    lay: Layout,
    unit: UnitType | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
) -> dict[tuple[str, int, int], str]:
    """Every formula of the workbook, by (sheet, row, col): derived cells, check cells, 校验结果.

    Rules that are not applicable (unit type, no last-year data) get a constant ``不适用`` text
    instead of a formula, so the check cell still explains itself.
    """
    form = lay.form
    out: dict[tuple[str, int, int], str] = {}
    for key in form.derived_keys:
        s, r, c = lay.where[key]
        out[(s, r, c)] = excel_derived(form, key, lay.locate, s)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    prev = complete_previous(prev, pf)
    for inst in form.rules:
        s, r, c = lay.checks[inst.iid]
        if inst.applicable(unit, pf if prev is not None else None):
            try:
                out[(s, r, c)] = excel_check(inst, lay.locate, s, prev, unit)
            except Exception:  # a missing previous-year figure makes the rule not applicable
                out[(s, r, c)] = f'="{NOT_APPLICABLE}"'
        else:
            out[(s, r, c)] = f'="{NOT_APPLICABLE}"'
        ss, sr, sc = lay.summary[inst.iid]
        out[(ss, sr, sc)] = f"={sheet_ref(s, ss)}{a1(r, c)}"
        fs, fr, fc = lay.locate(inst.focus_keys[0])
        label = f"{fs}!{a1(fr, fc)}"
        out[(ss, sr, sc + 4)] = f'=HYPERLINK("#\'{fs}\'!{a1(fr, fc)}","{label}")'
    # counts on 校验结果
    first = min(r for _, r, _ in lay.summary.values())
    last = max(r for _, r, _ in lay.summary.values())
    status = f"$A${first + 1}:$A${last + 1}"
    sev = f"$B${first + 1}:$B${last + 1}"
    for name, (s, r, c) in lay.summary_counts.items():
        if name == "incomplete":
            out[(s, r, c)] = f'=COUNTIF({status},"{INCOMPLETE}")'
        else:
            out[(s, r, c)] = f'=COUNTIFS({status},"{FAIL}",{sev},"{CHECK_KIND[name]}")'
    return out


def expected_results(
    lay: Layout,
    values: Mapping[str, Any],
    unit: UnitType | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
) -> dict[tuple[str, int, int], Any]:
    """The results the formulas of :func:`expected_formulas` must show for ``values``.

    Computed in Python from the inputs; the generator writes them as the formulas' cached results
    (so viewers that do not recalculate still show the truth) and the reader compares them with
    the cached values it finds.
    """
    form = lay.form
    out: dict[tuple[str, int, int], Any] = {}
    derived = compute_derived(form, values)
    for key, v in derived.items():
        out[lay.where[key]] = "" if v is None else v
    vals = dict(values)
    vals.update(derived)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    prev = complete_previous(prev, pf)
    tally = {"error": 0, "warning": 0, "info": 0, "incomplete": 0}
    for inst in form.rules:
        st = inst.evaluate(vals, prev, unit, pf).status
        out[lay.checks[inst.iid]] = st
        s, r, c = lay.summary[inst.iid]
        out[(s, r, c)] = st
        fs, fr, fc = lay.locate(inst.focus_keys[0])
        out[(s, r, c + 4)] = f"{fs}!{a1(fr, fc)}"
        if st == FAIL:
            tally[inst.severity] += 1
        elif st == INCOMPLETE:
            tally["incomplete"] += 1
    for name, pos in lay.summary_counts.items():
        out[pos] = tally[name]
    return out


def number_for_excel(v: Any) -> Any:
    """Decimal → float for writing into a cell (integers stay ints)."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v
