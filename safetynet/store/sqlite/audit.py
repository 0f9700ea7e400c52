"""The audit log (`AuditRepo`): appended in batches by the web process's background writer (or at
once by a command), read in id order, and deleted by age under retention."""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.domain.audit import AUDIT_COLUMNS, AuditEntry
from safetynet.store.sqlite.db import Database, Row

_COLS = ", ".join(AUDIT_COLUMNS)
_WRITE_COLS = ", ".join(AUDIT_COLUMNS[1:])


def _entry(r: Row) -> AuditEntry:
    return AuditEntry(id=r[0], at=r[1], actor=r[2], role=r[3], staff_id=r[4], action=r[5], what=r[6],
                      campaign_id=r[7], association_id=r[8], household_id=r[9], detail=r[10])


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        await self.db.executemany(
            f"INSERT INTO audit_log ({_WRITE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.at, e.actor, e.role, e.staff_id, e.action, e.what, e.campaign_id, e.association_id, e.household_id,
              e.detail) for e in entries],
        )

    async def entries(self, *, since: float | None = None, until: float | None = None, after_id: int = 0,
                      limit: int = 1000) -> list[AuditEntry]:
        where: list[str] = ["id > ?"]
        params: list[float] = [after_id]
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        rows = await self.db.fetchall(
            f"SELECT {_COLS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit))
        return [_entry(r) for r in rows]

    async def erase_before(self, at: float) -> int:
        return await self.db.execute("DELETE FROM audit_log WHERE at < ?", (at,))
