"""Trigger decisions in memory (`TriggerRepo`), one per dedupe key."""

from __future__ import annotations

import asyncio
import dataclasses

from safetynet.domain.triggers import TriggerRecord
from safetynet.store.memory.tables import Tables


class MemoryTriggers:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def record(self, rec: TriggerRecord) -> bool:
        await self.t.write()
        if any(r.dedupe_key == rec.dedupe_key for r in self.t.triggers.values()):
            return False
        stored = dataclasses.replace(rec, id=self.t.next_id("triggers"), received_at=self.t.clock.now())
        self.t.triggers[stored.id] = stored
        return True

    async def exists(self, dedupe_key: str) -> bool:
        await asyncio.sleep(0)
        return any(r.dedupe_key == dedupe_key for r in self.t.triggers.values())

    def _ordered(self) -> list[TriggerRecord]:
        return [self.t.triggers[i] for i in sorted(self.t.triggers)]

    async def since(self, received_after: float) -> list[TriggerRecord]:
        await asyncio.sleep(0)
        return [r for r in self._ordered() if r.received_at >= received_after]

    async def recent(self, limit: int = 50, acted_only: bool = False) -> list[TriggerRecord]:
        await asyncio.sleep(0)
        rows = [r for r in reversed(self._ordered()) if not acted_only or r.decision != "ignore"]
        return rows[:limit]

    async def for_campaign(self, campaign_id: int) -> list[TriggerRecord]:
        await asyncio.sleep(0)
        return [r for r in self._ordered() if r.campaign_id == campaign_id]
