"""The report of a campaign (a drill's, a real event's, a contact check's): per city, district and association, final rates, time to 25/50/75/80 %
answered, answers per channel, the curve, who was never reached, and how it compares with the
previous campaign of the same scope.

`open_report` reads the summary (counters, the minute curve, first answers: small, ~1,000
associations) and `summarize` shapes it (pure). The two household lists (unreachable, never
answered: up to a city's worth of names and addresses) are read in keyset pages by
`OpenReport.rows` and shaped by `person_rows` (pure); `stream_report` renders the document piece
by piece through a `ReportWriter`, so the page and the CLI hold one page of rows at a time.
`build_report` collects the whole document for callers that want a dict.
Renderers live in `report_render` and are re-exported here. The CLI's
`campaign report ID --format html|csv|json [--output FILE]` calls `report_cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from safetynet.auth import Viewer, cli_audit_entry, command_line_actor
from safetynet.config import Config
from safetynet.console import cli_language, print_error, say, unwritable_message
from safetynet.csvout import Unwritable, check_output, open_excel, private_text
from safetynet.domain import ALL_STATUSES, ANSWERED, Role, Scope
from safetynet.domain.audit import AuditAction
from safetynet.domain.campaigns import CHECK_OUTCOMES, CampaignInfo, CountRow, MinuteRow
from safetynet.domain.consent import Disclosure, withhold_line
from safetynet.domain.replies import ChannelCount, HelpRow
from safetynet.domain.roster import Association, HouseholdLine, NotedHousehold
from safetynet.domain.shares import share
from safetynet.domain.walking import NaturalKey, walking_key
from safetynet.i18n import Text, t
from safetynet.stats.curve import Series, by_the_minute, group_series, minutes_to_reach
from safetynet.stats.report_render import (
    FORMATS,
    LISTS,
    ReportWriter,
    lists_of,
    render_csv,
    render_html,
    render_json,
    report_cut_notice,
    writer_for,
)
from safetynet.store.ports import DashboardReads, StatsReads, Store

__all__ = ["FORMATS", "LISTS", "LIST_CHUNK", "MILESTONES", "NeverStarted", "OpenReport", "ReportNotFound",
           "build_report", "help_rows", "lists_of", "open_report", "person_rows", "render_csv", "render_html", "render_json",
           "report_cli", "report_cut_notice", "stream_report", "summarize", "summarize_check", "writer_for"]

MILESTONES = (25, 50, 75, 80)
# Rows of a household list read and rendered at a time: bounds the memory of one report, and the
# event loop gets a turn between pages.
LIST_CHUNK = 2000
# Which households each list holds: statuses, and whether "never answered" applies.
_LIST_QUERY: dict[str, tuple[tuple[str, ...], bool]] = {
    "unreachable": (("unreachable",), False),
    "never_answered": (("pending", "notified", "read"), True),
}
# A rate change smaller than this (one household in a hundred) counts as "same".
SAME_WITHIN = 0.01
_EVERYTHING = Disclosure.everything()


class ReportNotFound(Exception):
    """No such campaign, or none the viewer may see. `str()` is the English (logs, tests); `text(lang)`
    says it to a person (`campaign report` in the terminal's language), as a campaign's refusals do."""

    def __init__(self, campaign_id: int, message: str = "") -> None:
        self.campaign_id = campaign_id
        self.said = Text("campaign.error.not_found", id=campaign_id)
        super().__init__(message or str(self.said))

    def text(self, lang: str) -> str:
        return self.said.text(lang)


class NeverStarted(ReportNotFound):
    """The campaign exists but never started (a draft, one waiting for approval, one cancelled
    before it started): nothing was sent, so there is nothing to report."""

    def __init__(self, campaign_id: int, state: str) -> None:
        super().__init__(campaign_id, f"campaign {campaign_id} never started (state: {state})")
        self.state = state

    def text(self, lang: str) -> str:
        return t(lang, "cli.report.never_started", id=self.campaign_id, state=t(lang, f"dash.state_{self.state}"))


@dataclass(frozen=True)
class CampaignData:
    """Everything read for one campaign, already limited to the viewer's associations."""

    campaign: CampaignInfo
    counts: tuple[CountRow, ...]
    minutes: tuple[MinuteRow, ...]
    associations: tuple[Association, ...]
    channels: tuple[ChannelCount, ...]


def _summary(status: dict[str, int], series: Series, channels: dict[str, int]) -> dict[str, Any]:
    households = sum(status.values())
    answered = sum(status[str(s)] for s in ANSWERED)
    return {
        "households": households,
        "status": dict(status),
        "rates": {k: share(v, households) for k, v in status.items()},
        "answered": answered,
        "answered_rate": share(answered, households),
        "minutes_to": {str(p): minutes_to_reach(series, p / 100) for p in MILESTONES},
        "channels": dict(sorted(channels.items())),
    }


def _levels(data: CampaignData, key: Callable[[Association], str]) -> dict[str, dict[str, Any]]:
    """Summaries per `key(association)` (city, district name or association id)."""
    by_id = {a.id: a for a in data.associations}
    status: dict[str, dict[str, int]] = defaultdict(lambda: {str(s): 0 for s in ALL_STATUSES})
    channels: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in data.counts:
        if c.association_id in by_id:
            status[key(by_id[c.association_id])][c.status] += c.n
    for ch in data.channels:
        if ch.association_id in by_id:
            channels[key(by_id[ch.association_id])][ch.channel] += ch.n
    series = {s.label: s for s in group_series(data.minutes, data.counts, data.associations, key)}
    return {k: _summary(v, series.get(k, Series(k, 0, ())), channels.get(k, {})) for k, v in status.items()}


def _verdict(now: float, before: float | None) -> str | None:
    if before is None:
        return None
    if now > before + SAME_WITHIN:
        return "better"
    if now < before - SAME_WITHIN:
        return "worse"
    return "same"


def _person(h: HouseholdLine, names: Mapping[int, Association], with_names: bool,
            disclosure: Disclosure, outcome: bool) -> dict[str, Any]:
    a = names.get(h.association_id)
    district, association = (a.district, a.name) if a else ("", "")
    row: dict[str, Any] = {"association": association, "district": district, "group": h.group,
                           "household": h.household_key}
    if outcome:
        row["outcome"] = h.status  # a contact check's list: what its contacts came to, never a name
    if with_names:
        if not disclosure.reveals(h.consent, district, association, h.group):
            h = withhold_line(h)
        # the mobile as well (QA, heads' walk: a household with only a mobile, on the door-knock list with it,
        # had no phone on the report's follow-up lists); withheld, it gives none, as its name
        row.update(name=h.name, address=h.address, members=h.members, vulnerable=h.vulnerable, landline=h.landline,
                   mobile=h.mobile, withheld=h.withheld)
    return row


def person_rows(lines: Sequence[HouseholdLine], names: Mapping[int, Association], with_names: bool = True,
                disclosure: Disclosure = _EVERYTHING, *, outcome: bool = False) -> list[dict[str, Any]]:
    """List rows of households (pure); `names` maps association ids to their rows; a household the
    `disclosure` withholds keeps its number and 班 alone. `outcome`: the rows of a contact check's
    list, each with its household's outcome (the line's status)."""
    return [_person(h, names, with_names, disclosure, outcome) for h in lines]


def help_rows(rows: Sequence[HelpRow], with_names: bool = True, disclosure: Disclosure = _EVERYTHING,
              phones: Mapping[int, tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """The households that asked for help as the report lists them (pure): whether handled, when they
    asked, their own words (QA: the report counted them, and a city filing it could not say who), and
    what the help card and the alert give: the phones to call back (`phones`: household id to
    (landline, mobile)), how many are injured or safe, where they are (QA: the open requests left at the
    close could not be phoned from the report). A row the `disclosure` withholds gives no phone either,
    as the help alert (replies.notify)."""
    out = []
    for r in rows:
        row: dict[str, Any] = {"association": r.association, "district": r.district, "group": r.group,
                               "household": r.household_key, "handled": r.handled_at is not None,
                               "asked_at": r.opened_at}
        if with_names:
            r = disclosure.help_row(r)
            landline, mobile = ("", "") if r.withheld else (phones or {}).get(r.household_id, ("", ""))
            row.update(name=r.name, address=r.address, members=r.members, vulnerable=r.vulnerable,
                       note=" / ".join((*r.earlier_notes, r.note)) if r.note else "", withheld=r.withheld, landline=landline, mobile=mobile,
                       people_injured=r.people_injured, people_safe=r.people_safe, location=r.location or "")
        out.append(row)
    return out


def note_rows(notes: Sequence[NotedHousehold], names: Mapping[int, Association], with_names: bool = True,
              disclosure: Disclosure = _EVERYTHING) -> list[dict[str, Any]]:
    """The households that wrote something with another answer than a help request, with their latest
    words (pure); a household the `disclosure` withholds keeps its number and 班 alone, its words too."""
    out = []
    for n in notes:
        row = _person(n.line, names, with_names, disclosure, False)
        if with_names:
            row["note"] = "" if row["withheld"] else n.note
        out.append(row)
    return out


def _outcomes(counts: Mapping[str, int]) -> dict[str, Any]:
    households = sum(counts.values())
    return {"households": households, "outcomes": {o: counts.get(o, 0) for o in CHECK_OUTCOMES},
            "confirmed_rate": share(counts.get("confirmed", 0), households)}


def summarize_check(associations: Sequence[Association], outcomes: Iterable[tuple[int, str, int]],
                    channels: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """A contact check's figures (pure): households by outcome (`CHECK_OUTCOMES`) for the city, each
    district and association of `associations` (the viewer's), and contacts asked per channel."""
    by_id = {a.id: a for a in associations}
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for aid, outcome, n in outcomes:
        a = by_id.get(aid)
        if a is None:
            continue
        for key in ("city", f"d:{a.district}", f"a:{a.id}"):
            per[key][outcome] += n
    ordered = sorted(associations, key=lambda a: (a.district, a.name))
    return {
        **_outcomes(per["city"]),
        "channels": {ch: {"asked": sum(c.values()), **c} for ch, c in sorted(channels.items())},
        "districts": [{"name": d, **_outcomes(per[f"d:{d}"])} for d in sorted({a.district for a in associations})],
        "associations": [{"id": a.id, "name": a.name, "district": a.district, **_outcomes(per[f"a:{a.id}"])}
                         for a in ordered if f"a:{a.id}" in per],
    }


def summarize(data: CampaignData, previous: CampaignData | None, *, viewer_scope: str,
              generated_at: float, help_requests: Mapping[str, int] | None = None,
              check: Mapping[str, Any] | None = None, paused_seconds: float = 0.0) -> dict[str, Any]:
    """The report document without its household lists (pure). `help_requests`: households that
    asked for help, how many of them were marked handled and how many are still open; `check`: a
    contact check's figures (`summarize_check`); `paused_seconds`: how long a real event held the
    drill back, which its times to answer include (said, not taken out: the answers' minutes are
    counted from the start)."""
    city = _levels(data, lambda a: "city").get("city") or _summary(
        {str(s): 0 for s in ALL_STATUSES}, Series("city", 0, ()), {})
    districts = _levels(data, lambda a: a.district)
    assoc = _levels(data, lambda a: str(a.id))
    before = _levels(previous, lambda a: str(a.id)) if previous else {}
    before_city = _levels(previous, lambda a: "city").get("city") if previous else None
    rows = []
    for a in sorted(data.associations, key=lambda a: (a.district, a.name)):
        s = assoc.get(str(a.id))
        if s is None:
            continue
        prev = before.get(str(a.id))
        prev_rate = prev["answered_rate"] if prev else None
        rows.append({"id": a.id, "name": a.name, "district": a.district, **s,
                     "previous_answered_rate": prev_rate, "comparison": _verdict(s["answered_rate"], prev_rate)})
    curve = [{"label": s.label, "households": s.households, "points": by_the_minute(s.points)}
             for s in group_series(data.minutes, data.counts, data.associations, lambda a: a.district)]
    return {
        "campaign": {**data.campaign.as_dict(), "scope": list(data.campaign.scope),
                     "purged_at": data.campaign.purged_at},
        "generated_at": generated_at,
        "viewer_scope": viewer_scope,
        "city": {**city, "previous_answered_rate": before_city["answered_rate"] if before_city else None,
                 "comparison": _verdict(city["answered_rate"], before_city["answered_rate"] if before_city else None)},
        "districts": [{"name": k, **v} for k, v in sorted(districts.items(), key=lambda kv: kv[0])],
        "associations": rows,
        "curve": curve,
        "previous": ({**previous.campaign.as_dict(), "answered_rate": before_city["answered_rate"] if before_city else None}
                     if previous else None),
        "help_requests": dict(help_requests or {"households": 0, "handled": 0, "open": 0}),
        "answered_after_close": answered_after_close(data),
        # whole minutes, rounded up: a pause of 10 s is still a pause the times include
        "paused_minutes": math.ceil(paused_seconds / 60) if paused_seconds > 0 else 0,
        **({"check": dict(check)} if check is not None else {}),
    }


def answered_after_close(data: CampaignData) -> int:
    """Households whose first answer came in a minute after the one the campaign closed in (pure; at
    least this many: the closing minute's own are not counted). A closed campaign's link takes answers
    for a while, so the figures move after the close (QA: the filed report did not match /city at the
    close, and did not say why)."""
    c = data.campaign
    if c.closed_at is None or c.started_at is None:
        return 0
    closed_minute = int((c.closed_at - c.started_at) // 60)
    return sum(m.n for m in data.minutes if m.minute > closed_minute)


async def _campaign_data(stats: StatsReads, reads: DashboardReads, info: CampaignInfo,
                         visible: Callable[[Association], bool]) -> CampaignData:
    assocs = tuple(a for a in await stats.associations() if visible(a))
    ids = {a.id for a in assocs}
    counts = tuple(c for c in await stats.counts(info.id) if c.association_id in ids)
    covered = {c.association_id for c in counts}
    return CampaignData(
        campaign=info,
        counts=counts,
        minutes=tuple(m for m in await stats.minutes(info.id) if m.association_id in ids),
        associations=tuple(a for a in assocs if a.id in covered),
        channels=tuple(c for c in await reads.first_answers_by_channel(info.id) if c.association_id in ids),
    )


async def _paused_seconds(store: Store, info: CampaignInfo, now: float) -> float:
    """How long a real event has held a drill back so far (its ladder's record; none for other kinds).
    Review: a drill interrupted by an earthquake's event reported 73 minutes to 75 % where its residents
    had taken 13: nothing said the hour was the event's."""
    if info.kind != "drill":
        return 0.0
    progress = await store.campaigns.ladder_progress(info.id)
    if progress.paused_since is None:
        return progress.paused_seconds
    # closed while paused, the pause ended with it (nothing resumes a closed drill's ladder)
    end = now if info.closed_at is None else min(now, info.closed_at)
    return progress.paused_seconds + max(0.0, end - progress.paused_since)


def _walking(h: HouseholdLine) -> tuple[NaturalKey, NaturalKey, NaturalKey]:
    return walking_key(h.group, h.address, h.household_key)


async def walking_pages(pages: AsyncIterator[list[HouseholdLine]]) -> AsyncIterator[list[HouseholdLine]]:
    """The lines of `pages` (read in association order) with each association's in walking order, as the
    door-knock list and the dashboard order them (`domain.walking`: 桜町6-3 before 桜町12-4, 1-3 before
    1-24; QA: the report sorted addresses as text). The store pages by address as text, so the lines of
    the association a page ends in are held until the next association begins: at most a page and one
    association's households at a time."""
    held: list[HouseholdLine] = []
    async for page in pages:
        held += page
        last = held[-1].association_id
        done = [h for h in held if h.association_id != last]
        if done:
            held = [h for h in held if h.association_id == last]
            yield sorted(done, key=lambda h: (h.association_id, _walking(h)))
    if held:
        yield sorted(held, key=_walking)


@dataclass(frozen=True)
class OpenReport:
    """A report whose summary is read and whose household lists are read on demand, page by page."""

    summary: dict[str, Any]
    data: CampaignData
    previous: CampaignData | None
    reads: DashboardReads
    with_names: bool
    chunk: int
    disclosure: Disclosure = _EVERYTHING
    asked: tuple[HelpRow, ...] = ()  # the households that asked for help (a campaign's few: read whole)
    # their phones, (landline, mobile) by household id (`StatsReads.household_phones`): read with the
    # lists, after the summary has gone out
    phones_of: Callable[[Iterable[int]], Awaitable[Mapping[int, tuple[str, str]]]] | None = None

    async def lines(self, key: str) -> AsyncIterator[list[HouseholdLine]]:
        """The households of list `key` in pages of at most `chunk` (never an empty page); none once
        retention purged the campaign: its report keeps counts only."""
        if self.data.campaign.purged_at is not None:
            return
        aids = [a.id for a in self.data.associations]
        cid = self.data.campaign.id
        after: HouseholdLine | None = None
        while True:
            if key == "unconfirmed":
                page = await self.reads.check_unconfirmed(cid, aids, after=after, limit=self.chunk)
            else:
                statuses, never = _LIST_QUERY[key]
                page = await self.reads.households_with_status(cid, aids, statuses, never, after=after,
                                                               limit=self.chunk)
            if page:
                yield page
            if len(page) < self.chunk:
                return
            after = page[-1]

    async def rows(self, key: str) -> AsyncIterator[list[dict[str, Any]]]:
        """The rows of list `key`, one page at a time."""
        if key == "need_help":
            if self.asked and self.data.campaign.purged_at is None:
                # as the help cards show it: a real event's requests whole (`Disclosure.asking_in`)
                phones = (await self.phones_of(r.household_id for r in self.asked)
                          if self.with_names and self.phones_of else {})
                c = self.data.campaign
                yield help_rows(self.asked, self.with_names, self.disclosure.asking_in(c.kind, c.purged_at), phones)
            return
        names = {a.id: a for a in self.data.associations}
        if key == "notes":
            # a campaign's few (read whole); those that asked for help have their words on the list above
            if self.data.campaign.purged_at is None:
                asked = {r.household_id for r in self.asked}
                found = sorted(await self.reads.household_notes(self.data.campaign.id, names),
                               key=lambda n: (n.line.association_id, _walking(n.line)))
                rows = note_rows([n for n in found if n.line.id not in asked], names, self.with_names, self.disclosure)
                if rows:
                    yield rows
            return
        async for page in walking_pages(self.lines(key)):
            yield person_rows(page, names, self.with_names, self.disclosure, outcome=key == "unconfirmed")


async def open_report(store: Store, campaign_id: int, viewer: Viewer, *, with_names: bool = True,
                      chunk: int = LIST_CHUNK) -> OpenReport:
    """The report of one campaign as `viewer` may see it (its associations only), lists not yet read.

    Raises ReportNotFound for an unknown campaign or one that covers none of the viewer's associations,
    NeverStarted (a ReportNotFound) for one that never started.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    reads, stats = store.dashboard, store.stats
    info = await reads.campaign(campaign_id)
    if info is None:
        raise ReportNotFound(campaign_id)
    if info.started_at is None:
        raise NeverStarted(campaign_id, info.state)

    def visible(a: Association) -> bool:
        return viewer.sees(a.district, a.name)

    data = await _campaign_data(stats, reads, info, visible)
    if not data.associations:
        raise ReportNotFound(campaign_id)
    aids = [a.id for a in data.associations]
    check = None
    if info.kind == "check":
        # nobody is asked whether they are safe: what the contacts came to is the report, and no
        # comparison with an earlier check (its rate is of other contacts)
        previous = None
        outcomes, channels = await asyncio.gather(reads.check_outcomes(campaign_id), reads.check_counts(campaign_id, aids))
        check = summarize_check(data.associations, outcomes, channels)
    else:
        prev_info = await reads.previous_campaign(info)
        previous = await _campaign_data(stats, reads, prev_info, visible) if prev_info else None
    # after an event, whether every household that asked for help was seen to is the first question
    asked = await store.replies.help_list(campaign_id, aids, include_handled=True)
    handled = sum(1 for r in asked if r.handled_at is not None)
    help_requests = {"households": len(asked), "handled": handled, "open": len(asked) - handled}
    now = store.clock.now()
    summary = summarize(data, previous, viewer_scope=str(viewer.scope), generated_at=now,
                        help_requests=help_requests, check=check,
                        paused_seconds=await _paused_seconds(store, info, now))
    disclosure = (Disclosure.everything() if viewer.is_city_admin
                  else Disclosure(False, await reads.real_event_scopes()))
    return OpenReport(summary, data, previous, reads, with_names, chunk, disclosure, tuple(asked),
                      stats.household_phones)


async def build_report(store: Store, campaign_id: int, viewer: Viewer, *, with_names: bool = True,
                       chunk: int = LIST_CHUNK) -> dict[str, Any]:
    """The whole report document in memory (see `open_report`; `stream_report` holds one page at a time)."""
    rep = await open_report(store, campaign_id, viewer, with_names=with_names, chunk=chunk)
    doc = dict(rep.summary)
    for key in lists_of(rep.data.campaign.kind):  # the lists are the document's last keys
        doc[key] = [row async for page in rep.rows(key) for row in page]
    return doc


async def stream_report(report: OpenReport, writer: ReportWriter) -> AsyncIterator[str]:
    """The document in pieces: the summary, then each list a page at a time. A store error while
    the lists are read propagates: the consumer must not pass the pieces so far off as a document."""
    yield writer.head(report.summary)
    for key in lists_of(report.data.campaign.kind):
        empty = True
        async for rows in report.rows(key):
            yield (writer.list_open(key, rows[0]) if empty else "") + writer.list_rows(key, rows, empty)
            empty = False
        if empty:
            yield writer.list_open(key, None)
        yield writer.list_close(key, empty)
    yield writer.tail()


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": render_json, "csv": render_csv, "html": render_html,
}


async def _write_report(store: Store, campaign_id: int, viewer: Viewer, fmt: str, output: str | None,
                        lang: str = "ja", encoding: str | None = None) -> None:
    """Streams the report to `output` (written aside and renamed when complete) or stdout. A CSV file
    is for Excel: UTF-8 with a BOM, or CP932 (strict: `Unwritable`, and no file, if a cell does not fit).

    The audit log's entry is written before the report goes out: before its first byte on stdout
    (QA: a reader that stopped early, `| head`, left the export unrecorded), before the file takes its
    name. An entry that cannot be written stops the export: nothing is shown or left."""
    target = check_output(output) if output else None  # a folder, a missing folder, a FIFO: said before any work
    report = await open_report(store, campaign_id, viewer)
    pieces = stream_report(report, writer_for(fmt, lang))
    record = cli_audit_entry(store.clock.now(), AuditAction.EXPORT, "report", campaign_id=campaign_id,
                             detail=fmt if target else f"{fmt}, stdout")
    if target is None:
        await store.audit.append([record])
        async for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.flush()
        return
    part = target.with_name(f".{target.name}.partial")
    try:
        opened: contextlib.AbstractContextManager[IO[str]] = open_excel(part, encoding or "utf-8") if fmt == "csv" else private_text(part)
        with opened as f:
            async for piece in pieces:
                f.write(piece)
        check_output(target)  # still a plain file (or none): the rename replaces what is there now
        await store.audit.append([dataclasses.replace(record, at=store.clock.now())])
        os.replace(part, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def report_cli(cfg: Config, args: argparse.Namespace) -> int:
    """`safetynet campaign report ID --format html|csv|json [--output FILE] [--lang ja|en] [--encoding …]`
    (the operator sees the city)."""
    from safetynet.store import store_session

    fmt = getattr(args, "format", None) or "html"
    lang = getattr(args, "lang", None) or "ja"
    encoding = getattr(args, "encoding", None)
    output = getattr(args, "output", None)
    if fmt not in FORMATS:
        print_error(say("cli.report.bad_format", format=fmt))
        return 2
    if encoding is not None and (fmt != "csv" or not output):
        print_error(say("cli.report.encoding_needs_csv_file"))
        return 2
    viewer = Viewer(role=Role.CITY_ADMIN, scope=Scope("city"), login=command_line_actor())

    async def run() -> None:
        async with store_session(cfg) as store:
            await _write_report(store, int(args.id), viewer, fmt, output, lang, encoding)

    try:
        asyncio.run(run())
    except ReportNotFound as e:  # never started, or none: in the terminal's language
        print_error(e.text(cli_language()))
        return 2
    except Unwritable as e:
        print_error(unwritable_message(e))
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            raise  # stdout closed (`| head`): the CLI's own answer to a broken pipe
        # a full disk or quota under `> file` too (review: a traceback)
        print_error(say("cli.cannot_write", path=output or say("cli.stdout"), error=e.strerror or e))
        return 2
    return 0
