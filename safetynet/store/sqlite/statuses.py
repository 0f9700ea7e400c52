"""Household status changes in a campaign, with the live counters kept in the same transaction.

Both the outbox (notified, unreachable) and the reply intake (read, answers) change statuses;
they all go through `apply_status_changes`, so the counters always add up to the households.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from safetynet.domain import ANSWERED, Status, next_status
from safetynet.domain.campaigns import StatusTransition
from safetynet.domain.records import quick
from safetynet.store.rules import answer_minute
from safetynet.store.sqlite.db import CHUNK, Conn, Sql, Steps, drive, marks


@quick
@dataclass(frozen=True, slots=True)
class StatusChange:
    campaign_id: int
    household_id: int
    status: Status
    at: float


def current_statuses(campaign_id: int, household_ids: list[int]) -> Steps[dict[int, tuple[int, Status, bool]]]:
    """(association, status, answered once) of these households, for a write that depends on them:
    on PostgreSQL the rows stay locked, in household order, until the transaction ends."""
    found: dict[int, tuple[int, Status, bool]] = {}
    for i in range(0, len(household_ids), CHUNK):
        chunk = household_ids[i : i + CHUNK]
        # PostgreSQL locks these rows (pg_sql adds FOR UPDATE to this very statement)
        rows = yield Sql(
            "SELECT household_id, association_id, status, first_answer_at IS NOT NULL"
            f" FROM campaign_households WHERE campaign_id = ? AND household_id IN ({marks(len(chunk))})",
            (campaign_id, *chunk),
        )
        for hh, assoc, status, answered in rows:
            found[hh] = (assoc, Status(status), bool(answered))
    return found


@dataclass
class StatusPlan:
    """What a campaign's status changes write: each household's new status (status, at, first answer
    at), the counters' and answer minutes' deltas, and the real transitions."""

    updates: dict[int, tuple[str, float, float | None]]
    count_delta: dict[tuple[int, str], int]
    minute_delta: dict[tuple[int, int], int]
    transitions: list[StatusTransition]


def plan_status_changes(campaign_id: int, started: float, current: dict[int, tuple[int, Status, bool]],
                        items: Sequence[StatusChange]) -> StatusPlan:
    """The rule both adapters apply (pure): changes in order over `current` (household → association,
    status, answered before), each through `next_status`; `current` is updated in place."""
    updates: dict[int, tuple[str, float, float | None]] = {}
    count_delta: dict[tuple[int, str], int] = defaultdict(int)
    minute_delta: dict[tuple[int, int], int] = defaultdict(int)
    transitions: list[StatusTransition] = []
    for ch in items:
        if ch.household_id not in current:
            continue  # not part of this campaign: nothing to count
        assoc, old, answered = current[ch.household_id]
        new = next_status(old, ch.status)
        if new == old:
            continue
        first = new in ANSWERED and not answered
        current[ch.household_id] = (assoc, new, answered or first)
        prev_first = updates.get(ch.household_id, (None, None, None))[2]
        updates[ch.household_id] = (str(new), ch.at, ch.at if first else prev_first)
        count_delta[(assoc, str(old))] -= 1
        count_delta[(assoc, str(new))] += 1
        if first:
            minute_delta[(assoc, answer_minute(ch.at, started))] += 1
        transitions.append(StatusTransition(campaign_id, ch.household_id, assoc, old, new, first))
    return StatusPlan(updates, count_delta, minute_delta, transitions)


async def apply_status_changes(conn: Conn, changes: Sequence[StatusChange]) -> list[StatusTransition]:
    """Applies changes in order inside the caller's transaction; returns the real transitions."""
    return await drive(conn, status_steps(changes))


def status_steps(changes: Sequence[StatusChange]) -> Steps[list[StatusTransition]]:
    """`apply_status_changes` as statements (`db.Steps`), for a write that runs in one trip."""
    transitions: list[StatusTransition] = []
    by_campaign: dict[int, list[StatusChange]] = defaultdict(list)
    for ch in changes:
        by_campaign[ch.campaign_id].append(ch)
    for campaign_id, items in by_campaign.items():
        transitions += yield from _apply_campaign(campaign_id, items)
    return transitions


def _apply_campaign(campaign_id: int, items: list[StatusChange]) -> Steps[list[StatusTransition]]:
    rows = yield Sql("SELECT coalesce(started_at, created_at) FROM campaigns WHERE id = ?", (campaign_id,))
    started = float(rows[0][0]) if rows else 0.0
    current = yield from current_statuses(campaign_id, sorted({c.household_id for c in items}))
    plan = plan_status_changes(campaign_id, started, current, items)
    updates, count_delta, minute_delta = plan.updates, plan.count_delta, plan.minute_delta
    if updates:
        yield Sql(
            "UPDATE campaign_households SET status = ?, status_at = ?,"
            " first_answer_at = coalesce(first_answer_at, ?) WHERE campaign_id = ? AND household_id = ?",
            [(s, at, fa, campaign_id, hh) for hh, (s, at, fa) in sorted(updates.items())], many=True,
        )
    # in key order: concurrent writers (several processes on PostgreSQL) then lock rows in one order
    deltas = [(campaign_id, a, s, n) for (a, s), n in sorted(count_delta.items()) if n]
    if deltas:
        yield Sql(
            "INSERT INTO campaign_counts (campaign_id, association_id, status, n) VALUES (?,?,?,?)"
            " ON CONFLICT (campaign_id, association_id, status) DO UPDATE SET n = n + excluded.n",
            deltas, many=True,
        )
    if minute_delta:
        yield Sql(
            "INSERT INTO campaign_answer_minutes (campaign_id, association_id, minute, n) VALUES (?,?,?,?)"
            " ON CONFLICT (campaign_id, association_id, minute) DO UPDATE SET n = n + excluded.n",
            [(campaign_id, a, m, n) for (a, m), n in sorted(minute_delta.items())], many=True,
        )
    return plan.transitions


async def init_counts(conn: Conn, campaign_id: int) -> None:
    """After campaign_households rows are inserted (all pending), seeds the counters."""
    await conn.execute("DELETE FROM campaign_counts WHERE campaign_id = ?", (campaign_id,))
    await conn.execute(
        "INSERT INTO campaign_counts (campaign_id, association_id, status, n)"
        " SELECT campaign_id, association_id, status, count(*) FROM campaign_households"
        " WHERE campaign_id = ? GROUP BY campaign_id, association_id, status",
        (campaign_id,),
    )
