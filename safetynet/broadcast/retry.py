"""Retry policy (pure): what to do after a failed attempt, and when.

The decision depends only on the attempt number and the classified error, so it is table-tested.
Short waits are slept on in memory (inline, with tenacity); longer ones go back to the outbox as
`next_attempt_at`, so a restart loses nothing and no worker holds a lease while it waits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from safetynet.broadcast.health import CHANNEL_WIDE
from safetynet.config import BroadcastConfig
from safetynet.domain.records import quick

# Jitter only spreads retries apart; it needs no cryptographic quality.
_RNG = random.Random()


class RetryableError(Protocol):
    """What the policy reads of a channel error (channels.base.SendError fits)."""

    retryable: bool
    reason: str
    retry_after: float | None
    outcome_unknown: bool


class Action(StrEnum):
    INLINE = "inline"  # sleep `delay` here, then try again
    LATER = "later"  # persist next_attempt_at = now + delay and release the delivery
    GIVE_UP = "give_up"  # permanent, or the channel down too long: the household's next channel is tried


@quick
@dataclass(frozen=True, slots=True)
class RetryDecision:
    action: Action
    delay: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    # "Slow down" (429) says nothing about the recipient: it may take many more turns before the
    # household is given up on this channel, each after the provider's Retry-After.
    max_rate_limited_attempts: int = 30
    max_inline_seconds: float = 5.0
    # Exponential backoff: base * 2^(attempt-1), capped, plus up to `jitter_seconds` at random.
    base_seconds: float = 0.5
    max_delay_seconds: float = 300.0
    jitter_seconds: float = 0.5
    # A Retry-After is honoured, plus up to this fraction of it so a whole lane does not return at once.
    retry_after_jitter: float = 0.1
    # The provider may have accepted a message whose outcome is unknown (5xx, timeout after the
    # POST left). Retrying at once risks a duplicate SMS; waiting this long lets status callbacks
    # and a reply arrive first, and the retry is never inline.
    unknown_outcome_seconds: float = 30.0
    # A send with no answer after this many times the channel's own request timeout (plus the
    # margin: a mail's several round trips, a child process's queue) is stuck, not slow: it fails
    # as a timeout of the channel, and whatever serves it is replaced (QA: a stopped web-push worker
    # held 268 households for minutes, everything looking fine).
    send_deadline_factor: float = 3.0
    send_deadline_margin_seconds: float = 5.0
    # While the channel as a whole fails (`LaneHealth`: attempts in a row fail for a reason of the
    # channel), a failure says nothing about the household: its delivery waits for the channel to
    # come back instead of spending its attempts (QA: a 45 s outage made 40 of 40 households
    # 連絡不能, or sent ~300 push households to paid SMS). The lane probes the channel with one send
    # at a time, one every `probe_seconds`; the others wait in the outbox, their attempts untouched.
    # Once the channel has failed for `outage_wait_seconds`, deliveries fall back as before.
    probe_seconds: float = 5.0
    outage_wait_seconds: float = 120.0

    @classmethod
    def from_config(cls, cfg: BroadcastConfig) -> RetryPolicy:
        return cls(max_attempts=cfg.max_attempts, max_inline_seconds=cfg.max_inline_retry_seconds)

    def send_deadline(self, timeout_seconds: float) -> float:
        """How long one provider attempt may take before it counts as stuck."""
        return self.send_deadline_factor * max(0.0, timeout_seconds) + self.send_deadline_margin_seconds

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        r = rng or _RNG
        return min(self.max_delay_seconds, self.base_seconds * 2 ** max(0, attempt - 1)) + r.uniform(
            0, self.jitter_seconds
        )

    def decide(
        self, attempt: int, error: RetryableError, rng: random.Random | None = None, duplicate_safe: bool = False,
        failing_for: float | None = None,
    ) -> RetryDecision:
        """After attempt number `attempt` (1-based, counting every attempt so far) failed with `error`.

        `duplicate_safe`: a second copy does no harm on this channel (a web push with the same Topic
        replaces the first on the device), so an unknown outcome is retried like any blip.
        `failing_for`: how long the channel has been failing as a whole (None: it is not)."""
        if not error.retryable:
            return RetryDecision(Action.GIVE_UP, reason="permanent")
        if failing_for is not None and error.reason in CHANNEL_WIDE:
            if failing_for >= self.outage_wait_seconds:
                return RetryDecision(Action.GIVE_UP, reason="channel_down")
            delay = self.probe_seconds
            if error.outcome_unknown and not duplicate_safe:
                delay = max(delay, self.unknown_outcome_seconds)
            return RetryDecision(Action.LATER, delay, "channel_failing")
        limit = self.max_rate_limited_attempts if error.reason == "rate_limited" else self.max_attempts
        if attempt >= limit:
            return RetryDecision(Action.GIVE_UP, reason="attempts_exhausted")
        r = rng or _RNG
        if error.retry_after is not None:
            ra = max(0.0, float(error.retry_after))
            delay = min(self.max_delay_seconds, ra + r.uniform(0, ra * self.retry_after_jitter))
            reason = "retry_after"
        else:
            delay, reason = self.backoff(attempt, r), "backoff"
        if error.outcome_unknown and not duplicate_safe:
            return RetryDecision(Action.LATER, max(delay, self.unknown_outcome_seconds), "outcome_unknown")
        action = Action.INLINE if delay <= self.max_inline_seconds else Action.LATER
        return RetryDecision(action, delay, reason)
