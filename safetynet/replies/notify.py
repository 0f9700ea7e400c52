"""Telling the association's head and deputies, over their own contacts, that a household needs help.

Every contact a staff member has gets the alert at once, over the first channel that sends to its
kind and carries staff alerts (Telegram, web push, SMS…; never a keypad call): a missed alert
costs far more than a duplicate one. The alerts are outbox rows (`StaffAlert`), one per contact,
claimed by the dispatcher before any household delivery of their lane: the same lanes, rate
limits, retry policy, attempt log and metrics as every other send. A failure on one contact's
channel is that row's alone; the others go out regardless.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

import structlog

from safetynet.channels import registry
from safetynet.channels.spec import MESSAGE_KEYWORDS
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import ANSWERED, CampaignKind, ChannelName, Role
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.campaigns import Campaign, StaffAlert
from safetynet.domain.consent import Disclosure
from safetynet.domain.phones import format_national
from safetynet.domain.replies import CampaignPage, HelpRow
from safetynet.domain.roster import Association, Household, HouseholdLine, Staff
from safetynet.domain.walking import walking_ranks
from safetynet.i18n import t
from safetynet.replies.texts import location_words
from safetynet.store import Store

log = structlog.get_logger("replies")
Phones = tuple[tuple[str, str], ...]
_ANSWERED = frozenset(str(s) for s in ANSWERED)


@dataclass(frozen=True, slots=True)
class StaffMessage:
    staff_id: int
    channel: ChannelName
    address: str
    language: str


@dataclass(frozen=True, slots=True)
class NotifyReport:
    queued: int  # outbox rows: one per contact a channel here carries
    recipients: int  # staff members with at least one contact


def alert_channel(kind: str, channels: Collection[ChannelName]) -> ChannelName | None:
    """The channel a staff alert to a contact of `kind` goes out on: the first one (registry order)
    that sends to the kind, carries staff alerts and is one of `channels` (those sent on here)."""
    for ch in registry.channels_of_kind().get(kind, ()):
        if ch in channels and registry.spec(ch).staff_alerts:
            return ch
    return None


def staff_messages(staff: list[Staff], channels: Collection[ChannelName]) -> list[StaffMessage]:
    """Each active staff member's contacts over the channels this server can send on."""
    out: list[StaffMessage] = []
    for s in staff:
        if not s.active:
            continue
        for kind, address in s.contacts:
            channel = alert_channel(kind, channels)
            if address and channel is not None:
                out.append(StaffMessage(s.id, channel, address, s.language))
    return out


# An alert may go out as one SMS: a campaign's title is cut to this many characters there.
TITLE_CHARS = 20


def short_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…"


def help_link(public_url: str, association_id: int, campaign_id: int) -> str:
    """The dashboard of the campaign the answer belongs to, not the association's current one: a
    closed drill still takes answers for a while, and its household is on that campaign's help list."""
    return f"{public_url.rstrip('/')}/a/{association_id}?campaign={campaign_id}"


def door_knock_text(association: str, households: int, language: str, drill: bool, link: str,
                    standing_in: bool = False, walk: Sequence[tuple[str, Sequence[str]]] | None = None) -> str:
    """The door-knock notice: how many households have not answered, and the link to their list. With
    `walk` (it goes as a text, `by_text`: its reader may have no browser) how to reply 「訪問済み」 and
    their numbers follow by 班 in walking order, as many as fit `TEXT_ALERT_UNITS`, then how many more
    are on the page and the link when there is room: numbers only, which a withheld household shows
    anyway (domain.consent)."""
    head = t(language, "staff.drill") if drill else ""
    why = f"\n{t(language, 'staff.standing_in', association=association)}" if standing_in else ""
    top = f"{head}{t(language, 'staff.door_knock', association=association, households=households)}{why}"
    if walk is None:
        return f"{top}\n{link}"
    first = next((numbers[0] for _, numbers in walk if numbers), None)
    if first is not None:  # 「訪問済み 3」 confirms a household seen (`inbound`): said before the numbers, never cut
        top += f"\n{t(language, 'staff.door_knock.reply_text', number=first)}"
    return _walk_within(top, language, walk, link)


def _door_knock_for(association: str, households: int, language: str, texted: bool, drill: bool, link: str,
                    standing_in: bool, walk: Sequence[tuple[str, Sequence[str]]]) -> str:
    """`door_knock_text` for `HelpNotifier._queue`: the households' numbers only in a text."""
    return door_knock_text(association, households, language, drill, link, standing_in, walk if texted else None)


def door_knock_walk(lines: Sequence[HouseholdLine]) -> list[tuple[str, list[str]]]:
    """The numbers of the households with no answer yet, by 班 in walking order: the door-knock page's
    list (`web.dash_views.doorknock_groups`, which this layer may not import); 班 "" is 班なし, last."""
    walk = walking_ranks(tuple((h.id, h.group, h.address, h.household_key) for h in lines))
    todo = sorted((h for h in lines if h.status not in _ANSWERED), key=lambda h: walk[h.id])
    return [(group, [h.household_key for h in hs]) for group, hs in groupby(todo, key=lambda h: h.group)]


def _walk_line(language: str, walk: Sequence[tuple[str, Sequence[str]]], shown: int) -> str:
    """The first `shown` numbers of `walk`: 「1班: 3, 7, 12／2班: 21」."""
    parts: list[str] = []
    for group, numbers in walk:
        if shown <= 0:
            break
        said = t(language, "staff.door_knock.separator").join(numbers[:shown])
        parts.append(t(language, "staff.door_knock.group", group=group or t(language, "staff.door_knock.no_group"),
                       numbers=said))
        shown -= len(numbers)
    return t(language, "staff.door_knock.group_separator").join(parts)


def _walk_within(top: str, language: str, walk: Sequence[tuple[str, Sequence[str]]], link: str) -> str:
    """`top`, then as many of the numbers as fit `TEXT_ALERT_UNITS` with the line after them (how
    many more, when some are left out); then the link, on that line, when it fits too: the numbers
    are what a reader on a feature phone walks by, the page is for those who can open it."""
    total = sum(len(numbers) for _, numbers in walk)

    def text(shown: int, with_link: bool) -> str:
        rest = total - shown
        tail = t(language, "staff.door_knock.more", n=rest) if rest else ""
        if with_link:
            tail = f"{tail}: {link}" if tail else link
        listed = _walk_line(language, walk, shown)
        return "\n".join(line for line in (top, listed, tail) if line)

    shown = 0
    while shown < total and _units(text(shown + 1, False)) <= TEXT_ALERT_UNITS:
        shown += 1
    return text(shown, _units(text(shown, True)) <= TEXT_ALERT_UNITS)


# The phones an alert gives to call the household back, in this order (a mobile first: it goes where they are).
PHONE_KINDS = ("mobile", "landline")


def household_phones(household: Household | None) -> tuple[tuple[str, str], ...]:
    """(kind, E.164) of the household's working phones, mobiles first (none for no household)."""
    if household is None:
        return ()
    return tuple((kind, c.address) for kind in PHONE_KINDS for c in household.contacts
                 if c.kind == kind and c.working and c.address)


def _phone_line(language: str, phones: Sequence[tuple[str, str]]) -> str:
    def shown(e164: str) -> str:
        try:
            return format_national(e164)
        except ValueError:
            return e164
    said = " / ".join(f"{shown(e164)} ({t(language, 'staff.phone_' + kind)})" for kind, e164 in phones)
    return f"{t(language, 'staff.phone')}: {said}"


# A need-help alert that goes as a text (SMS) is kept within 4 SMS parts of Japanese (4 × 67 UTF-16
# units: the SMS sender's `MAX_SEGMENTS`): a longer one is cut by the sender from its end, where the
# line saying how to reply 対応済み is. What gives way (`help_text`): the link leaves that line (its
# reader answers by text), then the household's words are shortened.
TEXT_ALERT_UNITS = 4 * 67


def by_text(channel: ChannelName) -> bool:
    """A staff alert on `channel` is a text its reader may answer with words (SMS, read on a feature
    phone): its last line says how to reply 対応済み instead of pointing at the page alone."""
    return registry.is_channel(channel) and registry.spec(channel).message == MESSAGE_KEYWORDS


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def help_text(row: HelpRow, language: str, drill: bool, follow_up: bool, link: str, campaign: str,
              standing_in: bool = False, phones: Sequence[tuple[str, str]] = (), texted: bool = False,
              lead_units: int = 0, to_several: bool = False) -> str:
    """The alert a head reads on the phone: who, which campaign, where, how many, vulnerable, the
    phones to call it back (`phones`: (kind, E.164); a head on a feature phone calls from the alert),
    their words, the link (`campaign`: the campaign's title). `standing_in`: it goes to the district's
    or the city's staff because no head or deputy of the association can be reached; it says so. A
    withheld row (domain.consent) gives its number and 班 alone: no phone either. `texted`: it goes as
    a text (`by_text`): its last line says to reply 「対応済み」 and the household's number (then the
    link), and it is kept within `TEXT_ALERT_UNITS` (`lead_units`: of a line put before it) by
    shortening its note, then its other words (never the phones or that line). `to_several`: its
    readers' scope spans several associations, whose numbers restart each (district or city staff;
    `standing_in` says so too): the reply it asks for names the association (「対応済み 12 桜町町会」)."""
    head = (t(language, "staff.drill") if drill else "") + t(
        language, "staff.need_help.follow_up" if follow_up else "staff.need_help.title")
    top = [f"{head} {row.association}{' ' + row.group if row.group else ''}"]
    if campaign.strip():
        top.append(t(language, "staff.need_help.campaign", title=short_title(campaign)))
    why = [t(language, "staff.standing_in", association=row.association)] if standing_in else []
    if texted:  # the reply line with the link, and without it (`_within`)
        # district or city staff: 「対応済み 12」 alone may be two households (review: a round trip on the night)
        number = f"{row.household_key} {row.association}" if standing_in or to_several else row.household_key
        ends = [f"{t(language, 'staff.need_help.reply_text', number=number)} {link}",
                t(language, "staff.need_help.reply_text_only", number=number)]
    else:
        ends = [f"{t(language, 'staff.need_help.open')} {link}"]
    fit = TEXT_ALERT_UNITS - lead_units if texted else None
    # What gives way when even the shortest reply line leaves the text too long, in order: the
    # household's words, the campaign's title, the standing-in words, the address, the association's
    # name, the household's name; never the phones or the reply line (review: a long association name
    # and address had the sender cut the reply line and a phone number, 「090-1234-567…」).
    campaign_at = [1] if len(top) > 1 else []
    if row.withheld:  # a `no` household outside a real event: its number and 班 alone (domain.consent)
        return _within([*top, t(language, "staff.withheld", number=row.household_key)], "", why, ends, fit,
                       [*campaign_at, WHY, 0])
    who = f"{row.name} ({t(language, 'staff.members', n=row.members)}"
    who += f", {t(language, 'staff.vulnerable')})" if row.vulnerable else ")"
    lines = [*top, who, f"{t(language, 'staff.address')}: {row.address}"]
    if phones:
        lines.append(_phone_line(language, phones))
    facts = []
    if row.people_safe is not None:
        facts.append(t(language, "staff.safe_people", n=row.people_safe))
    if row.people_injured:
        facts.append(t(language, "staff.injured", n=row.people_injured))
    if row.location:
        where = location_words(language, row.location)
        facts.append(f"{t(language, 'staff.where')}: {where}")
    if facts:
        lines.append(" / ".join(facts))
    note = f"{t(language, 'staff.note')}: {row.note}" if row.note else ""
    return _within(lines, note, why, ends, fit, [*campaign_at, WHY, len(top) + 1, 0, len(top)])


# In `_within`'s `cut`: the standing-in words (`why`), not a line of `lines`.
WHY = -1


def _within(lines: list[str], note: str, why: Sequence[str], ends: Sequence[str], units: int | None,
            cut: Sequence[int]) -> str:
    """`lines`, then `note` (none when empty), then `why` and the first of `ends` (each shorter than the
    one before) with which the text fits `units` (None: the first); failing all, the last of `ends`,
    with the note shortened to fit (the household's words are worth more to a text's reader than the
    link), then, if still too long, the lines at `cut` (indices into `lines`, `WHY` for `why`), in that
    order."""
    def text(said: str, end: str) -> list[str]:
        return [*lines, *([said] if said else []), *why, end]

    for end in ends:
        if units is None or _units("\n".join(text(note, end))) <= units:
            return "\n".join(text(note, end))
    assert units is not None
    full = text(note, ends[-1])
    at_why = [len(lines) + (1 if note else 0) + k for k in range(len(why))]
    order = [*([len(lines)] if note else []), *(j for i in cut for j in (at_why if i == WHY else [i]))]
    return "\n".join(_cut_to(full, order, units))


def _cut_to(lines: list[str], order: Sequence[int], units: int) -> list[str]:
    """`lines` (joined by newlines) within `units`: the lines at `order`, in turn, cut from their end
    with 「…」 as far as needed; one left with fewer than `CUT_SHORTEST` units is left out."""
    out: list[str | None] = list(lines)

    def size() -> int:
        return _units("\n".join(x for x in out if x is not None))

    for i in order:
        line, over = out[i], size() - units
        if over <= 0:
            break
        if line is None:
            continue
        keep = _units(line) - over - 1  # units kept before the 「…」
        out[i] = None if keep < CUT_SHORTEST else _first_units(line, keep).rstrip() + "…"
    return [x for x in out if x is not None]


# A line `_cut_to` shortens keeps this many units at least, or goes (「メ…」 tells nobody anything).
CUT_SHORTEST = 4


def _first_units(text: str, units: int) -> str:
    """The longest start of `text` of at most `units` UTF-16 units (a character is never split)."""
    n = 0
    for i, ch in enumerate(text):
        n += _units(ch)
        if n > units:
            return text[:i]
    return text


def unhandled_text(row: HelpRow, language: str, drill: bool, link: str, campaign: str, minutes: int,
                   phones: Sequence[tuple[str, str]] = (), texted: bool = False) -> str:
    """The alert to the standing-in staff about a help request nobody marked handled for `minutes`:
    says so first, then the household as the help alert shows it (without the "no head can be
    reached" line: the association's staff may well have been told, and done nothing visible). Its
    readers are district or city staff: the reply it asks for names the association."""
    head = (t(language, "staff.drill") if drill else "") + t(
        language, "staff.need_help.unhandled", association=row.association, minutes=minutes)
    body = help_text(row, language, False, False, link, campaign, phones=phones, texted=texted,
                     lead_units=_units(head) + 1, to_several=True)
    return f"{head}\n{body}"


def standing_in(staff: list[Staff], district: str, channels: Collection[ChannelName],
                beyond_district: bool = False) -> list[Staff]:
    """Who gets an association's alerts when none of its heads and deputies can be reached (none
    registered, or none with a contact sent on here): the district's heads, or failing them the
    city's admins (pure: `staff` is every staff member). `beyond_district`: the city's admins only
    (the district's heads were the ones told already)."""
    levels = ((Role.DISTRICT_HEAD, f"district:{district}"), (Role.CITY_ADMIN, "city"))
    for role, scope in levels[1:] if beyond_district else levels:
        found = [s for s in staff if s.active and s.role == role and s.scope == scope]
        if staff_messages(found, channels):
            return found
    return []


def stand_ins_by_district(everyone: Callable[[], Awaitable[list[Staff]]], channels: Collection[ChannelName]
                          ) -> Callable[[str], Awaitable[list[Staff]]]:
    """`standing_in` of a district, for `who_is_told`: every staff member (`everyone`) read at most once,
    when a district first needs it, and each district worked out once (one alert, or one pass over
    many associations: not across them, staff change)."""
    staff: list[Staff] | None = None
    districts: dict[str, list[Staff]] = {}

    async def stand_ins(district: str) -> list[Staff]:
        nonlocal staff
        if district not in districts:
            staff = staff if staff is not None else await everyone()
            districts[district] = standing_in(staff, district, channels)
        return districts[district]

    return stand_ins


# The roles of an association's own staff: its head and deputies (`AuthStore.staff_for_association`).
OWN_ROLES = (Role.ASSOCIATION_HEAD, Role.DEPUTY)


def association_staff(staff: Sequence[Staff]) -> dict[str, list[Staff]]:
    """Each association's active heads and deputies (by association name) out of every staff member
    (pure): whom `AuthStore.staff_for_association` reads for it, when `staff` is `list_staff()` (a
    contract test holds the two equal)."""
    out: dict[str, list[Staff]] = {}
    for s in staff:
        if s.active and s.role in OWN_ROLES and s.scope.startswith("association:"):
            out.setdefault(s.scope.removeprefix("association:"), []).append(s)
    return out


@dataclass(frozen=True, slots=True)
class Told:
    """Who an association's help alert (and its door-knock list) goes to: `staff`, its own heads and
    deputies or, when `standing_in`, the staff standing in for them (none: it reaches nobody)."""

    staff: list[Staff]
    standing_in: bool

    @property
    def nobody(self) -> bool:
        return not self.staff


async def who_is_told(own: list[Staff], stand_ins: Callable[[], Awaitable[list[Staff]]],
                      channels: Collection[ChannelName]) -> Told:
    """The one rule of who is told about a household of an association: its own heads and deputies
    (`own`) when a message can go to one of them, else the staff standing in for them (`stand_ins`:
    `standing_in` of its district, asked for only then; none when no one can be reached either)."""
    if staff_messages(own, channels):
        return Told(own, False)
    return Told(await stand_ins(), True)


@dataclass(frozen=True, slots=True)
class ReachGaps:
    """The associations (of those asked about) whose help alerts would reach nobody, and those whose
    alerts would reach only staff standing in for their own (none of whom can be reached)."""

    nobody: list[Association]
    standing_in: list[Association]


async def reach_gaps(associations: Sequence[Association], staff: list[Staff],
                     channels: Collection[ChannelName]) -> ReachGaps:
    """`who_is_told` for every association at once (no store read: `staff` is every staff member), in
    the order given; the standing-in staff worked out once per district."""
    own = association_staff(staff)

    async def everyone() -> list[Staff]:
        return staff

    stand_ins = stand_ins_by_district(everyone, channels)
    nobody: list[Association] = []
    leaning: list[Association] = []
    for a in associations:
        told = await who_is_told(own.get(a.name, []), functools.partial(stand_ins, a.district), channels)
        if told.standing_in:
            (nobody if told.nobody else leaning).append(a)
    return ReachGaps(nobody, leaning)


class HelpNotifier:
    """`need_help(campaign, household)`: the alert to every head and deputy of the household's
    association, queued in the outbox (to the district's heads or the city's admins when none of
    them can be reached: `standing_in`); `on_queued` wakes a dispatcher of this process."""

    def __init__(self, store: Store, cfg: Config, channels: Collection[ChannelName], clock: Clock,
                 on_queued: Callable[[], None] | None = None) -> None:
        self.store = store
        self.cfg = cfg
        # the channels sent on (a mapping of senders will do: its keys)
        self.channels = frozenset(channels)
        self.clock = clock
        self.on_queued = on_queued

    async def need_help(self, campaign_id: int, household_id: int, follow_up: bool = False) -> None:
        await self.notify(campaign_id, household_id, follow_up)

    async def _help(self, campaign_id: int, household_id: int) -> tuple[HelpRow, CampaignPage, str, Phones] | None:
        """The help request as its alerts show it: the row as heads and deputies see it on their pages
        (domain.consent), its campaign, the link to the help list and the household's phones (none where
        the row is withheld: the rule that hides its name and address hides them); None once gone."""
        row = await self.store.replies.help_row(campaign_id, household_id)
        if row is None:
            return None
        campaign = await self.store.replies.campaign_page(campaign_id, row.association_id)
        if campaign is None:
            return None
        # alerts go while the campaign takes answers, long before retention purges it
        row = Disclosure(False, await self.store.dashboard.real_event_scopes()).asking_in(campaign.kind, None).help_row(row)
        phones = () if row.withheld else household_phones(await self.store.roster.get_household(household_id))
        return row, campaign, help_link(self.cfg.server.public_url, row.association_id, campaign_id), phones

    async def notify(self, campaign_id: int, household_id: int, follow_up: bool = False) -> NotifyReport:
        found = await self._help(campaign_id, household_id)
        if found is None:
            if not follow_up:  # gone (its household or campaign): nothing to tell now or on a resend
                await self.store.replies.mark_notified(campaign_id, household_id)
            return NotifyReport(0, 0)
        row = found[0]
        staff = await self.store.auth.staff_for_association(row.association, row.district)
        # a call for help must reach someone: failing its own, the district's heads, else the city's admins
        stand_ins = stand_ins_by_district(self.store.auth.list_staff, self.channels)
        told = await who_is_told(staff, functools.partial(stand_ins, row.district), self.channels)
        report = await self._queue_help(told.staff, found, follow_up, told.standing_in)
        # before the mark: a restart in between queues the alert again and records it again, where the
        # other order would leave an alert sent with no record of whose phone had the household's details
        await self._audit_sent(told.staff, row, campaign_id, "help")
        if told.standing_in:
            log.warning("help_to_standing_in_staff", campaign_id=campaign_id, association_id=row.association_id,
                        staff=report.recipients)
        if not follow_up:
            # In the outbox (or nobody to send to): a restart need not queue it again.
            await self.store.replies.mark_notified(campaign_id, household_id)
        if not report.recipients:
            log.warning("help_no_staff_to_notify", campaign_id=campaign_id, association_id=row.association_id)
        # a call for help that reaches no one is an operator's problem to see, not a routine line
        (log.info if report.queued else log.warning)(
            "help_notified", campaign_id=campaign_id, household_id=household_id, follow_up=follow_up,
            queued=report.queued, staff=report.recipients, staff_total=len(staff))
        return report

    async def _queue_help(self, staff: list[Staff], found: tuple[HelpRow, CampaignPage, str, Phones],
                          follow_up: bool = False, standing_in: bool = False) -> NotifyReport:
        """The help alert of `found` (`_help`'s) queued to `staff`."""
        row, campaign, link, phones = found
        drill = campaign.kind == CampaignKind.DRILL

        def text(lang: str, texted: bool) -> str:
            return help_text(row, lang, drill, follow_up, link, campaign.title, standing_in=standing_in,
                             phones=phones, texted=texted)

        return await self._queue(staff, text, link, campaign.campaign_id, about=row.household_id)

    async def catch_up(self, staff: Staff) -> NotifyReport:
        """A head or deputy added while calls for help of their association are open: each is queued to
        them as it went to the others (review: a deputy appointed in the night heard of none of them, and
        only the dashboard showed them). Those asked for since reach them as to every other."""
        if not staff.active or staff.role not in OWN_ROLES or not staff.scope.startswith("association:"):
            return NotifyReport(0, 0)
        if not staff_messages([staff], self.channels):
            return NotifyReport(0, 0)
        association = await self.store.roster.association_by_name(staff.scope.removeprefix("association:"))
        if association is None:
            return NotifyReport(0, 0)
        queued = 0
        for c in await self.store.campaigns.running():
            if c.kind == CampaignKind.CHECK:
                continue
            for open_row in await self.store.replies.help_list(c.id, [association.id]):
                found = await self._help(c.id, open_row.household_id)
                if found is None:
                    continue
                report = await self._queue_help([staff], found)
                await self._audit_sent([staff], found[0], c.id, "help")
                queued += report.queued
        if queued:
            log.info("help_caught_up", staff_id=staff.id, association_id=association.id, queued=queued)
        return NotifyReport(queued, 1 if queued else 0)

    async def escalate(self, campaign_id: int, household_id: int) -> NotifyReport:
        """Tells the standing-in staff (`standing_in`) of a help request left open too long (claimed
        once by `ReplyStore.claim_unhandled_help`), over the same outbox as the help alert."""
        found = await self._help(campaign_id, household_id)
        if found is None:
            return NotifyReport(0, 0)
        row, campaign, link, phones = found
        drill = campaign.kind == CampaignKind.DRILL
        waited = max(0, int((self.clock.now() - row.opened_at) // 60))
        everyone = await self.store.auth.list_staff()
        # When none of the association's own could be reached, the first alert went to the standing-in
        # staff: the escalation goes a level up (the city's admins), to the district again only when
        # no admin can be reached either.
        own = await self.store.auth.staff_for_association(row.association, row.district)
        others: list[Staff] = []
        if not staff_messages(own, self.channels):
            others = standing_in(everyone, row.district, self.channels, beyond_district=True)
        others = others or standing_in(everyone, row.district, self.channels)
        report = await self._queue(
            others, lambda lang, texted: unhandled_text(row, lang, drill, link, campaign.title, waited, phones,
                                                        texted=texted), link, campaign_id)
        await self._audit_sent(others, row, campaign_id, "escalation")
        log.warning("help_escalated", campaign_id=campaign_id, association_id=row.association_id,
                    household_id=household_id, recipients=report.recipients, queued=report.queued,
                    waited_minutes=waited)
        return report

    async def _audit_sent(self, staff: Sequence[Staff], row: HelpRow, campaign_id: int, what: str) -> None:
        """Each staff member the alert went to with the household's details, in the audit log as a page
        showing them would be (review: a help alert put a name, an address and phones on a deputy's phone
        with no entry, so a city could not say later whose phone had them). Written after the queueing;
        a failure is logged, the alert stands."""
        if row.withheld:
            return
        by_staff: dict[int, list[str]] = {}
        for m in staff_messages(list(staff), self.channels):
            by_staff.setdefault(m.staff_id, []).append(str(m.channel))
        now = self.clock.now()
        entries = [AuditEntry(now, s.login, str(AuditAction.NOTIFY), what, role=str(s.role), staff_id=s.id,
                              campaign_id=campaign_id, association_id=row.association_id,
                              household_id=row.household_id, detail=",".join(sorted(set(by_staff[s.id]))))
                   for s in staff if s.id in by_staff]
        if not entries:
            return
        try:
            await self.store.audit.append(entries)
        except Exception as e:
            log.error("notify_audit_unwritten", campaign_id=campaign_id, household_id=row.household_id,
                      entries=len(entries), error=str(e))

    async def door_knock_ready(self, campaign: Campaign, households_by_association: Mapping[int, int],
                               done: Callable[[int], Awaitable[object]] | None = None) -> None:
        """The ladder's last step: each head and deputy gets the link to their door-knock list; one whose
        alert goes as a text (`by_text`, a feature phone) gets the households' numbers by 班 with it.
        `done(association_id)` after each association's alerts are queued (or it has none to queue): one
        that fails counts as the association's failure."""
        associations = {a.id: a for a in await self.store.roster.list_associations()}
        drill = campaign.kind == CampaignKind.DRILL
        base = self.cfg.server.public_url.rstrip("/")
        stand_ins = stand_ins_by_district(self.store.auth.list_staff, self.channels)
        failed: Exception | None = None
        for association_id, count in sorted(households_by_association.items()):
            try:
                await self._door_knock_one(campaign, associations.get(association_id), count, drill, base, stand_ins)
                if done is not None:
                    await done(association_id)
            except Exception as e:  # one association's trouble (its staff's data) must not keep the others untold
                log.exception("door_knock_association_failed", campaign_id=campaign.id, association_id=association_id)
                failed = e
        if failed is not None:
            raise failed

    async def _door_knock_one(self, campaign: Campaign, a: Association | None, count: int, drill: bool, base: str,
                              stand_ins: Callable[[str], Awaitable[list[Staff]]]) -> None:
        """One association's door-knock notices, queued (nothing for an association gone or none to visit)."""
        if a is None:
            # removed from the roster since its households were listed: nobody left to tell of them
            log.warning("door_knock_association_gone", campaign_id=campaign.id, households=count)
            return
        if count <= 0:
            return
        staff = await self.store.auth.staff_for_association(a.name, a.district)
        link = f"{base}/a/{a.id}/doorknock?campaign={campaign.id}"
        # the walk must still be someone's: see `who_is_told`
        told = await who_is_told(staff, functools.partial(stand_ins, a.district), self.channels)
        walk: list[tuple[str, list[str]]] = []
        if any(by_text(m.channel) for m in staff_messages(told.staff, self.channels)):
            # QA: a deputy on a feature phone knew how many households, not which (she cannot open
            # the page): the page's own read, once for the association, numbers and 班 alone
            walk = door_knock_walk(await self.store.dashboard.households(campaign.id, a.id))

        text = functools.partial(_door_knock_for, a.name, count, drill=drill, link=link,
                                 standing_in=told.standing_in, walk=walk)
        report = await self._queue(told.staff, text, link, campaign.id)
        log.info("door_knock_notified", campaign_id=campaign.id, association_id=a.id, households=count,
                 queued=report.queued)

    async def _queue(self, staff: list[Staff], text_for: Callable[[str, bool], str], link: str,
                     campaign_id: int, about: int | None = None) -> NotifyReport:
        """`text_for(language, texted)`: the alert in a language, as a text (`by_text`) or not; `about`, the
        household a help alert carries the call of (should all its alerts fail, the request escalates at
        once: `domain.replies.escalation_due`)."""
        messages = staff_messages(staff, self.channels)
        alerts = [StaffAlert(campaign_id, m.staff_id, m.channel, m.address, text_for(m.language, by_text(m.channel)),
                             link, about_household=about) for m in messages]
        if alerts:
            await self.store.outbox.queue_staff(alerts, self.clock.now())
            if self.on_queued is not None:
                self.on_queued()
        return NotifyReport(len(alerts), len({m.staff_id for m in messages}))


# The broadcast ladder's DoorKnockNotifier and the intake's HelpNotifier are the same object.
StaffNotifier = HelpNotifier
