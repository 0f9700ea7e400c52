"""The stats document's timeline and the report's curve label a minute alike: by its end."""

from __future__ import annotations

from safetynet.domain.campaigns import CountRow, MinuteRow
from safetynet.domain.roster import Association
from safetynet.stats.curve import Series, by_the_minute, minutes_to_reach
from safetynet.stats.document import build_stats


def test_an_answer_in_the_first_minute_counts_at_t_1_as_the_report_reads_it() -> None:
    """Review: 4 households, answers at +0:20, +0:50 and +1:30: the API said 2 answered at t=0, the report
    of the same campaign said 50 % took 1 minute and its chart drew 50 % at 1."""
    a = Association(1, "桜町", "北地区")
    counts = [CountRow(1, "safe", 3), CountRow(1, "pending", 1)]
    minutes = [MinuteRow(1, 0, 2), MinuteRow(1, 1, 1)]
    doc = build_stats({"id": 1, "kind": "drill", "state": "running"}, counts, minutes, [a])
    assert doc["timeline"] == [{"t": 1, "answered": 2}, {"t": 2, "answered": 3}]
    series = Series("北地区", 4, ((0, 2), (1, 3)))
    assert minutes_to_reach(series, 0.5) == 1 and minutes_to_reach(series, 0.75) == 2
    assert by_the_minute(series.points) == [[t["t"], t["answered"]] for t in doc["timeline"]]
