"""What a batch of checks shares: the roster, the report year being collected and last year's
values (:class:`CheckContext`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gkxlsx.form.roster import Unit


@dataclass
class CheckContext:
    """Shared by every file of a batch (picklable: sent once to each worker process)."""

    roster: Mapping[str, Unit] | None = None  # code → unit (a dict, or a view of a campaign's ledger)
    year: int | None = None
    prev: Mapping[str, Any] | None = None  # last year's values for a single file
    prev_format: str | None = None
    prev_by_unit: Mapping[str, Any] | None = None  # code → (format, year, values) or values
    prev_lookup: Callable[[str], Any] | None = None


def roster_dict(roster) -> dict[str, Unit] | None:
    """A roster path, a list of units or {code: Unit} → {code: Unit}."""
    if roster is None:
        return None
    units: list[Unit]
    if isinstance(roster, (str, Path)):
        from gkxlsx.form.roster import load_roster

        units = load_roster(roster)
    elif isinstance(roster, Mapping):
        units = list(roster.values())
    else:
        units = list(roster)
    return {u.code: u for u in units}


def prev_for(ctx: CheckContext, code: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(last year's values of unit ``code``, their format id), or (None, None)."""
    if ctx.prev is not None:
        return ctx.prev, ctx.prev_format
    item = None
    if ctx.prev_lookup is not None and code:
        item = ctx.prev_lookup(code)
    elif ctx.prev_by_unit is not None and code:
        item = ctx.prev_by_unit.get(code)
    if item is None:
        return None, None
    if isinstance(item, tuple) and len(item) == 3:
        fmt, _year, vals = item
        return vals, str(fmt) if fmt else None
    if isinstance(item, tuple) and len(item) == 2:
        return item[1], str(item[0])
    return item, ctx.prev_format
