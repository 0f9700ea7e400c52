"""Reads behind the stats document: counters and the answer curve (never a recount)."""

from __future__ import annotations

from collections.abc import Iterable

from safetynet.domain.campaigns import CountRow, MinuteRow
from safetynet.domain.roster import Association
from safetynet.store.sqlite.dashboard import phone_sql
from safetynet.store.sqlite.db import Reads, marks

# Households per query of household_phones: well under SQLite's and PostgreSQL's parameter limits.
_PHONES_CHUNK = 1000


class SqliteStatsReads:
    def __init__(self, db: Reads) -> None:
        self.db = db

    async def counts(self, campaign_id: int) -> list[CountRow]:
        rows = await self.db.fetchall(
            "SELECT association_id, status, n FROM campaign_counts WHERE campaign_id = ? AND n != 0", (campaign_id,)
        )
        return [CountRow(r[0], r[1], r[2]) for r in rows]

    async def minutes(self, campaign_id: int) -> list[MinuteRow]:
        rows = await self.db.fetchall(
            "SELECT association_id, minute, n FROM campaign_answer_minutes WHERE campaign_id = ? ORDER BY minute",
            (campaign_id,),
        )
        return [MinuteRow(r[0], r[1], r[2]) for r in rows]

    async def associations(self) -> list[Association]:
        rows = await self.db.fetchall(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id ORDER BY a.id"
        )
        return [Association(r[0], r[1], r[2]) for r in rows]

    async def open_help_requests(self, campaign_id: int) -> dict[int, int]:
        rows = await self.db.fetchall(
            # CROSS JOIN keeps SQLite starting from the (short) help list, not the whole campaign
            "SELECT ch.association_id, count(*) FROM help_requests h CROSS JOIN campaign_households ch"
            " ON ch.campaign_id = h.campaign_id AND ch.household_id = h.household_id"
            " WHERE h.campaign_id = ? AND h.handled_at IS NULL GROUP BY ch.association_id",
            (campaign_id,),
        )
        return {r[0]: r[1] for r in rows}

    async def household_phones(self, household_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        ids = sorted(set(household_ids))
        found: dict[int, tuple[str, str]] = {}
        for i in range(0, len(ids), _PHONES_CHUNK):
            part = ids[i:i + _PHONES_CHUNK]
            rows = await self.db.fetchall(
                f"SELECT h.id, {phone_sql('landline')}, {phone_sql('mobile')} FROM households h"
                f" WHERE h.id IN ({marks(len(part))})", part)
            found.update((r[0], (r[1], r[2])) for r in rows)
        return found
