"""Stopping the running system while a provider is dead, faulting or hung.

The whole system runs in this process (`running_system`) on a FakeClock that the stop tests never
move: every retry wait (backoff, Retry-After, a paused lane) sleeps on that clock, so a stop that
returns at all has waited on none of them. After a restart the campaign must end as the crash
test demands: every household sent to, nothing left claimed, duplicates only for sends that were
cut off at the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from broadcast_helpers import H, make_cfg, run_with_clock, seed
from ports import free_port
from reliability_helpers import (
    ServerProcess,
    city,
    claimed_now,
    load,
    read_db,
    seed_city,
    start_campaign,
    write_server_config,
)

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.service import CampaignSpec
from safetynet.clock import FakeClock
from safetynet.config import Config
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import LadderStep
from safetynet.sandbox import Sandbox
from safetynet.store import store_session
from safetynet.system import System, running_system

HOUSEHOLDS = 24
CONCURRENCY = 4
SPEC = CampaignSpec("停止訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です。無事ですか。"},
                    ladder=(LadderStep(0, ("sms",)),))
# Well under the old 30 s cap; a stop that waited on the FakeClock would never return at all.
STOP_BOUND_SECONDS = 10.0


class GatedSandbox(Sandbox):
    """The sandbox, but an SMS request waits at the door until `gate` opens (a provider that hangs).
    A request whose client gave up still goes through when the gate opens: the provider got it.
    `refused` counts the provider's 429 answers as they leave (a test waits on `answer`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = 0
        self.arrival = asyncio.Event()
        self.refused = 0
        self.answer = asyncio.Event()

    def build(self) -> web.Application:
        app = super().build()

        @web.middleware
        async def hold(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.endswith("/Messages.json"):
                await request.post()  # the request arrived whole (read again from the cache below)
                self.arrived += 1
                self.arrival.set()
                await self.gate.wait()
            resp: web.StreamResponse = await handler(request)
            if resp.status == 429:
                self.refused += 1
                self.answer.set()
            return resp

        app.middlewares.append(hold)
        return app

    async def wait_arrived(self, n: int) -> None:
        async with asyncio.timeout(10):
            while self.arrived < n:
                self.arrival.clear()
                await self.arrival.wait()


    async def wait_refused(self, n: int, timeout_seconds: float = 30.0) -> None:
        async with asyncio.timeout(timeout_seconds):
            while self.refused < n:
                self.answer.clear()
                await self.answer.wait()


def config(tmp_path: Path, sms_url: str, concurrency: int = CONCURRENCY) -> Config:
    return make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_API_BASE_URL=sms_url,
                    SAFETYNET_CHANNELS_SMS_CONCURRENCY=str(concurrency))


@contextlib.asynccontextmanager
async def a_sandbox(tmp_path: Path, **faults: Any) -> AsyncIterator[GatedSandbox]:
    async with GatedSandbox(make_cfg(tmp_path), **faults) as sb:
        yield sb


async def start_system(stack: contextlib.AsyncExitStack, cfg: Config, clock: FakeClock, **kw: Any) -> System:
    return await stack.enter_async_context(running_system(cfg, clock, host="127.0.0.1", port=0, triggers=False, **kw))


def dispatcher_of(system: System) -> Dispatcher:
    assert system.dispatcher is not None
    return system.dispatcher


async def until_retry_waits(d: Dispatcher, n: int) -> None:
    """Until `n` workers sit in a retry wait (event-driven: a lane says when a wait starts or ends)."""
    lane = d.lanes["sms"]
    async with asyncio.timeout(10):
        while d.retry_waits < n:
            lane.waits_changed.clear()
            await lane.waits_changed.wait()


async def launch(system: System) -> int:
    await seed(system.store, [H(f"k{i}", "m") for i in range(HOUSEHOLDS)])
    return (await system.campaigns.launch(SPEC)).id


async def outbox(cfg: Config, campaign_id: int) -> Counter[str]:
    async with store_session(cfg, FakeClock()) as store:
        counts = await store.campaigns.delivery_counts(campaign_id)
    return Counter({state: n for (_, _, state), n in counts.items()})


async def restart_and_finish(cfg: Config, clock: FakeClock, sb: Sandbox, campaign_id: int, resent: int = 0) -> None:
    """A new system on the same database sends what is left; the clock moves (retries booked
    ahead, leases of cut-off sends) until the provider has every household's message and the
    `resent` ones again."""
    async with contextlib.AsyncExitStack() as stack:
        await start_system(stack, cfg, clock)
        await run_with_clock(clock, sb.wait_for(HOUSEHOLDS + resent, timeout_seconds=30), step=1.0)
    async with store_session(cfg, FakeClock()) as store:
        assert await store.outbox.claimed_count() == 0
        counts = await store.campaigns.delivery_counts(campaign_id)
        statuses = await store.campaigns.household_statuses(campaign_id)
    sent = sum(n for (_, _, state), n in counts.items() if state == "sent")
    assert sent == HOUSEHOLDS
    assert sorted(statuses.values()) == ["notified"] * HOUSEHOLDS
    assert len({r.address for r in sb.messages("sms")}) == HOUSEHOLDS  # none missed


@pytest.mark.parametrize("fault", ["connection_refused", "retry_after"])
async def test_stop_ends_retry_waits_at_once_and_loses_nothing(tmp_path: Path, fault: str) -> None:
    clock = FakeClock()
    faults = {"fail_429": 1.0, "retry_after": 4.0} if fault == "retry_after" else {}
    # No connection is a failure of the channel: a third in a row makes it failing, and its deliveries
    # then wait in the outbox for a probe instead of in a worker (`RetryPolicy.outage_wait_seconds`).
    # Two workers, each in its backoff, are what a stop must end here.
    n = 2 if fault == "connection_refused" else CONCURRENCY
    async with a_sandbox(tmp_path, **faults) as sb, contextlib.AsyncExitStack() as stack:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
        cfg = config(tmp_path, dead if fault == "connection_refused" else sb.url, n)
        system = await start_system(stack, cfg, clock)
        d = dispatcher_of(system)
        cid = await launch(system)
        # Every worker failed its first attempt and sleeps before the next (backoff or Retry-After);
        # the lane holds the rest of the campaign.
        await until_retry_waits(d, n)
        assert await system.store.outbox.claimed_count() == HOUSEHOLDS

        await asyncio.wait_for(stack.aclose(), STOP_BOUND_SECONDS)

        assert d.retry_waits == 0
        lane = d.lanes["sms"]
        assert lane.interrupted_waits >= n and lane.in_flight == 0
        assert sb.messages() == []
        # Nothing is left claimed: the waiting ones went back with their attempt, the rest as they were.
        assert await outbox(cfg, cid) == Counter({"queued": HOUSEHOLDS})
        assert lane.stats.retried == n
        with contextlib.closing(read_db(cfg.db_path)) as db:  # test inspection, the system has stopped
            attempts = [r[0] for r in db.execute("SELECT attempts FROM deliveries WHERE campaign_id = ?", (cid,))]
        assert sorted(attempts, reverse=True)[:n + 1] == [1] * n + [0]

        sb.faults.update({"fail_429": 0.0})
        await restart_and_finish(config(tmp_path, sb.url), clock, sb, cid)
        assert Counter(r.address for r in sb.messages("sms")).most_common(1)[0][1] == 1  # nothing was in flight


async def test_sends_at_the_provider_get_the_grace_and_are_recorded(tmp_path: Path) -> None:
    clock = FakeClock()
    async with a_sandbox(tmp_path) as sb, contextlib.AsyncExitStack() as stack:
        cfg = config(tmp_path, sb.url)
        sb.gate.clear()
        system = await start_system(stack, cfg, clock)
        d = dispatcher_of(system)
        cid = await launch(system)
        await sb.wait_arrived(CONCURRENCY)

        stopping = asyncio.create_task(stack.aclose())
        # One turn of the loop: the stop has begun (Dispatcher.stop() runs before its first await),
        # nothing more is taken, the four sends are still out.
        await asyncio.sleep(0)
        assert not stopping.done() and d.lanes["sms"].in_flight == CONCURRENCY
        sb.gate.set()  # the provider answers within the grace (the clock never moves)
        await asyncio.wait_for(stopping, STOP_BOUND_SECONDS)

        assert len(sb.messages("sms")) == CONCURRENCY
        assert await outbox(cfg, cid) == Counter({"sent": CONCURRENCY, "queued": HOUSEHOLDS - CONCURRENCY})
        await restart_and_finish(cfg, clock, sb, cid)
        assert len(sb.messages("sms")) == HOUSEHOLDS  # no duplicate: every answer was recorded


async def test_sends_cut_off_after_the_grace_come_back_like_after_a_crash(tmp_path: Path) -> None:
    clock = FakeClock()
    async with a_sandbox(tmp_path) as sb, contextlib.AsyncExitStack() as stack:
        cfg = config(tmp_path, sb.url)
        sb.gate.clear()
        system = await start_system(stack, cfg, clock, stop_grace_seconds=2.0)
        d = dispatcher_of(system)
        cid = await launch(system)
        await sb.wait_arrived(CONCURRENCY)

        await asyncio.wait_for(run_with_clock(clock, stack.aclose()), STOP_BOUND_SECONDS)

        assert d.lanes["sms"].in_flight == 0
        # Their outcome is unknown: they keep their claim until the lease ends, as after kill -9.
        assert await outbox(cfg, cid) == Counter({"claimed": CONCURRENCY, "queued": HOUSEHOLDS - CONCURRENCY})
        sb.gate.set()  # the provider had them after all
        await sb.wait_for(CONCURRENCY)
        await restart_and_finish(cfg, clock, sb, cid, resent=CONCURRENCY)
        dup = sum(n - 1 for n in Counter(r.address for r in sb.messages("sms")).values())
        # Sent again after their lease: the only duplicates, and within the crash test's bound.
        assert dup == CONCURRENCY


@pytest.mark.slow
async def test_sigterm_stops_serve_in_seconds_while_providers_are_dead(tmp_path: Path) -> None:
    """`safetynet serve` (web push in its send-worker process) with SMS refused and every other
    provider answering 429 + Retry-After: SIGTERM ends it with status 0, nothing left claimed."""
    port = free_port()
    async with a_sandbox(tmp_path, fail_429=1.0, retry_after=4.0, callbacks=False) as sb:
        cfg_path, env = write_server_config(tmp_path, sb.url, port,
                                            SAFETYNET_CHANNELS_SMS_API_BASE_URL=f"http://127.0.0.1:{free_port()}")
        cfg = load(cfg_path, env)
        _, token = await seed_city(cfg, city(40), sb, push_every=2)
        async with ServerProcess(cfg_path, env) as server, aiohttp.ClientSession() as http:
            await start_campaign(http, server.url, token, [
                {"after_seconds": 0, "channels": ["webpush"], "fallback": ["sms", "voice"]}])
            await sb.wait_refused(3)  # the lanes are pausing and retrying
            # the server has taken a 429 in: a lane sits in its Retry-After wait (a refusal the sandbox
            # has sent may still be on its way when SIGTERM comes, and then no wait is there to end)
            await server.wait_logged("lane_paused")
            assert claimed_now(cfg.db_path) > 0
            rc = await server.stop(timeout_seconds=STOP_BOUND_SECONDS)
        assert rc == 0
        assert claimed_now(cfg.db_path) == 0  # every claim went back to the outbox
        assert sb.messages() == []
        events = [json.loads(line) for line in server.log if line.startswith("{")]
        attempts = [e for e in events if e.get("event") == "delivery_attempt"]
        assert not [e for e in attempts if e["outcome"] == "error"]  # an exception of ours, not a provider's answer
        assert {e["channel"] for e in attempts if e.get("reason") == "rate_limited"} >= {"webpush"}
        stopped = [e for e in events if e.get("event") == "dispatcher_stopped"]
        assert len(stopped) == 1 and stopped[0]["waits_ended"] > 0 and stopped[0]["cut_off"] == 0
        workers = [e["pid"] for e in events if e.get("event") == "send_worker_started"]
        assert len(workers) == 1 and not any(e.get("event") == "send_worker_killed" for e in events)
        with pytest.raises(ProcessLookupError):  # the send worker ended with the server
            os.kill(workers[0], 0)
        assert server.errors() == [] and server.leaks() == []
