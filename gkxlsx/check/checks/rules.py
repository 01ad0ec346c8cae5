"""6. Rules: every rule instance of the form recomputed from the inputs (compiled fast path for
plain integers, the rule engine otherwise) → E-T3-* …"""

from __future__ import annotations

from gkxlsx.check.checks.base import FileCheck
from gkxlsx.rules.codegen import all_int, all_tests, applicable, rule_tests
from gkxlsx.rules.engine import PASS, Outcome


def check_rules(c: FileCheck) -> None:
    """Every rule instance on the recomputed values → c.outcomes; the rules of the totals
    themselves (E-T3-ROW/COL, E-T4-SUM) on a total typed over its formula as shown."""
    form, vals, overrides, ut, prev, prev_format = c.form, c.vals, c.overrides, c.unit_type, c.prev, c.prev_format
    shown = None
    if overrides:
        shown = dict(vals)
        shown.update(overrides)
    pf = prev_format if prev_format is not None else (form.id if prev is not None else None)
    outcomes: list[Outcome] = []
    c.outcomes = outcomes
    pf_app = pf if prev is not None else None
    if shown is None and all_int(vals, form.cells):
        # plain integers in every cell (the common case): every compiled test at once, in one
        # function; what fails or does not apply goes through the rule engine
        allf, passed, not_applicable = all_tests(form)
        for inst, ok, ap, out, na in zip(
            form.rules, allf(vals), applicable(form, ut.name if ut else None, pf_app), passed, not_applicable
        ):
            if not ap:  # what evaluate() says first of an instance that does not apply
                outcomes.append(na)
                continue
            if ok:
                outcomes.append(out)
                continue
            out = inst.evaluate(vals, prev, ut, pf)
            outcomes.append(out)
            if out.finding is not None:
                c.add(c.located(out.finding))
        return
    # plain integers in every cell: each compiled test is exact, no per-rule check
    ints = {id(d): all_int(d, form.cells) for d in ((vals, shown) if shown is not None else (vals,))}
    for inst, fast in zip(form.rules, rule_tests(form)):
        use = shown if (shown is not None and inst.target in overrides) else vals
        if fast is not None and inst.applicable(ut, pf_app):
            keys, test = fast
            get = use.get
            if (ints[id(use)] or all(type(get(k)) is int for k in keys)) and test(use):
                outcomes.append(Outcome(inst, PASS))  # what evaluate() gives, without the interpreter
                continue
        out = inst.evaluate(use, prev, ut, pf)
        outcomes.append(out)
        if out.finding is not None:
            c.add(c.located(out.finding))


def check_year_on_year(c: FileCheck) -> None:
    """The form's year-on-year plausibility rule (:mod:`gkxlsx.rules.plausibility`) against the
    unit's previous values, when they are known → W-YOY-JUMP (核实)."""
    if not c.prev:
        return
    from gkxlsx.rules.plausibility import year_on_year

    for f in year_on_year(c.form, c.vals, c.prev, c.prev_format):
        c.add(c.located(f))
