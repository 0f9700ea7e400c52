"""Telling the association's head and deputies, over their own contacts, that a household needs help.

Every contact a staff member has gets the alert at once, over the first channel that sends to its
kind and carries staff alerts (Telegram, web push, SMS…; never a keypad call): a missed alert
costs far more than a duplicate one. Transient provider errors are retried with backoff (honouring
Retry-After); permanent ones are logged and the other channels still carry the alert.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from safetynet.channels import registry
from safetynet.channels.base import ChannelSender, OutboundMessage, RetryableSendError, SendError
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import CampaignKind, ChannelName
from safetynet.domain.campaigns import Campaign
from safetynet.domain.consent import Disclosure
from safetynet.domain.replies import HelpRow
from safetynet.domain.roster import Staff
from safetynet.i18n import t
from safetynet.store import Store

log = structlog.get_logger("replies")

# Attempts per staff member and channel; with the backoff below they span about a minute.
MAX_ATTEMPTS = 5
MAX_WAIT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class StaffMessage:
    staff_id: int
    channel: ChannelName
    address: str
    language: str


@dataclass(frozen=True, slots=True)
class NotifyReport:
    sent: int
    failed: int
    recipients: int  # staff members with at least one contact


def alert_channel(kind: str, senders: Mapping[ChannelName, object]) -> ChannelName | None:
    """The channel a staff alert to a contact of `kind` goes out on: the first one (registry order)
    that sends to the kind, carries staff alerts and has a sender here."""
    for ch in registry.channels_of_kind().get(kind, ()):
        if ch in senders and registry.spec(ch).staff_alerts:
            return ch
    return None


def staff_messages(staff: list[Staff], senders: Mapping[ChannelName, object]) -> list[StaffMessage]:
    """Each active staff member's contacts over the channels this server can send on."""
    out: list[StaffMessage] = []
    for s in staff:
        if not s.active:
            continue
        for kind, address in s.contacts:
            channel = alert_channel(kind, senders)
            if address and channel is not None:
                out.append(StaffMessage(s.id, channel, address, s.language))
    return out


_LOCATIONS = {"home": "staff.location.home", "shelter": "staff.location.shelter", "elsewhere": "staff.location.elsewhere"}


def door_knock_text(association: str, households: int, language: str, drill: bool, link: str) -> str:
    head = t(language, "staff.drill") if drill else ""
    return f"{head}{t(language, 'staff.door_knock', association=association, households=households)}\n{link}"


def help_text(row: HelpRow, language: str, drill: bool, follow_up: bool, link: str) -> str:
    """The alert a head reads on the phone: who, where, how many, vulnerable, their words, the link."""
    head = (t(language, "staff.drill") if drill else "") + t(
        language, "staff.need_help.follow_up" if follow_up else "staff.need_help.title")
    if row.withheld:  # a `no` household outside a real event: its number and 班 alone (domain.consent)
        return "\n".join([f"{head} {row.association}{' ' + row.group if row.group else ''}",
                          t(language, "staff.withheld", number=row.household_key),
                          f"{t(language, 'staff.need_help.open')} {link}"])
    who = f"{row.name} ({t(language, 'staff.members', n=row.members)}"
    who += f", {t(language, 'staff.vulnerable')})" if row.vulnerable else ")"
    lines = [f"{head} {row.association}{' ' + row.group if row.group else ''}", who,
             f"{t(language, 'staff.address')}: {row.address}"]
    facts = []
    if row.people_injured:
        facts.append(t(language, "staff.injured", n=row.people_injured))
    if row.location:
        where = t(language, _LOCATIONS[row.location]) if row.location in _LOCATIONS else row.location
        facts.append(f"{t(language, 'staff.where')}: {where}")
    if facts:
        lines.append(" / ".join(facts))
    if row.note:
        lines.append(f"{t(language, 'staff.note')}: {row.note}")
    lines.append(f"{t(language, 'staff.need_help.open')} {link}")
    return "\n".join(lines)


class _WaitRetryAfter(wait_base):
    """The provider's Retry-After when it gave one, else exponential backoff with jitter."""

    def __init__(self) -> None:
        self.fallback = wait_exponential_jitter(multiplier=1, max=MAX_WAIT_SECONDS, jitter=1)

    def __call__(self, retry_state: object) -> float:
        outcome = getattr(retry_state, "outcome", None)
        error = outcome.exception() if outcome is not None else None
        after = getattr(error, "retry_after", None)
        if after is not None:
            return float(min(max(after, 0.0), MAX_WAIT_SECONDS))
        return float(self.fallback(retry_state))  # type: ignore[arg-type]


class HelpNotifier:
    """`need_help(campaign, household)`: the alert to every head and deputy of the household's association."""

    def __init__(self, store: Store, cfg: Config, senders: Mapping[ChannelName, ChannelSender], clock: Clock) -> None:
        self.store = store
        self.cfg = cfg
        self.senders = senders
        self.clock = clock

    async def need_help(self, campaign_id: int, household_id: int, follow_up: bool = False) -> None:
        await self.notify(campaign_id, household_id, follow_up)

    async def notify(self, campaign_id: int, household_id: int, follow_up: bool = False) -> NotifyReport:
        row = await self.store.replies.help_row(campaign_id, household_id)
        target = await self.store.replies.target(campaign_id, household_id)
        if row is None or target is None:
            return NotifyReport(0, 0, 0)
        staff = await self.store.auth.staff_for_association(row.association, row.district)
        # heads and deputies get what their pages show them (domain.consent)
        row = Disclosure(False, await self.store.dashboard.real_event_scopes()).help_row(row)
        link = f"{self.cfg.server.public_url.rstrip('/')}/a/{row.association_id}"
        drill = target.kind == CampaignKind.DRILL
        report = await self._send_all(
            staff, lambda lang: help_text(row, lang, drill, follow_up, link), link, campaign_id, household_id, drill
        )
        if not follow_up and (report.sent or not report.recipients):
            # Sent, or nobody to send to (no head or deputy with a contact): a restart need not retry.
            await self.store.replies.mark_notified(campaign_id, household_id)
        if not report.recipients:
            log.warning("help_no_staff_to_notify", campaign_id=campaign_id, association_id=row.association_id)
        log.info("help_notified", campaign_id=campaign_id, household_id=household_id, follow_up=follow_up,
                 sent=report.sent, failed=report.failed, staff=report.recipients, staff_total=len(staff))
        return report

    async def door_knock_ready(self, campaign: Campaign, households_by_association: Mapping[int, int]) -> None:
        """The ladder's last step: each head and deputy gets the link to their door-knock list."""
        associations = {a.id: a for a in await self.store.roster.list_associations()}
        drill = campaign.kind == CampaignKind.DRILL
        base = self.cfg.server.public_url.rstrip("/")
        for association_id, count in sorted(households_by_association.items()):
            a = associations.get(association_id)
            if a is None or count <= 0:
                continue
            staff = await self.store.auth.staff_for_association(a.name, a.district)
            link = f"{base}/a/{a.id}/doorknock?campaign={campaign.id}"
            report = await self._send_all(
                staff, functools.partial(door_knock_text, a.name, count, drill=drill, link=link),
                link, campaign.id, 0, drill,
            )
            log.info("door_knock_notified", campaign_id=campaign.id, association_id=a.id, households=count,
                     sent=report.sent, failed=report.failed)

    async def _send_all(
        self, staff: list[Staff], text_for: Callable[[str], str], link: str, campaign_id: int, household_id: int,
        drill: bool,
    ) -> NotifyReport:
        messages = staff_messages(staff, self.senders)
        results = await asyncio.gather(
            *(self._send(m, text_for(m.language), link, campaign_id, household_id, drill) for m in messages),
            return_exceptions=True,
        )
        sent = sum(1 for r in results if r is True)
        return NotifyReport(sent, len(results) - sent, len({m.staff_id for m in messages}))

    async def _send(self, m: StaffMessage, text: str, link: str, campaign_id: int, household_id: int,
                    drill: bool) -> bool:
        msg = OutboundMessage(
            channel=m.channel, delivery_id=0, campaign_id=campaign_id, household_id=household_id,
            address=m.address, text=text, reply_url=link, reply_token="", language=m.language,
            drill=drill, title=text.split("\n", 1)[0],
        )
        sender = self.senders[m.channel]
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(MAX_ATTEMPTS),
                wait=_WaitRetryAfter(),
                retry=retry_if_exception(lambda e: isinstance(e, RetryableSendError)),
                sleep=self.clock.sleep,
                reraise=True,
            ):
                with attempt:
                    await sender.send(msg)
        except SendError as e:
            log.warning("staff_notify_channel_failed", staff_id=m.staff_id, channel=m.channel, reason=e.reason)
            return False
        return True


# The broadcast ladder's DoorKnockNotifier and the intake's HelpNotifier are the same object.
StaffNotifier = HelpNotifier
