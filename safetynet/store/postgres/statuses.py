"""Household status changes of the PostgreSQL outbox's flush: the rule of `store.sqlite.statuses`
(`plan_status_changes`), over rows read under a lock (several processes write; `CURRENT_SQL`, part
of the statement that writes the sends) and written back in one statement (`WRITE_SQL`): the
households' new statuses, the counters and the answer minutes of every campaign touched, from
arrays. Two statements whatever the number of campaigns and households, where there were six.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from safetynet.domain import Status
from safetynet.domain.campaigns import StatusTransition
from safetynet.store.sqlite.statuses import StatusChange, plan_status_changes

_STATUS = {s.value: s for s in Status}

# The rows the changes decide over, locked in key order (the same for every writer), with their
# campaign's start (answer minutes count from it). `{campaigns}` and `{households}` are the numbers
# of the two key-array parameters in the statement that embeds this one.
CURRENT_SQL = """
SELECT ch.campaign_id, ch.household_id, ch.association_id, ch.status, ch.first_answer_at IS NOT NULL,
  (SELECT coalesce(c.started_at, c.created_at) FROM campaigns c WHERE c.id = ch.campaign_id)
FROM campaign_households ch
WHERE (ch.campaign_id, ch.household_id) IN (SELECT * FROM unnest(${campaigns}::bigint[], ${households}::bigint[]))
ORDER BY ch.campaign_id, ch.household_id FOR UPDATE OF ch"""

# Counters and minutes go in key order (sorted arrays; INSERT … SELECT keeps it): concurrent writers
# lock those shared rows in one order. Last in the transaction, they are held the shortest time.
# The statement also answers whether any provider status waits for a send's id (the outbox's check).
WRITE_SQL = """
WITH households AS (
  UPDATE campaign_households ch SET status = u.status, status_at = u.at,
    first_answer_at = coalesce(ch.first_answer_at, u.first)
  FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::float8[], $5::float8[])
    AS u(campaign_id, household_id, status, at, first)
  WHERE ch.campaign_id = u.campaign_id AND ch.household_id = u.household_id
  RETURNING 1
), counts AS (
  INSERT INTO campaign_counts (campaign_id, association_id, status, n)
  SELECT * FROM unnest($6::bigint[], $7::bigint[], $8::text[], $9::bigint[])
  ON CONFLICT (campaign_id, association_id, status) DO UPDATE SET n = campaign_counts.n + excluded.n
  RETURNING 1
), minutes AS (
  INSERT INTO campaign_answer_minutes (campaign_id, association_id, minute, n)
  SELECT * FROM unnest($10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])
  ON CONFLICT (campaign_id, association_id, minute) DO UPDATE SET n = campaign_answer_minutes.n + excluded.n
  RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM early_provider_status)"""


def change_keys(changes: Sequence[StatusChange]) -> tuple[list[int], list[int]]:
    """The (campaign, household) keys of the changes, sorted and once each: `CURRENT_SQL`'s arrays."""
    keys = sorted({(c.campaign_id, c.household_id) for c in changes})
    return [k[0] for k in keys], [k[1] for k in keys]


@dataclass
class StatusWrites:
    """Every campaign's plan, as the parameters of `WRITE_SQL`."""

    households: list[tuple[int, int, str, float, float | None]] = field(default_factory=list)
    counts: list[tuple[int, int, str, int]] = field(default_factory=list)
    minutes: list[tuple[int, int, int, int]] = field(default_factory=list)
    transitions: list[StatusTransition] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.households or self.counts or self.minutes)

    def params(self) -> list[list[Any]]:
        return [*_columns(self.households, 5), *_columns(self.counts, 4), *_columns(self.minutes, 4)]


def _columns(rows: list[Any], width: int) -> list[list[Any]]:
    return [[r[i] for r in rows] for i in range(width)] if rows else [[] for _ in range(width)]


def plan_writes(rows: Sequence[Any], changes: Sequence[StatusChange]) -> StatusWrites:
    """`plan_status_changes` (the rule, shared with SQLite) over the rows `CURRENT_SQL` read, campaign
    by campaign in key order; the writes sorted by key."""
    current: dict[int, dict[int, tuple[int, Status, bool]]] = defaultdict(dict)
    started: dict[int, float] = {}
    for r in rows:
        current[r[0]][r[1]] = (r[2], _STATUS[r[3]], bool(r[4]))
        started[r[0]] = float(r[5] or 0.0)
    by_campaign: dict[int, list[StatusChange]] = defaultdict(list)
    for ch in changes:
        by_campaign[ch.campaign_id].append(ch)
    out = StatusWrites()
    for campaign_id in sorted(by_campaign):
        plan = plan_status_changes(campaign_id, started.get(campaign_id, 0.0), current[campaign_id],
                                   by_campaign[campaign_id])
        out.households += [(campaign_id, h, *plan.updates[h]) for h in sorted(plan.updates)]
        out.counts += [(campaign_id, a, s, n) for (a, s), n in sorted(plan.count_delta.items()) if n]
        out.minutes += [(campaign_id, a, m, n) for (a, m), n in sorted(plan.minute_delta.items()) if n]
        out.transitions += plan.transitions
    return out

