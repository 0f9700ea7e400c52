"""The roster repository in memory (`RosterRepo`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence

import structlog

from safetynet.domain import ContactKind
from safetynet.domain.consent import default_consent
from safetynet.domain.moves import MovePlan, MoveSide, is_phone, match_moves
from safetynet.domain.roster import (
    UNSTATED_FIELDS,
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
    consent_ways,
    unstated_contact,
)
from safetynet.store.errors import StoreError
from safetynet.store.memory.tables import ContactRow, HouseholdRow, Tables, contact
from safetynet.store.rules import check_records

log = structlog.get_logger("store.roster")

class MemoryRoster:
    def __init__(self, t: Tables) -> None:
        self.t = t

    # -- import / export ---------------------------------------------------------------------

    async def import_households(self, records: Sequence[HouseholdRecord], replace: bool = False,
                                consent_stated: bool = True) -> ImportSummary:
        check_records(records, self.t.routes.of_kind)
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        a_ids = self._upsert_places(records)
        added = updated = removed = contacts_added = contacts_removed = 0
        changed: list[tuple[int, int, str, str]] = []
        not_restored = kept = now_stated = 0
        imported: list[int] = []
        plan = self._plan_moves(records, a_ids) if replace else MovePlan()
        moved_from = {i: old for old, i in plan.moves}  # record's index → the household it moves from
        moved_kept = 0
        wanted: dict[int, set[tuple[str, str]]] = {}
        silent: dict[int, frozenset[str]] = {}  # a kind whose column the file lacks keeps its contacts
        for i, r in enumerate(records):
            aid = a_ids[r.association]
            gid = self._group_id(aid, r.group) if r.group else None
            row = next((h for h in t.households.values()
                        if h.association_id == aid and h.household_key == r.household_key), None)
            stated = consent_stated and r.consent_stated
            if row is not None and r.unstated:
                r = self._keep_unstated(r, row, stated)
                gid = row.group_id if "group" in r.unstated else gid
            # a row stating none (no column, an empty cell): a consent a cell stated is kept, a household back
            # on the roster's too (an erased one's is not stated); a default only moves towards 不同意 (a
            # household back on the roster takes the row's, as a new one)
            current = row is not None and row.removed_at is None
            keep = not stated and row is not None and row.consent_stated
            consent = row.consent if row is not None and (keep or (
                not stated and current and row.consent == "no")) else r.consent
            kept += not stated and (current or keep) and row is not None and row.consent == consent
            # a default a cell now states (a file exported before 0120 states every ordinary row's): counted
            now_stated += stated and row is not None and not row.consent_stated and row.consent == consent
            if row is not None and row.consent != consent:
                changed.append((row.id, aid, row.consent, consent))
            fields = (gid, r.name, r.address, r.members, r.vulnerable, r.language, r.notes, consent)
            if row is None:
                old = t.households[moved_from[i]] if i in moved_from else None
                if old is not None and not stated and old.consent == "no":
                    # a moved household's empty cell keeps its refusal (stated, or a 要配慮 default)
                    r, stated, moved_kept = dataclasses.replace(r, consent="no"), old.consent_stated, moved_kept + 1
                row = HouseholdRow(t.next_id("households"), aid, gid, r.household_key, r.name, r.address, r.members,
                                   r.vulnerable, r.language, r.notes, now, now, consent=r.consent, consent_stated=stated)
                t.households[row.id] = row
                added += old is None
                if old is not None:
                    self._move_over(old.id, row.id)
            elif (row.group_id, row.name, row.address, row.members, row.vulnerable, row.language,
                  row.notes, row.consent) != fields or row.removed_at is not None:
                (row.group_id, row.name, row.address, row.members, row.vulnerable, row.language,
                 row.notes, row.consent) = fields
                row.removed_at, row.updated_at, row.consent_stated = None, now, stated or keep
                updated += 1
            elif stated:
                row.consent_stated = True  # a cell now says what it had by default: no update counted
            imported.append(row.id)
            wanted[row.id] = {(k, a) for k, a in r.contacts if a}
            silent[row.id] = r.unstated
        # as SQLite's set-based import does: households in id order, kinds alphabetically (the
        # order of contacts is the order a household's channels are tried in)
        for hid in sorted(wanted):
            # a resident's removal ends when the file names another address of its kind
            kinds = dict(wanted[hid])
            for key in [k for k in t.contact_removals if k[0] == hid and k[1] in kinds and kinds[k[1]] != k[2]]:
                del t.contact_removals[key]
            # roster contacts the file no longer lists go; enrolment contacts are the residents' own
            for c in t.contacts_of(hid):
                if (c.source == "roster" and (c.kind, c.address) not in wanted[hid]
                        and unstated_contact(c.kind) not in silent[hid]):
                    del t.contacts[c.id]
                    contacts_removed += 1
            have = {(c.kind, c.address) for c in t.contacts_of(hid)}
            for kind, address in sorted(wanted[hid] - have):
                if (hid, kind, address) in t.contact_removals:
                    not_restored += 1  # its resident removed it
                    continue
                c = ContactRow(t.next_id("contacts"), hid, kind, address, "roster", "working", now)
                t.contacts[c.id] = c
                contacts_added += 1
        if replace:
            removed = self._remove_missing(set(imported), set(a_ids.values()), now) - len(plan.moves)
        used = {did for did, _ in t.associations.values()}
        for did in [d for d in t.districts if d not in used]:
            del t.districts[did]
        ids = set(imported)
        summary = ImportSummary(
            districts=len({r.district for r in records}), associations=len({r.association for r in records}),
            households_added=added, households_updated=updated, households_removed=removed,
            contacts=sum(1 for c in t.contacts.values() if c.household_id in ids),
            households_unchanged=len(records) - added - updated, contacts_added=contacts_added,
            contacts_removed=contacts_removed,
            households_without_channel=sum(1 for h in ids if not t.has_working_contact(h)),
            contacts_not_restored=not_restored,
            consent_kept=kept, consent_now_stated=now_stated,
            consent_changes=consent_ways(changed), consent_changed=tuple(sorted(changed)),
            households_moved=len(plan.moves), moves_ambiguous=plan.ambiguous, moved_consent_kept=moved_kept,
        )
        log.info("roster_imported", households=len(records), added=added, updated=updated, removed=removed,
                 replace=replace, moved=len(plan.moves), moves_ambiguous=plan.ambiguous)
        return summary

    async def plan_moves(self, records: Sequence[HouseholdRecord]) -> MovePlan:
        await asyncio.sleep(0)
        names = list(dict.fromkeys(r.association for r in records))
        a_ids = {n: a.id if (a := self.t.association_named(n)) is not None else -k for k, n in enumerate(names, 1)}
        return self._plan_moves(records, a_ids)

    def _plan_moves(self, records: Sequence[HouseholdRecord], a_ids: dict[str, int]) -> MovePlan:
        """As SQLite's `roster_import.plan_moves`: the households `--replace` removes against the rows that
        will be new households (refs: household id, record index)."""
        t = self.t
        keys = {(h.association_id, h.household_key) for h in t.households.values()}
        listed = {(a_ids[r.association], r.household_key) for r in records}
        added = [MoveSide(i, a_ids[r.association], r.name, frozenset(a for _, a in r.contacts if is_phone(a)))
                 for i, r in enumerate(records) if (a_ids[r.association], r.household_key) not in keys]
        files = set(a_ids.values())
        gone = [MoveSide(h.id, h.association_id, h.name,
                         frozenset(c.address for c in t.contacts_of(h.id) if is_phone(c.address)))
                for h in t.current() if h.association_id in files and (h.association_id, h.household_key) not in listed]
        return match_moves(gone, added) if added and gone else MovePlan()

    def _move_over(self, old: int, new: int) -> None:
        """The resident's own of a moved household (their contacts, removals, code, a phone confirmation
        under way) to its new one; the roster's contacts stay for `_remove_missing`."""
        t = self.t
        for c in t.contacts_of(old):
            if c.source != "roster":
                c.household_id = new
        for (hid, kind, address) in [k for k in t.contact_removals if k[0] == old]:
            t.contact_removals[(new, kind, address)] = t.contact_removals.pop((hid, kind, address))
        if old in t.codes:
            t.codes[new] = t.codes.pop(old)
        for v in t.phone_codes.values():
            if v.household_id == old:
                v.household_id = new

    def _keep_unstated(self, r: HouseholdRecord, row: HouseholdRow, stated: bool) -> HouseholdRecord:
        """`r` with what `row` records for the fields the file has no column of, and a defaulted consent
        following the kept 要配慮 mark."""
        kept = {f: getattr(row, f) for f in r.unstated if f in UNSTATED_FIELDS and f != "group"}
        r = dataclasses.replace(r, **kept)
        return r if stated else dataclasses.replace(r, consent=str(default_consent(r.vulnerable)))

    def _upsert_places(self, records: Sequence[HouseholdRecord]) -> dict[str, int]:
        t = self.t
        a_ids: dict[str, int] = {}
        for r in records:
            if r.association in a_ids:
                continue
            did = next((d for d, n in t.districts.items() if n == r.district), None)
            if did is None:
                did = t.next_id("districts")
                t.districts[did] = r.district
            a = t.association_named(r.association)
            aid = a.id if a is not None else t.next_id("associations")
            t.associations[aid] = (did, r.association)
            a_ids[r.association] = aid
        return a_ids

    def _group_id(self, association_id: int, name: str) -> int:
        for gid, (aid, n) in self.t.groups.items():
            if aid == association_id and n == name:
                return gid
        gid = self.t.next_id("groups")
        self.t.groups[gid] = (association_id, name)
        return gid

    def _remove_missing(self, listed: set[int], associations: set[int], now: float) -> int:
        """Households of the file's associations it does not list: deleted, or marked removed when
        campaigns refer to them; their contacts, codes and phone confirmations go either way."""
        t = self.t
        gone = [h for h in t.current() if h.association_id in associations and h.id not in listed]
        referred = {hid for (_, hid) in t.members}
        for h in gone:
            for cid in [c.id for c in t.contacts_of(h.id)]:
                del t.contacts[cid]
            t.codes.pop(h.id, None)
            for key in [k for k in t.contact_removals if k[0] == h.id]:
                del t.contact_removals[key]
            for vid in [v.id for v in t.phone_codes.values() if v.household_id == h.id]:
                del t.phone_codes[vid]
            if h.id in referred:
                h.removed_at = h.updated_at = now
            else:
                del t.households[h.id]
        return len(gone)

    async def count_missing(self, records: Sequence[HouseholdRecord]) -> dict[str, int]:
        await asyncio.sleep(0)
        listed: dict[str, set[str]] = defaultdict(set)
        for r in records:
            listed[r.association].add(r.household_key)
        missing: dict[str, int] = {}
        for h in self.t.current():
            a = self.t.association(h.association_id)
            if a is not None and a.name in listed and h.household_key not in listed[a.name]:
                missing[a.name] = missing.get(a.name, 0) + 1
        return missing

    async def iter_export_records(self, kinds: Sequence[ContactKind], batch_size: int = 5000
                                  ) -> AsyncIterator[list[HouseholdRecord]]:
        rows = self.t.current()
        for i in range(0, len(rows), batch_size):
            await asyncio.sleep(0)
            yield [self._record(h, kinds) for h in rows[i : i + batch_size]]

    def _record(self, h: HouseholdRow, kinds: Sequence[ContactKind]) -> HouseholdRecord:
        a = self.t.association(h.association_id)
        found: dict[str, str] = {}
        for c in self.t.contacts_of(h.id):
            if c.source == "roster" and c.kind in kinds:
                found.setdefault(c.kind, c.address)
        return HouseholdRecord(
            district=a.district if a else "", association=a.name if a else "", group=self.t.group_name(h.group_id),
            household_key=h.household_key, name=h.name, address=h.address, members=h.members,
            vulnerable=h.vulnerable, language=h.language, notes=h.notes, consent=h.consent,
            contacts=tuple((k, found[k]) for k in kinds if k in found), consent_stated=h.consent_stated,
        )

    async def export_records(self, kinds: Sequence[ContactKind]) -> list[HouseholdRecord]:
        out: list[HouseholdRecord] = []
        async for batch in self.iter_export_records(kinds):
            out.extend(batch)
        return out

    # -- reading -----------------------------------------------------------------------------

    async def summary(self) -> RosterSummary:
        await asyncio.sleep(0)
        t = self.t
        current = t.current()
        per = []
        order = sorted(t.associations, key=lambda aid: (t.associations[aid][0], aid))
        for aid in order:
            a = t.association(aid)
            assert a is not None
            mine = [h for h in current if h.association_id == aid]
            per.append(AssociationCount(aid, a.name, a.district, len(mine),
                                        sum(1 for h in mine if not t.has_working_contact(h.id)),
                                        sum(1 for h in mine if h.vulnerable)))
        ids = {h.id for h in current}
        kinds: dict[str, int] = {}
        for c in t.contacts.values():
            if c.state == "working" and c.household_id in ids:
                kinds[c.kind] = kinds.get(c.kind, 0) + 1
        return RosterSummary(
            districts=len({p.district for p in per}), associations=len(per),
            households=sum(p.households for p in per), without_channel=sum(p.without_channel for p in per),
            vulnerable=sum(p.vulnerable for p in per), contacts=kinds, per_association=tuple(per),
        )

    async def get_household(self, household_id: int) -> Household | None:
        await asyncio.sleep(0)
        row = self.t.households.get(household_id)
        return self.t.household(row) if row is not None else None

    async def list_associations(self) -> list[Association]:
        await asyncio.sleep(0)
        return [a for aid in sorted(self.t.associations) if (a := self.t.association(aid)) is not None]

    async def association_by_name(self, name: str) -> Association | None:
        await asyncio.sleep(0)
        return self.t.association_named(name)

    # -- scopes ------------------------------------------------------------------------------

    async def count_in_scope(self, scopes: Iterable[str]) -> int:
        await asyncio.sleep(0)
        return len(self.t.in_scope(scopes))

    async def households_in_scope(
        self, scopes: Iterable[str], batch_size: int = 2000
    ) -> AsyncIterator[list[TargetHousehold]]:
        await asyncio.sleep(0)
        rows = self.t.in_scope(scopes)
        for i in range(0, len(rows), batch_size):
            yield [TargetHousehold(h.id, h.association_id, h.group_id, h.vulnerable, h.language,
                                   tuple(contact(c) for c in self.t.contacts_of(h.id)))
                   for h in rows[i : i + batch_size]]
            await asyncio.sleep(0)

    # -- contacts ----------------------------------------------------------------------------

    async def add_contact(
        self, household_id: int, kind: ContactKind, address: str, source: str = "enrolment"
    ) -> Contact:
        if source not in ("roster", "enrolment"):
            raise ValueError(f"source must be roster or enrolment, got {source!r}")
        if kind not in self.t.routes.of_kind:
            raise ValueError(f"unknown contact kind {kind!r}")
        await self.t.write()
        t = self.t
        if household_id not in t.households:
            raise StoreError(f"no household {household_id}")
        if source == "enrolment":
            t.contact_removals.pop((household_id, str(kind), address), None)
        row = next((c for c in t.contacts.values()
                    if c.household_id == household_id and c.kind == kind and c.address == address), None)
        if row is None:
            row = ContactRow(t.next_id("contacts"), household_id, kind, address, source, "working", t.clock.now())
            t.contacts[row.id] = row
        else:
            row.state, row.dead_reason = "working", None
            if source == "enrolment":
                row.source = "enrolment"
        log.info("contact_added", household_id=household_id, kind=kind, source=source)
        return contact(row)

    async def add_enrolled_contacts(self, rows: Iterable[tuple[int, ContactKind, str]]) -> None:
        await self.t.write()
        t, now = self.t, self.t.clock.now()
        have = {(c.household_id, c.kind, c.address) for c in t.contacts.values()}
        for hid, kind, address in rows:
            key = (hid, str(kind), address)
            if key not in have and hid in t.households:
                have.add(key)
                c = ContactRow(t.next_id("contacts"), hid, str(kind), address, "enrolment", "working", now)
                t.contacts[c.id] = c

    async def remove_contact(self, contact_id: int) -> bool:
        await self.t.write()
        c = self.t.contacts.pop(contact_id, None)
        if c is not None:
            self.t.contact_removals[(c.household_id, c.kind, c.address)] = self.t.clock.now()
        return c is not None

    async def mark_contact_dead(self, contact_id: int, reason: str) -> bool:
        await self.t.write()
        c = self.t.contacts.get(contact_id)
        if c is None:
            return False
        c.state, c.dead_reason = "dead", reason[:500]
        log.info("contact_marked_dead", contact_id=contact_id)
        return True

    async def households_by_contact(self, kinds: Sequence[ContactKind], address: str) -> list[Household]:
        await asyncio.sleep(0)
        ids = {c.household_id for c in self.t.contacts.values() if c.kind in kinds and c.address == address}
        return [self.t.household(h) for h in self.t.current() if h.id in ids]

    async def mark_contacts_dead(self, kind: ContactKind, address: str, reason: str) -> int:
        await self.t.write()
        found = [c for c in self.t.contacts.values() if c.kind == kind and c.address == address and c.state == "working"]
        for c in found:
            c.state, c.dead_reason = "dead", reason[:500]
        if found:
            log.info("contacts_marked_dead", kind=kind, count=len(found))
        return len(found)

    async def mark_contacts_back(self, kind: ContactKind, address: str, reason: str) -> int:
        await self.t.write()
        found = [c for c in self.t.contacts.values() if c.kind == kind and c.address == address
                 and c.state == "dead" and c.dead_reason == reason[:500]]
        for c in found:
            c.state, c.dead_reason = "working", None
        if found:
            log.info("contacts_marked_back", kind=kind, count=len(found))
        return len(found)

    async def has_live_contacts(self, kind: ContactKind) -> bool:
        await asyncio.sleep(0)
        return (any(c.kind == kind and c.state == "working" for c in self.t.contacts.values())
                or any(c.kind == kind for c in self.t.staff_contacts.values()))

    # -- enrolment codes ---------------------------------------------------------------------

    async def set_enrolment_codes(self, pairs: Iterable[tuple[int, str]]) -> int:
        rows = list(pairs)
        await self.t.write()
        now = self.t.clock.now()
        for hid, code_hash in rows:
            self.t.codes[hid] = (code_hash, now)
        log.info("enrolment_codes_set", households=len(rows))
        return len(rows)

    async def household_by_code_hash(self, code_hash: str) -> Household | None:
        await asyncio.sleep(0)
        for h in self.t.current():
            if h.id in self.t.codes and self.t.codes[h.id][0] == code_hash:
                return self.t.household(h)
        return None

    async def code_targets(
        self, associations: Sequence[str] | None = None, only_without_code: bool = True
    ) -> list[CodeTarget]:
        await asyncio.sleep(0)
        t = self.t
        if associations:
            for name in associations:
                if t.association_named(name) is None:
                    raise UnknownScopeError(f"unknown association: {name}", "association", name)
        out: list[tuple[tuple[int, int, int], CodeTarget]] = []
        for h in t.current():
            a = t.association(h.association_id)
            assert a is not None
            if (associations and a.name not in associations) or (only_without_code and h.id in t.codes):
                continue
            # letter order: association, group (households without one first), household
            order = (h.association_id, h.group_id if h.group_id is not None else -1, h.id)
            out.append((order, CodeTarget(h.id, a.district, a.name, t.group_name(h.group_id), h.household_key,
                                          h.name, h.address)))
        return [c for _, c in sorted(out, key=lambda o: o[0])]

    async def households_without_code(self, associations: Sequence[str] | None = None) -> list[CodeTarget]:
        return await self.code_targets(associations, only_without_code=True)

    async def letter_order(self, scopes: Sequence[str], only_without_code: bool = True) -> list[int]:
        await asyncio.sleep(0)
        rows = [h for h in self.t.in_scope(scopes) if not (only_without_code and h.id in self.t.codes)]
        rows.sort(key=lambda h: (h.association_id, h.group_id if h.group_id is not None else 0, h.id))
        return [h.id for h in rows]

    async def letter_targets(self, ids: Sequence[int]) -> list[CodeTarget]:
        await asyncio.sleep(0)
        t = self.t
        out: list[CodeTarget] = []
        current = {h.id: h for h in t.current()}
        for i in ids:
            h = current.get(i)
            if h is None:
                continue
            a = t.association(h.association_id)
            assert a is not None
            out.append(CodeTarget(h.id, a.district, a.name, t.group_name(h.group_id), h.household_key,
                                  h.name, h.address, h.language))
        return out
