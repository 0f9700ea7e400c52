"""IterationBatch: the reads of one moment in one query, and fewer, larger queries under load."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

from safetynet.store.sqlite.batching import IterationBatch


async def test_lookups_arriving_while_fetches_run_wait_for_one_next_fetch() -> None:
    fetched: list[list[int]] = []
    gates: list[asyncio.Event] = []
    second_started = asyncio.Event()

    async def fetch(keys: Sequence[int]) -> dict[int, int]:
        fetched.append(list(keys))
        gate = asyncio.Event()
        gates.append(gate)
        if len(gates) == 2:
            second_started.set()
        await gate.wait()
        return {k: k * 10 for k in keys if k != 99}

    batch: IterationBatch[int, int] = IterationBatch(fetch, missing=-1, in_flight=1)
    first = [asyncio.ensure_future(batch.get(k)) for k in (1, 2)]
    await asyncio.sleep(0)  # one loop iteration: the first fetch starts with what it has
    later = []
    for k in (3, 4, 99):  # three more iterations while it runs
        later.append(asyncio.ensure_future(batch.get(k)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert fetched == [[1, 2]]  # nothing more until the fetch in flight is back
    gates[0].set()
    assert await asyncio.gather(*first) == [10, 20]
    await second_started.wait()
    assert fetched == [[1, 2], [3, 4, 99]]  # what gathered meanwhile, in one fetch
    gates[1].set()
    assert await asyncio.gather(*later) == [30, 40, -1]
    assert (batch.batches, batch.lookups) == (2, 5)


async def test_an_idle_batch_fetches_at_once() -> None:
    async def fetch(keys: Sequence[str]) -> dict[str, str]:
        return {k: k.upper() for k in keys}

    batch: IterationBatch[str, str] = IterationBatch(fetch, missing="")
    assert await batch.get("a") == "A"
    assert await asyncio.gather(batch.get("b"), batch.get("c")) == ["B", "C"]
    assert batch.batches == 2


async def test_a_failed_fetch_fails_its_callers_and_leaves_nothing_unretrieved() -> None:
    class Down(Exception):
        pass

    async def fetch(keys: Sequence[int]) -> dict[int, int]:
        raise Down("the store is down")

    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        batch: IterationBatch[int, int] = IterationBatch(fetch, missing=-1)
        results = await asyncio.gather(batch.get(1), batch.get(2), return_exceptions=True)
        assert [type(r) for r in results] == [Down, Down]
        await asyncio.sleep(0)  # the fetch task's done callback
        gc.collect()  # asyncio reports an unretrieved task exception when the task is collected
        assert unhandled == []
    finally:
        loop.set_exception_handler(None)


async def test_a_cancelled_fetch_cancels_its_callers() -> None:
    started = asyncio.Event()

    async def fetch(keys: Sequence[int]) -> dict[int, int]:
        started.set()
        await asyncio.Event().wait()
        return {}

    batch: IterationBatch[int, int] = IterationBatch(fetch, missing=-1)
    caller = asyncio.ensure_future(batch.get(1))
    await started.wait()
    [task] = batch._tasks
    task.cancel()
    assert [type(r) for r in await asyncio.gather(caller, return_exceptions=True)] == [asyncio.CancelledError]
