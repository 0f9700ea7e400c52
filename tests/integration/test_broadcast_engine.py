"""The broadcast as a server runs it: web push sent from a child process, everything else here."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from channel_helpers import outbound, running_sandbox, started
from roster_helpers import household

from safetynet.broadcast.sendworker import ProcessSender
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.channels.base import PermanentSendError, RetryableSendError
from safetynet.channels.webpush.vapid import load_or_create_vapid
from safetynet.clock import SystemClock
from safetynet.domain import CampaignKind
from safetynet.store import open_store
from safetynet.system import running_system

UNLIMITED = {f"SAFETYNET_CHANNELS_{c}_MAX_PER_SECOND": "0" for c in ("SMS", "VOICE", "TELEGRAM", "WEBPUSH")}


async def test_the_send_worker_returns_results_and_classified_errors(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, env=UNLIMITED, callbacks=False) as (sb, cfg):
        key = load_or_create_vapid(cfg.data_dir).application_server_key
        live, gone, blip = sb.fake("webpush").subscribe(key), sb.fake("webpush").subscribe(key), sb.fake("webpush").subscribe(key)
        sb.faults.update({"dead": [gone["endpoint"].rsplit("/", 1)[1]]})
        async with started(ProcessSender(cfg, "webpush")) as sender:
            res = await sender.send(outbound("webpush", json.dumps(live)))
            assert res.provider_id
            with pytest.raises(PermanentSendError) as dead:
                await sender.send(outbound("webpush", json.dumps(gone)))
            assert dead.value.contact_dead and dead.value.reason == "subscription_gone"
            sb.faults.update({"fail_5xx": 1.0})
            with pytest.raises(RetryableSendError) as e:
                await sender.send(outbound("webpush", json.dumps(blip)))
            assert e.value.reason == "server_error"
        got = sb.messages("webpush")
        assert len(got) == 1 and "/r/" in (got[0].text or "")  # decrypted by the sandbox: the real payload


async def test_a_campaign_goes_out_with_web_push_from_the_worker(tmp_path: Path) -> None:
    clock = SystemClock()
    async with running_sandbox(tmp_path, env=UNLIMITED, callbacks=False) as (sb, cfg):
        store = await open_store(cfg, clock)
        try:
            records = [household("北地区", "桜町町会", "1班", f"k{i}", f"世帯{i}",
                                       phone=f"+8190{i:08d}" if i % 2 else "") for i in range(10)]
            await store.roster.import_households(records)
            key = load_or_create_vapid(cfg.data_dir).application_server_key
            ids = {t.household_key: t.household_id for t in await store.roster.code_targets(only_without_code=False)}
            for i in range(0, 10, 2):
                await store.roster.add_contact(ids[f"k{i}"], "webpush", json.dumps(sb.fake("webpush").subscribe(key)))
        finally:
            await store.close()
        # the composition root, as `serve` runs it, with web push in its own process
        async with running_system(cfg, clock, port=0, send_workers=True, triggers=False, retention=False) as system:
            assert system.dispatcher is not None
            assert isinstance(system.dispatcher.lanes["webpush"].sender, ProcessSender)
            c = await system.campaigns.launch(CampaignSpec("訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です。"}))
            await sb.wait_for(10, timeout_seconds=60)
        # stopped: every result is written back
        assert sorted(r.channel for r in sb.messages()) == ["sms"] * 5 + ["webpush"] * 5
        store = await open_store(cfg, clock)
        try:
            assert await store.outbox.claimed_count() == 0
            assert (await CampaignService(store, cfg, clock).stats(c.id))["status"]["notified"] == 10
        finally:
            await store.close()


async def test_a_killed_send_worker_is_started_again(tmp_path: Path) -> None:
    import os
    import signal

    async with running_sandbox(tmp_path, env=UNLIMITED, callbacks=False) as (sb, cfg):
        key = load_or_create_vapid(cfg.data_dir).application_server_key
        sub = json.dumps(sb.fake("webpush").subscribe(key))
        async with started(ProcessSender(cfg, "webpush")) as sender:
            await sender.send(outbound("webpush", sub))
            first = sender.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            assert sender._reader is not None
            await sender._reader  # the parent notices the child's end
            await sender.send(outbound("webpush", sub, delivery_id=2))
            assert sender.pid != first
        assert len(sb.messages("webpush")) == 2


async def test_a_stopped_send_worker_fails_its_sends_as_the_channels_and_is_replaced(tmp_path: Path) -> None:
    """QA: `kill -STOP` of the web-push worker held 268 households pending, the channel looking fine.
    A send past the lane's deadline fails as a timeout of the channel (three make it failing), the
    stuck child is killed, and the next send goes through a new one."""
    import asyncio
    import os
    import signal

    import structlog

    from safetynet.broadcast.health import FAILING, OK, LaneHealth
    from safetynet.broadcast.lanes import Lane
    from safetynet.broadcast.ratelimit import LaneGate
    from safetynet.broadcast.retry import RetryPolicy
    from safetynet.domain.campaigns import ClaimedDelivery, OutcomeKind

    clock = SystemClock()
    async with running_sandbox(tmp_path, env=UNLIMITED, callbacks=False) as (sb, cfg):
        key = load_or_create_vapid(cfg.data_dir).application_server_key
        sub = json.dumps(sb.fake("webpush").subscribe(key))
        async with started(ProcessSender(cfg, "webpush")) as sender:
            # no inline retry: each outcome is the first attempt's
            lane = Lane("webpush", sender, LaneGate(0.0, clock), 8, RetryPolicy(max_inline_seconds=0.0), clock, 64,
                        LaneHealth(clock.now()), send_deadline=0.5)

            def delivery(i: int) -> ClaimedDelivery:
                return ClaimedDelivery(i, 7, i, 0, "webpush", i, 0, sub, "ja")

            stuck = sender.pid
            assert stuck is not None
            os.kill(stuck, signal.SIGSTOP)
            try:
                with structlog.testing.capture_logs() as logs:
                    outcomes = await asyncio.gather(*[lane.deliver(delivery(i), outbound("webpush", sub, delivery_id=i))
                                                      for i in (1, 2, 3)])
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stuck, signal.SIGCONT)
            assert [(o.kind, o.error) for o in outcomes] == [(OutcomeKind.RETRY, "timeout")] * 3
            assert lane.health.state == FAILING and lane.health.reason == "timeout"
            assert [e["channel"] for e in logs if e["event"] == "send_overdue"] == ["webpush"] * 3
            assert any(e["event"] == "send_worker_killed" and e["pid"] == stuck for e in logs)
            with pytest.raises(ProcessLookupError):
                os.kill(stuck, 0)  # killed and reaped
            assert sender.pid not in (None, stuck)  # and replaced already (once, not per overdue send)
            assert sum(e["event"] == "send_worker_started" for e in logs) == 1
            # The new child's first send (its first connection, on a loaded CI machine) may take longer
            # than the 0.5 s that caught the stopped one: a deadline that still fails a child that never
            # answers, not one that fails a slow one.
            lane.send_deadline = 30.0
            again = await lane.deliver(delivery(4), outbound("webpush", sub, delivery_id=4))
            assert again.kind == OutcomeKind.SENT
            assert lane.health.state == OK
        assert len(sb.messages("webpush")) == 1
