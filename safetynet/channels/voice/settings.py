"""`[channels.voice]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safetynet.channels.base import ProviderSettings
from safetynet.domain.redial import RedialRule


@dataclass(frozen=True)
class VoiceSettings(ProviderSettings):
    max_per_second: float = 1.0
    concurrency: int = 16
    from_number: str = "+815000000000"
    price_per_call_jpy: float = 30.0
    # A call that rang out (busy, no answer: congested lines, a resident slow to the phone) is placed
    # again this long after, at most `redials` times within its ladder step; 0 redials: never.
    redial_after_seconds: float = 300.0
    redials: int = 2

    def problems(self) -> list[str]:
        out = super().problems()
        if self.price_per_call_jpy < 0:
            out.append("price_per_call_jpy must be >= 0")
        if self.redial_after_seconds < 60:
            # a phone that rang 40 s unanswered a moment ago is not answered sooner for ringing again
            out.append("redial_after_seconds must be >= 60")
        if self.redials < 0:
            out.append("redials must be >= 0 (0 means never)")
        return out

    def redial(self) -> RedialRule | None:
        return RedialRule(self.redial_after_seconds, self.redials) if self.redials > 0 else None


def estimate(settings: Any, text: str) -> tuple[int, float]:
    """(calls, yen) of one call: priced per call, whatever it says."""
    return 1, float(settings.price_per_call_jpy)
