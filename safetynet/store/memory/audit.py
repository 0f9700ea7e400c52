"""The audit log in memory (`AuditRepo`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from safetynet.domain.audit import AuditEntry
from safetynet.store.memory.tables import Tables


class MemoryAudit:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        await self.t.write()
        for e in entries:
            i = self.t.next_id("audit")
            self.t.audit[i] = dataclasses.replace(e, id=i)

    async def entries(self, *, since: float | None = None, until: float | None = None, after_id: int = 0,
                      limit: int = 1000) -> list[AuditEntry]:
        await asyncio.sleep(0)
        found = [e for i, e in sorted(self.t.audit.items()) if i > after_id
                 and (since is None or e.at >= since) and (until is None or e.at < until)]
        return found[:limit]

    async def erase_before(self, at: float) -> int:
        await self.t.write()
        gone = [i for i, e in self.t.audit.items() if e.at < at]
        for i in gone:
            del self.t.audit[i]
        return len(gone)
