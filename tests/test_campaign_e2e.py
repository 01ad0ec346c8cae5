"""End to end: a 40-unit campaign whose returns are typed into the generated workbooks through
LibreOffice (the real client), saved, imported (some twice), corrected, accepted and rolled up."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gkxlsx.campaign.campaign import aggregate, generate_for_campaign, import_files, init_campaign
from gkxlsx.demo.samples import sample_values
from gkxlsx.form.cells import a1
from gkxlsx.form.layout import layout
from gkxlsx.office import lo
from gkxlsx.rules.engine import compute_derived

pytestmark = pytest.mark.lo

TYPES = ["乡镇"] * 16 + ["街道"] * 6 + ["县级部门"] * 17 + ["县级政府"]


def _roster(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["单位代码", "单位名称", "单位类型", "上级单位", "联系人", "邮箱"])
        for i, t in enumerate(TYPES):
            parent = "测试县人民政府" if t != "县级政府" else "测试市人民政府"
            w.writerow(
                [
                    f"U{i:03d}",
                    f"测试县第{i}{'镇人民政府' if t == '乡镇' else '街道办事处' if t == '街道' else '局' if t == '县级部门' else '人民政府'}",
                    t,
                    parent,
                    "张三",
                    f"u{i}@example.cn",
                ]
            )
    return path


def _edits(form, values, keys) -> list[tuple[str, str, str]]:
    lay = layout(form)
    out = []
    for k in keys:
        v = values.get(k)
        if v is None:
            continue
        s, r, c = lay.where[k]
        out.append((s, a1(r, c), str(v)))
    return out


def test_forty_unit_campaign_through_libreoffice(tmp_path):
    lo.require_or_skip()
    camp = init_campaign(
        tmp_path / "c",
        year=2025,
        roster=_roster(tmp_path / "r.csv"),
        office="测试县政务公开办",
        deadline=date(2026, 1, 20),
    )
    files = {f.unit.code: f.path for f in generate_for_campaign(camp)}
    assert len(files) == 40
    form = camp.form
    typed_keys = list(form.entry_keys) + [
        k for k, f in form.fields.items() if not f.prefilled and (f.required or k.startswith("s1."))
    ]
    expected: dict[str, dict] = {}
    plan = {}
    for i, u in enumerate(camp.units()):
        v = sample_values(form, u.name, u.type, 2025, seed=i)
        kind = "clean"
        if i in (3, 11, 19, 27):
            kind = "unbalanced"
        elif i in (5, 23):
            kind = "slash"
        elif i == 8:
            kind = "warning"
        elif i in (35, 36, 37):
            kind = "missing"
        plan[u.code] = kind
        expected[u.code] = dict(v)
        bad = dict(v)
        if kind == "unbalanced":
            bad["s3.r1_open.natural"] = v["s3.r1_open.natural"] + 2
        elif kind == "slash":
            bad["s2.regulation.issued"] = "/"
        elif kind == "warning":
            bad["s2.regulation.issued"] = 1
            bad["s2.regulation.in_force"] = v["s2.regulation.in_force"] + 1
            expected[u.code] = dict(bad)
        plan[u.code] = (kind, bad)
    out_dir = tmp_path / "returns"
    out_dir.mkdir()
    fixes = {}
    with lo.LibreOffice() as office:
        for code, (kind, bad) in plan.items():
            if kind == "missing":
                continue
            dst = out_dir / files[code].name
            res = office.fill(files[code], dst, _edits(form, bad, typed_keys))
            assert all(r["ok"] for r in res if r["text"] != "/"), [r for r in res if not r["ok"]][:3]
            if kind in ("unbalanced", "slash"):
                fixed = out_dir / ("修改后_" + files[code].name)
                office.fill(files[code], fixed, _edits(form, expected[code], typed_keys))
                fixes[code] = fixed
    late = {"U030", "U031"}
    for p in sorted(out_dir.glob("U*.xlsx")):
        code = p.name[:4]
        r = import_files(camp, [p], received_at="2026-01-25T10:00:00" if code in late else "2026-01-15T10:00:00")
        assert r[0].kind == "new", (p.name, r[0].message)
    # importing the same saved files again changes nothing
    again = import_files(camp, sorted(out_dir.glob("U*.xlsx")))
    assert {r.kind for r in again} == {"duplicate"}
    s = camp.status()
    assert (s.total, s.returned, s.late) == (40, 37, 2)
    assert s.count("有错误") == 6
    assert s.count("有警告") == 1
    assert s.count("通过") == 30
    # the unbalanced returns point at the right column and rule
    cur = camp.ledger.current("U003")
    bal = [f for f in cur.findings if f["rule"] == "E-T3-BAL"]
    assert bal and bal[0]["locations"][0].startswith("三、依申请公开!D")
    slash = camp.ledger.current("U005")
    assert any(f["rule"] == "E-CELL-TEXT" and f["locations"] == ["二、主动公开!B3"] for f in slash.findings)
    # corrections come back and become current; the first version stays
    for code, p in fixes.items():
        r = import_files(camp, [p], received_at="2026-01-18T10:00:00")
        assert r[0].kind == "new" and r[0].version == 2 and r[0].status == "通过", (code, r[0].findings[:2])
    camp.ledger.accept("U008", "经核实，该街道转发上级规章，已说明。")
    s = camp.status()
    assert s.count("通过", "已确认") == 37 and s.count("有错误") == 0
    [agg] = aggregate(camp)
    assert len(agg.included) == 37 and {u.code for u, _ in agg.missing} == {"U035", "U036", "U037"}
    for key in (
        "s3.new.natural",
        "s3.carried_out.total",
        "s2.normative_doc.issued",
        "s4.review.total",
        "s2.admin_fee.amount_wan",
    ):
        want = sum(
            (compute_derived(form, expected[c]).get(key, expected[c].get(key)) or 0)
            for c in expected
            if plan[c][0] != "missing"
        )
        got = agg.report.values[key]
        assert Decimal(str(got)) == Decimal(str(want)), key
    assert [f for f in agg.findings if f.severity == "error"] == []
    assert "40 个单位中 37 个单位" in agg.completeness["statement"]
    assert camp.ledger.integrity() == []
    camp.close()
