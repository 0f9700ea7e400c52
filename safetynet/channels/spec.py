"""`ChannelSpec`: everything the rest of SafetyNet may know about one channel, declared once.

A channel package's `__init__.py` holds its `SPEC`; `registry.SPECS` lists them. Config, the roster
columns, enrolment, webhooks, the planner, the preview, the sandbox and the simulated residents
loop over the specs; nothing else names a channel. Specs stay light: what needs the provider's
library (the sender, the webhooks, the sandbox fake, the simulated resident) is named as a
"module:callable" string and imported only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from safetynet.channels.base import ChannelName, ChannelSettings, ContactKind, SecretSpec

# How a household adds a contact of a channel from its enrolment page (`/join/{code}`).
# The browser's push subscription (`POST /join/{code}/{channel}` with its JSON).
ENROL_SUBSCRIPTION = "subscription"
# The resident sends the letter's code to the channel's bot (Telegram `/start CODE`, a LINE message):
# the webhook hands it to `InboundPort.link`.
ENROL_MESSAGE_CODE = "message_code"
# The resident types an address, gets a code over the channel and types it back (SMS).
ENROL_CONFIRM_CODE = "confirm_code"
# The resident types an address, gets a link over the channel and opens it (email).
ENROL_CONFIRM_LINK = "confirm_link"
ENROL_METHODS = (ENROL_SUBSCRIPTION, ENROL_MESSAGE_CODE, ENROL_CONFIRM_CODE, ENROL_CONFIRM_LINK)
# The texts each method's section shows (`Enrolment.key` names their catalog keys); a confirmation
# may also have a "subject" (an email's) and an "allow" (the sender a filtering phone must let through).
ENROL_ROLES: dict[str, tuple[str, ...]] = {
    ENROL_SUBSCRIPTION: ("title", "button", "nojs", "done", "failed"),
    ENROL_MESSAGE_CODE: ("title", "link", "manual", "done"),
    ENROL_CONFIRM_CODE: ("title", "address", "send", "sent", "code", "confirm", "wrong", "bad_address", "too_many",
                         "not_sent", "message", "done"),
    ENROL_CONFIRM_LINK: ("title", "address", "send", "sent", "confirm", "wrong", "bad_address", "too_many",
                         "not_sent", "message", "done"),
}
# Roles whose text is the same whatever the channel: one key for all ("not_sent": the provider or our
# side failed, not the address the resident typed).
_SHARED_ROLES = {"not_sent": "enrol.not_sent"}

# How a campaign message is laid out for a channel (broadcast/messages.py writes each).
# Title, body, then "回答はこちら: LINK" (app messengers).
MESSAGE_FULL = "full"
# Body, link, then the reply keywords (SMS: billed per segment, answered by keyword from feature phones).
MESSAGE_KEYWORDS = "keywords"
# Body and link only (a call reads its own question; the text is its record).
MESSAGE_SPOKEN = "spoken"
# The reply link first, then title and body (plain-text email: the link shows in every preview).
MESSAGE_LINK_FIRST = "link_first"
# Title and body only, the same for every household of a campaign and language: the channel's own
# buttons answer (LINE's postbacks name the campaign; the sender's user id names the household), so
# one multicast carries it to many.
MESSAGE_SHARED = "shared"
# Without the title: a notification shows the title (drill mark included) on a line of its own, and
# the title again was most of its few lines. The drill mark and the link stay (DESIGN: every text
# carries the reply link; a notification may be shown by its text alone).
MESSAGE_NOTIFICATION = "notification"
MESSAGE_LAYOUTS = (MESSAGE_FULL, MESSAGE_KEYWORDS, MESSAGE_SPOKEN, MESSAGE_LINK_FIRST, MESSAGE_SHARED,
                   MESSAGE_NOTIFICATION)


def identity(value: str) -> str:
    return value


@dataclass(frozen=True)
class ContactKindSpec:
    """A kind of address (mobile, landline, telegram, webpush…), declared by exactly one channel."""

    name: ContactKind
    # What the enrolment page shows of an address: enough to recognise, not enough to leak.
    mask: Callable[[str], str]
    # The stored form of an address (E.164 for phones); ValueError when it cannot be one.
    normalise: Callable[[str], str] = identity
    # Catalog key of its label (携帯電話（SMS・音声）); default `contact.kind.{name}`.
    label_key: str = ""

    def __post_init__(self) -> None:
        if not self.label_key:
            object.__setattr__(self, "label_key", f"contact.kind.{self.name}")


@dataclass(frozen=True)
class RosterColumn:
    """A roster CSV column that holds one contact of `kind` per household.

    `parse(cell, shown)` gives the address or raises ValueError with a message fit to show next to
    the row and column; `shown` maps the roster's column keys to their headers as written (so a
    message can say "put it in column 固定電話"). `format` gives the cell back on export.
    """

    key: str  # the English header, also the column's key
    ja: str  # the Japanese header
    kind: ContactKind
    parse: Callable[[str, Mapping[str, str]], str]
    format: Callable[[str], str] = identity
    aliases: tuple[str, ...] = ()  # other spellings people use in headers
    # Where it sits among the contact columns of a roster file (lower first; then registry order).
    position: int = 100


@dataclass(frozen=True)
class Enrolment:
    """How a household adds this channel's contact itself (one of `ENROL_METHODS`).

    Catalog keys of the page's words are `enrol.{channel}.{role}` unless `words` maps a role to
    another key. Roles: title, done (every method); button, nojs, failed (subscription); link,
    manual (message code); address, send, sent, code, confirm, wrong, bad_address, too_many,
    not_sent (shared), message, and optionally subject and allow (the sender to let through; confirm code/link).
    """

    method: str
    kind: ContactKind
    # confirm code/link: the typed address → the stored address; ValueError when this channel cannot take it.
    parse: Callable[[str], str] = identity
    # subscription: "module:callable" (ctx, the browser's JSON) → address; ValueError with the reason.
    accept: str | None = None
    # "module:callable" async (ctx, sender, code) → dict of what the page shows (a deep link, a key).
    page: str | None = None
    input_type: str = "text"  # of the address field: tel, email
    words: Mapping[str, str] = field(default_factory=dict)

    def key(self, channel: ChannelName, role: str) -> str:
        """The catalog key of `role`'s text for `channel`."""
        return self.words.get(role) or _SHARED_ROLES.get(role) or f"enrol.{channel}.{role}"


@dataclass(frozen=True)
class ChannelSpec:
    name: ChannelName
    settings: type[ChannelSettings]
    # "module:callable": (ChannelContext) → ChannelSender, not started.
    sender: str
    # The contact kinds it sends to, in the order a household's are tried.
    sends_to: tuple[ContactKind, ...]
    # Free channels (app messengers, email) go out at step 0 of the default ladder; the others are priced.
    free: bool
    kinds: tuple[ContactKindSpec, ...] = ()
    roster_columns: tuple[RosterColumn, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    # "module:callable": (ctx, InboundPort, sender or None) → list[WebhookRoute]. Mounted only when enabled.
    webhooks: str | None = None
    # "module:class" of its provider fake, mounted by `safetynet sandbox`.
    sandbox: str | None = None
    # "module:class" of the simulated resident's side (lab: demo and benchmarks).
    resident: str | None = None
    enrolment: Enrolment | None = None
    # "module:callable" (data folder) run by `safetynet init`: the channel's own keys (web push's VAPID pair).
    init: str | None = None
    # How its campaign messages are laid out (one of MESSAGE_LAYOUTS).
    message: str = MESSAGE_FULL
    # Priced channels: "module:callable" (settings, text) → (units, yen) of one message, for the preview.
    estimate: str | None = None
    # Priced channels: seconds after the start at which the default ladder uses it on its own.
    ladder_after_seconds: float | None = None
    # "module:callable" (settings) → `base.KeyPacing` or None: the lanes pace its messages per key
    # (email: per recipient domain) besides `max_per_second`.
    pacing: str | None = None
    # Whether staff alerts (need help, door-knock lists) may go out on it.
    staff_alerts: bool = True
    # A duplicate is harmless (a push with a Topic replaces the unread one): an unknown outcome is resent.
    duplicate_safe: bool = False
    # Its sending is CPU-bound (web-push encryption): worth a process of its own on a second core.
    cpu_bound: bool = False
    # The steps an enrolment letter shows for it while it is enabled, in order: catalog keys
    # `letters.step_{step}` and, unless the step continues the one before, `letters.step_{step}_title`.
    letter_steps: tuple[str, ...] = ()
    # Catalog key of the channel's label (SMS, 音声電話); default `channel.{name}.label`. Its words
    # live in the catalogs (safetynet/i18n/locale/*/LC_MESSAGES/messages.po), like every text.
    label_key: str = ""

    def __post_init__(self) -> None:
        if not self.label_key:
            object.__setattr__(self, "label_key", f"channel.{self.name}.label")


def load(ref: str) -> Any:
    """The object a "module:attribute" reference names (imported now)."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"not a module:attribute reference: {ref!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
