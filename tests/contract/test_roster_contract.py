"""RosterRepo: import (upsert, replace, removed households), export, summary, scopes, contacts, codes."""

from __future__ import annotations

import dataclasses

import pytest

from safetynet.domain import Role
from safetynet.domain.roster import HouseholdRecord, UnknownScopeError

from .support import (
    KINDS,
    MATSU,
    NORTH,
    SAKURA,
    SHARED_MOBILE,
    SOUTH,
    UME,
    StoreFactory,
    association_ids,
    city,
    clock_of,
    running_campaign,
    seed,
)


async def test_import_creates_the_roster_and_a_second_import_changes_nothing(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        s = await store.roster.import_households(city())
        assert (s.districts, s.associations, s.households_added, s.households_updated) == (2, 3, 7, 0)
        assert (s.contacts, s.contacts_added, s.contacts_removed, s.households_without_channel) == (7, 7, 0, 1)
        again = await store.roster.import_households(city())
        assert (again.households_added, again.households_updated, again.households_unchanged) == (0, 0, 7)
        assert (again.contacts_added, again.contacts_removed, again.contacts) == (0, 0, 7)
        assert await store.roster.export_records(KINDS) == city()


async def test_import_updates_fields_and_replaces_only_roster_contacts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        own = await store.roster.add_contact(ids["S-2"], "webpush", '{"endpoint":"https://p/1"}')
        changed = [dataclasses.replace(r, name="佐藤 花", contacts=(("landline", "+81311119999"),), group="2班")
                   if r.household_key == "S-2" else r for r in city()]
        s = await store.roster.import_households(changed)
        assert (s.households_updated, s.households_unchanged, s.contacts_added, s.contacts_removed) == (1, 6, 1, 2)
        h = await store.roster.get_household(ids["S-2"])
        assert h is not None and (h.name, h.group) == ("佐藤 花", "2班")
        assert sorted((c.kind, c.address, c.source) for c in h.contacts) == [
            ("landline", "+81311119999", "roster"), ("webpush", own.address, "enrolment")]


async def test_a_file_without_consent_keeps_the_consent_recorded_and_changes_are_counted_each_way(
        store_factory: StoreFactory) -> None:
    """QA (privacy walk): a file without the consent column, read as empty cells (the defaults), undid a
    withdrawn consent (不同意 → 同意) and made every 条例 household 不同意, said as "updated"."""
    async with store_factory() as store:
        recorded = {"S-1": "ordinance", "S-2": "no", "U-1": "ordinance"}
        ids = await seed(store, [dataclasses.replace(r, consent=recorded.get(r.household_key, "yes")) for r in city()])
        places = await association_ids(store)
        # the reader gives a file without the column the defaults: a vulnerable household no, another yes
        defaults = [dataclasses.replace(r, consent="no" if r.vulnerable else "yes") for r in city()]
        new = dataclasses.replace(defaults[0], household_key="S-5", contacts=())
        s = await store.roster.import_households([*defaults, new], consent_stated=False)
        assert (s.consent_kept, s.consent_changes, s.households_updated, s.households_added) == (7, (), 0, 1)
        consent = {r.household_key: r.consent for r in await store.roster.export_records(KINDS)}
        assert consent == {"S-1": "ordinance", "S-2": "no", "S-3": "yes", "S-4": "yes", "S-5": "no",
                           "U-1": "ordinance", "U-2": "yes", "M-1": "yes"}
        # cells that say so change it, counted each way
        s = await store.roster.import_households([*defaults, new])
        assert (s.consent_kept, s.consent_changes, s.households_updated) == (
            0, (("no", "yes", 1), ("ordinance", "no", 2)), 3)
        # each household named, for the audit log
        assert s.consent_changed == tuple(sorted([(ids["S-1"], places[SAKURA], "ordinance", "no"),
                                                  (ids["S-2"], places[SAKURA], "no", "yes"),
                                                  (ids["U-1"], places[UME], "ordinance", "no")]))


async def test_an_empty_consent_cell_keeps_the_consent_recorded_row_by_row(store_factory: StoreFactory) -> None:
    """Review (privacy officer): a household recorded 不同意 whose row came back with an empty 同意 cell (a
    clerk's blanks) became 同意 again, its details reaching its heads without its consent. An empty cell
    states nothing, as a missing column: a household in the roster keeps its consent; a new one takes the
    default; a cell that says so changes it, in the same file."""
    async with store_factory() as store:
        recorded = {"S-1": "no", "S-2": "no", "U-1": "ordinance"}
        ids = await seed(store, [dataclasses.replace(r, consent=recorded.get(r.household_key, "yes")) for r in city()])
        places = await association_ids(store)

        def empty(r: HouseholdRecord) -> HouseholdRecord:  # as the reader gives an empty cell: the default
            return dataclasses.replace(r, consent="no" if r.vulnerable else "yes", consent_stated=False)

        rows = {r.household_key: r for r in city()}  # the others state yes
        rows["S-1"] = dataclasses.replace(rows["S-1"], consent="yes")  # stated: changes it
        rows["S-2"], rows["U-1"] = empty(rows["S-2"]), empty(rows["U-1"])
        new = [empty(dataclasses.replace(rows[k], household_key=n, contacts=())) for k, n in (("S-1", "S-5"), ("S-2", "S-6"))]
        s = await store.roster.import_households([*rows.values(), *new])
        consent = {r.household_key: r.consent for r in await store.roster.export_records(KINDS)}
        assert consent == {"S-1": "yes", "S-2": "no", "S-3": "yes", "S-4": "yes", "S-5": "no", "S-6": "yes",
                           "U-1": "ordinance", "U-2": "yes", "M-1": "yes"}
        assert (s.consent_kept, s.consent_changes, s.households_updated, s.households_added) == (
            2, (("no", "yes", 1),), 1, 2)
        assert s.consent_changed == ((ids["S-1"], places[SAKURA], "no", "yes"),)
        # the same file again changes nothing
        again = await store.roster.import_households([*rows.values(), *new])
        assert (again.consent_kept, again.consent_changes, again.households_updated) == (4, (), 0)


async def test_a_defaulted_consent_follows_the_vulnerable_mark_a_stated_one_is_kept(store_factory: StoreFactory) -> None:
    """Review (privacy officer): an ordinary household given 同意 by an empty cell, then marked 要配慮 by a later
    file with no 同意 cell, kept 同意, its details before its heads though the law wants a stated consent or
    the ordinance for a 要配慮 household. A default follows the mark, towards 不同意 only (a cleared mark leaves it);
    a consent a cell stated is kept until a cell states another."""
    async with store_factory() as store:
        def empty(r: HouseholdRecord, **change: object) -> HouseholdRecord:  # as the reader gives an empty cell
            r = dataclasses.replace(r, **change)  # type: ignore[arg-type]
            return dataclasses.replace(r, consent="no" if r.vulnerable else "yes", consent_stated=False)

        await seed(store, [r if r.household_key == "S-3" else empty(r) for r in city()])  # S-3's cell says 同意
        marks = {"S-2": True, "S-3": True, "U-1": False}
        rows = [empty(r, vulnerable=marks.get(r.household_key, r.vulnerable)) for r in city()]
        s = await store.roster.import_households(rows)
        consent = {r.household_key: r.consent for r in await store.roster.export_records(KINDS)}
        assert consent == {"S-1": "no", "S-2": "no", "S-3": "yes", "S-4": "yes", "U-1": "no", "U-2": "yes",
                           "M-1": "yes"}  # U-1's defaulted 不同意 stays: a default moves only towards 不同意
        assert (s.consent_changes, s.consent_kept, s.households_updated) == ((("yes", "no", 1),), 6, 3)
        # a cell stating what a household had by default: no update, but stated from now on
        rows = [dataclasses.replace(r, consent_stated=True) if r.household_key == "U-2" else r for r in rows]
        s = await store.roster.import_households(rows)
        assert (s.consent_changes, s.households_updated) == ((), 0)
        rows = [dataclasses.replace(empty(r, vulnerable=True)) if r.household_key == "U-2" else r for r in rows]
        s = await store.roster.import_households(rows)
        assert (s.consent_changes, s.households_updated) == ((), 1)
        exported = await store.roster.export_records(KINDS)
        assert {r.household_key: (r.consent, r.consent_stated) for r in exported if r.household_key in marks} == {
            "S-2": ("no", False), "S-3": ("yes", True), "U-1": ("no", False)}
        assert {r.household_key: r.consent for r in exported}["U-2"] == "yes"
        # the export imported back changes nothing
        again = await store.roster.import_households(exported)
        assert (again.consent_changes, again.households_updated, again.households_unchanged) == ((), 0, 7)


async def test_a_file_without_the_vulnerable_column_keeps_the_marks_and_the_consent_that_follows_them(
        store_factory: StoreFactory) -> None:
    """Review: a file without the 要配慮 column, read as empty cells, wiped every household's mark, and the
    defaulted 不同意 of a 要配慮 household turned 同意 (its details before its heads in normal times), said as
    "N updated". A column left out states nothing: a household in the roster keeps what it records (the
    mark, 班, 住所, 人数, 言語, 備考); a new one takes the default. A defaulted consent moves only towards
    不同意: a 要配慮 mark cleared by a cell leaves a defaulted 不同意 as it is."""
    async with store_factory() as store:
        def read(r: HouseholdRecord, unstated: frozenset[str], **cells: object) -> HouseholdRecord:
            # as the reader gives a row of a file without these columns, its 同意 cell empty
            blank = HouseholdRecord(r.district, r.association, "", r.household_key, r.name, contacts=r.contacts)
            r = dataclasses.replace(r, **{f: getattr(blank, f) for f in unstated}, **cells)  # type: ignore[arg-type]
            return dataclasses.replace(r, consent="no" if r.vulnerable else "yes", consent_stated=False,
                                       unstated=unstated)

        stated = {"U-1": "ordinance"}
        await seed(store, [dataclasses.replace(r, consent=stated[r.household_key]) if r.household_key in stated
                           else read(r, frozenset()) for r in city()])  # S-1 and U-1 are 要配慮
        before = await store.roster.export_records(KINDS)
        unstated = frozenset({"group", "address", "members", "vulnerable", "language", "notes"})
        new = dataclasses.replace(city()[0], household_key="S-5", contacts=())
        s = await store.roster.import_households([read(r, unstated) for r in [*city(), new]])
        after = await store.roster.export_records(KINDS)
        assert after[:-1] == before
        assert (after[-1].vulnerable, after[-1].consent, after[-1].members, after[-1].group) == (False, "yes", 1, "")
        assert (s.households_updated, s.households_unchanged, s.consent_changes, s.consent_kept) == (0, 7, (), 7)
        # the mark cleared by a cell: a defaulted 不同意 stays (only a cell saying 同意 gives it)
        s = await store.roster.import_households([read(r, frozenset(), vulnerable=False) for r in city()])
        consent = {r.household_key: (r.vulnerable, r.consent) for r in await store.roster.export_records(KINDS)}
        assert (consent["S-1"], consent["U-1"]) == ((False, "no"), (False, "ordinance"))
        assert (s.households_updated, s.consent_changes) == (2, ())


async def test_a_defaulted_consent_a_cell_now_states_is_counted(store_factory: StoreFactory) -> None:
    """Review: a file exported before 0120 wrote 同意 in every ordinary row; imported back, it made every
    defaulted consent stated (a 要配慮 mark no longer turning it 不同意), with no count and no word. A default
    a cell now states, the same, is counted; one a cell changes is counted as a change, as before."""
    async with store_factory() as store:
        await seed(store, [dataclasses.replace(r, consent="no" if r.vulnerable else "yes", consent_stated=False)
                           for r in city()])  # S-1 and U-1 are 要配慮: 不同意 by default
        s = await store.roster.import_households(city())  # every cell says 同意
        assert (s.consent_now_stated, s.consent_changes, s.households_updated) == (5, (("no", "yes", 2),), 2)
        assert all(r.consent_stated for r in await store.roster.export_records(KINDS))
        again = await store.roster.import_households(city())
        assert (again.consent_now_stated, again.households_updated) == (0, 0)


async def test_a_household_back_on_the_roster_keeps_its_stated_consent_an_erased_one_takes_the_default(
        store_factory: StoreFactory) -> None:
    """Review: a partial `--replace` removed a household that had stated 不同意 (its row kept: a campaign refers
    to it); the next file, its 同意 cell empty, brought it back 同意, its details before its heads. A household
    back on the roster keeps a consent a cell stated. One retention erased keeps no consent of its own (its
    placeholder 不同意 is not stated) and takes the file's default, as a new one."""
    async with store_factory() as store:
        clock = clock_of(store)
        await seed(store, [dataclasses.replace(r, consent="no" if r.household_key in ("S-2", "S-4") else "yes")
                           for r in city()])
        campaign = await running_campaign(store)
        defaults = [dataclasses.replace(r, consent="no" if r.vulnerable else "yes", consent_stated=False)
                    for r in city()]
        await store.roster.import_households([r for r in defaults if r.household_key not in ("S-2", "S-4")],
                                             replace=True)
        back = await store.roster.import_households([r for r in defaults if r.household_key != "S-4"])
        consent = {r.household_key: (r.consent, r.consent_stated) for r in await store.roster.export_records(KINDS)}
        assert consent["S-2"] == ("no", True), consent
        assert (back.consent_changes, back.consent_kept, back.households_updated) == ((), 6, 1)
        assert await store.campaigns.close(campaign, clock.now())
        await store.campaigns.purge(campaign, clock.now())
        assert await store.campaigns.erase_removed_households(clock.now()) == 1  # S-4
        again = await store.roster.import_households(defaults)
        consent = {r.household_key: (r.consent, r.consent_stated) for r in await store.roster.export_records(KINDS)}
        assert consent["S-4"] == ("yes", False) and again.consent_changes == (("no", "yes", 1),), (consent, again)


async def test_import_refuses_a_broken_file_and_writes_nothing(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        moved = [*city(), dataclasses.replace(city()[0], household_key="S-9", district=SOUTH)]
        with pytest.raises(ValueError, match="two districts"):
            await store.roster.import_households(moved)
        with pytest.raises(ValueError, match="appears twice"):
            await store.roster.import_households([*city(), city()[0]])
        # characters the file reader refuses, from a caller that skipped it
        bidi = dataclasses.replace(city()[1], address="桜町\u202e1-2")
        with pytest.raises(ValueError, match=r"household 'S-2' of association '桜町': a cell contains U\+202E"):
            await store.roster.import_households([city()[0], bidi])
        # a contact kind no channel declares (the store's routes know the kinds)
        with pytest.raises(ValueError, match="unknown contact kind 'fax'"):
            await store.roster.import_households([dataclasses.replace(city()[0], contacts=(("fax", "1"),))])
        broken = dataclasses.replace(city()[0], notes="一行目\n二行目")
        with pytest.raises(ValueError, match=r"U\+000A \(LF\)"):
            await store.roster.import_households([broken])
        assert (await store.roster.summary()).households == 0 and await store.roster.list_associations() == []


async def test_replace_removes_missing_households_keeping_those_campaigns_refer_to(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        await running_campaign(store, ["association:桜町"])
        await store.roster.set_enrolment_codes([(ids["U-2"], "code-u2")])
        shorter = [r for r in city() if r.household_key not in ("S-4", "U-2")]
        assert await store.roster.count_missing(shorter) == {SAKURA: 1, UME: 1}
        s = await store.roster.import_households(shorter, replace=True)
        assert s.households_removed == 2
        gone = await store.roster.get_household(ids["U-2"])
        assert gone is None  # no campaign refers to it: deleted
        kept = await store.roster.get_household(ids["S-4"])
        assert kept is not None and kept.removed_at is not None and kept.contacts == ()
        assert await store.roster.household_by_code_hash("code-u2") is None
        assert await store.roster.count_in_scope(["city"]) == 5
        assert await store.roster.count_missing(shorter) == {}
        # the same key comes back: the household returns, updated
        s = await store.roster.import_households(city())
        assert (s.households_added, s.households_updated) == (1, 1)
        back = await store.roster.get_household(ids["S-4"])
        assert back is not None and back.removed_at is None


async def test_replace_leaves_associations_absent_from_the_file_alone(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        s = await store.roster.import_households([r for r in city() if r.association == MATSU], replace=True)
        assert s.households_removed == 0
        assert await store.roster.count_in_scope(["city"]) == 7


async def test_a_district_left_without_associations_goes(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        moved = [dataclasses.replace(r, district=NORTH) if r.association == MATSU else r for r in city()]
        await store.roster.import_households(moved)
        summary = await store.roster.summary()
        assert summary.districts == 1 and {a.district for a in await store.roster.list_associations()} == {NORTH}
        with pytest.raises(UnknownScopeError, match="unknown district"):
            await store.roster.count_in_scope([f"district:{SOUTH}"])


async def test_summary_counts_per_association(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        await store.roster.add_contact(ids["S-4"], "telegram", "42")
        contact = (await store.roster.get_household(ids["U-1"])).contacts[0]  # type: ignore[union-attr]
        await store.roster.mark_contact_dead(contact.id, "invalid number")
        s = await store.roster.summary()
        assert (s.districts, s.associations, s.households, s.vulnerable, s.without_channel) == (2, 3, 7, 2, 1)
        assert s.contacts == {"mobile": 4, "landline": 1, "telegram": 2}
        per = {p.association: (p.district, p.households, p.without_channel, p.vulnerable) for p in s.per_association}
        assert per == {SAKURA: (NORTH, 4, 0, 1), UME: (NORTH, 2, 1, 1), MATSU: (SOUTH, 1, 0, 0)}
        assert [p.association for p in s.per_association] == [SAKURA, UME, MATSU]


async def test_export_pages_keep_roster_contacts_only(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        await store.roster.add_contact(ids["S-4"], "mobile", "+819099990004")  # the resident's own
        pages = [page async for page in store.roster.iter_export_records(KINDS, batch_size=3)]
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [r for p in pages for r in p] == city()
        # only the kinds asked for, in their order (a roster's contact columns)
        (s2,) = [r for r in await store.roster.export_records(["telegram", "landline", "mobile"])
                 if r.household_key == "S-2"]
        assert s2.contacts == (("landline", "+81311110002"), ("mobile", "+819011110002"))
        assert all(r.contacts == () for r in await store.roster.export_records(["webpush"]))


async def test_an_export_asking_no_contact_kinds_gives_the_households_without_contacts(
        store_factory: StoreFactory) -> None:
    """Review: no kinds made `kind IN ()`, which PostgreSQL refuses (a syntax error, not an empty list)."""
    async with store_factory() as store:
        await seed(store)
        assert await store.roster.export_records([]) == [dataclasses.replace(r, contacts=()) for r in city()]
        pages = [page async for page in store.roster.iter_export_records((), batch_size=3)]
        assert [len(p) for p in pages] == [3, 3, 1]


async def test_households_and_associations_are_read_with_their_contacts(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        h = await store.roster.get_household(ids["S-2"])
        assert h is not None
        assert (h.association, h.district, h.group, h.name, h.members, h.vulnerable) == (
            SAKURA, NORTH, "1班", "佐藤 花子", 1, False)
        # contacts come in the order they were stored (a step's channels still go by the scenario's order)
        assert [(c.kind, c.address, c.working) for c in h.contacts] == [
            ("landline", "+81311110002", True), ("mobile", "+819011110002", True)]
        assert (await store.roster.get_household(ids["U-1"])).group == ""  # type: ignore[union-attr]
        assert await store.roster.get_household(10_000) is None
        assert [a.name for a in await store.roster.list_associations()] == [SAKURA, UME, MATSU]
        a = await store.roster.association_by_name(MATSU)
        assert a is not None and a.district == SOUTH
        assert await store.roster.association_by_name("無い町会") is None


@pytest.mark.parametrize(
    ("scopes", "keys"),
    [
        (["city"], ["S-1", "S-2", "S-3", "S-4", "U-1", "U-2", "M-1"]),
        ([f"district:{SOUTH}"], ["M-1"]),
        ([f"association:{UME}", "group:桜町/2班"], ["S-3", "S-4", "U-1", "U-2"]),
        ("group:桜町/1班", ["S-1", "S-2"]),  # a single scope given as a string
        ([], []),
    ],
)
async def test_scopes_select_current_households(store_factory: StoreFactory, scopes: list[str] | str,
                                              keys: list[str]) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        assert await store.roster.count_in_scope(scopes) == len(keys)
        got = [h async for batch in store.roster.households_in_scope(scopes, batch_size=2) for h in batch]
        assert [h.id for h in got] == sorted(ids[k] for k in keys)


async def test_households_in_scope_carry_every_contact_working_or_not(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        dead = await store.roster.add_contact(ids["S-3"], "mobile", "+819033330003")
        await store.roster.mark_contact_dead(dead.id, "gone")
        [batch] = [b async for b in store.roster.households_in_scope([f"association:{SAKURA}"])]
        s3 = next(h for h in batch if h.id == ids["S-3"])
        assert (s3.language, s3.vulnerable, s3.group_id is not None) == ("en", False, True)
        assert [(c.kind, c.working) for c in s3.contacts] == [("telegram", True), ("mobile", False)]


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("district:無い地区", "unknown district: 無い地区"),
        ("association:無い町会", "unknown association: 無い町会"),
        ("group:桜町/9班", "unknown group: 桜町/9班"),
        ("group:桜町", "unknown group: 桜町"),
        ("ward:x", "scope must be city"),
    ],
)
async def test_an_unknown_scope_is_refused(store_factory: StoreFactory, scope: str, message: str) -> None:
    async with store_factory() as store:
        await seed(store)
        with pytest.raises(UnknownScopeError, match=message):
            await store.roster.count_in_scope([scope])
        with pytest.raises(UnknownScopeError, match=message):
            [b async for b in store.roster.households_in_scope([scope])]


async def test_add_contact_normalises_phones_and_revives_the_same_contact(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        c = await store.roster.add_contact(ids["S-4"], "mobile", "+819055554444", source="roster")
        assert (c.address, c.source, c.working) == ("+819055554444", "roster", True)
        # stored as given: the caller writes an address in its kind's form (roster.contacts)
        typed = await store.roster.add_contact(ids["S-4"], "mobile", "090-5555-4444")
        assert typed.address == "090-5555-4444" and typed.id != c.id
        assert await store.roster.remove_contact(typed.id)
        assert await store.roster.mark_contact_dead(c.id, "x" * 600)
        again = await store.roster.add_contact(ids["S-4"], "mobile", "+819055554444")
        assert (again.id, again.source, again.working) == (c.id, "enrolment", True)  # the resident's own now
        kept = await store.roster.add_contact(ids["S-4"], "mobile", "+819055554444", source="roster")
        assert kept.source == "enrolment"  # a roster import never takes it back
        assert not await store.roster.mark_contact_dead(10_000, "gone")


@pytest.mark.parametrize(("kind", "address", "source"), [("fax", "x", "enrolment"), ("telegram", "1", "guess")])
async def test_add_contact_refuses_bad_input(store_factory: StoreFactory, kind: str, address: str,
                                             source: str) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        with pytest.raises(ValueError):
            await store.roster.add_contact(ids["S-4"], kind, address, source=source)
        assert (await store.roster.get_household(ids["S-4"])).contacts == ()  # type: ignore[union-attr]


async def test_enrolled_contacts_in_bulk_are_added_once(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        rows = [(ids["S-4"], "webpush", '{"endpoint":"https://p/4"}'),
                (ids["U-1"], "telegram", "777")]
        await store.roster.add_enrolled_contacts(rows)
        await store.roster.add_enrolled_contacts(rows)
        h = await store.roster.get_household(ids["S-4"])
        assert h is not None and [(c.kind, c.source) for c in h.contacts] == [("webpush", "enrolment")]
        assert [h.id for h in await store.roster.households_by_contact(["telegram"], "777")] == [ids["U-1"]]


async def test_remove_contact(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        [c] = (await store.roster.get_household(ids["S-1"])).contacts  # type: ignore[union-attr]
        assert await store.roster.remove_contact(c.id)
        assert not await store.roster.remove_contact(c.id)
        assert (await store.roster.get_household(ids["S-1"])).contacts == ()  # type: ignore[union-attr]


async def test_a_contact_its_resident_removed_is_not_added_back_until_the_roster_names_another(
        store_factory: StoreFactory) -> None:
    """QA (privacy walk): a resident deleted a contact on /join/{code}; the next roster import added it
    back ("1 added") from the roster's unchanged cell."""
    async with store_factory() as store:
        ids = await seed(store)

        async def mobiles() -> list[str]:
            h = await store.roster.get_household(ids["S-2"])
            assert h is not None
            return [c.address for c in h.contacts if c.kind == "mobile"]

        [mobile] = [c for c in (await store.roster.get_household(ids["S-2"])).contacts  # type: ignore[union-attr]
                    if c.kind == "mobile"]
        assert await store.roster.remove_contact(mobile.id)
        for _ in range(2):
            s = await store.roster.import_households(city())
            assert (s.contacts_added, s.contacts_removed, s.contacts_not_restored) == (0, 0, 1)
            assert await mobiles() == []
        # the roster's cell names another number: that one is added, and the removal is over
        new = [dataclasses.replace(r, contacts=(("mobile", "+819011119999"), ("landline", "+81311110002")))
               if r.household_key == "S-2" else r for r in city()]
        s = await store.roster.import_households(new)
        assert (s.contacts_added, s.contacts_not_restored, await mobiles()) == (1, 0, ["+819011119999"])
        s = await store.roster.import_households(city())
        assert (s.contacts_added, s.contacts_removed, s.contacts_not_restored) == (1, 1, 0)
        assert await mobiles() == [mobile.address]
        # removed again, then added back by the resident: the roster's cell is theirs again
        [mobile] = [c for c in (await store.roster.get_household(ids["S-2"])).contacts  # type: ignore[union-attr]
                    if c.kind == "mobile"]
        assert await store.roster.remove_contact(mobile.id)
        await store.roster.add_contact(ids["S-2"], "mobile", mobile.address)
        s = await store.roster.import_households(city())
        assert (s.contacts_added, s.contacts_not_restored, await mobiles()) == (0, 0, [mobile.address])
        # a household --replace removes takes its removals along
        [mobile] = [c for c in (await store.roster.get_household(ids["S-2"])).contacts  # type: ignore[union-attr]
                    if c.kind == "mobile"]
        assert await store.roster.remove_contact(mobile.id)
        await store.roster.import_households([r for r in city() if r.household_key != "S-2"], replace=True)
        s = await store.roster.import_households(city())
        assert s.households_added == 1 and s.contacts_not_restored == 0


async def test_households_are_found_by_contact(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        phones = ["mobile", "landline"]
        assert [h.id for h in await store.roster.households_by_contact(phones, SHARED_MOBILE)] == sorted(
            [ids["S-1"], ids["M-1"]])
        assert [h.id for h in await store.roster.households_by_contact(phones, "+81322220001")] == [ids["U-1"]]
        assert await store.roster.households_by_contact(["mobile"], "+81322220001") == []  # a landline, not a mobile
        assert await store.roster.households_by_contact(phones, "03-2222-0001") == []  # only as stored
        assert await store.roster.households_by_contact(phones, "+819000000000") == []
        assert await store.roster.households_by_contact([], SHARED_MOBILE) == []
        (h,) = await store.roster.households_by_contact(["telegram"], "5550003")
        assert h.id == ids["S-3"] and h.contacts[0].address == "5550003"
        assert await store.roster.households_by_contact(["telegram"], "1") == []
        # a dead contact still names its household (a provider's word is not a roster change)
        await store.roster.mark_contact_dead(h.contacts[0].id, "blocked")
        assert [x.id for x in await store.roster.households_by_contact(["telegram"], "5550003")] == [ids["S-3"]]
        # a removed household is no longer found
        m2 = HouseholdRecord(SOUTH, MATSU, "1班", "M-2", "伊藤 三郎", "松町2")
        await store.roster.import_households([*(r for r in city() if r.household_key != "M-1"), m2], replace=True)
        assert [h.id for h in await store.roster.households_by_contact(phones, SHARED_MOBILE)] == [ids["S-1"]]


async def test_every_working_contact_of_an_address_is_marked_dead_at_once(store_factory: StoreFactory) -> None:
    """A resident who leaves a bot leaves it for every household that chat was linked to."""
    async with store_factory() as store:
        ids = await seed(store)
        await store.roster.add_contact(ids["S-1"], "telegram", "5550003")
        assert await store.roster.mark_contacts_dead("telegram", "5550003", "unfollowed " + "x" * 600) == 2
        for key in ("S-1", "S-3"):
            (tg,) = [c for c in (await store.roster.get_household(ids[key])).contacts  # type: ignore[union-attr]
                     if c.kind == "telegram"]
            assert not tg.working
        assert await store.roster.mark_contacts_dead("telegram", "5550003", "again") == 0  # already dead
        # the same address of another kind, and other addresses, are left alone
        assert await store.roster.mark_contacts_dead("landline", SHARED_MOBILE, "x") == 0
        assert all(c.working for c in (await store.roster.get_household(ids["S-1"])).contacts  # type: ignore[union-attr]
                   if c.kind == "mobile")
        # re-enrolled: working again
        again = await store.roster.add_contact(ids["S-3"], "telegram", "5550003")
        assert again.working


async def test_live_contacts_of_a_kind_are_found_working_ones_only(store_factory: StoreFactory) -> None:
    """Whether any phone is bound to the city's web-push key: a working subscription of a current
    household, or a staff member's; a dead one, or one of a removed household, binds nothing."""
    async with store_factory() as store:
        assert not await store.roster.has_live_contacts("webpush")
        ids = await seed(store)
        assert not await store.roster.has_live_contacts("webpush")  # the roster's kinds only
        assert await store.roster.has_live_contacts("mobile") and await store.roster.has_live_contacts("telegram")
        push = await store.roster.add_contact(ids["M-1"], "webpush", '{"endpoint":"https://p/1"}')
        assert await store.roster.has_live_contacts("webpush")
        await store.roster.mark_contact_dead(push.id, "410 Gone")
        assert not await store.roster.has_live_contacts("webpush")
        await store.roster.add_contact(ids["M-1"], "webpush", push.address)  # enrolled again
        assert await store.roster.has_live_contacts("webpush")
        m2 = HouseholdRecord(SOUTH, MATSU, "1班", "M-2", "伊藤 三郎", "松町2")
        await store.roster.import_households([*(r for r in city() if r.household_key != "M-1"), m2], replace=True)
        assert not await store.roster.has_live_contacts("webpush")
        head = await store.auth.add_staff("head", "桜 会長", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        await store.auth.add_staff_contact(head.id, "webpush", '{"endpoint":"https://p/2"}')
        assert await store.roster.has_live_contacts("webpush")
        assert await store.auth.remove_staff("head")
        assert not await store.roster.has_live_contacts("webpush")


async def test_enrolment_codes_are_replaced_and_letters_listed_in_order(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        assert await store.roster.set_enrolment_codes([(ids["S-1"], "h1"), (ids["U-1"], "h2")]) == 2
        await store.roster.set_enrolment_codes([(ids["S-1"], "h1b")])
        assert await store.roster.household_by_code_hash("h1") is None
        assert (await store.roster.household_by_code_hash("h1b")).id == ids["S-1"]  # type: ignore[union-attr]
        every = await store.roster.code_targets(only_without_code=False)
        assert [t.household_key for t in every] == ["S-1", "S-2", "S-3", "S-4", "U-1", "U-2", "M-1"]
        assert (every[0].district, every[0].association, every[0].group, every[0].name) == (
            NORTH, SAKURA, "1班", "山田 太郎")
        without = await store.roster.households_without_code([SAKURA, UME])
        assert [t.household_key for t in without] == ["S-2", "S-3", "S-4", "U-2"]
        assert [t.household_key for t in await store.roster.code_targets()] == ["S-2", "S-3", "S-4", "U-2", "M-1"]
        with pytest.raises(UnknownScopeError, match="無い町会"):
            await store.roster.code_targets(["無い町会"])


async def test_groups_order_the_letters_within_an_association(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        records = [HouseholdRecord(NORTH, SAKURA, "2班", "A", "a"), HouseholdRecord(NORTH, SAKURA, "", "B", "b"),
                   HouseholdRecord(NORTH, SAKURA, "1班", "C", "c")]
        await seed(store, records)
        # households without a group first, then groups in the order the roster first listed them
        assert [t.household_key for t in await store.roster.code_targets()] == ["B", "A", "C"]


async def test_letter_order_and_targets_follow_scope_codes_and_removals(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        await store.roster.set_enrolment_codes([(ids["S-1"], "h1"), (ids["U-1"], "h2")])
        every = await store.roster.letter_order(["city"], only_without_code=False)
        in_order = await store.roster.code_targets(only_without_code=False)
        assert every == [t.household_id for t in in_order]  # the same letter order as code_targets
        assert await store.roster.letter_order([f"association:{SAKURA}"]) == [ids["S-2"], ids["S-3"], ids["S-4"]]
        assert await store.roster.letter_order([f"association:{SAKURA}", f"association:{UME}"]) == [
            ids["S-2"], ids["S-3"], ids["S-4"], ids["U-2"]]
        with pytest.raises(UnknownScopeError):
            await store.roster.letter_order(["association:無い町会"])
        # targets come back in the order asked, with the household's language; unknown ids are left out
        targets = await store.roster.letter_targets([ids["U-2"], ids["S-1"], 999_999])
        assert [t.household_key for t in targets] == ["U-2", "S-1"]
        assert targets[1] == in_order[0]._replace(language=targets[1].language)
        assert all(t.language for t in targets)
        assert await store.roster.letter_targets([]) == []
        # a household removed by a later import is no longer a target
        kept = [r for r in city() if r.household_key != "U-2"]
        await store.roster.import_households(kept, replace=True)
        assert [t.household_key for t in await store.roster.letter_targets([ids["U-2"], ids["S-1"]])] == ["S-1"]
        assert ids["U-2"] not in await store.roster.letter_order(["city"], only_without_code=False)


async def test_a_file_without_a_contact_column_keeps_that_kind_of_contact(store_factory: StoreFactory) -> None:
    """Review: a file without the 携帯電話 column (a clerk's update of addresses and 班) deleted every household's
    roster mobile, and those households got no SMS or call on the night. A contact column left out states
    nothing (`unstated` names it `contact:KIND`): its contacts stay; the file's other columns still apply."""
    async with store_factory() as store:
        ids = await seed(store)
        no_mobile = [dataclasses.replace(r, contacts=tuple((k, a) for k, a in r.contacts if k != "mobile"),
                                         unstated=frozenset({"contact:mobile"})) for r in city()]
        no_mobile = [dataclasses.replace(r, contacts=(("landline", "+81311119999"),))
                     if r.household_key == "S-2" else r for r in no_mobile]
        s = await store.roster.import_households(no_mobile)
        assert (s.contacts_added, s.contacts_removed) == (1, 1)  # S-2's landline changed, no mobile went
        assert await store.roster.export_records(["mobile"]) == of_kind(city(), "mobile")
        h = await store.roster.get_household(ids["S-2"])
        assert h is not None and sorted((c.kind, c.address) for c in h.contacts) == [
            ("landline", "+81311119999"), ("mobile", "+819011110002")]
        # the same rows with the column there and its cells empty: the file says there is none
        s = await store.roster.import_households([dataclasses.replace(r, unstated=frozenset()) for r in no_mobile])
        assert s.contacts_removed == 4
        assert [r.contacts for r in await store.roster.export_records(["mobile"])] == [()] * 7


def of_kind(records: list[HouseholdRecord], kind: str) -> list[HouseholdRecord]:
    """`records` as an export of the one contact column `kind` gives them."""
    return [dataclasses.replace(r, contacts=tuple((k, a) for k, a in r.contacts if k == kind)) for r in records]
