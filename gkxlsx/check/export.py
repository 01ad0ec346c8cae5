"""The result of a check run as JSON-able data, schema ``gkxlsx.check/1`` (``gkxlsx check --json``).

``schema``, ``generator``, ``year``, ``roster``, ``summary`` {total, passed, warnings, errors, unreadable},
``exit_code`` and ``files`` (:meth:`gkxlsx.check.checker.FileResult.to_dict` of each file).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gkxlsx import __version__
from gkxlsx.check.checker import exit_code, summary
from gkxlsx.check.result import STATUS_ERR, STATUS_PASS, STATUS_UNREADABLE, STATUS_WARN, FileResult
from gkxlsx.workbook.reader import readable_name

SCHEMA = "gkxlsx.check/1"


def check_report(results: Sequence[FileResult], *, year: int | None, roster: Path | None) -> dict[str, Any]:
    """The result of checking ``results`` as JSON-able data (schema ``gkxlsx.check/1``): printed by
    ``gkxlsx check --json``."""
    s = summary(results)
    return {
        "schema": SCHEMA,
        "generator": f"gkxlsx {__version__}",
        "year": year,
        "roster": readable_name(str(roster)) if roster else None,
        "summary": {
            "total": s["total"],
            "passed": s[STATUS_PASS],
            "warnings": s[STATUS_WARN],
            "errors": s[STATUS_ERR],
            "unreadable": s[STATUS_UNREADABLE],
        },
        "exit_code": exit_code(results),
        "files": [r.to_dict() for r in results],
    }
