"""Replies, household statuses, counters and the help list."""

from __future__ import annotations

from safetynet.clock import Clock
from safetynet.store.db import Database


class ReplyStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def stop(self) -> None:
        """Flushes and stops background group commits."""
