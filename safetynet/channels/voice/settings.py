"""`[channels.voice]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safetynet.channels.base import ProviderSettings


@dataclass(frozen=True)
class VoiceSettings(ProviderSettings):
    max_per_second: float = 1.0
    concurrency: int = 16
    from_number: str = "+815000000000"
    price_per_call_jpy: float = 30.0

    def problems(self) -> list[str]:
        out = super().problems()
        if self.price_per_call_jpy < 0:
            out.append("price_per_call_jpy must be >= 0")
        return out


def estimate(settings: Any, text: str) -> tuple[int, float]:
    """(calls, yen) of one call: priced per call, whatever it says."""
    return 1, float(settings.price_per_call_jpy)
