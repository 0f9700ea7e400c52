"""The association dashboard and the door-knock list: what their templates (`association.html`,
`doorknock.html`, macros in `dash_parts.html`) are given. Pure: data in, markup out."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from markupsafe import Markup, escape

from safetynet.domain import ANSWERED
from safetynet.domain.campaigns import CampaignInfo, OpenHelp
from safetynet.domain.consent import Disclosure
from safetynet.domain.phones import format_national
from safetynet.domain.replies import HelpItem, InPersonMark
from safetynet.domain.roster import Association, Coverage, HouseholdLine, NotedHousehold
from safetynet.domain.walking import walking_key, walking_ranks
from safetynet.replies.texts import location_words
from safetynet.templating import ENV, Stamp, call_macro, mark
from safetynet.web.dash_shell import hhmm, when
from safetynet.web.dash_text import METHODS, STATUS_ICONS, STATUS_ORDER, pct, status_label, t

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
ENV.globals.update(d=t, icons=STATUS_ICONS, methods=METHODS, when=when, hhmm=hhmm, pct=pct, national=national,
                   location_label=location_words)  # the alerts' words: the stored code is no word for a page


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


# how many handled requests the dashboard lists under its help panel, latest first (to take one back)
HANDLED_SHOWN = 10


def handled_list(lang: str, rows: Sequence[HelpItem], login: str | None) -> Markup:
    """The help requests marked 対応済み, latest first, each with 対応済みを取り消す where the mark is `login`'s
    (`ReplyIntake.reopen_help`: a person takes back their own mark only); `rows` as the viewer may see them."""
    done = sorted((h for h in rows if h.handled_at is not None), key=lambda h: -(h.handled_at or 0.0))
    return _macro("handled_list", lang, done[:HANDLED_SHOWN], login)


def others_than(found: Sequence[OpenHelp], shown: CampaignInfo | None) -> list[OpenHelp]:
    """Open help requests of campaigns other than the one a page shows (its own are its help list;
    a page showing none: all of them)."""
    return [o for o in found if shown is None or o.campaign.id != shown.id]


def association_help_elsewhere(lang: str, association_id: int, found: Sequence[OpenHelp],
                               shown: CampaignInfo) -> Markup:
    """The line above the help list naming the association's other campaigns than `shown` with open
    requests (`found`: the association's open requests in every campaign)."""
    return _macro("help_elsewhere", lang, association_id, others_than(found, shown))


def notes_panel(lang: str, notes: Sequence[NotedHousehold], disclosure: Disclosure, assoc: Association,
                help_list: Sequence[HelpItem] = ()) -> Markup:
    """The households' notes but those of the open help cards (which show their own), each household as the
    viewer may see it: a withheld one by its number, its words left out (domain.consent)."""
    carded = {h.household_id for h in help_list}
    kept = [n for n in notes if n.line.id not in carded]
    lines = disclosure.lines((n.line for n in kept), assoc.district, assoc.name)
    return _macro("notes_panel", lang, [(h, "" if h.withheld else n.note, n.noted_at) for h, n in zip(lines, kept, strict=True)])


@functools.lru_cache(maxsize=8)
def status_labels(lang: str) -> dict[str, str]:
    return {s: status_label(lang, s) for s in STATUS_ICONS}


def _label(labels: dict[str, str], status: str) -> str:
    return labels.get(status) or f"? {status}"


@dataclass(frozen=True)
class _Marks:
    """A household line whose values are stamp marks: what a row macro renders a stamp from."""

    vulnerable: bool
    withheld: bool
    landline: str = ""
    mobile: str = ""
    id: str = mark("id")
    status: str = mark("status")
    group: str = mark("group")
    household_key: str = mark("key")
    name: str = mark("name")
    address: str = mark("address")
    members: str = mark("members")


_ROW_FIELDS = ("id", "status", "group", "key", "name", "address", "members", "label", "done")
_DK_FIELDS = (*_ROW_FIELDS[:-1], "landline", "tel", "mobile", "mobile_tel")


@functools.lru_cache(maxsize=64)
def _row_stamp(lang: str, withheld: bool, vulnerable: bool, hidden: bool) -> Stamp:
    return Stamp.of(_macro("household_row", lang, _Marks(vulnerable, withheld), hidden, mark("label"), mark("done")),
                    _ROW_FIELDS)


@functools.lru_cache(maxsize=128)
def _doorknock_stamp(lang: str, withheld: bool, vulnerable: bool, landline: bool, mobile: bool, listed: bool) -> Stamp:
    marks = _Marks(vulnerable, withheld, mark("landline") if landline else "", mark("mobile") if mobile else "")
    return Stamp.of(_macro("doorknock_row", lang, marks, mark("tel"), mark("mobile_tel"), mark("label"), listed),
                    _DK_FIELDS)


def household_rows(lang: str, lines: Sequence[HouseholdLine], filt: HouseholdFilter,
                   marks: Sequence[InPersonMark] = (), login: str | None = None) -> Markup:
    """The dashboard's rows (`household_row` in dash_parts.html, from its stamps); a household confirmed in
    person says who, when and how (`marks`), with 取り消す where it is `login`'s and may still be taken back."""
    labels = status_labels(lang)
    by_hh = {m.household_id: m for m in marks}
    return Markup("".join(  # noqa: S704 - stamps of an autoescaped macro, each value escaped by fill
        _row_stamp(lang, h.withheld, h.vulnerable, not filt.keeps(h)).fill(
            (h.id, h.status, h.group, h.household_key, h.name, h.address, h.members, _label(labels, h.status),
             _done(lang, h, by_hh.get(h.id), login)))
        for h in lines))


def _done(lang: str, h: HouseholdLine, m: InPersonMark | None, login: str | None, named: bool = True) -> Markup:
    """The row's in-person confirmation line (empty unless it stands on a household confirmed in person);
    not `named`: its undo names the household by its number (the page puts the name it shows in its place)."""
    if m is None or h.status != "confirmed_in_person":
        return Markup()
    own = m.undoable and login is not None and m.actor == login
    name = t(lang, "withheld_name", number=h.household_key) if h.withheld or not named else h.name
    return _macro("in_person_mark", lang, m, name, own, h.withheld)


def status_rows(lang: str, lines: Sequence[HouseholdLine], marks: Sequence[InPersonMark] = (),
                login: str | None = None) -> Markup:
    """The live patch of the dashboard's rows: each household's status and its in-person line (who, when,
    how, staff's note as `household_rows` shows it), without the household's name, address or members:
    the rows on the page have them. Only a note makes it a view to audit (`notes_in`)."""
    labels = status_labels(lang)
    by_hh = {m.household_id: m for m in marks}
    return Markup("").join(
        _macro("status_row", lang, h.id, h.status, _label(labels, h.status), _done(lang, h, by_hh.get(h.id), login, False))
        for h in lines)


def notes_in(lines: Sequence[HouseholdLine], marks: Sequence[InPersonMark]) -> bool:
    """Whether `status_rows` shows staff's note of some household's confirmation: words about the
    household (「骨折・搬送」), which its own row withholds as its details, so the patch that shows
    one is a view of them (review: the live patch showed notes with no audit entry)."""
    noted = {m.household_id for m in marks if m.note}
    return any(h.id in noted and h.status == "confirmed_in_person" and not h.withheld for h in lines)


# a number of an address with its joiners (10-25, full-width digits and dashes, 1 NO 2): one piece a
# line may not break inside (re's escapes: the catalogs hold every Japanese text)
_DIGITS = r"0-9\uff10-\uff19"
_ADDRESS_NUMBER = re.compile(rf"[{_DIGITS}]+(?:[-\u2010\u2011\uff0d\u2212\u2015\u306e][{_DIGITS}]+)*")


def numbers_whole(address: str) -> Markup:
    """`address` with its numbers in `<span class="nb">` (print.css: no break inside): QA's printed list
    cut 「千代田一丁目10-」 / 「25」."""
    out, at = [], 0
    for m in _ADDRESS_NUMBER.finditer(address):
        out += [escape(address[at:m.start()]), Markup('<span class="nb">%s</span>') % m[0]]
        at = m.end()
    return Markup("").join([*out, escape(address[at:])])


def doorknock_rows(lang: str, lines: Sequence[HouseholdLine], listed: Collection[int] = ()) -> Markup:
    """The door-knock list's rows of one 班 (`doorknock_row` in dash_parts.html, from its stamps); `listed`:
    the households the ladder's last step put on the list."""
    labels = status_labels(lang)
    return Markup("".join(  # noqa: S704 - as household_rows
        _doorknock_stamp(lang, h.withheld, h.vulnerable, bool(h.landline), bool(h.mobile), h.id in listed).fill(
            (h.id, h.status, h.group, h.household_key, h.name, numbers_whole(h.address), h.members,
             _label(labels, h.status), h.landline, national(h.landline), h.mobile, national(h.mobile)))
        for h in lines))


def _places(lines: Sequence[HouseholdLine]) -> Mapping[int, int]:
    return walking_ranks(tuple((h.id, h.group, h.address, h.household_key) for h in lines))


def phone_first(lines: Sequence[HouseholdLine]) -> list[HouseholdLine]:
    """Need-help first, then households with no answer, then the answered (each in walking order):
    what a head on a phone acts on comes first."""
    walk = _places(lines)

    def rank(h: HouseholdLine) -> tuple[int, int]:
        return (0 if h.status == "need_help" else 2 if h.status in ANSWERED_S else 1), walk[h.id]
    return sorted(lines, key=rank)


def doorknock_groups(lines: Sequence[HouseholdLine]) -> list[tuple[str, list[HouseholdLine]]]:
    """Households with no answer yet, by 班 in walking order (3-22 before 12-4)."""
    walk = _places(lines)
    todo = sorted((h for h in lines if h.status not in ANSWERED_S), key=lambda h: walk[h.id])
    return [(group, list(hs)) for group, hs in groupby(todo, key=lambda h: h.group)]


def association_context(lang: str, assoc: Association, campaign: CampaignInfo | None,
                        campaigns: Sequence[CampaignInfo], help_list: Sequence[HelpItem],
                        lines: Sequence[HouseholdLine], coverage: Coverage, filt: HouseholdFilter,
                        marks: Sequence[InPersonMark] = (), login: str | None = None) -> dict[str, Any]:
    status = {s: 0 for s in STATUS_ORDER}
    groups, withheld = set(), 0
    for h in lines:
        status[h.status] = status.get(h.status, 0) + 1
        if h.group:
            groups.add(h.group)
        withheld += h.withheld
    ordered = phone_first(lines)
    return {
        # the heads' and deputies' refused contacts (`dashboards._own_unreached`), where a page reads them
        "own_unreached": [],
        "assoc": assoc, "campaign": campaign, "campaigns": campaigns, "action": f"/a/{assoc.id}",
        "help_list": help_list, "counts": counts(status), "withheld": withheld, "filt": filt, "filters": FILTERS,
        "groups": sorted(groups, key=lambda g: walking_key(g, "")),
        "answered": sum(n for s, n in status.items() if s in ANSWERED_S), "coverage": coverage,
        "rows": household_rows(lang, ordered, filt, marks, login),
    }


def doorknock_sections(lang: str, context: Mapping[str, Any]) -> Markup:
    """The door-knock list's tables alone (`doorknock_context`'s), as the live page reads them again."""
    return _macro("doorknock_sections", lang, context["groups"], context["cut"])


# The door-knock list's choice of the households with no 班 (no 班 is named "-": a roster's 班 is a name)
NO_GROUP = "-"


def doorknock_context(lang: str, assoc: Association, campaign: CampaignInfo, lines: Sequence[HouseholdLine],
                      now: float, chosen: Sequence[str] = (), listed: Collection[int] = ()) -> dict[str, Any]:
    """The door-knock list of the 班 in `chosen` (none: every 班), and every 班 to choose from, as
    (value, label): households with no 班 are one more choice, 「班なし」 (`NO_GROUP`), or a split of the
    walk would leave them on nobody's list (review: every 班 ticked listed 6 of 7 households).
    `listed`: the households the ladder's last step put on the list (/city counts those not answered)."""
    every = sorted({h.group for h in lines if h.group}, key=lambda g: walking_key(g, ""))
    choices = [(g, g) for g in every] + ([(NO_GROUP, t(lang, "group_none"))] if any(not h.group for h in lines) else [])
    label = dict(choices)
    cut = [h for h in lines if (h.group or NO_GROUP) in chosen] if chosen else list(lines)
    groups = doorknock_groups(cut)
    heading = (t(lang, "doorknock_of_groups", groups=t(lang, "groups_sep").join(label.get(g, g) for g in chosen))
               if chosen else t(lang, "doorknock"))
    return {"assoc": assoc, "campaign": campaign, "now": when(now), "heading": heading,
            "every_group": choices, "chosen": tuple(chosen),
            "groups": [(group, len(hs), doorknock_rows(lang, hs, listed)) for group, hs in groups],
            "todo": sum(len(hs) for _, hs in groups), "withheld": sum(h.withheld for _, hs in groups for h in hs),
            "listed": sum(h.id in listed for _, hs in groups for h in hs),
            # every household of these 班, answered or not: the page reads the list again when one of them is
            # back to answer (an undone visit) and its row is not there (dash.js)
            "cut": json.dumps(sorted(h.id for h in cut)), "households": len(lines)}
