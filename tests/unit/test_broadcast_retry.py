"""The retry policy is pure: attempt number and classified error in, decision out."""

from __future__ import annotations

import random

import pytest

from safetynet.broadcast.retry import Action, RetryPolicy
from safetynet.channels.base import PermanentSendError, Reason, RetryableSendError, SendError

POLICY = RetryPolicy(max_attempts=6, max_inline_seconds=5.0, base_seconds=0.5, jitter_seconds=0.5)


def rng() -> random.Random:
    return random.Random(7)


@pytest.mark.parametrize(
    "reason",
    [Reason.INVALID_NUMBER, Reason.NOT_MOBILE, Reason.UNSUBSCRIBED, Reason.BLOCKED, Reason.CHAT_NOT_FOUND,
     Reason.SUBSCRIPTION_GONE, Reason.BAD_REQUEST, Reason.CONFIGURATION],
)
def test_permanent_errors_give_up_at_once(reason: Reason) -> None:
    d = POLICY.decide(1, PermanentSendError(reason), rng())
    assert d.action == Action.GIVE_UP


@pytest.mark.parametrize("reason", [Reason.SERVER_ERROR, Reason.TIMEOUT, Reason.NETWORK, Reason.RATE_LIMITED])
def test_transient_errors_are_retried_inline_while_short(reason: Reason) -> None:
    d = POLICY.decide(1, RetryableSendError(reason), rng())
    assert d.action == Action.INLINE
    assert 0.5 <= d.delay <= 1.0


def test_backoff_grows_and_long_waits_go_back_to_the_outbox() -> None:
    delays = [POLICY.decide(n, RetryableSendError(Reason.SERVER_ERROR), rng()) for n in range(1, 6)]
    assert [round(d.delay - d.delay % 0.5, 1) for d in delays][:4] == [0.5, 1.0, 2.0, 4.0]
    assert [d.action for d in delays] == [Action.INLINE] * 4 + [Action.LATER]


def test_attempts_are_bounded() -> None:
    d = POLICY.decide(6, RetryableSendError(Reason.SERVER_ERROR), rng())
    assert (d.action, d.reason) == (Action.GIVE_UP, "attempts_exhausted")


@pytest.mark.parametrize(("retry_after", "action"), [(0.3, Action.INLINE), (2.0, Action.INLINE), (30.0, Action.LATER)])
def test_retry_after_is_honoured(retry_after: float, action: Action) -> None:
    for seed in range(20):
        d = POLICY.decide(1, RetryableSendError(Reason.RATE_LIMITED, retry_after=retry_after), random.Random(seed))
        assert retry_after <= d.delay <= retry_after * 1.1
        assert d.action == action
        assert d.reason == "retry_after"


def test_unknown_outcome_is_never_retried_inline() -> None:
    e = RetryableSendError(Reason.TIMEOUT, outcome_unknown=True)
    d = POLICY.decide(1, e, rng())
    assert d.action == Action.LATER
    assert d.delay >= POLICY.unknown_outcome_seconds


def test_jitter_spreads_retries() -> None:
    e: SendError = RetryableSendError(Reason.SERVER_ERROR)
    delays = {round(POLICY.decide(2, e, random.Random(s)).delay, 3) for s in range(10)}
    assert len(delays) > 5


def test_unknown_outcome_where_duplicates_are_harmless_is_a_plain_blip() -> None:
    e = RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=True)
    d = POLICY.decide(1, e, rng(), duplicate_safe=True)
    assert d.action == Action.INLINE and d.delay <= 1.0


def test_rate_limits_do_not_use_up_the_attempts() -> None:
    e = RetryableSendError(Reason.RATE_LIMITED, retry_after=1.0)
    assert POLICY.decide(6, e, rng()).action == Action.INLINE
    assert POLICY.decide(POLICY.max_rate_limited_attempts, e, rng()).action == Action.GIVE_UP


@pytest.mark.parametrize("reason", [Reason.NETWORK, Reason.TIMEOUT, Reason.SERVER_ERROR])
def test_while_the_channel_fails_a_delivery_waits_for_it_not_spending_its_attempts(reason: Reason) -> None:
    # past max_attempts, but the channel, not the household, is in trouble: wait for the next probe
    d = POLICY.decide(9, RetryableSendError(reason), rng(), duplicate_safe=True, failing_for=30.0)
    assert (d.action, d.delay, d.reason) == (Action.LATER, POLICY.probe_seconds, "channel_failing")
    late = POLICY.decide(1, RetryableSendError(reason), rng(), failing_for=POLICY.outage_wait_seconds)
    assert (late.action, late.reason) == (Action.GIVE_UP, "channel_down")


def test_while_the_channel_fails_a_household_error_still_falls_back_at_once() -> None:
    d = POLICY.decide(1, PermanentSendError(Reason.SUBSCRIPTION_GONE), rng(), failing_for=30.0)
    assert (d.action, d.reason) == (Action.GIVE_UP, "permanent")
    # a 429 is the provider's "slow down", not an outage: as before
    assert POLICY.decide(1, RetryableSendError(Reason.RATE_LIMITED), rng(), failing_for=30.0).action == Action.INLINE


def test_an_unknown_outcome_while_the_channel_fails_waits_for_callbacks_first() -> None:
    d = POLICY.decide(1, RetryableSendError(Reason.SERVER_ERROR, outcome_unknown=True), rng(), failing_for=1.0)
    assert (d.action, d.delay) == (Action.LATER, POLICY.unknown_outcome_seconds)


def test_a_send_may_take_three_times_its_channel_timeout_and_some() -> None:
    assert POLICY.send_deadline(10.0) == 35.0
