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
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gkxlsx.form.layout import Box, Layout
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
    "GKX_FINGERPRINT",  # sha256 of the structure (labels, formulas, locked cells; the 上年 column)
    "GKX_PREVIOUS",  # "" or "<format>:<year>" when last year's data was used for checks
)


def template_id(form: Form, year: int) -> str:
    """``gkxlsx:<format>:<template version>:<year>`` (document comments and manifest.json)."""
    return f"gkxlsx:{form.id}:{form.template_version}:{year}"


def fingerprint(lay: Layout, formulas: Mapping[tuple[str, int, int], str], extra: Iterable[Box] = ()) -> str:
    """sha256 over the workbook's structure: every label, key placement, lock role and formula.

    ``extra``: boxes beside the layout's own that this workbook has (the 上年 column of a workbook
    generated with last year's values, :func:`gkxlsx.form.layout.previous_column`), hashed after
    the layout's; none leaves the fingerprint of a workbook without them as it always was."""
    h = hashlib.sha256()
    h.update(f"{lay.form.id}|{lay.form.template_version}".encode())
    for s in lay.sheets:
        for b in s.boxes:
            h.update(f"\n{s.name}|{b.range}|{b.role}|{b.text or ''}|{b.key or ''}".encode())
    for b in extra:
        h.update(f"\n{b.sheet}|{b.range}|{b.role}|{b.text or ''}|{b.key or ''}".encode())
    for pos in sorted(formulas):
        h.update(f"\n{pos}|{formulas[pos]}".encode())
    return h.hexdigest()


# a file name gkxlsx makes stays within this many bytes (UTF-8): most file systems allow 255, and a
# “（12）” for a second file of a unit and the “.tmp” of an atomic write must still fit
MAX_NAME_BYTES = 200


def safe_filename(text: str) -> str:
    """``text`` usable in a file name on every system (no \\ / : * ? " < > |, white space, control
    characters or lone surrogates)."""
    return re.sub(r'[\\/:*?"<>|\s\x00-\x1f\x7f\ud800-\udfff]+', "_", text).strip("._") or "unit"


def fit_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` bytes of UTF-8; a cut text ends with ``~`` and 8 hex
    digits of its full text's hash, so two long names that share their start stay apart."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return text
    tag = "~" + hashlib.sha256(raw).hexdigest()[:8]
    head = raw[: max(0, max_bytes - len(tag))].decode("utf-8", "ignore")
    return head.rstrip("._") + tag


def unit_filename(code: str, name: str, tail: str) -> str:
    """``{代码}_{名称}{tail}`` made safe, the name (and a hostile code) shortened so the whole stays
    within :data:`MAX_NAME_BYTES`."""
    c = fit_bytes(safe_filename(code), 60)
    room = MAX_NAME_BYTES - len(c.encode("utf-8", "surrogatepass")) - 1 - len(tail.encode("utf-8", "surrogatepass"))
    return f"{c}_{fit_bytes(safe_filename(name), max(room, 24))}{tail}"


def workbook_filename(unit: Unit, year: int) -> str:
    """The file name of a unit's workbook: ``{代码}_{名称}_{年度}年政府信息公开工作年度报告.xlsx``."""
    return unit_filename(unit.code, unit.name, f"_{year}年政府信息公开工作年度报告.xlsx")
