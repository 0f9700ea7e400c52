"""Twilio's status callbacks (messages and calls) to our closed set of delivery states. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatusCallback:
    provider_id: str
    state: str  # sent | delivered | undelivered | failed
    error_code: int | None


# Twilio message statuses to our closed set. Inbound-only statuses (receiving, received) are absent.
MESSAGE_STATES: dict[str, str] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    # Some parts did not arrive; the reply link may be in the lost part, so the ladder goes on.
    "partially_delivered": "undelivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# Twilio call statuses: answered means delivered; busy/no-answer are worth another try.
CALL_STATES: dict[str, str] = {
    "queued": "sent",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "delivered",
    "answered": "delivered",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "canceled": "failed",
    "failed": "failed",
}
# Out-of-order callbacks keep the highest rank; equal ranks keep what was recorded first.
STATE_RANK: dict[str, int] = {"sent": 1, "undelivered": 2, "failed": 2, "delivered": 3}


def error_code(params: Mapping[str, str]) -> int | None:
    raw = params.get("ErrorCode") or ""
    return int(raw) if raw.isdigit() else None


def parse_status(params: Mapping[str, str]) -> StatusCallback | None:
    """A message status callback; None when the status says nothing about delivery."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    state = MESSAGE_STATES.get((params.get("MessageStatus") or params.get("SmsStatus") or "").lower())
    if not sid or state is None:
        return None
    return StatusCallback(sid, state, error_code(params))


def parse_call_status(params: Mapping[str, str]) -> StatusCallback | None:
    """A call status callback (it carries CallSid/CallStatus, where a message's carries MessageSid)."""
    sid = params.get("CallSid") or ""
    state = CALL_STATES.get((params.get("CallStatus") or "").lower())
    if not sid or state is None:
        return None
    return StatusCallback(sid, state, error_code(params))


def parse_any_status(params: Mapping[str, str]) -> StatusCallback | None:
    """A message's or a call's status callback (both go to `/hooks/twilio/status`)."""
    if "MessageSid" in params or "SmsSid" in params:
        return parse_status(params)
    return parse_call_status(params)


def merge_status(old: str | None, new: str) -> str:
    """The state to keep when `new` arrives after `old` (callbacks are not ordered)."""
    if old is None or STATE_RANK.get(new, 0) > STATE_RANK.get(old, 0):
        return new
    return old
