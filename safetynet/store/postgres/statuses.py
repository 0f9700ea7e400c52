"""Household status changes on PostgreSQL: the rules of `store.sqlite.statuses`, with the rows
read under a lock (several processes write) and written back as one `UPDATE … FROM unnest(…)`
instead of one statement a household (the outbox's hot path: 500 notified households a flush)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from safetynet.domain import Status
from safetynet.domain.campaigns import StatusTransition
from safetynet.store.postgres.db import PgConn
from safetynet.store.sqlite.statuses import StatusChange, plan_status_changes

_STATUS = {s.value: s for s in Status}

_UPDATE = """
UPDATE campaign_households ch SET status = u.status, status_at = u.at,
    first_answer_at = coalesce(ch.first_answer_at, u.first)
FROM unnest($2::bigint[], $3::text[], $4::float8[], $5::float8[]) AS u(household_id, status, at, first)
WHERE ch.campaign_id = $1 AND ch.household_id = u.household_id"""
_COUNTS = """
INSERT INTO campaign_counts (campaign_id, association_id, status, n)
SELECT $1, a, s, n FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS u(a, s, n)
ON CONFLICT (campaign_id, association_id, status) DO UPDATE SET n = campaign_counts.n + excluded.n"""
_MINUTES = """
INSERT INTO campaign_answer_minutes (campaign_id, association_id, minute, n)
SELECT $1, a, m, n FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS u(a, m, n)
ON CONFLICT (campaign_id, association_id, minute) DO UPDATE SET n = campaign_answer_minutes.n + excluded.n"""


async def apply_status_changes(conn: PgConn, changes: Sequence[StatusChange]) -> list[StatusTransition]:
    by_campaign: dict[int, list[StatusChange]] = defaultdict(list)
    for ch in changes:
        by_campaign[ch.campaign_id].append(ch)
    transitions: list[StatusTransition] = []
    for campaign_id in sorted(by_campaign):
        transitions += await _apply_campaign(conn, campaign_id, by_campaign[campaign_id])
    return transitions


async def _apply_campaign(conn: PgConn, campaign_id: int, items: list[StatusChange]) -> list[StatusTransition]:
    raw = conn.raw
    started = float(await raw.fetchval(
        "SELECT coalesce(started_at, created_at) FROM campaigns WHERE id = $1", campaign_id) or 0.0)
    rows = await raw.fetch(
        "SELECT household_id, association_id, status, first_answer_at IS NOT NULL FROM campaign_households"
        " WHERE campaign_id = $1 AND household_id = ANY($2::bigint[]) ORDER BY household_id FOR UPDATE",
        campaign_id, sorted({c.household_id for c in items}))
    current = {r[0]: (r[1], _STATUS[r[2]], bool(r[3])) for r in rows}
    plan = plan_status_changes(campaign_id, started, current, items)
    updates, count_delta, minute_delta = plan.updates, plan.count_delta, plan.minute_delta
    if updates:
        hh = sorted(updates)
        await raw.execute(_UPDATE, campaign_id, hh, [updates[h][0] for h in hh], [updates[h][1] for h in hh],
                          [updates[h][2] for h in hh])
    deltas = sorted((k, n) for k, n in count_delta.items() if n)
    if deltas:
        await raw.execute(_COUNTS, campaign_id, [a for (a, _), _ in deltas], [s for (_, s), _ in deltas],
                          [n for _, n in deltas])
    minutes = sorted(minute_delta.items())
    if minutes:
        await raw.execute(_MINUTES, campaign_id, [a for (a, _), _ in minutes], [m for (_, m), _ in minutes],
                          [n for _, n in minutes])
    return plan.transitions
