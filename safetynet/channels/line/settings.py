"""`[channels.line]`."""

from __future__ import annotations

from dataclasses import dataclass

from safetynet.channels.base import ProviderSettings


@dataclass(frozen=True)
class LineSettings(ProviderSettings):
    # Requests a second (one multicast carries up to 500 households); LINE allows 2,000 a second
    # for push and multicast, a city's lane stays well below.
    max_per_second: float = 100.0
    concurrency: int = 8
