"""`system._start_senders`: every sender at once, a failure raised as itself, only the started ones kept."""

from __future__ import annotations

import asyncio

import pytest

from safetynet.channels.base import OutboundMessage, SendResult
from safetynet.config import ConfigError
from safetynet.system import _start_senders


class Starter:
    """A sender that only starts: after `gate` opens, or raising `error`."""

    def __init__(self, name: str, gate: asyncio.Event | None = None, error: Exception | None = None) -> None:
        self.name = name
        self.gate = gate
        self.error = error
        self.began = asyncio.Event()

    async def start(self) -> None:
        self.began.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error

    async def send(self, msg: OutboundMessage) -> SendResult:
        raise NotImplementedError

    async def close(self) -> None:
        pass


async def test_senders_start_side_by_side() -> None:
    gate = asyncio.Event()
    slow, quick = Starter("slow", gate), Starter("quick")
    started: list[object] = []
    run = asyncio.ensure_future(_start_senders([slow, quick], started))
    await quick.began.wait()
    await slow.began.wait()  # both began before the slow one is done
    assert started == [quick]
    gate.set()
    await run
    assert started == [quick, slow]


async def test_a_failure_is_raised_as_itself_and_stops_the_others_still_starting() -> None:
    never = Starter("never", asyncio.Event())
    fine = Starter("fine")
    broken = Starter("broken", error=ConfigError("line: no access token"))
    started: list[object] = []
    with pytest.raises(ConfigError, match="no access token"):
        await _start_senders([never, fine, broken], started)
    assert started == [fine]  # what the caller closes; the one still starting was cancelled
