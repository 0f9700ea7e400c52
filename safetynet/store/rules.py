"""What every store adapter decides the same way (pure): roster checks, provider states, held callbacks.

Kept apart from the adapters so SQLite, the in-memory fake and PostgreSQL cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.domain.roster import HouseholdRecord

# Provider states by rank: out-of-order callbacks keep the highest; equal ranks keep the first.
PROVIDER_RANK = {"sent": 1, "undelivered": 2, "failed": 2, "delivered": 3}

# What a provider state makes of a delivery that was sent (sent stays sent).
DELIVERY_STATE_OF_PROVIDER = {"delivered": "delivered", "undelivered": "undelivered", "failed": "undelivered"}

# A status callback for an id not recorded yet is held this long; the race it covers lasts a
# group commit, or a backed-up send worker's queue, never minutes.
EARLY_STATUS_HOLD_SECONDS = 600.0
# Only Twilio can post status callbacks (signed), but a misconfigured account could send us its
# whole traffic: the held ones stay few whatever comes.
MAX_EARLY_STATUSES = 10_000


def merge_provider_state(old: str | None, new: str) -> str:
    """The state kept when `new` arrives after `old`."""
    if old is None or PROVIDER_RANK.get(new, 0) > PROVIDER_RANK.get(old, 0):
        return new
    return old


def provider_error(state: str, error_code: int | None) -> str | None:
    """The error a provider's failure code leaves on the delivery (None: keep what it had)."""
    return f"provider_{state}:{error_code}" if error_code else None


def answer_minute(at: float, started_at: float) -> int:
    """The minute after the start in which an answer came (the answer curve's bucket)."""
    return max(0, int((at - started_at) // 60))


def check_records(records: Sequence[HouseholdRecord]) -> None:
    """Rules the file reader enforces too; checked again so no caller can write a broken roster."""
    district_of: dict[str, str] = {}
    keys: set[tuple[str, str]] = set()
    for r in records:
        if district_of.setdefault(r.association, r.district) != r.district:
            raise ValueError(f"association {r.association} is in two districts")
        key = (r.association, r.household_key)
        if key in keys:
            raise ValueError(f"household {r.household_key} of association {r.association} appears twice")
        keys.add(key)
