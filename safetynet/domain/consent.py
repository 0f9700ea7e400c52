"""Consent (同意) and what staff below city hall may see of a household (DESIGN §9).

Cities hold the 避難行動要支援者名簿 under the Disaster Countermeasures Basic Act: a household's name,
address and phone reach association heads in normal times only with its consent (`yes`) or under a
city ordinance (`ordinance`), and without consent (`no`) once a real disaster runs in its area. So
a heads' or deputies' page shows a `no` household's details only while a real event runs over
it, or where it asked a real event for help (`Disclosure.asking_in`); otherwise the household number
and 班 alone. City admins see every household.

Pure rules over the domain's types; the web layer reads the running real events and applies them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from safetynet.domain.replies import HelpItem, HelpRow, HistoryEntry
from safetynet.domain.roster import HouseholdLine

T = TypeVar("T")


class Consent(StrEnum):
    YES = "yes"  # 同意
    NO = "no"  # 不同意
    ORDINANCE = "ordinance"  # 条例による提供


CONSENTS: frozenset[str] = frozenset(Consent)


def default_consent(vulnerable: bool) -> Consent:
    """The consent of a roster row that leaves it empty: `yes` for an ordinary household; `no` for
    a 要配慮 household, whose details the law lets reach heads in normal times only with a consent
    or an ordinance the city has recorded."""
    return Consent.NO if vulnerable else Consent.YES


def scope_covers(item: str, district: str, association: str, group: str) -> bool:
    """Whether one campaign scope item ('city', 'district:N', 'association:N', 'group:A/G') reaches
    a household of this district, association and 班."""
    if item == "city":
        return True
    kind, _, name = item.partition(":")
    if kind == "district":
        return name == district
    if kind == "association":
        return name == association
    if kind == "group":
        assoc, _, grp = name.partition("/")
        return assoc == association and grp == group
    return False


@dataclass(frozen=True)
class Disclosure:
    """What one viewer may see now: everything (`full`: city admins), or a `no` household's
    details only inside the scope of a running real event (`real_scopes`: the scope items of the
    real events running now)."""

    full: bool
    real_scopes: frozenset[str] = frozenset()

    @classmethod
    def everything(cls) -> Disclosure:
        return cls(True)

    def covered(self, district: str, association: str, group: str) -> bool:
        """A real event runs over this household's place."""
        return any(scope_covers(s, district, association, group) for s in self.real_scopes)

    def reveals(self, consent: str, district: str, association: str, group: str) -> bool:
        if self.full or consent != Consent.NO:
            return True
        return self.covered(district, association, group)

    def lines(self, lines: Iterable[HouseholdLine], district: str, association: str) -> list[HouseholdLine]:
        """Household lines of one association, a `no` household's withheld where it must be."""
        out = list(lines)
        if self.full:
            return out
        return [h if self.reveals(h.consent, district, association, h.group) else withhold_line(h) for h in out]

    def help_items(self, items: Iterable[HelpItem], district: str, association: str) -> list[HelpItem]:
        out = list(items)
        if self.full:
            return out
        return [h if self.reveals(h.consent, district, association, h.group) else withhold_help_item(h) for h in out]

    def asking_in(self, kind: str, purged_at: float | None) -> Disclosure:
        """What this viewer may see of the help requests of a campaign of `kind`: a household that asked
        for help in a real event is shown whole, after the event closed too, while the disaster is
        what reaches it (QA: a 不同意, 要配慮 household asking after the close was told 「町会に知らせます」
        and its head got a card with its number alone). Its other lines keep the rule above.
        The exception ends with retention (`purged_at`): what the disaster let through is not kept
        past the campaign's own data (QA, privacy walk: a purged event still named a `no` household
        to its head, for ever); a purged campaign's pages list nobody anyway (`listed`)."""
        return Disclosure(True, self.real_scopes) if kind == "real" and purged_at is None else self

    def help_row(self, row: HelpRow) -> HelpRow:
        if self.reveals(row.consent, row.district, row.association, row.group):
            return row
        return withhold_help_row(row)


def listed(purged_at: float | None, items: Iterable[T]) -> list[T]:
    """What a campaign's pages and API list household by household (its households and their answers,
    help requests, notes, in-person marks, reply histories, a contact check's unconfirmed): nothing
    once retention purged it; its counts and rates stay (DESIGN §9: the report keeps counts only; who
    asked for help, or did not answer, in a disaster is not kept in sight past the answers' words)."""
    return [] if purged_at is not None else list(items)


def withhold_line(h: HouseholdLine) -> HouseholdLine:
    """The household number, 班 and status alone."""
    return dataclasses.replace(h, name="", address="", members=0, vulnerable=False, landline="", mobile="",
                               withheld=True)


def withhold_help_item(h: HelpItem) -> HelpItem:
    return dataclasses.replace(h, name="", address="", members=0, vulnerable=False, note="", location="",
                               people_injured=None, people_safe=None, landline="", mobile="", withheld=True,
                               earlier_notes=())


def withhold_help_row(r: HelpRow) -> HelpRow:
    return dataclasses.replace(r, name="", address="", members=0, vulnerable=False, note=None, location=None,
                               people_injured=None, people_safe=None, withheld=True, earlier_notes=())


def withhold_history(entries: Iterable[HistoryEntry]) -> list[HistoryEntry]:
    """A household's answers without what its members wrote (notes, where they are, how many)."""
    return [dataclasses.replace(e, note=None, location=None, people_safe=None, people_injured=None)
            for e in entries]
