"""LINE sender: line-bot-sdk's async client against the sandbox's LINE fake over loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from channel_helpers import outbound, running_sandbox, sender_of, started
from roster_helpers import SECRET_KEY

from safetynet.channels.base import PermanentSendError, Reason, RetryableSendError, SendError, SendResult
from safetynet.channels.line.contacts import parse_user_id
from safetynet.channels.line.events import parse_postback_data, postback_data, signature, verify_signature
from safetynet.channels.line.sender import retry_key
from safetynet.clock import FakeClock

U1, U2, U3 = "U" + "1" * 32, "U" + "2" * 32, "U" + "3" * 32
LINE_ENV = {"SAFETYNET_CHANNELS_LINE_TIMEOUT_SECONDS": "1"}


def line_msg(address: str, delivery_id: int = 1, language: str = "ja", token: str = "AbCdEfGhIjKlMnOpQrStUv"):  # type: ignore[no-untyped-def]
    return outbound("line", address, delivery_id=delivery_id, language=language, token=token,
                    text="【訓練】震度5強の地震がありました。")


async def test_push_carries_the_text_and_two_postback_buttons(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "line")) as sender:
        result = await sender.send(line_msg(U1))
        assert isinstance(result, SendResult) and result.provider_id
        rec = sb.state.find("line", U1)
        assert rec is not None and rec.text == "【訓練】震度5強の地震がありました。"
        assert [p["label"] for p in rec.data["postbacks"]] == ["無事です", "助けが必要"]
        assert [parse_postback_data(p["data"]) for p in rec.data["postbacks"]] == [(7, "safe"), (7, "need_help")]
        # English households get English buttons
        await sender.send(line_msg(U2, delivery_id=2, language="en"))
        rec2 = sb.state.find("line", U2)
        assert rec2 is not None and [p["label"] for p in rec2.data["postbacks"]] == ["I'm safe", "I need help"]


async def test_a_staff_alert_is_plain_text(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "line")) as sender:
        await sender.send(line_msg(U1, token=""))
        rec = sb.state.find("line", U1)
        assert rec is not None and rec.data["postbacks"] == [] and len(rec.data["messages"]) == 1


async def test_multicast_sends_one_request_per_language_for_the_whole_batch(tmp_path: Path) -> None:
    users = [f"U{i:032x}" for i in range(1, 1201)]
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "line")) as sender:
        assert sender.max_batch == 500
        msgs = [line_msg(u, delivery_id=i, language="en" if i % 10 == 0 else "ja") for i, u in enumerate(users[:500])]
        out = await sender.send_batch(msgs)
        assert all(isinstance(o, SendResult) for o in out)
        recs = [r for r in sb.records if r.channel == "line" and r.kind == "message"]
        assert len(recs) == 500
        assert len({r.data["request_id"] for r in recs}) == 2  # ja and en: two multicasts
        assert {r.address for r in recs} == set(users[:500])


async def test_retry_of_the_same_batch_is_taken_once_409_is_success(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "line")) as sender:
        msgs = [line_msg(U1, 1), line_msg(U2, 2)]
        key = retry_key(msgs)
        assert key == retry_key([line_msg(U1, 1), line_msg(U2, 2)]) and isinstance(key, str)
        first = await sender.send_batch(msgs)
        again = await sender.send_batch(msgs)  # the outcome of the first was lost: resent
        assert all(isinstance(o, SendResult) for o in first + again)
        assert again[0].provider_id == first[0].provider_id  # X-Line-Accepted-Request-Id of the first
        assert len([r for r in sb.records if r.channel == "line" and r.kind == "message"]) == 2
        assert sb.stats["channels"]["line"]["retry_key_accepted"] == 1
        # a different batch is a different request
        assert retry_key([line_msg(U1, 3)]) != key


async def test_server_error_is_retryable_with_unknown_outcome(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, fail_5xx=1.0) as (_sb, cfg), started(sender_of(cfg, "line")) as sender:
        out = await sender.send_batch([line_msg(U1, 1), line_msg(U2, 2)])  # the request's error is each one's
        assert all(isinstance(o, RetryableSendError) and o.reason == Reason.SERVER_ERROR and o.outcome_unknown
                   for o in out)
        with pytest.raises(RetryableSendError):
            await sender.send(line_msg(U1))


async def test_429_gives_retry_after_and_pauses_the_sender(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_sandbox(tmp_path, fail_429=1.0, retry_after=7) as (sb, cfg), \
            started(sender_of(cfg, "line", clock=clock)) as sender:
        out = await sender.send_batch([line_msg(U1, 1), line_msg(U2, 2)])
        assert all(isinstance(o, RetryableSendError) and o.reason == Reason.RATE_LIMITED and o.retry_after == 7
                   for o in out)
        assert sender.paused_for() == pytest.approx(7)
        sb.faults.update({"fail_429": 0.0})
        requests = sb.stats["channels"]["line"]["429_injected"]
        with pytest.raises(RetryableSendError) as paused:  # no request while paused
            await sender.send(line_msg(U1))
        assert paused.value.error_class == "ChannelPaused" and sb.stats["channels"]["line"]["429_injected"] == requests
        await clock.advance(7.5)
        assert isinstance(await sender.send(line_msg(U1)), SendResult)


async def test_wrong_token_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"SAFETYNET_LINE_CHANNEL_ACCESS_TOKEN": "not-the-sandbox-token"}
    async with running_sandbox(tmp_path, env=env) as (_sb, cfg), started(sender_of(cfg, "line")) as sender:
        with pytest.raises(PermanentSendError) as e:
            await sender.send(line_msg(U1))
        assert e.value.reason == Reason.CONFIGURATION and not e.value.contact_dead


async def test_dead_recipient(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "line")) as sender:
        sb.faults.update({"dead": [U2]})
        # a push to a user who cannot be reached is refused: the contact is dead
        with pytest.raises(PermanentSendError) as e:
            await sender.send(line_msg(U2))
        assert e.value.reason == Reason.CHAT_NOT_FOUND and e.value.contact_dead
        # a malformed id is never sent; in a multicast LINE drops a blocked user silently (the fake records it failed)
        out = await sender.send_batch([line_msg(U1, 1), line_msg("U-not-an-id", 2), line_msg(U2, 3)])
        assert isinstance(out[0], SendResult) and isinstance(out[2], SendResult)
        assert isinstance(out[1], SendError) and out[1].contact_dead and not out[1].retryable
        assert [r.address for r in sb.records if r.channel == "line" and r.kind == "failed"] == [U2]
        assert sb.state.find("line", U2) is None


async def test_timeout_is_retryable_with_unknown_outcome(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, latency_ms=3000, env=LINE_ENV) as (_sb, cfg), \
            started(sender_of(cfg, "line")) as sender:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        out = await sender.send_batch([line_msg(U1, 1), line_msg(U2, 2)])
        assert all(isinstance(o, RetryableSendError) and o.reason == Reason.TIMEOUT and o.outcome_unknown
                   for o in out)
        assert loop.time() - t0 < 2.5


async def test_connection_refused_is_a_network_error_not_sent(tmp_path: Path) -> None:
    from channel_helpers import write_config
    from ports import free_port

    from safetynet.config import load_config

    cfg = load_config(write_config(tmp_path), env={
        "SAFETYNET_SECRET_KEY": SECRET_KEY, "SAFETYNET_CHANNELS_LINE_API_BASE_URL": f"http://127.0.0.1:{free_port()}"})
    async with started(sender_of(cfg, "line")) as sender:
        with pytest.raises(RetryableSendError) as e:
            await sender.send(line_msg(U1))
        assert e.value.reason == Reason.NETWORK and not e.value.outcome_unknown


def test_user_ids_signatures_and_postback_data() -> None:
    assert parse_user_id(" u" + "AB" * 16 + " ") == "U" + "ab" * 16
    for bad in ("", "U123", "@safetynet", "U" + "g" * 32, "12345"):
        with pytest.raises(ValueError):
            parse_user_id(bad)
    body = json.dumps({"events": []}).encode()
    sig = signature("secret", body)
    assert verify_signature("secret", body, sig)
    assert not verify_signature("secret", body + b" ", sig)
    assert not verify_signature("other", body, sig)
    assert not verify_signature("secret", body, None) and not verify_signature("", body, sig)
    assert parse_postback_data(postback_data(42, "need_help")) == (42, "need_help")
    for bad in ("sn1:c42:maybe", "sn1:42:safe", "x:c1:safe", "sn1:c:safe", "sn1:c1:safe:extra"):
        assert parse_postback_data(bad) is None


# -- the lanes: the real sender behind the dispatcher ------------------------------------------------


async def _line_city(store, n: int) -> None:  # type: ignore[no-untyped-def]
    from safetynet.domain.roster import HouseholdRecord

    await store.roster.import_households([
        HouseholdRecord("北地区", "桜町一丁目町会", "1班", f"L{i}", f"世帯{i}", language="en" if i % 4 == 0 else "ja",
                        contacts=(("line", f"U{i:032x}"),)) for i in range(1, n + 1)])


async def test_the_dispatcher_multicasts_a_campaign_and_a_429_pauses_the_lane(tmp_path: Path) -> None:
    from broadcast_helpers import opened

    from safetynet.broadcast.dispatcher import Dispatcher
    from safetynet.broadcast.service import CampaignService, CampaignSpec
    from safetynet.domain import CampaignKind
    from safetynet.domain.campaigns import LadderStep

    clock = FakeClock()
    env = {"SAFETYNET_STORE_PATH": str(tmp_path / "var" / "s.db"), "SAFETYNET_CHANNELS_LINE_MAX_PER_SECOND": "0"}
    async with running_sandbox(tmp_path, env=env, fail_429=1.0, retry_after=30) as (sb, cfg), \
            opened(cfg, clock) as store, started(sender_of(cfg, "line", clock=clock)) as sender:
        await _line_city(store, 12)
        ladder = (LadderStep(0, ("line",)), LadderStep(600, door_knock=True))
        c = await CampaignService(store, cfg, clock).launch(CampaignSpec(
            "地震訓練", CampaignKind.DRILL, ("city",), {"ja": "訓練です。無事ですか。", "en": "A drill. Are you safe?"}, ladder))
        # every request refused with Retry-After: 30 — the lane pauses, the deliveries wait in the outbox
        d = Dispatcher(store, {"line": sender}, cfg, clock, contacts=store.roster)
        report = await d.burst()
        assert d.lanes["line"].gate.paused_for > 25
        assert report.lanes["line"].sent == 0 and report.lanes["line"].retried == 12
        assert sb.stats["channels"]["line"]["429_injected"] == 2  # one request per language, then the pause held
        # LINE takes requests again; after the pause and the retry schedule: one multicast per language, each household once
        sb.faults.update({"fail_429": 0.0})
        await clock.advance(120)
        report = await Dispatcher(store, {"line": sender}, cfg, clock, contacts=store.roster).burst()
        assert report.lanes["line"].sent == 12
        recs = [r for r in sb.records if r.channel == "line" and r.kind == "message"]
        assert sorted(r.address for r in recs) == sorted(f"U{i:032x}" for i in range(1, 13))
        assert len({r.data["request_id"] for r in recs}) == 2
        assert {parse_postback_data(p["data"])[0] for r in recs for p in r.data["postbacks"]} == {c.id}  # type: ignore[index]
