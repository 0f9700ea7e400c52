"""The shared channel contract: error family, Retry-After parsing, the registry."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from channel_helpers import write_config

from safetynet.channels import registry
from safetynet.channels.base import (
    PermanentSendError,
    Reason,
    RetryableSendError,
    SendError,
    parse_retry_after,
)
from safetynet.config import channel_contexts, load_config


def test_error_family() -> None:
    r = RetryableSendError(Reason.RATE_LIMITED, retry_after=2.5, error_class="X")
    p = PermanentSendError(Reason.INVALID_NUMBER, contact_dead=True)
    assert isinstance(r, SendError) and isinstance(p, SendError)
    assert (r.retryable, r.reason, r.retry_after, r.outcome_unknown, r.contact_dead) == (True, "rate_limited", 2.5, False, False)
    assert (p.retryable, p.reason, p.contact_dead) == (False, "invalid_number", True)
    assert isinstance(p.reason, str) and p.reason == "invalid_number"


def test_reasons_are_a_closed_set() -> None:
    assert {r.value for r in Reason} == {
        "rate_limited", "server_error", "timeout", "network", "invalid_number", "not_mobile", "unsubscribed",
        "blocked", "chat_not_found", "subscription_gone", "bad_request", "configuration", "no_such_address",
    }


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date() -> None:
    now = 1_790_000_000.0
    when = format_datetime(datetime.fromtimestamp(now + 90, UTC), usegmt=True)
    assert parse_retry_after(when, now=now) == pytest.approx(90.0)


def test_build_senders_builds_only_enabled_channels(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    env = {"SAFETYNET_CHANNELS_VOICE_ENABLED": "false", "SAFETYNET_CHANNELS_TELEGRAM_ENABLED": "0"}
    cfg = load_config(path, env=env)
    senders = registry.build_senders(channel_contexts(cfg, public_url="https://safety.example.jp"))
    assert set(senders) == set(registry.names()) - {"voice", "telegram"}
    assert all(sender.name == channel for channel, sender in senders.items())
    # The web push sender made the VAPID key in the data folder.
    assert (tmp_path / "var" / "vapid_private.pem").exists()


async def test_a_batch_logs_its_request_and_each_failure_and_a_request_failure_is_everyones() -> None:
    from collections.abc import Sequence

    import structlog.testing
    from channel_helpers import outbound

    from safetynet.channels.base import BatchOutcome, OutboundMessage, SendResult, send_batch_logged

    msgs = [outbound("sms", f"+81900000000{i}", delivery_id=i) for i in range(3)]

    async def per_recipient(batch: Sequence[OutboundMessage]) -> list[BatchOutcome]:
        return [SendResult(f"p{m.delivery_id}") if m.delivery_id != 1 else
                PermanentSendError(Reason.BLOCKED, contact_dead=True) for m in batch]

    async def whole_request_fails(batch: Sequence[OutboundMessage]) -> list[BatchOutcome]:
        raise RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=True)

    with structlog.testing.capture_logs() as logs:
        got = await send_batch_logged("sms", msgs, per_recipient)
        failed = await send_batch_logged("sms", msgs, whole_request_fails)
    assert [isinstance(o, SendResult) for o in got] == [True, False, True]
    assert all(isinstance(o, RetryableSendError) for o in failed) and len(failed) == 3
    lines = [(e["delivery_id"], e["outcome"], e["log_level"]) for e in logs if e["event"] == "delivery_attempt"]
    # a sent recipient only at debug level (its attempt row is the record); every failure at info
    assert lines == [(0, "sent", "debug"), (1, "permanent", "info"), (2, "sent", "debug"),
                     (0, "retryable", "info"), (1, "retryable", "info"), (2, "retryable", "info")]
    batches = [(e["batch"], e["sent"], e["failed"], e["first_delivery_id"], e["last_delivery_id"])
               for e in logs if e["event"] == "delivery_batch"]
    assert batches == [(3, 2, 1, 0, 2), (3, 0, 3, 0, 2)]
    assert all("address" not in e and "text" not in e for e in logs)
