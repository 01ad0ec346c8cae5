"""Typed, immutable form definitions, loaded from the JSON data files in ``gkxlsx/data/forms``.

A form definition is the single source of truth for one report format version: its sections,
tables (with the hierarchical row and column headers that produce the official merges), stable
cell keys, value types, narrative fields, unit types and rules.  Everything else in gkxlsx —
layout, generator, importer, checker, renderer, extractor — is derived from a ``Form``.

Variants (a province's extra rows or rules) are JSON files that ``extends`` a built-in form and
patch it; see :func:`load_form` and README.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from gkxlsx.findings import SEVERITY_ZH
from gkxlsx.publication import publication_facts
from gkxlsx.rules.interpret import when_holds
from gkxlsx.rules.nodes import RuleError

FORMS_DIR = Path(__file__).resolve().parents[1] / "data" / "forms"


class FormError(ValueError):
    """A form definition file is invalid.  The message is in Chinese and names the file and the item."""


# --------------------------------------------------------------------------------------------
# value types


@dataclass(frozen=True)
class Shown:
    """How a roll-up shows amounts of a type (``"shown"`` of a type in the form JSON): in ``unit``,
    the collected value times ``factor`` (a decimal string: 元 → 万元 is "0.0001"), rounded to ``dp``
    decimals with 舍位平衡 (:mod:`gkxlsx.rounding`) wherever parts and their total are shown together."""

    unit: str
    factor: str = "1"
    dp: int = 2


@dataclass(frozen=True)
class ValueType:
    name: str
    kind: str  # int | decimal | text | date
    min: float | None = None
    max_dp: int | None = None
    max_len: int | None = None
    unit: str | None = None
    label: str = ""
    shown: Shown | None = None  # how a roll-up shows it (amounts in a larger unit, fewer decimals)

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "decimal")


# --------------------------------------------------------------------------------------------
# tables


@dataclass(frozen=True)
class HeaderNode:
    """A node of a row or column header tree.  Leaves are data rows / data columns."""

    label: str | None
    key: str | None = None  # segment that contributes to cell keys
    id: str | None = None  # group id usable in set references (@table.rows.<id>)
    span: int = 1  # grid columns a leaf column occupies (columns only)
    type: str | None = None  # type override for a leaf column
    derived: str | None = None  # "sum": sum of the non-derived leaves under the parent
    children: tuple[HeaderNode, ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def leaves(self) -> Iterable[HeaderNode]:
        if self.is_leaf:
            yield self
        else:
            for c in self.children:
                yield from c.leaves()

    def depth(self) -> int:
        return 1 + max((c.depth() for c in self.children), default=0)


@dataclass(frozen=True)
class Leaf:
    """A data row or column of a table: its key segment path, labels and derivation."""

    key: str  # composed key segment ("" for the anonymous single row of section 四)
    label: str | None
    path: tuple[HeaderNode, ...]  # from the top node down to the leaf
    derived: bool
    siblings: tuple[str, ...]  # for derived leaves: the composed keys of the summed leaves
    span: int = 1
    type: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(n.label for n in self.path if n.label)


def _compose(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def _leaves(nodes: tuple[HeaderNode, ...]) -> tuple[Leaf, ...]:
    out: list[Leaf] = []

    def walk(node: HeaderNode, path: tuple[HeaderNode, ...], parent: HeaderNode | None) -> None:
        path = path + (node,)
        if node.is_leaf:
            key = _compose(*(n.key for n in path))
            sibs: tuple[str, ...] = ()
            if node.derived:
                if parent is None:
                    raise FormError(f"派生项“{node.label}”必须位于一个分组之下")
                base = path[:-1]
                sibs = tuple(
                    _compose(*(n.key for n in base), *(n.key for n in lp))
                    for lp in _leaf_paths(parent)
                    if not lp[-1].derived
                )
            out.append(Leaf(key, node.label, path, bool(node.derived), sibs, node.span, node.type))
        else:
            for c in node.children:
                walk(c, path, node)

    for n in nodes:
        walk(n, (), None)
    return tuple(out)


def _leaf_paths(node: HeaderNode, path: tuple[HeaderNode, ...] = ()) -> Iterable[tuple[HeaderNode, ...]]:
    for c in node.children:
        if c.is_leaf:
            yield path + (c,)
        else:
            yield from _leaf_paths(c, path + (c,))


@dataclass(frozen=True)
class Table:
    id: str
    prefix: str
    section: str
    type: str
    caption: str | None
    corner: str | None
    tooltip: str | None
    col_tree: tuple[HeaderNode, ...]
    row_tree: tuple[HeaderNode, ...]

    @cached_property
    def columns(self) -> tuple[Leaf, ...]:
        return _leaves(self.col_tree)

    @cached_property
    def rows(self) -> tuple[Leaf, ...]:
        return _leaves(self.row_tree)

    @property
    def header_depth(self) -> int:
        return max(n.depth() for n in self.col_tree)

    @property
    def label_depth(self) -> int:
        """Number of label columns on the left (0 for section 四)."""
        return max((n.depth() for n in self.row_tree if n.label or n.children), default=0)

    @property
    def data_width(self) -> int:
        return sum(c.span for c in self.columns)

    def key(self, row: Leaf, col: Leaf) -> str:
        return _compose(self.prefix, row.key, col.key)

    def group_rows(self, group_id: str) -> tuple[Leaf, ...]:
        return tuple(r for r in self.rows if any(n.id == group_id for n in r.path))

    def group_cols(self, group_id: str) -> tuple[Leaf, ...]:
        return tuple(c for c in self.columns if any(n.id == group_id for n in c.path))


# --------------------------------------------------------------------------------------------
# cells, fields, sections, unit types


@dataclass(frozen=True)
class Cell:
    """A numeric table cell, addressed by its stable key (e.g. ``s3.new.natural``)."""

    key: str
    table: str
    section: str
    row: Leaf
    col: Leaf
    type: ValueType
    derived: bool
    # the derivation used for the cell's own formula: the keys it sums (row-wise if the column is
    # derived, otherwise column-wise)
    sum_of: tuple[str, ...] = ()

    @property
    def row_label(self) -> str:
        return self.row.label or ""

    @property
    def col_label(self) -> str:
        return self.col.label or ""

    @property
    def col_group(self) -> str:
        """Label of the column's parent group (section 四: 行政复议 / 未经复议直接起诉 / 复议后起诉)."""
        labels = self.col.labels
        return labels[-2] if len(labels) >= 2 else (labels[-1] if labels else "")

    @property
    def label(self) -> str:
        """A human label: “（一）予以公开·自然人”, “行政复议·结果维持”, “行政许可·本年处理决定数量”."""
        parts = []
        if self.row.label:
            parts.append(self.row.label)
        if len(self.col.labels) >= 2 and not self.row.label:
            parts.append(self.col_group)
        if self.col.label:
            parts.append(self.col.label)
        return "·".join(parts)


@dataclass(frozen=True)
class Field:
    """A non-table input: narrative text, section-六 numbers, or unit metadata."""

    key: str
    label: str
    type: ValueType
    section: str  # "meta" for unit metadata
    required: bool = False
    when: str | None = None  # condition on the unit, e.g. "unit.government"
    guide: str = ""
    aspect: str | None = None
    prefilled: bool = False


@dataclass(frozen=True)
class Section:
    n: int
    id: str
    title: str
    sheet: str
    kind: str  # text | tables
    guide: str
    tables: tuple[Table, ...] = ()
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class UnitType:
    name: str
    aliases: tuple[str, ...]
    government: bool
    guizhang: bool
    fee_warn_wan: float

    def attr(self, name: str) -> Any:
        if name == "type":
            return self.name
        if not hasattr(self, name) or name == "aliases":
            raise KeyError(name)
        return getattr(self, name)


@dataclass(frozen=True)
class RuleDef:
    """A rule as declared in the form data (before expansion into instances)."""

    id: str
    severity: str  # error | warning | info
    title: str
    message: str
    fix: str
    label: str = ""  # short caption shown beside a check cell in the workbook
    table: str | None = None
    expr: str | None = None
    foreach: Mapping[str, Any] | None = None
    derived: Mapping[str, str] | None = None
    when: str | None = None
    place: str = "panel"  # right | below | panel: where the generator puts the check cell
    needs_previous: bool = False
    previous_same_format: bool = False


_NUMBERING = re.compile(r"^[一二三四五六七八九十]+、")
_CARRY = re.compile(r"([\w.]+)\.\{(\w+)\}\s*==\s*prev:([\w.]+)\.\{(\w+)\}")


# --------------------------------------------------------------------------------------------
# the form


@dataclass(frozen=True, eq=False)
class Form:
    id: str
    name: str
    template_version: str
    report_years: tuple[int, int]
    document_number: str
    document_title: str
    types: Mapping[str, ValueType]
    sections: tuple[Section, ...]
    meta_fields: tuple[Field, ...]
    unit_types: tuple[UnitType, ...]
    rule_defs: tuple[RuleDef, ...]
    previous_formats: Mapping[str, Mapping[str, list[str]]]
    source: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- lookups -------------------------------------------------------------------------

    @cached_property
    def tables(self) -> dict[str, Table]:
        return {t.id: t for s in self.sections for t in s.tables}

    @cached_property
    def cells(self) -> dict[str, Cell]:
        """All numeric table cells by key, in table order (row by row)."""
        out: dict[str, Cell] = {}
        for t in self.tables.values():
            for r in t.rows:
                for c in t.columns:
                    key = t.key(r, c)
                    vt = self.types[c.type or t.type]
                    if c.derived:
                        sum_of = tuple(_compose(t.prefix, r.key, s) for s in c.siblings)
                    elif r.derived:
                        sum_of = tuple(_compose(t.prefix, s, c.key) for s in r.siblings)
                    else:
                        sum_of = ()
                    if key in out:
                        raise FormError(f"表格 {t.id} 的单元格键 {key} 重复")
                    out[key] = Cell(key, t.id, t.section, r, c, vt, bool(sum_of), sum_of)
        return out

    @cached_property
    def fields(self) -> dict[str, Field]:
        """Narrative and other non-table fields (sections 一、五、六) and unit metadata."""
        out = {f.key: f for f in self.meta_fields}
        for s in self.sections:
            for f in s.fields:
                out[f.key] = f
        return out

    @cached_property
    def entry_keys(self) -> tuple[str, ...]:
        """Keys of all entry cells of the tables (not derived)."""
        return tuple(k for k, c in self.cells.items() if not c.derived)

    @cached_property
    def derived_keys(self) -> tuple[str, ...]:
        return tuple(k for k, c in self.cells.items() if c.derived)

    @cached_property
    def section_titles(self) -> dict[str, str]:
        """{section id: title} in the form's order (“s1” → “一、总体情况”)."""
        return {s.id: s.title for s in self.sections}

    @cached_property
    def part_names(self) -> str:
        """The parts as a sentence lists them: numbering dropped, a “、” inside a title read as “和”
        (总体情况、…、政府信息公开行政复议和行政诉讼情况、…)."""
        return "、".join(_NUMBERING.sub("", s.title).replace("、", "和") for s in self.sections)

    def rule_def(self, rule_id: str) -> RuleDef | None:
        return next((r for r in self.rule_defs if r.id == rule_id), None)

    @cached_property
    def carry_over(self) -> tuple[tuple[str, str], ...]:
        """(this year's row, last year's row) pairs the form's carry-over rules declare: a rule on
        the previous report whose expression is ``ROW.{c} == prev:ROW.{c}`` (W-XY-CARRY:
        上年结转 = 上年度报告的结转下年度继续办理)."""
        out = []
        for r in self.rule_defs:
            m = _CARRY.fullmatch((r.expr or "").strip()) if r.needs_previous else None
            if m and m.group(2) == m.group(4):
                out.append((m.group(1), m.group(3)))
        return tuple(out)

    @property
    def publication(self) -> Mapping[str, Any]:
        """When and by which law a report is published: ``deadline`` [month, day] of the next year,
        ``deadline_by_unit_type`` {unit type: [month, day]}, ``basis`` (the article of the 条例).
        A form file that declares none (a standalone custom form) has the current built-in form's."""
        return self.raw.get("publication") or publication_facts()

    def publication_deadline(self, unit_type: str | None) -> tuple[int, int]:
        """(month, day) of the year after the report year by which ``unit_type`` publishes its report."""
        p = self.publication
        m, d = p.get("deadline_by_unit_type", {}).get(unit_type or "", p["deadline"])
        return int(m), int(d)

    def section(self, sid: str) -> Section:
        for s in self.sections:
            if s.id == sid:
                return s
        raise KeyError(sid)

    def section_entry_keys(self, sid: str) -> tuple[str, ...]:
        return tuple(k for k in self.entry_keys if self.cells[k].section == sid)

    def unit_type(self, name: str | None) -> UnitType | None:
        if not name:
            return None
        n = name.strip()
        for u in self.unit_types:
            if n == u.name or n in u.aliases:
                return u
        return None

    def value_type(self, key: str) -> ValueType:
        if key in self.cells:
            return self.cells[key].type
        return self.fields[key].type

    def label(self, key: str) -> str:
        if key in self.cells:
            return self.cells[key].label
        if key in self.fields:
            return self.fields[key].label
        return key

    def segment_label(self, segment: str, table: str | None = None) -> str:
        """Label of a row/column key segment (“natural” → “自然人”), preferring ``table``."""
        tables = list(self.tables.values())
        if table and table in self.tables:
            t0 = self.tables[table]
            tables = (
                [t0]
                + [t for t in tables if t.section == t0.section and t is not t0]
                + [t for t in tables if t.section != t0.section]
            )
        for t in tables:
            for leaf in t.rows + t.columns:
                if leaf.key == segment:
                    return leaf.label or segment
        return segment

    def key_set(self, ref: str) -> tuple[str, ...]:
        """Resolve a set reference: ``@s3.cols``, ``@s3.rows``, ``@s3.rows.entry``, ``@s3.rows.results``."""
        if not ref.startswith("@"):
            raise FormError(f"集合引用必须以 @ 开头：{ref}")
        parts = ref[1:].split(".")
        if len(parts) < 2 or parts[0] not in self.tables or parts[1] not in ("rows", "cols"):
            raise FormError(f"无法识别的集合引用：{ref}")
        t = self.tables[parts[0]]
        leaves = t.rows if parts[1] == "rows" else t.columns
        for p in parts[2:]:
            if p == "entry":
                leaves = tuple(x for x in leaves if not x.derived)
            else:
                leaves = tuple(x for x in leaves if any(n.id == p for n in x.path))
        return tuple(x.key for x in leaves)

    @cached_property
    def rules(self):  # -> tuple[RuleInstance, ...]
        from gkxlsx.rules.engine import expand_rules

        return expand_rules(self)

    def comparable_with(self, other_format: str, key: str) -> bool:
        """Can ``key`` of a report in ``other_format`` be compared with this form's ``key``?"""
        if other_format == self.id:
            return True
        spec = self.previous_formats.get(other_format)
        if not spec:
            return False
        if any(key.startswith(p) for p in spec.get("not_comparable", [])):
            return False
        return any(key.startswith(p) for p in spec.get("comparable", []))


# --------------------------------------------------------------------------------------------
# loading


def builtin_form_ids() -> list[str]:
    """Ids of the built-in form definitions: the JSON files of ``gkxlsx/data/forms`` named by a year."""
    return sorted(p.stem for p in FORMS_DIR.glob("*.json") if p.stem.isdigit())


_CACHE: dict[str, Form] = {}


def load_form(ref: str | Path = "2021") -> Form:
    """Load a built-in form by id (``"2021"``, ``"2019"``) or a variant from a JSON file path."""
    key = str(ref)
    if key in _CACHE:
        return _CACHE[key]
    raw, source = _load_raw(ref)
    form = build_form(raw, source)
    _CACHE[key] = form
    return form


def form_for_year(year: int) -> Form:
    """The built-in form a report on ``year`` must use (2019/2020 → 2019 format, else 2021)."""
    for fid in builtin_form_ids():
        f = load_form(fid)
        lo, hi = f.report_years
        if lo <= year <= hi:
            return f
    raise FormError(f"没有适用于 {year} 年度报告的格式。{_year_range_text()}")


def report_year_range() -> tuple[int, int]:
    """The report years a new collection may be for: from the first year of the oldest built-in
    format (its ``report_years``) to next year in China time, or the newest format's last year if
    that is sooner.  A year outside is a typing error (2052 for 2025), never a real report."""
    from gkxlsx.clock import china_now

    spans = [load_form(fid).report_years for fid in builtin_form_ids()]
    return min(lo for lo, _ in spans), min(max(hi for _, hi in spans), china_now().year + 1)


def _year_range_text() -> str:
    lo, hi = report_year_range()
    parts = []
    for fid in builtin_form_ids():
        a, b = load_form(fid).report_years
        if a <= hi:
            parts.append(f"{a}—{min(b, hi)} 年度用 {fid} 格式")
    return f"可用的报告年度为 {lo}—{hi} 年度（{'，'.join(parts)}）。"


def check_report_year(year: int) -> None:
    """Raise FormError (Chinese, with the valid range) for a report year outside :func:`report_year_range`."""
    lo, hi = report_year_range()
    if not lo <= year <= hi:
        raise FormError(f"报告年度 {year} 不在可用范围内。{_year_range_text()}请检查 --year。")


def _load_raw(ref: str | Path, _seen: tuple[str, ...] = ()) -> tuple[dict, str]:
    p = Path(ref)
    if p.suffix.lower() == ".json" or p.exists():
        path = p
    else:
        path = FORMS_DIR / f"{ref}.json"
        if not path.exists():
            raise FormError(
                f"找不到报告格式“{ref}”。可用的格式：{'、'.join(builtin_form_ids())}，或给出格式定义文件（.json）的路径。"
            )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormError(f"找不到格式定义文件：{path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormError(f"格式定义文件 {path} 不是有效的 JSON：{e}") from None
    if not isinstance(raw, dict):
        raise FormError(f"格式定义文件 {path} 的顶层必须是对象")
    base_ref = raw.get("extends")
    if base_ref:
        if str(path) in _seen:
            raise FormError(f"格式定义文件循环继承：{path}")
        bp = Path(base_ref)
        if not bp.is_absolute() and bp.suffix == ".json":
            bp = path.parent / bp
            base_ref = bp
        base, _ = _load_raw(base_ref, _seen + (str(path),))
        raw = apply_variant(base, raw, str(path))
    return raw, str(path)


def apply_variant(base: dict, patch: dict, source: str = "") -> dict:
    """Apply a variant definition (a dict with ``extends``) to the raw base form dict.

    Supported patch items (all optional):
    ``id``, ``name``, ``template_version``: replace;
    ``add_tables``: [{"section": "s2", "after": "a20_8", "table": {...}}];
    ``add_rows``: [{"table": "s3", "after": "r6_3" | "before": "...", "row": {...}}]
    (the row is inserted next to the named row, inside the same group);
    ``add_fields``: [{"section": "s6", "after": "s6.fee_collected", "field": {...}}];
    ``add_unit_types``: [...]; ``add_rules``: [...]; ``remove_rules``: ["W-T2-GUIZHANG", ...].
    """
    out = copy.deepcopy(base)
    for k in ("id", "name", "template_version", "report_years", "document"):
        if k in patch:
            out[k] = copy.deepcopy(patch[k])
    if "id" not in patch:
        raise FormError(f'格式变体 {source} 必须有自己的 id（例如 "2021-本省"）')
    secs = {s["id"]: s for s in out["sections"]}

    def where(kind: str, item: dict) -> str:
        return f"格式变体 {source} 的 {kind}（{json.dumps(item, ensure_ascii=False)[:80]}）"

    for item in patch.get("add_tables", []):
        sec = secs.get(item.get("section"))
        if sec is None or sec.get("kind") != "tables":
            raise FormError(where("add_tables", item) + "：找不到表格类部分 " + str(item.get("section")))
        tables = sec["tables"]
        idx = len(tables)
        if item.get("after"):
            ids = [t["id"] for t in tables]
            if item["after"] not in ids:
                raise FormError(where("add_tables", item) + f"：找不到表格 {item['after']}")
            idx = ids.index(item["after"]) + 1
        tables.insert(idx, copy.deepcopy(item["table"]))
    for item in patch.get("add_rows", []):
        table = next((t for s in out["sections"] for t in s.get("tables", []) if t["id"] == item.get("table")), None)
        if table is None:
            raise FormError(where("add_rows", item) + f"：找不到表格 {item.get('table')}")
        anchor = item.get("after") or item.get("before")
        if not _insert_row(table["rows"], anchor, copy.deepcopy(item["row"]), after=bool(item.get("after"))):
            raise FormError(where("add_rows", item) + f"：表格 {table['id']} 中找不到行 {anchor}")
    for item in patch.get("add_fields", []):
        sec = secs.get(item.get("section"))
        if sec is None:
            raise FormError(where("add_fields", item) + f"：找不到部分 {item.get('section')}")
        fields = sec.setdefault("fields", [])
        idx = len(fields)
        if item.get("after"):
            keys = [f["key"] for f in fields]
            if item["after"] not in keys:
                raise FormError(where("add_fields", item) + f"：找不到字段 {item['after']}")
            idx = keys.index(item["after"]) + 1
        fields.insert(idx, copy.deepcopy(item["field"]))
    out["unit_types"] = out.get("unit_types", []) + copy.deepcopy(patch.get("add_unit_types", []))
    remove = set(patch.get("remove_rules", []))
    out["rules"] = [r for r in out.get("rules", []) if r["id"] not in remove] + copy.deepcopy(
        patch.get("add_rules", [])
    )
    out.pop("extends", None)
    return out


def _insert_row(rows: list, anchor: str | None, row: dict, after: bool) -> bool:
    for i, r in enumerate(rows):
        if r.get("key") == anchor:
            rows.insert(i + 1 if after else i, row)
            return True
        if r.get("children") and _insert_row(r["children"], anchor, row, after):
            return True
    return False


def _node(d: Mapping[str, Any], where: str) -> HeaderNode:
    if not isinstance(d, Mapping):
        raise FormError(f"{where}：表头项必须是对象")
    children = tuple(_node(c, where) for c in d.get("children", []))
    derived = d.get("derived")
    if derived not in (None, "sum"):
        raise FormError(f'{where}：derived 只能是 "sum"')
    return HeaderNode(
        label=d.get("label"),
        key=d.get("key"),
        id=d.get("id"),
        span=int(d.get("span", 1)),
        type=d.get("type"),
        derived=derived,
        children=children,
    )


def build_form(raw: Mapping[str, Any], source: str = "") -> Form:
    where = f"格式定义 {source or raw.get('id', '?')}"
    try:
        types = {}
        for name, t in raw["types"].items():
            types[name] = ValueType(
                name=name,
                kind=t["kind"],
                min=t.get("min"),
                max_dp=t.get("max_dp"),
                max_len=t.get("max_len"),
                unit=t.get("unit"),
                label=t.get("label", ""),
                shown=Shown(str(t["shown"]["unit"]), str(t["shown"].get("factor", "1")), int(t["shown"].get("dp", 2)))
                if t.get("shown")
                else None,
            )

        def mk_field(f: Mapping[str, Any], section: str) -> Field:
            if f["type"] not in types:
                raise FormError(f"{where}：字段 {f['key']} 的类型 {f['type']} 未定义")
            return Field(
                key=f["key"],
                label=f["label"],
                type=types[f["type"]],
                section=section,
                required=bool(f.get("required", False)),
                when=f.get("when"),
                guide=f.get("guide", ""),
                aspect=f.get("aspect"),
                prefilled=bool(f.get("prefilled", False)),
            )

        sections = []
        for s in raw["sections"]:
            tables = []
            for t in s.get("tables", []):
                if t.get("type", "int") not in types:
                    raise FormError(f"{where}：表格 {t['id']} 的类型 {t.get('type')} 未定义")
                tables.append(
                    Table(
                        id=t["id"],
                        prefix=t.get("prefix", s["id"]),
                        section=s["id"],
                        type=t.get("type", "int"),
                        caption=t.get("caption"),
                        corner=t.get("corner"),
                        tooltip=t.get("tooltip"),
                        col_tree=tuple(_node(c, f"{where} 表格 {t['id']}") for c in t["columns"]),
                        row_tree=tuple(_node(r, f"{where} 表格 {t['id']}") for r in t["rows"]),
                    )
                )
            sections.append(
                Section(
                    n=int(s["n"]),
                    id=s["id"],
                    title=s["title"],
                    sheet=s["sheet"],
                    kind=s["kind"],
                    guide=s.get("guide", ""),
                    tables=tuple(tables),
                    fields=tuple(mk_field(f, s["id"]) for f in s.get("fields", [])),
                )
            )
        unit_types = tuple(
            UnitType(
                name=u["name"],
                aliases=tuple(u.get("aliases", [])),
                government=bool(u.get("government", False)),
                guizhang=bool(u.get("guizhang", False)),
                fee_warn_wan=float(u.get("fee_warn_wan", 10000)),
            )
            for u in raw["unit_types"]
        )
        rule_defs = tuple(
            RuleDef(
                id=r["id"],
                severity=r["severity"],
                title=r["title"],
                message=r["message"],
                label=r.get("label", r["id"]),
                fix=r.get("fix", ""),
                table=r.get("table") or (r.get("derived") or {}).get("table"),
                expr=r.get("expr"),
                foreach=r.get("foreach"),
                derived=r.get("derived"),
                when=r.get("when"),
                place=r.get("place", "panel"),
                needs_previous=bool(r.get("needs_previous", False)),
                previous_same_format=bool(r.get("previous_same_format", False)),
            )
            for r in raw.get("rules", [])
        )
        form = Form(
            id=str(raw["id"]),
            name=raw["name"],
            template_version=str(raw["template_version"]),
            report_years=tuple(raw["report_years"]),
            document_number=raw["document"]["number"],
            document_title=raw["document"]["title"],
            types=types,
            sections=tuple(sections),
            meta_fields=tuple(mk_field(f, "meta") for f in raw["meta_fields"]),
            unit_types=unit_types,
            rule_defs=rule_defs,
            previous_formats=raw.get("previous_formats", {}),
            source=source,
            raw=raw,
        )
    except KeyError as e:
        raise FormError(f"{where} 缺少必需的项：{e.args[0]}") from None
    _validate(form, where)
    return form


def _validate(form: Form, where: str) -> None:
    ids: set[str] = set()
    for r in form.rule_defs:
        if r.id in ids:
            raise FormError(f"{where}：规则编号 {r.id} 重复")
        ids.add(r.id)
        if r.severity not in SEVERITY_ZH:
            raise FormError(f"{where}：规则 {r.id} 的 severity 必须是 error、warning 或 info")
        if not (r.expr or r.derived):
            raise FormError(f"{where}：规则 {r.id} 必须有 expr 或 derived")
        if r.place not in ("right", "below", "panel"):
            raise FormError(f"{where}：规则 {r.id} 的 place 必须是 right、below 或 panel")
    try:
        _ = form.cells  # raises on duplicate keys
    except FormError as e:
        raise FormError(f"{where}：{e}") from None
    seen = set(form.cells)
    for f in (*form.meta_fields, *(f for s in form.sections for f in s.fields)):
        if f.key in seen:
            raise FormError(f"{where}：键 {f.key} 重复")
        seen.add(f.key)
    # every ``when`` condition is one the rules' evaluator can decide for every unit type
    for what, when in (
        *((f"字段 {f.key}", f.when) for f in form.fields.values()),
        *((f"规则 {r.id}", r.when) for r in form.rule_defs),
    ):
        if when:
            try:
                for u in form.unit_types:
                    if when_holds(when, u) is None:
                        raise RuleError(f"单位类型没有条件中的属性：{when}")
            except RuleError as e:
                raise FormError(f"{where}：{what} 的适用条件（when）有误：{e}") from None
    # expanding the rules validates every expression and key reference
    try:
        _ = form.rules
    except RuleError as e:
        raise FormError(f"{where}：{e}") from None
