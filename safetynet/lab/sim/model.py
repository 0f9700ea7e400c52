"""How simulated residents behave (pure): who answers, what, when, and on which rung of the ladder.

Decisions are a deterministic function of (seed, household id), so a rehearsal can be repeated.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from safetynet.channels import registry
from safetynet.domain import ChannelName, Status


@dataclass(frozen=True)
class ResidentModel:
    """Shares are fractions of households; delays are in simulated seconds."""

    answer_share: float = 0.8
    need_help_share: float = 0.03  # of the households that answer
    late_share: float = 0.1  # of those that answer: only after an SMS or a call
    delay_mode_seconds: float = 120.0  # log-normal mode: national drills see most answers in ~2 min
    delay_sigma: float = 0.9
    max_delay_seconds: float = 1500.0
    time_compression: float = 1.0  # 60 = one simulated minute per real second
    seed: int = 1
    # Households whose every channel fails (a dead phone, a blocked bot): the demo tells the sandbox
    # to refuse their contacts, so they fall back along the ladder and end on the door-knock list.
    no_channel_share: float = 0.0
    # Of the households that answer on the reply page or a push: share that also reports being at a
    # shelter (the location question of an evacuation drill); the rest report nothing extra.
    shelter_share: float = 0.0

    def __post_init__(self) -> None:
        for name in ("answer_share", "need_help_share", "late_share", "no_channel_share", "shelter_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:  # NaN fails this too
                raise ValueError(f"simulation.{name} must be between 0 and 1, got {v}")
        spans = (self.delay_mode_seconds, self.delay_sigma, self.max_delay_seconds, self.time_compression)
        if not all(math.isfinite(v) and v > 0 for v in spans):
            raise ValueError("simulation delays and time_compression must be positive numbers")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> ResidentModel:
        known = set(cls.__dataclass_fields__)
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"simulation: unknown key {sorted(unknown)[0]}")
        values: dict[str, Any] = {}
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"simulation.{key} must be a number, got {value!r}")
            if key == "seed":
                if not isinstance(value, int):
                    raise ValueError(f"simulation.seed must be an integer, got {value!r}")
                values[key] = value
            else:
                values[key] = float(value)  # TOML writes 120 for 120.0
        return cls(**values)


@dataclass(frozen=True)
class Intent:
    """What one household will do when a message reaches it."""

    answers: bool
    status: Status
    delay_seconds: float  # simulated seconds after the message arrives
    late: bool  # ignores app channels; answers an SMS or a call
    at_shelter: bool = False  # reports location=shelter with a web or push answer


def _rng(model: ResidentModel, household_id: int) -> random.Random:
    return random.Random(model.seed * 1_000_003 + household_id)


def intent_of(model: ResidentModel, household_id: int) -> Intent:
    rng = _rng(model, household_id)
    answers = rng.random() < model.answer_share
    status = Status.NEED_HELP if rng.random() < model.need_help_share else Status.SAFE
    late = rng.random() < model.late_share
    # log-normal with the given mode: mode = exp(mu - sigma^2)
    mu = math.log(model.delay_mode_seconds) + model.delay_sigma**2
    delay = min(rng.lognormvariate(mu, model.delay_sigma), model.max_delay_seconds)
    # Drawn after the original four, so adding it changed no earlier decision of a seed.
    at_shelter = rng.random() < model.shelter_share
    return Intent(answers=answers, status=status, delay_seconds=delay, late=late, at_shelter=at_shelter)


def has_no_channel(model: ResidentModel, household_id: int) -> bool:
    """Whether every contact of the household is dead (its own dice, independent of the answer)."""
    if model.no_channel_share <= 0:
        return False
    return random.Random(model.seed * 7_000_003 + household_id).random() < model.no_channel_share


_FREE = frozenset(registry.free())


def reaction(model: ResidentModel, household_id: int, channel: ChannelName) -> tuple[Status, float] | None:
    """What the household does on receiving a message on `channel`: (answer, real seconds to wait) or None."""
    return react(model, intent_of(model, household_id), channel)


def react(model: ResidentModel, intent: Intent, channel: ChannelName) -> tuple[Status, float] | None:
    """`reaction` for an intent already drawn (drawing one seeds a generator: do it once a message)."""
    if not intent.answers:
        return None
    if intent.late and channel in _FREE:  # a late answerer ignores the apps; an SMS or a call reaches them
        return None
    return intent.status, intent.delay_seconds / model.time_compression
