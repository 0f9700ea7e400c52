"""HTML of the city overview: districts and associations worst first, totals, the curve (pure)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from safetynet.broadcast.health import FAILING, IDLE, OK, DispatchStatus
from safetynet.domain import ANSWERED
from safetynet.domain.campaigns import CampaignInfo
from safetynet.web.dash_shell import when
from safetynet.web.dash_text import KNOWN_KEYS, STATUS_ORDER, channel_label, pct, status_label, t
from safetynet.web.dash_views import campaign_badge
from safetynet.web.layout import esc

LOW, GOOD = 0.5, 0.8  # response-rate bands: below LOW is low, from GOOD up is good


def band(rate: float) -> str:
    """The band of a rate as shown: on the whole percent the page prints, so "80%" is always 良好."""
    shown = round(rate * 100)
    return "low" if shown < LOW * 100 else "good" if shown >= GOOD * 100 else "mid"


def bands_json(lang: str) -> str:
    return json.dumps({b: t(lang, "band_" + b) for b in ("low", "mid", "good")}, ensure_ascii=False)


def _answered(status: dict[str, int]) -> int:
    return sum(status.get(str(s), 0) for s in ANSWERED)


def district_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-district sums of the stats document's association rows, worst rate first."""
    acc: dict[str, dict[str, int]] = defaultdict(lambda: {"households": 0, "answered": 0, "help": 0})
    for a in doc["associations"]:
        d = acc[a.get("district", "")]
        d["households"] += a["households"]
        d["answered"] += _answered(a["status"])
        d["help"] += a.get("need_help_open", 0)
    rows = [{"name": k, **v, "rate": (v["answered"] / v["households"]) if v["households"] else 0.0}
            for k, v in acc.items()]
    rows.sort(key=lambda r: (r["rate"], r["name"]))
    return rows


def _rate_cell(lang: str, rate: float) -> str:
    b = band(rate)
    return (f'<td class="rate"><span data-rate-text>{esc(t(lang, "band_" + b))} {pct(rate)}</span>'
            f'<span class="mini-bar" aria-hidden="true"><span data-rate-bar style="width:{rate * 100:.1f}%"></span>'
            f"</span></td>")


def districts_table(lang: str, doc: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr class="band-{band(r["rate"])}" data-district="{esc(r["name"])}" data-households="{r["households"]}"'
        f' data-answered="{r["answered"]}" data-help="{r["help"]}" data-rate="{r["rate"]:.4f}">'
        f'<th scope="row">{esc(r["name"])}</th>'
        f'<td class="num" data-hh>{r["households"]}</td>{_rate_cell(lang, r["rate"])}'
        f'<td class="num" data-help>{r["help"]}</td></tr>'
        for r in district_rows(doc)
    )
    head = "".join(f"<th>{esc(t(lang, k))}</th>" for k in ("district", "household_count", "rate", "help_count"))
    return (f'<section aria-labelledby="dist-h"><h2 id="dist-h">{esc(t(lang, "districts"))}</h2>'
            f'<table class="city" id="districts"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>')


def associations_table(lang: str, doc: dict[str, Any]) -> str:
    cid = doc["id"]
    rows = "".join(
        f'<tr class="band-{band(a["answered_rate"])}" data-aid="{a["id"]}" data-district="{esc(a.get("district", ""))}"'
        f' data-households="{a["households"]}" data-answered="{_answered(a["status"])}"'
        f' data-help="{a.get("need_help_open", 0)}" data-rate="{a["answered_rate"]}">'
        f'<td>{esc(a.get("district", ""))}</td><th scope="row"><a href="/a/{a["id"]}?campaign={cid}">{esc(a["name"])}</a></th>'
        f'<td class="num" data-hh>{a["households"]}</td>{_rate_cell(lang, a["answered_rate"])}'
        f'<td class="num" data-help>{a.get("need_help_open", 0)}</td></tr>'
        for a in doc["associations"]
    )
    head = "".join(f"<th>{esc(t(lang, k))}</th>"
                   for k in ("district", "association", "households", "rate", "help_count"))
    return (f'<section aria-labelledby="assoc-h"><h2 id="assoc-h">{esc(t(lang, "associations"))}</h2>'
            f'<table class="city" id="associations"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>')


def totals_block(lang: str, doc: dict[str, Any]) -> str:
    status = doc["status"]
    tiles = "".join(
        f'<li class="tile s-{s}"><span class="lbl">{esc(status_label(lang, s))}</span> '
        f'<b data-count="{s}">{status.get(s, 0)}</b></li>'
        for s in STATUS_ORDER
    )
    answered = _answered(status)
    line = t(lang, "answered_of", answered=f"<b data-answered>{answered}</b>",
             households=f'<b data-households>{doc["households"]}</b>',
             pct=f'<b data-rate>{pct(doc["answered_rate"])}</b>')
    return (f'<section class="counts" aria-labelledby="tot-h"><h2 id="tot-h">{esc(t(lang, "total"))}</h2>'
            f'<p class="answered" aria-live="polite">{line} · ⚠ {esc(t(lang, "help_count"))} '
            f'<b data-help-total>{doc.get("need_help_open", 0)}</b></p><ul class="tiles">{tiles}</ul></section>')


def campaign_actions(lang: str, c: CampaignInfo, csrf: str, *, may_start: bool = False,
                     may_approve: bool = False, started_it: bool = False) -> str:
    """Start (a draft: a trigger's proposal), approve (a real event waiting: a second city admin),
    close and cancel, each behind a required "really" box (a second, deliberate step). Starting or
    approving a real event asks for the real-event confirmation."""
    if c.state not in ("draft", "pending_approval", "running"):
        return ""
    forms = []
    if c.state == "pending_approval":
        why = "approval_yours" if started_it else "approval_needed"
        forms.append(f'<p class="approval" role="status">{esc(t(lang, why))}</p>')
    for action in ("start", "approve", "close", "cancel"):
        if ((action == "close" and c.state != "running") or (action == "start" and (c.state != "draft" or not may_start))
                or (action == "approve" and (c.state != "pending_approval" or not may_approve or started_it))):
            continue
        real_go = action in ("start", "approve") and c.kind == "real"
        confirm = ("approve_confirm" if action == "approve" else "real_confirm") if real_go else action + "_confirm"
        forms.append(
            f'<form method="post" action="/city/campaigns/{c.id}/{action}"'
            f' class="{"go" if action in ("start", "approve") else "danger"}">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<label><input type="checkbox" name="really" value="1" required> {esc(t(lang, confirm))}</label> '
            f'<button type="submit">{esc(t(lang, action))}</button></form>'
        )
    return f'<div class="actions" id="actions">{"".join(forms)}</div>'


def proposals_block(lang: str, drafts: Sequence[CampaignInfo]) -> str:
    """Drafts waiting for a city admin's start (a trigger's proposal): at the top of the overview."""
    if not drafts:
        return ""
    items = "".join(
        f'<li><a href="/city?campaign={c.id}">{esc(c.title)}</a> {campaign_badge(lang, c)} '
        f'{esc(t(lang, "proposed_at", time=when(c.created_at)))} '
        f'<a class="button" href="/city?campaign={c.id}#actions">{esc(t(lang, "review_and_start"))}</a></li>'
        for c in drafts
    )
    return (f'<section class="proposals" role="alert" aria-labelledby="prop-h"><h2 id="prop-h">'
            f'{esc(t(lang, "proposals"))}</h2><ul>{items}</ul></section>')


def approvals_block(lang: str, waiting: Sequence[CampaignInfo]) -> str:
    """Real events started by one person and waiting for a second city admin: at the very top."""
    if not waiting:
        return ""
    items = "".join(
        f'<li><a href="/city?campaign={c.id}">{esc(c.title)}</a> {campaign_badge(lang, c)} '
        f'{esc(t(lang, "requested_by", who=c.started_by or "?", time=when(c.requested_at or c.created_at)))} '
        f'<a class="button" href="/city?campaign={c.id}#actions">{esc(t(lang, "review_and_approve"))}</a></li>'
        for c in waiting
    )
    return (f'<section class="approvals" role="alert" aria-labelledby="appr-h"><h2 id="appr-h">'
            f'{esc(t(lang, "awaiting_approval"))}</h2><ul>{items}</ul></section>')


def approval_line(lang: str, c: CampaignInfo) -> str:
    """Who started a real event and who approved it (the two people), under its title."""
    if c.kind != "real" or not (c.started_by or c.approved_by):
        return ""
    parts = [t(lang, "started_by", who=c.started_by or "?", time=when(c.requested_at or c.started_at))]
    if c.approved_by:
        parts.append(t(lang, "approved_by", who=c.approved_by, time=when(c.approved_at)))
    return f'<p class="approval-line" data-approval>{esc(" · ".join(parts))}</p>'


def health_block(lang: str, status: DispatchStatus, running: bool) -> str:
    """Whether anything is being sent: the dispatcher, and each enabled channel (sending / failing
    since when / why). An alert while a campaign runs and something is wrong."""
    lines = []
    if not status.sending:
        what = (t(lang, "dispatcher_down", time=when(status.last_seen)) if status.last_seen is not None
                else t(lang, "dispatcher_never"))
        lines.append(f'<li class="dispatcher-down" data-dispatcher="down">⚠ {esc(what)}</li>')
    else:
        last = max(b.seen_at for b in status.alive)
        lines.append(f'<li data-dispatcher="up">{esc(t(lang, "dispatcher_up", n=len(status.alive), time=when(last)))}</li>')
    for channel, h in status.channels.items():
        if h is None:
            state, text = "unknown", t(lang, "ch_unknown")
        elif h.state == FAILING:
            reason = t(lang, f"reason_{h.reason}") if f"reason_{h.reason}" in KNOWN_KEYS else h.reason
            state = FAILING
            text = t(lang, "ch_failing", time=when(h.since), n=h.failures, reason=reason)
            text += f" — {h.detail}" if h.detail else ""
        elif h.state == OK:
            state, text = OK, t(lang, "ch_ok", time=when(h.since))
        else:
            state, text = IDLE, t(lang, "ch_idle")
        lines.append(f'<li class="ch-{state}" data-channel="{esc(channel)}" data-state="{state}">'
                     f'<b>{esc(channel_label(lang, channel))}</b>: {esc(text)}</li>')
    bad = not status.sending or bool(status.failing)
    alert = ' role="alert"' if bad and running else ""
    return (f'<section class="health{" bad" if bad else ""}" aria-labelledby="health-h"{alert}>'
            f'<h2 id="health-h">{esc(t(lang, "sending_h"))}</h2><ul>{"".join(lines)}</ul></section>')


def campaign_header(lang: str, c: CampaignInfo) -> str:
    return (f'<p class="campaign">{esc(c.title)} {campaign_badge(lang, c)} '
            f'<span class="live" data-live aria-live="polite">{esc(t(lang, "live_off"))}</span> '
            f'<a href="/campaigns/{c.id}/report">{esc(t(lang, "report"))}</a></p>' + approval_line(lang, c))


def recent_list(lang: str, campaigns: Sequence[CampaignInfo]) -> str:
    if not campaigns:
        return ""
    items = "".join(
        f'<li><a href="/city?campaign={c.id}">{esc(c.title)}</a> {campaign_badge(lang, c)} '
        f'<a href="/campaigns/{c.id}/report">{esc(t(lang, "report"))}</a></li>'
        for c in campaigns
    )
    return f'<section aria-labelledby="recent-h"><h2 id="recent-h">{esc(t(lang, "recent"))}</h2><ul>{items}</ul></section>'

