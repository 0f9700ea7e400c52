"""The sandbox provider server (`safetynet sandbox`): the generic core (state, faults, records, the
control API, the client that calls the app back) composed with each channel's provider fake
(`channels/<name>/sandbox.py`, listed by the channel registry).

`Sandbox` (in-process, for tests and the demo) is imported lazily so that the CLI's argument
parser can import `server` without loading the provider stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Faults", "Record", "Sandbox"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from safetynet.sandbox.runtime import Sandbox

        return Sandbox
    if name in ("Faults", "Record"):
        from safetynet.sandbox import state

        return getattr(state, name)
    raise AttributeError(name)
