"""The roster repository: districts, associations, groups, households, contacts, enrolment codes.

Only this module (and `roster_import`, its bulk-import half) runs SQL on roster tables.
Households removed by `import --replace` but still referred to by campaigns keep their row
with `removed_at` set; every "current roster" query here filters them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import structlog

from safetynet.clock import Clock
from safetynet.domain import ContactKind
from safetynet.domain.campaigns import ChannelRoutes
from safetynet.domain.moves import MovePlan, MoveSide, is_phone, match_moves
from safetynet.domain.roster import (
    Association,
    AssociationCount,
    CodeTarget,
    Contact,
    Household,
    HouseholdRecord,
    ImportSummary,
    RosterSummary,
    TargetHousehold,
    UnknownScopeError,
)
from safetynet.store.rules import check_records
from safetynet.store.sqlite import roster_import
from safetynet.store.sqlite.db import CHUNK, Database, Row, marks
from safetynet.store.sqlite.roster_scope import scope_filter

log = structlog.get_logger("store.roster")

_HOUSEHOLD_COLS = """h.id, h.association_id, a.name AS association, d.name AS district,
    coalesce(g.name, '') AS grp, h.household_key, h.name, h.address, h.members, h.vulnerable,
    h.language, h.notes, h.removed_at, h.consent"""
_HOUSEHOLD_FROM = """households h JOIN associations a ON a.id = h.association_id
    JOIN districts d ON d.id = a.district_id LEFT JOIN household_groups g ON g.id = h.group_id"""
_CONTACT_COLS = "id, household_id, kind, address, source, state"
_ACTIVE = "h.removed_at IS NULL"


def _contact(row: Row) -> Contact:
    """From a row of _CONTACT_COLS (by position: this runs for every contact of a campaign)."""
    return Contact(row[0], row[1], row[2], row[3], row[4], row[5] == "working")


def _household(row: Row, contacts: Sequence[Contact] = ()) -> Household:
    return Household(
        id=row["id"],
        association_id=row["association_id"],
        association=row["association"],
        district=row["district"],
        group=row["grp"],
        household_key=row["household_key"],
        name=row["name"],
        address=row["address"],
        members=row["members"],
        vulnerable=bool(row["vulnerable"]),
        language=row["language"],
        notes=row["notes"],
        contacts=tuple(contacts),
        removed_at=row["removed_at"],
        consent=row["consent"],
    )



class RosterStore:
    def __init__(self, db: Database, clock: Clock, routes: ChannelRoutes) -> None:
        self.db = db
        self.clock = clock
        self.routes = routes  # its kinds are the ones a contact may have

    # -- import / export ---------------------------------------------------------

    async def import_households(
        self, records: Sequence[HouseholdRecord], replace: bool = False, consent_stated: bool = True
    ) -> ImportSummary:
        """Upserts the households by (association, household key) in one transaction.

        Roster contacts of each household are replaced by the file's; enrolment contacts stay.
        With `replace`, households of the file's associations that the file does not list are
        removed (associations absent from the file are not touched). A row that states no consent (a
        record's `consent_stated` False: an empty cell; or `consent_stated` False: the file has no consent
        column) leaves a household already here its recorded consent. Raises ValueError, writing
        nothing, if an association is in two districts or a household key repeats. Cancelled before
        its COMMIT, nothing is written; once the COMMIT has begun, it is written and the summary
        returned (`roster_import.whole_once_committing`).
        """
        check_records(records, self.routes.of_kind)
        now = self.clock.now()

        async def write(commit_begins: Callable[[], None]) -> roster_import.ImportCounts:
            async with self.db.transaction() as conn:
                cache = await roster_import.swap_cache_size(conn, roster_import.IMPORT_CACHE_SIZE)
                try:
                    await roster_import.load_rows(conn, records, consent_stated)
                    counts = await roster_import.write_households(conn, now, replace)
                    await roster_import.drop_temp_tables(conn)
                finally:
                    await roster_import.swap_cache_size(conn, cache)
                commit_begins()
            return counts

        counts = await roster_import.whole_once_committing(write)
        summary = counts.summary(records)
        log.info(
            "roster_imported",
            households=len(records),
            added=counts.added,
            updated=counts.updated,
            removed=counts.removed,
            replace=replace,
            consent_kept=counts.consent_kept,
            consent_changed=len(counts.consent_changed),
            moved=counts.moved,
            moves_ambiguous=counts.moves_ambiguous,
        )
        return summary

    async def count_missing(self, records: Sequence[HouseholdRecord]) -> dict[str, int]:
        """Per association of `records`: current households the records do not list (what
        `import_households(records, replace=True)` would remove). Only non-zero counts."""
        listed: dict[str, set[str]] = defaultdict(set)
        for r in records:
            listed[r.association].add(r.household_key)
        names = list(listed)
        missing: dict[str, int] = {}
        for i in range(0, len(names), CHUNK):
            chunk = names[i : i + CHUNK]
            rows = await self.db.fetchall(
                f"SELECT a.name, h.household_key FROM households h JOIN associations a ON a.id = h.association_id"
                f" WHERE {_ACTIVE} AND a.name IN ({marks(len(chunk))})",
                chunk,
            )
            for assoc, key in rows:
                if key not in listed[assoc]:
                    missing[assoc] = missing.get(assoc, 0) + 1
        return missing

    async def plan_moves(self, records: Sequence[HouseholdRecord]) -> MovePlan:
        """The moves `import_households(records, replace=True)` would make (`domain.moves`), read only."""
        names = list(dict.fromkeys(r.association for r in records))
        a_ids: dict[str, int] = {}
        for i in range(0, len(names), CHUNK):
            chunk = names[i : i + CHUNK]
            rows = await self.db.fetchall(f"SELECT name, id FROM associations WHERE name IN ({marks(len(chunk))})", chunk)
            a_ids.update((str(n), int(a)) for n, a in rows)
        # an association new to the city holds only added rows: a placeholder id of its own
        a_ids.update((n, -k) for k, n in enumerate((n for n in names if n not in a_ids), start=1))
        known = [a for a in a_ids.values() if a > 0]
        households: list[Row] = []
        for i in range(0, len(known), CHUNK):
            some = known[i : i + CHUNK]
            households += await self.db.fetchall(
                "SELECT id, association_id, household_key, name, removed_at FROM households"
                f" WHERE association_id IN ({marks(len(some))})", some)
        keys = {(int(h[1]), str(h[2])) for h in households}
        listed = {(a_ids[r.association], r.household_key) for r in records}
        added = [MoveSide(i, a_ids[r.association], r.name, frozenset(a for _, a in r.contacts if is_phone(a)))
                 for i, r in enumerate(records) if (a_ids[r.association], r.household_key) not in keys]
        gone = [h for h in households if h[4] is None and (int(h[1]), str(h[2])) not in listed]
        if not added or not gone:
            return MovePlan()
        phones: dict[int, set[str]] = defaultdict(set)
        ids = [int(h[0]) for h in gone]
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            for hid, address in await self.db.fetchall(
                    f"SELECT household_id, address FROM contacts WHERE household_id IN ({marks(len(part))})", part):
                if is_phone(str(address)):
                    phones[int(hid)].add(str(address))
        return match_moves([MoveSide(int(h[0]), int(h[1]), str(h[3]), frozenset(phones[int(h[0])])) for h in gone],
                           added)

    async def iter_export_records(self, kinds: Sequence[ContactKind], batch_size: int = 5000
                                  ) -> AsyncIterator[list[HouseholdRecord]]:
        """The current roster in file form, in batches (keyset pages, no long read snapshot).

        Only roster-sourced contacts of `kinds` (the roster's contact columns, in their order) are
        exported, so importing the file back changes nothing.
        """
        last = 0
        while True:
            rows = await self.db.fetchall(
                f"SELECT {_HOUSEHOLD_COLS}, h.consent_stated FROM {_HOUSEHOLD_FROM} WHERE {_ACTIVE} AND h.id > ?"
                " ORDER BY h.id LIMIT ?",
                (last, batch_size),
            )
            if not rows:
                return
            first, last = rows[0]["id"], rows[-1]["id"]
            found: dict[int, dict[str, str]] = defaultdict(dict)
            # no kinds, no contacts asked: PostgreSQL (whose store runs this too) refuses `kind IN ()`
            contacts = await self.db.fetchall(
                f"SELECT household_id, kind, address FROM contacts WHERE source = 'roster'"
                f" AND kind IN ({marks(len(kinds))}) AND household_id BETWEEN ? AND ? ORDER BY id",
                (*kinds, first, last),
            ) if kinds else []
            for c in contacts:
                found[c[0]].setdefault(c[1], c[2])
            yield [_record(r, found.get(r["id"], {}), kinds) for r in rows]

    async def export_records(self, kinds: Sequence[ContactKind]) -> list[HouseholdRecord]:
        out: list[HouseholdRecord] = []
        async for batch in self.iter_export_records(kinds):
            out.extend(batch)
        return out

    # -- reading -----------------------------------------------------------------

    async def summary(self) -> RosterSummary:
        rows = await self.db.fetchall(
            """SELECT a.id, a.name, d.name, count(h.id), coalesce(sum(h.vulnerable), 0),
                  coalesce(sum(CASE WHEN h.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM contacts c
                      WHERE c.household_id = h.id AND c.state = 'working') THEN 1 ELSE 0 END), 0)
               FROM associations a JOIN districts d ON d.id = a.district_id
               LEFT JOIN households h ON h.association_id = a.id AND h.removed_at IS NULL
               GROUP BY a.id, a.name, d.id, d.name ORDER BY d.id, a.id"""
        )
        per = tuple(AssociationCount(r[0], r[1], r[2], r[3], r[5], r[4]) for r in rows)
        kinds = await self.db.fetchall(
            "SELECT c.kind, count(*) FROM contacts c JOIN households h ON h.id = c.household_id"
            f" WHERE c.state = 'working' AND {_ACTIVE} GROUP BY c.kind"
        )
        return RosterSummary(
            districts=len({p.district for p in per}),
            associations=len(per),
            households=sum(p.households for p in per),
            without_channel=sum(p.without_channel for p in per),
            vulnerable=sum(p.vulnerable for p in per),
            contacts={str(k): int(n) for k, n in kinds},
            per_association=per,
        )

    async def _households(self, where: str, params: Sequence[object]) -> list[Household]:
        rows = await self.db.fetchall(
            f"SELECT {_HOUSEHOLD_COLS} FROM {_HOUSEHOLD_FROM} WHERE {where} ORDER BY h.id", params
        )
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        contacts: dict[int, list[Contact]] = defaultdict(list)
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            for c in await self.db.fetchall(
                f"SELECT {_CONTACT_COLS} FROM contacts WHERE household_id IN ({marks(len(chunk))}) ORDER BY id",
                chunk,
            ):
                contacts[c["household_id"]].append(_contact(c))
        return [_household(r, contacts.get(r["id"], ())) for r in rows]

    async def get_household(self, household_id: int) -> Household | None:
        """The household with its contacts, also when it was removed from the roster."""
        found = await self._households("h.id = ?", (household_id,))
        return found[0] if found else None

    async def list_associations(self) -> list[Association]:
        rows = await self.db.fetchall(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id ORDER BY a.id"
        )
        return [Association(r[0], r[1], r[2]) for r in rows]

    async def association_by_name(self, name: str) -> Association | None:
        row = await self.db.fetchone(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id"
            " WHERE a.name = ?",
            (name,),
        )
        return Association(row[0], row[1], row[2]) if row else None

    # -- scopes ------------------------------------------------------------------

    async def count_in_scope(self, scopes: Iterable[str]) -> int:
        cond, params = await scope_filter(self.db, scopes)
        return int(
            await self.db.fetchval(f"SELECT count(*) FROM households h WHERE {_ACTIVE} AND {cond}", params, 0)
        )

    async def households_in_scope(
        self, scopes: Iterable[str], batch_size: int = 2000
    ) -> AsyncIterator[list[TargetHousehold]]:
        """Current households of the scopes with all their contacts (working or not), in id order,
        in batches; each batch is its own short query, so 200k households stream in little memory.
        Raises UnknownScopeError for a name not in the roster."""
        cond, params = await scope_filter(self.db, scopes)
        last = 0
        while True:
            rows = await self.db.fetchall(
                "SELECT h.id, h.association_id, h.group_id, h.vulnerable, h.language FROM households h"
                f" WHERE {_ACTIVE} AND {cond} AND h.id > ? ORDER BY h.id LIMIT ?",
                (*params, last, batch_size),
            )
            if not rows:
                return
            last = rows[-1][0]
            contacts: dict[int, list[Contact]] = defaultdict(list)
            for c in await self.db.fetchall(
                f"SELECT {_CONTACT_COLS} FROM contacts WHERE household_id BETWEEN ? AND ? ORDER BY id",
                (rows[0][0], last),
            ):
                contacts[c[1]].append(_contact(c))
            yield [
                TargetHousehold(r[0], r[1], r[2], bool(r[3]), r[4], tuple(contacts.get(r[0], ())))
                for r in rows
            ]

    # -- contacts ------------------------------------------------------------------

    async def add_contact(
        self, household_id: int, kind: ContactKind, address: str, source: str = "enrolment"
    ) -> Contact:
        """Adds a contact, or revives the same one (working again; an enrolment makes it the
        resident's own, so a later roster import keeps it). The address is stored as given: the
        caller puts it in its kind's form (`roster.contacts.normalise_contact`: phones as E.164, a
        web-push subscription as canonical JSON, so the same browser is found again). ValueError
        for a kind no channel declares or an unknown source."""
        if source not in ("roster", "enrolment"):
            raise ValueError(f"source must be roster or enrolment, got {source!r}")
        if kind not in self.routes.of_kind:
            raise ValueError(f"unknown contact kind {kind!r}")
        async with self.db.transaction() as conn:
            if source == "enrolment":  # the resident adds back what they removed: the roster may list it again
                await conn.execute("DELETE FROM contact_removals WHERE household_id = ? AND kind = ? AND address = ?",
                                   (household_id, kind, address))
            async with conn.execute(
                "INSERT INTO contacts (household_id, kind, address, source, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (household_id, kind, address) DO UPDATE SET state = 'working', dead_reason = NULL,"
                " source = CASE WHEN excluded.source = 'enrolment' THEN 'enrolment' ELSE contacts.source END"
                f" RETURNING {_CONTACT_COLS}",
                (household_id, kind, address, source, self.clock.now()),
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        log.info("contact_added", household_id=household_id, kind=kind, source=source)
        return _contact(row)

    async def add_enrolled_contacts(self, rows: Iterable[tuple[int, ContactKind, str]]) -> None:
        """(household id, kind, address) rows as enrolment contacts in one transaction, idempotent by the
        contacts' unique key; addresses are stored as given. For seeding many at once (benchmarks):
        `add_contact` is one transaction a contact, which is what an enrolment page needs."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT OR IGNORE INTO contacts (household_id, kind, address, source, created_at)"
                " VALUES (?, ?, ?, 'enrolment', ?)",
                [(h, str(kind), address, now) for h, kind, address in rows],
            )

    async def remove_contact(self, contact_id: int) -> bool:
        """A resident removed it (their enrolment page): deleted, and its household, kind and address
        kept in `contact_removals`, so that a roster import does not add it back while the roster's cell
        still names it (QA, privacy walk: the next import brought a deleted email back)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO contact_removals (household_id, kind, address, removed_at)"
                " SELECT household_id, kind, address, ? FROM contacts WHERE id = ?"
                " ON CONFLICT (household_id, kind, address) DO UPDATE SET removed_at = excluded.removed_at",
                (self.clock.now(), contact_id),
            )
            async with conn.execute("DELETE FROM contacts WHERE id = ?", (contact_id,)) as cur:
                return max(cur.rowcount, 0) > 0

    async def mark_contact_dead(self, contact_id: int, reason: str) -> bool:
        """The provider said the address is gone (invalid number, 410 subscription, blocked bot)."""
        changed = await self.db.execute(
            "UPDATE contacts SET state = 'dead', dead_reason = ? WHERE id = ?", (reason[:500], contact_id)
        )
        if changed:
            log.info("contact_marked_dead", contact_id=contact_id)
        return changed > 0

    async def households_by_contact(self, kinds: Sequence[ContactKind], address: str) -> list[Household]:
        """Current households with a contact of one of `kinds` at `address`, as stored (the
        caller normalises: `roster.contacts.households_by_contact` takes any written form)."""
        if not kinds:
            return []
        return await self._households(
            f"{_ACTIVE} AND h.id IN (SELECT household_id FROM contacts WHERE kind IN ({marks(len(kinds))})"
            " AND address = ?)", (*kinds, address))

    async def mark_contacts_dead(self, kind: ContactKind, address: str, reason: str) -> int:
        """Every working contact of `kind` at `address` is gone (a resident unfollowed the bot)."""
        changed = await self.db.execute(
            "UPDATE contacts SET state = 'dead', dead_reason = ? WHERE kind = ? AND address = ? AND state = 'working'",
            (reason[:500], kind, address))
        if changed:
            log.info("contacts_marked_dead", kind=kind, count=changed)
        return changed

    async def mark_contacts_back(self, kind: ContactKind, address: str, reason: str) -> int:
        changed = await self.db.execute(
            "UPDATE contacts SET state = 'working', dead_reason = NULL WHERE kind = ? AND address = ?"
            " AND state = 'dead' AND dead_reason = ?", (kind, address, reason[:500]))
        if changed:
            log.info("contacts_marked_back", kind=kind, count=changed)
        return changed

    async def has_live_contacts(self, kind: ContactKind) -> bool:
        # contacts_address (kind, address) answers the first; staff_contacts is a handful of rows
        found = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE kind = ? AND state = 'working')"
            " OR EXISTS (SELECT 1 FROM staff_contacts WHERE kind = ?)", (kind, kind), False)
        return bool(found)

    # -- enrolment codes ------------------------------------------------------------

    async def set_enrolment_codes(self, pairs: Iterable[tuple[int, str]]) -> int:
        """Stores (household_id, code_hash) pairs, replacing a household's previous code."""
        now = self.clock.now()
        rows = [(hid, h, now) for hid, h in pairs]
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO enrolment_codes (household_id, code_hash, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (household_id) DO UPDATE SET code_hash = excluded.code_hash,"
                " created_at = excluded.created_at",
                rows,
            )
        log.info("enrolment_codes_set", households=len(rows))
        return len(rows)

    async def household_by_code_hash(self, code_hash: str) -> Household | None:
        found = await self._households(
            f"{_ACTIVE} AND h.id IN (SELECT household_id FROM enrolment_codes WHERE code_hash = ?)",
            (code_hash,),
        )
        return found[0] if found else None

    async def code_targets(
        self, associations: Sequence[str] | None = None, only_without_code: bool = True
    ) -> list[CodeTarget]:
        """Households to print enrolment letters for, in letter order (association, group, key)."""
        where, params = [_ACTIVE], []
        if associations:
            for name in associations:
                if await self.association_by_name(name) is None:
                    raise UnknownScopeError(f"unknown association: {name}", "association", name)
            where.append(f"a.name IN ({marks(len(associations))})")
            params += list(associations)
        if only_without_code:
            where.append("NOT EXISTS (SELECT 1 FROM enrolment_codes e WHERE e.household_id = h.id)")
        rows = await self.db.fetchall(
            f"SELECT h.id, d.name, a.name, coalesce(g.name, ''), h.household_key, h.name, h.address"
            f" FROM {_HOUSEHOLD_FROM} WHERE {' AND '.join(where)} ORDER BY a.id, g.id, h.id",
            params,
        )
        return [CodeTarget(*r) for r in rows]

    async def households_without_code(self, associations: Sequence[str] | None = None) -> list[CodeTarget]:
        return await self.code_targets(associations, only_without_code=True)

    async def letter_order(self, scopes: Iterable[str], only_without_code: bool = True) -> list[int]:
        """Ids of the scopes' current households in letter order (association, group, household):
        ids only, so a city of 200,000 is a few MB. Raises UnknownScopeError for an unknown name."""
        cond, params = await scope_filter(self.db, scopes)
        without = (" AND NOT EXISTS (SELECT 1 FROM enrolment_codes e WHERE e.household_id = h.id)"
                   if only_without_code else "")
        rows = await self.db.fetchall(
            f"SELECT h.id FROM households h WHERE {_ACTIVE} AND {cond}{without}"
            " ORDER BY h.association_id, coalesce(h.group_id, 0), h.id",
            params,
        )
        return [r[0] for r in rows]

    async def letter_targets(self, ids: Sequence[int]) -> list[CodeTarget]:
        """These households (with their language) in the order of `ids`; removed ones are left out."""
        if not ids:
            return []
        rows = await self.db.fetchall(
            "SELECT h.id, d.name, a.name, coalesce(g.name, ''), h.household_key, h.name, h.address, h.language"
            f" FROM {_HOUSEHOLD_FROM} WHERE {_ACTIVE} AND h.id IN ({marks(len(ids))})",
            list(ids),
        )
        found = {r[0]: CodeTarget(*r) for r in rows}
        return [found[i] for i in ids if i in found]


def _record(row: Row, contacts: dict[str, str], kinds: Sequence[str]) -> HouseholdRecord:
    return HouseholdRecord(
        district=row["district"],
        association=row["association"],
        group=row["grp"],
        household_key=row["household_key"],
        name=row["name"],
        address=row["address"],
        members=row["members"],
        vulnerable=bool(row["vulnerable"]),
        language=row["language"],
        contacts=tuple((k, contacts[k]) for k in kinds if k in contacts),
        notes=row["notes"],
        consent=row["consent"],
        consent_stated=bool(row["consent_stated"]),  # a default is written as the empty cell it came from
    )
