"""Which reports of a campaign may be rendered for publication, with what they are rendered from.

A unit's report is rendered from its current submission.  One that passed, or whose warnings were
accepted with a note, renders as it is; one with errors, or with warnings nobody has accepted yet,
carries its findings to the renderer, which refuses a formal report (``--draft`` marks one instead).
An aggregate report carries its own findings and completeness statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gkxlsx.campaign.campaign import Aggregate, Campaign
from gkxlsx.campaign.campaign import aggregate as do_aggregate
from gkxlsx.campaign.ledger import ACCEPTED_STATUSES
from gkxlsx.campaign.narrative import narrative_values
from gkxlsx.findings import Finding, make_finding
from gkxlsx.form.datafiles import data_file
from gkxlsx.form.report import Report

# (report, findings or None, aggregate completeness or None, label for messages)
RenderJob = tuple[Report, list[Finding] | None, Any, str]


def report_jobs(
    camp: Campaign, units: list[str], *, all_units: bool, aggregate: bool, by: str | None
) -> tuple[list[RenderJob], list[str], list[str]]:
    """(jobs, notes, refused) for the reports of ``units`` (or every unit: ``all_units``) and, with
    ``aggregate``, the roll-up (grouped ``by`` 上级单位 or 单位类型).  A unit without a submission is a
    note with ``all_units`` and a refusal when it was named.  Raises CampaignError for an unknown
    unit or a roll-up that cannot be made."""
    jobs: list[RenderJob] = []
    notes: list[str] = []
    refused: list[str] = []
    targets = camp.units() if all_units else [camp.unit(u) for u in units]
    for u in targets:
        sub = camp.ledger.current(u.code)
        if sub is None:
            (notes if all_units else refused).append(f"{u.name}（{u.code}）：尚未报送，没有可生成报告的数据。")
            continue
        rep = Report(camp.form, camp.year, u.name, u.code, u.type, dict(sub.values), source=sub.archive_path)
        if sub.status in ACCEPTED_STATUSES:
            findings: list[Finding] = []  # passed, or warnings accepted with a note
        else:
            findings = [Finding.from_dict(d) for d in sub.findings]
            if not any(f.severity == "error" for f in findings):
                # warnings that nobody has confirmed yet block a formal report too
                findings = [
                    make_finding("W-NOT-ACCEPTED", severity="error", version=sub.version, n=sub.n_warnings, code=u.code)
                ] + findings
        jobs.append((rep, findings, None, u.name))
    if aggregate:
        narrative = narrative_values(camp.root, camp.form)
        for agg in do_aggregate(camp, by):
            rep, info = aggregate_report(camp, agg, narrative, grouped=bool(by))
            jobs.append((rep, list(agg.findings), info, f"汇总：{agg.name}"))
    return jobs, notes, refused


def area_name(camp: Campaign) -> str:
    """The area a roll-up report is titled after (gkxlsx/data/aggregate.json): campaign.toml's
    ``[return] area``, else the office's name without its office suffix, else the office's name."""
    area = str((camp.config.get("return", {}) or {}).get("area") or "").strip()
    if area:
        return area
    office = (camp.office or "").strip()
    for suffix in data_file("aggregate")["office_suffixes"]:
        if office.endswith(suffix) and len(office) > len(suffix):
            return office[: -len(suffix)]
    return office


def aggregate_report(
    camp: Campaign, agg: Aggregate, narrative: Mapping[str, Any] | None = None, *, grouped: bool = False
) -> tuple[Report, dict[str, Any]]:
    """The roll-up as a report of the area (or, ``grouped``, of the group) and what the renderer
    needs to know about it: the compiling office, how many returns of which unit types it sums, and
    the completeness (for the office, not printed).  ``narrative``: the office's own text
    (:func:`gkxlsx.campaign.narrative.narrative_values`; read here when not given)."""
    if narrative is None:
        narrative = narrative_values(camp.root, camp.form)
    rep = agg.report
    if not grouped:
        rep.unit_name = area_name(camp) or agg.name
        for k, v in narrative.items():
            rep.values[k] = v
    counts: dict[str, int] = {}
    for u in agg.included:
        counts[u.type] = counts.get(u.type, 0) + 1
    names = [t.name for t in camp.form.unit_types if t.name in counts] + [
        t for t in counts if camp.form.unit_type(t) is None
    ]
    types = "、".join(names[:-1]) + ("和" if len(names) > 1 else "") + names[-1] if names else ""
    info = dict(agg.completeness)
    info.update(office=camp.office or rep.unit_name, units=len(agg.included), types=types, area=rep.unit_name)
    return rep, info
