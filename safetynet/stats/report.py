"""The drill report: per city, district and association, final rates, time to 25/50/75/80 %
answered, answers per channel, the curve, who was never reached, and how it compares with the
previous campaign of the same scope.

`build_report` reads (counters, the minute curve, first answers, the two lists) and hands them to
`assemble`, which is pure. Renderers live in `report_render` and are re-exported here. The CLI's
`campaign report ID --format html|csv|json [--output FILE]` calls `report_cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetynet.auth import Viewer
from safetynet.config import Config
from safetynet.domain import ALL_STATUSES, ANSWERED, Role, Scope
from safetynet.stats.curve import Series, group_series, minutes_to_reach
from safetynet.stats.report_render import render_csv, render_html, render_json
from safetynet.store.dashboard import CampaignInfo, ChannelCount, DashboardReads, HouseholdLine
from safetynet.store.stats import AssociationRow, CountRow, MinuteRow, StatsReads

__all__ = ["MILESTONES", "ReportNotFound", "assemble", "build_report", "render_csv", "render_html",
           "render_json", "report_cli"]

MILESTONES = (25, 50, 75, 80)
# A rate change smaller than this (one household in a hundred) counts as "same".
SAME_WITHIN = 0.01


class ReportNotFound(Exception):
    """No such campaign, or none the viewer may see."""


@dataclass(frozen=True)
class CampaignData:
    """Everything read for one campaign, already limited to the viewer's associations."""

    campaign: CampaignInfo
    counts: tuple[CountRow, ...]
    minutes: tuple[MinuteRow, ...]
    associations: tuple[AssociationRow, ...]
    channels: tuple[ChannelCount, ...]


def _summary(status: dict[str, int], series: Series, channels: dict[str, int]) -> dict[str, Any]:
    households = sum(status.values())
    answered = sum(status[str(s)] for s in ANSWERED)
    return {
        "households": households,
        "status": dict(status),
        "rates": {k: (round(v / households, 4) if households else 0.0) for k, v in status.items()},
        "answered": answered,
        "answered_rate": round(answered / households, 4) if households else 0.0,
        "minutes_to": {str(p): minutes_to_reach(series, p / 100) for p in MILESTONES},
        "channels": dict(sorted(channels.items())),
    }


def _levels(data: CampaignData, key: Callable[[AssociationRow], str]) -> dict[str, dict[str, Any]]:
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


def _person(h: HouseholdLine, names: dict[int, AssociationRow], with_names: bool) -> dict[str, Any]:
    a = names.get(h.association_id)
    row: dict[str, Any] = {"association": a.name if a else "", "district": a.district if a else "", "group": h.group}
    if with_names:
        row.update(name=h.name, address=h.address, members=h.members, vulnerable=h.vulnerable, landline=h.landline)
    return row


def assemble(
    data: CampaignData,
    previous: CampaignData | None,
    unreachable: Sequence[HouseholdLine],
    never_answered: Sequence[HouseholdLine],
    *,
    viewer_scope: str,
    generated_at: float,
    with_names: bool = True,
) -> dict[str, Any]:
    """The report document (pure)."""
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
    by_id = {a.id: a for a in data.associations}
    curve = [{"label": s.label, "households": s.households, "points": [list(p) for p in s.points]}
             for s in group_series(data.minutes, data.counts, data.associations, lambda a: a.district)]
    return {
        "campaign": {**data.campaign.as_dict(), "scope": list(data.campaign.scope)},
        "generated_at": generated_at,
        "viewer_scope": viewer_scope,
        "city": {**city, "previous_answered_rate": before_city["answered_rate"] if before_city else None,
                 "comparison": _verdict(city["answered_rate"], before_city["answered_rate"] if before_city else None)},
        "districts": [{"name": k, **v} for k, v in sorted(districts.items(), key=lambda kv: kv[0])],
        "associations": rows,
        "curve": curve,
        "previous": ({**previous.campaign.as_dict(), "answered_rate": before_city["answered_rate"] if before_city else None}
                     if previous else None),
        "unreachable": [_person(h, by_id, with_names) for h in unreachable],
        "never_answered": [_person(h, by_id, with_names) for h in never_answered],
    }


async def _campaign_data(stats: StatsReads, reads: DashboardReads, info: CampaignInfo,
                         visible: Callable[[AssociationRow], bool]) -> CampaignData:
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


async def build_report(store: Any, campaign_id: int, viewer: Viewer, *, with_names: bool = True) -> dict[str, Any]:
    """The report of one campaign as `viewer` may see it (its associations only).

    Raises ReportNotFound for an unknown campaign or one that covers none of the viewer's associations.
    """
    reads: DashboardReads = getattr(store, "dashboard", None) or DashboardReads(store.db)
    stats = StatsReads(store.db)
    info = await reads.campaign(campaign_id)
    if info is None:
        raise ReportNotFound(f"no campaign {campaign_id}")

    def visible(a: AssociationRow) -> bool:
        return viewer.sees(a.district, a.name)

    data = await _campaign_data(stats, reads, info, visible)
    if not data.associations:
        raise ReportNotFound(f"no campaign {campaign_id}")
    prev_info = await reads.previous_campaign(info)
    previous = await _campaign_data(stats, reads, prev_info, visible) if prev_info else None
    aids = [a.id for a in data.associations]
    unreachable = await reads.households_with_status(campaign_id, aids, ["unreachable"])
    never = await reads.households_with_status(campaign_id, aids, ["pending", "notified", "read"], never_answered=True)
    return assemble(data, previous, unreachable, never, viewer_scope=str(viewer.scope),
                    generated_at=store.clock.now(), with_names=with_names)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": render_json, "csv": render_csv, "html": render_html,
}


def report_cli(cfg: Config, args: argparse.Namespace) -> int:
    """`safetynet campaign report ID --format html|csv|json [--output FILE]` (the operator sees the city)."""
    from safetynet.store import store_session

    fmt = getattr(args, "format", None) or "html"
    if fmt not in RENDERERS:
        print(f"error: unknown format {fmt!r}; use html, csv or json", file=sys.stderr)
        return 2
    viewer = Viewer(role=Role.CITY_ADMIN, scope=Scope("city"), login="cli")

    async def run() -> dict[str, Any]:
        async with store_session(cfg) as store:
            return await build_report(store, int(args.id), viewer)

    try:
        report = asyncio.run(run())
    except ReportNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = RENDERERS[fmt](report)
    output = getattr(args, "output", None)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0

