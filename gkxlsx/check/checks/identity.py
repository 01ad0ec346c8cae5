"""2. Is it a gkxlsx template at all, and whose (identity in the custom properties and the hidden
``_gkxlsx`` sheet, cross-checked) → E-NOT-TEMPLATE / E-META-1; 3. format and template version →
E-TEMPLATE-VERSION, report year → E-YEAR, unit (roster, file name) → E-UNIT / W-UNIT-NAME."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from gkxlsx.check.checks.base import STOP, UNREADABLE, FileCheck
from gkxlsx.check.result import Identity
from gkxlsx.findings import make_finding
from gkxlsx.form.identity import APP_ID
from gkxlsx.form.layout import INFO_SHEET, META_SHEET
from gkxlsx.form.model import Form, FormError, builtin_form_ids, form_for_year, load_form
from gkxlsx.form.roster import Unit

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


def check_macros(c: FileCheck) -> None:
    if c.wb.macros:
        c.add(make_finding("I-FILE-MACROS"))


# identity property → the form's meta field it stamps (messages call it by the field's label) …
_META_FIELD_OF = {
    "GKX_YEAR": "meta.year",
    "GKX_UNIT_CODE": "meta.code",
    "GKX_UNIT_NAME": "meta.name",
    "GKX_UNIT_TYPE": "meta.type",
}
# … or its own name, for the two that are no field of the form
_META_OWN_NAMES = {"GKX_FORMAT": "报告格式", "GKX_TEMPLATE_VERSION": "模板版本"}
# the sections whose sheet names make a workbook without identity look like a copy of the template
_LOOKALIKE_SECTIONS = ("s1", "s3", "s4")


def check_identity(c: FileCheck) -> str | None:
    """Who and what the workbook says it is (document properties first, the hidden sheet second)."""
    wb = c.wb
    custom, meta = wb.declared()
    c.res.timings["read"] = (time.perf_counter() - c.t0) * 1000
    is_ours = custom.get("GKX_APP") == APP_ID or meta.get("GKX_APP") == APP_ID
    if not is_ours:
        if not _template_sheets().isdisjoint(wb.sheet_names):
            what = "工作簿的工作表名称与填报模板相似，但缺少模板标识——可能是自己新建、复制或由其他软件转换的表格，无法确认是哪个单位、哪个年度的模板。"
        else:
            shown = "、".join(n for n in wb.sheet_names[:5]) + ("……" if len(wb.sheet_names) > 5 else "")
            what = f"这个工作簿不是本次下发的政府信息公开工作年度报告填报模板（工作表：{shown or '无'}）。"
        c.add(make_finding("E-NOT-TEMPLATE", what=what))
        return UNREADABLE
    src = custom if custom.get("GKX_APP") == APP_ID else meta
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
                diffs.append(f"{_meta_names(ident.format)[k]}在文档属性中为“{a}”，在隐藏的标识表中为“{b}”")
        if diffs:
            c.add(
                make_finding(
                    "E-META-1",
                    what="模板标识不一致：" + "；".join(diffs) + "。标识表可能被改动过。",
                    locations=(META_SHEET,),
                )
            )
    c.identity = c.res.identity = ident
    return None


def check_template(c: FileCheck) -> str | None:
    """The report format and template version the workbook was generated for."""
    ident = c.identity
    try:
        # only built-in format ids: a string from the file is never used as a path
        if ident.format not in _builtin_ids():
            raise FormError(ident.format)
        form = load_form(ident.format)
    except FormError:
        c.add(
            make_finding(
                "E-TEMPLATE-VERSION",
                what=f"工作簿的报告格式“{ident.format}”无法识别（可能由其他版本的工具生成）。",
                year=c.ctx.year or ident.year or "",
            )
        )
        return STOP
    if ident.template_version != form.template_version:
        c.add(
            make_finding(
                "E-TEMPLATE-VERSION",
                what=f"工作簿的模板版本为 {ident.template_version or '（空）'}，当前使用的是 {form.template_version} 版本（{form.document_number}），两者的表格结构可能不同。",
                year=c.ctx.year or ident.year or "",
                expected=form.template_version,
                actual=ident.template_version,
            )
        )
        return STOP
    c.form = form
    c.res.form_id = form.id
    return None


def check_year_unit(c: FileCheck) -> str | None:
    """The report year (valid, the one collected, one the format covers) and the unit (in the
    roster, the file name's)."""
    ok = True
    form, ident, want_year = c.form, c.identity, c.ctx.year
    year = ident.year
    lo, hi = form.report_years
    if year is None or not 1990 <= year <= 2200:
        c.add(
            make_finding(
                "E-META-1", what=f"模板标识中的报告年度{'缺失' if year is None else '“' + str(year) + '”无效'}。"
            )
        )
        ok = False
    elif want_year is not None and year != want_year:
        c.add(
            make_finding(
                "E-YEAR",
                found=year,
                expected=want_year,
                expected_value=want_year,
                actual=year,
                locations=(f"{INFO_SHEET}!B7",),
            )
        )
    elif not lo <= year <= hi:
        c.add(
            make_finding(
                "E-TEMPLATE-VERSION",
                what=f"{form.name}（{form.document_number}）适用于 {lo}—{hi} 年度的报告，工作簿的报告年度却是 {year}。",
                year=year,
            )
        )
    if want_year is not None and ok:
        try:
            want = _form_for_year(want_year)
            if want.id != form.id:
                c.add(
                    make_finding(
                        "E-TEMPLATE-VERSION",
                        what=f"工作簿使用的是 {form.document_number} 格式，{want_year} 年度的报告应使用 {want.document_number} 格式。",
                        year=want_year,
                    )
                )
        except FormError:
            pass
    # unit: roster and file name
    code = ident.unit_code
    roster = c.ctx.roster
    if not code:
        c.add(make_finding("E-META-1", what="模板标识中缺少单位代码。"))
        ok = False
    if roster is not None and code:
        u = roster.get(code)
        if u is None:
            c.add(
                make_finding(
                    "E-UNIT",
                    what=f"工作簿是 {ident.label} 的填报模板，但单位代码 {code} 不在本次收集名单中。",
                    actual=code,
                )
            )
        elif u.name != ident.unit_name:
            c.add(make_finding("W-UNIT-NAME", found=ident.unit_name, expected=u.name, code=code))
    fcode, fname = _filename_unit(c.path.name, roster)
    if fcode and code and fcode != code:
        c.add(
            make_finding(
                "E-UNIT",
                what=f"文件名表明这是 {fcode} {fname} 的文件，但工作簿内是 {ident.label} 的填报模板——可能用了其他单位的文件填写，或文件名被改过。",
                expected=fcode,
                actual=code,
                locations=(f"{INFO_SHEET}!B4",),
            )
        )
    if not ok:
        return STOP
    c.unit_type = form.unit_type(ident.unit_type)
    return None


def _filename_unit(name: str, roster: Mapping[str, Unit] | None) -> tuple[str, str]:
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


@lru_cache(maxsize=64)
def _form_for_year(year: int) -> Form:
    return form_for_year(year)


@lru_cache(maxsize=1)
def _builtin_ids() -> frozenset:
    """The built-in form ids (the forms folder is listed once, not for every file)."""
    return frozenset(builtin_form_ids())


@lru_cache(maxsize=8)
def _meta_names(format_id: str) -> dict[str, str]:
    """What messages call each identity property: the label of the meta field it stamps in the
    workbook's form (the newest built-in form when the workbook names none of them), read once."""
    ids = _builtin_ids()
    fields = load_form(format_id if format_id in ids else max(ids, key=int)).fields
    return {**_META_OWN_NAMES, **{k: fields[key].label for k, key in _META_FIELD_OF.items()}}


@lru_cache(maxsize=1)
def _template_sheets() -> frozenset[str]:
    """The sheet names of the built-in forms' :data:`_LOOKALIKE_SECTIONS` (read once)."""
    return frozenset(load_form(fid).section(sid).sheet for fid in _builtin_ids() for sid in _LOOKALIKE_SECTIONS)
