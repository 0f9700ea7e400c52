"""Walking order for a door-knock list: by 班, then by address with its numbers compared as numbers
(桜町3-22 before 桜町12-4; 2班 before 10班), as a volunteer walks the blocks."""

from __future__ import annotations

import re
import unicodedata

_RUNS = re.compile(r"(\d+)")
# dashes people type between block numbers: all mean the same separator
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−ー－"})

NaturalKey = tuple[tuple[int, int, str], ...]


def natural_key(text: str) -> NaturalKey:
    """A sort key reading runs of digits as numbers: "3-22" < "12-4" < "12-10"; full-width digits
    and dashes count as their ASCII forms; letters compare case-insensitively. Numbers sort before
    words at the same place, so "3" < "3-1" < "A"."""
    norm = unicodedata.normalize("NFKC", text).translate(_DASHES).strip().casefold()
    key: list[tuple[int, int, str]] = []
    for i, part in enumerate(_RUNS.split(norm)):
        if not part:
            continue
        # odd parts are the digit runs; the text tie-breaks "007" against "7"
        key.append((0, int(part), part) if i % 2 else (1, 0, part))
    return tuple(key)


def walking_key(group: str, address: str, household_key: str = "") -> tuple[NaturalKey, NaturalKey, NaturalKey]:
    """The door-knock list's order: 班 (an empty 班 last), then address, then the household's number."""
    no_group = ((2, 0, ""),)  # after every number and word
    return (natural_key(group) if group.strip() else no_group, natural_key(address), natural_key(household_key))
