"""Taking back an in-person confirmation (the undo of 訪問, 電話 or 紙 on a dashboard).

Part of the reply store (`replies.py`); kept apart so each stays small.

A staff confirmation stores the status its household had just before it (`prior_status`). Undoing
it adds an `undo` reply that names the confirmation and who undid it (the history stays
append-only: nothing is updated or deleted), and puts that status back with the counters, the
first-answer time and the response curve; a household that is silent again goes back on the
door-knock list if the ladder already made one. Only the household's latest answer can be taken
back: an answer after it (from the resident, or another visit) stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from safetynet.domain import ANSWERED, Status, next_status
from safetynet.domain.campaigns import StatusTransition, ladder_from_json
from safetynet.domain.replies import NOTE, UNDO, ReplyChannel, ReplyItem, UndoOutcome, UndoRefused
from safetynet.store.rules import answer_minute, closing_lists, door_knock_made, status_after_undo, undo_key
from safetynet.store.sqlite.db import Conn, Sql, Steps
from safetynet.store.sqlite.reply_targets import STATUS

ANSWERED_SQL = "('safe', 'need_help', 'confirmed_in_person')"
_CONFIRMED = str(Status.CONFIRMED_IN_PERSON)
_STAFF = str(ReplyChannel.STAFF)


def not_undone(column: str = "id") -> str:
    """SQL: the reply `column` names was not taken back (the partial index `replies_undoes` holds the undos)."""
    return f"{column} NOT IN (SELECT undoes FROM replies WHERE undoes IS NOT NULL)"


def note_prior_statuses(fresh: Sequence[ReplyItem]) -> Steps[None]:
    """On each staff confirmation of a batch, the status its household had just before it.

    Runs inside the batch's transaction before its status changes are applied, replaying the
    batch in order as `apply_status_changes` does. Staff confirmations are rare: a read each.
    """
    wanted = {(i.campaign_id, i.household_id) for i in fresh if i.channel == _STAFF and i.status == _CONFIRMED}
    if not wanted:
        return
    current: dict[tuple[int, int], Status] = {}
    for campaign_id, household_id in wanted:
        rows = yield Sql("SELECT status FROM campaign_households WHERE campaign_id = ? AND household_id = ?",
                         (campaign_id, household_id))
        if rows:
            current[(campaign_id, household_id)] = STATUS[rows[0][0]]
    priors: list[tuple[str, str]] = []
    for i in fresh:
        key = (i.campaign_id, i.household_id)
        if key not in current or i.status in (NOTE, UNDO):
            continue
        if i.channel == _STAFF and i.status == _CONFIRMED:
            priors.append((str(current[key]), i.dedupe_key))
        current[key] = next_status(current[key], STATUS[i.status])
    yield Sql("UPDATE replies SET prior_status = ? WHERE dedupe_key = ?", priors, many=True)


async def _one(conn: Conn, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
    rows = list(await conn.execute_fetchall(sql, params))
    return tuple(rows[0]) if rows else None


async def undo_confirmation(
    conn: Conn, campaign_id: int, household_id: int, reply_id: int, staff_id: int | None, actor: str | None,
    now: float, dedupe_key: str | None = None,
) -> tuple[UndoOutcome, StatusTransition | None] | None:
    """Takes back staff confirmation `reply_id` of the household, inside the caller's transaction.

    None if there is no such confirmation; raises `UndoRefused` when an answer came after it.
    """
    # the campaign's row, the ladder's, then the household, in the order of the door-knock step and of a
    # close: on PostgreSQL the reads take the first two shared (`pg_sql`), so a step or a close another
    # process is recording is waited for and seen below (review: the undo saw no list made, the step's or
    # the close's list had passed its household over as confirmed, and it ended silent and on no list)
    await _one(conn, "SELECT state FROM campaigns WHERE id = ?", (campaign_id,))
    await _one(conn, "SELECT next_step FROM campaign_ladder WHERE campaign_id = ?", (campaign_id,))
    # the household: on PostgreSQL the read locks its row (`pg_sql`), so an answer another
    # process is writing is waited for, and seen by the checks below, as SQLite's one writer does
    place = await _one(
        conn, "SELECT association_id, status, first_answer_at FROM campaign_households WHERE campaign_id = ?"
        " AND household_id = ?", (campaign_id, household_id))
    found = await _one(
        conn, "SELECT status, channel, prior_status, method FROM replies WHERE id = ? AND campaign_id = ?"
        " AND household_id = ?", (reply_id, campaign_id, household_id))
    if found is None or place is None or found[0] != _CONFIRMED or found[1] != _STAFF:
        return None
    prior, method = found[2], found[3]
    association_id, status, first_answer_at = int(place[0]), STATUS[place[1]], place[2]
    if await _one(conn, "SELECT 1 FROM replies WHERE undoes = ?", (reply_id,)) is not None:
        return UndoOutcome(status, already=True), None
    if dedupe_key is not None and await _one(conn, "SELECT 1 FROM replies WHERE dedupe_key = ?", (dedupe_key,)):
        return UndoOutcome(status, already=True), None  # a retried text: its undo was done (of another confirmation)
    later = await _one(
        conn, f"SELECT 1 FROM replies WHERE campaign_id = ? AND household_id = ? AND id > ? AND status IN {ANSWERED_SQL}"
        f" AND {not_undone()} LIMIT 1", (campaign_id, household_id, reply_id))
    if later is not None:
        raise UndoRefused("an answer came after this confirmation, so it can no longer be taken back")
    if prior is None:
        raise UndoRefused("this confirmation was recorded before confirmations could be taken back")
    read_since = await _one(conn, "SELECT 1 FROM replies WHERE campaign_id = ? AND household_id = ? AND id > ?"
                            " AND status = 'read' LIMIT 1", (campaign_id, household_id, reply_id)) is not None
    ladder = await _one(
        conn, "SELECT k.ladder, coalesce(l.next_step, 0), coalesce(k.started_at, k.created_at), k.state, k.kind"
        " FROM campaigns k"
        " LEFT JOIN campaign_ladder l ON l.campaign_id = k.id WHERE k.id = ?", (campaign_id,))
    assert ladder is not None  # the household is in the campaign
    door_knocked = door_knock_made(ladder_from_json(ladder[0]), int(ladder[1]))
    restored = status_after_undo(STATUS[prior], read_since, door_knocked)
    listed = door_knocked or closing_lists(ladder[3], ladder[4])
    await conn.execute(
        "INSERT INTO replies (campaign_id, household_id, status, channel, dedupe_key, method, staff_id, actor,"
        " received_at, prior_status, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (campaign_id, household_id, UNDO, _STAFF, dedupe_key or undo_key(reply_id), method, staff_id, actor, now, str(status),
         reply_id),
    )
    if restored == status or status != Status.CONFIRMED_IN_PERSON:
        # nothing to move back (confirmed twice: the earlier confirmation stands)
        return UndoOutcome(status, already=False, changed=False), None
    answered = restored in ANSWERED
    await conn.execute(
        "UPDATE campaign_households SET status = ?, status_at = ?, first_answer_at = ?,"
        " doorknock_at = CASE WHEN ? THEN coalesce(doorknock_at, ?) ELSE doorknock_at END"
        " WHERE campaign_id = ? AND household_id = ?",
        (str(restored), now, first_answer_at if answered else None, listed and not answered, now,
         campaign_id, household_id),
    )
    await conn.executemany(
        "INSERT INTO campaign_counts (campaign_id, association_id, status, n) VALUES (?,?,?,?)"
        " ON CONFLICT (campaign_id, association_id, status) DO UPDATE SET n = n + excluded.n",
        [(campaign_id, association_id, str(status), -1), (campaign_id, association_id, str(restored), 1)],
    )
    if not answered and first_answer_at is not None:
        # the confirmation was the first answer: it leaves the response curve too
        minute = answer_minute(float(first_answer_at), float(ladder[2]))
        await conn.execute(
            "UPDATE campaign_answer_minutes SET n = n - 1 WHERE campaign_id = ? AND association_id = ? AND minute = ?",
            (campaign_id, association_id, minute),
        )
    transition = StatusTransition(campaign_id, household_id, association_id, status, restored, first_answer=False)
    return UndoOutcome(restored, already=False, changed=True), transition
