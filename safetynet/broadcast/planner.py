"""Planning a ladder step (pure): households → deliveries, no I/O.

Per household, a step's channels are tried in the order the scenario lists them, then its fallback
channels the same way (DESIGN §5: never a call while a mobile can take an SMS). A household's own
order of contacts counts only among the free channels (app messengers, web push, email: "this
family prefers Telegram" is respected); it never puts a call before an SMS. The first channel is
planned into the outbox; when it fails permanently the outbox asks `next_channel` for the
following one (from the household's contacts as they are then). Vulnerable households (要配慮)
go first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Protocol

from safetynet.broadcast.model import (
    PRIORITY_DEFAULT,
    PRIORITY_VULNERABLE,
    LadderStep,
    PlannedDelivery,
    StepPlan,
)
from safetynet.channels import registry
from safetynet.domain import ChannelName, ContactKind


class PlannableContact(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> ContactKind: ...
    @property
    def working(self) -> bool: ...


class PlannableHousehold(Protocol):
    """What the planner reads of a household (roster.model.TargetHousehold fits)."""

    @property
    def id(self) -> int: ...
    @property
    def vulnerable(self) -> bool: ...
    @property
    def contacts(self) -> Sequence[PlannableContact]: ...


# From the channel registry, read once: these run per household of a 200k-household plan.
_APP = frozenset(registry.free())
_CHANNELS_OF_KIND = registry.channels_of_kind()


def _reachable(contacts: Sequence[PlannableContact]) -> dict[ChannelName, int]:
    """Channel → the household's first working contact that takes it, in the household's order
    (the dict keeps that order: it is the household's preference among the free channels)."""
    have: dict[ChannelName, int] = {}
    for c in contacts:
        for ch in _CHANNELS_OF_KIND.get(c.kind, ()):
            if ch not in have:
                have[ch] = c.id
    return have


def _pick(have: Mapping[ChannelName, int], allowed: Sequence[ChannelName], taken: set[ChannelName]) -> list[
    tuple[ChannelName, int]
]:
    """`allowed` in the scenario's order, as far as the household has them; the app channels among
    them swap places to follow the household's own order."""
    picked: list[ChannelName] = []
    apps = 0
    for ch in allowed:
        if ch in have and ch not in taken:
            taken.add(ch)
            picked.append(ch)
            apps += ch in _APP
    if apps > 1:
        preferred = iter([ch for ch in have if ch in _APP and ch in picked])
        picked = [next(preferred) if ch in _APP else ch for ch in picked]
    return [(ch, have[ch]) for ch in picked]


def channel_order(
    household: PlannableHousehold, step: LadderStep, busy: frozenset[ChannelName] = frozenset()
) -> list[tuple[ChannelName, int]]:
    """(channel, contact id) in the order they are tried for this household in this step.
    `busy` channels still have an earlier step's message waiting: not planned again."""
    have = _reachable([c for c in household.contacts if c.working])
    taken: set[ChannelName] = set(busy)
    primary = _pick(have, step.channels, taken)
    return primary + _pick(have, step.fallback, taken)


def plan_step(
    households: Iterable[PlannableHousehold], step_index: int, step: LadderStep,
    busy: Mapping[int, frozenset[ChannelName]] | None = None,
) -> StepPlan:
    """The deliveries of `step` for `households` (already filtered to those still in the ladder).

    `busy` maps a household to channels on which an earlier step's message is still queued (a slow
    SMS lane): sending the same channel again would only duplicate it."""
    busy = busy or {}
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
        have = _reachable(working)
        taken: set[ChannelName] = set(busy.get(h.id, ()))
        order = _pick(have, step.channels, taken) or _pick(have, step.fallback, taken)
        if not order:
            not_covered.append(h.id)
            continue
        ch, contact_id = order[0]
        deliveries.append(PlannedDelivery(h.id, step_index, ch, contact_id,
                                          PRIORITY_VULNERABLE if h.vulnerable else PRIORITY_DEFAULT, 0))
    # Insertion order is claim order's tie-break: vulnerable first, then as the households came.
    deliveries.sort(key=attrgetter("priority"))
    return StepPlan(tuple(deliveries), tuple(no_contact), tuple(not_covered))


def next_channel(
    household: PlannableHousehold, step_index: int, step: LadderStep, tried: Iterable[ChannelName]
) -> PlannedDelivery | None:
    """After the channels in `tried` failed in this step: the household's next one, or None."""
    done = frozenset(tried)
    order = [(ch, cid) for ch, cid in channel_order(household, step) if ch not in done]
    if not order:
        return None
    ch, contact_id = order[0]
    prio = PRIORITY_VULNERABLE if household.vulnerable else PRIORITY_DEFAULT
    return PlannedDelivery(household.id, step_index, ch, contact_id, prio, len(done))


def count_channels(plan: StepPlan) -> dict[ChannelName, int]:
    """Households per channel sent at once (fallbacks are not counted: they may never be used)."""
    counts: dict[ChannelName, int] = {}
    for d in plan.deliveries:
        if d.fallback_rank == 0:
            counts[d.channel] = counts.get(d.channel, 0) + 1
    return counts
