"""Consent (同意) in every store adapter: kept with the household, read back wherever staff pages read
households, and the scopes of the real events running now (DESIGN §9)."""

from __future__ import annotations

import dataclasses

import pytest

from safetynet.domain import CampaignKind
from safetynet.domain.replies import ReplyDetails, ReplyItem

from .support import (
    KINDS,
    LADDER,
    NORTH,
    SAKURA,
    UME,
    StoreFactory,
    association_ids,
    city,
    running_campaign,
    seed,
)


def consenting(**consent: str) -> list:
    return [dataclasses.replace(r, consent=consent.get(r.household_key.replace("-", "_"), r.consent)) for r in city()]


async def test_consent_is_kept_exported_and_read_with_the_household(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store, consenting(S_1="no", U_1="ordinance"))
        got = {r.household_key: r.consent for r in await store.roster.export_records(KINDS)}
        assert got == {"S-1": "no", "S-2": "yes", "S-3": "yes", "S-4": "yes", "U-1": "ordinance", "U-2": "yes",
                       "M-1": "yes"}
        household = await store.roster.get_household(ids["S-1"])
        assert household is not None and household.consent == "no"
        # a later import that changes only the consent updates the household
        summary = await store.roster.import_households(consenting(S_1="yes", U_1="ordinance"))
        assert (summary.households_updated, summary.households_unchanged) == (1, 6)
        household = await store.roster.get_household(ids["S-1"])
        assert household is not None and household.consent == "yes"


async def test_an_unknown_consent_is_refused_and_nothing_is_written(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        with pytest.raises(ValueError, match="consent"):
            await store.roster.import_households(consenting(S_2="maybe"))
        assert await store.roster.export_records(KINDS) == []


async def test_staff_reads_carry_the_consent_and_number(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        ids = await seed(store, consenting(S_1="no", S_4="no"))
        a = await association_ids(store)
        cid = await running_campaign(store)
        lines = {h.household_key: h for h in await store.dashboard.households(cid, a[SAKURA])}
        assert (lines["S-1"].consent, lines["S-2"].consent) == ("no", "yes")
        assert not any(h.withheld for h in lines.values())  # the store never withholds: the viewer's rule does
        listed = await store.dashboard.households_with_status(cid, [a[SAKURA]], ["pending", "unreachable"])
        assert {h.household_key: h.consent for h in listed}["S-4"] == "no"
        without = (await store.dashboard.coverage(a[SAKURA])).without
        assert [(h.household_key, h.consent) for h in without] == [("S-4", "no")]
        now = store.clock.now()
        await store.replies.record(ReplyItem(cid, ids["S-1"], a[SAKURA], "need_help", "web", "k1", now,
                                             ReplyDetails(note="台所")))
        (item,) = await store.dashboard.help_panel(cid, [a[SAKURA]])
        assert (item.household_key, item.consent, item.note) == ("S-1", "no", "台所")
        row = await store.replies.help_row(cid, ids["S-1"])
        assert row is not None and (row.household_key, row.consent) == ("S-1", "no")
        (listed_row,) = await store.replies.help_list(cid)
        assert (listed_row.household_key, listed_row.consent) == ("S-1", "no")


async def test_real_event_scopes_are_those_of_running_real_events_only(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        assert await store.dashboard.real_event_scopes() == frozenset()
        await running_campaign(store, ["city"])  # a drill discloses nothing
        draft = await store.campaigns.create(kind=CampaignKind.REAL, title="提案", scope=["city"],
                                             messages={"ja": "x"}, ladder=LADDER)
        assert draft.state == "draft"
        assert await store.dashboard.real_event_scopes() == frozenset()
        real = await running_campaign(store, [f"district:{NORTH}", f"association:{UME}"], kind=CampaignKind.REAL)
        assert await store.dashboard.real_event_scopes() == {f"district:{NORTH}", f"association:{UME}"}
        assert await store.campaigns.close(real, store.clock.now())
        assert await store.dashboard.real_event_scopes() == frozenset()
