"""The sandbox provider server: Twilio, Telegram Bot API and a web-push service on loopback.

`Sandbox` (in-process, for tests and the demo) is imported lazily so that the CLI's argument
parser can import `server` without loading the provider stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Faults", "Record", "Sandbox"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from safetynet.channels.sandbox.runtime import Sandbox

        return Sandbox
    if name in ("Faults", "Record"):
        from safetynet.channels.sandbox import state

        return getattr(state, name)
    raise AttributeError(name)
