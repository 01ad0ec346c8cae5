"""A campaign's roll-up as its office's own return to the level above (``gkxlsx aggregate --as-return``).

The county office is a unit in the city's roster.  Its return is the workbook the city generates
for it — the same form, identity and structure fingerprint — with the sum of the county's accepted
returns in the entry cells, the office's own text (:mod:`gkxlsx.campaign.narrative`) in the text
cells, and the breakdown and the units left out on two more sheets (:mod:`gkxlsx.form.rollup`).
The city imports it like any return; its checker re-checks every rule and the roll-up itself.

Who the office is in the city's roster comes from, in order: the blank workbook the city sent
(``--template``: its identity is taken as it is), the command line (``--unit`` …), or the
``[return]`` table of campaign.toml (``code``, ``name``, ``type``, ``parent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gkxlsx.campaign.campaign import Aggregate, Campaign, CampaignError, aggregate
from gkxlsx.campaign.narrative import narrative_values
from gkxlsx.form.identity import workbook_filename
from gkxlsx.form.rollup import ChildRow, Excluded, summed_keys
from gkxlsx.form.roster import Unit, column_name

RETURN_TABLE = "return"  # campaign.toml: who the office is in the roster of the level above


def return_unit(
    camp: Campaign,
    *,
    code: str | None = None,
    name: str | None = None,
    unit_type: str | None = None,
    parent: str | None = None,
    template: Path | None = None,
) -> Unit:
    """The office as a unit of the level above (see the module's docstring)."""
    if template is not None:
        return _unit_from_template(camp, Path(template))
    cfg = camp.config.get(RETURN_TABLE, {}) or {}
    code = (code or str(cfg.get("code") or "")).strip()
    name = (name or str(cfg.get("name") or "")).strip()
    unit_type = (unit_type or str(cfg.get("type") or "")).strip()
    parent = (parent or str(cfg.get("parent") or "")).strip()
    if not code or not name:
        lack = "、".join(w for w, v in ((column_name("code"), code), (column_name("name"), name)) if not v)
        raise CampaignError(
            f"生成报送上级的汇总工作簿需要本单位在上级名单中的{lack}。请用 --template 上级下发的工作簿.xlsx，"
            f"或 --unit 代码 --unit-name 名称 [--unit-type 类型]，或在 campaign.toml 的 [{RETURN_TABLE}] 中填写 code、name、type。"
        )
    if unit_type and camp.form.unit_type(unit_type) is None:
        names = "、".join(t.name for t in camp.form.unit_types)
        raise CampaignError(f"{column_name('type')}“{unit_type}”不是本格式的单位类型（可用：{names}）。")
    ut = camp.form.unit_type(unit_type) if unit_type else None
    return Unit(code=code, name=name, type=ut.name if ut else "", parent=parent)


def _unit_from_template(camp: Campaign, path: Path) -> Unit:
    from gkxlsx.check.checker import check_file

    if not path.is_file():
        raise CampaignError(f"找不到上级下发的工作簿 {path}。")
    res = check_file(path)
    ident = res.identity
    if ident is None or res.form_id is None:
        why = res.findings[0].message if res.findings else ""
        raise CampaignError(f"{path.name} 不是 gkxlsx 生成的填报工作簿，无法从中读出本单位在上级名单中的信息。{why}")
    if res.form_id != camp.form.id or ident.year != camp.year:
        raise CampaignError(
            f"{path.name} 是 {ident.year} 年度、{res.form_id} 格式的工作簿，本收集任务是 {camp.year} 年度、{camp.form.id} 格式。"
        )
    parent = (res.values or {}).get("meta.parent") or ""
    return Unit(code=ident.unit_code, name=ident.unit_name, type=ident.unit_type, parent=str(parent))


@dataclass
class RollupReturn:
    unit: Unit
    path: Path
    aggregate: Aggregate
    children: list[ChildRow]
    excluded: list[Excluded]
    narrative: Mapping[str, Any]


def rollup_parts(camp: Campaign, agg: Aggregate) -> tuple[list[ChildRow], list[Excluded]]:
    """The breakdown rows (included units, roster order, their accepted figures) and the units left out."""
    keys = summed_keys(camp.form)
    children = []
    for u in agg.included:
        sub = camp.ledger.current(u.code)
        vals = sub.values if sub is not None else {}
        children.append(ChildRow(u.code, u.name, u.type, sub.status if sub else "", {k: vals.get(k) for k in keys}))
    excluded = [Excluded(u.code, u.name, u.type, why) for u, why in agg.missing]
    return children, excluded


def return_values(camp: Campaign, agg: Aggregate, narrative: Mapping[str, Any]) -> dict[str, Any]:
    """What goes into the entry cells: the summed keys, and the office's text."""
    vals = {k: agg.report.values.get(k) for k in summed_keys(camp.form)}
    vals.update({k: v for k, v in narrative.items() if k in camp.form.fields})
    return vals


def write_return(camp: Campaign, out_dir: Path, unit: Unit) -> RollupReturn:
    """Write the office's roll-up return into ``out_dir`` under the name the level above's
    workbook for it has; raises CampaignError (and NarrativeError for an unreadable text file)."""
    from gkxlsx.fsutil import write_bytes
    from gkxlsx.workbook.rollup import build_rollup_workbook

    [agg] = aggregate(camp)
    narrative = narrative_values(camp.root, camp.form)
    children, excluded = rollup_parts(camp, agg)
    data, _fp = build_rollup_workbook(
        camp.form,
        unit,
        camp.year,
        values=return_values(camp, agg, narrative),
        children=children,
        excluded=excluded,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_bytes(out_dir / workbook_filename(unit, camp.year), data)
    return RollupReturn(unit, path, agg, children, excluded, narrative)


def drill_down(camp: Campaign, code: str) -> dict[str, Any] | None:
    """What a unit's current return sums when it is a roll-up (checked on import): ``included``,
    ``expected``, ``children`` (code, name, type, status, values) and ``excluded`` (code, name, type,
    reason); None for an ordinary return or none."""
    from gkxlsx.form.rollup import VALUES_KEY

    vals = camp.ledger.current_values(code)
    got = (vals or {}).get(VALUES_KEY)
    return got if isinstance(got, dict) else None
