"""Every rule of a form on one report's values: the entry point of the importer, the auditor, the
aggregator and the renderer (the checker runs the same instances through its fast path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gkxlsx.findings import Finding
from gkxlsx.form.model import Form, FormError, UnitType, load_form
from gkxlsx.rules.codegen import all_int, rule_tests
from gkxlsx.rules.engine import Outcome, with_derived


def complete_previous(prev: Mapping[str, Any] | None, prev_format: str | None) -> Mapping[str, Any] | None:
    """Last year's values with their totals recomputed where they were not given."""
    if prev is None or prev_format is None:
        return prev
    try:
        pform = load_form(prev_format)
    except FormError:
        return prev
    return with_derived(pform, prev)


def evaluate_all(
    form: Form,
    values: Mapping[str, Any],
    *,
    unit: UnitType | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
) -> list[Outcome]:
    """Evaluate every rule instance; derived cells missing from ``values`` are recomputed."""
    vals = with_derived(form, values)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    prev = complete_previous(prev, pf)
    return [inst.evaluate(vals, prev, unit, pf) for inst in form.rules]


def check(
    form: Form,
    values: Mapping[str, Any],
    *,
    unit: UnitType | None = None,
    prev: Mapping[str, Any] | None = None,
    prev_format: str | None = None,
) -> list[Finding]:
    """All rule findings for one report's values (errors first, in form order).

    What :func:`evaluate_all` finds: an instance whose compiled test (:mod:`gkxlsx.rules.codegen`)
    passes on plain integers has no finding whether it applies or not, so it is not interpreted."""
    vals = with_derived(form, values)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    prev = complete_previous(prev, pf)
    found = []
    for inst, fast in zip(form.rules, rule_tests(form)):
        if fast is not None and all_int(vals, fast[0]) and fast[1](vals):
            continue
        o = inst.evaluate(vals, prev, unit, pf)
        if o.finding:
            found.append(o.finding)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda f: order[f.severity])
