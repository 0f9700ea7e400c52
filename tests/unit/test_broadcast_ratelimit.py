"""Lane pacing on a controlled clock: the token bucket and the lane-wide pause."""

from __future__ import annotations

import asyncio

from safetynet.broadcast.ratelimit import LaneGate
from safetynet.clock import FakeClock


async def _times(gate: LaneGate, clock: FakeClock, n: int, step: float, steps: int) -> list[float]:
    got: list[float] = []

    async def one() -> None:
        await gate.acquire()
        got.append(clock.monotonic())

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0)  # every sender reserves its slot before time moves
    for _ in range(steps):
        await clock.advance(step)
    await asyncio.gather(*tasks)
    return got


async def test_token_bucket_spaces_sends_evenly() -> None:
    clock = FakeClock()
    gate = LaneGate(10.0, clock)
    start = clock.monotonic()
    got = await _times(gate, clock, 30, 0.05, 80)
    rel = sorted(round(t - start, 3) for t in got)
    assert rel == [round(i * 0.1, 3) for i in range(30)]


async def test_unlimited_lane_never_waits() -> None:
    clock = FakeClock()
    gate = LaneGate(0, clock)
    for _ in range(1000):
        assert await gate.acquire()
    assert gate.capacity(1.0) == float("inf")


async def test_a_lagging_loop_does_not_burst_to_catch_up() -> None:
    clock = FakeClock()
    gate = LaneGate(5.0, clock)
    assert await gate.acquire()
    await clock.advance(10.0)  # nobody sent for 10 s
    start = clock.monotonic()
    got = await _times(gate, clock, 3, 0.1, 10)
    assert sorted(round(t - start, 2) for t in got) == [0.0, 0.2, 0.4]


async def test_pause_stops_the_whole_lane_then_it_resumes_paced() -> None:
    clock = FakeClock()
    gate = LaneGate(10.0, clock)
    gate.pause(3.0)
    start = clock.monotonic()
    got = await _times(gate, clock, 5, 0.05, 100)
    rel = sorted(round(t - start, 2) for t in got)
    assert rel == [3.0, 3.1, 3.2, 3.3, 3.4]
    assert gate.pauses == 1


async def test_pause_while_waiting_voids_the_reserved_slot() -> None:
    clock = FakeClock()
    gate = LaneGate(1.0, clock)
    assert await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await clock.advance(0.5)
    gate.pause(5.0)
    await clock.advance(1.0)
    assert not waiter.done()
    await clock.advance(4.0)
    await clock.advance(0.01)
    assert waiter.done()


async def test_a_long_pause_hands_work_back_instead_of_holding_it() -> None:
    clock = FakeClock()
    gate = LaneGate(0, clock)
    gate.pause(60.0)
    assert await gate.acquire(max_wait=5.0) is False
    assert 59.0 < gate.paused_for <= 60.0


async def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    gate = LaneGate(0, clock)
    gate.pause(10.0)
    gate.pause(2.0)
    assert gate.paused_for == 10.0


async def test_a_short_lag_is_caught_up_within_the_burst_but_a_new_lane_starts_paced() -> None:
    clock = FakeClock()
    gate = LaneGate(10.0, clock, burst=3.0)
    start = clock.monotonic()
    got = await _times(gate, clock, 4, 0.05, 20)
    assert sorted(round(t - start, 2) for t in got) == [0.0, 0.1, 0.2, 0.3]  # no opening burst
    await clock.advance(1.0)  # the loop lagged a second: at most two slots come back at once
    start = clock.monotonic()
    got = await _times(gate, clock, 4, 0.05, 20)
    assert sorted(round(t - start, 2) for t in got) == [0.0, 0.0, 0.0, 0.1]
