"""`runtime.run` leaves the SIGINT handler as it found it (uvloop's closed loop left its own: a later
command in the same process then took Ctrl-C as a call into a closed loop, not a KeyboardInterrupt)."""

from __future__ import annotations

import asyncio
import signal

from safetynet.runtime import run


def test_a_run_that_handled_signals_leaves_sigint_as_it_was() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    async def serve_briefly() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGINT, stop.set)  # as `serve` and the sandbox do
        loop.call_soon(stop.set)
        await stop.wait()
        return 7

    assert run(serve_briefly()) == 7
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
