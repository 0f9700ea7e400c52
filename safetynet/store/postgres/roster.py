"""The roster repository on PostgreSQL: the portable SQL of `store.sqlite.roster`, with the import
going in by COPY (`roster_import`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import structlog

from safetynet.domain.roster import HouseholdRecord, ImportSummary
from safetynet.store.postgres import roster_import
from safetynet.store.rules import check_records
from safetynet.store.sqlite.roster import RosterStore
from safetynet.store.sqlite.roster_import import ImportCounts, whole_once_committing

log = structlog.get_logger("store.roster")


class PgRosterStore(RosterStore):
    async def import_households(self, records: Sequence[HouseholdRecord], replace: bool = False,
                                consent_stated: bool = True) -> ImportSummary:
        check_records(records, self.routes.of_kind)
        now = self.clock.now()

        async def write(commit_begins: Callable[[], None]) -> ImportCounts:
            async with cast(Any, self.db).transaction() as conn:
                counts = await roster_import.import_records(conn, records, now, replace, consent_stated)
                commit_begins()
            return counts

        counts = await whole_once_committing(write)  # as SQLite's: a COMMIT begun is not cut off
        log.info("roster_imported", households=len(records), added=counts.added, updated=counts.updated,
                 removed=counts.removed, replace=replace, consent_kept=counts.consent_kept,
                 consent_changed=len(counts.consent_changed), moved=counts.moved,
                 moves_ambiguous=counts.moves_ambiguous)
        return counts.summary(records)
