"""Whether anything is being sent: lane health (pure), and the dispatcher's heartbeat and channel
health in the store, with the real SMS client against nothing listening and against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from channel_helpers import SECRET_KEY, outbound, running_sandbox, sender_of, started, write_config
from pg_helpers import store_env
from ports import free_port
from roster_helpers import household

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.health import (
    ALIVE_SECONDS,
    FAILING,
    FAILING_STALE_SECONDS,
    IDLE,
    OK,
    DispatchStatus,
    LaneHealth,
    dispatch_status,
    read_status,
)
from safetynet.broadcast.lanes import Lane
from safetynet.broadcast.ratelimit import LaneGate
from safetynet.broadcast.retry import RetryPolicy
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.channels.base import OutboundMessage
from safetynet.clock import FakeClock
from safetynet.config import Config, load_config
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import ChannelHealth, ClaimedDelivery, DispatcherBeat, OutcomeKind
from safetynet.runtime import first_of
from safetynet.sandbox import Sandbox
from safetynet.store import Store, open_store
from safetynet.store.ports import DispatchHealthRepo
from safetynet.system import build_senders

SPEC = CampaignSpec("地震訓練", CampaignKind.DRILL, ("city",), {"ja": "地震の訓練です。無事ですか。"})


def test_a_channel_fails_after_failures_in_a_row_that_are_not_the_recipients() -> None:
    woken: list[str] = []
    h = LaneHealth(100.0, lambda: woken.append(h.state))
    assert (h.state, h.since) == (IDLE, 100.0)
    h.failed(110.0, "network", "Cannot connect to host 127.0.0.1:8090")
    h.failed(111.0, "network")
    assert h.state == IDLE and woken == []  # two blips are not an outage
    h.failed(112.0, "timeout", "no answer")
    assert (h.state, h.since, h.reason, h.detail, h.streak) == (FAILING, 110.0, "timeout", "no answer", 3)
    assert woken == [FAILING]  # the heartbeat is told at once
    before = h.changes
    h.failed(113.0, "server_error", "503")
    assert (h.state, h.since, h.reason, h.streak) == (FAILING, 110.0, "server_error", 4)
    assert h.changes == before + 1 and woken == [FAILING]  # written with the next beat, no wake-up
    h.failed(114.0, "invalid_number")  # the provider answered about one recipient: the channel works
    assert (h.state, h.since, h.streak) == (OK, 114.0, 0) and woken == [FAILING, OK]
    h.sent(115.0)
    assert (h.state, h.since) == (OK, 114.0) and woken == [FAILING, OK]
    row = h.row("d-1", "sms", 116.0)
    assert (row.state, row.since, row.failures, row.updated_at) == (OK, 114.0, 0, 116.0)


def test_a_failing_channel_not_tried_for_a_minute_goes_back_to_idle_with_its_last_failure() -> None:
    h = LaneHealth(100.0)
    for at in (110.0, 111.0, 112.0, 130.0):
        h.failed(at, "network", "refused")
    assert h.state == FAILING and not h.age_out(130.0 + FAILING_STALE_SECONDS - 1)
    assert h.age_out(130.0 + FAILING_STALE_SECONDS)
    assert (h.state, h.since, h.reason, h.detail, h.streak) == (IDLE, 130.0, "network", "refused", 0)
    assert not h.age_out(1000.0)  # once
    h.failed(1001.0, "network")
    assert h.state == IDLE  # failing again only after failures in a row, as at first


def beat(owner: str, seen: float, stopped: float | None = None) -> DispatcherBeat:
    return DispatcherBeat(owner, "host", 1, ("sms", "voice"), 0.0, seen, stopped)


def test_the_status_counts_live_dispatchers_only_and_the_worst_channel_among_them() -> None:
    now = 1000.0
    beats = [beat("live", now - 1), beat("other", now - 2), beat("stale", now - ALIVE_SECONDS - 1),
             beat("stopped", now - 1, stopped=now - 1)]
    rows = [ChannelHealth("live", "sms", OK, 900.0), ChannelHealth("other", "sms", FAILING, 950.0, "network"),
            ChannelHealth("live", "voice", IDLE, 0.0), ChannelHealth("stale", "voice", FAILING, 1.0, "network"),
            ChannelHealth("stopped", "telegram", OK, 1.0)]
    st = dispatch_status(beats, rows, now, ["sms", "voice", "telegram"])
    assert st.sending and [b.owner for b in st.alive] == ["live", "other"] and st.last_seen == now - 1
    sms, voice, tg = st.channels["sms"], st.channels["voice"], st.channels["telegram"]
    assert sms is not None and (sms.owner, sms.state, sms.reason) == ("other", FAILING, "network")
    assert voice is not None and voice.state == IDLE  # the stale dispatcher's failure is not current
    assert tg is None  # no live dispatcher has a Telegram lane
    assert [h.channel for h in st.failing] == ["sms"]
    gone = dispatch_status(beats[2:], rows, now, ["sms"])
    assert not gone.sending and gone.last_seen == now - 1 and gone.channels == {"sms": None}
    assert dispatch_status([], [], now, ["sms"]) == DispatchStatus((), None, {"sms": None})



async def one_mobile_household(store: Store) -> None:
    await store.roster.import_households([household("北地区", "桜町町会", "1班", "k1", "世帯1",
                                                          phone="+819000000001")])


class BeatWatch:
    """The dispatcher's health port, telling the test when a heartbeat being written has landed:
    the fake clock must not run ahead of it, or a slow store makes a live dispatcher look gone."""

    def __init__(self, inner: DispatchHealthRepo) -> None:
        self.inner = inner
        self.writing = 0
        self.landed = asyncio.Condition()

    async def beat(self, beat: DispatcherBeat, channels: Sequence[ChannelHealth] = (), *,
                   forget: bool = False) -> None:
        self.writing += 1
        try:
            await self.inner.beat(beat, channels, forget=forget)
        finally:
            async with self.landed:
                self.writing -= 1
                self.landed.notify_all()

    async def caught_up(self) -> None:
        """Returns once no heartbeat is being written (10 s of real time at most)."""
        async with self.landed:
            await asyncio.wait_for(self.landed.wait_for(lambda: self.writing == 0), 10.0)


@contextlib.asynccontextmanager
async def dispatching(store: Store, cfg: Config, clock: FakeClock) -> AsyncIterator[tuple[Dispatcher, BeatWatch]]:
    """The dispatcher with the real channel senders, running until the block ends."""
    senders = build_senders(cfg)
    for s in senders.values():
        await s.start()
    d = Dispatcher(store, senders, cfg, clock, contacts=store.roster, channels=["sms"])
    watch = BeatWatch(store.health)
    d.health = watch  # type: ignore[assignment]
    task = asyncio.create_task(d.run())
    try:
        yield d, watch
    finally:
        d.stop()
        await task
        for s in senders.values():
            await s.close()


async def until(clock: FakeClock, store: Store, d: Dispatcher, watch: BeatWatch,
                test: Callable[[DispatchStatus], bool], steps: int = 120) -> DispatchStatus:
    """Moves the clock a second at a time, never ahead of the heartbeat nor of the dispatcher `d`,
    until the stored status passes `test`."""
    for _ in range(steps):
        await watch.caught_up()
        st = await read_status(store.health, clock.now(), ["sms"])
        if test(st):
            return st
        rests = d.rests
        await clock.advance(1.0)
        await done_what_is_due(d, rests)
    raise AssertionError(f"status never came: {st}")


async def done_what_is_due(d: Dispatcher, rests: int) -> None:
    """Until `d` has gone to sleep again with every delivery due by now sent and stored, or holds only
    deliveries that wait on the controlled clock itself (an inline backoff). QA of the suite: on a loaded
    machine the clock ran 60 s past the last failed probe before the next one was claimed, and the
    channel aged out of failing while its household still waited for it. After 2 s of real time the
    clock moves on all the same, as it did before (a full run once saw no rest for 10 s while a provider
    answered 5xx: a wait this does not know of, not found yet)."""
    lanes = list(d.lanes.values())

    def done() -> bool:
        waiting = sum(lane.waiting for lane in lanes)
        return d.rests > rests or (waiting > 0 and waiting == sum(lane.held for lane in lanes))

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2.0):
            while not done():
                d.rested.clear()
                for lane in lanes:
                    lane.waits_changed.clear()
                await first_of(d.rested.wait(), *(lane.waits_changed.wait() for lane in lanes))


async def test_with_no_provider_listening_the_stored_health_says_sms_is_failing_since_when_and_why(
        tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # `safetynet sandbox` was never started
    cfg = load_config(write_config(tmp_path), env={"SAFETYNET_SECRET_KEY": SECRET_KEY,
                                                   "SAFETYNET_CHANNELS_SMS_API_BASE_URL": dead,
                                                   "SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": "0", **store_env()})
    clock = FakeClock()
    store = await open_store(cfg, clock)
    try:
        await one_mobile_household(store)
        assert not (await read_status(store.health, clock.now(), ["sms"])).sending
        await CampaignService(store, cfg, clock).launch(SPEC)
        started = clock.now()
        async with dispatching(store, cfg, clock) as (d, watch):
            st = await until(clock, store, d, watch, lambda s: s.sending and s.channels["sms"] is not None)
            assert [b.owner for b in st.alive] == [d.owner]
            st = await until(clock, store, d, watch, lambda s: bool(s.failing))
            sms = st.channels["sms"]
            assert sms is not None and sms.state == FAILING and sms.reason == "network"
            assert started <= sms.since < clock.now() and sms.failures >= 3
            assert "Cannot connect" in sms.detail or "refused" in sms.detail.lower()
        st = await read_status(store.health, clock.now(), ["sms"])
        assert not st.sending and st.last_seen == clock.now()  # a clean stop says so at once
        counts = await store.campaigns.delivery_counts((await store.campaigns.running())[0].id)
        assert not any(state == "sent" for (_, _, state) in counts)  # and indeed nothing went out
    finally:
        await store.close()


async def test_a_failing_channel_with_nothing_left_to_send_does_not_stay_failing(tmp_path: Path) -> None:
    """QA: five minutes after the providers came back /readyz, /city and campaign status still said
    failing: every household had fallen back, the channel was never tried again, and nothing cleared it."""
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = load_config(write_config(tmp_path), env={"SAFETYNET_SECRET_KEY": SECRET_KEY,
                                                   "SAFETYNET_CHANNELS_SMS_API_BASE_URL": dead,
                                                   "SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": "0", **store_env()})
    clock = FakeClock()
    store = await open_store(cfg, clock)
    try:
        await one_mobile_household(store)
        c = await CampaignService(store, cfg, clock).launch(SPEC)
        async with dispatching(store, cfg, clock) as (d, watch):
            st = await until(clock, store, d, watch, lambda s: bool(s.failing))
            # the household is given up on this channel after the outage wait; then nothing is sent
            st = await until(clock, store, d, watch, lambda s: not s.failing, steps=400)
            sms = st.channels["sms"]
            assert sms is not None and sms.state == IDLE and sms.reason == "network"
            counts = await store.campaigns.delivery_counts(c.id)
            assert counts[(0, "sms", "failed")] == 1 and (0, "sms", "queued") not in counts  # fell back (to a call)
            assert clock.now() - sms.since >= FAILING_STALE_SECONDS  # since: its last failure
    finally:
        await store.close()


async def test_a_provider_that_comes_back_turns_the_channel_ok(tmp_path: Path) -> None:
    env = {"SAFETYNET_CHANNELS_SMS_MAX_PER_SECOND": "0"}
    async with running_sandbox(tmp_path, env=env, callbacks=False, fail_5xx=1.0) as (sb, cfg):
        clock = FakeClock()
        store = await open_store(cfg, clock)
        try:
            await one_mobile_household(store)
            await CampaignService(store, cfg, clock).launch(SPEC)
            async with dispatching(store, cfg, clock) as (d, watch):
                st = await until(clock, store, d, watch, lambda s: bool(s.failing))
                sms = st.channels["sms"]
                assert sms is not None and sms.reason == "server_error"
                sb.faults.update({"fail_5xx": 0.0})
                st = await until(clock, store, d, watch, lambda s: s.channels["sms"] is not None
                                 and s.channels["sms"].state == OK, steps=600)
                assert st.failing == [] and len(_messages(sb)) == 1
        finally:
            await store.close()


def _messages(sb: Sandbox) -> list[object]:
    return [r for r in sb.records if r.kind == "message"]


@contextlib.asynccontextmanager
async def failed_for_the_outage_wait(tmp_path: Path, rate: float) -> AsyncIterator[tuple[Lane, FakeClock]]:
    """A lane of the real SMS client against a port nobody listens on, paced at `rate` a second on a
    controlled clock, failing for the policy's whole outage wait (its households now fall back)."""
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = load_config(write_config(tmp_path), env={"SAFETYNET_SECRET_KEY": SECRET_KEY,
                                                   "SAFETYNET_CHANNELS_SMS_API_BASE_URL": dead})
    clock = FakeClock()
    async with started(sender_of(cfg, "sms")) as sender:
        # no inline retry: each failure is one attempt, and nothing sleeps but the wait for a slot
        lane = Lane("sms", sender, LaneGate(rate, clock), 8, RetryPolicy(max_inline_seconds=0.0), clock, 64,
                    LaneHealth(clock.now()))
        for i in (1, 2, 3):
            first = await lane.deliver(_claimed(i), _sms(i))
            assert (first.kind, first.error) == (OutcomeKind.RETRY, "network")
            await clock.advance(1.0)
        assert lane.health.state == FAILING
        await clock.advance(lane.policy.outage_wait_seconds)
        yield lane, clock


def _claimed(i: int) -> ClaimedDelivery:
    return ClaimedDelivery(i, 7, i, 0, "sms", i, 0, f"+8190{i:08d}", "ja")


def _sms(i: int) -> OutboundMessage:
    return outbound("sms", f"+8190{i:08d}", delivery_id=i)


async def test_after_the_outage_wait_households_fall_back_without_waiting_for_the_dead_channels_rate(
        tmp_path: Path) -> None:
    """Review: a delivery first waited for a send slot of the dead channel and only then learnt it was
    to fall back, so 5,000 SMS-first households reached their next channel ~8 minutes late (SMS: 10 a
    second; a call: 1). Now only the probe waits for a slot; the others fall back at once."""
    n, rate = 50, 10.0
    async with failed_for_the_outage_wait(tmp_path, rate) as (lane, clock):
        start = clock.monotonic()
        tasks = [asyncio.create_task(lane.deliver(_claimed(i), _sms(i))) for i in range(10, 10 + n)]
        try:
            for _ in range(int(2 * n / rate / 0.1)):  # at most twice n / rate
                if sum(t.done() for t in tasks) >= n - 1:  # all but the probe, which awaits its provider
                    break
                await clock.advance(0.1)
            waited = clock.monotonic() - start
            assert waited < 1.0, f"{n} households fell back after {waited:.1f} s of the dead channel's slots"
            outcomes = await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        assert all(o.kind == OutcomeKind.FAILED for o in outcomes)
        assert sorted(len(o.attempts) for o in outcomes) == [0] * (n - 1) + [1]  # one probe, one send
        assert sorted(o.error or "" for o in outcomes) == ["channel_down"] * (n - 1) + ["network"]


async def test_a_probe_that_could_not_take_its_slot_leaves_the_next_delivery_to_probe(tmp_path: Path) -> None:
    async with failed_for_the_outage_wait(tmp_path, 10.0) as (lane, clock):
        lane.gate.pause(30.0)  # longer than a worker waits for its slot
        paused = await lane.deliver(_claimed(10), _sms(10))
        assert (paused.kind, paused.error, paused.attempts) == (OutcomeKind.RETRY, "lane_paused", ())
        await clock.advance(30.0)
        probe = await lane.deliver(_claimed(10), _sms(10))  # not "channel_down" for want of a probe
        assert (probe.kind, probe.error, len(probe.attempts)) == (OutcomeKind.FAILED, "network", 1)


async def test_a_probe_hung_for_its_whole_deadline_does_not_age_the_channel_out_before_the_next(
        tmp_path: Path) -> None:
    """Review: a failure counted from its attempt's start, and a hung send fails only at its deadline
    (3 x timeout_seconds + 5 s: 65 s for 20 s, past the 60 s after which a channel not tried ages out).
    So each hung probe aged the channel back to idle in the 5 s before the next: a full-rate blast of
    hung sends, and the 2-minute outage wait began again. The provider here accepts the connection
    and answers nothing until the clock has moved by the deadline."""
    accepted: asyncio.Queue[None] = asyncio.Queue()
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(None)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = load_config(write_config(tmp_path), env={"SAFETYNET_SECRET_KEY": SECRET_KEY,
                                                   "SAFETYNET_CHANNELS_SMS_API_BASE_URL": f"http://127.0.0.1:{port}",
                                                   "SAFETYNET_CHANNELS_SMS_TIMEOUT_SECONDS": "20"})
    policy = RetryPolicy(max_inline_seconds=0.0)
    deadline = policy.send_deadline(cfg.channels.get("sms").timeout_seconds)
    assert deadline > FAILING_STALE_SECONDS
    clock = FakeClock()
    async with server, started(sender_of(cfg, "sms")) as sender:
        lane = Lane("sms", sender, LaneGate(0.0, clock), 8, policy, clock, 64, LaneHealth(clock.now()))

        async def hung(*ids: int) -> None:
            """Sends that get no answer for the whole deadline, then fail."""
            release.clear()
            tasks = [asyncio.create_task(lane.deliver(_claimed(i), _sms(i))) for i in ids]
            for _ in ids:
                await accepted.get()
            await clock.advance(deadline)
            release.set()
            assert all(len(o.attempts) == 1 for o in await asyncio.gather(*tasks))

        await hung(1, 2, 3)
        assert lane.health.state == FAILING and lane.idle
        since = lane.health.since
        await clock.advance(policy.probe_seconds)  # the gap before the next probe, the lane holding nothing
        assert not lane.health.age_out(clock.now())
        await hung(4)  # the probe
        await clock.advance(policy.probe_seconds)
        assert not lane.health.age_out(clock.now())
        assert (lane.health.state, lane.health.since) == (FAILING, since)  # the outage wait runs on
        # once nothing is tried for the stale time, it ages out from the last failure's end
        await clock.advance(FAILING_STALE_SECONDS - policy.probe_seconds)
        assert lane.health.age_out(clock.now()) and lane.health.state == IDLE
