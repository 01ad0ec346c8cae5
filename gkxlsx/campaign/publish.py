"""Which reports of a campaign may be rendered for publication, with what they are rendered from.

A unit's report is rendered from its current submission.  One that passed, or whose warnings were
accepted with a note, renders as it is; one with errors, or with warnings nobody has accepted yet,
carries its findings to the renderer, which refuses a formal report (``--draft`` marks one instead).
An aggregate report carries its own findings and completeness statement.
"""

from __future__ import annotations

from typing import Any

from gkxlsx.campaign.campaign import Campaign
from gkxlsx.campaign.campaign import aggregate as do_aggregate
from gkxlsx.campaign.ledger import ACCEPTED_STATUSES
from gkxlsx.findings import Finding, make_finding
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
        for agg in do_aggregate(camp, by):
            rep = agg.report
            if camp.office and not by:
                rep.unit_name = camp.office
            jobs.append((rep, list(agg.findings), agg.completeness, f"汇总：{agg.name}"))
    return jobs, notes, refused
