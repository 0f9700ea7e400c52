"""The leader lease, shared lane slots and the keys' fingerprints in memory (`CoordinationRepo`)."""

from __future__ import annotations

import asyncio

from safetynet.store.memory.tables import Tables


class MemoryCoordination:
    def __init__(self, t: Tables) -> None:
        self.t = t
        self.leases: dict[str, tuple[str, float]] = {}
        self.lanes: dict[str, float] = {}
        self.keys: dict[str, str] = {}

    async def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> bool:
        await self.t.write()
        now = self.t.clock.now()
        held = self.leases.get(name)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self.leases[name] = (owner, now + ttl_seconds)
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        await self.t.write()
        if self.leases.get(name, ("", 0.0))[0] == owner:
            del self.leases[name]

    async def lease_holder(self, name: str) -> tuple[str, float] | None:
        await asyncio.sleep(0)
        return self.leases.get(name)

    async def reserve_slots(self, lane: str, count: int, interval: float) -> float:
        await self.t.write()
        start = max(self.lanes.get(lane, 0.0), self.t.clock.now())
        self.lanes[lane] = start + max(1, count) * interval
        return start

    async def hold_lane(self, lane: str, until: float) -> None:
        await self.t.write()
        self.lanes[lane] = max(self.lanes.get(lane, 0.0), until)

    async def record_key(self, name: str, fingerprint: str) -> str:
        await self.t.write()
        return self.keys.setdefault(name, fingerprint)

    async def recorded_key(self, name: str) -> str | None:
        await asyncio.sleep(0)
        return self.keys.get(name)

    async def adopt_key(self, name: str, fingerprint: str) -> None:
        await self.t.write()
        self.keys[name] = fingerprint
