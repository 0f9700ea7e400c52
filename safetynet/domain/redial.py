"""Calling again within a step: a call that rang out (busy, no answer) is redialled a few minutes on. Pure.

After an earthquake the lines are congested (輻輳) and an elderly resident is slow to the phone: one
call a step sent a landline-only household to the door-knock list after two rings out. A call that
rang out is placed again on the same outbox row, `after_seconds` later, at most `redials` times, and
never once the household has answered, the campaign is no longer running, or the redial would come
at or after the ladder step whose own call replaces it. A call answered with no key pressed is not
redialled: someone picked up (its callback says `completed`, which is delivered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safetynet.domain.vocabulary import ChannelName

if TYPE_CHECKING:  # campaigns names the rule in its routes
    from safetynet.domain.campaigns import LadderStep

# The delivery state a call that rang out is given (Twilio's busy and no-answer); `failed` is a number
# that does not work, which another ring would not change.
REDIALLED_STATE = "undelivered"
# The error a queued redial is dropped with when the step that replaces it has been planned.
REPLACED_ERROR = "next_step"


@dataclass(frozen=True, slots=True)
class RedialRule:
    """`[channels.voice] redial_after_seconds, redials`: how long after a call rang out it is placed
    again, and how many times at most within one step."""

    after_seconds: float = 300.0
    redials: int = 2


def replacing_step(ladder: Sequence[LadderStep], step: int, channel: ChannelName) -> int | None:
    """The index of the first later step that sends on `channel` (as a channel or a fallback) or makes
    the door-knock list: its own message replaces a redial of step `step`. None: no later step does."""
    for i in range(step + 1, len(ladder)):
        later = ladder[i]
        if later.door_knock or channel in later.channels or channel in later.fallback:
            return i
    return None


def replacing_step_due(ladder: Sequence[LadderStep], step: int, channel: ChannelName, started_at: float,
                       paused_seconds: float = 0.0) -> float | None:
    """When the step that replaces a redial of step `step` is due (as the ladder counts it: from the start,
    plus the time a drill was paused), or None when no later step does."""
    index = replacing_step(ladder, step, channel)
    return None if index is None else started_at + paused_seconds + ladder[index].after_seconds


def redial_at(rule: RedialRule | None, *, state: str, redials_done: int, now: float, answered: bool,
              running: bool, replaced_at: float | None) -> float | None:
    """When to place the call again after it ended in `state` at `now`, or None (the step goes on as
    before: its next channel, or nothing). `redials_done`: redials already placed for this row in this
    step; `replaced_at`: when the step that replaces it is due (None: no such step)."""
    if rule is None or rule.redials <= 0 or state != REDIALLED_STATE:
        return None
    if answered or not running or redials_done >= rule.redials:
        return None
    at = now + max(0.0, rule.after_seconds)
    if replaced_at is not None and at >= replaced_at:
        return None
    return at


def replaced(ladder: Sequence[LadderStep], step: int, channel: ChannelName, next_step: int) -> bool:
    """Whether a redial queued for `step` is obsolete: the ladder has planned (`next_step` is past) the
    step whose own call replaces it."""
    index = replacing_step(ladder, step, channel)
    return index is not None and index < next_step
