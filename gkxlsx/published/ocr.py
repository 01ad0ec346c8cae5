"""Characters that OCR confuses, folded for comparing table labels (沭/沐, 未/末, 己/已 …).

Text recognised from a scanned or image-only report has wrong characters that look like the
right ones.  A label is compared with the official one after both are folded: every character of
a confusion group (``ocr_confusions`` in ``gkxlsx/data/extract.json``) becomes the group's first
character.  Only labels are folded — a number is never corrected: a cell “1O” stays text and its
row is not read.
"""

from __future__ import annotations

from functools import cache, lru_cache

from gkxlsx.form.datafiles import data_file


@cache
def _table() -> dict[int, str]:
    out: dict[int, str] = {}
    for group in data_file("extract")["ocr_confusions"]:
        for ch in group[1:]:
            out[ord(ch)] = group[0]
    return out


@lru_cache(maxsize=8192)
def fold(label: str) -> str:
    """The label with every confusable character replaced by its group's representative."""
    return label.translate(_table())


__all__ = ["fold"]
