"""The intermediate representation of a returned workbook: what was read of it, as the checks of
:mod:`gkxlsx.check.checks` consume it — the file (size, hash, kind), the identity it declares
(custom document properties and the hidden identity sheet), its sheets, defined names,
protection, cell formats, and per cell the raw value, formula and style.

It is built through the public API of :mod:`gkxlsx.workbook.reader` and reads lazily: a sheet's
cells are read when a check first asks for them, once (a check of a file costs about as much as
reading its values).  For an .xlsx file (:attr:`ReturnedWorkbook.xlsx`) the raw cell items of
:meth:`~gkxlsx.workbook.reader.XlsxBook.sheet_cells` are available too, for the checks that compare
whole sheets at once; other formats give :meth:`ReturnedWorkbook.cell` only.

Also here: how a raw cell's content is seen — by Excel's arithmetic, as a shown number, as the
value to put back into a feedback workbook, as a cached formula result."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from gkxlsx.check.values import RawCell, display_raw, excel_decimal
from gkxlsx.findings import fmt_num
from gkxlsx.form.identity import META_FIELDS
from gkxlsx.form.layout import META_SHEET
from gkxlsx.workbook.reader import Book, CellStyles, FileInfo, SheetInfo, XlsxBook, xml_text

CellItem = tuple[bytes, bytes, bytes, bytes, bytes]  # (address, style index, type, other attributes, inner XML)


class ReturnedWorkbook:
    """One returned workbook as read (see the module's docstring).  The reader's accessors are bound
    once per file, so a check calls the reader directly."""

    __slots__ = (
        "path",
        "info",
        "book",
        "xlsx",
        "full",
        "kind",
        "application",
        "macros",
        "sheet_names",
        "workbook_protection",
        "has_sheet",
        "cell",
        "name_raw",
        "sheet_info",
        "sheet_cells",
        "shared_string",
        "shared_text",
        "formula_parts",
        "is_formula",
        "locked",
    )

    path: Path
    info: FileInfo
    book: Book
    has_sheet: Callable[[str], bool]
    cell: Callable[[str, str], RawCell]  # (sheet, address) → the cell as the value parser sees it
    name_raw: Callable[[bytes], bytes | None]
    sheet_info: Callable[[str], SheetInfo]
    # .xlsx only (None otherwise):
    sheet_cells: Callable[[str], dict[bytes, CellItem]] | None  # sheet → b"D4" → raw item
    shared_string: Callable[[int], str | None] | None
    shared_text: Callable[[str, str], tuple[str, bool] | None] | None
    formula_parts: Callable[[str, str], tuple[bytes, bytes] | None] | None
    is_formula: Callable[[str, str], bool] | None
    locked: Callable[[str, str], bool | None] | None

    def __init__(self, path: Path, info: FileInfo, book: Book):
        self.path, self.info, self.book = path, info, book
        self.kind = info.kind
        self.full = book.full
        self.application = book.application
        self.macros = book.macros
        self.sheet_names = book.sheet_names
        self.workbook_protection = book.workbook_protection
        self.has_sheet = book.has_sheet
        self.cell = book.cell
        self.name_raw = book.name_raw
        self.sheet_info = book.sheet_info
        self.xlsx = isinstance(book, XlsxBook)
        if isinstance(book, XlsxBook):
            self.sheet_cells = book.sheet_cells
            self.shared_string = book.shared_string
            self.shared_text = book.shared_text
            self.formula_parts = book.formula_parts
            self.is_formula = book.is_formula
            self.locked = book.locked
        else:
            self.sheet_cells = self.shared_string = self.shared_text = None
            self.formula_parts = self.is_formula = self.locked = None

    @property
    def app_label(self) -> str:
        return self.book.app_label

    # -- .xlsx parts -------------------------------------------------------------------------

    @property
    def styles(self) -> CellStyles:
        """The cell formats (.xlsx)."""
        return self.book.styles  # type: ignore[attr-defined]

    def shared_items(self) -> tuple[list[bytes], bool]:
        """The shared-string items, raw (.xlsx; see XlsxBook.shared_items)."""
        return self.book.shared_items()  # type: ignore[attr-defined]

    @property
    def names_raw(self) -> Mapping[bytes, bytes] | None:
        """The raw global defined names (.xlsx), else None."""
        return self.book.names_raw if self.xlsx else None  # type: ignore[attr-defined]

    # -- what the workbook says it is ----------------------------------------------------------

    def declared(self) -> tuple[dict[str, str], dict[str, str]]:
        """The identity fields as the workbook declares them: (custom document properties, the
        hidden identity sheet's name/value rows), each stripped; fields absent are left out."""
        book = self.book
        custom = {k: (book.custom.get(k) or "").strip() for k in META_FIELDS if k in book.custom}
        meta: dict[str, str] = {}
        if book.has_sheet(META_SHEET):
            shared = self.shared_text
            for i, k in enumerate(META_FIELDS):
                if shared is not None:  # the common case: both are shared strings
                    name = shared(META_SHEET, f"A{2 + i}")
                    if name is not None:
                        if name[0] != k:
                            continue
                        val = shared(META_SHEET, f"B{2 + i}")
                        if val is not None:  # display_raw(cell) of a text cell
                            txt, quote = val
                            meta[k] = (("'" + txt) if quote and not txt.startswith("'") else txt).strip()
                            continue
                name_cell = book.cell(META_SHEET, f"A{2 + i}")
                val_cell = book.cell(META_SHEET, f"B{2 + i}")
                if name_cell.kind == "text" and name_cell.value == k:
                    meta[k] = "" if val_cell.kind == "blank" else str(display_raw(val_cell)).strip()
        return custom, meta


# --------------------------------------------------------------------------------------------
# a raw cell as seen by …


def excel_number(raw: RawCell) -> Any:
    """The value Excel's COUNT/SUM see: numbers (dates as serials), formula results; else None."""
    if raw.kind == "number" and isinstance(raw.value, str) and len(raw.value) < 16 and raw.value.isdecimal():
        return int(raw.value)  # longer: excel_decimal (int() refuses 4,300+ digits)
    if raw.kind in ("number", "date"):
        d = excel_decimal(raw.value)
        if d is None and raw.kind == "date":
            return None
        return _num(d)
    if raw.kind == "formula" and raw.cached_kind == "number":
        return _num(excel_decimal(raw.value))
    return None


def _num(d: Decimal | None) -> Any:
    if d is None:
        return None
    return int(d) if d == d.to_integral_value() else d


def shown_number(raw: RawCell) -> Any:
    if raw.kind == "number":
        return _num(excel_decimal(raw.value))
    return None


def prefill_value(raw: RawCell) -> Any:
    """The content to put back into a fresh workbook so the unit sees what it typed."""
    if raw.kind == "blank":
        return None
    if raw.kind == "number":
        if isinstance(raw.value, str) and len(raw.value) < 16 and raw.value.isdecimal():
            return int(raw.value)
        d = excel_decimal(raw.value)
        return _num(d) if d is not None else str(raw.value)
    if raw.kind == "text":
        return str(raw.value)
    return str(display_raw(raw))


def raw_result(raw: RawCell) -> Any:
    k = raw.cached_kind
    if k == "number":
        return _num(excel_decimal(raw.value))
    if k in (None, "blank"):
        return ""
    if k == "bool":
        return bool(raw.value)
    return str(raw.value)


_V_FAST = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v(?:\s[^>]*)?>(.*?)</(?:[A-Za-z_][\w.-]*:)?v>", re.S)


def cached_fast(wb: ReturnedWorkbook, parts: tuple[bytes, bytes]) -> Any:
    t, body = parts
    i = body.find(b"<v>")
    if i >= 0:
        j = body.find(b"</v>", i)
        v = body[i + 3 : j] if j > 0 else b""
    else:
        m = _V_FAST.search(body)
        v = m.group(1) if m else b""
    if v == b"":
        return ""
    if t in (b"str", b"e", b"inlineStr"):
        return xml_text(v)
    if t == b"s":
        try:
            return wb.shared_string(int(v)) or ""  # type: ignore[misc]
        except ValueError:
            return ""
    if t == b"b":
        return v.strip() in (b"1", b"true")
    if len(v) < 16 and v.isdigit():  # a plain integer (the common case): what the next line gives
        return int(v)
    return _num(excel_decimal(v.decode("ascii", "replace")))


def same_result(got: Any, want: Any) -> bool:
    if type(got) is int and type(want) is int:
        return got == want
    if want is None or want == "":
        return got in (None, "")
    if isinstance(want, (int, float, Decimal)) and not isinstance(want, bool):
        if isinstance(got, (int, float, Decimal)) and not isinstance(got, bool):
            return abs(Decimal(str(got)) - Decimal(str(want))) < Decimal("0.000001")
        return False
    return str(got) == str(want)


def show(v: Any) -> str:
    if v is None or v == "":
        return "空白"
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        return fmt_num(v)
    return f"“{v}”"


def json_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    return v
