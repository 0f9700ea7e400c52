"""Shares of households are rounded down everywhere: 100 % means everyone, never "all but one"."""

from __future__ import annotations

from safetynet.domain.shares import percent, share, whole_percent


def test_a_share_reaches_one_only_when_every_household_has() -> None:
    assert share(199_999, 200_000) == 0.9999 and share(200_000, 200_000) == 1.0
    assert share(2, 3) == 0.6666 and share(1, 3) == 0.3333 and share(0, 5) == 0.0
    assert share(3, 0) == 0.0 and share(0, 0) == 0.0


def test_a_percentage_is_rounded_down_and_is_never_taken_a_point_off_by_floats() -> None:
    """Review: 995 of 1,000 answered read "100%" on /city and the dashboards."""
    assert percent(share(995, 1_000)) == "99%" and percent(0.9999) == "99%" and percent(1.0) == "100%"
    assert percent(0.29) == "29%" and percent(0.57) == "57%" and percent(0.0) == "0%"  # 0.29 * 100 is 28.99…
    assert percent(0.9999, 1) == "99.9%" and percent(share(2, 3), 1) == "66.6%" and percent(1.0, 1) == "100.0%"
    assert [whole_percent(share(n, 100)) for n in range(101)] == list(range(101))
