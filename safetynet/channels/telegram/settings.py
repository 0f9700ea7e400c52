"""`[channels.telegram]`."""

from __future__ import annotations

from dataclasses import dataclass

from safetynet.channels.base import ProviderSettings


@dataclass(frozen=True)
class TelegramSettings(ProviderSettings):
    max_per_second: float = 25.0
    concurrency: int = 8
