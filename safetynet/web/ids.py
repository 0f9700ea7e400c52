"""Ids in paths, queries and forms: ASCII digits only, one rule for every route.

`str.isdigit()` is true for "²" and "１" and `int()` takes "１" and "0_1" (as 1): checked with
those alone, `/api/campaigns/１/stats` answered for campaign 1 and `/a/²` was a 500.
"""

from __future__ import annotations

# SQLite's integers are 64-bit: an id of at most 18 digits always fits (a longer one names nothing).
MAX_ID_DIGITS = 18


def parse_id(text: str | None) -> int | None:
    """`text` as an id when it is 1 to 18 ASCII digits, else None (the route's own not-found answer)."""
    if text is None or not 0 < len(text) <= MAX_ID_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
