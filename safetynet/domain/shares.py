"""Shares of households, as every figure shows them: rounded down, so that 100 % means everyone.

Review: 199,999 of 200,000 answered read "100%" on /city and the dashboards and 1.0 in the API, beside one
household unaccounted for; on the night of an event, city hall reads 100 % as "everyone is accounted for".
"""

from __future__ import annotations

import math

# a share is kept to four places: the rate's float times 100 can fall a hair under the whole it stands for
# (0.29 * 100 == 28.999999999999996), which rounding down must not take a percent off for
_EPSILON = 1e-6


def share(part: int, whole: int) -> float:
    """`part / whole` to four places, rounded down: 1.0 only when `part == whole`; 0.0 of nothing."""
    if whole <= 0:
        return 0.0
    return (part * 10_000 // whole) / 10_000


def whole_percent(rate: float) -> int:
    """`rate` as whole percent, rounded down (0.9999 is 99)."""
    return math.floor(rate * 100 + _EPSILON)


def percent(rate: float, places: int = 0) -> str:
    """`rate` as a percentage rounded down to `places` decimals: "99%" for 0.9999, never "100%"."""
    scale = 10**places
    return f"{math.floor(rate * 100 * scale + _EPSILON) / scale:.{places}f}%"
