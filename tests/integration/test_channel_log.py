"""The delivery log: one `delivery_attempt` line per attempt on every channel, with nothing personal or secret in it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import structlog
from channel_helpers import REPLY_TOKEN, SECRET_KEY, outbound, running_sandbox

from safetynet.channels.base import OutboundMessage, Redactor, SendError
from safetynet.domain import ChannelName
from safetynet.system import build_senders

DEAD_PHONE = "+819087654321"
DEAD_CHAT = "987654321"
REQUIRED = {"channel", "delivery_id", "campaign_id", "outcome", "duration_ms"}


def _assert_clean(entries: list[Any], forbidden: list[str]) -> None:
    text = json.dumps(entries, ensure_ascii=False, default=str)
    for secret in forbidden:
        assert secret not in text, f"{secret!r} leaked into the delivery log"
    # No run of 8+ digits: a phone number or a chat id, whatever its formatting.
    assert not re.search(r"\d{8,}", re.sub(r"SM0{5,}\w+|CA0{5,}\w+", "", text))


async def test_every_channel_logs_each_attempt_without_personal_data(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sb, cfg):
        senders = build_senders(cfg)
        for s in senders.values():
            await s.start()
        try:
            wp = senders["webpush"]
            good_sub, dead_sub = (sb.fake("webpush").subscribe(wp.keys.application_server_key) for _ in range(2))  # type: ignore[attr-defined]
            sb.faults.dead.update({DEAD_PHONE, DEAD_CHAT, dead_sub["endpoint"].rsplit("/", 1)[1]})
            cases: dict[ChannelName, tuple[str, str]] = {
                "webpush": (json.dumps(good_sub), json.dumps(dead_sub)),
                "telegram": ("5550001", DEAD_CHAT),
                "sms": ("+819012345678", DEAD_PHONE),
                "voice": ("+81312345678", DEAD_PHONE),
            }
            with structlog.testing.capture_logs() as logs:
                for channel, (ok, dead) in cases.items():
                    await senders[channel].send(outbound(channel, ok, delivery_id=1))
                    with pytest.raises(SendError):
                        await senders[channel].send(outbound(channel, dead, delivery_id=2))
        finally:
            for s in senders.values():
                await s.close()
    attempts = [e for e in logs if e["event"] == "delivery_attempt"]
    assert [(e["channel"], e["delivery_id"], e["outcome"]) for e in attempts] == [
        (ch, d, o) for ch in cases for d, o in ((1, "sent"), (2, "permanent"))
    ]
    for e in attempts:
        assert REQUIRED <= e.keys() and e["campaign_id"] == 7 and e["duration_ms"] >= 0
        if e["outcome"] == "permanent":
            assert e["reason"] and e["error_class"] and e["contact_dead"] is True and e["provider_answer"]
    forbidden = [
        DEAD_PHONE, DEAD_PHONE[1:], "+819012345678", "+81312345678", DEAD_CHAT, "5550001",
        REPLY_TOKEN, SECRET_KEY, cfg.secrets.twilio_auth_token, cfg.secrets.telegram_bot_token,
        good_sub["endpoint"], dead_sub["endpoint"], dead_sub["endpoint"].rsplit("/", 1)[1],
        good_sub["keys"]["auth"], dead_sub["keys"]["p256dh"],
    ]
    _assert_clean(attempts, forbidden)
    # The provider's own words survive, minus the personal parts.
    sms_dead = next(e for e in attempts if e["channel"] == "sms" and e["outcome"] == "permanent")
    assert "not a valid phone number" in sms_dead["provider_answer"] and "*****4321" in sms_dead["provider_answer"]


def test_redactor_removes_secrets_urls_and_numbers() -> None:
    redact = Redactor(["sandbox-auth-token", "123456:sandbox-bot-token", "abc"])
    text = redact(
        "POST http://127.0.0.1:8090/bot123456:sandbox-bot-token/sendMessage failed for +81 90-1234-5678 "
        "with token sandbox-auth-token; see https://fcm.googleapis.com/fcm/send/SECRETPATH and /r/AbCdEfGhIjKl abc"
    )
    assert "sandbox-auth-token" not in text and "sandbox-bot-token" not in text
    assert "SECRETPATH" not in text and "https://fcm.googleapis.com/…" in text
    assert "1234-5678" not in text and "5678" in text
    assert "AbCdEfGhIjKl" not in text
    assert text.endswith("abc")  # too short to be a credential: left alone
    assert len(redact("x" * 5000)) <= 300


async def test_an_unexpected_exception_is_logged_as_error_and_propagates() -> None:
    from safetynet.channels.base import send_logged

    async def boom(msg: OutboundMessage) -> Any:
        raise KeyError("bug")

    with structlog.testing.capture_logs() as logs, pytest.raises(KeyError):
        await send_logged("sms", outbound("sms", "+819012345678"), boom)
    (entry,) = logs
    assert (entry["event"], entry["outcome"], entry["error_class"], entry["log_level"]) == (
        "delivery_attempt", "error", "KeyError", "warning",
    )


async def test_a_provider_url_id_is_logged_as_its_origin_only() -> None:
    from safetynet.channels.base import SendResult, send_logged

    async def pushed(msg: OutboundMessage) -> SendResult:
        return SendResult("https://fcm.googleapis.com/fcm/0:1700000000%SECRETMESSAGEID")

    with structlog.testing.capture_logs() as logs:
        result = await send_logged("webpush", outbound("webpush", "{}"), pushed)
    assert result.provider_id and "SECRETMESSAGEID" in result.provider_id  # the dispatcher gets it whole
    assert logs[0]["provider_id"] == "https://fcm.googleapis.com/…"


async def test_a_cancelled_attempt_is_logged_as_cancelled() -> None:
    import asyncio

    from safetynet.channels.base import send_logged

    started = asyncio.Event()

    async def hangs(msg: OutboundMessage) -> Any:
        started.set()
        await asyncio.Event().wait()

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(send_logged("sms", outbound("sms", "+819012345678"), hangs))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [(e["outcome"], e["log_level"]) for e in logs] == [("cancelled", "info")]
