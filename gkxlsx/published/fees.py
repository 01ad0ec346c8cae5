"""The three 信息处理费 numbers of part 六 (2021 format: notices issued, their amount, the amount
collected; docs/FORMAT.md §5, §8), read from the published text of part 六.

A number is read only when a sentence states it: “发出收费通知2件，通知金额300元，实际收取信息处理费
200元” gives all three; “未发出…收费通知” gives 0 notices and therefore 0 notice amount; “未收取
信息处理费” gives only 0 collected (notices may have been issued and not paid).  The patterns are
in ``gkxlsx/data/extract.json`` (``fees``); amounts in 万元 are converted to 元.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from gkxlsx.form.datafiles import compiled, data_file
from gkxlsx.form.model import Form

KEYS = ("s6.fee_notices", "s6.fee_notice_amount", "s6.fee_collected")


def _data() -> dict[str, Any]:
    return data_file("extract")["fees"]


def _amount(num: str, unit: str) -> Any:
    v = Decimal(num) * (Decimal(10000) if unit == "万元" else 1)
    v = v.normalize()
    return int(v) if v == v.to_integral_value() else v


def _zh_count(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    digits = _data()["numerals"]
    if len(s) == 1 and s in digits:
        return digits.index(s)
    return None


def read_fees(form: Form, text: str) -> dict[str, tuple[Any, str]]:
    """{key: (value, the sentence it was read from)} for the fee numbers ``text`` states."""
    if not all(k in form.fields for k in KEYS):
        return {}
    d = _data()
    out: dict[str, tuple[Any, str]] = {}
    for sentence in re.split(r"(?<=[。;；\n])", text):
        s = sentence.strip()
        if not s or not compiled(d["gate"]).search(s):
            continue
        m = compiled(d["notices"]).search(s)
        if m and "s6.fee_notices" not in out:
            n = _zh_count(m.group(1))
            if n is not None:
                out["s6.fee_notices"] = (n, s)
        elif compiled(d["no_notices"]).search(s) and "s6.fee_notices" not in out:
            out["s6.fee_notices"] = (0, s)
            out.setdefault("s6.fee_notice_amount", (0, s))
        m = compiled(d["notice_amount"]).search(s)
        if m and "s6.fee_notice_amount" not in out:
            out["s6.fee_notice_amount"] = (_amount(m.group(1), m.group(2)), s)
        m = compiled(d["collected"]).search(s)
        if m and "s6.fee_collected" not in out:
            out["s6.fee_collected"] = (_amount(m.group(1), m.group(2)), s)
        elif compiled(d["none_collected"]).search(s) and "s6.fee_collected" not in out:
            out["s6.fee_collected"] = (0, s)
    return out


__all__ = ["KEYS", "read_fees"]
