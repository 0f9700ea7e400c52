"""A sandbox record sized for a whole city: a listener, a bounded list, Telegram messages kept.

A city-wide drill puts some 300,000 messages in the sandbox; kept whole, they cost the sandbox's
process about a gigabyte. This subclass hands every new record to a listener as it is added (the
residents need no list to follow) and lets the list keep only the most recent records
(`max_records`; the sandbox trims it and its indexes). The app still edits a Telegram message after
each button press, possibly long after it was sent, so the latest Telegram message per chat and per
provider id is kept aside for those lookups. Everything else is the sandbox's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from safetynet.channels.fakes import Record
from safetynet.sandbox.state import Faults, SandboxState

# Kept past the list's trimming: the Telegram message a button press edits.
_INDEXED = frozenset({"telegram"})


class IndexedSandboxState(SandboxState):
    def __init__(self, faults: Faults | None = None, max_records: int = 2_000_000,
                 listener: Callable[[Record], None] | None = None, compact: bool = False) -> None:
        super().__init__(faults, max_records)
        self.listener = listener
        # Once the listener has read a Telegram message, keep only what an edit needs (its edits).
        self.compact = compact
        self._tg_latest: dict[tuple[str, str, str], Record] = {}
        self._tg_by_provider: dict[tuple[str, str], Record] = {}

    def add(self, channel: str, kind: str, address: str, text: str | None, provider_id: str,
            data: dict[str, Any], seq: int | None = None) -> Record:
        rec = super().add(channel, kind, address, text, provider_id, data, seq)
        if channel in _INDEXED:
            self._tg_latest[(channel, address, kind)] = rec
            self._tg_by_provider[(provider_id, kind)] = rec
        if self.listener is not None:
            self.listener(rec)
            if self.compact and channel in _INDEXED and kind == "message":
                rec.text = None
                rec.data = {"edits": data.get("edits", [])}
        return rec

    def find(self, channel: str, address: str, kind: str = "message") -> Record | None:
        if channel in _INDEXED:
            return self._tg_latest.get((channel, address, kind))
        return super().find(channel, address, kind)

    def by_provider_id(self, provider_id: str, kind: str = "message") -> Record | None:
        return self._tg_by_provider.get((provider_id, kind)) or super().by_provider_id(provider_id, kind)

    def reset(self) -> None:
        super().reset()
        self._tg_latest.clear()
        self._tg_by_provider.clear()


def use_indexed_state(sandbox: Any, max_records: int = 2_000_000, listener: Callable[[Record], None] | None = None,
                      compact: bool = False) -> IndexedSandboxState:
    """Swaps a `Sandbox`'s state for the indexed one; call before `start()` (nothing recorded yet)."""
    state = IndexedSandboxState(sandbox.state.faults, max_records, listener, compact)
    sandbox.state = state
    sandbox.ctx.state = state
    return state
