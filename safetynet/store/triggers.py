"""Trigger events (JMA, CAP): what was received and what was decided. Owned by the triggers work."""

from __future__ import annotations

from safetynet.clock import Clock
from safetynet.store.db import Database


class TriggerStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
