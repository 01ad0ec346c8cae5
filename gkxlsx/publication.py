"""The publication facts of the built-in forms (deadlines by unit type and their legal basis), read
from the form JSON without building the form: cheap enough for the command line's help texts, which
import no layer.  :attr:`gkxlsx.form.model.Form.publication` gives a built form's own facts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

FORMS_DIR = Path(__file__).resolve().parent / "data" / "forms"


@cache
def publication_facts(form_id: str | None = None) -> Mapping[str, Any]:
    """The ``publication`` facts of a built-in form (default: the current one, the highest id)."""
    fid = form_id or max(p.stem for p in FORMS_DIR.glob("*.json") if p.stem.isdigit())
    return json.loads((FORMS_DIR / f"{fid}.json").read_text(encoding="utf-8"))["publication"]


def month_day_zh(md: Iterable[int]) -> str:
    """[1, 31] → “1月31日”."""
    m, d = md
    return f"{m}月{d}日"


def government_deadline(publication: Mapping[str, Any]) -> list[int]:
    """The later deadline of local governments at county level and above ([3, 31])."""
    return max(publication.get("deadline_by_unit_type", {}).values(), default=publication["deadline"])
