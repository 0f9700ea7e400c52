"""Dispatcher heartbeats and channel health in memory (`DispatchHealthRepo`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from safetynet.domain.campaigns import DISPATCHER_ROLE, ChannelHealth, DispatcherBeat
from safetynet.store.memory.tables import Tables
from safetynet.store.rules import FORGET_DISPATCHER_SECONDS


class MemoryDispatchHealth:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def beat(self, beat: DispatcherBeat, channels: Sequence[ChannelHealth] = (), *,
                   forget: bool = False) -> None:
        await self.t.write()
        t = self.t
        known = t.dispatchers.get(beat.owner)
        t.dispatchers[beat.owner] = beat if known is None else dataclasses.replace(
            known, lanes=beat.lanes, seen_at=beat.seen_at, stopped_at=beat.stopped_at)
        for h in channels:
            t.channel_health[(h.owner, h.channel)] = h
        if forget:
            gone = {o for o, b in t.dispatchers.items() if b.seen_at < beat.seen_at - FORGET_DISPATCHER_SECONDS}
            for owner in gone:
                del t.dispatchers[owner]
            for key in [k for k in t.channel_health if k[0] in gone]:
                del t.channel_health[key]

    async def dispatchers(self, limit: int = 20) -> list[DispatcherBeat]:
        await asyncio.sleep(0)
        beats = (b for b in self.t.dispatchers.values() if b.role == DISPATCHER_ROLE)
        return sorted(beats, key=lambda b: b.seen_at, reverse=True)[:limit]

    async def channels(self, owners: Sequence[str]) -> list[ChannelHealth]:
        await asyncio.sleep(0)
        wanted = set(owners)
        return sorted((h for h in self.t.channel_health.values() if h.owner in wanted),
                      key=lambda h: (h.channel, h.owner))
