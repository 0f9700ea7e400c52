"""Enrolment: a household, from the code on its letter, adds or removes its own channels.

Web push (the browser's subscription, its push service on the allowlist), Telegram (`/start CODE`
links the chat), or a mobile number confirmed by a 6-digit code sent over SMS. An unknown code
and a malformed one fail the same way.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import structlog

from safetynet.auth import keyed_hash
from safetynet.channels.base import ChannelSender, OutboundMessage, SendError
from safetynet.channels.webpush import sandbox_hosts, validate_subscription
from safetynet.clock import Clock
from safetynet.config import Config
from safetynet.domain import Channel, ContactKind
from safetynet.domain_phones import PhoneError, PhoneKind, parse_phone
from safetynet.replies import texts
from safetynet.roster.codes import CodeError, MissingSecretKey, hash_code
from safetynet.roster.model import Contact, Household
from safetynet.store import Store

log = structlog.get_logger("replies")

PHONE_CODE_DIGITS = 6
PHONE_CODE_TTL_SECONDS = 600
# Six digits and five tries: one chance in 200,000 to guess a code before it is used up.
PHONE_CODE_MAX_ATTEMPTS = 5


class EnrolmentError(Exception):
    """The code is unknown or malformed (indistinguishable)."""


class ChannelRefused(Exception):
    """What the household asked for cannot be done; `key` names the text to show."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


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


def mask_contact(c: Contact) -> str:
    if c.kind in (ContactKind.MOBILE, ContactKind.LANDLINE):
        digits = "".join(ch for ch in c.address if ch.isdigit())
        return "…" + digits[-4:]
    if c.kind == ContactKind.WEBPUSH:
        try:
            host = urlsplit(json.loads(c.address).get("endpoint", "")).hostname or ""
        except (ValueError, AttributeError):
            host = ""
        return host
    return "chat …" + c.address[-3:]


class Enrolment:
    def __init__(self, store: Store, cfg: Config, clock: Clock, senders: Mapping[Channel, ChannelSender] | None = None):
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.senders = senders or {}

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
        return EnrolledHousehold(h.id, h.association, h.name, h.language)

    async def channels(self, code: str) -> tuple[EnrolledHousehold, list[ChannelView]]:
        h = await self.household(code)
        views = [ChannelView(c.id, c.kind, mask_contact(c)) for c in h.contacts if c.working]
        return EnrolledHousehold(h.id, h.association, h.name, h.language), views

    async def link_telegram(self, code: str, chat_id: int) -> EnrolledHousehold:
        h = await self.household(code)
        await self.store.roster.add_contact(h.id, ContactKind.TELEGRAM, str(chat_id), source="enrolment")
        log.info("enrol_telegram_linked", household_id=h.id)
        return EnrolledHousehold(h.id, h.association, h.name, h.language)

    async def add_webpush(self, code: str, subscription: Any) -> Contact:
        """Stores the browser's subscription; ValueError when it is malformed or off the allowlist."""
        h = await self.household(code)
        wp = self.cfg.channels.webpush
        sub = validate_subscription(subscription, wp.allowed_hosts, sandbox_hosts(self.cfg))
        # Canonical JSON, so the same browser subscribing twice is the same contact.
        address = json.dumps(sub, separators=(",", ":"), sort_keys=True)
        contact = await self.store.roster.add_contact(h.id, ContactKind.WEBPUSH, address, source="enrolment")
        log.info("enrol_webpush_added", household_id=h.id)
        return contact

    async def start_phone(self, code: str, phone_text: str) -> None:
        """Sends a confirmation code to a mobile number; raises ChannelRefused with the reason."""
        h = await self.household(code)
        try:
            number = parse_phone(phone_text)
        except PhoneError:
            raise ChannelRefused("enrol_bad_phone") from None
        if number.kind != PhoneKind.MOBILE:
            raise ChannelRefused("enrol_bad_phone")
        sms_code = "".join(secrets.choice("0123456789") for _ in range(PHONE_CODE_DIGITS))
        ok = await self.store.replies.start_phone_verification(
            h.id, number.e164, self._code_hash(h.id, sms_code), PHONE_CODE_TTL_SECONDS
        )
        if not ok:
            raise ChannelRefused("enrol_too_many")
        await self._send_code(h, number.e164, sms_code)

    async def _send_code(self, h: Household, e164: str, sms_code: str) -> None:
        sender = self.senders.get(Channel.SMS)
        if sender is None:
            raise ChannelRefused("enrol_too_many")
        text = texts.t(h.language, "enrol_sms_code", code=sms_code)
        msg = OutboundMessage(
            channel=Channel.SMS, delivery_id=0, campaign_id=0, household_id=h.id, address=e164, text=text,
            reply_url="", reply_token="", language=h.language, drill=False, title="",
        )
        try:
            await sender.send(msg)
        except SendError as e:
            log.warning("enrol_code_not_sent", household_id=h.id, reason=e.reason)
            raise ChannelRefused("enrol_bad_phone") from None

    async def confirm_phone(self, code: str, sms_code: str) -> Contact:
        h = await self.household(code)
        typed = "".join(ch for ch in sms_code if ch.isdigit())[:PHONE_CODE_DIGITS]
        phone = await self.store.replies.check_phone_code(
            h.id, self._code_hash(h.id, typed), PHONE_CODE_MAX_ATTEMPTS
        )
        if phone is None:
            raise ChannelRefused("enrol_wrong_code")
        contact = await self.store.roster.add_contact(h.id, ContactKind.MOBILE, phone, source="enrolment")
        log.info("enrol_phone_confirmed", household_id=h.id)
        return contact

    async def remove(self, code: str, contact_id: int) -> bool:
        """Removes one of this household's own contacts (never another household's)."""
        h = await self.household(code)
        if contact_id not in {c.id for c in h.contacts}:
            return False
        done = await self.store.roster.remove_contact(contact_id)
        log.info("enrol_contact_removed", household_id=h.id, removed=done)
        return done

    def _code_hash(self, household_id: int, sms_code: str) -> str:
        return keyed_hash(self.cfg.secrets.secret_key, f"phone:{household_id}:{sms_code}")
