"""The data files beside the form definitions (gkxlsx/data/*.json) and a shared regex cache."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

# gkxlsx/data: every declarative fact (forms, findings, narrative and extraction vocabularies)
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@cache
def data_file(name: str) -> dict[str, Any]:
    """``gkxlsx/data/<name>.json``, parsed once."""
    return json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@cache
def compiled(pattern: str, flags: int = 0) -> re.Pattern:
    """A compiled regular expression, compiled once per (pattern, flags)."""
    return re.compile(pattern, flags)
