"""Bulk seeding for benchmarks only: many enrolled contacts in one transaction.

`RosterStore.add_contact` is one transaction per contact (what an enrolment page needs); seeding
120,000 web-push subscriptions for `safetynet bench broadcast` that way takes minutes. Production
code never calls this module.
"""

from __future__ import annotations

from collections.abc import Iterable

from safetynet.clock import Clock
from safetynet.domain import ContactKind
from safetynet.store.db import Database


async def add_enrolled_contacts(db: Database, clock: Clock, rows: Iterable[tuple[int, ContactKind, str]]) -> None:
    """(household id, kind, address) rows as enrolment contacts, idempotent by the contacts' unique key."""
    now = clock.now()
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT OR IGNORE INTO contacts (household_id, kind, address, source, created_at)"
            " VALUES (?, ?, ?, 'enrolment', ?)",
            [(h, str(kind), address, now) for h, kind, address in rows],
        )
