"""A sandbox record with indexes, for runs of a whole city in one sandbox.

`SandboxState.find` and `by_provider_id` scan the record backwards. The app edits a Telegram
message after every button press (to show the recorded answer), and the sandbox finds that message
with `by_provider_id`: over a city's 300,000 records each press would cost a full scan. This
subclass keeps the latest record per (channel, address, kind) and per (provider id, kind), so both
lookups are one dict access; everything else is the sandbox's own.
"""

from __future__ import annotations

from typing import Any

from safetynet.channels.sandbox.state import Faults, Record, SandboxState


class IndexedSandboxState(SandboxState):
    def __init__(self, faults: Faults | None = None, max_records: int = 2_000_000) -> None:
        super().__init__(faults, max_records)
        self._latest: dict[tuple[str, str, str], Record] = {}
        self._by_provider: dict[tuple[str, str], Record] = {}

    def add(self, channel: str, kind: str, address: str, text: str | None, provider_id: str,
            data: dict[str, Any], seq: int | None = None) -> Record:
        rec = super().add(channel, kind, address, text, provider_id, data, seq)
        self._latest[(channel, address, kind)] = rec
        self._by_provider[(provider_id, kind)] = rec
        return rec

    def find(self, channel: str, address: str, kind: str = "message") -> Record | None:
        return self._latest.get((channel, address, kind))

    def by_provider_id(self, provider_id: str, kind: str = "message") -> Record | None:
        return self._by_provider.get((provider_id, kind))

    def reset(self) -> None:
        super().reset()
        self._latest.clear()
        self._by_provider.clear()


def use_indexed_state(sandbox: Any) -> None:
    """Swaps a `Sandbox`'s state for the indexed one; call before `start()` (nothing recorded yet)."""
    state = IndexedSandboxState(sandbox.state.faults)
    sandbox.state = state
    sandbox.ctx.state = state
