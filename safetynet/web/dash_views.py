"""HTML of the association dashboard and the door-knock list (pure: data in, markup out)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from safetynet.domain import ANSWERED
from safetynet.domain.campaigns import CampaignInfo
from safetynet.domain.phones import format_national
from safetynet.domain.replies import HelpItem
from safetynet.domain.roster import Association, Coverage, HouseholdLine
from safetynet.web.dash_shell import hhmm, when
from safetynet.web.dash_text import METHODS, STATUS_ICONS, STATUS_ORDER, method_label, pct, status_label, t
from safetynet.web.layout import esc

ANSWERED_S = frozenset(str(s) for s in ANSWERED)
FILTERS = ("all", "noanswer", "help", "vulnerable")


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
    states = ("draft", "running", "closed", "cancelled")
    return json.dumps({s: t(lang, "state_" + s) for s in states}, ensure_ascii=False)


def campaign_badge(lang: str, c: CampaignInfo) -> str:
    kind = "real" if c.kind == "real" else "drill"
    return (f'<span class="badge k-{kind}">{esc(t(lang, kind))}</span> '
            f'<span class="badge st-{esc(c.state)}" data-campaign-state>{esc(t(lang, "state_" + c.state))}</span>')


def campaign_picker(lang: str, action: str, campaigns: Sequence[CampaignInfo], current: CampaignInfo | None) -> str:
    if not campaigns:
        return ""
    opts = "".join(
        f'<option value="{c.id}"{" selected" if current and c.id == current.id else ""}>'
        f'{esc(when(c.started_at or c.created_at))} {esc(c.title)} ({esc(t(lang, "real" if c.kind == "real" else "drill"))}, '
        f'{esc(t(lang, "state_" + c.state))})</option>'
        for c in campaigns
    )
    return (f'<form method="get" action="{esc(action)}" class="picker"><label>{esc(t(lang, "campaign"))} '
            f'<select name="campaign">{opts}</select></label> <button type="submit" class="small">'
            f'{esc(t(lang, "show"))}</button></form>')


def counts_block(lang: str, status: dict[str, int]) -> str:
    """Progress bar (stacked by status) with the answered line and one tile per status."""
    households = sum(status.values())
    answered = sum(status.get(s, 0) for s in ANSWERED_S)
    rate = answered / households if households else 0.0
    segs = "".join(
        f'<span class="seg s-{s}" data-seg="{s}" style="width:{(status.get(s, 0) / households * 100) if households else 0:.2f}%"></span>'
        for s in STATUS_ORDER
    )
    tiles = "".join(
        f'<li class="tile s-{s}"><span class="lbl">{esc(status_label(lang, s))}</span>'
        f' <b data-count="{s}">{status.get(s, 0)}</b></li>'
        for s in STATUS_ORDER
    )
    line = t(lang, "answered_of", answered=f'<b data-answered>{answered}</b>',
             households=f'<b data-households>{households}</b>', pct=f'<b data-rate>{pct(rate)}</b>')
    return (f'<section class="counts" aria-labelledby="counts-h"><h2 id="counts-h" class="visually-hidden">'
            f'{esc(t(lang, "status"))}</h2><p class="answered" aria-live="polite">{line}</p>'
            f'<div class="bar" aria-hidden="true">{segs}</div><ul class="tiles">{tiles}</ul></section>')


def help_items(lang: str, items: Sequence[HelpItem]) -> str:
    """The inside of the need-help panel (also served alone when it must be refreshed)."""
    if not items:
        return f'<p class="muted">{esc(t(lang, "help_none"))}</p>'
    cards = []
    for h in items:
        vuln = f' <span class="badge vuln">{esc(t(lang, "vulnerable"))}</span>' if h.vulnerable else ""
        injured = (f'<li>{esc(t(lang, "injured", n=h.people_injured))}</li>'
                   if h.people_injured else "")
        note = f'<li class="note">{esc(h.note)}</li>' if h.note else ""
        where = f"<li>{esc(h.location)}</li>" if h.location else ""
        cards.append(
            f'<li class="help-card" data-hh="{h.household_id}"><h3>⚠ {esc(h.name)}{vuln}</h3><ul>'
            f'<li>{esc(h.address)}{" · " + esc(h.group) if h.group else ""}</li>'
            f'<li>{esc(t(lang, "members", n=h.members))}</li>{injured}{where}{note}'
            f'<li class="muted">{esc(t(lang, "at", time=hhmm(h.opened_at)))}</li></ul>'
            f'<button type="button" data-handled="{h.household_id}">{esc(t(lang, "handled"))}</button></li>'
        )
    return f'<ul class="help-list">{"".join(cards)}</ul>'


def help_panel(lang: str, items: Sequence[HelpItem]) -> str:
    return (f'<section class="help" aria-labelledby="help-h"><h2 id="help-h">⚠ {esc(t(lang, "help_panel"))} '
            f'<span class="count" data-help-count>{len(items)}</span></h2>'
            f'<div id="help-items" aria-live="polite">{help_items(lang, items)}</div></section>')


@functools.lru_cache(maxsize=4)
def _row_parts(lang: str) -> dict[str, str]:
    """The escaped constant pieces of a household row, once per language (a page has hundreds)."""
    parts = {k: esc(t(lang, k)) for k in ("group", "name", "address", "people", "status", "confirm")}
    parts["vuln"] = f' <span class="badge vuln">{esc(t(lang, "vulnerable"))}</span>'
    for st in STATUS_ICONS:
        parts["st:" + st] = f'<span class="status s-{st}">{esc(status_label(lang, st))}</span>'
    parts["buttons"] = "".join(
        f'<button type="button" class="small" data-confirm="{m}" '
        f'aria-label="{esc(t(lang, "confirm_as", name="{name}", method=method_label(lang, m)))}">'
        f'{esc(method_label(lang, m))}</button>'
        for m in METHODS
    )
    return parts


def household_rows(lang: str, lines: Sequence[HouseholdLine], filt: HouseholdFilter) -> str:
    p = _row_parts(lang)
    rows = []
    for h in lines:
        name = esc(h.name)
        status = p.get("st:" + h.status) or esc(h.status)
        rows.append(
            f'<tr data-hh="{h.id}" data-status="{esc(h.status)}" data-group="{esc(h.group)}" '
            f'data-vuln="{int(h.vulnerable)}" data-rid="0"{"" if filt.keeps(h) else " hidden"}>'
            f'<td data-label="{p["group"]}">{esc(h.group)}</td>'
            f'<td data-label="{p["name"]}">{name}{p["vuln"] if h.vulnerable else ""}</td>'
            f'<td data-label="{p["address"]}">{esc(h.address)}</td>'
            f'<td data-label="{p["people"]}">{h.members}</td>'
            f'<td data-label="{p["status"]}" class="st">{status}</td>'
            f'<td class="act" data-label="{p["confirm"]}">{p["buttons"].replace("{name}", name)}</td></tr>'
        )
    return "".join(rows)


def household_table(lang: str, lines: Sequence[HouseholdLine], groups: Sequence[str], filt: HouseholdFilter,
                    action: str, campaign_id: int) -> str:
    radios = "".join(
        f'<label class="chip"><input type="radio" name="filter" value="{f}"{" checked" if filt.kind == f else ""}>'
        f' {esc(t(lang, "f_" + f))}</label>'
        for f in FILTERS
    )
    gopts = f'<option value="">{esc(t(lang, "all_groups"))}</option>' + "".join(
        f'<option{" selected" if g == filt.group else ""}>{esc(g)}</option>' for g in groups
    )
    head = "".join(f"<th>{esc(t(lang, k))}</th>" for k in ("group", "name", "address", "people", "status", "confirm"))
    return (
        f'<section class="households" aria-labelledby="hh-h"><h2 id="hh-h">{esc(t(lang, "households"))}</h2>'
        f'<form method="get" action="{esc(action)}" class="filters" data-filters>'
        f'<input type="hidden" name="campaign" value="{campaign_id}">'
        f'<fieldset><legend>{esc(t(lang, "filter"))}</legend>{radios}'
        f'<label class="chip">{esc(t(lang, "group"))} <select name="group">{gopts}</select></label>'
        f' <button type="submit" class="small nojs">{esc(t(lang, "show"))}</button></fieldset></form>'
        f'<p class="flash" role="status" aria-live="polite" data-flash></p>'
        f'<ul class="undo-list" aria-live="polite" data-undo-list></ul>'
        f'<table class="hh"><thead><tr>{head}</tr></thead>'
        f'<tbody id="hh-rows">{household_rows(lang, lines, filt)}</tbody></table></section>'
    )


def coverage_block(lang: str, cov: Coverage) -> str:
    rate = cov.with_channel / cov.households if cov.households else 0.0
    items = "".join(
        f"<li>{esc(h.name)} — {esc(h.address)}{' · ' + esc(h.group) if h.group else ''}</li>" for h in cov.without
    )
    listing = (f'<details><summary>{esc(t(lang, "coverage_none"))} ({len(cov.without)})</summary>'
               f'<ul>{items}</ul></details>') if cov.without else ""
    return (f'<section class="coverage" aria-labelledby="cov-h"><h2 id="cov-h">{esc(t(lang, "coverage"))}</h2>'
            f'<p>{esc(t(lang, "coverage_line", n=cov.with_channel, total=cov.households, pct=pct(rate)))}</p>'
            f'{listing}</section>')


def association_title(lang: str, assoc: Association, campaign: CampaignInfo | None) -> str:
    sub = f'<p class="campaign">{esc(campaign.title)} {campaign_badge(lang, campaign)} ' \
          f'<span class="live" data-live aria-live="polite">{esc(t(lang, "live_off"))}</span></p>' if campaign else ""
    return f'<h1>{esc(assoc.name)} <small class="muted">{esc(assoc.district)}</small></h1>{sub}'


def phone_link(e164: str) -> str:
    """A tap-to-call link in the national form people read ("03-1111-0002")."""
    if not e164:
        return ""
    try:
        shown = format_national(e164)
    except ValueError:
        shown = e164
    return f'<a href="tel:{esc(e164)}">{esc(shown)}</a>'


def doorknock_body(lang: str, assoc: Association, campaign: CampaignInfo, lines: Sequence[HouseholdLine],
                   now: float) -> str:
    """Households with no answer yet, grouped by 班 and ordered by address, with a tick column."""
    todo = sorted((h for h in lines if h.status not in ANSWERED_S), key=lambda h: (h.group, h.address, h.household_key))
    head = "".join(f"<th>{esc(t(lang, k))}</th>" for k in ("tick", "name", "address", "people", "landline", "status"))
    # the same column widths in every 班's table, so the printed pages line up
    cols = "<colgroup>" + "".join(f'<col style="width:{w}%">' for w in (7, 27, 27, 7, 16, 16)) + "</colgroup>"
    sections = []
    for group, members in groupby(todo, key=lambda h: h.group):
        hs = list(members)
        rows = "".join(
            f'<tr data-hh="{h.id}" data-status="{esc(h.status)}" data-rid="0">'
            f'<td class="tick"><span class="box" aria-hidden="true">☐</span></td>'
            f'<td>{esc(h.name)}{(" <b class=vuln>" + esc(t(lang, "vulnerable")) + "</b>") if h.vulnerable else ""}</td>'
            f'<td>{esc(h.address)}</td><td class="num">{h.members}</td><td class="tel">{phone_link(h.landline)}</td>'
            f'<td class="st"><span class="status s-{esc(h.status)}">{esc(status_label(lang, h.status))}</span></td></tr>'
            for h in hs
        )
        sections.append(
            f'<section class="dk-group"><h2>{esc(t(lang, "group"))}: {esc(group or "—")} '
            f'<small>(<span data-group-count>{len(hs)}</span>)</small></h2><table class="dk">{cols}<thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></section>"
        )
    intro = t(lang, "doorknock_intro", n=f"<b data-dk-count>{len(todo)}</b>", time=esc(when(now)))
    return (
        f'<h1>{esc(t(lang, "doorknock"))} — {esc(assoc.name)}</h1>'
        f'<p class="campaign">{esc(campaign.title)} {campaign_badge(lang, campaign)} '
        f'<span class="live noprint" data-live aria-live="polite">{esc(t(lang, "live_off"))}</span></p>'
        f'<p>{intro}</p><p class="noprint"><button type="button" data-print>{esc(t(lang, "print"))}</button> '
        f'<a href="/a/{assoc.id}?campaign={campaign.id}">{esc(t(lang, "back"))}</a></p>'
        + "".join(sections)
    )
