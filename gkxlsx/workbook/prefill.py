"""Per-unit value files for ``--prefill`` / ``--previous``: JSON or CSV/XLSX, values by key.

JSON: ``{"SLX001": {"s3.carried_in.natural": 2, ...}, ...}`` (a top-level ``"units"`` object is also
accepted).  CSV/XLSX: one row per unit, a 单位代码 column and one column per key.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gkxlsx.form.model import Form
from gkxlsx.form.roster import RosterError, _rows_from_file


class PrefillError(ValueError):
    pass


def _coerce(form: Form, key: str, v: Any, where: str) -> Any:
    if v is None or v == "":
        return None
    vt = form.value_type(key)
    if vt.kind in ("int", "decimal"):
        try:
            d = Decimal(str(v).strip())
        except InvalidOperation:
            raise PrefillError(f"{where}：{key}（{form.label(key)}）的值“{v}”不是数字") from None
        if vt.kind == "int":
            if d != d.to_integral_value():
                raise PrefillError(f"{where}：{key}（{form.label(key)}）的值“{v}”应为整数")
            return int(d)
        return d
    return str(v)


def load_values(path: str | Path, form: Form) -> dict[str, dict[str, Any]]:
    """Read a per-unit values file; unknown keys and non-numbers are errors naming file and key."""
    p = Path(path)
    if not p.exists():
        raise PrefillError(f"找不到数据文件：{p}")
    out: dict[str, dict[str, Any]] = {}
    known = set(form.cells) | set(form.fields)
    if p.suffix.lower() == ".json":
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise PrefillError(f"数据文件 {p.name} 不是有效的 JSON：{e}") from None
        if isinstance(raw, dict) and isinstance(raw.get("units"), dict):
            raw = raw["units"]
        if not isinstance(raw, dict):
            raise PrefillError(f"数据文件 {p.name} 的格式应为 {{单位代码: {{键: 值}}}}")
        for code, vals in raw.items():
            if not isinstance(vals, dict):
                raise PrefillError(f"数据文件 {p.name} 中单位 {code} 的值应为对象")
            unit_vals = {}
            for k, v in vals.items():
                if k not in known:
                    raise PrefillError(f"数据文件 {p.name} 中单位 {code} 的键“{k}”在格式 {form.id} 中不存在")
                unit_vals[k] = _coerce(form, k, v, f"数据文件 {p.name} 单位 {code}")
            out[str(code)] = unit_vals
        return out
    try:
        rows = _rows_from_file(p)
    except RosterError as e:
        raise PrefillError(str(e)) from None
    rows = [r for r in rows if any(r)]
    if not rows:
        raise PrefillError(f"数据文件 {p.name} 是空的")
    header = rows[0]
    code_label = form.label("meta.code")
    try:
        ci = next(i for i, h in enumerate(header) if h.strip() in (code_label, "code", "unit_code"))
    except StopIteration:
        raise PrefillError(f"数据文件 {p.name} 缺少“{code_label}”列") from None
    for j, h in enumerate(header):
        if j != ci and h.strip() and h.strip() not in known:
            raise PrefillError(f"数据文件 {p.name} 第 1 行第 {j + 1} 列的键“{h}”在格式 {form.id} 中不存在")
    for n, r in enumerate(rows[1:], start=2):
        code = r[ci].strip() if ci < len(r) else ""
        if not code:
            continue
        vals = {}
        for j, h in enumerate(header):
            if j == ci or not h.strip() or j >= len(r):
                continue
            vals[h.strip()] = _coerce(form, h.strip(), r[j], f"数据文件 {p.name} 第 {n} 行")
        out[code] = vals
    return out


def carry_over(form: Form, prev_values: dict[str, Any], prev_form: Form) -> dict[str, Any]:
    """This year's cells that the form's carry-over rule (W-XY-CARRY) fills from last year's report
    (上年结转 from 结转下年度继续办理; works across the 2019→2021 change)."""
    out = {}
    for row, prev_row in form.carry_over:
        for key, cell in form.cells.items():
            if cell.derived or not key.startswith(row + "."):
                continue
            src = prev_row + "." + key[len(row) + 1 :]
            if src in prev_form.cells and form.comparable_with(prev_form.id, src) and prev_values.get(src) is not None:
                out[key] = prev_values[src]
    return out
