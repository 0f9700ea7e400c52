"""RosterStore against a real SQLite file: import, re-import, --replace, atomicity, round trip,
scopes, contacts and enrolment codes."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import zlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from roster_helpers import dump, household, make_config, with_contacts

from safetynet.config import Config
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import Enrolment, StepPlan
from safetynet.domain.roster import HouseholdRecord, UnknownScopeError
from safetynet.roster.contacts import households_by_contact, normalise_contact
from safetynet.roster.csvio import contact_kinds
from safetynet.store import Store, store_session


def rec(assoc: str, key: str, **kw: object) -> HouseholdRecord:
    fields: dict[str, object] = {
        "district": "北地区" if assoc.startswith("東") else "南地区",
        "association": assoc,
        "group": "1班",
        "household_key": key,
        "name": f"世帯{assoc}{key}",
        "phone": f"+8190000{zlib.crc32(f'{assoc}/{key}'.encode()) % 100000:05d}",
    }
    fields.update(kw)
    return household(**fields)


PHONES = ("mobile", "landline")
KINDS = contact_kinds()  # the roster's contact columns
CITY = [
    rec("東町会", "1", vulnerable=True, landline="+81312345678"),
    rec("東町会", "2", group="2班", telegram="555001"),
    rec("東町会", "3", phone=""),  # no channel
    rec("西町会", "1", language="en"),
    rec("西町会", "2", phone="", landline="+81661234567"),
]


async def _key_ids(store: Store) -> dict[tuple[str, str], int]:
    ids = {}
    for a in await store.roster.list_associations():
        async for batch in store.roster.households_in_scope([f"association:{a.name}"]):
            for t in batch:
                h = await store.roster.get_household(t.id)
                assert h is not None
                ids[(h.association, h.household_key)] = h.id
    return ids


async def test_import_and_read_back(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        s = await store.roster.import_households(CITY)
        assert (s.districts, s.associations) == (2, 2)
        assert (s.households_added, s.households_updated, s.households_unchanged, s.households_removed) == (5, 0, 0, 0)
        assert (s.contacts, s.contacts_added, s.households_without_channel) == (6, 6, 1)
        summary = await store.roster.summary()
        assert (summary.districts, summary.associations, summary.households) == (2, 2, 5)
        assert (summary.without_channel, summary.vulnerable) == (1, 1)
        assert summary.contacts == {"mobile": 3, "landline": 2, "telegram": 1}
        assert [(p.association, p.district, p.households, p.without_channel) for p in summary.per_association] == [
            ("東町会", "北地区", 3, 1),
            ("西町会", "南地区", 2, 0),
        ]
        assocs = await store.roster.list_associations()
        assert [(a.name, a.district) for a in assocs] == [("東町会", "北地区"), ("西町会", "南地区")]
        east = await store.roster.association_by_name("東町会")
        assert east is not None and east.district == "北地区"
        assert await store.roster.association_by_name("無い町会") is None
        ids = await _key_ids(store)
        h = await store.roster.get_household(ids[("東町会", "1")])
        assert h is not None
        assert (h.district, h.association, h.group, h.vulnerable, h.removed_at) == ("北地区", "東町会", "1班", True, None)
        assert {(c.kind, c.address, c.source, c.working) for c in h.contacts} == {
            ("mobile", CITY[0].contact("mobile"), "roster", True),
            ("landline", "+81312345678", "roster", True),
        }
        assert await store.roster.get_household(999_999) is None


async def test_reimport_updates_changed_households_and_their_roster_contacts(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        ids = await _key_ids(store)
        changed = [
            with_contacts(dataclasses.replace(CITY[0], name="新しい世帯主"), phone="+819099998888", landline=""),
            *CITY[1:4],
            dataclasses.replace(CITY[4], group="9班", members=4),
            rec("西町会", "3"),
        ]
        s = await store.roster.import_households(changed)
        assert (s.households_added, s.households_updated, s.households_unchanged, s.households_removed) == (1, 2, 3, 0)
        assert (s.contacts_added, s.contacts_removed) == (2, 2)  # new mobile + 西町会 3; old mobile + landline
        assert await _key_ids(store) == {**ids, ("西町会", "3"): max(ids.values()) + 1}  # ids are kept
        h = await store.roster.get_household(ids[("東町会", "1")])
        assert h is not None and h.name == "新しい世帯主"
        assert [(c.kind, c.address) for c in h.contacts] == [("mobile", "+819099998888")]
        h = await store.roster.get_household(ids[("西町会", "2")])
        assert h is not None and (h.group, h.members) == ("9班", 4)


async def test_enrolment_contacts_survive_reimport(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        hid = (await _key_ids(store))[("東町会", "1")]
        push = await store.roster.add_contact(hid, "webpush", '{"endpoint":"http://127.0.0.1/p/1"}')
        own = await store.roster.add_contact(hid, "mobile", normalise_contact("mobile", "080-7777-6666"))
        # the roster's own number, confirmed by the resident: now theirs, so the roster no longer owns it
        claimed = await store.roster.add_contact(hid, "mobile", CITY[0].contact("mobile"))
        assert (own.address, own.source, claimed.source) == ("+818077776666", "enrolment", "enrolment")
        s = await store.roster.import_households([with_contacts(CITY[0], phone="", landline=""), *CITY[1:]])
        assert s.contacts_removed == 1  # only the roster landline
        h = await store.roster.get_household(hid)
        assert h is not None
        assert {c.id for c in h.contacts} == {push.id, own.id, claimed.id}


async def test_replace_removes_missing_households_of_the_files_associations_only(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        ids = await _key_ids(store)
        new_file = [CITY[0], rec("東町会", "4")]
        assert await store.roster.count_missing(new_file) == {"東町会": 2}
        assert await store.roster.count_missing(CITY) == {}
        await store.roster.set_enrolment_codes([(ids[("東町会", "2")], "h2")])
        s = await store.roster.import_households(new_file, replace=True)
        assert (s.households_added, s.households_unchanged, s.households_removed) == (1, 1, 2)
        assert await store.roster.get_household(ids[("東町会", "2")]) is None  # no campaign refers to it: deleted
        assert await store.roster.household_by_code_hash("h2") is None
        remaining = {k for k in await _key_ids(store)}
        assert remaining == {("東町会", "1"), ("東町会", "4"), ("西町会", "1"), ("西町会", "2")}


async def _put_in_campaign(store: Store, household_id: int) -> None:
    h = await store.roster.get_household(household_id)
    assert h is not None
    c = await store.campaigns.create(kind=CampaignKind.DRILL, title="t", scope=["city"], messages={}, ladder=())
    await store.campaigns.write_step(c.id, StepPlan((), (), ()), 0.0, enrol=[Enrolment(h.id, h.association_id, "tok")])


async def test_replace_keeps_households_that_campaigns_refer_to_as_removed(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        hid = (await _key_ids(store))[("西町会", "1")]
        await _put_in_campaign(store, hid)
        s = await store.roster.import_households([CITY[4]], replace=True)
        assert s.households_removed == 1
        gone = await store.roster.get_household(hid)
        assert gone is not None and gone.removed_at is not None and gone.contacts == ()
        assert await store.roster.count_in_scope(["association:西町会"]) == 1
        assert all(r.household_key != "1" or r.association != "西町会" for r in await store.roster.export_records(KINDS))
        assert await store.roster.households_by_contact(PHONES, CITY[3].contact("mobile")) == []
        assert (await store.roster.summary()).households == 4
        # listed again: it comes back with the same id
        s = await store.roster.import_households([CITY[3]])
        assert (s.households_added, s.households_updated) == (0, 1)
        back = await store.roster.get_household(hid)
        assert back is not None and back.removed_at is None and len(back.contacts) == 1


async def test_a_rejected_import_leaves_the_database_unchanged(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
    before = dump(cfg.db_path)
    async with store_session(cfg) as store:
        with pytest.raises(ValueError, match="appears twice"):
            await store.roster.import_households([rec("北町会", "1"), rec("北町会", "1")])
        with pytest.raises(ValueError, match="in two districts"):
            await store.roster.import_households([rec("北町会", "1"), rec("北町会", "2", district="別地区")])
        # the characters the file reader refuses, from a caller that skipped it
        bidi = dataclasses.replace(rec("北町会", "3"), address="東町\u202e1-2")
        with pytest.raises(ValueError, match=r"household '3' of association '北町会': a cell contains U\+202E"):
            await store.roster.import_households([rec("北町会", "1"), bidi])
        # a failure inside the transaction, after districts and associations were written
        broken = dataclasses.replace(rec("新町会", "1", district="新地区"), name=None)
        with pytest.raises(Exception, match=r"(?i)not.null"):  # SQLite's "NOT NULL", PostgreSQL's "not-null"
            await store.roster.import_households([rec("新町会", "0", district="新地区"), broken], replace=True)
    assert dump(cfg.db_path) == before


async def test_export_then_import_changes_nothing(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        exported = await store.roster.export_records(KINDS)
        assert sorted(exported, key=lambda r: (r.association, r.household_key)) == sorted(
            CITY, key=lambda r: (r.association, r.household_key)
        )
    before = dump(cfg.db_path)
    async with store_session(cfg) as store:
        s = await store.roster.import_households(exported, replace=True)
        assert (s.households_unchanged, s.households_updated, s.contacts_added, s.contacts_removed) == (5, 0, 0, 0)
    assert dump(cfg.db_path) == before


async def test_households_in_scope(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        ids = await _key_ids(store)

        async def scope(*scopes: str) -> set[tuple[str, str]]:
            by_id = {v: k for k, v in ids.items()}
            found = set()
            async for batch in store.roster.households_in_scope(scopes, batch_size=2):
                assert len(batch) <= 2
                found |= {by_id[t.id] for t in batch}
            assert await store.roster.count_in_scope(scopes) == len(found)
            return found

        assert await scope("city") == set(ids)
        assert await store.roster.count_in_scope("association:西町会") == 2  # one scope as a plain string
        assert await scope("district:北地区") == {("東町会", "1"), ("東町会", "2"), ("東町会", "3")}
        assert await scope("association:西町会") == {("西町会", "1"), ("西町会", "2")}
        assert await scope("group:東町会/2班") == {("東町会", "2")}
        assert await scope("group:東町会/2班", "association:西町会") == {("東町会", "2"), ("西町会", "1"), ("西町会", "2")}
        async for batch in store.roster.households_in_scope(["association:東町会"]):
            first = batch[0]
            assert first.vulnerable and first.language == "ja" and first.group_id is not None
            assert {c.kind for c in first.contacts} == {"mobile", "landline"}
        for bad in ("district:無い", "association:無い", "group:東町会/99班", "group:東町会", "town:x"):
            with pytest.raises(UnknownScopeError):
                await store.roster.count_in_scope([bad])


async def test_contact_helpers(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        ids = await _key_ids(store)
        hid = ids[("東町会", "3")]
        # the store keeps what it is given: the caller writes it in its kind's form first
        c = await store.roster.add_contact(hid, "mobile", normalise_contact("mobile", "０９０－５５５５－４４４４"))
        assert c.address == "+819055554444"
        assert [h.id for h in await store.roster.households_by_contact(PHONES, "+819055554444")] == [hid]
        assert await store.roster.households_by_contact(PHONES, "090-5555-4444") == []  # not as stored
        # the roster's lookup takes any written form of each kind
        found = await households_by_contact(store.roster, PHONES, "090-5555-4444")
        assert [h.id for h in found] == [hid]
        assert [h.id for h in await households_by_contact(store.roster, PHONES, "03-1234-5678")] == [ids[("東町会", "1")]]
        assert await households_by_contact(store.roster, PHONES, "not a phone") == []
        (tg,) = await households_by_contact(store.roster, ["telegram"], "555001")
        assert tg.id == ids[("東町会", "2")]
        assert await households_by_contact(store.roster, ["telegram"], "1") == []
        assert await store.roster.mark_contact_dead(c.id, "21211 invalid number")
        h = await store.roster.get_household(hid)
        assert h is not None and [x.working for x in h.contacts] == [False]
        assert (await store.roster.summary()).without_channel == 1
        again = await store.roster.add_contact(hid, "mobile", "+819055554444")  # re-enrolled: working again
        assert again.id == c.id and again.working
        assert await store.roster.remove_contact(c.id)
        assert not await store.roster.remove_contact(c.id)
        with pytest.raises(ValueError):
            await store.roster.add_contact(hid, "fax", "x")  # a kind no channel declares
        with pytest.raises(ValueError):
            normalise_contact("mobile", "123")
        with pytest.raises(ValueError):
            normalise_contact("fax", "x")


async def test_enrolment_code_storage(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with store_session(cfg) as store:
        await store.roster.import_households(CITY)
        ids = await _key_ids(store)
        targets = await store.roster.households_without_code()
        assert [(t.association, t.household_key) for t in targets] == [
            ("東町会", "1"), ("東町会", "3"), ("東町会", "2"), ("西町会", "1"), ("西町会", "2"),
        ]  # fmt: skip
        assert await store.roster.set_enrolment_codes([(ids[("東町会", "1")], "aa"), (ids[("西町会", "1")], "bb")]) == 2
        h = await store.roster.household_by_code_hash("aa")
        assert h is not None and h.id == ids[("東町会", "1")]
        assert len(await store.roster.households_without_code()) == 3
        assert [t.household_key for t in await store.roster.households_without_code(["西町会"])] == ["2"]
        assert len(await store.roster.code_targets(["西町会"], only_without_code=False)) == 2
        await store.roster.set_enrolment_codes([(ids[("東町会", "1")], "cc")])  # rotation replaces
        assert await store.roster.household_by_code_hash("aa") is None
        assert await store.roster.household_by_code_hash("cc") is not None
        with pytest.raises(UnknownScopeError):
            await store.roster.code_targets(["無い町会"])


async def test_logs_carry_counts_never_names_or_numbers(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    old = structlog.get_config()
    # other tests may leave the CLI's warning-only filter configured; this one reads every level
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        logs = await _roster_activity_logs(cfg)
    finally:
        structlog.configure(**old)
    events = {e["event"] for e in logs}
    assert {"roster_imported", "contact_added", "contact_marked_dead", "enrolment_codes_set"} <= events
    text = repr(logs)
    personal = [r.name for r in CITY] + [r.contact("mobile") for r in CITY if r.contact("mobile")] + ["+819055554444", "secret-hash", "東町会"]
    assert not [p for p in personal if p in text]


async def _roster_activity_logs(cfg: Config) -> list[MutableMapping[str, Any]]:
    async with store_session(cfg) as store:
        with structlog.testing.capture_logs() as logs:
            await store.roster.import_households(CITY)
            hid = (await _key_ids(store))[("東町会", "3")]
            c = await store.roster.add_contact(hid, "mobile", "+819055554444")
            await store.roster.mark_contact_dead(c.id, "invalid number +819055554444")
            await store.roster.set_enrolment_codes([(hid, "secret-hash")])
    return logs


def _write_version_1_database(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    v1 = (Path(__file__).resolve().parents[2] / "safetynet/store/sqlite/migrations/0001_initial.sql").read_text("utf-8")
    conn = sqlite3.connect(db_path)
    try:
        conn.executescript(
            v1
            + "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL);"
            "INSERT INTO schema_version VALUES (1, 'initial', 0);"
            "INSERT INTO districts (id, name) VALUES (1, '北地区');"
            "INSERT INTO associations (id, district_id, name) VALUES (1, 1, '東町会');"
            "INSERT INTO households (id, association_id, household_key, name, created_at, updated_at)"
            " VALUES (1, 1, '1', '佐藤 一郎', 0, 0);"
            "INSERT INTO contacts (household_id, kind, address, created_at) VALUES (1, 'mobile', '+819012345678', 0);"
        )
    finally:
        conn.close()


@pytest.mark.sqlite_only  # a SQLite file of version 1 and SQLite's migrations
async def test_a_version_1_roster_is_migrated_and_keeps_its_households(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    _write_version_1_database(cfg.db_path)
    async with store_session(cfg) as store:
        h = await store.roster.get_household(1)
        assert h is not None and h.removed_at is None and h.contacts[0].address == "+819012345678"
        s = await store.roster.import_households([rec("東町会", "1", district="北地区", name="佐藤 一郎",
                                                      group="", phone="+819012345678")])  # fmt: skip
        assert (s.households_unchanged, s.contacts_added, s.contacts_removed) == (1, 0, 0)
    indexes = {line for line in dump(cfg.db_path) if line.startswith("CREATE INDEX")}
    assert not [i for i in indexes if "contacts_household" in i]
