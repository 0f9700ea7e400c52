"""Trigger events (JMA, CAP): what was received and what was decided. Owned by the triggers work.

Every decision is one row, unique by its telegram's dedupe key, so a telegram received twice
(feed and push, a restart, a re-sent copy) is decided once.
"""

from __future__ import annotations

from safetynet.clock import Clock
from safetynet.domain.triggers import TriggerRecord
from safetynet.store.sqlite.db import Database, Row

_COLS = """id, source, dedupe_key, kind, event_key, event_id, serial, info_type, status, intensity,
    decision, reason, campaign_id, origin, detail, reported_at, received_at"""


def _record(row: Row) -> TriggerRecord:
    return TriggerRecord(
        id=row["id"], source=row["source"], dedupe_key=row["dedupe_key"], kind=row["kind"],
        event_key=row["event_key"], event_id=row["event_id"], serial=row["serial"],
        info_type=row["info_type"], status=row["status"], intensity=row["intensity"],
        decision=row["decision"], reason=row["reason"], campaign_id=row["campaign_id"],
        origin=row["origin"], detail=row["detail"], reported_at=row["reported_at"],
        received_at=row["received_at"],
    )


class TriggerStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def record(self, rec: TriggerRecord) -> bool:
        """Stores a decision; False (and nothing written) when its dedupe key is already there."""
        changed = await self.db.execute(
            """INSERT INTO trigger_events (source, dedupe_key, kind, event_key, event_id, serial, info_type,
                   status, intensity, decision, reason, campaign_id, origin, detail, reported_at, received_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (dedupe_key) DO NOTHING""",
            (rec.source, rec.dedupe_key, rec.kind, rec.event_key, rec.event_id, rec.serial, rec.info_type,
             rec.status, rec.intensity, rec.decision, rec.reason, rec.campaign_id, rec.origin, rec.detail,
             rec.reported_at, self.clock.now()),
        )
        return changed == 1

    async def exists(self, dedupe_key: str) -> bool:
        return bool(await self.db.fetchval("SELECT 1 FROM trigger_events WHERE dedupe_key = ?", (dedupe_key,)))

    async def since(self, received_after: float) -> list[TriggerRecord]:
        """Decisions received after a time, oldest first (to rebuild the rules' memory)."""
        rows = await self.db.fetchall(
            f"SELECT {_COLS} FROM trigger_events WHERE received_at >= ? ORDER BY id", (received_after,)
        )
        return [_record(r) for r in rows]

    async def recent(self, limit: int = 50, acted_only: bool = False) -> list[TriggerRecord]:
        """The latest decisions, newest first (for the console)."""
        where = "WHERE decision <> 'ignore'" if acted_only else ""
        rows = await self.db.fetchall(
            f"SELECT {_COLS} FROM trigger_events {where} ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_record(r) for r in rows]

    async def for_campaign(self, campaign_id: int) -> list[TriggerRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_COLS} FROM trigger_events WHERE campaign_id = ? ORDER BY id", (campaign_id,)
        )
        return [_record(r) for r in rows]
