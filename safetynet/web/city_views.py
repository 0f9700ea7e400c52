"""HTML of the city overview: districts and associations worst first, totals, the curve (pure)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from safetynet.broadcast.health import FAILING, IDLE, OK, DispatchStatus
from safetynet.domain import ANSWERED
from safetynet.domain.campaigns import NOTICE_STEP, CampaignInfo, OpenHelp
from safetynet.domain.roster import Association
from safetynet.domain.shares import whole_percent
from safetynet.replies.notify import ReachGaps
from safetynet.templating import ENV, Markup, call_macro
from safetynet.triggers.port import starter_words
from safetynet.web import dash_views  # also the staff templates' globals
from safetynet.web.dash_shell import when
from safetynet.web.dash_text import KNOWN_KEYS, STATUS_ORDER, channel_label, t

LOW, GOOD = 0.5, 0.8  # response-rate bands: below LOW is low, from GOOD up is good


def band(rate: float) -> str:
    """The band of a rate as shown: on the whole percent the page prints, so "80%" is always 良好."""
    shown = whole_percent(rate)  # as the page shows it
    return "low" if shown < LOW * 100 else "good" if shown >= GOOD * 100 else "mid"


def bands_json(lang: str) -> str:
    return json.dumps({b: t(lang, "band_" + b) for b in ("low", "mid", "good")}, ensure_ascii=False)


def _answered(status: dict[str, int]) -> int:
    return sum(status.get(str(s), 0) for s in ANSWERED)


def district_rows(doc: dict[str, Any], doorknock: dict[int, int]) -> list[dict[str, Any]]:
    """Per-district sums of the stats document's association rows (and of their door-knock counts),
    worst rate first."""
    acc: dict[str, dict[str, int]] = defaultdict(lambda: {"households": 0, "answered": 0, "help": 0, "doorknock": 0})
    for a in doc["associations"]:
        d = acc[a.get("district", "")]
        d["households"] += a["households"]
        d["answered"] += _answered(a["status"])
        d["help"] += a.get("need_help_open", 0)
        d["doorknock"] += doorknock.get(a["id"], 0)
    rows = [{"name": k, **v, "rate": (v["answered"] / v["households"]) if v["households"] else 0.0}
            for k, v in acc.items()]
    rows.sort(key=lambda r: (r["rate"], r["name"]))
    return rows


def _macro(name: str, *args: object) -> Markup:
    return call_macro("city_parts.html", name, *args)


ENV.globals.update(band=band, answered=_answered, order=STATUS_ORDER)


def districts_table(lang: str, doc: dict[str, Any], doorknock: dict[int, int]) -> Markup:
    return _macro("districts_table", lang, district_rows(doc, doorknock))


def associations_table(lang: str, doc: dict[str, Any], doorknock: dict[int, int]) -> Markup:
    """`doorknock`: households on the door-knock list still not answered, per association id (read
    beside the stats document, which is the API's and does not carry them); only the document's
    associations are shown, so a scoped viewer sees only theirs."""
    return _macro("associations_table", lang, doc, doorknock)


def totals_block(lang: str, doc: dict[str, Any]) -> Markup:
    return _macro("totals_block", lang, doc)


def campaign_actions(lang: str, c: CampaignInfo, csrf: str, *, may_start: bool = False,
                     may_approve: bool = False, started_it: bool = False, review: Markup | None = None,
                     open_help: int = 0, unanswered: int = 0) -> Markup:
    """Start (a draft: a trigger's proposal), approve (a real event waiting: a second city admin),
    close and cancel, each behind a required "really" box (a second, deliberate step). Starting or
    approving a real event asks for the real-event confirmation. `review` (what would be sent:
    `city_console.review`) comes first, above the forms; `open_help`: help requests not handled, and
    `unanswered`: households without an answer, said in the close form (closing answers neither)."""
    why = ("approval_yours" if started_it else "approval_needed") if c.state == "pending_approval" else ""
    actions = []
    for action in ("start", "approve", "close", "cancel"):
        if ((action == "close" and c.state != "running") or (action == "start" and (c.state != "draft" or not may_start))
                or (action == "approve" and (c.state != "pending_approval" or not may_approve or started_it))):
            continue
        real_go = action in ("start", "approve") and c.kind == "real"
        actions.append((action, ("approve_confirm" if action == "approve" else "real_confirm") if real_go
                        else action + "_confirm"))
    return _macro("campaign_actions", lang, c, csrf, why, actions, review or Markup(), open_help, unanswered)


def proposals_block(lang: str, drafts: Sequence[CampaignInfo]) -> Markup:
    """Drafts waiting for a city admin's start (a trigger's proposal): at the top of the overview."""
    return _macro("proposals_block", lang, drafts)


def staff_name(names: Mapping[str, str] | None, login: str) -> str:
    """A staff member as people know them: the display name by login (`names`), the login when none
    (QA, heads' walk: /city said 「開始: shiro」 of 城 太郎); a token or a trigger is no login."""
    return (names or {}).get(login) or login


def approvals_block(lang: str, waiting: Sequence[CampaignInfo], sources: Mapping[int, str], *,
                    may_approve: bool = True, names: Mapping[str, str] | None = None) -> Markup:
    """Real events started by one person and waiting for a second city admin: at the very top.
    `sources`: each one's source (jma | cap | …), which names a trigger that started one. A viewer
    who may not approve (a district head) gets a link to open each, not 確認して承認. `names`:
    display names by login (`staff_name`)."""
    starters = {c.id: starter_words(lang, staff_name(names, c.started_by), sources.get(c.id, "")) for c in waiting}
    return _macro("approvals_block", lang, waiting, starters, may_approve)


def approval_line(lang: str, c: CampaignInfo, token_maker: str = "", source: str = "",
                  names: Mapping[str, str] | None = None) -> str:
    """Who started a real event and who approved it (the two people), under its title, by display name
    (`names` by login, `staff_name`); a token that started it is named with the person who made it
    (`token_maker`, a login), who may not approve it; a trigger by what it acted on (`source`: the
    campaign's)."""
    if c.kind != "real" or not (c.started_by or c.approved_by):
        return ""
    who = starter_words(lang, staff_name(names, c.started_by), source) if c.started_by else "?"
    if token_maker:
        who = t(lang, "token_of", token=who, login=staff_name(names, token_maker))
    parts = [t(lang, "started_by", who=who, time=when(c.requested_at or c.started_at))]
    if c.approved_by:
        parts.append(t(lang, "approved_by", who=staff_name(names, c.approved_by), time=when(c.approved_at)))
    return " · ".join(parts)


def notice_progress(lang: str, counts: dict[tuple[int, str, str], int]) -> Markup:
    """A cancelled campaign's notices to the households it reached (`campaigns.delivery_counts`):
    how many went out of how many, and how many wait, failed or were dropped (nothing had reached
    that household after all). Empty when there were none (not told, or nothing had gone out)."""
    by_state: dict[str, int] = defaultdict(int)
    for (step, _, state), n in counts.items():
        if step == NOTICE_STEP:
            by_state[state] += n
    if not by_state:
        return Markup()
    sent = by_state["sent"] + by_state["delivered"] + by_state["undelivered"]
    waiting = by_state["queued"] + by_state["claimed"]
    return _macro("notice_progress", lang, sum(by_state.values()) - by_state["skipped"], sent, waiting,
                  by_state["failed"])


def health_block(lang: str, status: DispatchStatus, running: bool) -> Markup:
    """Whether anything is being sent: the dispatcher, and each enabled channel (sending / failing
    since when / why). An alert while a campaign runs and something is wrong."""
    if not status.sending:
        dispatcher = (t(lang, "dispatcher_down", time=when(status.last_seen)) if status.last_seen is not None
                      else t(lang, "dispatcher_never"))
    else:
        dispatcher = t(lang, "dispatcher_up", n=len(status.alive), time=when(max(b.seen_at for b in status.alive)))
    channels = []
    for channel, h in status.channels.items():
        detail = ""
        if h is None:
            state, text = "unknown", t(lang, "ch_unknown")
        elif h.state == FAILING:
            reason = t(lang, f"reason_{h.reason}") if f"reason_{h.reason}" in KNOWN_KEYS else h.reason
            state = FAILING
            text = t(lang, "ch_failing", time=when(h.since), n=h.failures, reason=reason)
            # the provider's own words, in English, for whoever calls the provider or reads the
            # logs: set apart and named so, not read as part of the reason
            detail = t(lang, "ch_detail", detail=h.detail) if h.detail else ""
        elif h.state == OK:
            state, text = OK, t(lang, "ch_ok", time=when(h.since))
        else:
            state, text = IDLE, t(lang, "ch_idle")
        channels.append((channel, state, channel_label(lang, channel), text, detail))
    health = {"dispatcher_down": not status.sending, "dispatcher": dispatcher, "channels": channels,
              "bad": not status.sending or bool(status.failing), "running": running}
    return _macro("health_block", lang, health)


def city_help_elsewhere(lang: str, found: Sequence[OpenHelp], shown: CampaignInfo | None,
                        associations: Sequence[Association]) -> Markup:
    """The open help requests of campaigns other than the one shown (`found`: in every campaign; none
    shown: all of them), of the associations the viewer sees, grouped by campaign, newest first."""
    named = {a.id: a for a in associations}
    groups: dict[int, tuple[CampaignInfo, list[tuple[Association, int]]]] = {}
    for o in dash_views.others_than(found, shown):
        if o.association_id in named:
            groups.setdefault(o.campaign.id, (o.campaign, []))[1].append((named[o.association_id], o.open))
    total = sum(n for _, rows in groups.values() for _, n in rows)
    return _macro("help_elsewhere", lang, list(groups.values()), total)


def reach_block(lang: str, gaps: ReachGaps, admin: bool, refusing: Sequence[Association] = ()) -> Markup:
    """The associations whose need-help alerts would reach nobody (`notify.reach_gaps`), a warning;
    those whose heads and deputies refused their last alerts on every contact (`refusing`), a warning
    to phone them; and those left to standing-in staff, folded; empty when every association's own can
    be reached. `admin`: a city admin, offered the staff page where contacts are registered."""
    return _macro("reach_gaps", lang, gaps.nobody, gaps.standing_in, admin, refusing)


def campaign_header(lang: str, c: CampaignInfo) -> Markup:
    return _macro("campaign_header", lang, c, approval_line(lang, c))


def recent_list(lang: str, campaigns: Sequence[CampaignInfo]) -> Markup:
    return _macro("recent_list", lang, campaigns)
