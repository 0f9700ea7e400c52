"""The send worker's pipe: lines of one loop step leave in one write, and a gone peer loses nothing else."""

from __future__ import annotations

import asyncio

from safetynet.broadcast.sendworker import LineBatch


async def test_lines_of_one_loop_step_leave_in_one_write() -> None:
    writes: list[bytes] = []
    batch = LineBatch(writes.append)
    batch.write(b"a\n")
    batch.write(b"b\n")
    assert writes == []
    await asyncio.sleep(0)  # the loop's next step: the flush it scheduled
    assert writes == [b"a\nb\n"]


async def test_a_flush_after_the_peer_closed_the_pipe_drops_the_lines_and_raises_nothing() -> None:
    errors: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))

    def closed_transport_write(data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <WriteUnixTransport closed=True>")

    batch = LineBatch(closed_transport_write, lambda: True)
    batch.write(b"answer\n")
    await asyncio.sleep(0)
    broken = LineBatch(lambda data: (_ for _ in ()).throw(BrokenPipeError()))
    broken.write(b"answer\n")
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert errors == []
