"""Planning a ladder step (pure): households → deliveries, no I/O.

Per household, the step's channels are taken in the order of the household's working contacts
(so "this family prefers Telegram" is respected), then the step's fallback channels the same way.
The first is planned into the outbox; when it fails permanently the outbox asks `next_channel`
for the following one (from the household's contacts as they are then). Vulnerable households
(要配慮) go first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Protocol

from safetynet.domain import CHANNELS_OF_KIND, Channel, ContactKind
from safetynet.domain.campaigns import (
    PRIORITY_DEFAULT,
    PRIORITY_VULNERABLE,
    LadderStep,
    PlannedDelivery,
    StepPlan,
)


class PlannableContact(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> ContactKind: ...
    @property
    def working(self) -> bool: ...


class PlannableHousehold(Protocol):
    """What the planner reads of a household (domain.roster.TargetHousehold fits)."""

    @property
    def id(self) -> int: ...
    @property
    def vulnerable(self) -> bool: ...
    @property
    def contacts(self) -> Sequence[PlannableContact]: ...


def _pick(contacts: Sequence[PlannableContact], allowed: Sequence[Channel], taken: set[Channel]) -> list[
    tuple[Channel, int]
]:
    out: list[tuple[Channel, int]] = []
    for c in contacts:
        # a str kind hashes like its ContactKind: no enum conversion on this hot path
        for ch in CHANNELS_OF_KIND.get(c.kind, ()):
            if ch in allowed and ch not in taken:
                taken.add(ch)
                out.append((ch, c.id))
    return out


def channel_order(
    household: PlannableHousehold, step: LadderStep, busy: frozenset[Channel] = frozenset()
) -> list[tuple[Channel, int]]:
    """(channel, contact id) in the order they are tried for this household in this step.
    `busy` channels still have an earlier step's message waiting: not planned again."""
    working = [c for c in household.contacts if c.working]
    taken: set[Channel] = set(busy)
    primary = _pick(working, step.channels, taken)
    return primary + _pick(working, step.fallback, taken)


def plan_step(
    households: Iterable[PlannableHousehold], step_index: int, step: LadderStep,
    busy: Mapping[int, frozenset[Channel]] | None = None,
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
        taken: set[Channel] = set(busy.get(h.id, ()))
        order = _pick(working, step.channels, taken) or _pick(working, step.fallback, taken)
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
    household: PlannableHousehold, step_index: int, step: LadderStep, tried: Iterable[Channel]
) -> PlannedDelivery | None:
    """After the channels in `tried` failed in this step: the household's next one, or None."""
    done = frozenset(tried)
    order = [(ch, cid) for ch, cid in channel_order(household, step) if ch not in done]
    if not order:
        return None
    ch, contact_id = order[0]
    prio = PRIORITY_VULNERABLE if household.vulnerable else PRIORITY_DEFAULT
    return PlannedDelivery(household.id, step_index, ch, contact_id, prio, len(done))


def count_channels(plan: StepPlan) -> dict[Channel, int]:
    """Households per channel sent at once (fallbacks are not counted: they may never be used)."""
    counts: dict[Channel, int] = {}
    for d in plan.deliveries:
        if d.fallback_rank == 0:
            counts[d.channel] = counts.get(d.channel, 0) + 1
    return counts
