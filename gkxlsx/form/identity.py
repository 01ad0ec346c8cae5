"""How a generated workbook identifies itself — what the generator stamps and the checker verifies.

Identity (format, template version, year, unit, generator version, structure fingerprint) is
stored three times in every workbook: the very-hidden sheet ``_gkxlsx``, workbook defined names
and custom document properties, each under the names of :data:`META_FIELDS`.  The structure
fingerprint is computed here from the layout and the expected formulas, so the read side can
recompute it without the writer (and its XlsxWriter import).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gkxlsx.form.layout import Layout
    from gkxlsx.form.model import Form
    from gkxlsx.form.roster import Unit

APP_ID = "gkxlsx"  # the value of GKX_APP

# meta sheet rows (column A = name, column B = value); names are also workbook defined names
META_FIELDS = (
    "GKX_APP",  # always APP_ID
    "GKX_FORMAT",  # form id, e.g. "2021"
    "GKX_TEMPLATE_VERSION",  # e.g. "2021.1"
    "GKX_YEAR",
    "GKX_UNIT_CODE",
    "GKX_UNIT_NAME",
    "GKX_UNIT_TYPE",
    "GKX_GENERATOR",  # gkxlsx version that wrote the file
    "GKX_FINGERPRINT",  # sha256 of the structure (labels, formulas, locked cells)
    "GKX_PREVIOUS",  # "" or "<format>:<year>" when last year's data was used for checks
)


def template_id(form: Form, year: int) -> str:
    """``gkxlsx:<format>:<template version>:<year>`` (document comments and manifest.json)."""
    return f"gkxlsx:{form.id}:{form.template_version}:{year}"


def fingerprint(lay: Layout, formulas: Mapping[tuple[str, int, int], str]) -> str:
    """sha256 over the workbook's structure: every label, key placement, lock role and formula."""
    h = hashlib.sha256()
    h.update(f"{lay.form.id}|{lay.form.template_version}".encode())
    for s in lay.sheets:
        for b in s.boxes:
            h.update(f"\n{s.name}|{b.range}|{b.role}|{b.text or ''}|{b.key or ''}".encode())
    for pos in sorted(formulas):
        h.update(f"\n{pos}|{formulas[pos]}".encode())
    return h.hexdigest()


def safe_filename(text: str) -> str:
    """``text`` usable in a file name on every system (no \\ / : * ? " < > | or white space)."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", text).strip("._") or "unit"


def workbook_filename(unit: Unit, year: int) -> str:
    """The file name of a unit's workbook: ``{代码}_{名称}_{年度}年政府信息公开工作年度报告.xlsx``."""
    return f"{safe_filename(unit.code)}_{safe_filename(unit.name)}_{year}年政府信息公开工作年度报告.xlsx"
