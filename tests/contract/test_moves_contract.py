"""RosterRepo.import_households: a household `--replace` removes from one association and the file adds to
another (same head's name, a shared phone) moves, with what its resident enrolled and a refusal of consent."""

from __future__ import annotations

import dataclasses

from safetynet.domain.roster import HouseholdRecord

from .support import KINDS, SAKURA, UME, StoreFactory, association_ids, city, seed

TELEGRAM_CHAT = "777000111"


def moved_to_ume(records: list[HouseholdRecord], name: str = "佐藤　花子",
                 phones: tuple[tuple[str, str], ...] = (("mobile", "+819011110002"),)) -> list[HouseholdRecord]:
    """The file after 佐藤 花子 (S-2 of 桜町, consent no) moved to 梅町 as U-9, its consent cell empty."""
    s2 = next(r for r in records if r.household_key == "S-2")
    moved = dataclasses.replace(s2, association=UME, group="", household_key="U-9", name=name, contacts=phones,
                                consent="yes", consent_stated=False)
    return [r for r in records if r.household_key != "S-2"] + [moved]


async def test_a_household_moving_to_another_association_keeps_its_enrolment_and_refusal(
        store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        before = [dataclasses.replace(r, consent="no") if r.household_key == "S-2" else r for r in city()]
        ids = await seed(store, before)
        old = ids["S-2"]
        await store.roster.add_contact(old, "telegram", TELEGRAM_CHAT)
        landline = next(c for c in (await store.roster.get_household(old)).contacts  # type: ignore[union-attr]
                        if c.kind == "landline")
        assert await store.roster.remove_contact(landline.id)  # the resident removed it on /join
        await store.roster.set_enrolment_codes([(old, "code-s2")])
        # the new row lists the landline the resident removed: it is not added back
        after = moved_to_ume(before, phones=(("mobile", "+819011110002"), ("landline", "+81311110002")))
        assert (await store.roster.plan_moves(after)).moves == ((old, len(after) - 1),)  # what `roster check` says

        s = await store.roster.import_households(after, replace=True)

        assert (s.households_moved, s.moves_ambiguous, s.households_added, s.households_removed) == (1, 0, 0, 0)
        assert s.moved_consent_kept == 1 and s.contacts_not_restored == 1
        new = await store.roster.household_by_code_hash("code-s2")
        assert new is not None and new.id != old
        assert (new.association, new.household_key, new.consent) == (UME, "U-9", "no")
        assert sorted((c.kind, c.address, c.source) for c in new.contacts) == [
            ("mobile", "+819011110002", "roster"), ("telegram", TELEGRAM_CHAT, "enrolment")]
        assert await store.roster.get_household(old) is None
        exported = {r.household_key: r for r in await store.roster.export_records(KINDS)}
        assert "S-2" not in exported and exported["U-9"].consent == "no"
        # the refusal came with it as stated: a later empty cell keeps it, the mark off or not
        again = await store.roster.import_households(after, replace=True)
        assert (again.households_moved, again.households_unchanged) == (0, len(after))


async def test_two_candidates_with_the_same_name_and_phone_make_no_move(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        await store.roster.add_contact(ids["S-2"], "telegram", TELEGRAM_CHAT)
        after = moved_to_ume(city())
        twin = dataclasses.replace(after[-1], household_key="U-10", address="梅町10")
        assert (await store.roster.plan_moves([*after, twin])).ambiguous == 1
        s = await store.roster.import_households([*after, twin], replace=True)
        assert (s.households_moved, s.moves_ambiguous, s.households_added, s.households_removed) == (0, 1, 2, 1)
        rows = {r.household_key: r for r in await store.roster.export_records(KINDS)}
        assert "S-2" not in rows and {"U-9", "U-10"} <= set(rows)
        assert await store.roster.households_by_contact(["telegram"], TELEGRAM_CHAT) == []  # went with S-2


async def test_a_move_without_a_shared_phone_is_no_move(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        await store.roster.set_enrolment_codes([(ids["S-2"], "code-s2")])
        after = moved_to_ume(city(), name="佐藤 花子", phones=(("mobile", "+819099998888"),))
        s = await store.roster.import_households(after, replace=True)
        assert (s.households_moved, s.moves_ambiguous, s.households_added, s.households_removed) == (0, 0, 1, 1)
        assert await store.roster.household_by_code_hash("code-s2") is None


async def test_without_replace_nothing_is_removed_so_nothing_moves(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store)
        s = await store.roster.import_households(moved_to_ume(city()))
        assert (s.households_moved, s.households_added, s.households_removed) == (0, 1, 0)
        stays = await store.roster.get_household(ids["S-2"])
        assert stays is not None and stays.removed_at is None
        assert (await association_ids(store)).keys() >= {SAKURA, UME}


async def test_what_check_says_is_what_the_import_does_for_a_new_association_and_a_returning_household(
        store_factory: StoreFactory) -> None:
    """`plan_moves` (what `roster check` and the --replace question say) reads the city its own way, the import
    by its own rows (the day's reread: three ways to the same plan): the two agree where they differ most, a
    move into an association new to the city, and a household removed before that the file lists again."""
    async with store_factory() as store:
        ids = await seed(store)
        s2 = next(r for r in city() if r.household_key == "S-2")
        # U-1 leaves the roster first (a --replace file without it)
        assert (await store.roster.import_households([r for r in city() if r.household_key != "U-1"],
                                                     replace=True)).households_removed == 1
        moved = dataclasses.replace(s2, association="竹町", household_key="T-1", consent_stated=False)
        after = [r for r in city() if r.household_key != "S-2"] + [moved]  # U-1 back, S-2 to a new association
        planned = await store.roster.plan_moves(after)
        assert planned.moves == ((ids["S-2"], len(after) - 1),) and planned.ambiguous == 0
        s = await store.roster.import_households(after, replace=True)
        assert (s.households_moved, s.moves_ambiguous) == (len(planned.moves), planned.ambiguous)
        assert s.households_removed == 0  # S-2 moved, not removed
