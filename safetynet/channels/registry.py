"""The list of channels, and the loops over it. Adding a channel is its package, its tests and one
line in `SPECS`; nothing else in SafetyNet names a channel.

Order matters: it is the order of the default ladder's step 0 (free channels), of a household's
channels when its own order does not decide, and of the columns of a roster file.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from safetynet.channels import email, line, sms, telegram, voice, webpush
from safetynet.channels.base import (
    ChannelContext,
    ChannelName,
    ChannelSender,
    ContactKind,
    InboundPort,
    KeyPacing,
    SecretSpec,
    WebhookRoute,
)
from safetynet.channels.spec import ChannelSpec, ContactKindSpec, RosterColumn, load
from safetynet.domain.campaigns import ChannelRoutes, LadderStep
from safetynet.domain.redial import RedialRule

SPECS: tuple[ChannelSpec, ...] = (
    webpush.SPEC,
    telegram.SPEC,
    sms.SPEC,
    voice.SPEC,
    line.SPEC,
    email.SPEC,
)

# Seconds after the last priced step at which the default ladder's door-knock list goes out.
DOOR_KNOCK_AFTER_SECONDS = 600


class UnknownChannel(KeyError):
    """A name that is not a registered channel."""


@functools.cache
def _by_name() -> dict[ChannelName, ChannelSpec]:
    out: dict[ChannelName, ChannelSpec] = {}
    for s in SPECS:
        if s.name in out:
            raise ValueError(f"channel {s.name!r} is registered twice")
        out[s.name] = s
    return out


def names() -> tuple[ChannelName, ...]:
    return tuple(s.name for s in SPECS)


def spec(name: ChannelName) -> ChannelSpec:
    try:
        return _by_name()[name]
    except KeyError:
        raise UnknownChannel(name) from None


def is_channel(name: object) -> bool:
    return isinstance(name, str) and name in _by_name()


def subscription_channel() -> ChannelName | None:
    """The channel whose contacts are browser push subscriptions (its service worker answers)."""
    from safetynet.channels.spec import ENROL_SUBSCRIPTION

    return next((s.name for s in SPECS if s.enrolment and s.enrolment.method == ENROL_SUBSCRIPTION), None)


def free() -> tuple[ChannelName, ...]:
    """Channels without a per-message price (app messengers, web push, email): step 0 of the ladder."""
    return tuple(s.name for s in SPECS if s.free)


def priced() -> tuple[ChannelName, ...]:
    return tuple(s.name for s in SPECS if not s.free)


# -- contact kinds ------------------------------------------------------------------------------


@functools.cache
def kinds() -> dict[ContactKind, ContactKindSpec]:
    """Every contact kind, declared by exactly one channel."""
    out: dict[ContactKind, ContactKindSpec] = {}
    for s in SPECS:
        for k in s.kinds:
            if k.name in out:
                raise ValueError(f"contact kind {k.name!r} is declared twice")
            out[k.name] = k
    return out


def kind(name: ContactKind) -> ContactKindSpec:
    return kinds()[name]


def mask(kind_name: ContactKind, address: str) -> str:
    """What a page or a listing shows of a contact: enough to recognise, not to copy; nothing for a
    kind no channel of this build declares any more."""
    found = kinds().get(kind_name)
    return found.mask(address) if found is not None else ""


@functools.cache
def channels_of_kind() -> dict[ContactKind, tuple[ChannelName, ...]]:
    """Contact kind → the channels that send to it, in registry order (mobile → sms, voice)."""
    out: dict[ContactKind, tuple[ChannelName, ...]] = {k: () for k in kinds()}
    for s in SPECS:
        for k in s.sends_to:
            out[k] = (*out.get(k, ()), s.name)
    return out


# -- roster -------------------------------------------------------------------------------------


def roster_columns() -> tuple[RosterColumn, ...]:
    """The channels' contact columns in file order (by `position`, then registry order)."""
    found = [c for s in SPECS for c in s.roster_columns]
    return tuple(sorted(found, key=lambda c: c.position))


# -- secrets ------------------------------------------------------------------------------------


@functools.cache
def secrets() -> tuple[tuple[SecretSpec, tuple[ChannelName, ...]], ...]:
    """Each secret once (by key), with the channels that name it (Twilio's: sms and voice)."""
    found: dict[str, tuple[SecretSpec, list[ChannelName]]] = {}
    for s in SPECS:
        for sec in s.secrets:
            if sec.key in found:
                if found[sec.key][0] != sec:
                    raise ValueError(f"secret {sec.key!r} is declared twice, differently")
                found[sec.key][1].append(s.name)
            else:
                found[sec.key] = (sec, [s.name])
    return tuple((sec, tuple(chs)) for sec, chs in found.values())


# -- what the composition root builds from contexts ---------------------------------------------


def build_senders(contexts: Mapping[ChannelName, ChannelContext]) -> dict[ChannelName, ChannelSender]:
    """One sender per enabled channel (not started: call `start()` inside the running loop)."""
    out: dict[ChannelName, ChannelSender] = {}
    for s in SPECS:
        ctx = contexts.get(s.name)
        if ctx is not None and ctx.settings.enabled:
            out[s.name] = load(s.sender)(ctx)
    return out


def webhook_routes(contexts: Mapping[ChannelName, ChannelContext], inbound: InboundPort,
                   senders: Mapping[ChannelName, Any]) -> list[WebhookRoute]:
    """The webhook routes of the enabled channels. A channel that is off has none (404). A route two
    channels declare (Twilio's status callbacks) is mounted once, the first enabled channel's."""
    out: list[WebhookRoute] = []
    seen: set[tuple[str, str]] = set()
    for s in SPECS:
        ctx = contexts.get(s.name)
        if s.webhooks is None or ctx is None or not ctx.settings.enabled:
            continue
        for route in load(s.webhooks)(ctx, inbound, senders.get(s.name)):
            key = (route.method.upper(), route.path)
            if key not in seen:
                seen.add(key)
                out.append(route)
    return out


def sandbox_fakes() -> list[tuple[ChannelSpec, Any]]:
    """(spec, fake class) of every channel with a provider fake, for `safetynet sandbox`."""
    return [(s, load(s.sandbox)) for s in SPECS if s.sandbox]


def pacing(name: ChannelName, settings: Any) -> KeyPacing | None:
    """The channel's pacing per key (email: per recipient domain), None when it has none."""
    ref = spec(name).pacing if is_channel(name) else None
    return load(ref)(settings) if ref else None


def residents() -> dict[ChannelName, Any]:
    """Channel → its simulated resident's class (lab: demo, benchmarks)."""
    return {s.name: load(s.resident) for s in SPECS if s.resident}


# -- what the planner needs: routes and the default ladder --------------------------------------


@functools.cache
def routes() -> ChannelRoutes:
    """Contact kind → channels, and the free channels among which a household's own order counts:
    what the planner and the stores' fall-back read (the domain names no channel)."""
    return ChannelRoutes(MappingProxyType(channels_of_kind()), frozenset(free()),
                         redials({s.name: s.settings() for s in SPECS}))


def redials(settings: Mapping[ChannelName, Any]) -> Mapping[ChannelName, RedialRule]:
    """Channel → when its messages that rang out are placed again, from each channel's settings (a
    channel that redials nothing is absent). `routes()` has the defaults; `Config.channel_routes` the
    configured values."""
    out: dict[ChannelName, RedialRule] = {}
    for name, conf in settings.items():
        rule = conf.redial() if conf is not None else None
        if rule is not None:
            out[name] = rule
    return MappingProxyType(out)


@functools.cache
def default_ladder() -> tuple[LadderStep, ...]:
    """The free channels at once, the priced ones as step 0's fallback (cheapest first) and each at
    its own time, then the door-knock list."""
    paid = sorted((s for s in SPECS if not s.free and s.ladder_after_seconds is not None),
                  key=lambda s: s.ladder_after_seconds or 0.0)
    steps = [LadderStep(0.0, free(), tuple(s.name for s in paid))]
    steps += [LadderStep(float(s.ladder_after_seconds or 0.0), (s.name,)) for s in paid]
    last = max(st.after_seconds for st in steps)
    steps.append(LadderStep(last + DOOR_KNOCK_AFTER_SECONDS, door_knock=True))
    return tuple(steps)


def unknown(names_: Iterable[str]) -> list[str]:
    """The names that are not registered channels."""
    return [n for n in names_ if not is_channel(n)]
