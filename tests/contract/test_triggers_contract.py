"""TriggerRepo: one decision per dedupe key, read back by time, recency and campaign."""

from __future__ import annotations

import dataclasses
import json

from safetynet.domain.triggers import TriggerRecord

from .support import StoreFactory, clock_of


def rec(key: str, decision: str = "propose", campaign_id: int | None = None) -> TriggerRecord:
    return TriggerRecord(source="jma", dedupe_key=key, kind="intensity_flash", event_key=f"real:{key}",
                         event_id=key, serial="1", info_type="発表", status="通常", intensity="5-",
                         decision=decision, reason="震度5弱", campaign_id=campaign_id, origin="feed",
                         detail=json.dumps({"decision": decision}), reported_at=1_700_000_000.0)


async def test_a_decision_is_stored_once_with_its_time(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        assert await store.triggers.record(rec("a", campaign_id=7))
        assert not await store.triggers.record(dataclasses.replace(rec("a"), reason="again"))
        assert await store.triggers.exists("a") and not await store.triggers.exists("b")
        [got] = await store.triggers.for_campaign(7)
        assert got.id > 0 and got.received_at == clock.now()
        assert dataclasses.replace(got, id=0, received_at=0.0) == rec("a", campaign_id=7)


async def test_decisions_are_read_by_time_recency_and_campaign(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        await store.triggers.record(rec("a", "ignore"))
        t1 = clock.now()
        await clock.advance(10)
        await store.triggers.record(rec("b", "start", campaign_id=1))
        await store.triggers.record(rec("c", "update", campaign_id=1))
        await store.triggers.record(rec("d", "ignore"))
        assert [r.dedupe_key for r in await store.triggers.since(t1 + 10)] == ["b", "c", "d"]
        assert [r.dedupe_key for r in await store.triggers.since(t1)] == ["a", "b", "c", "d"]
        assert [r.dedupe_key for r in await store.triggers.recent()] == ["d", "c", "b", "a"]
        assert [r.dedupe_key for r in await store.triggers.recent(limit=2, acted_only=True)] == ["c", "b"]
        assert [r.dedupe_key for r in await store.triggers.for_campaign(1)] == ["b", "c"]
        assert await store.triggers.for_campaign(2) == []
