"""The checks of one returned workbook, small and in order: each a function ``check_NAME(c)`` of
a :class:`~gkxlsx.check.checks.base.FileCheck`, in the module of its area (:mod:`.identity`,
:mod:`.structure`, :mod:`.cells`, :mod:`.formulas`, :mod:`.rules`, :mod:`.text`).

:data:`CHECKS` registers them in the order they run (docs/ENGINEERING.md pitfall 12; the order
of the findings within a severity); :func:`run` takes a file from its bytes to its :class:`~gkxlsx.check.result.FileResult`:

1. file triage (:func:`gkxlsx.workbook.reader.load`: size, magic bytes, zip-bomb guard,
   encryption) — before any check, into the :class:`~gkxlsx.check.returned.ReturnedWorkbook`;
2. ``identity``: is it a gkxlsx template at all (custom properties, the hidden ``_gkxlsx`` sheet,
   cross-checked) → E-NOT-TEMPLATE / E-META-1;
3. ``template``, ``year_unit``: format and template version → E-TEMPLATE-VERSION; report year →
   E-YEAR; unit (roster, file name) → E-UNIT / W-UNIT-NAME;
4. ``layout`` … ``protection``: sheets, inserted or deleted rows and columns (defined names that
   moved), labels, sheet and workbook protection → E-STRUCT-*;
5. ``values``: every entry cell read by its key and parsed strictly (:mod:`gkxlsx.check.values`)
   → E-CELL-*;
6. ``formulas``, ``rules``, ``cached_results``: formulas and locked totals; every rule recomputed
   from the inputs (a total typed over its formula checked as shown) → E-T3-* …; cached formula
   results against the recomputation → W-CACHE-STALE; ``year_on_year``: the form's plausibility
   rule against the unit's previous values (:mod:`gkxlsx.rules.plausibility`) → W-YOY-JUMP;
7. ``narrative``, ``similar_to_last_year``: :mod:`gkxlsx.text.narrative` → W-TXT-*, W-XY-SIMILAR;
8. ``rollup``: a roll-up return's breakdown (:mod:`gkxlsx.form.rollup`) → E-ROLLUP-*, I-ROLLUP.

A check adds findings with :meth:`FileCheck.add` and leaves what later checks need on the
:class:`FileCheck` (positions, values, outcomes).  It returns None to go on, :data:`STOP` to end
the check of this file there, or :data:`UNREADABLE` to end it as 无法识别.  Checks of stage
``file`` run on every workbook; those of stage ``book`` once its form, year and unit are settled.
To add a check: write its function in the module of its area and register it in :data:`CHECKS`
where it must run (after the checks whose results it uses).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from gkxlsx.check.checks.base import UNREADABLE, FileCheck
from gkxlsx.check.checks.cells import check_values
from gkxlsx.check.checks.formulas import check_cached_results, check_formulas
from gkxlsx.check.checks.identity import check_identity, check_macros, check_template, check_year_unit
from gkxlsx.check.checks.rollup import check_rollup
from gkxlsx.check.checks.rules import check_rules, check_year_on_year
from gkxlsx.check.checks.structure import (
    check_info_cells,
    check_labels,
    check_layout,
    check_protection,
    check_reduced_format,
)
from gkxlsx.check.checks.text import check_narrative, check_other_generator, check_similar_to_last_year
from gkxlsx.check.result import STATUS_UNREADABLE, FileResult
from gkxlsx.check.returned import ReturnedWorkbook
from gkxlsx.workbook.reader import ReadError, load


class Step(NamedTuple):
    name: str
    run: Callable[[FileCheck], str | None]
    stage: str  # "file": every workbook; "book": once its form, year and unit are settled


CHECKS: tuple[Step, ...] = (
    Step("macros", check_macros, "file"),
    Step("identity", check_identity, "file"),
    Step("template", check_template, "file"),
    Step("year_unit", check_year_unit, "file"),
    Step("layout", check_layout, "book"),
    Step("reduced_format", check_reduced_format, "book"),
    Step("info_cells", check_info_cells, "book"),
    Step("labels", check_labels, "book"),
    Step("values", check_values, "book"),
    Step("protection", check_protection, "book"),
    Step("formulas", check_formulas, "book"),
    Step("rules", check_rules, "book"),
    Step("year_on_year", check_year_on_year, "book"),
    Step("cached_results", check_cached_results, "book"),
    Step("narrative", check_narrative, "book"),
    Step("similar_to_last_year", check_similar_to_last_year, "book"),
    Step("other_generator", check_other_generator, "book"),
    Step("rollup", check_rollup, "book"),
)


def run(c: FileCheck, data: bytes | None = None, sha256: str | None = None) -> FileResult:
    """Read the file into a :class:`ReturnedWorkbook` and run :data:`CHECKS` on it."""
    res = c.res
    try:
        info, book = load(c.path, data=data, sha256=sha256 if data is not None else None)
    except ReadError as e:
        triaged = getattr(e, "info", None)
        if triaged is not None:
            res.sha256, res.size = triaged.sha256, triaged.size
        res.file_type = e.kind
        c.add(e.finding)
        res.timings["read"] = (time.perf_counter() - c.t0) * 1000
        return c.finish(STATUS_UNREADABLE)
    res.sha256, res.size, res.file_type = info.sha256, info.size, info.kind
    try:
        c.wb = ReturnedWorkbook(c.path, info, book)
        res.application = book.application
        t1 = None
        for step in CHECKS:
            if t1 is None and step.stage == "book":
                t1 = time.perf_counter()
                c.begin_book()
            verdict = step.run(c)
            if verdict is not None:
                return c.finish(STATUS_UNREADABLE if verdict == UNREADABLE else None)
        res.values = c.vals
        if t1 is not None:
            res.timings["check"] = (time.perf_counter() - t1) * 1000
        return c.finish()
    except ReadError as e:  # a part that turned out broken while reading cells
        c.add(e.finding)
        return c.finish(STATUS_UNREADABLE if res.identity is None else None)
    finally:
        close = getattr(book, "close", None)
        if close:
            close()
