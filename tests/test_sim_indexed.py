"""The indexed sandbox record answers lookups exactly like the scanning one."""

from __future__ import annotations

import random

from safetynet.channels.sandbox.state import SandboxState
from safetynet.sim.indexed import IndexedSandboxState


def test_lookups_agree_with_the_scanning_state() -> None:
    rng = random.Random(4)
    plain, indexed = SandboxState(), IndexedSandboxState()
    for i in range(3000):
        channel = rng.choice(["sms", "telegram", "webpush"])
        kind = rng.choice(["message", "message", "edit_message"])
        address, pid = str(rng.randrange(200)), f"p{rng.randrange(500)}"
        for st in (plain, indexed):
            st.add(channel, kind, address, f"t{i}", pid, {"i": i}, seq=i + 1)
    for channel in ("sms", "telegram", "webpush", "voice"):
        for address in map(str, range(0, 210, 7)):
            a, b = plain.find(channel, address), indexed.find(channel, address)
            assert (a.seq if a else None) == (b.seq if b else None)
    for pid in (f"p{n}" for n in range(0, 510, 3)):
        for kind in ("message", "edit_message"):
            a, b = plain.by_provider_id(pid, kind), indexed.by_provider_id(pid, kind)
            assert (a.seq if a else None) == (b.seq if b else None)
    indexed.reset()
    assert indexed.find("sms", "1") is None and indexed.by_provider_id("p1") is None
