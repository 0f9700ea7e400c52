"""Enrolment: a household, from the code on its letter, adds or removes its own contacts.

How depends on the channel, as its spec declares (`channels.spec.ENROL_*`): a browser's push
subscription (checked by the channel: its push service on the allowlist), the letter's code sent
to the channel's bot (Telegram `/start CODE`: the webhook hands it to `link`), or an address typed
on the page and confirmed by a code (SMS) or a link (email) sent over the channel itself. An
unknown code and a malformed one fail the same way.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from safetynet.auth import keyed_hash
from safetynet.channels import registry
from safetynet.channels.base import ChannelSender, OutboundMessage, Reason, SendError
from safetynet.channels.spec import (
    ENROL_CONFIRM_CODE,
    ENROL_CONFIRM_LINK,
    ENROL_MESSAGE_CODE,
    ENROL_SUBSCRIPTION,
    ChannelSpec,
    load,
)
from safetynet.clock import Clock
from safetynet.config import Config, channel_context
from safetynet.domain import ChannelName, ContactKind
from safetynet.domain.audit import AuditAction, AuditEntry
from safetynet.domain.roster import Contact, Household
from safetynet.replies.tokens import looks_like_token, token_part
from safetynet.replies.words import enrol_word
from safetynet.roster.codes import CodeError, MissingSecretKey, hash_code
from safetynet.roster.contacts import normalise_contact
from safetynet.store import Store

log = structlog.get_logger("replies")

RESIDENT = "resident"  # the audit log's actor for a household on its own enrolment page

CONFIRM_CODE_DIGITS = 6
CONFIRM_CODE_TTL_SECONDS = 600
# A link in a mailbox is opened later than a code on a phone is typed.
CONFIRM_LINK_TTL_SECONDS = 24 * 3600
# Six digits and five tries: one chance in 200,000 to guess a code before it is used up.
CONFIRM_MAX_ATTEMPTS = 5


class EnrolmentError(Exception):
    """The code is unknown or malformed (indistinguishable)."""


class SubscriptionGone(Exception):
    """The browser sent back a subscription its push service already refused as gone: stored again,
    it would say 「登録しました」 and fail at the next alert. The page subscribes anew (`enrol.js`)."""


class ChannelRefused(Exception):
    """What the household asked for cannot be done; `role` names the channel's words to show
    (`Enrolment.key` of the channel: bad_address, wrong, too_many…)."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


@dataclass(frozen=True, slots=True)
class EnrolledHousehold:
    household_id: int
    association: str
    name: str
    language: str


@dataclass(frozen=True, slots=True)
class ChannelView:
    contact_id: int
    kind: ContactKind
    shown: str  # masked: enough to recognise, not enough to leak


def enrolling_specs(specs: Sequence[ChannelSpec] | None = None) -> list[ChannelSpec]:
    """The channels a household can enrol itself, in registry order."""
    return [s for s in (specs or registry.SPECS) if s.enrolment is not None]


class Enrolment:
    def __init__(self, store: Store, cfg: Config, clock: Clock,
                 senders: Mapping[ChannelName, ChannelSender] | None = None,
                 specs: Sequence[ChannelSpec] | None = None) -> None:
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.senders = senders or {}
        self.specs = {s.name: s for s in enrolling_specs(specs)}

    def spec(self, channel: ChannelName, method: str | None = None) -> ChannelSpec:
        """The enrolling spec of `channel` (of `method` when given); KeyError when there is none."""
        spec = self.specs[channel]
        assert spec.enrolment is not None
        if method is not None and spec.enrolment.method != method:
            raise KeyError(channel)
        return spec

    def enabled(self) -> list[ChannelSpec]:
        """The enrolling channels that are switched on here."""
        return [s for s in self.specs.values() if self.cfg.channels.get(s.name).enabled]

    # -- the household -------------------------------------------------------------------------

    async def household(self, code: str) -> Household:
        try:
            code_hash = hash_code(code, self.cfg.secrets.secret_key)
        except (CodeError, MissingSecretKey):
            raise EnrolmentError("unknown enrolment code") from None
        found = await self.store.roster.household_by_code_hash(code_hash)
        if found is None:
            raise EnrolmentError("unknown enrolment code")
        return found

    async def summary(self, code: str) -> EnrolledHousehold:
        h = await self.household(code)
        return _enrolled(h)

    async def channels(self, code: str) -> tuple[EnrolledHousehold, list[ChannelView]]:
        h = await self.household(code)
        views = [ChannelView(c.id, c.kind, registry.mask(c.kind, c.address)) for c in h.contacts if c.working]
        return _enrolled(h), views

    async def remove(self, code: str, contact_id: int) -> Contact | None:
        """Removes one of this household's own contacts (never another household's): the contact removed,
        or None. The store remembers it, so that a roster import does not add it back."""
        h = await self.household(code)
        contact = next((c for c in h.contacts if c.id == contact_id), None)
        if contact is None:
            return None
        done = await self.store.roster.remove_contact(contact_id)
        log.info("enrol_contact_removed", household_id=h.id, removed=done)
        return contact if done else None

    # -- the letter's code sent to a bot (ENROL_MESSAGE_CODE) ----------------------------------

    async def link(self, code: str, kind: ContactKind, address: str) -> EnrolledHousehold:
        """The address (a chat, a LINE user) becomes the household's contact of `kind`; ValueError
        when the kind's own rule refuses the address."""
        h = await self.household(code)
        await self.store.roster.add_contact(h.id, kind, normalise_contact(kind, address), source="enrolment")
        log.info("enrol_linked", household_id=h.id, kind=kind)
        return _enrolled(h)

    # -- a browser's subscription (ENROL_SUBSCRIPTION) -----------------------------------------

    async def subscribe(self, channel: ChannelName, code: str, subscription: Any) -> Contact:
        """Stores the browser's subscription; ValueError when the channel refuses it (malformed, off
        the allowlist), SubscriptionGone when it is one the push service already said is gone."""
        spec = self.spec(channel, ENROL_SUBSCRIPTION)
        h = await self.household(code)
        assert spec.enrolment is not None and spec.enrolment.accept is not None
        address = load(spec.enrolment.accept)(channel_context(self.cfg, channel, clock=self.clock), subscription)
        if any(c.kind == spec.enrolment.kind and c.address == address and not c.working for c in h.contacts):
            # a subscription marked dead when its push service said gone (404/410): the browser still
            # holds it (review: the page revived it, said 「登録しました」, and the next push failed again)
            raise SubscriptionGone(channel)
        contact = await self.store.roster.add_contact(h.id, spec.enrolment.kind, address, source="enrolment")
        log.info("enrol_subscribed", household_id=h.id, channel=channel)
        return contact

    async def renew(self, old: Any, new: Any) -> int:
        """A browser's own new subscription in place of its old one (the service worker's
        `pushsubscriptionchange`: Firefox renews an expiring one by itself, and the old went dead at the
        next push with no word to the household). Every contact that holds the old one, whole (the
        browser's own secret: it names the household as an enrolment code would), moves to the new.
        Returns how many (0: the same subscription again); ValueError when either is refused, LookupError
        when no contact holds the old."""
        channels = [s for s in self.enabled() if s.enrolment is not None and s.enrolment.method == ENROL_SUBSCRIPTION]
        for spec in channels:
            assert spec.enrolment is not None and spec.enrolment.accept is not None
            accept = load(spec.enrolment.accept)
            ctx = channel_context(self.cfg, spec.name, clock=self.clock)
            was, now = accept(ctx, old), accept(ctx, new)
            kind = spec.enrolment.kind
            if was == now:  # the browser gave back the one it had: nothing to move (the upsert would return
                # the same contact, and removing "the old" removed the household's push: the last hour's review)
                if await self.store.roster.households_by_contact([kind], was):
                    return 0
                continue
            moved = 0
            for h in await self.store.roster.households_by_contact([kind], was):
                for c in h.contacts:
                    if c.kind == kind and c.address == was:
                        await self.store.roster.add_contact(h.id, kind, now, source="enrolment")
                        await self.store.roster.remove_contact(c.id)
                        moved += 1
            if moved:
                log.info("push_subscription_renewed", channel=spec.name, contacts=moved)
                return moved
        raise LookupError("no contact holds that subscription")

    # -- an address confirmed by a code or a link (ENROL_CONFIRM_CODE, ENROL_CONFIRM_LINK) -------

    async def start_confirm(self, channel: ChannelName, code: str, typed: str) -> None:
        """Sends a confirmation code (or link) to the typed address over `channel` itself; raises
        ChannelRefused("bad_address" | "too_many" | "not_sent")."""
        spec = self.specs[channel]
        assert spec.enrolment is not None
        method = spec.enrolment.method
        if method not in (ENROL_CONFIRM_CODE, ENROL_CONFIRM_LINK):
            raise KeyError(channel)
        h = await self.household(code)
        try:
            address = spec.enrolment.parse(typed)
        except ValueError:
            raise ChannelRefused("bad_address") from None
        if method == ENROL_CONFIRM_CODE:
            secret = "".join(secrets.choice("0123456789") for _ in range(CONFIRM_CODE_DIGITS))
            ttl, link = CONFIRM_CODE_TTL_SECONDS, ""
        else:
            secret = secrets.token_urlsafe(16)
            ttl, link = CONFIRM_LINK_TTL_SECONDS, confirm_link(self.cfg.server.public_url, code, channel, secret)
        ok = await self.store.replies.start_phone_verification(h.id, address, self._hash(channel, h.id, secret), ttl)
        if not ok:
            raise ChannelRefused("too_many")
        text = enrol_word(spec, h.language, "message", code=secret, link=link)
        await self._send(spec, h, address, text, link)

    async def _send(self, spec: ChannelSpec, h: Household, address: str, text: str, link: str) -> None:
        sender = self.senders.get(spec.name)
        if sender is None:
            raise ChannelRefused("not_sent")
        msg = OutboundMessage(
            channel=spec.name, delivery_id=0, campaign_id=0, household_id=h.id, address=address, text=text,
            reply_url=link, reply_token="", language=h.language, drill=False,
            title=enrol_word(spec, h.language, "subject", default=""),
        )
        try:
            await sender.send(msg)
        except SendError as e:
            log.warning("enrol_code_not_sent", household_id=h.id, channel=spec.name, reason=e.reason)
            # only a refusal of the address is the resident's to mend: a relay or provider down (or
            # our own configuration) told them to check an address that was right
            raise ChannelRefused("bad_address" if _address_refused(e) else "not_sent") from None

    async def confirm(self, channel: ChannelName, code: str, typed: str) -> Contact:
        """The code typed (or the link's secret) proves the address: it becomes the household's
        contact. ChannelRefused("wrong") when it does not match, expired or ran out of tries."""
        spec = self.specs[channel]
        assert spec.enrolment is not None
        h = await self.household(code)
        if spec.enrolment.method == ENROL_CONFIRM_CODE:
            typed = typed_digits(typed)
            if len(typed) != CONFIRM_CODE_DIGITS:
                raise ChannelRefused("wrong")  # no code of ours: no try used up (a slip, not a guess)
        elif spec.enrolment.method == ENROL_CONFIRM_LINK:
            typed = link_secret(typed)
        else:
            raise KeyError(channel)
        address = await self.store.replies.check_phone_code(h.id, self._hash(channel, h.id, typed),
                                                            CONFIRM_MAX_ATTEMPTS)
        if address is None:
            raise ChannelRefused("wrong")
        contact = await self.store.roster.add_contact(h.id, spec.enrolment.kind, address, source="enrolment")
        log.info("enrol_confirmed", household_id=h.id, channel=channel)
        return contact

    def _hash(self, channel: ChannelName, household_id: int, secret: str) -> str:
        # the channel is part of it: a code sent by SMS confirms nothing on another channel
        return keyed_hash(self.cfg.secrets.secret_key, f"{channel}:{household_id}:{secret}")


def removal_entry(at: float, contact: Contact) -> AuditEntry:
    """The audit entry of a contact its resident removed (DESIGN §9): the household and the kind, never the
    address, as a staff member's changed contacts are recorded (QA, privacy walk: no entry at all)."""
    return AuditEntry(at, RESIDENT, str(AuditAction.CONTACT), "remove", household_id=contact.household_id,
                      detail=str(contact.kind))


def _address_refused(e: SendError) -> bool:
    """A send failure the typed address caused: dead, or refused for good for a reason not our own
    (a wrong sender address or login is CONFIGURATION; a relay down or a timeout is retryable)."""
    return e.contact_dead or (not e.retryable and e.reason != Reason.CONFIGURATION)


def typed_digits(typed: str) -> str:
    """The digits of a code as a person types it, in ASCII: full width (「５６６５１０」, as a phone's
    Japanese IME types it; QA: refused, and a try used up) or another script's digits, with spaces,
    hyphens or anything else between them left out."""
    out = []
    for ch in unicodedata.normalize("NFKC", typed):
        d = unicodedata.decimal(ch, None)
        if d is not None:
            out.append(str(d))
    return "".join(out)


def link_secret(text: str) -> str:
    """A confirmation link's secret as it arrives: a mail app takes 「。」 or the next words along with
    the link (QA: `?t=…。` showed the button, whose press then said the link was used up); the
    resident links' one rule (`tokens.token_part`)."""
    text = text.strip()
    return token_part(text, looks_like_token) or text


def confirm_link(public_url: str, code: str, channel: ChannelName, secret: str) -> str:
    """The page that confirms an address (a GET shows a button; only its POST confirms: mail
    scanners and link previewers open links)."""
    from urllib.parse import quote

    return f"{public_url.rstrip('/')}/join/{quote(code, safe='')}/{quote(channel, safe='')}/confirm?t={quote(secret, safe='')}"


def message_code_spec(kind: ContactKind, specs: Sequence[ChannelSpec] | None = None) -> ChannelSpec | None:
    """The channel whose bot links an address of `kind` by the letter's code."""
    for s in enrolling_specs(specs):
        if s.enrolment is not None and s.enrolment.method == ENROL_MESSAGE_CODE and s.enrolment.kind == kind:
            return s
    return None


def _enrolled(h: Household) -> EnrolledHousehold:
    return EnrolledHousehold(h.id, h.association, h.name, h.language)
