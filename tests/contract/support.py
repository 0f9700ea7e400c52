"""What the contract suites share: the fixtures' types, a small city, the steps of a running campaign."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from safetynet.broadcast.planner import plan_step
from safetynet.channels import registry
from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import LadderStep
from safetynet.domain.roster import HouseholdRecord
from safetynet.store import Store

# `store_factory(clock=None)`: a fresh store of one adapter; `break_writes(store, broken)`: its writes fail
StoreFactory = Callable[..., AbstractAsyncContextManager[Store]]
BreakWrites = Callable[[Store, bool], Awaitable[None]]

NORTH, SOUTH = "北地区", "南地区"
SAKURA, UME, MATSU = "桜町", "梅町", "松町"
SHARED_MOBILE = "+819011110001"  # S-1 and M-1 share one phone
MSG = {"ja": "安否を教えてください。"}
STARTER, APPROVER = 1, 2  # staff ids of the two people of a real event
# What the composition root hands a store (the channel registry's): the stores name no channel.
ROUTES = registry.routes()
LADDER = registry.default_ladder()
# The roster's contact columns, in their order (what an export reads).
KINDS = ("mobile", "landline", "telegram")


def _hh(district: str, assoc: str, group: str, key: str, name: str, address: str, members: int, vulnerable: bool,
        language: str, **contacts: str) -> HouseholdRecord:
    """A roster row; contacts by column (`phone` is the mobile), in the roster's column order."""
    kinds = {"phone": "mobile", "landline": "landline", "telegram": "telegram"}
    return HouseholdRecord(district, assoc, group, key, name, address, members, vulnerable, language,
                           contacts=tuple((kinds[col], contacts[col]) for col in kinds if contacts.get(col)))


def city() -> list[HouseholdRecord]:
    return [
        _hh(NORTH, SAKURA, "1班", "S-1", "山田 太郎", "桜町1-1", 3, True, "ja", phone=SHARED_MOBILE),
        _hh(NORTH, SAKURA, "1班", "S-2", "佐藤 花子", "桜町1-2", 1, False, "ja",
            phone="+819011110002", landline="+81311110002"),
        _hh(NORTH, SAKURA, "2班", "S-3", "Smith John", "桜町2-3", 2, False, "en", telegram="5550003"),
        _hh(NORTH, SAKURA, "2班", "S-4", "鈴木 一郎", "桜町2-4", 1, False, "ja"),
        _hh(NORTH, UME, "", "U-1", "田中 和子", "梅町1", 1, True, "ja", landline="+81322220001"),
        _hh(NORTH, UME, "", "U-2", "高橋 誠", "梅町2", 2, False, "ja", phone="+819022220002"),
        _hh(SOUTH, MATSU, "1班", "M-1", "伊藤 次郎", "松町1", 4, False, "ja", phone=SHARED_MOBILE),
    ]


async def seed(store: Store, records: Sequence[HouseholdRecord] | None = None) -> dict[str, int]:
    """Imports the city; household key → id."""
    await store.roster.import_households(list(records if records is not None else city()))
    return {t.household_key: t.household_id for t in await store.roster.code_targets(only_without_code=False)}


async def association_ids(store: Store) -> dict[str, int]:
    return {a.name: a.id for a in await store.roster.list_associations()}


def token_of(campaign_id: int, household_id: int) -> str:
    return f"tok-{campaign_id}-{household_id}"


async def running_campaign(
    store: Store, scope: Sequence[str] = ("city",), kind: CampaignKind = CampaignKind.DRILL,
    ladder: Sequence[LadderStep] | None = None,
) -> int:
    """A campaign started as the campaign service starts one: enrolled, step 0 planned, running (a
    real event: started by staff 1, approved by staff 2)."""
    c = await store.campaigns.create(kind=kind, title="訓練", scope=scope, messages=MSG,
                                     ladder=LADDER if ladder is None else ladder)
    now = store.clock.now()
    if kind == CampaignKind.REAL:
        assert await store.campaigns.request_approval(c.id, now, "first", STARTER)
    await store.campaigns.enrol_scope(c.id, scope, token_of)
    async for batch in store.campaigns.step_households(c.id):
        await store.campaigns.write_step(c.id, plan_step(batch, 0, c.ladder[0]), now)
    if kind == CampaignKind.REAL:
        assert await store.campaigns.approve(c.id, now, "second", APPROVER)
    else:
        assert await store.campaigns.begin_running(c.id, now)
    return c.id


def clock_of(store: Store) -> FakeClock:
    clock = store.clock
    assert isinstance(clock, FakeClock)
    return clock
