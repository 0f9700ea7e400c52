"""Pacing per key (email: per recipient domain) on a controlled clock: the gate alone, then a lane
sending through the real email sender to the sandbox's SMTP server."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from channel_helpers import outbound, running_sandbox, sender_of, started

from safetynet.broadcast.lanes import Lane
from safetynet.broadcast.ratelimit import KeyedGate, LaneGate
from safetynet.broadcast.retry import RetryPolicy
from safetynet.channels import registry
from safetynet.channels.base import OutboundMessage
from safetynet.clock import FakeClock
from safetynet.domain.campaigns import ClaimedDelivery, OutcomeKind


async def test_each_listed_key_is_paced_on_its_own_and_others_pass() -> None:
    clock = FakeClock()
    gate = KeyedGate({"docomo.ne.jp": 5.0, "ezweb.ne.jp": 2.0}, clock)
    start = clock.monotonic()
    waits = [gate.reserve("docomo.ne.jp") for _ in range(4)]
    assert [round(w or 0.0, 6) for w in waits] == [0.0, 0.2, 0.4, 0.6]
    assert gate.reserve("ezweb.ne.jp") == 0.0 and gate.reserve("ezweb.ne.jp") == 0.5
    assert all(gate.reserve("gmail.com") == 0.0 for _ in range(100))  # not listed: never paced
    assert clock.monotonic() == start


async def test_a_slot_too_far_away_is_not_reserved() -> None:
    clock = FakeClock()
    gate = KeyedGate({"docomo.ne.jp": 1.0}, clock)
    assert [gate.reserve("docomo.ne.jp", max_wait=2.5) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert gate.reserve("docomo.ne.jp", max_wait=2.5) is None and gate.deferred == 1
    assert gate.free_in("docomo.ne.jp") == 3.0
    await clock.advance(1.0)
    assert gate.reserve("docomo.ne.jp", max_wait=2.5) == 2.0  # the refused one reserved nothing


async def test_acquire_sleeps_on_the_clock_for_its_slot() -> None:
    clock = FakeClock()
    gate = KeyedGate({"k": 10.0}, clock)
    start = clock.monotonic()
    got: list[float] = []

    async def one() -> None:
        await gate.acquire("k")
        got.append(round(clock.monotonic() - start, 3))

    tasks = [asyncio.create_task(one()) for _ in range(5)]
    await asyncio.sleep(0)
    for _ in range(10):
        await clock.advance(0.05)
    await asyncio.gather(*tasks)
    assert sorted(got) == [0.0, 0.1, 0.2, 0.3, 0.4]


def _claimed(i: int, address: str) -> ClaimedDelivery:
    return ClaimedDelivery(i, 7, i, 0, "email", i, 0, address, "ja")


def _msg(i: int, address: str) -> OutboundMessage:
    return dataclasses.replace(outbound("email", address, delivery_id=i), title="安否確認")


async def test_a_lane_paces_a_carrier_domain_while_other_domains_go_at_the_lane_rate(tmp_path: Path) -> None:
    env = {"SAFETYNET_CHANNELS_EMAIL_DOMAIN_PER_SECOND": "docomo.ne.jp=2"}
    async with running_sandbox(tmp_path, env=env) as (sb, cfg):
        conf = cfg.channels.get("email")
        clock = FakeClock()
        pacing = registry.pacing("email", conf)
        assert pacing is not None and pacing.per_second == {"docomo.ne.jp": 2.0}
        async with started(sender_of(cfg, "email")) as sender:
            lane = Lane("email", sender, LaneGate(0.0, clock), 8, RetryPolicy(max_inline_seconds=1.0), clock, 64,
                        pacing=pacing)
            addrs = [f"u{i}@docomo.ne.jp" for i in range(4)] + [f"v{i}@gmail.com" for i in range(4)]
            tasks = [asyncio.create_task(lane.deliver(_claimed(i, a), _msg(i, a))) for i, a in enumerate(addrs)]
            # time stands still: the other domain and the first docomo mail go at once
            await sb.wait_for(lambda recs: len([r for r in recs if r.kind == "message"]) >= 5)
            got = {r.address for r in sb.messages("email")}
            assert {a for a in addrs if "gmail" in a} <= got and "u0@docomo.ne.jp" in got
            assert len([a for a in got if "docomo" in a]) == 1
            await clock.advance(0.5)  # the second docomo slot
            await sb.wait_for(6)
            # the 4th docomo mail's slot (1.5 s) is beyond the 1 s a worker may wait: handed back
            await clock.advance(0.5)
            await sb.wait_for(7)
            results = await asyncio.gather(*tasks)
        kinds = [r.kind for r in results]
        assert kinds.count(OutcomeKind.SENT) == 7
        back = [r for r in results if r.kind == OutcomeKind.RETRY]
        assert len(back) == 1 and back[0].error == "paced" and back[0].attempts == ()
        assert back[0].next_attempt_at is not None and back[0].next_attempt_at > clock.now()
