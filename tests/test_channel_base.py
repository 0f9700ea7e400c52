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
        "blocked", "chat_not_found", "subscription_gone", "bad_request", "configuration",
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
    assert set(senders) == {"webpush", "sms"}
    assert all(sender.name == channel for channel, sender in senders.items())
    # The web push sender made the VAPID key in the data folder.
    assert (tmp_path / "var" / "vapid_private.pem").exists()
