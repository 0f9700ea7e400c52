"""The leader lease, shared lane slots and the keys' fingerprints (`CoordinationRepo`): tiny tables,
one row per lease, per lane and per key, each change a single upsert."""

from __future__ import annotations

from safetynet.clock import Clock
from safetynet.store.sqlite.db import Database


class CoordinationStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        now = self.clock.now()
        changed = await self.db.execute(
            "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"
            " WHERE leases.owner = excluded.owner OR leases.expires_at <= ?",
            (name, owner, now + ttl_seconds, now))
        return changed == 1

    async def release_lease(self, name: str, owner: str) -> None:
        await self.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    async def lease_holder(self, name: str) -> tuple[str, float] | None:
        row = await self.db.fetchone("SELECT owner, expires_at FROM leases WHERE name = ?", (name,))
        return None if row is None else (row[0], row[1])

    async def reserve_slots(self, lane: str, count: int, interval: float) -> float:
        span = max(1, count) * interval
        now = self.clock.now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO lane_slots (lane, next_at) VALUES (?, ?)"
                " ON CONFLICT (lane) DO UPDATE SET next_at = max(lane_slots.next_at, ?) + ?"
                " RETURNING next_at", (lane, now + span, now, span))
            row = await cur.fetchone()
        assert row is not None
        return float(row[0]) - span

    async def hold_lane(self, lane: str, until: float) -> None:
        await self.db.execute(
            "INSERT INTO lane_slots (lane, next_at) VALUES (?, ?)"
            " ON CONFLICT (lane) DO UPDATE SET next_at = max(lane_slots.next_at, excluded.next_at)",
            (lane, until))

    async def record_key(self, name: str, fingerprint: str) -> str:
        # the first writer's stays (two machines starting at once: the second is compared with it)
        await self.db.execute(
            "INSERT INTO key_fingerprints (name, fingerprint, recorded_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING", (name, fingerprint, self.clock.now()))
        recorded = await self.recorded_key(name)
        assert recorded is not None
        return recorded

    async def recorded_key(self, name: str) -> str | None:
        row = await self.db.fetchone("SELECT fingerprint FROM key_fingerprints WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    async def adopt_key(self, name: str, fingerprint: str) -> None:
        await self.db.execute(
            "INSERT INTO key_fingerprints (name, fingerprint, recorded_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, recorded_at = excluded.recorded_at",
            (name, fingerprint, self.clock.now()))
