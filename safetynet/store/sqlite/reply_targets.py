"""Reply targets: a household in a campaign, found by its reply token's hash (the hot read).

Part of the reply store (`store/replies.py`); kept apart so each stays small.
"""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.replies import ReplyTarget
from safetynet.store.sqlite.batching import IterationBatch
from safetynet.store.sqlite.db import Database, Row, marks

TARGET_SQL = (
    "SELECT ch.campaign_id, ch.household_id, ch.association_id, ch.status, k.state, k.kind, k.closed_at, h.language,"
    " ch.token_hash"
    " FROM campaign_households ch JOIN campaigns k ON k.id = ch.campaign_id"
    " JOIN households h ON h.id = ch.household_id"
)

# Enum lookups by value through a dict: the Enum call costs more, and this runs for every answer.
STATUS = {s.value: s for s in Status}
_STATE = {s.value: s for s in CampaignState}
_KIND = {k.value: k for k in CampaignKind}


def target_from_row(row: Row) -> ReplyTarget:
    return ReplyTarget(
        campaign_id=row[0],
        household_id=row[1],
        association_id=row[2],
        status=STATUS[row[3]],
        campaign_state=_STATE[row[4]],
        kind=_KIND[row[5]],
        closed_at=row[6],
        language=row[7] or "ja",
    )


class TokenLookups(IterationBatch[str, ReplyTarget | None]):
    """Token lookups of one loop iteration share one query: `… WHERE token_hash IN (…)`.

    Every aiosqlite call is a hop to the connection's thread and back; under load each hop waits
    for the GIL, so a reply that needs its own hop is slow. Concurrent answers arrive together
    (a city answering at once), and one hop serves all of them.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        super().__init__(self._targets, None)

    async def _targets(self, token_hashes: Sequence[str]) -> dict[str, ReplyTarget | None]:
        rows = await self.db.fetchall(TARGET_SQL + f" WHERE ch.token_hash IN ({marks(len(token_hashes))})",
                                      list(token_hashes))
        return {r[8]: target_from_row(r) for r in rows}
