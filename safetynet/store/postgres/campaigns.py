"""Campaigns on PostgreSQL: the portable SQL of `store.sqlite.campaigns`; enrolment goes in by COPY
(the token hashes are computed here, where SQLite computes them in a function of its own), and the
idempotency key is read with PostgreSQL's JSON operators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from safetynet.domain.campaigns import Campaign
from safetynet.store.postgres.db import PgDatabase
from safetynet.store.sqlite.campaigns import _COLS, CampaignStore, _campaign
from safetynet.store.sqlite.roster_scope import scope_filter


class PgCampaignStore(CampaignStore):
    @property
    def _pg(self) -> PgDatabase:
        return cast(PgDatabase, self.db)

    async def find_by_dedupe_key(self, key: str) -> Campaign | None:
        row = await self.db.fetchone(
            f"SELECT {_COLS} FROM campaigns WHERE options::jsonb ->> 'dedupe_key' = ? ORDER BY id LIMIT 1", (key,))
        return _campaign(row) if row else None

    async def enrol_scope(
        self, campaign_id: int, scope: Sequence[str], token_hash_of: Callable[[int, int], str],
        batch_size: int = 20_000,
    ) -> int:
        """Batches of the scope's households in id order: their hashes go by binary COPY into a
        temporary table, and one INSERT … ON CONFLICT DO NOTHING enrols them (idempotent)."""
        cond, params = await scope_filter(self.db, scope)
        total, last = 0, 0
        while True:
            rows = await self.db.fetchall(
                f"SELECT h.id, h.association_id FROM households h WHERE h.removed_at IS NULL AND {cond}"
                " AND h.id > ? ORDER BY h.id LIMIT ?", (*params, last, batch_size))
            if not rows:
                return total
            records: list[Any] = [(campaign_id, r[0], r[1], token_hash_of(campaign_id, r[0])) for r in rows]
            async with self._pg.transaction() as conn:
                raw = conn.raw
                await raw.execute("CREATE TEMP TABLE enrol_rows (campaign_id bigint, household_id bigint,"
                                  " association_id bigint, token_hash text) ON COMMIT DROP")
                await raw.copy_records_to_table("enrol_rows", records=records)
                status = await raw.execute(
                    "INSERT INTO campaign_households (campaign_id, household_id, association_id, token_hash)"
                    " SELECT campaign_id, household_id, association_id, token_hash FROM enrol_rows"
                    " ORDER BY household_id ON CONFLICT DO NOTHING")
                total += int(status.rsplit(" ", 1)[-1])
            last = rows[-1][0]
