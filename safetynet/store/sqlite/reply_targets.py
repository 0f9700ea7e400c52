"""Reply targets: a household in a campaign, found by its reply token's hash (the hot read).

Part of the reply store (`store/replies.py`); kept apart so each stays small.
"""

from __future__ import annotations

import asyncio

from safetynet.domain import CampaignKind, CampaignState, Status
from safetynet.domain.replies import ReplyTarget
from safetynet.store.sqlite.db import CHUNK, Database, Row, marks

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


class TokenLookups:
    """Token lookups of one loop iteration share one query: `… WHERE token_hash IN (…)`.

    Every aiosqlite call is a hop to the connection's thread and back; under load each hop waits
    for the GIL, so a reply that needs its own hop is slow. Concurrent answers arrive together
    (a city answering at once), and one hop serves all of them.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: dict[str, list[asyncio.Future[ReplyTarget | None]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.lookups = 0

    async def get(self, token_hash: str) -> ReplyTarget | None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ReplyTarget | None] = loop.create_future()
        self._pending.setdefault(token_hash, []).append(fut)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._dispatch)  # after every handler this iteration has woken
        return await fut

    def _dispatch(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, {}
        keys = list(batch)
        self.lookups += len(keys)
        self.batches += (len(keys) + CHUNK - 1) // CHUNK
        for n in range(0, len(keys), CHUNK):
            chunk = {k: batch[k] for k in keys[n : n + CHUNK]}
            task = asyncio.get_running_loop().create_task(self._run(chunk))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: dict[str, list[asyncio.Future[ReplyTarget | None]]]) -> None:
        try:
            rows = await self.db.fetchall(TARGET_SQL + f" WHERE ch.token_hash IN ({marks(len(chunk))})",
                                          list(chunk))
        except BaseException as e:
            for futs in chunk.values():
                for f in futs:
                    if not f.done():
                        f.set_exception(e)
            raise
        found = {r[8]: target_from_row(r) for r in rows}
        for key, futs in chunk.items():
            for f in futs:
                if not f.done():
                    f.set_result(found.get(key))


