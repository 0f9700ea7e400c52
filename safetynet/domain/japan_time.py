"""Japan time: the zone every time a person reads is shown in (pages, reports, the command line),
and the few ways those times are written.

Japan has kept UTC+9 without daylight saving since 1951, so a fixed offset is exact and needs no
zone database. Times are kept as epoch seconds everywhere else; they become Japan time only here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

__all__ = ["JST", "date_time", "date_time_jst", "day_bound", "in_japan", "iso_seconds", "month_day_time",
           "time_of_day"]

JST = timezone(timedelta(hours=9))


def in_japan(epoch: float) -> datetime:
    """The moment `epoch` as an aware datetime in Japan time (for ISO 8601 with its +09:00)."""
    return datetime.fromtimestamp(epoch, JST)


def iso_seconds(epoch: float) -> str:
    """"2026-12-05T00:00:00+09:00": a machine-read time with its offset (CAP, Atom, the audit export)."""
    return in_japan(epoch).isoformat(timespec="seconds")


def date_time(epoch: float) -> str:
    """"2026-12-05 00:00": staff pages, reports, campaign titles."""
    return in_japan(epoch).strftime("%Y-%m-%d %H:%M")


def date_time_jst(epoch: float) -> str:
    """"2026-12-05 00:00 JST": a line of the command line or a log, read with no page around it
    to say which zone it is in."""
    return date_time(epoch) + " JST"


def month_day_time(epoch: float) -> str:
    """"12/05 00:00": the resident's reply page, where the year goes without saying."""
    return in_japan(epoch).strftime("%m/%d %H:%M")


def time_of_day(epoch: float) -> str:
    """"00:00": a time on a page that already says which day it is about."""
    return in_japan(epoch).strftime("%H:%M")


def day_bound(day: str, end: bool = False) -> float:
    """The start of a day written "2026-12-01", in Japan time, as epoch seconds (`end`: the start of the
    next day, so that a range up to that day includes it). ValueError for anything else, OverflowError
    past 9999-12-31."""
    start = datetime.combine(date.fromisoformat(day), time(), JST)
    return (start + timedelta(days=1) if end else start).timestamp()
