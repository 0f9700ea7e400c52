"""Each channel's simulated resident side, from the channel registry (one instance per channel)."""

from __future__ import annotations

import functools

from safetynet.channels import registry
from safetynet.channels.fakes import SimulatedResident


@functools.cache
def _sides() -> dict[str, SimulatedResident]:
    return {name: cls() for name, cls in registry.residents().items()}


def resident_of(channel: str) -> SimulatedResident | None:
    return _sides().get(channel)
