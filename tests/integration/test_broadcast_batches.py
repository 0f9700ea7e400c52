"""Lanes hand a sender that takes many recipients a request (`max_batch` > 1, like LINE's multicast)
batches of one campaign, and record each recipient's own outcome."""

from __future__ import annotations

from pathlib import Path

from broadcast_helpers import (
    BatchScriptedSender,
    H,
    e164_mobile,
    make_cfg,
    opened,
    run_with_clock,
    seed,
    senders,
)

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.channels.base import PermanentSendError, Reason, RetryableSendError
from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind
from safetynet.domain.campaigns import LadderStep
from safetynet.metrics import Metrics

MSG = {"ja": "地震の訓練です。無事ですか。"}
SMS_ONLY = (LadderStep(0, ("sms",)), LadderStep(600, door_knock=True))


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"channel": "sms", **labels}) or 0.0


def spec(title: str = "地震訓練") -> CampaignSpec:
    return CampaignSpec(title, CampaignKind.DRILL, ("city",), dict(MSG), SMS_ONLY)


async def test_a_batch_lane_sends_up_to_max_batch_a_request_and_records_each_recipient(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_CONCURRENCY="1")
    clock = FakeClock()
    async with opened(cfg, clock) as store:
        ids = await seed(store, [H(f"k{i}", "m") for i in range(1, 8)])
        c = await CampaignService(store, cfg, clock).launch(spec())
        dead = e164_mobile(3)
        snd = senders(clock)
        batch = BatchScriptedSender("sms", 3, {dead: [PermanentSendError(Reason.INVALID_NUMBER, contact_dead=True)]})
        snd["sms"] = batch
        metrics = Metrics()
        report = await Dispatcher(store, snd, cfg, clock, contacts=store.roster, metrics=metrics).burst()
        assert [len(r) for r in batch.requests] == [3, 3, 1]
        # /metrics counts recipients, not requests: each one's outcome and send time
        assert _sample(metrics, "safetynet_deliveries_total", outcome="sent") == 6
        assert _sample(metrics, "safetynet_deliveries_total", outcome="failed") == 1
        assert _sample(metrics, "safetynet_send_duration_seconds_count", result="sent") == 6
        assert _sample(metrics, "safetynet_send_duration_seconds_count", result="error") == 1
        assert sorted(m.household_id for m in batch.sent) == sorted(v for k, v in ids.items() if k != "k3")
        assert report.lanes["sms"].sent == 6 and report.lanes["sms"].failed == 1
        counts = await store.campaigns.delivery_counts(c.id)
        assert counts[(0, "sms", "sent")] == 6 and counts[(0, "sms", "failed")] == 1
        household = await store.roster.get_household(ids["k3"])
        assert household is not None and [x.working for x in household.contacts] == [False]  # marked dead
        doc = await CampaignService(store, cfg, clock).stats(c.id)
        assert doc["status"]["notified"] == 6 and doc["status"]["unreachable"] == 1


async def test_a_failed_request_is_every_recipients_and_is_retried_whole(tmp_path: Path) -> None:
    # A lease far beyond the run: `run_with_clock` moves the FakeClock 0.25 s a loop turn, also while
    # a PostgreSQL round trip is in flight, so one slow claim "took" 60 fake seconds (the lease, set at
    # its start) and its rows were reclaimed, claimed and sent again while their result was being
    # written ([4, 4, 4], 1 run in ~6 on PostgreSQL). Leases are not what this test is about.
    cfg = make_cfg(tmp_path, SAFETYNET_BROADCAST_LEASE_SECONDS="86400")
    clock = FakeClock()
    async with opened(cfg, clock) as store:
        await seed(store, [H(f"k{i}", "m") for i in range(1, 5)])
        c = await CampaignService(store, cfg, clock).launch(spec())
        snd = senders(clock)
        batch = BatchScriptedSender("sms", 10, request_errors=[
            RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=False)])
        snd["sms"] = batch
        metrics = Metrics()
        await run_with_clock(clock, Dispatcher(store, snd, cfg, clock, metrics=metrics).burst())
        assert [len(r) for r in batch.requests] == [4, 4]  # the same four, once more
        # the failed request failed for each of its four recipients, then each was sent
        assert _sample(metrics, "safetynet_send_duration_seconds_count", result="error") == 4
        assert _sample(metrics, "safetynet_send_duration_seconds_count", result="sent") == 4
        assert _sample(metrics, "safetynet_deliveries_total", outcome="sent") == 4
        assert len(batch.sent) == 4
        counts = await store.campaigns.delivery_counts(c.id)
        assert counts[(0, "sms", "sent")] == 4
        attempts = await store.db.fetchall("SELECT delivery_id, outcome FROM delivery_attempts ORDER BY id")
        per_delivery: dict[int, list[str]] = {}
        for delivery_id, outcome in attempts:
            per_delivery.setdefault(delivery_id, []).append(outcome)
        assert sorted(per_delivery.values()) == [["retry", "sent"]] * 4


async def test_two_campaigns_never_share_a_request(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with opened(cfg, clock) as store:
        await seed(store, [H(f"k{i}", "m") for i in range(1, 4)])
        svc = CampaignService(store, cfg, clock)
        first = await svc.launch(spec("訓練その一"))
        second = await svc.launch(spec("訓練その二"), force=True)
        snd = senders(clock)
        batch = BatchScriptedSender("sms", 50)
        snd["sms"] = batch
        await Dispatcher(store, snd, cfg, clock).burst()
        assert len(batch.sent) == 6
        assert all(len({m.campaign_id for m in r}) == 1 for r in batch.requests)
        assert {m.campaign_id for m in batch.sent} == {first.id, second.id}


async def test_a_cancels_notices_go_by_the_batch_and_never_beside_its_messages(tmp_path: Path) -> None:
    """A city's LINE households told of a cancel in a few multicasts, not one request each."""
    from safetynet.domain.campaigns import NOTICE_DELAY_SECONDS

    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_CONCURRENCY="1")
    clock = FakeClock()
    async with opened(cfg, clock) as store:
        await seed(store, [H(f"k{i}", "m") for i in range(1, 8)])
        svc = CampaignService(store, cfg, clock)
        c = await svc.launch(spec())
        snd = senders(clock)
        batch = BatchScriptedSender("sms", 3)
        snd["sms"] = batch
        await Dispatcher(store, snd, cfg, clock).burst()
        assert [len(r) for r in batch.requests] == [3, 3, 1]
        await svc.cancel(c.id, by="bousai")
        await clock.advance(NOTICE_DELAY_SECONDS)
        await Dispatcher(store, snd, cfg, clock).burst()
        notices = batch.requests[3:]
        assert [len(r) for r in notices] == [3, 3, 1]  # as the messages went: by the batch
        assert all(m.reply_token == "" and "取り消しました" in m.text for r in notices for m in r)
