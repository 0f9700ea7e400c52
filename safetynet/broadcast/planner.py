"""Planning a ladder step (pure): households → deliveries, no I/O.

Per household, a step's channels are tried in the order the scenario lists them, then its fallback
channels the same way (DESIGN §5: never a call while a mobile can take an SMS). A household's own
order of contacts counts only among the free channels (app messengers, web push, email: "this
family prefers Telegram" is respected); it never puts a call before an SMS
(`domain.campaigns.channel_order`). The first channel is planned into the outbox; when it fails
permanently the outbox asks `domain.campaigns.next_channel` for the following one (from the
household's contacts as they are then). Which channels take which contact kind comes from the
channel registry (`registry.routes()`). Vulnerable households (要配慮) go first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import attrgetter

from safetynet.channels import registry
from safetynet.channels.spec import MESSAGE_SHARED, MESSAGE_SPOKEN
from safetynet.domain import ChannelName
from safetynet.domain.campaigns import (
    PRIORITY_DEFAULT,
    PRIORITY_VULNERABLE,
    ChannelRoutes,
    LadderStep,
    PlannableHousehold,
    PlannedDelivery,
    StepPlan,
    pick_channels,
    reachable,
)


def plan_step(
    households: Iterable[PlannableHousehold], step_index: int, step: LadderStep,
    busy: Mapping[int, frozenset[ChannelName]] | None = None, routes: ChannelRoutes | None = None,
) -> StepPlan:
    """The deliveries of `step` for `households` (already filtered to those still in the ladder).

    `busy` maps a household to channels on which an earlier step's message is still queued (a slow
    SMS lane): sending the same channel again would only duplicate it. `routes` defaults to the
    registry's."""
    busy = busy or {}
    routes = routes or registry.routes()
    deliveries: list[PlannedDelivery] = []
    no_contact: list[int] = []
    not_covered: list[int] = []
    for h in households:
        working = [c for c in h.contacts if c.working]
        if not working:
            no_contact.append(h.id)
            continue
        if step.door_knock:
            continue
        have = reachable(working, routes)
        taken: set[ChannelName] = set(busy.get(h.id, ()))
        order = pick_channels(have, step.channels, taken, routes) or pick_channels(have, step.fallback, taken, routes)
        if not order:
            not_covered.append(h.id)
            continue
        ch, contact_id = order[0]
        deliveries.append(PlannedDelivery(h.id, step_index, ch, contact_id,
                                          PRIORITY_VULNERABLE if h.vulnerable else PRIORITY_DEFAULT, 0))
    # Insertion order is claim order's tie-break: vulnerable first, then as the households came.
    deliveries.sort(key=attrgetter("priority"))
    return StepPlan(tuple(deliveries), tuple(no_contact), tuple(not_covered))


def count_channels(plan: StepPlan) -> dict[ChannelName, int]:
    """Households per channel sent at once (fallbacks are not counted: they may never be used)."""
    counts: dict[ChannelName, int] = {}
    for d in plan.deliveries:
        if d.fallback_rank == 0:
            counts[d.channel] = counts.get(d.channel, 0) + 1
    return counts


def linkless_channels() -> frozenset[ChannelName]:
    """Channels that cannot carry a contact's own link: a call (spoken), and a multicast whose one
    text goes to many (shared layout). No contact check goes by them."""
    return frozenset(ch for ch in registry.names() if registry.spec(ch).message in (MESSAGE_SPOKEN, MESSAGE_SHARED))


def plan_check(households: Iterable[PlannableHousehold], routes: ChannelRoutes | None = None,
               linkless: frozenset[ChannelName] | None = None) -> StepPlan:
    """A contact check (pure): one delivery per working contact of every household, by the first
    channel its kind goes by (a mobile gets an SMS, never a call too). Nothing falls back and no
    household goes to a door-knock list. The outbox keeps one row per (household, step, channel),
    so a household's n-th contact on the same channel (a second mobile) is planned as step n: a
    check's ladder is empty, so no step of it is ever escalated or retried on another channel.
    A contact reached only by a `linkless` channel (a landline: a call has no link to tap) is not
    asked: it stays unchecked, and its household is in `not_covered` if it has nothing else."""
    routes = routes or registry.routes()
    linkless = linkless_channels() if linkless is None else linkless
    deliveries: list[PlannedDelivery] = []
    not_covered: list[int] = []
    for h in households:
        seen: dict[ChannelName, int] = {}
        prio = PRIORITY_VULNERABLE if h.vulnerable else PRIORITY_DEFAULT
        for c in h.contacts:
            channels = [ch for ch in routes.of_kind.get(c.kind, ()) if ch not in linkless]
            if not c.working or not channels:
                continue
            ch = channels[0]
            step = seen.get(ch, 0)
            seen[ch] = step + 1
            deliveries.append(PlannedDelivery(h.id, step, ch, c.id, prio, 0))
        if not seen:
            not_covered.append(h.id)
    deliveries.sort(key=attrgetter("priority"))
    return StepPlan(tuple(deliveries), (), tuple(not_covered))
