"""Dispatcher heartbeats and channel health (`DispatchHealthRepo`): small tables, written every
few seconds at most, read by the console and `campaign start` of any process on the same database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from safetynet.domain.campaigns import DISPATCHER_ROLE, ChannelHealth, DispatcherBeat
from safetynet.store.rules import FORGET_DISPATCHER_SECONDS
from safetynet.store.sqlite.db import Database, Row, marks

_BEAT_COLS = "owner, host, pid, lanes, started_at, seen_at, stopped_at, role"
_HEALTH_COLS = "owner, channel, state, since, reason, detail, failures, updated_at"


def _beat(r: Row) -> DispatcherBeat:
    return DispatcherBeat(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6], r[7])


class HealthStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def beat(self, beat: DispatcherBeat, channels: Sequence[ChannelHealth] = (), *,
                   forget: bool = False) -> None:
        # one transaction; forgotten dispatchers take their channel rows along (ON DELETE CASCADE)
        async with self.db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO dispatchers ({_BEAT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at, stopped_at = excluded.stopped_at,"
                " lanes = excluded.lanes",
                (beat.owner, beat.host, beat.pid, json.dumps(list(beat.lanes)), beat.started_at, beat.seen_at,
                 beat.stopped_at, beat.role),
            )
            if channels:
                await conn.executemany(
                    f"INSERT INTO channel_health ({_HEALTH_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (owner, channel) DO UPDATE SET state = excluded.state, since = excluded.since,"
                    " reason = excluded.reason, detail = excluded.detail, failures = excluded.failures,"
                    " updated_at = excluded.updated_at",
                    [(h.owner, h.channel, h.state, h.since, h.reason, h.detail, h.failures, h.updated_at)
                     for h in channels],
                )
            if forget:
                await conn.execute("DELETE FROM dispatchers WHERE seen_at < ?", (beat.seen_at - FORGET_DISPATCHER_SECONDS,))

    async def dispatchers(self, limit: int = 20) -> list[DispatcherBeat]:
        rows = await self.db.staff.fetchall(
            f"SELECT {_BEAT_COLS} FROM dispatchers WHERE role = ? ORDER BY seen_at DESC LIMIT ?",
            (DISPATCHER_ROLE, limit))
        return [_beat(r) for r in rows]

    async def channels(self, owners: Sequence[str]) -> list[ChannelHealth]:
        if not owners:
            return []
        rows = await self.db.staff.fetchall(
            f"SELECT {_HEALTH_COLS} FROM channel_health WHERE owner IN ({marks(len(owners))})"
            " ORDER BY channel, owner", tuple(owners))
        return [ChannelHealth(*r) for r in rows]
