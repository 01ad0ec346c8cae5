"""China time (UTC+8, no daylight saving; the zone Asia/Shanghai): the clock of every date and time
gkxlsx shows or judges by the calendar (the current year, a page's 生成时间, whether a return came
in time), whatever the machine's own time zone.

Times the ledger keeps (a return's received time, an office decision) are stored as ISO 8601 with
their UTC offset (``2026-01-10T15:20:00+08:00``; a mail's own Date keeps the zone it was written
in).  A stored time without an offset — ledgers written before times carried one, ``--received``
typed by a clerk — is China time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8))


def china_now() -> datetime:
    """The current time in China (an aware datetime, UTC+8)."""
    return datetime.now(CHINA_TZ)


def stamp(when: datetime | None = None) -> str:
    """A time as the ledger stores it: ISO 8601 to the second, with its offset (now: China time).
    A naive ``when`` is China time."""
    if when is None:
        when = china_now()
    elif when.tzinfo is None:
        when = when.replace(tzinfo=CHINA_TZ)
    return when.isoformat(timespec="seconds")


def parse_time(text: str | datetime) -> datetime:
    """A stored or typed time as an aware datetime (no offset: China time).  Raises ValueError."""
    d = text if isinstance(text, datetime) else datetime.fromisoformat(str(text).strip())
    return d if d.tzinfo is not None else d.replace(tzinfo=CHINA_TZ)


def in_china(text: str | datetime) -> datetime:
    """A stored time in China time."""
    return parse_time(text).astimezone(CHINA_TZ)


def china_date(text: str | datetime) -> date:
    """The calendar day in China of a stored time (what a deadline is judged by)."""
    return in_china(text).date()


def shown(text: str | datetime | None, *, seconds: bool = False) -> str:
    """A stored time as people read it, in China time: ``2026-01-10 15:20`` (``seconds``: ``…:00``).
    Empty for none; text that is not a time is returned as it is."""
    if not text:
        return ""
    try:
        d = in_china(text)
    except ValueError:
        return str(text).replace("T", " ")
    return d.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
