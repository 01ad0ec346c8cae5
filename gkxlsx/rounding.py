"""舍位平衡: rounding the parts of a total so that the rounded parts still add up to the rounded total.

A roll-up shown in a larger unit or with fewer decimals than it was collected in (收费金额 in 万元
with two decimals, amounts in 元 shown as 万元) loses the identity “the parts add up to the total”
when every number is rounded on its own: 0.005 + 0.005 + 0.005 = 0.015 rounds to 0.02, each part
to 0.01, and the shown parts sum to 0.03.  Statistical tables keep the identity by 舍位平衡; this
module does it by the largest-remainder method (Hamilton's method):

1. the total is rounded on its own, half up (ROUND_HALF_UP, as Excel's ROUND and the published
   tables do), to ``dp`` decimals: that is the total shown;
2. every part is cut down to ``dp`` decimals (towards zero);
3. the units of the last decimal still missing between the cut parts and the shown total are
   given, one each, to the parts with the largest cut-off remainders; equal remainders go to the
   larger part first, then to the earlier one (the result does not depend on anything but the
   numbers and their order).

Every shown part differs from its exact value by less than one unit of the last decimal, and the
shown parts add up to the shown total exactly.  Parts are amounts (not negative); a negative part
is refused rather than balanced wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["balanced_round", "round_half_up", "scaled"]


def _dec(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def round_half_up(v: Any, dp: int) -> Decimal:
    """``v`` rounded half up to ``dp`` decimals (Excel's ROUND for amounts, not banker's rounding)."""
    return _dec(v).quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP)


def scaled(v: Any, factor: Any) -> Decimal:
    """``v`` times ``factor`` exactly (元 → 万元 is a factor of 0.0001)."""
    return _dec(v) * _dec(factor)


def balanced_round(parts: Sequence[Any], dp: int) -> tuple[list[Decimal], Decimal]:
    """(shown parts, shown total): the parts rounded to ``dp`` decimals so that they add up to the
    total rounded on its own (see the module's docstring).  None or "" counts as 0."""
    exact = [_dec(0 if p in (None, "") else p) for p in parts]
    if any(p < 0 for p in exact):
        raise ValueError("舍位平衡只用于非负数")
    unit = Decimal(1).scaleb(-dp)
    total = round_half_up(sum(exact, Decimal(0)), dp)
    cut = [p.quantize(unit, rounding=ROUND_DOWN) for p in exact]
    missing = int((total - sum(cut, Decimal(0))) / unit)
    # the cut parts are at most one unit each below their exact value, the rounded total at most
    # half a unit above the exact sum: 0 <= missing <= len(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - cut[i]), -exact[i], i))
    shown = list(cut)
    for i in order[:missing]:
        shown[i] += unit
    return shown, total
