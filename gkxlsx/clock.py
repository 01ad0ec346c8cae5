"""China time (UTC+8, no daylight saving): the clock of every date and time gkxlsx shows or judges
by the calendar (the current year, a page's 生成时间), whatever the machine's own time zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8))


def china_now() -> datetime:
    """The current time in China (an aware datetime, UTC+8)."""
    return datetime.now(CHINA_TZ)
