"""Reads behind the staff pages: households with their status in a campaign, the help panel,
the door-knock list, coverage, live changes and the report's lists.

Every query here is bounded by one campaign and (mostly) one association, so a page never scans
a whole city. The live poller reads `changes_since`, a rowid range over `replies`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence

from safetynet.domain import ALL_STATUSES, ChannelName, Scope
from safetynet.domain.campaigns import CampaignInfo, CheckTally, OpenHelp
from safetynet.domain.replies import Change, ChannelCount, HelpItem, InPersonMark, ReplyChannel
from safetynet.domain.roster import Association, Coverage, HouseholdLine, NotedHousehold
from safetynet.store.sqlite.db import Reads, Row, marks
from safetynet.store.sqlite.help_requests import earlier_notes, latest_details_sql
from safetynet.store.sqlite.reply_undo import not_undone

ANSWERED_SQL = "('safe', 'need_help', 'confirmed_in_person')"
_STATUSES = tuple(str(s) for s in ALL_STATUSES)


_CAMPAIGN_COLS = ("id, kind, title, state, scope, created_at, started_at, closed_at, households, started_by,"
                  " requested_at, approved_by, approved_at, purged_at")


def _paused_sql(c: str = "") -> str:
    """`paused` (CampaignInfo): a running drill or contact check while a real event runs, the dispatcher's
    rule (`c`: the alias)."""
    return (f"({c}kind <> 'real' AND {c}state = 'running' AND EXISTS (SELECT 1 FROM campaigns rx"
            " WHERE rx.kind = 'real' AND rx.state = 'running')) AS paused")


_INFO_COLS = f"{_CAMPAIGN_COLS}, {_paused_sql()}"
_PREVIOUS_PAGE = 100  # campaigns read at a time looking for the one before of the same scope


def _campaign(row: Row) -> CampaignInfo:
    try:
        scope = json.loads(row["scope"])
    except ValueError:
        scope = [row["scope"]]
    if isinstance(scope, str):
        scope = [scope]
    return CampaignInfo(
        id=row["id"], kind=row["kind"], title=row["title"], state=row["state"], scope=tuple(scope),
        created_at=row["created_at"], started_at=row["started_at"], closed_at=row["closed_at"],
        households=row["households"], started_by=row["started_by"], requested_at=row["requested_at"],
        approved_by=row["approved_by"], approved_at=row["approved_at"], purged_at=row["purged_at"],
        paused=bool(row["paused"]),
    )


# SQLite keeps no statistics here, and without them it reads a campaign's households through the
# primary key (every household of the city) instead of the (campaign, association) index: 10-15x
# slower at 200,000 households. INDEXED BY pins the plan; a PostgreSQL repository plans this itself.
_BY_ASSOC = "campaign_households ch INDEXED BY campaign_households_assoc"


def phone_sql(kind: str) -> str:
    """The household's first working contact of a phone kind, '' without one (as the door-knock list)."""
    return (f"coalesce((SELECT c.address FROM contacts c WHERE c.household_id = h.id AND c.kind = '{kind}'"
            " AND c.state = 'working' ORDER BY c.id LIMIT 1), '')")


_HH_SELECT = (
    "SELECT h.id, h.association_id, coalesce(g.name, '') AS grp, h.household_key, h.name, h.address,"
    " h.members, h.vulnerable, ch.status, ch.status_at,"
    f" {phone_sql('landline')} AS landline,"
    " EXISTS (SELECT 1 FROM contacts c WHERE c.household_id = h.id AND c.state = 'working') AS has_channel,"
    f" h.consent, {phone_sql('mobile')} AS mobile"
    f" FROM {_BY_ASSOC} JOIN households h ON h.id = ch.household_id"
    " LEFT JOIN household_groups g ON g.id = h.group_id"
)


# A reply `r` with words of the household's own, what household_notes lists (a staff confirmation's are staff's)
_NOTED = f"{{r}}.channel <> '{ReplyChannel.STAFF}' AND {{r}}.note IS NOT NULL AND {{r}}.note <> ''"
# _HH_SELECT with the note of a reply `r` the caller joins (household_notes)
_NOTED_SELECT = _HH_SELECT.replace(f" FROM {_BY_ASSOC}", f", r.note AS note, r.received_at AS noted_at FROM {_BY_ASSOC}", 1)


def _line(r: Row) -> HouseholdLine:
    return HouseholdLine(
        id=r[0], association_id=r[1], group=r[2], household_key=r[3], name=r[4], address=r[5],
        members=r[6], vulnerable=bool(r[7]), status=r[8], status_at=r[9], landline=r[10], has_channel=bool(r[11]),
        consent=r[12], mobile=r[13],
    )



# The contact check's tallies (`domain.campaigns.tally_checks`, counted by the database): one row per
# contact kind, in the order of its first contact. A contact's state is "dead", else its latest
# check's (confirmed or not), else "unchecked"; a household is reachable by a kind through a contact
# confirmed or never checked. Read row by row, the whole city's 47,000 contacts cost ~150 ms of CPU,
# most of it in Python on the event loop; counted here the rows never leave the database.
# `{contacts}`: the contacts (cid, hid, kind, st) of the associations asked for, each adapter's own.
CHECK_TALLIES = (
    "SELECT kind, count(CASE WHEN st = 'confirmed' THEN 1 END), count(CASE WHEN st = 'unconfirmed' THEN 1 END),"
    " count(CASE WHEN st = 'dead' THEN 1 END), count(CASE WHEN st = 'unchecked' THEN 1 END),"
    " count(DISTINCT CASE WHEN st = 'confirmed' OR st = 'unchecked' THEN hid END)"
    " FROM ({contacts}) AS x GROUP BY kind ORDER BY min(cid)"
)
# Which of a contact's checks count for its state: a check's taps at once, its silence only once it
# is closed. A running check's silence is no answer yet (QA: 「届く世帯 0」 a minute after one went
# out), a cancelled one's says nothing (it was stopped, maybe a minute after it went out).
CHECKS_THAT_COUNT = ("(k.confirmed_at IS NOT NULL OR EXISTS (SELECT 1 FROM campaigns m WHERE m.id = k.campaign_id"
                     " AND m.state = 'closed'))")
# a contact's state from its row `c` and its latest check `cc` (a left join: none when never asked)
CHECK_STATE = ("CASE WHEN c.state = 'dead' THEN 'dead' WHEN cc.contact_id IS NULL THEN 'unchecked'"
               " WHEN cc.confirmed_at IS NULL THEN 'unconfirmed' ELSE 'confirmed' END")
_CHECKED_CONTACTS = (
    f"SELECT c.id AS cid, c.household_id AS hid, c.kind AS kind, {CHECK_STATE} AS st"
    " FROM contacts c{city} JOIN households h ON h.id = c.household_id"
    # the latest check of the contact: a join, not a subquery in `st` (which SQLite would run once
    # for each of the five times the outer query names `st`)
    " LEFT JOIN contact_checks cc ON cc.contact_id = c.id"
    "  AND cc.campaign_id = (SELECT max(k.campaign_id) FROM contact_checks k WHERE k.contact_id = c.id"
    f" AND {CHECKS_THAT_COUNT})"
    " WHERE h.removed_at IS NULL{where}"
)


# One contact check's households (`hid`) with what their asked contacts came to: one confirmed
# (`ok`), one bounced (`dead`, the contact's state now, as `check_counts`). The 0/1 cases, not
# max() of a comparison: PostgreSQL has no max(boolean).
_CHECK_BY_HOUSEHOLD = (
    "SELECT cc.household_id AS hid, max(CASE WHEN cc.confirmed_at IS NOT NULL THEN 1 ELSE 0 END) AS ok,"
    " max(CASE WHEN c.state = 'dead' THEN 1 ELSE 0 END) AS dead"
    " FROM contact_checks cc LEFT JOIN contacts c ON c.id = cc.contact_id"
    " WHERE cc.campaign_id = ? GROUP BY cc.household_id"
)
# `domain.campaigns.CHECK_OUTCOMES` from a campaign household's row of _CHECK_BY_HOUSEHOLD (none: not asked)
_CHECK_OUTCOME = ("CASE WHEN k.ok = 1 THEN 'confirmed' WHEN k.dead = 1 THEN 'bounced'"
                  " WHEN k.hid IS NOT NULL THEN 'unconfirmed' ELSE 'not_asked' END")
# the report lists' select with the household's check outcome as its status
_CHECK_SELECT = (_HH_SELECT.replace("ch.status, ch.status_at", f"{_CHECK_OUTCOME}, ch.status_at")
                 + f" LEFT JOIN ({_CHECK_BY_HOUSEHOLD}) k ON k.hid = h.id")


def check_tallies(rows: Sequence[Row]) -> list[CheckTally]:
    return [CheckTally(kind, int(confirmed), int(unconfirmed), int(dead), int(unchecked), int(reachable))
            for kind, confirmed, unconfirmed, dead, unchecked, reachable in rows]


class SqliteDashboardReads:
    def __init__(self, db: Reads) -> None:
        self.db = db

    # -- roster ----------------------------------------------------------------

    async def associations(self) -> list[Association]:
        rows = await self.db.fetchall(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id"
            " ORDER BY d.name, a.name"
        )
        return [Association(r[0], r[1], r[2]) for r in rows]

    async def associations_in_scope(self, scope: Scope) -> list[Association]:
        """The associations a scope reaches: all, one district's, or one by name."""
        if scope.kind == "city":
            return await self.associations()
        column = "d.name" if scope.kind == "district" else "a.name"
        rows = await self.db.fetchall(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id"
            f" WHERE {column} = ? ORDER BY d.name, a.name",
            (scope.name,),
        )
        return [Association(r[0], r[1], r[2]) for r in rows]

    async def association(self, association_id: int) -> Association | None:
        r = await self.db.fetchone(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id WHERE a.id = ?",
            (association_id,),
        )
        return Association(r[0], r[1], r[2]) if r else None

    async def association_by_name(self, name: str) -> Association | None:
        r = await self.db.fetchone(
            "SELECT a.id, a.name, d.name FROM associations a JOIN districts d ON d.id = a.district_id"
            " WHERE a.name = ?",
            (name,),
        )
        return Association(r[0], r[1], r[2]) if r else None

    async def coverage(self, association_id: int) -> Coverage:
        """Households with at least one working contact, and the list of those with none (one query)."""
        rows = await self.db.fetchall(
            "SELECT h.id, h.association_id, coalesce(g.name, ''), h.household_key, h.name, h.address, h.members,"
            " h.vulnerable, '', NULL, '',"
            " EXISTS (SELECT 1 FROM contacts c WHERE c.household_id = h.id AND c.state = 'working'), h.consent, ''"
            " FROM households h LEFT JOIN household_groups g ON g.id = h.group_id"
            " WHERE h.association_id = ? AND h.removed_at IS NULL ORDER BY coalesce(g.name, ''), h.address, h.household_key",
            (association_id,),
        )
        lines = [_line(r) for r in rows]
        without = tuple(h for h in lines if not h.has_channel)
        return Coverage(households=len(lines), with_channel=len(lines) - len(without), without=without)

    async def contact_checks(self, association_ids: Iterable[int] | None = None) -> list[CheckTally]:
        ids = None if association_ids is None else list(association_ids)
        if ids is not None and not ids:
            return []
        if ids is None:
            # the whole city: contacts in table order, not through the (kind, address) index SQLite
            # picks to group by kind, which visits the table in random order (3-4x the time)
            contacts = _CHECKED_CONTACTS.format(city=" NOT INDEXED", where="")
        else:
            contacts = _CHECKED_CONTACTS.format(city="", where=f" AND h.association_id IN ({marks(len(ids))})")
        return check_tallies(await self.db.fetchall(CHECK_TALLIES.format(contacts=contacts), ids or ()))

    async def check_counts(self, campaign_id: int,
                           association_ids: Iterable[int] | None = None) -> dict[ChannelName, dict[str, int]]:
        ids = None if association_ids is None else sorted(set(association_ids))
        if ids == []:
            return {}
        within = "" if ids is None else (
            " JOIN campaign_households ch ON ch.campaign_id = cc.campaign_id AND ch.household_id = cc.household_id"
            f" AND ch.association_id IN ({marks(len(ids))})")
        rows = await self.db.fetchall(
            "SELECT cc.channel, CASE WHEN c.state = 'dead' THEN 'dead' WHEN cc.confirmed_at IS NOT NULL"
            " THEN 'confirmed' ELSE 'unconfirmed' END AS st, count(*)"
            f" FROM contact_checks cc LEFT JOIN contacts c ON c.id = cc.contact_id{within}"
            " WHERE cc.campaign_id = ? GROUP BY cc.channel, st ORDER BY cc.channel",
            (*(ids or ()), campaign_id),
        )
        out: dict[ChannelName, dict[str, int]] = {}
        for channel, state, n in rows:
            out.setdefault(channel, {"confirmed": 0, "unconfirmed": 0, "dead": 0})[state] = int(n)
        return out

    # -- campaigns ---------------------------------------------------------------

    async def campaign(self, campaign_id: int) -> CampaignInfo | None:
        r = await self.db.fetchone(f"SELECT {_INFO_COLS} FROM campaigns WHERE id = ?", (campaign_id,))
        return _campaign(r) if r else None

    async def campaigns_for(self, association_ids: Iterable[int] | None, limit: int = 20) -> list[CampaignInfo]:
        """Recent campaigns (not drafts) covering any of these associations (None: any), newest first."""
        ids = None if association_ids is None else sorted(set(association_ids))
        if ids == []:
            return []
        cover = "" if ids is None else (
            " AND EXISTS (SELECT 1 FROM campaign_counts cc WHERE cc.campaign_id = campaigns.id"
            f" AND cc.association_id IN ({marks(len(ids))}))"
        )
        rows = await self.db.fetchall(
            f"SELECT {_INFO_COLS} FROM campaigns WHERE state != 'draft'{cover}"
            " ORDER BY coalesce(started_at, created_at) DESC, id DESC LIMIT ?",
            (*(ids or ()), limit),
        )
        return [_campaign(r) for r in rows]

    async def drafts(self, limit: int = 10) -> list[CampaignInfo]:
        """Campaigns waiting to be started (a trigger's proposal), newest first."""
        rows = await self.db.fetchall(
            f"SELECT {_INFO_COLS} FROM campaigns WHERE state = 'draft' ORDER BY created_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [_campaign(r) for r in rows]

    async def awaiting_approval(self, limit: int = 10) -> list[CampaignInfo]:
        """Real events started by one person, waiting for a second, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {_INFO_COLS} FROM campaigns WHERE state = 'pending_approval'"
            " ORDER BY coalesce(requested_at, created_at) DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [_campaign(r) for r in rows]

    async def real_event_scopes(self) -> frozenset[str]:
        rows = await self.db.fetchall("SELECT scope FROM campaigns WHERE state = 'running' AND kind = 'real'")
        found: set[str] = set()
        for (scope,) in rows:
            items = json.loads(scope)
            found.update([items] if isinstance(items, str) else items)
        return frozenset(found)

    async def households_within(self, campaign_ids: Iterable[int], association_ids: Iterable[int]) -> dict[int, int]:
        cids, aids = sorted(set(campaign_ids)), sorted(set(association_ids))
        if not cids or not aids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT campaign_id, sum(n) FROM campaign_counts WHERE campaign_id IN ({marks(len(cids))})"
            f" AND association_id IN ({marks(len(aids))}) GROUP BY campaign_id", (*cids, *aids))
        return {r[0]: int(r[1]) for r in rows}

    async def campaign_association_ids(self, campaign_id: int) -> set[int]:
        rows = await self.db.fetchall(
            "SELECT DISTINCT association_id FROM campaign_counts WHERE campaign_id = ?", (campaign_id,)
        )
        return {r[0] for r in rows}

    async def covered_among(self, campaign_id: int, association_ids: Iterable[int]) -> set[int]:
        """Which of these associations the campaign covers (seeks on the counters' key)."""
        aids = sorted(set(association_ids))
        if not aids:
            return set()
        rows = await self.db.fetchall(
            f"SELECT DISTINCT association_id FROM campaign_counts WHERE campaign_id = ?"
            f" AND association_id IN ({marks(len(aids))})",
            (campaign_id, *aids),
        )
        return {r[0] for r in rows}

    async def latest_campaign_for(self, association_ids: Iterable[int] | None) -> CampaignInfo | None:
        """The running campaign covering any of these associations (None: any), a real event first, then the
        latest started; else the latest finished one (`ports.DashboardReads.latest_campaign_for`)."""
        ids = None if association_ids is None else sorted(set(association_ids))
        if ids == []:
            return None
        cover = "" if ids is None else (
            " AND EXISTS (SELECT 1 FROM campaign_counts cc WHERE cc.campaign_id = campaigns.id"
            f" AND cc.association_id IN ({marks(len(ids))}))"
        )
        params: Sequence[int] = ids or ()
        for states in ("('running')", "('closed', 'cancelled')"):
            real_first = "CASE kind WHEN 'real' THEN 0 ELSE 1 END, " if states == "('running')" else ""
            r = await self.db.fetchone(
                f"SELECT {_INFO_COLS} FROM campaigns WHERE state IN {states}{cover}"
                f" ORDER BY {real_first}coalesce(started_at, created_at) DESC, id DESC LIMIT 1",
                params,
            )
            if r:
                return _campaign(r)
        return None

    async def previous_campaign(self, campaign: CampaignInfo) -> CampaignInfo | None:
        """The campaign of the same kind and scope that started last before this one (a drill is
        compared with the drill before it, never with a real event that came between)."""
        # page by page until the scope turns up: a city whose associations each drill monthly has the
        # drill before this one dozens of campaigns back (review: a first page of 50 was all it read)
        for offset in itertools.count(0, _PREVIOUS_PAGE):
            rows = await self.db.fetchall(
                f"SELECT {_INFO_COLS} FROM campaigns WHERE id != ? AND kind = ? AND state IN ('running', 'closed')"
                " AND coalesce(started_at, created_at) < ? ORDER BY coalesce(started_at, created_at) DESC, id DESC"
                f" LIMIT {_PREVIOUS_PAGE} OFFSET ?",
                (campaign.id, campaign.kind, campaign.started_at or campaign.created_at, offset),
            )
            for r in rows:
                c = _campaign(r)
                if c.scope_key == campaign.scope_key:
                    return c
            if len(rows) < _PREVIOUS_PAGE:
                return None
        return None

    # -- households in a campaign ---------------------------------------------------

    async def households(self, campaign_id: int, association_id: int) -> list[HouseholdLine]:
        rows = await self.db.fetchall(
            f"{_HH_SELECT} WHERE ch.campaign_id = ? AND ch.association_id = ?"
            " ORDER BY coalesce(g.name, ''), h.address, h.household_key",
            (campaign_id, association_id),
        )
        return [_line(r) for r in rows]

    async def households_with_status(
        self, campaign_id: int, association_ids: Iterable[int], statuses: Iterable[str], never_answered: bool = False,
        *, after: HouseholdLine | None = None, limit: int | None = None,
    ) -> list[HouseholdLine]:
        """Households of these associations in these statuses (report lists); `never_answered` adds
        the condition that no answer was ever recorded.

        Ordered by (association, group, address, id), a total order, so a list is read in pages:
        `after` is the last line of the previous page, `limit` its size.
        """
        sts = sorted(set(statuses))
        if not sts:
            return []
        extra = " AND ch.first_answer_at IS NULL" if never_answered else ""
        return await self._page(_HH_SELECT, [], campaign_id, association_ids,
                                f" AND ch.status IN ({marks(len(sts))}){extra}", sts, after, limit)

    async def household_numbers(self, campaign_id: int, association_ids: Iterable[int],
                                statuses: Iterable[str]) -> list[tuple[int, str, int]]:
        # _HH_SELECT's phones, channels and counts cost most of a city's read (issue 18's kind: half a
        # second of the event loop a text for 40,000 unanswered households): the numbers alone here
        aids, sts = sorted(set(association_ids)), sorted(set(statuses))
        if not aids or not sts:
            return []
        rows = await self.db.fetchall(
            f"SELECT h.id, h.household_key, h.association_id FROM {_BY_ASSOC} JOIN households h ON h.id = ch.household_id"
            " LEFT JOIN household_groups g ON g.id = h.group_id"
            f" WHERE ch.campaign_id = ? AND ch.association_id IN ({marks(len(aids))}) AND ch.status IN ({marks(len(sts))})"
            " ORDER BY ch.association_id, coalesce(g.name, ''), h.address, h.id",
            (campaign_id, *aids, *sts),
        )
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def _page(self, select: str, select_params: Sequence[object], campaign_id: int,
                    association_ids: Iterable[int], where: str, where_params: Sequence[object],
                    after: HouseholdLine | None, limit: int | None) -> list[HouseholdLine]:
        """One page of a report list: `select` (a variant of _HH_SELECT) narrowed by `where`, in
        (association, group, address, id) order after the line `after`."""
        aids = sorted(set(association_ids))
        if after is not None:
            aids = [a for a in aids if a >= after.association_id]  # the earlier ones are done
        if not aids:
            return []
        params: list[object] = [*select_params, campaign_id, *aids, *where_params]
        extra = where
        if after is not None:
            # the row value makes SQLite seek from the cursor's association; the upper bound stops
            # the scan after the last asked-for association instead of at the campaign's end
            extra += (" AND ch.association_id <= ?"
                      " AND (ch.association_id, coalesce(g.name, ''), h.address, h.id) > (?, ?, ?, ?)")
            params += [aids[-1], after.association_id, after.group, after.address, after.id]
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(limit)
        rows = await self.db.fetchall(
            f"{select} WHERE ch.campaign_id = ? AND ch.association_id IN ({marks(len(aids))}){extra}"
            f" ORDER BY ch.association_id, coalesce(g.name, ''), h.address, h.id{tail}",
            params,
        )
        return [_line(r) for r in rows]

    async def check_outcomes(self, campaign_id: int) -> list[tuple[int, str, int]]:
        rows = await self.db.fetchall(
            f"SELECT ch.association_id, {_CHECK_OUTCOME}, count(*) FROM campaign_households ch"
            f" LEFT JOIN ({_CHECK_BY_HOUSEHOLD}) k ON k.hid = ch.household_id"
            " WHERE ch.campaign_id = ? GROUP BY 1, 2 ORDER BY 1, 2",
            (campaign_id, campaign_id),
        )
        return [(int(a), str(o), int(n)) for a, o, n in rows]

    async def check_unconfirmed(
        self, campaign_id: int, association_ids: Iterable[int], *, after: HouseholdLine | None = None,
        limit: int | None = None,
    ) -> list[HouseholdLine]:
        return await self._page(_CHECK_SELECT, [campaign_id], campaign_id, association_ids,
                                " AND coalesce(k.ok, 0) = 0", [], after, limit)

    async def household_notes(self, campaign_id: int, association_ids: Iterable[int]) -> list[NotedHousehold]:
        """A probe of (campaign, household) per household of the associations: its latest reply with a note."""
        aids = sorted(set(association_ids))
        if not aids:
            return []
        rows = await self.db.fetchall(
            f"{_NOTED_SELECT} JOIN replies r ON r.id = (SELECT max(x.id) FROM replies x WHERE x.campaign_id = ch.campaign_id"
            f" AND x.household_id = ch.household_id AND {_NOTED.format(r='x')})"
            f" WHERE ch.campaign_id = ? AND ch.association_id IN ({marks(len(aids))})"
            " ORDER BY ch.association_id, coalesce(g.name, ''), h.address, h.id",
            (campaign_id, *aids),
        )
        return [NotedHousehold(_line(r), r["note"], r["noted_at"]) for r in rows]

    async def in_person_marks(self, campaign_id: int, association_id: int) -> list[InPersonMark]:
        rows = await self.db.fetchall(
            "SELECT r.household_id, r.id, r.received_at, coalesce(r.method, '') AS method, r.actor,"
            " coalesce(s.display_name, r.actor, '') AS by_name, coalesce(r.note, '') AS note,"
            " CASE WHEN r.prior_status IS NOT NULL AND NOT EXISTS (SELECT 1 FROM replies l"
            " WHERE l.campaign_id = r.campaign_id AND l.household_id = r.household_id AND l.id > r.id"
            f" AND l.status IN {ANSWERED_SQL} AND {not_undone('l.id')}) THEN 1 ELSE 0 END AS undoable"
            " FROM campaign_households ch JOIN replies r"
            " ON r.campaign_id = ch.campaign_id AND r.household_id = ch.household_id"
            " LEFT JOIN staff s ON s.id = r.staff_id"
            " WHERE ch.campaign_id = ? AND ch.association_id = ? AND ch.status = 'confirmed_in_person'"
            f" AND r.status = 'confirmed_in_person' AND r.channel = '{ReplyChannel.STAFF}' AND {not_undone('r.id')}"
            " ORDER BY r.id",
            (campaign_id, association_id),
        )
        latest = {r["household_id"]: InPersonMark(r["household_id"], r["id"], r["received_at"], r["method"],
                                                  r["actor"], r["by_name"], r["note"], bool(r["undoable"]))
                  for r in rows}
        return sorted(latest.values(), key=lambda m: m.reply_id)

    async def help_panel(self, campaign_id: int, association_ids: Iterable[int],
                         include_handled: bool = False) -> list[HelpItem]:
        """Open help requests (and handled ones if asked), oldest first, with the latest of each detail
        (`latest_details_sql`)."""
        aids = sorted(set(association_ids))
        if not aids:
            return []
        handled = "" if include_handled else " AND hr.handled_at IS NULL"
        rows = await self.db.fetchall(
            "SELECT h.id, h.association_id, coalesce(g.name, ''), h.name, h.address, h.members, h.vulnerable,"
            " hr.opened_at, h.household_key, h.consent,"
            f" ch.status, ch.status_at, {phone_sql('landline')}, {phone_sql('mobile')},"
            f" {latest_details_sql('hr.campaign_id', 'hr.household_id')}, hr.escalation_told_at,"
            " hr.handled_at, coalesce(hr.handled_by_login, s.login), coalesce(s.display_name, hr.handled_by_login, s.login)"
            f" FROM {_BY_ASSOC} JOIN help_requests hr"
            " ON hr.campaign_id = ch.campaign_id AND hr.household_id = ch.household_id"
            " JOIN households h ON h.id = ch.household_id LEFT JOIN household_groups g ON g.id = h.group_id"
            " LEFT JOIN staff s ON s.id = hr.handled_by"
            f" WHERE ch.campaign_id = ? AND ch.association_id IN ({marks(len(aids))}){handled}"
            " ORDER BY hr.opened_at, h.id",
            (campaign_id, *aids),
        )
        return [HelpItem(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[14] or "", r[16] or "", r[15], r[7], r[8],
                         r[9], status=r[10], status_at=r[11], landline=r[12], mobile=r[13], people_safe=r[17],
                         escalated_at=r[20], earlier_notes=earlier_notes(r[19], r[18]), handled_at=r[21],
                         handled_by=r[22], handled_by_name=r[23] or "")
                for r in rows]

    async def open_help_counts(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, int]:
        """Open help requests per association: of the whole campaign (driven from the help list, small),
        or of a few associations (driven from their households)."""
        if association_ids is None:
            rows = await self.db.fetchall(
                "SELECT ch.association_id, count(*) FROM help_requests hr CROSS JOIN campaign_households ch"
                " ON ch.campaign_id = hr.campaign_id AND ch.household_id = hr.household_id"
                " WHERE hr.campaign_id = ? AND hr.handled_at IS NULL GROUP BY ch.association_id",
                (campaign_id,),
            )
            return {r[0]: r[1] for r in rows}
        aids = sorted(set(association_ids))
        if not aids:
            return {}
        rows = await self.db.fetchall(
            f"SELECT ch.association_id, count(*) FROM {_BY_ASSOC} JOIN help_requests hr"
            " ON hr.campaign_id = ch.campaign_id AND hr.household_id = ch.household_id"
            f" WHERE ch.campaign_id = ? AND ch.association_id IN ({marks(len(aids))}) AND hr.handled_at IS NULL"
            " GROUP BY ch.association_id",
            (campaign_id, *aids),
        )
        found = {r[0]: r[1] for r in rows}
        return {a: found.get(a, 0) for a in aids}

    async def escalations_told(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, float]:
        """Driven from the campaign's help list (its key's range), as open_help_counts of the whole campaign."""
        aids = None if association_ids is None else sorted(set(association_ids))
        if aids == []:
            return {}
        where = "" if aids is None else f" AND ch.association_id IN ({marks(len(aids))})"
        rows = await self.db.fetchall(
            "SELECT ch.association_id, max(hr.escalation_told_at) FROM help_requests hr CROSS JOIN campaign_households ch"
            " ON ch.campaign_id = hr.campaign_id AND ch.household_id = hr.household_id"
            f" WHERE hr.campaign_id = ? AND hr.escalation_told_at IS NOT NULL{where} GROUP BY ch.association_id",
            (campaign_id, *(aids or ())),
        )
        return {r[0]: r[1] for r in rows}

    async def open_help_everywhere(self, association_ids: Iterable[int] | None = None) -> list[OpenHelp]:
        """Driven from the open requests (a few, however large the city): their campaigns and associations."""
        where, params = "", []
        if association_ids is not None:
            aids = sorted(set(association_ids))
            if not aids:
                return []
            where, params = f" AND ch.association_id IN ({marks(len(aids))})", aids
        cols = ", ".join(f"c.{col.strip()}" for col in _CAMPAIGN_COLS.split(","))
        rows = await self.db.fetchall(
            f"SELECT {cols}, {_paused_sql('c.')}, ch.association_id AS aid, count(*) AS n FROM help_requests hr"
            " JOIN campaign_households ch ON ch.campaign_id = hr.campaign_id AND ch.household_id = hr.household_id"
            " JOIN campaigns c ON c.id = hr.campaign_id"
            f" WHERE hr.handled_at IS NULL AND c.purged_at IS NULL{where}"
            f" GROUP BY {cols}, ch.association_id"
            " ORDER BY coalesce(c.started_at, c.created_at) DESC, c.id DESC, ch.association_id",
            params,
        )
        return [OpenHelp(_campaign(r), r["aid"], r["n"]) for r in rows]

    # -- live changes -------------------------------------------------------------

    async def counts(self, campaign_id: int, association_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """Counters per association and status (every status present), of the campaign or of a few
        associations (a seek on the counters' key)."""
        if association_ids is None:
            rows = await self.db.fetchall(
                "SELECT association_id, status, n FROM campaign_counts WHERE campaign_id = ?", (campaign_id,))
        else:
            aids = sorted(set(association_ids))
            if not aids:
                return {}
            rows = await self.db.fetchall(
                "SELECT association_id, status, n FROM campaign_counts WHERE campaign_id = ?"
                f" AND association_id IN ({marks(len(aids))})",
                (campaign_id, *aids),
            )
        out: dict[int, dict[str, int]] = {}
        for aid, status, n in rows:
            per = out.get(aid)
            if per is None:
                per = out[aid] = dict.fromkeys(_STATUSES, 0)
            per[status] += n
        return out


    async def reply_cursor(self) -> int:
        """The newest reply id of any campaign: the live stream's position (cheap: the rowid maximum)."""
        return int(await self.db.fetchval("SELECT coalesce(max(id), 0) FROM replies", (), 0))

    async def changes_since(
        self, campaign_id: int, after_reply_id: int, upto_reply_id: int, limit: int,
        association_ids: Iterable[int] | None = None,
    ) -> list[Change]:
        """Households with a reply in (after, upto], with their current status and whether one of those
        replies carried a note; at most `limit` + 1 rows, so the caller can tell "too many, reload" from "all of them".

        The cursor range walks the rowid (the `+` keeps SQLite off the campaign index, which would
        visit every reply of the campaign); callers keep the range short.
        """
        aids = None if association_ids is None else sorted(set(association_ids))
        if aids == [] or upto_reply_id <= after_reply_id:
            return []
        where = "" if aids is None else f" AND ch.association_id IN ({marks(len(aids))})"
        rows = await self.db.fetchall(
            f"SELECT max(r.id), r.household_id, ch.association_id, ch.status, max(CASE WHEN {_NOTED.format(r='r')}"
            " THEN 1 ELSE 0 END) FROM replies r"
            " JOIN campaign_households ch ON ch.campaign_id = r.campaign_id AND ch.household_id = r.household_id"
            f" WHERE r.id > ? AND r.id <= ? AND +r.campaign_id = ?{where} GROUP BY r.household_id ORDER BY 1 LIMIT ?",
            (after_reply_id, upto_reply_id, campaign_id, *(aids or ()), limit + 1),
        )
        return [Change(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    # -- report -------------------------------------------------------------------

    async def first_answers_by_channel(self, campaign_id: int) -> list[ChannelCount]:
        """Per association and channel, the households whose first answer came over that channel."""
        rows = await self.db.fetchall(
            "SELECT ch.association_id, r.channel, count(*) FROM"
            f" (SELECT min(id) AS id FROM replies WHERE campaign_id = ? AND status IN {ANSWERED_SQL}"
            f"  AND {not_undone()} GROUP BY household_id) f JOIN replies r ON r.id = f.id"
            " JOIN campaign_households ch ON ch.campaign_id = r.campaign_id AND ch.household_id = r.household_id"
            " GROUP BY ch.association_id, r.channel",
            (campaign_id,),
        )
        return [ChannelCount(r[0], r[1], r[2]) for r in rows]
