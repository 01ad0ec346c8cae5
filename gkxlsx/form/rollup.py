"""A roll-up return: a unit's own return whose figures are the sum of its units' returns.

A county office hands its figures up to the city in the very workbook the city generated for it
(the same form, identity and fingerprint).  ``gkxlsx aggregate --as-return`` fills the entry cells
with the roll-up and adds two protected sheets after the form's: the per-unit breakdown (one row
per included unit, one column per summed key, then a 合计 row) and the units left out.  It also
declares the roll-up in the identity — :data:`ROLLUP_FIELDS`, as custom document properties and as
rows of the hidden identity sheet below :data:`~gkxlsx.form.identity.META_FIELDS` — with a digest of
the breakdown as it was written, so an edited breakdown is found even when its sums still match.

This module is what the writer (:mod:`gkxlsx.workbook.rollup`) and the checker
(:mod:`gkxlsx.check.checks.rollup`) share: which keys are summed, where the rows and columns are,
the sheet names (from gkxlsx/data/workbook.json) and the digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gkxlsx.form.datafiles import data_file
from gkxlsx.form.identity import META_FIELDS

if TYPE_CHECKING:
    from gkxlsx.form.model import Form

# the roll-up's declaration: "<included>/<expected>" and the breakdown's digest
ROLLUP_FIELDS = ("GKX_ROLLUP", "GKX_ROLLUP_DIGEST")
# their rows on the hidden identity sheet (1-based, column A the name, column B the value)
ROLLUP_META_ROWS = {k: 2 + len(META_FIELDS) + i for i, k in enumerate(ROLLUP_FIELDS)}

# the breakdown sheet (0-based rows and columns)
TITLE_ROW, STATEMENT_ROW, NOTE_ROW, HEADER_ROW, KEYS_ROW, FIRST_UNIT_ROW = 0, 1, 2, 3, 4, 5
CODE_COL, NAME_COL, TYPE_COL, STATUS_COL, FIRST_KEY_COL = 0, 1, 2, 3, 4
# the units left out
EXCLUDED_HEADER_ROW, FIRST_EXCLUDED_ROW = 2, 3

# what the values of a checked roll-up return keep of its breakdown (the ledger stores it with them)
VALUES_KEY = "_rollup"


@lru_cache(maxsize=1)
def texts() -> Mapping[str, Any]:
    """The sheets' names, titles and headers (gkxlsx/data/workbook.json ``rollup``)."""
    return data_file("workbook")["rollup"]


def breakdown_sheet() -> str:
    return str(texts()["breakdown_sheet"])


def excluded_sheet() -> str:
    return str(texts()["excluded_sheet"])


def summed_keys(form: Form) -> tuple[str, ...]:
    """The keys a roll-up adds up: every entry cell of the tables, then the numeric fields a unit
    types (not the prefilled identity, such as the report year), in form order."""
    return tuple(form.entry_keys) + tuple(
        k for k, f in form.fields.items() if f.type.numeric and not f.prefilled and k not in form.cells
    )


@dataclass(frozen=True)
class ChildRow:
    """One included unit of a roll-up: who, its status where it was accepted, its figures."""

    code: str
    name: str
    type: str
    status: str
    values: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "type": self.type, "status": self.status}


@dataclass(frozen=True)
class Excluded:
    """A unit a roll-up left out, and why."""

    code: str
    name: str
    type: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "type": self.type, "reason": self.reason}


def canonical_number(v: Any) -> str:
    """A number as the digest sees it: 3, 3.0 and 3.00 alike; blank for no number."""
    if v is None or v == "" or isinstance(v, bool):
        return ""
    try:
        d = v if isinstance(v, Decimal) else Decimal(repr(v) if isinstance(v, float) else str(v))
    except InvalidOperation:
        return str(v)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def digest(keys: Sequence[str], rows: Iterable[ChildRow]) -> str:
    """sha256 of the breakdown: its keys, then every row's unit and figures, in order."""
    h = hashlib.sha256("|".join(keys).encode())
    for r in rows:
        h.update(("\n" + "|".join((r.code, r.name, r.type, r.status))).encode())
        h.update(("|" + "|".join(canonical_number(r.values.get(k)) for k in keys)).encode())
    return h.hexdigest()


def declaration(included: int, expected: int) -> str:
    return f"{included}/{expected}"


def parse_declaration(text: str | None) -> tuple[int, int] | None:
    """(included, expected) from ``GKX_ROLLUP``; None when it is not one."""
    if not text:
        return None
    a, sep, b = str(text).strip().partition("/")
    try:
        n, m = int(a), int(b)
    except ValueError:
        return None
    if not sep or n < 0 or m < n:
        return None
    return n, m
