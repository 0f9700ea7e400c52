"""The help list: households that asked for help, open until a head or deputy marks them handled.

Part of the reply store (`store/replies.py`); kept apart so each stays small.
"""

from __future__ import annotations

from safetynet.domain import Status
from safetynet.domain.replies import HelpRow, ReplyChannel, ReplyItem
from safetynet.store.rules import UNREACHED_STATES
from safetynet.store.sqlite.db import Row, Sql, Steps


def open_help(item: ReplyItem) -> Steps[bool]:
    """Puts the household on the open help list; True when it was not open already."""
    rows = yield Sql("SELECT handled_at IS NULL FROM help_requests WHERE campaign_id = ? AND household_id = ?",
                     (item.campaign_id, item.household_id))
    if rows and rows[0][0]:
        yield Sql(
            "UPDATE help_requests SET reply_id = (SELECT id FROM replies WHERE dedupe_key = ?)"
            " WHERE campaign_id = ? AND household_id = ?",
            (item.dedupe_key, item.campaign_id, item.household_id),
        )
        return False
    # A household that asks again after being handled goes back on the list.
    yield Sql(
        "INSERT INTO help_requests (campaign_id, household_id, reply_id, opened_at)"
        " SELECT campaign_id, household_id, id, received_at FROM replies WHERE dedupe_key = ?"
        " ON CONFLICT (campaign_id, household_id) DO UPDATE SET reply_id = excluded.reply_id,"
        " opened_at = excluded.opened_at, handled_at = NULL, handled_by = NULL, handled_by_login = NULL,"
        " escalated_at = NULL, reopened_at = NULL, escalation_told_at = NULL",
        (item.dedupe_key,),
    )
    return True


def latest_details_sql(campaign: str, household: str) -> str:
    """Six columns, (note, people injured, location, people safe, the note before, the one before that):
    each the latest the household gave in the campaign, whichever reply it came with, and the two notes
    before the latest (QA: 「2 足を骨折…」 then 「配信停止」 and 「もう送らないで…」 left the card with the last
    words only, the injury gone from it). The help list, its cards and alerts all say
    the same, and a plain second "help" (an anxious second tap, an SMS "2") never blanks them. A staff
    confirmation's note is staff's, not the household's words (and it may have been undone)."""
    def latest(column: str, given: str, back: int = 0) -> str:
        return (f"(SELECT r.{column} FROM replies r WHERE r.campaign_id = {campaign}"
                f" AND r.household_id = {household} AND r.channel <> '{ReplyChannel.STAFF}' AND {given}"
                f" ORDER BY r.id DESC LIMIT 1 OFFSET {back})")
    noted = "r.note IS NOT NULL AND r.note != ''"
    return ", ".join((latest("note", noted),
                      latest("people_injured", "r.people_injured IS NOT NULL"),
                      latest("location", "r.location IS NOT NULL"),
                      latest("people_safe", "r.people_safe IS NOT NULL"),
                      latest("note", noted, 1), latest("note", noted, 2)))


HELP_SQL = (
    "SELECT h.campaign_id, h.household_id, ch.association_id, a.name, d.name, coalesce(g.name, ''), hh.name,"
    " hh.address, hh.members, hh.vulnerable, hh.language, ch.status, h.opened_at, h.handled_at,"
    " coalesce(h.handled_by_login, s.login), hh.household_key, hh.consent, "
    + latest_details_sql("h.campaign_id", "h.household_id") +
    " FROM help_requests h"
    " JOIN campaign_households ch ON ch.campaign_id = h.campaign_id AND ch.household_id = h.household_id"
    " JOIN households hh ON hh.id = h.household_id"
    " JOIN associations a ON a.id = ch.association_id JOIN districts d ON d.id = a.district_id"
    " LEFT JOIN household_groups g ON g.id = hh.group_id LEFT JOIN staff s ON s.id = h.handled_by"
    " WHERE {where} ORDER BY h.handled_at IS NOT NULL, hh.vulnerable DESC, h.opened_at"
)


# Claims the help requests due to escalate (`domain.replies.escalation_due`) in one statement:
# SQLite's single writer runs it whole, so each request is returned to one caller once (and again
# only if that caller never said its alerts were queued: `escalation_told`).
# Every help alert of a request failed or dropped, at least one queued (`escalation_due`'s `unreached`);
# by the alerts' small partial index (campaign, household).
UNREACHED_SQL = (
    "(EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = help_requests.campaign_id"
    " AND d.about_household_id = help_requests.household_id)"
    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = help_requests.campaign_id"
    " AND d.about_household_id = help_requests.household_id AND d.state NOT IN ("
    + ", ".join(f"'{s}'" for s in UNREACHED_STATES) + ")))"
)
ESCALATE_SQL = (
    "UPDATE help_requests SET escalated_at = ? WHERE handled_at IS NULL AND escalation_told_at IS NULL"
    " AND ((escalated_at IS NULL AND (coalesce(reopened_at, opened_at) <= ?"
    f" OR (reopened_at IS NULL AND {UNREACHED_SQL}))) OR escalated_at <= ?)"
    " AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'running')"
    " AND (campaign_id, household_id) IN (SELECT campaign_id, household_id FROM campaign_households"
    " WHERE status = 'need_help')"
    " RETURNING campaign_id, household_id"
)


def help_row_from(r: Row) -> HelpRow:
    return HelpRow(
        campaign_id=r[0], household_id=r[1], association_id=r[2], association=r[3], district=r[4], group=r[5],
        name=r[6], address=r[7], members=r[8], vulnerable=bool(r[9]), language=r[10], status=Status(r[11]),
        opened_at=r[12], handled_at=r[13], handled_by=r[14], household_key=r[15], consent=r[16], note=r[17],
        people_injured=r[18], location=r[19], people_safe=r[20], earlier_notes=earlier_notes(r[22], r[21]),
    )


def earlier_notes(*notes: str | None) -> tuple[str, ...]:
    """The notes before the latest, oldest first, as far as there were any."""
    return tuple(n for n in notes if n)
