"""The city-sized sandbox record answers lookups like the sandbox's own, feeds a listener, stays bounded."""

from __future__ import annotations

import random

from safetynet.lab.sim.indexed import IndexedSandboxState
from safetynet.sandbox.state import SandboxState


def test_lookups_agree_with_the_scanning_state() -> None:
    rng = random.Random(4)
    plain, indexed = SandboxState(), IndexedSandboxState()
    for i in range(3000):
        channel = rng.choice(["sms", "telegram", "webpush"])
        kind = rng.choice(["message", "message", "edit_message"])
        address, pid = str(rng.randrange(200)), f"{channel}:p{rng.randrange(500)}"
        for st in (plain, indexed):
            st.add(channel, kind, address, f"t{i}", pid, {"i": i}, seq=i + 1)
    for channel in ("sms", "telegram", "webpush", "voice"):
        for address in map(str, range(0, 210, 7)):
            a, b = plain.find(channel, address), indexed.find(channel, address)
            assert (a.seq if a else None) == (b.seq if b else None)
    for pid in (f"{ch}:p{n}" for n in range(0, 510, 3) for ch in ("sms", "telegram", "webpush")):
        for kind in ("message", "edit_message"):
            a, b = plain.by_provider_id(pid, kind), indexed.by_provider_id(pid, kind)
            assert (a.seq if a else None) == (b.seq if b else None)
    indexed.reset()
    assert indexed.find("sms", "1") is None and indexed.by_provider_id("telegram:p1") is None


def test_the_listener_sees_every_record_and_the_list_stays_bounded() -> None:
    seen: list[int] = []
    state = IndexedSandboxState(max_records=100, listener=lambda r: seen.append(r.seq))
    for i in range(1000):
        state.add("telegram" if i % 2 else "sms", "message", str(i % 50), "t", f"{i % 50}:{i + 1}", {}, seq=i + 1)
    assert seen == list(range(1, 1001))
    assert len(state.records) <= 100 and state.message_count == 1000
    # Telegram lookups still reach messages that left the list
    assert state.by_provider_id("1:2") is not None and state.find("telegram", "1") is not None


def test_compact_telegram_records_keep_what_an_edit_needs() -> None:
    read: list[str | None] = []
    state = IndexedSandboxState(listener=lambda r: read.append(r.text), compact=True)
    rec = state.add("telegram", "message", "5", "本文", "5:1", {"reply_markup": {"inline_keyboard": []}, "edits": []})
    assert read == ["本文"]  # the listener saw it whole
    assert rec.text is None and rec.data == {"edits": []}
    assert state.by_provider_id("5:1") is rec
