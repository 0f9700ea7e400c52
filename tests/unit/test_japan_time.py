"""Japan time (safetynet.domain.japan_time): every time a person reads, in one zone and a few formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from safetynet.domain.japan_time import JST, date_time, date_time_jst, in_japan, month_day_time, time_of_day

# 2026-12-04 15:00 UTC is already the next day in Japan: the case a UTC formatter gets wrong.
LATE_EVENING_UTC = datetime(2026, 12, 4, 15, 0, tzinfo=UTC).timestamp()


def test_japan_is_nine_hours_ahead_of_utc_all_year() -> None:
    for month in (1, 7):  # no daylight saving: winter and summer alike
        at = datetime(2026, month, 1, tzinfo=UTC)
        assert JST.utcoffset(at) == timedelta(hours=9)


def test_the_formats_cross_midnight_into_the_japanese_day() -> None:
    assert date_time(LATE_EVENING_UTC) == "2026-12-05 00:00"
    assert date_time_jst(LATE_EVENING_UTC) == "2026-12-05 00:00 JST"  # a command line's line names its zone
    assert month_day_time(LATE_EVENING_UTC) == "12/05 00:00"
    assert time_of_day(LATE_EVENING_UTC) == "00:00"
    assert time_of_day(LATE_EVENING_UTC - 60) == "23:59"


def test_the_year_turns_in_japan_before_it_turns_in_utc() -> None:
    new_year = datetime(2026, 12, 31, 15, 30, tzinfo=UTC).timestamp()
    assert date_time(new_year) == "2027-01-01 00:30"
    assert month_day_time(new_year) == "01/01 00:30"


def test_iso_8601_carries_the_offset() -> None:
    assert in_japan(LATE_EVENING_UTC).isoformat(timespec="minutes") == "2026-12-05T00:00+09:00"
    assert in_japan(LATE_EVENING_UTC).timestamp() == LATE_EVENING_UTC
