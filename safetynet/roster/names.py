"""Association names in a roster file against those the city already has (pure).

A roster comes from Excel, typed by many hands: 「桜台１丁目町内会」 for 「桜台一丁目町内会」 is one
keystroke, and it makes a new association holding copies of the same households (QA: ten households
twice, the same phones alerted twice, a headless association on the overview). Names are folded to
a key that forgets width, case, spaces, kanji digits and the usual suffixes, so such a name is caught
before anything is imported.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from safetynet.domain.roster import Association, HouseholdRecord

_KANJI_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")
_SMALL_KE = str.maketrans({"ヶ": "が", "ケ": "が", "ヵ": "か"})
# what one file writes and another leaves out: the kind of association, spaces and dots
_SUFFIXES = ("町内会", "自治会", "町会", "区会", "会")
_DROP = str.maketrans("", "", " \u3000・.-‐－")


def association_key(name: str) -> str:
    """The name folded for comparison: NFKC, lower case, kanji digits as digits, small ケ as が, no
    spaces or dots, no trailing 町内会/自治会/町会."""
    key = unicodedata.normalize("NFKC", name).lower().translate(_DROP).translate(_KANJI_DIGITS).translate(_SMALL_KE)
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


@dataclass(frozen=True, slots=True)
class NewAssociation:
    """An association of the file the city does not have yet; `like`: an existing one whose name
    folds to the same key (most likely the same association, typed differently), or ''."""

    name: str
    district: str
    households: int
    like: str = ""


def new_associations(records: Iterable[HouseholdRecord], known: Sequence[Association]) -> list[NewAssociation]:
    """The file's associations the city does not have, in the file's order, each with its look-alike."""
    names = {a.name for a in known}
    keys = {association_key(a.name): a.name for a in known}
    counts: Counter[tuple[str, str]] = Counter((r.association, r.district) for r in records)
    return [NewAssociation(name, district, n, keys.get(association_key(name), ""))
            for (name, district), n in counts.items() if name not in names]


@dataclass(frozen=True, slots=True)
class MovedAssociation:
    """An association the city has in district `old` that the file puts in `new`: importing moves the
    association, with every household the city has in it (not only the file's rows), out of `old`'s
    district head's scope."""

    name: str
    old: str
    new: str


def moved_associations(records: Iterable[HouseholdRecord], known: Sequence[Association]) -> list[MovedAssociation]:
    """The file's associations the city has in another district, in the file's order."""
    district_of = {a.name: a.district for a in known}
    pairs = dict.fromkeys((r.association, r.district) for r in records)
    return [MovedAssociation(name, district_of[name], district)
            for name, district in pairs if name in district_of and district_of[name] != district]
