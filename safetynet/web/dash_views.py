"""The association dashboard and the door-knock list: what their templates (`association.html`,
`doorknock.html`, macros in `dash_parts.html`) are given. Pure: data in, markup out."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from markupsafe import Markup, escape

from safetynet.domain import ANSWERED
from safetynet.domain.campaigns import CampaignInfo
from safetynet.domain.phones import format_national
from safetynet.domain.replies import HelpItem
from safetynet.domain.roster import Association, Coverage, HouseholdLine
from safetynet.domain.walking import walking_key
from safetynet.templating import ENV, call_macro
from safetynet.web.dash_shell import hhmm, when
from safetynet.web.dash_text import METHODS, STATUS_ICONS, STATUS_ORDER, method_label, pct, status_label, t

ANSWERED_S = frozenset(str(s) for s in ANSWERED)
FILTERS = ("all", "noanswer", "help", "vulnerable")


def national(e164: str) -> str:
    """A phone number in the national form people read ("03-1111-0002")."""
    if not e164:
        return ""
    try:
        return format_national(e164)
    except ValueError:
        return e164


# what the staff templates use beside i18n.t
ENV.globals.update(icons=STATUS_ICONS, methods=METHODS, when=when, hhmm=hhmm, pct=pct, national=national,
                   with_name=lambda markup, name: with_name(markup, name))


def _macro(name: str, *args: object) -> Markup:
    return call_macro("dash_parts.html", name, *args)


@dataclass(frozen=True)
class HouseholdFilter:
    kind: str = "all"
    group: str = ""

    def keeps(self, h: HouseholdLine) -> bool:
        if self.group and h.group != self.group:
            return False
        if self.kind == "noanswer":
            return h.status not in ANSWERED_S
        if self.kind == "help":
            return h.status == "need_help"
        if self.kind == "vulnerable":
            return h.vulnerable
        return True


def status_labels_json(lang: str) -> str:
    return json.dumps({s: status_label(lang, s) for s in STATUS_ICONS}, ensure_ascii=False)


def state_labels_json(lang: str) -> str:
    states = ("draft", "pending_approval", "running", "closed", "cancelled")
    return json.dumps({s: t(lang, "state_" + s) for s in states}, ensure_ascii=False)


def campaign_badge(lang: str, c: CampaignInfo) -> Markup:
    return _macro("campaign_badge", lang, c)


def campaign_picker(lang: str, action: str, campaigns: Sequence[CampaignInfo], current: CampaignInfo | None) -> Markup:
    return _macro("campaign_picker", lang, action, campaigns, current)


def withheld_label(lang: str, household_key: str) -> Markup:
    """How a household whose details a viewer may not see is named: its number and a badge."""
    return _macro("withheld_label", lang, household_key)


@dataclass(frozen=True)
class Counts:
    """The progress bar (stacked by status), the answered line and one tile per status."""

    answered: int
    households: int
    rate: float
    segments: tuple[tuple[str, str], ...]
    tiles: tuple[tuple[str, int], ...]


def counts(status: dict[str, int]) -> Counts:
    households = sum(status.values())
    answered = sum(status.get(s, 0) for s in ANSWERED_S)
    width = {s: (status.get(s, 0) / households * 100) if households else 0.0 for s in STATUS_ORDER}
    return Counts(answered, households, answered / households if households else 0.0,
                  tuple((s, f"{width[s]:.2f}") for s in STATUS_ORDER), tuple((s, status.get(s, 0)) for s in STATUS_ORDER))


def counts_block(lang: str, status: dict[str, int]) -> Markup:
    return _macro("counts_block", lang, counts(status))


def help_items(lang: str, items: Sequence[HelpItem]) -> Markup:
    """The inside of the need-help panel (also served alone when it must be refreshed)."""
    return _macro("help_items", lang, items)


@functools.lru_cache(maxsize=8)
def row_words(lang: str) -> dict[str, Any]:
    """The words of a household row, once per language (a page has hundreds of rows)."""
    words: dict[str, Any] = {k: t(lang, k) for k in ("group", "name", "address", "people", "status", "confirm",
                                                   "vulnerable")}
    words["statuses"] = {s: status_label(lang, s) for s in STATUS_ICONS}
    words["methods"] = tuple((m, method_label(lang, m)) for m in METHODS)
    words["buttons"] = _macro("confirm_buttons", lang, words["methods"], _NAME)
    return words


# stands for a household's name in markup made once per language (no text holds a NUL)
_NAME = "\x00name\x00"


def with_name(markup: Markup, name: str) -> Markup:
    """`markup` (from a template) with the household's name, escaped, in place of its mark."""
    return Markup(markup.replace(_NAME, escape(name)))  # noqa: S704 - both parts escaped


# A row's markup depends only on the line (a frozen value), the language and whether the filter
# hides it: dashboards reload rows that mostly did not change, so each is rendered once.
@functools.lru_cache(maxsize=10_000)
def _row(lang: str, h: HouseholdLine, hidden: bool) -> Markup:
    return _macro("household_row", lang, h, hidden, row_words(lang))


def household_rows(lang: str, lines: Sequence[HouseholdLine], filt: HouseholdFilter) -> Markup:
    return Markup("").join(_row(lang, h, not filt.keeps(h)) for h in lines)


def phone_first(lines: Sequence[HouseholdLine]) -> list[HouseholdLine]:
    """Need-help first, then households with no answer, then the answered (each in walking order):
    what a head on a phone acts on comes first."""
    def rank(h: HouseholdLine) -> int:
        return 0 if h.status == "need_help" else 2 if h.status in ANSWERED_S else 1
    return sorted(lines, key=lambda h: (rank(h), walking_key(h.group, h.address, h.household_key)))


def doorknock_groups(lines: Sequence[HouseholdLine]) -> list[tuple[str, list[HouseholdLine]]]:
    """Households with no answer yet, by 班 in walking order (3-22 before 12-4)."""
    todo = sorted((h for h in lines if h.status not in ANSWERED_S),
                  key=lambda h: walking_key(h.group, h.address, h.household_key))
    return [(group, list(hs)) for group, hs in groupby(todo, key=lambda h: h.group)]


def association_context(lang: str, assoc: Association, campaign: CampaignInfo | None,
                        campaigns: Sequence[CampaignInfo], help_list: Sequence[HelpItem],
                        lines: Sequence[HouseholdLine], coverage: Coverage, filt: HouseholdFilter) -> dict[str, Any]:
    status = {s: 0 for s in STATUS_ORDER}
    for h in lines:
        status[h.status] = status.get(h.status, 0) + 1
    ordered = phone_first(lines)
    return {
        "assoc": assoc, "campaign": campaign, "campaigns": campaigns, "action": f"/a/{assoc.id}",
        "help_list": help_list, "counts": counts(status), "lines": ordered, "filt": filt, "filters": FILTERS,
        "groups": sorted({h.group for h in lines if h.group}, key=lambda g: walking_key(g, "")),
        "answered": sum(1 for h in lines if h.status in ANSWERED_S), "coverage": coverage,
        "rows": household_rows(lang, ordered, filt),
    }


def doorknock_context(lang: str, assoc: Association, campaign: CampaignInfo, lines: Sequence[HouseholdLine],
                      now: float) -> dict[str, Any]:
    groups = doorknock_groups(lines)
    return {"assoc": assoc, "campaign": campaign, "groups": groups, "todo": [h for _, hs in groups for h in hs],
            "now": when(now), "words": row_words(lang)}
