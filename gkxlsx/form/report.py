"""One unit's report for one year, as keyed data — what the importer and the extractor produce
and what the checker, the ledger, the aggregator and the renderer consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gkxlsx.form.model import Form, UnitType


@dataclass
class Report:
    form: Form
    year: int
    unit_name: str
    unit_code: str = ""
    unit_type: str = ""
    # every key of the form: table cells (int / Decimal / None for blank), narrative fields (str),
    # section-六 numbers, and unit metadata (meta.*).  Derived cells may be absent (recomputed).
    values: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where it came from: a file path, "extract:…", "aggregate:…"

    @property
    def unit(self) -> UnitType | None:
        return self.form.unit_type(self.unit_type)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)
