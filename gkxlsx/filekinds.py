"""The kinds of spreadsheet file gkxlsx reads, by file name.

A returned file is never judged by its name: :func:`gkxlsx.workbook.reader.sniff` triages every
file by its first bytes, so an .xls that is really an HTML page, a SpreadsheetML .xml, a .csv, a
zip or a workbook saved without a suffix is still recognised and answered in Chinese — which is
why an import or a check takes every file it is given.  Names decide only where there are no
bytes to look at, or before opening: which mail attachments to save as returns, which roster
files to open as a spreadsheet rather than as text, whether a zip holds spreadsheets.
"""

from __future__ import annotations

# Excel (and macro-enabled Excel), Excel 97-2003, WPS 表格, OpenDocument
SPREADSHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".et", ".ods"})
