"""Last year's figures from already-published reports (text, HTML, Word): the cross-year baseline
of a campaign when last year's data never went through gkxlsx."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gkxlsx.campaign.campaign import Campaign


def _match_unit(camp: Campaign, name: str):
    units = camp.units()
    exact = [u for u in units if u.name == name]
    if exact:
        return exact[0]
    hits = [u for u in units if name and (u.name in name or name in u.name)]
    return hits[0] if len(hits) == 1 else None


def import_published(camp: Campaign, paths: Iterable[Path]) -> list[str]:
    """Extract each published report and store its figures as the unit's previous-year data.

    Only cells read unambiguously are stored; a cell the extractor marked missing or ambiguous is
    left out, so the cross-year check on it is 不适用 rather than wrong.  Returns Chinese lines.
    """
    from gkxlsx.published.extract import ExtractError, extract_file

    lines = []
    for p in paths:
        p = Path(p)
        try:
            ex = extract_file(p)
        except ExtractError as e:
            lines.append(f"✗ {p.name}：{e}")
            continue
        rep = ex.report
        if rep.year != camp.year - 1:
            lines.append(
                f"✗ {p.name}：这是 {rep.year} 年度的报告，本任务需要 {camp.year - 1} 年度的数据作为上年度基准。"
            )
            continue
        unit = _match_unit(camp, rep.unit_name)
        if unit is None:
            lines.append(f"✗ {p.name}：报告单位“{rep.unit_name}”无法对应到名单中的单位，请核对单位名称。")
            continue
        vals = {k: v for k, v in rep.values.items() if k in rep.form.cells and ex.status.get(k) == "read"}
        camp.ledger.set_previous(unit.code, rep.form.id, rep.year, vals, f"published:{p}")
        n_bad = sum(1 for k in rep.form.cells if ex.status.get(k) not in (None, "read"))
        extra = f"，{n_bad} 个单元格未能可靠读取，已跳过" if n_bad else ""
        lines.append(f"✓ {p.name}：{unit.name} {rep.year} 年度（格式 {rep.form.id}）已作为上年度基准{extra}。")
    return lines
