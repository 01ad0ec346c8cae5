"""A1 cell addresses of the workbook grid: 0-based (row, column) ↔ ``J6``.

One helper for everybody who names a cell: the layout, the generator, the Excel backend of the
rules and the reader (which must not import the write side).  No dependencies.
"""

from __future__ import annotations


def col_letter(col: int) -> str:
    """0-based column index → Excel letters (0 → A)."""
    s, n = "", col + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def a1(row: int, col: int) -> str:
    """0-based (row, column) → ``J6``."""
    s, n = "", col + 1
    while n:  # col_letter inlined: the reader names every cell of a sheet with it
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return f"{s}{row + 1}"
