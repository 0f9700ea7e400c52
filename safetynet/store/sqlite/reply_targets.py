"""Reply targets: a household in a campaign, found by its reply token's hash (the hot read).

Part of the reply store (`store/replies.py`); kept apart so each stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from safetynet.domain import ANSWERED, CampaignKind, CampaignState, Status
from safetynet.domain.replies import RECENT_SHOWN, PageState, ReplyTarget, RunningTarget
from safetynet.store.sqlite.batching import IterationBatch
from safetynet.store.sqlite.db import Database, Row, marks, packed, real

_TARGET_COLUMNS = ("ch.campaign_id, ch.household_id, ch.association_id, ch.status, k.state, k.kind, {closed_at},"
                   " h.language, ch.token_hash")
_TARGET_FROM = (" FROM campaign_households ch JOIN campaigns k ON k.id = ch.campaign_id"
                " JOIN households h ON h.id = ch.household_id")
TARGET_SQL = "SELECT " + _TARGET_COLUMNS.format(closed_at="k.closed_at") + _TARGET_FROM
# A target with when its campaign started (`RunningTarget`): the campaigns an answer may belong to.
RUNNING_SQL = ("SELECT " + _TARGET_COLUMNS.format(closed_at="k.closed_at") + ", coalesce(k.started_at, k.created_at)"
               + _TARGET_FROM)
_PACKED_TARGETS = packed(_TARGET_COLUMNS.format(closed_at=real("k.closed_at"))) + _TARGET_FROM

def by_token_hashes(n: int) -> str:
    """The targets of `n` token hashes (`targets_by_hash` reads the rows)."""
    return TARGET_SQL + f" WHERE ch.token_hash IN ({marks(n)})"


def targets_by_hash(rows: Sequence[Row | list[Any]]) -> dict[str, ReplyTarget]:
    return {r[8]: target_from_row(r) for r in rows}


# Enum lookups by value through a dict: the Enum call costs more, and this runs for every answer.
STATUS = {s.value: s for s in Status}
_STATE = {s.value: s for s in CampaignState}
_KIND = {k.value: k for k in CampaignKind}


def target_from_row(row: Row | list[Any]) -> ReplyTarget:
    return ReplyTarget(
        campaign_id=row[0],
        household_id=row[1],
        association_id=row[2],
        status=STATUS[row[3]],
        campaign_state=_STATE[row[4]],
        kind=_KIND[row[5]],
        closed_at=None if row[6] is None else float(row[6]),
        language=row[7] or "ja",
    )


def running_from_row(row: Row | list[Any]) -> RunningTarget:
    """A row of `RUNNING_SQL`."""
    return RunningTarget(target_from_row(row), float(row[9]))


class TokenLookups(IterationBatch[str, ReplyTarget | None]):
    """Token lookups of one loop iteration share one query: `… WHERE token_hash IN (…)`.

    Every aiosqlite call is a hop to the connection's thread and back; under load each hop waits
    for the GIL, so a reply that needs its own hop is slow. Concurrent answers arrive together
    (a city answering at once), and one hop serves all of them.
    """

    def __init__(self, db: Database, packed: bool = True) -> None:
        self.db = db
        self.packed = packed  # one JSON value a query (`db.packed`), or rows
        super().__init__(self._targets, None)

    async def _targets(self, token_hashes: Sequence[str]) -> dict[str, ReplyTarget | None]:
        if self.packed:
            where = f" WHERE ch.token_hash IN ({marks(len(token_hashes))})"
            rows: Sequence[Row | list[Any]] = await self.db.fetch_packed(_PACKED_TARGETS + where, list(token_hashes))
        else:
            rows = await self.db.fetchall(by_token_hashes(len(token_hashes)), list(token_hashes))
        return dict(targets_by_hash(rows))


_ANSWERED_SQL = ", ".join(f"'{s.value}'" for s in sorted(ANSWERED))
# A household's latest replies that are not reads, as one JSON value, only once it has answered
# (json() keeps it an array inside the packed row rather than a string).
_RECENT = ("CASE WHEN ch.status IN (" + _ANSWERED_SQL + ") THEN json((SELECT json_group_array(json_array(r.id, "
           + real("r.received_at") + ", r.status)) FROM (SELECT id, received_at, status FROM replies r"
           " WHERE r.campaign_id = ch.campaign_id AND r.household_id = ch.household_id AND r.status <> 'read'"
           f" ORDER BY r.id DESC LIMIT {RECENT_SHOWN}) r)) END")
_PACKED_PAGES = packed(_TARGET_COLUMNS.format(closed_at=real("k.closed_at")) + ", " + _RECENT) + _TARGET_FROM
_RECENT_ROWS = ("SELECT household_id, id, received_at, status FROM replies WHERE campaign_id = ? AND household_id"
                " IN ({marks}) AND status <> 'read' ORDER BY id")


def _recent(rows: Sequence[Sequence[Any]]) -> tuple[tuple[float, str], ...]:
    """(id, when, status) rows, in any order → the page's (when, status), oldest first."""
    ordered = sorted(rows, key=lambda r: int(r[0]))[-RECENT_SHOWN:]
    return tuple((float(at), str(status)) for _, at, status in ordered)


class PageLookups(IterationBatch[str, PageState | None]):
    """The reply page's reads of one loop iteration: each household's target and, once it has
    answered, its latest replies, in one trip (packed) or two queries (rows)."""

    def __init__(self, db: Database, packed: bool = True) -> None:
        self.db = db
        self.packed = packed
        super().__init__(self._pages, None)

    async def _pages(self, token_hashes: Sequence[str]) -> dict[str, PageState | None]:
        where = f" WHERE ch.token_hash IN ({marks(len(token_hashes))})"
        if self.packed:
            rows = await self.db.fetch_packed(_PACKED_PAGES + where, list(token_hashes))
            return {r[8]: PageState(target_from_row(r), _recent(r[9]) if r[9] else ()) for r in rows}
        targets = {r[8]: target_from_row(r) for r in await self.db.fetchall(TARGET_SQL + where, list(token_hashes))}
        answered: dict[int, list[int]] = {}
        for t in targets.values():
            if t.status in ANSWERED:
                answered.setdefault(t.campaign_id, []).append(t.household_id)
        found: dict[tuple[int, int], list[Sequence[Any]]] = {}
        for campaign_id, households in answered.items():
            for r in await self.db.fetchall(_RECENT_ROWS.format(marks=marks(len(households))),
                                            [campaign_id, *households]):
                found.setdefault((campaign_id, r[0]), []).append(r[1:])
        return {h: PageState(t, _recent(found.get((t.campaign_id, t.household_id), [])))
                for h, t in targets.items()}
