"""Bulk roster import: set-based SQL over temporary tables, inside the caller's transaction.

200,000 households must import in seconds, so nothing here goes row by row: the records are
loaded with one executemany into `import_rows`, and every later step (upsert, contacts,
removal of missing households) is a single statement joining against it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from safetynet.domain.consent import default_consent
from safetynet.domain.moves import MovePlan, MoveSide, is_phone, match_moves
from safetynet.domain.roster import UNSTATED_FIELDS, HouseholdRecord, ImportSummary, consent_ways
from safetynet.store.sqlite.db import CHUNK, Conn, Row, marks

T = TypeVar("T")

_CREATE_ROWS = """
CREATE TEMP TABLE import_rows (
    seq            INTEGER PRIMARY KEY,
    association_id INTEGER NOT NULL,
    group_id       INTEGER,
    household_key  TEXT NOT NULL,
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    members        INTEGER NOT NULL,
    vulnerable     INTEGER NOT NULL,
    language       TEXT NOT NULL,
    notes          TEXT NOT NULL,
    consent        TEXT NOT NULL,
    consent_stated INTEGER NOT NULL,
    unstated       TEXT NOT NULL,
    keep           INTEGER NOT NULL DEFAULT 0,
    household_id   INTEGER,
    changed        INTEGER NOT NULL DEFAULT 0
)"""
_CREATE_CONTACTS = """
CREATE TEMP TABLE import_contacts (
    household_id INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    address      TEXT NOT NULL,
    PRIMARY KEY (household_id, kind, address)
) WITHOUT ROWID"""
# The roster's contact cells, by row: (seq of import_rows, kind, address).
_CREATE_WANTED = """
CREATE TEMP TABLE import_wanted (
    seq     INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    address TEXT NOT NULL
)"""
_TEMP_TABLES = ("import_rows", "import_wanted", "import_contacts", "import_gone", "import_moves")

# A household is "changed" when any roster field differs, or it comes back after a removal. (Its consent
# becoming stated by a cell that says what it had by default is no change the summary counts: MARK_STATED.)
_MATCH_EXISTING = """
UPDATE import_rows SET household_id = h.id,
    changed = (h.group_id IS NOT import_rows.group_id OR h.name <> import_rows.name
               OR h.address <> import_rows.address OR h.members <> import_rows.members
               OR h.vulnerable <> import_rows.vulnerable OR h.language <> import_rows.language
               OR h.notes <> import_rows.notes OR h.consent <> import_rows.consent
               OR h.removed_at IS NOT NULL)
FROM households h
WHERE h.association_id = import_rows.association_id AND h.household_key = import_rows.household_key"""
# A file without an optional household column (班, 住所, 人数, 要配慮, 言語, 備考) states nothing of it: a
# household already in the store keeps what it records (review: a file without 要配慮 wiped every mark, and
# the defaulted consents of the 要配慮 households turned 同意, said as "N updated"). `unstated` is the row's
# fields, comma-wrapped (",members,vulnerable,").
KEEP_UNSTATED = "UPDATE import_rows SET " + ", ".join(
    f"{col} = CASE WHEN import_rows.unstated LIKE '%,{fld},%' THEN h.{col} ELSE import_rows.{col} END"
    for fld, col in (("group", "group_id"), *((f, f) for f in UNSTATED_FIELDS if f != "group"))) + """
FROM households h WHERE import_rows.unstated <> ''
AND h.association_id = import_rows.association_id AND h.household_key = import_rows.household_key"""
# ... and a consent the row states none of follows the mark kept (domain.consent.default_consent).
DEFAULT_FOLLOWS_MARK = f"""
UPDATE import_rows SET consent = CASE WHEN vulnerable = 0 THEN '{default_consent(False)}'
    ELSE '{default_consent(True)}' END
WHERE consent_stated = 0 AND unstated LIKE '%,vulnerable,%'"""
# A row that states no consent (a file without the column, or an empty cell: a clerk's blank) leaves a
# household already in the store with the consent a cell stated for it (a withdrawal, an ordinance), read
# into its row before the comparison (QA, privacy walk: the column dropped turned a withdrawn consent back
# to 同意 and every 条例 household to 不同意; review: so did an empty cell, row by row).
# A consent that was a default is not kept: the row's default stands, so it follows the 要配慮 mark (review,
# privacy officer: an ordinary household's defaulted 同意 stayed 同意 once a file marked it 要配慮), but only
# towards 不同意: a defaulted 不同意 stays (review: only a cell that says 同意 gives it, the mark cleared does not).
# A household that left the roster and comes back keeps a stated consent too (review: a partial --replace
# removed one that had stated 不同意, kept while a campaign refers to it, and the next file's empty cell brought
# it back 同意); one retention erased has none (its placeholder 'no' is not stated: campaigns._BLANK) and, as
# any returning household's default, takes the row's, as a new one.
KEEP_CONSENT = """
UPDATE import_rows SET consent = h.consent, keep = h.consent_stated FROM households h
WHERE import_rows.consent_stated = 0
AND h.association_id = import_rows.association_id AND h.household_key = import_rows.household_key
AND (h.consent_stated = 1 OR (h.removed_at IS NULL AND h.consent = 'no'))"""
# The rows that stated no consent and left the one recorded as it was (run once the rows are matched).
CONSENT_KEPT = """
SELECT count(*) FROM import_rows r JOIN households h ON h.id = r.household_id
WHERE r.consent_stated = 0 AND h.consent = r.consent AND (h.removed_at IS NULL OR r.keep = 1)"""
# A consent a cell now states though the household had it by default: stated from now on (kept, should
# it become 要配慮), but not counted as an update. (consent_stated + keep: a row kept a stated consent.)
# Counted (CONSENT_NOW_STATED, before the update): a file exported before 0120 writes 同意 in every ordinary
# row, and imported back it made every defaulted consent stated without a word (review).
MARK_STATED = """
UPDATE households SET consent_stated = 1 FROM import_rows r
WHERE households.id = r.household_id AND r.consent_stated = 1 AND households.consent_stated = 0"""
CONSENT_NOW_STATED = """
SELECT count(*) FROM import_rows r JOIN households h ON h.id = r.household_id
WHERE r.consent_stated = 1 AND h.consent_stated = 0 AND h.consent = r.consent"""
# The households whose consent the import changes: (household, association, recorded, the file's), for
# the summary's count of each way and an audit entry each (who changed a household's consent, and when).
CONSENT_CHANGES = """
SELECT r.household_id, r.association_id, h.consent, r.consent FROM import_rows r
JOIN households h ON h.id = r.household_id WHERE h.consent <> r.consent ORDER BY r.household_id"""
_UPDATE_CHANGED = """
UPDATE households SET group_id = r.group_id, name = r.name, address = r.address, members = r.members,
    vulnerable = r.vulnerable, language = r.language, notes = r.notes, consent = r.consent,
    consent_stated = r.consent_stated + r.keep, removed_at = NULL, updated_at = ?
FROM import_rows r WHERE r.changed = 1 AND households.id = r.household_id"""
_INSERT_NEW = """
INSERT INTO households (association_id, group_id, household_key, name, address, members, vulnerable,
                        language, notes, consent, consent_stated, created_at, updated_at)
SELECT association_id, group_id, household_key, name, address, members, vulnerable, language, notes, consent,
       consent_stated + keep, ?, ?
FROM import_rows WHERE household_id IS NULL ORDER BY seq"""
_MATCH_NEW = """
UPDATE import_rows SET household_id = h.id FROM households h
WHERE import_rows.household_id IS NULL
  AND h.association_id = import_rows.association_id AND h.household_key = import_rows.household_key"""
_WANTED_CONTACTS = """
INSERT OR IGNORE INTO import_contacts (household_id, kind, address)
SELECT r.household_id, w.kind, w.address FROM import_wanted w JOIN import_rows r ON r.seq = w.seq"""
# Roster contacts the file no longer lists go; enrolment contacts are the residents' own and stay.
# (a kind whose column the file lacks states nothing of it: its contacts stay, `unstated_contact`)
_DELETE_STALE_CONTACTS = """
DELETE FROM contacts WHERE source = 'roster'
  AND household_id IN (SELECT household_id FROM import_rows)
  AND NOT EXISTS (SELECT 1 FROM import_contacts ic WHERE ic.household_id = contacts.household_id
                  AND ic.kind = contacts.kind AND ic.address = contacts.address)
  AND NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.household_id = contacts.household_id
                  AND r.unstated LIKE '%,contact:' || contacts.kind || ',%')"""
# A resident's removal (contact_removals) ends when the roster's cell of that kind names another address.
FORGET_REMOVALS = """
DELETE FROM contact_removals WHERE household_id IN (SELECT household_id FROM import_rows)
  AND EXISTS (SELECT 1 FROM import_contacts ic WHERE ic.household_id = contact_removals.household_id
              AND ic.kind = contact_removals.kind)
  AND NOT EXISTS (SELECT 1 FROM import_contacts ic WHERE ic.household_id = contact_removals.household_id
                  AND ic.kind = contact_removals.kind AND ic.address = contact_removals.address)"""
# The file's contacts a resident removed and the import does not add back (QA, privacy walk: the email a
# resident deleted on /join/{code} came back with the next import).
NOT_RESTORED = """
SELECT count(*) FROM import_contacts ic JOIN contact_removals cr
  ON cr.household_id = ic.household_id AND cr.kind = ic.kind AND cr.address = ic.address
WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.household_id = ic.household_id AND c.kind = ic.kind
                  AND c.address = ic.address)"""
UNREMOVED = """NOT EXISTS (SELECT 1 FROM contact_removals cr WHERE cr.household_id = import_contacts.household_id
                  AND cr.kind = import_contacts.kind AND cr.address = import_contacts.address)"""
_INSERT_CONTACTS = f"""
INSERT INTO contacts (household_id, kind, address, source, created_at)
SELECT household_id, kind, address, 'roster', ? FROM import_contacts WHERE {UNREMOVED}
ON CONFLICT (household_id, kind, address) DO NOTHING"""
# -- moves within the city (domain.moves) ---------------------------------------------------------------
# Before anything is written: the households `--replace` will remove (as _GONE, once the rows are matched)
# and the rows that will be new households, each with its phones, for `match_moves`.
_WILL_GO = """households h WHERE h.removed_at IS NULL
  AND h.association_id IN (SELECT association_id FROM import_rows)
  AND h.id NOT IN (SELECT household_id FROM import_rows WHERE household_id IS NOT NULL)"""
MOVES_GONE = f"SELECT h.id, h.association_id, h.name FROM {_WILL_GO}"
MOVES_GONE_CONTACTS = f"""
SELECT c.household_id, c.address FROM contacts c WHERE c.household_id IN (SELECT h.id FROM {_WILL_GO})"""
MOVES_ADDED = "SELECT seq, association_id, name FROM import_rows WHERE household_id IS NULL"
MOVES_ADDED_CONTACTS = """
SELECT w.seq, w.address FROM import_wanted w JOIN import_rows r ON r.seq = w.seq WHERE r.household_id IS NULL"""
CREATE_MOVES = "CREATE TEMP TABLE import_moves (seq INTEGER PRIMARY KEY, old_id INTEGER NOT NULL UNIQUE)"
# An empty consent cell on a moved household keeps a refusal recorded for it (stated, or a 要配慮 default):
# the same household, and a default must never reveal what its resident refused.
MOVED_CONSENT = """
UPDATE import_rows SET consent = 'no', keep = h.consent_stated
FROM import_moves m JOIN households h ON h.id = m.old_id
WHERE import_rows.seq = m.seq AND import_rows.consent_stated = 0 AND h.consent = 'no'"""
MOVED_CONSENT_KEPT = """
SELECT count(*) FROM import_moves m JOIN households h ON h.id = m.old_id JOIN import_rows r ON r.seq = m.seq
WHERE r.consent_stated = 0 AND h.consent = 'no'"""
# Once the new households have ids: what is the resident's goes with them (their own contacts, their removals
# of roster contacts, the letter's enrolment code, a phone confirmation under way); the roster's contacts
# stay with the old row, which `remove_missing` then removes as any other.
_NEW_ID = """(SELECT r.household_id FROM import_moves m JOIN import_rows r ON r.seq = m.seq
              WHERE m.old_id = {table}.household_id)"""
MOVE_OVER = tuple(
    f"UPDATE {table} SET household_id = {_NEW_ID.format(table=table)}"
    f" WHERE household_id IN (SELECT old_id FROM import_moves){extra}"
    for table, extra in (("contacts", " AND source <> 'roster'"), ("contact_removals", ""),
                         ("enrolment_codes", ""), ("phone_verifications", "")))


def _sides(rows: Sequence[Row], phones: Sequence[Row]) -> list[MoveSide]:
    of: dict[int, set[str]] = {}
    for ref, address in phones:
        if is_phone(str(address)):
            of.setdefault(int(ref), set()).add(str(address))
    return [MoveSide(int(ref), int(aid), str(name), frozenset(of.get(int(ref), ()))) for ref, aid, name in rows]


async def plan_moves(conn: Conn) -> MovePlan:
    """The moves `--replace` makes of the loaded rows (`load_rows`), before anything is written; either
    adapter's connection (both take `?` and `execute_fetchall`)."""
    added = await conn.execute_fetchall(MOVES_ADDED)
    if not added:
        return MovePlan()
    gone = await conn.execute_fetchall(MOVES_GONE)
    if not gone:
        return MovePlan()
    return match_moves(_sides(list(gone), list(await conn.execute_fetchall(MOVES_GONE_CONTACTS))),
                       _sides(list(added), list(await conn.execute_fetchall(MOVES_ADDED_CONTACTS))))


async def record_moves(conn: Conn, plan: MovePlan, create: str = CREATE_MOVES) -> int:
    """Puts the moves in `import_moves` and gives each moved row the refusal its household recorded (an
    empty cell); returns how many rows kept one."""
    await conn.execute(create)
    if not plan.moves:
        return 0
    await conn.executemany("INSERT INTO import_moves (seq, old_id) VALUES (?, ?)",
                           [(seq, old) for old, seq in plan.moves])
    kept = await _scalar(conn, MOVED_CONSENT_KEPT)
    await conn.execute(MOVED_CONSENT)
    return kept


async def move_over(conn: Conn) -> None:
    """The resident's own of each moved household, to its new one (run once the new rows have ids)."""
    for sql in MOVE_OVER:
        await conn.execute(sql)


_GONE = """
CREATE TEMP TABLE import_gone AS
SELECT id FROM households
WHERE removed_at IS NULL
  AND association_id IN (SELECT DISTINCT association_id FROM import_rows)
  AND id NOT IN (SELECT household_id FROM import_rows)"""


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int
    removed: int
    contacts: int
    contacts_added: int
    contacts_removed: int
    without_channel: int
    contacts_not_restored: int = 0
    consent_kept: int = 0
    consent_now_stated: int = 0
    consent_changed: tuple[tuple[int, int, str, str], ...] = ()
    moved: int = 0  # removed from one association and added to another: counted here, not in added/removed
    moves_ambiguous: int = 0
    moved_consent_kept: int = 0

    def summary(self, records: Sequence[HouseholdRecord]) -> ImportSummary:
        """What `import_households` answers, from these counts (either adapter's)."""
        return ImportSummary(
            districts=len({r.district for r in records}),
            associations=len({r.association for r in records}),
            households_added=self.added,
            households_updated=self.updated,
            households_removed=self.removed,
            contacts=self.contacts,
            households_unchanged=self.unchanged,
            contacts_added=self.contacts_added,
            contacts_removed=self.contacts_removed,
            households_without_channel=self.without_channel,
            contacts_not_restored=self.contacts_not_restored,
            consent_kept=self.consent_kept,
            consent_now_stated=self.consent_now_stated,
            consent_changes=consent_ways(self.consent_changed),
            consent_changed=self.consent_changed,
            households_moved=self.moved,
            moves_ambiguous=self.moves_ambiguous,
            moved_consent_kept=self.moved_consent_kept,
        )


async def _fetch_in(conn: Conn, sql: str, values: Sequence[object]) -> list[Row]:
    """Runs `sql` (with `{marks}` for an IN list) over `values` in chunks under SQLite's parameter limit."""
    rows: list[Row] = []
    for i in range(0, len(values), CHUNK):
        chunk = values[i : i + CHUNK]
        async with conn.execute(sql.format(marks=marks(len(chunk))), chunk) as cur:
            rows.extend(await cur.fetchall())
    return rows


async def upsert_places(
    conn: Conn, records: Sequence[HouseholdRecord]
) -> tuple[dict[str, int], dict[tuple[int, str], int]]:
    """Districts, associations and groups of the file; returns association and group ids."""
    district_of = {r.association: r.district for r in records}  # first-seen order = file order
    districts = list(dict.fromkeys(district_of.values()))
    await conn.executemany(
        "INSERT INTO districts (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [(d,) for d in districts]
    )
    sql = "SELECT name, id FROM districts WHERE name IN ({marks})"
    d_ids: dict[str, int] = {r[0]: r[1] for r in await _fetch_in(conn, sql, districts)}
    await conn.executemany(
        "INSERT INTO associations (district_id, name) VALUES (?, ?) ON CONFLICT (name) DO UPDATE"
        " SET district_id = excluded.district_id WHERE associations.district_id <> excluded.district_id",
        [(d_ids[d], a) for a, d in district_of.items()],
    )
    sql = "SELECT name, id FROM associations WHERE name IN ({marks})"
    a_ids: dict[str, int] = {r[0]: r[1] for r in await _fetch_in(conn, sql, list(district_of))}
    groups = dict.fromkeys((a_ids[r.association], r.group) for r in records if r.group)
    await conn.executemany(
        "INSERT INTO household_groups (association_id, name) VALUES (?, ?)"
        " ON CONFLICT (association_id, name) DO NOTHING",
        list(groups),
    )
    sql = "SELECT association_id, name, id FROM household_groups WHERE association_id IN ({marks})"
    rows = await _fetch_in(conn, sql, list(a_ids.values()))
    g_ids: dict[tuple[int, str], int] = {(r[0], r[1]): r[2] for r in rows}
    return a_ids, g_ids


def _rows(
    records: Sequence[HouseholdRecord], a_ids: dict[str, int], g_ids: dict[tuple[int, str], int],
    consent_stated: bool = True,
) -> Iterator[tuple[object, ...]]:
    for seq, r in enumerate(records, start=1):
        aid = a_ids[r.association]
        yield (
            seq, aid, g_ids.get((aid, r.group)) if r.group else None, r.household_key, r.name, r.address,
            r.members, int(r.vulnerable), r.language, r.notes, r.consent, int(consent_stated and r.consent_stated),
            f",{','.join(sorted(r.unstated))}," if r.unstated else "",
        )  # fmt: skip


def any_unstated(records: Sequence[HouseholdRecord], consent_stated: bool) -> bool:
    """Whether some row states no consent (the recorded one is then read in: KEEP_CONSENT)."""
    return not consent_stated or any(not r.consent_stated for r in records)


def _wanted(records: Sequence[HouseholdRecord]) -> Iterator[tuple[int, str, str]]:
    for seq, r in enumerate(records, start=1):
        for kind, address in r.contacts:
            if address:
                yield seq, kind, address


async def _scalar(conn: Conn, sql: str, params: Sequence[object] = ()) -> int:
    async with conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return int(row[0] or 0) if row else 0


async def _changes(conn: Conn, sql: str, params: Sequence[object] = ()) -> int:
    async with conn.execute(sql, params) as cur:
        return max(cur.rowcount, 0)


# A bigger page cache while the roster's indexes take 200k random inserts. Measured on a busy
# 2-core machine: 6.3-7.6 s of CPU for a 200k-household import instead of 7.7-8.2 s, for about
# 55 MB more peak RSS. Per connection, so it is put back after.
IMPORT_CACHE_SIZE = -65536  # PRAGMA cache_size: negative = KiB, so 64 MiB


async def swap_cache_size(conn: Conn, value: int) -> int:
    """Sets PRAGMA cache_size on this connection and returns the previous value."""
    async with conn.execute("PRAGMA cache_size") as cur:
        row = await cur.fetchone()
    await conn.execute(f"PRAGMA cache_size = {int(value)}")
    return int(row[0]) if row else -2000


async def drop_temp_tables(conn: Conn) -> None:
    for t in _TEMP_TABLES:
        await conn.execute(f"DROP TABLE IF EXISTS temp.{t}")


async def load_rows(conn: Conn, records: Sequence[HouseholdRecord], consent_stated: bool = True) -> None:
    """Creates and fills `import_rows`, matched against the existing households (whose recorded consent
    a row takes where it states none: `consent_stated` False for the whole file, or the record's)."""
    a_ids, g_ids = await upsert_places(conn, records)
    await drop_temp_tables(conn)
    await conn.execute(_CREATE_ROWS)
    await conn.executemany(
        "INSERT INTO import_rows (seq, association_id, group_id, household_key, name, address, members,"
        " vulnerable, language, notes, consent, consent_stated, unstated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        _rows(records, a_ids, g_ids, consent_stated),
    )
    await conn.execute(_CREATE_WANTED)
    await conn.executemany("INSERT INTO import_wanted (seq, kind, address) VALUES (?,?,?)", _wanted(records))
    if any(r.unstated for r in records):
        await conn.execute(KEEP_UNSTATED)
        await conn.execute(DEFAULT_FOLLOWS_MARK)
    if any_unstated(records, consent_stated):
        await conn.execute(KEEP_CONSENT)
    await conn.execute(_MATCH_EXISTING)


async def write_households(conn: Conn, now: float, replace: bool) -> ImportCounts:
    """Upserts `import_rows` into the roster; with `replace`, removes the households missing from it, but
    for those that moved to another association of the file (`domain.moves`)."""
    plan = await plan_moves(conn) if replace else MovePlan()
    moved_kept = await record_moves(conn, plan) if replace else 0
    total = await _scalar(conn, "SELECT count(*) FROM import_rows")
    added = await _scalar(conn, "SELECT count(*) FROM import_rows WHERE household_id IS NULL")
    kept = await _scalar(conn, CONSENT_KEPT)
    now_stated = await _scalar(conn, CONSENT_NOW_STATED)
    async with conn.execute(CONSENT_CHANGES) as cur:
        consent_changed = tuple((int(h), int(a), str(b), str(c)) for h, a, b, c in await cur.fetchall())
    updated = await _changes(conn, _UPDATE_CHANGED, (now,))
    await conn.execute(MARK_STATED)
    await conn.execute(_INSERT_NEW, (now, now))
    await conn.execute(_MATCH_NEW)
    if plan.moves:
        await move_over(conn)
    await conn.execute(_CREATE_CONTACTS)
    await conn.execute(_WANTED_CONTACTS)
    await conn.execute(FORGET_REMOVALS)
    not_restored = await _scalar(conn, NOT_RESTORED)
    contacts_removed = await _changes(conn, _DELETE_STALE_CONTACTS)
    contacts_added = await _changes(conn, _INSERT_CONTACTS, (now,))
    removed = await remove_missing(conn, now) if replace else 0
    await conn.execute("DELETE FROM districts WHERE id NOT IN (SELECT district_id FROM associations)")
    contacts = await _scalar(
        conn, "SELECT count(*) FROM contacts WHERE household_id IN (SELECT household_id FROM import_rows)"
    )
    without = await _scalar(
        conn,
        "SELECT count(*) FROM import_rows r WHERE NOT EXISTS"
        " (SELECT 1 FROM contacts c WHERE c.household_id = r.household_id AND c.state = 'working')",
    )
    moved = len(plan.moves)
    return ImportCounts(
        added=added - moved,
        updated=updated,
        unchanged=total - added - updated,
        removed=removed - moved,
        contacts=contacts,
        contacts_added=contacts_added,
        contacts_removed=contacts_removed,
        without_channel=without,
        contacts_not_restored=not_restored,
        consent_kept=kept,
        consent_now_stated=now_stated,
        consent_changed=consent_changed,
        moved=moved,
        moves_ambiguous=plan.ambiguous,
        moved_consent_kept=moved_kept,
    )


async def remove_missing(conn: Conn, now: float) -> int:
    """Households of the file's associations that the file does not list: deleted, or marked removed
    when campaigns refer to them. Their contacts, enrolment codes and residents' removals go either way."""
    await conn.execute(_GONE)
    gone = await _scalar(conn, "SELECT count(*) FROM import_gone")
    if not gone:
        return 0
    for table in ("contacts", "enrolment_codes", "phone_verifications", "contact_removals"):
        await conn.execute(f"DELETE FROM {table} WHERE household_id IN (SELECT id FROM import_gone)")
    await conn.execute(
        "DELETE FROM households WHERE id IN (SELECT id FROM import_gone)"
        " AND NOT EXISTS (SELECT 1 FROM campaign_households ch WHERE ch.household_id = households.id)"
    )
    await conn.execute(
        "UPDATE households SET removed_at = ?, updated_at = ? WHERE id IN (SELECT id FROM import_gone)",
        (now, now),
    )
    return gone


async def whole_once_committing(write: Callable[[Callable[[], None]], Awaitable[T]]) -> T:
    """`write(commit_begins)`, one transaction that calls `commit_begins()` as its last step inside (just
    before its COMMIT), run in a task of its own so that a cancellation (Ctrl-C: asyncio.run cancels the
    command) is decided by where the write is. Before that step, the write is cancelled, rolled back
    and waited for, and the cancellation goes on: nothing was written. After it, the COMMIT is not
    interrupted but waited for, and the write's result returned: it was written (QA: a Ctrl-C during
    the COMMIT said nothing was imported of an import SQLite had committed; on PostgreSQL a COMMIT cut
    off leaves its outcome unknown)."""
    committing = False

    def commit_begins() -> None:
        nonlocal committing
        committing = True

    task = asyncio.ensure_future(write(commit_begins))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not committing:
            task.cancel()
            await asyncio.wait([task])  # rolled back before the cancellation goes on
            raise
    current = asyncio.current_task()
    if current is not None:
        current.uncancel()  # taken: the caller goes on as if it had not come
    await asyncio.wait([task])
    return task.result()
