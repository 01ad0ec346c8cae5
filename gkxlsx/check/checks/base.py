"""What every check receives: :class:`FileCheck`, the context of the check of one file, and the
verdicts a check may give (:data:`STOP`, :data:`UNREADABLE`; None to go on)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gkxlsx.check.context import CheckContext, prev_for
from gkxlsx.check.plan import FormPlan, form_plan, loc
from gkxlsx.check.result import SEVERITY_ORDER, FileResult, Identity, status_of
from gkxlsx.check.returned import ReturnedWorkbook
from gkxlsx.findings import Finding
from gkxlsx.form.model import Form, UnitType
from gkxlsx.rules.engine import Outcome

STOP = "stop"  # a check's verdict: end the check of this file here (status from the findings)


UNREADABLE = "unreadable"  # … and the file is 无法识别


class FileCheck:
    """The context every check receives: the batch's :class:`CheckContext`, the workbook as read
    (:class:`ReturnedWorkbook`), the findings so far, and what earlier checks established."""

    __slots__ = (
        "path",
        "ctx",
        "wb",
        "res",
        "findings",
        "t0",
        # settled by the file checks
        "identity",
        "form",
        "unit_type",
        # the book checks' shared state
        "plan",
        "prev",
        "prev_format",
        "sheet_map",
        "shifted",
        "pos",
        "moved",
        "values",
        "excel_view",
        "shown_derived",
        "vals",
        "overrides",
        "pending",
        "exp_prev",
        "exp_pf",
        "outcomes",
    )

    path: Path
    ctx: CheckContext
    wb: ReturnedWorkbook
    identity: Identity
    form: Form
    unit_type: UnitType | None
    plan: FormPlan
    prev: Mapping[str, Any] | None
    prev_format: str | None
    sheet_map: dict[str, str]  # template sheet → sheet in the book
    shifted: dict[str, str]  # template sheet with moved cells → what moved
    pos: dict[str, tuple[str, str] | None]  # key → (sheet in the book, address), None where gone
    moved: bool  # any key not where the template put it
    values: dict[str, Any]  # parsed values (None where invalid)
    excel_view: dict[str, Any]  # what Excel computes with (numbers, also bad ones)
    shown_derived: dict[str, Any]  # totals: the number shown where typed over, None for a formula
    vals: dict[str, Any]  # values with the totals recomputed
    overrides: dict[str, Any]  # totals typed over their formula → the number shown
    pending: list  # cached formula results to compare (FormulaRun or (position, where, result))
    exp_prev: Mapping[str, Any] | None  # last year's values the template's formulas were built with
    exp_pf: str | None
    outcomes: list[Outcome]

    def __init__(self, path: Path, ctx: CheckContext):
        self.path = path
        self.ctx = ctx
        self.res = FileResult(path=path)
        self.findings: list[Finding] = []
        self.t0 = time.perf_counter()
        self.pending = []
        self.overrides = {}
        self.exp_prev = self.exp_pf = None
        self.vals = None  # type: ignore[assignment]

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def located(self, f: Finding) -> Finding:
        """A finding of the rule engine or the narrative checks with the cells of its keys."""
        pos = self.pos
        locs = tuple(loc(*pos[k]) for k in f.keys if pos.get(k))  # type: ignore[misc]
        return f.with_locations(locs)

    def begin_book(self) -> None:
        """Before the book checks: the form's plan, last year's values of the unit."""
        self.plan = form_plan(self.form)
        self.prev, self.prev_format = prev_for(self.ctx, self.identity.unit_code)

    def finish(self, status: str | None = None) -> FileResult:
        self.findings.sort(key=lambda x: SEVERITY_ORDER.get(x.severity, 3))
        self.res.findings = self.findings
        self.res.status = status or status_of(self.findings)
        self.res.timings["total"] = (time.perf_counter() - self.t0) * 1000
        return self.res
