"""Staff alerts leave through the one send path: outbox rows the dispatcher claims before any
household delivery of their lane, under the lane's rate limit and the retry policy, with attempts
recorded. On the in-memory store, with scripted senders and a controlled clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from broadcast_helpers import (
    H,
    ScriptedSender,
    e164_mobile,
    in_memory,
    make_cfg,
    run_with_clock,
    seed,
    senders,
)

from safetynet.broadcast.dispatcher import Dispatcher
from safetynet.broadcast.service import CampaignService, CampaignSpec
from safetynet.channels.base import OutboundMessage, Reason, RetryableSendError, SendResult
from safetynet.clock import FakeClock
from safetynet.domain import CampaignKind, Role
from safetynet.domain.campaigns import STAFF_STEP
from safetynet.replies.intake import ReplyIntake
from safetynet.replies.notify import StaffNotifier
from safetynet.store.memory import MemoryStore

ASSOCIATION = "桜町一丁目町会"
HEAD_MOBILE = "+819088880001"
NEW_MOBILE = "+819088880009"  # the head's lost phone replaced


async def _city(store: MemoryStore, households: int) -> dict[str, int]:
    return await seed(store, [H(f"k{i}", "m") for i in range(1, households + 1)])


async def _staff(store: MemoryStore) -> None:
    """The head and the deputy, added after the campaign started: these tests count help alerts alone (a
    start tells the staff there is one: test_replies_help)."""
    await store.auth.add_staff("head", "Head", Role.ASSOCIATION_HEAD, f"association:{ASSOCIATION}", None,
                               contacts=[("mobile", HEAD_MOBILE), ("telegram", "8880001")])
    await store.auth.add_staff("deputy", "Deputy", Role.DEPUTY, f"association:{ASSOCIATION}", None,
                               contacts=[("telegram", "8880002")], language="en")


async def _asks_for_help(intake: ReplyIntake, campaign_id: int, household_id: int) -> None:
    target = await intake.target_for(campaign_id, household_id)
    assert target is not None
    await intake.answer(target, "need_help", "web", f"help-{household_id}")
    await intake.idle()


async def test_a_need_help_answer_is_sent_to_staff_before_the_queued_households(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_CONCURRENCY="1")
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await _city(store, 8)
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("地震", CampaignKind.DRILL, ("city",),
                                                                          {"ja": "無事ですか。"}))
        await _staff(store)
        snd = senders(clock)
        woken: list[bool] = []
        intake = ReplyIntake(store, cfg, clock, StaffNotifier(store, cfg, snd, clock, on_queued=lambda: woken.append(True)))
        # a household answers before the first wave has gone out (the web page, a neighbour's phone)
        await _asks_for_help(intake, c.id, ids["k3"])
        assert woken == [True]
        assert snd["sms"].sent == [] and snd["telegram"].sent == []  # queued, not sent by the intake
        report = await Dispatcher(store, snd, cfg, clock).burst()
        # every contact of the head and the deputy, over the first channel carrying staff alerts
        assert sorted(m.address for m in snd["telegram"].sent) == ["8880001", "8880002"]
        sms = [m.address for m in snd["sms"].sent]
        assert sms[0] == HEAD_MOBILE  # ahead of the eight households queued before it
        assert sorted(sms[1:]) == sorted(e164_mobile(i) for i in range(1, 9) if i != 3)
        head_sms = snd["sms"].sent[0]
        assert head_sms.reply_token == "" and head_sms.household_id == 0 and "/a/" in head_sms.reply_url
        assert head_sms.text.startswith("【訓練】") and "世帯3" in head_sms.text
        deputy = next(m for m in snd["telegram"].sent if m.address == "8880002")
        head_tg = next(m for m in snd["telegram"].sent if m.address == "8880001")
        assert deputy.language == "en" and deputy.text != head_tg.text  # each in their own language
        counts = await store.campaigns.delivery_counts(c.id)
        assert counts[(STAFF_STEP, "sms", "sent")] == 1 and counts[(STAFF_STEP, "telegram", "sent")] == 2
        assert report.sent == 3 + 7  # the staff alerts count among the lanes' sends
        assert await store.replies.unnotified_help() == []


async def test_a_429_on_the_staff_channel_is_retried_by_the_dispatchers_policy(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await _city(store, 2)
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("地震", CampaignKind.DRILL, ("city",),
                                                                          {"ja": "無事ですか。"}))
        await _staff(store)
        snd = senders(clock, telegram={"8880001": [RetryableSendError(Reason.RATE_LIMITED, retry_after=2.0)]})
        await _asks_for_help(ReplyIntake(store, cfg, clock, StaffNotifier(store, cfg, snd, clock)), c.id, ids["k1"])
        disp = Dispatcher(store, snd, cfg, clock)
        await run_with_clock(clock, disp.burst(), step=0.1)
        tries = [t for a, t in snd["telegram"].attempts if a == "8880001"]
        assert len(tries) == 2 and tries[1] >= tries[0] + 2.0  # after the provider's Retry-After
        assert disp.lanes["telegram"].gate.pauses == 1  # the lane's pause, not a loop of its own
        assert sorted(m.address for m in snd["telegram"].sent) == ["8880001", "8880002"]
        # both attempts are in the attempt log of the one delivery
        (row,) = [d for d in store.tables.deliveries.values() if d.staff_id is not None and d.address == "8880001"]
        assert row.state == "sent" and row.attempts == 2
        assert [a[3] for a in store.tables.attempts if a[0] == row.id] == ["retry", "sent"]
        metrics = disp.metrics.registry
        assert metrics.get_sample_value("safetynet_deliveries_total", {"channel": "telegram", "outcome": "sent"}) == 2


async def test_a_failure_on_one_staff_channel_does_not_stop_the_others(tmp_path: Path) -> None:
    from safetynet.channels.base import PermanentSendError

    cfg = make_cfg(tmp_path)
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await _city(store, 1)
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("地震", CampaignKind.DRILL, ("city",),
                                                                          {"ja": "無事ですか。"}))
        await _staff(store)
        snd = senders(clock, telegram={"8880001": [PermanentSendError(Reason.BLOCKED)]})
        notifier = StaffNotifier(store, cfg, snd, clock)
        await _asks_for_help(ReplyIntake(store, cfg, clock), c.id, ids["k1"])  # heard by no notifier
        report = await notifier.notify(c.id, ids["k1"])
        assert (report.queued, report.recipients) == (3, 2)
        await run_with_clock(clock, Dispatcher(store, snd, cfg, clock).burst())
        assert [m.address for m in snd["telegram"].sent] == ["8880002"]
        assert HEAD_MOBILE in [m.address for m in snd["sms"].sent]  # the head still hears by SMS
        counts = await store.campaigns.delivery_counts(c.id)
        assert counts[(STAFF_STEP, "telegram", "failed")] == 1
        assert (await store.campaigns.household_statuses(c.id))[ids["k1"]] == "need_help"  # as it answered


class _SlowToTheHead(ScriptedSender):
    """A provider that takes its time with the head's messages (the sandbox's 12 s latency): each waits
    for `go`; `entered` is set once `lanes` of them are in flight."""

    def __init__(self, sender: ScriptedSender, go: asyncio.Event, entered: asyncio.Event, lanes: list[int]) -> None:
        super().__init__(sender.name)
        self.clock, self.go, self.entered, self.lanes = sender.clock, go, entered, lanes

    async def send(self, msg: OutboundMessage) -> SendResult:
        if msg.address in (HEAD_MOBILE, "8880001") and not self.go.is_set():
            self.lanes[0] -= 1
            if self.lanes[0] == 0:
                self.entered.set()
            await self.go.wait()
        return await super().send(msg)


async def test_a_head_removed_gets_none_of_the_alerts_still_waiting_only_the_one_in_flight(tmp_path: Path) -> None:
    """QA (privacy walk): tanaka, removed two seconds after a household asked for help, still got its
    name and address by email and SMS half a minute later, the alerts waiting behind a slow provider."""
    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_CONCURRENCY="1", SAFETYNET_CHANNELS_TELEGRAM_CONCURRENCY="1")
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await _city(store, 4)
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("地震", CampaignKind.DRILL, ("city",),
                                                                          {"ja": "無事ですか。"}))
        await _staff(store)
        snd = senders(clock)
        go, entered = asyncio.Event(), asyncio.Event()
        in_flight = [2]  # the head's first SMS and first Telegram message
        for ch in ("sms", "telegram"):
            snd[ch] = _SlowToTheHead(snd[ch], go, entered, in_flight)
        intake = ReplyIntake(store, cfg, clock, StaffNotifier(store, cfg, snd, clock))
        for key in ("k1", "k2", "k3"):
            await _asks_for_help(intake, c.id, ids[key])
        burst = asyncio.create_task(Dispatcher(store, snd, cfg, clock).burst())
        await entered.wait()  # the dispatcher holds the head's other alerts, claimed or queued
        removal = await store.auth.remove_staff("head")
        go.set()
        await burst
        assert removal is not None
        # what was in flight went (the README says so); nothing after it
        assert [m.address for m in snd["sms"].sent].count(HEAD_MOBILE) == 1
        assert [m.address for m in snd["telegram"].sent].count("8880001") == 1
        assert [m.address for m in snd["telegram"].sent].count("8880002") == 3  # the deputy hears of all three
        dropped = [d for d in store.tables.deliveries.values() if d.staff_id == removal.staff_id and d.state == "skipped"]
        assert len(dropped) == 4 and {d.error for d in dropped} == {"staff_removed"}
        assert removal.alerts_dropped < 4  # some were in a lane already: the dispatcher looked before sending


async def test_a_heads_number_replaced_gets_none_of_the_alerts_still_waiting_only_the_one_in_flight(
        tmp_path: Path) -> None:
    """Review: a head's phone lost and its number replaced on /admin while alerts waited behind a slow
    provider; those queued and those already in the SMS lane went to the lost phone with the households'
    names and addresses. Not to the new number either: they were the old one's."""
    cfg = make_cfg(tmp_path, SAFETYNET_CHANNELS_SMS_CONCURRENCY="1", SAFETYNET_CHANNELS_TELEGRAM_CONCURRENCY="1")
    clock = FakeClock()
    async with in_memory(clock) as store:
        ids = await _city(store, 4)
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec("地震", CampaignKind.DRILL, ("city",),
                                                                          {"ja": "無事ですか。"}))
        await _staff(store)
        snd = senders(clock)
        go, entered = asyncio.Event(), asyncio.Event()
        in_flight = [2]  # the head's first SMS and first Telegram message
        for ch in ("sms", "telegram"):
            snd[ch] = _SlowToTheHead(snd[ch], go, entered, in_flight)
        intake = ReplyIntake(store, cfg, clock, StaffNotifier(store, cfg, snd, clock))
        for key in ("k1", "k2", "k3"):
            await _asks_for_help(intake, c.id, ids[key])
        burst = asyncio.create_task(Dispatcher(store, snd, cfg, clock).burst())
        await entered.wait()  # the head's first SMS in flight, the others claimed or queued
        found = await store.auth.staff_by_login("head")
        assert found is not None
        head = found[0].id
        await store.auth.set_staff_contacts(head, {"mobile": NEW_MOBILE})
        old = [d for d in store.tables.deliveries.values() if d.staff_id == head and d.address == HEAD_MOBILE]
        # in a lane: one in flight, the rest claimed behind it (the change left them to the dispatcher)
        assert len(old) == 3 and [d.state for d in old].count("claimed") >= 2
        go.set()
        await burst
        # what was in flight went (the README says so); nothing after it, to either number
        sms = [m.address for m in snd["sms"].sent]
        assert sms.count(HEAD_MOBILE) == 1 and NEW_MOBILE not in sms
        assert [m.address for m in snd["telegram"].sent].count("8880001") == 3  # that contact is still theirs
        assert [m.address for m in snd["telegram"].sent].count("8880002") == 3
        dropped = [d for d in old if d.state == "skipped"]
        assert len(dropped) == 2 and {d.error for d in dropped} == {"staff_contact_changed"}
