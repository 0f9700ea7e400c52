"""A contact's address in its stored form, by the rule of the channel that declares its kind
(E.164 for phones, a numeric chat id for Telegram…). The store keeps strings as given: whoever
writes or looks up a contact normalises it here first."""

from __future__ import annotations

from collections.abc import Sequence

from safetynet.channels import registry
from safetynet.domain import ContactKind
from safetynet.domain.roster import Household
from safetynet.store.ports import RosterRepo


def normalise_contact(kind: ContactKind, address: str) -> str:
    """The stored form of an address of `kind`; ValueError for a kind no channel declares, or an
    address its rule refuses (the message fit to show)."""
    try:
        spec = registry.kind(kind)
    except KeyError:
        raise ValueError(f"unknown contact kind {kind!r}") from None
    return spec.normalise(address.strip())


async def households_by_contact(roster: RosterRepo, kinds: Sequence[ContactKind], written: str) -> list[Household]:
    """Current households with a contact of one of `kinds` at the address `written` in any form its
    kind takes ("090-1234-5678" finds "+819012345678"); [] when no kind takes it."""
    by_address: dict[str, list[ContactKind]] = {}
    for kind in kinds:
        try:
            by_address.setdefault(normalise_contact(kind, written), []).append(kind)
        except ValueError:
            continue
    found: dict[int, Household] = {}
    for address, of_kinds in by_address.items():
        for h in await roster.households_by_contact(of_kinds, address):
            found.setdefault(h.id, h)
    return [found[i] for i in sorted(found)]
