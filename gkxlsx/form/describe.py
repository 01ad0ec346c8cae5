"""A form described for people and for other tools: the Chinese outline and the JSON export.

* :func:`describe_form` — the readable Chinese outline printed by ``gkxlsx forms show``;
* :func:`export_form` — the stable JSON dump of ``gkxlsx forms export`` (schema ``gkxlsx.form/1``
  documented below).

JSON schema ``gkxlsx.form/1`` (keys are stable; new keys may be added, none removed or renamed):

``schema``, ``format`` (id), ``name``, ``version`` (template version), ``report_years`` [from, to],
``document`` {number, title}, ``source`` (definition file), ``counts`` {entry_cells, derived_cells,
fields, rules, rule_instances, per_section: {s2: {entry, derived}, …}},
``types`` {name: {kind, min, max_dp, max_len, unit, label}},
``sections`` [{n, id, title, sheet, kind, guide, tables: [table ids], fields: [field keys]}],
``tables`` [{id, section, sheet, prefix, caption, corner, tooltip, type, header_depth, label_depth,
range, columns: [leaf], rows: [leaf], column_tree: [node], row_tree: [node], cells: [cell]}] where
leaf = {key, label, labels (header path), derived, sum_of (leaf keys), type, span}, node = {key, id,
label, derived, span, type, children: [node]}, cell = {key, row, col, label, row_label, col_label,
col_group, type, kind, derived, sum_of, address};
``fields`` [{key, label, section, type, kind, required, when, aspect, prefilled, guide, address}];
``entry_keys`` / ``derived_keys`` [keys in table order];
``unit_types`` [{name, aliases, government, guizhang, fee_warn_wan}];
``rules`` [{id, severity, severity_zh, label, title, message, fix, table, place, expr, foreach,
derived, when, needs_previous, previous_same_format, instances: [{id, title, expr, keys, prev_keys,
unit_attrs, target, focus_keys, check_cell}]}].
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from gkxlsx.findings import SEVERITY_ZH, fmt_num
from gkxlsx.form.cells import a1
from gkxlsx.form.model import Form, HeaderNode, Table
from gkxlsx.rules.text import rule_text, when_zh

SCHEMA = "gkxlsx.form/1"

# --------------------------------------------------------------------------------------------
# helpers


def display_width(s: str) -> int:
    """Terminal width of a string (CJK and full-width characters count 2)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def pad(s: str, n: int) -> str:
    """``s`` padded with spaces to ``n`` terminal columns (at least one space)."""
    return s + " " * max(1, n - display_width(s))


WIDTH = 96  # target terminal width of ``forms show``


_NO_LINE_START = set("，。、；：）〕」』”！？》")


def _wrap(text: str, indent: str, hang: str | None = None, width: int = WIDTH) -> list[str]:
    """Wrap mixed Chinese/ASCII text to ``width`` columns; ASCII words are not split."""
    hang = indent if hang is None else hang
    tokens = re.findall(r"[!-~]+ ?| |.", text)
    lines: list[str] = []
    cur, cur_w = indent, display_width(indent)
    for tok in tokens:
        tw = display_width(tok.rstrip())
        if cur_w + tw > width and cur.strip() and tok not in _NO_LINE_START:
            lines.append(cur.rstrip())
            cur, cur_w = hang, display_width(hang)
            if tok == " ":
                continue
        cur += tok
        cur_w += display_width(tok)
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def years_text(form: Form) -> str:
    """The report years a form applies to: “2021年度起”, “2020年度”, “2019—2020年度”."""
    lo, hi = form.report_years
    if hi >= 2090:
        return f"{lo}年度起"
    if lo == hi:
        return f"{lo}年度"
    return f"{lo}—{hi}年度"


def _template_text(s: str) -> str:
    """A title template with its placeholders shown as “…”."""
    return re.sub(r"\{[a-z_0-9]+\}", "…", s)


def _layout(form: Form):
    from gkxlsx.form.layout import layout

    return layout(form)


def _table_cells(form: Form, t: Table) -> list:
    return [c for c in form.cells.values() if c.table == t.id]


def _table_range(form: Form, t: Table) -> tuple[str, str] | None:
    """(sheet, "A1:J28") of the official grid of a table in the generated workbook."""
    try:
        lay = _layout(form)
    except Exception:  # a layout problem must not hide the definition itself
        return None
    sheet = form.section(t.section).sheet
    boxes = [b for s in lay.sheets if s.name == sheet for b in s.boxes]
    cells = _table_cells(form, t)
    if not cells:
        return None
    rows = [lay.where[c.key][1] for c in cells]
    cols = [lay.where[c.key][2] + max(1, c.col.span) - 1 for c in cells]
    top = min(rows)
    # header, caption and corner boxes above the data belong to the table too
    hdr_roles = ("caption", "header", "corner")
    above = [b.row for b in boxes if b.role in hdr_roles and b.row <= top]
    # only the boxes of this table: walk upwards while rows are contiguous header rows
    first = top
    while first - 1 in above:
        first -= 1
    return sheet, f"{a1(first, 0)}:{a1(max(rows), max(cols))}"


# --------------------------------------------------------------------------------------------
# show


def describe_form(form: Form) -> str:
    """The readable Chinese outline printed by ``gkxlsx forms show``."""
    out: list[str] = []
    w = out.append
    n_entry, n_derived = len(form.entry_keys), len(form.derived_keys)
    w(form.name)
    w(f"格式编号：{form.id}　　模板版本：{form.template_version}　　适用：{years_text(form)}的报告")
    out.extend(_wrap(f"依据文件：{form.document_number}《{form.document_title}》", "", "          "))
    if form.source:
        w(f"定义文件：{form.source}")
    out.extend(
        _wrap(
            f"规模：填报单元格 {n_entry} 个，公式（合计）单元格 {n_derived} 个，"
            f"文字及其他字段 {sum(1 for f in form.fields.values() if f.section != 'meta')} 个，"
            f"校验规则 {len(form.rule_defs)} 条（{len(form.rules)} 个校验项）",
            "",
            "      ",
        )
    )
    w("")
    w("图例：〔合计·公式〕由公式自动计算，不填写；键是数据的固定编号（模板、导入、汇总都用它）。")
    for s in form.sections:
        w("")
        w("=" * 78)
        kind = "表格" if s.kind == "tables" else "文字"
        if s.kind == "tables":
            ne = len(form.section_entry_keys(s.id))
            nd = sum(1 for k in form.derived_keys if form.cells[k].section == s.id)
            size = f"填报 {ne} 个" + (f"，公式 {nd} 个" if nd else "")
            w(f"{s.title}　〔{kind}，工作表“{s.sheet}”，{size}〕")
        else:
            w(f"{s.title}　〔{kind}，工作表“{s.sheet}”〕")
        if s.guide:
            out.extend(_wrap(f"填报说明：{s.guide}", "  ", "            "))
        for t in s.tables:
            out.extend(_describe_table(form, t))
        if s.fields:
            w("")
            out.extend(_describe_fields(form, s.fields, indent="  "))
    # unit metadata
    w("")
    w("=" * 78)
    w("基本信息（工作表“基本信息”）")
    out.extend(_describe_fields(form, form.meta_fields, indent="  "))
    # unit types
    w("")
    w("=" * 78)
    w(f"单位类型（{len(form.unit_types)} 种；决定哪些校验适用）")
    nw = max((display_width(u.name) for u in form.unit_types), default=4) + 2
    for u in form.unit_types:
        flags = [
            "人民政府" if u.government else "非政府",
            "可制定规章" if u.guizhang else "无规章制定权",
            f"收费金额预警 {fmt_num(u.fee_warn_wan)} 万元",
        ]
        line = f"  {pad(u.name, nw)}" + "，".join(flags)
        if u.aliases:
            line += f"；也写作：{'、'.join(u.aliases)}"
        out.extend(_wrap(line, "", " " * (2 + nw)))
    # rules
    w("")
    w("=" * 78)
    w(f"校验规则（{len(form.rule_defs)} 条，展开为 {len(form.rules)} 个校验项）")
    counts: dict[str, int] = {}
    for inst in form.rules:
        counts[inst.id] = counts.get(inst.id, 0) + 1
    on_unit = {inst.id for inst in form.rules if inst.unit_attrs}  # rules that read the unit type's attributes
    idw = max((len(r.id) for r in form.rule_defs), default=8) + 2
    for r in form.rule_defs:
        n = counts.get(r.id, 0)
        w("")
        w(f"  {r.id.ljust(idw)}{SEVERITY_ZH[r.severity]}  {n:>2} 项  {r.label}")
        ind = " " * (2 + idw)
        out.extend(_wrap(_template_text(r.title), ind))
        if r.derived:
            out.extend(_wrap(_derived_text(form, r.derived), ind))
        elif r.expr:
            out.extend(_wrap(r.expr, ind, ind + "    "))
            if r.foreach:
                for var, spec in r.foreach.items():
                    vals = form.key_set(spec) if isinstance(spec, str) else [str(x) for x in spec]
                    out.extend(_wrap(f"{{{var}}} 依次取：{'、'.join(vals)}", ind, ind + "    "))
        conds = []
        if r.when:
            conds.append(f"适用于：{when_zh(r.when)}")
        if r.needs_previous:
            conds.append("需要上年度报告数据" + ("（同一格式）" if r.previous_same_format else ""))
        if r.id in on_unit and not r.when:
            conds.append("需要单位类型")
        if conds:
            w(f"{ind}" + "；".join(conds))
    return "\n".join(out) + "\n"


def _all_nodes(nodes: Iterable[HeaderNode]) -> Iterable[HeaderNode]:
    for n in nodes:
        yield n
        yield from _all_nodes(n.children)


def _derived_text(form: Form, spec) -> str:
    """“表 s3：「总计」列＝同一行各组成项之和” for a derived rule."""
    tid, axis = spec.get("table"), spec.get("axis")
    t = form.tables.get(tid)
    if t is None:
        return f"表 {tid} 的合计"
    if axis == "cols":
        labels = dict.fromkeys(c.label or "" for c in t.columns if c.derived)
        return f"表 {tid}：「{'」「'.join(labels)}」列＝同一行、同一组中各列之和"
    labels = dict.fromkeys(r.label or "" for r in t.rows if r.derived)
    return f"表 {tid}：「{'」「'.join(labels)}」行＝同一列中各项之和"


def _describe_fields(form: Form, fields: Iterable, indent: str) -> list[str]:
    fields = list(fields)
    if not fields:
        return []
    kw = max(len(f.key) for f in fields) + 2
    out = []
    for f in fields:
        if f.prefilled:
            mark = "预填"
        elif f.required and f.when:
            mark = "条件必填"
        elif f.required:
            mark = "必填"
        else:
            mark = "选填"
        tl = f.type.label or f.type.kind
        line = f"{indent}{f.key.ljust(kw)}{pad(mark, 10)}{f.label}　〔{tl}〕"
        if f.when:
            line += f"〔{when_zh(f.when)}〕"
        out.extend(_wrap(line, "", " " * (len(indent) + kw + 10)))
    return out


def _describe_table(form: Form, t: Table) -> list[str]:
    out: list[str] = []
    w = out.append
    cells = _table_cells(form, t)
    ne = sum(1 for c in cells if not c.derived)
    nd = len(cells) - ne
    head = f"表 {t.id}"
    if t.caption:
        head += f"　{t.caption}"
    size = f"{len(t.rows)} 行 × {len(t.columns)} 列，填报 {ne}" + (f"，公式 {nd}" if nd else "")
    w("")
    w(f"  {head}　（{size}）")
    rng = _table_range(form, t)
    if rng:
        w(f"    位置：工作表“{rng[0]}” {rng[1]}")
    if t.tooltip:
        out.extend(_wrap(f"条例内容：{t.tooltip}", "    ", "              "))
    if t.corner:
        out.extend(_wrap(f"{'表头左上角' if t.label_depth else '角注'}：{t.corner}", "    ", "              "))
    tt = form.types[t.type]
    w(f"    数值类型：{tt.label or tt.kind}")
    keyw = 2 + max([len(n.key) for n in _all_nodes(t.col_tree + t.row_tree) if n.key] + [8])

    def tree(nodes: tuple[HeaderNode, ...], depth: int) -> None:
        for n in nodes:
            key = n.key or ""
            label = n.label or "（无标题）"
            line = "      " + key.ljust(keyw) + "  " * depth + label
            marks = []
            if n.derived:
                marks.append("合计·公式")
            if n.type and n.type != t.type:
                vt = form.types.get(n.type)
                marks.append(vt.label if vt and vt.label else n.type)
            if n.span > 1:
                marks.append(f"合并 {n.span} 格")
            if marks:
                line += "　〔" + "；".join(marks) + "〕"
            w(line.rstrip())
            tree(n.children, depth + 1)

    w(f"    列（{len(t.columns)}）：")
    tree(t.col_tree, 0)
    if len(t.rows) == 1 and not t.rows[0].key and not t.rows[0].label:
        w("    行：只有一行数据，没有行标题")
    else:
        w(f"    行（{len(t.rows)}）：")
        tree(t.row_tree, 0)
    has_rows = any(r.key for r in t.rows)
    grouped = any(sum(1 for n in c.path if n.key) > 1 for c in t.columns)
    pattern = t.prefix + (".〈行〉" if has_rows else "") + (".〈组〉" if grouped else "") + ".〈列〉"
    example = cells[0].key if cells else ""
    w(f"    单元格键：{pattern}，例如 {example}")
    return out


# --------------------------------------------------------------------------------------------
# export


def _type_dict(vt) -> dict[str, Any]:
    return {
        "kind": vt.kind,
        "min": vt.min,
        "max_dp": vt.max_dp,
        "max_len": vt.max_len,
        "unit": vt.unit,
        "label": vt.label,
    }


def _node_dict(n: HeaderNode) -> dict[str, Any]:
    return {
        "key": n.key,
        "id": n.id,
        "label": n.label,
        "derived": bool(n.derived),
        "span": n.span,
        "type": n.type,
        "children": [_node_dict(c) for c in n.children],
    }


def _leaf_dict(leaf, t: Table) -> dict[str, Any]:
    return {
        "key": leaf.key,
        "label": leaf.label,
        "labels": list(leaf.labels),
        "derived": leaf.derived,
        "sum_of": list(leaf.siblings),
        "type": leaf.type or t.type,
        "span": leaf.span,
    }


def export_form(form: Form) -> dict[str, Any]:
    """The stable JSON-able description of a form (schema ``gkxlsx.form/1``, see module doc)."""
    try:
        lay = _layout(form)
    except Exception:
        lay = None

    def addr(key: str) -> str | None:
        if lay is None or key not in lay.where:
            return None
        return lay.address(key)

    tables = []
    for s in form.sections:
        for t in s.tables:
            rng = _table_range(form, t)
            tables.append(
                {
                    "id": t.id,
                    "section": s.id,
                    "sheet": s.sheet,
                    "prefix": t.prefix,
                    "caption": t.caption,
                    "corner": t.corner,
                    "tooltip": t.tooltip,
                    "type": t.type,
                    "header_depth": t.header_depth,
                    "label_depth": t.label_depth,
                    "range": rng[1] if rng else None,
                    "columns": [_leaf_dict(c, t) for c in t.columns],
                    "rows": [_leaf_dict(r, t) for r in t.rows],
                    "column_tree": [_node_dict(n) for n in t.col_tree],
                    "row_tree": [_node_dict(n) for n in t.row_tree],
                    "cells": [
                        {
                            "key": c.key,
                            "row": c.row.key,
                            "col": c.col.key,
                            "label": c.label,
                            "row_label": c.row_label,
                            "col_label": c.col_label,
                            "col_group": c.col_group,
                            "type": c.type.name,
                            "kind": c.type.kind,
                            "derived": c.derived,
                            "sum_of": list(c.sum_of),
                            "address": addr(c.key),
                        }
                        for c in _table_cells(form, t)
                    ],
                }
            )
    fields = [
        {
            "key": f.key,
            "label": f.label,
            "section": f.section,
            "type": f.type.name,
            "kind": f.type.kind,
            "required": f.required,
            "when": f.when,
            "aspect": f.aspect,
            "prefilled": f.prefilled,
            "guide": f.guide,
            "address": addr(f.key),
        }
        for f in form.fields.values()
    ]
    insts: dict[str, list] = {}
    for inst in form.rules:
        check = None
        if lay is not None and inst.iid in lay.checks:
            s_, r_, c_ = lay.checks[inst.iid]
            check = f"{s_}!{a1(r_, c_)}"
        insts.setdefault(inst.id, []).append(
            {
                "id": inst.iid,
                "title": inst.title,
                "expr": rule_text(inst.expr),
                "keys": list(inst.keys),
                "prev_keys": list(inst.prev_keys),
                "unit_attrs": list(inst.unit_attrs),
                "target": inst.target,
                "focus_keys": list(inst.focus_keys),
                "check_cell": check,
            }
        )
    rules = [
        {
            "id": r.id,
            "severity": r.severity,
            "severity_zh": SEVERITY_ZH[r.severity],
            "label": r.label,
            "title": r.title,
            "message": r.message,
            "fix": r.fix,
            "table": r.table,
            "place": r.place,
            "expr": r.expr,
            "foreach": dict(r.foreach) if r.foreach else None,
            "derived": dict(r.derived) if r.derived else None,
            "when": r.when,
            "needs_previous": r.needs_previous,
            "previous_same_format": r.previous_same_format,
            "instances": insts.get(r.id, []),
        }
        for r in form.rule_defs
    ]
    per_section = {}
    for s in form.sections:
        if s.kind == "tables":
            per_section[s.id] = {
                "entry": len(form.section_entry_keys(s.id)),
                "derived": sum(1 for k in form.derived_keys if form.cells[k].section == s.id),
            }
    return {
        "schema": SCHEMA,
        "format": form.id,
        "name": form.name,
        "version": form.template_version,
        "report_years": list(form.report_years),
        "document": {"number": form.document_number, "title": form.document_title},
        "source": form.source,
        "counts": {
            "entry_cells": len(form.entry_keys),
            "derived_cells": len(form.derived_keys),
            "fields": len(form.fields),
            "rules": len(form.rule_defs),
            "rule_instances": len(form.rules),
            "per_section": per_section,
        },
        "types": {name: _type_dict(vt) for name, vt in form.types.items()},
        "sections": [
            {
                "n": s.n,
                "id": s.id,
                "title": s.title,
                "sheet": s.sheet,
                "kind": s.kind,
                "guide": s.guide,
                "tables": [t.id for t in s.tables],
                "fields": [f.key for f in s.fields],
            }
            for s in form.sections
        ],
        "tables": tables,
        "fields": fields,
        "entry_keys": list(form.entry_keys),
        "derived_keys": list(form.derived_keys),
        "unit_types": [
            {
                "name": u.name,
                "aliases": list(u.aliases),
                "government": u.government,
                "guizhang": u.guizhang,
                "fee_warn_wan": u.fee_warn_wan,
            }
            for u in form.unit_types
        ],
        "rules": rules,
    }
