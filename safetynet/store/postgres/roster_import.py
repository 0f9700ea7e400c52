"""Bulk roster import on PostgreSQL: the records go in by binary COPY into temporary tables, then
the same set-based steps as SQLite's (`store.sqlite.roster_import`), each one statement.

The temporary tables are dropped at commit (`ON COMMIT DROP`), so a failed import leaves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.domain.moves import MovePlan
from safetynet.domain.roster import HouseholdRecord
from safetynet.store.postgres.db import PgConn
from safetynet.store.sqlite import roster_import as portable
from safetynet.store.sqlite.roster_import import ImportCounts

_CREATE = (
    """CREATE TEMP TABLE import_rows (
        seq bigint PRIMARY KEY, association_id bigint NOT NULL, group_id bigint,
        household_key text COLLATE "C" NOT NULL, name text NOT NULL, address text NOT NULL,
        members bigint NOT NULL, vulnerable bigint NOT NULL, language text NOT NULL, notes text NOT NULL,
        consent text NOT NULL, consent_stated bigint NOT NULL, unstated text NOT NULL, keep bigint NOT NULL DEFAULT 0, household_id bigint, changed boolean NOT NULL DEFAULT false
    ) ON COMMIT DROP""",
    """CREATE TEMP TABLE import_wanted (seq bigint NOT NULL, kind text COLLATE "C" NOT NULL,
        address text COLLATE "C" NOT NULL) ON COMMIT DROP""",
    """CREATE TEMP TABLE import_contacts (household_id bigint NOT NULL, kind text COLLATE "C" NOT NULL,
        address text COLLATE "C" NOT NULL, PRIMARY KEY (household_id, kind, address)) ON COMMIT DROP""",
)
_CREATE_MOVES = "CREATE TEMP TABLE import_moves (seq bigint PRIMARY KEY, old_id bigint NOT NULL UNIQUE) ON COMMIT DROP"
_ROW_COLUMNS = ("seq", "association_id", "group_id", "household_key", "name", "address", "members",
                "vulnerable", "language", "notes", "consent", "consent_stated", "unstated")

_MATCH_EXISTING = """
UPDATE import_rows SET household_id = h.id,
    changed = (h.group_id IS DISTINCT FROM import_rows.group_id OR h.name <> import_rows.name
               OR h.address <> import_rows.address OR h.members <> import_rows.members
               OR h.vulnerable <> import_rows.vulnerable OR h.language <> import_rows.language
               OR h.notes <> import_rows.notes OR h.consent <> import_rows.consent
               OR h.removed_at IS NOT NULL)
FROM households h
WHERE h.association_id = import_rows.association_id AND h.household_key = import_rows.household_key"""
_UPDATE_CHANGED = """
UPDATE households SET group_id = r.group_id, name = r.name, address = r.address, members = r.members,
    vulnerable = r.vulnerable, language = r.language, notes = r.notes, consent = r.consent,
    consent_stated = r.consent_stated + r.keep, removed_at = NULL, updated_at = $1
FROM import_rows r WHERE r.changed AND households.id = r.household_id"""
_INSERT_NEW = """
INSERT INTO households (association_id, group_id, household_key, name, address, members, vulnerable,
                        language, notes, consent, consent_stated, created_at, updated_at)
SELECT association_id, group_id, household_key, name, address, members, vulnerable, language, notes, consent,
       consent_stated + keep, $1, $1
FROM import_rows WHERE household_id IS NULL ORDER BY seq"""
# in key order, as SQLite's keyed temporary table gives them: a household's contacts get ids by kind
_INSERT_CONTACTS = f"""
INSERT INTO contacts (household_id, kind, address, source, created_at)
SELECT household_id, kind, address, 'roster', $1 FROM import_contacts WHERE {portable.UNREMOVED}
ORDER BY household_id, kind, address
ON CONFLICT (household_id, kind, address) DO NOTHING"""
_GONE = """
CREATE TEMP TABLE import_gone ON COMMIT DROP AS
SELECT id FROM households
WHERE removed_at IS NULL
  AND association_id IN (SELECT DISTINCT association_id FROM import_rows)
  AND id NOT IN (SELECT household_id FROM import_rows)"""


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def import_records(conn: PgConn, records: Sequence[HouseholdRecord], now: float,
                         replace: bool, consent_stated: bool = True) -> ImportCounts:
    """Loads `records` and writes them into the roster, inside the caller's transaction."""
    raw = conn.raw
    a_ids, g_ids = await portable.upsert_places(conn, records)  # type: ignore[arg-type]
    for sql in _CREATE:
        await raw.execute(sql)
    await raw.copy_records_to_table("import_rows", records=list(portable._rows(records, a_ids, g_ids, consent_stated)),
                                    columns=_ROW_COLUMNS)
    await raw.copy_records_to_table("import_wanted", records=list(portable._wanted(records)),
                                    columns=("seq", "kind", "address"))
    await raw.execute("ANALYZE import_rows")  # a temporary table has no statistics until asked
    if any(r.unstated for r in records):
        await raw.execute(portable.KEEP_UNSTATED)
        await raw.execute(portable.DEFAULT_FOLLOWS_MARK)
    if portable.any_unstated(records, consent_stated):
        await raw.execute(portable.KEEP_CONSENT)
    await raw.execute(_MATCH_EXISTING)
    plan = await portable.plan_moves(conn) if replace else MovePlan()  # type: ignore[arg-type]
    moved_kept = await portable.record_moves(conn, plan, _CREATE_MOVES) if replace else 0  # type: ignore[arg-type]
    total = int(await raw.fetchval("SELECT count(*) FROM import_rows"))
    added = int(await raw.fetchval("SELECT count(*) FROM import_rows WHERE household_id IS NULL"))
    kept = int(await raw.fetchval(portable.CONSENT_KEPT))
    now_stated = int(await raw.fetchval(portable.CONSENT_NOW_STATED))
    consent_changed = tuple((int(h), int(a), str(b), str(c)) for h, a, b, c in await raw.fetch(portable.CONSENT_CHANGES))
    updated = _count(await raw.execute(_UPDATE_CHANGED, now))
    await raw.execute(portable.MARK_STATED)
    await raw.execute(_INSERT_NEW, now)
    await raw.execute(portable._MATCH_NEW)
    if plan.moves:
        await portable.move_over(conn)  # type: ignore[arg-type]
    await raw.execute("INSERT INTO import_contacts (household_id, kind, address)"
                      " SELECT r.household_id, w.kind, w.address FROM import_wanted w JOIN import_rows r"
                      " ON r.seq = w.seq ON CONFLICT DO NOTHING")
    await raw.execute(portable.FORGET_REMOVALS)
    not_restored = int(await raw.fetchval(portable.NOT_RESTORED))
    contacts_removed = _count(await raw.execute(portable._DELETE_STALE_CONTACTS))
    contacts_added = _count(await raw.execute(_INSERT_CONTACTS, now))
    removed = await _remove_missing(conn, now) if replace else 0
    await raw.execute("DELETE FROM districts WHERE id NOT IN (SELECT district_id FROM associations)")
    contacts = int(await raw.fetchval(
        "SELECT count(*) FROM contacts WHERE household_id IN (SELECT household_id FROM import_rows)"))
    without = int(await raw.fetchval(
        "SELECT count(*) FROM import_rows r WHERE NOT EXISTS"
        " (SELECT 1 FROM contacts c WHERE c.household_id = r.household_id AND c.state = 'working')"))
    moved = len(plan.moves)
    return ImportCounts(added=added - moved, updated=updated, unchanged=total - added - updated, removed=removed - moved,
                        contacts=contacts, contacts_added=contacts_added, contacts_removed=contacts_removed,
                        without_channel=without, contacts_not_restored=not_restored, consent_kept=kept,
                        consent_now_stated=now_stated, consent_changed=consent_changed, moved=moved,
                        moves_ambiguous=plan.ambiguous, moved_consent_kept=moved_kept)


async def _remove_missing(conn: PgConn, now: float) -> int:
    raw = conn.raw
    await raw.execute(_GONE)
    gone = int(await raw.fetchval("SELECT count(*) FROM import_gone"))
    if not gone:
        return 0
    for table in ("contacts", "enrolment_codes", "phone_verifications", "contact_removals"):
        await raw.execute(f"DELETE FROM {table} WHERE household_id IN (SELECT id FROM import_gone)")
    await raw.execute(
        "DELETE FROM households WHERE id IN (SELECT id FROM import_gone)"
        " AND NOT EXISTS (SELECT 1 FROM campaign_households ch WHERE ch.household_id = households.id)")
    await raw.execute("UPDATE households SET removed_at = $1, updated_at = $1 WHERE id IN (SELECT id FROM import_gone)",
                      now)
    return gone
