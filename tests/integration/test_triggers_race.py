"""Two processes on one store decide two reports of one event at the same moment (DESIGN §8): the
second must update the first's campaign (rule 5), never make one of its own. Two `TriggerService`s,
each on its own store connection to one database (SQLite file, or the test's PostgreSQL schema), each
with the real campaign side."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from broadcast_helpers import H, make_cfg, seed
from conftest import DATA

from safetynet.broadcast.service import CampaignService
from safetynet.clock import FakeClock
from safetynet.config import CapConfig, JmaConfig, TriggersConfig
from safetynet.domain.triggers import Decision
from safetynet.store import Store, open_store
from safetynet.triggers.port import CampaignPort, CampaignRequest
from safetynet.triggers.service import (
    DECISION_LEASE,
    DECISION_LEASE_SECONDS,
    TriggerLeaseLost,
    TriggerService,
)

REPO = Path(__file__).resolve().parents[2]
JMA, CAP = DATA / "jma", DATA / "cap"
# 2009-08-11 05:13 JST, the 震源・震度情報 of the 駿河湾 earthquake (its 震度速報 came at 05:09), plus a minute
SURUGA = 1249935180.0 + 60
# 2026-04-01 10:30 JST, the update of the Kanazawa alert (the alert came at 10:00), plus a minute
KANAZAWA = 1775007000.0 + 60


class HeldCampaigns:
    """The first process's campaign side, held where it has decided to make the event's campaign and
    not yet made it: the moment the second process's report lands."""

    def __init__(self, port: CampaignPort) -> None:
        self.port = port
        self.inside = asyncio.Event()
        self.go = asyncio.Event()

    async def create_campaign(self, request: CampaignRequest) -> int:
        self.inside.set()
        await self.go.wait()
        return await self.port.create_campaign(request)

    async def update_campaign(self, campaign_id: int, title: str, messages: Mapping[str, str], reason: str) -> None:
        await self.port.update_campaign(campaign_id, title, messages, reason)

    async def cancel_proposed(self, campaign_id: int, reason: str) -> bool:
        return await self.port.cancel_proposed(campaign_id, reason)

    async def campaign_state(self, campaign_id: int) -> str | None:
        return await self.port.campaign_state(campaign_id)


@asynccontextmanager
async def two_processes(tmp_path: Path, triggers: TriggersConfig, clock: FakeClock) -> AsyncIterator[
        tuple[TriggerService, HeldCampaigns, TriggerService, Store]]:
    cfg = dataclasses.replace(make_cfg(tmp_path), base_dir=str(REPO), triggers=triggers)
    first = await open_store(cfg, clock)
    second: Store | None = None
    try:
        await seed(first, [H("a", "w"), H("b", "t")])
        second = await open_store(cfg, clock)
        held = HeldCampaigns(CampaignService(first, cfg, clock))
        a = TriggerService(first, cfg, held, clock)
        b = TriggerService(second, cfg, CampaignService(second, cfg, clock), clock)
        await a.load()
        await b.load()
        yield a, held, b, second
    finally:
        if second is not None:
            await second.close()
        await first.close()


def refusals(store: Store) -> asyncio.Event:
    """Set once `store` refuses a process the turn to decide (the lease another holds): it waits now."""
    refused = asyncio.Event()
    acquire = store.coordination.acquire_lease

    async def watched(name: str, owner: str, ttl_seconds: float) -> bool:
        got = await acquire(name, owner, ttl_seconds)
        if not got:
            refused.set()
        return got

    store.coordination.acquire_lease = watched  # type: ignore[method-assign]
    return refused


async def at_once(held: HeldCampaigns, first: Awaitable[Decision], second_store: Store,
                  second: Callable[[], Awaitable[Decision]]) -> tuple[Decision, Decision]:
    """`first` held inside its decision while `second` runs on the other process, until `second` is done
    or waits for the first (its store refuses it the turn to decide); then both finish."""
    refused = refusals(second_store)

    async def then_second() -> Decision:
        await held.inside.wait()
        task = asyncio.ensure_future(second())
        waiting = asyncio.ensure_future(refused.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        held.go.set()
        return await task

    return await asyncio.gather(first, then_second())


async def campaigns_of(store: Store) -> list[int]:
    return sorted(c.id for c in await store.campaigns.list_campaigns())


async def test_the_flash_and_the_full_report_of_one_earthquake_at_once_make_one_campaign(tmp_path: Path) -> None:
    """Review: the 震度速報 pushed to one web process and the 震源・震度情報 of the same earthquake pushed to
    another at the same moment: each process found no campaign for the event and each made one."""
    clock = FakeClock(SURUGA)
    triggers = TriggersConfig(jma=JmaConfig(areas=("442",), min_intensity="5-",  # type: ignore[arg-type]
                                            action="propose"))
    async with two_processes(tmp_path, triggers, clock) as (a, held, b, store):
        flash, full = await at_once(held, a.ingest_jma((JMA / "32-35_07_01_100915_VXSE51.xml").read_bytes()), store,
                                    lambda: b.ingest_jma((JMA / "32-35_07_06_100915_VXSE53.xml").read_bytes()))
        assert flash.decision == "propose" and flash.campaign is not None
        assert full.decision in ("update", "ignore") and full.campaign == flash.campaign
        assert await campaigns_of(store) == [flash.campaign]
        assert [(r.decision, r.campaign_id) for r in await store.triggers.since(0)] == [
            ("propose", flash.campaign), (full.decision, flash.campaign)]


async def test_an_alert_and_its_update_at_once_make_one_campaign(tmp_path: Path) -> None:
    """The CAP alert on one process, its update on another at the same moment: the update, not knowing the
    alert, was taken for a new alert and made a second campaign."""
    clock = FakeClock(KANAZAWA)
    triggers = TriggersConfig(cap=CapConfig(codes=("17201",), action="propose"))
    async with two_processes(tmp_path, triggers, clock) as (a, held, b, store):
        alert, update = await at_once(held, a.ingest_cap((CAP / "01-actual-alert.xml").read_bytes()), store,
                                      lambda: b.ingest_cap((CAP / "02-actual-update.xml").read_bytes()))
        assert alert.decision == "propose" and alert.campaign is not None
        assert (update.decision, update.campaign) == ("update", alert.campaign)
        assert await campaigns_of(store) == [alert.campaign]
        c = await store.campaigns.get(alert.campaign)
        assert c is not None and len(c.options["trigger"]["updates"]) == 1


async def test_one_telegram_pushed_to_two_processes_at_once_is_decided_once(tmp_path: Path) -> None:
    """The same telegram from the feed on the leader and pushed to a web process: one decision, one campaign;
    the other is the duplicate."""
    clock = FakeClock(SURUGA)
    triggers = TriggersConfig(jma=JmaConfig(areas=("442",), min_intensity="5-", action="propose"))  # type: ignore[arg-type]
    async with two_processes(tmp_path, triggers, clock) as (a, held, b, store):
        body = (JMA / "32-35_07_01_100915_VXSE51.xml").read_bytes()
        first, again = await at_once(held, a.ingest_jma(body), store, lambda: b.ingest_jma(body))
        assert first.decision == "propose" and await campaigns_of(store) == [first.campaign]
        assert (again.decision, again.reason) == ("ignore", "This telegram was already received and decided: nothing to do.")
        assert len(await store.triggers.since(0)) == 1


async def test_a_process_killed_while_deciding_holds_the_others_back_one_term_only(tmp_path: Path) -> None:
    """A process killed inside a decision never gives its turn back: the next decision waits until the turn
    runs out, then is made."""
    clock = FakeClock(SURUGA)
    triggers = TriggersConfig(jma=JmaConfig(areas=("442",), min_intensity="5-", action="propose"))  # type: ignore[arg-type]
    async with two_processes(tmp_path, triggers, clock) as (_, _held, b, store):
        assert await store.coordination.acquire_lease(DECISION_LEASE, "killed:4242", DECISION_LEASE_SECONDS)
        refused = refusals(store)
        decided = asyncio.ensure_future(b.ingest_jma((JMA / "32-35_07_01_100915_VXSE51.xml").read_bytes()))
        waiting = asyncio.ensure_future(refused.wait())
        await asyncio.wait({decided, waiting}, return_when=asyncio.FIRST_COMPLETED)
        assert waiting.done() and not decided.done()
        await clock.advance(DECISION_LEASE_SECONDS)
        d = await decided
        assert d.decision == "propose" and await campaigns_of(store) == [d.campaign]
        assert await store.coordination.lease_holder(DECISION_LEASE) is None  # given back after the decision


async def test_a_decision_whose_turn_ran_out_is_not_stored_and_is_made_again(tmp_path: Path) -> None:
    """The day's reread: a decision outlasting its turn (its renewals refused: a slow store) only logged it,
    and stored a decision another process may have made meanwhile from another memory. Now it is not
    stored; made again, it finds the campaign the first try made (by its key) and stores one decision."""
    clock = FakeClock(SURUGA)
    triggers = TriggersConfig(jma=JmaConfig(areas=("442",), min_intensity="5-", action="propose"))  # type: ignore[arg-type]
    async with two_processes(tmp_path, triggers, clock) as (a, held, _b, store):
        acquire = a.store.coordination.acquire_lease
        renewals = 0

        async def slow_store(name: str, owner: str, ttl_seconds: float) -> bool:
            nonlocal renewals
            if held.inside.is_set() and not held.go.is_set():
                renewals += 1
                return False  # the renewal does not go through
            return await acquire(name, owner, ttl_seconds)

        a.store.coordination.acquire_lease = slow_store  # type: ignore[method-assign]
        body = (JMA / "32-35_07_01_100915_VXSE51.xml").read_bytes()
        first = asyncio.ensure_future(a.ingest_jma(body))
        await held.inside.wait()
        await clock.advance(DECISION_LEASE_SECONDS / 3)  # the renewal's turn: refused
        assert renewals == 1
        held.go.set()
        with pytest.raises(TriggerLeaseLost):
            await first
        assert await store.triggers.since(0) == []
        again = await a.ingest_jma(body)
        assert again.decision == "propose" and await campaigns_of(store) == [again.campaign]
        assert [r.decision for r in await store.triggers.since(0)] == ["propose"]
