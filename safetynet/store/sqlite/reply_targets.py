"""Reply targets: a household in a campaign, found by its reply token's hash (the hot read).

Part of the reply store (`store/replies.py`); kept apart so each stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.replies import ReplyTarget
from safetynet.store.sqlite.batching import IterationBatch
from safetynet.store.sqlite.db import Database, Row, marks, packed, real

_TARGET_COLUMNS = ("ch.campaign_id, ch.household_id, ch.association_id, ch.status, k.state, k.kind, {closed_at},"
                   " h.language, ch.token_hash")
_TARGET_FROM = (" FROM campaign_households ch JOIN campaigns k ON k.id = ch.campaign_id"
                " JOIN households h ON h.id = ch.household_id")
TARGET_SQL = "SELECT " + _TARGET_COLUMNS.format(closed_at="k.closed_at") + _TARGET_FROM
_PACKED_TARGETS = packed(_TARGET_COLUMNS.format(closed_at=real("k.closed_at"))) + _TARGET_FROM

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
        where = f" WHERE ch.token_hash IN ({marks(len(token_hashes))})"
        if self.packed:
            rows: Sequence[Row | list[Any]] = await self.db.fetch_packed(_PACKED_TARGETS + where, list(token_hashes))
        else:
            rows = await self.db.fetchall(TARGET_SQL + where, list(token_hashes))
        return {r[8]: target_from_row(r) for r in rows}
