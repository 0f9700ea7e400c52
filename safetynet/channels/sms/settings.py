"""`[channels.sms]`."""

from __future__ import annotations

from dataclasses import dataclass

from safetynet.channels.base import ProviderSettings


@dataclass(frozen=True)
class SmsSettings(ProviderSettings):
    max_per_second: float = 10.0
    concurrency: int = 32
    from_number: str = "+815000000000"
    price_per_segment_jpy: float = 10.0

    def problems(self) -> list[str]:
        out = super().problems()
        if self.price_per_segment_jpy < 0:
            out.append("price_per_segment_jpy must be >= 0")
        return out
