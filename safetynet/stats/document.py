"""The stats document of DESIGN.md §6, built from counters (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from safetynet.domain import ALL_STATUSES, ANSWERED
from safetynet.domain.campaigns import CountRow, MinuteRow
from safetynet.domain.roster import Association
from safetynet.domain.shares import share
from safetynet.stats.curve import by_the_minute, cumulative


def _rate(status: dict[str, int], households: int) -> float:
    answered = sum(status[str(s)] for s in ANSWERED)
    return share(answered, households)


def build_stats(
    campaign: dict[str, Any],
    counts: Iterable[CountRow],
    minutes: Iterable[MinuteRow],
    associations: Iterable[Association],
    visible: Callable[[Association], bool] = lambda a: True,
    help_open: dict[int, int] | None = None,
) -> dict[str, Any]:
    """`campaign` carries id, kind, state (and optionally paused, started_at, title).

    Only associations for which `visible` is true count, so a scoped viewer's totals are its own.
    `timeline[].t` is minutes since the campaign started; `answered` is cumulative: how many had answered
    by then (an answer in the first minute counts at t=1, as the report's "minutes to 50 %" reads it).
    """
    assoc_by_id = {a.id: a for a in associations if visible(a)}
    per_assoc: dict[int, dict[str, int]] = defaultdict(lambda: {str(s): 0 for s in ALL_STATUSES})
    for c in counts:
        if c.association_id in assoc_by_id:
            per_assoc[c.association_id][c.status] += c.n
    total = {str(s): 0 for s in ALL_STATUSES}
    rows = []
    help_open = help_open or {}
    for aid, status in per_assoc.items():
        hh = sum(status.values())
        for k, v in status.items():
            total[k] += v
        a = assoc_by_id[aid]
        rows.append({"id": aid, "name": a.name, "district": a.district, "households": hh,
                     "status": dict(status), "answered_rate": _rate(status, hh),
                     "need_help_open": help_open.get(aid, 0)})
    rows.sort(key=lambda r: (r["answered_rate"], r["name"]))
    households = sum(total.values())
    by_minute: dict[int, int] = defaultdict(int)
    for m in minutes:
        if m.association_id in assoc_by_id:
            by_minute[m.minute] += m.n
    timeline = [{"t": t, "answered": n} for t, n in by_the_minute(cumulative(by_minute))]
    doc = {
        "id": campaign["id"],
        "kind": campaign["kind"],
        "state": campaign["state"],
        "households": households,
        "status": total,
        "answered_rate": _rate(total, households),
        "associations": rows,
        "timeline": timeline,
    }
    for extra in ("title", "paused", "started_at", "closed_at"):
        if extra in campaign:
            doc[extra] = campaign[extra]
    doc["need_help_open"] = sum(r["need_help_open"] for r in rows)
    return doc
