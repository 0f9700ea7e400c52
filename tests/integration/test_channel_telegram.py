"""Telegram through python-telegram-bot's Bot against the sandbox: keyboard, errors, pause, webhook."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from channel_helpers import (
    REPLY_TOKEN,
    SECRET_KEY,
    WebhookRecorder,
    outbound,
    running_sandbox,
    sender_of,
    started,
)
from hypothesis import given
from hypothesis import strategies as st

from safetynet.channels.base import PermanentSendError, RetryableSendError
from safetynet.channels.telegram import sender as tg_sender
from safetynet.channels.telegram import updates as tg_updates
from safetynet.channels.telegram.request import AiohttpRequest
from safetynet.clock import FakeClock

CHAT = "5550001"


# --- pure ---------------------------------------------------------------------------------------


def test_callback_data_fits_64_bytes_and_round_trips() -> None:
    for answer in ("safe", "need_help"):
        data = tg_updates.callback_data(answer, REPLY_TOKEN)
        assert len(data.encode()) <= 64
        assert tg_updates.parse_callback_data(data) == (answer, REPLY_TOKEN)
    with pytest.raises(ValueError, match="64 bytes"):
        tg_updates.callback_data("safe", "x" * 60)
    with pytest.raises(ValueError):
        tg_updates.callback_data("maybe", REPLY_TOKEN)
    assert tg_updates.parse_callback_data("help:abc") is None
    assert tg_updates.parse_callback_data("safe:") is None
    assert tg_updates.parse_callback_data("nonsense") is None


def test_buttons_in_a_language_without_them_are_the_reply_pages_easy_japanese() -> None:
    """A Spanish household's reply page is in やさしい日本語 (the catalogs' fallback); its chat buttons too.
    A Vietnamese one reads its page, and its buttons, in Vietnamese."""
    assert [b["text"] for b in tg_sender.keyboard("tok", "es")["inline_keyboard"][0]] == ["だいじょうぶ", "たすけて"]
    assert [b["text"] for b in tg_sender.keyboard("tok", "vi")["inline_keyboard"][0]] == ["Tôi an toàn", "Tôi cần giúp đỡ"]
    assert [b["text"] for b in tg_sender.keyboard("tok", "ja")["inline_keyboard"][0]] == ["無事です", "助けが必要"]


def test_webhook_secret_is_derived_stable_and_in_telegrams_alphabet() -> None:
    s = tg_updates.webhook_secret(SECRET_KEY)
    assert s == tg_updates.webhook_secret(SECRET_KEY) != tg_updates.webhook_secret(SECRET_KEY + "x")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", s)
    with pytest.raises(ValueError, match="secret_key"):
        tg_updates.webhook_secret("")


def test_verify_secret() -> None:
    assert tg_updates.verify_secret("abc", "abc")
    assert not tg_updates.verify_secret("abd", "abc")
    assert not tg_updates.verify_secret(None, "abc")
    assert not tg_updates.verify_secret("", "")


def test_parse_update_callback_and_start() -> None:
    cb = tg_updates.parse_update({
        "update_id": 1,
        "callback_query": {
            "id": "q1", "from": {"id": 42}, "data": "safe:tok",
            "message": {"message_id": 9, "chat": {"id": 42, "type": "private"}, "text": "alert"},
        },
    })
    assert cb == tg_updates.TelegramCallback("q1", 42, 9, "safe:tok", "alert")
    assert tg_updates.parse_update({"message": {"chat": {"id": 5}, "text": "/start AB12CD"}}) == tg_updates.TelegramStart(5, "AB12CD")
    assert tg_updates.parse_update({"message": {"chat": {"id": 5}, "text": "/start@SafetyBot  AB12CD "}}) == tg_updates.TelegramStart(5, "AB12CD")
    assert tg_updates.parse_update({"message": {"chat": {"id": 5}, "text": "/start"}}) is None
    # a typed text: read as an SMS is; its key tells a redelivery from the next message
    assert tg_updates.parse_update({"update_id": 3, "message": {"message_id": 8, "chat": {"id": 5}, "text": "助けて"}}) \
        == tg_updates.TelegramText(5, "5:8", "助けて")
    assert tg_updates.parse_update({"update_id": 3, "message": {"chat": {"id": 5}, "text": "2"}}) \
        == tg_updates.TelegramText(5, "u3", "2")
    group = tg_updates.parse_update({"message": {"message_id": 1, "chat": {"id": -42, "type": "group"}, "text": "2"}})
    assert isinstance(group, tg_updates.TelegramText) and not group.private
    assert tg_updates.parse_update({"message": {"chat": {"id": 5}, "text": "hello"}}) is None  # nothing to dedupe by
    assert tg_updates.parse_update({"message": {"message_id": 1, "chat": {"id": 5}, "text": "/help"}}) is None
    # An old message's button: no message in the query, the sender's id is the chat.
    assert tg_updates.parse_update({"callback_query": {"id": "q", "from": {"id": 7}, "data": "x"}}) == tg_updates.TelegramCallback("q", 7, None, "x")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=20,
)


@given(st.one_of(_json, st.fixed_dictionaries({"callback_query": _json}), st.fixed_dictionaries({"message": _json})))
def test_parse_update_never_raises(data: Any) -> None:
    result = tg_updates.parse_update(data)
    assert result is None or isinstance(result, tg_updates.TelegramCallback | tg_updates.TelegramStart
                                         | tg_updates.TelegramText)


def test_retry_after_seconds_handles_int_and_timedelta() -> None:
    assert tg_sender.retry_after_seconds(7) == 7.0
    assert tg_sender.retry_after_seconds(timedelta(seconds=2.5)) == 2.5


# --- against the sandbox ------------------------------------------------------------------------


async def test_send_message_with_keyboard_and_no_link_preview(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg), started(sender_of(cfg, "telegram", "")) as sender:
        result = await sender.send(outbound("telegram", CHAT, language="en"))
        (rec,) = sb.messages("telegram")
        assert result.provider_id == str(rec.seq)
        assert rec.text is not None and rec.text.endswith(f"/r/{REPLY_TOKEN}")
        buttons = rec.data["reply_markup"]["inline_keyboard"][0]
        assert [(b["text"], b["callback_data"]) for b in buttons] == [
            ("I'm safe", f"safe:{REPLY_TOKEN}"), ("I need help", f"need_help:{REPLY_TOKEN}"),
        ]
        # A preview would fetch the reply URL and mark the household "read".
        assert rec.data["link_preview_options"] == {"is_disabled": True}
        assert await sender.check() == "safetynet_sandbox_bot"


async def test_retry_after_pauses_the_whole_channel(tmp_path: Path) -> None:
    clock = FakeClock()
    async with running_sandbox(tmp_path, fail_429=1.0, retry_after=30) as (sb, cfg):
        async with started(sender_of(cfg, "telegram", clock=clock)) as sender:
            with pytest.raises(RetryableSendError) as first:
                await sender.send(outbound("telegram", CHAT))
            assert (first.value.reason, first.value.retry_after) == ("rate_limited", 30.0)
            sb.faults.update({"fail_429": 0.0})
            # Another chat, same channel: refused without calling Telegram while paused.
            await clock.advance(10)
            with pytest.raises(RetryableSendError) as paused:
                await sender.send(outbound("telegram", "5550002"))
            assert paused.value.retry_after == pytest.approx(20.0)
            assert sb.stats["channels"]["telegram"] == {"429_injected": 1}
            await clock.advance(20)
            await sender.send(outbound("telegram", "5550002"))
            assert sb.stats["channels"]["telegram"] == {"429_injected": 1, "ok": 1}


async def test_retry_after_raises_no_warning_when_the_deployer_did_not_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without PTB_TIMEDELTA, PTB warns while constructing RetryAfter; the sender opts in at start.
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    async with running_sandbox(tmp_path, fail_429=1.0, retry_after=4) as (_, cfg), started(sender_of(cfg, "telegram", "")) as sender:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RetryableSendError) as err:
                await sender.send(outbound("telegram", CHAT))
        assert err.value.retry_after == 4.0


async def test_blocked_bot_and_unknown_chat_are_dead(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path, dead={"5550009"}) as (_, cfg), started(sender_of(cfg, "telegram", "")) as sender:
        with pytest.raises(PermanentSendError) as blocked:
            await sender.send(outbound("telegram", "5550009"))
        assert (blocked.value.reason, blocked.value.contact_dead, blocked.value.error_class) == ("blocked", True, "Forbidden")
        with pytest.raises(PermanentSendError) as bad:
            await sender.send(outbound("telegram", "@someone"))
        assert (bad.value.reason, bad.value.contact_dead) == ("chat_not_found", True)
        with pytest.raises(PermanentSendError) as zero:
            await sender.send(outbound("telegram", "0"))
        assert (zero.value.reason, zero.value.error_class) == ("chat_not_found", "BadRequest")


@pytest.mark.parametrize("text", [" ", "x" * 4097])
async def test_empty_or_too_long_text_is_a_bad_request(tmp_path: Path, text: str) -> None:
    async with running_sandbox(tmp_path) as (_, cfg), started(sender_of(cfg, "telegram", "")) as sender:
        with pytest.raises(PermanentSendError) as err:
            await sender.send(outbound("telegram", CHAT, text=text))
        assert (err.value.reason, err.value.contact_dead) == ("bad_request", False)


async def test_server_error_timeout_and_bad_token(tmp_path: Path) -> None:
    env = {"SAFETYNET_CHANNELS_TELEGRAM_TIMEOUT_SECONDS": "0.1"}
    async with running_sandbox(tmp_path, env=env, fail_5xx=1.0) as (sb, cfg), started(sender_of(cfg, "telegram", "")) as sender:
        with pytest.raises(RetryableSendError) as down:
            await sender.send(outbound("telegram", CHAT))
        assert (down.value.reason, down.value.outcome_unknown) == ("server_error", True)
        sb.faults.update({"fail_5xx": 0.0, "latency_ms": 1000})
        with pytest.raises(RetryableSendError) as slow:
            await sender.send(outbound("telegram", CHAT))
        assert (slow.value.reason, slow.value.outcome_unknown, slow.value.error_class) == ("timeout", True, "TimedOut")
    async with running_sandbox(tmp_path, env={"SAFETYNET_TELEGRAM_BOT_TOKEN": "123456:wrong-token-value"}) as (_, cfg):
        async with started(sender_of(cfg, "telegram", "")) as sender:
            with pytest.raises(PermanentSendError) as token:
                await sender.send(outbound("telegram", CHAT))
            assert (token.value.reason, token.value.error_class) == ("configuration", "InvalidToken")
            assert "wrong-token-value" not in token.value.provider_answer


async def test_button_press_reaches_the_webhook_and_is_acknowledged(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path) as (sb, cfg):
        async with started(sender_of(cfg, "telegram", "")) as sender:
            hooks.telegram_sender = sender
            await sender.set_webhook(tg_updates.webhook_url(hooks.url), tg_updates.webhook_secret(cfg.secrets.secret_key))
            assert sb.fake("telegram").webhook == (f"{hooks.url}/hooks/telegram", tg_updates.webhook_secret(SECRET_KEY))
            await sender.send(outbound("telegram", CHAT))
            result = await sb.fake("telegram").press(int(CHAT), "need_help")
            assert result.status == 200
            (hit,) = hooks.at("/hooks/telegram")
            assert hit.valid
            update = tg_updates.parse_update(hit.json)
            assert isinstance(update, tg_updates.TelegramCallback)
            assert tg_updates.parse_callback_data(update.data) == ("need_help", REPLY_TOKEN)
            answers = [r for r in sb.records if r.kind == "answer_callback"]
            assert [a.text for a in answers] == ["「助けが必要」と記録しました。町会・市の担当者が確認します。"]
            (msg,) = sb.messages("telegram")
            (edit,) = msg.data["edits"]
            assert edit["text"].startswith("【訓練】") and edit["text"].endswith(
                "✅ 「助けが必要」と記録しました。町会・市の担当者が確認します。\n命に関わるときは、すぐに119番へ電話してください。安全な場所で待ってください。")
            assert edit["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"safe:{REPLY_TOKEN}"
            # The resident changes the answer with the "change" button; pressing it again is harmless.
            await sb.fake("telegram").press(int(CHAT), "safe")
            assert msg.data["edits"][-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"need_help:{REPLY_TOKEN}"
            # the answer shown is the latest alone: no 119 left from the earlier one, nothing piling up
            changed = msg.data["edits"][-1]["text"]
            assert changed.count("✅") == 1 and changed.endswith("✅ 「無事」と記録しました。") and "119" not in changed
            assert await sender.show_recorded(tg_updates.TelegramCallback("q", int(CHAT), msg.seq, f"safe:{REPLY_TOKEN}", msg.text or ""), "safe", REPLY_TOKEN, "ja")


async def test_webhook_without_the_secret_is_refused(tmp_path: Path) -> None:
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path) as (sb, cfg):
        async with started(sender_of(cfg, "telegram", "")) as sender:
            await sender.set_webhook(tg_updates.webhook_url(hooks.url), "not-the-secret")
            assert (await sb.fake("telegram").start(5550003, "CODE1")).status == 403
            await sender.set_webhook(tg_updates.webhook_url(hooks.url), tg_updates.webhook_secret(cfg.secrets.secret_key))
            assert (await sb.fake("telegram").start(5550003, "CODE1")).status == 200
        start = tg_updates.parse_update(hooks.at("/hooks/telegram")[-1].json)
        assert start == tg_updates.TelegramStart(5550003, "CODE1")


async def test_aiohttp_request_leaves_a_shared_session_open() -> None:
    async with aiohttp.ClientSession() as session:
        req = AiohttpRequest(session)
        await req.initialize()
        await req.shutdown()
        assert not session.closed
    own = AiohttpRequest()
    await own.initialize()
    await own.shutdown()
    with pytest.raises(RuntimeError):
        await own.do_request("http://127.0.0.1:9/x", "POST")


async def test_the_sandbox_can_press_a_button_for_any_token(tmp_path: Path) -> None:
    """For the app's tests: a press carrying a token that was never sent to this chat."""
    async with WebhookRecorder() as hooks, running_sandbox(tmp_path, app_url=hooks.url) as (sb, _):
        assert (await sb.fake("telegram").forged_press(5550004, "safe", "SomeoneElsesTokenXXXXX")).status == 200
        update = tg_updates.parse_update(hooks.at("/hooks/telegram")[0].json)
        assert isinstance(update, tg_updates.TelegramCallback) and update.message_id is None
        assert tg_updates.parse_callback_data(update.data) == ("safe", "SomeoneElsesTokenXXXXX")
