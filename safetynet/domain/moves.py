"""Moves within the city: a household `roster import --replace` removes from one association that the same
file adds to another, under a new household number (pure).

The residents enrolled their app channels (LINE, Telegram, web push, email) on the old household, and may
have refused consent there: seen as a removal and an addition, the new household reached nobody's phone
app and an empty consent cell could reveal what the resident refused. The roster has no person id, so a
move is recognised by what the city's file keeps of the household: the same head's name (folded as the
roster folds cells: width, case and spaces forgotten) and at least one shared phone number (E.164, a
mobile or a landline). Only a one-to-one pairing is a move: a household with two candidates (two
households of the same name sharing a phone: a parent and a child's family, twins) is none, and said.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

# A contact address in E.164: how the roster stores every phone (mobile, landline), and nothing else
# (chat ids have no "+", emails an "@", a subscription is JSON).
_E164 = re.compile(r"\+[1-9]\d{6,14}")
# spaces (half and full width) and the dots people put between family and given name (U+30FB, U+FF65)
_DROP = str.maketrans("", "", " \u3000\t\u30fb\uff65.")


def is_phone(address: str) -> bool:
    """Whether a stored contact address is a phone number (E.164)."""
    return _E164.fullmatch(address) is not None


def name_key(name: str) -> str:
    """A head's name folded for comparison: NFKC (full-width to half-width), case and spaces forgotten,
    so 「山田　太郎」, 「山田 太郎」 and 「山田太郎」 are one name."""
    return unicodedata.normalize("NFKC", name).casefold().translate(_DROP)


@dataclass(frozen=True, slots=True)
class MoveSide:
    """One side of a possible move: a household the import removes (`ref` its id) or a row it adds (`ref`
    the row's place in the import); its association, head's name and phones (E.164)."""

    ref: int
    association_id: int
    name: str
    phones: frozenset[str]


@dataclass(frozen=True, slots=True)
class MovePlan:
    """The moves found: (removed household's ref, added row's ref), and how many removed households had
    more than one candidate, or shared one with another (not moved)."""

    moves: tuple[tuple[int, int], ...] = ()
    ambiguous: int = 0


def match_moves(removed: Iterable[MoveSide], added: Iterable[MoveSide]) -> MovePlan:
    """Pairs each removed household with the one added row of another association that has the same
    folded name and shares a phone, where neither has any other such partner."""
    by_name: dict[str, list[MoveSide]] = defaultdict(list)
    for a in added:
        key = name_key(a.name)
        if key and a.phones:
            by_name[key].append(a)
    edges: list[tuple[int, int]] = []
    for g in removed:
        key = name_key(g.name)
        if not key or not g.phones:
            continue
        edges.extend((g.ref, a.ref) for a in by_name.get(key, ())
                     if a.association_id != g.association_id and a.phones & g.phones)
    gone_degree: dict[int, int] = defaultdict(int)
    added_degree: dict[int, int] = defaultdict(int)
    for g_ref, a_ref in edges:
        gone_degree[g_ref] += 1
        added_degree[a_ref] += 1
    moves = tuple(sorted((g_ref, a_ref) for g_ref, a_ref in edges
                         if gone_degree[g_ref] == 1 and added_degree[a_ref] == 1))
    return MovePlan(moves, ambiguous=len(gone_degree) - len(moves))
