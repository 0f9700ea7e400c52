"""Walking order for a door-knock list: by 班, then by address with its numbers compared as numbers
(桜町3-22 before 桜町12-4; 2班 before 10班), as a volunteer walks the blocks."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

_RUNS = re.compile(r"(\d+)")
# dashes people type between block numbers: all mean the same separator
_DASHES = "‐‑‒–—―−ー－"
_TO_HYPHEN = str.maketrans(dict.fromkeys(_DASHES, "-"))
# str.translate with a table looks every character of a Japanese text up in a dict (~1.5 µs an
# address): most texts hold no such dash, which a regex finds in C
_ANY_DASH = re.compile(f"[{_DASHES}]")

NaturalKey = tuple[tuple[int, int, str], ...]


def natural_key(text: str) -> NaturalKey:
    """A sort key reading runs of digits as numbers: "3-22" < "12-4" < "12-10"; full-width digits
    and dashes count as their ASCII forms; letters compare case-insensitively. Numbers sort before
    words at the same place, so "3" < "3-1" < "A"."""
    norm = unicodedata.normalize("NFKC", text)
    if _ANY_DASH.search(norm):
        norm = norm.translate(_TO_HYPHEN)
    norm = norm.strip().casefold()
    key: list[tuple[int, int, str]] = []
    for i, part in enumerate(_RUNS.split(norm)):
        if not part:
            continue
        # odd parts are the digit runs; the text tie-breaks "007" against "7"
        key.append((0, int(part), part) if i % 2 else (1, 0, part))
    return tuple(key)


def walking_key(group: str, address: str, household_key: str = "") -> tuple[NaturalKey, NaturalKey, NaturalKey]:
    """The door-knock list's order: 班 (an empty 班 last), then address, then the household's number."""
    return (_group_part(group), natural_key(address), natural_key(household_key))


@functools.lru_cache(maxsize=1024)
def _group_part(group: str) -> NaturalKey:
    """A 班's key (cached: a city has a few hundred 班 names, each on hundreds of households)."""
    no_group = ((2, 0, ""),)  # after every number and word
    return natural_key(group) if group.strip() else no_group


# (household id, 班, address, household number) of each household of a list, in the list's order
Places = tuple[tuple[int, str, str, str], ...]


@functools.lru_cache(maxsize=256)
def walking_ranks(places: Places) -> Mapping[int, int]:
    """Each household's place in walking order among `places` (equal keys keep the list's order).

    Cached by the whole tuple: an association's dashboard and door-knock list reload the same
    households over and over, and their keys cost ~5 µs a household (a normalisation and a regex
    split of three texts), most of a dashboard's Python time besides its rows. At most 256 lists,
    a few MB at 200 households each (the tuples share the lines' strings)."""
    order = sorted(places, key=lambda p: walking_key(p[1], p[2], p[3]))
    return MappingProxyType({p[0]: i for i, p in enumerate(order)})

