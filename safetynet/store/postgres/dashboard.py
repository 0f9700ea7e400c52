"""The dashboard repository on PostgreSQL: the portable SQL of `store.sqlite.dashboard` through
`PgDatabase`, but for the contact check's tallies, which PostgreSQL plans its own way."""

from __future__ import annotations

from collections.abc import Iterable

from safetynet.domain.campaigns import CheckTally
from safetynet.store.sqlite.dashboard import (
    CHECK_STATE,
    CHECK_TALLIES,
    CHECKS_THAT_COUNT,
    SqliteDashboardReads,
    check_tallies,
)
from safetynet.store.sqlite.db import marks

# The portable tally's latest check (a subquery in a join condition) runs as a subplan for every
# contact inside a hash join, and one association's contacts are found by a scan of the city's. Here
# the latest check is one backward probe of (contact_id, campaign_id) per contact, and an
# association's contacts are reached through its households ((household_id, …) index): one
# association's tally reads its own ~200 contacts, the city's one pass over all of them.
_LATEST = (" LEFT JOIN LATERAL (SELECT k.contact_id, k.confirmed_at FROM contact_checks k"
           f" WHERE k.contact_id = c.id AND {CHECKS_THAT_COUNT} ORDER BY k.campaign_id DESC LIMIT 1) cc ON true")
_SELECT = f"SELECT c.id AS cid, c.household_id AS hid, c.kind AS kind, {CHECK_STATE} AS st"
_CITY = (f"{_SELECT} FROM contacts c JOIN households h ON h.id = c.household_id{_LATEST}"
         " WHERE h.removed_at IS NULL")
_ASSOCIATIONS = (
    # OFFSET 0: without it the planner folds the subquery into a hash join over every contact
    f"{_SELECT} FROM households h CROSS JOIN LATERAL (SELECT id, household_id, kind, state FROM contacts"
    f" WHERE household_id = h.id OFFSET 0) c{_LATEST} WHERE h.removed_at IS NULL AND h.association_id IN ({{marks}})"
)


class PgDashboardReads(SqliteDashboardReads):
    async def contact_checks(self, association_ids: Iterable[int] | None = None) -> list[CheckTally]:
        ids = None if association_ids is None else list(association_ids)
        if ids is not None and not ids:
            return []
        contacts = _CITY if ids is None else _ASSOCIATIONS.format(marks=marks(len(ids)))
        return check_tallies(await self.db.fetchall(CHECK_TALLIES.format(contacts=contacts), ids or ()))
